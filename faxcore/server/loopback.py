"""The loopback channel: a simulated number plan whose numbers are answered by faxcore
stations, each call two T.30 engines on :class:`faxcore.t30.loopback.Loopback` in
virtual time (no audio: a call costs milliseconds of CPU; the attempt's duration is the
call's virtual line time).

A number owned by an account of this server is answered by the server's inbound side
(:class:`~faxcore.server.channels.InboundHandler`: stored, routed, metered); any other
number by a plain station that keeps what it received in memory
(:attr:`LoopbackChannel.stations`: the pages of each call, confirmed ones only) — or, if
``answer_unknown`` is off, not at all (no answer). Faults per number
(:class:`LineFault`): ``busy``, ``no_answer``, ``drop`` after page N of the call (the line
goes dead once the sender has its MCF for page N), each for the first ``times`` calls
(0: every call).

``pace``: real seconds per second of virtual line time (0, the default: as fast as the
CPU goes). A paced call takes real time, so a test can stop the server mid-call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from faxcore.server.channels import (
    CallControl,
    ConfirmWatcher,
    InboundHandler,
    OutboundCall,
)
from faxcore.server.model import AttemptOutcome, DialResult
from faxcore.t30 import RxPage, T30Config, T30Engine, TxPage
from faxcore.t30.loopback import Faults, Loopback
from faxcore.t30.result import DESCRIPTIONS, T30Status

log = logging.getLogger(__name__)

FAULTS = ("none", "busy", "no_answer", "drop")
RING_SECONDS = 45.0    # how long a no-answer call rings before we give up (virtual)
BUSY_SECONDS = 4.0


@dataclass
class LineFault:
    kind: str = "none"      # one of FAULTS
    after_page: int = 0     # drop: the line goes dead after this page of the call
    times: int = 0          # the first `times` calls get the fault; 0: every call

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown loopback fault {self.kind!r} (one of {', '.join(FAULTS)})")
        if self.kind == "drop" and self.after_page < 1:
            raise ValueError("a drop fault needs after_page >= 1")


@dataclass
class Station:
    """A plain faxcore station on the simulated plan: the confirmed pages of each call."""

    number: str
    calls: list[list[RxPage]] = field(default_factory=list)

    @property
    def pages(self) -> list[RxPage]:
        return [p for call in self.calls for p in call]


class LoopbackChannel:
    """See the module docstring. Thread-safe: several workers may place calls at once."""

    transport = "virtual"

    def __init__(self, name: str = "loopback", capacity: int = 4, *,
                 faults: Mapping[str, LineFault] | None = None,
                 answer_unknown: bool = True, ecm: bool = True, pace: float = 0.0,
                 inbound: InboundHandler | None = None) -> None:
        self.name = name
        self.capacity = capacity
        self.faults = dict(faults or {})
        self.answer_unknown = answer_unknown
        self.ecm = ecm
        self.inbound = inbound
        self.pace = pace
        self.stations: dict[str, Station] = {}
        self.calls_to: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fault(self, number: str) -> LineFault:
        with self._lock:
            n = self.calls_to.get(number, 0)
            self.calls_to[number] = n + 1
        f = self.faults.get(number)
        if f is None or (f.times and n >= f.times):
            return LineFault()
        return f

    def place_call(self, call: OutboundCall, control: CallControl) -> AttemptOutcome:
        fault = self._fault(call.destination)
        if fault.kind == "busy":
            return AttemptOutcome(DialResult.BUSY, self.transport, hangup_cause="busy",
                                  duration_s=BUSY_SECONDS)
        session = None
        # a number nobody owns is a plain station's (answer_unknown), not the default
        # account's: the default account takes the calls of the outside world
        if self.inbound is not None and (self.inbound.owns(call.destination)
                                         or not self.answer_unknown):
            session = self.inbound.offer(call.destination, call.caller or call.ident)
        owned = session is not None or (self.inbound is not None
                                         and self.inbound.owns(call.destination))
        if fault.kind == "no_answer" or (session is None and (owned or not self.answer_unknown)):
            return AttemptOutcome(DialResult.NO_ANSWER, self.transport,
                                  hangup_cause="no answer", duration_s=RING_SECONDS)
        if control.answered():
            return AttemptOutcome(DialResult.CHANNEL_ERROR, self.transport,
                                  hangup_cause="canceled before the call was answered")
        answer_cfg = dict(calling=False, ident=session.ident if session else
                          _ident(call.destination), ecm=self.ecm)
        if session is not None and session.page_store is not None:
            answer_cfg["page_store"] = session.page_store
        answerer = T30Engine(T30Config(**answer_cfg))
        if session is not None and hasattr(session.page_store, "attach"):
            session.page_store.attach(answerer)
        caller = T30Engine(T30Config(calling=True, pages=list(call.pages), ident=call.ident,
                                     ecm=self.ecm))
        watched = ConfirmWatcher(caller, control, list(call.page_numbers))
        faults = None
        if fault.kind == "drop":
            n = fault.after_page
            faults = Faults(cut=lambda sender, cmd, now: sender == "caller"
                            and caller.result.pages_sent >= n)
        engine = _Paced(watched, self.pace) if self.pace > 0 else watched
        line = Loopback(engine, answerer, faults)  # type: ignore[arg-type]  # duck-typed
        try:
            seconds = line.run()
        finally:
            received = [p for p in answerer.received_pages if not p.unconfirmed]
            if session is not None:
                session.finish(answerer.result, list(answerer.received_pages))
            else:
                with self._lock:
                    self.stations.setdefault(call.destination,
                                             Station(call.destination)).calls.append(received)
        r = caller.result
        if r.ok:
            result, cause = DialResult.DELIVERED, "normal clearing"
        else:
            result = DialResult.PROTOCOL_ERROR
            cause = r.message or DESCRIPTIONS.get(r.status, r.status.name)
            if watched.stop:
                cause = "canceled by the client"
            elif fault.kind == "drop":
                cause = f"call dropped ({cause})"
        return AttemptOutcome(result, self.transport, bit_rate=r.bit_rate,
                              modulation=r.modulation, ecm=r.ecm,
                              t30_status=T30Status(r.status).name, hangup_cause=cause,
                              duration_s=round(seconds, 3),
                              pages_confirmed=list(watched.confirmed))

    def call_in(self, caller: str, called: str, pages: list[TxPage], *,
                sub_address: str = "") -> T30Engine | None:
        """A faxcore station at ``caller`` faxes ``pages`` to ``called`` (a number of an
        account here; ``sub_address``: the SUB it sends with DCS): the inbound side of the
        loopback. Returns the calling engine after the call, or None when the call was
        not answered."""
        if self.inbound is None:
            raise RuntimeError("this loopback channel has no inbound handler")
        session = self.inbound.offer(called, caller)
        if session is None:
            return None
        answerer = T30Engine(T30Config(calling=False, ident=session.ident, ecm=self.ecm,
                                       page_store=session.page_store))
        if hasattr(session.page_store, "attach"):
            session.page_store.attach(answerer)
        sender = T30Engine(T30Config(calling=True, pages=pages, ident=_ident(caller),
                                     ecm=self.ecm, sub_address=sub_address))
        try:
            Loopback(sender, answerer).run()
        finally:
            session.finish(answerer.result, list(answerer.received_pages))
        return sender


class _Paced:
    """An engine whose events wait for real time: ``pace`` real seconds per virtual one."""

    def __init__(self, engine, pace: float) -> None:
        self.engine, self.pace = engine, pace
        self.t0 = time.monotonic()

    def _wait(self, now: float) -> None:
        delay = self.t0 + now * self.pace - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def start(self, now: float) -> None:
        self.t0 = time.monotonic() - now * self.pace
        self.engine.start(now)

    def handle_event(self, event, now: float) -> None:
        self._wait(now)
        self.engine.handle_event(event, now)

    def handle_timer(self, now: float) -> None:
        self._wait(now)
        self.engine.handle_timer(now)

    def commands(self):
        return self.engine.commands()

    @property
    def done(self) -> bool:
        return self.engine.done

    @property
    def next_deadline(self) -> float | None:
        return self.engine.next_deadline


def _ident(number: str) -> str:
    """A number as a T.30 ident (20 characters: digits, +, space)."""
    return number[:20]
