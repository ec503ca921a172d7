"""The transmitting side of a T.30 call: negotiate the mode from the far end's DIS,
train (DCS, TCF) until CFR, send each page (T.4 data, or ECM blocks with PPS, PPR
retransmissions, CTC or EOR) and its post-page command, and act on the answers as
:mod:`faxcore.t30.rules` says (``TX_*`` tables).

:class:`TransmitterMixin` is a part of :class:`~faxcore.t30.engine.T30Engine`: it uses
the engine's coroutine helpers (``_send_frames``, ``_receive_frames``, ``_transmit``)
and its plumbing (``_frame``, ``_set_mode``, ``_note_idents``...). A command and its
repeats and polls (Rules 5 and 6) are :meth:`TransmitterMixin._command`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.config import GAP_MS, TCF_SECONDS
from faxcore.t30.dis import (
    Capabilities,
    DCSParams,
    NegotiationError,
    ctc_fif,
    fallback_order,
    negotiate,
)
from faxcore.t30.errors import CallFailed
from faxcore.t30.frames import NULL_FCF2, Frame, fcf_value, pps_fif
from faxcore.t30.idents import encode_ident
from faxcore.t30.modem_if import Modulation, SendData, Silence
from faxcore.t30.pages import TxPage, encode_page
from faxcore.t30.result import T30Status
from faxcore.t30.rules import (
    TX_AFTER_POST,
    TX_DCN_FOR_DIS,
    TX_DCS_TRIES_END,
    TX_NO_RESPONSE,
    TX_NOT_READY,
    TX_ON_DCN,
    TX_ON_RESPONSE,
    TX_UNEXPECTED,
    CallState,
    Then,
    TxGot,
    TxState,
)

log = logging.getLogger("faxcore.t30")


class TransmitterMixin:
    """The transmitter's procedures, as generators (a part of T30Engine)."""

    def _negotiate(self, remote: Capabilities, page: TxPage):
        try:
            dcs, mods = negotiate(self.cfg.modems, remote, resolution=page.resolution,
                                  width_pixels=page.width, ecm=self.cfg.ecm,
                                  schemes=self.cfg.schemes, prefer_jbig=self.cfg.prefer_jbig,
                                  ecm_frame_size=self.cfg.ecm_frame_size)
        except NegotiationError as e:
            raise CallFailed(T30Status[e.reason], str(e)) from None
        # SUB and SID go only to a station whose DIS says it takes them (T.30 5.3.6.1.x:
        # DIS bits 49 and 50); without that they are left out, and the log says so.
        c = self.cfg
        for have, can, what in ((c.sub_address, remote.sub, "subaddress (SUB)"),
                                (c.sender_ident, remote.pwd, "sender identification (SID)")):
            if have and not can and what not in self._warned:
                self._warned.add(what)
                log.warning("the far end does not take a %s: not sent", what)
        return replace(dcs, sub=bool(c.sub_address and remote.sub),
                       sid=bool(c.sender_ident and remote.pwd)), mods

    def _transmitter(self, remote: Capabilities):
        pages = self.cfg.pages
        dcs, mods = self._negotiate(remote, pages[0])
        i, rtn, need_train = 0, 0, True
        while i < len(pages):
            if need_train:
                dcs = yield from self._train(dcs, mods)
                need_train = False
            last = i == len(pages) - 1
            if last:
                post = "EOP"
            else:
                nxt, _ = self._negotiate(remote, pages[i + 1])
                same = (nxt.resolution, nxt.width) == (dcs.resolution, dcs.width)
                post = "MPS" if same and not pages[i + 1].new_document else "EOM"
            data = encode_page(pages[i], self._dcs, self.cfg)
            if self._dcs.ecm:
                got = yield from self._send_page_ecm(data, post, i)
            else:
                got = yield from self._send_page_t4(data, post)
            dcs = self._dcs
            after = TX_AFTER_POST[(post, got)]
            if after.fall_back:
                # Copy quality trouble: retrain one speed lower (as spandsp does).
                k = mods.index(dcs.modulation) if dcs.modulation in mods else -1
                if 0 <= k < len(mods) - 1:
                    dcs = dcs.with_modulation(mods[k + 1])
                need_train = True
            if after.then is Then.SAME_PAGE:
                rtn += 1
                if rtn >= self.cfg.max_rtn:
                    raise CallFailed(T30Status.RETRYDCN, f"page {i + 1} rejected (RTN) {rtn} times")
                continue
            if after.counts_as == "rejected":
                # The page is not sent again; the result counts it as rejected, not sent.
                self.result.pages_rejected += 1
                self.result.message = (f"{self.result.pages_rejected} page(s) rejected by the "
                                       "receiver (RTN), not retransmitted")
                log.info("page %d rejected (RTN) after %s: not retransmitted", i + 1, post)
            else:
                self.result.pages_sent += 1
            rtn = 0
            i += 1
            if after.then is Then.RELEASE:
                self._state = CallState.RELEASE
                yield from self._send_frames([self._frame("DCN")])
                return
            if after.then is Then.AWAIT_DIS:
                self._state = TxState.AWAIT_DIS
                remote = yield from self._wait_dis()
                dcs, mods = self._negotiate(remote, pages[i])
                need_train = True

    def _wait_dis(self):
        t1 = self.now + self.cfg.timers.t1
        while True:
            frames, how = yield from self._receive_frames(t1)
            if how == "timeout" and self.now >= t1:
                raise CallFailed(T30Status.T1_EXPIRED, "no DIS after EOM")
            if how != "ok":
                continue
            self._note_idents(frames)
            if frames[-1].name in ("DIS", "DTC"):
                return Capabilities.from_fif(frames[-1].fif)
            if frames[-1].name == "DCN":
                raise CallFailed(TX_DCN_FOR_DIS, send_dcn=False)

    def _tx_got(self, command: str, name: str | None) -> TxGot:
        """What the response ``name`` (None: no valid one) to ``command`` means
        (rules.TX_ON_RESPONSE). A DCN ends the call without a DCN of ours (TX_ON_DCN);
        a response the table does not list ends it with TX_UNEXPECTED and our DCN."""
        if name == "DCN":
            raise CallFailed(TX_ON_DCN[command], f"DCN in answer to {command}", send_dcn=False)
        got = TX_ON_RESPONSE[command].get(name)
        if got is None:
            raise CallFailed(TX_UNEXPECTED[command], f"{name} in answer to {command}")
        return got

    def _train(self, dcs: DCSParams, mods):
        """DCS + TCF until CFR; fall back one speed on each FTT."""
        self._state = TxState.TRAINING
        idx = mods.index(dcs.modulation)
        tries = 0
        while True:
            self._set_mode(dcs)
            frames = self._ident_frames("TSI")
            if dcs.sub:
                frames.append(self._frame("SUB", encode_ident(self.cfg.sub_address), final=False))
            if dcs.sid:
                frames.append(self._frame("SID", encode_ident(self.cfg.sender_ident),
                                          final=False))
            frames.append(self._frame("DCS", dcs.to_fif()))
            yield from self._send_frames(frames)
            yield from self._transmit(Silence(GAP_MS))
            tcf = bytes(int(dcs.modulation.rate * TCF_SECONDS) // 8)
            yield from self._transmit(SendData(dcs.modulation, data=tcf, long_training=True))
            resp, how = yield from self._receive_frames(self.now + self.cfg.timers.t4)
            got = self._tx_got("DCS", resp[-1].name if how == "ok" else None)
            if got is TxGot.TRAINED:
                self._long_next = False
                return dcs
            if got is TxGot.FALL_BACK:
                idx += 1
                tries = 0
                if idx >= len(mods):
                    raise CallFailed(T30Status.CANNOT_TRAIN, "FTT at every speed")
                log.info("FTT at %s, falling back to %s", dcs.modulation, mods[idx])
                dcs = dcs.with_modulation(mods[idx])
                continue
            tries += 1  # TxGot.AGAIN or NOT_HEARD
            if tries >= self.cfg.max_tries:
                raise CallFailed(TX_DCS_TRIES_END[got], f"no CFR or FTT to DCS after {tries} "
                                                        "tries")

    def _repeat_command(self, frames: list[Frame], means: str | None = None):
        """Send a command (the last of ``frames``) and return its response frames and
        what they mean (:meth:`_tx_got`: TX_ON_RESPONSE of ``means``, the command itself
        unless it polls for another). While that is AGAIN (no valid response within T4,
        or CRP) the command goes out again, at most ``max_tries`` times in all; then
        TX_NO_RESPONSE of the command (Rule 5)."""
        command = frames[-1].name
        means = command if means is None else means
        tries = 0
        while True:
            tries += 1
            yield from self._send_frames(frames)
            resp, how = yield from self._receive_frames(self.now + self.cfg.timers.t4)
            got = self._tx_got(means, resp[-1].name if how == "ok" else None)
            if got is not TxGot.AGAIN:
                return resp, got
            if tries >= self.cfg.max_tries:
                raise CallFailed(TX_NO_RESPONSE[command], "no valid response to "
                                 f"{frames[-1].describe()} after {tries} tries")

    def _command(self, frames: list[Frame]):
        """A command (the last of ``frames``) and what its response means
        (:meth:`_repeat_command`); while that is NOT_READY (RNR), poll as TX_NOT_READY
        says (RR, each one repeated as a command is) until T5 from the first RNR
        (Rule 6). Returns (response frames, TxGot)."""
        command = frames[-1].name
        resp, got = yield from self._repeat_command(frames)
        poll = TX_NOT_READY
        until = self.now + getattr(self.cfg.timers, poll.timer)
        while got is TxGot.NOT_READY:
            if self.now >= until:
                raise CallFailed(poll.status, f"receiver not ready for {poll.timer.upper()}")
            resp, got = yield from self._repeat_command([self._frame(poll.command)], command)
        return resp, got

    def _send_page_t4(self, data: bytes, post: str):
        mod = self._dcs.modulation
        self._state = TxState.SENDING_IMAGE
        yield from self._transmit(Silence(GAP_MS))
        yield from self._transmit(SendData(mod, data=data, long_training=False))
        self._state = TxState.POST_PAGE
        _, got = yield from self._command([self._frame(post)])
        return got

    def _send_page_ecm(self, data: bytes, post: str, page_no: int):
        dcs = self._dcs
        blocks = ecm_mod.split_page(data, dcs.ecm_frame_size)
        for b, frames in enumerate(blocks):
            fcf2 = fcf_value(post, self._x) if b == len(blocks) - 1 else NULL_FCF2
            to_send = set(range(len(frames)))
            pprs = 0
            while True:
                self._state = TxState.SENDING_IMAGE
                yield from self._transmit(Silence(GAP_MS))
                burst = ecm_mod.block_burst(frames, to_send)
                yield from self._transmit(SendData(self._dcs.modulation, frames=burst,
                                                   long_training=self._long_next))
                self._long_next = False
                self._state = TxState.POST_PAGE
                pps = self._frame("PPS", pps_fif(fcf2, page_no, b, len(frames)))
                resp, got = yield from self._command([pps])
                if got is TxGot.CONFIRMED:
                    break
                if got is TxGot.RESEND_ALL:
                    asked = set(range(len(frames)))
                else:  # TxGot.RESEND_ASKED
                    # Frames asked for beyond this block do not exist; if none is left the
                    # burst carries only RCP (spandsp does the same; TSB-85 OTEN04).
                    asked = ecm_mod.parse_ppr(resp[-1].fif) & set(range(len(frames)))
                pprs += 1
                if pprs >= self.cfg.ppr_limit:
                    pprs = 0
                    done = yield from self._ctc_or_eor(fcf2)
                    if done:
                        break
                to_send = asked
        return TxGot.MCF

    def _ctc_or_eor(self, fcf2: int):
        """After the 4th PPR: CTC at the next lower speed (returns False: keep sending),
        or EOR when there is none (the block is closed with its gaps: the call ends)."""
        mods = self.local_fallbacks()
        cur = self._dcs.modulation
        lower = [m for m in mods if m.rate < cur.rate]
        if lower:
            new = self._dcs.with_modulation(lower[0])
            yield from self._command([self._frame("CTC", ctc_fif(new))])  # CONTINUE
            log.info("CTC: continuing at %s", new.modulation)
            self._set_mode(new)
            self._long_next = True
            return False
        yield from self._command([self._frame("EOR", bytes((fcf2,)))])  # CLOSED_WITH_ERRORS
        # The block went through incomplete: the page is damaged. Stop here, as spandsp
        # does (TSB-85 OTEN04): DCN and RETRYDCN.
        raise CallFailed(T30Status.RETRYDCN, "block still incomplete after every retransmission "
                                             "(EOR/ERR)")

    def local_fallbacks(self) -> list[Modulation]:
        """Our modulations, fastest first, in fallback order."""
        return fallback_order(self.cfg.modems)
