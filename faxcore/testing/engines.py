"""T.30 engines (:class:`~faxcore.t30.engine.T30Engine`) driven in virtual time, for the
tests: no audio, no modems, a whole call in milliseconds of CPU.

Two ways, both through the engine's public sans-IO API:

* :func:`loopback_call`: two engines joined by :class:`faxcore.t30.loopback.Loopback`
  (the simulated line with realistic signal durations, and its :class:`Faults`);
* :func:`play`: one engine against a scripted far end (:class:`Script` items answer its
  listens in order; every transmission completes at once), the way a conformance tester
  drives a device under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from faxcore.t30 import T30Config, T30Engine, TxPage
from faxcore.t30.dis import Capabilities
from faxcore.t30.frames import Frame
from faxcore.t30.loopback import Faults, Loopback
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    DataReceived,
    FrameReceived,
    HangUp,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
    WrongCarrier,
)

CALLER_IDENT = "+1 555 0100"
ANSWERER_IDENT = "+44 20 7946"


# ---- two engines on the simulated line ---------------------------------------------------

def loopback_call(pages: Iterable[TxPage] = (), *, faults: Faults | None = None,
                  caller: dict | None = None, answerer: dict | None = None,
                  limit: float = 3600.0) -> tuple[T30Engine, T30Engine, Loopback]:
    """A complete call, caller sending ``pages``, on the simulated line. ``caller`` and
    ``answerer`` are T30Config fields over the defaults (idents :data:`CALLER_IDENT` and
    :data:`ANSWERER_IDENT`). Returns both engines, ended, and the line."""
    ccfg = dict(calling=True, pages=list(pages), ident=CALLER_IDENT)
    ccfg.update(caller or {})
    acfg = dict(calling=False, ident=ANSWERER_IDENT)
    acfg.update(answerer or {})
    a = T30Engine(T30Config(**ccfg))
    b = T30Engine(T30Config(**acfg))
    lb = Loopback(a, b, faults)
    lb.run(limit)
    assert a.done and b.done
    return a, b, lb


def names(engine: T30Engine, direction: str | None = None) -> list[str]:
    """The frame names of ``engine``'s trace, those it sent ("tx") or got ("rx") or all."""
    return [t.name for t in engine.result.trace if direction is None or t.direction == direction]


def assert_pages_equal(sent: Sequence[TxPage], engine: T30Engine) -> None:
    """``engine`` received exactly ``sent``: same number, pixels and resolution."""
    assert len(engine.received_pages) == len(sent)
    for s, r in zip(sent, engine.received_pages, strict=True):
        assert r.bitmap is not None
        assert r.bitmap.shape == s.bitmap.shape
        assert np.array_equal(r.bitmap, s.bitmap)
        assert r.resolution == s.resolution


# ---- one engine against a scripted far end -----------------------------------------------

#: Script item: do not answer this listen (its timer runs out).
NOTHING = object()


@dataclass(frozen=True)
class BadFcs:
    """Script item: one V.21 frame that arrives with a bad FCS, then the carrier drops."""

    data: bytes


#: What a script item may be: a list of V.21 frames (the carrier stays up), a tuple of
#: frames (V.21 or ECM: the carrier drops after them), bytes (high-speed data), a
#: :class:`BadFcs`, the class :class:`~faxcore.t30.modem_if.WrongCarrier`, or NOTHING.
Script = list


def frame(name: str, fif: bytes = b"", x: bool = False) -> bytes:
    """One final HDLC frame ``name`` (with ``fif``), as the far end sends it."""
    return Frame.build(name, fif, x=x, final=True).to_bytes()


def dis_frame(ecm: bool) -> bytes:
    """The DIS of a far end that has V.27ter only (the slowest start), ECM or not."""
    return frame("DIS", Capabilities(modems=frozenset({"v27ter"}), ecm=ecm).to_fif())


@dataclass
class Played:
    """What the engine did during :func:`play`."""

    sent: list[Frame] = field(default_factory=list)
    log: list[Command] = field(default_factory=list)
    waiting: Command | None = None   # the listen the far end did not answer (stopped)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.sent]


def _answer(item) -> list:
    """The modem events that bring script ``item`` to the engine."""
    if isinstance(item, list):
        return [CarrierUp()] + [FrameReceived(f) for f in item]
    if isinstance(item, BadFcs):
        return [CarrierUp(), FrameReceived(item.data, crc_ok=False), CarrierDown()]
    if isinstance(item, tuple):
        return [CarrierUp(), *[FrameReceived(f) for f in item], CarrierDown()]
    if item is WrongCarrier:
        return [WrongCarrier()]
    return [CarrierUp(), DataReceived(item), CarrierDown()]


def play(eng: T30Engine, script: Script, to_end: bool = False,
         waiting: Command | None = None, limit: float = 1000.0) -> Played:
    """Carry out ``eng``'s commands as a modem would (every transmission completes at
    once) and answer its listens from ``script`` in order (see :data:`Script`). Stop at
    the first listen the script has nothing left for (unless ``to_end``: then let every
    timer run out, and the engine must end in phase E with a HangUp). ``waiting``: the
    listen an earlier play stopped at, to go on from. Events come 50 ms apart."""
    out = Played()
    queue = list(script)
    now = eng.now
    pending = ([waiting] if waiting else []) + eng.commands()
    while not eng.done:
        assert now < limit, "engine did not end"
        if not pending:
            d = eng.next_deadline
            assert d is not None, "engine waits with no deadline"
            now = max(now + 0.01, d)
            eng.handle_timer(now)
            pending = eng.commands()
            continue
        cmd = pending.pop(0)
        out.log.append(cmd)
        events: list = []
        if isinstance(cmd, SendHDLC):
            out.sent += [Frame.parse(f) for f in cmd.frames]
            events = [TxComplete()]
        elif isinstance(cmd, Silence | SendTone | SendData):
            events = [TxComplete()]
        elif isinstance(cmd, ReceiveHDLC | ReceiveData):
            if not queue:
                if not to_end:
                    out.waiting = cmd
                    return out
                continue
            item = queue.pop(0)
            if item is NOTHING:
                continue
            events = _answer(item)
        elif isinstance(cmd, HangUp):
            break
        for ev in events:
            now += 0.05
            eng.handle_event(ev, now)
            pending += eng.commands()
    for cmd in pending:  # what it issued on its way out (DCN, HangUp)
        out.log.append(cmd)
        if isinstance(cmd, SendHDLC):
            out.sent += [Frame.parse(f) for f in cmd.frames]
    assert eng.done and eng.phase == "E" and isinstance(out.log[-1], HangUp)
    return out


def drive(eng: T30Engine, script: Script) -> tuple[list[Frame], list[Command]]:
    """Start ``eng`` at time 0 and :func:`play` to the end, every V.21 answer (a list of
    frames) followed by the far end's carrier drop, as a real far end sends it. Returns
    (the frames the engine sent, every command it issued)."""
    eng.start(0.0)
    items = [tuple(i) if isinstance(i, list) else i for i in script]
    got = play(eng, items, to_end=True, limit=300.0)
    return got.sent, got.log
