"""V.21 channel 2: 300 bit/s FSK, binary 1 (mark) = 1650 Hz, binary 0 (space) = 1850 Hz.

T.30 sends all its control frames (HDLC, see :mod:`faxcore.modem.hdlc`) with this modem.
Follows the contract in :mod:`faxcore.modem.base`; V.21 has no training, so the receiver's
``trained`` is true while a burst is being received and it emits only ``carrier_up`` /
``carrier_down`` events. Their ``sample`` is the *estimated* start / end of the burst
(accurate to a few samples), reported once the decoder has got there: the decoder runs
32 ms behind the input so that the first and last bits of a burst come out exactly.
The events alternate ``carrier_up``, ``carrier_down``, ... with non-decreasing samples.
Noise or a click on top of a tone can end a burst without the tone stopping: that burst
ends where the noise came, and if the carrier comes back within the decoder lag with no
new rise of the tone, the next burst starts at that same sample and its bits go on with
the same bit timing.
The per-sample loops are in ``v21_core.pyx``. While no V.21 carrier is near, the
receiver idles behind a cheap gate (the energy at 1650/1850 Hz of each 20 ms frame) and
runs its full demodulator over the skipped samples once a frame opens it, so that a
burst is still timed and decoded from its first bit; over V.17/V.29 page data (where the
V.21 watch receiver runs) it therefore costs ~4 instructions a sample, and most of the
short bogus V.21 carriers the full detector raises in such audio are not reported (in
V.27ter audio the detector still raises them, and runs in full there).

Receiver options: ``cutoff_dbm0`` (carrier-on threshold, default -47 dBm0; carrier off
3 dB lower). Transmitter options: ``level_dbm0`` (default -10 dBm0).
"""

from __future__ import annotations

import math

import numpy as np

from faxcore.modem.base import (
    DEFAULT_TX_LEVEL_DBM0,
    SAMPLE_RATE,
    ModemEvent,
    as_bits,
    as_samples,
)
from faxcore.modem.dsp import DBM0_RMS
from faxcore.modem.v21_core import V21Demodulator, V21ReferenceDemodulator, V21TxCore

BIT_RATE = 300
MARK_HZ = 1650
SPACE_HZ = 1850
_DBM0_RMS = float(DBM0_RMS)
_SQRT2 = math.sqrt(2.0)
#: what ``sure_samples`` says when the burst cannot end (more data announced)
SURE_UNBOUNDED = 1 << 30
__all__ = ["BIT_RATE", "MARK_HZ", "SPACE_HZ", "Receiver", "Transmitter", "SAMPLE_RATE",
           "reference_samples"]


def _check_rate(bit_rate: int) -> None:
    if bit_rate != BIT_RATE:
        raise ValueError(f"V.21 runs at 300 bit/s only, not {bit_rate}")


def reference_samples(bits, amplitude: float) -> np.ndarray:
    """The transmitter's waveform in plain numpy (the reading the compiled table-driven
    core follows; tests compare the two): sample ``i`` carries bit ``floor(3 i / 80)``
    (300 bit/s at 8 kHz), the phase advances by 2 pi f / 8000 per sample with f = 1650 Hz
    for a 1 and 1850 Hz for a 0, starting at 0, and a sample is amp x sin(phase) rounded
    half away from zero. The burst ends at the end of its last bit."""
    b = as_bits(bits)
    n = (80 * b.shape[0] + 2) // 3          # samples whose bit index is < len(bits)
    bit_of = (3 * np.arange(n)) // 80
    f = np.where(b[bit_of] == 1, MARK_HZ, SPACE_HZ).astype(np.float64)
    phase = 2.0 * np.pi * np.concatenate([[0.0], np.cumsum(f[:-1])]) / SAMPLE_RATE
    v = amplitude * np.sin(phase)
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)).astype(np.int16)


class Transmitter(V21TxCore):
    """V.21 ch2 FSK transmitter: the queued bits, then the carrier stops (no training).

    ``tx``, ``sure_samples`` and ``continues_past`` are the compiled core's
    (:class:`faxcore.modem.v21_core.V21TxCore`): one C call per block."""

    # no instance __dict__: finding ``tx``/``done`` on a block then needs no dict lookup
    __slots__ = ("level_dbm0",)

    def __init__(self, bit_rate: int = BIT_RATE, *, level_dbm0: float = DEFAULT_TX_LEVEL_DBM0):
        _check_rate(bit_rate)
        if not -60.0 <= level_dbm0 <= 3.0:
            raise ValueError("level_dbm0 must be within -60..+3 dBm0")
        # dsp.dbm0_to_peak's arithmetic in plain floats (the same value: the same IEEE
        # operations in the same order), without its numpy scalar calls, which cost a
        # cold transmitter (one per burst) more than its first blocks
        super().__init__(_DBM0_RMS * 10.0 ** (level_dbm0 / 20.0) * _SQRT2)
        self.level_dbm0 = level_dbm0

    def send(self, bits, final: bool = True) -> None:
        if self.done or self.final:
            raise RuntimeError("V.21 burst already ended; use a new Transmitter")
        if not self._put_plain(bits):      # (a uint8 array: checked and queued in C)
            self._put(as_bits(bits))
        self.final = bool(final)


class _ReceiverApi:
    """The receiver contract (:mod:`faxcore.modem.base`) over a V.21 demodulator core."""

    __slots__ = ()

    def __init__(self, bit_rate: int = BIT_RATE, *, cutoff_dbm0: float = -47.0):
        _check_rate(bit_rate)
        super().__init__(cutoff_dbm0, cutoff_dbm0 - 3.0)

    def rx(self, samples) -> None:
        try:
            # the usual int16, 1-D, contiguous block goes in as it is (no checks in
            # Python: the typed argument refuses anything else before it starts)
            self.process(samples)
        except (TypeError, ValueError):
            samples = as_samples(samples)   # lists, other dtypes, strided views; or raises
            if samples.shape[0]:
                self.process(samples)

    def bits(self) -> np.ndarray:
        return self.take_bits()

    def events(self) -> list[ModemEvent]:
        ev = self.event_list
        if not ev:
            return []
        self.event_list = []
        # times are the estimated burst edges (never before the first sample)
        return [ModemEvent(k, max(0, t)) for k, t in ev]

    @property
    def trained(self) -> bool:
        return bool(self.in_burst)


class Receiver(_ReceiverApi, V21Demodulator):
    """V.21 ch2 FSK receiver (see module docstring)."""


class ReferenceReceiver(_ReceiverApi, V21ReferenceDemodulator):
    """The same receiver on the plain reading of the demodulator (no idle gate): the tests
    compare the two, and use this one where they need the old detector's behaviour over
    non-V.21 signal (it can make noise bits of a V.27ter page, which the gate ignores)."""

