"""The T.30 state machine: phases A to E, calling and answering, sending, receiving and
polling, ECM, fallback, retries and timeouts.

Sans-IO: the engine is driven by its user (a session adapter, the loopback, a Class 1
driver) through four calls and never blocks::

    eng = T30Engine(T30Config(calling=True, pages=[TxPage(bitmap)]))
    eng.start(now)
    for cmd in eng.commands(): ...          # modem commands to carry out (modem_if)
    eng.handle_event(TxComplete(), now)      # modem events as they happen
    eng.handle_timer(now)                    # whenever now >= eng.next_deadline
    eng.done, eng.result                     # every call ends in phase E with a result

A test or a conformance tool can also start a receiving station in any state of the
rules (:mod:`faxcore.t30.rules`), as if the call had got there, with
``eng.start(now, RxState.AWAIT_POST_PAGE, mode=dcs, page_data=data)``, or a transmitter
at its DCS with ``eng.start(now, TxState.TRAINING, remote=dis_capabilities)``: see
:meth:`T30Engine.start`.

Internally each procedure is written as a generator that yields the time it wants to be
woken at and receives the next event (or a timeout); this keeps the T.30 flow readable
top to bottom while staying entirely event driven. Where the procedure goes on each
command, response and timeout is data, in :mod:`faxcore.t30.rules` (the receiving and
transmitting states, ``RX_*`` and ``TX_*`` tables); the generators run those tables.

This module holds the driving API, the coroutine helpers every procedure uses (wait,
transmit, send and receive V.21 frames) and phase A and E; the two sides are :class:`~faxcore.t30.transmitter.TransmitterMixin` and
:class:`~faxcore.t30.receiver.ReceiverMixin`, the pages :mod:`faxcore.t30.pages`, the
configuration :mod:`faxcore.t30.config`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.config import CED_MS, GAP_MS, T30Config
from faxcore.t30.dis import Capabilities, DCSParams
from faxcore.t30.errors import TIMEOUT, CallAborted, CallFailed
from faxcore.t30.frames import Frame, FrameError
from faxcore.t30.idents import decode_ident, encode_ident
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    Event,
    FrameReceived,
    HangUp,
    LineDropped,
    ReceiveHDLC,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
)
from faxcore.t30.nsf import nsf_fif, parse_nsf
from faxcore.t30.pages import RxPage, TxPage
from faxcore.t30.receiver import ReceiverMixin, RxContext
from faxcore.t30.result import CallResult, T30Status, TraceEntry
from faxcore.t30.rules import (
    LISTENING,
    ON_LINE_DROPPED,
    PHASE,
    TX_DCN_FOR_DIS,
    CallState,
    RxState,
    State,
    TxState,
)
from faxcore.t30.transmitter import TransmitterMixin

# RxPage, TxPage and T30Config were defined here: still importable from here.
__all__ = ["RxPage", "T30Config", "T30Engine", "TxPage"]

log = logging.getLogger("faxcore.t30")


class T30Engine(TransmitterMixin, ReceiverMixin):
    """One fax station's T.30 procedure. See the module docstring for the driving API."""

    def __init__(self, config: T30Config):
        self.cfg = config
        self.result = CallResult(calling=config.calling)
        self.received_pages: list[RxPage] = []
        self._state: State = CallState.SETUP
        self.done = False
        self.now = 0.0
        self._t0 = 0.0
        self._out: list[Command] = []
        self._gen = None
        self._deadline: float | None = None
        self._x = bool(config.calling)  # X bit: set by the station that received DIS
        self._dcs: DCSParams | None = None
        self._long_next = False  # transmitter: next ECM burst long-trained (after CTC)
        self._rx_long = False    # receiver: the same, as announced by CTC
        self._warned: set[str] = set()
        # Receiving: what has arrived but is not yet part of a kept page (see _receiver
        # and _keep_unconfirmed): non-ECM page data awaiting its post-page command; the
        # data of an ECM page's confirmed blocks; the ECM block being received.
        self._rx_pending: bytes | None = None
        self._rx_page_buf = bytearray()
        self._rx_block = ecm_mod.BlockReceiver()
        self._rx_blocks = 0          # blocks of the current ECM page stored so far
        self._store_broken = False   # the page store failed: do not call it again
        self._rx: RxContext | None = None   # the receiving procedure's memory, once begun

    # ---- driving API -----------------------------------------------------------------

    def start(self, now: float, state: RxState | TxState | None = None, *,
              mode: DCSParams | None = None, page_data: bytes | None = None,
              ecm_frames: Iterable[bytes] = (), remote: Capabilities | None = None,
              **context: Any) -> None:
        """Start the call at ``now``: phase A, as the calling or answering station.

        With ``state``, start the procedure in that state of the rules instead, as if
        the call had got there (a white-box entry for tests and conformance tools: each
        entry of the tables can be tried alone).

        The transmitter starts in TxState.TRAINING only, given the far end's DIS/DTC as
        ``remote``: it negotiates and sends its DCS and TCF at once.

        The receiver starts in SEND_PHASE_B (our DIS, or DTC for a calling station, goes
        out first), RECEIVING_PAGE or a listening state (rules.LISTENING). ``mode`` is
        the DCS taken so far (None: none yet; RECEIVING_PAGE needs one). What has
        arrived: ``page_data``, a T.4 page awaiting its post-page command (a T.4
        ``mode``), or ``ecm_frames``, the FCD/RCP frames received of the ECM block in
        progress (an ECM ``mode``). ``context`` sets fields of the receiver's memory
        (:class:`~faxcore.t30.receiver.RxContext`: ``t1``, ``last_post``,
        ``last_resp``, ``first_page``, ``last_count``...); the others are as at the
        start of phase B (T1 from ``now``). :attr:`receiving` shows that memory."""
        if self._gen is not None:
            raise RuntimeError("engine already started")
        rx_given = mode is not None or page_data is not None or bool(ecm_frames) or context
        if not isinstance(state, RxState) and rx_given:
            raise ValueError("mode, page_data, ecm_frames and context are for a receiver "
                             "started in a state")
        if (state is TxState.TRAINING) != (remote is not None):
            raise ValueError("remote goes with state TxState.TRAINING, and it with remote")
        self.now = self._t0 = now
        if state is None:
            procedure = self._calling() if self.cfg.calling else self._answering()
        elif state is TxState.TRAINING:
            if not self.cfg.pages:
                raise ValueError("a transmitter needs pages")
            procedure = self._transmitter(remote)
        elif isinstance(state, RxState):
            procedure = self._receive(self._entered(state, mode, page_data,
                                                    tuple(ecm_frames), context))
        else:
            raise ValueError(f"the transmitter cannot start in {state}")
        self._gen = self._run(procedure)
        self._step(lambda: next(self._gen))

    def _entered(self, state: RxState, mode: DCSParams | None, page_data: bytes | None,
                 ecm_frames: tuple[bytes, ...], context: dict[str, Any]) -> RxContext:
        """The receiver set up in ``state`` for :meth:`start` (checked first)."""
        if state not in (RxState.SEND_PHASE_B, RxState.RECEIVING_PAGE, *LISTENING):
            raise ValueError(f"the receiver cannot start in {state}")
        if state is RxState.RECEIVING_PAGE and mode is None:
            raise ValueError("RECEIVING_PAGE needs a mode (the DCS taken)")
        if page_data is not None and (mode is None or mode.ecm):
            raise ValueError("page_data is T.4 page data: it needs a T.4 mode")
        if ecm_frames and (mode is None or not mode.ecm):
            raise ValueError("ecm_frames are an ECM block's: they need an ECM mode")
        if mode is not None:
            self._set_mode(mode)
        self._rx_pending = None if page_data is None else bytes(page_data)
        for f in ecm_frames:
            self._rx_block.add(f)
        rx = replace(self._new_rx_context(self._phase_b_frames()), **context)
        self._state = state
        return rx

    def handle_event(self, event: Event, now: float) -> None:
        if self.done or self._gen is None:
            return
        self.now = now
        # _step(lambda: self._gen.send(event)), inlined: page data is one event per
        # 20 ms block, and this spares two Python calls and a closure on each
        try:
            self._deadline = self._gen.send(event)
        except StopIteration:
            self._deadline = None
            self.done = True

    def handle_timer(self, now: float) -> None:
        if self.done or self._deadline is None or now < self._deadline:
            return
        self.now = now
        self._step(lambda: self._gen.send(TIMEOUT))

    def abort(self, now: float, reason: str = "aborted locally") -> None:
        """Stop the call: DCN to the far end, then hang up (status CALLDROPPED)."""
        if self.done or self._gen is None or self.phase == "E":
            return
        self.now = now
        self._step(lambda: self._gen.throw(CallAborted(reason)))

    @property
    def state(self) -> State:
        """Where the procedure is: a :class:`~faxcore.t30.rules.RxState` or
        :class:`~faxcore.t30.rules.TxState`, or :class:`~faxcore.t30.rules.CallState`
        before and after them."""
        return self._state

    @property
    def receiving(self) -> RxContext | None:
        """What the receiving procedure remembers besides its state (our phase-B frames,
        when T1 runs out, our last answers...); None if it has not begun. Read it, do
        not change it."""
        return self._rx

    @property
    def phase(self) -> str:
        """The T.30 phase, A to E, of :attr:`state` (rules.PHASE)."""
        return PHASE[self._state]

    @property
    def next_deadline(self) -> float | None:
        return None if self.done else self._deadline

    def commands(self) -> list[Command]:
        out, self._out = self._out, []
        return out

    # ---- plumbing --------------------------------------------------------------------

    def _step(self, fn) -> None:
        try:
            self._deadline = fn()
        except StopIteration:
            self._deadline = None
            self.done = True

    def _emit(self, cmd: Command) -> None:
        self._out.append(cmd)

    def _wait(self, deadline: float | None):
        ev = yield deadline
        if isinstance(ev, LineDropped):
            self._line_dropped()
        return ev

    def _line_dropped(self):
        """Raise what a LineDropped event means here (what :meth:`_wait` does with one;
        a hot loop that yields itself, page data, calls this instead)."""
        # The status depends on where the procedure is (rules.ON_LINE_DROPPED): after
        # its end the call is complete, however the far end leaves (Decision 4).
        status = ON_LINE_DROPPED.get(self._state, T30Status.CALLDROPPED)
        raise CallFailed(status, "line dropped" if status is not T30Status.OK else
                         "line dropped after the procedure was complete", send_dcn=False)

    def _frame(self, name: str, fif: bytes = b"", final: bool = True) -> Frame:
        return Frame.build(name, fif, x=self._x, final=final)

    def _trace(self, direction: str, frame: Frame | None, raw: bytes = b"", ok: bool = True):
        if frame is not None:
            name, raw = frame.describe(), frame.to_bytes()
        else:
            name = "?"
        entry = TraceEntry(round(self.now - self._t0, 3), direction, name,
                           bytes(raw).hex(" ").upper(), ok)
        self.result.trace.append(entry)
        log.info("%s %s", "calling" if self.cfg.calling else "answering", entry)

    def _set_mode(self, dcs: DCSParams) -> None:
        self._dcs = dcs
        r = self.result
        r.bit_rate, r.modulation = dcs.modulation.rate, str(dcs.modulation)
        r.ecm, r.scheme, r.resolution = dcs.ecm, dcs.scheme, dcs.resolution

    def local_caps(self) -> Capabilities:
        c = self.cfg
        return Capabilities(
            can_receive=c.receive, ready_to_poll=bool(c.pages) and not c.calling,
            modems=frozenset(c.modems), fine=c.fine, superfine=c.superfine,
            mr="mr" in c.schemes, mmr="mmr" in c.schemes and c.ecm, ecm=c.ecm,
            # our T.85 decoder takes any L0, so the optional L0 bit goes with the basic one
            jbig="jbig" in c.schemes and c.ecm, jbig_l0="jbig" in c.schemes and c.ecm,
            max_width=c.max_width, max_length="unlimited", min_scan_ms=c.min_scan_ms,
            # Subaddresses and sender identifications (SID) are taken and reported when
            # receiving; the password bit also says polling takes a PWD.
            sub=c.receive, pwd=c.receive or bool(c.poll_password))

    def _ident_frames(self, name: str) -> list[Frame]:
        if not self.cfg.ident:
            return []
        return [self._frame(name, encode_ident(self.cfg.ident), final=False)]

    def _note_idents(self, frames: list[Frame]) -> None:
        r = self.result
        for f in frames:
            if f.name in ("CSI", "TSI", "CIG"):
                r.remote_ident = decode_ident(f.fif)
            elif f.name == "SUB":
                r.remote_sub_address = decode_ident(f.fif)
            elif f.name == "SID":
                r.remote_sender_ident = decode_ident(f.fif)
            elif f.name == "PWD":
                r.remote_password = decode_ident(f.fif)
            elif f.name == "NSF":
                nsf = parse_nsf(f.fif)
                r.remote_nsf, r.remote_nsf_country = nsf.data, nsf.country
                r.remote_nsf_vendor = nsf.vendor

    # ---- low-level signalling ---------------------------------------------------------

    def _transmit(self, cmd: Command):
        self._emit(cmd)
        deadline = self.now + self.cfg.timers.max_burst
        while True:
            ev = yield from self._wait(deadline)
            if ev is TIMEOUT:
                raise CallFailed(T30Status.HDLC_CARRIER, "modem did not finish transmitting",
                                 send_dcn=False)
            if isinstance(ev, TxComplete):
                return

    def _send_frames(self, frames: list[Frame]):
        yield from self._transmit(Silence(GAP_MS))
        for f in frames:
            self._trace("tx", f)
        yield from self._transmit(SendHDLC(tuple(f.to_bytes() for f in frames)))

    def _receive_frames(self, deadline: float, *, listen: bool = True, cng: bool = False):
        """Listen at V.21 until a final frame. Returns (frames, how) with how one of
        "ok" (frames end with a good final frame), "timeout", "garbled".

        While a carrier is up the wait runs at least ``frame_gap`` past the last frame or
        carrier start (room for a frame at the HDLC maximum). A carrier that ends with
        nothing decoded starts the wait again from its end (T.30: T2 and T4 are reset when
        flags are heard), for as long as it was (at most T2: a wait under T1 keeps its
        deadline): nothing more is on its way, so the long frame allowance goes."""
        if listen:
            self._emit(ReceiveHDLC(cng=cng))
        frames: list[Frame] = []
        garbled = False
        gap = self.cfg.timers.frame_gap
        base = deadline
        restart = min(max(deadline - self.now, 0.0), self.cfg.timers.t2)
        heard = False   # a carrier started during this wait (not the tail of an earlier one)
        while True:
            ev = yield from self._wait(deadline)
            if ev is TIMEOUT:
                return frames, ("garbled" if garbled or frames else "timeout")
            if isinstance(ev, CarrierUp):
                heard = True
                deadline = max(deadline, self.now + gap)
            elif isinstance(ev, FrameReceived):
                deadline = max(deadline, self.now + gap)
                if not ev.crc_ok:
                    garbled = True
                    self._trace("rx", None, ev.data, ok=False)
                    continue
                try:
                    f = Frame.parse(ev.data)
                except FrameError:
                    garbled = True
                    self._trace("rx", None, ev.data, ok=False)
                    continue
                self._trace("rx", f)
                frames.append(f)
                if f.final:
                    return frames, "ok"
            elif isinstance(ev, CarrierDown):
                if garbled or frames:
                    return frames, "garbled"
                if heard:
                    deadline = max(base, self.now + restart)

    # ---- the call ----------------------------------------------------------------------

    def _run(self, procedure):
        """Run ``procedure`` (the calling or answering station's generator) to its end,
        then phase E: keep what is worth keeping, our DCN if due, hang up."""
        status, message, send_dcn = T30Status.OK, "", False
        try:
            yield from procedure
        except CallFailed as f:
            status, message, send_dcn = f.status, f.message, f.send_dcn
        except CallAborted as a:
            status, message, send_dcn = T30Status.CALLDROPPED, str(a), True
        self._keep_unconfirmed()
        self._state = CallState.RELEASE
        if send_dcn:
            try:
                yield from self._send_frames([self._frame("DCN")])
            except (CallFailed, CallAborted):
                pass
        self._emit(HangUp())
        r = self.result
        r.status, r.message = status, message or r.message
        r.duration = round(self.now - self._t0, 3)
        r.pages_received = len(self.received_pages)
        log.info("%s: phase E, %s", "calling" if self.cfg.calling else "answering", r.summary())

    def _calling(self):
        self._state = CallState.SETUP
        t1 = self.now + self.cfg.timers.t1
        first = True
        while True:
            frames, how = yield from self._receive_frames(t1, cng=first)
            first = False
            if how == "timeout" and self.now >= t1:
                raise CallFailed(T30Status.T1_EXPIRED, "no DIS from the called station",
                                 send_dcn=False)
            if how != "ok":
                continue
            self._note_idents(frames)
            last = frames[-1]
            if last.name == "DIS":
                break
            if last.name == "DCN":
                raise CallFailed(TX_DCN_FOR_DIS, send_dcn=False)
        remote = Capabilities.from_fif(last.fif)
        if self.cfg.pages:
            if not remote.can_receive:
                raise CallFailed(T30Status.RX_INCAPABLE)
            yield from self._transmitter(remote)
        else:
            if not remote.ready_to_poll:
                raise CallFailed(T30Status.TX_INCAPABLE, "far end has no document to poll")
            yield from self._receiver(self._phase_b_frames())

    def _answering(self):
        self._state = CallState.SETUP
        yield from self._transmit(SendTone("CED", CED_MS))
        yield from self._receiver(self._phase_b_frames())

    def _phase_b_frames(self) -> list[Frame]:
        """Our receiving station's phase-B frames: (NSF) (CSI) DIS when answering,
        (CIG) (PWD) DTC when calling (polling)."""
        if self.cfg.calling:
            dtc = self._ident_frames("CIG")
            if self.cfg.password:
                dtc.append(self._frame("PWD", encode_ident(self.cfg.password), final=False))
            return dtc + [self._frame("DTC", self.local_caps().to_fif())]
        nsf = [self._frame("NSF", nsf_fif(self.cfg.nsf), final=False)] if self.cfg.nsf else []
        return nsf + self._ident_frames("CSI") + [self._frame("DIS", self.local_caps().to_fif())]
