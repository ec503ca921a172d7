"""``faxcore convert --scheme jbig`` (TIFF Compression 34661, raw .jbg) and ``info`` on it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faxcore.cli import main
from faxcore.codecs import jbig
from faxcore.codecs.tiff import read_tiff, write_tiff


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "in.pdf"
    imgs = [Image.new("L", (827, 1169), 255) for _ in range(2)]     # A4 at 100 dpi
    imgs[0].paste(0, (100, 100, 300, 200))
    imgs[1].paste(0, (400, 800, 700, 900))
    imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=100)
    return path


def test_pdf_to_jbig_tiff_same_pixels_as_mmr(tmp_path, pdf, capsys):
    jb, mmr = tmp_path / "out.tif", tmp_path / "mmr.tif"
    assert main(["convert", str(pdf), str(jb), "--scheme", "jbig"]) == 0
    assert main(["convert", str(pdf), str(mmr)]) == 0
    got, want = read_tiff(jb), read_tiff(mmr)
    assert [p.scheme for p in got] == ["jbig", "jbig"]
    assert len(want) == 2 and all(p.bitmap.any() for p in want)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g.bitmap, w.bitmap) and g.resolution == w.resolution
    capsys.readouterr()
    assert main(["info", str(jb)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("page 1: 1728 x ") and ", JBIG, bad rows 0, fill order 1, " \
        "1 strip(s)" in lines[1]


def test_jbig_tiff_back_to_mmr(tmp_path, pdf):
    jb, back = tmp_path / "j.tif", tmp_path / "back.tif"
    assert main(["convert", str(pdf), str(jb), "--scheme", "jbig", "--fill-order", "2"]) == 0
    assert main(["convert", str(jb), str(back), "--scheme", "mmr"]) == 0
    got, want = read_tiff(back), read_tiff(jb)
    assert [p.scheme for p in got] == ["mmr", "mmr"] and want[0].fill_order == 2
    assert all(np.array_equal(g.bitmap, w.bitmap) for g, w in zip(got, want, strict=True))


def test_raw_jbg_one_bie_per_page(tmp_path, pdf):
    ref = tmp_path / "ref.tif"
    assert main(["convert", str(pdf), str(ref)]) == 0
    pages = read_tiff(ref)
    assert main(["convert", str(pdf), str(tmp_path / "p.jbg")]) == 0
    for i, p in enumerate(pages, 1):
        dp = jbig.decode((tmp_path / f"p-{i}.jbg").read_bytes())
        assert dp.error is None and np.array_equal(dp.bitmap, p.bitmap)
    one, single = tmp_path / "one.tif", tmp_path / "single.jbg"
    write_tiff(one, pages[:1])
    assert main(["convert", str(one), str(single)]) == 0
    assert np.array_equal(jbig.decode(single.read_bytes()).bitmap, pages[0].bitmap)


@pytest.mark.parametrize("ext", [".g3", ".g4"])
def test_jbig_refused_for_raw_g3_g4(tmp_path, pdf, ext, capsys):
    out = tmp_path / f"o{ext}"
    assert main(["convert", str(pdf), str(out), "--scheme", "jbig"]) != 0
    assert "write JBIG to a .tif or .jbg file" in capsys.readouterr().err
    assert not out.exists()
