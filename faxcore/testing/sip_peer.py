"""SIP test support: user agents talking through an in-memory lossy network in virtual
time (:class:`SipNetwork`, for the unit tests and benchmarks/sip.py), and a small driver
that runs one :class:`~faxcore.sip.ua.UserAgent` over real UDP with scripted behaviour
(:func:`main`, used by the SIPp interop tests: ``python -m faxcore.testing.sip_peer``).

The driver is signalling only: the SDP it offers and answers names dummy media ports
(nothing listens there). It prints one line per user-agent event on stdout
(``EVENT <Name> <details>``) and exits 0 when the script's expected final state was
reached, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from faxcore.sip import sdp as sdpmod
from faxcore.sip.ua import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    IncomingCall,
    MediaChanged,
    Registered,
    RegistrationFailed,
    ReInviteFailed,
    ReInviteOffer,
    UserAgent,
)
from faxcore.sipfax.sip_udp import SipUdpEndpoint

Addr = tuple[str, int]
log = logging.getLogger(__name__)


# ---- the in-memory network ---------------------------------------------------------------

@dataclass(order=True)
class _Packet:
    when: float
    seq: int
    data: bytes = field(compare=False)
    src: Addr = field(compare=False)
    dst: Addr = field(compare=False)


class SipNetwork:
    """User agents joined by a datagram network in virtual time.

    ``loss``: probability each datagram is dropped (seeded, so a test is repeatable);
    ``drop``: a predicate ``(data, src, dst) -> bool`` for targeted drops; ``delay``:
    one-way delay in seconds. ``handlers[addr]`` is called with each event of that UA
    (tests answer calls from there); every event is also kept in ``events[addr]``.
    ``sent`` logs every datagram put on the wire as (time, src, dst, first line), before
    loss; ``wire`` the same with the whole datagram.
    """

    def __init__(self, loss: float = 0.0, delay: float = 0.02, seed: int = 1,
                 drop: Callable[[bytes, Addr, Addr], bool] | None = None) -> None:
        self.loss = loss
        self.delay = delay
        self.rng = random.Random(seed)
        self.drop = drop
        self.now = 0.0
        self.uas: dict[Addr, UserAgent] = {}
        self.handlers: dict[Addr, Callable[[object], None]] = {}
        self.events: dict[Addr, list[object]] = {}
        self.sent: list[tuple[float, Addr, Addr, str]] = []
        #: the same, with the whole datagram
        self.wire: list[tuple[float, Addr, Addr, bytes]] = []
        self._queue: list[_Packet] = []
        self._seq = 0
        #: datagrams sent to addresses no UA owns (an outsider's inbox, see inject())
        self.outsider: dict[Addr, list[bytes]] = {}

    def add(self, addr: Addr, ua: UserAgent,
            handler: Callable[[object], None] | None = None) -> UserAgent:
        self.uas[addr] = ua
        self.events[addr] = []
        if handler is not None:
            self.handlers[addr] = handler
        return ua

    def inject(self, data: bytes, src: Addr, dst: Addr) -> None:
        """Put a datagram from an outsider (a hostile or scripted peer) on the wire."""
        self._push(data, src, dst)

    def _push(self, data: bytes, src: Addr, dst: Addr) -> None:
        first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        self.sent.append((self.now, src, dst, first))
        self.wire.append((self.now, src, dst, data))
        if self.drop is not None and self.drop(data, src, dst):
            return
        if self.loss and self.rng.random() < self.loss:
            return
        self._seq += 1
        heapq.heappush(self._queue, _Packet(self.now + self.delay, self._seq, data, src, dst))

    def _flush(self) -> None:
        """Move what every UA wants to send onto the wire and deliver its events."""
        busy = True
        while busy:
            busy = False
            for addr, ua in self.uas.items():
                for data, dst in ua.datagrams_to_send():
                    self._push(data, addr, dst)
                for ev in ua.events():
                    busy = True
                    self.events[addr].append(ev)
                    h = self.handlers.get(addr)
                    if h is not None:
                        h(ev)
            # a handler may have made a UA send (answer, bye): go round again

    def run(self, until: float | None = None,
            stop: Callable[[], bool] | None = None, limit: float = 600.0) -> float:
        """Advance virtual time until ``stop()`` holds, time reaches ``until``, or nothing
        is left to do (or ``limit`` seconds pass). Returns the time reached."""
        self._flush()
        end = until if until is not None else self.now + limit
        while True:
            if stop is not None and stop():
                return self.now
            deadlines = [d for d in (ua.next_deadline for ua in self.uas.values())
                         if d is not None]
            nxt = min([*deadlines, *([self._queue[0].when] if self._queue else [])],
                      default=None)
            if nxt is None or nxt > end:
                self.now = end if until is not None else self.now
                return self.now
            self.now = max(self.now, nxt)
            while self._queue and self._queue[0].when <= self.now:
                p = heapq.heappop(self._queue)
                ua = self.uas.get(p.dst)
                if ua is not None:
                    ua.receive_datagram(p.data, p.src, self.now)
                else:
                    self.outsider.setdefault(p.dst, []).append(p.data)
                self._flush()
            for ua in self.uas.values():
                d = ua.next_deadline
                if d is not None and d <= self.now:
                    ua.handle_timer(self.now)
            self._flush()


def offer_sdp(origin: sdpmod.SdpOriginator, audio_port: int | None = 4000,
              image_port: int | None = None,
              t38: sdpmod.T38Params | None = None) -> sdpmod.SessionDescription:
    """An offer: audio (``m=audio P RTP/AVP 0 8 101``), or T.38 (``m=image P udptl t38``)
    in the audio slot when ``image_port`` is given (RFC 3264 §8.3.3: the media type of
    the stream changes; m-lines keep their position)."""
    if image_port is not None:
        return origin.describe([sdpmod.image_media(image_port, t38 or sdpmod.T38Params())])
    assert audio_port is not None
    return origin.describe([sdpmod.audio_media(audio_port)])


# ---- the UDP driver for SIPp --------------------------------------------------------------

@dataclass
class Script:
    """What the driver does. ``role``: ``uas`` answers the first call; ``uac`` calls
    ``target``. The flags say how it behaves; ``expect`` is the event name whose
    arrival means success (``CallEnded`` needs ``expect_reason``)."""

    role: str
    target: str | None = None
    answer_delay: float = 0.0
    reject: int | None = None               # UAS: reject the call with this status
    bye_after: float | None = None          # hang up this long after the call is up
    cancel_after: float | None = None       # UAC: CANCEL this long after the INVITE
    t38_after: float | None = None          # re-INVITE to T.38 this long after the call is up
    refuse_t38: bool = False                # reject a T.38 re-INVITE with 488
    credentials: tuple[str, str] | None = None
    session_expires: int | None = None
    min_se: int = 90
    register: str | None = None
    expect: str = "CallEnded"
    expect_reason: str | None = None
    linger: float = 0.3                     # keep serving this long after success
    events: list[str] = field(default_factory=list)


class Driver:
    """One UA on UDP following a :class:`Script`; ``done`` is set at the expected event."""

    def __init__(self, script: Script, host: str, port: int) -> None:
        self.script = script
        uri = f"sip:fax@{host}:{port}"
        self.ua = UserAgent(uri, uri, credentials=script.credentials,
                            session_expires=script.session_expires, min_se=script.min_se)
        self.origin = sdpmod.SdpOriginator(host, random.randrange(1, 1 << 30))
        self.local = sdpmod.LocalMedia(host, audio_port=port + 2,
                                       image_port=None if script.refuse_t38 else port + 4)
        self.host, self.port = host, port
        self.done = asyncio.Event()
        self.ok = False
        self.endpoint: SipUdpEndpoint | None = None

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        def run() -> None:
            fn()
            assert self.endpoint is not None
            self.endpoint.kick()
        asyncio.get_running_loop().call_later(delay, run)

    def on_event(self, ev: object) -> None:
        name = type(ev).__name__
        detail = ""
        if isinstance(ev, CallEnded):
            detail = f"{ev.reason.value} {ev.status}"
        elif isinstance(ev, (ReInviteFailed,)):
            detail = str(ev.status)
        elif isinstance(ev, MediaChanged) and ev.remote is not None:
            detail = " ".join(m.media for m in ev.remote.media if m.port)
        elif isinstance(ev, (Registered,)):
            detail = str(ev.expires)
        elif isinstance(ev, (RegistrationFailed,)):
            detail = str(ev.status)
        line = f"EVENT {name} {detail}".rstrip()
        self.script.events.append(line)
        _say(line)
        ua, s = self.ua, self.script
        if isinstance(ev, IncomingCall):
            call = ev.call
            if s.reject is not None:
                ua.reject(call, s.reject, self.now())
            else:
                def answer() -> None:
                    if ev.sdp is None:
                        body = offer_sdp(self.origin, self.local.audio_port)
                    else:
                        body = sdpmod.answer(ev.sdp, self.local, self.origin)
                    ua.answer(call, body, self.now())
                if s.answer_delay:
                    self._later(s.answer_delay, answer)
                else:
                    answer()
        elif isinstance(ev, (CallAnswered, CallConfirmed)):
            self._call_up(ev.call)
        elif isinstance(ev, ReInviteOffer):
            offer = ev.sdp
            wants_t38 = offer is not None and any(m.is_t38 and m.port for m in offer.media)
            if offer is None or (wants_t38 and s.refuse_t38):
                ua.reject_reinvite(ev.call, 488, self.now())
            else:
                ua.accept_reinvite(ev.call, sdpmod.answer(offer, self.local, self.origin),
                                   self.now())
        if name == s.expect and (s.expect_reason is None or
                                 (isinstance(ev, CallEnded) and ev.reason.value == s.expect_reason)):
            self.ok = True
            self.done.set()
        elif isinstance(ev, CallEnded) and s.expect == "CallEnded":
            self.done.set()            # ended, but not the way the script expects

    def _call_up(self, call: Call) -> None:
        s = self.script
        if s.t38_after is not None:
            def t38() -> None:
                self.ua.reinvite(call, offer_sdp(self.origin, image_port=self.port + 4),
                                 self.now())
            self._later(s.t38_after, t38)
        if s.bye_after is not None:
            self._later(s.bye_after, lambda: self.ua.bye(call, self.now()))

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def run(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        self.endpoint = await SipUdpEndpoint.create(self.ua, (self.host, self.port),
                                                   self.on_event)
        try:
            s = self.script
            if s.register is not None:
                assert s.credentials is not None
                self.ua.register(s.register, s.credentials[0], s.credentials[1], 3600,
                                 loop.time())
            if s.role == "uac":
                assert s.target is not None
                call = self.ua.invite(s.target, offer_sdp(self.origin, self.port + 2),
                                      loop.time())
                if s.cancel_after is not None:
                    self._later(s.cancel_after, lambda: self.ua.cancel(call, self.now()))
            self.endpoint.kick()
            _say(f"READY {self.host}:{self.port}")
            try:
                await asyncio.wait_for(self.done.wait(), timeout)
            except TimeoutError:
                # "idle": the script only expects the UA to stay up and answer
                self.ok = s.expect == "idle"
                _say("TIMEOUT")
            # let the last retransmissions/ACKs (or a scripted refresh) go out
            await asyncio.sleep(s.linger)
        finally:
            self.endpoint.close()
        return self.ok


def _say(line: str) -> None:
    """The driver's output protocol (read by the interop tests): one line, flushed."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=("uac", "uas"))
    p.add_argument("--bind", default="127.0.0.1:5062")
    p.add_argument("--target")
    p.add_argument("--answer-delay", type=float, default=0.0)
    p.add_argument("--reject", type=int)
    p.add_argument("--bye-after", type=float)
    p.add_argument("--cancel-after", type=float)
    p.add_argument("--t38-after", type=float)
    p.add_argument("--refuse-t38", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--session-expires", type=int)
    p.add_argument("--min-se", type=int, default=90,
                   help="smallest session interval accepted (tests go below RFC 4028's 90)")
    p.add_argument("--register")
    p.add_argument("--expect", default="CallEnded")
    p.add_argument("--expect-reason")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--linger", type=float, default=0.3,
                   help="seconds to keep serving after the expected event")
    a = p.parse_args(argv)
    host, _, port = a.bind.rpartition(":")
    creds = (a.user, a.password) if a.user else None
    script = Script(a.role, a.target, a.answer_delay, a.reject, a.bye_after, a.cancel_after,
                    a.t38_after, a.refuse_t38, creds, a.session_expires, a.min_se,
                    a.register, a.expect, a.expect_reason, a.linger)
    ok = asyncio.run(Driver(script, host, int(port)).run(a.timeout))
    _say("RESULT " + ("OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
