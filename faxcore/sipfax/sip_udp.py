"""The asyncio UDP transport of a :class:`~faxcore.sip.ua.UserAgent`: a
``DatagramProtocol`` that feeds every datagram to the user agent, sends what it wants to
send, hands its events to a callback, and a timer that wakes it at ``next_deadline``.

    endpoint = await SipUdpEndpoint.create(ua, ("0.0.0.0", 5060), on_event)
    ua.invite(...); endpoint.kick()     # after acting on the UA outside a callback
    endpoint.close()

The clock is the event loop's (``loop.time()``), which is the ``now`` the UA sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from faxcore.sip.ua import UserAgent

__all__ = ["SipUdpEndpoint"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class SipUdpEndpoint(asyncio.DatagramProtocol):
    """One UDP socket serving one user agent."""

    def __init__(self, ua: UserAgent, on_event: Callable[[object], None]) -> None:
        self.ua = ua
        self.on_event = on_event
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def create(cls, ua: UserAgent, bind: Addr,
                     on_event: Callable[[object], None]) -> SipUdpEndpoint:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: cls(ua, on_event),
                                                       local_addr=bind)
        return proto

    @property
    def local_addr(self) -> Addr:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector loop's UDP transport is not a DatagramTransport subclass
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.ua.receive_datagram(data, (addr[0], addr[1]), self._loop.time())
        self.kick()

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: SIP's retransmission timers cope
        log.debug("UDP error: %s", exc)

    def kick(self) -> None:
        """Send what the UA has queued, deliver its events, and re-arm the timer. Call
        after acting on the UA (invite, answer, bye...) from outside a callback."""
        # events may make the application act on the UA, which may queue more datagrams
        for _ in range(100):
            out = self.ua.datagrams_to_send()
            events = self.ua.events()
            if not out and not events:
                break
            if self.transport is not None:
                for data, addr in out:
                    self.transport.sendto(data, addr)
            for ev in events:
                self.on_event(ev)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.ua.next_deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.ua.handle_timer(self._loop.time())
        self.kick()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()
