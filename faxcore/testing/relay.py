"""A lossy datagram relay for tests: drop, duplicate, reorder and delay datagrams between
two UDP endpoints on loopback (RTP now, UDPTL later: it never looks inside a datagram).

    imp = Impairment(drop=0.01, duplicate=0.02, reorder=0.02, jitter_ms=60, seed=7)
    relay = await UdpRelay.start(a_addr, b_addr, imp)
    # A sends to relay.for_a, B sends to relay.for_b; each sees the other at that address
    ...
    relay.close(); relay.stats

:class:`Impairment` is the seeded plan on its own (datagram in, delivery delays out), so
the same impairments run in virtual time (:func:`faxcore.sipfax.rtp_media.run_virtual`
takes it as a link) and on real sockets here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Impairment", "RelayStats", "UdpRelay"]

log = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass
class RelayStats:
    """Counts of one direction (or of an :class:`Impairment` used alone)."""

    seen: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0


@dataclass
class Impairment:
    """What happens to each datagram, decided by a seeded ``random.Random``:

    ``drop``: probability it is lost; ``drops``: indices (0-based, in arrival order) of
    datagrams always lost, for exact tests; ``duplicate``: probability a second copy
    follows (after up to ``jitter_ms`` more); ``reorder``: probability it is held back
    ``reorder_ms`` so that the next ones overtake it; ``delay_ms`` + uniform
    ``[0, jitter_ms]``: each copy's delay (independent delays reorder datagrams too).
    """

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder_ms: float = 45.0
    drops: frozenset[int] = frozenset()
    seed: int = 0
    stats: RelayStats = field(default_factory=RelayStats)

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, 0..1")
        self._rng = random.Random(self.seed)

    def plan(self) -> list[float]:
        """The delays in seconds of the copies of the next datagram ([] = dropped)."""
        st = self.stats
        index = st.seen
        st.seen += 1
        rng = self._rng
        # draw every number every time, so one setting does not shift another's stream
        lost, dup, held = rng.random(), rng.random(), rng.random()
        j1, j2 = rng.random(), rng.random()
        if index in self.drops or lost < self.drop:
            st.dropped += 1
            return []
        d = (self.delay_ms + j1 * self.jitter_ms) / 1000
        if held < self.reorder:
            st.reordered += 1
            d += self.reorder_ms / 1000
        out = [d]
        if dup < self.duplicate:
            st.duplicated += 1
            out.append(d + j2 * self.jitter_ms / 1000)
        st.delivered += len(out)
        return out


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.on_datagram(data, addr[:2])

    def error_received(self, exc: Exception) -> None:
        # a loopback peer that has closed its socket (ICMP port unreachable): not ours
        log.debug("relay: %s", exc)


class UdpRelay:
    """Two loopback sockets between endpoints ``a`` and ``b``: what ``a`` sends to
    :attr:`for_a` goes to ``b`` from :attr:`for_b`, and the reverse, each direction
    through its own :class:`Impairment` (``a_to_b``, ``b_to_a``). Datagrams from any
    other address are dropped. Start with :meth:`start`, end with :meth:`close`."""

    def __init__(self, a: Address, b: Address, a_to_b: Impairment, b_to_a: Impairment) -> None:
        self.a, self.b = a, b
        self.a_to_b, self.b_to_a = a_to_b, b_to_a
        self._sa: _Side | None = None
        self._sb: _Side | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self.for_a: Address = ("", 0)
        self.for_b: Address = ("", 0)

    @classmethod
    async def start(cls, a: Address, b: Address, a_to_b: Impairment | None = None,
                    b_to_a: Impairment | None = None, *, host: str = "127.0.0.1") -> UdpRelay:
        """A relay between ``a`` and ``b`` on ``host``; ``b_to_a`` defaults to a copy of
        ``a_to_b`` with the next seed (independent losses each way)."""
        a_to_b = a_to_b or Impairment()
        if b_to_a is None:
            b_to_a = Impairment(**{k: getattr(a_to_b, k) for k in (
                "drop", "duplicate", "reorder", "delay_ms", "jitter_ms", "reorder_ms")},
                seed=a_to_b.seed + 1)
        relay = cls(a, b, a_to_b, b_to_a)
        loop = asyncio.get_running_loop()
        _, relay._sa = await loop.create_datagram_endpoint(
            lambda: _Side(relay._from_a), local_addr=(host, 0))
        _, relay._sb = await loop.create_datagram_endpoint(
            lambda: _Side(relay._from_b), local_addr=(host, 0))
        relay.for_a = relay._sa.transport.get_extra_info("sockname")[:2]
        relay.for_b = relay._sb.transport.get_extra_info("sockname")[:2]
        return relay

    def _from_a(self, data: bytes, addr: Address) -> None:
        if addr == self.a:
            self._forward(data, self.a_to_b, self._sb, self.b)

    def _from_b(self, data: bytes, addr: Address) -> None:
        if addr == self.b:
            self._forward(data, self.b_to_a, self._sa, self.a)

    def _forward(self, data: bytes, imp: Impairment, out: _Side | None, dst: Address) -> None:
        loop = asyncio.get_running_loop()
        for delay in imp.plan():
            if delay <= 0:
                self._send(out, data, dst)
            else:
                self._later(loop, delay, out, data, dst)

    def _later(self, loop: asyncio.AbstractEventLoop, delay: float, out: _Side | None,
               data: bytes, dst: Address) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self._send(out, data, dst)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    @staticmethod
    def _send(out: _Side | None, data: bytes, dst: Address) -> None:
        if out is not None and out.transport is not None and not out.transport.is_closing():
            out.transport.sendto(data, dst)

    @property
    def stats(self) -> tuple[RelayStats, RelayStats]:
        """The counts of each direction: (a to b, b to a)."""
        return self.a_to_b.stats, self.b_to_a.stats

    def close(self) -> None:
        """Cancel what is still in flight and close both sockets."""
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        for side in (self._sa, self._sb):
            if side is not None and side.transport is not None:
                side.transport.close()
