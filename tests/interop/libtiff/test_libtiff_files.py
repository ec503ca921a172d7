"""Interoperability of TIFF-F and raw G3/G4 files with libtiff, Ghostscript and netpbm.

Both directions on the ITU charts:
* our files decoded by libtiff (Pillow, ``tiffcp -c none``), ``fax2tiff`` and ``g3topbm``
  give back the page we coded, and our TIFF strips are byte-identical to ``tiffcp``'s;
* files from Pillow, ``tiffcp``, Ghostscript (``tiffg3``, ``tiffg32d``, ``tiffg4``,
  ``faxg3``, ``faxg32d``, ``faxg4``) and ``pbmtog3`` decoded by us equal libtiff's decoding.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs import encode
from faxcore.codecs.raw import raw_bytes, read_raw
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.testing.peers import require_shared, require_tool

pytestmark = pytest.mark.slow


def load_pbm(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


def libtiff_pages(path: Path) -> list[np.ndarray]:
    """Pixels of every page as libtiff (through Pillow) decodes them, 1 = black."""
    with Image.open(path) as im:
        out = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append((np.asarray(im.convert("L")) < 128).astype(np.uint8))
        return out


def run(*cmd) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


def tiffcp_none(src: Path, tmp: Path) -> list[np.ndarray]:
    """Decode with libtiff's ``tiffcp -c none`` and read the uncompressed result."""
    dst = tmp / (src.stem + "-none.tif")
    run(require_tool("tiffcp"), "-c", "none", src, dst)
    return [p.bitmap for p in read_tiff(dst)]


@pytest.fixture(scope="module")
def itu1() -> np.ndarray:
    return load_pbm(require_shared("testdata/itu/itu1.pbm"))


@pytest.fixture(scope="module")
def itu4() -> np.ndarray:
    return load_pbm(require_shared("testdata/itu/itu4.pbm"))


@pytest.fixture(scope="module")
def chart_pdf(tmp_path_factory, itu1, itu4) -> Path:
    """A two-page PDF of charts 1 and 4 for Ghostscript."""
    path = tmp_path_factory.mktemp("pdf") / "charts.pdf"
    imgs = [Image.fromarray(((1 - b) * 255).astype(np.uint8)).convert("1") for b in (itu1, itu4)]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=204)
    return path


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert int(np.count_nonzero(a != b)) == 0


# --------------------------------------------------------------------------- ours -> libtiff

OUR_VARIANTS = [
    ("mh", {}), ("mh", {"eol_align": True}), ("mh", {"fill_order": 2}),
    ("mh", {"eol_align": True, "fill_order": 2, "rows_per_strip": 100}),
    ("mr", {}), ("mr", {"eol_align": True}), ("mr", {"fill_order": 2, "rows_per_strip": 128}),
    ("mr", {"k": 2, "eol_align": True, "fill_order": 2}),
    ("mmr", {}), ("mmr", {"fill_order": 2}), ("mmr", {"rows_per_strip": 64}),
    ("mmr", {"rows_per_strip": 1000, "fill_order": 2, "byteorder": ">"}),
]


@pytest.mark.parametrize("scheme, opts", OUR_VARIANTS,
                         ids=[f"{s}-{'-'.join(f'{k}={v}' for k, v in o.items())}"
                              for s, o in OUR_VARIANTS])
def test_our_tiff_decoded_by_libtiff(tmp_path, itu1, itu4, scheme, opts):
    path = tmp_path / "ours.tif"
    write_tiff(path, [Page(itu1, 204, 196), Page(itu4, 204, 98)], scheme, **opts)
    for got, want in zip(libtiff_pages(path), (itu1, itu4), strict=True):
        _same(got, want)
    for got, want in zip(tiffcp_none(path, tmp_path), (itu1, itu4), strict=True):
        _same(got, want)
    for page, want in zip(read_tiff(path), (itu1, itu4), strict=True):
        _same(page.bitmap, want)
        assert page.scheme == scheme and page.error is None and page.bad_rows == 0


def _strips(path: Path) -> list[bytes]:
    data = path.read_bytes()
    with Image.open(path) as im:
        return [data[o:o + n] for o, n in zip(im.tag_v2[273], im.tag_v2[279], strict=True)]


TIFFCP = [  # tiffcp -c argument, our scheme, eol_align
    ("g3:1d", "mh", False), ("g3:1d:fill", "mh", True), ("g3:2d", "mr", False),
    ("g3:2d:fill", "mr", True), ("g4", "mmr", False),
]


@pytest.mark.parametrize("fill", ["msb2lsb", "lsb2msb"])
@pytest.mark.parametrize("codec, scheme, align", TIFFCP)
@pytest.mark.parametrize("yres", [196, 98])
def test_strips_byte_identical_to_tiffcp(tmp_path, itu1, codec, scheme, align, fill, yres):
    src, ref = tmp_path / "none.tif", tmp_path / "libtiff.tif"
    write_tiff(src, [Page(itu1, 204, yres)], "none")
    run(require_tool("tiffcp"), "-c", codec, "-f", fill, "-r", "300", src, ref)
    ours = tmp_path / "ours.tif"
    write_tiff(ours, [Page(itu1, 204, yres)], scheme, eol_align=align, rows_per_strip=300,
               fill_order=2 if fill == "lsb2msb" else 1)
    theirs = _strips(ref)
    assert len(theirs) == 8
    assert _strips(ours) == theirs


# --------------------------------------------------------------------------- libtiff -> ours


@pytest.mark.parametrize("fill", ["msb2lsb", "lsb2msb"])
@pytest.mark.parametrize("codec", ["g3:1d", "g3:2d", "g3:2d:fill", "g3:1d:fill", "g4"])
def test_tiffcp_files_decoded_by_us(tmp_path, itu1, itu4, codec, fill):
    src, dst = tmp_path / "none.tif", tmp_path / "cp.tif"
    write_tiff(src, [Page(itu1, 204, 196), Page(itu4, 204, 98)], "none")
    run(require_tool("tiffcp"), "-c", codec, "-f", fill, "-r", "77", src, dst)
    pages = read_tiff(dst)
    for page, want in zip(pages, (itu1, itu4), strict=True):
        _same(page.bitmap, want)
        assert page.error is None and page.bad_rows == 0
        assert page.fill_order == (2 if fill == "lsb2msb" else 1)
    assert [p.resolution for p in pages] == ["fine", "standard"]


@pytest.mark.parametrize("codec", ["g3:2d:fill", "g4"])
def test_tiffcp_big_endian_decoded_by_us(tmp_path, itu1, codec):
    src, dst = tmp_path / "none.tif", tmp_path / "be.tif"
    write_tiff(src, [Page(itu1, 204, 196)], "none")
    run(require_tool("tiffcp"), "-B", "-c", codec, "-f", "lsb2msb", "-r", "500", src, dst)
    assert dst.read_bytes()[:2] == b"MM"
    (page,) = read_tiff(dst)
    _same(page.bitmap, itu1)


@pytest.mark.parametrize("compression", ["group3", "group4"])
def test_pillow_files_decoded_by_us(tmp_path, itu1, compression):
    path = tmp_path / "pil.tif"
    odd = itu1[:1001, 3:1000]                         # odd size, not a fax width
    Image.fromarray(((1 - odd) * 255).astype(np.uint8)).convert("1").save(
        path, compression=compression, dpi=(204, 196))
    (page,) = read_tiff(path)
    assert page.extra["photometric"] == 1               # Pillow writes min-is-black
    _same(page.bitmap, odd)
    _same(page.bitmap, libtiff_pages(path)[0])


@pytest.mark.parametrize("fill", [1, 2])
@pytest.mark.parametrize("device", ["tiffg3", "tiffg32d", "tiffg4"])
def test_ghostscript_tiff_decoded_by_us(tmp_path, chart_pdf, device, fill):
    out = tmp_path / f"{device}.tif"
    run(require_tool("gs"), "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}",
        f"-dFillOrder={fill}", "-r204x196", f"-sOutputFile={out}", chart_pdf)
    pages = read_tiff(out)
    theirs = libtiff_pages(out)
    assert len(pages) == len(theirs) == 2
    for page, want in zip(pages, theirs, strict=True):
        _same(page.bitmap, want)
        assert page.error is None and page.fill_order == fill
        assert 0.02 < page.bitmap.mean() < 0.3          # a real page, not blank


def _gs(device: str, pdf: Path, out: Path, *extra: str) -> Path:
    run(require_tool("gs"), "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}",
        "-r204x196", *extra, f"-sOutputFile={out}", pdf)
    return out


GS_RAW = [("faxg3", "tiffg3", "mh"), ("faxg32d", "tiffg32d", "mr"), ("faxg4", "tiffg4", "mmr")]


@pytest.mark.parametrize("device, tiffdev, scheme", GS_RAW)
def test_ghostscript_raw_decoded_by_us(tmp_path, chart_pdf, device, tiffdev, scheme):
    # The same rendering through gs's TIFF device, decoded by libtiff, is the reference.
    theirs = libtiff_pages(_gs(tiffdev, chart_pdf, tmp_path / "ref.tif"))
    assert len(theirs) == 2 and theirs[0].shape[1] == 1728
    single = _gs(device, chart_pdf, tmp_path / "p1.raw", "-dFirstPage=1", "-dLastPage=1")
    (page,) = read_raw(single, scheme, 1728)
    _same(page.bitmap, theirs[0])
    assert page.bad_rows == 0
    # gs writes no RTC / EOFB: a multi-page stream is cut by the known page length.
    both = _gs(device, chart_pdf, tmp_path / "p2.raw")
    pages = read_raw(both, scheme, 1728, page_rows=theirs[0].shape[0])
    assert len(pages) == 2
    for page, want in zip(pages, theirs, strict=True):
        _same(page.bitmap, want)
        assert page.error is None and page.bad_rows == 0
    if scheme != "mmr":              # G3 without page_rows: the pages as one tall page
        (tall,) = read_raw(both, scheme, 1728)
        _same(tall.bitmap, np.vstack(theirs))


def _fax2tiff(raw: Path, tmp: Path, *flags: str) -> np.ndarray:
    tif = tmp / "fax2tiff.tif"
    run(require_tool("fax2tiff"), *flags, "-o", tif, raw)
    (theirs,) = tiffcp_none(tif, tmp)
    # fax2tiff writes TIFF Class F (G3, LSB first, CleanFaxData): we read that too.
    (page,) = read_tiff(tif)
    _same(page.bitmap, theirs)
    assert (page.scheme, page.fill_order, page.clean, page.bad_rows) == ("mh", 2, 0, 0)
    return theirs


def _same_but_fax2tiff_tail(theirs: np.ndarray, want: np.ndarray) -> None:
    """fax2tiff turns the EOLs of RTC (and an EOFB) into white rows, up to 7 of them;
    libtiff's G4 decoder drops the last rows when a stream ends without EOFB."""
    n = want.shape[0]
    _same(theirs[:n], want[:theirs.shape[0]])
    assert n - 8 <= theirs.shape[0] <= n + 7
    assert not theirs[n:].any()


@pytest.mark.parametrize("device, flag, scheme",
                         [("faxg3", "-1", "mh"), ("faxg32d", "-2", "mr"), ("faxg4", "-4", "mmr")])
def test_ghostscript_raw_equals_fax2tiff(tmp_path, chart_pdf, device, flag, scheme):
    raw = _gs(device, chart_pdf, tmp_path / "p1.raw", "-dFirstPage=1", "-dLastPage=1")
    theirs = _fax2tiff(raw, tmp_path, "-M", flag)
    (page,) = read_raw(raw, scheme)
    _same_but_fax2tiff_tail(theirs, page.bitmap)


def test_pbmtog3_decoded_by_us_and_ours_by_g3topbm(tmp_path, itu1):
    pbm = require_shared("testdata/itu/itu1.pbm")
    g3 = subprocess.run([require_tool("pbmtog3"), str(pbm)], check=True,
                        capture_output=True).stdout
    (page,) = read_raw(g3, "mh")
    _same(page.bitmap, itu1)
    assert page.error is None
    # Row for row netpbm and we write the same bits (netpbm ends with 7 EOLs, we with RTC).
    rows = encode(itu1, "mh", end_marker=False)
    assert g3.startswith(rows[:-1])
    ours = raw_bytes([itu1], "mh")
    back = subprocess.run([require_tool("g3topbm")], input=ours, check=True,
                          capture_output=True).stdout
    _same(load_pbm(io.BytesIO(back)), itu1)


@pytest.mark.parametrize("scheme, flag", [("mh", "-1"), ("mr", "-2"), ("mmr", "-4")])
@pytest.mark.parametrize("lsb", [False, True])
def test_fax2tiff_reads_our_raw(tmp_path, itu4, scheme, flag, lsb):
    raw = tmp_path / ("ours.g4" if scheme == "mmr" else "ours.g3")
    raw.write_bytes(raw_bytes([itu4], scheme, lsb_first=lsb))
    theirs = _fax2tiff(raw, tmp_path, "-L" if lsb else "-M", flag)
    _same_but_fax2tiff_tail(theirs, itu4)


@pytest.mark.parametrize("scheme", ["mh", "mr", "mmr"])
def test_our_raw_multipage_roundtrip(itu1, itu4, scheme):
    data = raw_bytes([itu1, itu4, itu1[:10]], scheme)
    pages = read_raw(data, scheme)
    assert len(pages) == 3
    for page, want in zip(pages, (itu1, itu4, itu1[:10]), strict=True):
        _same(page.bitmap, want)
        assert page.error is None
