"""Shared machinery of the QAM data pumps (V.29 and V.17): pulse shaping, receive filter
bank, decision tables, and the transmitter/receiver wrappers around
:mod:`faxcore.modem.qam_core`.

Both modems run at 2400 baud on 8 kHz audio (10/3 samples per symbol) with
root-raised-cosine pulse shaping of 25 % excess bandwidth (as spandsp). The modules
:mod:`faxcore.modem.v29` and :mod:`faxcore.modem.v17` only supply their symbol
sequences (training, data mapping) and constellations.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from faxcore.modem import qam_core
from faxcore.modem.base import (
    CARRIER_DOWN,
    CARRIER_UP,
    DEFAULT_TX_LEVEL_DBM0,
    SAMPLE_RATE,
    SIGNAL_LOST,
    TRAINING_FAILED,
    TRAINING_SUCCEEDED,
    ReceiverBase,
    as_bits,
    as_samples,
)
from faxcore.modem.dsp import dbm0_to_rms

log = logging.getLogger(__name__)

BAUD = 2400
ROLLOFF = 0.25
#: carrier detect thresholds (dBm0). spandsp uses -43/-48 for V.17; we switch on a little
#: lower (-45) so that a burst received at exactly -43 dBm0 is still caught promptly.
CARRIER_ON_DBM0 = -45.0
CARRIER_OFF_DBM0 = -49.0

_EVENT_NAMES = {
    qam_core.EV_CARRIER_UP: CARRIER_UP,
    qam_core.EV_CARRIER_DOWN: CARRIER_DOWN,
    qam_core.EV_TRAINING_SUCCEEDED: TRAINING_SUCCEEDED,
    qam_core.EV_TRAINING_FAILED: TRAINING_FAILED,
    qam_core.EV_SIGNAL_LOST: SIGNAL_LOST,
}


def rrc(t: np.ndarray, beta: float = ROLLOFF) -> np.ndarray:
    """Root-raised-cosine impulse response, ``t`` in symbol periods (peak 1 - b + 4b/pi)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    at = np.abs(t)
    zero = at < 1e-9
    sing = np.abs(at - 1.0 / (4.0 * beta)) < 1e-9
    rest = ~(zero | sing)
    out[zero] = 1.0 - beta + 4.0 * beta / np.pi
    out[sing] = (beta / np.sqrt(2.0)) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * beta))
                                         + (1 - 2 / np.pi) * np.cos(np.pi / (4 * beta)))
    tr = t[rest]
    out[rest] = (np.sin(np.pi * tr * (1 - beta)) + 4 * beta * tr * np.cos(np.pi * tr * (1 + beta))) / (
        np.pi * tr * (1 - (4 * beta * tr) ** 2))
    return out


@functools.cache
def tx_pulse(span_symbols: int = 6) -> np.ndarray:
    """Transmit pulse at 24 kHz (10 samples per symbol), unit peak-ish, windowed RRC."""
    n = 10 * 2 * span_symbols + 1
    t = (np.arange(n) - (n - 1) / 2) / 10.0
    return rrc(t) * np.kaiser(n, 3.0)


def rx_filter_bank(carrier_hz: float, taps: int = 32, phases: int = 128) -> np.ndarray:
    """Complex band-pass matched filters h_p[m] = g(m - p/P - c) e^{j w m}, p = 0..P.

    Filtering the real input with h_p gives the analytic signal delayed by c + p/P
    samples, rotated so that mixing with the NCO at the newest sample gives baseband."""
    c = (taps - 1) / 2.0
    m = np.arange(taps)
    w = 2 * np.pi * carrier_hz / SAMPLE_RATE
    bank = np.empty((phases + 1, taps), np.complex128)
    for p in range(phases + 1):
        tt = (m - p / phases - c) / (SAMPLE_RATE / BAUD)
        # Kaiser taper over the span, shifted with the fractional delay
        win = np.i0(3.0 * np.sqrt(np.clip(1 - ((m - p / phases - c) / (c + 1)) ** 2, 0, 1))) / np.i0(3.0)
        g = rrc(tt) * win
        bank[p] = g * np.exp(1j * w * m)
    # unit gain for a symbol at the filter centre (AGC does the rest)
    return bank / np.sum(np.abs(bank[0]) ** 2) ** 0.5


def decision_grid(points: np.ndarray, labels_sets: list[np.ndarray], radius: float,
                  scale: float = 4.0) -> tuple[np.ndarray, float, float]:
    """Nearest-point lookup tables on a grid of cells of 1/scale units.

    ``labels_sets[g]`` lists the labels allowed in table g. Returns (tables [G][n][n]
    of uint8 labels, scale, offset)."""
    n = int(np.ceil(2 * radius * scale))
    centres = (np.arange(n) + 0.5) / scale - radius
    gx, gy = np.meshgrid(centres, centres, indexing="ij")
    grid = np.empty((len(labels_sets), n, n), np.uint8)
    for g, labs in enumerate(labels_sets):
        labs = np.asarray(labs)
        pts = points[labs]
        d = (gx[..., None] - pts.real) ** 2 + (gy[..., None] - pts.imag) ** 2
        grid[g] = labs[np.argmin(d, axis=-1)].astype(np.uint8)
    return grid, float(scale), float(radius)


#: data-mode lock monitor: the signal counts as lost when the running mean (over about
#: LOCK_WINDOW symbols) of the decision metric says the SNR fell this far below the
#: training gate. Locked bursts at the gate stay 1-2 dB above that line; a carrier loop
#: that slipped (V.17/14400 at 18 dB) or a signal replaced by noise falls below it.
LOST_MARGIN_DB = 3.5
LOCK_WINDOW = 64
#: bits are handed out this many symbols after they were demodulated, so that the ones
#: decoded while the monitor was noticing a loss can be dropped (96 symbols = 40 ms; at
#: carrier down everything left is released)
HOLD_SYMBOLS = 96
#: a hit (a click, a burst of noise) is told from a lost signal by waiting: the metric
#: that crossed the line must come back down (to RECOVER_RATIO of the line, or a little
#: over its level before, for RECOVER_SYMBOLS symbols) within LOST_GRACE symbols
#: (600 = 250 ms), or the signal is lost. Meanwhile nothing is committed; after a hit
#: every bit is delivered (see qam_core.QamReceiver._monitor).
LOST_GRACE = 600
RECOVER_RATIO = 0.5
RECOVER_SYMBOLS = 32
#: when the carrier drops during a suspicion at least this old (and the signal shows
#: no sign of coming back), the held bits are dropped with a signal_lost (a younger
#: one is the burst's end fading out: the old one-and-only grace of the monitor)
END_GRACE = 64
#: the equaliser, carrier and timing loops stand still while the mean of the decision
#: metric over 8 symbols is FREEZE_RATIO times the line (or over the line with the
#: symbol power HIT_POWER_RATIO times the constellation's: noise added on top)
FREEZE_RATIO = 2.0
HIT_POWER_RATIO = 1.4


def lock_config(min_snr_db: float, lost_margin_db: float = LOST_MARGIN_DB) -> dict:
    """Training gate and lock-monitor settings for a receiver trained at ``min_snr_db``."""
    return {"min_snr_db": min_snr_db, "lost_snr_db": min_snr_db - lost_margin_db,
            "lock_window": LOCK_WINDOW, "hold_symbols": HOLD_SYMBOLS,
            "lost_grace": LOST_GRACE, "recover_ratio": RECOVER_RATIO,
            "recover_symbols": RECOVER_SYMBOLS, "end_grace": END_GRACE,
            "freeze_ratio": FREEZE_RATIO, "hit_power_ratio": HIT_POWER_RATIO}


def base_config(carrier_hz: float, points: np.ndarray) -> dict:
    on = dbm0_to_rms(CARRIER_ON_DBM0) ** 2
    off = dbm0_to_rms(CARRIER_OFF_DBM0) ** 2
    return {
        "carrier_hz": carrier_hz,
        "filter": rx_filter_bank(carrier_hz),
        "on_power": on,
        "off_power": off,
        "points": points,
    }


#: fast-path cores per (transmitter class, bit rate, level): set up (tables), at rest
_PROTOTYPES: dict[tuple, qam_core.QamTxCore] = {}
#: ... per (class, bit rate, level, kind): after the training, whose samples they hold
#: (a V.17 long training is 22 KB)
_TRAINING_CACHE: dict[tuple, qam_core.QamTxCore] = {}
#: entries per cache (emptied when full: levels are few in practice)
_CACHE_MAX = 64


def _bounded_put(cache: dict, key: tuple, value: object) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


class QamTransmitter(qam_core.QamTxCore):
    """Symbols from :meth:`_training_symbols` / the data coder, pulse shaped.

    Subclasses define ``bits_per_symbol``, ``carrier_hz``, ``_training_symbols()``
    (everything before the data, as complex points), ``_init_encoder()`` (sets the
    compiled data coder up: ``_init_v17`` / ``_init_v29``), ``_sync_encoder()`` (hands it
    the coder state the training left), ``_data_symbols(bits)`` (the same coding in the
    plain path: a multiple of bits_per_symbol bits, continuing the scrambler/differential
    state), ``_mean_power`` (average power of the data constellation) and
    ``_tail_symbols()`` (zero-valued symbols after the end of signal). ``tx`` is the
    compiled :class:`faxcore.modem.qam_core.BlockTx`'s: one C call per block, which calls
    :meth:`_next_samples` only when its buffer runs short (every CHUNK symbols).

    Two paths give the same symbols and look-ahead answers: the fast one (default) codes
    and shapes each data chunk in one compiled call (:class:`qam_core.QamTxCore`: float32,
    folded carrier tables); ``reference=True`` is the plain reading kept beside it (the
    symbols as complex arrays, then the double-precision :class:`qam_core.Modulator`).
    Their samples differ by at most one LSB (tests/modem/test_qam_tx_fast.py)."""

    bits_per_symbol = 4
    carrier_hz = 1800.0
    _mean_power = 1.0
    #: scrambled ones after the data (spandsp: 32 symbols)
    END_ONES = 32
    #: data symbols modulated per step (100 ms; less when less is queued)
    CHUNK = 240

    def __init__(self, bit_rate: int, level_dbm0: float = DEFAULT_TX_LEVEL_DBM0,
                 reference: bool = False) -> None:
        self.bit_rate = bit_rate
        self.level_dbm0 = float(level_dbm0)
        if not -60.0 <= self.level_dbm0 <= 3.0:
            raise ValueError("level_dbm0 must be between -60 and +3 dBm0")
        self.reference = bool(reference)
        if self.reference:
            pulse = tx_pulse()
            self._mod = qam_core.Modulator(pulse, self.carrier_hz, self._gain())
            self._fill = np.ones(8 * self.bits_per_symbol, np.uint8)
        else:
            # a kind met before is copied from its prototype (tables and all): building
            # them is what a new transmitter per burst would otherwise spend its time on
            key = (type(self), bit_rate, self.level_dbm0)
            proto = _PROTOTYPES.get(key)
            if proto is None:
                self._init_shaper(tx_pulse(), self.carrier_hz, self._gain())
                self._init_encoder()
                proto = qam_core.QamTxCore()
                proto._init_like(self)
                _bounded_put(_PROTOTYPES, key, proto)
            else:
                self._init_like(proto)
        # the queue, phase (0 = not started, 1 = data, 2 = ending, 3 = done) and final
        # flag are the core's (C): its refill reads them, and so does the reference path
        self._set_shape(self.CHUNK, self.END_ONES, not self.reference)

    def _gain(self) -> float:
        """Pulse gain for the level: passband power = mean|symbol|^2 * sum(h^2) / 10 / 2
        (10 pulse samples a symbol)."""
        pulse = tx_pulse()
        rms_unit = np.sqrt(self._mean_power * np.sum(pulse ** 2) / 10.0 / 2.0)
        return float(dbm0_to_rms(self.level_dbm0) / rms_unit)

    # --- public API
    def send(self, bits, final: bool = True) -> None:
        if self._final:
            raise RuntimeError("send() after the end of the burst")
        # the usual uint8 array is checked and queued in C; anything else via as_bits
        if not self._send_array(bits):
            self._put_bits(as_bits(bits))
        self._final = bool(final)

    def continues_past(self, n: int) -> bool:
        """True if ``tx(n)`` now surely leaves ``done`` False (the samples are already
        modulated and the end of signal is not among them): a caller timing the burst's
        end may take ``n`` samples at once."""
        avail = self.buffered
        return avail > n or (avail == n and self._phase < 3)

    def sure_samples(self) -> int:
        """The most samples ``tx`` surely gives now without ending the burst (what the
        transmit pump, :mod:`faxcore.modem.txpump`, may take ahead): those modulated
        (all but the last once the end is among them), and while the data goes on with
        a whole chunk queued, the next chunk's too (a data chunk of CHUNK symbols is at
        least 3 samples a symbol, and never the end)."""
        avail = self.buffered
        if self._phase == 3:
            return max(0, avail - 1)
        if self._phase == 1 and self.queued_bits >= self.CHUNK * self.bits_per_symbol:
            return avail + 3 * self.CHUNK
        return avail

    # --- internals
    def _next_samples(self) -> np.ndarray | None:
        """The reference path (``reference=True``): the next piece as the plain reading
        computes it. The fast path does the same in C (``QamTxCore._fast_refill``)."""
        if self._phase == 0:
            self._phase = 1
            return self._mod.modulate(np.ascontiguousarray(self._training_symbols()))
        if self._phase == 1:
            bps = self.bits_per_symbol
            avail = self.queued_bits
            if self._final and avail < self.CHUNK * bps:
                # the end: pad the last symbol with ones, then the closing ones
                bits = self._take_bits(avail)
                pad = (-len(bits)) % bps
                bits = np.concatenate([bits, np.ones(pad + self.END_ONES * bps, np.uint8)])
                self._phase = 2
            elif avail >= bps:
                bits = self._take_bits(min(self.CHUNK, avail // bps) * bps)
            else:
                # queue dry but more data announced (final=False): a little fill
                bits = self._fill
            return self._mod.modulate(np.ascontiguousarray(self._data_symbols(bits)))
        if self._phase == 2:
            self._phase = 3
            self.ended = True
            return self._mod.modulate(np.ascontiguousarray(self._tail_symbols()))
        return None

    def _start_burst(self) -> None:
        """Modulate the training (and check segment) into the buffer. Every burst of a
        kind starts the same way (the same symbols into a shaper at rest), so its samples
        and the shaper's and coder's state after them are computed once per kind and
        level, then copied (:data:`_TRAINING_CACHE`)."""
        key = (type(self), self.bit_rate, self.level_dbm0, self._training_kind())
        hit = _TRAINING_CACHE.get(key)
        if hit is None:
            sym = np.ascontiguousarray(self._training_symbols())
            self._sync_encoder()
            self._modulate_symbols(sym)
            # the buffer holds the training alone (nothing was taken from it yet)
            hit = qam_core.QamTxCore()
            hit._init_like(self)
            hit._copy_state(self)
            hit._append_buffered(self)
            _bounded_put(_TRAINING_CACHE, key, hit)
            return
        self._copy_state(hit)
        self._append_buffered(hit)

    def _training_kind(self) -> object:
        """What else (besides class, rate and level) selects the training sequence."""
        return None

    def _training_symbols(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_encoder(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sync_encoder(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _data_symbols(self, bits: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tail_symbols(self) -> np.ndarray:
        return np.zeros(20, np.complex128)


class QamReceiver(ReceiverBase):
    """Python face of :class:`faxcore.modem.qam_core.QamReceiver`."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self._core = qam_core.QamReceiver(config)

    def rx(self, samples) -> None:
        core = self._core
        try:
            # the usual int16, 1-D, contiguous block goes in as it is (no checks in
            # Python: the core's typed argument refuses anything else before it starts)
            core.rx(samples)
        except (TypeError, ValueError):
            x = as_samples(samples)   # lists, other dtypes, strided views; or raises
            if x.size == 0:
                return
            core.rx(x)
        self.sample_count = core.nsamples
        if core.events:
            for code, t in core.take_events():
                self._emit(_EVENT_NAMES[code], t)
                log.debug("%s at sample %d", _EVENT_NAMES[code], t)
        if core.ocommit:
            self._out.append(core.take_bits())
        self.trained = core.trained

    def diagnostics(self) -> dict:
        """Internal state for debugging: frequency offset, AGC, mean squared error..."""
        return self._core.diagnostics()

    @property
    def held_bits(self) -> int:
        """Demodulated bits the core holds back (not yet given to :meth:`bits`): at most
        ``(HOLD_SYMBOLS + LOST_GRACE + 2)`` symbols' worth between two :meth:`rx` calls."""
        return self._core.onb
