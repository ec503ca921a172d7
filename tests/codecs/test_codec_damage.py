"""Damaged and hostile streams: damaged-row replacement (MH/MR), stop-at-error (MMR) and
fuzzing of every decoder with truncated, bit-flipped and random data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.codecs import decode, encode, tables
from faxcore.testing.pages import row_runs

WIDTH = 256


def _page(rows=40, seed=1) -> np.ndarray:
    return row_runs(rows, WIDTH, seed, runs=6, length=40)

def _bits(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


def _bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _eol_positions(bits: str, tagged: bool) -> list[int]:
    """Bit offsets just after each row's EOL (+ tag) in an eol_align=False stream."""
    out, i = [], 0
    while True:
        i = bits.find(tables.EOL, i)
        if i < 0:
            return out
        out.append(i + 12 + int(tagged))
        i += 12


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("damage", ["invalid", "short", "long"])
@pytest.mark.parametrize("bad", [0, 7, 20, 39])
def test_damaged_row_replaced_by_previous(scheme, damage, bad):
    bm = _page()
    data = encode(bm, scheme, k=4, end_marker=True)
    bits = _bits(data)
    starts = _eol_positions(bits, scheme == "mr")[: bm.shape[0] + 1]
    s, e = starts[bad], starts[bad + 1] - 12 - (scheme == "mr")
    row_bits = bits[s:e]
    if damage == "invalid":
        # 000000001 is not a valid white code or mode code (and no EOL): resync at next EOL
        row_bits = "000000001" + row_bits
    elif damage == "short":
        row_bits = row_bits[: len(row_bits) // 2]
        # make sure the cut does not leave a stray EOL-like run of zeros or a valid row
        row_bits = row_bits.rstrip("0") or "1"
    else:
        row_bits = row_bits + "1" + row_bits
    damaged = _bytes(bits[:s] + row_bits + bits[e:])
    page = decode(damaged, scheme, WIDTH)
    expect = bm.copy()
    expect[bad] = bm[bad - 1] if bad > 0 else 0
    assert page.rows == bm.shape[0]
    assert page.error is not None and f"row {bad}" in page.error
    assert page.end_marker_seen
    if scheme == "mh":
        assert page.bad_row_indices == [bad], (page.bad_row_indices, page.error)
        assert page.bad_rows == 1 and page.max_consecutive_bad_rows == 1
        np.testing.assert_array_equal(page.bitmap, expect)
    else:
        # MR: 2-D rows after the damaged one refer to the replacement row, so they can be
        # wrong (or undecodable, hence also counted bad) until the next 1-D row (K=4);
        # every row before the damage and from the next 1-D row on is exact
        next_1d = (bad // 4 + 1) * 4
        assert page.bad_row_indices[0] == bad
        assert set(page.bad_row_indices) <= set(range(bad, next_1d))
        np.testing.assert_array_equal(page.bitmap[: bad + 1], expect[: bad + 1])
        np.testing.assert_array_equal(page.bitmap[next_1d:], expect[next_1d:])
        if bad % 4 == 3:
            assert page.bad_row_indices == [bad]
            np.testing.assert_array_equal(page.bitmap, expect)


def test_consecutive_bad_rows_counted():
    bm = _page()
    bits = _bits(encode(bm, "mh"))
    starts = _eol_positions(bits, False)
    out = bits
    for r in (30, 12, 11, 10):  # damage rows 10-12 and 30, from the back
        out = out[: starts[r]] + "000000001" + out[starts[r]:]
    page = decode(_bytes(out), "mh", WIDTH)
    assert page.bad_row_indices == [10, 11, 12, 30]
    assert page.max_consecutive_bad_rows == 3
    expect = bm.copy()
    expect[10:13] = bm[9]
    expect[30] = bm[29]
    np.testing.assert_array_equal(page.bitmap, expect)


def test_mmr_stops_at_first_error():
    bm = _page()
    data = encode(bm, "mmr")
    bits = _bits(data)
    # find the bit offset of row 25 by encoding the first 25 rows alone
    cut = len(_bits(encode(bm[:25], "mmr", end_marker=False)).rstrip("0"))
    prefix = _bits(encode(bm[:25], "mmr", end_marker=False))[:cut]
    assert bits.startswith(prefix)
    page = decode(_bytes(prefix + "0000001111" + bits[cut:]), "mmr", WIDTH)
    assert page.rows in (25, 24) and page.error is not None and not page.end_marker_seen
    np.testing.assert_array_equal(page.bitmap, bm[: page.rows])
    # truncated MMR stream: rows up to the cut, clear error
    for cut in range(len(data) // 2 - 4, len(data) // 2 + 4):
        page = decode(data[:cut], "mmr", WIDTH, rows=bm.shape[0])
        assert page.error is not None and 0 < page.rows < bm.shape[0]
        assert not page.end_marker_seen
        np.testing.assert_array_equal(page.bitmap, bm[: page.rows])


def test_truncated_mh_keeps_rows_before_the_cut():
    bm = _page()
    data = encode(bm, "mh")
    page = decode(data[: len(data) // 2], "mh", WIDTH)
    assert not page.end_marker_seen
    good = page.rows - page.bad_rows
    assert good > 5
    np.testing.assert_array_equal(page.bitmap[:good], bm[:good])


# ---------------------------------------------------------------------------------------
# fuzzing: never a crash, a hang or an out-of-range result
# ---------------------------------------------------------------------------------------

_VALID = {
    s: [encode(_page(rows=12, seed=i), s, **({"eol_align": True} if i % 2 and s != "mmr" else {}))
        for i in range(4)]
    for s in ("mh", "mr", "mmr")
}


def _check(page, data, width, rows=None):
    assert page.bitmap.shape == (page.rows, width)
    assert page.bitmap.dtype == np.uint8 and page.bitmap.max(initial=0) <= 1
    assert 0 <= page.bad_rows <= page.rows
    assert page.bad_rows == len(page.bad_row_indices)
    assert page.consumed_bits <= 8 * len(data)
    assert page.rows <= 8 * len(data) + 1
    if rows is not None:
        assert page.rows <= rows
    if page.scheme == "mmr":
        assert page.bad_rows == 0


@settings(max_examples=9000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["mh", "mr", "mmr"]),
    which=st.integers(0, 3),
    flips=st.lists(st.integers(0, 10**6), max_size=6),
    cut=st.floats(0.0, 1.0),
    lsb=st.booleans(),
)
def test_fuzz_bitflips_and_truncation(scheme, which, flips, cut, lsb):
    data = bytearray(_VALID[scheme][which])
    for f in flips:
        data[(f // 8) % len(data)] ^= 1 << (f % 8)
    data = bytes(data[: int(len(data) * cut)])
    page = decode(data, scheme, WIDTH, lsb_first=lsb)
    _check(page, data, WIDTH)


@settings(max_examples=9000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["mh", "mr", "mmr"]),
    data=st.binary(max_size=400),
    width=st.sampled_from([1, 2, 5, 8, 13, 100, 1728, 4000, 65535]),
    rows=st.one_of(st.none(), st.integers(0, 50)),
    k=st.one_of(st.none(), st.integers(1, 8)),
)
def test_fuzz_random_streams(scheme, data, width, rows, k):
    page = decode(data, scheme, width, rows=rows, k=k if scheme == "mr" else None)
    _check(page, data, width, rows)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(["mh", "mr", "mmr"]), n=st.integers(0, 5000),
       byte=st.sampled_from([0x00, 0xFF, 0x80, 0x01, 0x55]))
def test_fuzz_degenerate_streams(scheme, n, byte):
    data = bytes([byte]) * n
    page = decode(data, scheme, 1728)
    _check(page, data, 1728)


def test_row_cap_bounds_memory():
    # 4000 bytes of V0 codes would be 32000 all-white MMR rows; the cap stops it
    data = b"\xff" * 4000
    page = decode(data, "mmr", 65535)
    assert page.rows == (1 << 28) // 65535 and "limit" in page.error
    page = decode(data, "mmr", 1728, rows=100)
    assert page.rows == 100 and page.error is None


def test_premature_eol_is_reported_and_next_row_kept():
    """A row cut short by an EOL: counted bad, and the EOL still starts the next row."""
    w = tables.WHITE_TERMINATING
    b = tables.BLACK_TERMINATING
    eol = tables.EOL
    full = w[10] + b[20] + w[34]  # 10 white, 20 black, 34 white = 64 pixels
    bits = eol + full + eol + w[10] + b[20] + eol + full + eol * 6
    page = decode(_bytes(bits), "mh", 64)
    assert page.rows == 3
    assert page.bad_row_indices == [1]
    assert page.error == "row 1: EOL inside the row (row too short)"
    assert page.end_marker_seen
    row = np.zeros(64, np.uint8)
    row[10:30] = 1
    np.testing.assert_array_equal(page.bitmap, np.stack([row, row, row]))


def test_mmr_error_messages():
    row = np.zeros((1, 64), np.uint8)
    good = _bits(encode(row, "mmr", end_marker=False))[:1]  # V0: one all-white row
    page = decode(_bytes(good + "0000001" + "111"), "mmr", 64)  # extension code
    assert page.rows == 1 and "extension" in page.error
    page = decode(_bytes(good + tables.EOL + "1"), "mmr", 64)
    assert page.rows == 1 and "EOL" in page.error
    page = decode(_bytes(good + tables.EOL * 2), "mmr", 64)
    assert page.rows == 1 and page.error is None and page.end_marker_seen
