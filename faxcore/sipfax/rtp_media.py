"""A :class:`~faxcore.session.FaxSession` over G.711 RTP: the thin asyncio adapter that
runs a session on an :class:`~faxcore.rtp.RtpAudioStream` over a UDP socket, at a steady
20 ms cadence, and the same in virtual time for tests.

Real sockets (what the SIP call object uses)::

    media = RtpMedia(FaxSession(...), RtpAudioStream(PCMU, depth_ms=60))
    host, port = await media.open(("0.0.0.0", 0))      # our m=audio port, for the SDP
    media.set_remote(("192.0.2.7", 30000))              # from the peer's SDP
    stats = await media.run(max_seconds=600)            # until the session is done
    media.close()

Each tick sends one 20 ms packet of what the session transmits and gives the session
the next 160 samples the jitter buffer plays out. Ticks are scheduled on the event
loop's monotonic clock at ``t0 + k * 20 ms``: a late tick (a busy CPU) is followed at
once by the ones missed (catch-up, no drift); after more than ``max_lag`` behind, the
schedule restarts from now (counted in :attr:`RtpMedia.lag_resets`, logged), since the
far end's jitter buffer has lost that audio anyway. Datagrams are taken only from the
remote address (no latching: a NAT-traversal policy is the call object's business).
:meth:`RtpMedia.stop` ends :meth:`RtpMedia.run` early (a switch to T.38).

Virtual time (no sockets): :func:`run_virtual` joins two :class:`RtpFaxEndpoint` in
memory, each direction through an optional link (``plan() -> delays``, e.g.
:class:`faxcore.testing.relay.Impairment`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Protocol

from faxcore.pcap import PcapWriter
from faxcore.rtp import FRAME, PTIME_MS, RtpAudioStream, StreamStats
from faxcore.session import FaxSession

__all__ = ["Link", "RtpFaxEndpoint", "RtpMedia", "run_virtual"]

log = logging.getLogger(__name__)

Address = tuple[str, int]
TICK = PTIME_MS / 1000


class RtpFaxEndpoint:
    """A fax session joined to an RTP stream, sans-IO: :meth:`tick` every 20 ms gives the
    datagram to send (and feeds the session the next 160 samples played out);
    :meth:`datagram` takes each one received."""

    def __init__(self, session: FaxSession, stream: RtpAudioStream) -> None:
        self.session = session
        self.stream = stream
        # bound once: tick() runs every 20 ms of every call
        self._tx, self._rx = session.tx, session.rx
        self._send, self._play = stream.send, stream.jitter.pop
        self.datagram = stream.receive

    @property
    def done(self) -> bool:
        return self.session.done

    def tick(self) -> bytes:
        """One 20 ms step: the datagram to send now; the session hears the next block."""
        out = self._send(self._tx(FRAME))
        self._rx(self._play(FRAME))
        return out

    #: datagram(data) -> str: take one received datagram (RtpAudioStream.receive)
    datagram: Callable[[bytes], str]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, media: RtpMedia) -> None:
        self.media = media

    def datagram_received(self, data: bytes, addr) -> None:
        self.media._received(data, addr[:2])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the far end is not (or no longer) listening
        log.debug("RTP socket: %s", exc)


class RtpMedia:
    """A session over RTP on a UDP socket (see the module docstring). ``pcap``: a
    :class:`~faxcore.pcap.PcapWriter` that gets every datagram sent and accepted
    (wall-clock timestamps). ``max_lag``: seconds behind schedule before the cadence
    restarts instead of catching up."""

    def __init__(self, session: FaxSession, stream: RtpAudioStream, *,
                 pcap: PcapWriter | None = None, max_lag: float = 1.0) -> None:
        self.endpoint = RtpFaxEndpoint(session, stream)
        self.pcap = pcap
        self.max_lag = max_lag
        self.remote: Address | None = None
        self.local: Address | None = None
        self.lag_resets = 0
        self.foreign = 0              # datagrams from other addresses, dropped
        self._transport: asyncio.DatagramTransport | None = None
        self._stop = False

    @property
    def session(self) -> FaxSession:
        return self.endpoint.session

    @property
    def stream(self) -> RtpAudioStream:
        return self.endpoint.stream

    async def open(self, local: Address = ("0.0.0.0", 0)) -> Address:
        """Bind the UDP socket; returns the bound (host, port) for the SDP."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=local)
        self.local = self._transport.get_extra_info("sockname")[:2]
        return self.local

    def set_remote(self, remote: Address) -> None:
        """Where to send, and the only source accepted (from the peer's SDP)."""
        self.remote = (remote[0], int(remote[1]))

    def _received(self, data: bytes, addr: Address) -> None:
        if addr != self.remote:
            self.foreign += 1
            return
        if self.pcap is not None:
            self.pcap.datagram(time.time(), addr, self.local, data)
        self.endpoint.datagram(data)

    def stop(self) -> None:
        """End :meth:`run` at its next tick."""
        self._stop = True

    async def run(self, *, max_seconds: float | None = None, linger: float = 0.2,
                  until: Callable[[], bool] | None = None) -> StreamStats:
        """Run the cadence until the session is done (or ``until()`` is true, or
        :meth:`stop`), then ``linger`` seconds more of packets (the far end's jitter
        buffer is still playing our last ones). ``max_seconds``: a bound on the whole
        run (TimeoutError). Returns the stream's counts."""
        if self._transport is None or self.remote is None:
            raise RuntimeError("RtpMedia.run: open() and set_remote() first")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        end = None if max_seconds is None else t0 + max_seconds
        ticks = 0
        finished: float | None = None
        self._stop = False
        while not self._stop:
            if finished is None and (self.endpoint.done or (until is not None and until())):
                finished = loop.time()
            if finished is not None and loop.time() - finished >= linger:
                break
            if end is not None and loop.time() > end:
                raise TimeoutError(f"RTP fax not done after {max_seconds} s: "
                                   f"{self.session.result.summary()}")
            data = self.endpoint.tick()
            self._transport.sendto(data, self.remote)
            if self.pcap is not None:
                self.pcap.datagram(time.time(), self.local, self.remote, data)
            ticks += 1
            wait = t0 + ticks * TICK - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif -wait > self.max_lag:
                log.warning("RTP: %.0f ms behind the 20 ms cadence: restarting it", -wait * 1e3)
                self.lag_resets += 1
                t0, ticks = loop.time(), 0
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0)      # catch up, but let received datagrams in
        return self.stream.stats

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class Link(Protocol):
    """One direction of a virtual line: the delays (seconds) of the copies of the next
    datagram, [] to lose it (:class:`faxcore.testing.relay.Impairment` is one)."""

    def plan(self) -> list[float]: ...


def run_virtual(a: RtpFaxEndpoint, b: RtpFaxEndpoint, *, a_to_b: Link | None = None,
                b_to_a: Link | None = None, max_seconds: float = 600.0) -> float:
    """Two endpoints joined in memory, in virtual time, until both sessions are done;
    each tick both send, then datagrams due by then are delivered (a datagram with
    no delay arrives before the next tick's playout). Returns the line time in seconds.
    TimeoutError after ``max_seconds`` of line time."""
    queue: list[tuple[float, int, RtpFaxEndpoint, bytes]] = []
    order = itertools.count()
    now = 0.0
    while not (a.done and b.done):
        if now > max_seconds:
            raise TimeoutError(f"RTP fax not done after {max_seconds} s of line time: "
                               f"{a.session.result.summary()} / {b.session.result.summary()}")
        if a_to_b is None and b_to_a is None:
            # a perfect line: each datagram arrives before the next tick (no queue)
            da, db = a.tick(), b.tick()
            b.datagram(da)
            a.datagram(db)
            now += TICK
            continue
        for src, dst, link in ((a, b, a_to_b), (b, a, b_to_a)):
            data = src.tick()
            for delay in ([0.0] if link is None else link.plan()):
                heapq.heappush(queue, (now + delay, next(order), dst, data))
        now += TICK
        while queue and queue[0][0] < now + 1e-9:
            _, _, dst, data = heapq.heappop(queue)
            dst.datagram(data)
    return now
