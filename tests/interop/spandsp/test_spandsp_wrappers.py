"""The spandsp ctypes peer checked against itself: spandsp tx -> spandsp rx, bits out == in."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.modem.dsp import bit_errors
from faxcore.testing.spandsp import modems as sp

CASES = [("v21", 300), ("v27ter", 2400), ("v27ter", 4800), ("v29", 7200), ("v29", 9600),
         ("v17", 7200), ("v17", 9600), ("v17", 12000), ("v17", 14400)]


@pytest.fixture(autouse=True)
def _need_spandsp():
    sp.lib()


def _loop(tx, rx, block=160):
    audio = sp.run_tx(tx, block)
    audio = np.concatenate([audio, np.zeros(1600, np.int16)])
    for i in range(0, len(audio), block):
        rx.rx(audio[i:i + block])
    return audio


@pytest.mark.parametrize("name,rate", CASES)
def test_loopback(name, rate):
    rng = np.random.default_rng(rate)
    nbits = 2000 if name == "v21" else 8000
    bits = rng.integers(0, 2, nbits, dtype=np.uint8)
    tx = sp.transmitter(name, rate, bits)
    rx = sp.receiver(name, rate)
    _loop(tx, rx)
    got = rx.bits()
    errors, compared, off = bit_errors(bits, got, max_shift=4)
    assert errors == 0, (errors, compared, off)
    assert off == (1 if name == "v21" else 0)
    kinds = [s for s, _ in rx.events()]
    assert sp.SIG_STATUS_CARRIER_UP in kinds
    if name != "v21":
        assert sp.SIG_STATUS_TRAINING_SUCCEEDED in kinds
    assert tx.done


def test_v17_short_train_loopback():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, 4000, dtype=np.uint8)
    # a short train only works on a receiver that has trained long before
    rx = sp.V17Rx(14400)
    _loop(sp.V17Tx(14400, rng.integers(0, 2, 2000, dtype=np.uint8)), rx)
    rx.bits()
    rx.restart(short_train=True)
    _loop(sp.V17Tx(14400, bits, short_train=True), rx)
    errors, _, off = bit_errors(bits, rx.bits(), max_shift=4)
    assert errors == 0 and off == 0


def test_hdlc_over_v21_loopback():
    frames = [b"\xff\x03\x80" + bytes(range(20)), b"\xff\x13\x84\x00\x01"]
    tx = sp.HdlcTx(frames)
    rx = sp.HdlcRx()
    audio = sp.run_tx(tx)
    rx.rx(np.concatenate([audio, np.zeros(800, np.int16)]))
    assert [(f, ok) for f, ok in rx.frames] == [(f, True) for f in frames]


def test_hdlc_bits_corrupt_frame_reported_bad():
    frames = [b"\xff\x03\x80abc", b"\xff\x13\x84xyz"]
    bits = sp.HdlcTx(frames, modem=False, corrupt={0}).bits_only()
    rx = sp.HdlcRx(modem=False)
    rx.put_bits(bits)
    assert [ok for _, ok in rx.frames] == [False, True]
    assert rx.frames[1][0] == frames[1]


def test_tones_cng_and_ced_detected():
    for kind, want in ((sp.TONES_FAX_CNG, sp.TONES_FAX_CNG), (sp.TONES_ANS, sp.TONES_ANS)):
        tone = sp.ToneTx(kind).tx(8000 * 4)
        det = sp.ToneRx(kind)
        det.rx(tone)
        assert want in [c for c, _, _ in det.reports]


def test_g711_roundtrip_small_values():
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    for law in ("ulaw", "alaw"):
        y = sp.g711_decode(sp.g711_encode(x, law), law)
        err = np.abs(y.astype(int) - x.astype(int))
        # quantisation error grows with the segment: below 1/16 of the value + step
        assert np.all(err <= np.abs(x.astype(int)) // 16 + 16)
