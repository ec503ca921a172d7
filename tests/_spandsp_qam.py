"""ctypes peers for the V.29 and V.17 tests: spandsp 0.0.6's own modems (Debian libspandsp2),
and the test rig (line impairments, running the receivers, counting bit errors).

Only what the QAM interop tests and the benchmark need: a transmitter that sends a
given bit array (training, data, spandsp's own end of signal) and a receiver that
collects demodulated bits and status codes.  No spandsp code is copied here; we call
the shared library.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp, g711

SIG_STATUS_CARRIER_DOWN = -1
SIG_STATUS_CARRIER_UP = -2
SIG_STATUS_TRAINING_SUCCEEDED = -4
SIG_STATUS_TRAINING_FAILED = -5
SIG_STATUS_END_OF_DATA = -7
SIG_STATUS_SHUTDOWN_COMPLETE = -10

GET_BIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
PUT_BIT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)
STATUS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)

_LIB = None


def load():
    """The libspandsp CDLL, or None if it is not installed."""
    global _LIB
    if _LIB is not None:
        return _LIB
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    vp, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    for m in ("v29", "v17"):
        txi = getattr(lib, f"{m}_tx_init")
        txi.restype = vp
        txi.argtypes = [vp, i, i, vp, vp]
        rxi = getattr(lib, f"{m}_rx_init")
        rxi.restype = vp
        rxi.argtypes = [vp, i, vp, vp]
        for fn in (f"{m}_tx", f"{m}_rx"):
            getattr(lib, fn).restype = i
            getattr(lib, fn).argtypes = [vp, vp, i]
        getattr(lib, f"{m}_tx_power").argtypes = [vp, f]
        getattr(lib, f"{m}_tx_power").restype = None
        for fn in (f"{m}_tx_free", f"{m}_rx_free"):
            getattr(lib, fn).argtypes = [vp]
        for fn in (f"{m}_tx_set_modem_status_handler", f"{m}_rx_set_modem_status_handler"):
            getattr(lib, fn).argtypes = [vp, vp, vp]
            getattr(lib, fn).restype = None
        getattr(lib, f"{m}_rx_signal_cutoff").argtypes = [vp, f]
        getattr(lib, f"{m}_rx_signal_cutoff").restype = None
    lib.v17_tx_restart.argtypes = [vp, i, i, i]
    lib.v17_rx_restart.argtypes = [vp, i, i]
    _LIB = lib
    return lib


class Tx:
    """spandsp V.29 / V.17 transmitter sending ``bits`` then its own end of signal."""

    def __init__(self, name: str, bit_rate: int, bits, level_dbm0: float = -10.0,
                 short_train: bool = False, tep: bool = False) -> None:
        lib = load()
        self._lib = lib
        self.name = name
        self._bits = np.ascontiguousarray(bits, dtype=np.uint8)
        self._pos = 0
        self.status: list[int] = []
        self._get_bit = GET_BIT(self._cb_get_bit)
        self._status_cb = STATUS(lambda _u, code: self.status.append(code))
        init = getattr(lib, f"{name}_tx_init")
        self._s = init(None, bit_rate, 1 if tep else 0, ctypes.cast(self._get_bit, ctypes.c_void_p),
                       None)
        if not self._s:
            raise ValueError(f"spandsp refused {name} at {bit_rate}")
        if name == "v17":
            lib.v17_tx_restart(self._s, bit_rate, 1 if tep else 0, 1 if short_train else 0)
        getattr(lib, f"{name}_tx_power")(self._s, float(level_dbm0))
        getattr(lib, f"{name}_tx_set_modem_status_handler")(
            self._s, ctypes.cast(self._status_cb, ctypes.c_void_p), None)

    def _cb_get_bit(self, _user) -> int:
        if self._pos >= len(self._bits):
            return SIG_STATUS_END_OF_DATA
        b = int(self._bits[self._pos])
        self._pos += 1
        return b

    def tx(self, n: int) -> np.ndarray:
        buf = np.zeros(n, np.int16)
        k = getattr(self._lib, f"{self.name}_tx")(self._s, buf.ctypes.data, n)
        return buf[:k]

    def burst(self, block: int = 160) -> np.ndarray:
        """Every sample of the burst (until spandsp stops or shuts down)."""
        out = []
        while True:
            b = self.tx(block)
            if len(b) == 0:
                break
            out.append(b)
            if SIG_STATUS_SHUTDOWN_COMPLETE in self.status:
                break
            if len(out) > 100000:
                raise RuntimeError("spandsp transmitter never stopped")
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    def __del__(self) -> None:
        if getattr(self, "_s", None):
            getattr(self._lib, f"{self.name}_tx_free")(self._s)
            self._s = None


class Rx:
    """spandsp V.29 / V.17 receiver collecting data bits and status codes."""

    def __init__(self, name: str, bit_rate: int, short_train: bool = False) -> None:
        lib = load()
        self._lib = lib
        self.name = name
        self.bits_out: list[int] = []
        self.status: list[int] = []
        self._put_bit = PUT_BIT(self._cb_put_bit)
        self._status_cb = STATUS(lambda _u, code: self.status.append(code))
        init = getattr(lib, f"{name}_rx_init")
        self._s = init(None, bit_rate, ctypes.cast(self._put_bit, ctypes.c_void_p), None)
        if not self._s:
            raise ValueError(f"spandsp refused {name} at {bit_rate}")
        if name == "v17" and short_train:
            lib.v17_rx_restart(self._s, bit_rate, 1)
        getattr(lib, f"{name}_rx_set_modem_status_handler")(
            self._s, ctypes.cast(self._status_cb, ctypes.c_void_p), None)

    def _cb_put_bit(self, _user, bit: int) -> None:
        if bit < 0:
            self.status.append(bit)
        else:
            self.bits_out.append(bit & 1)

    def rx(self, samples: np.ndarray, block: int = 160) -> None:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        fn = getattr(self._lib, f"{self.name}_rx")
        for i in range(0, len(x), block):
            seg = x[i:i + block]
            fn(self._s, seg.ctypes.data, len(seg))

    def bits(self) -> np.ndarray:
        return np.array(self.bits_out, dtype=np.uint8)

    def __del__(self) -> None:
        if getattr(self, "_s", None):
            getattr(self._lib, f"{self.name}_rx_free")(self._s)
            self._s = None


def restart_rx(rx: Rx, bit_rate: int, short_train: bool) -> None:
    """Restart a spandsp receiver, keeping its equaliser (V.17 short train needs that)."""
    if rx.name == "v17":
        rx._lib.v17_rx_restart(rx._s, bit_rate, 1 if short_train else 0)
    else:
        rx._lib.v29_rx_restart.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        rx._lib.v29_rx_restart(rx._s, bit_rate, 1 if short_train else 0)


# --------------------------------------------------------------------------- test rig


def need_spandsp():
    from conftest import missing

    if load() is None:
        missing("libspandsp2 (spandsp shared library)")


def random_bits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def our_burst(name: str, rate: int, bits: np.ndarray, level: float = -10.0,
              short_train: bool = False, block: int = 160) -> np.ndarray:
    opts = {"short_train": True} if short_train else {}
    tx = modem.transmitter(name, rate, level_dbm0=level, **opts)
    tx.send(bits)
    out = []
    while not tx.done:
        b = tx.tx(block)
        assert len(b) == block and b.dtype == np.int16
        out.append(b)
        assert len(out) < 10000
    return np.concatenate(out)


def impair(sig: np.ndarray, *, level: float = -10.0, snr: float | None = None,
           ppm: float = 0.0, hz: float = 0.0, law: str | None = None, lead: int = 0,
           tail: int = 1600, seed: int = 0, noise_lead: bool = False) -> np.ndarray:
    """Line between the modems: level, clock offset, carrier offset, AWGN over the
    burst (SNR against the burst level; with noise_lead also over the leading silence),
    G.711, silence around it."""
    rng = np.random.default_rng(seed + 1000)
    x = dsp.scale_to_dbm0(sig, level)
    if noise_lead:
        # the noise floor is there before the burst too (above the carrier-on threshold)
        x = np.concatenate([np.zeros(lead), x])
        lead = 0
    if ppm:
        x = dsp.resample_clock(x, ppm)
    if hz:
        x = dsp.frequency_shift(x, hz)
    if snr is not None:
        x = dsp.add_awgn(x, snr, rng, signal_power=dsp.dbm0_to_rms(level) ** 2)
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    y = dsp.to_int16(x)
    if law:
        y = g711.roundtrip(y, law)
    return y


def our_receive(name: str, rate: int, sig: np.ndarray, short_train: bool = False,
                blocks: str = "fixed", seed: int = 0):
    opts = {"short_train": True} if short_train else {}
    rx = modem.receiver(name, rate, **opts)
    got = []
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(sig):
        n = 160 if blocks == "fixed" else int(rng.integers(1, 8001))
        rx.rx(sig[i:i + n])
        got.append(rx.bits())
        i += n
    return np.concatenate(got), rx.events()


def assert_no_errors(sent: np.ndarray, got: np.ndarray, what: str) -> None:
    assert len(got) >= len(sent), f"{what}: only {len(got)} of {len(sent)} bits delivered"
    errors = int(np.count_nonzero(got[:len(sent)] != sent))
    assert errors == 0, f"{what}: {errors} bit errors in {len(sent)} (first bit at offset 0)"


# impairment cases: (id, kwargs); every case for every rate and direction
TO_OURS = [
    ("clean", {}),
    ("snr30", {"snr": 30.0, "noise_lead": True}),
    ("ulaw+100ppm+7Hz", {"law": "ulaw", "ppm": 100, "hz": 7.0}),
    ("alaw-100ppm-7Hz", {"law": "alaw", "ppm": -100, "hz": -7.0}),
    ("level-5", {"level": -5.0}),
    ("level-43", {"level": -43.0}),
    ("all-43dBm0", {"level": -43.0, "snr": 30.0, "law": "alaw", "ppm": 100, "hz": -7.0}),
]
TO_SPANDSP = [
    ("clean", {}),
    ("snr30", {"snr": 30.0}),
    ("ulaw+100ppm+7Hz", {"law": "ulaw", "ppm": 100, "hz": 7.0}),
    ("alaw-100ppm-7Hz", {"law": "alaw", "ppm": -100, "hz": -7.0}),
    ("level-5", {"level": -5.0}),
    ("level-24", {"level": -24.0}),
    ("all-24dBm0", {"level": -24.0, "snr": 30.0, "law": "ulaw", "ppm": -100, "hz": 7.0}),
]


def cases(rates, table):
    return [pytest.param(r, kw, id=f"{r}-{cid}") for r in rates for cid, kw in table]
