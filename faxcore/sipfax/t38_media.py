"""A :class:`~faxcore.t38.terminal.T38Terminal` over UDPTL on a UDP socket: the thin
asyncio adapter of the T.38 side of a SIP fax call (the G.711 side is
:mod:`faxcore.sipfax.rtp_media`).

    media = UdptlMedia(pcap=writer)
    host, port = await media.open(("0.0.0.0", 0))        # our m=image port, for the SDP
    media.start(terminal, ("192.0.2.7", 4000), version=0, max_datagram=400)
    await media.run(max_seconds=600)                     # until the terminal is done
    media.close()

:class:`UdptlFaxEndpoint` is the sans-IO part (IFP coding at the negotiated T.38
version, a :class:`~faxcore.t38.udptl.UdptlSender` with redundancy or FEC as the
peer's SDP asks, a :class:`~faxcore.t38.udptl.UdptlReceiver` that puts datagrams back
in order and recovers lost ones); :class:`UdptlMedia` owns the socket and wakes the
terminal when a packet is due or a datagram arrives.

The socket is opened when the call starts (its port goes into the T.38 re-INVITE or its
answer) and reads from then on: datagrams that arrive before the terminal is started
(the far end starts sending as soon as it sent its 200) are kept (at most
:data:`EARLY_MAX`) and given to it when it starts. Only the remote address from the SDP
is accepted once it is known; a datagram that does not decode is counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from faxcore.pcap import PcapWriter
from faxcore.t38 import ifp
from faxcore.t38.terminal import T38Terminal
from faxcore.t38.udptl import UdptlReceiver, UdptlSender

__all__ = ["EARLY_MAX", "UdptlFaxEndpoint", "UdptlMedia", "UdptlMediaStats"]

log = logging.getLogger(__name__)

Address = tuple[str, int]
EARLY_MAX = 256          # datagrams kept before the terminal starts
POLL = 0.02              # s: the longest sleep (the receiver's hold timer is polled)


@dataclass
class UdptlMediaStats:
    """What went over the UDPTL stream."""

    sent: int = 0
    received: int = 0
    recovered: int = 0     # IFPs rebuilt from redundancy or FEC
    lost: int = 0          # IFPs given up on
    malformed: int = 0     # datagrams or IFPs that did not decode
    foreign: int = 0       # datagrams from other addresses

    def summary(self) -> str:
        return (f"UDPTL sent {self.sent}, received {self.received}, recovered "
                f"{self.recovered}, lost {self.lost}, malformed {self.malformed}")


class UdptlFaxEndpoint:
    """A T.38 terminal joined to UDPTL, sans-IO. ``version``: the negotiated
    T38FaxVersion; ``redundancy``: secondary IFPs per datagram; ``fec``: (span, entries)
    when the peer asked for t38UDPFEC; ``max_datagram``: the peer's limit."""

    def __init__(self, terminal: T38Terminal, *, version: int = 0, redundancy: int = 3,
                 fec: tuple[int, int] | None = None, max_datagram: int | None = 400) -> None:
        self.terminal = terminal
        self.version = version
        self.sender = UdptlSender(redundancy=redundancy, fec=fec, max_datagram=max_datagram)
        # the version tells the receiver where a FEC-rebuilt IFP ends
        self.receiver = UdptlReceiver(ifp_version=version)
        self.stats = UdptlMediaStats()

    @property
    def done(self) -> bool:
        return self.terminal.done

    def datagrams(self, now: float) -> list[bytes]:
        """The datagrams to send at ``now`` (and the receiver's hold timer polled).
        Everything that fell due since the last call is sent now, each packet taken
        at its own time (see :meth:`_catch_up`)."""
        out = self._catch_up(now)
        self._deliver(self.receiver.poll(now), now)
        out += self._encode(self.terminal.packets(now))
        return out

    def datagram(self, data: bytes, now: float) -> list[bytes]:
        """One datagram received from the far end; returns the datagrams that fell due
        before it (send them first)."""
        out = self._catch_up(now)
        self.stats.received += 1
        before = self.receiver.stats.malformed
        got = self.receiver.feed(data, now)
        self.stats.malformed += self.receiver.stats.malformed - before
        self._deliver(got, now)
        return out

    def _catch_up(self, now: float) -> list[bytes]:
        """A late caller (a busy CPU, a coarse timer) must not let the terminal jump
        ahead: asked at ``now``, it would end its transmission (and drop the packets
        still queued for it: the tail of a frame) before handing those packets out.
        So the terminal is stepped through each deadline before ``now``, in order,
        as a punctual caller would have done; the packets go out late, but whole."""
        out: list[bytes] = []
        last = None
        for _ in range(100_000):     # bounded: each step moves the terminal's clock on
            d = self.terminal.next_deadline
            if d is None or d >= now or d == last:
                break
            last = d
            out += self._encode(self.terminal.packets(d))
        return out

    def _encode(self, packets) -> list[bytes]:
        out = [self.sender.send(ifp.encode(p, self.version)) for p in packets]
        self.stats.sent += len(out)
        return out

    def _deliver(self, deliveries, now: float) -> None:
        for d in deliveries:
            if d.ifp is None:
                self.stats.lost += 1
                self.terminal.packet_lost(now)
                continue
            if d.source != "primary":
                self.stats.recovered += 1
            try:
                pkt = ifp.decode(d.ifp, self.version)
            except ifp.IfpError as exc:
                self.stats.malformed += 1
                log.debug("UDPTL seq %d: IFP dropped: %s", d.seq, exc)
                continue
            self.terminal.receive_packet(pkt, now)

    @property
    def next_deadline(self) -> float | None:
        return self.terminal.next_deadline


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, media: UdptlMedia) -> None:
        self.media = media

    def datagram_received(self, data: bytes, addr) -> None:
        self.media._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: the far end is not (or no longer) listening
        log.debug("UDPTL socket: %s", exc)


class UdptlMedia:
    """A T.38 terminal over UDPTL on a UDP socket (see the module docstring). ``pcap``
    gets every datagram sent and accepted; ``on_datagram`` is called for each accepted
    one (the call's "UDPTL has arrived", switch Rule 6)."""

    def __init__(self, *, pcap: PcapWriter | None = None,
                 on_datagram: Callable[[], None] | None = None) -> None:
        self.pcap = pcap
        self.on_datagram = on_datagram
        self.endpoint: UdptlFaxEndpoint | None = None
        self.local: Address | None = None
        self.remote: Address | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._early: list[tuple[bytes, Address]] = []
        self._wake = asyncio.Event()
        self._stop = False
        self.foreign = 0

    async def open(self, local: Address = ("0.0.0.0", 0)) -> Address:
        """Bind the UDP socket; returns the bound (host, port) for the SDP."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=local)
        self.local = self._transport.get_extra_info("sockname")[:2]
        return self.local

    def start(self, terminal: T38Terminal, remote: Address, *, version: int = 0,
              redundancy: int = 3, fec: tuple[int, int] | None = None,
              max_datagram: int | None = 400) -> None:
        """Start ``terminal`` now, sending to ``remote`` (from the SDP)."""
        now = asyncio.get_running_loop().time()
        self.remote = (remote[0], int(remote[1]))
        self.endpoint = UdptlFaxEndpoint(terminal, version=version, redundancy=redundancy,
                                         fec=fec, max_datagram=max_datagram)
        terminal.start(now)
        early, self._early = self._early, []
        for data, addr in early:
            self._received(data, addr)
        self._wake.set()

    @property
    def stats(self) -> UdptlMediaStats:
        s = self.endpoint.stats if self.endpoint is not None else UdptlMediaStats()
        s.foreign = self.foreign
        return s

    def _received(self, data: bytes, addr: Address) -> None:
        if self.endpoint is None:
            if len(self._early) < EARLY_MAX:
                self._early.append((data, addr))
            return
        if addr != self.remote:
            self.foreign += 1
            return
        if self.pcap is not None and self.local is not None:
            self.pcap.datagram(time.time(), addr, self.local, data)
        self._send(self.endpoint.datagram(data, asyncio.get_running_loop().time()))
        if self.on_datagram is not None:
            self.on_datagram()
        self._wake.set()

    def stop(self) -> None:
        """End :meth:`run` now (the call is over)."""
        self._stop = True
        self._wake.set()

    async def run(self, *, max_seconds: float | None = None, linger: float = 0.1) -> None:
        """Send what the terminal has to send, when it is due, until it is done (then
        ``linger`` seconds more, so the last datagrams' redundancy goes out... and a
        late answer from the far end is still read), or :meth:`stop`."""
        if self.endpoint is None or self._transport is None:
            raise RuntimeError("UdptlMedia.run: open() and start() first")
        loop = asyncio.get_running_loop()
        end = None if max_seconds is None else loop.time() + max_seconds
        finished: float | None = None
        ep = self.endpoint
        while not self._stop:
            now = loop.time()
            self._send(ep.datagrams(now))
            if finished is None and ep.done:
                finished = now
            if finished is not None and now - finished >= linger:
                break
            if end is not None and now > end:
                raise TimeoutError(f"T.38 fax not done after {max_seconds} s: "
                                   f"{ep.terminal.result.summary()}")
            d = ep.next_deadline
            wait = POLL if d is None else min(POLL, max(0.0, d - now))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    def _send(self, datagrams: list[bytes]) -> None:
        if self._transport is None or self.remote is None:
            return
        for data in datagrams:
            self._transport.sendto(data, self.remote)
            if self.pcap is not None:
                self.pcap.datagram(time.time(), self.local, self.remote, data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
