"""Two T.38 endpoints joined in virtual time: each one's packets reach the other after
a channel (a fixed delay by default; the tests and benchmarks put the wire codec, UDPTL
and packet loss in between). Nothing waits: a whole call costs only the CPU it takes.

    a = T38Terminal(True, send=pages); b = T38Terminal(False, receive="fax.tif")
    line_seconds = run_pair(a, b)

An endpoint is anything with the terminal's sans-IO surface: ``start(now)``,
``packets(now)``, ``receive_packet(pkt, now)``, ``packet_lost(now)``, ``next_deadline``
and ``done``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol


class _Lost:
    """What a channel delivers for packets lost for good (UDPTL gave up on them)."""

    def __repr__(self) -> str:
        return "LOST"


LOST = _Lost()
"""Delivered by a channel in place of a packet that never came: the endpoint is told
with ``packet_lost(now)``."""


class Channel(Protocol):
    """One direction of the network: packets in at a time, packets out later."""

    def send(self, packets: Iterable[Any], now: float) -> None: ...

    def deliveries(self, now: float) -> list[Any]: ...

    @property
    def next_time(self) -> float | None: ...


class DelayChannel:
    """Every packet arrives ``delay`` seconds after it was sent, in order."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self._q: deque[tuple[float, Any]] = deque()

    def send(self, packets: Iterable[Any], now: float) -> None:
        t = now + self.delay
        self._q.extend((t, p) for p in packets)

    def deliveries(self, now: float) -> list[Any]:
        out = []
        q = self._q
        while q and q[0][0] <= now:
            out.append(q.popleft()[1])
        return out

    @property
    def next_time(self) -> float | None:
        return self._q[0][0] if self._q else None


def run_pair(a, b, *, a_to_b: Channel | None = None, b_to_a: Channel | None = None,
             start: float = 0.0, limit: float = 3600.0) -> float:
    """Play a call between endpoints ``a`` and ``b`` to its end; returns the virtual time
    at which both were done. Raises RuntimeError if it is not over by ``limit`` seconds
    or nothing is left to happen while a side is still going."""
    ab = a_to_b if a_to_b is not None else DelayChannel()
    ba = b_to_a if b_to_a is not None else DelayChannel()
    now = start
    a.start(now)
    b.start(now)
    pairs = ((a, ab, b), (b, ba, a))
    while True:
        for src, ch, _ in pairs:
            d = src.next_deadline
            if d is not None and d <= now:  # something is due (else packets() is empty)
                out = src.packets(now)
                if out:
                    ch.send(out, now)
        for _, ch, dst in pairs:
            t = ch.next_time
            if t is not None and t <= now:
                for pkt in ch.deliveries(now):
                    if pkt is LOST:
                        dst.packet_lost(now)
                    else:
                        dst.receive_packet(pkt, now)
        if a.done and b.done:
            return now
        t = None
        for c in (a.next_deadline, b.next_deadline, ab.next_time, ba.next_time):
            if c is not None and (t is None or c < t):
                t = c
        if t is None:
            raise RuntimeError("T.38 pair deadlock: nothing left to happen")
        if t > limit:
            raise RuntimeError(f"call did not end within {limit} s of virtual time")
        now = max(now, t)
