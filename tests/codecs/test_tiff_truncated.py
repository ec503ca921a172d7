"""Truncated multi-page TIFFs (e.g. a received fax cut short): the complete pages are
returned with an error for the rest, as many pages as libtiff's ``tiffinfo`` finds
directories, and ``faxcore info`` prints them before a one-line error."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from faxcore.cli import main
from faxcore.codecs.tiff import Page, TiffError, iter_tiff, read_tiff, tiff_bytes
from faxcore.testing.hostile_files import four_pages, ifd_spans, truncated_corpus
from faxcore.testing.paths import CORPUS
from faxcore.testing.peers import require_tool


def cuts(data: bytes) -> list[int]:
    """Cut offsets: every 37th byte, and around every IFD's start and end."""
    at = set(range(8, len(data), 37))
    for start, end in ifd_spans(data):
        at |= {start - 1, start, start + 1, start + 2, end - 5, end - 4, end - 2, end - 1, end}
    return sorted(c for c in at if 8 <= c < len(data))


def expected_pages(data: bytes, cut: int) -> int:
    """Our writer puts each page's strips before its IFD: a page is complete when its
    IFD entries are in the file (libtiff, too, keeps a directory whose next-IFD offset
    is cut off)."""
    return sum(end - 4 <= cut for _, end in ifd_spans(data))


def read_partial(data: bytes) -> tuple[list[Page], str | None]:
    try:
        return read_tiff(data), None
    except TiffError as exc:
        return exc.pages, str(exc)


@pytest.mark.parametrize("scheme", ["mmr", "mh", "mr", "none"])
def test_truncated_tiff_gives_complete_pages_and_error(scheme):
    pages = four_pages()
    data = tiff_bytes(pages, scheme)
    for cut in cuts(data):
        got, err = read_partial(data[:cut])
        n = expected_pages(data, cut)
        assert len(got) == n, (cut, err)
        assert err is not None and err.startswith(f"page {n + 1}: ") and "truncated" in err
        for p, want in zip(got, pages, strict=False):
            assert p.error is None
            assert np.array_equal(p.bitmap, want.bitmap)
            assert p.yres == want.yres
    assert len(read_tiff(data)) == 4


def test_truncated_tiff_matches_tiffinfo(tmp_path):
    tiffinfo = require_tool("tiffinfo")
    data = tiff_bytes(four_pages(), "mmr")
    path = tmp_path / "cut.tif"
    checked = 0
    for cut in cuts(data):
        path.write_bytes(data[:cut])
        res = subprocess.run([tiffinfo, str(path)], capture_output=True, text=True)
        dirs = res.stdout.count("TIFF Directory at offset")
        got, _ = read_partial(data[:cut])
        assert len(got) == dirs, (cut, res.stderr[-300:])
        checked += dirs > 0
    assert checked > 10


def test_iter_tiff_yields_complete_pages_then_raises():
    pages = four_pages()
    data = tiff_bytes(pages, "mmr")
    cut = ifd_spans(data)[2][0] + 5        # inside the third IFD
    it = iter_tiff(data[:cut])
    assert np.array_equal(next(it).bitmap, pages[0].bitmap)
    assert np.array_equal(next(it).bitmap, pages[1].bitmap)
    with pytest.raises(TiffError, match="page 3: IFD at offset .* cut off") as info:
        next(it)
    assert info.value.complete_pages == 2 and info.value.pages == []


def test_strict_false_returns_the_complete_pages():
    data = tiff_bytes(four_pages(), "mh")
    cut = ifd_spans(data)[3][0] - 10
    assert len(read_tiff(data[:cut], strict=False)) == 3
    with pytest.raises(TiffError):                 # nothing complete: still an error
        read_tiff(data[:ifd_spans(data)[0][0] + 3], strict=False)


def test_faxcore_info_prints_good_pages_then_one_line_error(tmp_path, capsys):
    data = tiff_bytes(four_pages(), "mmr")
    cut = ifd_spans(data)[3][0] - 100             # inside the fourth page's strip
    path = tmp_path / "received.tif"
    path.write_bytes(data[:cut])
    assert main(["info", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"{path}: TIFF-F, 3 page(s) readable"
    assert [line.split(":")[0] for line in lines[1:]] == ["page 1", "page 2", "page 3"]
    assert "200 x 30 pixels" in lines[1] and "200 x 40 pixels" in lines[3]
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"faxcore info: error: {path}: page 4: IFD at offset")
    assert "truncated" in err


def test_faxcore_convert_refuses_truncated_tiff_naming_the_page(tmp_path, capsys):
    data = tiff_bytes(four_pages(), "mmr")
    path = tmp_path / "received.tif"
    path.write_bytes(data[:ifd_spans(data)[1][0] + 3])
    assert main(["convert", str(path), str(tmp_path / "out.tif")]) == 1
    err = capsys.readouterr().err
    assert "page 2:" in err and "truncated" in err
    assert not (tmp_path / "out.tif").exists()



def test_truncated_tiffs_are_in_the_corpus():
    for name, data in truncated_corpus().items():
        assert (CORPUS / "tiff" / name).read_bytes() == data, name
        got, err = read_partial(data)
        assert got and err and "truncated" in err
