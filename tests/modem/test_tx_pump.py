"""The transmit pump (faxcore.modem.txpump and its compiled twin _txpump): a whole call
sounds the same, sample for sample, played per piece (the session's loop before the
pump), through the Python reference pump and through the compiled one; and every
transmitter keeps its ``sure_samples`` promise (taking that many never ends a burst)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import faxcore
import faxcore.session
from faxcore import modem
from faxcore.modem import txpump
from faxcore.modem.hdlc import HdlcTransmitter
from faxcore.t30 import TxPage
from faxcore.testing.pages import text_page

PAGES = [TxPage(text_page(300, seed=s), "fine") for s in (1, 2)]
PUMPS = {"per-piece": None, "reference": txpump.ReferenceTxPump, "compiled": txpump.tx_pump}


def _call(modem_name: str, ecm: bool, block: int) -> tuple:
    """Both stations' audio (digests), the call's length, and what was received."""
    a = faxcore.FaxSession(True, send=PAGES, ecm=ecm, modems=(modem_name,))
    b = faxcore.FaxSession(False, ecm=ecm, modems=(modem_name,))
    ha, hb, n = hashlib.sha256(), hashlib.sha256(), 0
    while not (a.done and b.done):
        x, y = a.tx(block), b.tx(block)
        ha.update(x.tobytes())
        hb.update(y.tobytes())
        a.rx(y)
        b.rx(x)
        n += block
        assert n < 600 * modem.SAMPLE_RATE, "the call did not end"
    assert a.result.ok and b.result.ok
    assert len(b.pages) == len(PAGES)
    for got, sent in zip(b.pages, PAGES, strict=True):
        assert np.array_equal(got, sent.bitmap)
    return ha.hexdigest(), hb.hexdigest(), n


@pytest.mark.parametrize("block", [160, 37, 800])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("modem_name", ["v17", "v29", "v27ter"])
def test_whole_call_audio_is_the_same_with_either_pump_and_per_piece(
        modem_name, ecm, block, monkeypatch):
    """V.21 HDLC, training, TCF, pages (ECM blocks or T.4 data), in blocks of 160, 37
    (not dividing anything) and 800 samples: identical audio at both stations."""
    got = {}
    for name, pump in PUMPS.items():
        monkeypatch.setattr(faxcore.session, "TX_PUMP", pump)
        got[name] = _call(modem_name, ecm, block)
    assert got["reference"] == got["per-piece"]
    assert got["compiled"] == got["per-piece"]


def _transmitters():
    """(name, a fresh transmitter with a whole burst queued) for each kind."""
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, 3000).astype(np.uint8)
    frames = [bytes(rng.integers(0, 256, 260).astype(np.uint8)) for _ in range(6)]

    def plain(name, rate, **kw):
        t = modem.transmitter(name, rate, **kw)
        t.send(bits, final=True)
        return t

    def framed(name, rate, **kw):
        t = HdlcTransmitter(name, rate, preamble_ms=200.0, **kw)
        t.send(frames, final=True)
        return t

    return [
        ("v21", lambda: plain("v21", 300)),
        ("v27ter-2400", lambda: plain("v27ter", 2400)),
        ("v27ter-4800", lambda: plain("v27ter", 4800)),
        ("v29-9600", lambda: plain("v29", 9600)),
        ("v17-14400", lambda: plain("v17", 14400)),
        ("v17-7200-short", lambda: plain("v17", 7200, short_train=True)),
        ("hdlc-v21", lambda: framed("v21", 300)),
        ("hdlc-v17", lambda: framed("v17", 14400)),
        ("hdlc-v27ter", lambda: framed("v27ter", 4800)),
    ]


TRANSMITTERS = _transmitters()


@pytest.mark.parametrize("make", [m for _n, m in TRANSMITTERS], ids=[n for n, _m in TRANSMITTERS])
def test_taking_sure_samples_never_ends_a_burst(make):
    """However the burst is cut, ``tx(k)`` with ``k <= sure_samples()`` leaves the
    transmitter not done; and the burst does end (a promise of 0 near the end)."""
    rng = np.random.default_rng(1)
    t = make()
    for _ in range(100000):
        sure = t.sure_samples()
        if sure > 0:
            t.tx(int(min(sure, rng.integers(1, 2000))))
            assert not t.done
        else:
            t.tx(int(rng.integers(1, 60)))
            if t.done:
                break
    assert t.done


@pytest.mark.parametrize("make", [m for _n, m in TRANSMITTERS], ids=[n for n, _m in TRANSMITTERS])
def test_compiled_pump_equals_the_reference(make):
    """Blocks of random sizes, starting anywhere in the block: the same samples, the
    same end position and the same trailing quiet from both pumps."""
    rng = np.random.default_rng(2)
    ref, fast = txpump.ReferenceTxPump(make()), txpump.tx_pump(make())
    q_ref = q_fast = 0
    for _ in range(100000):
        n = int(rng.integers(1, 500))
        pos = int(rng.integers(0, n))
        a, b = np.zeros(n, np.int16), np.zeros(n, np.int16)
        end_a, q_ref = ref.fill(a, pos, q_ref)
        end_b, q_fast = fast.fill(b, pos, q_fast)
        assert (end_a, q_ref, ref.done) == (end_b, q_fast, fast.done)
        assert np.array_equal(a, b)
        if ref.done:
            break
    assert ref.done
