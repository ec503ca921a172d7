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
from faxcore.modem import PAGE_MODEMS, SAMPLE_RATE, pump, txpump
from faxcore.modem.base import as_samples
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

CHUNK = 40  # transmit granularity (5 ms): how precisely a burst's end is timed
RX_BLOCK = 4 * CHUNK  # received audio is handled in blocks of at most this (20 ms)
ECM_PREAMBLE_MS = 200.0
# |sample| above this is the far end's signal (about -50 dBm0; modems send ~ -10 dBm0):
# where a received signal ended, for the gap before our answer
RX_LOUD = 64



#: Makes the transmit pump of a modem burst (:mod:`faxcore.modem.txpump`): the compiled
#: one; :class:`~faxcore.modem.txpump.ReferenceTxPump` is the same in Python; None plays
#: every source the per-piece way (both are for tests comparing the three).
TX_PUMP: Callable | None = txpump.tx_pump


def _bytes_to_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes(data), np.uint8), bitorder="little")


#: A received page as a codec page: its resolution in dpi, its damage in the TIFF-F
#: fields (BadFaxLines, ConsecutiveBadFaxLines, CleanFaxData); written once, in
#: :func:`faxcore.pagestore.tiff_page`.
page_from_rx = tiff_page


class _Silence:
    def __init__(self, n: int):
        self.left = n

    @property
    def done(self) -> bool:
        return self.left <= 0

    def tx(self, n: int) -> np.ndarray:
        self.left -= n
        return np.zeros(n, np.int16)


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
        self._rx_clock = 0
        self._tx_clock = 0
        self._src = None         # current transmit source (has tx(n), done)
        self._txp = None         # the transmit pump playing it (None: per piece)
        self._txp_src = None     # the source _txp was made for
        self._cng = None
        self._rxm = None         # current receive pump (faxcore.modem.pump), with its
        #                          V.21 watch while a fast carrier is expected
        self._hold = None        # (V.21 receiver, deadline, source): see _run_commands
        self._wait_carrier_end = wait_carrier_end
        self._quiet = 0          # zero samples at the end of the current source's output
        self._tail_quiet = 0     # ... of the source that just completed (see tx)
        self._rx_loud_end = 0    # rx sample after the last one louder than RX_LOUD
        self._written = False
        self.engine.start(0.0)
        if self._writer is not None:
            self._writer.attach(self.engine)  # each page's metadata; times from now
        self._run_commands()

    # ---- public --------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.engine.done and self._src is None

    @property
    def tx_bit_rate(self) -> int:
        """Bit rate of what the session is transmitting right now: its modem's (300 for
        V.21), 0 while it sends silence or a tone or nothing."""
        return getattr(self._src, "bit_rate", 0) or 0

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
        if not (type(samples) is np.ndarray and samples.dtype == np.int16  # the usual case
                and samples.ndim == 1 and samples.flags.c_contiguous):
            samples = as_samples(samples)  # clear ValueError for non-int16 audio
        total = samples.shape[0]
        pos = 0
        while pos < total:
            n = total - pos
            if n > RX_BLOCK:
                n = RX_BLOCK
                block = samples[pos:pos + n]
            else:
                block = samples if pos == 0 else samples[pos:]
            pos += n
            if self._rxm is not None or self._hold is not None:  # listening
                if not -RX_LOUD <= int(block[-1]) <= RX_LOUD:  # the common case: cheap
                    self._rx_loud_end = self._rx_clock + n
                else:
                    loud = np.flatnonzero((block > RX_LOUD) | (block < -RX_LOUD))
                    if loud.size:
                        self._rx_loud_end = self._rx_clock + int(loud[-1]) + 1
            self._rx_clock += n
            if self._hold is not None:
                rxm, until, _ = self._hold
                rxm.rx(block)
                if not rxm.up or self._now >= until:
                    self._release()
            self._tick()
            if self._rxm is None or self.engine.done:
                continue
            codes = self._rxm.rx(block)
            for code, payload in codes:
                self._event(_PUMP_EVENTS[code](payload))
                if self._rxm is None:
                    break

    def line_dropped(self) -> None:
        """The call has gone (a SIP BYE, the loop current lost): phase E at once, the
        received pages finished as at any hang-up."""
        self._src = None
        self._hold = None
        self._event(LineDropped())

    def tx(self, n: int) -> np.ndarray:
        """Exactly ``n`` samples of line audio (silence once the call is over)."""
        n = int(n)
        if n < 0:
            raise ValueError("sample count must be >= 0")
        out = None  # made on first need: a block that one piece fills is that piece
        pos = 0
        if self._hold is not None and self._now >= self._hold[1]:
            self._release()
        while pos < n:
            src = self._src
            if src is not self._txp_src:  # a new source: a modem burst gets a pump
                self._txp_src = src
                self._txp = TX_PUMP(src) if TX_PUMP is not None and \
                    txpump.supports(src) else None
            if self._txp is not None:
                # One call fills the block, or up to where the burst ended (then the
                # same as below: TxComplete, and the next source goes on from there).
                if out is None:
                    out = np.zeros(n, np.int16)
                end, self._quiet = self._txp.fill(out, pos, self._quiet)
                self._tx_clock += end - pos
                pos = end
                if self._txp.done:
                    self._src = None
                    self._tail_quiet = self._quiet
                    self._event(TxComplete())
                    self._tail_quiet = 0
                continue
            if src is None:
                k = n - pos  # CNG or nothing until the block's end: no source can start
            elif isinstance(src, _Silence):
                k = max(1, min(n - pos, src.left))  # silence ends on the sample
            elif n - pos > CHUNK and _continues_past(src, n - pos):
                k = n - pos  # the burst surely goes on past this block: one piece
            else:
                k = min(CHUNK, n - pos)  # the burst may end here: find where, to CHUNK
            if src is not None:
                block = src.tx(k)
                if k == n:
                    out = block  # a fresh array of n int16 samples (every source's tx)
                else:
                    if out is None:
                        out = np.zeros(n, np.int16)
                    out[pos:pos + k] = block
                if block[-1]:  # still sounding (the common case: cheap)
                    self._quiet = 0
                else:
                    loud = np.flatnonzero(block)
                    self._quiet = k - 1 - int(loud[-1]) if loud.size else self._quiet + k
                if self._src.done:
                    self._src = None
                    self._tx_clock += k
                    pos += k
                    # The signal really ended self._quiet samples ago (a modem's tail
                    # of silence, the rest of the last block): a Silence that follows
                    # counts from there.
                    self._tail_quiet = self._quiet
                    self._event(TxComplete())
                    self._tail_quiet = 0
                    continue
            elif self._cng is not None:
                if out is None:
                    out = np.zeros(n, np.int16)
                out[pos:pos + k] = self._cng.tx(k)
            pos += k
            self._tx_clock += k
        self._tick()
        return out if out is not None else np.zeros(n, np.int16)

    # ---- internals -----------------------------------------------------------------

    @property
    def _now(self) -> float:
        return max(self._rx_clock, self._tx_clock) / SAMPLE_RATE

    def _tick(self) -> None:
        d = self.engine.next_deadline
        if d is not None:
            rx, tx = self._rx_clock, self._tx_clock  # _now, inline: this runs every block
            if (rx if rx > tx else tx) / SAMPLE_RATE >= d:
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
        self._src, self._hold = self._hold[2], None
        if isinstance(self._src, _Silence):
            self._src.left = self._gap_left(self._src.left)

    def _gap_left(self, n: int) -> int:
        """How much of an ``n``-sample gap is still to be sent at our next transmitted
        sample, counting the gap from the far end's last audible sample. The receive
        clock may be ahead of the transmit clock (a rig that gives us a block before
        asking for ours): then the gap starts later, a little over ``n``."""
        return max(1, min(n + 4 * CHUNK, n - (self._tx_clock - self._rx_loud_end)))

    def _page(self, page: RxPage) -> None:
        if self._on_page is not None:
            self._on_page(page)

    def _run_commands(self) -> None:
        # Imported on first use: hdlc needs a compiled core, and a session whose modems
        # are not built says so in FaxSession() (ModemNotAvailable), not on import.
        from faxcore.modem.hdlc import HdlcTransmitter

        for cmd in self.engine.commands():
            self._quiet = 0
            if isinstance(cmd, ReceiveHDLC):
                self._src = None
                self._rxm = pump.rx_pump("v21", 300, hdlc=True)
                self._cng = CngGenerator() if cmd.cng else None
                continue
            if isinstance(cmd, ReceiveData):
                self._src = None
                mod = cmd.modulation
                short = cmd.short_train and self._v17_short
                self._rxm = pump.rx_pump(mod.name, mod.rate, hdlc=cmd.hdlc, short_train=short,
                                         watch=True)
                self._cng = None
                continue
            # The engine answers a final frame at once, while the far end may still be
            # sending closing flags. With wait_carrier_end (the default), start
            # transmitting (the 75 ms gap first) only when its V.21 carrier has gone
            # (bounded by 0.5 s), so the stations never talk over each other (T.30; the
            # TSB-85 audio runner measures this).
            held = self._rxm if self._wait_carrier_end and self._rxm is not None \
                and self._rxm.hdlc and not self._rxm.fast and self._rxm.up else None
            # listening (and not sending CNG meanwhile): the gap counts from what we heard
            listened = self._rxm is not None and held is None and self._cng is None
            self._rxm = None
            self._cng = None
            if isinstance(cmd, Silence):
                # The gap counts from the end of the last signal on the line: right after
                # our own transmission, the quiet it ended with; right after listening,
                # the quiet since the far end's signal ended (a fast modem reports its
                # carrier's end some time after it); a held answer: see _release.
                n = cmd.ms * SAMPLE_RATE // 1000
                self._src = _Silence(self._gap_left(n) if listened
                                     else max(1, n - self._tail_quiet))
                self._tail_quiet = 0
            elif isinstance(cmd, SendTone):
                if cmd.tone == "CED":
                    self._src = CedGenerator(duration=cmd.ms / 1000.0)
                else:
                    self._src = CngGenerator(cycles=1)
            elif isinstance(cmd, SendHDLC):
                t = HdlcTransmitter("v21", 300, preamble_ms=1000.0, level_dbm0=self._level)
                t.send(list(cmd.frames), final=True)
                self._src = t
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
                self._src = t
            elif isinstance(cmd, HangUp):
                self._src = None
                self._hold = None
                self._finish()
            if held is not None and self._src is not None:
                self._hold = (held, self._now + 0.5, self._src)
                self._src = None

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
