"""Transmitters' ``continues_past(n)``: when it says True, ``tx(n)`` leaves ``done`` False,
and a burst taken in pieces of any size is the same audio (FaxSession relies on both to
take whole blocks at once while a burst surely goes on)."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem.hdlc import HdlcTransmitter

CASES = [("v21", 300), ("v27ter", 4800), ("v29", 9600), ("v17", 14400), ("v17", 7200)]


def _make(name: str, rate: int, hdlc: bool):
    if hdlc:
        t = HdlcTransmitter(name, rate, preamble_ms=200.0)
        t.send([bytes(range(40)), b"\xff\x13\x84"], final=True)
        return t
    t = modem.transmitter(name, rate)
    t.send(np.random.default_rng(5).integers(0, 2, 3000, dtype=np.uint8))
    return t


@pytest.mark.parametrize("hdlc", [False, True])
@pytest.mark.parametrize(("name", "rate"), CASES)
def test_continues_past_is_never_wrong_and_pieces_do_not_change_the_audio(name, rate, hdlc):
    ref = _make(name, rate, hdlc)
    whole = []
    while not ref.done:
        whole.append(ref.tx(40))
    whole = np.concatenate(whole)
    t = _make(name, rate, hdlc)
    got, said_yes = [], 0
    sizes = [160, 37, 1, 400, 41, 160]
    i = 0
    while not t.done:
        n = sizes[i % len(sizes)]
        i += 1
        sure = getattr(t, "continues_past", lambda _n: False)(n)
        got.append(t.tx(n))
        if sure:
            said_yes += 1
            assert not t.done, f"continues_past({n}) said True, yet the burst ended"
    got = np.concatenate(got)
    # the same burst (then zeros) whatever the piece sizes
    m = max(len(whole), len(got))
    assert np.array_equal(np.pad(whole, (0, m - len(whole))), np.pad(got, (0, m - len(got))))
    assert said_yes > 0  # the fast path is really taken during the burst
