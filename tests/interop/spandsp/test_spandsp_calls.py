"""Interoperability: complete fax calls over 8 kHz audio between faxcore (FaxSession:
our T.30 engine and software modems) and spandsp's fax terminal (Debian libspandsp2,
through ctypes), both directions, with and without ECM. Pages must arrive identical."""

from __future__ import annotations

import numpy as np
import pytest

import faxcore
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import pbm_page, small_page
from faxcore.testing.peers import require_shared
from faxcore.testing.spandsp import SpandspFax


@pytest.fixture(scope="module")
def pages():
    return [pbm_page(require_shared("testdata/itu/itu1.pbm")), small_page(2)]


CASES = [(m, e) for m in ("v29", "v27ter") for e in (True, False)]


@pytest.mark.parametrize("mod,ecm", CASES + [("v17", True), ("v17", False)])
def test_faxcore_sends_spandsp_receives(mod, ecm, pages, tmp_path):
    out = tmp_path / "sp_rx.tif"
    a = faxcore.FaxSession(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                           modems=(mod,), ident="+111")
    b = SpandspFax(False, receive_tiff=str(out), ecm=ecm, modems=(mod,), ident="+222")
    run_call(a, b, max_seconds=300)
    assert a.result.status == T30Status.OK, a.result.summary()
    assert b.status_name == "OK"
    assert b.stats.pages_rx == 2 and b.stats.error_correcting_mode == int(ecm)
    assert b.stats.encoding == (3 if ecm else 2)    # MMR with ECM, else MR
    assert b.remote_ident == "+111" and a.result.remote_ident == "+222"
    got = read_tiff(out)
    assert len(got) == 2
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g.bitmap, p)


@pytest.mark.parametrize("mod,ecm", CASES + [("v17", True), ("v17", False)])
def test_spandsp_sends_faxcore_receives(mod, ecm, pages, tmp_path):
    src = tmp_path / "sp_tx.tif"
    write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
    a = SpandspFax(True, send_tiff=str(src), ecm=ecm, modems=(mod,), ident="+111")
    b = faxcore.FaxSession(False, ecm=ecm, modems=(mod,), ident="+222")
    run_call(a, b, max_seconds=300)
    assert a.status_name == "OK" and a.stats.pages_tx == 2
    assert b.result.status == T30Status.OK, b.result.summary()
    assert b.result.scheme == ("mmr" if ecm else "mr") and b.result.ecm == ecm
    assert b.result.remote_ident == "+111"
    assert len(b.pages) == 2
    for g, p in zip(b.pages, pages, strict=True):
        assert np.array_equal(g, p)


def test_spandsp_polls_faxcore(tmp_path):
    """spandsp calls with only a receive file: it polls (DTC) and faxcore, answering,
    sends its document."""
    page = small_page(6)
    out = tmp_path / "poll.tif"
    a = SpandspFax(True, receive_tiff=str(out), ecm=True, modems=("v29",))
    b = faxcore.FaxSession(False, send=[TxPage(page, "fine")], modems=("v29",))
    run_call(a, b, max_seconds=300)
    assert b.result.status == T30Status.OK, b.result.summary()
    assert b.result.pages_sent == 1
    assert [t.name for t in b.result.trace if t.direction == "rx"][0] == "DTC"
    assert a.status_name == "OK" and a.stats.pages_rx == 1
    assert np.array_equal(read_tiff(out)[0].bitmap, page)


def test_faxcore_polls_spandsp(tmp_path):
    src = tmp_path / "doc.tif"
    page = small_page(7)
    write_tiff(src, [Page(page, 204, 196)], "mh")
    a = faxcore.FaxSession(True, poll=True, modems=("v29",))
    b = SpandspFax(False, send_tiff=str(src), modems=("v29",))
    run_call(a, b, max_seconds=300)
    assert a.result.status == T30Status.OK, a.result.summary()
    assert b.status_name == "OK" and b.stats.pages_tx == 1
    assert np.array_equal(a.pages[0], page)


def test_faxcore_sends_sub_and_sid_to_spandsp(tmp_path):
    """SUB and SID with DCS, to a spandsp receiver whose DIS offers sub-addressing and
    identification: spandsp reports what it received."""
    page = small_page(8)
    out = tmp_path / "sub.tif"
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], modems=("v29",),
                           sub_address="4711", sender_ident="s3cret")
    b = SpandspFax(False, receive_tiff=str(out), modems=("v29",),
                   features=("identification", "sub_addressing"))
    run_call(a, b, max_seconds=300)
    assert a.result.status == T30Status.OK, a.result.summary()
    assert [t.name for t in a.result.trace if t.direction == "tx"][:3] == ["SUB", "SID", "DCS"]
    assert b.status_name == "OK"
    assert (b.remote_sub_address, b.remote_sender_ident) == ("4711", "s3cret")
    assert np.array_equal(read_tiff(out)[0].bitmap, page)


def test_spandsp_sends_sub_and_sid_to_faxcore(tmp_path):
    page = small_page(9)
    src = tmp_path / "doc.tif"
    write_tiff(src, [Page(page, 204, 196)], "mh")
    a = SpandspFax(True, send_tiff=str(src), modems=("v29",), sub_address="0815",
                   sender_ident="open sesame")
    b = faxcore.FaxSession(False, modems=("v29",), accept_sid="open sesame")
    run_call(a, b, max_seconds=300)
    assert a.status_name == "OK"
    assert b.result.status == T30Status.OK, b.result.summary()
    assert b.result.remote_sub_address == "0815"
    assert b.result.remote_sender_ident == "open sesame"
    assert np.array_equal(b.pages[0], page)


def test_faxcore_refuses_spandsp_with_a_wrong_sid(tmp_path):
    page = small_page(9)
    src = tmp_path / "doc.tif"
    write_tiff(src, [Page(page, 204, 196)], "mh")
    a = SpandspFax(True, send_tiff=str(src), modems=("v29",), sender_ident="guess")
    b = faxcore.FaxSession(False, modems=("v29",), accept_sid="open sesame")
    run_call(a, b, max_seconds=300)
    assert b.result.status == T30Status.SID_UNACCEPTABLE
    assert a.status_name != "OK" and a.stats.pages_tx == 0
    assert b.pages == []
