"""Complete fax calls faxcore <-> faxcore over 8 kHz audio through faxcore's software
modems (FaxSession), with and without ECM, through G.711 and noise, and polling.
Received pages must be pixel-identical to the sent ones."""

from __future__ import annotations

import numpy as np
import pytest

import faxcore
from faxcore import modem
from faxcore.codecs.tiff import read_tiff
from faxcore.modem import g711
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import Cut, run_call
from faxcore.testing.pages import pbm_page, small_page
from faxcore.testing.peers import require_shared

# The fast modems every test here runs with: a fixed list, never shrunk to whatever
# happened to build (test_every_modem_is_available fails instead).
MODEMS = ("v17", "v29", "v27ter")
TOP_RATE = {"v17": 14400, "v29": 9600, "v27ter": 4800}
CASES = [(m, ecm) for m in MODEMS for ecm in (True, False)]


def test_every_modem_is_available():
    for m in ("v21", *MODEMS):
        assert modem.available(m), f"modem {m} is not available: run `make build`"


def test_session_refuses_an_unavailable_modem(monkeypatch):
    """A requested modem that cannot be loaded is an error, not silently dropped."""
    real = modem.available
    monkeypatch.setattr(modem, "available", lambda m: m != "v29" and real(m))
    with pytest.raises(modem.ModemNotAvailable, match="'v29'"):
        faxcore.FaxSession(True, send=[small_page()], modems=("v17", "v29"))
    with pytest.raises(modem.ModemNotAvailable, match="'v29'"):
        faxcore.FaxSession(False)                 # the default list includes V.29
    s = faxcore.FaxSession(False, modems=("v17", "v27ter"))
    assert s.engine.cfg.modems == ("v17", "v27ter")
    with pytest.raises(ValueError, match="unknown fax modem"):
        faxcore.FaxSession(False, modems=("v34",))
    with pytest.raises(ValueError, match="no modem"):
        faxcore.FaxSession(False, modems=())


@pytest.mark.parametrize("mod,ecm", CASES)
def test_audio_call_pages_identical(mod, ecm, tmp_path):
    chart = pbm_page(require_shared("testdata/itu/itu1.pbm"))
    pages = [TxPage(chart, "fine"), TxPage(small_page(1), "standard")]
    out = tmp_path / "rx.tif"
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=(mod,), ident="+1 555 0100")
    b = faxcore.FaxSession(False, receive=out, ecm=ecm, modems=(mod,), ident="+1 555 0199")
    seconds = run_call(a, b)
    for s in (a, b):
        assert s.result.status == T30Status.OK, s.result.summary()
        assert s.result.ecm == ecm and s.result.modulation.lower().startswith(mod.lower()[:3])
    assert a.result.pages_sent == 2 and b.result.pages_received == 2
    assert b.result.remote_ident == "+1 555 0100" and a.result.remote_ident == "+1 555 0199"
    assert len(b.pages) == 2
    assert np.array_equal(b.pages[0], chart) and np.array_equal(b.pages[1], pages[1].bitmap)
    # The TIFF-F written at the end holds the same pixels and resolutions.
    tif = read_tiff(out)
    assert [p.resolution for p in tif] == ["fine", "standard"]
    assert np.array_equal(tif[0].bitmap, chart) and np.array_equal(tif[1].bitmap, pages[1].bitmap)
    assert 20 < seconds < 400


def measured_rms(mod: str, level_dbm0: float = -10.0) -> float:
    """RMS of ``mod``'s transmitter at ``level_dbm0`` (FaxSession's default level),
    measured over 1 s of random data after its training."""
    t = modem.transmitter(mod, TOP_RATE[mod], level_dbm0=level_dbm0)
    t.send(np.random.default_rng(0).integers(0, 2, 2 * TOP_RATE[mod]).astype(np.uint8),
           final=True)
    x = t.tx(16000).astype(float)[4000:12000]
    return float(np.sqrt(np.mean(x ** 2)))


SNR_DB = 30.0


@pytest.mark.parametrize("law,ecm", [("alaw", False), ("ulaw", True)])
@pytest.mark.parametrize("mod", MODEMS)
def test_audio_call_through_g711_and_noise(mod, law, ecm):
    """G.711 and white noise SNR_DB below the measured signal power; the SNR on the
    line during the call is measured too (signal: the samples while a station sends;
    noise: what the line added on top of the G.711 signal)."""
    rng = np.random.default_rng(7)
    noise_rms = measured_rms(mod) / 10 ** (SNR_DB / 20)
    power = {"signal": 0.0, "signal_n": 0, "noise": 0.0, "noise_n": 0}

    def line(x, start):
        s = g711.roundtrip(x, law).astype(float)
        y = np.clip(np.rint(s + rng.normal(0, noise_rms, len(x))), -32768, 32767)
        on = x != 0
        power["signal"] += float(np.sum(s[on] ** 2))
        power["signal_n"] += int(on.sum())
        power["noise"] += float(np.sum((y - s) ** 2))
        power["noise_n"] += len(x)
        return y.astype(np.int16)

    page = small_page(3, rows=400)
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], ecm=ecm, modems=(mod,))
    b = faxcore.FaxSession(False, ecm=ecm, modems=(mod,))
    run_call(a, b, impairments=[line])
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert np.array_equal(b.pages[0], page)
    snr = 10 * np.log10((power["signal"] / power["signal_n"])
                        / (power["noise"] / power["noise_n"]))
    assert abs(snr - SNR_DB) < 0.5, snr


def test_audio_polling():
    mod = MODEMS[0]
    page = small_page(4)
    received = []
    a = faxcore.FaxSession(True, poll=True, receive=received.append, modems=(mod,))
    b = faxcore.FaxSession(False, send=[TxPage(page, "fine")], modems=(mod,))
    run_call(a, b)
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert len(received) == 1 and np.array_equal(received[0].bitmap, page)
    assert b.result.pages_sent == 1


def test_far_end_vanishes_mid_page():
    """The answering side stops hearing anything while a page arrives: both ends finish
    with a failure status in bounded time (no hang)."""
    mod = MODEMS[-1]
    page = small_page(5, rows=1200)
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], ecm=False, modems=(mod,))
    b = faxcore.FaxSession(False, ecm=False, modems=(mod,))
    # the line goes dead 14 s into the call (page in progress)
    run_call(a, b, impairments=[Cut(8000 * 14)], max_seconds=200)
    assert a.result.status == T30Status.TX_PHDDEAD
    # The receiver had the page's carrier, then nothing: no post-page command came
    # within T2 (phase D), and the half page is not kept.
    assert b.result.status == T30Status.RX_T2EXPD
    assert b.result.pages_received == 0


def test_session_input_checks():
    s = faxcore.FaxSession(False)
    assert len(s.tx(0)) == 0 and len(s.tx(1234)) == 1234
    with pytest.raises(ValueError):
        s.rx(np.array([0.5, 1e9]))
    with pytest.raises(ValueError):
        s.tx(-1)
    with pytest.raises(TypeError):
        faxcore.FaxSession(True, send=[object()])
