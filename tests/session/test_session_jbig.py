"""T.85 (JBIG) calls faxcore <-> faxcore over 8 kHz audio (FaxSession, V.17, ECM, two
pages): the DCS names T.85 and the received pages (and the TIFF-F written from them)
are pixel-identical to the sent ones; and over T.38, sending and polling."""

from __future__ import annotations

import numpy as np

import faxcore
from faxcore.codecs.tiff import read_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.t30.dis import B_T85, bits_from_fif
from faxcore.testing.line import run_call
from faxcore.testing.pages import pbm_page, small_page
from faxcore.testing.peers import require_shared


def test_audio_jbig_call_v17_ecm(tmp_path):
    chart = pbm_page(require_shared("testdata/itu/itu1.pbm"))
    pages = [TxPage(chart, "fine"), TxPage(small_page(1), "standard")]
    out = tmp_path / "rx.tif"
    a = faxcore.FaxSession(True, send=pages, modems=("v17",), jbig=True)
    b = faxcore.FaxSession(False, receive=out, modems=("v17",), jbig=True)
    run_call(a, b)
    for s in (a, b):
        assert s.result.status == T30Status.OK, s.result.summary()
        assert s.result.ecm and s.result.scheme == "jbig"
        assert s.result.modulation.lower().startswith("v17")
    dcs = [t for t in a.result.trace if t.direction == "tx" and t.name == "DCS"]
    assert dcs and all(B_T85 in bits_from_fif(bytes.fromhex(t.hex)[3:]) for t in dcs)
    assert a.result.pages_sent == 2 and b.result.pages_received == 2
    assert np.array_equal(b.pages[0], chart) and np.array_equal(b.pages[1], pages[1].bitmap)
    tif = read_tiff(out)
    assert [p.resolution for p in tif] == ["fine", "standard"]
    assert np.array_equal(tif[0].bitmap, chart) and np.array_equal(tif[1].bitmap, pages[1].bitmap)


def test_t38_jbig_call_both_ways():
    """Over T.38 (faxcore's terminal against itself, virtual time): a T.85 call, then a
    poll in which the polled terminal sends T.85 pages (chosen from the DTC)."""
    from faxcore.t38.link import run_pair  # t38 only here: the audio test needs none
    from faxcore.t38.terminal import T38Terminal

    pages = [TxPage(small_page(i), "fine") for i in range(2)]
    a = T38Terminal(True, send=pages, jbig=True)
    b = T38Terminal(False, jbig=True)
    run_pair(a, b)
    for t in (a, b):
        assert t.result.status == T30Status.OK, t.result.summary()
        assert t.result.scheme == "jbig" and t.result.ecm
    assert len(b.pages) == 2 and all(
        np.array_equal(g, s.bitmap) for g, s in zip(b.pages, pages, strict=True))
    a = T38Terminal(True, poll=True, jbig=True)
    b = T38Terminal(False, send=pages, jbig=True)
    run_pair(a, b)
    assert a.result.status == T30Status.OK and b.result.scheme == "jbig"
    assert len(a.pages) == 2 and all(
        np.array_equal(g, s.bitmap) for g, s in zip(a.pages, pages, strict=True))
