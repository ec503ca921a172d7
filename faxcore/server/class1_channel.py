"""The Class 1 channel: fax modems on serial ports (one line each), as a group.

Each line is a pyserial URL (:class:`~faxcore.class1.serial.Class1Serial`): a device
(``/dev/ttyUSB0``), ``socket://`` / ``rfc2217://`` (a serial server), or ``faxemu://``
(faxcore's Class 1 emulator, whose line side is a faxcore station: what the tests use),
and optionally the line's telephone number (inbound routing, and our caller id).

Outbound: :meth:`Class1Channel.place_call` takes a free line, dials the destination
(``+`` dropped, ``dial_prefix`` put in front) and runs a :class:`~faxcore.class1.Class1Call`
on it; every page the far end confirms is journaled as it is confirmed (the call's
engine watched by :class:`~faxcore.server.channels.ConfirmWatcher` after each turn of
the serial loop). ``BUSY`` is a busy dial result, ``NO ANSWER``/``NO CARRIER`` after
``ATD`` no answer, ``NO DIALTONE`` or a modem that does not answer a channel error.

Inbound (``answer = true``): a thread per line keeps its port open while the line is
idle, the modem in class 1, and reads it for ``RING`` (and ``NMBR =`` caller id, when
the modem reports it). On a ring the server's :class:`InboundHandler` is asked for the
line's number; if the number's account may receive, the call is answered (``ATA``)
and received into the handler's page store; if not (a terminated account), the rings
are left unanswered. An outbound call that wants the line takes it from the listener
between two reads (at most :data:`LISTEN_SLICE` seconds).

A port is opened once and kept: a ``faxemu://`` URL makes a new emulator each time it
is opened, and a real modem keeps its settings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from faxcore.class1 import Class1Call, Class1Driver, Class1Error, Class1Serial
from faxcore.server.channels import (
    CallControl,
    ConfirmWatcher,
    InboundHandler,
    OutboundCall,
    far_end_spoke,
)
from faxcore.server.model import AttemptOutcome, DialResult
from faxcore.t30.result import DESCRIPTIONS, CallResult, T30Status

log = logging.getLogger("faxcore.server.class1")

LISTEN_SLICE = 0.3      # seconds the listener reads the port before it looks at the queue
TAKE_SECONDS = 5.0      # how long place_call waits for a listening line to be handed over
REFUSED_QUIET = 8.0     # seconds without a RING after which a refused call is over


@dataclass(frozen=True)
class ModemLine:
    url: str                # pyserial URL of the modem
    number: str = ""        # the line's number: inbound routing and our caller id


class _Line:
    def __init__(self, line: ModemLine, open_port: Callable[[str], Class1Serial]) -> None:
        self.url, self.number = line.url, line.number
        self._open_port = open_port
        self.lock = threading.Lock()       # who drives the modem now
        self.wanted = threading.Event()    # an outbound call waits for this line
        self.port: Class1Serial | None = None
        self.armed = False                 # the listener put the modem in class 1
        self.listening = False
        self.calls = 0

    def serial(self) -> Class1Serial:
        if self.port is None:
            self.port = self._open_port(self.url)
        return self.port

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except OSError:
                log.debug("closing %s", self.url, exc_info=True)
            self.port = None


class Class1Channel:
    """See the module docstring. ``capacity`` is the number of lines."""

    transport = "modem"

    def __init__(self, name: str, lines: list[ModemLine], *,
                 inbound: InboundHandler | None = None, answer: bool = True, ecm: bool = True,
                 quirks: str | None = None, baudrate: int = 115200, rtscts: bool = True,
                 dial_prefix: str = "", max_call_seconds: float = 1800.0,
                 open_port: Callable[[str], Class1Serial] | None = None) -> None:
        if not lines:
            raise ValueError(f"class1 channel {name}: no modem (give devices)")
        self.name = name
        self.capacity = len(lines)
        self.inbound = inbound
        self.answer = answer
        self.ecm = ecm
        self.quirks = quirks
        self.dial_prefix = dial_prefix
        self.max_call_seconds = max_call_seconds

        def serial_port(url: str) -> Class1Serial:
            return Class1Serial(url, baudrate=baudrate, rtscts=rtscts, quirks=quirks)

        # open_port: how a line's port is opened (tests give a scripted modem)
        self.lines = [_Line(x, open_port or serial_port) for x in lines]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifetime ---------------------------------------------------------------------

    def start(self) -> None:
        """Start listening for calls on every line (when ``answer`` and a handler)."""
        if not self.answer or self.inbound is None or self._threads:
            return
        self._stop.clear()
        for i, line in enumerate(self.lines):
            t = threading.Thread(target=self._listen, args=(line,), daemon=True,
                                 name=f"faxcore-{self.name}-{i}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30.0)
        self._threads = []
        for line in self.lines:
            with line.lock:
                line.close()

    # ---- outbound ---------------------------------------------------------------------

    def _take(self) -> _Line | None:
        for line in self.lines:
            if line.lock.acquire(blocking=False):
                return line
        # every line is held: a listener gives its line up between two reads
        for line in self.lines:
            if line.listening:
                line.wanted.set()
                try:
                    if line.lock.acquire(timeout=TAKE_SECONDS):
                        return line
                finally:
                    line.wanted.clear()
        return None

    def dial_string(self, destination: str) -> str:
        return self.dial_prefix + destination.lstrip("+")

    def place_call(self, call: OutboundCall, control: CallControl) -> AttemptOutcome:
        line = self._take()
        if line is None:
            return AttemptOutcome(DialResult.CHANNEL_ERROR, self.transport,
                                  hangup_cause="every modem of the channel is busy")
        try:
            return self._place(line, call, control)
        finally:
            line.armed = False
            line.lock.release()

    def _place(self, line: _Line, call: OutboundCall, control: CallControl) -> AttemptOutcome:
        try:
            port = line.serial()
        except Class1Error as exc:
            return AttemptOutcome(DialResult.CHANNEL_ERROR, self.transport,
                                  hangup_cause=str(exc))
        c1 = Class1Call(True, dial=self.dial_string(call.destination), send=list(call.pages),
                        ecm=self.ecm, ident=call.ident)
        state: dict = {"watch": None, "answered": False, "stop": False}

        def progress(c: Class1Call) -> None:
            e = c.engine
            if e is None or c.done:
                return
            now = time.monotonic()
            if state["watch"] is None:
                state["watch"] = ConfirmWatcher(e, control, list(call.page_numbers),
                                                abort_engine=False)
            w: ConfirmWatcher = state["watch"]
            if not state["answered"] and far_end_spoke(e):
                state["answered"] = True  # the far end's fax answered (its first frame)
                if control.answered():
                    w.stop = True
            w.poll(now)
            if w.stop and not state["stop"]:
                state["stop"] = True
                c.abort(now, "canceled by the client")

        t0 = time.monotonic()
        line.calls += 1
        log.info("%s: dialling %s on %s", self.name, call.destination, line.url)
        port.run(c1, max_seconds=self.max_call_seconds, progress=progress)
        if state["watch"] is not None:
            state["watch"].poll(time.monotonic())
        seconds = round(time.monotonic() - t0, 3)
        watched: ConfirmWatcher | None = state["watch"]
        confirmed = list(watched.confirmed) if watched else []
        r = c1.result
        error = c1.error or ""
        if r is not None and r.ok:
            return AttemptOutcome(DialResult.DELIVERED, self.transport, bit_rate=r.bit_rate,
                                  modulation=r.modulation, ecm=r.ecm,
                                  t30_status=T30Status(r.status).name,
                                  hangup_cause="normal clearing", duration_s=seconds,
                                  pages_confirmed=confirmed)
        up = error.upper()
        if not state["answered"] and "BUSY" in up:
            result, cause = DialResult.BUSY, "busy"
        elif not state["answered"] and ("NO ANSWER" in up or "NO CARRIER" in up):
            result, cause = DialResult.NO_ANSWER, "no answer"
        elif not state["answered"] and not state["stop"]:
            result, cause = DialResult.CHANNEL_ERROR, error or "the modem failed"
        else:
            result = DialResult.PROTOCOL_ERROR
            cause = (r.message or DESCRIPTIONS.get(r.status, r.status.name)) if r else error
            if state["stop"]:
                cause = "canceled by the client"
        return AttemptOutcome(result, self.transport,
                              bit_rate=r.bit_rate if r else 0,
                              modulation=r.modulation if r else "",
                              ecm=bool(r.ecm) if r else False,
                              t30_status=T30Status(r.status).name if r else "",
                              hangup_cause=cause, duration_s=seconds,
                              pages_confirmed=confirmed)

    # ---- inbound ----------------------------------------------------------------------

    def _listen(self, line: _Line) -> None:
        refused_at = -1e9   # when the last RING of a call we do not answer came
        while not self._stop.is_set():
            if line.wanted.is_set() or not line.lock.acquire(timeout=LISTEN_SLICE):
                time.sleep(0.05)
                continue
            try:
                line.listening = True
                ring, caller = self._wait_ring(line)
                line.listening = False
                if not ring:
                    continue
                now = time.monotonic()
                if now - refused_at < REFUSED_QUIET:
                    refused_at = now  # the same refused call still ringing
                    continue
                session = self.inbound.offer(line.number, caller)
                if session is None:
                    refused_at = now
                    log.info("%s: call on %s (%s) not answered", self.name, line.url,
                             line.number or "no number")
                    continue
                self._answer(line, session, caller)
            except Exception:  # a modem that fails must not end the listener
                log.exception("%s: listening on %s", self.name, line.url)
                line.close()
                self._stop.wait(5.0)
            finally:
                line.listening = False
                line.lock.release()

    def _wait_ring(self, line: _Line) -> tuple[bool, str]:
        """Read the idle modem for a slice of time: (a RING came, the caller id)."""
        port = line.serial().port
        if not line.armed:
            # a modem reports RING in any class, but some (and the emulator) only in
            # class 1; the OK that follows is read and dropped below
            port.write(b"AT+FCLASS=1\r")
            line.armed = True
        end = time.monotonic() + LISTEN_SLICE
        buf = b""
        while time.monotonic() < end:
            data = port.read(256)
            if data:
                buf += data
            else:
                time.sleep(0.02)
        ring, caller = False, ""
        for raw in buf.replace(b"\n", b"\r").split(b"\r"):
            text = raw.decode("ascii", "replace").strip()
            if text.upper() == "RING":
                ring = True
            elif text.upper().startswith("NMBR"):
                caller = text.partition("=")[2].strip()
        return ring, caller

    def _answer(self, line: _Line, session, caller: str) -> None:
        driver = Class1Driver(dial=None, wait_ring=False, quirks=self.quirks or "auto")
        c1 = Class1Call(False, receive=session.page_store, ecm=self.ecm,
                        ident=session.ident, driver=driver)
        line.calls += 1
        log.info("%s: answering a call on %s for %s", self.name, line.url, line.number)
        try:
            line.serial().run(c1, max_seconds=self.max_call_seconds)
        finally:
            line.armed = False
            r = c1.result
            if r is None:
                r = CallResult(status=T30Status.CALLDROPPED, calling=False,
                               message=c1.error or "the modem failed before the call")
            pages = list(c1.engine.received_pages) if c1.engine is not None else []
            session.finish(r, pages)
