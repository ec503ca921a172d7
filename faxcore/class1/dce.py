"""A Class 1 (T.31) fax modem, emulated: the DCE side, sans-IO.

:class:`Class1Dce` takes the bytes a fax program (the DTE: efax, HylaFAX, faxcore's own
:mod:`faxcore.class1.dte` driver) writes to its modem and gives back what a modem would
answer; on its line side it produces and consumes 8 kHz audio with faxcore's software
modems (V.21 HDLC, V.27ter, V.29, V.17, CNG/CED). Time is the audio sample clock: the
emulator never sleeps. :mod:`faxcore.class1.pty` puts it on a pseudo-terminal.

What it answers (enough for efax 0.9a, HylaFAX and faxcore's driver):

* basic commands ``ATZ``, ``AT&F``, ``ATE0/1``, ``ATV0/1``, ``ATQ0/1``, ``ATH0``, ``ATI``,
  ``ATSn=v`` / ``ATSn?``, ``ATM``, ``ATL``, ``ATX`` (accepted), ``ATD<number>`` (CNG, then
  ``CONNECT`` on the far end's V.21 flags, in ``+FRH=3`` state), ``ATA`` (CED, then V.21
  flags and ``CONNECT`` in ``+FTH=3`` state), ``RING`` (:meth:`Class1Dce.ring`; auto-answer
  with ``ATS0=n``);
* ``+FCLASS=?`` (``0,1``), ``+FCLASS=0/1``, ``+FCLASS?``; ``+FTM=?``/``+FRM=?`` (every
  number in :data:`~faxcore.class1.codes.MODULATIONS`), ``+FTH=?``/``+FRH=?`` (3);
* ``+FTH=3`` (frames end with ``<DLE><ETX>``; ``CONNECT`` after a non-final frame, ``OK``
  once the final frame, control field 0x13, has gone out; an empty frame ends the burst),
  ``+FRH=3`` (frame + 2 FCS octets + ``<DLE><ETX>``, then ``OK`` or ``ERROR`` for a bad
  FCS), ``+FTM=n`` (data until ``<DLE><ETX>``, ``OK`` when sent), ``+FRM=n`` (``CONNECT``
  once trained, data, ``<DLE><ETX>`` and ``NO CARRIER`` at carrier loss; ``+FCERROR`` if
  V.21 is heard instead), ``+FTS=n``, ``+FRS=n`` (10 ms units); any character from the
  DTE aborts ``+FRH``/``+FRM``/``+FRS`` (``OK``);
* other ``+F...`` settings (``+FAE``, ``+FLO``, ``+FAR``, ``+FCL``, ``+FIT``...) are
  accepted with ``OK``; ``+FMI?``/``+FMM?``/``+FMR?``/``+GMI`` ... name the emulator.

V.21 is listened to in the background whenever the line is not ours, so frames that
arrive while the DTE is between two commands are kept (a real modem's buffer does the
same) and handed out at the next ``+FRH=3``. Only frames of a burst that opened with a
preamble of flags count (as a modem's HDLC receiver syncs on the flags): the V.21
demodulator also turns other modulations into bits (V.27ter's 1800 Hz carrier lies in
V.21 channel 2's band), and chance flag patterns in them would make frames the far end
never sent.

Flow control (:attr:`Class1Dce.input_room`): during ``+FTM`` the modem takes data from
the DTE only while less than :data:`FLOW_MS` of line time is queued, as a T.31 modem
drops CTS; a transport (:mod:`faxcore.class1.pty`) stops reading, and holds the DTE's
output, until the line has drained it.

Hostile DTE input is bounded (the DTE may write anything, without end): a command line
longer than :data:`MAX_LINE` is refused whole with ``ERROR`` at its CR (nothing of it
runs); numbers are ASCII digits only (:func:`~faxcore.class1.codes.scan_number`);
S-registers are S0-S255 holding 0-255; an ``+FTH`` frame longer than
:data:`~faxcore.class1.codes.MAX_FRAME`, or ``+FTM`` data more than
:data:`~faxcore.class1.codes.MAX_DATA` ahead of the line (a DTE that ignores flow
control), stops the carrier and is dropped up to its ``<DLE><ETX>``, then ``ERROR``;
:attr:`Class1Dce.log` keeps the last :data:`LOG_MAX` command lines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from faxcore import __version__, modem
from faxcore.class1.codes import (
    FAST_CODES,
    MAX_DATA,
    MAX_FRAME,
    MODULATIONS,
    RESULT_CODES,
    DleDecoder,
    ascii_upper,
    dle_escape,
    parse_number,
    scan_number,
)
from faxcore.modem import SAMPLE_RATE
from faxcore.modem.hdlc import HdlcReceiver, HdlcTransmitter, fcs
from faxcore.modem.tones import CedGenerator, CngGenerator

log = logging.getLogger(__name__)

IDENT = "faxcore Class 1 emulator"
# A command line longer than this is refused (ERROR at its CR). V.250 5.2.4 asks a DCE
# to take at least 40 characters; real modems take 40 to 255, and the longest lines fax
# programs send (HylaFAX's init strings) are under 100.
MAX_LINE = 256
LOG_MAX = 1000  # command lines kept in Class1Dce.log (a one-page call takes about 40)
MAX_REGISTER = 255  # S0-S255, each 0-255 (8-bit registers, as on real modems)
# +FTH frames queued ahead of the V.21 line, in bits (stuffing counted at its worst, 6/5):
# CONNECT comes back at once after each non-final frame, so without a cap a DTE could queue
# frames for ever. Two longest frames, 3.6 minutes of V.21; a T.30 burst (NSF, CSI, DIS)
# is under 2 s.
MAX_FTH_AHEAD = 2 * MAX_FRAME * 8
V21_BITS_PER_SAMPLE = 300 / SAMPLE_RATE
# +FTM flow control: the DTE may be this far ahead of the line (a modem's buffer; a T.31
# modem drops CTS when its buffer fills). Long enough that the line never starves between
# two looks at the DTE, short enough that a program timing its writes sees the line rate.
FLOW_MS = 1000
SILENCE_PEAK = 300  # |sample| below this counts as silence for +FRS (about -40 dBm0)

__all__ = ["FLOW_MS", "Class1Dce", "DceBuffered", "DceStats"]


@dataclass
class DceStats:
    """What the emulator saw: commands, frames each way, data octets each way."""

    commands: int = 0
    errors: int = 0
    frames_tx: int = 0
    frames_rx: int = 0
    data_tx: int = 0
    data_rx: int = 0


@dataclass(frozen=True)
class DceBuffered:
    """What the emulator holds at one moment (:meth:`Class1Dce.buffered`): the sizes of
    what the DTE and the line can grow, each with its cap, and the ``+FTH``/``+FTM``
    transmission in progress. For checks (the fuzz replay) and tests; a snapshot."""

    command_line: int     # octets of the AT command line being typed (MAX_LINE)
    fth_frame: int        # octets of the +FTH frame being taken from the DTE (MAX_FRAME)
    fth_ahead_bits: float  # +FTH bits given to the V.21 transmitter, not yet on the line
    ftm_data: int         # +FTM octets taken from the DTE, not yet modulated (MAX_DATA)
    ftm_rate: int         # bit/s of the last +FTM (0: none yet)
    v21_frames: int       # V.21 frames from the line not yet given to the DTE (64)
    ending: bool          # +FTH/+FTM: the DTE has ended its data; the line finishes


class Class1Dce:
    """The emulated modem. DTE side: :meth:`from_dte` (bytes written by the fax program),
    :meth:`to_dte` (bytes for it to read). Line side: :meth:`tx_audio` and
    :meth:`rx_audio` (int16 at 8 kHz); call them with the same block size, in step.

    :attr:`offhook` tells whether a call is up; :attr:`dialled` whether this end dialled it
    (``ATD``) or answered (``ATA``); :attr:`waiting_for_dte` whether the modem is idle until
    the DTE sends something (a transport uses it to hold the line clock, see
    :mod:`faxcore.class1.pty`)."""

    def __init__(self, *, level_dbm0: float = -10.0, ced_seconds: float = 3.0,
                 dial_timeout: float = 60.0) -> None:
        self.level = level_dbm0
        self.ced_seconds = ced_seconds
        self.dial_timeout = dial_timeout
        self.stats = DceStats()
        self.log: list[str] = []      # command lines received, for reports and tests
        self._out = bytearray()
        self._reset_settings()
        self.clock = 0                # samples since the emulator was made
        self.offhook = False
        self.dialled = False
        self.dial_string = ""
        self.calls = 0                # calls started so far (ATD/ATA)
        self.mode = "command"
        self._cmdline = bytearray()
        self._cmd_overflow = False    # the command line is too long: drop it up to its CR
        self._skip_lf = False
        self._discard = False         # +FTH/+FTM data overflowed: drop it up to <DLE><ETX>
        self._dle = DleDecoder()
        self._src = None              # current line transmitter (has tx(n), done)
        self._v21 = None              # background V.21 HDLC receiver
        self._v21_up = False          # V.21 flags seen in the current burst
        self._v21_sync = False        # a preamble of flags opened the current V.21 burst
        self.noise_frames = 0         # V.21 frames dropped: no preamble (not a real burst)
        self._v21_frames: list[tuple[bytes, bool]] = []
        self._fast = None             # +FRM receiver
        self._fast_bits = np.zeros(0, np.uint8)
        self._connected = False       # CONNECT given for the current +FRH/+FRM
        self._frame = bytearray()     # +FTH frame being received from the DTE
        self._pending_frames = 0      # +FTH frames handed to the transmitter, not yet out
        self._fth_ahead = 0.0         # +FTH bits handed to the transmitter, not yet sent
        self._ending = False          # +FTH/+FTM: the DTE has finished, wait for the line
        self._ftm_given = 0
        self._ftm_rate = 0
        self._ftm_samples = 0
        self._ftm_buf = bytearray()
        self._ftm_closed = False
        self._frs_need = 0
        self._deadline: int | None = None
        self._silent = 0
        self._rings = 0

    # ---- DTE side ----------------------------------------------------------------------

    def from_dte(self, data: bytes) -> None:
        """Bytes from the DTE (any chunking)."""
        data = bytes(data)
        while data:
            if self.mode in ("fth", "ftm"):
                data = self._tx_data(data)
            elif self.mode in ("frh", "frm", "frs"):
                if self._skip_lf and data[:1] == b"\n":
                    data = data[1:]
                    self._skip_lf = False
                    continue
                # T.31: any character aborts a receive command
                log.debug("receive aborted by the DTE (%r)", data[:1])
                if self.mode == "frm" and self._connected:
                    self._out += b"\x10\x03"
                self._stop_rx()
                self.mode = "command"
                self._result("OK")
                data = data[1:]
            else:
                data = self._command_bytes(data)

    def to_dte(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    @property
    def output_pending(self) -> int:
        """Octets for the DTE that :meth:`to_dte` has not taken yet."""
        return len(self._out)

    @property
    def input_room(self) -> int | None:
        """How many octets the modem takes from the DTE now (``None``: no limit). During
        ``+FTM`` the data queued ahead of the line is kept under :data:`FLOW_MS` of line
        time: 0 means "hold the DTE" (a modem's CTS off). A DTE that ignores it is cut at
        :data:`~faxcore.class1.codes.MAX_DATA`. Each octet read adds at most one octet of
        data (DLE doubling only shrinks it), so reading this many keeps the bound."""
        if self.mode != "ftm" or self._discard or self._ending:
            return None
        queued = len(self._ftm_buf) + max(0, self._ftm_given - self._ftm_consumed()) // 8
        return max(0, self._ftm_rate * FLOW_MS // (1000 * 8) - queued)

    @property
    def ftm_buffered(self) -> int:
        """Octets of ``+FTM`` data taken from the DTE and held, not yet given to the
        modulator (at most :data:`~faxcore.class1.codes.MAX_DATA`)."""
        return len(self._ftm_buf)

    def buffered(self) -> DceBuffered:
        """What the emulator holds now (sizes, for checks; see :class:`DceBuffered`)."""
        return DceBuffered(len(self._cmdline), len(self._frame), self._fth_ahead,
                           len(self._ftm_buf), self._ftm_rate, len(self._v21_frames),
                           self._ending)

    @property
    def queued_ms(self) -> float:
        """``+FTM`` data taken from the DTE and not yet on the line, in ms of line time."""
        if self.mode != "ftm" or not self._ftm_rate:
            return 0.0
        bits = len(self._ftm_buf) * 8 + max(0, self._ftm_given - self._ftm_consumed())
        return bits * 1000 / self._ftm_rate

    def _ftm_consumed(self) -> int:
        """+FTM data bits the line has sent so far (training excluded: an estimate that
        counts the training as data, which errs on the side of taking more)."""
        return self._ftm_samples * self._ftm_rate // SAMPLE_RATE

    @property
    def waiting_for_dte(self) -> bool:
        if not self.offhook:
            return False
        if self.mode == "command" or self._discard:
            return True
        if self.mode == "fth":
            return not self._ending and self._pending_frames == 0
        if self.mode == "ftm":
            if self._ending:
                return False
            return self._ftm_given - self._ftm_consumed() < self._ftm_rate // 10
        return False

    def ring(self) -> None:
        """An incoming call rings: ``RING`` to the DTE; answers by itself with ``ATS0=n``
        after n rings."""
        if self.offhook:
            return
        self._rings += 1
        self._result("RING")
        s0 = self.regs.get(0, 0)
        if s0 and self._rings >= s0:
            self._answer()

    def hang_up(self) -> None:
        """The line is gone (far end released, or the transport closes)."""
        if self.offhook:
            self._on_hook()
            if self.mode != "command":
                self.mode = "command"
                self._result("NO CARRIER")

    # ---- line side ---------------------------------------------------------------------

    def tx_audio(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        if self._src is not None:
            out = self._src.tx(n)
            if self.mode == "fth":
                self._fth_ahead = max(0.0, self._fth_ahead - n * V21_BITS_PER_SAMPLE)
            if self.mode == "ftm":
                self._ftm_samples += n
                self._feed_ftm()
            if self._src.done:
                self._tx_done()
        self.clock += n
        if self._deadline is not None and self.clock >= self._deadline:
            self._deadline = None
            self._timer()
        return out

    def rx_audio(self, samples) -> None:
        if not self.offhook:
            return
        samples = np.asarray(samples, np.int16)
        if self.mode == "frs":
            quiet = int(np.abs(samples.astype(np.int32)).max(initial=0)) < SILENCE_PEAK
            self._silent = self._silent + len(samples) if quiet else 0
            if self._silent >= self._frs_need:
                self.mode = "command"
                self._result("OK")
        transmitting = self._src is not None and self.mode != "dial"
        if transmitting:
            return
        if self._v21 is not None:
            self._v21.rx(samples)
            self._v21_events()
        if self._fast is not None:
            self._fast.rx(samples)
            self._fast_events()

    # ---- command mode ------------------------------------------------------------------

    def _result(self, code: str) -> None:
        if self.quiet:
            return
        if self.verbose:
            self._out += b"\r\n" + code.encode() + b"\r\n"
        else:
            self._out += f"{RESULT_CODES.get(code, code)}\r".encode()

    def send_info(self, text: str) -> None:
        """An information text to the DTE (e.g. the answer to ``AT+FTM=?``), framed as
        the verbose setting says."""
        if self.verbose:
            self._out += b"\r\n" + text.encode() + b"\r\n"
        else:
            self._out += text.encode() + b"\r\n"

    def _reset_settings(self) -> None:
        self.echo = True
        self.verbose = True
        self.quiet = False
        self.fclass = 0
        self.regs: dict[int, int] = {0: 0, 7: 60}

    def _command_bytes(self, data: bytes) -> bytes:
        i, n = 0, len(data)
        while i < n:
            if self._cmd_overflow:
                # the rest of an overlong line, up to its CR: echoed, not kept
                j = data.find(b"\r", i)
                j = n if j < 0 else j
                if self.echo:
                    self._out += data[i:j]
                i = j
                if i < n:
                    self._cmd_overflow = False
                    self._end_line(None)
                    i += 1
                    if self.mode != "command":
                        return data[i:]
                continue
            c = data[i]
            i += 1
            if self._skip_lf and c == 0x0A:
                self._skip_lf = False
                continue
            self._skip_lf = False
            if self.echo:
                self._out.append(c)
            if c == 0x0D:
                line = self._cmdline.decode("latin-1")
                self._cmdline = bytearray()
                self._end_line(line)
                if self.mode != "command":
                    return data[i:]
                continue
            if c in (0x08, 0x7F):
                del self._cmdline[-1:]
                continue
            if c == 0x0A:
                continue
            self._cmdline.append(c)
            if len(self._cmdline) > MAX_LINE:
                # refused whole at its CR, as a modem does: what follows in the same
                # line must not run as a command of its own
                self._cmdline = bytearray()
                self._cmd_overflow = True
        return b""

    def _end_line(self, line: str | None) -> None:
        """A CR: run the command line (``None``: it was too long, ERROR)."""
        self._skip_lf = True
        if line is not None:
            self._line(line)
            return
        log.debug("command line longer than %d characters: ERROR", MAX_LINE)
        if self.echo:
            self._out.append(0x0D)
        self.stats.errors += 1
        self._result("ERROR")

    def _line(self, raw: str) -> None:
        # a modem looks for "AT" and ignores what comes before it (line noise, a CAN);
        # ASCII upper case only, so that the index found fits the line as it came
        at = ascii_upper(raw).find("AT")
        if at < 0:
            if raw.strip():
                log.debug("ignored non-AT line %r", raw[:40])
            return
        line = raw[at:].strip()
        self.stats.commands += 1
        self.log.append(line)
        if len(self.log) > LOG_MAX:
            del self.log[:-LOG_MAX]
        log.debug("DTE: %s", line)
        body = line[2:]
        i = 0
        try:
            while i < len(body):
                c = ascii_upper(body[i])
                i += 1
                if c in " ;":
                    continue
                if c == "+":
                    j = body.find(";", i)
                    j = len(body) if j < 0 else j
                    if self._extended(ascii_upper(body[i:j])):
                        return  # an action command: the mode has changed
                    i = j
                elif c == "D":
                    self._dial(body[i:])
                    return
                elif c == "A":
                    self._answer()
                    return
                elif c == "S":
                    reg, i = _arg(body, i)
                    if reg > MAX_REGISTER:
                        raise _CommandError(f"no register S{reg}")
                    if body[i:i + 1] == "?":
                        self.send_info(f"{self.regs.get(reg, 0):03d}")
                        i += 1
                    elif body[i:i + 1] == "=":
                        value, i = _arg(body, i + 1)
                        if value > MAX_REGISTER:
                            raise _CommandError(f"S{reg}={value}: out of range")
                        self.regs[reg] = value
                else:
                    if c == "&":
                        c = "&" + ascii_upper(body[i:i + 1])
                        i += 1
                    arg, i = _arg(body, i)
                    self._basic(c, arg)
        except _CommandError as e:
            log.debug("ERROR for %r: %s", line, e)
            self.stats.errors += 1
            self._result("ERROR")
            return
        self._result("OK")

    def _basic(self, c: str, arg: int) -> None:
        if c == "E":
            self.echo = bool(arg)
        elif c == "V":
            self.verbose = bool(arg)
        elif c == "Q":
            self.quiet = bool(arg)
        elif c in ("Z", "&F"):
            self._on_hook()
            self.mode = "command"
            self._reset_settings()
        elif c == "H":
            self._on_hook()
            self.mode = "command"  # also ends a dial or an answer in progress
        elif c == "I":
            self.send_info(IDENT)
        elif c in ("M", "L", "X", "B", "&C", "&D", "&K", "&S", "&W", "&V", "O", "N", "W",
                   "&Q", "&E", "&H", "&R", "&I"):
            pass  # speaker, dialling and line settings: nothing to do here
        else:
            raise _CommandError(f"unknown command {c}")

    def _extended(self, cmd: str) -> bool:
        """An extended (+) command. True if it was an action that changed the mode."""
        name, _, arg = cmd.partition("=")
        query = cmd.endswith("?") and not _
        if query:
            name = cmd[:-1]
        if arg == "?":
            if name == "FCLASS":
                self.send_info("0,1")
            elif name in ("FTM", "FRM"):
                self.send_info(",".join(str(c) for c in FAST_CODES))
            elif name in ("FTH", "FRH"):
                self.send_info("3")
            elif name in ("FTS", "FRS"):
                self.send_info("0-255")
            else:
                self.send_info("0")
            return False
        if query:
            if name == "FCLASS":
                self.send_info(str(self.fclass))
            elif name in ("FMI", "GMI"):
                self.send_info("faxcore")
            elif name in ("FMM", "GMM"):
                self.send_info(IDENT)
            elif name in ("FMR", "GMR"):
                self.send_info(__version__)
            else:
                self.send_info("0")
            return False
        if name in ("FMI", "GMI", "FMM", "GMM", "FMR", "GMR") and not _:
            self.send_info(IDENT)
            return False
        if name == "FCLASS":
            if arg not in ("0", "1"):
                raise _CommandError(f"class {arg} not supported")
            self.fclass = int(arg)
            return False
        if name in ("FTH", "FRH", "FTM", "FRM", "FTS", "FRS"):
            n = parse_number(arg)
            if n is None:
                raise _CommandError(f"bad argument {arg[:20]!r}")
            if not self.offhook:
                raise _CommandError("not in a call")
            if name in ("FTS", "FRS"):
                if not 0 <= n <= 255:
                    raise _CommandError("out of range")
                self._silence(name, n)
                return True
            if name in ("FTH", "FRH") and n != 3:
                raise _CommandError("HDLC only at V.21 (3)")
            if name in ("FTM", "FRM") and n not in FAST_CODES:
                raise _CommandError(f"modulation {n} not supported")
            {"FTH": self._fth, "FRH": self._frh, "FTM": self._ftm, "FRM": self._frm}[name](n)
            return True
        if name.startswith(("F", "G", "I")) or name in ("CGMI", "CGMM"):
            return False  # +FAE, +FLO, +FAR, +FCL, +FIT, +ICF, +IFC...: accepted, no effect
        raise _CommandError(f"unknown command +{name}")

    # ---- call set-up -------------------------------------------------------------------

    def _off_hook(self, dialled: bool) -> None:
        self.offhook = True
        self.dialled = dialled
        self.calls += 1
        self._rings = 0
        self._v21 = HdlcReceiver("v21", 300)
        self._v21_up = False
        self._v21_sync = False
        self._v21_frames = []

    def _on_hook(self) -> None:
        if self.offhook:
            log.info("on hook")
        self.offhook = False
        self._src = None
        self._v21 = None
        self._fast = None
        self._deadline = None
        self._v21_frames = []
        self._v21_up = False
        self._v21_sync = False

    def _restart_v21(self) -> None:
        """A fresh V.21 receiver: carrier, deframer and preamble state from scratch."""
        self._v21 = HdlcReceiver("v21", 300) if self.offhook else None
        self._v21_up = False
        self._v21_sync = False

    def _dial(self, number: str) -> None:
        if self.offhook:
            raise _CommandError("already in a call")
        self.dial_string = number.strip()
        log.info("dialling %r", self.dial_string)
        self._off_hook(True)
        self._src = CngGenerator()
        self.mode = "dial"
        self._deadline = self.clock + int(self.regs.get(7, 60) or self.dial_timeout) * SAMPLE_RATE

    def _answer(self) -> None:
        if not self.offhook:
            self._off_hook(False)
        log.info("answering")
        self._src = CedGenerator(duration=self.ced_seconds, silence_before=0.2)
        self.mode = "answer"

    # ---- transmit ----------------------------------------------------------------------

    def _start_tx(self) -> None:
        # our own line: what was heard before is stale, and so is the V.21 receiver's
        # state (it hears nothing while we send: the far end's next burst must not look
        # like the continuation of its last one)
        self._v21_frames = []
        self._restart_v21()
        self._fast = None
        self._dle.reset()
        self._ending = False
        self._discard = False

    def _fth(self, n: int) -> None:
        self._start_tx()
        self._src = HdlcTransmitter("v21", 300, preamble_ms=1000.0, level_dbm0=self.level)
        self._frame = bytearray()
        self._pending_frames = 0
        self._fth_ahead = 300.0  # the 1 s preamble of flags
        self.mode = "fth"
        self._result("CONNECT")

    def _ftm(self, n: int) -> None:
        self._start_tx()
        name, rate, short = MODULATIONS[n]
        opts = {"short_train": short} if name == "v17" else {}
        self._src = modem.transmitter(name, rate, level_dbm0=self.level, **opts)
        self._ftm_buf = bytearray()
        self._ftm_given = self._ftm_samples = 0
        self._ftm_rate = rate
        self._ftm_closed = False
        self.mode = "ftm"
        self._result("CONNECT")

    def _silence(self, name: str, n: int) -> None:
        if name == "FTS":
            self._start_tx()
            self._src = None
            self.mode = "fts"
            self._deadline = self.clock + n * SAMPLE_RATE // 100
        else:
            self.mode = "frs"
            self._silent = 0
            self._frs_need = n * SAMPLE_RATE // 100

    def _tx_data(self, data: bytes) -> bytes:
        if self._ending:
            return b""  # the DTE talks after <DLE><ETX> before OK: a real modem drops it
        dec, ended, rest = self._dle.feed(data)
        if self._discard:
            if not ended:
                return b""
            self._stop_tx("ERROR")
            return rest
        if self.mode == "ftm":
            if len(dec) > MAX_DATA - len(self._ftm_buf):
                return self._overflow(f"+FTM data more than {MAX_DATA} octets ahead of "
                                      "the line", ended, rest)
            self._ftm_buf += dec
            self.stats.data_tx += len(dec)
            if ended:
                self._ending = True
            self._feed_ftm()
            return rest if not ended else b""
        self._frame += dec[:MAX_FRAME + 1 - len(self._frame)]
        if len(self._frame) > MAX_FRAME:
            return self._overflow(f"+FTH frame longer than {MAX_FRAME} octets", ended, rest)
        if not ended:
            return b""
        frame, self._frame = bytes(self._frame), bytearray()
        if not frame:
            self._ending = True
            self._src.send([], final=True)
            return rest
        final = len(frame) >= 2 and bool(frame[1] & 0x10)
        if len(frame) < 3:
            log.debug("frame too short for HDLC: %s", frame.hex())
            self._stop_tx("ERROR")
            return rest  # after <DLE><ETX>: commands again
        bits = (len(frame) + 3) * 8 * 6 // 5  # + FCS and a flag, stuffed at worst
        if self._fth_ahead + bits > MAX_FTH_AHEAD:
            return self._overflow(f"+FTH frames more than {MAX_FTH_AHEAD} bits ahead of "
                                  "the line", True, rest)
        self._fth_ahead += bits
        self._src.send([frame], final=final)
        self.stats.frames_tx += 1
        log.debug("frame to line: %s", frame.hex(" "))
        if final:
            self._ending = True
        else:
            self._result("CONNECT")
        return rest

    def _feed_ftm(self) -> None:
        if self.mode != "ftm":
            return
        want = self._ftm_consumed() + self._ftm_rate // 5  # keep 200 ms of data queued
        if self._ftm_buf and self._ftm_given < want:
            k = max(1, (want - self._ftm_given + 7) // 8)
            chunk, self._ftm_buf = bytes(self._ftm_buf[:k]), self._ftm_buf[k:]
            bits = np.unpackbits(np.frombuffer(chunk, np.uint8), bitorder="little")
            self._src.send(bits, final=False)
            self._ftm_given += len(bits)
        if self._ending and not self._ftm_buf and not self._ftm_closed:
            self._ftm_closed = True
            self._src.send(np.zeros(0, np.uint8), final=True)

    def _overflow(self, what: str, ended: bool, rest: bytes) -> bytes:
        """Too much from the DTE: the carrier stops, the data is dropped up to its
        <DLE><ETX> (not parsed as commands), then ERROR."""
        log.warning("%s: transmission stopped", what)
        self.stats.errors += 1
        self._src = None
        self._frame = bytearray()
        self._ftm_buf = bytearray()
        if ended:
            self._stop_tx("ERROR")
            return rest
        self._discard = True
        return b""

    def _stop_tx(self, code: str) -> None:
        self._src = None
        self._discard = False
        self.mode = "command"
        self._result(code)

    def _tx_done(self) -> None:
        mode = self.mode
        self._src = None
        if mode in ("fth", "ftm"):
            self._ftm_closed = False
            self.mode = "command"
            self._result("OK")
        elif mode == "answer":
            self._fth(3)
        elif mode == "dial":
            pass

    def _timer(self) -> None:
        if self.mode == "fts":
            self.mode = "command"
            self._result("OK")
        elif self.mode == "dial":
            log.info("no fax answer in time")
            self._on_hook()
            self.mode = "command"
            self._result("NO CARRIER")

    # ---- receive -----------------------------------------------------------------------

    def _stop_rx(self) -> None:
        self._fast = None
        self._connected = False

    def _frh(self, n: int) -> None:
        self.mode = "frh"
        self._connected = False
        self._pump_frh()

    def _pump_frh(self) -> None:
        if self.mode != "frh":
            return
        if self._v21_frames:
            data, ok = self._v21_frames.pop(0)
            if not self._connected:
                self._result("CONNECT")
            check = fcs(data) if ok else bytes(b ^ 0xFF for b in fcs(data))
            self._out += dle_escape(data + check) + b"\x10\x03"
            self.stats.frames_rx += 1
            self._connected = False
            self.mode = "command"
            self._result("OK" if ok else "ERROR")
            return
        if self._v21_up and not self._connected:
            self._connected = True
            self._result("CONNECT")

    def _v21_events(self) -> None:
        for e in self._v21.events():
            kind = e.kind
            if kind == "flags":
                self._v21_up = True
                self._v21_sync = True
                if self.mode == "dial":
                    log.info("V.21 flags: the far end answered")
                    self._src = None
                    self._deadline = None
                    self.mode = "frh"
                    self._connected = False
                elif self.mode == "frm" and not self._connected:
                    self._fast = None
                    self.mode = "command"
                    self._result("+FCERROR")
                elif self.mode == "frm":
                    self._end_frm()
            elif kind in ("frame", "bad") and not self._v21_sync:
                # no preamble opened this burst: bits the V.21 demodulator made of
                # another modulation (V.27ter's carrier is in V.21's band), not a frame
                self.noise_frames += 1
                log.debug("V.21 %s without a preamble dropped: %s", kind, e.data[:8].hex())
            elif kind in ("frame", "bad"):
                self._v21_up = True
                self._v21_frames.append((bytes(e.data), kind == "frame" and e.ok))
                if len(self._v21_frames) > 64:
                    self._v21_frames.pop(0)
            elif kind == "carrier_down":
                was = self._v21_up
                self._v21_up = False
                self._v21_sync = False
                if self.mode == "frh" and self._connected and not self._v21_frames and was:
                    self._connected = False
                    self.mode = "command"
                    self._result("NO CARRIER")
            self._pump_frh()

    def _frm(self, n: int) -> None:
        name, rate, short = MODULATIONS[n]
        self.mode = "frm"
        self._connected = False
        if self._v21_frames:  # V.21 frames are waiting: the far end is talking HDLC
            self.mode = "command"
            self._result("+FCERROR")
            return
        opts = {"short_train": short} if name == "v17" else {}
        self._fast = modem.receiver(name, rate, **opts)
        self._fast_bits = np.zeros(0, np.uint8)

    def _fast_events(self) -> None:
        evs = self._fast.events()
        bits = self._fast.bits()
        for e in evs:
            if e.kind == "training_succeeded" and not self._connected:
                self._connected = True
                self._result("CONNECT")
        if bits.size and self._connected:
            self._fast_bits = np.concatenate([self._fast_bits, bits])
            whole = len(self._fast_bits) // 8 * 8
            if whole:
                data = np.packbits(self._fast_bits[:whole], bitorder="little").tobytes()
                self._fast_bits = self._fast_bits[whole:]
                self.stats.data_rx += len(data)
                self._out += dle_escape(data)
        if any(e.kind == "carrier_down" for e in evs) and self._connected:
            self._end_frm()
            # the V.21 receiver heard the whole high-speed burst as noise: the far end's
            # next V.21 burst (75 ms on) starts on a clean receiver
            self._restart_v21()

    def _end_frm(self) -> None:
        self._out += b"\x10\x03"
        self._fast = None
        self._connected = False
        self.mode = "command"
        self._result("NO CARRIER")


class _CommandError(Exception):
    pass


def _arg(body: str, i: int) -> tuple[int, int]:
    """The number at ``body[i]`` of a basic command (``E1``, ``S7=60``), 0 if there is
    none, and the index after it; _CommandError if it has too many digits."""
    n, j = scan_number(body, i)
    if n is None and j > i:
        raise _CommandError("number too long")
    return (0 if n is None else n), j

