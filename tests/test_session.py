"""Complete fax calls faxcore <-> faxcore over 8 kHz audio through faxcore's software
modems (FaxSession), with and without ECM, through G.711 and noise, and polling.
Received pages must be pixel-identical to the sent ones."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_shared

import faxcore
from faxcore import modem
from faxcore.codecs.tiff import read_tiff
from faxcore.modem import g711
from faxcore.t30 import T30Status, TxPage


def read_pbm(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return (np.asarray(im.convert("1")) == 0).astype(np.uint8)


def small_page(seed=0, rows=150):
    rng = np.random.default_rng(seed)
    page = np.zeros((rows, 1728), np.uint8)
    for _ in range(60):
        r, c = rng.integers(0, rows - 10), rng.integers(0, 1700)
        page[r:r + 8, c:c + 25] = 1
    return page


def run(a, b, *, line=None, max_seconds=400, block=160):
    n = 0
    while not (a.done and b.done):
        x = a.tx(block)
        y = b.tx(block)
        assert x.dtype == np.int16 and len(x) == block
        if line is not None:
            x, y = line(x), line(y)
        a.rx(y)
        b.rx(x)
        n += block
        assert n < max_seconds * 8000, (a.result.summary(), b.result.summary())
    return n / 8000


def available_modems():
    return [m for m in ("v17", "v29", "v27ter") if modem.available(m)]


CASES = [(m, ecm) for m in available_modems() for ecm in (True, False)]


@pytest.mark.parametrize("mod,ecm", CASES)
def test_audio_call_pages_identical(mod, ecm, tmp_path):
    chart = read_pbm(require_shared("testdata/itu/itu1.pbm"))
    pages = [TxPage(chart, "fine"), TxPage(small_page(1), "standard")]
    out = tmp_path / "rx.tif"
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=(mod,), ident="+1 555 0100")
    b = faxcore.FaxSession(False, receive=out, ecm=ecm, modems=(mod,), ident="+1 555 0199")
    seconds = run(a, b)
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


@pytest.mark.parametrize("law,ecm", [("alaw", False), ("ulaw", True)])
@pytest.mark.parametrize("mod", available_modems())
def test_audio_call_through_g711_and_noise(mod, law, ecm):
    rng = np.random.default_rng(7)
    # Noise 30 dB below a -10 dBm0 signal (peak 3.14 dBm0 = 32768).
    noise_rms = 10 ** ((-10 - 30 - 3.14) / 20) * 32768

    def line(x):
        y = g711.roundtrip(x, law).astype(float) + rng.normal(0, noise_rms, len(x))
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)

    page = small_page(3, rows=400)
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], ecm=ecm, modems=(mod,))
    b = faxcore.FaxSession(False, ecm=ecm, modems=(mod,))
    run(a, b, line=line)
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert np.array_equal(b.pages[0], page)


def test_audio_polling():
    mod = available_modems()[0]
    page = small_page(4)
    received = []
    a = faxcore.FaxSession(True, poll=True, receive=received.append, modems=(mod,))
    b = faxcore.FaxSession(False, send=[TxPage(page, "fine")], modems=(mod,))
    run(a, b)
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert len(received) == 1 and np.array_equal(received[0].bitmap, page)
    assert b.result.pages_sent == 1


def test_far_end_vanishes_mid_page():
    """The answering side stops hearing anything while a page arrives: both ends finish
    with a failure status in bounded time (no hang)."""
    mod = available_modems()[-1]
    page = small_page(5, rows=1200)
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], ecm=False, modems=(mod,))
    b = faxcore.FaxSession(False, ecm=False, modems=(mod,))
    n = 0
    while not (a.done and b.done):
        x, y = a.tx(160), b.tx(160)
        n += 160
        cut = n > 8000 * 14  # the line goes dead 14 s into the call (page in progress)
        a.rx(np.zeros(160, np.int16) if cut else y)
        b.rx(np.zeros(160, np.int16) if cut else x)
        assert n < 8000 * 200
    assert a.result.status == T30Status.TX_PHDDEAD
    assert b.result.status in (T30Status.RX_T2EXPD, T30Status.RX_T2EXPFAX,
                               T30Status.RX_NOCARRIER)
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
