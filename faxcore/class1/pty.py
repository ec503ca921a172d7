"""The Class 1 emulator on a pseudo-terminal: what efax, HylaFAX or faxcore's driver open.

    modem = PtyModem(far_end=lambda dialled: FaxSession(calling=not dialled, ...))
    modem.start()                 # a thread; modem.path is "/dev/pts/N"
    ... run `efax -d /dev/pts/N -t 123 page.g3` ...
    modem.close(); modem.far_ends[0].pages

The emulator's line side is joined, through a simulated 4-wire audio line, to a *far end*:
any object with ``tx(n) -> int16 samples``, ``rx(samples)`` (a :class:`faxcore.FaxSession`,
or another emulator's :class:`DceLine`). ``far_end(dialled)`` makes one per call, when the
DTE dials (``dialled=True``: the far end answers) or answers (``dialled=False``: the far end
calls). ``ring=True`` rings (``RING``) once the DTE has put the modem in class 1 and gone
quiet, until it answers.

Line time: the audio runs as fast as the CPU allows while the modem has work of its own
(receiving, sending trained data), and *waits* while the modem waits for the DTE (between
commands, or for data to send), so a program's latency never shows on the line as it
would not with a real modem's buffers; while nobody sends anything the line runs at
real-time pace, so that the programs' own timeouts keep their meaning. If the DTE stays quiet for ``stall`` seconds of
real time (``data_stall`` while it owes data after ``CONNECT``), the line goes on at
real-time pace (a program that waits on purpose; a modem then sends fill). With
``data_speed`` the high-speed data, whichever way it goes (``+FTM`` or ``+FRM``), runs at
that multiple of real time.

Flow control: during ``+FTM`` the emulator reads the pty only while its queue is under
:data:`~faxcore.class1.dce.FLOW_MS` of line time ahead of the line, and meanwhile stops
the pty's output (``tcflow(TCOOFF)`` on its slave side, what a modem's CTS does on a
serial line), so the program's ``write`` blocks at once instead of filling the kernel's
buffer: the program is paced to the line rate, as with a real modem.

After the last call, :meth:`PtyModem.linger` keeps answering until the program has
closed the pty (or gone quiet), so a program that resets the modem after hanging up is
not cut off.

Bounded buffers (the DTE may write without end, or never read): :attr:`PtyModem.transcript`
keeps the last :data:`TRANSCRIPT_MAX` octets the DTE wrote; output the DTE has not read
is held up to :data:`WBUF_MAX` octets, and what does not fit is dropped and counted in
:attr:`PtyModem.overruns` (a real modem's buffer overruns the same way when the DTE
ignores flow control).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import Self

import numpy as np

from faxcore.class1.dce import Class1Dce
from faxcore.modem import SAMPLE_RATE

log = logging.getLogger(__name__)

BLOCK = 160  # 20 ms of line audio per step
TRANSCRIPT_MAX = 1 << 20  # octets of DTE input kept for diagnostics (the last ones)
# Output waiting for the DTE to read it. A DTE that reads keeps this near empty; 1 MiB
# is over nine minutes of 14400 bit/s data.
WBUF_MAX = 1 << 20

__all__ = ["TRANSCRIPT_MAX", "WBUF_MAX", "DceLine", "PtyModem", "PtyPair"]


class _Served:
    """What :class:`PtyModem` and :class:`PtyPair` share: :meth:`run` (``step`` in a loop)
    on a daemon thread (:meth:`start`, ``close`` which calls :meth:`_join`, a context
    manager; an exception ends the thread and is kept in :attr:`error`), and
    ``data_speed`` pacing."""

    _thread_name = "class1"
    _stopped_message = "stopped"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._pace: tuple[float, int] | None = None  # (real time, line clock) pace began
        # real time in seconds as pacing and the stall rules read it; replaceable before
        # start() (tests run the emulator on a virtual clock)
        self.clock: Callable[[], float] = time.monotonic

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run_guarded, name=self._thread_name,
                                        daemon=True)
        self._thread.start()
        return self

    def _join(self, timeout: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Serve in this thread until ``close()`` (another thread) or ``until()``."""
        while not self._stop.is_set() and not (until and until()):
            self.step()

    def step(self) -> None:
        raise NotImplementedError

    def pump(self, timeout: float) -> None:
        raise NotImplementedError

    def _ahead_of_pace(self, now: float, clock: int) -> bool:
        """Line time paced at ``data_speed`` times real time. True when ``clock``
        (samples) is ahead of it: the pty was served for a block's time instead."""
        if self._pace is None:
            self._pace = (now, clock)
        allowed = self._pace[1] + (now - self._pace[0]) * SAMPLE_RATE * self.data_speed
        if clock + BLOCK > allowed:
            self.pump(BLOCK / SAMPLE_RATE / self.data_speed)
            return True
        return False

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as e:  # reported to whoever joins us; the pty stays sane
            log.exception(self._stopped_message)
            self.error = e


class DceLine:
    """Another emulator's line side seen as a far end (two emulated modems on one line)."""

    def __init__(self, dce: Class1Dce):
        self.dce = dce

    def tx(self, n: int) -> np.ndarray:
        return self.dce.tx_audio(n)

    def rx(self, samples) -> None:
        self.dce.rx_audio(samples)

    @property
    def done(self) -> bool:
        return not self.dce.offhook


class PtyModem(_Served):
    """A :class:`Class1Dce` served on a new pseudo-terminal (see the module docstring)."""

    _thread_name = "class1-emulator"
    _stopped_message = "emulator stopped"

    def __init__(self, far_end: Callable[[bool], object] | None = None, *, ring: bool = False,
                 stall: float = 0.5, data_stall: float = 5.0, max_call_seconds: float = 600.0,
                 data_speed: float | None = None, dce: Class1Dce | None = None) -> None:
        super().__init__()
        self.dce = dce or Class1Dce()
        self.far_end = far_end
        self.ring = ring
        self.stall = stall
        self.data_stall = data_stall
        self.data_speed = data_speed
        self._idle = False
        self.max_call_samples = int(max_call_seconds * SAMPLE_RATE)
        self.far_ends: list[object] = []
        self.transcript = bytearray()  # what the DTE wrote, the last TRANSCRIPT_MAX octets
        self.overruns = 0              # output octets dropped: the DTE did not read them
        self._master, self._slave = os.openpty()
        self._fds_open = True
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._wbuf = bytearray()
        self._far = None
        self._call_start = 0
        self._last_dte = self.clock()
        self._last_ring = 0.0
        self._held = False             # the pty's output is stopped (flow control)
        self._slave_open = True        # our own fd of the slave side (see linger)
        self.hung_up = False           # linger: the program closed the pty

    # ---- lifetime ----------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        self._join(timeout)
        if self._far is not None and not self.dce.offhook and (
                self._thread is None or not self._thread.is_alive()):
            self._finish_far()  # the DTE hung up just before: let the far end finish
        if self._fds_open:
            # once only: a second os.close() of these numbers would close whatever file
            # has been given them since
            self._hold(False)
            self._fds_open = False
            fds = (self._master, self._slave) if self._slave_open else (self._master,)
            self._slave_open = False
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

    @property
    def in_call(self) -> bool:
        """A call is up (from ``ATD``/``ATA`` until the far end has finished after ``ATH``)."""
        return self._far is not None

    @property
    def output_pending(self) -> int:
        """Octets for the DTE not written to the pty yet (at most :data:`WBUF_MAX`)."""
        return len(self._wbuf)

    def ring_if_due(self, now: float) -> bool:
        """``RING`` to the DTE (a call comes in) if it is time: the modem is on hook in
        class 1, its program has written nothing for 0.5 s and the last RING was 2 s ago
        (``now``: ``time.monotonic()``). True if it rang."""
        dce = self.dce
        if (dce.offhook or dce.fclass != 1 or now - self._last_dte <= 0.5
                or now - self._last_ring <= 2.0):
            return False
        self._last_ring = now
        dce.ring()
        return True

    def holding_line(self, now: float) -> bool:
        """The modem waits for its program (between commands, or for data after
        ``CONNECT``) and the program has been quiet for less than ``stall`` seconds
        (``data_stall`` after ``CONNECT``): line time should wait for it."""
        dce = self.dce
        if not dce.waiting_for_dte:
            return False
        cap = self.data_stall if dce.mode in ("ftm", "fth") else self.stall
        return now - self._last_dte < cap

    # ---- one turn of the loop ----------------------------------------------------------

    def step(self) -> None:
        dce = self.dce
        now = self.clock()
        if not dce.offhook:
            if self._far is not None:
                self._finish_far()
            if self.ring:
                self.ring_if_due(now)
            self.pump(0.02)
            return
        if self._far is None:
            self._far = self.far_end(dce.dialled) if self.far_end else _Quiet()
            self.far_ends.append(self._far)
            self._call_start = dce.clock
        if dce.waiting_for_dte:
            # a program takes its time after CONNECT (efax renders its page header):
            # a modem would send fill meanwhile; the emulated line just waits longer
            if self.holding_line(now):
                self.pump(0.005)
                return
            # the DTE is quiet on purpose: line time goes on at real-time pace
            self._advance()
            self.pump(BLOCK / SAMPLE_RATE)
            return
        if self.data_speed and dce.mode in ("ftm", "frm"):
            # high-speed data at (a multiple of) real-time pace, either way, as a real
            # modem drains its buffer or receives: programs time the page (efax divides
            # the bytes by the seconds it took) and a test run at --speed 1 is a real call
            if self._ahead_of_pace(now, dce.clock):
                return
        else:
            self._pace = None
        if self._idle:
            # nobody is sending: line time goes at real-time pace, so that the programs'
            # own timeouts (T2, T4 in real seconds) mean what they say
            self._advance()
            self.pump(BLOCK / SAMPLE_RATE)
            return
        for _ in range(25):  # up to 0.5 s of line time between looks at the pty
            self._advance()
            if self._pace is not None or self._idle:
                break
            if dce.waiting_for_dte or dce.output_pending or not dce.offhook:
                break
        self.pump(0.0)

    def _finish_far(self) -> None:
        # the DTE hung up: let the far end hear silence until it is done too (its last
        # frame, its own hang-up), for at most 10 s of line time
        far, self._far = self._far, None
        for _ in range(500):
            if getattr(far, "done", True):
                break
            far.rx(np.zeros(BLOCK, np.int16))
            far.tx(BLOCK)

    def _advance(self) -> None:
        dce = self.dce
        a = dce.tx_audio(BLOCK)
        b = self._far.tx(BLOCK)
        dce.rx_audio(b)
        self._far.rx(a)
        self._idle = not a.any() and not b.any()
        if dce.offhook and dce.clock - self._call_start > self.max_call_samples:
            log.warning("call longer than the limit: hanging up")
            dce.hang_up()

    def _queue(self, data: bytes) -> None:
        room = WBUF_MAX - len(self._wbuf)
        if len(data) > room:
            if not self.overruns:
                log.warning("the DTE does not read: output dropped")
            self.overruns += len(data) - room
            data = data[:room]
        self._wbuf += data

    def pump(self, timeout: float) -> None:
        """Bytes both ways between the pty and the emulator: what the emulator has for the
        DTE is queued; waits up to ``timeout`` s for the DTE; what it wrote goes to the
        emulator (no more than it takes now: flow control, see the module docstring);
        as much of the queue as the pty takes is written."""
        self._queue(self.dce.to_dte())
        room = self.dce.input_room
        self._hold(room == 0)
        rl = [] if room == 0 else [self._master]
        wl = [self._master] if self._wbuf else []
        try:
            r, w, _ = select.select(rl, wl, [], timeout)
        except (OSError, ValueError):
            self._stop.set()
            return
        if r:
            try:
                data = os.read(self._master, 65536 if room is None else min(room, 65536))
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    raise
                if e.errno == errno.EIO:
                    self.hung_up = True  # no program has the pty open (linger ends)
                data = b""
            if data:
                self._last_dte = self.clock()
                self.transcript += data
                if len(self.transcript) > TRANSCRIPT_MAX:
                    del self.transcript[:-TRANSCRIPT_MAX]
                self.dce.from_dte(data)
                self._queue(self.dce.to_dte())
        if self._wbuf:
            try:
                k = os.write(self._master, self._wbuf)
                del self._wbuf[:k]
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    raise


    def _hold(self, hold: bool) -> None:
        """Stop (or restart) the output of the pty's slave side: the program's writes
        block at once, as a serial port's do when the modem drops CTS. Without it the
        kernel would take some 18 KB more (a minute of V.27ter) before blocking it."""
        if hold == self._held or not self._slave_open:
            return
        try:
            termios.tcflow(self._slave, termios.TCOOFF if hold else termios.TCOON)
        except (OSError, termios.error) as e:
            # not fatal: unread input stays in the kernel, which blocks the writer later
            log.debug("tcflow: %s", e)
        self._held = hold

    def linger(self, quiet: float = 3.0, limit: float = 15.0) -> None:
        """Serve on, in this thread, after the last call (:meth:`run` has returned) until
        the program has closed the pty, or is on hook and has written nothing for
        ``quiet`` seconds; ``limit`` seconds at most. A program that hangs up (``ATH0``)
        and then resets the modem gets its answers instead of I/O errors. No more RINGs
        meanwhile. Then :meth:`close`."""
        _linger(self, (self,), quiet, limit)

    def _release(self) -> None:
        """Before lingering: no more RINGs, output restarted, and our own fd of the slave
        side closed (it kept the pty alive between programs; without it the master reads
        EIO once the program has closed its end, which :meth:`pump` notes in
        :attr:`hung_up`)."""
        self.ring = False
        self._hold(False)
        self.hung_up = False
        if self._slave_open:
            self._slave_open = False
            os.close(self._slave)

    def done_with(self, now: float, quiet: float) -> bool:
        """Lingering is over: the program closed the pty, or it is on hook, has nothing
        left to read and has been quiet for ``quiet`` seconds."""
        return self.hung_up or (now - self._last_dte >= quiet and not self._wbuf
                                and not self.dce.offhook)


def _linger(served: _Served, modems: tuple[PtyModem, ...], quiet: float,
            limit: float) -> None:
    for m in modems:
        m._release()
    start = served.clock()
    while not served._stop.is_set():
        now = served.clock()
        if now - start >= limit or all(m.done_with(now, quiet) for m in modems):
            break
        served.step()


class _Quiet:
    """A far end that never answers (a line with nobody on it)."""

    done = False

    def tx(self, n: int) -> np.ndarray:
        return np.zeros(n, np.int16)

    def rx(self, samples) -> None:
        pass


class PtyPair(_Served):
    """Two emulated modems on two pseudo-terminals, joined by one simulated line: a program
    on :attr:`a` dials, the modem on :attr:`b` rings (``RING`` every 2 s once its program
    has put it in class 1), and the two programs fax each other (efax to efax, HylaFAX to
    efax, faxcore's driver to either). When one side hangs up, the other hears the line
    drop (``NO CARRIER``) 2 s of line time later. Same pacing rules as :class:`PtyModem`.
    """

    _thread_name = "class1-pair"
    _stopped_message = "emulator pair stopped"

    def __init__(self, *, stall: float = 0.5, data_stall: float = 5.0,
                 data_speed: float | None = None, max_call_seconds: float = 600.0) -> None:
        super().__init__()
        self.a = PtyModem(None, stall=stall, data_stall=data_stall)
        self.b = PtyModem(None, stall=stall, data_stall=data_stall)
        self.data_speed = data_speed
        self.max_call_samples = int(max_call_seconds * SAMPLE_RATE)
        self._idle = False
        self._dropped_at: dict[int, int] = {}
        self._line_clock = 0
        self._was_connected = False  # both ends were off hook together since the last drop

    @property
    def paths(self) -> tuple[str, str]:
        return self.a.path, self.b.path

    def close(self, timeout: float = 5.0) -> None:
        self._join(timeout)
        self.a.close()
        self.b.close()

    def linger(self, quiet: float = 3.0, limit: float = 15.0) -> None:
        """:meth:`PtyModem.linger` for both programs at once."""
        _linger(self, (self.a, self.b), quiet, limit)

    def step(self) -> None:
        now = self.clock()
        ends = (self.a, self.b)
        for x, y in ((self.a, self.b), (self.b, self.a)):
            if x.dce.offhook and x.dce.dialled:
                y.ring_if_due(now)
        up = [m for m in ends if m.dce.offhook]
        if not up:
            self._pace = None
            self.pump(0.02)
            return
        for m in ends:
            if m.holding_line(now):
                self.pump(0.005)
                return
        if self.data_speed and any(m.dce.mode in ("ftm", "frm") for m in ends):
            if self._ahead_of_pace(now, self._line_clock):
                return
        else:
            self._pace = None
        self._advance()
        self.pump(BLOCK / SAMPLE_RATE if self._idle else 0.0)

    def _advance(self) -> None:
        a, b = self.a.dce, self.b.dce
        x = a.tx_audio(BLOCK) if a.offhook else np.zeros(BLOCK, np.int16)
        y = b.tx_audio(BLOCK) if b.offhook else np.zeros(BLOCK, np.int16)
        if not a.offhook:
            a.clock += BLOCK
        if not b.offhook:
            b.clock += BLOCK
        connected = a.offhook and b.offhook
        a.rx_audio(y if b.offhook else np.zeros(BLOCK, np.int16))
        b.rx_audio(x if a.offhook else np.zeros(BLOCK, np.int16))
        self._idle = not x.any() and not y.any()  # real-time pace while nobody sends
        self._line_clock += BLOCK
        if connected:
            self._was_connected = True
        # one side hung up after a call: the other hears the line drop 2 s later
        for me, other in ((a, b), (b, a)):
            if me.offhook and not other.offhook and self._was_connected:
                t0 = self._dropped_at.setdefault(id(me), self._line_clock)
                if self._line_clock - t0 > 2 * SAMPLE_RATE:
                    me.hang_up()
            else:
                self._dropped_at.pop(id(me), None)
        if not a.offhook and not b.offhook:
            self._was_connected = False

    def pump(self, timeout: float) -> None:
        """:meth:`PtyModem.pump` on both ptys, ``timeout`` shared between them."""
        self.a.pump(timeout / 2)
        self.b.pump(0.0 if timeout == 0 else timeout / 2)
