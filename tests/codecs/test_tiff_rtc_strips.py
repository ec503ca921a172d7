"""RTC-terminated MH/MR strips (``write_tiff(..., rtc=True)``, ``TiffPageWriter(rtc=True)``)
for efax, which reads a TIFF-F page's data up to RTC or the end of the file.

Without RTC (libtiff's strip format, still the default) efax's reader runs from page 1's
strip into the IFD and page 2's data: ``efix`` shows page 1 with page 2's marks below it
and warns "EOF before RTC". With RTC each page stops at its end. libtiff (tiffinfo -D,
tiffcp), Pillow and faxcore's reader read the RTC-terminated files pixel for pixel as the
pages written. efix and the libtiff tools must be installed (else skip locally, fail in
CI)."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.codecs import decode
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes, write_tiff
from faxcore.pagestore import TiffPageWriter
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import pillow_pages
from faxcore.testing.peers import require_tool

EFIX_ROWS = 772     # efix -p 215x100mm at 196 lines/inch: more rows than any page here


def marked(rows: int, seed: int) -> np.ndarray:
    """A page with a bar at the top and marks down to its last rows."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, 1728), np.uint8)
    bm[4:12, 64:1664] = 1
    for _ in range(40):
        y, x = int(rng.integers(14, rows - 6)), int(rng.integers(0, 1700))
        bm[y:y + 5, x:x + 20] = 1
    bm[rows - 4:rows - 1, 100:400] = 1
    return bm


PAGES = [Page(marked(300, 1)), Page(marked(200, 2), yres=98.0)]


def strips(data: bytes) -> list[list[bytes]]:
    """Each page's strips, from the StripOffsets and StripByteCounts Pillow reads."""
    im = Image.open(io.BytesIO(data))
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        offs, counts = im.tag_v2[273], im.tag_v2[279]
        out.append([data[o:o + n] for o, n in zip(offs, counts, strict=True)])
    return out


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("eol_align", [False, True])
@pytest.mark.parametrize("fill_order", [1, 2])
@pytest.mark.parametrize("rows_per_strip", [None, 64])
def test_rtc_strips_read_identically(tmp_path, scheme, eol_align, fill_order, rows_per_strip):
    opts = dict(eol_align=eol_align, fill_order=fill_order, rows_per_strip=rows_per_strip)
    plain = tiff_bytes(PAGES, scheme, **opts)
    data = tiff_bytes(PAGES, scheme, rtc=True, **opts)
    # RTC only at the end of each page: after its last strip's rows, nowhere else
    for page, plain_strips in zip(strips(data), strips(plain), strict=True):
        for s, (ours, theirs) in enumerate(zip(page, plain_strips, strict=True)):
            last = s == len(page) - 1
            got = decode(ours, scheme, 1728, lsb_first=fill_order == 2)
            assert bool(got.end_marker_seen) == last
            assert (len(ours) > len(theirs)) == last
            assert not decode(theirs, scheme, 1728, lsb_first=fill_order == 2).end_marker_seen
    for got, want in zip(read_tiff(data), PAGES, strict=True):
        assert np.array_equal(got.bitmap, want.bitmap) and got.error is None
        assert got.bad_rows == 0
    for got, want in zip(pillow_pages(data), PAGES, strict=True):
        assert np.array_equal(got, want.bitmap)
    # libtiff decodes every strip without a complaint, and tiffcp's copy has the pixels
    src, copy = tmp_path / "rtc.tif", tmp_path / "copy.tif"
    src.write_bytes(data)
    r = subprocess.run([require_tool("tiffinfo"), "-D", str(src)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == ""
    subprocess.run([require_tool("tiffcp"), "-c", "none", str(src), str(copy)], check=True,
                   timeout=60, capture_output=True)
    for got, want in zip(read_tiff(copy), PAGES, strict=True):
        assert got.scheme == "none" and np.array_equal(got.bitmap, want.bitmap)


def efix_pages(path, tmp_path) -> tuple[list[np.ndarray], str]:
    """The pages ``efix`` (efax's converter) reads from ``path``, padded to EFIX_ROWS
    rows, and what it said: efix pads a page that ends before that and shows whatever
    data it took for the page."""
    out = tmp_path / f"{path.stem}.%d.pbm"
    r = subprocess.run([require_tool("efix"), "-i", "tiffg3", "-o", "pbm", "-p", "215x100mm",
                        "-n", str(out), str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pages = []
    for i in range(1, 10):
        f = tmp_path / f"{path.stem}.{i}.pbm"
        if not f.exists():
            break
        pages.append((np.asarray(Image.open(f).convert("L")) < 128).astype(np.uint8))
    return pages, r.stderr


def assert_efix_page(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == (EFIX_ROWS, 1728)
    assert np.array_equal(got[:want.shape[0]], want)
    assert not got[want.shape[0]:].any()          # nothing after the page's end


def test_efix_reads_each_rtc_page_apart(tmp_path):
    """The before and after: without RTC efix takes page 2's marks (after some rows of
    garbage from the IFD) as the rest of page 1; with RTC page 1 ends where it ends."""
    pages = [Page(marked(300, 1)), Page(marked(200, 2))]
    plain, rtc = tmp_path / "plain.tif", tmp_path / "rtc.tif"
    write_tiff(plain, pages, "mh")
    write_tiff(rtc, pages, "mh", rtc=True)

    before, said = efix_pages(plain, tmp_path)
    assert len(before) == 2 and "EOF before RTC" in said
    assert np.array_equal(before[0][:300], pages[0].bitmap)
    assert before[0][300:].any()                  # garbled: page 1 runs on
    after, said = efix_pages(rtc, tmp_path)
    assert len(after) == 2 and "EOF before RTC" not in said
    for got, want in zip(after, pages, strict=True):
        assert_efix_page(got, want.bitmap)


def test_received_pages_for_efax(tmp_path):
    """A session receiving into ``TiffPageWriter(path, scheme="mh", rtc=True)`` (as the
    Class 1 emulator's output meant for efax): each page written as it arrives, MH with
    RTC; efix reads both pages exactly."""
    out = tmp_path / "rx.tif"
    pages = [TxPage(marked(300, 3), "fine"), TxPage(marked(200, 4), "fine")]
    with pytest.raises(ValueError, match="fallback_dirs"):
        faxcore.FaxSession(False, receive=TiffPageWriter(out), fallback_dirs=[tmp_path])
    a = faxcore.FaxSession(True, send=pages, modems=("v17",), ident="+1 555 0100")
    b = faxcore.FaxSession(False, receive=TiffPageWriter(out, scheme="mh", rtc=True),
                           modems=("v17",))
    run_call(a, b)
    assert b.result.status == T30Status.OK and b.received_path == out
    back = read_tiff(out)
    assert [p.scheme for p in back] == ["mh", "mh"]
    assert [p.fax_info.sender for p in back] == ["+1 555 0100"] * 2
    got, said = efix_pages(out, tmp_path)
    assert len(got) == 2 and "EOF before RTC" not in said
    for g, want in zip(got, pages, strict=True):
        assert_efix_page(g, want.bitmap)
    with pytest.raises(ValueError, match="scheme"):
        TiffPageWriter(out, scheme="none")
