"""JBIG (Compression 34661) pages in TIFF: libtiff's layout, both bit orders, damage."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import jbig
from faxcore.codecs.t4 import PAGE_OVERHEAD_PIXELS
from faxcore.codecs.tiff import (
    COMPRESSION_JBIG,
    Page,
    TiffTooLarge,
    read_tiff,
    tiff_bytes,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "tiff"
_REV = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def _page(h: int = 300, w: int = 1728) -> np.ndarray:
    rng = np.random.default_rng(7)
    bm = np.zeros((h, w), np.uint8)
    bm[10:20, 5:300] = 1
    bm[h // 2, :] = 1
    bm[200:290:3, 100:900:2] = 1 if h > 290 else 0
    bm[-40:-10, 1000:1400] = rng.integers(0, 2, (30, 400), dtype=np.uint8)
    return bm


def _strip(data: bytes) -> tuple[int, int, int]:
    """(offset, count, fill order) of page 1's only strip, read from the IFD."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    tags = {}
    for i in range(n):
        tag, typ, cnt, val = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        tags[tag] = val & 0xFFFF if typ == 3 else val
    return tags[273], tags[279], tags[266]


@pytest.mark.parametrize("fill", [1, 2])
def test_round_trip_pixels_and_scheme(fill: int) -> None:
    bm = _page()
    data = tiff_bytes([Page(bm, 204, 196), bm[:77]], "jbig", fill_order=fill)
    pages = read_tiff(data)
    assert [p.scheme for p in pages] == ["jbig", "jbig"]
    assert np.array_equal(pages[0].bitmap, bm)
    assert np.array_equal(pages[1].bitmap, bm[:77])
    assert pages[0].error is None and pages[0].fill_order == fill
    assert pages[0].extra["strips"] == 1


def test_layout_is_libtiffs() -> None:
    """One strip, Compression 34661, the BIE bit-reversed under FillOrder 1 (as tif_jbig.c)."""
    bm = _page()
    data = tiff_bytes([bm], "jbig", rows_per_strip=16)   # ignored: JBIG is one strip
    off, cnt, fill = _strip(data)
    assert fill == 1
    assert struct.pack("<HHIH", 259, 3, 1, COMPRESSION_JBIG) in data
    bie = _REV[np.frombuffer(data[off:off + cnt], np.uint8)].tobytes()
    assert bie[:3] == b"\x00\x00\x01"                      # DL=0 D=0 P=1 after reversal
    assert struct.unpack(">II", bie[4:12]) == (1728, 300)  # XD, YD
    dp = jbig.decode(bie)
    assert np.array_equal(dp.bitmap, bm)
    plain = tiff_bytes([bm], "jbig", fill_order=2)
    off2, cnt2, fill2 = _strip(plain)
    assert fill2 == 2 and plain[off2:off2 + 3] == b"\x00\x00\x01"


def test_reads_bie_in_either_bit_order_whatever_fill_order_says() -> None:
    """A writer that stored the BIE unreversed under FillOrder 1 is read too."""
    bm = _page(h=120)
    data = bytearray(tiff_bytes([bm], "jbig", fill_order=1))
    off, cnt, _ = _strip(bytes(data))
    data[off:off + cnt] = _REV[np.frombuffer(bytes(data[off:off + cnt]), np.uint8)].tobytes()
    (p,) = read_tiff(bytes(data))
    assert p.error is None and np.array_equal(p.bitmap, bm)


def test_libtiff_written_seed_decodes() -> None:
    """tests/corpus/tiff/jbig-libtiff.bin: written by Debian's ``tiffcp -c jbig`` (jbigkit)."""
    (p,) = read_tiff(CORPUS / "jbig-libtiff.bin")
    assert p.scheme == "jbig" and p.error is None and p.bitmap.shape == (50, 64)
    want = np.zeros((50, 64), np.uint8)
    want[10:20, 5:30] = 1
    want[30, :] = 1
    assert np.array_equal(p.bitmap, want)


def test_truncated_strip_is_partial_page() -> None:
    bm = _page()
    data = bytearray(tiff_bytes([bm], "jbig"))
    off, cnt, _ = _strip(bytes(data))
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 279:     # StripByteCounts: cut short
            struct.pack_into("<I", data, at + 8, cnt // 3)
    (p,) = read_tiff(bytes(data))
    assert p.bitmap.shape == bm.shape
    assert p.bad_rows > 0 and p.error
    good = bm.shape[0] - p.bad_rows
    assert np.array_equal(p.bitmap[:good], bm[:good])


def test_bih_width_mismatch_is_error_not_crash() -> None:
    bm = _page(h=40)
    data = bytearray(tiff_bytes([bm], "jbig", fill_order=2))
    off, _, _ = _strip(bytes(data))
    data[off + 4:off + 8] = struct.pack(">I", 1000)          # BIH XD != ImageWidth
    (p,) = read_tiff(bytes(data))
    assert p.error and "XD=1000" in p.error
    assert p.bad_rows == 40 and not p.bitmap.any()


def test_budget_refuses_before_decoding() -> None:
    data = tiff_bytes([_page(), _page()], "jbig")
    with pytest.raises(TiffTooLarge) as ei:
        read_tiff(data, max_document_pixels=1728 * 300 + PAGE_OVERHEAD_PIXELS + 10)
    assert len(ei.value.pages) == 1


def test_tall_bih_is_capped_by_image_length() -> None:
    """A BIE that codes more lines than ImageLength gives ImageLength rows, no more."""
    bm = _page(h=300)
    data = bytearray(tiff_bytes([bm], "jbig"))
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    for i in range(n):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] in (257, 278):   # ImageLength, RowsPerStrip
            struct.pack_into("<I", data, at + 8, 100)
    (p,) = read_tiff(bytes(data))
    assert p.bitmap.shape == (100, 1728) and np.array_equal(p.bitmap, bm[:100])


def test_corpus_seeds_read_without_crash() -> None:
    seeds = sorted(CORPUS.glob("jbig-*.bin"))
    assert len(seeds) >= 3
    for path in seeds:
        for p in read_tiff(path, strict=False):
            assert p.scheme == "jbig" and p.bitmap.dtype == np.uint8


def test_bad_row_tags_are_clamped_to_the_page() -> None:
    """Found by ``make fuzz`` (corpus tiff/jbig-consecutive-bad-tag.bin): a file whose
    ConsecutiveBadFaxLines tag exceeds its BadFaxLines gave a page with more consecutive
    bad rows than bad rows. BadFaxLines itself may exceed the rows (a page whose end was
    lost counts the rows it lacks: tests/t30/test_t30_lost_page_end.py)."""
    (_, p) = read_tiff(CORPUS / "jbig-consecutive-bad-tag.bin")
    assert 0 <= p.consecutive_bad_rows <= p.bad_rows
    bm = _page(h=50)
    page = Page(bm, bad_rows=500, consecutive_bad_rows=900)
    (q,) = read_tiff(tiff_bytes([page], "jbig"))
    assert (q.bad_rows, q.consecutive_bad_rows) == (500, 500)
