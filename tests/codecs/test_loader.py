"""The one loader (faxcore.codecs.loader) and every public way in to it.

The same document, a fine-resolution fax page with large black shapes, is written as
PDF, PNG, JPEG, 16-bit grey TIFF, TIFF-F (MH, MR, MMR), PBM and raw .g3 / .g4, and each
file goes through every entry point: ``faxcore.codecs.load_pages``,
``faxcore.session.load_pages`` and ``FaxSession(send=...)`` (with a call over audio),
``faxcore convert``, ``faxcore call`` and ``Class1Call(send=...)`` (driver and emulator
in memory). The pages that arrive are compared with the page drawn, pixel for pixel
(lossless formats) or to within a sliver of edge pixels (PDF rendering, JPEG). Wide
sources come out at the T.30 width, 1728 pixels.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.class1 import Class1Call, Class1Dce
from faxcore.cli import build_parser, main
from faxcore.codecs import (
    RESOLUTIONS,
    LoadError,
    Page,
    SourceUnreadable,
    UnknownFormat,
    load_document,
    load_pages,
    pbm_bytes,
    read_pbm,
    read_tiff,
)
from faxcore.codecs.raw import raw_bytes
from faxcore.codecs.tiff import tiff_bytes
from faxcore.modem import MODEMS, PAGE_MODEMS, SAMPLE_RATE
from faxcore.session import FaxSession, page_from_rx, page_from_tx, to_tx_page
from faxcore.session import load_pages as session_load_pages
from faxcore.t30 import RxPage, TxPage
from faxcore.testing.class1_memory import run_in_memory
from faxcore.testing.line import run_call
from faxcore.testing.paths import ROOT

ROWS = 1800     # 9.2 inches at fine: a portrait page (a landscape PDF page is turned)


def drawn() -> np.ndarray:
    """The page every source holds: 1728 x 1800 at fine resolution, 1 = black."""
    bm = np.zeros((ROWS, 1728), np.uint8)
    bm[60:200, 200:900] = 1          # a block
    bm[100:380, 1300:1400] = 1       # a bar
    bm[300:340, :] = 1               # a band from edge to edge
    return bm


WANT = drawn()
LOSSLESS = ("png", "tiff16", "tiff-mh", "tiff-mr", "tiff-mmr", "pbm", "g3", "g4")
LOSSY = ("pdf", "jpeg")          # resampled (PDF rendering) or lossy (JPEG): edges may move
KINDS = LOSSY + LOSSLESS


def _grey(bm: np.ndarray) -> Image.Image:
    return Image.fromarray(((1 - bm) * 255).astype(np.uint8), "L")


def write_source(kind: str, tmp_path) -> str:
    """WANT as a file of ``kind``; returns its path."""
    bm = WANT
    name = {"tiff16": "grey16.tif", "tiff-mh": "mh.tif", "tiff-mr": "mr.tif",
            "tiff-mmr": "mmr.tif"}.get(kind, f"page.{kind}")
    path = tmp_path / name
    if kind == "pdf":       # 204 x 196 dpi: the PDF page is the fax page's physical size
        _grey(bm).save(path, "PDF", dpi=(204, 196))
    elif kind == "png":
        _grey(bm).save(path)
    elif kind == "jpeg":
        _grey(bm).save(path, quality=95)
    elif kind == "tiff16":
        Image.fromarray((1 - bm.astype(np.uint16)) * 65535).save(path)
    elif kind.startswith("tiff-"):
        path.write_bytes(tiff_bytes([Page(bm, 204, 196)], kind[5:]))
    elif kind == "pbm":
        path.write_bytes(pbm_bytes([bm]))
    elif kind in ("g3", "g4"):
        path.write_bytes(raw_bytes([Page(bm, 204, 196)], "mr" if kind == "g3" else "mmr"))
    else:
        raise AssertionError(kind)
    return str(path)


def assert_is_drawn(kind: str, bitmap: np.ndarray) -> None:
    assert bitmap.shape == WANT.shape, (kind, bitmap.shape)
    differ = np.count_nonzero(bitmap != WANT)
    if kind in LOSSLESS:
        assert differ == 0, (kind, differ)
    else:
        # Only edge pixels may differ: the shapes have 2 x (140 + 700 + 280 + 100 + 40 +
        # 1728) edge pixels along their sides; allow one pixel of every edge.
        assert differ < 6000, (kind, differ)
        assert bitmap[65:195, 205:895].all() and bitmap[305:335, 5:1723].all()
        assert not bitmap[5:55].any() and not bitmap[210:290, 950:1250].any()
        assert not bitmap[400:].any()


# ---- every entry point, every kind of file ---------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_codecs_load_pages(kind, tmp_path):
    (page,) = load_pages(write_source(kind, tmp_path))
    assert page.resolution == "fine"
    assert_is_drawn(kind, page.bitmap)


@pytest.mark.parametrize("kind", KINDS)
def test_codecs_load_pages_from_bytes(kind, tmp_path):
    src = write_source(kind, tmp_path)
    data = open(src, "rb").read()
    raw = {"g3": "mr", "g4": "mmr"}.get(kind)       # bytes have no extension to go by
    (page,) = load_pages(data, raw=raw)
    assert_is_drawn(kind, page.bitmap)


@pytest.mark.parametrize("kind", KINDS)
def test_session_load_pages_and_fax_session_send(kind, tmp_path):
    src = write_source(kind, tmp_path)
    (tx,) = session_load_pages([src])
    assert isinstance(tx, TxPage) and tx.resolution == "fine"
    assert_is_drawn(kind, tx.bitmap)
    s = faxcore.FaxSession(True, send=[src])
    (sent,) = s.engine.cfg.pages
    np.testing.assert_array_equal(sent.bitmap, tx.bitmap)


@pytest.mark.parametrize("kind", KINDS)
def test_faxcore_convert(kind, tmp_path):
    out = tmp_path / "out.tif"
    assert main(["convert", write_source(kind, tmp_path), str(out)]) == 0
    (page,) = read_tiff(out)
    assert page.resolution == "fine"
    assert_is_drawn(kind, page.bitmap)


@pytest.mark.parametrize("kind", KINDS)
def test_faxcore_call(kind, tmp_path, capsys):
    out = tmp_path / "rx.tif"
    assert main(["call", "--loopback", write_source(kind, tmp_path), "--out", str(out)]) == 0
    assert "pages sent 1" in capsys.readouterr().out
    (page,) = read_tiff(out)
    assert page.resolution == "fine"
    assert_is_drawn(kind, page.bitmap)


def test_fax_session_sends_every_kind_over_audio(tmp_path):
    """One call over audio, every kind of file at once: what arrives is what was drawn."""
    sources = [write_source(k, tmp_path) for k in KINDS]
    got = []
    a = FaxSession(True, send=sources, modems=("v17",))
    b = FaxSession(False, receive=got.append, modems=("v17",))
    run_call(a, b, max_seconds=200)
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert len(got) == len(KINDS)
    for kind, page in zip(KINDS, got, strict=True):
        assert page.resolution == "fine"
        assert_is_drawn(kind, page.bitmap)


def test_class1_call_sends_every_kind(tmp_path):
    """Class1Call(send=...) takes the same files: driver and emulator in memory, a
    FaxSession at the far end of the emulated line."""
    sources = [write_source(k, tmp_path) for k in KINDS]
    far = FaxSession(False, receive=lambda p: None)
    call = run_in_memory(Class1Call(True, dial="5551234", send=sources),
                                Class1Dce(), far, max_seconds=400.0)
    assert call.error is None
    assert int(call.result.status) == 0, call.result.summary()
    assert call.result.pages_sent == len(KINDS) and len(far.pages) == len(KINDS)
    for kind, bitmap in zip(KINDS, far.pages, strict=True):
        assert_is_drawn(kind, bitmap)


# ---- wide sources are refitted to the T.30 width ---------------------------------------


def _wide_png(tmp_path) -> str:
    """10 inches wide at 300 dpi (A4 is 8.27): a band from edge to edge."""
    bm = np.zeros((300, 3000), np.uint8)
    bm[100:200, :] = 1
    path = tmp_path / "wide.png"
    _grey(bm).save(path, dpi=(300, 300))
    return str(path)


def _wide_tiff(tmp_path) -> str:
    """A TIFF-F of A4 at 300 dpi: 2592 pixels, an ITU width but not a T.30 one."""
    bm = np.zeros((300, 2592), np.uint8)
    bm[100:200, :] = 1
    path = tmp_path / "a4-300.tif"
    path.write_bytes(tiff_bytes([Page(bm, 300, 300)], "mmr"))
    return str(path)


def _assert_band_across(bitmap: np.ndarray) -> None:
    """The band reaches both edges of the page."""
    assert bitmap.shape[1] == 1728
    rows = np.flatnonzero(bitmap.any(axis=1))
    assert rows.size and bitmap[rows[len(rows) // 2]].all()


def test_wide_image_is_refitted_to_1728_everywhere(tmp_path, capsys):
    src = _wide_png(tmp_path)
    (page,) = load_pages(src)
    _assert_band_across(page.bitmap)
    # 10 in scaled to 8.47 in: 300 rows at 300 dpi become 300 * 1728 / 3000 * 196 / 204
    assert page.height == round(300 * 1728 / 3000 * 196 / 204)
    (tx,) = session_load_pages([src])
    np.testing.assert_array_equal(tx.bitmap, page.bitmap)
    (sent,) = FaxSession(True, send=[src]).engine.cfg.pages
    np.testing.assert_array_equal(sent.bitmap, page.bitmap)
    out = tmp_path / "c.tif"
    assert main(["convert", src, str(out)]) == 0
    np.testing.assert_array_equal(read_tiff(out)[0].bitmap, page.bitmap)
    rx = tmp_path / "rx.tif"
    assert main(["call", "--loopback", src, "--out", str(rx)]) == 0
    np.testing.assert_array_equal(read_tiff(rx)[0].bitmap, page.bitmap)


@pytest.mark.parametrize("source", ["tiff", "bitmap", "page"])
def test_wide_fax_pages_are_refitted_when_sent(source, tmp_path, capsys):
    """A fax page wider than T.30 sends (a 300 dpi TIFF-F, a bitmap, a Page) keeps its
    width in faxcore.codecs.load_pages (convert keeps it too), and is refitted to 1728
    wherever it is sent: before, FaxSession refused it (page width not 1728...)."""
    if source == "tiff":
        src = _wide_tiff(tmp_path)
        keep = load_pages(src)[0]
        assert (keep.width, keep.xres) == (2592, 300.0)
    elif source == "bitmap":
        src = np.zeros((300, 2000), np.uint8)
        src[100:200] = 1
        assert load_pages(src)[0].width == 2000
    else:
        bm = np.zeros((300, 2592), np.uint8)
        bm[100:200] = 1
        src = Page(bm, 300, 300)
    (codec_page,) = load_pages(src, sendable=True)
    _assert_band_across(codec_page.bitmap)
    (tx,) = session_load_pages([src])
    _assert_band_across(tx.bitmap)
    np.testing.assert_array_equal(tx.bitmap, codec_page.bitmap)
    got = []
    a = FaxSession(True, send=[src], modems=("v29",))
    b = FaxSession(False, receive=got.append, modems=("v29",))
    run_call(a, b)
    assert a.result.ok and len(got) == 1
    np.testing.assert_array_equal(got[0].bitmap, tx.bitmap)
    if source == "tiff":
        rx = tmp_path / "rx.tif"
        assert main(["call", "--loopback", src, "--out", str(rx)]) == 0
        np.testing.assert_array_equal(read_tiff(rx)[0].bitmap, tx.bitmap)


def test_explicit_resolution_refits_fax_pages(tmp_path):
    src = write_source("tiff-mmr", tmp_path)
    (std,) = load_pages(src, resolution="standard")
    assert std.resolution == "standard" and std.bitmap.shape == (ROWS // 2, 1728)
    (tx,) = session_load_pages([src], resolution="standard")
    assert tx.resolution == "standard"
    np.testing.assert_array_equal(tx.bitmap, std.bitmap)
    with pytest.raises(ValueError, match="T.30"):
        session_load_pages([src], resolution="400")
    (hi,) = load_pages(src, resolution="400")                 # convert may: 400 dpi TIFF
    assert hi.width == 3456


# ---- what the loader says when it cannot -----------------------------------------------


def test_errors_name_the_source(tmp_path):
    missing = tmp_path / "nope.pdf"
    with pytest.raises(SourceUnreadable, match="cannot read .*nope.pdf") as exc:
        load_pages(missing)
    assert isinstance(exc.value, OSError) and isinstance(exc.value, LoadError)
    with pytest.raises(OSError):                      # as the open that failed
        FaxSession(True, send=[missing])
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x01\x02garbage" * 10)
    with pytest.raises(UnknownFormat, match="junk.dat: not a PDF, image, TIFF"):
        load_pages(junk)
    bad_pdf = tmp_path / "b.pdf"
    bad_pdf.write_bytes(b"%PDF-1.7\n%broken\n")
    with pytest.raises(LoadError, match="b.pdf: cannot open PDF"):
        load_pages(bad_pdf)
    with pytest.raises(TypeError):
        load_pages([object()])
    with pytest.raises(TypeError):
        FaxSession(True, send=[object()])
    with pytest.raises(LoadError, match="2-D"):
        load_pages(np.zeros(5, np.uint8))


def test_truncated_tiff_gives_its_complete_pages(tmp_path):
    pages = [Page(WANT, 204, 196), Page(WANT[::-1].copy(), 204, 196)]
    data = tiff_bytes(pages, "mmr")
    src = tmp_path / "cut.tif"
    src.write_bytes(data[:-20])            # the second page's IFD cut off (last in file)
    with pytest.raises(LoadError, match="cut.tif: ") as exc:
        load_pages(src)
    assert exc.value.kind == "TIFF-F"
    assert len(exc.value.pages) == 1
    np.testing.assert_array_equal(exc.value.pages[0].bitmap, WANT)


def test_load_document_says_what_it_read(tmp_path):
    kinds = {k: load_document(write_source(k, tmp_path)).kind for k in KINDS}
    assert kinds == {"pdf": "PDF", "jpeg": "image", "png": "image", "tiff16": "image",
                     "tiff-mh": "TIFF-F", "tiff-mr": "TIFF-F", "tiff-mmr": "TIFF-F",
                     "pbm": "image", "g3": "raw MR stream", "g4": "raw MMR stream"}


# ---- PBM, conversions, constants --------------------------------------------------------


def test_pbm_reader_and_writer():
    a, b = WANT[:50], np.eye(7, 13, dtype=np.uint8)
    data = pbm_bytes([a, b])
    assert data.startswith(b"P4\n1728 50\n")
    got = read_pbm(data + b"\n\n")                        # trailing whitespace is fine
    assert len(got) == 2
    np.testing.assert_array_equal(got[0], a)
    np.testing.assert_array_equal(got[1], b)
    commented = b"P4\n# a comment\n13 7\n" + data.split(b"P4\n13 7\n")[1]
    np.testing.assert_array_equal(read_pbm(commented)[0], b)
    with pytest.raises(ValueError, match="truncated"):
        read_pbm(data[:-3])
    with pytest.raises(ValueError, match="pixel limit"):
        read_pbm(b"P4\n100000 100000\n", max_pixels=1 << 20)
    with pytest.raises(ValueError, match="bad PBM header"):
        read_pbm(b"P1\n1 1\n0\n")
    # the loader, convert and the conformance pages read PBM through this one reader
    (page,) = load_pages(pbm_bytes([WANT]))
    np.testing.assert_array_equal(page.bitmap, WANT)


def test_page_conversions():
    tx = to_tx_page(Page(WANT, 204, 98))
    assert tx.resolution == "standard"
    np.testing.assert_array_equal(tx.bitmap, WANT)
    assert to_tx_page(Page(WANT, 204, 391)).resolution == "superfine"
    assert to_tx_page(Page(WANT, 204, 196), "standard").resolution == "standard"
    for res in ("standard", "fine", "superfine"):
        p = page_from_tx(TxPage(WANT, res))
        assert (p.xres, p.yres) == RESOLUTIONS[res] and p.resolution == res
        assert to_tx_page(p).resolution == res
    rx = RxPage(bitmap=WANT, resolution="superfine", scheme="mmr", width=1728, rows=ROWS,
                bad_rows=3, ecm=True, consecutive_bad_rows=2)
    page = page_from_rx(rx)
    assert (page.xres, page.yres) == RESOLUTIONS["superfine"]
    assert (page.bad_rows, page.consecutive_bad_rows, page.clean) == (3, 2, 1)


def test_one_sample_rate_and_one_modem_list():
    assert SAMPLE_RATE == 8000
    assert PAGE_MODEMS == ("v17", "v29", "v27ter") and set(PAGE_MODEMS) < set(MODEMS)
    from faxcore.modem import dsp, tones

    assert dsp.SAMPLE_RATE is SAMPLE_RATE and tones.SAMPLE_RATE is SAMPLE_RATE
    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as help_out:
        build_parser().parse_args(["call", "--help"])
    # argparse lists an option's choices in their order: "--modem {v17,v29,v27ter}"
    assert help_out.getvalue().count("--modem {" + ",".join(PAGE_MODEMS) + "}") == 2
    assert build_parser().parse_args(["call", "page.tif"]).modem == "v17"
    s = FaxSession(False)
    assert s.engine.cfg.modems == PAGE_MODEMS
    assert not hasattr(s, "_clock")


# ---- the codec package without its compiled core ---------------------------------------


HIDE_T4 = """
import sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "faxcore.codecs._t4":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""
TRY_IMPORTS = """
for name in ("faxcore.codecs", "faxcore.session"):
    try:
        __import__(name)
    except ImportError as exc:
        print(type(exc).__name__, "|", exc)
    else:
        print("imported", name)
"""


@pytest.mark.parametrize("how", ["finder", "absent"])
def test_codecs_without_the_built_extension_says_make_build(how, tmp_path):
    """A fresh interpreter without ``faxcore.codecs._t4`` (as before ``make build``):
    refused by a meta-path finder, or a copy of the package without the compiled
    modules. Importing the codecs (or what needs them) names the fix, not a bare
    ModuleNotFoundError or "circular import" from deep inside."""
    if how == "finder":
        script, cwd = HIDE_T4 + TRY_IMPORTS, ROOT
    else:
        shutil.copytree(ROOT / "faxcore", tmp_path / "faxcore",
                        ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
        script, cwd = TRY_IMPORTS, tmp_path
    out = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines() == [
        "CodecsNotBuilt | faxcore.codecs: the Cython extension is not built: run `make build`",
    ] * 2


def test_io_bytes_of_pillow_images_in_memory():
    img = _grey(WANT)
    (page,) = load_pages(img)
    np.testing.assert_array_equal(page.bitmap, WANT)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    (page,) = load_pages(buf.getvalue())
    np.testing.assert_array_equal(page.bitmap, WANT)
