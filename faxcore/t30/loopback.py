"""An ideal simulated line between two T.30 engines, in virtual time.

Each engine's modem commands are carried out with realistic durations (V.21 frames at
300 bit/s after a 1 s flag preamble, training times per modem, TCF 1.5 s, page data at
the negotiated rate) and the other engine receives the events a Class 1 modem would
report. Nothing really waits, so a complete call costs milliseconds of CPU.

Faults can be injected (:class:`Faults`): drop or garble a V.21 frame, corrupt
high-speed data or ECM frames, a line that cannot carry more than a given bit rate (so
TCF fails above it), or a line that goes dead at some moment.

A signal is heard only by a far end already listening in the right mode when it starts
(V.21 frames: when each frame starts; high-speed: when the training starts), as with a
real modem; a far end listening for a high-speed carrier that gets V.21 is told
:class:`~faxcore.t30.modem_if.WrongCarrier` (Class 1 +FCERROR).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from faxcore.t30.engine import T30Engine
from faxcore.t30.frames import Frame, FrameError
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    DataReceived,
    FrameReceived,
    HangUp,
    Modulation,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
    WrongCarrier,
)

V21_PREAMBLE = 1.0
V21_RATE = 300.0
HDLC_FAST_PREAMBLE = 0.2
DETECT_DELAY = 0.1  # time for a receiver to notice a carrier


def training_time(mod: Modulation, long: bool) -> float:
    """Seconds of training before the first data bit (approximate, per Recommendation)."""
    if mod.name == "v17":
        return 1.393 if long else 0.142
    if mod.name == "v29":
        return 0.253
    return 0.708 if mod.rate == 4800 else 0.943


def hdlc_bits(frame: bytes) -> float:
    """Bits of one HDLC frame on the line: data + FCS, ~1/62 stuffing, one flag."""
    return (len(frame) + 2) * 8 * (1 + 1 / 62) + 8


@dataclass
class Faults:
    """What goes wrong on the line. Every hook is optional.

    ``frame(sender, frame, n)`` -> "ok" | "drop" | "garble" for each V.21 frame, ``n``
    counting earlier frames of the same name from the same sender (0 = first).
    ``data(sender, cmd, data)`` -> the bytes the far end gets for non-ECM high-speed data.
    ``ecm_frame(sender, frame_number, burst)`` -> True to corrupt that FCD frame (burst
    counts the sender's ECM bursts from 0). ``max_rate``: faster signals arrive as noise.
    ``cut(sender, cmd, now)`` -> True to make the line go dead from this command on.
    ``carrier_lost(sender, cmd)`` -> for each high-speed burst (SendData), None or the
    fraction (0 to 1) of its length after which the far end loses the carrier: it is
    told CarrierDown there and gets nothing more of the burst (a fade, a line hit); the
    sender does not notice and finishes the burst.
    """

    frame: Callable[[str, Frame, int], str] | None = None
    data: Callable[[str, SendData, bytes], bytes] | None = None
    ecm_frame: Callable[[str, int, int], bool] | None = None
    max_rate: int | None = None
    cut: Callable[[str, Command, float], bool] | None = None
    carrier_lost: Callable[[str, SendData], float | None] | None = None
    seed: int = 1


@dataclass
class _Rx:
    kind: str  # "hdlc" or "data"
    mod: Modulation | None
    hdlc: bool
    short: bool
    seq: int
    since: float


@dataclass
class _Tx:
    alive: bool = True
    rx_seq: int | None = None  # the far end's receive mode that picked this signal up
    start: float = 0.0
    end: float = 0.0


@dataclass
class _End:
    label: str
    engine: T30Engine | None
    rx: _Rx | None = None
    tx: _Tx | None = None
    hung: bool = False
    counts: dict = field(default_factory=dict)
    bursts: int = 0


class Loopback:
    """Join a calling and an answering engine; :meth:`run` plays the call to the end."""

    def __init__(self, caller: T30Engine, answerer: T30Engine | None, faults: Faults | None = None):
        self.ends = [_End("caller", caller), _End("answerer", answerer)]
        self.faults = faults or Faults()
        self.now = 0.0
        self.dead = False
        self._heap: list = []
        self._seq = itertools.count()
        self._rxseq = itertools.count()
        self._rng = random.Random(self.faults.seed)
        self.log: list[tuple[float, str, str]] = []

    # ---- public ----------------------------------------------------------------------

    def at(self, time: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual ``time`` (e.g. to abort an engine mid-page)."""
        heapq.heappush(self._heap, (time, next(self._seq), fn))

    def pump(self, end_label: str) -> None:
        """Carry out the commands an engine has queued (call after poking it directly)."""
        self._pump(self._end(end_label))

    def run(self, limit: float = 3600.0) -> float:
        for e in self.ends:
            if e.engine is not None:
                e.engine.start(self.now)
                self._pump(e)
        while not all(e.engine is None or e.engine.done for e in self.ends):
            cands = []
            if self._heap:
                cands.append(self._heap[0][0])
            for e in self.ends:
                if e.engine is not None and e.engine.next_deadline is not None:
                    cands.append(e.engine.next_deadline)
            if not cands:
                raise RuntimeError("loopback deadlock: no events and no timers")
            t = min(cands)
            if t > limit:
                raise RuntimeError(f"call did not end within {limit} s of virtual time")
            self.now = max(self.now, t)
            if self._heap and self._heap[0][0] <= t:
                _, _, fn = heapq.heappop(self._heap)
                fn()
            else:
                for e in self.ends:
                    eng = e.engine
                    if eng is not None and eng.next_deadline is not None and eng.next_deadline <= t:
                        eng.handle_timer(self.now)
                        self._pump(e)
        return self.now

    # ---- internals -------------------------------------------------------------------

    def _end(self, label: str) -> _End:
        return self.ends[0] if label == "caller" else self.ends[1]

    def _far(self, end: _End) -> _End:
        return self.ends[1] if end is self.ends[0] else self.ends[0]

    def _deliver(self, end: _End, event) -> None:
        if end.engine is None or end.engine.done or end.hung:
            return
        end.engine.handle_event(event, self.now)
        self._pump(end)

    def _pump(self, end: _End) -> None:
        if end.engine is None:
            return
        for cmd in end.engine.commands():
            self._execute(end, cmd)

    def _cut_tx(self, end: _End) -> None:
        tx = end.tx
        if tx is None or not tx.alive:
            return
        tx.alive = False
        far = self._far(end)
        if tx.rx_seq is not None and far.rx is not None and far.rx.seq == tx.rx_seq \
                and self.now < tx.end:
            self._deliver(far, CarrierDown())

    def _execute(self, end: _End, cmd: Command) -> None:
        self.log.append((self.now, end.label, type(cmd).__name__))
        if self.faults.cut is not None and not self.dead and self.faults.cut(end.label, cmd, self.now):
            self.dead = True
        if isinstance(cmd, ReceiveHDLC | ReceiveData):
            self._cut_tx(end)
            hd = isinstance(cmd, ReceiveHDLC)
            end.rx = _Rx("hdlc" if hd else "data", None if hd else cmd.modulation,
                         True if hd else cmd.hdlc, False if hd else cmd.short_train,
                         next(self._rxseq), self.now)
            return
        end.rx = None
        self._cut_tx(end)
        if isinstance(cmd, HangUp):
            end.hung = True
            return
        tx = _Tx(start=self.now)
        end.tx = tx
        if isinstance(cmd, Silence | SendTone):
            dur = cmd.ms / 1000.0
        elif isinstance(cmd, SendHDLC):
            dur = self._send_v21(end, tx, cmd)
        elif isinstance(cmd, SendData):
            dur = self._send_fast(end, tx, cmd)
        else:
            raise TypeError(f"unknown modem command {cmd!r}")
        tx.end = self.now + dur

        def complete() -> None:
            if tx.alive:
                tx.alive = False
                self._deliver(end, TxComplete())

        self.at(self.now + dur, complete)

    def _send_v21(self, end: _End, tx: _Tx, cmd: SendHDLC) -> float:
        far = self._far(end)
        start = self.now
        dead = self.dead

        def carrier_up() -> None:
            if not tx.alive or dead or far.rx is None:
                return
            if far.rx.kind == "data":
                self._deliver(far, WrongCarrier())
            elif far.rx.since <= start:
                self._deliver(far, CarrierUp())

        self.at(start + DETECT_DELAY, carrier_up)
        t = start + V21_PREAMBLE
        for raw in cmd.frames:
            dur = hdlc_bits(raw) / V21_RATE
            verdict, data = self._frame_fault(end, raw)
            fstart = t

            def deliver(fstart=fstart, verdict=verdict, data=data) -> None:
                if not tx.alive or dead or verdict == "drop":
                    return
                if far.rx is not None and far.rx.kind == "hdlc" and far.rx.since <= fstart:
                    self._deliver(far, FrameReceived(data, crc_ok=verdict == "ok"))

            t += dur
            self.at(t, deliver)
        t += 16 / V21_RATE

        def carrier_down() -> None:
            if tx.alive and not dead and far.rx is not None and far.rx.kind == "hdlc" \
                    and far.rx.since <= start + V21_PREAMBLE:
                self._deliver(far, CarrierDown())

        self.at(t, carrier_down)
        return t - start

    def _frame_fault(self, end: _End, raw: bytes) -> tuple[str, bytes]:
        try:
            frame = Frame.parse(raw)
        except FrameError:
            return "ok", raw
        key = frame.describe()
        n = end.counts.get(key, 0)
        end.counts[key] = n + 1
        verdict = "ok"
        if self.faults.frame is not None:
            verdict = self.faults.frame(end.label, frame, n)
        if verdict == "garble":
            data = bytearray(raw)
            data[-1 if len(data) > 3 else 2] ^= 0x5A
            return "garble", bytes(data)
        return verdict, raw

    def _send_fast(self, end: _End, tx: _Tx, cmd: SendData) -> float:
        far = self._far(end)
        mod = cmd.modulation
        start = self.now
        dead = self.dead
        train = training_time(mod, cmd.long_training)
        noisy = self.faults.max_rate is not None and mod.rate > self.faults.max_rate
        if cmd.hdlc:
            burst = end.bursts
            end.bursts += 1
            bits = HDLC_FAST_PREAMBLE * mod.rate + sum(hdlc_bits(f) for f in cmd.frames)
            frames = []
            for f in cmd.frames:
                bad = noisy
                if not bad and self.faults.ecm_frame is not None and len(f) >= 4 and f[2] == 0x06:
                    bad = self.faults.ecm_frame(end.label, f[3], burst)
                frames.append((f, not bad))
            payload = b""
        else:
            bits = len(cmd.data) * 8
            payload = bytes(cmd.data)
            if noisy:
                payload = self._rng.randbytes(len(payload))
            elif self.faults.data is not None:
                payload = bytes(self.faults.data(end.label, cmd, payload))
        dur = train + bits / mod.rate + 0.01
        lost_at = None if self.faults.carrier_lost is None \
            else self.faults.carrier_lost(end.label, cmd)
        lost = False

        def carrier_up() -> None:
            if not tx.alive or dead or lost or far.rx is None:
                return
            # A V.17 receiver set for the other kind of training does not train.
            train_ok = mod.name != "v17" or far.rx.short != cmd.long_training
            if far.rx.kind == "data" and far.rx.mod == mod and far.rx.since <= start \
                    and far.rx.hdlc == cmd.hdlc and train_ok:
                tx.rx_seq = far.rx.seq
                self._deliver(far, CarrierUp())

        def listening() -> bool:
            return tx.alive and tx.rx_seq is not None and far.rx is not None \
                and far.rx.seq == tx.rx_seq

        # Data arrives as it is demodulated: ECM frames one by one, raw data each second.
        t = start + train + (HDLC_FAST_PREAMBLE if cmd.hdlc else 0.0)
        if cmd.hdlc:
            for f, ok in frames:
                t += hdlc_bits(f) / mod.rate

                def frame_in(f=f, ok=ok) -> None:
                    if listening():
                        self._deliver(far, FrameReceived(f, crc_ok=ok))

                self.at(t, frame_in)
        else:
            per_second = mod.rate // 8
            for i in range(0, len(payload), per_second):
                chunk = payload[i:i + per_second]
                t += len(chunk) * 8 / mod.rate

                def data_in(chunk=chunk) -> None:
                    if listening():
                        self._deliver(far, DataReceived(chunk))

                self.at(t, data_in)

        def finish() -> None:
            if listening():
                tx.rx_seq = None
                self._deliver(far, CarrierDown())

        def carrier_gone() -> None:   # Faults.carrier_lost: the far end stops hearing it
            nonlocal lost
            lost = True
            if listening():
                tx.rx_seq = None
                self._deliver(far, CarrierDown())

        self.at(start + train, carrier_up)
        if lost_at is not None:
            self.at(start + lost_at * dur, carrier_gone)
        self.at(start + dur - 0.005, finish)
        return dur
