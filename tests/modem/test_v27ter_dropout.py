"""V.27ter rides out a short dropout of the signal, as V.29 and V.17 do (issue 14).

A line that loses the signal for a moment (a dropout to near silence, 5-12 ms, in the
middle of the data) used to end a V.27ter burst: three symbols under -12 dB of the
trained level meant carrier down, so the rest of the page (here 6000 of 12 000 bits)
was lost. V.29 and V.17 keep their carrier over such a dropout and deliver every bit
after it. Now V.27ter does too: 15 ms of low symbols end the burst (the next burst's
training starts after at least 20 ms of silence, so two bursts are still told apart);
a shorter run is a dropout, the loops coast through it and its bits are delivered in
place (garbage, but none missing: what follows stays aligned).
"""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp
from faxcore.modem.base import CARRIER_DOWN, CARRIER_UP, TRAINING_SUCCEEDED
from faxcore.testing import modem_rig as rig

LEAD = 800
NBITS = 12000


def _receive(rate: int, sig: np.ndarray):
    rx = modem.receiver("v27ter", rate)
    got = []
    for i in range(0, len(sig), 160):
        rx.rx(sig[i:i + 160])
        got.append(rx.bits())
    return np.concatenate(got), [e.kind for e in rx.events()], rx


def _with_dropout(rate: int, ms: float, seed: int):
    """A burst of NBITS random bits at -10 dBm0 (20 dB SNR) with the line silent (a
    -80 dBm0 hiss) for ``ms`` from the middle of the data on. Returns (bits, clean
    signal, signal with the dropout, the data bit at which the dropout starts)."""
    bits = rig.random_bits(NBITS, 40 + seed)
    burst = rig.our_burst("v27ter", rate, bits)
    clean = rig.impair(burst, lead=LEAD, snr=20.0, seed=seed)
    start = LEAD + len(burst) - (NBITS * 8000 // rate) // 2     # in the middle of the data
    x = clean.astype(np.float64)
    n = int(ms * 8)
    x[start:start + n] = np.random.default_rng(seed).normal(0.0, 3.0, n)
    # the data bit at the dropout: those the receiver gave for the clean signal up to it
    # (a few symbols' filter delay early)
    first = len(_receive(rate, clean[:start])[0])
    return bits, clean, dsp.to_int16(x), first, n


@pytest.mark.parametrize("rate", [4800, 2400])
@pytest.mark.parametrize("ms", [5, 10])
def test_v27ter_rides_out_a_short_dropout(rate, ms):
    """Every bit before the dropout and from 100 ms after it to the end is right, at
    its place (as many bits as without the dropout); one burst, one carrier_down."""
    for seed in range(2):
        bits, clean, sig, first, n = _with_dropout(rate, ms, seed)
        ref, ref_kinds, _ = _receive(rate, clean)
        assert ref_kinds == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN]
        got, kinds, rx = _receive(rate, sig)
        assert kinds == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN], (seed, kinds)
        assert len(got) == len(ref), (seed, len(got), len(ref))
        before = first - rate // 50                      # 20 ms of filter delay
        after = first + n * rate // 8000 + rate // 10    # 100 ms after the dropout
        assert np.array_equal(got[:before], bits[:before]), seed
        assert np.array_equal(got[after:NBITS], bits[after:NBITS]), (
            seed, int(np.count_nonzero(got[after:NBITS] != bits[after:NBITS])))
        assert rx._core.dropouts == 1


@pytest.mark.parametrize("rate", [4800, 2400])
def test_v27ter_a_long_gap_still_ends_the_burst(rate):
    """40 ms of silence is no dropout: the burst ends there (the next one would start
    with its training), with no garbage from the silence after the last good bit."""
    bits, _clean, sig, first, _n = _with_dropout(rate, 40, 0)
    got, kinds, rx = _receive(rate, sig)
    assert kinds[:3] == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN]
    assert TRAINING_SUCCEEDED not in kinds[3:]          # the rest has no training
    # the bits up to the gap (those the filter delay held at it come out), no more
    assert first <= len(got) <= first + rate // 100
    assert np.array_equal(got, bits[:len(got)])
    assert rx._core.dropouts == 0
