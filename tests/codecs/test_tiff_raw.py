"""Raw .g3/.g4 streams: page splitting at RTC/EOFB, options, damaged and hostile input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxcore.codecs import encode
from faxcore.codecs.raw import raw_bytes, read_raw, split_pages, write_raw
from faxcore.codecs.tiff import Page


def _page(h, w, seed):
    rng = np.random.default_rng(seed)
    bm = np.zeros((h, w), np.uint8)
    for y in range(h):
        cuts = np.sort(rng.integers(0, w, size=6))
        for a, b in zip(cuts[::2], cuts[1::2], strict=True):
            bm[y, a:b] = 1
    return bm


PAGES = [_page(30, 200, 1), _page(1, 200, 2), np.zeros((12, 200), np.uint8),
         np.ones((5, 200), np.uint8)]


@pytest.mark.parametrize("lsb", [False, True])
@pytest.mark.parametrize("scheme, align",    # MMR has no EOLs to align
                         [("mh", False), ("mh", True), ("mr", False), ("mr", True),
                          ("mmr", False)])
def test_multipage_roundtrip(scheme, lsb, align):
    data = raw_bytes(PAGES, scheme, lsb_first=lsb, eol_align=align, k=3)
    pages = read_raw(data, scheme, 200, lsb_first=lsb, xres=204, yres=98)
    assert len(pages) == len(PAGES)
    for i, (p, want) in enumerate(zip(pages, PAGES, strict=True)):
        np.testing.assert_array_equal(p.bitmap, want)
        assert p.error is None and p.bad_rows == 0 and p.page_number == i
        assert (p.xres, p.yres, p.scheme) == (204, 98, scheme)


def test_min_row_bits_and_write_raw(tmp_path):
    path = tmp_path / "x.g3"
    n = write_raw(path, PAGES[:2], "mh", min_row_bits=192)
    assert n == path.stat().st_size > 31 * 192 // 8
    pages = read_raw(path, "mh", 200)
    np.testing.assert_array_equal(pages[0].bitmap, PAGES[0])


def test_split_points_are_after_rtc():
    for scheme in ("mh", "mr", "mmr"):
        a, b = (encode(p, scheme) for p in PAGES[:2])
        chunks = split_pages(a + b + bytes(3), scheme)
        assert chunks == [(a, True), (b, True)], scheme


def test_damaged_rtc_still_ends_the_page():
    # Keep 4 of RTC's 6 EOLs (cut 24 bits by rebuilding the stream without end marker).
    rows = encode(PAGES[0], "mh", end_marker=False)
    eol = "000000000001"
    bits = "".join(f"{b:08b}" for b in rows).rstrip("0")   # drop the pad
    bits += eol * 4
    bits += "0" * (-len(bits) % 8)
    page1 = int(bits, 2).to_bytes(len(bits) // 8, "big")
    pages = read_raw(page1 + encode(PAGES[1], "mh"), "mh", 200)
    assert len(pages) == 2
    np.testing.assert_array_equal(pages[1].bitmap, PAGES[1])


def test_truncated_stream_is_a_partial_page():
    data = raw_bytes(PAGES[:1], "mmr")
    (p,) = read_raw(data[: len(data) // 2], "mmr", 200)
    assert 0 < p.height < 30 and "EOFB" in p.error
    np.testing.assert_array_equal(p.bitmap[: p.height - 1], PAGES[0][: p.height - 1])
    (q,) = read_raw(raw_bytes(PAGES[:1], "mh")[:-20], "mh", 200)
    assert "RTC" in q.error


def test_corrupt_mh_rows_are_replaced_and_counted():
    data = bytearray(raw_bytes(PAGES[:1], "mh"))
    for i in range(60, 70):
        data[i] ^= 0x5A
    (p,) = read_raw(bytes(data), "mh", 200)
    # Rows before the damage survive; damaged rows are replaced and counted (rows whose
    # EOL was destroyed merge into their neighbour, so the page may come out shorter).
    np.testing.assert_array_equal(p.bitmap[:5], PAGES[0][:5])
    assert p.bad_rows > 0 and 20 <= p.height <= 30 and p.error


def test_page_rows_cuts_streams_without_end_markers():
    for scheme in ("mh", "mr", "mmr"):
        data = b"".join(encode(p, scheme, end_marker=False) for p in (PAGES[0], PAGES[0]))
        pages = read_raw(data, scheme, 200, page_rows=30)
        assert len(pages) == 2, scheme
        for p in pages:
            np.testing.assert_array_equal(p.bitmap, PAGES[0])
            assert p.error is None


def test_no_page_and_bad_arguments():
    with pytest.raises(ValueError, match="no decodable"):
        read_raw(b"", "mh", 1728)
    with pytest.raises(ValueError, match="no decodable"):
        read_raw(bytes(100), "mmr", 1728)
    with pytest.raises(ValueError, match="scheme"):
        read_raw(b"\x00\x10", "g5", 1728)
    with pytest.raises(ValueError):
        read_raw(b"\x00\x10", "mh", 0)
    with pytest.raises(ValueError):
        raw_bytes([], "mh")
    with pytest.raises(ValueError):
        raw_bytes([Page(PAGES[0])], "jbig")


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["mh", "mr", "mmr"]), st.binary(max_size=300),
       st.lists(st.integers(0, 8 * 900), max_size=5))
def test_fuzz_raw_reader(scheme, noise, flips):
    data = bytearray(raw_bytes(PAGES[:2], scheme) + noise)
    for f in flips:
        if f // 8 < len(data):
            data[f // 8] ^= 1 << (f % 8)
    try:
        pages = read_raw(bytes(data), scheme, 200)
    except ValueError:
        return
    for p in pages:
        assert p.bitmap.ndim == 2 and p.bitmap.shape[1] == 200 and p.bitmap.dtype == np.uint8
