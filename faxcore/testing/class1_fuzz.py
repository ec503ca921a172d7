"""Replay hostile serial-line bytes through the Class 1 driver and emulator, and check
what they promise: no exception, bounded buffers, and an end to every call.

Two targets, one function each (the corpus directories of ``tests/corpus/`` hold their
inputs: raw bytes the *peer* writes on the serial line):

* :func:`replay_dte_bytes` (``class1_dte``): bytes a modem writes, fed to our
  :class:`~faxcore.class1.dte.Class1Driver` in each phase of a call (:data:`DTE_PHASES`:
  initialising, idle, waiting for RING, after ATD, in ``+FRH``/``+FRM`` data, sending).
  While the bytes last, a stand-in for the T.30 engine gives the driver a new command
  whenever it has none, and gives up on a receive that lasts more than
  :data:`ENGINE_PATIENCE` s (as T1/T2/T4 do); then it hangs up, and virtual time runs
  until the driver is on hook.
* :func:`replay_dce_bytes` (``class1_dce``): bytes a DTE writes, fed to our emulated modem
  :class:`~faxcore.class1.dce.Class1Dce` in each of :data:`DCE_PHASES`
  (command mode, dialling, answering, in a call, in ``+FTH``/``+FTM``/``+FRH``/``+FRM``/
  ``+FRS``), with 20 ms of (silent) line time after each read; then a DTE that wants out
  (``<DLE><ETX>``, a CAN, ``ATH0``) must get the modem back on hook.

Both also check that the outcome does not depend on how the bytes were cut: in every
phase (of :data:`INVARIANT_DCE_PHASES` for the emulator), read at one instant whole and
in pieces, the input must give the same commands, events, answers and state
(:func:`driver_outcome`, :func:`emulator_outcome`).

Each returns a small hashable *signature* of what the input did (for a fuzzer that keeps
inputs with new signatures) and raises :class:`Class1FuzzFailure` (an AssertionError)
when a promise broke; any other exception is a finding too. Both are deterministic:
reads are cut at the sizes of :data:`CHUNKS`, in turn, and time is virtual.

    from faxcore.testing.class1_fuzz import replay_dte_bytes, replay_dce_bytes
    replay_dte_bytes(open("tests/corpus/class1_dte/ring-error.bin", "rb").read())

``python -m faxcore.testing.class1_fuzz dte|dce FILE...`` replays files.
The corpus files ``seed-*.bin`` are real traffic: faxcore's driver and emulator in
memory (one-page calls, ECM and not, each way) and efax 0.9a sending a page to the
emulator on its pty; the other files reproduce the defects they are named after (see
tests/class1/test_class1_security.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import numpy as np

from faxcore.class1 import dce as c1dce
from faxcore.class1 import dte as c1dte
from faxcore.class1.codes import MAX_DATA, MAX_FRAME
from faxcore.class1.dce import Class1Dce
from faxcore.class1.dte import Class1Driver
from faxcore.modem import SAMPLE_RATE
from faxcore.t30 import modem_if as mi

__all__ = ["CHUNKS", "DCE_PHASES", "DTE_PHASES", "INVARIANT_DCE_PHASES", "Class1FuzzFailure",
           "check_driver", "check_emulator", "driver_in_phase", "driver_outcome",
           "emulator_in_phase", "emulator_outcome", "replay_dce_bytes", "replay_dte_bytes"]

DTE_PHASES = ("init", "idle", "ring", "atd", "frh", "frm", "frm_ecm", "fth", "ftm")
DCE_PHASES = ("command", "dial", "answer", "call", "fth", "ftm", "frh", "frm", "frs")
#: where the emulator's answers cannot depend on how the DTE's writes were cut (in +FRH/
#: +FRM/+FRS the first octet of each write aborts the receive, by design)
INVARIANT_DCE_PHASES = ("command", "call", "fth", "ftm")
#: read sizes, cycled: one octet at a time, odd sizes, a few large reads
CHUNKS = (61, 1, 7, 256, 13, 2, 1024)
STEP = 0.25             # virtual seconds between two reads from the modem
ENGINE_PATIENCE = 6.0   # the stand-in engine gives up on a receive after this long
END_SECONDS = 60.0      # after hanging up, the driver must be on hook within this
BLOCK = 160             # emulator line time per read: 20 ms
ALL_CODES = b"24,48,72,73,74,96,97,98,121,122,145,146"
_DIS = bytes.fromhex("ff13800000ee7a")

#: the stand-in engine's commands, in turn, whenever the driver has none
_COMMANDS: tuple[mi.Command, ...] = (
    mi.ReceiveHDLC(),
    mi.SendHDLC((bytes.fromhex("ff0340"), _DIS)),
    mi.ReceiveData(mi.V29_9600),
    mi.SendData(mi.V29_9600, data=bytes(40)),
    mi.ReceiveData(mi.V17_14400, hdlc=True, short_train=True),
    mi.Silence(75),
    mi.SendData(mi.V27_4800, frames=(b"\xff\x03\x06\x00" + bytes(64),)),
    mi.SendTone("CED", 3000),
)
_RECEIVES = ("frh", "frh_data", "frh_result", "frm", "frm_data", "frm_end")


class Class1FuzzFailure(AssertionError):
    """A promise of the driver or the emulator broke on this input."""


def _fail(what: str) -> None:
    raise Class1FuzzFailure(what)


def _norm(msg: str | None) -> str | None:
    """An error message without its numbers and quoted parts (a signature)."""
    if msg is None:
        return None
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "_", msg)[:80]


# ---- the driver (DTE side) ----------------------------------------------------------------

def check_driver(drv: Class1Driver) -> None:
    """Every buffer the modem's bytes can grow is within its cap."""
    line, frame = drv.buffered()
    if line > c1dte.MAX_LINE:
        _fail(f"line buffer {line} > {c1dte.MAX_LINE}")
    if frame > MAX_FRAME:
        _fail(f"frame buffer {frame} > {MAX_FRAME}")
    if drv.pending_command is not None and drv.pending_command.octets > MAX_DATA:
        _fail(f"+FRM data {drv.pending_command.octets} > {MAX_DATA}")
    if len(drv.log) > c1dte.LOG_MAX:
        _fail(f"command log {len(drv.log)} > {c1dte.LOG_MAX}")
    if drv.error is not None and not isinstance(drv.error, str):
        _fail(f"error is not a message: {drv.error!r}")


def _answer_init(drv: Class1Driver, t: float) -> None:
    for _ in range(len(drv.init)):
        out = drv.outgoing()
        if out in (b"AT+FTM=?\r", b"AT+FRM=?\r"):
            drv.receive(b"\r\n" + ALL_CODES + b"\r\n\r\nOK\r\n", t)
        else:
            drv.receive(b"\r\nOK\r\n", t)


def driver_in_phase(phase: str) -> Class1Driver:
    """A driver brought by a well-behaved modem to ``phase`` (one of :data:`DTE_PHASES`),
    at time 0; the bytes it wrote so far are taken."""
    if phase not in DTE_PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    dial = "5551234" if phase in ("init", "atd", "frh") else None
    drv = Class1Driver(dial=dial, wait_ring=phase == "ring", command_timeout=2.0,
                       dial_timeout=30.0)
    drv.start(0.0)
    if phase == "init":
        return drv
    _answer_init(drv, 0.0)
    setup: dict[str, tuple[mi.Command, bytes]] = {
        "atd": (mi.ReceiveHDLC(cng=True), b""),
        "frh": (mi.ReceiveHDLC(cng=True), b"\r\nCONNECT\r\n"),
        "frm": (mi.ReceiveData(mi.V29_9600), b"\r\nCONNECT\r\n"),
        "frm_ecm": (mi.ReceiveData(mi.V17_14400, hdlc=True, short_train=True),
                    b"\r\nCONNECT\r\n"),
        "fth": (mi.SendHDLC((bytes.fromhex("ff0340"), _DIS)), b"\r\nCONNECT\r\n"),
        "ftm": (mi.SendData(mi.V29_9600, data=bytes(300)), b"\r\nCONNECT\r\n"),
    }
    if phase in setup:
        cmd, answer = setup[phase]
        drv.send_command(cmd, 0.0)
        drv.outgoing()
        if answer:
            drv.receive(answer, 0.0)
    drv.outgoing()
    drv.events()
    want = {"idle": None, "ring": "ring", "atd": "atd", "frh": "frh_data",
            "frm": "frm_data", "frm_ecm": "frm_data", "fth": "fth_frame", "ftm": "ftm_ok"}
    kind = drv.pending_command.kind if drv.pending_command is not None else None
    if kind != want[phase] or drv.error is not None:
        raise RuntimeError(f"phase {phase}: driver in {kind}, error {drv.error}")
    return drv


class _Engine:
    """A stand-in for the T.30 engine: a new command whenever the driver has none, and
    patience with receives as long as T2/T4 give."""

    def __init__(self, drv: Class1Driver, active: bool) -> None:
        self.drv = drv
        self.active = active
        self.i = 0
        self.since = 0.0
        self.op = drv.pending_command
        self.events: set[str] = set()
        self.data = 0

    def service(self, t: float) -> None:
        drv = self.drv
        drv.outgoing()
        for e in drv.events():
            if not isinstance(e, mi.Event):
                _fail(f"not an engine event: {e!r}")
            self.events.add(type(e).__name__)
            if isinstance(e, mi.FrameReceived):
                if not isinstance(e.data, bytes) or len(e.data) > MAX_FRAME:
                    _fail(f"frame of {len(e.data)} octets")
            elif isinstance(e, mi.DataReceived):
                self.data += len(e.data)
        if drv.pending_command is not self.op:
            self.op, self.since = drv.pending_command, t
            self.data = 0
        if self.data > MAX_DATA:
            _fail(f"{self.data} data octets from one +FRM")
        if not self.active or drv.hung_up or not drv.ready:
            return
        op = drv.pending_command
        stale = op is not None and op.kind in _RECEIVES and t - self.since > ENGINE_PATIENCE
        if op is None or stale:
            cmd = _COMMANDS[self.i % len(_COMMANDS)]
            self.i += 1
            drv.send_command(cmd, t)
            self.op, self.since = drv.pending_command, t
            drv.outgoing()


def _replay_driver(data: bytes, phase: str, chunks: Sequence[int]) -> tuple:
    drv = driver_in_phase(phase)
    eng = _Engine(drv, active=phase != "idle")
    t, pos, k = 0.0, 0, 0
    while pos < len(data):
        n = chunks[k % len(chunks)]
        k += 1
        drv.receive(data[pos:pos + n], t)
        pos += n
        eng.service(t)
        check_driver(drv)
        t += STEP
        drv.handle_timer(t)
        eng.service(t)
        check_driver(drv)
    kinds = (drv.pending_command.kind if drv.pending_command else None, drv.hung_up)
    # the modem falls silent; the engine hangs up; the driver must get on hook in time
    eng.active = False
    drv.send_command(mi.HangUp(), t)
    end = t + END_SECONDS
    while not drv.hung_up:
        d = drv.next_deadline
        if d is None or d > end:
            _fail(f"phase {phase}: no end after hanging up (op "
                  f"{drv.pending_command.kind if drv.pending_command else None}, deadline {d})")
        t = max(t, d)
        drv.handle_timer(t)
        eng.service(t)
        check_driver(drv)
    if drv.next_deadline is not None:
        _fail(f"phase {phase}: a deadline after hang-up")
    return (phase, kinds, _norm(drv.error), tuple(sorted(eng.events)))


def driver_outcome(phase: str, data: bytes, chunks: Sequence[int]) -> tuple:
    """Everything the driver in ``phase`` did with ``data`` read in ``chunks`` at one
    instant: what it writes (taken at the end only: a command written between two reads
    may rightly change what the next read means), its events (data joined), its error."""
    drv = driver_in_phase(phase)
    events: list = []
    pos, k = 0, 0
    while pos < len(data):
        n = chunks[k % len(chunks)]
        k += 1
        drv.receive(data[pos:pos + n], 1.0)
        pos += n
        for e in drv.events():
            if isinstance(e, mi.DataReceived) and events and isinstance(events[-1], bytes):
                events[-1] += e.data
            else:
                events.append(bytes(e.data) if isinstance(e, mi.DataReceived) else e)
    return drv.outgoing(), events, drv.error, drv.rings, sorted(drv.tx_codes)


def replay_dte_bytes(data: bytes, phases: Sequence[str] = DTE_PHASES, *,
                     chunks: Sequence[int] = CHUNKS) -> tuple:
    """Modem bytes ``data`` through the driver in each phase (see the module docstring).
    Returns a signature; raises on a broken promise."""
    data = bytes(data)
    for p in phases:
        if driver_outcome(p, data, chunks) != driver_outcome(p, data, (len(data) + 1,)):
            _fail(f"phase {p}: the outcome depends on how the modem's bytes were read")
    return tuple(_replay_driver(data, p, chunks) for p in phases)


# ---- the emulator (DCE side) --------------------------------------------------------------

def check_emulator(dce: Class1Dce) -> None:
    """Every buffer the DTE's bytes can grow is within its cap."""
    held = dce.buffered()
    if held.command_line > c1dce.MAX_LINE:
        _fail(f"command line buffer {held.command_line} > {c1dce.MAX_LINE}")
    if held.fth_frame > MAX_FRAME:
        _fail(f"+FTH frame buffer {held.fth_frame} > {MAX_FRAME}")
    if held.ftm_data > MAX_DATA:
        _fail(f"+FTM buffer {held.ftm_data} > {MAX_DATA}")
    if len(dce.log) > c1dce.LOG_MAX:
        _fail(f"command log {len(dce.log)} > {c1dce.LOG_MAX}")
    if len(dce.regs) > c1dce.MAX_REGISTER + 1:
        _fail(f"{len(dce.regs)} S-registers")
    if any(not 0 <= v <= c1dce.MAX_REGISTER for v in dce.regs.values()):
        _fail(f"S-register out of range: {dce.regs}")
    if held.v21_frames > 64:
        _fail(f"{held.v21_frames} V.21 frames kept")


def _line(dce: Class1Dce, blocks: int = 1) -> None:
    silence = np.zeros(BLOCK, np.int16)
    for _ in range(blocks):
        dce.tx_audio(BLOCK)
        dce.rx_audio(silence)


def emulator_in_phase(phase: str) -> Class1Dce:
    """An emulator brought by a well-behaved DTE to ``phase`` (one of :data:`DCE_PHASES`);
    what it answered so far is taken."""
    if phase not in DCE_PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    dce = Class1Dce()
    if phase != "command":
        dce.from_dte(b"ATE0\rAT+FCLASS=1\r")
    if phase == "dial":
        dce.from_dte(b"ATD5551234\r")
    elif phase == "answer":
        dce.from_dte(b"ATA\r")
    elif phase != "command":
        dce.from_dte(b"ATD1\rAT+FTS=1\r")
        _line(dce, 2)
        cmd = {"call": b"", "fth": b"AT+FTH=3\r", "ftm": b"AT+FTM=96\r",
               "frh": b"AT+FRH=3\r", "frm": b"AT+FRM=96\r", "frs": b"AT+FRS=50\r"}[phase]
        dce.from_dte(cmd)
    dce.to_dte()
    want = {"command": "command", "dial": "dial", "answer": "answer", "call": "command"}
    if dce.mode != want.get(phase, phase):
        raise RuntimeError(f"phase {phase}: emulator in {dce.mode}")
    return dce


def _recover(dce: Class1Dce, phase: str) -> int:
    """A DTE that wants out: end any data, abort any receive, hang up. The emulator must
    be on hook, in command mode, within the line time its queued data needs."""
    held = dce.buffered()
    rate = max(held.ftm_rate, 2400)
    v21_bits = held.fth_ahead_bits + (held.fth_frame + 3) * 10  # queued, and the frame begun
    budget = (1000 + held.ftm_data * 8 * SAMPLE_RATE // rate // BLOCK
              + int(v21_bits * SAMPLE_RATE / 300) // BLOCK)
    for i in range(budget):
        if dce.mode in ("fth", "ftm"):
            if not dce.buffered().ending:
                dce.from_dte(b"\x10\x03")
        elif dce.mode in ("frh", "frm", "frs"):
            dce.from_dte(b"\x18")
        elif dce.offhook or dce.mode != "command":
            dce.from_dte(b"\rATH0\r")
        else:
            return i
        _line(dce)
        dce.to_dte()
        check_emulator(dce)
    _fail(f"phase {phase}: the emulator is not back on hook after {budget} blocks "
          f"(mode {dce.mode}, off hook {dce.offhook})")
    return budget


def _replay_emulator(data: bytes, phase: str, chunks: Sequence[int]) -> tuple:
    dce = emulator_in_phase(phase)
    pos, k = 0, 0
    modes = set()
    while pos < len(data):
        n = chunks[k % len(chunks)]
        k += 1
        dce.from_dte(data[pos:pos + n])
        pos += n
        _line(dce)
        out = dce.to_dte()
        if len(out) > 64 * n + 4096:  # ATI: 4 octets in, ~40 out; nothing grows more
            _fail(f"{len(out)} octets answered to {n}")
        modes.add(dce.mode)
        check_emulator(dce)
    _recover(dce, phase)
    return (phase, tuple(sorted(modes)), min(dce.stats.errors, 3), min(dce.calls, 2))


def emulator_outcome(phase: str, data: bytes, chunks: Sequence[int]) -> tuple:
    """What the emulator in ``phase`` answered to ``data`` written in ``chunks`` with no
    line time passing, and the state it was left in."""
    dce = emulator_in_phase(phase)
    pos, k = 0, 0
    while pos < len(data):
        n = chunks[k % len(chunks)]
        k += 1
        dce.from_dte(data[pos:pos + n])
        pos += n
    return dce.to_dte(), dce.mode, dce.offhook, dce.log, dce.regs, dce.stats


def replay_dce_bytes(data: bytes, phases: Sequence[str] = DCE_PHASES, *,
                     chunks: Sequence[int] = CHUNKS) -> tuple:
    """DTE bytes ``data`` through the emulator in each phase (see the module docstring).
    Returns a signature; raises on a broken promise."""
    data = bytes(data)
    for p in phases:
        if p in INVARIANT_DCE_PHASES and (emulator_outcome(p, data, chunks)
                                          != emulator_outcome(p, data, (len(data) + 1,))):
            _fail(f"phase {p}: the answers depend on how the DTE's writes were cut")
    return tuple(_replay_emulator(data, p, chunks) for p in phases)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("dte", "dce"):
        sys.stderr.write("usage: python -m faxcore.testing.class1_fuzz dte|dce FILE...\n")
        return 2
    replay = replay_dte_bytes if args[0] == "dte" else replay_dce_bytes
    for path in args[1:]:
        with open(path, "rb") as f:
            sig = replay(f.read())
        sys.stdout.write(f"{path}: ok {sig}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
