"""``faxcore convert`` / ``faxcore info`` defects found by a new user (field issue).

* raw decoding with a wrong width or scheme "succeeded" (every row bad, exit 0);
* Ghostscript's raw streams (``gs -sDEVICE=faxg3/faxg32d/faxg4``: no RTC / EOFB) drew
  "damaged" warnings although every row decoded;
* a mixed-resolution file was summarised with the first page's resolution;
* PNG pages of standard resolution were squashed to half height in image viewers.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.cli import main
from faxcore.codecs.raw import raw_bytes
from faxcore.codecs.t4 import encode
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.testing.peers import require_tool

PKG_ROOT = Path(faxcore.__file__).resolve().parent.parent


def drawn(rows: int = 300, width: int = 1728) -> np.ndarray:
    """A page with a white top margin (white rows decode at any width) and text-like
    black strokes below it."""
    bm = np.zeros((rows, width), np.uint8)
    bm[120:200, 150:width - 150:9] = 1
    bm[220:260, 300:900] = 1
    return bm


def err_lines(capsys) -> tuple[list[str], list[str]]:
    got = capsys.readouterr()
    return got.out.splitlines(), got.err.splitlines()


# ---- wrong width or scheme ----------------------------------------------------------------

@pytest.mark.parametrize("coded,given,why", [
    ("mh", ["--raw", "mh", "--width", "1000"], "rows do not decode as MH 1000 pixels wide"),
    ("mh", ["--raw", "mh", "--width", "2048"], "rows do not decode as MH 2048 pixels wide"),
    ("mh", ["--raw", "mr"], "rows do not decode as MR 1728 pixels wide"),
    ("mh", ["--raw", "mh", "--lsb-first"], "rows do not decode as MH 1728 pixels wide, LSB"),
    # MMR stops at its first error: white rows decode at any width (a wider one may even
    # decode cleanly, as the page with a white band: nothing can tell)
    ("mmr", ["--raw", "mmr", "--width", "1000"], "decoding stopped on page 1, 120 rows down "
                                                "(row 120: runs do not add up to the width)"),
    ("mmr", ["--raw", "mmr", "--width", "864"], "decoding stopped on page 1, "),
])
def test_wrong_width_or_scheme_is_refused_with_the_right_one(tmp_path, capsys, coded, given,
                                                             why):
    src = tmp_path / "x.fax"
    src.write_bytes(raw_bytes([Page(drawn(), 204, 196)], coded))
    out = tmp_path / "out.pbm"
    assert main(["convert", str(src), str(out), *given]) == 1
    lines, err = err_lines(capsys)
    assert lines == [] and len(err) == 1 and not out.exists()
    assert err[0].startswith(f"faxcore convert: error: {src}: ") and why in err[0]
    assert err[0].endswith(f"the width or the scheme is probably wrong; it decodes cleanly as "
                           f"{coded.upper()} 1728 pixels wide (--raw {coded} --width 1728)")
    # info shows what it decoded, then the same one-line error
    assert main(["info", str(src), *given]) == 1
    lines, err = err_lines(capsys)
    assert lines[0].startswith(f"{src}: raw ") and lines[1].startswith("page 1: ")
    assert len(err) == 1 and "probably wrong" in err[0]
    # the right options decode it exactly
    assert main(["convert", str(src), str(out), "--raw", coded, "--width", "1728"]) == 0
    assert np.array_equal(read_pbm(out), drawn())


def read_pbm(path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


def test_bit_order_is_suggested_too(tmp_path, capsys):
    src = tmp_path / "x.g3"
    src.write_bytes(raw_bytes([Page(drawn(), 204, 196)], "mh", lsb_first=True))
    assert main(["convert", str(src), str(tmp_path / "o.pbm")]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith("it decodes cleanly as MH 1728 pixels wide, LSB first "
                                 "(--raw mh --width 1728 --lsb-first)")


def test_nothing_decodable_gets_the_hint_too(tmp_path, capsys):
    src = tmp_path / "x.g3"
    src.write_bytes(raw_bytes([Page(drawn(), 204, 196)], "mh"))
    assert main(["info", str(src), "--raw", "mmr"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "no decodable MMR page" in line
    assert line.endswith("; it decodes cleanly as MH 1728 pixels wide (--raw mh --width 1728)")


def test_unknown_stream_says_how_to_give_the_options(tmp_path, capsys):
    src = tmp_path / "noise.g4"
    src.write_bytes(np.random.default_rng(3).integers(0, 256, 3000, np.uint8).tobytes())
    assert main(["info", str(src)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("faxcore info: error: ")
    assert line.endswith("give the stream's --raw mh|mr|mmr and --width (--lsb-first for "
                         "FillOrder 2)")


def test_damage_at_the_right_width_is_not_called_a_wrong_width(tmp_path, capsys, caplog):
    """A stream damaged in the middle decodes no better at another width: it is damaged,
    not misread, and converts with a warning as before."""
    data = bytearray(raw_bytes([Page(drawn(), 204, 196)], "mmr"))
    for i in range(len(data) // 2, len(data) // 2 + 4):
        data[i] ^= 0x5A
    src = tmp_path / "dmg.g4"
    src.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert main(["convert", str(src), str(tmp_path / "o.pbm")]) == 0
    assert "page 1 damaged" in caplog.text
    mh = bytearray(raw_bytes([Page(drawn(), 204, 196)], "mh"))
    mh[len(mh) // 2] ^= 0xFF
    src.with_suffix(".g3").write_bytes(bytes(mh))
    assert main(["info", str(src.with_suffix(".g3"))]) == 0
    out = capsys.readouterr().out
    assert "damaged:" in out and "bad rows 0" not in out


# ---- streams without end markers (Ghostscript's) ------------------------------------------

@pytest.mark.parametrize("scheme,ext", [("mh", ".g3"), ("mr", ".g3"), ("mmr", ".g4")])
def test_stream_without_end_marker_is_clean(tmp_path, capsys, caplog, scheme, ext):
    src = tmp_path / f"gs{ext}"
    src.write_bytes(encode(drawn(), scheme, k=4, end_marker=False))
    with caplog.at_level(logging.WARNING):
        assert main(["convert", str(src), str(tmp_path / "o.pbm")]) == 0
    assert caplog.text == ""
    assert np.array_equal(read_pbm(tmp_path / "o.pbm"), drawn())
    capsys.readouterr()
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out.splitlines()
    end = "EOFB" if scheme == "mmr" else "RTC"
    assert out[1] == (f"page 1: 1728 x 300 pixels, 204 x 196 dpi (fine), {scheme.upper()}, "
                      f"bad rows 0, no {end}: normal for Ghostscript's output (--page-rows N "
                      "cuts its pages), else damaged (cut short)")


@pytest.mark.parametrize("device,scheme", [("faxg3", "MH"), ("faxg32d", "MR"), ("faxg4", "MMR")])
def test_ghostscript_streams_convert_without_warnings(tmp_path, capsys, device, scheme):
    """Ghostscript writes no RTC / EOFB. Its MMR pages each restart at a byte boundary
    (read as one page, the second one is garbage): they are found by cutting at a page
    length. MH / MR rows all decode as one tall page: info says how to cut it."""
    require_tool("gs")
    ps = tmp_path / "two.ps"
    ps.write_text("%!PS\n/Helvetica findfont 30 scalefont setfont\n"
                  "72 700 moveto (Page one of two) show showpage\n"
                  "/Helvetica findfont 30 scalefont setfont\n"
                  "72 500 moveto (Page two) show showpage\n")
    src = tmp_path / ("doc.g4" if device == "faxg4" else "doc.g3")
    subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"-sDEVICE={device}",
                    "-sPAPERSIZE=a4", f"-sOutputFile={src}", str(ps)], check=True,
                   capture_output=True, timeout=120)
    run = subprocess.run([*faxcore_argv(), "convert", str(src), str(tmp_path / "o.tif")],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(PKG_ROOT)))
    assert (run.returncode, run.stderr) == (0, "")
    got = read_tiff(tmp_path / "o.tif")
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out.splitlines()
    if scheme == "MMR":
        assert "(raw MMR stream without EOFB, cut every 2292 rows (A4 at fine, as " \
               "Ghostscript writes pages)) -> " in run.stdout
        assert [p.height for p in got] == [2292, 2292]
        assert out[-1] == "summary: 2 page(s), 1728 px wide, fine"
    else:
        assert [p.height for p in got] == [4584]
        assert out[1] == (f"page 1: 1728 x 4584 pixels, 204 x 196 dpi (fine), {scheme}, "
                          "bad rows 0, no RTC: normal for Ghostscript's output (2 A4 pages at "
                          "fine? --page-rows 2292 cuts them), else damaged (cut short)")
    # --page-rows cuts every kind the same way
    assert main(["info", str(src), "--page-rows", "2292"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{src}: raw {scheme} stream, 2 page(s)"
    assert out[1:3] == [f"page {i}: 1728 x 2292 pixels, 204 x 196 dpi (fine), {scheme}, "
                        "bad rows 0" for i in (1, 2)]
    assert out[3] == "summary: 2 page(s), 1728 px wide, fine"
    assert main(["convert", str(src), str(tmp_path / "cut.tif"), "--page-rows", "2292"]) == 0
    cut = read_tiff(tmp_path / "cut.tif")
    assert all(p.bitmap.any() for p in cut)
    np.testing.assert_array_equal(np.vstack([p.bitmap for p in cut]),
                                  np.vstack([p.bitmap for p in got]))


def faxcore_argv() -> list[str]:
    return [sys.executable, "-m", "faxcore"]


# ---- mixed resolutions and widths -----------------------------------------------------

def test_mixed_resolution_is_summarised_as_mixed(tmp_path, capsys):
    bm = drawn(100)
    pages = [Page(bm, 204, 196), Page(bm[::2], 204, 98), Page(bm, 204, 196),
             Page(drawn(100, 2048), 204, 196)]
    tif = tmp_path / "mixed.tif"
    tif.write_bytes(tiff_bytes(pages, "mmr"))
    assert main(["info", str(tif)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("page 2: 1728 x 50 pixels, 204 x 98 dpi (standard), MMR")
    assert out[-1] == ("summary: 4 page(s), mixed widths: 1728 px (pages 1-3), 2048 px "
                       "(page 4), mixed resolution: fine (pages 1, 3-4), standard (page 2)")
    assert main(["convert", str(tif), str(tmp_path / "o.pbm")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(": 4 page(s), mixed widths: 1728 px (pages 1-3), 2048 px (page 4), "
                         f"mixed resolution: fine (pages 1, 3-4), standard (page 2), "
                         f"{(tmp_path / 'o.pbm').stat().st_size} bytes")


def test_uniform_file_summary(tmp_path, capsys):
    tif = tmp_path / "std.tif"
    tif.write_bytes(tiff_bytes([Page(drawn(60), 204, 98)] * 2, "mh"))
    assert main(["info", str(tif)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        "summary: 2 page(s), 1728 px wide, standard"


# ---- PNG with square pixels ---------------------------------------------------------------

def png(path) -> tuple[np.ndarray, tuple[int, int]]:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8), \
            tuple(round(v) for v in im.info["dpi"])


def test_png_pages_have_square_pixels(tmp_path):
    std, fine, sup = drawn(80), drawn(160), drawn(320)
    tif = tmp_path / "three.tif"
    tif.write_bytes(tiff_bytes([Page(std, 204, 98), Page(fine, 204, 196),
                                Page(sup, 204, 391)], "mmr"))
    assert main(["convert", str(tif), str(tmp_path / "p.png")]) == 0
    bitmap, dpi = png(tmp_path / "p-1.png")          # standard: every row twice
    assert dpi == (204, 196) and bitmap.shape == (160, 1728)
    assert np.array_equal(bitmap[0::2], std) and np.array_equal(bitmap[1::2], std)
    bitmap, dpi = png(tmp_path / "p-2.png")          # fine: as it is
    assert dpi == (204, 196) and np.array_equal(bitmap, fine)
    bitmap, dpi = png(tmp_path / "p-3.png")          # superfine: every column twice
    assert dpi == (408, 391) and bitmap.shape == (320, 3456)
    assert np.array_equal(bitmap[:, 0::2], sup) and np.array_equal(bitmap[:, 1::2], sup)
    # the other formats keep the fax rows
    assert main(["convert", str(tif), str(tmp_path / "back.tif")]) == 0
    assert [p.bitmap.shape for p in read_tiff(tmp_path / "back.tif")] == \
        [std.shape, fine.shape, sup.shape]


def test_help_texts(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "square pixels" in text and "standard-resolution page (204 x 98 dpi) is " \
                                      "repeated twice" in text
    with pytest.raises(SystemExit):
        main(["info", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--page-size" not in text and "A4 at --resolution" in text
