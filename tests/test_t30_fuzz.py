"""Hostile input to the T.30 engine: random frames (valid FCFs with random FIFs, and
garbage), random modem events at random times. The engine must never raise, and every
call must end in phase E with a result once time passes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.t30 import T30Config, T30Engine, TxPage
from faxcore.t30.frames import FCF_CODES, Frame
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    HangUp,
    LineDropped,
    TxComplete,
    WrongCarrier,
)

PAGE = TxPage(np.zeros((20, 1728), np.uint8), "standard")

frames = st.one_of(
    st.builds(lambda name, x, fif, final: Frame.build(name, fif, x=x, final=final).to_bytes(),
              st.sampled_from(sorted(FCF_CODES)), st.booleans(), st.binary(max_size=40),
              st.booleans()),
    st.binary(max_size=12),
)
events = st.one_of(
    st.builds(FrameReceived, frames, st.booleans()),
    st.just(TxComplete()), st.just(CarrierUp()), st.just(CarrierDown()),
    st.just(WrongCarrier()), st.builds(DataReceived, st.binary(max_size=64)),
)
script = st.lists(st.tuples(st.floats(0, 8, allow_nan=False), events), max_size=60)


def drive(engine: T30Engine, steps) -> None:
    now = 0.0
    engine.start(now)
    cmds = engine.commands()
    for dt, ev in steps:
        now += dt
        engine.handle_timer(now)
        engine.handle_event(ev, now)
        cmds += engine.commands()
    # Let time run: every call ends (phase E, HangUp) within a bounded time.
    for _ in range(2000):
        if engine.done:
            break
        d = engine.next_deadline
        now = max(now, d if d is not None else now) + 0.01
        engine.handle_timer(now)
        cmds += engine.commands()
        # A transmission the fuzzer never completed: the modem reports it done.
        engine.handle_event(TxComplete(), now)
        cmds += engine.commands()
    assert engine.done and engine.phase == "E"
    assert isinstance(cmds[-1], HangUp)
    assert engine.result.duration >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script, st.booleans(), st.booleans())
def test_engine_survives_random_events(steps, calling, ecm):
    cfg = T30Config(calling=calling, pages=[PAGE], ecm=ecm)
    drive(T30Engine(cfg), steps)


@settings(max_examples=50, deadline=None)
@given(script)
def test_engine_survives_line_drop_anywhere(steps):
    e = T30Engine(T30Config(calling=False))
    drive(e, steps + [(0.1, LineDropped())])
