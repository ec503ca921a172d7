"""ITU-T V.17 data pump, 14400 / 12000 / 9600 / 7200 bit/s, trellis coded, on 8 kHz audio.

1800 Hz carrier, 2400 baud; 128/64/32/16-point constellations carrying 6/5/4/3 data
bits plus one redundant bit from an 8-state systematic convolutional (trellis) code
with differential encoding of two bits (90-degree rotation invariance). Scrambler
1 + x^-18 + x^-23. Training (long / short, as T.30 uses them: long for TCF, short for
pages and ECM blocks after a successful long train):

====  ===============================================  ======  =====
seg   content                                          long    short
====  ===============================================  ======  =====
1     A B A B ...                                        256     256
2     scrambled ones, 2 bits per symbol -> C/D/B/A      2976      38
3     bridge: 0x8880 through the scrambler, quarter      64       -
      turns round A B C D
4     scrambled ones, full trellis data coding           48      48
====  ===============================================  ======  =====

After the data: 32 symbols of scrambled ones, then 48 symbols of silence (as spandsp).
The receiver decodes the trellis code with a Viterbi decoder (traceback 24 symbols).
"""

from __future__ import annotations

import functools

import numpy as np

from faxcore.modem import qam, qam_core
from faxcore.modem.base import DEFAULT_TX_LEVEL_DBM0

CARRIER_HZ = 1800.0
RATES = (7200, 9600, 12000, 14400)
BITS_PER_SYMBOL = {14400: 6, 12000: 5, 9600: 4, 7200: 3}

SEG1_ABAB = 256
SEG2_LONG = 2976
SEG2_SHORT = 38
SEG3_BRIDGE = 64
SEG4_ONES = 48
END_ONES = 32
END_SILENCE = 48
SCRAMBLER_SEED = 0x2ECDD5
#: training fails below this SNR, measured in-band on the last 256 symbols of the known
#: training sequence (a short training's last 24) and on the first SNR_SYMBOLS symbols
#: after it (the check segment and data, held back until then), the error taken against
#: the Viterbi-decoded point (slicing errors would make a bad line read better): about
#: 2 dB above a full-band AWGN SNR, +-0.3 dB (long) and +-0.4..0.6 dB (short) from burst
#: to burst (the known symbols alone: +-0.9 dB short, so that pages after a good TCF
#: often failed to train). Set where our decoder's BER on white noise is about 1e-3
#: (16-seed sweeps, tests/modem/test_training_rate.py: no trained burst over ~1 %
#: errors; 1.7 dB under the gate the carrier loop could slip and deliver 40 % garbage).
#: T.30 falls back to a lower rate instead.
MIN_TRAINING_SNR_DB = {14400: 21.7, 12000: 18.6, 9600: 15.6, 7200: 12.5}
#: data symbols after the check segment whose decisions count in the training SNR
SNR_SYMBOLS = 96
#: a short training below the gate after SNR_SYMBOLS is measured on to this many and
#: judged again: its equaliser (38 known symbols, from scratch) is still converging and
#: reads 0.3-0.45 dB under a long training's on the same line at SNR_SYMBOLS, the same
#: by 256 (measured at the gate, 24 seeds). A clearly good page is not held back longer
SNR_SYMBOLS_SHORT_LATE = 256
#: ... against a gate this much lower (T.30 short-trains only after a TCF passed at this
#: rate: a page burst measured just under the gate is on the same line)
SHORT_LATE_MARGIN_DB = 0.3
#: the lock monitor declares the signal lost this far under the gate. The sparse low-rate
#: constellations leave less room between a locked burst at the gate and noise (measured,
#: running metric over 64 symbols: 9600 locked >= 13.3 dB, noise ~12.4 dB; 7200 locked
#: >= 10.6 dB, noise ~9.4 dB)
LOST_MARGIN_DB = {14400: 3.5, 12000: 3.5, 9600: 2.7, 7200: 2.5}
BRIDGE_WORD = 0x8880

#: training points A, B, C, D (B = A turned +90 degrees, and so on)
ABCD = np.array([-6 - 2j, 2 - 6j, 6 + 2j, -2 + 6j])
#: segment 2: scrambled dibit (first bit in time = MSB) -> index into ABCD (00 C, 01 D, 10 B, 11 A)
SEG2_MAP = np.array([2, 3, 1, 0])
#: segment 3: scrambled dibit -> quarter turns
BRIDGE_STEP = np.array([1, 0, 2, 3])

# Constellations: label -> (I, Q); rows of 8 labels (V.17 / V.32bis maps).
_C14400 = """
-8,-3 9,2 2,-9 -3,8 8,3 -9,-2 -2,9 3,-8
-8,1 9,-2 -2,-9 1,8 8,-1 -9,2 2,9 -1,-8
-4,-3 5,2 2,-5 -3,4 4,3 -5,-2 -2,5 3,-4
-4,1 5,-2 -2,-5 1,4 4,-1 -5,2 2,5 -1,-4
4,-3 -3,2 2,3 -3,-4 -4,3 3,-2 -2,-3 3,4
4,1 -3,-2 -2,3 1,-4 -4,-1 3,2 2,-3 -1,4
0,-3 1,2 2,-1 -3,0 0,3 -1,-2 -2,1 3,0
0,1 1,-2 -2,-1 1,0 0,-1 -1,2 2,1 -1,0
8,-3 -7,2 2,7 -3,-8 -8,3 7,-2 -2,-7 3,8
8,1 -7,-2 -2,7 1,-8 -8,-1 7,2 2,-7 -1,8
-4,-7 5,6 6,-5 -7,4 4,7 -5,-6 -6,5 7,-4
-4,5 5,-6 -6,-5 5,4 4,-5 -5,6 6,5 -5,-4
4,-7 -3,6 6,3 -7,-4 -4,7 3,-6 -6,-3 7,4
4,5 -3,-6 -6,3 5,-4 -4,-5 3,6 6,-3 -5,4
0,-7 1,6 6,-1 -7,0 0,7 -1,-6 -6,1 7,0
0,5 1,-6 -6,-1 5,0 0,-5 -1,6 6,1 -5,0
"""
_C12000 = """
7,1 -5,-1 -1,5 1,-7 -7,-1 5,1 1,-5 -1,7
3,-3 -1,3 3,1 -3,-3 -3,3 1,-3 -3,-1 3,3
7,-7 -5,7 7,5 -7,-7 -7,7 5,-7 -7,-5 7,7
-1,-7 3,7 7,-3 -7,1 1,7 -3,-7 -7,3 7,-1
3,5 -1,-5 -5,1 5,-3 -3,-5 1,5 5,-1 -5,3
-1,1 3,-1 -1,-3 1,1 1,-1 -3,1 1,3 -1,-1
-5,5 7,-5 -5,-7 5,5 5,-5 -7,5 5,7 -5,-5
-5,-3 7,3 3,-7 -3,5 5,3 -7,-3 -3,7 3,-5
"""
_C9600 = """
-8,2 -6,-4 -4,6 2,8 8,-2 6,4 4,-6 -2,-8
0,2 -6,4 4,6 2,0 0,-2 6,-4 -4,-6 -2,0
0,-6 2,-4 -4,-2 -6,0 0,6 -2,4 4,2 6,0
8,2 2,4 4,-2 2,-8 -8,-2 -2,-4 -4,2 -2,8
"""
_C7200 = """
6,-6 -2,6 6,2 -6,-6 -6,6 2,-6 -6,-2 6,6
-2,2 6,-2 -2,-6 2,2 2,-2 -6,2 2,6 -2,-2
"""


def _parse(table: str) -> np.ndarray:
    pts = []
    for tok in table.split():
        i, q = tok.split(",")
        pts.append(complex(int(i), int(q)))
    return np.array(pts, np.complex128)


CONSTELLATIONS = {14400: _parse(_C14400), 12000: _parse(_C12000),
                  9600: _parse(_C9600), 7200: _parse(_C7200)}


#: mean |point|^2 of each constellation (the transmit gain's reference)
MEAN_POWER = {rate: float(np.mean(np.abs(pts) ** 2)) for rate, pts in CONSTELLATIONS.items()}


def _check_rate(bit_rate: int) -> int:
    if bit_rate not in RATES:
        raise ValueError(f"V.17 runs at {RATES} bit/s, not {bit_rate}")
    return bit_rate


def _short(short_train: bool, long_training: bool | None) -> bool:
    """``long_training=False`` is accepted as another spelling of ``short_train=True``."""
    if long_training is None:
        return bool(short_train)
    if short_train and long_training:
        raise ValueError("short_train=True contradicts long_training=True")
    return not long_training


def trellis_next_state() -> np.ndarray:
    """next[s][Y] for state s = S0 | S1<<1 | S2<<2 and Y = Y1 | Y2<<1 (Y0 = S0)."""
    nxt = np.zeros((8, 4), np.int64)
    for s in range(8):
        s0, s1, s2 = s & 1, (s >> 1) & 1, (s >> 2) & 1
        for y in range(4):
            y1, y2 = y & 1, y >> 1
            n0 = s1 ^ y2 ^ (s0 & y1)
            n1 = s2 ^ y1 ^ y2 ^ (s0 & (s1 ^ y2))
            nxt[s, y] = n0 | (n1 << 1) | (s0 << 2)
    return nxt


def training_symbols(short_train: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(segment 1 ABAB, segments 2(+3) known symbols, scrambler register afterwards)."""
    seg1 = np.array([ABCD[0], ABCD[1]] * (SEG1_ABAB // 2))
    n2 = SEG2_SHORT if short_train else SEG2_LONG
    s, reg = qam_core.scramble23(np.ones(2 * n2, np.uint8), SCRAMBLER_SEED, 18)
    dib = s[0::2].astype(np.int64) * 2 + s[1::2]
    idx = SEG2_MAP[dib]
    known = [ABCD[idx]]
    if not short_train:
        i = np.arange(SEG3_BRIDGE)
        shift = (i & 7) * 2
        raw = np.empty(2 * SEG3_BRIDGE, np.uint8)
        raw[0::2] = (BRIDGE_WORD >> shift) & 1
        raw[1::2] = (BRIDGE_WORD >> (shift + 1)) & 1
        s3, reg = qam_core.scramble23(raw, reg, 18)
        steps = BRIDGE_STEP[s3[0::2].astype(np.int64) * 2 + s3[1::2]]
        state = (int(idx[-1]) + np.cumsum(steps)) & 3
        known.append(ABCD[state])
    return seg1, np.concatenate(known), int(reg)


class Transmitter(qam.QamTransmitter):
    """V.17 modulator. Options: ``level_dbm0``, ``short_train`` (default False; or
    ``long_training=False``), ``reference`` (the plain double-precision path, see
    :class:`faxcore.modem.qam.QamTransmitter`)."""

    carrier_hz = CARRIER_HZ
    END_ONES = END_ONES

    def __init__(self, bit_rate: int, level_dbm0: float = DEFAULT_TX_LEVEL_DBM0,
                 short_train: bool = False, long_training: bool | None = None,
                 reference: bool = False) -> None:
        self.bits_per_symbol = BITS_PER_SYMBOL[_check_rate(bit_rate)]
        self.short_train = _short(short_train, long_training)
        self._points = CONSTELLATIONS[bit_rate]
        self._mean_power = MEAN_POWER[bit_rate]
        self._scr = 0
        self._diff = 0
        self._conv = 0
        super().__init__(bit_rate, level_dbm0, reference=reference)

    def _init_encoder(self) -> None:
        self._init_v17(self._points, self.bits_per_symbol, 18)

    def _training_kind(self) -> object:
        return self.short_train

    def _sync_encoder(self) -> None:
        # the training coded its check segment with the plain coder: go on from there
        self._set_v17_state(self._scr, self._diff, self._conv)

    def _training_symbols(self) -> np.ndarray:
        seg1, known, self._scr = training_symbols(self.short_train)
        self._diff = 0 if self.short_train else 1
        self._conv = 0
        ones = self._data_symbols(np.ones(SEG4_ONES * self.bits_per_symbol, np.uint8))
        return np.concatenate([seg1, known, ones])

    def _data_symbols(self, bits: np.ndarray) -> np.ndarray:
        # scrambler, packing, trellis encoder and constellation in one compiled pass
        sym, self._scr, self._diff, self._conv = qam_core.v17_symbols(
            np.ascontiguousarray(bits, np.uint8), self._scr, self._diff, self._conv,
            self.bits_per_symbol, self._points, 18)
        return sym

    def _tail_symbols(self) -> np.ndarray:
        return np.zeros(END_SILENCE, np.complex128)


def receiver_config(bit_rate: int, short_train: bool) -> dict:
    """Configuration of :class:`faxcore.modem.qam_core.QamReceiver` (cached: building the
    filter bank and decision tables costs ~25 ms; the core never modifies the arrays)."""
    return dict(_receiver_config(bit_rate, short_train))


@functools.cache
def _receiver_config(bit_rate: int, short_train: bool) -> dict:
    _check_rate(bit_rate)
    pts = CONSTELLATIONS[bit_rate]
    labels = np.arange(len(pts))
    sets = [labels] + [labels[(labels & 7) == sub] for sub in range(8)]
    grid, scale, off = qam.decision_grid(pts, sets, radius=11.0)
    seg1, known, reg = training_symbols(short_train)
    cfg = qam.base_config(CARRIER_HZ, pts)
    cfg.update(
        mode=1,
        bits_per_symbol=BITS_PER_SYMBOL[bit_rate],
        abab=(seg1[0], seg1[1]),
        training=known,
        check_len=SEG4_ONES,
        descrambler_reg=reg,
        diff0=0 if short_train else 1,
        grid=grid,
        grid_scale=scale,
        grid_offset=off,
        v17_next=trellis_next_state(),
        tap=18,
        const_power=float(np.mean(np.abs(pts) ** 2)),
        snr_with_check=True,
        snr_symbols=SNR_SYMBOLS,
        **qam.lock_config(MIN_TRAINING_SNR_DB[bit_rate], LOST_MARGIN_DB[bit_rate]),
    )
    if short_train:
        cfg["snr_symbols_late"] = SNR_SYMBOLS_SHORT_LATE
        cfg["min_snr_late_db"] = MIN_TRAINING_SNR_DB[bit_rate] - SHORT_LATE_MARGIN_DB
    return cfg


class Receiver(qam.QamReceiver):
    """V.17 demodulator with Viterbi decoding. Option ``short_train`` (default False):
    expect the short training sequence (T.30 pages/ECM blocks after a long-trained TCF)."""

    def __init__(self, bit_rate: int, short_train: bool = False,
                 long_training: bool | None = None) -> None:
        self.bit_rate = bit_rate
        self.short_train = _short(short_train, long_training)
        super().__init__(receiver_config(bit_rate, self.short_train))
