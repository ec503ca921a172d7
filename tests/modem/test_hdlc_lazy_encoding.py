"""A whole HDLC burst handed to a fast modem at once (an ECM block) is encoded as the
modem needs it: the line audio is the same as with every bit queued up front, whatever
block sizes it is taken in, and the modem never holds more than a few frames' bits."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem.hdlc import HdlcEncoder, HdlcTransmitter, preamble_flags

SIZES = [160, 8000, 1, 37, 400]
FRAMES = [bytes(np.random.default_rng(i).integers(0, 256, 256, dtype=np.uint8))
          for i in range(64)]


def _eager(name, rate, frames, opt) -> np.ndarray:
    t = modem.transmitter(name, rate, **opt)
    enc = HdlcEncoder()
    enc.flags(preamble_flags(rate, 200.0))
    for f in frames:
        enc.frame(f)
    enc.flags(2)
    t.send(enc.take(), final=True)
    out, i = [], 0
    while not t.done:  # the same block sizes: a V.27ter burst ends with its block
        out.append(t.tx(SIZES[i % len(SIZES)]))
        i += 1
    return np.concatenate(out)


@pytest.mark.parametrize(("name", "rate", "opt"), [
    ("v17", 14400, {"short_train": True}), ("v17", 7200, {}), ("v29", 9600, {}),
    ("v29", 7200, {}), ("v27ter", 4800, {}), ("v27ter", 2400, {})])
@pytest.mark.parametrize("frames", [FRAMES, FRAMES[:1], []], ids=["64", "1", "0"])
def test_lazy_burst_is_the_eager_burst_and_stays_small(name, rate, opt, frames):
    want = _eager(name, rate, frames, opt)
    t = HdlcTransmitter(name, rate, preamble_ms=200.0, **opt)
    t.send(frames, final=True)
    got, most, i = [], 0, 0
    while not t.done:
        got.append(t.tx(SIZES[i % len(SIZES)]))
        i += 1
        most = max(most, t.queued_bits)
    got = np.concatenate(got)
    assert np.array_equal(got, want)
    # a few frames (8 x ~2100 bits) beyond two chunks and the biggest block: far less
    # than the ~135 000 bits of the 64 frames
    assert most < 45000


def test_lazy_burst_refuses_bad_frames_at_send_and_abort_after_it():
    t = HdlcTransmitter("v17", 14400, preamble_ms=200.0)
    with pytest.raises(ValueError):
        t.send([b"ok", b""], final=True)
    t = HdlcTransmitter("v17", 14400, preamble_ms=200.0)
    t.send([b"\xff\x03\x06"], final=True)
    with pytest.raises(RuntimeError):
        t.abort()
