"""T.85 JBIG against jbigkit (Debian jbigkit-bin: pbmtojbg85, jbgtopbm85): our streams
decode with jbgtopbm85 to the same pixels, pbmtojbg85's streams decode with ours, and with
the same options (no AT moves: ``-m 0``) our bytes equal jbigkit's."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import decode, encode, jbig, pbm_bytes, read_pbm
from faxcore.testing.pages import dithered_photo
from faxcore.testing.peers import require_shared, require_tool

CHARTS = [f"itu{i}.pbm" for i in range(1, 9)]


def _pbm_pixels(path: Path) -> np.ndarray:
    return read_pbm(path.read_bytes())[0].astype(np.uint8)


def _jbigkit_encode(tmp_path: Path, page: np.ndarray, *args: str) -> bytes:
    src, dst = tmp_path / "in.pbm", tmp_path / "in.jbg"
    src.write_bytes(pbm_bytes([page]))
    subprocess.run([require_tool("pbmtojbg85"), *args, str(src), str(dst)], check=True,
                   capture_output=True)
    return dst.read_bytes()


def _jbigkit_decode(tmp_path: Path, data: bytes) -> np.ndarray:
    src, dst = tmp_path / "out.jbg", tmp_path / "out.pbm"
    src.write_bytes(data)
    subprocess.run([require_tool("jbgtopbm85"), str(src), str(dst)], check=True,
                   capture_output=True)
    return _pbm_pixels(dst)


def _ordered_halftone(rows: int = 600, width: int = 1728) -> np.ndarray:
    """A smooth picture through an 8x8 Bayer matrix: the period-8 halftone for which
    jbigkit moves the AT pixel."""
    b2 = np.array([[0, 2], [3, 1]])
    b8 = np.kron(np.kron(b2, np.ones((2, 2), int)) * 4 + np.tile(b2, (2, 2)),
                 np.ones((2, 2), int)) * 4 + np.tile(b2, (4, 4))
    y, x = np.mgrid[0:rows, 0:width]
    grey = 32 + 28 * np.sin(x / 150.0) * np.cos(y / 90.0)
    return (grey > b8[y % 8, x % 8]).astype(np.uint8)


def _pages() -> list[tuple[str, np.ndarray]]:
    pages = [(c, _pbm_pixels(require_shared(f"testdata/itu/{c}"))) for c in CHARTS]
    pages.append(("photo", dithered_photo(1100)))
    pages.append(("halftone", _ordered_halftone()))
    rng = np.random.default_rng(3)
    for w in (1, 3, 8, 61, 215, 1729, 2432):
        pages.append((f"w{w}", (rng.random((97, w)) < 0.15).astype(np.uint8)))
    pages.append(("white", np.zeros((1145, 1728), np.uint8)))
    pages.append(("black", np.ones((300, 1728), np.uint8)))
    return pages


@pytest.fixture(scope="module")
def pages():
    return _pages()


OPTIONS = [("3-line TPBON", [], dict()),
           ("2-line TPBON", ["-p", "72"], dict(two_line=True)),
           ("3-line plain", ["-p", "0"], dict(tpbon=False)),
           ("2-line, L0=37", ["-p", "64", "-s", "37"], dict(two_line=True, tpbon=False, l0=37))]


@pytest.mark.parametrize("label,args,kw", OPTIONS, ids=[o[0] for o in OPTIONS])
def test_our_streams_equal_jbigkits_and_decode_with_jbgtopbm85(tmp_path, pages, label, args,
                                                                kw):
    for name, page in pages:
        ours = jbig.encode(page, **kw)
        theirs = _jbigkit_encode(tmp_path, page, "-m", "0", *args)
        assert ours == theirs, (label, name, len(ours), len(theirs))
        assert np.array_equal(_jbigkit_decode(tmp_path, ours), page), (label, name)


def test_jbigkits_streams_with_at_moves_comments_and_stripes_decode_with_ours(tmp_path,
                                                                              pages):
    """pbmtojbg85's defaults move the AT pixel (ATMOVE segments) on the photo and charts."""
    moved = 0
    for name, page in pages:
        for args in ([], ["-s", "1"], ["-s", "300", "-p", "72", "-C", "faxcore\xff\x02"]):
            data = _jbigkit_encode(tmp_path, page, *args)
            moved += b"\xff\x06" in data
            p = decode(data, "jbig", page.shape[1])
            assert p.error is None and np.array_equal(p.bitmap, page), (name, args)
    assert moved >= 1


@pytest.mark.parametrize("announced,after", [(5000, 200), (5000, 1000), (2000, 1099),
                                             (0xFFFFFFFF, 640)])
def test_newlen_pages_both_ways(tmp_path, pages, announced, after):
    """pbmtojbg85 -Y: the BIH announces a longer page (VLENGTH), a NEWLEN after line
    ``after`` gives the real length; ours puts NEWLEN after the last stripe."""
    page = dict(pages)["photo"]
    data = _jbigkit_encode(tmp_path, page, "-Y", str(announced), str(after))
    assert b"\xff\x05" in data
    p = jbig.decode(data)
    assert p.error is None and np.array_equal(p.bitmap, page)
    ours = jbig.encode(page, yd=announced)
    assert np.array_equal(_jbigkit_decode(tmp_path, ours), page)
    # our NEWLEN page is jbigkit's when it learns the length at the last line
    assert ours == _jbigkit_encode(tmp_path, page, "-m", "0", "-Y", str(announced),
                                   str(page.shape[0] - 1))


def test_the_charts_through_the_scheme_dispatch_and_back(tmp_path, pages):
    for name, page in pages[:8]:
        data = encode(page, "jbig")
        assert np.array_equal(decode(data, "jbig", 1728).bitmap, page), name


def _full_jbig_encode(tmp_path: Path, page: np.ndarray, *args: str) -> bytes:
    src, dst = tmp_path / "full.pbm", tmp_path / "full.jbg"
    src.write_bytes(pbm_bytes([page]))
    subprocess.run([require_tool("pbmtojbg"), "-q", *args, str(src), str(dst)], check=True,
                   capture_output=True)
    return dst.read_bytes()


def test_sdrst_stripes_both_ways(tmp_path, pages):
    """SDRST (each stripe coded as if first: fresh statistics, TP state and AT pixel, white
    lines above): jbigkit's full T.82 encoder writes it (pbmtojbg -q -r); with the same
    options our bytes equal its (with trim_zeros: jbigkit's full encoder drops every
    trailing 0x00 of a stripe, its T.85 encoder may keep some: on this page at L0=11 two
    stripes differ so, and both decoders give the same pixels), and both jbigkit decoders
    read ours."""
    page = dict(pages)["halftone"]
    for l0 in (11, 128):
        ours = jbig.encode(page, l0=l0, sdrst=True, trim_zeros=True)
        theirs = _full_jbig_encode(tmp_path, page, "-r", "-m", "0", "-o", "0", "-p", "8",
                                   "-s", str(l0))
        assert ours == theirs, l0
        kept = jbig.encode(page, l0=l0, sdrst=True)
        assert (kept != ours) == (l0 == 11)
        assert np.array_equal(jbig.decode(kept).bitmap, page)
        assert np.array_equal(_jbigkit_decode(tmp_path, kept), page)
        assert np.array_equal(_jbigkit_decode(tmp_path, ours), page)
        src, dst = tmp_path / "o.jbg", tmp_path / "o.pbm"
        src.write_bytes(ours)
        subprocess.run([require_tool("jbgtopbm"), str(src), str(dst)], check=True)
        assert np.array_equal(_pbm_pixels(dst), page)


@pytest.mark.parametrize("args", [[], ["-r"], ["-r", "-s", "5", "-p", "72"],
                                  ["-s", "7", "-m", "30"], ["-c", "-s", "50", "-p", "28"]])
def test_single_layer_t82_streams_decode_with_strict_false(tmp_path, pages, args):
    """pbmtojbg -q (full T.82, one layer; BIH order ILEAVE|SMID and TPDON|DPON, which mean
    nothing for one layer): refused as not T.85 by default, decoded with strict=False."""
    for name in ("itu1.pbm", "halftone", "w61"):
        page = dict(pages)[name]
        data = _full_jbig_encode(tmp_path, page, *args)
        assert jbig.decode(data).error.startswith("not T.85")
        p = jbig.decode(data, strict=False)
        assert p.error is None and np.array_equal(p.bitmap, page), (name, args)
