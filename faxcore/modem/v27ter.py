"""ITU-T V.27ter modem: 4800 bit/s (8-phase DPSK, 1600 baud) and 2400 bit/s (4-phase DPSK,
1200 baud) on an 1800 Hz carrier, as T.30 uses it for TCF and pages.

Transmitter: scrambler 1 + x^-6 + x^-7 with the repeated-pattern guard, differential phase
encoding, the long training sequence (T.30 uses only the long one; see below), root raised
cosine pulse shaping (50 % excess bandwidth), and a turn-off of 32 symbols of scrambled
ones after the data followed by the filter's ring-down.

Training sequence (symbols): optional segment 1 "TEP" unmodulated carrier (200 ms, off
by default as in spandsp), segment 2 silence (20 ms), segment 3 50 symbols of 180 degree
reversals, segment 4 1074 symbols of 0/180 degree steps chosen by the scrambler (fed
ones, clocked three times per symbol, the first output used, register seeded 0x3C),
segment 5 8 symbols of scrambled ones in normal data coding. The Recommendation's short
sequence (for turnaround on a leased line) is not used by T.30 and is not implemented.

Receiver: carrier detect (on above -45 dBm0 and 6 dB above the noise floor seen since the
last burst, off below -50 dBm0), AGC, demodulation to complex baseband, matched RRC filter
with polyphase interpolation at T/2, Gardner symbol timing recovery, a 17-tap T/2-spaced
LMS equaliser trained on segment 4 and then decision-directed, a second-order
decision-directed carrier phase/frequency loop, differential decoding and the
self-synchronising descrambler.

* Training is found from the differential decisions: the reversals narrow the timing
  loop, and the known segment 4 pattern (24 decisions in a row) gives the symbol's index
  in segment 4, so a receiver that starts late (reversals missed) still trains on what is
  left. The pattern repeats every 127 symbols; a late start tests each possible end of
  segment 4 against segment 5 (see ``V27Demod._train``).
* Training is checked (error power over the end of segment 4: below 0.06 at 4800, 0.12 at
  2400, about a 5 % bit error rate; the ones of segment 5) and ``training_failed`` is
  reported instead of delivering garbage; so is a carrier of more than 0.5 s, or hunting
  for more than 3 s, without a training sequence.
* End of burst: once trained, three symbols in a row 12 dB below the trained level end
  the burst (``carrier_down``) before the power meter notices, so no noise-made bits
  follow the data even over a noise floor above the carrier threshold.

The per-sample loops live in :mod:`faxcore.modem.v27ter_core` (Cython).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from faxcore.modem.base import (
    CARRIER_DOWN,
    CARRIER_UP,
    DEFAULT_TX_LEVEL_DBM0,
    SAMPLE_RATE,
    TRAINING_FAILED,
    TRAINING_SUCCEEDED,
    ReceiverBase,
    as_bits,
    as_samples,
)
from faxcore.modem.dsp import dbm0_to_rms
from faxcore.modem.v27ter_core import (
    EV_CARRIER_DOWN,
    EV_CARRIER_UP,
    EV_TRAINING_FAILED,
    EV_TRAINING_SUCCEEDED,
    PskShaper,
    PskTxCore,
    Scrambler,
    V27Demod,
    psk_diff_map,
)

__all__ = ["BIT_RATES", "Receiver", "Transmitter", "rrc"]

log = logging.getLogger(__name__)

BIT_RATES = (2400, 4800)
CARRIER_HZ = 1800.0
EXCESS_BANDWIDTH = 0.5
SCRAMBLER_SEED = 0x3C
SEG3_SYMBOLS = 50
SEG4_SYMBOLS = 1074
SEG5_SYMBOLS = 8
SHUTDOWN_SYMBOLS = 32
TX_SPAN = 4  # transmit filter: +-4 symbols
RX_SPAN = 3  # receive matched filter: +-3 symbols
RX_PHASES = 64  # fractional-sample interpolation steps of the matched filter
CHUNK = 256  # symbols encoded ahead when data is queued

#: scrambled bits (first in time = most significant) -> phase step in 45 degree units
_STEP = {
    4800: np.array([1, 0, 2, 3, 6, 7, 5, 4], dtype=np.int64),  # 001->0, 000->45, 010->90...
    2400: np.array([0, 2, 6, 4], dtype=np.int64),  # 00->0, 01->90, 11->180, 10->270
}
_EVENT_KINDS = {
    EV_CARRIER_UP: CARRIER_UP,
    EV_CARRIER_DOWN: CARRIER_DOWN,
    EV_TRAINING_SUCCEEDED: TRAINING_SUCCEEDED,
    EV_TRAINING_FAILED: TRAINING_FAILED,
}


def rrc(t: np.ndarray, beta: float = EXCESS_BANDWIDTH) -> np.ndarray:
    """Root raised cosine impulse response, ``t`` in symbol periods (peak 1 - b + 4b/pi)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    at0 = np.abs(t) < 1e-9
    sing = np.abs(np.abs(t) - 1.0 / (4.0 * beta)) < 1e-9
    rest = ~(at0 | sing)
    tr = t[rest]
    out[rest] = (np.sin(np.pi * tr * (1 - beta)) + 4 * beta * tr * np.cos(np.pi * tr * (1 + beta))) / (
        np.pi * tr * (1 - (4 * beta * tr) ** 2))
    out[at0] = 1 - beta + 4 * beta / np.pi
    q = np.pi / (4 * beta)
    out[sing] = beta / math.sqrt(2) * ((1 + 2 / np.pi) * math.sin(q) + (1 - 2 / np.pi) * math.cos(q))
    return out


def _symbol_period(bit_rate: int) -> tuple[int, int]:
    """Symbol period in samples as num/den: 5/1 at 1600 baud, 20/3 at 1200 baud."""
    return (5, 1) if bit_rate == 4800 else (20, 3)


def _check_rate(bit_rate: int) -> int:
    if bit_rate not in BIT_RATES:
        raise ValueError(f"V.27ter runs at 2400 or 4800 bit/s, not {bit_rate}")
    return int(bit_rate)


def segment4() -> tuple[np.ndarray, int, int]:
    """The segment 4 pattern (1 = 180 degree step) and the scrambler state after it."""
    scr = Scrambler(SCRAMBLER_SEED)
    out = scr.run(np.ones(3 * SEG4_SYMBOLS, dtype=np.uint8))
    return out[0::3].copy(), scr.reg, scr.count


def _segment4_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Segment 4 pattern, scrambler state after it, and the receiver's look-up tables:
    ``exp24[j]`` = the 24 differential decisions (1 = 180 degrees, newest in bit 0) a
    receiver has seen at segment 4 symbol ``j`` (reversals before segment 4 count as 1),
    ``lut[w]`` = the first ``j`` in 16..142 whose newest 16 decisions are ``w``, else -1.
    The pattern repeats every 127 symbols, so 16..142 covers every position (modulo 127)
    and a window seen with the reversals before it maps to its exact index."""
    pattern, reg, count = segment4()
    seq = np.concatenate([np.ones(24, dtype=np.int64), pattern.astype(np.int64)])
    weights = 1 << np.arange(23, -1, -1, dtype=np.int64)
    exp24 = np.zeros(SEG4_SYMBOLS, dtype=np.uint32)
    for j in range(SEG4_SYMBOLS):
        exp24[j] = int(np.dot(seq[j + 1:j + 25], weights))
    lut = np.full(65536, -1, dtype=np.int16)
    for j in range(142, 15, -1):  # descending, so the smallest j wins a collision
        lut[exp24[j] & 0xFFFF] = j
    return pattern, lut, exp24, reg, count


_TABLES: tuple | None = None


def _tables() -> tuple:
    global _TABLES
    if _TABLES is None:
        _TABLES = _segment4_tables()
    return _TABLES


#: (bit rate, level, tep) -> what a transmitter starts from (pulse table, gain, training
#: symbols, scrambler and phase after them): the same for
#: every burst, made once (issue 14: a burst's set-up is no small part of a short one)
_TX_CACHE: dict[tuple, tuple] = {}
_TX_CACHE_MAX = 16


class Transmitter(PskTxCore):
    """V.27ter transmitter (see :mod:`faxcore.modem.base` for the contract).

    Everything per block is the compiled :class:`faxcore.modem.v27ter_core.PskTxCore`'s:
    ``tx`` scrambles and encodes the queued data (up to ``CHUNK`` symbols ahead) and
    shapes it in one C call; ``sure_samples`` and ``continues_past`` are its too. The
    training sequence is made here once, with the plain :class:`Scrambler` and
    :func:`psk_diff_map`.

    Options: ``level_dbm0`` (default -10), ``tep`` (send the 200 ms unmodulated-carrier
    talker echo protection tone first; default False)."""

    def __init__(self, bit_rate: int, level_dbm0: float = DEFAULT_TX_LEVEL_DBM0,
                 tep: bool = False) -> None:
        self.bit_rate = _check_rate(bit_rate)
        self.bits_per_symbol = 3 if bit_rate == 4800 else 2
        self.level_dbm0 = float(level_dbm0)
        if not -60.0 <= self.level_dbm0 <= 0.0:
            # above 0 dBm0 the pulse-shaped peaks would clip
            raise ValueError("level_dbm0 must be between -60 and 0 dBm0")
        key = (self.bit_rate, self.level_dbm0, bool(tep))
        hit = _TX_CACHE.get(key)
        if hit is None:
            num, den = _symbol_period(bit_rate)
            ntaps = 2 * TX_SPAN + 1
            p = np.arange(num)[:, None] / num
            j = np.arange(ntaps)[None, :]
            coef = rrc(j + p - TX_SPAN)
            # power of the shaped baseband for random unit symbols, per output sample
            p_bb = float(np.mean(np.sum(coef * coef, axis=1)))
            gain = dbm0_to_rms(self.level_dbm0) / math.sqrt(p_bb / 2.0)
            scr = Scrambler(SCRAMBLER_SEED)
            training, state = self._training_symbols(scr, tep, num / den)
            training.setflags(write=False)   # shared: _setup copies it
            hit = (num, den, coef, gain, training, scr.reg, scr.count, state)
            if len(_TX_CACHE) >= _TX_CACHE_MAX:
                _TX_CACHE.clear()
            _TX_CACHE[key] = hit
        num, den, coef, gain = hit[:4]
        # the training is the first of the pending symbols; the data path goes on from
        # the scrambler and phase it left (_setup gives the shaper its gain's tables)
        self._setup(PskShaper(num, den, coef), gain, hit[4], self.bits_per_symbol, _STEP[self.bit_rate],
                    hit[5], hit[6], hit[7], CHUNK, SHUTDOWN_SYMBOLS, 2 * TX_SPAN + 1)

    # -- symbol generation ---------------------------------------------------------------
    def _training_symbols(self, scr: Scrambler, tep: bool, sps: float) -> tuple[np.ndarray, int]:
        """The training sequence (int8 phases, -1 silence) and the phase after it."""
        baud = SAMPLE_RATE / sps
        parts = []
        if tep:
            parts.append(np.zeros(round(0.2 * baud), dtype=np.int8))  # carrier at 0 degrees
        parts.append(np.full(round(0.02 * baud), -1, dtype=np.int8))  # silence
        seg3 = (4 * np.arange(1, SEG3_SYMBOLS + 1)) & 7
        bits = scr.run(np.ones(3 * SEG4_SYMBOLS, dtype=np.uint8))[0::3].astype(np.int64)
        seg4 = (seg3[-1] + 4 * np.cumsum(bits)) & 7
        parts += [seg3.astype(np.int8), seg4.astype(np.int8)]
        # segment 5: scrambled ones in normal data coding
        seg5, state = psk_diff_map(scr.run(np.ones(SEG5_SYMBOLS * self.bits_per_symbol,
                                                   dtype=np.uint8)),
                                   self.bits_per_symbol, _STEP[self.bit_rate], int(seg4[-1]))
        parts.append(seg5)
        return np.concatenate(parts), state

    # -- public API ----------------------------------------------------------------------
    def send(self, bits, final: bool = True) -> None:
        """Queue data bits (0/1) for after the training; ``final`` ends the burst after them."""
        if self.ended:
            raise RuntimeError("the burst has ended; create a new transmitter")
        self._put(as_bits(bits), bool(final))


#: bit rate -> the matched filter's polyphase table (made once: issue 14)
_RX_COEF: dict[int, np.ndarray] = {}


class Receiver(ReceiverBase):
    """V.27ter receiver (see :mod:`faxcore.modem.base` for the contract).

    Option: ``cutoff_dbm0`` (default -45): carrier on above it, off 5 dB below it."""

    def __init__(self, bit_rate: int, cutoff_dbm0: float = -45.0) -> None:
        super().__init__()
        self.bit_rate = _check_rate(bit_rate)
        coef = _RX_COEF.get(self.bit_rate)
        if coef is None:
            num, den = _symbol_period(bit_rate)
            sps = num / den
            h = int(math.ceil(RX_SPAN * sps))
            ntap = 2 * h + 2
            f = np.arange(RX_PHASES + 1)[:, None] / RX_PHASES
            j = np.arange(ntap)[None, :]
            coef = rrc((j - h + f) / sps)
            coef /= np.sqrt(np.sum(coef[0] ** 2))
            coef.setflags(write=False)   # shared by every receiver at this rate
            _RX_COEF[self.bit_rate] = coef
        pattern, lut, exp24, reg, count = _tables()
        self._core = V27Demod(self.bit_rate, coef, RX_PHASES, pattern, lut, exp24, reg, count,
                              dbm0_to_rms(cutoff_dbm0) ** 2, dbm0_to_rms(cutoff_dbm0 - 5.0) ** 2)

    def rx(self, samples) -> None:
        """Feed received samples (int16; any block size)."""
        core = self._core
        try:
            # the usual int16, 1-D, contiguous block goes in as it is (no checks in
            # Python: the core's typed argument refuses anything else before it starts)
            bits = core.process(samples)
        except (TypeError, ValueError):
            samples = as_samples(samples)   # lists, other dtypes, strided views; or raises
            if samples.size == 0:
                return
            bits = core.process(samples)
        if core.events:
            for code, at in core.events:
                kind = _EVENT_KINDS[code]
                self._emit(kind, at)
                if kind == TRAINING_SUCCEEDED:
                    self.trained = True
                    log.debug("V.27ter %d trained at sample %d (mse %.3f, offset %.1f Hz)",
                              self.bit_rate, at, self._core.last_mse,
                              self._core.carrier_frequency_offset)
                elif kind == CARRIER_DOWN:
                    self.trained = False
                elif kind == TRAINING_FAILED:
                    log.info("V.27ter %d training failed at sample %d (mse %.3f)",
                             self.bit_rate, at, self._core.last_mse)
            core.events.clear()
        if bits.shape[0]:
            self._out.append(bits)   # a new uint8 array from the core (never reused)
        self.sample_count += len(samples)

    @property
    def carrier(self) -> bool:
        """True while the carrier detector sees a signal."""
        return bool(self._core.carrier)
