"""spandsp's modems, HDLC, tones and G.711 (Debian's libspandsp2 0.0.6, through ctypes):
spandsp as a reference peer for faxcore's modems in the tests and benchmarks.

No spandsp code lives in faxcore; this module only drives the installed shared library,
loaded by :func:`faxcore.testing.spandsp.library.lib` (which raises
:class:`~faxcore.testing.spandsp.library.SpandspMissing` when it is absent).

Each modem wrapper has the same shape as ours (faxcore.modem.base):

* transmitters: ``Tx(bits, ...)`` or ``send(bits)``; ``tx(n) -> int16 ndarray`` of exactly
  ``n`` samples (zero padded after the end of the burst); ``done``; ``events()``.
* receivers: ``rx(samples)``; ``bits()`` (data bits since the last call); ``events()``
  (list of ``(SIG_STATUS_* value, sample index)``); ``trained``; V.27ter/V.29/V.17 also
  ``restart(short_train)`` for the next burst.

``transmitter(name, bit_rate, bits)`` / ``receiver(name, bit_rate)`` pick the class by
faxcore modem name; ``run_tx(tx)`` gives a whole burst (``trim=True``: no zero padding).
V.27ter, V.29 and V.17 differ only in their C names and bit rates (one table each).

Every CFUNCTYPE object is kept on ``self`` for the lifetime of the C object.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_uint8,
    c_void_p,
)

import numpy as np

from faxcore.modem import SAMPLE_RATE
from faxcore.testing.spandsp.library import lib

# SIG_STATUS_* (spandsp/async.h)
SIG_STATUS_CARRIER_DOWN = -1
SIG_STATUS_CARRIER_UP = -2
SIG_STATUS_TRAINING_IN_PROGRESS = -3
SIG_STATUS_TRAINING_SUCCEEDED = -4
SIG_STATUS_TRAINING_FAILED = -5
SIG_STATUS_FRAMING_OK = -6
SIG_STATUS_END_OF_DATA = -7
SIG_STATUS_ABORT = -8
SIG_STATUS_SHUTDOWN_COMPLETE = -10
STATUS_NAMES = {
    -1: "carrier_down", -2: "carrier_up", -3: "training_in_progress",
    -4: "training_succeeded", -5: "training_failed", -6: "framing_ok",
    -7: "end_of_data", -8: "abort", -10: "shutdown_complete",
}

# fsk.h
FSK_V21CH2 = 1
FSK_FRAME_MODE_ASYNC = 0
FSK_FRAME_MODE_SYNC = 1

# modem_connect_tones.h
TONES_NONE = 0
TONES_FAX_CNG = 1
TONES_ANS = 2
TONES_FAX_CED = 2
TONES_FAX_PREAMBLE = 6
TONES_FAX_CED_OR_PREAMBLE = 7

# g711.h
G711_ALAW = 0
G711_ULAW = 1

GET_BIT = CFUNCTYPE(c_int, c_void_p)
PUT_BIT = CFUNCTYPE(None, c_void_p, c_int)
STATUS = CFUNCTYPE(None, c_void_p, c_int)
HDLC_FRAME = CFUNCTYPE(None, c_void_p, POINTER(c_uint8), c_int, c_int)
HDLC_UNDERFLOW = CFUNCTYPE(None, c_void_p)
TONE_REPORT = CFUNCTYPE(None, c_void_p, c_int, c_int, c_int)


class FskSpec(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("freq_zero", c_int),
        ("freq_one", c_int),
        ("tx_level", c_int),
        ("min_level", c_int),
        ("baud_rate", c_int),
    ]


def _addr(name: str) -> int:
    return ctypes.cast(getattr(lib(), name), c_void_p).value


def _ptr(arr: np.ndarray) -> int:
    return arr.ctypes.data


def _in_blocks(fn, state, samples, block: int):
    """``fn(state, samples, k)`` over int16 ``samples`` in blocks of ``block``; yields each
    ``k`` after its call (so callbacks inside it see the count before the block)."""
    x = np.ascontiguousarray(samples, dtype=np.int16)
    base = x.ctypes.data
    for i in range(0, len(x), block):
        k = min(block, len(x) - i)
        fn(state, base + 2 * i, k)
        yield k


def _release(obj, *owned: tuple[str, str]) -> None:
    """Free the C objects ``obj`` owns, given as (attribute, free function) pairs, once;
    quiet at interpreter shutdown (for ``__del__``)."""
    try:
        for attr, free in owned:
            if getattr(obj, attr, None):
                getattr(obj._lib, free)(getattr(obj, attr))
                setattr(obj, attr, None)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


# ----------------------------------------------------------------------------- base classes


class _ModemBase:
    """Plumbing shared by transmitters and receivers: the C state (``_create()``), its
    status handler (``_status``, events with sample times), the optional C-level BERT
    bit source/sink, and freeing."""

    _prefix = ""  # "v29_tx", "fsk_rx", ...: the C function names start with it
    _bert_bit = ""  # "bert_get_bit" or "bert_put_bit"

    def __init__(self, bit_fn, bert: bool = False):
        self._lib = lib()
        self._events: list[tuple[int, int]] = []
        self.samples = 0
        self._bit_cb = bit_fn
        self._status_cb = STATUS(self._status)
        self._bert = None
        if bert:
            # C-level PRBS source/sink: no Python callback per bit (benchmarks)
            self._bert = self._lib.bert_init(None, 0, 8, 1, 10)  # ITU O.151 2^23-1
        self._state = self._create()
        if not self._state:
            raise RuntimeError(f"{self._prefix}_init failed")
        self._call("set_modem_status_handler", ctypes.cast(self._status_cb, c_void_p), None)

    def _call(self, what: str, *args):
        """``<prefix>_<what>(state, *args)``."""
        return getattr(self._lib, f"{self._prefix}_{what}")(self._state, *args)

    def _bit_args(self):
        """(bit callback, user data) for the ``<modem>_init`` call."""
        if self._bert:
            return _addr(self._bert_bit), self._bert
        return ctypes.cast(self._bit_cb, c_void_p), None

    def _create(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _status(self, _user, status: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def events(self) -> list[tuple[int, int]]:
        ev, self._events = self._events, []
        return ev

    def __del__(self):
        _release(self, ("_state", f"{self._prefix}_free"), ("_bert", "bert_free"))


class _TxBase(_ModemBase):
    """Transmitter: Python get_bit over a bit array (``send``), ``tx(n)`` blocks."""

    _bert_bit = "bert_get_bit"

    def __init__(self, bits=None, level_dbm0: float | None = None, bert: bool = False):
        self._bits = np.zeros(0, np.uint8)
        self._pos = 0
        self._final = False
        self.done = False
        self.produced = 0  # samples the modem really produced (tx() pads the last block)
        super().__init__(GET_BIT(self._get_bit), bert)
        if level_dbm0 is not None:
            self._call("power", float(level_dbm0))
        if bits is not None:
            self.send(bits)

    def send(self, bits, final: bool = True) -> None:
        b = np.asarray(bytearray(bits) if isinstance(bits, (bytes, bytearray)) else bits,
                       dtype=np.uint8)
        self._bits = np.concatenate([self._bits[self._pos:], b])
        self._pos = 0
        self._final = final

    def _get_bit(self, _user) -> int:
        if self._pos < len(self._bits):
            b = int(self._bits[self._pos])
            self._pos += 1
            return b
        if self._final:
            return SIG_STATUS_END_OF_DATA
        return 1

    def _status(self, _user, status: int) -> None:
        self._events.append((status, self.samples))
        if status == SIG_STATUS_SHUTDOWN_COMPLETE:
            self.done = True

    def tx(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        if self.done or n == 0:
            return out
        got = getattr(self._lib, self._prefix)(self._state, _ptr(out), n)
        self.samples += n
        self.produced += max(0, min(got, n))
        if got < n:
            # FSK returns a short block at shutdown, V.17 returns 0 once finished
            self.done = True
        return out


class _RxBase(_ModemBase):
    """Receiver: put_bit collecting data bits while trained, status events with times."""

    _bert_bit = "bert_put_bit"
    block = 80  # samples per C call, so event times are accurate to 10 ms

    def __init__(self, bert: bool = False, cutoff_dbm0: float | None = None):
        self._out = bytearray()
        self.trained = False
        self.carrier = False
        super().__init__(PUT_BIT(self._put_bit), bert)
        if cutoff_dbm0 is not None:
            self._call("signal_cutoff", float(cutoff_dbm0))

    def _put_bit(self, _user, bit: int) -> None:
        if bit < 0:
            self._status(None, bit)
            return
        if self.trained:
            self._out.append(bit & 1)

    def _status(self, _user, status: int) -> None:
        self._events.append((status, self.samples))
        if status == SIG_STATUS_TRAINING_SUCCEEDED:
            self.trained = True
        elif status == SIG_STATUS_CARRIER_UP:
            self.carrier = True
        elif status in (SIG_STATUS_CARRIER_DOWN, SIG_STATUS_TRAINING_FAILED):
            self.trained = False
            if status == SIG_STATUS_CARRIER_DOWN:
                self.carrier = False

    def rx(self, samples) -> None:
        for k in _in_blocks(getattr(self._lib, self._prefix), self._state, samples, self.block):
            self.samples += k

    def bits(self) -> np.ndarray:
        out = np.frombuffer(bytes(self._out), dtype=np.uint8).copy()
        self._out = bytearray()
        return out


# ----------------------------------------------------------------------------- V.21


def v21_spec() -> FskSpec:
    return (FskSpec * 9).in_dll(lib(), "preset_fsk_specs")[FSK_V21CH2]


class V21Tx(_TxBase):
    """spandsp V.21 channel 2 FSK transmitter (300 bit/s, 1650/1850 Hz)."""

    _prefix = "fsk_tx"

    def __init__(self, bits=None, level_dbm0: float | None = None, bert: bool = False):
        super().__init__(bits, level_dbm0, bert)

    def _create(self):
        self._spec = v21_spec()
        return self._lib.fsk_tx_init(None, ctypes.byref(self._spec), *self._bit_args())


class V21Rx(_RxBase):
    """spandsp V.21 channel 2 FSK receiver. ``sync=True`` (default) uses
    FSK_FRAME_MODE_SYNC, which delivers one extra leading bit. Bits are delivered while
    the carrier is up (``trained`` mirrors carrier presence)."""

    _prefix = "fsk_rx"

    def __init__(self, sync: bool = True, bert: bool = False, cutoff_dbm0: float | None = None):
        self._mode = FSK_FRAME_MODE_SYNC if sync else FSK_FRAME_MODE_ASYNC
        super().__init__(bert, cutoff_dbm0)

    def _create(self):
        self._spec = v21_spec()
        return self._lib.fsk_rx_init(None, ctypes.byref(self._spec), self._mode,
                                     *self._bit_args())

    def _status(self, _user, status: int) -> None:
        super()._status(_user, status)
        if status == SIG_STATUS_CARRIER_UP:
            self.trained = True


# ----------------------------------------------------------------------------- high speed


def _rate(cls, bit_rate: int | None) -> int:
    if bit_rate is None:
        return cls._rates[-1]
    if bit_rate not in cls._rates:
        raise ValueError(bit_rate)
    return bit_rate


class _HighSpeedTx(_TxBase):
    """spandsp V.27ter / V.29 / V.17 transmitter (``<modem>_tx_init(bit_rate, tep, ...)``).

    ``short_train`` (V.17 only) selects the short training sequence (spandsp: only valid
    after a long train on the same connection; we restart the state with short_train set,
    which 0.0.6 accepts)."""

    _rates: tuple[int, ...] = ()  # ascending; the default is the highest
    _has_short_train = False

    def __init__(self, bit_rate: int | None = None, bits=None, *,
                 level_dbm0: float | None = None, short_train: bool = False,
                 tep: bool = False, bert: bool = False):
        self.bit_rate = _rate(self, bit_rate)
        if short_train and not self._has_short_train:
            raise ValueError(f"{self._prefix}: no short training")
        self._tep, self._short = tep, short_train
        super().__init__(bits, level_dbm0, bert)

    def _create(self):
        s = getattr(self._lib, f"{self._prefix}_init")(None, self.bit_rate, int(self._tep),
                                                       *self._bit_args())
        if s and self._short:
            getattr(self._lib, f"{self._prefix}_restart")(s, self.bit_rate, int(self._tep), 1)
        return s


class _HighSpeedRx(_RxBase):
    """spandsp V.27ter / V.29 / V.17 receiver; ``short_train`` (V.17 only) expects the
    short training sequence."""

    _rates: tuple[int, ...] = ()
    _has_short_train = False

    def __init__(self, bit_rate: int | None = None, *, short_train: bool = False,
                 bert: bool = False):
        self.bit_rate = _rate(self, bit_rate)
        if short_train and not self._has_short_train:
            raise ValueError(f"{self._prefix}: no short training")
        self._short = short_train
        super().__init__(bert)

    def _create(self):
        s = getattr(self._lib, f"{self._prefix}_init")(None, self.bit_rate, *self._bit_args())
        if s and self._short:
            getattr(self._lib, f"{self._prefix}_restart")(s, self.bit_rate, 1)
        return s

    def restart(self, short_train: bool = False) -> None:
        """Ready for the next burst; ``short_train`` keeps the equaliser (spandsp's
        ``old_train``), as a V.17 short train after a long one needs."""
        self._call("restart", self.bit_rate, int(short_train))


class V27terTx(_HighSpeedTx):
    _prefix, _rates = "v27ter_tx", (2400, 4800)


class V27terRx(_HighSpeedRx):
    _prefix, _rates = "v27ter_rx", (2400, 4800)


class V29Tx(_HighSpeedTx):
    _prefix, _rates = "v29_tx", (7200, 9600)


class V29Rx(_HighSpeedRx):
    _prefix, _rates = "v29_rx", (7200, 9600)


class V17Tx(_HighSpeedTx):
    _prefix, _rates, _has_short_train = "v17_tx", (7200, 9600, 12000, 14400), True


class V17Rx(_HighSpeedRx):
    _prefix, _rates, _has_short_train = "v17_rx", (7200, 9600, 12000, 14400), True


def transmitter(name: str, bit_rate: int, bits=None, **kw):
    """spandsp transmitter by faxcore modem name ("v21", "v27ter", "v29", "v17")."""
    if name == "v21":
        return V21Tx(bits, **kw)
    cls = {"v27ter": V27terTx, "v29": V29Tx, "v17": V17Tx}[name]
    return cls(bit_rate, bits, **kw)


def receiver(name: str, bit_rate: int, **kw):
    """spandsp receiver by faxcore modem name."""
    if name == "v21":
        return V21Rx(**kw)
    cls = {"v27ter": V27terRx, "v29": V29Rx, "v17": V17Rx}[name]
    return cls(bit_rate, **kw)


def run_tx(tx, block: int = 160, limit: int = SAMPLE_RATE * 600, trim: bool = False) -> np.ndarray:
    """All samples of a transmitter's burst (until ``done``), in blocks. The last block is
    zero padded to ``block``; with ``trim`` (modem transmitters only) the result ends with
    the last sample the modem produced."""
    parts = []
    total = 0
    while not tx.done and total < limit:
        parts.append(tx.tx(block))
        total += block
    out = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return out[:tx.produced] if trim else out


# ----------------------------------------------------------------------------- HDLC


class HdlcTx:
    """spandsp HDLC (CRC-16 ITU) framer: ``frames`` are sent one after another after
    ``preamble_flags`` flag octets, then the stream ends.

    ``bits_only()`` gives the raw bit stream (no modem); with ``modem=True`` (default)
    the bits drive a spandsp V.21 ch2 FSK transmitter and ``tx(n)`` gives audio."""

    def __init__(self, frames: list[bytes], preamble_flags: int = 32,
                 level_dbm0: float | None = None, modem: bool = True,
                 corrupt: set[int] | None = None):
        self._lib = lib()
        self._frames = [bytes(f) for f in frames]
        self._next = 0
        self._corrupt = corrupt or set()
        self._ended = False
        self._underflow_cb = HDLC_UNDERFLOW(self._underflow)
        self._hdlc = self._lib.hdlc_tx_init(None, 0, 1, 0,
                                            ctypes.cast(self._underflow_cb, c_void_p), None)
        self._lib.hdlc_tx_flags(self._hdlc, preamble_flags)
        self._bufs = []
        self._queue_next()
        self.done = False
        self._fsk = None
        if modem:
            self._spec = v21_spec()
            self._fsk = self._lib.fsk_tx_init(None, ctypes.byref(self._spec),
                                              _addr("hdlc_tx_get_bit"), self._hdlc)
            if level_dbm0 is not None:
                self._lib.fsk_tx_power(self._fsk, float(level_dbm0))

    def _queue_next(self) -> None:
        if self._next < len(self._frames):
            f = self._frames[self._next]
            buf = (c_uint8 * max(len(f), 1)).from_buffer_copy(f or b"\0")
            self._bufs.append(buf)
            self._lib.hdlc_tx_frame(self._hdlc, buf, len(f))
            if self._next in self._corrupt:
                self._lib.hdlc_tx_corrupt_frame(self._hdlc)
            self._next += 1
        elif not self._ended:
            self._ended = True
            self._lib.hdlc_tx_frame(self._hdlc, None, 0)

    def _underflow(self, _user) -> None:
        self._queue_next()

    def bits_only(self, limit: int = 1_000_000) -> np.ndarray:
        """The framed bit stream until END_OF_DATA (only when ``modem=False``)."""
        out = bytearray()
        for _ in range(limit):
            b = self._lib.hdlc_tx_get_bit(self._hdlc)
            if b < 0:
                break
            out.append(b & 1)
        self.done = True
        return np.frombuffer(bytes(out), dtype=np.uint8).copy()

    def tx(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        if self.done or n == 0:
            return out
        got = self._lib.fsk_tx(self._fsk, _ptr(out), n)
        if got < n:
            self.done = True
        return out

    def __del__(self):
        _release(self, ("_fsk", "fsk_tx_free"), ("_hdlc", "hdlc_tx_free"))


class HdlcRx:
    """spandsp HDLC (CRC-16) deframer, bad frames reported. ``frames`` collects
    ``(bytes_without_fcs, ok)``; ``status`` collects SIG_STATUS_* values.

    With ``modem=True`` (default) a spandsp V.21 ch2 FSK receiver (sync mode) feeds it
    and ``rx(samples)`` takes audio; ``put_bits(bits)`` feeds bits directly."""

    def __init__(self, modem: bool = True, framing_ok_threshold: int = 5):
        self._lib = lib()
        self.frames: list[tuple[bytes, bool]] = []
        self.status: list[int] = []
        self._frame_cb = HDLC_FRAME(self._frame)
        self._hdlc = self._lib.hdlc_rx_init(None, 0, 1, framing_ok_threshold,
                                            ctypes.cast(self._frame_cb, c_void_p), None)
        self._fsk = None
        if modem:
            self._spec = v21_spec()
            self._fsk = self._lib.fsk_rx_init(None, ctypes.byref(self._spec),
                                              FSK_FRAME_MODE_SYNC,
                                              _addr("hdlc_rx_put_bit"), self._hdlc)

    def _frame(self, _user, pkt, length: int, ok: int) -> None:
        if length < 0:
            self.status.append(length)
            return
        self.frames.append((ctypes.string_at(pkt, length), bool(ok)))

    def put_bits(self, bits) -> None:
        put = self._lib.hdlc_rx_put_bit
        for b in np.asarray(bits, dtype=np.uint8):
            put(self._hdlc, int(b))

    def rx(self, samples) -> None:
        for _ in _in_blocks(self._lib.fsk_rx, self._fsk, samples, 160):
            pass

    def __del__(self):
        _release(self, ("_fsk", "fsk_rx_free"), ("_hdlc", "hdlc_rx_free"))


# ----------------------------------------------------------------------------- tones


class ToneTx:
    """spandsp modem connect tone generator: ``kind`` is TONES_FAX_CNG or TONES_ANS
    (= CED). CNG repeats forever; ANS lasts ~3.3 s then returns short blocks."""

    def __init__(self, kind: int):
        self._lib = lib()
        self._s = self._lib.modem_connect_tones_tx_init(None, kind)
        if not self._s:
            raise RuntimeError("modem_connect_tones_tx_init failed")

    def tx(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        self._lib.modem_connect_tones_tx(self._s, _ptr(out), n)
        return out

    def __del__(self):
        _release(self, ("_s", "modem_connect_tones_tx_free"))


class ToneRx:
    """spandsp modem connect tone detector. ``reports`` collects
    ``(tone_code, level, sample_index)``; ``kind`` TONES_FAX_CNG, TONES_ANS or
    TONES_FAX_CED_OR_PREAMBLE (reports ANS or FAX_PREAMBLE)."""

    def __init__(self, kind: int):
        self._lib = lib()
        self.reports: list[tuple[int, int, int]] = []
        self.samples = 0
        self._cb = TONE_REPORT(self._report)
        self._s = self._lib.modem_connect_tones_rx_init(None, kind,
                                                        ctypes.cast(self._cb, c_void_p), None)

    def _report(self, _user, code: int, level: int, _delay: int) -> None:
        self.reports.append((code, level, self.samples))

    def rx(self, samples) -> None:
        for k in _in_blocks(self._lib.modem_connect_tones_rx, self._s, samples, 80):
            self.samples += k

    def detected(self) -> bool:
        return bool(self._lib.modem_connect_tones_rx_get(self._s))

    def __del__(self):
        _release(self, ("_s", "modem_connect_tones_rx_free"))


# ----------------------------------------------------------------------------- G.711


def _g711(direction: str, law: str, src: np.ndarray, dtype) -> np.ndarray:
    """spandsp's ``g711_<direction>`` over ``src`` with a fresh state (``law`` "ulaw" or
    "alaw")."""
    L = lib()
    s = L.g711_init(None, G711_ULAW if law == "ulaw" else G711_ALAW)
    try:
        out = np.zeros(len(src), dtype)
        getattr(L, f"g711_{direction}")(s, _ptr(out), _ptr(src), len(src))
        return out
    finally:
        L.g711_free(s)


def g711_encode(samples, law: str) -> bytes:
    """spandsp's G.711 encoder (``law`` "ulaw" or "alaw")."""
    return _g711("encode", law, np.ascontiguousarray(samples, dtype=np.int16), np.uint8).tobytes()


def g711_decode(data: bytes, law: str) -> np.ndarray:
    return _g711("decode", law, np.frombuffer(bytes(data), dtype=np.uint8).copy(), np.int16)
