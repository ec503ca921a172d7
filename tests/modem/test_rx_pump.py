"""The session's receive pump: the compiled :class:`faxcore.modem._pump.RxPump` gives the
very codes of its plain-Python description :class:`faxcore.modem.pump.ReferenceRxPump`
on the same audio (clean, noisy, cut, V.21 over an expected fast carrier), in blocks of
any size; and the codes carry what was sent (frames, page octets, carrier edges)."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp, pump
from faxcore.modem.hdlc import HdlcTransmitter

FRAMES = [b"\xff\x13\x84", bytes(range(1, 60)), b"\xff\x03\x40" + bytes(30)]


def _burst(tx) -> np.ndarray:
    out = []
    while not tx.done:
        out.append(tx.tx(160))
    return np.concatenate(out)


def _hdlc(name: str, rate: int, *, corrupt: bool = False, **opt) -> np.ndarray:
    t = HdlcTransmitter(name, rate, preamble_ms=200.0 if name != "v21" else 1000.0, **opt)
    t.send(FRAMES[:2], final=False)
    t.send(FRAMES[2:], final=True, corrupt=corrupt)
    return _burst(t)


def _data(name: str, rate: int, payload: bytes, **opt) -> np.ndarray:
    t = modem.transmitter(name, rate, **opt)
    t.send(np.unpackbits(np.frombuffer(payload, np.uint8), bitorder="little"))
    return _burst(t)


def _gap(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, np.int16)


def _noisy(x: np.ndarray, snr: float, seed: int) -> np.ndarray:
    return dsp.to_int16(dsp.add_awgn(x.astype(np.float64), snr, np.random.default_rng(seed)))


PAYLOAD = bytes(np.random.default_rng(3).integers(0, 256, 700, dtype=np.uint8))


def _line(name: str, rate: int, hdlc: bool, short: bool) -> np.ndarray:
    """Two bursts of the modem (one clean, one noisy enough to hurt), a V.21 command in
    between (what the watch is for), a burst cut short, silences."""
    opt = {"short_train": short} if name == "v17" else {}
    if name == "v21":
        parts = [_gap(100), _hdlc("v21", 300), _gap(300), _noisy(_hdlc("v21", 300, corrupt=True), 4, 1),
                 _gap(200), _hdlc("v21", 300)[:9000], _gap(500)]
    else:
        make = (lambda: _hdlc(name, rate, **opt)) if hdlc else (lambda: _data(name, rate, PAYLOAD, **opt))
        clean = make()
        low = {"v17": 14, "v29": 12, "v27ter": 8}[name]
        parts = [_gap(100), clean, _gap(100), _hdlc("v21", 300), _gap(100),
                 _noisy(make(), low, 2), _gap(100), clean[:len(clean) // 2], _gap(400),
                 make(), _gap(300)]
    return np.concatenate(parts)


def _feed(p, x: np.ndarray, sizes: list[int]) -> list:
    out, pos, i = [], 0, 0
    while pos < len(x):
        n = sizes[i % len(sizes)]
        i += 1
        out.extend(p.rx(np.ascontiguousarray(x[pos:pos + n])))
        pos += n
    return out


CONFIGS = [("v21", 300, True, False), ("v17", 14400, True, True), ("v17", 9600, False, True),
           ("v17", 7200, True, False), ("v29", 9600, False, False), ("v29", 7200, True, False),
           ("v27ter", 4800, False, False), ("v27ter", 2400, True, False)]


@pytest.mark.parametrize(("name", "rate", "hdlc", "short"), CONFIGS)
def test_compiled_pump_gives_the_reference_codes_and_what_was_sent(name, rate, hdlc, short):
    x = _line(name, rate, hdlc, short)
    watch = name != "v21"
    for sizes in ([160], [37, 160, 1, 500]):
        got = _feed(pump.rx_pump(name, rate, hdlc=hdlc, short_train=short, watch=watch), x, sizes)
        ref = _feed(pump.ReferenceRxPump(name, rate, hdlc=hdlc, short_train=short, watch=watch),
                    x, sizes)
        assert got == ref
    codes = [c for c, _ in got]
    assert codes.count(pump.UP) >= 2 and codes.count(pump.DOWN) >= 2
    if watch:
        assert pump.WRONG_CARRIER in codes  # the V.21 command between the fast bursts
    if hdlc:
        good = [d for c, (d, ok) in ((c, p) for c, p in got if c == pump.FRAME) if ok]
        assert good[:3] == FRAMES  # the clean burst's frames, octet for octet
    else:
        data = b"".join(p for c, p in got if c == pump.DATA)
        assert PAYLOAD in data  # the clean burst's page octets (then fill ones)


def test_pump_reports_a_failed_training_as_the_reference_does():
    """A V.29 burst buried in noise: TRAINING_FAILED, no data, no UP."""
    x = np.concatenate([_gap(100), _noisy(_data("v29", 9600, PAYLOAD), 5, 9), _gap(300)])
    got = _feed(pump.rx_pump("v29", 9600, hdlc=False, watch=True), x, [160])
    ref = _feed(pump.ReferenceRxPump("v29", 9600, hdlc=False, watch=True), x, [160])
    assert got == ref
    assert (pump.TRAINING_FAILED_CODE, None) in got
    assert pump.UP not in [c for c, _ in got]
