"""The white-run fast path of the T.85 line loops (faxcore.codecs._jbig): with it on and
off (``set_fast_runs``), the coded bytes and the decoded pixels (and errors) are the same,
on pages made to stop runs at every place the fast path counts (line ends, 8-byte load
edges, the coder's renormalisation points), with both templates, TPBON on and off, AT
moves, and on damaged streams; the plain-Python reference decoder agrees."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from faxcore.codecs import _jbig, jbig, jbig_reference


@contextmanager
def _plain() -> Iterator[None]:
    _jbig.set_fast_runs(False)
    try:
        yield
    finally:
        _jbig.set_fast_runs(True)


def _sparse(rows: int, width: int, seed: int, density: float) -> np.ndarray:
    """Mostly white with isolated black pixels and short strokes: white runs of every
    length, above-line ink that ends runs at every offset."""
    rng = np.random.default_rng(seed)
    a = (rng.random((rows, width)) < density).astype(np.uint8)
    for _ in range(rows // 4):
        y, x = rng.integers(0, rows), rng.integers(0, width)
        a[y, x: x + rng.integers(1, 12)] = 1
    a[rows // 2: rows // 2 + 3] = 0                   # white lines (TPBON, long runs)
    return a


PAGES = [(_sparse(40, w, seed, d), w) for seed, (w, d) in enumerate(
    [(1, 0.1), (2, 0.05), (7, 0.02), (8, 0.02), (9, 0.01), (15, 0.02), (16, 0.01),
     (17, 0.005), (63, 0.01), (64, 0.003), (65, 0.02), (200, 0.002), (1728, 0.001),
     (1728, 0.01), (1731, 0.0005)])]


def _both(fn, *args, **kwargs):
    fast = fn(*args, **kwargs)
    with _plain():
        plain = fn(*args, **kwargs)
    return fast, plain


@pytest.mark.parametrize("two_line", [False, True])
@pytest.mark.parametrize("tpbon", [False, True])
def test_fast_and_plain_code_the_same_bytes_and_pixels(two_line, tpbon):
    for a, w in PAGES:
        kw = {"two_line": two_line, "tpbon": tpbon, "l0": 16}
        fast, plain = _both(jbig.encode, a, **kw)
        assert fast == plain, w
        pf, pp = _both(jbig.decode, fast)
        assert pf.error is None and pp.error is None
        assert np.array_equal(pf.bitmap, a) and np.array_equal(pp.bitmap, a), w


@pytest.mark.parametrize("two_line", [False, True])
def test_the_reference_decoder_agrees_with_the_fast_path(two_line):
    for a, w in PAGES[:11]:
        data = jbig.encode(a, two_line=two_line, l0=16, at_moves={10: 5, 25: 0})
        assert np.array_equal(jbig_reference.decode(data), a), w
        assert np.array_equal(jbig.decode(data).bitmap, a), w


def test_a_long_white_page_with_rare_dots():
    """Whole white lines under a trained all-white context: the runs are cut by the coder
    (A reaching 0x8000), not by ink; a dot every few hundred lines retrains it."""
    a = np.zeros((600, 1728), np.uint8)
    a[::97, ::331] = 1
    a[300, 1727] = 1
    a[301, 0] = 1
    for kw in ({}, {"two_line": True}, {"tpbon": False}):
        fast, plain = _both(jbig.encode, a, **kw)
        assert fast == plain
        assert np.array_equal(jbig.decode(fast).bitmap, a)


def test_damaged_streams_decode_alike_with_and_without_the_fast_path():
    """Truncated and bit-flipped streams: same rows so far, same pixels, same error."""
    rng = np.random.default_rng(7)
    for a, w in PAGES[8:]:
        for two_line in (False, True):
            data = jbig.encode(a, two_line=two_line, l0=8)
            for trial in range(12):
                b = bytearray(data)
                if trial % 3 == 0:
                    b = b[: rng.integers(20, len(b))]
                else:
                    for _ in range(trial):
                        i = rng.integers(20, len(b))
                        b[i] ^= 1 << rng.integers(0, 8)
                pf, pp = _both(jbig.decode, bytes(b))
                assert pf.error == pp.error, (w, trial)
                assert np.array_equal(pf.bitmap, pp.bitmap), (w, trial)


def test_pad_bits_of_the_rows_are_ignored():
    """Rows unpack whole bytes through a table and the last partial byte pixel by pixel:
    set pad bits past the width change nothing (and do not leak into the white margin
    that the next line's context reads)."""
    for a, w in PAGES:
        if w % 8 == 0:
            continue
        clean = jbig.encode(a, l0=16)
        rows = np.packbits(a, axis=1)
        rows[:, -1] |= (1 << (8 - w % 8)) - 1          # every pad bit set
        model = _jbig.Model(w, False, True)
        sde = _jbig.encode_stripe(model, rows, 0, 16, {})
        assert sde in clean, w
        page = jbig.decode(clean)
        assert np.array_equal(page.bitmap, a)
        assert not np.any(page.packed.data[:, -1] & ((1 << (8 - w % 8)) - 1)), w
