"""Shared DSP helpers: levels in dBm0, noise, channel impairments for tests and benchmarks.

Level convention (as spandsp): a full-scale sine (peak 32767) is +3.14 dBm0, so a
0 dBm0 sine has peak 22 826 and RMS 16 141; level in dBm0 = 20·log10(RMS / 16 141).
The µ-law digital milliwatt is 0.007 dB lower (RMS 16 016); we use one reference.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from faxcore.modem.base import SAMPLE_RATE

#: dBm0 of a full-scale (peak 32767) sine
FULL_SCALE_DBM0 = 3.14
#: RMS of a 0 dBm0 signal in int16 units
DBM0_RMS = 32767.0 / np.sqrt(2.0) * 10.0 ** (-FULL_SCALE_DBM0 / 20.0)


def dbm0_to_rms(dbm0: float) -> float:
    """RMS (int16 units) of a signal at ``dbm0``."""
    return DBM0_RMS * 10.0 ** (dbm0 / 20.0)


def dbm0_to_peak(dbm0: float) -> float:
    """Peak amplitude of a *sine* at ``dbm0`` (int16 units)."""
    return dbm0_to_rms(dbm0) * np.sqrt(2.0)


def rms_to_dbm0(rms: float) -> float:
    if rms <= 0:
        return -np.inf
    return 20.0 * np.log10(rms / DBM0_RMS)


def level_dbm0(samples: np.ndarray, active_only: bool = False) -> float:
    """Measured level of ``samples``; with ``active_only`` ignore exact-zero samples
    (silence around a burst)."""
    x = np.asarray(samples, dtype=np.float64)
    if active_only:
        x = x[x != 0]
    if x.size == 0:
        return -np.inf
    return rms_to_dbm0(float(np.sqrt(np.mean(x * x))))


def to_int16(x: np.ndarray) -> np.ndarray:
    """Round and saturate a float signal to int16."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def scale_to_dbm0(samples: np.ndarray, dbm0: float) -> np.ndarray:
    """Rescale a burst so its active (non-zero) part is at ``dbm0``; returns float64."""
    x = np.asarray(samples, dtype=np.float64)
    cur = level_dbm0(x, active_only=True)
    if not np.isfinite(cur):
        return x.copy()
    return x * 10.0 ** ((dbm0 - cur) / 20.0)


def awgn(n: int, dbm0: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of ``n`` samples at ``dbm0`` (float64)."""
    return rng.standard_normal(n) * dbm0_to_rms(dbm0)


def add_awgn(samples: np.ndarray, snr_db: float, rng: np.random.Generator,
             signal_power: float | None = None) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` below the signal power (full 0-4 kHz band).

    ``signal_power`` defaults to the mean power of the non-zero samples (the burst).
    Returns float64 (use :func:`to_int16` to quantise)."""
    x = np.asarray(samples, dtype=np.float64)
    if signal_power is None:
        act = x[x != 0]
        signal_power = float(np.mean(act * act)) if act.size else 0.0
    sigma = np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))
    return x + rng.standard_normal(x.size) * sigma


def resample_clock(samples: np.ndarray, ppm: float) -> np.ndarray:
    """Simulate a sample-clock offset of ``ppm`` parts per million (+100 = 0.01 % fast
    sender clock: the receiver sees the signal stretched by that factor). Band-limited
    polyphase resampling, so no interpolation distortion. Returns float64."""
    ratio = Fraction(1_000_000 + int(round(ppm)), 1_000_000)
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(samples, dtype=np.float64), ratio.numerator,
                         ratio.denominator)


def frequency_shift(samples: np.ndarray, hz: float) -> np.ndarray:
    """Shift every frequency component by ``hz`` (single-sideband shift via the analytic
    signal), as a carrier offset on an analogue line would. Returns float64."""
    from scipy.fft import next_fast_len
    from scipy.signal import hilbert

    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    z = hilbert(x, N=next_fast_len(x.size))[:x.size]
    n = np.arange(x.size)
    return np.real(z * np.exp(2j * np.pi * hz * n / SAMPLE_RATE))


def bit_errors(sent: np.ndarray, received: np.ndarray, max_shift: int = 64) -> tuple[int, int, int]:
    """Align ``received`` to ``sent`` and count errors.

    The receiver may deliver a few extra leading bits (offset > 0: ``received[offset]`` is
    ``sent[0]``) or miss some (offset < 0: ``received[0]`` is ``sent[-offset]``); the best
    offset within ``±max_shift`` (judged on the first 256 bits) is used. Missing bits,
    at either end, count as errors. Returns ``(errors, len(sent), offset)``."""
    s = np.asarray(sent, dtype=np.uint8)
    r = np.asarray(received, dtype=np.uint8)
    if s.size == 0:
        return 0, 0, 0
    probe = min(s.size, 256)

    def count(off: int, length: int) -> int:
        if off >= 0:
            seg = r[off:off + length]
            return int(np.count_nonzero(seg != s[:seg.size])) + (length - seg.size)
        seg = r[:max(length + off, 0)]
        ref = s[-off:-off + seg.size]
        return int(np.count_nonzero(seg != ref)) + (length - seg.size)

    best = None
    for mag in range(0, max_shift + 1):
        for off in ((mag,) if mag == 0 else (mag, -mag)):
            e = count(off, probe)
            if best is None or e < best[0]:
                best = (e, off)
        if best[0] == 0:
            break
    off = best[1]
    return count(off, s.size), s.size, off
