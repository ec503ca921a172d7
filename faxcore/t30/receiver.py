"""The receiving side of a T.30 call, from our DIS (or DTC, polling) to the DCN: the
receiver's states and what it does in each (:mod:`faxcore.t30.rules`, ``RX_*``), the
TCF and image data, and keeping what arrives (the page store before every confirming
answer; what was never confirmed, when the call ends).

:class:`ReceiverMixin` is a part of :class:`~faxcore.t30.engine.T30Engine`: it uses the
engine's coroutine helpers (``_wait``, ``_send_frames``, ``_receive_frames``) and its
plumbing (``_frame``, ``_set_mode``, ``_note_idents``...). A polled station turns round
and runs the transmitter (``_transmitter``, :mod:`faxcore.t30.transmitter`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.config import GAP_MS, TCF_MIN_ZERO_RUN
from faxcore.t30.dis import Capabilities, DCSParams, accept_dcs, modulation_from_ctc
from faxcore.t30.errors import TIMEOUT, CallFailed
from faxcore.t30.frames import Frame, fcf_name
from faxcore.t30.idents import decode_ident
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    LineDropped,
    ReceiveData,
    TrainingFailed,
    WrongCarrier,
)
from faxcore.t30.pages import RxPage, judge_page
from faxcore.t30.result import T30Status
from faxcore.t30.rules import (
    LISTENING,
    RX_AFTER_EOR,
    RX_AFTER_IMAGE,
    RX_AFTER_PPS,
    RX_AFTER_TCF,
    RX_DIS_TRIES_END,
    RX_DIS_TRIES_RESET,
    RX_INVALID,
    RX_NO_IMAGE,
    RX_ON_COMMAND,
    RX_ON_DCN,
    RX_ON_T2,
    RX_POST_PAGE,
    RX_PPS_OTHER,
    RX_T1_RESTARTS,
    RX_WAIT,
    Do,
    RxState,
    classify,
    post_page_name,
)
from faxcore.t30.store import ReceivedBlock
from faxcore.t30.tcf import (
    ANSWER_AFTER_S,
    DATA_STOPPED_S,
    TCF_LONGEST_S,
    tcf_end,
    tcf_octets,
    training_seconds,
)

log = logging.getLogger("faxcore.t30")


def longest_zero_run(data: bytes) -> int:
    """The longest run of zero octets in ``data`` (a TCF is judged by it)."""
    return max((len(m) for m in re.findall(b"\x00+", bytes(data))), default=0)


@dataclass
class RxContext:
    """What the receiving procedure remembers besides its state (the engine's
    ``_state``) and the page data in progress (the engine's ``_rx_*``, which phase E
    reads to keep an unconfirmed page)."""

    pb_frames: list[Frame]          # our phase-B frames: (NSF) (CSI) DIS or (CIG) (PWD) DTC
    local: Capabilities             # what we offered in them
    t1: float                       # when phase B gives up (T1)
    pb_sent: int = 0                # our DIS/DTC sent in this phase B, no DCS in answer
    busy: int = 0                   # RNR answers still to give (T30Config.rnr_count)
    first_page: bool = True         # no page (or ECM page end) received yet
    # T.4: the last post-page command with a page before it, and our answer to it
    last_post: tuple[str, str] | None = None
    repeats: int = 0                # the same post-page command again, no page between
    # ECM
    last_resp: Frame | None = None  # our last MCF, PPR or ERR (for CRP and a lost answer)
    held_pps: Frame | None = None   # a PPS answered RNR: answered for real on RR
    last_block: tuple[int, int] | None = None   # (page, block) of the last PPS confirmed
    after_block: RxState = RxState.RECEIVING_PAGE   # where that PPS led
    block_id: tuple[int, int] | None = None  # (page, block) being received...
    block_count: int = 0                     # ... and its frame count so far
    last_count: int = 0             # frame count of the last PPS (an EOR closes with it)


class ReceiverMixin:
    """The receiver's procedures, as generators (a part of T30Engine)."""

    def _new_rx_context(self, pb_frames: list[Frame]) -> RxContext:
        """The receiver's memory at the start of phase B (our DIS or DTC, ``pb_frames``)."""
        return RxContext(pb_frames, self.local_caps(), t1=self.now + self.cfg.timers.t1,
                         busy=self.cfg.rnr_count)

    def _receiver(self, pb_frames: list[Frame]):
        """The receiving side, from phase B (our DIS or DTC, ``pb_frames``) to the DCN."""
        self._state = RxState.SEND_PHASE_B
        yield from self._receive(self._new_rx_context(pb_frames))

    def _receive(self, rx: RxContext):
        """Run the receiver's rules (:mod:`faxcore.t30.rules`, RX_*) from ``self._state``:
        the active states do their work, the listening ones wait for a command and look
        up what to do on it (RX_ON_COMMAND) or on T2 (RX_ON_T2)."""
        self._rx = rx
        T = self.cfg.timers
        while True:
            if self._state is RxState.SEND_PHASE_B:
                if rx.pb_sent >= self.cfg.max_tries:
                    raise CallFailed(RX_DIS_TRIES_END, f"{rx.pb_frames[-1].name} sent "
                                     f"{rx.pb_sent} times without a command in answer")
                rx.pb_sent += 1
                frames, how = yield from self._send_phase_b(rx)
                if how != "ok":
                    if self.now >= rx.t1:
                        raise CallFailed(T30Status.T1_EXPIRED, "no command in answer to "
                                         f"{rx.pb_frames[-1].name}", send_dcn=False)
                    continue
                self._state = RxState.AWAIT_COMMAND_B
            else:
                if self._state is RxState.RECEIVING_PAGE:
                    yield from self._receive_image(rx)
                assert self._state in LISTENING, self._state
                frames, how = yield from self._receive_frames(
                    self.now + getattr(T, RX_WAIT[self._state]))
                if how == "timeout":
                    self._on_t2(rx)
                    continue
                if how == "garbled":
                    yield from self._send_frames([self._frame("CRP")])
                    continue
            self._note_idents(frames)
            ecm = None if self._dcs is None else self._dcs.ecm
            do = RX_ON_COMMAND[self._state][classify(frames[-1].name, ecm, self.cfg.calling)]
            if do in RX_DIS_TRIES_RESET:
                rx.pb_sent = 0
            finished = yield from getattr(self, _RX_HANDLERS[do])(rx, frames)
            if finished:
                return

    def _send_phase_b(self, rx: RxContext):
        """SEND_PHASE_B: our DIS/DTC, then T4 for a command. A damaged command (bad FCS)
        is not answered, and T4 starts again from its end: the far end is on the line
        and goes on with its TCF (a fast carrier V.21 does not hear), so repeating our
        frames now would talk over it (TSB-85 MRGN11)."""
        T = self.cfg.timers
        yield from self._send_frames(rx.pb_frames)
        frames, how = yield from self._receive_frames(self.now + T.t4)
        while how == "garbled" and self.now < rx.t1:
            frames, how = yield from self._receive_frames(self.now + T.t4)
        return frames, how

    def _receive_image(self, rx: RxContext):
        """RECEIVING_PAGE: one high-speed burst, then the state RX_AFTER_IMAGE gives."""
        dcs = self._dcs
        got = yield from self._rx_image(dcs, self._rx_block, rx.first_page)
        if got is not None and not dcs.ecm:
            self._rx_pending = got
        self._state = RX_AFTER_IMAGE[None if got is None else dcs.ecm]

    def _on_t2(self, rx: RxContext) -> None:
        """No command for the listening state's wait: RX_ON_T2."""
        then = RX_ON_T2[self._state]
        if isinstance(then, T30Status):
            raise CallFailed(then)
        if self._state in RX_T1_RESTARTS:
            rx.t1 = self.now + self.cfg.timers.t1
            rx.pb_sent = 0
        elif self.now >= rx.t1:
            raise CallFailed(T30Status.T1_EXPIRED, send_dcn=False)
        self._state = then

    # The handlers of the receiver's reactions (rules.Do). Each is a generator that
    # returns True when the receiving procedure is over (a normal end, or it turned
    # round and transmitted), else False with self._state where the rules lead.

    def _rx_train(self, rx: RxContext, frames: list[Frame]):
        cmd = frames[-1]
        if not self.cfg.receive:
            raise CallFailed(T30Status.RX_GOTDCS, "DCS received, but not willing to receive")
        try:
            new = DCSParams.from_fif(cmd.fif)
        except ValueError as e:
            raise CallFailed(T30Status.INCOMPATIBLE, str(e)) from None
        why = accept_dcs(rx.local, new)
        if why:
            raise CallFailed(T30Status.INCOMPATIBLE, why)
        came_in = self._state
        self._set_mode(new)
        self._state = RxState.RECEIVING_TCF
        ok = yield from self._rx_tcf(new)
        if ok is None:
            self._state = came_in  # V.21 instead of the TCF: no answer
            return False
        if self.cfg.accept_sid:
            sid = next((decode_ident(f.fif) for f in frames if f.name == "SID"), None)
            if sid != self.cfg.accept_sid:
                # After the TCF (the line is ours again): DCN instead of CFR.
                raise CallFailed(T30Status.SID_UNACCEPTABLE,
                                 "no SID" if sid is None else "SID does not match")
        answer, then = RX_AFTER_TCF[ok]
        yield from self._send_frames([self._frame(answer)])
        if then is RxState.RECEIVING_PAGE:
            self._rx_block, self._rx_page_buf = ecm_mod.BlockReceiver(), bytearray()
            self._rx_pending, self._rx_blocks = None, 0
            rx.last_block = rx.block_id = None
        self._state = then
        return False

    def _rx_transmit(self, rx: RxContext, frames: list[Frame]):
        # Polled (DTC), or the caller answered our DIS with its own DIS: it wants to
        # receive. A station that received a DIS sets the X bit.
        cmd = frames[-1]
        if cmd.name == "DIS":
            self._x = True
        if self.cfg.poll_password:
            pwd = next((decode_ident(f.fif) for f in frames if f.name == "PWD"), None)
            if pwd != self.cfg.poll_password:
                raise CallFailed(T30Status.PWD_UNACCEPTABLE, "polled without the right password")
        if not self.cfg.pages:
            raise CallFailed(T30Status.TX_INCAPABLE, f"{cmd.name}, but nothing to send")
        yield from self._transmitter(Capabilities.from_fif(cmd.fif))
        return True

    def _rx_dis_again(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        self._state = RxState.SEND_PHASE_B  # the far end did not hear us: say it again
        return False

    def _rx_dcn(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        status = RX_ON_DCN[self._state]
        if status is T30Status.OK:
            return True
        raise CallFailed(status, send_dcn=False)

    def _rx_ignore(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        return False

    def _rx_invalid(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        name = frames[-1].name
        ecm = None if self._dcs is None else self._dcs.ecm
        why = {None: f"{name} before DCS", False: f"unexpected {name}",
               True: f"unexpected {name} in ECM"}[ecm]
        raise CallFailed(RX_INVALID[ecm], why)

    def _rx_repeat(self, rx: RxContext, frames: list[Frame]):
        # CRP: our last answer again (T.4: to the last page's post-page command; ECM:
        # the last MCF, PPR or ERR).
        if self._dcs.ecm:
            answer = rx.last_resp
        else:
            answer = None if rx.last_post is None else self._frame(rx.last_post[1])
        if answer is None:
            return (yield from self._rx_invalid(rx, frames))
        yield from self._send_frames([answer])
        return False

    def _rx_answer_page(self, rx: RxContext, frames: list[Frame]):
        """A T.4 post-page command: judge the page that came before it, keep it (durable
        before the answer is queued), answer; RX_POST_PAGE gives the next state."""
        post = post_page_name(frames[-1].name)
        if self._rx_pending is not None:
            page = judge_page(self._rx_pending, self._dcs, self.cfg)
            self._rx_pending = None
            answer = page.quality
            if answer != "RTN":
                self._keep(page)  # durable before the MCF/RTP is queued
                rx.first_page = False
            rx.last_post = (post, answer)
            rx.repeats = 0
        elif rx.last_post is not None and rx.last_post[0] == post:
            answer = rx.last_post[1]   # our answer was lost: say it again
            rx.repeats += 1
            if answer == "RTN" and rx.repeats >= self.cfg.max_tries - 1:
                # The transmitter neither retrains nor hangs up: our RTN is not
                # getting through. Disconnect (TSB-85 MRGN03).
                raise CallFailed(T30Status.RETRYDCN, f"{post} repeated {rx.repeats + 1} "
                                                     "times after RTN")
        else:
            answer = "RTN"          # no page arrived at all
        yield from self._send_frames([self._frame(answer)])
        self._state = RX_POST_PAGE[(post, answer)]
        return False

    def _rx_answer_pps(self, rx: RxContext, frames: list[Frame]):
        cmd = frames[-1]
        if len(cmd.fif) < 4:
            raise CallFailed(T30Status.RX_ECMPHD, "short PPS")
        rx.held_pps = cmd
        yield from self._answer_held_pps(rx)
        return False

    def _rx_answer_rr(self, rx: RxContext, frames: list[Frame]):
        if rx.held_pps is None and rx.last_resp is not None and rx.busy == 0:
            yield from self._send_frames([rx.last_resp])  # our answer was lost
            return False
        if rx.held_pps is None:
            raise CallFailed(T30Status.RX_ECMPHD, "RR without PPS")
        yield from self._answer_held_pps(rx)
        return False

    def _answer_held_pps(self, rx: RxContext):
        """Answer the PPS held in ``rx``: RNR while busy (ECM_RR_WAIT), MCF again for a
        repeated PPS, PPR for missing frames (RECEIVING_PAGE), else store the block and
        MCF (RX_AFTER_PPS)."""
        if rx.busy > 0:
            rx.busy -= 1
            yield from self._send_frames([self._frame("RNR")])
            self._state = RxState.ECM_RR_WAIT
            return
        pps, rx.held_pps = rx.held_pps, None
        fcf2, pg, blk, n = pps.fif[0], pps.fif[1], pps.fif[2], pps.fif[3]
        count = n + 1
        if rx.last_block != (pg, blk):
            # The frame count: some transmitters (spandsp) state the frames of *this
            # burst*, fewer after a PPR. The block has as many as the most any PPS for
            # it stated (the first one: the whole block).
            if rx.block_id == (pg, blk):
                count = max(count, rx.block_count)
            rx.block_id, rx.block_count = (pg, blk), count
        rx.last_count = count
        if rx.last_block == (pg, blk):
            # A repeat of the PPS we last confirmed (same page and block numbers): our
            # MCF was lost. Confirm again; nothing changes, so we are still where that
            # PPS left us, whatever its FCF2 says now (TSB-85 OREN09).
            rx.last_resp = self._frame("MCF")
            yield from self._send_frames([rx.last_resp])
            self._state = rx.after_block
            return
        missing = self._rx_block.missing(count)
        if missing:
            # Frame numbers past the block's end are flagged too (spandsp).
            rx.last_resp = self._frame("PPR", ecm_mod.ppr_map(missing | set(range(count, 256))))
            yield from self._send_frames([rx.last_resp])
            self._state = RxState.RECEIVING_PAGE
            return
        rx.last_resp = self._frame("MCF")
        rx.last_block = (pg, blk)
        rx.block_id = None
        self._state = yield from self._close_block(rx.last_resp, fcf2, count, RX_AFTER_PPS)
        rx.after_block = self._state
        if fcf_name(fcf2) != "NULL":
            rx.first_page = False

    def _rx_answer_eor(self, rx: RxContext, frames: list[Frame]):
        cmd = frames[-1]
        if not cmd.fif:
            raise CallFailed(T30Status.RX_ECMPHD, "EOR without FCF2")
        rx.last_resp = self._frame("ERR")
        # The page is kept with its gaps (bad rows); RX_AFTER_EOR says where that leads.
        self._state = yield from self._close_block(rx.last_resp, cmd.fif[0], rx.last_count,
                                                   RX_AFTER_EOR)
        rx.block_id = None
        if fcf_name(cmd.fif[0]) != "NULL":
            rx.first_page = False
        return False

    def _rx_answer_ctc(self, rx: RxContext, frames: list[Frame]):
        try:
            dcs = self._dcs.with_modulation(modulation_from_ctc(frames[-1].fif))
        except ValueError as e:
            raise CallFailed(T30Status.RX_ECMPHD, str(e)) from None
        self._set_mode(dcs)
        self._rx_long = True
        yield from self._send_frames([self._frame("CTR")])
        self._state = RxState.RECEIVING_PAGE
        return False

    def _close_block(self, resp: Frame, fcf2: int, count: int, after: dict[str, RxState]):
        """Answer a PPS/EOR that completes a block (``resp``: MCF or ERR) once the block,
        or the page it completes, is stored; returns the next state: ``after`` by the
        FCF2 (RX_AFTER_PPS or RX_AFTER_EOR)."""
        post = post_page_name(fcf_name(fcf2))
        data = self._rx_block.assemble(count)
        if post == "NULL":
            self._keep_block(data, self._dcs)
        else:
            page_data = bytes(self._rx_page_buf) + data
            self._rx_page_buf, self._rx_blocks = bytearray(), 0
            self._rx_block = ecm_mod.BlockReceiver()
            self._keep(judge_page(page_data, self._dcs, self.cfg))
        self._rx_block = ecm_mod.BlockReceiver()
        yield from self._send_frames([resp])
        if post not in after:
            raise CallFailed(RX_PPS_OTHER, f"PPS with FCF2 {post}")
        return after[post]

    # ---- receiving TCF and image data -------------------------------------------------

    def _rx_tcf(self, dcs: DCSParams):
        """Receive the TCF after a DCS. True = good, False = bad or missing (FTT), None =
        V.21 heard instead (no answer). Judged as soon as the outcome is known, so that
        the answer comes well inside the transmitter's T4 (see :mod:`faxcore.t30.tcf`):
        a trained TCF at its carrier's end (or when its data stop, or at the latest
        TCF_LONGEST_S after the training); a carrier the modem could not train on
        (TrainingFailed) at its end; else ANSWER_AFTER_S past the TCF's expected end."""
        mod = dcs.modulation
        self._emit(ReceiveData(mod))
        start = self.now
        # a carrier's end after this point is the end of a TCF (not of a click or of the
        # tail of the DCS's V.21 signal, which cannot have trained or failed a training)
        trained_by = start + GAP_MS / 1000 + training_seconds(mod)
        deadline = start + tcf_end(mod) + ANSWER_AFTER_S
        octets = tcf_octets(mod)
        data = bytearray()
        up = failed = False
        last_data = start
        while True:
            wake = deadline
            if up and len(data) >= octets:
                # the TCF's data are in; in a noise floor its carrier's end may never be
                # reported, but the data stop (the modem lost the signal)
                wake = min(wake, last_data + DATA_STOPPED_S)
            ev = yield from self._wait(wake)
            if ev is TIMEOUT:
                break
            if isinstance(ev, WrongCarrier):
                return None
            if isinstance(ev, CarrierUp):
                up, failed = True, False
                deadline = max(deadline, self.now + TCF_LONGEST_S)
            elif isinstance(ev, TrainingFailed):
                # noise can make a modem try and fail before the TCF; what counts is the
                # last attempt (a later CarrierUp clears it)
                failed = not up
            elif isinstance(ev, DataReceived):
                data += ev.data
                last_data = self.now
            elif isinstance(ev, CarrierDown) and (up or failed and self.now >= trained_by):
                break
        run = longest_zero_run(data)
        need = int(mod.rate * TCF_MIN_ZERO_RUN) // 8
        if up or data:
            log.info("TCF at %s: %d octets, longest zero run %d (need %d)", mod, len(data),
                     run, need)
        else:
            log.info("TCF at %s: %s", mod, "the modem could not train on it" if failed
                     else "nothing heard")
        return run >= need

    def _rx_image(self, dcs: DCSParams, block: ecm_mod.BlockReceiver, first: bool):
        """Receive one high-speed burst: returns the data (non-ECM), True (ECM frames went
        into ``block``), or None if V.21 was heard instead. The burst ends at carrier
        down, at V.21, or when nothing arrived for T2 (a carrier loss nobody reported)."""
        self._emit(ReceiveData(dcs.modulation, hdlc=dcs.ecm, short_train=not self._rx_long))
        self._rx_long = False
        deadline = self.now + self.cfg.timers.t2
        data = bytearray()
        up = False
        while True:
            # self._wait(deadline), inlined: one event per 20 ms block of page data, and
            # a generator less to create and resume for each
            ev = yield deadline
            if isinstance(ev, LineDropped):
                self._line_dropped()
            if ev is TIMEOUT:
                if up:
                    break
                raise CallFailed(RX_NO_IMAGE[first])
            if isinstance(ev, WrongCarrier):
                if up:
                    break  # V.21 already: the high-speed carrier's end was missed
                return None
            if isinstance(ev, CarrierUp):
                up = True
                deadline = self.now + self.cfg.timers.t2
            elif isinstance(ev, DataReceived):
                data += ev.data
                deadline = self.now + self.cfg.timers.t2
            elif isinstance(ev, FrameReceived):
                deadline = self.now + self.cfg.timers.t2
                if ev.crc_ok:
                    block.add(ev.data)
            elif isinstance(ev, CarrierDown) and up:
                break
        return True if dcs.ecm else bytes(data)

    # ---- keeping pages ---------------------------------------------------------------

    def _store(self, page: RxPage) -> None:
        self.received_pages.append(page)
        self.result.pages_received = len(self.received_pages)
        self.result.pages_unconfirmed += page.unconfirmed
        self.result.bad_rows += page.bad_rows
        if self.cfg.on_page is not None:
            self.cfg.on_page(page)

    def _keep(self, page: RxPage) -> None:
        """Keep a page we are about to confirm: into the page store first (durable when
        it returns), then the received pages. Called before the answer is queued. If
        the store fails the page is not confirmed: it stays in memory (unconfirmed) and
        the call ends with DCN and FILEERROR."""
        store = self.cfg.page_store
        if store is not None:
            try:
                store.store_page(page)
            except Exception as e:  # whatever the store raises: not stored, not confirmed
                self._store_broken = True
                page.unconfirmed = True
                self._store(page)
                log.error("page %d could not be stored: %s", len(self.received_pages), e)
                raise CallFailed(T30Status.FILEERROR,
                                 f"page {len(self.received_pages)} could not be stored, "
                                 f"not confirmed: {e}") from None
        self._store(page)

    def _keep_block(self, data: bytes, dcs: DCSParams) -> None:
        """An ECM block of a page still in progress, about to be confirmed: into the page
        store first, then it joins the page's data (``_rx_page_buf``)."""
        store = self.cfg.page_store
        if store is not None:
            blk = ReceivedBlock(len(self.received_pages), self._rx_blocks, bytes(data),
                                dcs.scheme, dcs.width_pixels, dcs.resolution)
            try:
                store.store_block(blk)
            except Exception as e:
                self._store_broken = True
                log.error("block %d of page %d could not be stored: %s", blk.block,
                          blk.page + 1, e)
                raise CallFailed(T30Status.FILEERROR,
                                 f"block {blk.block} of page {blk.page + 1} could not be "
                                 f"stored, not confirmed: {e}") from None
        self._rx_blocks += 1
        self._rx_page_buf += data

    def _keep_unconfirmed(self) -> None:
        """The call is ending (phase E) with page data not yet part of a kept page: keep
        what is worth keeping, as an ``unconfirmed`` page (stored, and counted in
        ``pages_received`` and ``pages_unconfirmed``; the status stays what it is):

        * non-ECM: a page that arrived whole (RTC seen) and would have got MCF or RTP,
          whose post-page command never came (lost, garbled, DCN or the line dropped
          instead). A page without RTC or that would get RTN is not kept, as in a call
          that goes on;
        * ECM: the page's data from frame 0 of its first block on: its confirmed blocks,
          then the frames of the block in progress up to the first one missing (good
          FCS: correct data). With its end marker among them it is the whole page (a
          PPS-MPS/EOM/EOP that never came); without, it is kept only if some of its
          blocks were confirmed (the sender was told they arrived), as a page that
          lost its end (``end_lost``, missing rows counted as bad). A fragment of a
          first block that was never confirmed is not kept, as a non-ECM page without
          RTC is not."""
        dcs = self._dcs
        pending, self._rx_pending = self._rx_pending, None
        data = bytes(self._rx_page_buf)
        block = self._rx_block
        self._rx_page_buf, self._rx_block = bytearray(), ecm_mod.BlockReceiver()
        if dcs is None:
            return
        if dcs.ecm:
            n = 0
            while n in block.frames:
                n += 1
            confirmed = bool(data)
            data += block.assemble(n)
            if not data:
                return
            page = judge_page(data, dcs, self.cfg, truncated=True)
            if page.rows == 0 or page.end_lost and not confirmed:
                return
        else:
            if pending is None:
                return
            page = judge_page(pending, dcs, self.cfg)
            if page.end_lost or page.quality == "RTN":
                return
        page.unconfirmed = True
        log.warning("page %d kept though never confirmed to the sender (%s)",
                    len(self.received_pages) + 1,
                    "its post-page command never came" if not page.end_lost
                    else "the call ended before its last block")
        store = self.cfg.page_store
        if store is not None and not self._store_broken:
            try:
                store.store_page(page)
            except Exception as e:
                log.error("unconfirmed page %d could not be stored: %s",
                          len(self.received_pages) + 1, e)
        self._store(page)


_RX_HANDLERS: dict[Do, str] = {
    Do.TRAIN: "_rx_train",
    Do.TRANSMIT: "_rx_transmit",
    Do.DIS_AGAIN: "_rx_dis_again",
    Do.DCN: "_rx_dcn",
    Do.ANSWER_PAGE: "_rx_answer_page",
    Do.ANSWER_PPS: "_rx_answer_pps",
    Do.ANSWER_RR: "_rx_answer_rr",
    Do.ANSWER_EOR: "_rx_answer_eor",
    Do.ANSWER_CTC: "_rx_answer_ctc",
    Do.REPEAT: "_rx_repeat",
    Do.IGNORE: "_rx_ignore",
    Do.INVALID: "_rx_invalid",
}
"""The engine's handler (a method name) for each of the receiver's reactions."""
