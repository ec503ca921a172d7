"""Calls through spandsp's audio <-> T.38 gateway (faxcore.testing.spandsp.t38): an audio
fax station (spandsp's SpandspFax, or faxcore's FaxSession: T.30 on our software modems)
on the 8 kHz side, spandsp's T.38 terminal on the IFP side over the reference UDPTL.
Both directions, ECM on and off; pages must arrive pixel-identical."""

from __future__ import annotations

import numpy as np
import pytest

import faxcore
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.pages import small_page
from faxcore.testing.spandsp import SpandspFax
from faxcore.testing.spandsp.t38 import (
    SpandspT38Gateway,
    SpandspT38Terminal,
    UdptlLink,
    run_gateway_call,
)

RATE = {"v17": 14400, "v29": 9600, "v27ter": 4800}


@pytest.fixture(scope="module")
def pages():
    return [small_page(21), small_page(22, rows=200)]


@pytest.fixture
def src(pages, tmp_path):
    path = tmp_path / "src.tif"
    write_tiff(path, [Page(p, 204, 196) for p in pages], "mh")
    return path


def _same(got, pages):
    assert len(got) == len(pages)
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g, p)


def _refused(t):
    """Record in ``t.refused`` every IFP spandsp could not decode (rx_ifp() != 0)."""
    t.refused = []
    rx = t.rx_ifp

    def checked(ifp, seq):
        r = rx(ifp, seq)
        if r != 0:
            t.refused.append(ifp)
        return r

    t.rx_ifp = checked
    return t


def _links(loss=0.0, seed=0):
    return {"link_to_t38": UdptlLink(redundancy=3, loss=loss, seed=seed),
            "link_to_gateway": UdptlLink(redundancy=3, loss=loss, seed=seed + 1)}


@pytest.mark.parametrize("ecm", [True, False])
@pytest.mark.parametrize("audio_sends", [True, False])
def test_spandsp_audio_through_gateway_to_spandsp_t38(audio_sends, ecm, pages, src, tmp_path):
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(ecm=ecm)
    if audio_sends:
        audio = SpandspFax(True, send_tiff=str(src), ecm=ecm, ident="+111")
        t38 = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, ident="+222")
        receiver = t38
    else:
        audio = SpandspFax(False, receive_tiff=str(out), ecm=ecm, ident="+111")
        t38 = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, ident="+222")
        receiver = audio
    run_gateway_call(audio, _refused(gw), _refused(t38), max_seconds=200, **_links())
    assert (audio.status_name, t38.status_name) == ("OK", "OK")
    assert gw.refused == t38.refused == []
    assert audio.remote_ident == "+222" and t38.remote_ident == "+111"
    assert receiver.stats.pages_rx == 2 and receiver.stats.error_correcting_mode == int(ecm)
    assert gw.stats.pages_transferred == 2 and gw.stats.bit_rate == 14400
    assert gw.stats.error_correcting_mode == int(ecm)
    _same([g.bitmap for g in read_tiff(out)], pages)


@pytest.mark.parametrize("ecm", [True, False])
@pytest.mark.parametrize("faxcore_sends", [True, False])
def test_faxcore_audio_through_gateway_to_spandsp_t38(faxcore_sends, ecm, pages, src, tmp_path):
    """faxcore's FaxSession on the audio side of spandsp's gateway, spandsp's T.38
    terminal on the packet side."""
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(ecm=ecm)
    if faxcore_sends:
        fc = faxcore.FaxSession(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                                ident="+111")
        t38 = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, ident="+222")
    else:
        fc = faxcore.FaxSession(False, ecm=ecm, ident="+111")
        t38 = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, ident="+222")
    run_gateway_call(fc, _refused(gw), _refused(t38), max_seconds=200, **_links())
    assert fc.result.status == T30Status.OK, fc.result.summary()
    assert t38.status_name == "OK" and gw.refused == t38.refused == []
    assert fc.result.ecm == ecm and fc.result.remote_ident == "+222"
    assert t38.remote_ident == "+111" and t38.stats.bit_rate == 14400
    if faxcore_sends:
        assert fc.result.pages_sent == 2 and t38.stats.pages_rx == 2
        _same([g.bitmap for g in read_tiff(out)], pages)
    else:
        assert t38.stats.pages_tx == 2
        _same(fc.pages, pages)


def test_gateway_without_ecm_makes_ecm_terminals_call_without_it(pages, src, tmp_path):
    """Both terminals offer ECM; the gateway set to refuse it edits the DIS, so the
    call runs without ECM."""
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(ecm=False)
    audio = SpandspFax(True, send_tiff=str(src), ecm=True)
    t38 = SpandspT38Terminal(False, receive_tiff=str(out), ecm=True)
    run_gateway_call(audio, gw, t38, max_seconds=200)
    assert (audio.status_name, t38.status_name) == ("OK", "OK")
    assert t38.stats.error_correcting_mode == 0 and gw.stats.error_correcting_mode == 0
    _same([g.bitmap for g in read_tiff(out)], pages)


def test_gateway_modem_list_limits_the_rate(pages, src, tmp_path):
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(modems=("v29", "v27ter"))
    audio = SpandspFax(True, send_tiff=str(src))
    t38 = SpandspT38Terminal(False, receive_tiff=str(out))
    run_gateway_call(audio, gw, t38, max_seconds=200)
    assert (audio.status_name, t38.status_name) == ("OK", "OK")
    assert t38.stats.bit_rate == 9600 and gw.stats.bit_rate == 9600
    _same([g.bitmap for g in read_tiff(out)], pages)


@pytest.mark.parametrize("modem", ["v29", "v27ter"])
@pytest.mark.parametrize("ecm", [True, False])
@pytest.mark.parametrize("faxcore_sends", [True, False])
@pytest.mark.parametrize("loss", [0.0, 0.02])
def test_faxcore_gateway_sweep(modem, ecm, faxcore_sends, loss, pages, src, tmp_path):
    """The other fast modems, and 2 % packet loss (redundancy 3) on the IFP side."""
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(ecm=ecm)
    if faxcore_sends:
        fc = faxcore.FaxSession(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                                modems=(modem,))
        t38 = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, modems=(modem,))
    else:
        fc = faxcore.FaxSession(False, ecm=ecm, modems=(modem,))
        t38 = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, modems=(modem,))
    run_gateway_call(fc, gw, t38, max_seconds=300, **_links(loss, seed=7))
    assert fc.result.status == T30Status.OK, fc.result.summary()
    assert t38.status_name == "OK" and t38.stats.bit_rate == RATE[modem]
    _same([g.bitmap for g in read_tiff(out)] if faxcore_sends else fc.pages, pages)
