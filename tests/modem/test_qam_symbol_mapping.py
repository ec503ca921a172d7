"""The compiled one-pass bit -> symbol mappers of V.17 and V.29 give the symbols of the
step-by-step mapping they replaced (scrambler, packing, trellis/differential coding,
constellation), state carried across calls, and refuse bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.modem import qam_core, v17, v29


def _v17_steps(bits, reg, diff, conv, bps, points):
    s, reg = qam_core.scramble23(bits, reg, 18)
    s = s.reshape(-1, bps).astype(np.uint8)
    q = np.zeros(len(s), np.uint8)
    for i in range(bps):
        q |= s[:, i] << i
    labels, diff, conv = qam_core.v17_encode(q, diff, conv)
    return points[labels], reg, diff, conv


def _v29_steps(bits, reg, phase, bps):
    s, reg = qam_core.scramble23(bits, reg, 18)
    s = s.reshape(-1, bps).astype(np.int64)
    if bps == 4:
        amp, tri = s[:, 0], s[:, 1] * 4 + s[:, 2] * 2 + s[:, 3]
    else:
        amp, tri = np.zeros(len(s), np.int64), s[:, 0] * 4 + s[:, 1] * 2 + s[:, 2]
    ph = (phase + np.cumsum(v29.TRIBIT_STEP[tri])) % 8
    return v29.POINTS[amp * 8 + ph], reg, int(ph[-1]) if len(ph) else phase


@pytest.mark.parametrize("rate", v17.RATES)
def test_v17_symbols_match_the_step_by_step_mapping(rate):
    bps, pts = v17.BITS_PER_SYMBOL[rate], v17.CONSTELLATIONS[rate]
    rng = np.random.default_rng(rate)
    a = b = (0x2ECDD5, 1, 0)
    for n in (0, 1, 240, 7, 1000):
        bits = rng.integers(0, 2, n * bps, dtype=np.uint8)
        got, *a = qam_core.v17_symbols(bits, *a, bps, pts, 18)
        want, *b = _v17_steps(bits, *b, bps, pts)
        assert np.array_equal(got, want) and a == b


@pytest.mark.parametrize(("bps", "rate"), [(4, 9600), (3, 7200)])
def test_v29_symbols_match_the_step_by_step_mapping(bps, rate):
    rng = np.random.default_rng(bps)
    a = b = (0, 3)
    for n in (0, 1, 240, 5, 999):
        bits = rng.integers(0, 2, n * bps, dtype=np.uint8)
        got, *a = qam_core.v29_symbols(bits, *a, bps, v29.TRIBIT_STEP.astype(np.uint8),
                                       v29.POINTS, 18)
        want, *b = _v29_steps(bits, *b, bps)
        assert np.array_equal(got, want) and a == b


def test_mappers_refuse_bad_arguments():
    pts = v17.CONSTELLATIONS[14400]
    with pytest.raises(ValueError):
        qam_core.v17_symbols(np.zeros(7, np.uint8), 0, 0, 0, 6, pts, 18)      # not whole symbols
    with pytest.raises(ValueError):
        qam_core.v17_symbols(np.zeros(12, np.uint8), 0, 0, 0, 6, pts[:64], 18)  # too few points
    with pytest.raises(ValueError):
        qam_core.v29_symbols(np.zeros(8, np.uint8), 0, 0, 4, np.full(8, 9, np.uint8),
                             v29.POINTS, 18)                                      # step > 7
