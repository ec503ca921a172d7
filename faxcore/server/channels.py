"""The channel interface: how the scheduler places a call and how a channel hands an
inbound call to the server. The loopback channel (:mod:`faxcore.server.loopback`)
implements it; a SIP trunk and a Class 1 modem group implement the same two things.

Outbound: :meth:`Channel.place_call` is given the call (:class:`OutboundCall`: where,
which pages with their page numbers in the job, the station ident) and a
:class:`CallControl`, and returns an :class:`~faxcore.server.model.AttemptOutcome`. It
runs in a scheduler worker thread and may block for the length of the call. While the
call lasts it must tell the control when the far end answered (``answered``) and each
page the far end confirmed with MCF, *as it is confirmed* (``page_confirmed``, which
journals the page durably before returning: a call that dies afterwards never resends
it), and stop the call when either returns True (the client canceled) or raises
(:class:`~faxcore.server.queue.LeaseLost`: the job is no longer ours). For a T.30
engine, :class:`ConfirmWatcher` does that by watching the engine's result.

Inbound: a channel that takes calls asks its :class:`InboundHandler` first
(``offer(called, caller)``); None means do not answer (a terminated account's number);
otherwise the :class:`InboundSession` gives the answering engine its page store (pages
durable before they are confirmed) and ident, and is told how the call ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from faxcore.server.model import AttemptOutcome
from faxcore.t30 import CallResult, RxPage, T30Engine, TxPage
from faxcore.t30.modem_if import Event
from faxcore.t30.store import PageStore


@dataclass
class OutboundCall:
    destination: str
    pages: list[TxPage]
    page_numbers: list[int]    # the job's page number (1-based) of each page in ``pages``
    ident: str = ""            # our TSI
    caller: str = ""           # our calling number (caller id), when we have one


class CallControl(Protocol):
    def answered(self) -> bool:
        """The far end answered. True: the client canceled, hang up."""

    def page_confirmed(self, page: int) -> bool:
        """The far end confirmed page ``page`` (the job's numbering). True: hang up."""


class Channel(Protocol):
    name: str
    capacity: int      # simultaneous calls (lines)
    transport: str     # what the attempts rows say: "virtual", "g711", "t38", "modem"

    def place_call(self, call: OutboundCall, control: CallControl) -> AttemptOutcome:
        ...


@dataclass
class InboundSession:
    """An answered inbound call's receiving side."""

    ident: str                                   # our CSI
    page_store: PageStore | None
    finish: Callable[[CallResult, list[RxPage]], None]


class InboundHandler(Protocol):
    def owns(self, number: str) -> bool:
        """``number`` belongs to an account here (whether or not it may be answered)."""

    def offer(self, called: str, caller: str) -> InboundSession | None:
        ...


def far_end_spoke(engine: T30Engine) -> bool:
    """A frame came from the far end: a fax machine answered. (Not the engine's phase:
    an engine that hears the line drop before any answer ends in phase E too.)"""
    return any(getattr(f, "direction", "") == "rx" for f in engine.result.trace)


@dataclass
class ConfirmWatcher:
    """A T.30 engine as the loopback (or any driver) sees it, that tells a
    :class:`CallControl` of every page the far end confirms, as it happens: after each
    event or timer it compares the engine's count of confirmed and rejected pages with
    the last one seen; each new confirmed page is journaled, a rejected one (RTN, not
    resent) is not. When the control says stop, the engine is aborted (DCN), unless
    ``abort_engine`` is off: then :attr:`stop` is set and the owner of the engine aborts
    it (a :class:`~faxcore.class1.Class1Call` must pass the engine's DCN to its modem).

    A driver that runs the engine itself (Class 1, SIP) calls :meth:`poll` instead of
    passing events through the watcher."""

    engine: T30Engine
    control: CallControl
    page_numbers: list[int]
    seen: int = 0
    _sent: int = 0
    _rejected: int = 0
    confirmed: list[int] = field(default_factory=list)
    stop: bool = False
    abort_engine: bool = True

    def poll(self, now: float) -> None:
        """Look at the engine's result now (for an engine driven by someone else)."""
        self._check(now)

    def start(self, now: float) -> None:
        self.engine.start(now)

    def handle_event(self, event: Event, now: float) -> None:
        self.engine.handle_event(event, now)
        self._check(now)

    def handle_timer(self, now: float) -> None:
        self.engine.handle_timer(now)
        self._check(now)

    def commands(self):
        return self.engine.commands()

    @property
    def done(self) -> bool:
        return self.engine.done

    @property
    def next_deadline(self) -> float | None:
        return self.engine.next_deadline

    @property
    def result(self) -> CallResult:
        return self.engine.result

    def _check(self, now: float) -> None:
        r = self.engine.result
        # Pages leave the transmitter in order and are judged one at a time: each step of
        # pages_sent is the next page confirmed, each step of pages_rejected (RTN, not
        # sent again) the next page given up.
        while True:
            if r.pages_sent > self._sent:
                self._sent += 1
                k, self.seen = self.seen, self.seen + 1
                if k < len(self.page_numbers):
                    page = self.page_numbers[k]
                    self.confirmed.append(page)
                    if self.control.page_confirmed(page):
                        self.stop = True
            elif r.pages_rejected > self._rejected:
                self._rejected += 1
                self.seen += 1
            else:
                break
        if self.stop and self.abort_engine and not self.engine.done:
            self.engine.abort(now, "canceled by the client")
