"""A T.38 terminal: the one T.30 engine (:class:`~faxcore.t30.engine.T30Engine`) behind
the modem interface (:mod:`faxcore.t30.modem_if`), its signals carried as IFP packets
(:mod:`faxcore.t38.packets`) instead of audio. Sans-IO, like
:class:`faxcore.FaxSession`::

    t = T38Terminal(calling=True, send=["page.tif"], ecm=True)
    t.start(now)
    while not t.done:
        for pkt in t.packets(now): udptl.send(pkt)     # what to send now (paced)
        t.receive_packet(pkt_from_peer, now)           # each IFP packet that arrives
        ... sleep until t.next_deadline or a packet ...
    t.result.status, t.pages

What goes out, for each modem command (as spandsp's T.38 terminal does; timings in
the fact sheet ``t38-sip-facts.md`` section 1):

* ``Silence``: the ``no-signal`` indicator (only if the last one sent was another);
* ``SendTone``: the CED or CNG indicator; ``ReceiveHDLC(cng=True)`` the CNG indicator;
* ``SendHDLC``: ``v21-preamble``, 1 s of flags, then each frame as ``hdlc-data``
  chunks (one octet per 30 ms at V.21) ending with ``hdlc-fcs-OK``, the last frame with
  ``hdlc-fcs-OK-sig-end``;
* ``SendData`` (TCF or a T.4 page): the training indicator of the modem (V.17 long or
  short training as the engine asks), the training time, ``t4-non-ecm-data`` chunks
  paced at the bit rate (one per ``chunk_ms``), ``pad_ms`` of zeros so a gateway's
  modem does not cut the last rows, ``t4-non-ecm-sig-end``;
* ``SendData`` with frames (an ECM block): the training indicator, training and 200 ms
  of flags, then the frames as HDLC on the fast data type.

Every transmission ends with ``no-signal``. Indicators and signal ends are sent
``repeats`` times (spandsp's default 3): the copies get new sequence numbers from UDPTL.
HDLC and non-ECM octets are bit-reversed at the boundary: the engine's octets are in
line order (the first bit sent is the LSB: DIS is ``FF 13 80``), an IFP octet has the
first bit sent in its MSB (DIS is ``FF C8 01``, as spandsp and Wireshark have it).
The TCF is transferred: its zeros go as non-ECM data and the receiving engine judges
them (T.38 ``transferredTCF``).

What comes in is turned into the events a modem reports. A repeated indicator, and a
signal end repeated with no data between (copies with new sequence numbers), are
ignored; HDLC data with no preamble indicator, a frame whose first octet is not FF
(reported damaged), data inside ``hdlc-fcs-OK`` (Cisco), ``hdlc-sig-end`` ending non-ECM
data (Mediatrix) and data in ``t4-non-ecm-sig-end`` (spandsp's padding) are accepted. A
signal that starts while the engine is still finishing its own transmission (the far
end answers 75 ms after our last signal end, and we hold our line for 60 ms after it)
is kept and given to the engine when it listens, unless it ended more than
:data:`REPLAY_S` before. A signal in progress that stops sending for ``rx_stall_s`` is
taken as ended (carrier lost), so a peer that goes silent ends the call by the T.30
timers, never a hang.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faxcore.documents import load_pages
from faxcore.pagestore import TiffPageWriter
from faxcore.t30.engine import RxPage, T30Config, T30Engine
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    DataReceived,
    Event,
    FrameReceived,
    HangUp,
    LineDropped,
    Modulation,
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
from faxcore.t38.packets import DataPacket, DataType, Field, FieldType, IfpPacket, Indicator
from faxcore.t38.packets import IndicatorPacket as Ind

log = logging.getLogger("faxcore.t38")

#: octet -> the same octet with its bits in reverse order (line order <-> IFP order)
BIT_REVERSE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))

V21_RATE = 300
_INF = float("inf")
#: a signal of the far end that ended at most this long before the engine listens for
#: it is still given to the engine (it was sent while we finished our own signal)
REPLAY_S = 0.5
#: after a transmission's last packet, how long the line stays ours (the far modem
#: plays out the end of the data; spandsp waits 60 ms after a fast modem's sig-end)
TAIL_S = 0.060
#: received non-ECM data is given to the engine in pieces of up to this many octets, and
#: at most this long after it came (the engine judges a TCF 0.2 s after its data stop)
T4_HOLD_OCTETS = 2048
T4_HOLD_S = 0.1
#: the longest HDLC frame taken (T.30 frames: 3 + 255 octets; ECM: 4 + 256)
MAX_HDLC_OCTETS = 2048
#: events of a far signal the engine has not listened to kept for it (see _listen);
#: beyond this the signal is dropped (a peer sending while we send cannot fill memory)
MAX_HELD_EVENTS = 4096
#: HDLC per frame on the line besides its octets: FCS (16 bits) and a flag
HDLC_FRAME_EXTRA_BITS = 24

_DATA_TYPE: dict[tuple[str, int], DataType] = {
    ("v21", 300): DataType.V21,
    ("v27ter", 2400): DataType.V27TER_2400, ("v27ter", 4800): DataType.V27TER_4800,
    ("v29", 7200): DataType.V29_7200, ("v29", 9600): DataType.V29_9600,
    ("v17", 7200): DataType.V17_7200, ("v17", 9600): DataType.V17_9600,
    ("v17", 12000): DataType.V17_12000, ("v17", 14400): DataType.V17_14400,
}
_MODULATION: dict[DataType, Modulation] = {d: Modulation(r, n) for (n, r), d in
                                           _DATA_TYPE.items()}

#: (modem, rate, long training) -> training indicator; V.27ter and V.29 have one training
_TRAINING: dict[tuple[str, int, bool], Indicator] = {
    ("v27ter", 2400, True): Indicator.V27_2400_TRAINING,
    ("v27ter", 4800, True): Indicator.V27_4800_TRAINING,
    ("v29", 7200, True): Indicator.V29_7200_TRAINING,
    ("v29", 9600, True): Indicator.V29_9600_TRAINING,
    ("v17", 7200, False): Indicator.V17_7200_SHORT_TRAINING,
    ("v17", 7200, True): Indicator.V17_7200_LONG_TRAINING,
    ("v17", 9600, False): Indicator.V17_9600_SHORT_TRAINING,
    ("v17", 9600, True): Indicator.V17_9600_LONG_TRAINING,
    ("v17", 12000, False): Indicator.V17_12000_SHORT_TRAINING,
    ("v17", 12000, True): Indicator.V17_12000_LONG_TRAINING,
    ("v17", 14400, False): Indicator.V17_14400_SHORT_TRAINING,
    ("v17", 14400, True): Indicator.V17_14400_LONG_TRAINING,
}
_TRAINED_MODULATION: dict[Indicator, Modulation] = {ind: Modulation(r, n) for (n, r, _), ind
                                                    in _TRAINING.items()}


def data_type(mod: Modulation) -> DataType:
    """The IFP ``t30-data`` type of a modulation."""
    return _DATA_TYPE[(mod.name, mod.rate)]


def training_indicator(mod: Modulation, long: bool) -> Indicator:
    """The indicator that starts a burst of ``mod`` (V.17: long or short training)."""
    return _TRAINING[(mod.name, mod.rate, long or mod.name != "v17")]


def training_seconds(mod: Modulation, long: bool) -> float:
    """How long the far end's modem trains before the first data bit (spandsp's
    figures: V.27ter 943/708 ms, V.29 234 ms, V.17 1393 ms long and 142 ms short)."""
    if mod.name == "v17":
        return 1.393 if long else 0.142
    if mod.name == "v29":
        return 0.234
    return 0.943 if mod.rate == 2400 else 0.708


def reverse_bits(data: bytes) -> bytes:
    """Every octet bit-reversed (line order <-> IFP order)."""
    return bytes(data).translate(BIT_REVERSE)


@dataclass
class _Signal:
    """What the far end is sending (or last sent): a V.21 burst, a fast modem's burst or
    a tone, and the modem events it makes, kept so an engine that starts listening late
    still gets them (see the module docstring)."""

    kind: str                         # "v21", "fast" or "tone"
    mod: Modulation | None = None     # fast: the modulation (from the indicator or data)
    events: list[Event] = field(default_factory=list)
    delivered: int = 0                # events given to the engine so far
    delivered_any: bool = False       # some event of it went to the engine
    up: bool = False                  # CarrierUp is among the events
    ended: bool = False
    end_time: float = 0.0
    wrong_sent: bool = False          # WrongCarrier was reported for it


class T38Terminal:
    """One fax call over T.38. ``calling``, ``send``, ``receive``, ``ecm``, ``modems``,
    ``ident``, ``fallback_dirs`` and the other keyword options (T30Config fields:
    ``poll``, ``timers``, ``sub_address``...) are as for :class:`faxcore.FaxSession`:
    ``receive`` is a path for the received TIFF-F (each page written and fsync'ed before
    the MCF that confirms it), a :class:`~faxcore.pagestore.TiffPageWriter` or a callable
    taking each :class:`~faxcore.t30.engine.RxPage`.

    T.38 options: ``version`` (0..3, the negotiated T38FaxVersion, for the wire codec:
    :attr:`version`; the terminal sends nothing version 0 lacks); ``repeats``: copies of
    each indicator and signal end (3); ``chunk_ms``: pacing of data, one packet per
    ``chunk_ms`` (30); ``pad_ms``: zeros after non-ECM data (120, at least 40: the field's
    lost-last-rows failure); ``v21_preamble_ms`` (1000) and ``ecm_preamble_ms`` (200): the
    flags before the first frame; ``rx_stall_s``: a signal with no packet for this long
    has ended (5)."""

    def __init__(self, calling: bool, *, send: Sequence | None = None,
                 receive: str | os.PathLike | TiffPageWriter | Callable[[RxPage], None]
                 | None = None, ecm: bool = True,
                 modems: tuple[str, ...] = ("v17", "v29", "v27ter"), version: int = 0,
                 ident: str = "", repeats: int = 3, chunk_ms: int = 30, pad_ms: int = 120,
                 v21_preamble_ms: int = 1000, ecm_preamble_ms: int = 200,
                 rx_stall_s: float = 5.0, fallback_dirs: Sequence[str | os.PathLike] = (),
                 resolution: str | None = None, **options):
        if version not in (0, 1, 2, 3):
            raise ValueError(f"T.38 version must be 0 to 3, not {version!r}")
        if repeats < 1:
            raise ValueError("repeats must be at least 1")
        if not 10 <= chunk_ms <= 200:
            raise ValueError("chunk_ms must be 10 to 200")
        if pad_ms < 0 or v21_preamble_ms < 0 or ecm_preamble_ms < 0 or rx_stall_s <= 0:
            raise ValueError("pad_ms, v21_preamble_ms, ecm_preamble_ms must be >= 0 and "
                             "rx_stall_s > 0")
        self.version = version
        self.repeats = repeats
        self._chunk_s = chunk_ms / 1000
        self._pad_s = pad_ms / 1000
        self._v21_preamble_s = v21_preamble_ms / 1000
        self._ecm_preamble_s = ecm_preamble_ms / 1000
        self._stall_s = float(rx_stall_s)
        self._on_page = receive if callable(receive) else None
        self._writer: TiffPageWriter | None = None
        if isinstance(receive, TiffPageWriter):
            if fallback_dirs:
                raise ValueError("give fallback_dirs to the TiffPageWriter")
            self._writer = receive
        elif receive is not None and not callable(receive):
            self._writer = TiffPageWriter(Path(receive), fallback_dirs)
        cfg = T30Config(calling=calling, pages=load_pages(send, resolution=resolution),
                        ecm=ecm, modems=tuple(modems), ident=ident, on_page=self._page,
                        page_store=self._writer, **options)
        self.engine = T30Engine(cfg)
        self._started = False
        self._finished = False
        self._busy = False            # inside engine calls: deliver far events afterwards
        # transmit side
        self._txq: deque[tuple[float, IfpPacket]] = deque()
        self._tx_done_at: float | None = None   # when the current transmission completes
        self._tx_end_signal = False            # ... and then no-signal goes out
        self._tx_ind: Indicator | None = None  # the last indicator sent
        # receive side
        self._mode: ReceiveHDLC | ReceiveData | None = None
        self._sig: _Signal | None = None
        self._rx_ind: Indicator | None = None  # the last indicator received
        self._rx_ctx: tuple[DataType, FieldType] | None = None  # last field, for repeats
        self._hdlc = bytearray()
        self._hdlc_corrupt = False    # a packet of the frame being received was lost
        # non-ECM data received but not yet an event (IFP order; see _flush_t4)
        self._t4 = bytearray()
        self._t4_since = 0.0
        self._last_rx = 0.0
        self.now = 0.0
        #: packets received, those ignored as repeats, those reported lost (statistics)
        self.rx_packets = 0
        self.rx_repeats = 0
        self.rx_lost = 0

    # ---- public ------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Start the call at ``now`` (seconds, any clock that only goes forward)."""
        if self._started:
            raise RuntimeError("terminal already started")
        self._started = True
        self.now = self._last_rx = now
        self.engine.start(now)
        if self._writer is not None:
            self._writer.attach(self.engine)
        self._run_commands()

    def packets(self, now: float) -> list[IfpPacket]:
        """The packets to send at ``now`` (every one whose time has come, in order)."""
        self._advance(now)
        out: list[IfpPacket] = []
        q = self._txq
        while q and q[0][0] <= now:
            out.append(q.popleft()[1])
        return out

    def receive_packet(self, pkt: IfpPacket, now: float) -> None:
        """An IFP packet from the far end (after UDPTL: in order, without duplicates of
        the same sequence number, but possibly with repeats under new numbers)."""
        self._advance(now)
        if self.engine.done:
            return
        self.rx_packets += 1
        self._last_rx = now
        if isinstance(pkt, Ind):
            self._rx_indicator(pkt.indicator)
        elif isinstance(pkt, DataPacket):
            self._rx_data(pkt)
        else:
            raise TypeError(f"not an IFP packet: {pkt!r}")
        self._deliver()

    def packet_lost(self, now: float, count: int = 1) -> None:
        """``count`` packets from the far end were lost for good (UDPTL gave up on their
        sequence numbers): the HDLC frame being received has a hole, so its end is
        reported with a bad FCS, as spandsp does (T.38 carries no FCS to notice it by).
        Lost non-ECM data leaves a hole the page decoder finds (bad rows)."""
        self._advance(now)
        self.rx_lost += count
        if self._hdlc or (self._sig is not None and not self._sig.ended):
            self._hdlc_corrupt = True

    def line_dropped(self, now: float) -> None:
        """The call is gone (BYE, the UDPTL stream stopped for good): phase E at once."""
        self._advance(now)
        self._engine_event(LineDropped())

    def abort(self, now: float, reason: str = "aborted locally") -> None:
        """Stop the call: DCN to the far end (after what is being sent is cut), hang up."""
        self._advance(now)
        self.engine.abort(now, reason)
        self._run_commands()

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`packets` next has something to do (None: only a packet can)."""
        # called several times per packet by an event loop: no lists, no min() of them
        best = self._txq[0][0] if self._txq else _INF
        t = self._tx_done_at
        if t is not None and t < best:
            best = t
        eng = self.engine
        if not eng.done:
            t = eng.next_deadline
            if t is not None and t < best:
                best = t
            s = self._sig
            if s is not None and not s.ended and s.kind != "tone":
                t = self._last_rx + self._stall_s
                if t < best:
                    best = t
            if self._t4:
                t = self._t4_since + T4_HOLD_S
                if t < best:
                    best = t
        return None if best == _INF else best

    @property
    def done(self) -> bool:
        """The call is over and everything for the far end has been sent."""
        return self.engine.done and not self._txq

    @property
    def result(self) -> CallResult:
        return self.engine.result

    @property
    def pages(self) -> list[np.ndarray]:
        """Bitmaps of the pages received so far."""
        return [p.bitmap for p in self.engine.received_pages if p.packed is not None]

    @property
    def received_path(self) -> Path | None:
        """The TIFF-F holding the received pages (None: no pages, or no path given)."""
        w = self._writer
        return w.path if w is not None and w.pages_written else None

    @property
    def store_error(self) -> str | None:
        """Why the received pages are not at ``receive`` (None: they are, or none came)."""
        return None if self._writer is None else self._writer.error

    # ---- time --------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Everything due by ``now``: the end of our transmission, engine timers, a stalled
        far signal. (Handled at ``now``: a late caller cannot send in the past.)"""
        if now < self.now:
            now = self.now  # a clock that stepped back: keep ours monotonic
        self.now = now
        if not self._started:
            return
        for _ in range(1000):  # each step moves the procedure on; bounded for safety
            if self._tx_done_at is not None and now >= self._tx_done_at:
                self._tx_done_at = None
                if self._tx_end_signal:
                    self._indicator(Indicator.NO_SIGNAL, now)
                self._engine_event(TxComplete())
                continue
            if self._t4 and now >= self._t4_since + T4_HOLD_S:
                self._flush_t4()
                self._deliver()
                continue
            s = self._sig
            if s is not None and not s.ended and s.kind != "tone" \
                    and now >= self._last_rx + self._stall_s:
                log.info("far end's %s signal stalled for %.1f s: taken as ended",
                         s.kind, self._stall_s)
                self._hdlc.clear()
                self._end_signal()
                self._deliver()
                continue
            d = self.engine.next_deadline
            if d is not None and now >= d:
                self.engine.handle_timer(now)
                self._run_commands()
                continue
            break

    # ---- the engine --------------------------------------------------------------------

    def _engine_event(self, ev: Event) -> None:
        self.engine.handle_event(ev, self.now)
        self._run_commands()

    def _page(self, page: RxPage) -> None:
        if self._on_page is not None:
            self._on_page(page)

    def _run_commands(self) -> None:
        for cmd in self.engine.commands():
            self._command(cmd)
        self._deliver()

    def _command(self, cmd: Command) -> None:
        now = self.now
        if isinstance(cmd, ReceiveHDLC | ReceiveData):
            self._cancel_tx()
            self._listen(cmd)
            if isinstance(cmd, ReceiveHDLC) and cmd.cng:
                self._indicator(Indicator.CNG, now)
            return
        self._mode = None
        self._cancel_tx()
        if isinstance(cmd, HangUp):
            self._indicator(Indicator.NO_SIGNAL, now)
            self._finish()
            return
        if isinstance(cmd, Silence):
            self._indicator(Indicator.NO_SIGNAL, now)
            self._tx_done_at, self._tx_end_signal = now + cmd.ms / 1000, False
        elif isinstance(cmd, SendTone):
            self._indicator(Indicator.CED if cmd.tone == "CED" else Indicator.CNG, now)
            self._tx_done_at, self._tx_end_signal = now + cmd.ms / 1000, True
        elif isinstance(cmd, SendHDLC):
            self._indicator(Indicator.V21_PREAMBLE, now)
            end = self._schedule_hdlc(DataType.V21, V21_RATE, cmd.frames,
                                      now + self._v21_preamble_s)
            self._tx_done_at, self._tx_end_signal = end + TAIL_S, True
        elif isinstance(cmd, SendData):
            mod = cmd.modulation
            self._indicator(training_indicator(mod, cmd.long_training), now)
            t = now + training_seconds(mod, cmd.long_training or mod.name != "v17")
            if cmd.hdlc:
                end = self._schedule_hdlc(data_type(mod), mod.rate, cmd.frames,
                                          t + self._ecm_preamble_s)
            else:
                end = self._schedule_non_ecm(data_type(mod), mod.rate, cmd.data, t)
            self._tx_done_at, self._tx_end_signal = end + TAIL_S, True
        else:
            raise TypeError(f"unknown modem command {cmd!r}")

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._writer is None:
            return
        # Every page is on disk already (stored before it was confirmed); this writes the
        # page total and checks the file is still there.
        try:
            self._writer.close()
        except OSError as e:
            log.error("received TIFF-F %s: %s", self._writer.path, e)
            r = self.engine.result
            r.message = (r.message + "; " if r.message else "") + \
                f"received pages could not be finished in {self._writer.path}: {e}"

    # ---- sending -----------------------------------------------------------------------

    def _cancel_tx(self) -> None:
        """A new command replaces what was being sent (as on a modem): what has not gone
        out yet is dropped; the far end sees the signal end with our next indicator."""
        if self._tx_done_at is not None or self._txq:
            if any(isinstance(p, DataPacket) for _, p in self._txq):
                log.info("transmission cut: %d packets not sent", len(self._txq))
            self._txq.clear()
        self._tx_done_at = None

    def _indicator(self, ind: Indicator, t: float) -> None:
        if ind == self._tx_ind:
            return  # only a change is sent (spandsp)
        self._tx_ind = ind
        pkt = Ind(ind)
        for _ in range(self.repeats):
            self._txq.append((t, pkt))

    def _octets_per_chunk(self, rate: int) -> int:
        return max(1, int(rate * self._chunk_s) // 8)

    def _schedule_hdlc(self, dt: DataType, rate: int, frames: Sequence[bytes],
                       t: float) -> float:
        """HDLC frames from ``t``: each as hdlc-data chunks at the bit rate, ending with
        fcs-OK (in the packet of its last chunk), the last frame's end fcs-OK-sig-end
        (alone, repeated). Returns when the last one goes."""
        n = self._octets_per_chunk(rate)
        q = self._txq
        frames = [f for f in frames if f]
        for i, frame in enumerate(frames):
            data = reverse_bits(frame)
            last_frame = i == len(frames) - 1
            for k in range(0, len(data), n):
                chunk = data[k:k + n]
                fields = (Field(FieldType.HDLC_DATA, chunk),)
                if k + n >= len(data) and not last_frame:
                    fields += (Field(FieldType.HDLC_FCS_OK),)
                q.append((t, DataPacket(dt, fields)))
                t += len(chunk) * 8 / rate
            t += HDLC_FRAME_EXTRA_BITS / rate
        end = DataPacket(dt, (Field(FieldType.HDLC_FCS_OK_SIG_END),))
        for _ in range(self.repeats):
            q.append((t, end))
        return t

    def _schedule_non_ecm(self, dt: DataType, rate: int, data: bytes, t: float) -> float:
        """Non-ECM data (TCF, a T.4 page) from ``t``: t4-non-ecm-data chunks at the bit
        rate, then ``pad_ms`` of zeros, then t4-non-ecm-sig-end (repeated)."""
        n = self._octets_per_chunk(rate)
        pad = int(rate * self._pad_s) // 8
        data = reverse_bits(data) + bytes(pad)
        q = self._txq
        step = n * 8 / rate
        for k in range(0, len(data), n):
            chunk = data[k:k + n]
            q.append((t, DataPacket(dt, (Field(FieldType.T4_NON_ECM_DATA, chunk),))))
            t += step if len(chunk) == n else len(chunk) * 8 / rate
        end = DataPacket(dt, (Field(FieldType.T4_NON_ECM_SIG_END),))
        for _ in range(self.repeats):
            q.append((t, end))
        return t

    # ---- receiving ---------------------------------------------------------------------

    def _new_signal(self, kind: str, mod: Modulation | None = None) -> _Signal:
        self._end_signal()
        # the old signal's last events (its held data, its end) go to the engine before
        # the new signal replaces it, when the new one follows with no end of its own
        self._deliver()
        self._hdlc.clear()
        self._hdlc_corrupt = False
        s = _Signal(kind, mod)
        if kind == "v21":
            s.up = True
            s.events.append(CarrierUp())  # flags heard (as the audio V.21 receiver says)
        self._sig = s
        return s

    def _t4_data(self, dt: DataType, data: bytes) -> None:
        """Non-ECM octets: gathered, and given to the engine as one DataReceived per
        T4_HOLD_OCTETS (or at the signal's end, or T4_HOLD_S after the first), not one
        per packet: the engine only collects them, and each event has its cost."""
        self._signal_for(dt)
        if not self._t4:
            self._t4_since = self.now
        self._t4 += data
        if len(self._t4) >= T4_HOLD_OCTETS:
            self._flush_t4()

    def _flush_t4(self) -> None:
        if self._t4 and self._sig is not None:
            self._sig.events.append(DataReceived(bytes(self._t4).translate(BIT_REVERSE)))
        self._t4.clear()

    def _end_signal(self) -> None:
        s = self._sig
        self._flush_t4()
        if s is None or s.ended:
            return
        s.ended, s.end_time = True, self.now
        if s.kind == "fast" and not s.up:
            # a training with no data after it: the modem could not train (the engine
            # answers a TCF with FTT at once)
            s.up = True
            s.events.append(TrainingFailed())
        if s.up:
            s.events.append(CarrierDown())

    def _rx_indicator(self, ind: Indicator) -> None:
        if ind == self._rx_ind:
            self.rx_repeats += 1
            return  # a repeat, or an unchanged indicator: nothing new on the line
        self._rx_ind = ind
        self._rx_ctx = None
        if ind == Indicator.NO_SIGNAL:
            self._end_signal()
        elif ind == Indicator.V21_PREAMBLE:
            self._new_signal("v21")
        elif ind in _TRAINED_MODULATION:
            self._new_signal("fast", _TRAINED_MODULATION[ind])
        else:  # CNG, CED, and the V.8/V.34/V.33 signals we do not use
            self._new_signal("tone")

    def _signal_for(self, dt: DataType) -> _Signal:
        """The far signal that data of type ``dt`` belongs to: the current one, or a new
        one when there is none of that kind in progress (data without its indicator)."""
        s = self._sig
        kind = "v21" if dt == DataType.V21 else "fast"
        if s is None or s.ended or s.kind != kind:
            s = self._new_signal(kind, _MODULATION.get(dt))
        if not s.up:
            s.up = True
            s.events.append(CarrierUp())  # the modem trained: data comes
        return s

    def _rx_data(self, pkt: DataPacket) -> None:
        dt = pkt.data_type
        if dt not in _MODULATION:
            log.debug("ignored: data of type %s", dt)
            return
        for f in pkt.fields:
            ft = f.type
            if ft == FieldType.HDLC_DATA:
                self._rx_ctx = (dt, ft)
                if f.data:
                    self._signal_for(dt)
                    self._hdlc_add(f.data)
            elif ft == FieldType.T4_NON_ECM_DATA:
                self._rx_ctx = (dt, ft)
                if f.data:
                    self._t4_data(dt, f.data)
            elif ft in (FieldType.HDLC_FCS_OK, FieldType.HDLC_FCS_BAD,
                        FieldType.HDLC_FCS_OK_SIG_END, FieldType.HDLC_FCS_BAD_SIG_END,
                        FieldType.HDLC_SIG_END, FieldType.T4_NON_ECM_SIG_END):
                if self._rx_ctx == (dt, ft) and not f.data:
                    # the same end again with nothing between: a copy sent under a new
                    # sequence number (spandsp filters these the same way)
                    self.rx_repeats += 1
                    continue
                self._rx_ctx = (dt, ft)
                self._rx_end(dt, ft, f.data)
            else:
                log.debug("ignored: field %s", ft)

    def _hdlc_add(self, data: bytes) -> None:
        """Octets of the HDLC frame being received. A frame longer than MAX_HDLC_OCTETS
        (no T.30 or ECM frame is) keeps only its start and is reported damaged: a peer
        that never ends its frame cannot make us hold more."""
        room = MAX_HDLC_OCTETS - len(self._hdlc)
        if len(data) > room:
            data = data[:max(room, 0)]
            self._hdlc_corrupt = True
        self._hdlc += data.translate(BIT_REVERSE)

    def _rx_end(self, dt: DataType, ft: FieldType, data: bytes) -> None:
        if ft == FieldType.T4_NON_ECM_SIG_END:
            if data:
                self._t4_data(dt, data)
            self._end_signal()
            return
        if data:  # Cisco sends the frame's last octets inside fcs-OK
            self._signal_for(dt)
            self._hdlc_add(data)
        if self._hdlc:
            frame = bytes(self._hdlc)
            self._hdlc.clear()
            s = self._signal_for(dt)
            good = ft in (FieldType.HDLC_FCS_OK, FieldType.HDLC_FCS_OK_SIG_END) \
                and frame[0] == 0xFF and not self._hdlc_corrupt  # not FF: damaged (spandsp)
            s.events.append(FrameReceived(frame, crc_ok=good))
        self._hdlc_corrupt = False
        if ft in (FieldType.HDLC_FCS_OK_SIG_END, FieldType.HDLC_FCS_BAD_SIG_END,
                  FieldType.HDLC_SIG_END):
            # hdlc-sig-end also ends non-ECM data (Mediatrix sends it there)
            self._end_signal()

    # ---- giving the far end's signal to the engine -------------------------------------

    def _matches(self, s: _Signal) -> bool:
        mode = self._mode
        if isinstance(mode, ReceiveHDLC):
            return s.kind == "v21"
        if isinstance(mode, ReceiveData):
            if s.kind == "fast" and s.mod is not None and s.mod != mode.modulation:
                log.info("far end sends %s while %s is expected", s.mod, mode.modulation)
            return s.kind == "fast"
        return False

    def _listen(self, cmd: ReceiveHDLC | ReceiveData) -> None:
        """The engine listens: a far signal it has not heard yet (started while we were
        finishing our transmission) is given to it from its start, if still going or
        ended less than REPLAY_S ago; one it heard part of goes on from where it is."""
        self._mode = cmd
        s = self._sig
        if s is None or not self._matches(s):
            return
        if s.delivered_any or (s.ended and self.now - s.end_time > REPLAY_S):
            s.delivered = len(s.events)
        else:
            s.delivered = 0

    def _deliver(self) -> None:
        """Give the engine the far signal's events it has not had, while it listens for
        that kind of signal (V.21 while a fast carrier is expected: WrongCarrier)."""
        if self._busy:
            return
        self._busy = True
        try:
            while not self.engine.done:
                s = self._sig
                if s is None:
                    return
                if isinstance(self._mode, ReceiveData) and s.kind == "v21" and not s.ended \
                        and not s.wrong_sent and not s.delivered_any:
                    s.wrong_sent = True
                    self._engine_step(WrongCarrier())
                    continue
                if not self._matches(s) or s.delivered >= len(s.events):
                    break
                ev = s.events[s.delivered]
                s.delivered += 1
                s.delivered_any = True
                self._engine_step(ev)
        finally:
            self._busy = False
        s = self._sig
        if s is not None:
            if s.delivered_any and s.delivered:
                # delivered events are never given again (see _listen): let them go
                del s.events[:s.delivered]
                s.delivered = 0
            elif len(s.events) > MAX_HELD_EVENTS:
                log.warning("far end's %s signal came while we were not listening: "
                            "dropped after %d events", s.kind, len(s.events))
                s.events.clear()
                s.delivered, s.delivered_any = 0, True

    def _engine_step(self, ev: Event) -> None:
        self.engine.handle_event(ev, self.now)
        for cmd in self.engine.commands():
            self._command(cmd)
