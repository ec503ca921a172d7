"""The T.85 encoder's own AT pixel choice (``jbig.encode(auto_at=True)``): the statistics
against their plain reading, streams the plain-Python reference decodes to the same pixels,
at most one ATMOVE per stripe at its first line, and a halftone that gets much smaller."""

import re
import struct

import numpy as np
import pytest

from faxcore.codecs import _jbig, jbig, jbig_reference, pack
from faxcore.testing.pages import bayer_halftone


def _text_like(rows: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = (rng.random((rows, width)) < 0.05).astype(np.uint8)
    a[rows // 2: rows // 2 + 4] = 0
    a[:, width // 3] = 1
    return a


def _atmoves(data: bytes) -> list[tuple[int, int, int]]:
    """(byte offset, YAT, tx) of every ATMOVE segment (the markers are not in SCD bytes:
    a coded 0xFF is always followed by a stuffed 0x00)."""
    return [(m.start(), *struct.unpack(">IB", data[m.start() + 2:m.start() + 7]))
            for m in re.finditer(b"\xff\x06", data)]


@pytest.mark.parametrize("two_line", [False, True])
@pytest.mark.parametrize("tpbon", [False, True])
@pytest.mark.parametrize("mx", [19, 63, 100])       # 100: the loop over t, not the bits
def test_the_counts_equal_their_plain_reading(two_line, tpbon, mx):
    a = np.vstack([bayer_halftone(12, 150, 4, scale=(37.0, 23.0)), _text_like(14, 150, 5)])
    a[20] = a[19]                                      # a typical line
    a[5, :40] = 0                                      # white blocks inside a busy line
    p = pack(a)
    for first, count, top in ((0, 26, 0), (3, 20, 0), (9, 11, 9), (25, 1, 0)):
        fast = _jbig.at_counts(p.data, p.width, first, count, top, two_line, tpbon, mx)
        plain = jbig_reference.at_counts(a, first, count, top, two_line, tpbon, mx)
        assert np.array_equal(fast, plain), (first, count, top)


def test_the_cost_estimate_equals_its_plain_reading():
    a = np.vstack([bayer_halftone(20, 64, 8, scale=(37.0, 23.0)), _text_like(20, 64, 3)])
    counts = _jbig.at_counts(pack(a).data, 64, 0, 40, 0, False, True, 12)
    fast = jbig.at_costs(counts)
    plain = jbig_reference.at_cost_bits(counts)
    assert np.isinf(fast[1]) and np.isinf(fast[2])
    assert np.allclose(fast, plain, rtol=1e-12)
    assert int(np.argmin(fast)) in (4, 8)            # the Bayer period or its half


@pytest.mark.parametrize("two_line", [False, True])
@pytest.mark.parametrize("l0,sdrst", [(16, False), (7, True), (1000, False)])
def test_auto_at_streams_decode_with_the_reference(two_line, l0, sdrst):
    a = np.vstack([bayer_halftone(40, 90, 8, scale=(37.0, 23.0)), _text_like(30, 90, 2), bayer_halftone(40, 90, 4, scale=(37.0, 23.0))])
    data = jbig.encode(a, auto_at=True, two_line=two_line, l0=l0, sdrst=sdrst)
    assert np.array_equal(jbig_reference.decode(data), a)
    p = jbig.decode(data)
    assert p.error is None and np.array_equal(p.bitmap, a)


def test_moves_are_at_stripe_starts_within_mx():
    a = np.vstack([bayer_halftone(300, 400, 8, scale=(37.0, 23.0)), _text_like(200, 400, 1), bayer_halftone(300, 400, 4, scale=(37.0, 23.0))])
    data = jbig.encode(a, auto_at=True, l0=100)
    bih = jbig.parse_bih(data)
    assert bih["mx"] == jbig.AT_MAX
    moves = _atmoves(data)
    assert moves, "the halftones should move the AT pixel"
    stripe_starts = [m.end() for m in re.finditer(b"\xff\x02", data)]
    for _off, yat, tx in moves:
        assert yat == 0 and (tx == 0 or 3 <= tx <= bih["mx"])
    # one ATMOVE at most between two SDNORMs (jbigkit's T.85 decoder takes one a stripe)
    bounds = [20, *stripe_starts]
    per_stripe = [sum(lo <= off < hi for off, _, _ in moves)
                  for lo, hi in zip(bounds, bounds[1:], strict=False)]
    assert max(per_stripe) <= 1
    assert {tx for _, _, tx in moves} & {4, 8}         # the halftone periods


def test_auto_at_makes_an_ordered_halftone_much_smaller():
    a = bayer_halftone(600, 1728, 8, scale=(37.0, 23.0))
    plain = jbig.encode(a)
    moved = jbig.encode(a, auto_at=True)
    assert len(moved) < 0.6 * len(plain), (len(moved), len(plain))
    assert np.array_equal(jbig.decode(moved).bitmap, a)


def test_auto_at_never_costs_more_than_the_marker_on_text():
    """A move is kept only when the stripe coded with it (plus its ATMOVE) is shorter."""
    a = _text_like(500, 1728, 9)
    assert len(jbig.encode(a, auto_at=True)) <= len(jbig.encode(a))


def test_auto_at_off_is_unchanged_and_auto_at_refuses_given_moves():
    a = bayer_halftone(64, 100, 8, scale=(37.0, 23.0))
    assert jbig.encode(a, auto_at=False) == jbig.encode(a)
    with pytest.raises(ValueError):
        jbig.encode(a, auto_at=True, at_moves={0: 8})
    with pytest.raises(ValueError):
        _jbig.at_counts(pack(a).data, 100, 0, 64, 0, False, True, 128)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 9])
def test_narrow_pages(width):
    a = bayer_halftone(50, width, 4, scale=(37.0, 23.0))
    data = jbig.encode(a, auto_at=True, l0=8)
    assert np.array_equal(jbig_reference.decode(data), a)
    assert all(tx < max(width, 3) or tx == 0 for _, _, tx in _atmoves(data))


def test_random_small_pages_with_the_at_choice_round_trip(monkeypatch):
    """Random shapes and options (periodic rows, blank and repeated lines, SDRST), the
    margins off so that small stripes move too: every stream decodes to the page, with
    the fast decoder and the reference."""
    monkeypatch.setattr(jbig, "AT_MARGIN_SHARE", 0.0)
    monkeypatch.setattr(jbig, "AT_MARGIN_BITS", 0.0)
    rng = np.random.default_rng(2026)
    moved = 0
    for _ in range(60):
        rows, width = int(rng.integers(1, 50)), int(rng.integers(1, 90))
        period = int(rng.integers(3, 12))
        a = (rng.random((rows, width)) < rng.random()).astype(np.uint8)
        a[:, ::period] |= (rng.random((rows, 1)) < 0.7).astype(np.uint8)
        a[rng.random(rows) < 0.2] = 0
        kw = dict(two_line=bool(rng.integers(2)), tpbon=bool(rng.integers(2)),
                  l0=int(rng.integers(1, 40)), sdrst=bool(rng.integers(2)),
                  mx=int(rng.integers(0, 128)))
        data = jbig.encode(a, auto_at=True, **kw)
        moved += b"\xff\x06" in data
        p = jbig.decode(data)
        assert p.error is None and np.array_equal(p.bitmap, a), kw
        assert np.array_equal(jbig_reference.decode(data), a), kw
    assert moved
