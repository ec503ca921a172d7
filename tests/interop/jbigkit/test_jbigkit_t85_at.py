"""Our encoder's own AT pixel choice (``jbig.encode(auto_at=True)``, ATMOVE segments)
decodes with jbigkit's T.85 decoder (jbgtopbm85) to the exact pixels: the ITU charts, a
dithered photo, ordered halftones (where the AT pixel moves), narrow widths, both
templates, stripes of 128 lines and one stripe for the whole page."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import jbig, read_pbm
from faxcore.testing.pages import bayer_halftone, dithered_photo
from faxcore.testing.peers import require_shared, require_tool


def _jbgtopbm85(tmp_path: Path, data: bytes, tool: str = "jbgtopbm85") -> np.ndarray:
    src, dst = tmp_path / "at.jbg", tmp_path / "at.pbm"
    src.write_bytes(data)
    subprocess.run([require_tool(tool), str(src), str(dst)], check=True,
                   capture_output=True)
    return read_pbm(dst.read_bytes())[0].astype(np.uint8)


def _pages() -> list[tuple[str, np.ndarray]]:
    pages = []
    for i in range(1, 9):
        path = require_shared(f"testdata/itu/itu{i}.pbm")
        pages.append((f"itu{i}", read_pbm(path.read_bytes())[0].astype(np.uint8)))
    pages.append(("photo", dithered_photo(900)))
    pages.append(("bayer8", bayer_halftone(700, 1728, 8)))
    # a picture whose halftone period changes down the page: moves back and forth
    pages.append(("bayer4-8-2", np.vstack([bayer_halftone(300, 1728, 4), bayer_halftone(300, 1728, 8),
                                           bayer_halftone(300, 1728, 2)])))
    for w in (1, 3, 8, 13, 61, 215):
        pages.append((f"w{w}", bayer_halftone(260, w, 4)))
    return pages


@pytest.fixture(scope="module")
def pages():
    return _pages()


@pytest.mark.parametrize("kw", [dict(), dict(two_line=True), dict(l0=100000),
                                dict(l0=50, tpbon=False, mx=127)],
                         ids=["3-line", "2-line", "one-stripe", "l0-50-mx127"])
def test_our_at_moves_decode_with_jbgtopbm85(tmp_path, pages, kw):
    moved = set()
    for name, page in pages:
        data = jbig.encode(page, auto_at=True, **kw)
        if b"\xff\x06" in data:
            moved.add(name)
        assert np.array_equal(_jbgtopbm85(tmp_path, data), page), (name, kw)
        assert np.array_equal(jbig.decode(data).bitmap, page), (name, kw)
    assert {"bayer8", "bayer4-8-2"} <= moved, moved


def test_the_t30_coding_decodes_with_both_jbigkit_decoders(tmp_path, pages):
    """What the T.30 transmitter sends (encode_for_line: AT choice, TPBON either way, one
    stripe with optional L0, L0 = 128 without): jbigkit's T.85 decoder and its full T.82
    decoder (jbgtopbm: libjbig's jbg_dec, which libtiff and HylaFAX use) give the page."""
    for name, page in pages:
        if name.startswith("w") and name != "w215":
            continue
        for optional_l0 in (False, True):
            data = jbig.encode_for_line(page, optional_l0=optional_l0)
            for tool in ("jbgtopbm85", "jbgtopbm"):
                assert np.array_equal(_jbgtopbm85(tmp_path, data, tool), page), (name, tool)
