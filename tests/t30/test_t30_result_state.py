"""A call's result says IN_PROGRESS until phase E: ``ok`` is never true mid-call."""

from __future__ import annotations

import numpy as np

import faxcore
from faxcore.t30 import CallResult, T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.loopback import Loopback
from faxcore.testing.line import run_call
from faxcore.testing.pages import text_page


def test_new_result_is_in_progress():
    r = CallResult()
    assert r.status == T30Status.IN_PROGRESS and not r.ok and not r.finished
    assert r.summary().startswith("status IN_PROGRESS (call in progress)")


def test_loopback_result_is_in_progress_until_phase_e():
    a = T30Engine(T30Config(calling=True, pages=[TxPage(text_page(200, 1))]))
    b = T30Engine(T30Config(calling=False))
    seen = []

    def look(engine):
        seen.append((engine.phase, engine.result.status, engine.result.ok,
                     engine.result.finished, engine.done))

    lb = Loopback(a, b)
    for t in (0.5, 4.0, 8.0, 10.2, 11.5):
        lb.at(t, lambda: (look(a), look(b)))
    lb.run()
    assert len(seen) == 10
    for phase, status, ok, finished, done in seen:
        assert not done and phase != "E"
        assert status == T30Status.IN_PROGRESS and not ok and not finished
    assert {p for p, *_ in seen} >= {"A", "B", "C"}  # mid-call in several phases
    for e in (a, b):
        assert e.done and e.phase == "E" and e.result.ok and e.result.finished


def test_session_result_is_in_progress_until_done():
    page = text_page(100, 2)
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], modems=("v29",))
    b = faxcore.FaxSession(False, modems=("v29",))
    statuses = set()

    def check(n: int) -> None:
        for s in (a, b):
            if not s.engine.done:
                statuses.add(s.result.status)
                assert not s.result.ok

    check(0)
    run_call(a, b, max_seconds=200, watch=check)
    assert statuses == {T30Status.IN_PROGRESS}
    assert a.result.ok and b.result.ok
    assert np.array_equal(b.pages[0], page)
