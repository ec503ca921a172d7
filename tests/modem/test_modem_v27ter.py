"""V.27ter (2400/4800 bit/s) interoperability with spandsp, channel impairments, and the
receiver's behaviour on bad input. spandsp (Debian libspandsp2) is driven through
faxcore.testing.spandsp.modems; a missing library skips locally and fails in CI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore import modem
from faxcore.modem import dsp, v27ter
from faxcore.modem.base import (
    CARRIER_DOWN,
    CARRIER_UP,
    TRAINING_FAILED,
    TRAINING_SUCCEEDED,
)
from faxcore.testing.line import burst_channel
from faxcore.testing.spandsp import modems as sp

RATES = (2400, 4800)
NBITS = 20000
LEAD = 800  # silence before each burst


@pytest.fixture(scope="module", autouse=True)
def _spandsp():
    sp.lib()


def _data(n: int = NBITS, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def _drain(tx, block: int = 160, limit_s: float = 60.0) -> np.ndarray:
    out = []
    total = 0
    while not tx.done:
        out.append(tx.tx(block))
        total += block
        assert total < limit_s * 8000, "transmitter never finished"
    return np.concatenate(out)


def _burst(src: str, rate: int, data: np.ndarray, **kw) -> np.ndarray:
    if src == "ours":
        tx = modem.transmitter("v27ter", rate, **kw)
    else:
        tx = sp.V27terTx(rate, level_dbm0=kw.get("level_dbm0", -10.0), tep=kw.get("tep", False))
    tx.send(data)
    return _drain(tx)


_BURSTS: dict = {}


def _cached_burst(src: str, rate: int) -> np.ndarray:
    key = (src, rate)
    if key not in _BURSTS:
        _BURSTS[key] = _burst(src, rate, _data())
    return _BURSTS[key]


def _channel(burst: np.ndarray, snr=None, law=None, ppm=0, hz=0.0, level=None,
             seed=0, floor=False) -> np.ndarray:
    """Impair a burst: level, clock offset, carrier offset, silence around it, AWGN over
    the burst (its first to last non-zero sample; everywhere with ``floor``), G.711."""
    return burst_channel(burst, level=level, ppm=ppm, hz=hz, lead=LEAD, tail=2400, snr=snr,
                         noise="all" if floor else "active", rng=np.random.default_rng(seed),
                         law=law)


def _ours_rx(rate: int, sig: np.ndarray, block: int = 160):
    rx = modem.receiver("v27ter", rate)
    bits = []
    for i in range(0, len(sig), block):
        rx.rx(sig[i:i + block])
        bits.append(rx.bits())
    return np.concatenate(bits), rx.events()


def _spandsp_rx(rate: int, sig: np.ndarray):
    rx = sp.V27terRx(rate)
    rx.rx(sig)
    return rx.bits(), rx.events()


def _errors(data, got) -> int:
    errors, compared, offset = dsp.bit_errors(data, got)
    assert compared == len(data)
    if errors == 0:
        # the data starts with the first bit delivered: no stray bits before it
        assert offset == 0, f"{offset} extra bits before the data"
    return errors


IMPAIRMENTS = {
    "clean": {},
    "snr30": {"snr": 30},
    "ulaw": {"law": "ulaw"},
    "alaw": {"law": "alaw"},
    "clock+100ppm": {"ppm": 100},
    "clock-100ppm": {"ppm": -100},
    "carrier+7Hz": {"hz": 7.0},
    "carrier-7Hz": {"hz": -7.0},
}


# --------------------------------------------------------------------------- spandsp -> ours


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", list(IMPAIRMENTS))
def test_spandsp_to_ours(rate, name):
    sig = _channel(_cached_burst("spandsp", rate), **IMPAIRMENTS[name])
    got, events = _ours_rx(rate, sig)
    kinds = [e.kind for e in events]
    assert kinds == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN], events
    assert _errors(_data(), got) == 0


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level", [-5, -24, -43])
@pytest.mark.parametrize("law", [None, "ulaw", "alaw"])
def test_spandsp_to_ours_levels(rate, level, law):
    sig = _channel(_cached_burst("spandsp", rate), level=level, law=law)
    got, events = _ours_rx(rate, sig)
    assert TRAINING_SUCCEEDED in [e.kind for e in events]
    assert _errors(_data(), got) == 0


@pytest.mark.parametrize("rate", RATES)
def test_spandsp_to_ours_combined_with_noise_floor(rate):
    """Everything at once, with the noise also present before the burst (carrier detect
    fires on the noise first; the receiver must still find the training)."""
    sig = _channel(_cached_burst("spandsp", rate), snr=30, law="alaw", ppm=100, hz=-7.0,
                   level=-20, floor=True)
    got, events = _ours_rx(rate, sig)
    assert TRAINING_SUCCEEDED in [e.kind for e in events]
    assert _errors(_data(), got) == 0


@pytest.mark.parametrize("rate", RATES)
def test_spandsp_with_tep_to_ours(rate):
    """spandsp's optional talker echo protection tone (unmodulated carrier, silence)
    before the training."""
    data = _data(5000, seed=2)
    sig = _channel(_burst("spandsp", rate, data, tep=True), snr=30)
    got, events = _ours_rx(rate, sig)
    assert TRAINING_SUCCEEDED in [e.kind for e in events]
    assert _errors(data, got) == 0


@pytest.mark.slow
@pytest.mark.parametrize("rate,snr", [(4800, 14), (4800, 12), (2400, 6)])
def test_no_more_errors_than_spandsp_in_noise(rate, snr):
    """Same noisy spandsp signal into both receivers: ours makes no more bit errors."""
    data = _data(NBITS, seed=31)
    sig = _channel(_burst("spandsp", rate, data), snr=snr, seed=32)
    ours, events = _ours_rx(rate, sig)
    theirs, their_events = _spandsp_rx(rate, sig)
    assert TRAINING_SUCCEEDED in [e.kind for e in events]
    assert sp.SIG_STATUS_TRAINING_SUCCEEDED in [e[0] for e in their_events]
    ours_err, theirs_err = _errors(data, ours), _errors(data, theirs)
    assert theirs_err < 0.01 * NBITS  # the region the comparison is about
    assert ours_err <= theirs_err


# --------------------------------------------------------------------------- ours -> spandsp


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", [n for n in IMPAIRMENTS if "ppm" not in n])
def test_ours_to_spandsp(rate, name):
    sig = _channel(_cached_burst("ours", rate), **IMPAIRMENTS[name])
    got, events = _spandsp_rx(rate, sig)
    assert sp.SIG_STATUS_TRAINING_SUCCEEDED in [e[0] for e in events]
    assert _errors(_data(), got) == 0


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("ppm", [100, -100])
def test_ours_to_spandsp_clock_offset(rate, ppm):
    """spandsp 0.0.6's own receiver drifts out of symbol sync about 3 s into a burst at
    +-100 ppm (its own transmitter too), so the 21 000 bits go as three 7000-bit bursts,
    as T.30 sends a TCF and pages: each burst retrains."""
    total = 0
    for k in range(3):
        data = _data(7000, seed=10 + k)
        sig = _channel(_burst("ours", rate, data), ppm=ppm)
        got, events = _spandsp_rx(rate, sig)
        assert sp.SIG_STATUS_TRAINING_SUCCEEDED in [e[0] for e in events]
        assert _errors(data, got) == 0
        total += len(data)
    assert total >= NBITS


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level", [-5, -24])
def test_ours_to_spandsp_levels(rate, level):
    tx_level = float(level)
    sig = _channel(_burst("ours", rate, _data(), level_dbm0=tx_level))
    # our transmit level is what was asked for (measured over the data part)
    mid = sig[LEAD + 8000:LEAD + 16000]
    assert dsp.level_dbm0(mid) == pytest.approx(tx_level, abs=0.3)
    got, events = _spandsp_rx(rate, sig)
    assert sp.SIG_STATUS_TRAINING_SUCCEEDED in [e[0] for e in events]
    assert _errors(_data(), got) == 0


@pytest.mark.parametrize("rate", RATES)
def test_tep_and_streaming_fill(rate):
    """Talker echo protection tone, then data queued in pieces with final=False (the
    transmitter fills with ones while the queue is dry), then the end of the burst."""
    a, b = _data(3000, seed=5), _data(3000, seed=6)
    tx = v27ter.Transmitter(rate, tep=True)
    tx.send(a, final=False)
    parts = [tx.tx(8000 * 3)]  # training + a + some fill ones
    tx.send(b, final=True)
    parts.append(_drain(tx))
    sig = np.concatenate([np.zeros(LEAD, np.int16), *parts, np.zeros(2400, np.int16)])
    for got in (_ours_rx(rate, sig)[0], _spandsp_rx(rate, sig)[0]):
        errors, _, off = dsp.bit_errors(a, got)
        assert errors == 0
        rest = got[off + len(a):]
        errors, _, off_b = dsp.bit_errors(b, rest, max_shift=len(rest))
        assert errors == 0
        assert off_b > 100 and np.all(rest[:off_b] == 1)  # the fill: binary ones


# --------------------------------------------------------------------------- our own pair


@pytest.mark.parametrize("rate", RATES)
def test_block_sizes_give_identical_results(rate):
    data = _data(3000, seed=3)
    sig = _channel(_burst("ours", rate, data), snr=25, seed=4)
    ref_bits, ref_events = _ours_rx(rate, sig, block=8000)
    assert _errors(data, ref_bits) == 0
    for block in (1, 7, 160, 1023):
        got, events = _ours_rx(rate, sig, block=block)
        assert np.array_equal(got, ref_bits)
        assert events == ref_events


@pytest.mark.parametrize("rate", RATES)
def test_two_bursts_retrain(rate):
    a, b = _data(2000, seed=7), _data(2000, seed=8)
    sig = np.concatenate([_channel(_burst("ours", rate, a)), _channel(_burst("ours", rate, b))])
    rx = modem.receiver("v27ter", rate)
    rx.rx(sig[:len(sig) // 2])
    first = rx.bits()
    assert not rx.trained
    rx.rx(sig[len(sig) // 2:])
    second = rx.bits()
    kinds = [e.kind for e in rx.events()]
    assert kinds == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN] * 2
    assert _errors(a, first) == 0 and _errors(b, second) == 0


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("floor_dbm0", [None, -30.0])
def test_bursts_end_cleanly_even_over_a_noise_floor(rate, floor_dbm0):
    """Two spandsp bursts, optionally over a continuous noise floor far above the carrier
    threshold (-30 dBm0, 20 dB below the signal): both are received, and after each data
    block only the transmitter's closing binary ones come out, no noise-made garbage."""
    a, b = _data(3000, seed=21), _data(3000, seed=22)
    gap = np.zeros(4000)
    x = np.concatenate([gap, _burst("spandsp", rate, a), gap, _burst("spandsp", rate, b), gap])
    if floor_dbm0 is not None:
        x = x + dsp.awgn(len(x), floor_dbm0, np.random.default_rng(23))
    got, events = _ours_rx(rate, dsp.to_int16(x))
    assert [e.kind for e in events] == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN] * 2
    errors, _, off = dsp.bit_errors(a, got)
    assert errors == 0
    rest = got[off + len(a):]
    errors, _, off_b = dsp.bit_errors(b, rest, max_shift=len(rest))
    assert errors == 0
    bps = 3 if rate == 4800 else 2
    for tail in (rest[:off_b], rest[off_b + len(b):]):
        # spandsp sends 32 symbols of ones, then fills its last 160-sample block
        assert np.all(tail == 1) and len(tail) <= 60 * bps


@pytest.mark.parametrize("rate", RATES)
def test_late_start_inside_segment_4(rate):
    """A receiver switched on 300 symbols into segment 4 (reversals missed) still finds
    its place in the known training pattern and trains on the rest."""
    data = _data(3000, seed=41)
    burst = _burst("spandsp", rate, data)
    start = int(np.nonzero(burst)[0][0])
    sps = 5.0 if rate == 4800 else 20.0 / 3.0
    sig = _channel(burst[start + int((50 + 300) * sps):], snr=30)
    got, events = _ours_rx(rate, sig)
    assert TRAINING_SUCCEEDED in [e.kind for e in events]
    assert _errors(data, got) == 0


@pytest.mark.parametrize("rate", RATES)
def test_transmitter_block_size_independent(rate):
    data = _data(500, seed=42)
    ref = _burst("ours", rate, data)
    tx = modem.transmitter("v27ter", rate)
    tx.send(data)
    sizes = [1, 2, 3, 5, 7, 11, 13, 100, 1000]
    out, k = [], 0
    while not tx.done:
        out.append(tx.tx(sizes[k % len(sizes)]))
        k += 1
    got = np.concatenate(out)
    n = min(len(got), len(ref))
    assert np.array_equal(got[:n], ref[:n]) and not got[n:].any() and not ref[n:].any()


@pytest.mark.parametrize("rate", RATES)
def test_empty_burst_is_training_only(rate):
    tx = modem.transmitter("v27ter", rate)
    tx.send([])
    sig = _channel(_drain(tx))
    got, events = _ours_rx(rate, sig)
    assert [e.kind for e in events] == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN]
    assert np.all(got == 1)  # only the closing binary ones


def test_event_times_and_trained_flag():
    rate = 4800
    sig = _channel(_burst("ours", rate, _data(4800)))
    rx = modem.receiver("v27ter", rate)
    rx.rx(sig[:LEAD + 4000])
    assert rx.trained is False
    rx.rx(sig[LEAD + 4000:LEAD + 12000])
    assert rx.trained is True
    rx.rx(sig[LEAD + 12000:])
    assert rx.trained is False
    ev = rx.events()
    up, ok, down = (e.sample for e in ev)
    # 20 ms silence then the reversals: carrier up within a few ms of their start
    assert LEAD + 160 <= up < LEAD + 160 + 80
    # training is 50 + 1074 + 8 symbols of 5 samples after the reversals start
    assert ok == pytest.approx(LEAD + 160 + 1132 * 5, abs=80)
    assert down > ok + 1600 * 5


def test_scrambler_guard_fires_and_round_trips():
    """The repeated-pattern guard inverts bits regularly in random data (so the 20 000-bit
    interop tests above exercise it against spandsp); the descrambler undoes it."""
    from faxcore.modem.v27ter_core import Scrambler

    bits = _data(20000)
    reg, plain = 0x3C, []
    for b in bits.tolist():  # the same scrambler without the guard
        b ^= ((reg >> 5) ^ (reg >> 6)) & 1
        reg = ((reg << 1) | b) & 0xFFFF
        plain.append(b)
    guarded = Scrambler(0x3C).run(bits)
    assert np.count_nonzero(guarded != np.array(plain, np.uint8)) > 0
    for bits in (_data(20000), np.ones(5000, np.uint8), np.zeros(5000, np.uint8)):
        line = Scrambler(0x3C).run(bits)
        assert np.array_equal(Scrambler(0x3C, descramble=True).run(line), bits)
        # self-synchronising: a descrambler started in any state recovers after 12 bits
        assert np.array_equal(Scrambler(0x55, 7, descramble=True).run(line)[12:], bits[12:])


# --------------------------------------------------------------------------- bad input


def test_noise_only_never_trains():
    rng = np.random.default_rng(11)
    noise = dsp.to_int16(dsp.awgn(8000 * 5, -20.0, rng))
    for rate in RATES:
        rx = modem.receiver("v27ter", rate)
        rx.rx(noise)
        kinds = [e.kind for e in rx.events()]
        assert kinds[0] == CARRIER_UP and TRAINING_SUCCEEDED not in kinds
        assert TRAINING_FAILED in kinds  # 5 s of carrier with no training sequence
        assert rx.bits().size == 0 and not rx.trained


def test_silence_gives_nothing():
    rx = modem.receiver("v27ter", 4800)
    rx.rx(np.zeros(16000, np.int16))
    assert rx.events() == [] and rx.bits().size == 0


@pytest.mark.parametrize("other", ["v29", "v21"])
def test_other_modems_are_not_taken_for_v27ter(other):
    """A V.29 (9600) or V.21 burst of about 2 s: carrier seen, training reported failed,
    no bits."""
    data = _data(19200 if other == "v29" else 600, seed=9)
    tx = sp.V29Tx(9600) if other == "v29" else sp.V21Tx()
    tx.send(data)
    sig = np.concatenate([np.zeros(LEAD, np.int16), _drain(tx, limit_s=30),
                          np.zeros(LEAD, np.int16)])
    for rate in RATES:
        rx = modem.receiver("v27ter", rate)
        rx.rx(sig)
        kinds = [e.kind for e in rx.events()]
        assert kinds == [CARRIER_UP, TRAINING_FAILED, CARRIER_DOWN]
        assert rx.bits().size == 0


@pytest.mark.parametrize("rate", RATES)
def test_low_snr_fails_or_delivers_mostly_right_bits(rate):
    """Down to hopeless SNR the receiver either reports training_failed (no bits), or
    trains and delivers data with a bit error rate far from the 50 % of garbage."""
    data = _data(6000, seed=12)
    burst = _burst("spandsp", rate, data)
    outcomes = set()
    for snr in (0, 3, 6):
        got, events = _ours_rx(rate, _channel(burst, snr=snr, seed=snr))
        kinds = [e.kind for e in events]
        if TRAINING_SUCCEEDED in kinds:
            assert _errors(data, got) < 0.1 * len(data)
            outcomes.add("trained")
        else:
            assert TRAINING_FAILED in kinds and got.size == 0
            outcomes.add("failed")
    assert "failed" in outcomes  # 0 dB is beyond it


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-32768, 32767), min_size=0, max_size=3000),
       st.integers(1, 500), st.sampled_from(RATES))
def test_fuzz_receiver_never_crashes(values, block, rate):
    rx = modem.receiver("v27ter", rate)
    x = np.array(values, dtype=np.int16)
    for i in range(0, max(len(x), 1), block):
        rx.rx(x[i:i + block])
    assert rx.bits().dtype == np.uint8
    assert all(e.kind in (CARRIER_UP, CARRIER_DOWN, TRAINING_FAILED) for e in rx.events())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 700), st.integers(0, 3), st.integers(1, 900), st.integers(1, 900),
       st.sampled_from(RATES), st.integers(0, 2**31))
def test_loopback_any_length_and_blocks(nbits, pieces, tx_block, rx_block, rate, seed):
    """Our transmitter into our receiver: any number of bits, sent in pieces (the last
    final), any block sizes on either side: the bits come back exactly, then only the
    closing ones."""
    data = np.random.default_rng(seed).integers(0, 2, nbits).astype(np.uint8)
    tx = modem.transmitter("v27ter", rate)
    cuts = sorted(np.random.default_rng(seed + 1).integers(0, nbits + 1, pieces).tolist())
    pieces = list(zip([0] + cuts, cuts + [nbits], strict=True))
    for i, (a, b) in enumerate(pieces):
        tx.send(data[a:b], final=(i == len(pieces) - 1))
    audio = [np.zeros(LEAD, np.int16)]
    while not tx.done:
        audio.append(tx.tx(tx_block))
    sig = np.concatenate(audio + [np.zeros(1200, np.int16)])
    got, events = _ours_rx(rate, sig, block=rx_block)
    assert [e.kind for e in events] == [CARRIER_UP, TRAINING_SUCCEEDED, CARRIER_DOWN]
    assert np.array_equal(got[:nbits], data)
    assert np.all(got[nbits:] == 1)


def test_receiver_rejects_bad_samples():
    rx = modem.receiver("v27ter", 4800)
    with pytest.raises(ValueError):
        rx.rx(np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        rx.rx(np.array([70000]))
    rx.rx([])  # nothing to do


def test_transmitter_contract():
    tx = modem.transmitter("v27ter", 4800)
    with pytest.raises(ValueError):
        tx.send(b"\x00\x02")
    with pytest.raises(TypeError):
        modem.transmitter("v27ter", 4800, bogus=1)
    with pytest.raises(ValueError):
        modem.transmitter("v27ter", 9600)
    with pytest.raises(ValueError):
        modem.transmitter("v27ter", 4800, level_dbm0=6.0)
    tx.send(bytes([1, 0, 1, 1]))
    out = tx.tx(0)
    assert out.dtype == np.int16 and out.size == 0
    burst = _drain(tx, block=333)
    assert tx.done
    # 20 ms silence + 50 + 1074 + 8 training symbols + 2 data + 32 ones + filter tail
    assert 160 + (1132 + 2 + 32) * 5 <= np.nonzero(burst)[0][-1] < 160 + (1132 + 2 + 32 + 9) * 5
    assert np.all(tx.tx(1000) == 0)
    with pytest.raises(RuntimeError):
        tx.send([1, 0])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(RATES), st.sampled_from(["noise", "rail", "square", "loud"]),
       st.integers(1, 4000), st.integers(0, 2**32 - 1))
def test_trained_receiver_survives_hostile_tail(rate, kind, block, seed):
    """Trained, then full-scale garbage pushes the equaliser and loops far outside their
    range: no crash or hang, only 0/1 bits, and the next clean burst is received exactly."""
    rng = np.random.default_rng(seed)
    burst = _burst("ours", rate, _data(3000, seed=51))
    n = 16000
    tail = {
        "noise": lambda: rng.integers(-32768, 32768, n).astype(np.int16),
        "rail": lambda: np.repeat(np.array([32767, -32768], np.int16), n // 2),
        "square": lambda: np.where(np.sin(2 * np.pi * 1800 * np.arange(n) / 8000) >= 0,
                                   32767, -32768).astype(np.int16),
        "loud": lambda: np.clip(burst.astype(np.int64) * 300, -32768, 32767).astype(np.int16),
    }[kind]()
    x = np.concatenate([np.zeros(LEAD, np.int16), burst[:-1500], tail])
    rx = modem.receiver("v27ter", rate)
    for i in range(0, len(x), block):
        rx.rx(x[i:i + block])
    bits = rx.bits()
    assert TRAINING_SUCCEEDED in [e.kind for e in rx.events()]
    assert bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    rx.rx(np.zeros(8000, np.int16))
    rx.bits()
    rx.events()
    data = _data(3000, seed=52)
    rx.rx(_channel(_burst("ours", rate, data)))
    assert _errors(data, rx.bits()) == 0
