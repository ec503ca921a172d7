"""Hostile input to the T.30 engine: random frames (valid FCFs with random FIFs, and
garbage), random modem events at random times. The engine must never raise, and every
call must end in phase E with a result once time passes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.frames import FCF_CODES, Frame
from faxcore.t30.loopback import V21_PREAMBLE, V21_RATE, hdlc_bits, training_time
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    HangUp,
    LineDropped,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
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


# After the hostile script, with nothing more from the line, every wait in the engine
# ends by a timer (T1 35 s, T2 7 s, T4 3.45 s x 3 tries, T5 65 s) and a call ends well
# within this much virtual time.
QUIET_LIMIT = 150.0


def tx_seconds(cmd) -> float | None:
    """How long our pretend modem takes to carry out a transmit command (None: not one)."""
    if isinstance(cmd, Silence | SendTone):
        return cmd.ms / 1000.0
    if isinstance(cmd, SendHDLC):
        return V21_PREAMBLE + sum(hdlc_bits(f) for f in cmd.frames) / V21_RATE
    if isinstance(cmd, SendData):
        bits = len(cmd.data) * 8 + sum(hdlc_bits(f) for f in cmd.frames)
        return training_time(cmd.modulation, cmd.long_training) + bits / cmd.modulation.rate
    return None


class Modem:
    """Carries out the engine's commands as a modem would: a transmit command completes
    (TxComplete) once, when its time is up, and only if it is still the current command;
    nothing else is ever reported unasked."""

    def __init__(self, engine: T30Engine):
        self.engine = engine
        self.cmds: list = []
        self.tx_done_at: float | None = None

    def take(self, now: float) -> None:
        for cmd in self.engine.commands():
            assert not (self.cmds and isinstance(self.cmds[-1], HangUp)), \
                f"{cmd!r} after HangUp"
            self.cmds.append(cmd)
            dur = tx_seconds(cmd)
            self.tx_done_at = None if dur is None else now + dur

    def complete(self, now: float) -> None:
        """Report TxComplete if a transmission is due by ``now``."""
        if self.tx_done_at is not None and self.tx_done_at <= now:
            self.tx_done_at = None
            self.engine.handle_event(TxComplete(), now)
            self.take(now)


def drive(engine: T30Engine, steps) -> None:
    """Play ``steps`` (time step, line event) at the engine, then let time pass with
    nothing on the line: the call must end in phase E with a HangUp, within QUIET_LIMIT
    seconds of virtual time, the modem having finished every transmission it was given.
    A TxComplete in the script stands for "the modem finished": it is reported only
    when a transmission is under way."""
    now = 0.0
    modem = Modem(engine)
    engine.start(now)
    modem.take(now)
    for dt, ev in steps:
        now += dt
        modem.complete(now)
        engine.handle_timer(now)
        modem.take(now)
        if isinstance(ev, TxComplete):
            if modem.tx_done_at is None:
                continue  # nothing being sent: a modem reports nothing
            modem.tx_done_at = now
            modem.complete(now)
            continue
        engine.handle_event(ev, now)
        modem.take(now)
    quiet_from = now
    while not engine.done:
        wake = [t for t in (modem.tx_done_at, engine.next_deadline) if t is not None]
        assert wake, "engine waits for nothing: a hang"
        if min(wake) > quiet_from + QUIET_LIMIT:
            break
        now = max(now, min(wake))
        modem.complete(now)
        engine.handle_timer(now)
        modem.take(now)
    assert engine.done and engine.phase == "E", f"not finished {now - quiet_from:.1f} s " \
                                                "after the line went quiet"
    assert isinstance(modem.cmds[-1], HangUp)
    assert sum(isinstance(c, HangUp) for c in modem.cmds) == 1
    r = engine.result
    assert r.status != T30Status.IN_PROGRESS and engine.next_deadline is None
    # The modem finished everything it was asked to send: the engine never had to give
    # up waiting for it.
    assert r.status != T30Status.HDLC_CARRIER, r.summary()
    assert 0 <= r.duration <= now + 0.001  # duration is rounded to the millisecond


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


def test_driver_catches_an_engine_waiting_for_an_unsent_transmission(monkeypatch):
    """The driver itself can fail: an engine that waits for the end of a transmission it
    never asked for (here: its Silence commands are lost) only gets out by giving up
    after ``max_burst`` (600 s). The old driver sent TxComplete unasked and hid that."""
    eng = T30Engine(T30Config(calling=False))
    real_commands = eng.commands

    def commands():
        return [c for c in real_commands() if not isinstance(c, Silence)]

    # the engine's public output, filtered on the way to the modem
    monkeypatch.setattr(eng, "commands", commands)
    with pytest.raises(AssertionError, match="not finished"):
        drive(eng, [])  # CED, then silence before DIS


def test_a_quiet_line_ends_every_call():
    """No script at all: both roles, with and without ECM, end in phase E by their
    timers (the calling station after T1 without DIS, the answering one after its third
    DIS, with DCN: rules.py Decision 3)."""
    for calling in (True, False):
        for ecm in (True, False):
            e = T30Engine(T30Config(calling=calling, pages=[PAGE], ecm=ecm))
            drive(e, [])
            assert e.result.status == (T30Status.T1_EXPIRED if calling
                                       else T30Status.RETRYDCN)
