"""The fast V.17/V.29 transmitter (issue 14: :class:`faxcore.modem.qam_core.QamTxCore`,
bits -> symbols -> float32 folded-carrier shaper in one C pass) against the plain
reading kept beside it (``reference=True``: complex symbol arrays from ``v17_symbols`` /
``v29_symbols``, then the double-precision :class:`faxcore.modem.qam_core.Modulator`).

The fast path sums in float32, so a sample may differ from the reference by one LSB
where the reference sits near a rounding boundary; never more. Everything else is the
same: burst length, the look-ahead answers (``sure_samples``, ``continues_past``,
``buffered``), ``done``, the coder state at the end."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import qam, qam_core, v17, v29
from faxcore.testing.modem_rig import two_piece_burst_digest

CASES = [("v29", 7200, {}), ("v29", 9600, {}),
         ("v17", 7200, {}), ("v17", 9600, {}), ("v17", 12000, {}), ("v17", 14400, {}),
         ("v17", 7200, {"short_train": True}), ("v17", 14400, {"short_train": True})]


def _burst(name: str, rate: int, opts: dict, reference: bool, block: int, seed: int,
           level: float | None = None):
    """A 4 s random burst in two pieces, the queue running dry in between (fill)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 2, rate * 2 + 5, dtype=np.uint8)
    second = rng.integers(0, 2, rate * 2 - 3, dtype=np.uint8)
    if level is not None:
        opts = dict(opts, level_dbm0=level)
    tx = modem.transmitter(name, rate, reference=reference, **opts)
    tx.send(first, final=False)
    late = int(8000 * (len(first) / rate)) + 4000    # 0.5 s of fill before the rest
    out, look, total, sent = [], [], 0, False
    while not tx.done:
        if not sent and total >= late:
            tx.send(second, final=True)
            sent = True
        out.append(tx.tx(block))
        look.append((tx.buffered, tx.sure_samples(), tx.continues_past(block), tx.done))
        total += block
        assert total < 8000 * 10
    return np.concatenate(out).astype(np.int64), look, tx


@pytest.mark.parametrize("name,rate,opts", CASES)
@pytest.mark.parametrize("block", [160, 37])
def test_fast_transmitter_within_one_lsb_of_reference(name, rate, opts, block):
    fast, look_f, txf = _burst(name, rate, opts, False, block, seed=rate + block)
    ref, look_r, txr = _burst(name, rate, opts, True, block, seed=rate + block)
    assert len(fast) == len(ref)
    assert look_f == look_r                           # same look-ahead, block by block
    diff = np.abs(fast - ref)
    assert diff.max() <= 1
    # near a rounding boundary only: a few samples in ten thousand
    assert np.count_nonzero(diff) <= 0.005 * len(ref)
    # the start (training from silence) and the end (closing ones, ring-out) too
    nz = np.flatnonzero(ref)
    assert np.abs(fast[:nz[0] + 2000] - ref[:nz[0] + 2000]).max() <= 1
    assert np.abs(fast[nz[-1] - 2000:] - ref[nz[-1] - 2000:]).max() <= 1
    assert not fast[nz[-1] + 1:].any()
    assert np.abs(ref).max() > 8000                  # a real signal was compared
    # the compiled coder ends where the plain one does
    if name == "v17":
        assert txf._enc_state() == (txr._scr, txr._diff, txr._conv)
    else:
        assert txf._enc_state() == (txr._scr, txr._abs_phase)


@pytest.mark.parametrize("name,rate", [("v29", 9600), ("v17", 14400)])
@pytest.mark.parametrize("level", [3.0, -43.0])
def test_fast_transmitter_levels(name, rate, level):
    """At full level (+3 dBm0: peaks near the int16 limits, the clamp) and near the
    bottom of the range the fast path stays within one LSB of the reference."""
    fast, _, _ = _burst(name, rate, {}, False, 160, seed=3, level=level)
    ref, _, _ = _burst(name, rate, {}, True, 160, seed=3, level=level)
    assert len(fast) == len(ref)
    assert np.abs(fast - ref).max() <= 1


@pytest.mark.parametrize("carrier", [1800.0, 1700.0, 0.0, 2000.0])
def test_shaper_matches_modulator_on_arbitrary_symbols(carrier):
    """The shaper alone, on non-integer symbols of any size (clipping included), fed in
    uneven pieces, against the double-precision Modulator fed the same pieces."""
    rng = np.random.default_rng(int(carrier) + 1)
    pulse = qam.tx_pulse()
    gain = 300.0
    ref = qam_core.Modulator(pulse, carrier, gain)
    core = qam_core.QamTxCore()
    core._init_shaper(pulse, carrier, gain)
    got, want = [], []
    for k in [0, 1, 2, 7, 240, 3, 500, 1, 0, 64]:
        sym = (rng.normal(0, 6, k) + 1j * rng.normal(0, 6, k)).astype(np.complex128)
        sym[::97] *= 20                               # some far outside: clipped output
        want.append(ref.modulate(sym))
        n = core._modulate_symbols(sym)
        assert n == len(want[-1])
        got.append(core.tx(n))
    got_a = np.concatenate(got).astype(np.int64)
    want_a = np.concatenate(want).astype(np.int64)
    assert np.abs(got_a - want_a).max() <= 1
    assert (want_a == 32767).any() and (want_a == -32768).any()
    assert np.array_equal(got_a == 32767, want_a == 32767)


def test_fast_core_refuses_bad_input():
    core = qam_core.QamTxCore()
    with pytest.raises(RuntimeError):
        core._modulate_symbols(np.zeros(3, np.complex128))     # no shaper yet
    core._init_shaper(qam.tx_pulse(), 1800.0, 100.0)
    with pytest.raises(ValueError):
        core._modulate_symbols(np.array([1 + 1j, np.nan], np.complex128))
    with pytest.raises(RuntimeError):
        core._modulate_bits(np.ones(6, np.uint8))              # no coder yet
    core._init_v17(v17.CONSTELLATIONS[14400], 6)
    with pytest.raises(ValueError):
        core._modulate_bits(np.ones(7, np.uint8))              # not whole symbols
    with pytest.raises(ValueError):
        core._init_v17(v17.CONSTELLATIONS[7200], 6)             # too few points
    with pytest.raises(ValueError):
        core._init_v29(np.array([1, 0, 2, 3, 6, 7, 5, 9], np.uint8), v29.POINTS, 4)
    with pytest.raises(ValueError):
        core._init_shaper(np.ones(400), 1800.0, 1.0)           # pulse too long
    with pytest.raises(ValueError):
        core._init_shaper(qam.tx_pulse(), 1234.567, 1.0)       # no short carrier period
    assert core.buffered == 0


#: the digests tests/modem/test_tx_block_samples.py held for V.17/V.29 before the fast
#: path (recorded at commit f94fb12): the reference path must still give exactly these
REFERENCE_DIGESTS: dict[tuple[str, int, int], str] = {
    ("v29", 7200, 1): "4e35793acdc8a65481efe32bdee1eda1a1a2226d256d6e7493b7c51a84c8e37f",
    ("v29", 7200, 37): "7d6412a3532a1a9ac41d31e7ff9affb8b5094d48d1f601b157f1e1203349dbb8",
    ("v29", 7200, 160): "fcae9b050d9b81aee22ad36e22668fc6db85db9f565ed1e48dd72d410860cbb5",
    ("v29", 7200, 800): "b4c785be06329648d1db166a13324a9b9b8d48f41a7e2ce6a69073f060995dd8",
    ("v29", 9600, 1): "1d2575261efc91b7166843e9ad43f4a7c4cd95a90e7d809ddfc3032192b9712f",
    ("v29", 9600, 37): "f0729c2f4546545f2a3c1e701bd77a392253e40ec2045972f80b149a99a052ac",
    ("v29", 9600, 160): "f27fafbc86320c66339c7b96aaafc394747cbdc45e5d232ced2e3b100881db63",
    ("v29", 9600, 800): "bf729bf016291214cc2bedfd40bb6db6814aba4241529822adeffbc8005f1c19",
    ("v17", 7200, 1): "4ad74bc4f1b00bf4a97b277c4fd06dfdb7e8c55b2e7a90919520e1d7238b6659",
    ("v17", 7200, 37): "72ce8d2869a372b5d711053c152cee270958900e3e7d77207b3b626dfa12e377",
    ("v17", 7200, 160): "f92c1eb95e45637254295c708bfe043eca84bc8fc57c346321dcd2b6f388f4b3",
    ("v17", 7200, 800): "71418869a9a94abd09d1504611a19826b49f415afbf38e9edfa6e1b61674c032",
    ("v17", 9600, 1): "82a77a805db183bc9f4a4a1a2326fae56e4c793b482fac7611c543cfe21b0135",
    ("v17", 9600, 37): "bbba971d801f03aea371c3a0a6acfd67d38e0763a9176ae494a644aabbf8e5c4",
    ("v17", 9600, 160): "59e2ba6d0300f3141924c9feb3f15856e16ff57dca2bd108d6f6307f4bcd44ad",
    ("v17", 9600, 800): "4f760706fa81a7ccb92595b5afe6517d97ad8c0a0d6701be61217a65b3bc482f",
    ("v17", 12000, 1): "2eafd7f8b12656c5a246127c9c5cb163dbe1a41d51d438a95b878e4ccce5415e",
    ("v17", 12000, 37): "2b82c6d45097da34d05a2f48a47862aec447eceb6ce224b5ab82500223070e0d",
    ("v17", 12000, 160): "cc6a6bec74136cf4ed7d87dc44f863035bed18d22cac5d7d19cf877b349ea62a",
    ("v17", 12000, 800): "d2f3fbdabe1ad8df7b944d9dcd778748612e720d647e55077eb25bcb49719854",
    ("v17", 14400, 1): "284765be643e6cf7870e0c47b1a816e86ba273a39fc1cd6faf4ddf814fa80297",
    ("v17", 14400, 37): "0a13178b17bf5ab807bcf6892c53ba692fd378e98a504b8790558ccc05fdf6fd",
    ("v17", 14400, 160): "64a3b20d6925634d22f14bb3b36e09ab4a3925f070b3f2dd292d78ad032c0868",
    ("v17", 14400, 800): "3eb53c382beb2ecadb17a7c6424ec6263298747a00587bb0f023ebb7da1a2683",
}


@pytest.mark.parametrize("key", sorted(REFERENCE_DIGESTS))
def test_reference_path_is_the_old_transmitter(key):
    """``reference=True`` is the transmitter as it was (sample for sample, look-ahead
    answers included), so the comparisons above are against the old waveform."""
    assert two_piece_burst_digest(*key, reference=True)[0] == REFERENCE_DIGESTS[key]


@pytest.mark.parametrize("name,bps", [("v17", 3), ("v17", 4), ("v17", 5), ("v17", 6),
                                      ("v29", 3), ("v29", 4)])
def test_compiled_coder_matches_plain_coder(name, bps):
    """The compiled coder (a symbol's bits scrambled at once, the register kept
    bit-reversed, eight bytes gathered per load) against ``v17_symbols`` /
    ``v29_symbols`` from random register, differential and trellis states, in pieces of
    every length (the short ones take the byte-by-byte gather); bytes other than 0/1 use
    bit 0, as the plain coder does."""
    rng = np.random.default_rng(bps * 7 + len(name))
    pulse = qam.tx_pulse()
    core = qam_core.QamTxCore()
    core._init_shaper(pulse, 1800.0, 200.0)
    mod = qam_core.Modulator(pulse, 1800.0, 200.0)
    reg = int(rng.integers(0, 1 << 23))
    if name == "v17":
        pts = {3: v17.CONSTELLATIONS[7200], 4: v17.CONSTELLATIONS[9600],
               5: v17.CONSTELLATIONS[12000], 6: v17.CONSTELLATIONS[14400]}[bps]
        diff, conv = int(rng.integers(0, 4)), int(rng.integers(0, 8))
        core._init_v17(pts, bps)
        core._set_v17_state(reg, diff, conv)
        state = (reg, diff, conv)
    else:
        core._init_v29(v29._STEP_U8, v29._POINTS_C, bps)
        phase = int(rng.integers(0, 8))
        core._set_v29_state(reg, phase)
        state = (reg, phase)
    got, want = [], []
    for k in [1, 2, 1, 3, 7, 100, 1, 0, 33, 240, 5]:
        bits = rng.integers(0, 2, k * bps, dtype=np.uint8)
        bits[::5] |= 2                                # bit 0 is the data bit
        if name == "v17":
            sym, *st = qam_core.v17_symbols(bits, state[0], state[1], state[2], bps, pts, 18)
        else:
            sym, *st = qam_core.v29_symbols(bits, state[0], state[1], bps, v29._STEP_U8,
                                            v29._POINTS_C, 18)
        state = tuple(int(x) for x in st)
        want.append(mod.modulate(sym))
        n = core._modulate_bits(bits)
        assert n == len(want[-1])
        got.append(core.tx(n))
        assert core._enc_state() == state
    diff_ = np.abs(np.concatenate(got).astype(np.int64) - np.concatenate(want))
    assert diff_.max() <= 1


@pytest.mark.parametrize("name,rate,opts", [("v17", 14400, {}), ("v17", 9600, {"short_train": True}),
                                            ("v29", 7200, {})])
def test_training_cache_gives_the_same_burst(name, rate, opts):
    """A burst whose set-up (tables) and training come from the caches (shaper and coder
    state restored) is sample for sample the burst that computed them; other levels are
    other entries."""
    qam._TRAINING_CACHE.clear()
    qam._PROTOTYPES.clear()
    computed, look_c, _ = _burst(name, rate, opts, False, 160, seed=11)
    assert len(qam._TRAINING_CACHE) == 1 and len(qam._PROTOTYPES) == 1
    cached, look_h, _ = _burst(name, rate, opts, False, 160, seed=11)
    assert len(qam._TRAINING_CACHE) == 1
    assert np.array_equal(computed, cached) and look_c == look_h
    quieter, _, _ = _burst(name, rate, opts, False, 160, seed=11, level=-20.0)
    assert len(qam._TRAINING_CACHE) == 2
    assert np.abs(quieter).max() < np.abs(cached).max() // 2


@pytest.mark.parametrize("name,rate", [("v29", 9600), ("v17", 14400), ("v17", 7200)])
@pytest.mark.parametrize("pieces", [(3000,), (3001, 17, 2999, 1003)])
def test_queue_keeps_the_bits_it_points_into(name, rate, pieces):
    """The queue reads the caller's arrays in place: an array sent as a temporary (the
    queue holds the only reference) stays valid while its bits are coded, the last ones
    included (a use-after-free found while writing the fast path: the closing chunk was
    copied from an array the queue had just let go of, and came out as garbage)."""
    def run(reference: bool) -> np.ndarray:
        rng = np.random.default_rng(5)
        tx = modem.transmitter(name, rate, reference=reference)
        for i, k in enumerate(pieces):
            tx.send(rng.integers(0, 2, k, dtype=np.uint8), final=i == len(pieces) - 1)
        out, i = [], 0
        sizes = [160, 37, 1, 400, 41, 160]
        while not tx.done:
            out.append(tx.tx(sizes[i % len(sizes)]))
            i += 1
            junk = [np.full(n, 7, np.uint8) for n in (*pieces, 960, 4000)]
            del junk
        return np.concatenate(out).astype(np.int64)
    fast, ref = run(False), run(True)
    assert len(fast) == len(ref)
    assert np.abs(fast - ref).max() <= 1


@pytest.mark.parametrize("carrier", [1800.0, 1700.0])
def test_shaper_pieces_give_the_samples_and_state_of_one_call(carrier):
    """The usual pulse's four-sample path keeps the symbol window in registers (shifted
    one symbol at a time, reloaded from the ring after a single-sample step): symbols
    fed in uneven pieces (every piece ends in single-sample steps, the next begins
    with a reload) give exactly the samples and the shaper state (ring included) of
    the same symbols in one call."""
    rng = np.random.default_rng(int(carrier) + 5)
    pulse = qam.tx_pulse()
    sym = (rng.normal(0, 6, 900) + 1j * rng.normal(0, 6, 900)).astype(np.complex128)
    whole = qam_core.QamTxCore()
    whole._init_shaper(pulse, carrier, 300.0)
    n = whole._modulate_symbols(sym)
    want = whole.tx(n)
    parts = qam_core.QamTxCore()
    parts._init_shaper(pulse, carrier, 300.0)
    got, i = [], 0
    for k in [1, 2, 3, 1, 5, 7, 1, 1, 13, 2, 40, 1, 3] * 30:
        if i >= len(sym):
            break
        m = parts._modulate_symbols(sym[i:i + k])
        got.append(parts.tx(m))
        i += k
    assert i >= len(sym)
    assert np.array_equal(np.concatenate(got), want)
    sw, sp = whole._shaper_state(), parts._shaper_state()
    assert sw[:3] == sp[:3]
    assert np.array_equal(sw[3], sp[3])
