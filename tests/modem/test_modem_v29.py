"""V.29 (9600 / 7200 bit/s): interop with spandsp 0.0.6 in both directions, under the
line impairments of issue 3, plus the receiver/transmitter contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxcore import modem
from faxcore.modem.base import CARRIER_DOWN, CARRIER_UP, TRAINING_FAILED, TRAINING_SUCCEEDED
from faxcore.testing import modem_rig as rig
from faxcore.testing.spandsp import modems as sp

RATES = (9600, 7200)
NBITS = 20000


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "line"), rig.cases(RATES, rig.TO_OURS))
def test_spandsp_tx_to_our_rx(rate, line):
    rig.check_spandsp_to_ours("v29", rate, line, NBITS)


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "line"), rig.cases(RATES, rig.TO_SPANDSP))
def test_our_tx_to_spandsp_rx(rate, line):
    rig.check_ours_to_spandsp("v29", rate, line, NBITS)


def test_ours_to_ours_any_block_sizes():
    bits = rig.random_bits(5000, 7)
    sig = rig.impair(rig.our_burst("v29", 9600, bits, block=1), lead=123)
    got, events = rig.our_receive("v29", 9600, sig, blocks="random", seed=3)
    rig.assert_no_errors(bits, got, "ours -> ours, random block sizes")
    assert [e.kind for e in events] == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN]
    times = [e.sample for e in events]
    assert times == sorted(times) and 123 <= times[0] < 123 + 200


def test_wrong_rate_reports_training_failed_and_no_bits():
    # a 9600 burst into a 7200 receiver: its ABAB/CD points differ, the check fails
    sig = rig.impair(rig.our_burst("v29", 9600, rig.random_bits(4000, 1)), lead=400)
    got, events = rig.our_receive("v29", 7200, sig)
    kinds = [e.kind for e in events]
    assert TRAINING_SUCCEEDED not in kinds and TRAINING_FAILED in kinds, kinds
    assert got.size == 0


def test_noise_only_gives_no_bits():
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal(16000) * 3000).astype(np.int16)  # about -15 dBm0
    got, events = rig.our_receive("v29", 9600, noise)
    assert got.size == 0
    assert TRAINING_SUCCEEDED not in [e.kind for e in events]


def test_two_bursts_retrain():
    b1, b2 = rig.random_bits(3000, 11), rig.random_bits(3000, 12)
    sig = np.concatenate([rig.impair(rig.our_burst("v29", 7200, b1), lead=200),
                          rig.impair(rig.our_burst("v29", 7200, b2), lead=600)])
    rx = modem.receiver("v29", 7200)
    rx.rx(sig[:len(sig) // 2])
    rx.rx(sig[len(sig) // 2:])
    got = rx.bits()
    kinds = [e.kind for e in rx.events()]
    assert kinds.count(TRAINING_SUCCEEDED) == 2 and kinds.count(CARRIER_DOWN) == 2
    # each burst: its bits, then the closing ones and up to a carrier-down's worth of tail
    assert np.array_equal(got[:3000], b1)
    k = np.flatnonzero([np.array_equal(got[i:i + 3000], b2) for i in range(3000, len(got) - 2999)])
    assert k.size == 1


def test_transmitter_contract():
    tx = modem.transmitter("v29", 9600)
    tx.send(b"\x01\x00\x01", final=False)
    tx.send(np.ones(5, np.uint8))
    with pytest.raises(RuntimeError):
        tx.send(b"\x01")
    assert tx.tx(0).size == 0
    total = 0
    while not tx.done:
        total += len(tx.tx(333))
        assert total < 100000
    assert np.all(tx.tx(1000) == 0)
    with pytest.raises(ValueError):
        modem.transmitter("v29", 9600).send(b"\x02")
    with pytest.raises(ValueError):
        modem.transmitter("v29", 4800)


def test_transmit_level():
    from faxcore.modem.dsp import level_dbm0

    for level in (-10.0, -20.0):
        sig = rig.our_burst("v29", 9600, rig.random_bits(20000, 2), level=level)
        data = sig[8000 // 2400 * 600: -400]  # skip the training, keep data
        assert abs(level_dbm0(data) - level) < 0.5


def test_receiver_rejects_bad_samples():
    rx = modem.receiver("v29", 9600)
    with pytest.raises(ValueError):
        rx.rx(np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        rx.rx(np.array([40000]))
    rx.rx(np.zeros(0, np.int16))
    assert rx.bits().size == 0 and not rx.trained


def test_streaming_send_final_false_then_final():
    rig.need_spandsp()
    pieces = [rig.random_bits(3000, 20 + i) for i in range(3)]
    tx = modem.transmitter("v29", 9600)
    out = []
    for i, p in enumerate(pieces):
        tx.send(p, final=(i == len(pieces) - 1))
        out += [tx.tx(160) for _ in range(5)]  # 100 ms per piece of 312 ms: never dry
    while not tx.done:
        out.append(tx.tx(160))
    rx = sp.V29Rx(9600)
    rx.rx(np.concatenate(out))
    rig.assert_no_errors(np.concatenate(pieces), rx.bits(), "streamed send()")


@pytest.mark.parametrize("name", ["v29", "v17"])
def test_spandsp_with_talker_echo_protection_tone(name):
    # spandsp can send an unmodulated carrier + 20 ms silence before the training (TEP)
    rig.need_spandsp()
    rate = 9600
    bits = rig.random_bits(5000, 3)
    burst = rig.spandsp_burst(name, rate, bits, tep=True)
    got, events = rig.our_receive(name, rate, rig.impair(burst, lead=800))
    kinds = [e.kind for e in events]
    assert TRAINING_SUCCEEDED in kinds and TRAINING_FAILED not in kinds, kinds
    rig.assert_no_errors(bits, got, f"{name} with TEP")


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=0, max_size=6000), block=st.integers(1, 8000),
       rate=st.sampled_from(RATES))
def test_receiver_survives_arbitrary_input(data, block, rate):
    rig.check_survives_arbitrary_input("v29", rate, data, block)


_TRAINED: dict = {}


def _trained_prefix(name: str, rate: int) -> np.ndarray:
    """A real burst (training + 1000 bits) with its end cut off: the receiver is in data
    mode when the hostile samples start."""
    if (name, rate) not in _TRAINED:
        burst = rig.our_burst(name, rate, rig.random_bits(4000, 5))
        _TRAINED[(name, rate)] = np.concatenate([np.zeros(400, np.int16), burst[:-2000]])
    return _TRAINED[(name, rate)]


@settings(max_examples=30, deadline=None)
@given(name_rate=st.sampled_from([("v29", 9600), ("v29", 7200), ("v17", 14400), ("v17", 7200)]),
       kind=st.sampled_from(["noise", "rail", "square", "loud", "binary"]),
       data=st.binary(min_size=0, max_size=4000), block=st.integers(1, 4000),
       seed=st.integers(0, 2**32 - 1))
def test_trained_receiver_survives_hostile_tail(name_rate, kind, data, block, seed):
    """Trained, then full-scale garbage: full-scale noise, rail-to-rail DC and
    alternation, a square wave at the carrier, the signal 50 dB too loud (clipped), or
    arbitrary bytes. The equaliser and loops are pushed far outside their range: no
    crash, no hang, only 0/1 bits, and the receiver still accepts the next burst."""
    name, rate = name_rate
    rng = np.random.default_rng(seed)
    n = 16000
    tail = {
        "noise": lambda: rng.integers(-32768, 32768, n).astype(np.int16),
        "rail": lambda: np.repeat(np.array([32767, -32768], np.int16), n // 2),
        "square": lambda: np.where(np.sin(2 * np.pi * 1700 * np.arange(n) / 8000) >= 0,
                                   32767, -32768).astype(np.int16),
        "loud": lambda: np.clip(rig.our_burst(name, rate, rig.random_bits(2000, 6))
                                .astype(np.int64) * 300, -32768, 32767).astype(np.int16),
        "binary": lambda: np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16),
    }[kind]()
    x = np.concatenate([_trained_prefix(name, rate), tail])
    rx = modem.receiver(name, rate)
    for i in range(0, len(x), block):
        rx.rx(x[i:i + block])
    bits = rx.bits()
    assert TRAINING_SUCCEEDED in [e.kind for e in rx.events()]
    assert bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    # after silence, a clean burst is received exactly
    b2 = rig.random_bits(3000, 7)
    rx.rx(np.zeros(8000, np.int16))
    rx.bits()
    rx.events()
    rx.rx(rig.impair(rig.our_burst(name, rate, b2), lead=400))
    rig.assert_no_errors(b2, rx.bits(), f"{name}/{rate} after hostile {kind}")


@pytest.mark.parametrize(("name", "rate", "snr"), [("v29", 9600, 18.0), ("v17", 14400, 22.0),
                                                   ("v17", 9600, 16.0)])
def test_no_more_errors_than_spandsp_in_noise(name, rate, snr):
    """Issue 3: ours no worse than spandsp where spandsp's BER is below 1e-2. The same
    noisy spandsp bursts into both receivers, errors summed over six noise seeds: near the
    edge errors come in bursts, so one seed alone can go either way (measured: V.17/14400
    at 22 dB, seed 78: ours 18, spandsp 0; over ten seeds ours 0, spandsp 132).
    benchmarks/modems.py prints the whole curve."""
    rig.need_spandsp()
    bits = rig.random_bits(NBITS, 77)
    burst = rig.spandsp_burst(name, rate, bits)

    def errors(got):
        n = min(len(got), NBITS)
        return int(np.count_nonzero(got[:n] != bits[:n])) + (NBITS - n)

    ours_err = theirs_err = 0
    for seed in range(6):
        sig = rig.impair(burst, snr=snr, lead=800, seed=seed)
        ours, events = rig.our_receive(name, rate, sig)
        assert TRAINING_SUCCEEDED in [e.kind for e in events], seed
        theirs = sp.receiver(name, rate)
        theirs.rx(sig)
        assert sp.SIG_STATUS_TRAINING_SUCCEEDED in rig.statuses(theirs), seed
        ours_err += errors(ours)
        theirs_err += errors(theirs.bits())
    assert theirs_err < 0.01 * 6 * NBITS, theirs_err  # the region the requirement is about
    assert ours_err <= theirs_err, (ours_err, theirs_err)


@pytest.mark.parametrize(("name", "rate"), [("v21", 300), ("v27ter", 4800), ("v29", 9600),
                                            ("v17", 14400)])
def test_default_transmit_level_is_minus_10_dbm0(name, rate):
    # issue 3: "default as fax machines use (about -10 dBm0 for the data pumps)"
    from faxcore.modem.dsp import level_dbm0

    tx = modem.transmitter(name, rate)
    tx.send(rig.random_bits(rate * 4, 3))
    x = np.concatenate([tx.tx(8000) for _ in range(4)])
    assert abs(level_dbm0(x[16000:32000]) - (-10.0)) < 0.5  # data part, past any training
