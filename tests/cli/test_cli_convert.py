"""``faxcore convert``, ``faxcore info`` and ``faxcore demo``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from faxcore.cli import main
from faxcore.codecs.raw import raw_bytes
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.testing.paths import ROOT
from faxcore.testing.peers import require_shared


def load_pbm_pages(path) -> list[np.ndarray]:
    """Every image of a (multi-image) PBM P4 file."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        m = re.match(rb"P4\s+(\d+)\s+(\d+)\s", data[pos:])
        assert m, data[pos:pos + 20]
        w, h = int(m.group(1)), int(m.group(2))
        pos += m.end()
        stride = (w + 7) // 8
        rows = np.frombuffer(data, np.uint8, h * stride, pos).reshape(h, stride)
        out.append(np.unpackbits(rows, axis=1)[:, :w])
        pos += h * stride
    return out


def png_bitmap(path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


@pytest.fixture
def itu1():
    path = require_shared("testdata/itu/itu1.pbm")
    return path, png_bitmap(path)


def test_pbm_to_tiff_to_pbm_is_exact(tmp_path, itu1, capsys):
    path, ref = itu1
    tif, pbm = tmp_path / "a.tif", tmp_path / "b.pbm"
    assert main(["convert", str(path), str(tif)]) == 0
    assert "1 page(s)" in capsys.readouterr().out
    (page,) = read_tiff(tif)
    assert page.scheme == "mmr" and (page.xres, page.yres) == (204, 196)
    np.testing.assert_array_equal(page.bitmap, ref)
    assert main(["convert", str(tif), str(pbm)]) == 0
    (back,) = load_pbm_pages(pbm)
    np.testing.assert_array_equal(back, ref)


def test_info_lines(tmp_path, capsys):
    pages = [Page(np.eye(64, 100, dtype=np.uint8), 204, 98, bad_rows=3),
             Page(np.ones((10, 100), np.uint8), 300, 300)]
    tif = tmp_path / "i.tif"
    tif.write_bytes(tiff_bytes(pages, "mr", fill_order=2, rows_per_strip=20))
    assert main(["info", str(tif)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{tif}: TIFF-F, 2 page(s)"
    assert out[1] == ("page 1: 100 x 64 pixels, 204 x 98 dpi (standard), MR, bad rows 3, "
                      "fill order 2, 4 strip(s)")
    assert out[2].startswith("page 2: 100 x 10 pixels, 300 x 300 dpi (300), MR, bad rows 0")


def test_pdf_to_tiff_and_png_pages(tmp_path, capsys):
    pdf = tmp_path / "in.pdf"
    a4 = (827, 1169)                                     # A4 at 100 dpi
    imgs = [Image.new("L", a4, 255) for _ in range(2)]
    imgs[0].paste(0, (100, 100, 300, 200))
    imgs[1].paste(0, (400, 800, 700, 900))
    imgs[0].save(pdf, save_all=True, append_images=imgs[1:], resolution=100)
    tif = tmp_path / "out.tif"
    assert main(["convert", str(pdf), str(tif), "--scheme", "mh",
                 "--resolution", "standard"]) == 0
    pages = read_tiff(tif)
    assert len(pages) == 2 and all(p.scheme == "mh" and p.resolution == "standard"
                                   for p in pages)
    assert all(abs(p.height - round(297 / 25.4 * 98)) <= 1 and p.width == 1728 for p in pages)
    assert main(["convert", str(tif), str(tmp_path / "pg.png")]) == 0
    for i, p in enumerate(pages, 1):
        # standard resolution: each row is shown twice, so the PNG has square pixels
        np.testing.assert_array_equal(png_bitmap(tmp_path / f"pg-{i}.png"),
                                      np.repeat(p.bitmap, 2, axis=0))
        with Image.open(tmp_path / f"pg-{i}.png") as im:
            assert tuple(round(v) for v in im.info["dpi"]) == (204, 196)
    # the boxes landed where they were drawn (100 dpi -> 204 x 98 dpi, centred)
    off = (1728 - round(210 / 25.4 * 204)) // 2
    ys, xs = np.nonzero(pages[0].bitmap)
    assert abs(xs.min() - (off + 100 * 2.04)) <= 3 and abs(ys.min() - 100 * 0.98) <= 2


def test_tiff_to_raw_g3_and_g4_and_back(tmp_path, itu1, capsys):
    path, ref = itu1
    tif = tmp_path / "a.tif"
    assert main(["convert", str(path), str(tif)]) == 0
    g3, g4 = tmp_path / "a.g3", tmp_path / "a.g4"
    assert main(["convert", str(tif), str(g3), "--scheme", "mr"]) == 0
    assert main(["convert", str(tif), str(g4), "--fill-order", "2"]) == 0
    capsys.readouterr()
    assert main(["info", str(g3)]) == 0                       # MR found by itself
    assert "raw MR stream, 1 page(s)" in capsys.readouterr().out
    for src, extra in ((g3, []), (g4, ["--lsb-first"]), (g4, ["--raw", "mmr", "--lsb-first",
                                                              "--width", "1728"])):
        out = tmp_path / "back.pbm"
        assert main(["convert", str(src), str(out), *extra]) == 0
        (back,) = load_pbm_pages(out)
        np.testing.assert_array_equal(back, ref)


def test_raw_input_options(tmp_path, capsys):
    bm = np.zeros((30, 256), np.uint8)
    bm[5:25, 40:200] = 1
    stream = tmp_path / "x.fax"
    stream.write_bytes(raw_bytes([bm, bm[:10]], "mh"))
    out = tmp_path / "x.pbm"
    assert main(["convert", str(stream), str(out), "--raw", "mh", "--width", "256",
                 "--resolution", "standard"]) == 0
    a, b = load_pbm_pages(out)
    np.testing.assert_array_equal(a, bm)
    np.testing.assert_array_equal(b, bm[:10])
    stream.write_bytes(raw_bytes([bm], "mmr")[:-3])          # truncated: no EOFB
    assert main(["info", str(stream), "--raw", "mmr", "--width", "256"]) == 0
    assert "damaged" in capsys.readouterr().out


def test_page_size_dither_and_split(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 600).astype(np.uint8), (3000, 1))
    src = tmp_path / "ramp.png"
    Image.fromarray(ramp).save(src)
    thr, dit = tmp_path / "t.tif", tmp_path / "d.tif"
    assert main(["convert", str(src), str(thr), "--page-size", "b4"]) == 0
    assert main(["convert", str(src), str(dit), "--page-size", "b4", "--dither"]) == 0
    t, d = read_tiff(thr), read_tiff(dit)
    assert all(p.width == 2048 for p in t + d)
    rows = round(364 / 25.4 * 196)
    assert [p.height for p in t][:-1] == [rows] * (len(t) - 1) and len(t) >= 2
    # threshold: every column is all black or all white; dither: grey columns in between
    col = t[0].bitmap.mean(axis=0)
    assert set(np.unique(col)) <= {0.0, 1.0}
    dcol = d[0].bitmap[:, 1000:1048].mean()
    assert 0.3 < dcol < 0.7
    one = tmp_path / "one.tif"
    assert main(["convert", str(src), str(one), "--no-split", "--page-size", "letter"]) == 0
    (p,) = read_tiff(one)                 # no dpi: the image fills the scan width
    assert p.width == 1728 and abs(p.height - 3000 * 1728 / 600 * 196 / 204) <= 1
    assert abs(sum(q.height for q in t) - 3000 * 2048 / 600 * 196 / 204) <= 1


@pytest.mark.parametrize("case", ["missing", "garbage", "corrupt-tiff", "bad-ext", "g3-mmr",
                                  "empty-raw", "bad-pdf"])
def test_errors_are_one_line_and_exit_1(tmp_path, capsys, case):
    good = tmp_path / "good.png"
    Image.new("L", (50, 50), 0).save(good)
    args = {
        "missing": ["info", str(tmp_path / "nope.tif")],
        "garbage": ["convert", str(tmp_path / "g.dat"), str(tmp_path / "o.tif")],
        "corrupt-tiff": ["info", str(tmp_path / "c.tif")],
        "bad-ext": ["convert", str(good), str(tmp_path / "o.xyz")],
        "g3-mmr": ["convert", str(good), str(tmp_path / "o.g3"), "--scheme", "mmr"],
        "empty-raw": ["info", str(tmp_path / "z.g4")],
        "bad-pdf": ["convert", str(tmp_path / "b.pdf"), str(tmp_path / "o.tif")],
    }[case]
    (tmp_path / "g.dat").write_bytes(b"\x01\x02garbage" * 10)
    (tmp_path / "c.tif").write_bytes(tiff_bytes([np.ones((8, 8), np.uint8)], "none")[:40])
    (tmp_path / "z.g4").write_bytes(bytes(64))
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.7\n%broken\n")
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"faxcore {args[0]}: error: ")


def test_damaged_tiff_converts_with_partial_page(tmp_path, capsys):
    bm = np.zeros((40, 300), np.uint8)
    bm[:, 100:150] = 1
    data = bytearray(tiff_bytes([bm], "mh"))
    data[60:64] = b"\xff\x00\xff\x00"                          # damage some rows
    src = tmp_path / "dmg.tif"
    src.write_bytes(bytes(data))
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    m = re.search(r"bad rows (\d+)", out)
    assert m and int(m.group(1)) > 0
    assert main(["convert", str(src), str(tmp_path / "o.pbm")]) == 0


def test_subprocess_convert_and_info(tmp_path):
    src = tmp_path / "in.png"
    Image.new("L", (400, 300), 255).save(src)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "faxcore", "convert", str(src),
                        str(tmp_path / "o.tif"), "--resolution", "fine"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "faxcore", "info", str(tmp_path / "o.tif")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "page 1: 1728 x " in r.stdout
    r = subprocess.run([sys.executable, "-m", "faxcore", "info", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def test_demo_faxes_itu_chart(tmp_path, itu1, capsys):
    """``faxcore demo``: chart 1 goes from one faxcore station to another over simulated
    audio (V.17, ECM); the received TIFF-F, the PNG preview and the report are written."""
    _, ref = itu1
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert str(out.resolve()) in text and "pixel for pixel" in text
    progress = [line for line in text.splitlines() if " phase " in line]
    # One line per change of phase/page/bit rate, not a flood: A, B, C, D, E.
    assert [line.split(" phase ")[1][0] for line in progress] == list("ABCDE")
    assert "14400 bit/s V17/14400" in progress[2]
    # The received TIFF-F, decoded by libtiff (Pillow), is chart 1.
    with Image.open(out / "received.tif") as im:
        assert im.info["compression"] == "group4"
        np.testing.assert_array_equal((np.asarray(im.convert("L")) < 128).astype(np.uint8),
                                      ref)
    np.testing.assert_array_equal(png_bitmap(out / "page-1.png"), ref)
    report = (out / "report.txt").read_text()
    assert "caller (sending):     status OK" in report
    assert "answerer (receiving): status OK" in report
    assert "V17/14400 ECM mmr fine" in report
    for frame in ("DIS", "DCS", "CFR", "PPS-EOP", "MCF", "DCN"):
        assert f" {frame} " in report, frame


def test_demo_without_shared_data_uses_builtin_page(tmp_path, capsys, monkeypatch):
    from faxcore.codecs.prep import sample_page

    monkeypatch.setenv("FAXCORE_SHARED", str(tmp_path / "absent"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert "built-in sample page" in capsys.readouterr().out
    (page,) = read_tiff(out / "received.tif")
    np.testing.assert_array_equal(page.bitmap, sample_page("fine"))


def test_demo_sends_the_files_named_too(tmp_path, capsys, monkeypatch):
    """Files on the command line follow the chart; a standard-resolution page gets its own
    DCS (EOM before it) and arrives as it was prepared."""
    from faxcore.codecs.prep import prepare_image, sample_page

    monkeypatch.setenv("FAXCORE_SHARED", str(tmp_path / "absent"))
    src = tmp_path / "drawing.png"
    img = Image.new("L", (800, 500), 255)
    img.paste(0, (100, 100, 400, 200))
    img.save(src, dpi=(100, 100))
    want = prepare_image(src, resolution="standard")
    tif = tmp_path / "std.tif"
    tif.write_bytes(tiff_bytes(want, "mh"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), str(tif)]) == 0
    text = capsys.readouterr().out
    assert "all 2 received page(s) equal" in text
    got = read_tiff(out / "received.tif")
    assert [p.resolution for p in got] == ["fine", "standard"]
    np.testing.assert_array_equal(got[0].bitmap, sample_page("fine"))
    np.testing.assert_array_equal(got[1].bitmap, want[0].bitmap)
    assert got[1].bitmap.sum() > 30000  # the black box (3 x 1 inch) survived the trip
    assert " PPS-EOM " in (out / "report.txt").read_text()
    np.testing.assert_array_equal(png_bitmap(out / "page-2.png"),
                                  np.repeat(want[0].bitmap, 2, axis=0))  # square pixels


def test_demo_bad_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAXCORE_SHARED", str(tmp_path / "absent"))
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    assert main(["demo", "--out", str(tmp_path / "demo"), str(bad)]) == 1
    assert "cannot use" in capsys.readouterr().err


def test_non_fax_tiff_goes_through_page_preparation(tmp_path):
    src = tmp_path / "rgb.tif"
    arr = np.full((300, 600, 3), 255, np.uint8)
    arr[:, :300] = (20, 20, 200)                                # dark blue left half
    Image.fromarray(arr).save(src, compression="tiff_lzw")
    out = tmp_path / "o.tif"
    assert main(["convert", str(src), str(out), "--resolution", "superfine"]) == 0
    (page,) = read_tiff(out)
    assert (page.width, page.resolution) == (1728, "superfine")
    assert page.bitmap[:, :860].all() and not page.bitmap[:, 868:].any()


def test_fax_tiff_refit_to_another_resolution(tmp_path):
    bm = np.zeros((400, 1728), np.uint8)
    bm[100:300, 200:1200] = 1
    src = tmp_path / "fine.tif"
    src.write_bytes(tiff_bytes([Page(bm, 204, 196)], "mmr"))
    out = tmp_path / "std.tif"
    assert main(["convert", str(src), str(out), "--resolution", "standard",
                 "--scheme", "mr"]) == 0
    (page,) = read_tiff(out)
    assert page.scheme == "mr" and page.resolution == "standard"
    assert page.bitmap.shape == (200, 1728)
    assert page.bitmap[50:150, 200:1200].all() and page.bitmap.sum() == 100 * 1000
    same = tmp_path / "same.tif"                                # no option: no resampling
    assert main(["convert", str(src), str(same)]) == 0
    np.testing.assert_array_equal(read_tiff(same)[0].bitmap, bm)


def test_multipage_pbm_round_trip(tmp_path, capsys):
    pages = [np.eye(80, 1728, k=i, dtype=np.uint8) for i in (0, 500, 1000)]
    src = tmp_path / "three.tif"
    src.write_bytes(tiff_bytes([Page(p, 204, 98) for p in pages], "mh"))
    pbm, back = tmp_path / "three.pbm", tmp_path / "back.tif"
    assert main(["convert", str(src), str(pbm)]) == 0
    assert main(["convert", str(pbm), str(back), "--resolution", "standard"]) == 0
    got = read_tiff(back)
    assert len(got) == 3
    for g, p in zip(got, pages, strict=True):
        np.testing.assert_array_equal(g.bitmap, p)
    pbm.write_bytes(pbm.read_bytes()[:-100])                  # truncated last image
    assert main(["info", str(pbm)]) == 1
    assert "truncated" in capsys.readouterr().err
