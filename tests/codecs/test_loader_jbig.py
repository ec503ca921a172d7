"""JBIG files (one T.85 / single-layer T.82 BIE) as input: the loader finds them by their
header or the .jbg extension, and ``faxcore convert`` / ``info`` take them. The files are
made by jbigkit (pbmtojbg85, pbmtojbg) from a PBM whose pixels they must give back."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from faxcore.cli import main
from faxcore.codecs import jbig, load_pages, pbm_bytes, read_pbm
from faxcore.codecs.loader import LoadError, load_document
from faxcore.codecs.tiff import read_tiff
from faxcore.testing.peers import require_tool


def _page(rows: int = 400, width: int = 1728) -> np.ndarray:
    rng = np.random.default_rng(11)
    a = np.zeros((rows, width), np.uint8)
    a[50:80, 100:900] = 1
    a[rows // 2: rows // 2 + 30] = rng.random((30, width)) < 0.3
    a[:, 1000:1004] = 1
    return a


def _jbigkit(tmp_path: Path, page: np.ndarray, tool: str, *args: str,
             name: str = "in.jbg") -> Path:
    pbm = tmp_path / "src.pbm"
    pbm.write_bytes(pbm_bytes([page]))
    out = tmp_path / name
    subprocess.run([require_tool(tool), *args, str(pbm), str(out)], check=True,
                   capture_output=True)
    # the PBM is what the pixels must equal
    assert np.array_equal(read_pbm(pbm.read_bytes())[0].astype(np.uint8), page)
    return out


@pytest.mark.parametrize("tool,args", [("pbmtojbg85", []), ("pbmtojbg85", ["-p", "64"]),
                                       ("pbmtojbg", ["-q"])])
def test_jbg_files_load_by_extension_and_by_header(tmp_path, tool, args):
    page = _page()
    path = _jbigkit(tmp_path, page, tool, *args)
    doc = load_document(path)
    assert doc.kind == "JBIG (T.85 BIE)" and len(doc.pages) == 1
    assert np.array_equal(doc.pages[0].bitmap, page)
    assert doc.pages[0].resolution == "fine"
    # by content: another name, and the bytes themselves
    other = tmp_path / "noext.bin"
    other.write_bytes(path.read_bytes())
    assert np.array_equal(load_pages(other)[0].bitmap, page)
    assert np.array_equal(load_pages(path.read_bytes())[0].bitmap, page)
    assert load_pages(path, resolution="standard")[0].resolution == "standard"


def test_a_narrow_jbg_is_refitted_when_sendable(tmp_path):
    page = _page(100, 600)
    path = _jbigkit(tmp_path, page, "pbmtojbg85")
    assert np.array_equal(load_pages(path)[0].bitmap, page)
    assert load_pages(path, sendable=True)[0].width == 1728


def test_a_truncated_or_multilayer_jbg_is_a_load_error(tmp_path):
    page = _page()
    data = _jbigkit(tmp_path, page, "pbmtojbg85").read_bytes()
    cut = tmp_path / "cut.jbg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError) as e:
        load_pages(cut)
    assert e.value.kind == "JBIG (T.85 BIE)"
    assert 0 < e.value.pages[0].bitmap.shape[0] < page.shape[0]
    assert np.array_equal(e.value.pages[0].bitmap, page[: e.value.pages[0].bitmap.shape[0]])
    layered = _jbigkit(tmp_path, page, "pbmtojbg", "-d", "2", name="layers.jbg")
    with pytest.raises(LoadError, match="DL=0 D=2"):
        load_pages(layered)


def test_faxcore_convert_and_info_take_a_jbg(tmp_path, capsys):
    page = _page()
    path = _jbigkit(tmp_path, page, "pbmtojbg85")
    out = tmp_path / "out.tif"
    assert main(["convert", str(path), str(out)]) == 0
    got = read_tiff(out)
    assert len(got) == 1 and np.array_equal(got[0].bitmap, page)
    # and back: our own BIE of it, with the AT choice, read again
    ours = tmp_path / "ours.jbg"
    ours.write_bytes(jbig.encode_for_line(page))
    assert np.array_equal(load_pages(ours)[0].bitmap, page)
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "1728 x 400" in text, text


def test_faxcore_call_sends_a_jbg(tmp_path, capsys):
    page = _page()
    path = _jbigkit(tmp_path, page, "pbmtojbg85")
    out = tmp_path / "rx.tif"
    assert main(["call", "--loopback", str(path), "--out", str(out)]) == 0
    assert "pages sent 1" in capsys.readouterr().out
    (got,) = read_tiff(out)
    assert got.resolution == "fine" and np.array_equal(got.bitmap, page)
