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

Internally each procedure is written as a generator that yields the time it wants to be
woken at and receives the next event (or a timeout); this keeps the T.30 flow readable
top to bottom while staying entirely event driven. Where the procedure goes on each
command, response and timeout is data, in :mod:`faxcore.t30.rules` (the receiving and
transmitting states, ``RX_*`` and ``TX_*`` tables); the generators run those tables.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import (
    PIXELS_WIDTH,
    RESOLUTIONS,
    Capabilities,
    DCSParams,
    NegotiationError,
    accept_dcs,
    ctc_fif,
    fallback_order,
    modulation_from_ctc,
    negotiate,
)
from faxcore.t30.frames import NULL_FCF2, Frame, FrameError, fcf_name, fcf_value, pps_fif
from faxcore.t30.idents import decode_ident, encode_ident
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    DataReceived,
    Event,
    FrameReceived,
    HangUp,
    LineDropped,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
    WrongCarrier,
)
from faxcore.t30.nsf import nsf_fif, parse_nsf
from faxcore.t30.result import CallResult, T30Status, TraceEntry
from faxcore.t30.rules import (
    LISTENING,
    PHASE,
    RX_AFTER_EOR,
    RX_AFTER_IMAGE,
    RX_AFTER_PPS,
    RX_AFTER_TCF,
    RX_INVALID,
    RX_NO_IMAGE,
    RX_ON_COMMAND,
    RX_ON_DCN,
    RX_ON_T2,
    RX_POST_PAGE,
    RX_PPS_OTHER,
    RX_T1_RESTARTS,
    RX_WAIT,
    TX_AFTER_POST,
    TX_DCN_FOR_DIS,
    TX_NO_RESPONSE,
    TX_ON_DCN,
    TX_ON_RESPONSE,
    TX_UNEXPECTED,
    CallState,
    Do,
    RxState,
    State,
    Then,
    TxGot,
    TxState,
    classify,
    post_page_name,
)
from faxcore.t30.store import PageStore, ReceivedBlock
from faxcore.t30.timers import DEFAULT_TIMERS, Timers

log = logging.getLogger("faxcore.t30")

GAP_MS = 75  # silence between signals in opposite directions / of different kinds
CED_MS = 2650  # answer tone: T.30 allows 2.6-4.0 s; short, as spandsp's, saves line time
TCF_SECONDS = 1.5
TCF_MIN_ZERO_RUN = 1.0  # seconds of unbroken zeros that make a TCF good (spandsp)
K_FACTOR = {"standard": 2, "fine": 4, "superfine": 8}


@dataclass
class TxPage:
    """A page to send: ``bitmap`` rows x width, uint8 0/1 (1 = black). A page with
    ``new_document`` starts another document: the page before it ends with EOM."""

    bitmap: np.ndarray
    resolution: str = "fine"
    new_document: bool = False  # starts a new document: EOM (not MPS) before it

    def __post_init__(self) -> None:
        self.bitmap = np.asarray(self.bitmap, dtype=np.uint8)
        if self.bitmap.ndim != 2 or self.bitmap.shape[0] == 0:
            raise ValueError("a page bitmap must be a non-empty 2-D array")
        if self.bitmap.shape[1] not in PIXELS_WIDTH:
            raise ValueError(f"page width {self.bitmap.shape[1]} is not 1728, 2048 or 2432")
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}")

    @property
    def width(self) -> int:
        return int(self.bitmap.shape[1])


@dataclass
class RxPage:
    """A received page. ``bitmap`` is None if the data could not be decoded at all.

    ``rows`` is the number of rows in ``bitmap``. ``bad_rows`` counts the damaged rows
    and, when the page lost its end (``end_lost``: non-ECM data without RTC), the rows
    taken as missing (see :meth:`T30Engine._decode`); ``consecutive_bad_rows`` is the
    longest run of them (TIFF ConsecutiveBadFaxLines). ``error`` is the decoder's first
    complaint, if any. ``quality`` is the answer it got: MCF, RTP or RTN.

    ``unconfirmed``: the call ended before the page was confirmed to the sender, which
    therefore does not count it as delivered; it is kept because what arrived is worth
    keeping: a non-ECM page that arrived whole (RTC seen, quality MCF or RTP: the
    ``quality`` it would have got) whose post-page command (MPS/EOM/EOP) never came, or
    the blocks of an ECM page received before the call ended (its data from frame 0 on,
    confirmed or not; ``end_lost`` when its end marker is not among them). See
    :meth:`T30Engine._keep_unconfirmed`."""

    bitmap: np.ndarray | None
    resolution: str
    scheme: str
    width: int
    rows: int
    bad_rows: int
    ecm: bool
    data: bytes = field(repr=False, default=b"")
    quality: str = "MCF"
    consecutive_bad_rows: int = 0
    end_lost: bool = False
    error: str | None = None
    unconfirmed: bool = False


@dataclass
class T30Config:
    """How a station behaves. ``pages``: what to send (a caller sends them; an answerer
    offers them for polling). ``poll``: a caller without pages asks to receive (DTC).

    Phase B extras: ``sub_address`` and ``sender_ident`` go out as SUB and SID frames with
    DCS when the far end's DIS offers them (bits 49 and 50); ``accept_sid`` makes a
    receiver refuse (DCN, SID_UNACCEPTABLE) a sender without that SID. ``password`` is
    sent as PWD with DTC when polling; ``poll_password`` is what a polled station
    requires. What the far end sent is in the result (``remote_sub_address``,
    ``remote_sender_ident``, ``remote_password``).

    Receiving: ``page_store`` (:class:`~faxcore.t30.store.PageStore`) is given every page
    (and ECM block) before the answer confirming it is queued, and must make it durable
    before it returns; ``on_page`` is told of every page kept, after the store."""

    calling: bool = True
    pages: Sequence[TxPage] = ()
    receive: bool = True
    poll: bool = False
    ident: str = ""
    ecm: bool = True
    modems: tuple[str, ...] = ("v17", "v29", "v27ter")
    schemes: tuple[str, ...] = ("mh", "mr", "mmr")
    fine: bool = True
    superfine: bool = True
    max_width: int = 2
    ecm_frame_size: int = 256
    min_scan_ms: int = 0
    timers: Timers = DEFAULT_TIMERS
    max_tries: int = 3
    max_rtn: int = 3
    ppr_limit: int = 4
    rtp_ratio: float = 0.05
    rtn_ratio: float = 0.15
    rnr_count: int = 0
    poll_password: str = ""  # answering: documents are polled only with this PWD
    password: str = ""       # calling to poll: PWD sent with DTC
    sub_address: str = ""    # sending: SUB (subaddress) sent with DCS
    sender_ident: str = ""   # sending: SID (sender identification, a password) with DCS
    accept_sid: str = ""     # receiving: pages only from a sender whose SID is this
    nsf: bytes = b""         # answering: an NSF to send before CSI/DIS (T.35 order;
                             # see faxcore.t30.nsf); none by default
    codec: Any = None
    on_page: Callable[[RxPage], None] | None = None
    page_store: PageStore | None = None

    def __post_init__(self) -> None:
        if self.calling and not self.pages and not self.poll:
            raise ValueError("a calling station needs pages to send or poll=True")
        for m in self.modems:
            if m not in ("v17", "v29", "v27ter"):
                raise ValueError(f"unknown modem {m!r}")
        if self.ecm_frame_size not in (64, 256):
            raise ValueError("ecm_frame_size must be 64 or 256")
        for text in (self.ident, self.password, self.poll_password, self.sub_address,
                     self.sender_ident, self.accept_sid):
            encode_ident(text)  # validates
        self.nsf = bytes(self.nsf)
        if self.nsf:
            nsf_fif(self.nsf)  # validates
        self.pages = [p if isinstance(p, TxPage) else TxPage(p) for p in self.pages]


@dataclass
class RxContext:
    """What the receiving procedure remembers besides its state (the engine's
    ``_state``) and the page data in progress (the engine's ``_rx_*``, which phase E
    reads to keep an unconfirmed page)."""

    pb_frames: list[Frame]          # our phase-B frames: (NSF) (CSI) DIS or (CIG) (PWD) DTC
    local: Capabilities             # what we offered in them
    t1: float                       # when phase B gives up (T1)
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


class _Fail(Exception):
    def __init__(self, status: T30Status, message: str = "", send_dcn: bool = True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.send_dcn = send_dcn


class _Abort(Exception):
    pass


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT = _Timeout()


def longest_zero_run(data: bytes) -> int:
    return max((len(m) for m in re.findall(b"\x00+", bytes(data))), default=0)


MAX_LINE_SECONDS = 5.0  # T.4: a total coded scan line takes less than 5 s (non-ECM)

# Nominal page lengths (T.4 2.2): A4 297 mm, B4 364 mm, at 3.85 / 7.7 / 15.4 lines per mm.
# A page that lost its end is taken to have been this long ("unlimited": A4).
LINES_PER_MM = {"standard": 3.85, "fine": 7.7, "superfine": 15.4}
PAGE_MM = {"a4": 297, "b4": 364, "unlimited": 297}


def nominal_rows(resolution: str, length: str = "a4") -> int:
    """Rows of a page of the nominal ``length`` ("a4", "b4", "unlimited" = A4)."""
    return int(PAGE_MM.get(length, 297) * LINES_PER_MM[resolution])


def longest_coded_line(data: bytes) -> int:
    """The longest total coded scan line of MH/MR page data (octets LSB first), in bits:
    the longest distance between the ends of two successive EOLs (eleven or more zeros,
    then a one), which covers a row's code, its fill and the EOL that ends it."""
    bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8), bitorder="little")
    ones = np.flatnonzero(bits)
    if len(ones) < 2:
        return 0
    ends = ones[1:][np.diff(ones) > 11]
    if ones[0] >= 11:
        ends = np.concatenate([ones[:1], ends])
    return int(np.diff(ends).max()) if len(ends) >= 2 else 0


def _trailing_run(bad_rows: list[int], rows: int) -> int:
    """How many of the last rows of a page (``rows`` of them) are in ``bad_rows``."""
    n = 0
    for r in reversed(bad_rows):
        if r != rows - 1 - n:
            break
        n += 1
    return n


class T30Engine:
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

    # ---- driving API -----------------------------------------------------------------

    def start(self, now: float) -> None:
        if self._gen is not None:
            raise RuntimeError("engine already started")
        self.now = self._t0 = now
        self._gen = self._run(self._calling() if self.cfg.calling else self._answering())
        self._step(lambda: next(self._gen))

    def handle_event(self, event: Event, now: float) -> None:
        if self.done or self._gen is None:
            return
        self.now = now
        self._step(lambda: self._gen.send(event))

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
        self._step(lambda: self._gen.throw(_Abort(reason)))

    @property
    def state(self) -> State:
        """Where the procedure is: a :class:`~faxcore.t30.rules.RxState` or
        :class:`~faxcore.t30.rules.TxState`, or :class:`~faxcore.t30.rules.CallState`
        before and after them."""
        return self._state

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
            raise _Fail(T30Status.CALLDROPPED, "line dropped", send_dcn=False)
        return ev

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

    def _codec(self):
        if self.cfg.codec is None:
            from faxcore import codecs  # the page codec; imported only when pages flow

            self.cfg.codec = codecs
        return self.cfg.codec

    def local_caps(self) -> Capabilities:
        c = self.cfg
        return Capabilities(
            can_receive=c.receive, ready_to_poll=bool(c.pages) and not c.calling,
            modems=frozenset(c.modems), fine=c.fine, superfine=c.superfine,
            mr="mr" in c.schemes, mmr="mmr" in c.schemes and c.ecm, ecm=c.ecm,
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
                raise _Fail(T30Status.HDLC_CARRIER, "modem did not finish transmitting",
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
        "ok" (frames end with a good final frame), "timeout", "garbled"."""
        if listen:
            self._emit(ReceiveHDLC(cng=cng))
        frames: list[Frame] = []
        garbled = False
        gap = self.cfg.timers.frame_gap
        while True:
            ev = yield from self._wait(deadline)
            if ev is TIMEOUT:
                return frames, ("garbled" if garbled or frames else "timeout")
            if isinstance(ev, CarrierUp):
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

    def _command(self, frames: list[Frame], fail: T30Status):
        """Send a command and return the response frames; repeat after T4 without a
        valid response (or on CRP), at most ``max_tries`` times."""
        tries = 0
        while True:
            tries += 1
            yield from self._send_frames(frames)
            resp, how = yield from self._receive_frames(self.now + self.cfg.timers.t4)
            if how == "ok" and resp[-1].name != "CRP":
                return resp
            if tries >= self.cfg.max_tries:
                raise _Fail(fail, f"no valid response to {frames[-1].describe()} "
                                  f"after {tries} tries")

    # ---- the call ----------------------------------------------------------------------

    def _run(self, procedure):
        """Run ``procedure`` (the calling or answering station's generator) to its end,
        then phase E: keep what is worth keeping, our DCN if due, hang up."""
        status, message, send_dcn = T30Status.OK, "", False
        try:
            yield from procedure
        except _Fail as f:
            status, message, send_dcn = f.status, f.message, f.send_dcn
        except _Abort as a:
            status, message, send_dcn = T30Status.CALLDROPPED, str(a), True
        self._keep_unconfirmed()
        self._state = CallState.RELEASE
        if send_dcn:
            try:
                yield from self._send_frames([self._frame("DCN")])
            except (_Fail, _Abort):
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
                raise _Fail(T30Status.T1_EXPIRED, "no DIS from the called station",
                            send_dcn=False)
            if how != "ok":
                continue
            self._note_idents(frames)
            last = frames[-1]
            if last.name == "DIS":
                break
            if last.name == "DCN":
                raise _Fail(TX_DCN_FOR_DIS, send_dcn=False)
        remote = Capabilities.from_fif(last.fif)
        if self.cfg.pages:
            if not remote.can_receive:
                raise _Fail(T30Status.RX_INCAPABLE)
            yield from self._transmitter(remote)
        else:
            if not remote.ready_to_poll:
                raise _Fail(T30Status.TX_INCAPABLE, "far end has no document to poll")
            dtc = self._ident_frames("CIG")
            if self.cfg.password:
                dtc.append(self._frame("PWD", encode_ident(self.cfg.password), final=False))
            dtc.append(self._frame("DTC", self.local_caps().to_fif()))
            yield from self._receiver(dtc)

    def _answering(self):
        self._state = CallState.SETUP
        yield from self._transmit(SendTone("CED", CED_MS))
        nsf = [self._frame("NSF", nsf_fif(self.cfg.nsf), final=False)] if self.cfg.nsf else []
        dis = nsf + self._ident_frames("CSI") + [self._frame("DIS", self.local_caps().to_fif())]
        yield from self._receiver(dis)

    # ---- transmitting ------------------------------------------------------------------

    def _negotiate(self, remote: Capabilities, page: TxPage):
        try:
            dcs, mods = negotiate(self.cfg.modems, remote, resolution=page.resolution,
                                  width_pixels=page.width, ecm=self.cfg.ecm,
                                  schemes=self.cfg.schemes,
                                  ecm_frame_size=self.cfg.ecm_frame_size)
        except NegotiationError as e:
            raise _Fail(T30Status[e.reason], str(e)) from None
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
            data = self._encode(pages[i], self._dcs)
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
                    raise _Fail(T30Status.RETRYDCN, f"page {i + 1} rejected (RTN) {rtn} times")
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
                raise _Fail(T30Status.T1_EXPIRED, "no DIS after EOM")
            if how != "ok":
                continue
            self._note_idents(frames)
            if frames[-1].name in ("DIS", "DTC"):
                return Capabilities.from_fif(frames[-1].fif)
            if frames[-1].name == "DCN":
                raise _Fail(TX_DCN_FOR_DIS, send_dcn=False)

    def _tx_got(self, command: str, name: str | None) -> TxGot:
        """What the response ``name`` (None: no valid one) to ``command`` means
        (rules.TX_ON_RESPONSE). A DCN ends the call without a DCN of ours (TX_ON_DCN);
        a response the table does not list ends it with TX_UNEXPECTED and our DCN."""
        if name == "DCN":
            raise _Fail(TX_ON_DCN[command], f"DCN in answer to {command}", send_dcn=False)
        got = TX_ON_RESPONSE[command].get(name)
        if got is None:
            raise _Fail(TX_UNEXPECTED[command], f"{name} in answer to {command}")
        return got

    def _encode(self, page: TxPage, dcs: DCSParams) -> bytes:
        opts = {"min_row_bits": dcs.min_row_bits()} if dcs.min_row_bits() else {}
        # The line carries the coded bits in order, octets LSB first (T.4, T.4 Annex A):
        # so the first coded bit is the LSB of the first octet.
        return bytes(self._codec().encode(page.bitmap, dcs.scheme, k=K_FACTOR[dcs.resolution],
                                          end_marker=True, lsb_first=True, **opts))

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
                    raise _Fail(T30Status.CANNOT_TRAIN, "FTT at every speed")
                log.info("FTT at %s, falling back to %s", dcs.modulation, mods[idx])
                dcs = dcs.with_modulation(mods[idx])
                continue
            tries += 1  # TxGot.AGAIN
            if tries >= self.cfg.max_tries:
                raise _Fail(TX_NO_RESPONSE["DCS"], f"no response to DCS after {tries} tries")

    def _send_page_t4(self, data: bytes, post: str):
        mod = self._dcs.modulation
        self._state = TxState.SENDING_IMAGE
        yield from self._transmit(Silence(GAP_MS))
        yield from self._transmit(SendData(mod, data=data, long_training=False))
        self._state = TxState.POST_PAGE
        resp = yield from self._command([self._frame(post)], TX_NO_RESPONSE[post])
        return self._tx_got(post, resp[-1].name)

    def _ecm_command(self, frames: list[Frame]):
        """Send an ECM command (PPS, CTC, EOR) and return its response; while the answer
        is RNR, poll with RR (the response to RR stands for the command's), for T5."""
        resp = yield from self._command(frames, TX_NO_RESPONSE[frames[-1].name])
        t5 = self.now + self.cfg.timers.t5
        while resp[-1].name == "RNR":
            if self.now >= t5:
                raise _Fail(T30Status.TX_T5EXP, "receiver not ready for T5")
            resp = yield from self._command([self._frame("RR")], TX_NO_RESPONSE["RR"])
        return resp

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
                resp = yield from self._ecm_command([pps])
                got = self._tx_got("PPS", resp[-1].name)
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
            resp = yield from self._ecm_command([self._frame("CTC", ctc_fif(new))])
            self._tx_got("CTC", resp[-1].name)  # TxGot.CONTINUE
            log.info("CTC: continuing at %s", new.modulation)
            self._set_mode(new)
            self._long_next = True
            return False
        resp = yield from self._ecm_command([self._frame("EOR", bytes((fcf2,)))])
        self._tx_got("EOR", resp[-1].name)  # TxGot.CLOSED_WITH_ERRORS
        # The block went through incomplete: the page is damaged. Stop here, as spandsp
        # does (TSB-85 OTEN04): DCN and RETRYDCN.
        raise _Fail(T30Status.RETRYDCN, "block still incomplete after every retransmission "
                                        "(EOR/ERR)")

    def local_fallbacks(self):
        return fallback_order(self.cfg.modems)

    # ---- receiving -------------------------------------------------------------------

    def _rx_tcf(self, dcs: DCSParams):
        """Receive the TCF after a DCS. True = good, False = bad/missing, None = V.21 heard."""
        self._emit(ReceiveData(dcs.modulation))
        deadline = self.now + self.cfg.timers.t4 + 2.0
        data = bytearray()
        up = False
        while True:
            ev = yield from self._wait(deadline)
            if ev is TIMEOUT:
                break
            if isinstance(ev, WrongCarrier):
                return None
            if isinstance(ev, CarrierUp):
                up = True
                deadline = self.now + TCF_SECONDS + 3.0
            elif isinstance(ev, DataReceived):
                data += ev.data
            elif isinstance(ev, CarrierDown) and up:
                break
        run = longest_zero_run(data)
        need = int(dcs.modulation.rate * TCF_MIN_ZERO_RUN) // 8
        log.info("TCF at %s: %d octets, longest zero run %d (need %d)", dcs.modulation,
                 len(data), run, need)
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
            ev = yield from self._wait(deadline)
            if ev is TIMEOUT:
                if up:
                    break
                raise _Fail(RX_NO_IMAGE[first])
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

    def _decode(self, data: bytes, dcs: DCSParams, truncated: bool = False) -> RxPage:
        """Decode a received page and judge its copy quality (the answer: MCF/RTP/RTN).

        The rules, in order:

        * nothing decodable (no rows), or (non-ECM) a coded scan line longer than 5 s
          (T.4 4.1.2: a broken transmitter or line): RTN;
        * a non-ECM page whose data ends without RTC has **lost its end** (the carrier
          dropped or the data was cut): how much is gone cannot be known, so the rows
          from the end of what arrived to the nominal page length of the DCS (A4 or B4
          at the page's resolution; A4 when unlimited), and at least one row, count as
          bad rows, consecutive ones, on top of the rows the decoder found damaged;
        * then, with ``bad`` the bad rows so counted and ``total`` the rows received
          plus the missing ones: ``bad > rtn_ratio * total`` (15 %): RTN;
          ``bad > rtp_ratio * total`` (5 %): RTP; else MCF;
        * a page that lost its end is never MCF: at least RTP, so the transmitter
          retrains and the result and the TIFF-F (BadFaxLines, CleanFaxData = 2,
          "uncorrected errors") record the damage.

        ECM pages: the frame map makes their data complete, so a missing end marker alone
        says nothing (the quality answer is not used either: ECM answers per block). But
        a block closed with EOR/ERR keeps its gaps: when decoding stops with an error
        before the end marker, the page has lost its end as above, and the result and
        the TIFF-F record it. (Rows MMR decoded from the data after a gap before it
        noticed cannot be told from good ones.) ``truncated``: ECM data that is known to
        stop short (the call ended mid-page): without its end marker the page lost its
        end, even when the data stops between two rows."""
        width = dcs.width_pixels
        error: str | None = None
        end_seen = True
        try:
            page = self._codec().decode(data, dcs.scheme, width, lsb_first=True)
            bitmap, rows, bad = page.bitmap, int(page.rows), int(page.bad_rows)
            run = int(page.max_consecutive_bad_rows)
            error, end_seen = page.error, bool(page.end_marker_seen)
            trailing = _trailing_run(page.bad_row_indices, rows)
        except Exception as e:  # the decoder's errors on hostile data: a bad page
            log.warning("page data could not be decoded: %s", e)
            bitmap, rows, bad, run, trailing, error = None, 0, 0, 0, 0, str(e)
        end_lost = rows > 0 and not end_seen and (not dcs.ecm or error is not None
                                                  or truncated)
        missing = 0
        if end_lost:
            missing = max(nominal_rows(dcs.resolution, dcs.length) - rows, 1)
            bad += missing
            run = max(run, trailing + missing)
            log.warning("page data ended without RTC after %d rows (%s): %d rows taken "
                        "as lost", rows, error or "no decoding error", missing)
        total = rows + missing
        line_bits = 0 if dcs.ecm else longest_coded_line(data)
        if rows == 0:
            quality = "RTN"
        elif line_bits > MAX_LINE_SECONDS * dcs.modulation.rate:
            # A line this long means a broken transmitter or line (T.4 4.1.2): reject.
            log.warning("coded scan line of %.2f s (over %.0f s): page rejected",
                        line_bits / dcs.modulation.rate, MAX_LINE_SECONDS)
            quality = "RTN"
        elif bad > self.cfg.rtn_ratio * total:
            quality = "RTN"
        elif bad > self.cfg.rtp_ratio * total or end_lost:
            quality = "RTP"
        else:
            quality = "MCF"
        return RxPage(bitmap, dcs.resolution, dcs.scheme, width, rows, bad, dcs.ecm,
                      bytes(data), quality, consecutive_bad_rows=run, end_lost=end_lost,
                      error=error)

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
                raise _Fail(T30Status.FILEERROR, f"page {len(self.received_pages)} could "
                                                 f"not be stored, not confirmed: {e}") from None
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
                raise _Fail(T30Status.FILEERROR, f"block {blk.block} of page {blk.page + 1} "
                                                 f"could not be stored, not confirmed: {e}"
                            ) from None
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
            page = self._decode(data, dcs, truncated=True)
            if page.rows == 0 or page.end_lost and not confirmed:
                return
        else:
            if pending is None:
                return
            page = self._decode(pending, dcs)
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

    def _receiver(self, pb_frames: list[Frame]):
        """The receiving side, from phase B (our DIS or DTC, ``pb_frames``) to the DCN."""
        rx = RxContext(pb_frames, self.local_caps(), t1=self.now + self.cfg.timers.t1,
                       busy=self.cfg.rnr_count)
        self._state = RxState.SEND_PHASE_B
        yield from self._receive(rx)

    def _receive(self, rx: RxContext):
        """Run the receiver's rules (:mod:`faxcore.t30.rules`, RX_*) from ``self._state``:
        the active states do their work, the listening ones wait for a command and look
        up what to do on it (RX_ON_COMMAND) or on T2 (RX_ON_T2)."""
        T = self.cfg.timers
        while True:
            if self._state is RxState.SEND_PHASE_B:
                frames, how = yield from self._send_phase_b(rx)
                if how != "ok":
                    if self.now >= rx.t1:
                        raise _Fail(T30Status.T1_EXPIRED, "no command in answer to "
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
            raise _Fail(then)
        if self._state in RX_T1_RESTARTS:
            rx.t1 = self.now + self.cfg.timers.t1
        elif self.now >= rx.t1:
            raise _Fail(T30Status.T1_EXPIRED, send_dcn=False)
        self._state = then

    # The handlers of the receiver's reactions (rules.Do). Each is a generator that
    # returns True when the receiving procedure is over (a normal end, or it turned
    # round and transmitted), else False with self._state where the rules lead.

    def _rx_train(self, rx: RxContext, frames: list[Frame]):
        cmd = frames[-1]
        if not self.cfg.receive:
            raise _Fail(T30Status.RX_GOTDCS, "DCS received, but not willing to receive")
        try:
            new = DCSParams.from_fif(cmd.fif)
        except ValueError as e:
            raise _Fail(T30Status.INCOMPATIBLE, str(e)) from None
        why = accept_dcs(rx.local, new)
        if why:
            raise _Fail(T30Status.INCOMPATIBLE, why)
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
                raise _Fail(T30Status.SID_UNACCEPTABLE,
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
                raise _Fail(T30Status.PWD_UNACCEPTABLE, "polled without the right password")
        if not self.cfg.pages:
            raise _Fail(T30Status.TX_INCAPABLE, f"{cmd.name}, but nothing to send")
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
        raise _Fail(status, send_dcn=False)

    def _rx_ignore(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        return False

    def _rx_invalid(self, rx: RxContext, frames: list[Frame]):
        yield from ()
        name = frames[-1].name
        ecm = None if self._dcs is None else self._dcs.ecm
        why = {None: f"{name} before DCS", False: f"unexpected {name}",
               True: f"unexpected {name} in ECM"}[ecm]
        raise _Fail(RX_INVALID[ecm], why)

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
            page = self._decode(self._rx_pending, self._dcs)
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
                raise _Fail(T30Status.RETRYDCN, f"{post} repeated {rx.repeats + 1} "
                                                "times after RTN")
        else:
            answer = "RTN"          # no page arrived at all
        yield from self._send_frames([self._frame(answer)])
        self._state = RX_POST_PAGE[(post, answer)]
        return False

    def _rx_answer_pps(self, rx: RxContext, frames: list[Frame]):
        cmd = frames[-1]
        if len(cmd.fif) < 4:
            raise _Fail(T30Status.RX_ECMPHD, "short PPS")
        rx.held_pps = cmd
        yield from self._answer_held_pps(rx)
        return False

    def _rx_answer_rr(self, rx: RxContext, frames: list[Frame]):
        if rx.held_pps is None and rx.last_resp is not None and rx.busy == 0:
            yield from self._send_frames([rx.last_resp])  # our answer was lost
            return False
        if rx.held_pps is None:
            raise _Fail(T30Status.RX_ECMPHD, "RR without PPS")
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
            raise _Fail(T30Status.RX_ECMPHD, "EOR without FCF2")
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
            raise _Fail(T30Status.RX_ECMPHD, str(e)) from None
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
            self._keep(self._decode(page_data, self._dcs))
        self._rx_block = ecm_mod.BlockReceiver()
        yield from self._send_frames([resp])
        if post not in after:
            raise _Fail(RX_PPS_OTHER, f"PPS with FCF2 {post}")
        return after[post]


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
