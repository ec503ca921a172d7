"""FaxSession: a complete fax call on 8 kHz audio, the T.30 engine bound to faxcore's
software modems.

    s = faxcore.FaxSession(calling=True, send=["page.tif"], ecm=True)
    while not s.done:
        s.rx(audio_from_line)        # int16 samples, any block size
        line_out = s.tx(160)         # exactly 160 int16 samples
    s.result.status, s.pages

The session is the modem side of :mod:`faxcore.t30.modem_if`: it turns the engine's
commands into audio (tones, V.21 HDLC, V.27ter/V.29/V.17 data and ECM frames) and the
received audio into events. Time is the sample clock: ``SAMPLE_RATE`` (8000) samples = 1 s.

Each ``rx`` and ``tx`` block is one compiled step (:mod:`faxcore.modem.sessionpump`: the
receive and transmit pumps, silence, the held receiver and the deadline check) that
comes back to Python only when the engine has something to hear (a frame, carrier up or
down, page data, a burst's end, a due timer); the engine's next deadline is handed to
the step as a sample count whenever the engine has run, never polled per block.
``tx_into(buf)`` fills a caller's buffer instead of a new array.

Pages to send are loaded by the one loader, :func:`faxcore.codecs.load_pages` (PDF, images,
TIFF-F, PBM, raw streams, bitmaps), made T.30 pages by :func:`load_pages` here; the
conversions between codec pages and the engine's pages are :func:`to_tx_page`,
:func:`page_from_tx` and :func:`page_from_rx`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from faxcore import modem
from faxcore.codecs import write_tiff
from faxcore.documents import load_pages, page_from_tx, to_tx_page  # noqa: F401 (re-exported)
from faxcore.modem import PAGE_MODEMS, SAMPLE_RATE, pump, sessionpump, txpump
from faxcore.modem.base import as_samples
from faxcore.modem.sessionpump import (
    CODES,
    CONVERT,
    RELEASE,
    RX_BLOCK,  # noqa: F401 (re-exported: the session's receive block)
    RX_LOUD,  # noqa: F401 (re-exported)
    SLOW,
    SRC_DONE,
    deadline_samples,
)
from faxcore.modem.sessionpump import Silence as SilenceSource
from faxcore.modem.tones import CedGenerator, CngGenerator
from faxcore.pagestore import TiffPageWriter, fax_info, tiff_page
from faxcore.t30.engine import RxPage, T30Config, T30Engine
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    HangUp,
    LineDropped,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TrainingFailed,
    TxComplete,
    WrongCarrier,
)
from faxcore.t30.result import CallResult

log = logging.getLogger("faxcore.session")

CHUNK = txpump.CHUNK  # transmit granularity (5 ms): how precisely a burst's end is timed
ECM_PREAMBLE_MS = 200.0


#: Makes the transmit pump of a modem burst (:mod:`faxcore.modem.txpump`): the compiled
#: one; :class:`~faxcore.modem.txpump.ReferenceTxPump` is the same in Python; None plays
#: every source the per-piece way (both are for tests comparing the three).
TX_PUMP: Callable | None = txpump.tx_pump

#: Makes the session pump (:mod:`faxcore.modem.sessionpump`), given TX_PUMP: the compiled
#: one; :class:`~faxcore.modem.sessionpump.ReferenceSessionPump` is the same in Python
#: (for tests comparing the two).
SESSION_PUMP: Callable = sessionpump.session_pump


def _bytes_to_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes(data), np.uint8), bitorder="little")


#: A received page as a codec page: its resolution in dpi, its damage in the TIFF-F
#: fields (BadFaxLines, ConsecutiveBadFaxLines, CleanFaxData); written once, in
#: :func:`faxcore.pagestore.tiff_page`.
page_from_rx = tiff_page


def _continues_past(src, n: int) -> bool:
    """True if ``src.tx(n)`` surely leaves ``src.done`` False: then taking the ``n``
    samples at once gives the same samples and the same burst end as taking them
    CHUNK by CHUNK (the sources are continuous: how a burst is cut into pieces does not
    change its samples). Sources without ``continues_past`` (tones) go by CHUNK."""
    f = getattr(src, "continues_past", None)
    return f is not None and f(n)


def _frame(payload) -> FrameReceived:
    data, ok = payload
    return FrameReceived(data, crc_ok=ok)


#: the receive pump's codes (faxcore.modem.pump) as T.30 events
_PUMP_EVENTS = {
    pump.UP: lambda _p: CarrierUp(),
    pump.DOWN: lambda _p: CarrierDown(),
    pump.FRAME: _frame,
    pump.DATA: DataReceived,
    # the TCF's receiver answers FTT at once instead of waiting for its deadline
    pump.TRAINING_FAILED_CODE: lambda _p: TrainingFailed(),
    # V.21 flags while a fast carrier is expected (or still thought to be up): the far
    # end is sending commands (Class 1 +FCERROR)
    pump.WRONG_CARRIER: lambda _p: WrongCarrier(),
}


class FaxSession:
    """One fax call over audio. ``send``: what to transmit, as :func:`load_pages` takes
    it (paths or bytes of PDF, image, TIFF-F, PBM or raw .g3/.g4 files, bitmaps, codec
    pages, TxPage), every page refitted to a T.30 width;
    ``receive``: a path for the received TIFF-F, a
    :class:`~faxcore.pagestore.TiffPageWriter` (a path with options: ``scheme``, ``rtc``
    for efax, ``fallback_dirs``), or a callable taking each
    :class:`~faxcore.t30.engine.RxPage` (called before the page is confirmed to the
    sender). A path gets each page as it arrives, written and fsync'ed before the MCF
    that confirms it (:class:`faxcore.pagestore.TiffPageWriter`; ECM blocks of a page in
    progress go to PATH.partial first), with the call's metadata in its tags (sender,
    time, time to receive, session parameters, DCS: :mod:`faxcore.pagestore`);
    ``received_path`` is where the pages are.
    ``fallback_dirs``: if PATH cannot be written during the call, the pages move to a
    new file in the first of these directories that works (``store_error`` says why);
    without, the page is not confirmed and the call ends with FILEERROR. ``modems``: the fast
    modems offered, every one of which must be available (else
    :class:`~faxcore.modem.ModemNotAvailable`; V.21 is always needed).
    ``wait_carrier_end`` (default True): answer a received command only once the far
    end's V.21 signal has ended (False: 75 ms after its final frame, while the far end
    may still be sending closing flags; only to test line checkers). Other keyword
    options go to :class:`~faxcore.t30.engine.T30Config` (``poll``, ``schemes``, ``timers``,
    ``sub_address``, ``sender_ident``, ``accept_sid``, ``password``...)."""

    def __init__(self, calling: bool, *, send: Sequence | None = None,
                 receive: str | os.PathLike | TiffPageWriter | Callable[[RxPage], None]
                 | None = None,
                 ecm: bool = True, modems: tuple[str, ...] = PAGE_MODEMS,
                 ident: str = "", tx_level_dbm0: float = -10.0, v17_short_train: bool = True,
                 wait_carrier_end: bool = True,
                 fallback_dirs: Sequence[str | os.PathLike] = (), **options):
        modems = tuple(modems)
        if not modems:
            raise ValueError("no modem requested")
        for m in modems:
            if m not in PAGE_MODEMS:
                raise ValueError(f"unknown fax modem {m!r}; expected one of "
                                 f"{', '.join(PAGE_MODEMS)}")
        for m in ("v21", *modems):
            if not modem.available(m):
                # Never quietly carry on with fewer modems: the call would negotiate
                # something other than what was asked for, and tests would shrink.
                raise modem.ModemNotAvailable(
                    f"modem {m!r} was requested but is not available (its compiled "
                    "module failed to import): run `make build`")
        self._receive = receive
        self._on_page = receive if callable(receive) else None
        self._writer = None
        if isinstance(receive, TiffPageWriter):
            if fallback_dirs:
                raise ValueError("give fallback_dirs to the TiffPageWriter")
            self._writer = receive
        elif receive is not None and not callable(receive):
            self._writer = TiffPageWriter(Path(receive), fallback_dirs)
        cfg = T30Config(calling=calling, pages=load_pages(send), ecm=ecm, modems=modems,
                        ident=ident, on_page=self._page, page_store=self._writer, **options)
        self.engine = T30Engine(cfg)
        self._level = tx_level_dbm0
        # T.30 uses V.17 short training for pages and ECM blocks after CFR (long for TCF
        # and after CTC). v17_short_train=False long-trains every V.17 burst instead (both
        # ends must agree; only for peers that cannot short-train).
        self._v17_short = v17_short_train
        # The per-block state and work (faxcore.modem.sessionpump): the sample clocks,
        # the current transmit source (src: has tx(n), done) and its transmit pump,
        # CNG, the receive pump (rxm: faxcore.modem.pump, with its V.21 watch while a
        # fast carrier is expected), the held V.21 receiver (hold, until hold_until:
        # see _run_commands), the zero samples at the end of what was sent (quiet), the
        # rx sample after the last one louder than RX_LOUD (rx_loud_end), and the
        # engine's deadline as a sample clock.
        self._sp = SESSION_PUMP(TX_PUMP)
        self._hold_src = None    # the answer held until hold ends
        self._wait_carrier_end = wait_carrier_end
        self._tail_quiet = 0     # zero samples at the end of the source that just completed
        self._written = False
        self.engine.start(0.0)
        if self._writer is not None:
            self._writer.attach(self.engine)  # each page's metadata; times from now
        self._run_commands()

    # ---- public --------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.engine.done and self._sp.src is None

    @property
    def tx_bit_rate(self) -> int:
        """Bit rate of what the session is transmitting right now: its modem's (300 for
        V.21), 0 while it sends silence or a tone or nothing."""
        return getattr(self._sp.src, "bit_rate", 0) or 0

    @property
    def result(self) -> CallResult:
        return self.engine.result

    @property
    def received_path(self) -> Path | None:
        """The TIFF-F holding the received pages: ``receive``, or the fallback file they
        moved to (see ``store_error``); None without pages or a ``receive`` path."""
        w = self._writer
        return w.path if w is not None and w.pages_written else None

    @property
    def store_error(self) -> str | None:
        """Why the received pages are not at ``receive`` (None: they are, or none came)."""
        return None if self._writer is None else self._writer.error

    @property
    def pages(self) -> list[np.ndarray]:
        """Bitmaps of the pages received so far (unpacked on each call: the pages are
        kept packed, see :class:`~faxcore.t30.pages.RxPage`)."""
        return [p.bitmap for p in self.engine.received_pages if p.packed is not None]

    def rx(self, samples) -> None:
        sp = self._sp
        r = sp.rx(samples, 0)  # one compiled step: None when nothing happened (the usual)
        while r is not None:
            start, end, stop, codes = r
            if stop == CONVERT:
                samples = as_samples(samples)  # clear ValueError for non-int16 audio
                r = sp.rx(samples, 0)
                continue
            if stop != CODES:
                # the rest of the block as the step describes: the held answer starts
                # (RELEASE) or the engine's timer runs (TIMER), then the receive pump
                if stop == RELEASE:
                    self._release()
                    self._tick()
                else:
                    self._timer()
                codes = None
                if sp.rxm is not None and not self.engine.done:
                    codes = sp.rxm.rx(samples[start:end])
            for code, payload in codes or ():
                self._event(_PUMP_EVENTS[code](payload))
                if sp.rxm is None:
                    break
            r = sp.rx(samples, end)

    def line_dropped(self) -> None:
        """The call has gone (a SIP BYE, the loop current lost): phase E at once, the
        received pages finished as at any hang-up."""
        self._sp.src = None
        self._sp.hold = None
        self._sp.hold_until = sessionpump.NEVER
        self._hold_src = None
        self._event(LineDropped())

    def tx(self, n: int) -> np.ndarray:
        """Exactly ``n`` samples of line audio (silence once the call is over), in a new
        array."""
        sp = self._sp
        out = sp.tx_new(int(n))  # one compiled step, a new array (ValueError if n < 0)
        if sp.stop is not None:  # None: nothing happened (the usual)
            self._fill_rest(out, sp.stop)
        return out

    def tx_into(self, out: np.ndarray) -> None:
        """Fill ``out`` (a writeable 1-D contiguous int16 array, any length) with the next
        ``len(out)`` samples of line audio, as :meth:`tx` would return them: for a
        caller that reuses one buffer (no allocation per block)."""
        r = self._sp.tx(out, 0, True)  # checks out (ValueError)
        if r is not None:
            self._fill_rest(out, r)

    def _fill_rest(self, out: np.ndarray, r: tuple[int, int]) -> None:
        """The rest of a block whose step stopped with ``r``: see sessionpump."""
        sp = self._sp
        while r is not None:
            pos, stop = r
            if stop == SRC_DONE:
                self._src_done()
            elif stop == RELEASE:
                self._release()
            elif stop == SLOW:
                pos = self._tx_piece(out, pos)
            else:  # TIMER, at the block's end
                self._timer()
                return
            r = sp.tx(out, pos, False)

    def _tx_piece(self, out: np.ndarray, pos: int) -> int:
        """Play one piece of a source the step does not (a tone, CNG while listening, a
        burst without a transmit pump) into ``out[pos:]``: returns the position after."""
        sp = self._sp
        n = len(out)
        src = sp.src
        if src is None:  # CNG until the block's end: no source can start
            k = n - pos
            out[pos:] = sp.cng.tx(k)
            sp.tx_clock += k
            return n
        if n - pos > CHUNK and _continues_past(src, n - pos):
            k = n - pos  # the burst surely goes on past this block: one piece
        else:
            k = min(CHUNK, n - pos)  # the burst may end here: find where, to CHUNK
        block = src.tx(k)
        out[pos:pos + k] = block
        if block[-1]:  # still sounding (the common case: cheap)
            sp.quiet = 0
        else:
            loud = np.flatnonzero(block)
            sp.quiet = k - 1 - int(loud[-1]) if loud.size else sp.quiet + k
        sp.tx_clock += k
        if src.done:
            self._src_done()
        return pos + k

    def _src_done(self) -> None:
        # The signal really ended sp.quiet samples ago (a modem's tail of silence, the
        # rest of the last block): a Silence that follows counts from there.
        self._sp.src = None
        self._tail_quiet = self._sp.quiet
        self._event(TxComplete())
        self._tail_quiet = 0

    # ---- internals -----------------------------------------------------------------

    @property
    def _now(self) -> float:
        sp = self._sp
        a, b = sp.rx_clock, sp.tx_clock   # the later clock (no max() call: once per event)
        return (a if a > b else b) / SAMPLE_RATE

    def _tick(self) -> None:
        """Run the engine's timer if it is due."""
        d = self.engine.next_deadline
        if d is not None and self._now >= d:
            self._timer()

    def _timer(self) -> None:
        self.engine.handle_timer(self._now)
        self._run_commands()

    def _event(self, ev) -> None:
        self.engine.handle_event(ev, self._now)
        self._run_commands()

    def _release(self) -> None:
        """The far end's V.21 signal has ended: start the held transmission. Its leading
        silence (the 75 ms gap) counts from the signal's last audible sample, not from
        when the receiver noticed the carrier had gone (a line with noise on it keeps
        the whole gap)."""
        sp = self._sp
        sp.src, sp.hold, sp.hold_until = self._hold_src, None, sessionpump.NEVER
        self._hold_src = None
        if isinstance(sp.src, SilenceSource):
            sp.src.left = self._gap_left(sp.src.left)

    def _gap_left(self, n: int) -> int:
        """How much of an ``n``-sample gap is still to be sent at our next transmitted
        sample, counting the gap from the far end's last audible sample. The receive
        clock may be ahead of the transmit clock (a rig that gives us a block before
        asking for ours): then the gap starts later, a little over ``n``."""
        return max(1, min(n + 4 * CHUNK, n - (self._sp.tx_clock - self._sp.rx_loud_end)))

    def _page(self, page: RxPage) -> None:
        if self._on_page is not None:
            self._on_page(page)

    def _run_commands(self) -> None:
        sp = self._sp
        engine = self.engine
        cmds = engine.commands()
        if not cmds:  # the usual answer to an event (a frame, page data): nothing to do
            self._set_deadline(engine)
            return
        # Imported on first use: hdlc needs a compiled core, and a session whose modems
        # are not built says so in FaxSession() (ModemNotAvailable), not on import.
        from faxcore.modem.hdlc import HdlcTransmitter

        for cmd in cmds:
            sp.quiet = 0
            if isinstance(cmd, ReceiveHDLC):
                sp.src = None
                sp.rxm = pump.rx_pump("v21", 300, hdlc=True)
                sp.cng = CngGenerator() if cmd.cng else None
                continue
            if isinstance(cmd, ReceiveData):
                sp.src = None
                mod = cmd.modulation
                short = cmd.short_train and self._v17_short
                sp.rxm = pump.rx_pump(mod.name, mod.rate, hdlc=cmd.hdlc, short_train=short,
                                      watch=True)
                sp.cng = None
                continue
            # The engine answers a final frame at once, while the far end may still be
            # sending closing flags. With wait_carrier_end (the default), start
            # transmitting (the 75 ms gap first) only when its V.21 carrier has gone
            # (bounded by 0.5 s), so the stations never talk over each other (T.30; the
            # TSB-85 audio runner measures this).
            rxm = sp.rxm
            held = rxm if self._wait_carrier_end and rxm is not None \
                and rxm.hdlc and not rxm.fast and rxm.up else None
            # listening (and not sending CNG meanwhile): the gap counts from what we heard
            listened = rxm is not None and held is None and sp.cng is None
            sp.rxm = None
            sp.cng = None
            if isinstance(cmd, Silence):
                # The gap counts from the end of the last signal on the line: right after
                # our own transmission, the quiet it ended with; right after listening,
                # the quiet since the far end's signal ended (a fast modem reports its
                # carrier's end some time after it); a held answer: see _release.
                n = cmd.ms * SAMPLE_RATE // 1000
                sp.src = SilenceSource(self._gap_left(n) if listened
                                       else max(1, n - self._tail_quiet))
                self._tail_quiet = 0
            elif isinstance(cmd, SendTone):
                if cmd.tone == "CED":
                    sp.src = CedGenerator(duration=cmd.ms / 1000.0)
                else:
                    sp.src = CngGenerator(cycles=1)
            elif isinstance(cmd, SendHDLC):
                t = HdlcTransmitter("v21", 300, preamble_ms=1000.0, level_dbm0=self._level)
                t.send(list(cmd.frames), final=True)
                sp.src = t
            elif isinstance(cmd, SendData):
                mod = cmd.modulation
                short = not cmd.long_training and self._v17_short
                opts = {"short_train": short} if mod.name == "v17" else {}
                if cmd.hdlc:
                    t = HdlcTransmitter(mod.name, mod.rate, preamble_ms=ECM_PREAMBLE_MS,
                                        level_dbm0=self._level, **opts)
                    t.send(list(cmd.frames), final=True)
                else:
                    t = modem.transmitter(mod.name, mod.rate, level_dbm0=self._level, **opts)
                    t.send(_bytes_to_bits(cmd.data), final=True)
                sp.src = t
            elif isinstance(cmd, HangUp):
                sp.src = None
                sp.hold = None
                sp.hold_until = sessionpump.NEVER
                self._hold_src = None
                self._finish()
            if held is not None and sp.src is not None:
                sp.hold = held
                sp.hold_until = deadline_samples(self._now + 0.5)
                self._hold_src = sp.src
                sp.src = None
        self._set_deadline(engine)

    def _set_deadline(self, engine: T30Engine) -> None:
        """The engine has run: the step learns its deadline (as a sample clock) and
        whether it is done, so no block need ask it."""
        sp = self._sp
        sp.set_deadline(engine.next_deadline)  # deadline_samples (compiled in the step)
        sp.engine_done = engine.done

    def _finish(self) -> None:
        if self._written or self._writer is None:
            return
        self._written = True
        # Every page is on disk already (the writer stored each before it was
        # confirmed); this writes the page total and checks the file is still there.
        try:
            self._writer.close()
        except OSError as e:
            log.error("received TIFF-F %s: %s", self._writer.path, e)
            r = self.engine.result
            r.message = (r.message + "; " if r.message else "") + \
                f"received pages could not be finished in {self._writer.path}: {e}"


def write_received_tiff(path, pages: Sequence[RxPage], result: CallResult | None = None) -> int:
    """Write received pages as TIFF-F (MMR); returns the number of pages written (pages
    that could not be decoded at all are left out; nothing is written without pages), all
    at once when called: a session with ``receive=PATH`` writes each page as it arrives
    instead (:mod:`faxcore.pagestore`).

    A page's damage goes into its tags (:func:`faxcore.pagestore.tiff_page`):
    BadFaxLines = ``bad_rows``, ConsecutiveBadFaxLines, and CleanFaxData 1 (bad rows
    regenerated: each replaced by the row before) or 2 (uncorrected: the page lost its
    end, see ``RxPage.end_lost``). With the call's ``result``, each page also gets what it
    says about the call (sender, subaddress, session parameters, DCS, a page far longer
    than declared: :func:`faxcore.pagestore.fax_info`; no receive times, which only the
    writer that stores pages as they arrive knows)."""
    kept = [p for p in pages if p.packed is not None]
    out = [tiff_page(p, None if result is None else fax_info(p, result, number=i))
           for i, p in enumerate(kept, 1)]
    if out:
        write_tiff(path, out, "mmr")
    return len(out)
