"""Received pages are kept packed (one bit per pixel) in the T.30 receiver and the page
store, and unpacked only when someone asks for a bitmap (issue 14: memory per session)."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import codecs
from faxcore.codecs import read_tiff
from faxcore.pagestore import TiffPageWriter
from faxcore.t30 import RxPage, TxPage
from faxcore.testing.engines import assert_pages_equal, loopback_call
from faxcore.testing.pages import text_page


def _array_bytes(page: RxPage) -> int:
    """Octets of the numpy arrays a page holds (its coded data is bytes, not counted)."""
    return sum(v.nbytes for v in vars(page).values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("ecm", [False, True])
def test_received_pages_hold_packed_rows_not_bitmaps(ecm):
    """After a call, each received page holds its rows packed (rows x width/8 octets),
    and its ``bitmap`` unpacks to exactly the pixels sent."""
    sent = [TxPage(text_page(300, seed=s), "fine") for s in (1, 2)]
    _a, b, _lb = loopback_call(sent, caller={"ecm": ecm}, answerer={"ecm": ecm})
    assert_pages_equal(sent, b)
    for s, r in zip(sent, b.received_pages, strict=True):
        rows, width = s.bitmap.shape
        assert r.packed.shape == (rows, width // 8)
        assert np.array_equal(np.unpackbits(r.packed, axis=1), s.bitmap)
        # packed (up to the decoder's spare third of a buffer), never a pixel per octet
        assert _array_bytes(r) <= rows * width // 8 * 4 // 3
        assert _array_bytes(r) < rows * width // 4


def test_rxpage_from_a_bitmap_keeps_it_packed():
    """The old constructor (a bitmap first) still works, and the page stays packed."""
    bm = text_page(100, seed=3)
    p = RxPage(bm, "fine", "mmr", bm.shape[1], bm.shape[0], 0, True)
    assert p.packed.shape == (100, 216)
    assert np.array_equal(p.bitmap, bm)
    assert _array_bytes(p) == 100 * 216
    assert RxPage(None, "fine", "mmr", 1728, 0, 0, True).bitmap is None
    with pytest.raises(ValueError):
        RxPage(bm, "fine", "mmr", 1728, 100, 0, True, packed=np.packbits(bm, axis=1))


def test_page_writer_keeps_no_bitmaps_and_still_moves_to_a_fallback(tmp_path):
    """The TIFF-F writer keeps received pages (packed) for a move to a fallback
    directory, not one-octet-per-pixel TIFF pages; the moved file has every pixel."""
    gone = tmp_path / "gone"
    gone.mkdir()
    w = TiffPageWriter(gone / "fax.tif", fallback_dirs=[tmp_path / "fb"])
    pages = [text_page(200, seed=s) for s in (4, 5)]
    w.store_page(RxPage(pages[0], "fine", "mmr", 1728, 200, 0, True))
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    w.store_page(RxPage(pages[1], "fine", "mmr", 1728, 200, 0, True))
    w.close()
    held = [a for v in vars(w).values() if isinstance(v, list) for item in v
            for a in (item if isinstance(item, tuple) else (item,))]
    assert not any(isinstance(getattr(a, "bitmap", None), np.ndarray)
                   and not isinstance(a, RxPage) for a in held)
    assert w.path.parent == tmp_path / "fb"
    got = read_tiff(w.path)
    assert len(got) == 2
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g.bitmap, p)


class CountingCodec:
    """faxcore.codecs, counting the pages it encodes."""

    def __init__(self):
        self.encoded = 0

    def encode(self, *args, **kw):
        self.encoded += 1
        return codecs.encode(*args, **kw)

    def decode(self, *args, **kw):
        return codecs.decode(*args, **kw)


@pytest.mark.parametrize("ecm", [False, True])
def test_a_page_sent_again_is_not_coded_again(ecm):
    """A TxPage keeps its coded form: the second call sending the same pages codes none
    of them again and delivers the same pixels; a page given new pixels (bitmap
    assigned) is coded afresh and delivers the new ones."""
    codec = CountingCodec()
    sent = [TxPage(text_page(200, seed=s), "fine") for s in (6, 7)]
    cfg = {"ecm": ecm, "codec": codec}
    for _ in range(2):
        _a, b, _lb = loopback_call(sent, caller=cfg, answerer={"ecm": ecm})
        assert_pages_equal(sent, b)
    assert codec.encoded == 2
    sent[1].bitmap = text_page(200, seed=8)
    _a, b, _lb = loopback_call(sent, caller=cfg, answerer={"ecm": ecm})
    assert_pages_equal(sent, b)
    assert codec.encoded == 3
