"""ITU-T V.29 data pump, 9600 and 7200 bit/s (as T.30 uses it), on 8 kHz audio.

1700 Hz carrier, 2400 baud, 16-point (9600) or 8-point (7200) differential
phase/amplitude constellation, scrambler 1 + x^-18 + x^-23. Training (V.29 section 4,
as spandsp sends it): 48 symbols of silence, 128 symbols alternating A/B, 384 symbols
of C/D chosen by a 1 + x^-6 + x^-7 sequence, 48 symbols of scrambled ones; after the
data, 32 symbols of scrambled ones (no end sequence is defined by V.29).
"""

from __future__ import annotations

import functools

import numpy as np

from faxcore.modem import qam, qam_core
from faxcore.modem.base import DEFAULT_TX_LEVEL_DBM0

CARRIER_HZ = 1700.0
RATES = (7200, 9600)

#: absolute phase k*45 degrees -> point, inner ring (Q1 = 0) and outer ring (Q1 = 1)
INNER = np.array([3, 1 + 1j, 3j, -1 + 1j, -3, -1 - 1j, -3j, 1 - 1j])
OUTER = np.array([5, 3 + 3j, 5j, -3 + 3j, -5, -3 - 3j, -5j, 3 - 3j])
POINTS = np.concatenate([INNER, OUTER])  # label = Q1 << 3 | absolute phase index

#: Q2 Q3 Q4 (Q2 = MSB) -> phase change in units of 45 degrees
TRIBIT_STEP = np.array([1, 0, 2, 3, 6, 7, 5, 4])
STEP_TRIBIT = np.argsort(TRIBIT_STEP).astype(np.uint8)

_STEP_U8 = TRIBIT_STEP.astype(np.uint8)
_POINTS_C = POINTS.astype(np.complex128)

#: training points A, B, C, D per rate
TRAINING_POINTS = {
    9600: (-3 + 0j, 3 - 3j, 3 + 0j, -3 + 3j),
    7200: (-3 + 0j, 1 - 1j, 3 + 0j, -1 + 1j),
}
SEG1_SILENCE = 48
SEG2_ABAB = 128
SEG3_CD = 384
SEG4_ONES = 48
#: training fails below this SNR measured on the last 256 symbols of segment 3 and on the
#: decisions of the first SNR_SYMBOLS symbols after it (the check segment and data, held
#: back until then): in-band, about 1.9 dB above a full-band AWGN SNR, +-0.2 dB from burst
#: to burst (the known symbols alone read the same, +-0.3 dB). Set where our BER on white
#: noise is about 2e-3 (at the gate trained bursts stay below 1 % errors; 2 dB under it
#: they would have 2-4 %, which no T.30 page or TCF can use: the caller must fall back).
MIN_TRAINING_SNR_DB = {9600: 17.5, 7200: 14.3}
#: data symbols after the check segment whose decisions count in the training SNR
SNR_SYMBOLS = 96


#: mean |point|^2 of each rate's constellation (the transmit gain's reference)
MEAN_POWER = {9600: float(np.mean(np.abs(POINTS) ** 2)), 7200: float(np.mean(np.abs(INNER) ** 2))}


def _check_rate(bit_rate: int) -> int:
    if bit_rate not in RATES:
        raise ValueError(f"V.29 runs at {RATES} bit/s, not {bit_rate}")
    return bit_rate


def segment3_bits() -> np.ndarray:
    """The 384 C/D selector bits: 1 + x^-6 + x^-7 generator seeded 0101010 (0x2A)."""
    reg = 0x2A
    out = np.empty(SEG3_CD, np.uint8)
    for i in range(SEG3_CD):
        bit = reg & 1
        reg >>= 1
        reg |= ((bit ^ reg) & 1) << 6
        out[i] = bit
    return out


def training_sequence(bit_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment 2 ABAB symbols, segment 3 C/D symbols) for ``bit_rate``."""
    a, b, c, d = TRAINING_POINTS[bit_rate]
    abab = np.array([a, b] * (SEG2_ABAB // 2))
    seg3 = np.where(segment3_bits() == 0, c, d).astype(np.complex128)
    return abab, seg3


class Transmitter(qam.QamTransmitter):
    """V.29 modulator. ``send(bits)`` then ``tx(n)``; see :mod:`faxcore.modem.base`.
    Option ``reference``: the plain double-precision path (see
    :class:`faxcore.modem.qam.QamTransmitter`)."""

    carrier_hz = CARRIER_HZ

    def __init__(self, bit_rate: int, level_dbm0: float = DEFAULT_TX_LEVEL_DBM0,
                 reference: bool = False) -> None:
        self.bits_per_symbol = 4 if _check_rate(bit_rate) == 9600 else 3
        self._mean_power = MEAN_POWER[bit_rate]
        self._scr = 0
        self._abs_phase = 0
        super().__init__(bit_rate, level_dbm0, reference=reference)

    def _init_encoder(self) -> None:
        self._init_v29(_STEP_U8, _POINTS_C, self.bits_per_symbol, 18)

    def _sync_encoder(self) -> None:
        # the training coded its check segment with the plain coder: go on from there
        self._set_v29_state(self._scr, self._abs_phase)

    def _training_symbols(self) -> np.ndarray:
        abab, seg3 = training_sequence(self.bit_rate)
        head = np.concatenate([np.zeros(SEG1_SILENCE, np.complex128), abab, seg3])
        # segment 4: scrambled ones (scrambler cleared), normal data coding
        self._scr = 0
        self._abs_phase = 0
        ones = self._data_symbols(np.ones(SEG4_ONES * self.bits_per_symbol, np.uint8))
        return np.concatenate([head, ones])

    def _data_symbols(self, bits: np.ndarray) -> np.ndarray:
        # scrambler, amplitude bit + tribit, phase and constellation in one compiled pass
        sym, self._scr, self._abs_phase = qam_core.v29_symbols(
            np.ascontiguousarray(bits, np.uint8), self._scr, self._abs_phase,
            self.bits_per_symbol, _STEP_U8, _POINTS_C, 18)
        return sym

    def _tail_symbols(self) -> np.ndarray:
        # let the pulse shaper ring out (about its length) instead of cutting it off
        return np.zeros(12, np.complex128)


def receiver_config(bit_rate: int) -> dict:
    """Configuration of :class:`faxcore.modem.qam_core.QamReceiver` (cached: building the
    filter bank and decision tables costs ~25 ms; the core never modifies the arrays)."""
    return dict(_receiver_config(bit_rate))


@functools.cache
def _receiver_config(bit_rate: int) -> dict:
    _check_rate(bit_rate)
    pts = POINTS if bit_rate == 9600 else INNER
    cfg = qam.base_config(CARRIER_HZ, POINTS)
    labels = np.arange(16) if bit_rate == 9600 else np.arange(8)
    grid, scale, off = qam.decision_grid(POINTS, [labels], radius=7.0)
    abab, seg3 = training_sequence(bit_rate)
    cfg.update(
        mode=0,
        bits_per_symbol=4 if bit_rate == 9600 else 3,
        abab=(abab[0], abab[1]),
        training=seg3,
        check_len=SEG4_ONES,
        descrambler_reg=0,
        diff0=0,
        grid=grid,
        grid_scale=scale,
        grid_offset=off,
        v29_bits=STEP_TRIBIT,
        v29_outer=1 if bit_rate == 9600 else 0,
        tap=18,
    )
    cfg["const_power"] = float(np.mean(np.abs(pts) ** 2))
    cfg.update(qam.lock_config(MIN_TRAINING_SNR_DB[bit_rate]), snr_with_check=True,
               snr_symbols=SNR_SYMBOLS)
    return cfg


class Receiver(qam.QamReceiver):
    """V.29 demodulator. ``rx(samples)``, ``bits()``, ``events()``, ``trained``."""

    def __init__(self, bit_rate: int) -> None:
        self.bit_rate = bit_rate
        super().__init__(receiver_config(bit_rate))
