"""A driver for Class 1 (ITU-T T.31 / EIA-578) fax modems, sans-IO: the DTE side.

:class:`Class1Driver` is the modem end of :mod:`faxcore.t30.modem_if` for a modem on a
serial line: the T.30 engine's commands become AT commands and DLE-framed data, the modem's
answers become engine events. It reads and writes no port and never sleeps: feed it what
the modem sent (:meth:`~Class1Driver.receive`), send what it gives
(:meth:`~Class1Driver.outgoing`), tell it the time (``now``, seconds) and call
:meth:`~Class1Driver.handle_timer` at :attr:`~Class1Driver.next_deadline`.

=============================  ============================================================
engine command                 AT traffic
=============================  ============================================================
``ReceiveHDLC`` (first, when   ``ATD<number>`` (the modem sends CNG; ``CONNECT`` = V.21
  calling)                     flags heard, then as ``+FRH=3``)
``ReceiveHDLC``                ``AT+FRH=3``: ``CONNECT``, frame + FCS, ``<DLE><ETX>``,
                               ``OK`` (FCS good) / ``ERROR``; repeated while in force
``SendTone("CED")``            ``ATA`` (the modem sends CED, then V.21 flags: ``CONNECT``)
``SendHDLC``                   ``AT+FTH=3`` (unless already connected), each frame +
                               ``<DLE><ETX>``; ``CONNECT`` after non-final, ``OK`` after final
``SendData`` (TCF, page)       ``AT+FTM=n``, data, ``<DLE><ETX>``, ``OK``
``SendData`` (ECM frames)      the same, HDLC framed here (flags, FCS, bit stuffing):
                               most Class 1 modems only do HDLC at V.21
``ReceiveData``                ``AT+FRM=n``: ``CONNECT``, data, ``<DLE><ETX>``, ``NO CARRIER``;
                               ``+FCERROR`` -> ``WrongCarrier``; ECM frames deframed here
``Silence``                    ``AT+FTS=n`` (n = ms / 10)
``HangUp``                     ``ATH0``
=============================  ============================================================

Before the call :meth:`~Class1Driver.start` initialises the modem (``ATZ``, ``ATE0V1Q0``,
``AT+FCLASS=1``, ``AT+FTM=?``, ``AT+FRM=?``); :attr:`~Class1Driver.modems` then names the
fast modems it offers both ways. A receive still outstanding when the engine wants
something else is aborted (one CAN octet; the modem answers ``OK``).

Modems that bend T.31 get a quirk profile (:mod:`faxcore.class1.quirks`, like HylaFAX's
``config.<modem>`` files): by default the driver also asks ``ATI``, ``AT+FMI?``,
``AT+FMM?`` and ``AT+FMR?`` and picks the profile from the answers (spandsp's T.31 modem,
in iaxmodem and the FreeSWITCH/Asterisk softmodems, is ``spandsp-t31``: a stray
``CONNECT`` before a frame is dropped, a command it answered ``OK`` without running is
sent again); :attr:`~Class1Driver.workarounds` counts what was used.

Anything wrong on the serial line (a command answered ``ERROR``, an unexpected result,
garbage, no answer within the time allowed, data that never ends) sets
:attr:`~Class1Driver.error` to a readable message and reports ``LineDropped`` to the
engine, which ends the call; nothing raises and nothing waits forever. In every state
(initialising, idle, waiting for RING, waiting for a result, in data) a line the state
does not expect counts as junk; a few are tolerated (modems send stray lines), more than
:data:`MAX_JUNK` in a row end the call. What the modem sends is held in bounded buffers
only: a response line up to :data:`MAX_LINE` octets (a longer one is junk, up to its line
end), an HDLC frame up to :data:`~faxcore.class1.codes.MAX_FRAME`, one ``+FRM``
data stream up to :data:`~faxcore.class1.codes.MAX_DATA`; the command log keeps
the last :data:`LOG_MAX` commands.
:class:`~faxcore.class1.call.Class1Call` binds a :class:`~faxcore.t30.engine.T30Engine` to
the driver, and :class:`~faxcore.class1.serial.Class1Serial` runs it on a pyserial port.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from faxcore.class1.codes import (
    CAN,
    MAX_DATA,
    MAX_FRAME,
    DleDecoder,
    ascii_upper,
    dle_escape,
    modulation_code,
    parse_code_list,
)
from faxcore.class1.quirks import GENERIC, IDENTIFY, Quirks, detect, resolve
from faxcore.modem.hdlc import HdlcDecoder, HdlcEncoder
from faxcore.t30.modem_if import (
    CarrierDown,
    CarrierUp,
    Command,
    DataReceived,
    Event,
    FrameReceived,
    HangUp,
    LineDropped,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
    WrongCarrier,
)

log = logging.getLogger(__name__)

DEFAULT_INIT = ("ATZ", "ATE0V1Q0", "AT+FCLASS=1", "AT+FTM=?", "AT+FRM=?")
# A response line longer than this is garbage. The longest a Class 1 modem sends are
# ATI/+FMM identification strings and +FTM=? lists, well under 100 characters.
MAX_LINE = 512
MAX_JUNK = 16         # unexpected lines tolerated per command (or per wait) before giving up
LOG_MAX = 1000        # AT commands kept in Class1Driver.log (a one-page call sends ~40)
ECM_PREAMBLE_S = 0.2
MAX_REISSUE = 2       # times one command is sent again for quirk reissue_empty_ok
ID_LINES = 4          # identification lines kept per IDENTIFY command (ATI may say more)
# what a modem with quirk stray_connect puts before a frame after the CONNECT of +FRH=3
# (a frame itself starts with its address octet, 0xFF)
_STRAY_CONNECT = re.compile(rb"(?:[\r\n]*CONNECT\r?\n)+")
TX_KINDS = ("fth", "fth_frame", "ftm", "ftm_ok", "fts", "ata")

__all__ = ["DEFAULT_INIT", "LOG_MAX", "MAX_JUNK", "MAX_LINE", "MAX_REISSUE", "Class1Driver"]


class _Op:
    """The AT command in progress (or the wait, ``ring``) and what it waits for. ``at``
    names it in messages; ``timeout`` is the time it was given (0: none)."""

    def __init__(self, kind: str, cmd: Command | None = None, *, at: str = "",
                 timeout: float = 0.0, **kw) -> None:
        self.kind = kind
        self.cmd = cmd
        self.at = at
        self.timeout = timeout
        self.junk = 0
        self.octets = 0  # data octets received (+FRM)
        self.reissued = 0  # times sent again (quirk reissue_empty_ok)
        # quirk reissue_empty_ok: the modem is expected to swallow this command (it came
        # right after a frame delivered with a stray CONNECT)
        self.swallow_expected = False
        self.__dict__.update(kw)

    @property
    def doing(self) -> str:
        """What the driver was doing, for messages: ``during 'AT+FRH=3'``."""
        if self.at:
            return f"during {self.at!r}"
        return "while waiting for RING" if self.kind == "ring" else f"while {self.kind}"


class Class1Driver:
    """Sans-IO Class 1 DTE (see the module docstring). ``dial``: the number to dial when
    the engine first listens as the caller (``None``: the call is answered, ``ATA``, once
    :attr:`rings` is non-zero, or at once with ``wait_ring=False``).

    ``quirks``: the modem's quirk profile (:mod:`faxcore.class1.quirks`): ``"auto"`` (the
    default: the modem is asked who it is, :data:`~faxcore.class1.quirks.IDENTIFY` after
    ``init``, and :attr:`quirks` is chosen from its answers, kept in :attr:`identity`), a
    profile name with optional flags (``"spandsp-t31"``, ``"generic,stray_connect"``) or
    a :class:`~faxcore.class1.quirks.Quirks`. :attr:`workarounds` counts each quirk's
    workaround used."""

    def __init__(self, *, dial: str | None = None, init: Sequence[str] = DEFAULT_INIT,
                 command_timeout: float = 5.0, dial_timeout: float = 90.0,
                 wait_ring: bool = True, quirks: str | Quirks | None = "auto") -> None:
        self.dial = dial
        self._base_init = tuple(init)
        self.init = self._base_init
        self.quirks: Quirks = GENERIC
        self.identity: dict[str, list[str]] = {}  # IDENTIFY command -> answer lines
        self.workarounds: Counter[str] = Counter()
        self._identify = False
        self.use_quirks(quirks)
        self.command_timeout = command_timeout
        self.dial_timeout = dial_timeout
        self.wait_ring = wait_ring
        self.now = 0.0
        self.error: str | None = None
        self.ready = False           # initialisation finished
        self.hung_up = False         # ATH done (or the modem is gone): nothing more to do
        self.rings = 0
        self.tx_codes: set[int] = set()
        self.rx_codes: set[int] = set()
        self.log: list[str] = []     # AT commands sent, for diagnostics
        self._out = bytearray()
        self._events: list[Event] = []
        self._buf = b""
        self._skip_line = False                # dropping the rest of an overlong line
        self._idle_junk = 0                    # junk lines with no command outstanding
        self._data: DleDecoder | None = None   # in data mode (after CONNECT) when set
        self._frame = bytearray()
        self._op: _Op | None = None
        self._deadline: float | None = None
        self._cmd: Command | None = None       # engine command in force
        self._deferred: Command | None = None  # waits for a cut transmission to end
        self._hdlc_open = False                # the modem is in +FTH=3 data state
        self._rearm = False
        self._dialled = False
        self._answered = False
        self._burst_done = False
        self._hdlc_dec = None
        self._init_i = 0
        self._swallow_next = False   # quirk: the next command will be taken for an abort
        self._empty_dle = False      # quirk: a <DLE><ETX> line came (an OK may follow)

    # ---- driving API -------------------------------------------------------------------

    def use_quirks(self, quirks: str | Quirks | None) -> None:
        """Set the quirk profile (see the class docstring), before :meth:`start`.
        ``ValueError`` for an unknown profile or flag."""
        given = resolve(quirks)
        self._identify = given is None
        self.quirks = given or GENERIC
        extra = tuple(c for c in IDENTIFY if c not in self._base_init) if self._identify \
            else ()
        self.init = self._base_init + extra

    def start(self, now: float) -> None:
        """Begin initialising the modem."""
        self.now = now
        self._init_i = 0
        self._next_init()

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the modem, in any chunks."""
        self.now = now
        buf = self._buf + bytes(data)
        self._buf = b""
        while buf and not self.hung_up:
            if self._data is not None:
                dec, ended, rest = self._data.feed(buf)
                self._data_bytes(dec)
                if not ended:
                    return
                self._data = None
                buf = rest
                self._data_end()
                continue
            i = buf.find(b"\n")
            if self._skip_line:  # the rest of a line already counted as junk
                if i < 0:
                    return
                buf = buf[i + 1:]
                self._skip_line = False
                continue
            if i < 0:
                if len(buf) > MAX_LINE:
                    # whatever ends this line later is part of it: drop up to its end, so
                    # that the outcome does not depend on how the bytes were read
                    self._skip_line = True
                    self._junk(f"a line longer than {MAX_LINE} octets")
                    buf = b""
                self._buf = buf
                return
            raw, buf = buf[:i], buf[i + 1:]
            if len(raw) > MAX_LINE:
                self._junk(f"a line longer than {MAX_LINE} octets")
                continue
            line = raw.decode("latin-1").strip(" \r\t\x00\x11\x13")
            if line:
                self._line(line)

    def outgoing(self) -> bytes:
        """Bytes to write to the modem now."""
        if self._rearm and self._op is None and not self.hung_up:
            self._rearm = False
            self._arm_receive()
        out, self._out = bytes(self._out), bytearray()
        return out

    def events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def send_command(self, cmd: Command, now: float) -> None:
        """A command from the T.30 engine (it replaces the one in force)."""
        self.now = now
        self._cmd = cmd
        self._rearm = False
        if self.hung_up:
            if not isinstance(cmd, HangUp):
                self._events.append(LineDropped())
            return
        if self._op is not None and self._op.kind == "ring":
            self._op = None
        if self._op is not None and self._op.kind in ("frh", "frh_data", "frh_result", "frm",
                                                      "frm_data", "frm_end", "atd"):
            self._abort(cmd)
            return
        if self._op is not None and self._op.kind == "abort":
            self._op.then = cmd
            return
        op = self._op
        if op is not None and op.kind in TX_KINDS and not isinstance(cmd, HangUp):
            # the engine gave up on this transmission (engine.abort(): DCN next): cut it
            # short, and run the new command once the modem is back in command state
            self._deferred = cmd
            if op.kind in ("fth", "fth_frame"):
                op.frames = op.frames[:op.i + 1]
            elif op.kind == "ftm":
                op.data = b""
            return
        if self._op is not None and not isinstance(cmd, HangUp):
            self.fail(f"engine command {type(cmd).__name__} while {self._op.kind} is "
                       "still in progress")
            return
        self._run(cmd)

    @property
    def next_deadline(self) -> float | None:
        return None if self.hung_up else self._deadline

    def handle_timer(self, now: float) -> None:
        self.now = now
        if self._deadline is None or now < self._deadline or self.hung_up:
            return
        self._deadline = None
        op = self._op
        what = op.kind if op else "?"
        if op is not None and op.kind == "abort":
            log.warning("the modem did not confirm the abort; going on")
            self._op = None
            self._data = None
            then = op.then
            if then is not None:
                self._run(then)
            return
        if op is not None and op.kind == "ath":
            self.hung_up = True
            self._op = None
            return
        self.fail(f"no answer from the modem to {op.at if op else what!r} within "
                   f"{op.timeout if op else 0:.1f} s")

    @property
    def modems(self) -> tuple[str, ...]:
        """faxcore modem names the modem offers for both sending and receiving."""
        both = self.tx_codes & self.rx_codes
        # a modem offers a modem type if it offers its top rate (Class 1 modems list a
        # type's rates together)
        return tuple(name for name, rate in (("v17", 14400), ("v29", 9600), ("v27ter", 4800))
                     if modulation_code(name, rate) in both)

    def buffered(self) -> tuple[int, int]:
        """Octets held from the modem now, for checks: (the response line being read,
        at most MAX_LINE; the +FRH frame being received, at most MAX_FRAME)."""
        return len(self._buf), len(self._frame)

    @property
    def pending_command(self) -> _Op | None:
        """The AT command in progress (or the ``ring`` wait), ``None`` when idle: its
        ``kind``, ``at``, ``junk`` (stray lines ignored) and ``octets`` (``+FRM`` data
        octets received). For inspection only; the driver owns it and changes it."""
        return self._op

    @property
    def state(self) -> str | None:
        """What the driver is doing: the AT command in progress (``"init"``, ``"atd"``,
        ``"frh"``, ``"frh_data"``, ``"frm_data"``, ``"fth_frame"``, ``"ftm_ok"``,
        ``"abort"``, ``"ath"``...) or ``"ring"`` (waiting for RING); ``None`` when idle."""
        return self._op.kind if self._op is not None else None

    def fail(self, message: str, now: float | None = None) -> None:
        """End the call: :attr:`error` is set to ``message`` (unless an error came
        first), ``LineDropped`` goes to the engine, and the modem is told to hang up
        (``ATH0``, given 2 s from ``now``). The driver calls it on anything wrong on the
        line; a transport calls it too (a call that lasts too long), with the time."""
        if now is not None:
            self.now = now
        if self.error is None:
            self.error = message
        log.warning("Class 1 modem: %s", message)
        self._out += self._leave_data_mode()
        self._op = None
        self._data = None
        self._deadline = None
        self._rearm = False
        self._deferred = None
        self._events.append(LineDropped())
        # try to leave the modem on hook; if it does not answer, give up after a while
        self._at("ATH0", "ath", 2.0)

    # ---- sending -----------------------------------------------------------------------

    def _at(self, text: str, kind: str, timeout: float | None, cmd: Command | None = None,
            **kw) -> None:
        self.log.append(text)
        if len(self.log) > LOG_MAX:
            del self.log[:-LOG_MAX]
        log.debug("DTE -> %s", text)
        self._out += text.encode("ascii") + b"\r"
        self._op = _Op(kind, cmd, at=text, timeout=timeout or 0.0, **kw)
        self._op.swallow_expected, self._swallow_next = self._swallow_next, False
        self._idle_junk = 0
        self._deadline = None if timeout is None else self.now + timeout

    def _next_init(self) -> None:
        if self._init_i >= len(self.init):
            self._op = None
            self._deadline = None
            self.ready = True
            if self._identify:
                self.quirks = detect(self.identity)
                log.info("modem quirk profile %s (identified as %s)", self.quirks.name,
                         "; ".join(" ".join(v) for v in self.identity.values()) or "?")
            log.info("modem ready: class 1, transmits %s, receives %s",
                     sorted(self.tx_codes), sorted(self.rx_codes))
            if self.dial is None and not self.wait_ring:
                pass
            elif self.dial is None:
                self._op = _Op("ring")
            return
        text = self.init[self._init_i]
        self._init_i += 1
        self._at(text, "init", self.command_timeout)

    def _run(self, cmd: Command) -> None:
        if isinstance(cmd, HangUp):
            self._out += self._leave_data_mode()
        self._op = None
        self._deadline = None
        if isinstance(cmd, ReceiveHDLC):
            if self.dial is not None and not self._dialled:
                self._dialled = True
                self._at(f"ATD{self.dial}", "atd", self.dial_timeout, cmd)
                return
            self._hdlc_open = False
            self._at("AT+FRH=3", "frh", None, cmd)
        elif isinstance(cmd, ReceiveData):
            self._hdlc_open = False
            mod = cmd.modulation
            code = modulation_code(mod.name, mod.rate, cmd.short_train)
            self._burst_done = False
            if cmd.hdlc:
                self._hdlc_dec = HdlcDecoder()
            self._at(f"AT+FRM={code}", "frm", None, cmd)
        elif isinstance(cmd, Silence):
            if self._hdlc_open:
                self._events.append(TxComplete())  # V.21 flags are already going out
                return
            self._at(f"AT+FTS={max(0, min(255, round(cmd.ms / 10)))}", "fts",
                     self.command_timeout + cmd.ms / 1000, cmd)
        elif isinstance(cmd, SendTone):
            if cmd.tone == "CED" and not self._answered:
                self._answered = True
                self._at("ATA", "ata", self.command_timeout + 10.0, cmd)
            else:
                self._events.append(TxComplete())  # CNG: the modem's own business
        elif isinstance(cmd, SendHDLC):
            frames = [bytes(f) for f in cmd.frames] or [b"\xff\x13\xfa"]
            if self._hdlc_open:
                self._send_frame(_Op("fth_frame", cmd, frames=frames, i=0))
            else:
                self._at("AT+FTH=3", "fth", self.command_timeout, cmd, frames=frames, i=0)
        elif isinstance(cmd, SendData):
            self._hdlc_open = False
            mod = cmd.modulation
            short = not cmd.long_training
            code = modulation_code(mod.name, mod.rate, short)
            data = _ecm_bits(cmd) if cmd.hdlc else bytes(cmd.data)
            seconds = len(data) * 8 / mod.rate
            self._at(f"AT+FTM={code}", "ftm", self.command_timeout, cmd, data=data,
                     seconds=seconds)
        elif isinstance(cmd, HangUp):
            self._hdlc_open = False
            self._at("ATH0", "ath", self.command_timeout, cmd)

    def _send_frame(self, op: _Op) -> None:
        frame = op.frames[op.i]
        self._out += dle_escape(frame) + b"\x10\x03"
        final = len(frame) >= 2 and bool(frame[1] & 0x10)
        op.kind = "fth_frame"
        op.final = final
        op.at = f"frame {frame[:3].hex()}"
        op.timeout = self.command_timeout + 1.0 + len(frame) * 8 / 300 * 1.5
        self._op = op
        self._deadline = self.now + op.timeout

    def _abort(self, then: Command) -> None:
        op = self._op
        log.debug("aborting %s for %s", op.kind, type(then).__name__)
        if op.kind not in ("frh_result", "frm_end"):  # there the result code is due anyway
            self._out += CAN
        self._swallow_next = False  # a modem waiting to swallow a command takes the CAN
        self._op = _Op("abort", then=then, at="abort", timeout=2.0)
        self._deadline = self.now + 2.0

    def _arm_receive(self) -> None:
        cmd = self._cmd
        if isinstance(cmd, (ReceiveHDLC, ReceiveData)) and not self._burst_done:
            self._run(cmd)

    # ---- what the modem says -----------------------------------------------------------

    def _line(self, line: str) -> None:
        log.debug("modem -> %s", line)
        op = self._op
        up = ascii_upper(line)
        code = up.split(" ")[0] if up.startswith("CONNECT") else up
        if up.startswith("AT"):
            return  # our own command echoed (before ATE0 took effect)
        if line == "\x10\x03" and self.quirks.reissue_empty_ok and op is not None \
                and op.kind != "init":
            # <DLE><ETX> outside data: the end of a receive the modem thinks we aborted,
            # before its OK (quirk reissue_empty_ok)
            self._empty_dle = True
            return
        empty, self._empty_dle = self._empty_dle, False
        swallow = op is not None and op.swallow_expected
        if op is not None:
            op.swallow_expected = False
        if code == "RING":
            self.rings += 1
            if op is not None and op.kind == "ring":
                self._op = None
            return
        if op is None:
            self._junk(f"unexpected {line[:40]!r}")
            return
        k = op.kind
        if k == "ring":
            self._unexpected(op, line)  # nothing is asked: ERROR or BUSY mean nothing here
            return
        if k == "abort":
            if code in ("OK", "NO CARRIER", "ERROR", "+FCERROR"):
                self._op = None
                self._deadline = None
                if op.then is not None:
                    self._run(op.then)
            elif code == "CONNECT":
                # the frame or data came anyway: swallow it up to <DLE><ETX>
                self._data = DleDecoder()
                self._frame = bytearray()
            return
        if k == "init":
            if code == "OK":
                self._next_init()
            elif code == "ERROR":
                if ascii_upper(op.at).startswith(("AT+FCLASS", "AT+FTM", "AT+FRM")):
                    self.fail(f"the modem refused {op.at!r}: not a Class 1 fax modem?")
                else:
                    log.info("the modem refused %r (ignored)", op.at)
                    self._next_init()
            elif ascii_upper(op.at) in ("AT+FTM=?", "AT+FRM=?"):
                codes = parse_code_list(line)
                if codes is not None:
                    (self.tx_codes if "FTM" in ascii_upper(op.at) else
                     self.rx_codes).update(codes)
                else:
                    log.info("not a list of modulations: %r (ignored)", line[:40])
            elif self._identify and op.at in IDENTIFY:
                lines = self.identity.setdefault(op.at, [])
                if len(lines) < ID_LINES:
                    lines.append(line[:80])
            else:
                pass  # ATI text and the like
            return
        if code == "ERROR" and k not in ("frh_result", "frh_data", "frm_end", "ath"):
            self.fail(f"the modem answered ERROR to {op.at!r}")
            return
        if code in ("BUSY", "NO DIALTONE", "NO ANSWER", "NO DIAL TONE"):
            self.fail(f"call failed: {line}")
            return
        if code == "OK" and self._reissue(op, empty, swallow):
            return
        if k == "fth":
            if code == "CONNECT":
                self._hdlc_open = True
                self._send_frame(op)
            else:
                self._unexpected(op, line)
        elif k == "fth_frame":
            if code == "CONNECT" and not op.final:
                op.i += 1
                if op.i < len(op.frames):
                    self._send_frame(op)
                else:
                    self._out += b"\x10\x03"  # an empty frame ends the burst
                    op.final = True
                    self._deadline = self.now + op.timeout
            elif code == "OK" and (op.final or op.i >= len(op.frames) - 1):
                self._hdlc_open = False
                self._done_tx()
            else:
                self._unexpected(op, line)
        elif k == "ftm":
            if code == "CONNECT":
                self._out += dle_escape(op.data) + b"\x10\x03"
                op.kind = "ftm_ok"
                op.timeout = self.command_timeout + 3.0 + op.seconds * 1.5
                self._deadline = self.now + op.timeout
            else:
                self._unexpected(op, line)
        elif k in ("ftm_ok", "fts"):
            if code == "OK":
                self._done_tx()
            else:
                self._unexpected(op, line)
        elif k == "ata":
            if code == "CONNECT":
                self._hdlc_open = True
                self._done_tx()
            elif code == "NO CARRIER":
                self.fail("no answer tone could be sent: NO CARRIER after ATA")
            else:
                self._unexpected(op, line)
        elif k in ("frh", "atd"):
            if code == "CONNECT":
                self._events.append(CarrierUp())
                op.kind = "frh_data"
                self._frame = bytearray()
                self._data = DleDecoder()
                self._deadline = None
            elif code == "NO CARRIER":
                if k == "atd":
                    self.fail("call failed: NO CARRIER (no fax answered)")
                    return
                self._op = None
                self._events.append(CarrierDown())
                self._rearm = True
            elif code == "OK":
                self._listen_again(empty or swallow)
            else:
                self._unexpected(op, line)
        elif k == "frh_result":
            ok = code == "OK"
            if code in ("OK", "ERROR", "NO CARRIER"):
                data = self._frame_data()
                if len(data) >= 2 + 3 and code != "NO CARRIER":
                    self._events.append(FrameReceived(data[:-2], crc_ok=ok))
                elif data:
                    self._events.append(FrameReceived(data[:-2] or data, crc_ok=False))
                if code == "NO CARRIER":
                    self._events.append(CarrierDown())
                self._op = None
                self._rearm = True
            else:
                self._unexpected(op, line)
        elif k == "frm":
            if code == "CONNECT":
                self._events.append(CarrierUp())
                op.kind = "frm_data"
                op.octets = 0
                self._data = DleDecoder()
            elif code == "+FCERROR":
                self._op = None
                self._events.append(WrongCarrier())
            elif code == "NO CARRIER":
                self._op = None
                self._rearm = True  # the modem gave up waiting; the engine has its timers
            elif code == "OK":
                self._listen_again(empty or swallow)
            else:
                self._unexpected(op, line)
        elif k == "frm_end":
            if code in ("NO CARRIER", "OK", "ERROR"):
                self._op = None
                self._burst_done = True
                self._events.append(CarrierDown())
            else:
                self._unexpected(op, line)
        elif k == "ath":
            if code in ("OK", "NO CARRIER", "ERROR"):
                self._op = None
                self._deadline = None
                self.hung_up = True
            else:
                self._unexpected(op, line)
        else:
            self._unexpected(op, line)

    def _reissue(self, op: _Op, empty: bool, swallow: bool) -> bool:
        """Quirk reissue_empty_ok: ``OK`` to ``op``'s command means the modem took it
        for the abort of a receive and did not run it (``empty``: a ``<DLE><ETX>`` came
        first; ``swallow``: the command came right after a frame delivered with a stray
        CONNECT). Sends it again (at most :data:`MAX_REISSUE` times) and says so. +FTH and
        +FTM answer CONNECT when run: OK alone is never their answer. +FTS and ATH answer
        OK when run: only an ``empty`` or ``swallow`` OK is taken for a swallowed one.
        (+FRH/+FRM listen again on any OK: see :meth:`_line`.)"""
        if not self.quirks.reissue_empty_ok or op.reissued >= MAX_REISSUE:
            return False
        if op.kind in ("fth", "ftm"):
            pass
        elif op.kind in ("fts", "ath") and (empty or swallow):
            pass
        else:
            return False
        op.reissued += 1
        self.workarounds["reissue_empty_ok"] += 1
        text = op.at
        if op.kind == "fts":
            # a modem that took a command for an abort has stopped listening and
            # thinks it is sending silence: spandsp then never answers +FTS (the
            # silence it is asked to add to is not playing). +FRS=n (wait for n*10 ms
            # of silence on the line) gives the same gap: we are not transmitting.
            text = "AT+FRS=" + op.at[len("AT+FTS="):]
        log.info("the modem answered %r with %sOK without running it: sending %r "
                 "(quirk reissue_empty_ok)", op.at, "<DLE><ETX> " if empty else "", text)
        op.at = text
        self.log.append(text)
        if len(self.log) > LOG_MAX:
            del self.log[:-LOG_MAX]
        self._out += text.encode("ascii") + b"\r"
        if op.timeout:
            self._deadline = self.now + op.timeout
        return True

    def _frame_data(self) -> bytes:
        """The +FRH frame received (with its FCS); quirk stray_connect: without the
        CONNECT lines the modem put before it (and the next command will be swallowed)."""
        data = bytes(self._frame)
        if self.quirks.stray_connect:
            m = _STRAY_CONNECT.match(data)
            if m is not None:
                log.info("dropped %d stray CONNECT line(s) before the frame (quirk "
                         "stray_connect)", m.group().count(b"CONNECT"))
                self.workarounds["stray_connect"] += 1
                self._swallow_next = True
                data = data[m.end():]
        return data

    def _data_bytes(self, dec: bytes) -> None:
        op = self._op
        if op is None:
            return
        if op.kind == "abort":
            return
        if op.kind == "frh_data":
            self._frame += dec[:MAX_FRAME + 1 - len(self._frame)]
            if len(self._frame) > MAX_FRAME:
                head, self._frame = bytes(self._frame[:64]), bytearray()
                self._events.append(FrameReceived(head, crc_ok=False))
                self.fail(f"HDLC frame longer than {MAX_FRAME} octets from the modem")
        elif op.kind == "frm_data" and dec:
            over = len(dec) > MAX_DATA - op.octets
            if over:
                dec = dec[:MAX_DATA - op.octets]
            op.octets += len(dec)
            self._deliver(op, dec)
            if over:
                self.fail(f"data from the modem longer than {MAX_DATA} octets "
                           f"{op.doing}")

    def _deliver(self, op: _Op, dec: bytes) -> None:
        """+FRM data: raw to the engine, or (ECM) HDLC frames decoded here."""
        if dec:
            if self._hdlc_dec is not None and isinstance(op.cmd, ReceiveData) and op.cmd.hdlc:
                bits = np.unpackbits(np.frombuffer(dec, np.uint8), bitorder="little")
                for e in self._hdlc_dec.put_bits(bits):
                    if e.kind in ("frame", "bad"):
                        self._events.append(FrameReceived(e.data, crc_ok=e.kind == "frame"
                                                          and e.ok))
            else:
                self._events.append(DataReceived(dec))

    def _data_end(self) -> None:
        op = self._op
        if op is None:
            return
        if op.kind == "abort":
            return
        if op.kind == "frh_data":
            op.kind = "frh_result"
            self._deadline = self.now + self.command_timeout
            op.timeout = self.command_timeout
        elif op.kind == "frm_data":
            op.kind = "frm_end"
            self._deadline = self.now + self.command_timeout
            op.timeout = self.command_timeout

    def _done_tx(self) -> None:
        self._op = None
        self._deadline = None
        if self._deferred is not None:
            cmd, self._deferred = self._deferred, None
            self._run(cmd)  # the engine no longer waits for the cut transmission
            return
        self._events.append(TxComplete())

    def _listen_again(self, empty_or_swallowed: bool) -> None:
        """A receive command (+FRH/+FRM) answered by a bare OK: an aborted receive
        confirming late, or (quirk reissue_empty_ok, counted) the command taken for an
        abort: either way, listen again."""
        if self.quirks.reissue_empty_ok and empty_or_swallowed:
            self.workarounds["reissue_empty_ok"] += 1
        self._op = None
        self._rearm = True

    def _unexpected(self, op: _Op, line: str) -> None:
        op.junk += 1
        log.info("unexpected %r from the modem %s", line[:60], op.doing)
        if op.junk > MAX_JUNK and op.kind != "ath":  # ATH0 ends at its deadline anyway
            self.fail(f"the modem keeps sending unexpected responses {op.doing} "
                       f"(last: {line[:40]!r})")

    def _junk(self, what: str) -> None:
        log.info("garbage from the modem: %s", what)
        op = self._op
        if op is None:
            self._idle_junk += 1
            if self._idle_junk > MAX_JUNK:
                self.fail(f"garbage from the modem with no command outstanding ({what})")
            return
        op.junk += 1
        if op.junk > MAX_JUNK and op.kind != "ath":
            self.fail(f"garbage from the modem {op.doing} ({what})")

    def _leave_data_mode(self) -> bytes:
        """What ends the data state the modem may be in: <DLE><ETX> while we send frames
        or data, any character (CAN) while it receives."""
        kind = self._op.kind if self._op is not None else ""
        if kind in ("fth_frame", "ftm_ok") or self._hdlc_open:
            return b"\x10\x03"
        if kind.startswith(("frh", "frm", "atd")) or self._data is not None:
            return CAN
        return b""


def _ecm_bits(cmd: SendData) -> bytes:
    """An ECM burst HDLC-framed in software (flags, FCS, bit stuffing), packed into octets
    LSB first for ``+FTM``; the tail is padded with flags and ones."""
    enc = HdlcEncoder()
    enc.flags(max(1, int(cmd.modulation.rate * ECM_PREAMBLE_S / 8)))
    for f in cmd.frames:
        enc.frame(f)
    enc.flags(4)
    bits = enc.take()
    pad = (-len(bits)) % 8
    if pad:
        bits = np.concatenate([bits, np.ones(pad, np.uint8)])
    return np.packbits(bits, bitorder="little").tobytes()
