"""How often V.17 and V.29 train on a noisy line, and that what trains is clean.

The training gate (MIN_TRAINING_SNR_DB) is there so that a trained burst carries < ~1 %
errors: a receiver that cannot train must say so, not deliver garbage. Its SNR used to
be measured on the known training symbols only: for a V.17 short training (the pages
after a TCF) that is 24 symbols, +-0.9 dB from burst to burst and 0.3 dB low, so pages
often failed to train at a rate whose TCF had just passed (a T.30 call then loses the
page, or retransmits it at best), while now and then a burst 1.5 dB under the gate got
through with 3 % errors. Now the decisions after the training count too (the
Viterbi-decoded points: slicing errors would make a bad line read better), and a short
training measured under the gate is measured on, its equaliser still converging, and
judged again (see faxcore.modem.v17).

Measured with 16 seeds per point (noise before the burst too, as on a line), the worst
trained burst over a sweep across each gate, before -> after: V.17/14400 short 3.1 % ->
0.2 %; V.17/7200 short 2.9 % -> 1.4 %; V.29/7200 1.7 % -> 0.7 % (test_what_trains_...).
"""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp

NBITS = 10000
SEEDS = 16


def burst(name: str, rate: int, short: bool) -> tuple[np.ndarray, np.ndarray]:
    bits = np.random.default_rng(4).integers(0, 2, NBITS).astype(np.uint8)
    opts = {"short_train": True} if short else {}
    tx = modem.transmitter(name, rate, level_dbm0=-10.0, **opts)
    tx.send(bits)
    out = []
    while not tx.done:
        out.append(tx.tx(160))
    return bits, np.concatenate(out)


def noisy(sig: np.ndarray, snr: float, seed: int) -> np.ndarray:
    """400 samples of noise, then the burst, in white noise ``snr`` dB under -10 dBm0."""
    x = np.concatenate([np.zeros(400), sig.astype(np.float64), np.zeros(1600)])
    sigma = dsp.dbm0_to_rms(-10.0 - snr)
    return dsp.to_int16(x + np.random.default_rng(seed + 1000).normal(0.0, sigma, len(x)))


def receive(name: str, rate: int, short: bool, sig: np.ndarray):
    """(trained, bits) of our receiver on ``sig``."""
    opts = {"short_train": True} if short else {}
    rx = modem.receiver(name, rate, **opts)
    got = []
    for i in range(0, len(sig), 160):
        rx.rx(sig[i:i + 160])
        got.append(rx.bits())
    trained = "training_succeeded" in [e.kind for e in rx.events()]
    return trained, np.concatenate(got)


def sweep(name: str, rate: int, short: bool, snrs) -> tuple[dict, list[float]]:
    """Bursts trained per SNR, and the error rate of every trained burst."""
    bits, sig = burst(name, rate, short)
    trained, rates = {}, []
    for snr in snrs:
        trained[snr] = 0
        for seed in range(SEEDS):
            ok, got = receive(name, rate, short, noisy(sig, snr, seed))
            if ok:
                trained[snr] += 1
                n = min(len(got), NBITS)
                rates.append((int(np.count_nonzero(got[:n] != bits[:n])) + NBITS - n) / NBITS)
            else:
                assert got.size == 0, (name, rate, snr, seed)  # no bits from a failed one
    return trained, rates


@pytest.mark.parametrize(("rate", "snrs"), [(9600, (15.0, 15.5)), (7200, (11.5, 12.0))])
def test_pages_short_train_where_a_tcf_long_trains(rate, snrs):
    """Where every long-trained V.17 burst (a TCF) trains, the short-trained ones (the
    pages after it) train too, nearly always (now 16, 16 and 15, 16 of 16; before: 9600
    14 and 16, 7200 13 and 15: a T.30 call at 14 dB lost its page that way)."""
    long_trained, _ = sweep("v17", rate, False, snrs)
    assert all(n == SEEDS for n in long_trained.values()), long_trained
    short_trained, _ = sweep("v17", rate, True, snrs)
    assert all(n >= SEEDS - 1 for n in short_trained.values()), short_trained


CASES = [("v17", 14400, True, (19.0, 19.5, 20.0, 20.5)),
         ("v17", 14400, False, (19.0, 19.5, 20.0)),
         ("v17", 12000, True, (16.0, 16.5, 17.0)),
         ("v17", 9600, True, (12.5, 13.0, 13.5)),
         ("v17", 7200, True, (9.0, 9.5, 10.0, 10.5)),
         ("v29", 9600, False, (15.0, 15.5)),
         ("v29", 7200, False, (12.0, 12.5))]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "rate", "short", "snrs"), CASES)
def test_what_trains_across_the_gate_is_clean(name, rate, short, snrs):
    """Across the SNR where training starts to succeed, every burst either fails with no
    bits or trains and carries < 2 % errors (< 0.6 % on average): the gate keeps its
    promise with the new measurement. Measured worst / mean now: V.17 short 0.2 / 0.02 %
    (14400), 0.5 / 0.06 % (12000), 0.6 / 0.13 % (9600), 1.4 / 0.48 % (7200); V.29
    0.45 / 0.35 % (9600), 0.7 / 0.35 % (7200). Before: V.17/14400 short 3.1 / 0.6 %,
    V.17/7200 short 2.9 / 0.66 %, V.29/7200 1.7 / 0.7 %."""
    trained, rates = sweep(name, rate, short, snrs)
    assert rates, trained        # the sweep reaches where training succeeds
    assert max(rates) < 0.02, (trained, max(rates))
    assert np.mean(rates) < 0.006, (trained, np.mean(rates))


def test_a_burst_ending_while_its_snr_is_judged_is_judged_on_what_there_was():
    """The SNR now counts up to 96 (short: 256) symbols after the training, the data
    held back meanwhile. A burst that ends before that (a short page, an ECM burst)
    is judged at its end: clean, it trains and every bit comes out."""
    for rate, short in ((9600, True), (14400, False)):
        bits = np.random.default_rng(9).integers(0, 2, 40 * (rate // 2400)).astype(np.uint8)
        opts = {"short_train": True} if short else {}
        tx = modem.transmitter("v17", rate, **opts)
        tx.send(bits)
        sig = np.concatenate([np.zeros(400, np.int16)] + [tx.tx(160) for _ in range(200)])
        ok, got = receive("v17", rate, short, sig)
        assert ok and np.array_equal(got[:len(bits)], bits), (rate, short, len(got))
