"""The per-block and per-event Python work of a call (issue 14: whole-call CPU and
channel density), counted on a whole faxcore <-> faxcore V.29 non-ECM call, where page
data is one engine event per 20 ms block:

* the session's ``tx(n)`` gets its new block from the compiled step (``tx_new``), not
  from ``np.empty`` through Python (was one call per block per station);
* the transmit pump holds a modem's samples without ``np.ascontiguousarray`` /
  ``np.concatenate`` calls through numpy's Python layer (was two per 200 ms);
* an event the engine answers with no command runs no import statement (the session
  imported the HDLC transmitter on every event: ~10 k instructions each, an
  AttributeError formatted inside the import machinery).

The call's audio is the same as before (tests/session/test_session_pump.py compares it
sample for sample with the plain-Python steps, and the sha256 digests there)."""

from __future__ import annotations

import builtins
from collections import Counter

import numpy as np

import faxcore
import faxcore.session
from faxcore import modem
from faxcore.modem import _txpump
from faxcore.t30 import TxPage
from faxcore.testing.pages import text_page


class _CountingNumpy:
    """``numpy`` for one module's globals, counting the functions it calls."""

    def __init__(self, counts: Counter, names: tuple[str, ...]) -> None:
        self._counts = counts
        self._names = names

    def __getattr__(self, name: str):
        attr = getattr(np, name)
        if name not in self._names:
            return attr

        def counted(*args, **kwargs):
            self._counts[name] += 1
            return attr(*args, **kwargs)
        return counted


def test_call_runs_no_numpy_call_or_import_per_block(monkeypatch) -> None:
    counts: Counter = Counter()
    monkeypatch.setattr(faxcore.session, "np",
                        _CountingNumpy(counts, ("empty", "zeros", "concatenate")))
    monkeypatch.setattr(_txpump, "np",
                        _CountingNumpy(counts, ("ascontiguousarray", "concatenate")))
    real_import = builtins.__import__

    def counting_import(name, *args, **kwargs):
        counts["import " + name] += 1
        return real_import(name, *args, **kwargs)

    pages = [TxPage(text_page(300, seed=3), "fine")]
    a = faxcore.FaxSession(True, send=pages, ecm=False, modems=("v29",))
    b = faxcore.FaxSession(False, ecm=False, modems=("v29",))
    events = Counter()
    handle = b.engine.handle_event

    def on_event(ev, now):
        events[type(ev).__name__] += 1
        handle(ev, now)

    b.engine.handle_event = on_event
    blocks = 0
    monkeypatch.setattr(builtins, "__import__", counting_import)
    while not (a.done and b.done):
        x, y = a.tx(160), b.tx(160)
        a.rx(y)
        b.rx(x)
        blocks += 1
        assert blocks < 400 * modem.SAMPLE_RATE // 160, "the call did not end"
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert a.result.ok and b.result.ok
    assert np.array_equal(b.pages[0], pages[0].bitmap)
    # the page came as one DataReceived per block: hundreds of events
    assert events["DataReceived"] > 100, events
    assert counts["empty"] == 0 and counts["zeros"] == 0, counts
    assert counts["ascontiguousarray"] == 0 and counts["concatenate"] == 0, counts
    # the session imports the HDLC transmitter only when the engine gives commands (a
    # burst, a tone, a gap: a few per phase), not on every page-data event
    assert counts["import faxcore.modem.hdlc"] < events["DataReceived"] // 4, (counts, events)


def test_compiled_deadline_samples_is_the_plain_one() -> None:
    """The step's ``set_deadline`` (compiled ``deadline_samples``, called after every
    engine step) gives the plain reading's sample clock on every deadline a call makes
    and on the awkward ones."""
    from faxcore.modem import _sessionpump, sessionpump  # the compiled twin: needs the build

    rng = np.random.default_rng(11)
    values = [float(v) for v in rng.random(5000) * 3600] + [
        0.1, 0.3, 1 / 3, 7.000125, 2.5, 1e-9, 0.0, -0.0, -1.0, 1e-300, 0.000125,
        0.000125 * 3, 6.0 + 0.1 + 0.2, 86400.0 * 365, float(np.nextafter(2.5, 3)),
        float(np.nextafter(2.5, 2)), float("nan"), float("inf"), float("-inf"), 1e300]
    for v in values + [int(rng.integers(0, 10**6)) for _ in range(100)] + [None, np.float64(2.75)]:
        plain = sessionpump.deadline_samples(v) if v != 1e300 else sessionpump.NEVER
        assert _sessionpump.deadline_samples(v) == plain, v
    for step in (sessionpump.ReferenceSessionPump(), sessionpump.session_pump()):
        step.set_deadline(2.5)
        assert step.deadline == 20000
        step.set_deadline(None)
        assert step.deadline == sessionpump.NEVER


def test_tones_play_in_whole_blocks(monkeypatch) -> None:
    """CED and a CNG burst say how far they surely go on (``continues_past``), so the
    session plays them a 20 ms block at a time, not 40 samples at a time (four Python
    pieces per block before); ``continues_past(n)`` is exactly "not done after tx(n)"."""
    from faxcore.modem.tones import CedGenerator, CngGenerator  # this test's subjects

    for make in (lambda: CedGenerator(duration=0.5, silence_before=0.01),
                 lambda: CngGenerator(cycles=1), lambda: CngGenerator(cycles=2)):
        g = make()
        rng = np.random.default_rng(5)
        while not g.done:
            n = int(rng.integers(1, 700))
            will = g.continues_past(n)
            g.tx(n)
            assert will == (not g.done)
    assert CngGenerator().continues_past(10**9)   # endless CNG
    calls = Counter()
    real_tx = CedGenerator.tx

    def counting_tx(self, n):
        calls[n] += 1
        return real_tx(self, n)

    monkeypatch.setattr(CedGenerator, "tx", counting_tx)
    b = faxcore.FaxSession(False, modems=("v29",))
    for _ in range(250):   # 5 s: CED (2.6-4 s) and its end
        b.tx(160)
    assert sum(calls.values()) < 1.2 * sum(n * c for n, c in calls.items()) / 160, calls
