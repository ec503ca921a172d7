"""The session pump (faxcore.modem.sessionpump and its compiled twin _sessionpump): whole
calls sound the same, sample for sample, and give both T.30 engines the same events at
the same times, with the compiled step and with its plain-Python description; the two
steps agree stop for stop on random blocks; the engine is consulted only when it has
run (its deadline is not polled per block); tx_into fills a caller's buffer."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import faxcore
import faxcore.session
from faxcore import modem
from faxcore.modem import sessionpump, txpump
from faxcore.modem.sessionpump import NEVER, ReferenceSessionPump, Silence, deadline_samples
from faxcore.t30 import TxPage
from faxcore.testing.pages import text_page

PAGES = [TxPage(text_page(300, seed=s), "fine") for s in (1, 2)]
STEPS = {"reference": ReferenceSessionPump, "compiled": sessionpump.session_pump}


def _record(session: faxcore.FaxSession, log: list) -> None:
    """Log every event and timer the session gives its engine, with the time."""
    eng = session.engine
    handle_event, handle_timer = eng.handle_event, eng.handle_timer

    def on_event(ev, now):
        log.append((type(ev).__name__, repr(getattr(ev, "data", None)), now))
        handle_event(ev, now)

    def on_timer(now):
        log.append(("timer", None, now))
        handle_timer(now)

    eng.handle_event, eng.handle_timer = on_event, on_timer


def _call(modem_name: str, ecm: bool, block: int) -> tuple:
    a = faxcore.FaxSession(True, send=PAGES, ecm=ecm, modems=(modem_name,))
    b = faxcore.FaxSession(False, ecm=ecm, modems=(modem_name,))
    ev_a: list = []
    ev_b: list = []
    _record(a, ev_a)
    _record(b, ev_b)
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
    return ha.hexdigest(), hb.hexdigest(), n, ev_a, ev_b


@pytest.mark.parametrize("block", [160, 100, 37, 800])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("modem_name", ["v17", "v29", "v27ter"])
def test_whole_call_is_the_same_with_the_compiled_and_the_reference_step(
        modem_name, ecm, block, monkeypatch):
    got = {}
    for name, step in STEPS.items():
        monkeypatch.setattr(faxcore.session, "SESSION_PUMP", step)
        got[name] = _call(modem_name, ecm, block)
    ref, fast = got["reference"], got["compiled"]
    assert fast[:3] == ref[:3]          # both stations' audio, the call's length
    assert fast[3] == ref[3]            # the calling engine's events and timers, timed
    assert fast[4] == ref[4]            # the answering engine's


@pytest.mark.parametrize("block", [160, 37])
def test_a_call_nobody_answers_times_out_the_same_with_either_step(block, monkeypatch):
    """A caller hearing only a faint hum: CNG, then the engine's T1 timer ends the call;
    the same audio, the same timers at the same times, with either step."""
    got = {}
    hum = (40 * np.sin(np.arange(block) * 0.3)).astype(np.int16)
    for name, step in STEPS.items():
        monkeypatch.setattr(faxcore.session, "SESSION_PUMP", step)
        a = faxcore.FaxSession(True, send=PAGES[:1], modems=("v29",))
        log: list = []
        _record(a, log)
        h, n = hashlib.sha256(), 0
        while not a.done:
            h.update(a.tx(block).tobytes())
            a.rx(hum)
            n += block
            assert n < 120 * modem.SAMPLE_RATE, "the call did not end"
        assert not a.result.ok
        got[name] = (h.hexdigest(), n, log)
    assert got["compiled"] == got["reference"]
    assert any(e[0] == "timer" for e in got["compiled"][2])


class _Burst:
    """A transmit source with a transmit pump's interface (sure_samples) of a fixed
    length: a ramp, with a few zero samples at its end (the quiet the pump counts)."""

    def __init__(self, n: int, seed: int):
        rng = np.random.default_rng(seed)
        self.x = rng.integers(-3000, 3000, n).astype(np.int16)
        self.x[-5:] = 0
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.x)

    def sure_samples(self) -> int:
        return max(0, len(self.x) - self.pos - 1)

    def tx(self, k: int) -> np.ndarray:
        out = np.zeros(k, np.int16)
        part = self.x[self.pos:self.pos + k]
        out[:len(part)] = part
        self.pos += k
        return out


class _Listener:
    """A receive pump stand-in: codes at the blocks whose sum of |x| is odd."""

    hdlc = True
    fast = False
    up = True

    def __init__(self):
        self.seen = 0

    def rx(self, block):
        self.seen += len(block)
        s = int(np.abs(block.astype(np.int64)).sum())
        return [(1, s)] if s % 7 == 3 else []


def _drive(step, seed: int) -> list:
    """Random blocks through ``step``: sources (bursts, silences, nothing), receivers,
    a held receiver and deadlines; everything it says and fills, in order."""
    rng = np.random.default_rng(seed)
    log = []
    for i in range(400):
        what = rng.integers(0, 6)
        if what == 0:
            step.src = _Burst(int(rng.integers(10, 900)), seed * 1000 + i)
        elif what == 1:
            step.src = Silence(int(rng.integers(-2, 300)))
        elif what == 2:
            step.rxm = _Listener() if step.rxm is None else None
        elif what == 3:
            step.deadline = max(step.rx_clock, step.tx_clock) + int(rng.integers(0, 500))
        elif what == 4:
            step.hold = _Listener() if step.hold is None else None
            step.hold_until = max(step.rx_clock, step.tx_clock) + int(rng.integers(0, 300))
        step.engine_done = bool(rng.integers(0, 8) == 0)
        n = int(rng.integers(1, 700))
        out = np.full(n, 12345, np.int16)
        pos, first = int(rng.integers(0, n + 1)), True
        while True:
            r = step.tx(out, pos, first)
            first = False
            log.append(("tx", r, step.quiet, step.tx_clock))
            if r is None or r[1] == sessionpump.TIMER:
                break
            pos = r[0]
            if r[1] == sessionpump.SRC_DONE:
                step.src = None
            elif r[1] == sessionpump.RELEASE:
                step.hold = None
            elif r[1] == sessionpump.SLOW:
                break
        log.append(("out", out.tobytes()))
        x = rng.integers(-200, 200, int(rng.integers(1, 500))).astype(np.int16)
        x[rng.random(len(x)) < 0.7] = 0
        pos = 0
        while True:
            r = step.rx(x, pos)
            log.append(("rx", None if r is None else r[:3], repr(None if r is None else r[3]),
                        step.rx_clock, step.rx_loud_end))
            if r is None:
                break
            if r[2] == sessionpump.RELEASE:
                step.hold = None
            elif r[2] == sessionpump.TIMER:
                step.deadline = NEVER
            pos = r[1]
    return log


@pytest.mark.parametrize("seed", range(6))
def test_compiled_step_equals_the_reference_on_random_blocks(seed):
    """Blocks of random sizes starting anywhere, sources and receivers changing between
    them: the same stops, fields and samples from both steps."""
    fast = _drive(sessionpump.session_pump(txpump.tx_pump), seed)
    assert fast == _drive(ReferenceSessionPump(txpump.ReferenceTxPump), seed)
    stops = {e[1][1] for e in fast if e[0] == "tx" and e[1] is not None}
    stops |= {e[1][2] for e in fast if e[0] == "rx" and e[1] is not None}
    assert stops >= {sessionpump.RELEASE, sessionpump.TIMER, sessionpump.CODES,
                     sessionpump.SRC_DONE}


def test_audio_that_is_not_int16_is_converted_or_refused():
    for step in (sessionpump.session_pump(), ReferenceSessionPump()):
        assert step.rx(np.zeros(10, np.float64), 0)[2] == sessionpump.CONVERT
        assert step.rx(np.zeros(20, np.int16)[::2], 0)[2] == sessionpump.CONVERT
        assert step.rx(np.zeros(10, ">i2"), 0)[2] == sessionpump.CONVERT
        with pytest.raises(ValueError):
            step.tx(np.zeros(10, np.int32), 0, True)
        with pytest.raises(ValueError):
            step.tx(np.zeros(10, np.int16), 11, True)
    s = faxcore.FaxSession(False, modems=("v29",))
    s.rx([0, 1, -1] * 100)  # a list of ints is audio
    with pytest.raises(ValueError):
        s.rx(np.full(10, 0.5))


def test_deadline_samples_is_the_first_clock_at_or_after_the_deadline():
    rng = np.random.default_rng(4)
    values = list(rng.random(2000) * 100) + [0.1, 0.3, 1 / 3, 7.000125, 2.5, 1e-9, 0.0]
    for d in values:
        c = deadline_samples(float(d))
        assert c / modem.SAMPLE_RATE >= d
        assert c == 0 or (c - 1) / modem.SAMPLE_RATE < d
    assert deadline_samples(None) == NEVER
    assert deadline_samples(-1.0) == 0


def test_the_engine_deadline_is_not_polled_per_block():
    """A whole call reads the engine's deadline once per engine run (event, timer or
    start), not once per block as the session did before its step was compiled."""
    a = faxcore.FaxSession(True, send=PAGES[:1], modems=("v29",))
    b = faxcore.FaxSession(False, modems=("v29",))
    reads = {"deadline": 0, "runs": 0}
    base = type(a.engine)

    class Counted(base):
        @property
        def next_deadline(self):
            reads["deadline"] += 1
            return super().next_deadline

        def handle_event(self, ev, now):
            reads["runs"] += 1
            return super().handle_event(ev, now)

        def handle_timer(self, now):
            reads["runs"] += 1
            return super().handle_timer(now)

    a.engine.__class__ = Counted
    b.engine.__class__ = Counted
    blocks = 0
    while not (a.done and b.done):
        x, y = a.tx(160), b.tx(160)
        a.rx(y)
        b.rx(x)
        blocks += 1
    assert a.result.ok and b.result.ok
    assert blocks > 500
    # one read per run (the step learns the new deadline), and one by the timer check
    # of a block whose step found the deadline due
    assert reads["deadline"] <= 2 * reads["runs"] + 2
    assert reads["runs"] < blocks // 4


def test_tx_into_fills_the_callers_buffer_with_what_tx_returns():
    a1 = faxcore.FaxSession(True, send=PAGES[:1], modems=("v27ter",))
    b1 = faxcore.FaxSession(False, modems=("v27ter",))
    a2 = faxcore.FaxSession(True, send=PAGES[:1], modems=("v27ter",))
    b2 = faxcore.FaxSession(False, modems=("v27ter",))
    bufa, bufb = np.empty(160, np.int16), np.empty(160, np.int16)
    while not (a1.done and b1.done):
        x, y = a1.tx(160), b1.tx(160)
        a2.tx_into(bufa)
        b2.tx_into(bufb)
        assert np.array_equal(x, bufa) and np.array_equal(y, bufb)
        a1.rx(y)
        b1.rx(x)
        a2.rx(bufb)
        b2.rx(bufa)
    assert a2.done and b2.done and a2.result.ok and len(b2.pages) == 1
    with pytest.raises(ValueError):
        a2.tx_into(np.zeros(160, np.float32))
