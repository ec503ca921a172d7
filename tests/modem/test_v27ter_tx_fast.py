"""The V.27ter transmitter's per-period shaper and compiled data path (issue 14) against
their plain readings: ``PskShaper.run`` (the double-precision sample-by-sample loop) and
``Scrambler`` + ``psk_diff_map`` for the bits.

The per-period form sums the same products in another order (one table entry per tap
and sample: gain x pulse x carrier folded together), so a sample may round the other way
only if it lies within ~1e-11 of a half LSB: the bound is 1 LSB, and in practice none
differs (the block digests of test_tx_block_samples.py did not change)."""

from __future__ import annotations

import numpy as np
import pytest
from faxcore.modem.v27ter_core import PskShaper, Scrambler, psk_diff_map

from faxcore.modem import v27ter

RATES = [2400, 4800]


def _shaper(rate: int) -> tuple[PskShaper, float]:
    tx = v27ter.Transmitter(rate)
    num, den = (5, 1) if rate == 4800 else (20, 3)
    p = np.arange(num)[:, None] / num
    j = np.arange(2 * v27ter.TX_SPAN + 1)[None, :]
    return PskShaper(num, den, v27ter.rrc(j + p - v27ter.TX_SPAN)), tx.gain


def _symbols(rng: np.random.Generator, n: int) -> np.ndarray:
    s = rng.integers(0, 8, n).astype(np.int8)
    s[rng.random(n) < 0.1] = -1      # zero symbols (silence, ring-down) among them
    return s


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("gain_scale", [1.0, 10.0])   # x10: peaks past int16 (the clamp)
def test_fast_shaper_within_one_lsb_of_reference(rate: int, gain_scale: float) -> None:
    rng = np.random.default_rng(rate)
    ref, gain = _shaper(rate)
    fast, _ = _shaper(rate)
    gain *= gain_scale
    fast.set_gain(gain)
    assert fast.fast_ok
    total = 0
    a, b = [], []
    sizes = [1, 2, 3, 5, 7, 13, 37, 160, 161, 800]
    for i in range(900):
        n = sizes[i % len(sizes)]
        sy = _symbols(rng, ref.symbols_needed(n))
        assert fast.symbols_needed(n) == len(sy)
        a.append(ref.run(sy, n, gain))
        b.append(fast.run_fast(sy, n))
        total += n
    ref_out, fast_out = np.concatenate(a), np.concatenate(b)
    diff = np.abs(ref_out.astype(np.int32) - fast_out.astype(np.int32))
    assert total > 100000
    assert int(diff.max()) <= 1
    assert np.count_nonzero(diff) <= total // 100000   # a rounding tie at most, rarely
    if gain_scale > 1.0:
        assert np.count_nonzero(np.abs(ref_out.astype(np.int32)) >= 32767) > 100


@pytest.mark.parametrize("rate", RATES)
def test_fast_and_plain_shaper_calls_mix(rate: int) -> None:
    """``run`` and ``run_fast`` on one shaper, switching mid symbol period: the fast form
    remakes the period it resumes in (its samples are not carried over from before)."""
    rng = np.random.default_rng(7 + rate)
    ref, gain = _shaper(rate)
    mixed, _ = _shaper(rate)
    mixed.set_gain(gain)
    a, b = [], []
    for i in range(400):
        n = int(rng.integers(1, 12))
        sy = _symbols(rng, ref.symbols_needed(n))
        a.append(ref.run(sy, n, gain))
        b.append(mixed.run(sy, n, gain) if i % 3 == 0 else mixed.run_fast(sy, n))
    d = np.abs(np.concatenate(a).astype(np.int32) - np.concatenate(b).astype(np.int32))
    assert int(d.max()) <= 1


def test_fast_shaper_refuses_bad_use() -> None:
    shaper = PskShaper(5, 1, np.ones((5, 8)))
    with pytest.raises(ValueError):
        shaper.run_fast(np.zeros(shaper.symbols_needed(10), np.int8), 10)   # no tables yet
    with pytest.raises(ValueError):
        shaper.set_gain(float("nan"))
    shaper.set_gain(100.0)
    with pytest.raises(ValueError):
        shaper.run_fast(np.zeros(3, np.int8), 10)   # wrong symbol count


def _plain_burst(rate: int, data: np.ndarray) -> tuple[np.ndarray, PskShaper, float]:
    """The whole burst of ``send(data, final=True)`` from the plain pieces: training,
    then the data, padded to whole symbols, and 32 symbols of ones, scrambled and
    differentially encoded, then the filter's ring-down (zero symbols)."""
    bps = 3 if rate == 4800 else 2
    sps = 5.0 if rate == 4800 else 20.0 / 3.0
    tx = v27ter.Transmitter(rate)
    scr = Scrambler(v27ter.SCRAMBLER_SEED)
    training, state = tx._training_symbols(scr, False, sps)
    pad = (-len(data)) % bps
    bits = np.concatenate([data, np.ones(pad + v27ter.SHUTDOWN_SYMBOLS * bps, np.uint8)])
    sy, _ = psk_diff_map(scr.run(bits), bps, v27ter._STEP[rate], state)
    ring = np.full(2 * v27ter.TX_SPAN + 1, -1, np.int8)
    shaper, gain = _shaper(rate)
    return np.concatenate([training, sy, ring]), shaper, tx.gain


@pytest.mark.parametrize("rate", RATES)
def test_tx_burst_equals_plain_reading(rate: int) -> None:
    """The compiled data path (queue, scrambler, encoder, chunking) gives the burst the
    plain pieces give: one send, blocks of random sizes."""
    rng = np.random.default_rng(rate)
    data = rng.integers(0, 2, 3001, dtype=np.uint8)
    symbols, shaper, gain = _plain_burst(rate, data)
    tx = v27ter.Transmitter(rate)
    tx.send(data)
    out = []
    while not tx.done:
        out.append(tx.tx(int(rng.integers(1, 400))))
    _same_burst(np.concatenate(out), symbols, shaper, gain)


@pytest.mark.parametrize("rate", RATES)
def test_tx_many_sends_equal_one(rate: int) -> None:
    """Data sent in many pieces while the burst is on (the queue moved to the front of
    its buffer or grown as it fills; never running dry, so no fill between) gives the
    burst of the data sent at once."""
    rng = np.random.default_rng(rate + 1)
    pieces = [rng.integers(0, 2, 6000, dtype=np.uint8)]
    pieces += [rng.integers(0, 2, 100 + i % 7, dtype=np.uint8) for i in range(80)]
    symbols, shaper, gain = _plain_burst(rate, np.concatenate(pieces))
    tx = v27ter.Transmitter(rate)
    out = []
    for k, piece in enumerate(pieces):
        tx.send(piece, final=k == len(pieces) - 1)
        assert tx.sure_samples() > 0
        out.append(tx.tx(160))
    while not tx.done:
        out.append(tx.tx(160))
    assert tx.queued_bits == 0
    _same_burst(np.concatenate(out), symbols, shaper, gain)


def _same_burst(got: np.ndarray, symbols: np.ndarray, shaper: PskShaper, gain: float) -> None:
    # the burst ends with the block that takes its last symbol; zeros after it
    n = shaper.samples_for(len(symbols))
    assert shaper.symbols_needed(n) == len(symbols)
    want = shaper.run(symbols, n, gain)
    assert len(got) >= n
    d = np.abs(got[:n].astype(np.int32) - want.astype(np.int32))
    assert int(d.max()) <= 1 and np.count_nonzero(d) <= 1
    assert not np.any(got[n:])


def _plain_scrambler(bits: np.ndarray, descramble: bool, reg: int = 0x3C) -> tuple[np.ndarray, int]:
    """The scrambler as V.27ter reads: line = in ^ line[-6] ^ line[-7]; a guard counts
    the bits in a row equal to the line bit 8, 9 or 12 back, and after 33 of them the
    next bit is inverted (the descrambler watches the received line bits the same way)."""
    count = 0
    inverted = 0
    out = []
    for b in bits.tolist():
        line = b if descramble else (b ^ (reg >> 5) ^ (reg >> 6)) & 1
        res = (b ^ (reg >> 5) ^ (reg >> 6)) & 1 if descramble else line
        if count >= 33:
            count = 0
            inverted += 1
            res ^= 1
            if not descramble:
                line ^= 1
        elif line in ((reg >> 7) & 1, (reg >> 8) & 1, (reg >> 11) & 1):
            count += 1
        else:
            count = 0
        out.append(res)
        reg = ((reg << 1) | line) & 0xFFFF
    return np.array(out, np.uint8), inverted


@pytest.mark.parametrize("descramble", [False, True])
def test_scrambler_guard_as_plain_reading(descramble: bool) -> None:
    """The compiled (branch-free) guard inverts the same bits as the plain reading, on
    data and on the repetitive patterns that make it act (all ones, all zeros, short
    periods)."""
    rng = np.random.default_rng(5)
    bits = np.concatenate([rng.integers(0, 2, 3000), np.ones(500), np.zeros(500),
                           np.tile([1, 0, 0], 300), np.tile([1, 1, 0, 1, 0, 0, 0, 1], 120),
                           rng.integers(0, 2, 500)]).astype(np.uint8)
    got = Scrambler(0x3C, 0, descramble).run(bits)
    want, inverted = _plain_scrambler(bits, descramble)
    assert np.array_equal(got, want)
    assert inverted >= 3      # the guard did act
    if not descramble:
        assert np.array_equal(Scrambler(0x3C, 0, True).run(got), bits)
