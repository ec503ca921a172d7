"""spandsp's T.31 Class 1 fax modem (``t31_state_t``) through ctypes, and a rig that puts
faxcore's Class 1 driver in front of it, in virtual time and in one process.

spandsp's T.31 DCE is the modem inside iaxmodem and FreeSWITCH's softmodems: an AT
interpreter on its serial side (``t31_at_rx`` in, the ``at_tx`` handler out) and fax modems
on 8 kHz audio (``t31_rx``/``t31_tx``). Debian's libspandsp2 0.0.6, loaded by
:func:`faxcore.testing.spandsp.library.lib` (the one loader; :class:`~faxcore.testing.
spandsp.library.SpandspMissing` when it is absent).

    modem = SpandspT31()
    modem.from_dte(b"ATZ\\r"); modem.to_dte()          # -> b"\\r\\nOK\\r\\n"
    modem.rx(samples); out = modem.tx(160)             # the line

The rig (:func:`run_call`): a :class:`~faxcore.class1.call.Class1Call` (the DTE) <->
:class:`SpandspT31` <-> audio <-> a far end with ``rx(samples)``/``tx(n)`` (a faxcore
:class:`~faxcore.session.FaxSession` or spandsp's own fax terminal,
:class:`~faxcore.testing.spandsp.SpandspFax`). The line advances 20 ms a turn; the serial
line can be made slow one way or both (``read_delay``: what the modem says reaches the
driver that much later; ``write_delay``: the same for what the driver writes), and the
audio from the far end can be muted over sample ranges (``mute``: a lost V.21 burst).
"""

from __future__ import annotations

import ctypes
import logging
from collections import deque
from collections.abc import Callable, Sequence
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_int16, c_size_t, c_uint8, c_void_p
from dataclasses import dataclass, field

import numpy as np

from faxcore.modem import SAMPLE_RATE
from faxcore.testing.spandsp.library import AudioState, lib

log = logging.getLogger(__name__)

# at_interpreter.h: enum at_call_event_e and enum at_modem_control_operation_e
AT_CALL_EVENT_ALERTING, AT_CALL_EVENT_CONNECTED, AT_CALL_EVENT_ANSWERED = 1, 2, 3
AT_CALL_EVENT_HANGUP = 7
(AT_MODEM_CONTROL_CALL, AT_MODEM_CONTROL_ANSWER, AT_MODEM_CONTROL_HANGUP,
 AT_MODEM_CONTROL_OFFHOOK, AT_MODEM_CONTROL_ONHOOK, AT_MODEM_CONTROL_DTR,
 AT_MODEM_CONTROL_RTS, AT_MODEM_CONTROL_CTS) = range(8)
SPAN_LOG_FLOW, SPAN_LOG_SHOW_TAG, SPAN_LOG_SHOW_SAMPLE_TIME = 5, 0x2000, 0x0200

# int (at_state_t *, void *user_data, const uint8_t *buf, size_t len)
AT_TX = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(c_uint8), c_size_t)
# int (t31_state_t *, void *user_data, int op, const char *num): ``num`` is a string for
# CALL and SETID only (an integer cast to a pointer for DTR, RTS...): taken as void *
MODEM_CONTROL = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int, c_void_p)
# void (int level, const char *text): spandsp 0.0.6 passes no user data
MESSAGE = CFUNCTYPE(None, c_int, c_char_p)


class SpandspT31(AudioState):
    """One spandsp T.31 Class 1 modem on 8 kHz audio (see the module docstring).

    The telephone network around it is simulated: ``ATD`` connects at once (the far
    end has answered: the modem sends CNG and listens), ``ATA`` answers at once (CED,
    then V.21), :meth:`ring` sends ``RING`` to the DTE. ``trace=True`` keeps spandsp's
    T.31 log lines in :attr:`trace`."""

    _prefix = "t31"

    def __init__(self, *, trace: bool = False) -> None:
        L = lib()
        self._lib = L
        self._serial = bytearray()       # what the modem sent to the DTE, not yet taken
        self._pending_events: list[int] = []
        self.dialled: str | None = None  # the number of the last ATD
        self.offhook = False
        self.hangups = 0
        # V.24 circuit 106 (clear to send): spandsp drops it when its 4096-octet transmit
        # buffer is 3072 full and raises it again once 1024 octets have gone out; data
        # fed while it is down overflows the buffer and is lost (as on a real serial
        # line without flow control)
        self.cts = True
        self.trace: list[str] = []
        self._at_tx = AT_TX(self._on_at_tx)
        self._control = MODEM_CONTROL(self._on_control)
        self._s = L.t31_init(None, ctypes.cast(self._at_tx, c_void_p), None,
                             ctypes.cast(self._control, c_void_p), None, None, None)
        if not self._s:
            raise RuntimeError("t31_init failed")
        L.t31_set_transmit_on_idle(self._s, 1)
        self._msg = None
        if trace:
            self._msg = MESSAGE(self._on_message)
            self._tag = b"T.31"  # span_log_set_tag keeps the pointer: keep the bytes
            ls = L.t31_get_logging_state(self._s)
            L.span_log_set_message_handler(ls, ctypes.cast(self._msg, c_void_p))
            L.span_log_set_tag(ls, self._tag)
            L.span_log_set_level(ls, SPAN_LOG_FLOW | SPAN_LOG_SHOW_TAG
                                 | SPAN_LOG_SHOW_SAMPLE_TIME)

    # ---- callbacks (exceptions in them would be swallowed by ctypes: keep them trivial)

    def _on_at_tx(self, _at, _user, buf, n: int) -> int:
        self._serial += ctypes.string_at(buf, n)
        return 0

    def _on_control(self, _t, _user, op: int, num) -> int:
        if op == AT_MODEM_CONTROL_CALL:
            self.dialled = ctypes.string_at(num).decode("latin-1") if num else ""
            self.offhook = True
            # the network connects the call; told to the modem once t31_at_rx has
            # returned (not from inside its own callback)
            self._pending_events.append(AT_CALL_EVENT_CONNECTED)
        elif op == AT_MODEM_CONTROL_ANSWER:
            self.offhook = True
            self._pending_events.append(AT_CALL_EVENT_ANSWERED)
        elif op == AT_MODEM_CONTROL_CTS:
            self.cts = bool(num)
        elif op in (AT_MODEM_CONTROL_HANGUP, AT_MODEM_CONTROL_ONHOOK):
            if self.offhook:
                self.hangups += 1
            self.offhook = False
        return 0

    def _on_message(self, _level: int, text: bytes) -> None:
        self.trace.append(text.decode("latin-1").rstrip("\n"))

    def _events(self) -> None:
        while self._pending_events:
            self._lib.t31_call_event(self._s, self._pending_events.pop(0))

    # ---- the serial side ---------------------------------------------------------------

    def from_dte(self, data: bytes) -> None:
        """Bytes the DTE wrote."""
        data = bytes(data)
        if data:
            self._lib.t31_at_rx(self._s, data, len(data))
        self._events()

    def to_dte(self) -> bytes:
        """Bytes the modem has sent the DTE since the last call."""
        out, self._serial = bytes(self._serial), bytearray()
        return out

    def ring(self) -> None:
        """An incoming call: the modem sends ``RING``."""
        self._lib.t31_call_event(self._s, AT_CALL_EVENT_ALERTING)

    # ---- the line ----------------------------------------------------------------------

    def rx(self, samples) -> None:
        a = np.ascontiguousarray(samples, dtype=np.int16)
        self._lib.t31_rx(self._s, a.ctypes.data_as(POINTER(c_int16)), len(a))
        self._events()

    def _after_tx(self) -> None:
        self._events()


# ---- the rig -----------------------------------------------------------------------------

BLOCK = 160  # samples a turn: 20 ms


@dataclass
class Rig:
    """What a :func:`run_call` did: the call, the modem, the far end, and the serial
    traffic (``serial``: ``(time, "dte"|"dce", bytes)`` as written, before any delay)."""

    call: object
    modem: SpandspT31
    far: object
    seconds: float = 0.0
    serial: list[tuple[float, str, bytes]] = field(default_factory=list)

    def modem_said(self) -> bytes:
        return b"".join(b for _, who, b in self.serial if who == "dce")


class _Line:
    """One way of the serial line: bytes arrive ``delay`` seconds after they were sent;
    ``take`` hands over at most ``limit`` octets (None: all there are)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._q: deque[tuple[float, bytes]] = deque()

    def put(self, now: float, data: bytes) -> None:
        if data:
            self._q.append((now + self.delay, bytes(data)))

    def take(self, now: float, limit: int | None = None) -> bytes:
        out = bytearray()
        while self._q and self._q[0][0] <= now + 1e-9:
            due, data = self._q[0]
            if limit is not None and len(out) + len(data) > limit:
                k = limit - len(out)
                out += data[:k]
                self._q[0] = (due, data[k:])
                break
            out += data
            self._q.popleft()
        return bytes(out)

    @property
    def empty(self) -> bool:
        return not self._q


def run_call(call, far, *, modem: SpandspT31 | None = None, ring: bool = False,
             read_delay: float = 0.0, write_delay: float = 0.0, baud: int = 115200,
             mute: Callable[[int, np.ndarray], np.ndarray] | None = None,
             max_seconds: float = 300.0) -> Rig:
    """Run ``call`` (a :class:`~faxcore.class1.call.Class1Call`) through spandsp's T.31
    modem to ``far`` (``rx(samples)``, ``tx(n)``; ``None``: nothing on the line) until the
    call is done or ``max_seconds`` of line time have passed.

    ``ring``: the far end calls (the modem rings once the driver is ready). ``read_delay``
    / ``write_delay``: the serial line's lateness each way, in seconds (the driver's
    reads, its writes). The driver's writes reach the modem at ``baud`` (10 bits an
    octet) and only while the modem's CTS is up (RTS/CTS flow control, as
    :class:`~faxcore.class1.serial.Class1Serial` opens ports by default).
    ``mute(sample_index, block)``: the far end's audio on its way to the modem, to return
    changed (a dropped V.21 burst)."""
    modem = modem or SpandspT31()
    rig = Rig(call, modem, far)
    down = _Line(read_delay)   # modem -> driver
    up = _Line(write_delay)    # driver -> modem
    per_block = max(1, baud * BLOCK // SAMPLE_RATE // 10)
    clock = 0                  # line samples
    call.start(0.0)
    rang = False
    while clock < SAMPLE_RATE * max_seconds:
        now = clock / SAMPLE_RATE
        budget = per_block
        # the serial line: as many turns as it takes to settle at this instant
        for _ in range(100):
            out = call.outgoing()
            if out:
                rig.serial.append((now, "dte", out))
                up.put(now, out)
            got = up.take(now, budget) if modem.cts and budget > 0 else b""
            if got:
                budget -= len(got)
                modem.from_dte(got)
            back = modem.to_dte()
            if back:
                rig.serial.append((now, "dce", back))
                down.put(now, back)
            heard = down.take(now)
            if heard:
                call.receive(heard, now)
            call.tick(now)
            if not (out or got or back or heard):
                break
        if call.done and up.empty:
            break
        if ring and not rang and call.driver.ready:
            modem.ring()
            rang = True
        a = modem.tx(BLOCK)
        if far is not None and modem.offhook:
            b = np.asarray(far.tx(BLOCK), np.int16)
            if mute is not None:
                b = mute(clock, b)
            modem.rx(b)
            far.rx(a)
        else:
            modem.rx(np.zeros(BLOCK, np.int16))
        clock += BLOCK
    rig.seconds = clock / SAMPLE_RATE
    # the far end may still be finishing (a sender's phase E comes once its DCN has
    # gone out): give it the rest of its call on a line gone quiet, at most 10 s
    quiet = np.zeros(BLOCK, np.int16)
    for _ in range(10 * SAMPLE_RATE // BLOCK):
        if far is None or getattr(far, "done", True):
            break
        far.rx(quiet)
        far.tx(BLOCK)
    return rig


def mute_bursts(select: Callable[[int], bool], *, quiet_ms: float = 40.0,
                level: int = 64) -> tuple[Callable[[int, np.ndarray], np.ndarray], list]:
    """A ``mute`` for :func:`run_call` that silences whole signal bursts of the far end:
    a burst starts with a sample louder than ``level`` and ends after ``quiet_ms`` without
    one; ``select(n)`` (n = 0, 1, ... the bursts in order) says which to drop. Returns the
    function and the list of ``(first_sample, last_sample, dropped)`` bursts seen."""
    bursts: list[list] = []
    state = {"in": False, "quiet": 0, "drop": False}
    quiet_n = int(quiet_ms * 8)

    def mute(start: int, block: np.ndarray) -> np.ndarray:
        loud = np.flatnonzero((block > level) | (block < -level))
        out = block
        if not state["in"]:
            if loud.size == 0:
                return block
            state["in"], state["quiet"] = True, 0
            state["drop"] = bool(select(len(bursts)))
            bursts.append([start + int(loud[0]), start + int(loud[-1]), state["drop"]])
        elif loud.size:
            bursts[-1][1] = start + int(loud[-1])
        if state["drop"]:
            out = np.zeros_like(block)
        state["quiet"] = len(block) - 1 - int(loud[-1]) if loud.size else \
            state["quiet"] + len(block)
        if state["quiet"] >= quiet_n:
            state["in"] = False
        return out

    return mute, bursts


def far_frames(frames: Sequence[tuple[str, bytes]]) -> list[str]:
    """spandsp fax terminal frame log (:attr:`SpandspFax.frames`) as ``"tx:0x4c"``..."""
    return [f"{d}:{f[2]:#04x}" for d, f in frames if len(f) > 2]
