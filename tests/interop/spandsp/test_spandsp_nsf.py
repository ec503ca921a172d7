"""NSF over audio with spandsp: spandsp's NSF is reported by faxcore (T.35 country code
and vendor code), and an NSF faxcore is configured to send reaches spandsp intact."""

from __future__ import annotations

import numpy as np

import faxcore
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.t30 import TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import small_page
from faxcore.testing.spandsp import SpandspFax


def test_spandsp_nsf_reported_by_faxcore(tmp_path):
    nsf = bytes([0x04, 0x00, 0x5A]) + b"spandsp peer, Germany"  # T.35 Germany = 4
    page = small_page(11)
    out = tmp_path / "rx.tif"
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], modems=("v29",))
    b = SpandspFax(False, receive_tiff=str(out), modems=("v29",), nsf=nsf)
    run_call(a, b, max_seconds=300)
    assert a.result.ok and b.status_name == "OK", a.result.summary()
    r = a.result
    assert (r.remote_nsf, r.remote_nsf_country, r.remote_nsf_vendor) == (nsf, 4, b"\x00\x5a")
    assert [t.name for t in r.trace if t.direction == "rx"][:2] == ["NSF", "DIS"]
    (got,) = read_tiff(out)
    assert np.array_equal(got.bitmap, page)


def test_faxcore_nsf_reaches_spandsp(tmp_path):
    nsf = bytes([0xFF, 0x12, 0x00, 0x99]) + b"faxcore"  # with a country code extension
    page = small_page(12)
    src = tmp_path / "tx.tif"
    write_tiff(src, [Page(page, 204, 196)], "mh")
    a = SpandspFax(True, send_tiff=str(src), modems=("v29",))
    b = faxcore.FaxSession(False, modems=("v29",), nsf=nsf)
    run_call(a, b, max_seconds=300)
    assert a.status_name == "OK" and b.result.ok, b.result.summary()
    assert a.remote_nsf == nsf
    assert np.array_equal(b.pages[0], page)


def test_spandsp_sends_no_nsf_and_neither_do_we(tmp_path):
    page = small_page(13)
    out = tmp_path / "rx.tif"
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], modems=("v29",))
    b = SpandspFax(False, receive_tiff=str(out), modems=("v29",))
    run_call(a, b, max_seconds=300)
    assert a.result.ok and a.result.remote_nsf == b"" and a.result.remote_nsf_country is None
    src = tmp_path / "tx.tif"
    write_tiff(src, [Page(page, 204, 196)], "mh")
    c = SpandspFax(True, send_tiff=str(src), modems=("v29",))
    d = faxcore.FaxSession(False, modems=("v29",))
    run_call(c, d, max_seconds=300)
    assert d.result.ok and c.remote_nsf == b""
    assert all(f[2] != 0x20 for _, f in c.frames)   # no NSF (FCF 0x20) on the line
