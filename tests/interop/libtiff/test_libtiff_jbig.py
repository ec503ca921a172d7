"""JBIG (Compression 34661) TIFFs against libtiff (tif_jbig.c, jbigkit) and jbigkit's tools.

Debian's libtiff is linked with libjbig: ``tiffcp -c jbig`` writes and ``tiffcp -c none``
decodes JBIG pages. Both directions, on an ITU chart and a synthetic page, both FillOrders;
and the strip itself, as a plain BIE, read by jbigkit's ``jbgtopbm``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes, write_tiff
from faxcore.testing.peers import require_shared, require_tool

_REV = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def _run(*cmd: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


def _pbm(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    itu1 = _pbm(require_shared("testdata/itu/itu1.pbm"))
    rng = np.random.default_rng(3)
    synth = np.zeros((333, 1000), np.uint8)
    synth[::7, :] = 1
    synth[100:200, 300:700] = rng.integers(0, 2, (100, 400), dtype=np.uint8)
    return [itu1, synth]


@pytest.mark.parametrize("fill", [1, 2])
def test_libtiff_decodes_our_jbig(tmp_path: Path, pages: list[np.ndarray], fill: int) -> None:
    src, dst = tmp_path / "ours.tif", tmp_path / "none.tif"
    write_tiff(src, [Page(p, 204, 196) for p in pages], "jbig", fill_order=fill)
    info = _run(require_tool("tiffinfo"), src).stdout.decode()
    assert info.count("Compression Scheme: ISO JBIG") == 2
    _run(require_tool("tiffcp"), "-c", "none", src, dst)
    got = read_tiff(dst)
    assert [p.scheme for p in got] == ["none", "none"]
    for want, p in zip(pages, got, strict=True):
        assert np.array_equal(p.bitmap, want)


@pytest.mark.parametrize("fill", ["msb2lsb", "lsb2msb"])
def test_we_decode_libtiffs_jbig(tmp_path: Path, pages: list[np.ndarray], fill: str) -> None:
    src, dst = tmp_path / "none.tif", tmp_path / "jbig.tif"
    write_tiff(src, pages, "none")
    _run(require_tool("tiffcp"), "-c", "jbig", "-f", fill, src, dst)
    got = read_tiff(dst)
    assert [p.scheme for p in got] == ["jbig", "jbig"]
    assert [p.fill_order for p in got] == [1 if fill == "msb2lsb" else 2] * 2
    for want, p in zip(pages, got, strict=True):
        assert p.error is None
        assert np.array_equal(p.bitmap, want)


def test_jbgtopbm_reads_our_strip(tmp_path: Path, pages: list[np.ndarray]) -> None:
    """The strip of a FillOrder-1 page, un-reversed as libtiff does, is a BIE jbigkit reads."""
    from faxcore.codecs.tiff import _Reader  # noqa: PLC0415 -- the strip table, private on purpose

    page = pages[0]
    data = tiff_bytes([page], "jbig")
    tags, _ = _Reader(data).ifd(int.from_bytes(data[4:8], "little"))
    off, cnt = tags[273][0], tags[279][0]
    bie = tmp_path / "strip.jbg"
    bie.write_bytes(_REV[np.frombuffer(data[off:off + cnt], np.uint8)].tobytes())
    out = tmp_path / "strip.pbm"
    _run(require_tool("jbgtopbm"), bie, out)
    assert np.array_equal(_pbm(out), page)
