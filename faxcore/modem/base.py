"""The contract every faxcore data pump follows, plus small shared base classes.

All modems are sans-IO: samples in, bits and events out; bits in, samples out.
Audio is 8000 samples/s, ``numpy.int16``, any block size from 1 to 8000 samples.

Transmitter contract (``faxcore.modem.transmitter(name, bit_rate, **options)``)
-------------------------------------------------------------------------------
``send(bits, final=True)``
    Queue data bits (a numpy array of 0/1 values, or ``bytes``/``bytearray`` whose
    every byte is 0 or 1; anything else raises ``ValueError``). They go out after the
    training sequence, first element first. May be called several times. With
    ``final=True`` (default) the burst ends after these bits: the modem appends its
    proper end of signal (for the PSK/QAM pumps: scrambled ones as the Recommendation or
    spandsp do; for V.21: the carrier simply stops after the last bit), then silence.
    With ``final=False`` more data is expected: when the queue runs dry the transmitter
    sends fill (binary ones; HDLC users send flags themselves) and keeps the carrier up.
    ``send()`` after the burst has ended raises ``RuntimeError``.
``tx(n) -> numpy.ndarray[int16]``
    Exactly ``n`` samples (``n >= 0``). The first call starts the burst: training (none for
    V.21), then the queued data, then the end of signal, then zeros (silence) forever.
``done``
    ``True`` once the end of signal has been completely emitted (only zeros follow).

Common transmitter options: ``level_dbm0`` (float, transmit level of the burst; default
-10 dBm0 for V.27ter/V.29/V.17, -10 dBm0 for V.21 too). V.17 also takes ``short_train``
(bool, default False). Modules may add their own keyword options; unknown ones raise
``TypeError``.

Receiver contract (``faxcore.modem.receiver(name, bit_rate, **options)``)
--------------------------------------------------------------------------
``rx(samples)``
    Feed any number (1..8000 recommended; 0 is allowed and does nothing) of int16 samples
    (numpy array or sequence of ints). Returns ``None``.
``bits() -> numpy.ndarray[uint8]``
    Data bits demodulated since the last call (values 0/1), only while trained: never the
    training sequence, never garbage after carrier down. V.21 has no training: its bits
    are delivered while the carrier is up. V.29/V.17 hand each bit out 96 symbols (40 ms)
    after demodulating it, later after a hit (so that a lost signal's last bits can be
    dropped), and release the rest at ``carrier_down``.
``events() -> list[ModemEvent]``
    Events since the last call, in order, each with the sample index at which it was
    detected (index counted over every sample ever passed to ``rx``, first sample = 0).
    Kinds: ``"carrier_up"``, ``"carrier_down"``, ``"training_succeeded"``,
    ``"training_failed"``. A receiver that cannot train says ``training_failed`` and
    emits no bits for that burst. After ``carrier_down`` the receiver is ready for a new
    burst (it retrains on the next one). ``"signal_lost"`` (V.29, V.17): after a training
    that succeeded, the receiver lost the signal while the carrier stayed up (its
    decision errors grew far past what the training allowed and did not come back down
    within 250 ms, or were still up when the carrier dropped); it delivers no more bits
    for that burst, drops the bits demodulated since just before it grew suspicious, and
    waits for ``carrier_down``. A shorter hit (a click, a burst of noise, during which
    the receiver's equaliser and loops stand still) is no loss: the bits go on, and the
    ones demodulated during the hit are delivered too (possibly wrong, never missing or
    extra, so that page data stays aligned; HDLC frames hit fail their CRC), later than
    usual (by about the hit's length plus 100 ms). Consumers that do not know this kind
    may ignore it.
``trained``
    ``True`` between ``training_succeeded`` and the next ``carrier_down`` or
    ``signal_lost`` (V.21: while the carrier is up).

Common receiver options: V.17 takes ``short_train`` (bool). Modules may add their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: Samples per second of all line audio here (the telephone network's G.711 rate); the
#: one constant: ``faxcore.modem.SAMPLE_RATE``.
SAMPLE_RATE = 8000

CARRIER_UP = "carrier_up"
CARRIER_DOWN = "carrier_down"
TRAINING_SUCCEEDED = "training_succeeded"
TRAINING_FAILED = "training_failed"
SIGNAL_LOST = "signal_lost"
EVENT_KINDS = (CARRIER_UP, CARRIER_DOWN, TRAINING_SUCCEEDED, TRAINING_FAILED, SIGNAL_LOST)

DEFAULT_TX_LEVEL_DBM0 = -10.0


@dataclass(frozen=True)
class ModemEvent:
    """Something a receiver noticed: ``kind`` is one of EVENT_KINDS, ``sample`` the
    index (over all samples passed to ``rx``) at which it was detected."""

    kind: str
    sample: int


@runtime_checkable
class Transmitter(Protocol):
    done: bool

    def send(self, bits, final: bool = True) -> None: ...

    def tx(self, n: int) -> np.ndarray: ...


@runtime_checkable
class Receiver(Protocol):
    trained: bool

    def rx(self, samples) -> None: ...

    def bits(self) -> np.ndarray: ...

    def events(self) -> list[ModemEvent]: ...


def as_bits(bits) -> np.ndarray:
    """Validate and convert data bits (numpy array, bytes or sequence of 0/1) to uint8."""
    if isinstance(bits, (bytes, bytearray, memoryview)):
        arr = np.frombuffer(bytes(bits), dtype=np.uint8)
    else:
        arr = np.asarray(bits)
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("bits must be integers 0/1")
        arr = arr.astype(np.uint8, copy=False) if arr.size else np.zeros(0, np.uint8)
    arr = arr.reshape(-1)
    if arr.size and int(arr.max()) > 1:
        raise ValueError("bits must be 0 or 1 (one bit per element/byte)")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_samples(samples) -> np.ndarray:
    """Convert received audio to a contiguous int16 array (clear error on bad input)."""
    arr = np.asarray(samples)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype != np.int16:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("samples must be int16 (or integers in int16 range)")
        if arr.size and (int(arr.min()) < -32768 or int(arr.max()) > 32767):
            raise ValueError("samples out of int16 range")
        arr = arr.astype(np.int16)
    return np.ascontiguousarray(arr)


class BitQueue:
    """FIFO of 0/1 bits for transmitters (append arrays, take a given count)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._pos = 0
        self._len = 0  # bits queued (kept, not summed: transmitters ask every block)
        self.final = False

    def __len__(self) -> int:
        return self._len

    def put(self, bits: np.ndarray) -> None:
        if len(bits):
            self._chunks.append(bits)
            self._len += len(bits)

    def take(self, n: int) -> np.ndarray:
        out = []
        self._len -= max(0, min(n, self._len))
        while n > 0 and self._chunks:
            c = self._chunks[0]
            k = min(n, len(c) - self._pos)
            out.append(c[self._pos:self._pos + k])
            self._pos += k
            n -= k
            if self._pos >= len(c):
                self._chunks.pop(0)
                self._pos = 0
        if not out:
            return np.zeros(0, np.uint8)
        return np.concatenate(out) if len(out) > 1 else out[0].copy()


class ReceiverBase:
    """Bookkeeping for receivers: bit output buffer, events, sample clock."""

    def __init__(self) -> None:
        self._out: list[np.ndarray] = []
        self._events: list[ModemEvent] = []
        self.trained = False
        self.sample_count = 0  # samples consumed so far

    def _emit(self, kind: str, sample: int) -> None:
        self._events.append(ModemEvent(kind, int(sample)))

    def _push_bits(self, bits: np.ndarray) -> None:
        if len(bits):
            self._out.append(np.asarray(bits, dtype=np.uint8))

    def bits(self) -> np.ndarray:
        if not self._out:
            return np.zeros(0, np.uint8)
        out = np.concatenate(self._out) if len(self._out) > 1 else self._out[0]
        self._out = []
        return out

    def events(self) -> list[ModemEvent]:
        ev, self._events = self._events, []
        return ev
