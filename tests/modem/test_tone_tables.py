"""CNG and CED generators from their precomputed tables give exactly the samples of the
formula (each burst from phase 0, rint(amp sin(w i)), silence elsewhere), whatever the
block sizes, cycles and leading silence."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.modem.dsp import dbm0_to_peak
from faxcore.modem.tones import CED_HZ, CNG_HZ, CedGenerator, CngGenerator

SIZES = [160, 1, 40, 8000, 37, 28000, 3]


def _take(gen, total: int) -> np.ndarray:
    out, i, n = [], 0, 0
    while n < total:
        k = min(SIZES[i % len(SIZES)], total - n)
        out.append(gen.tx(k))
        n += k
        i += 1
    return np.concatenate(out)



@pytest.mark.parametrize("cycles", [None, 1, 2])
@pytest.mark.parametrize("level", [-11.0, -3.0])
def test_cng_from_table_is_the_formula(cycles, level):
    gen = CngGenerator(level_dbm0=level, cycles=cycles)
    total = 3 * CngGenerator.PERIOD + 1234
    got = _take(gen, total)
    period, on_len = CngGenerator.PERIOD, CngGenerator.ON
    amp = dbm0_to_peak(level)
    idx = np.arange(total)
    on = (idx % period) < on_len
    if cycles is not None:
        on &= idx < cycles * period
    want = np.rint(np.where(on, amp * np.sin(2 * np.pi * CNG_HZ / 8000 * (idx % period)), 0.0))
    assert np.array_equal(got, want.astype(np.int16))
    assert gen.done == (cycles is not None)


@pytest.mark.parametrize(("duration", "before"), [(3.3, 0.0), (2.6, 0.2), (0.01, 1.0)])
def test_ced_from_table_is_the_formula(duration, before):
    gen = CedGenerator(duration=duration, silence_before=before)
    total = int((duration + before + 0.5) * 8000)
    got = _take(gen, total)
    start = int(round(before * 8000))
    end = start + int(round(duration * 8000))
    idx = np.arange(total)
    amp = dbm0_to_peak(-11.0)
    want = np.rint(np.where((idx >= start) & (idx < end),
                            amp * np.sin(2 * np.pi * CED_HZ / 8000 * (idx - start)), 0.0))
    assert np.array_equal(got, want.astype(np.int16))
    assert gen.done
