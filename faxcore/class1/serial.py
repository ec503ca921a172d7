"""A Class 1 call on a serial port: the I/O loop around the sans-IO :class:`Class1Call`.

The port is opened with pyserial's ``serial.serial_for_url``, so besides device paths
(``/dev/ttyUSB0``, ``COM3``, a pty) these work:

* ``socket://HOST:PORT``: a modem behind a TCP serial server (ser2net in raw mode);
* ``rfc2217://HOST:PORT``: a serial server speaking RFC 2217 (ser2net in telnet mode), which
  also passes on the baud rate and flow control;
* ``spy://DEVICE?file=trace.txt``: a device, with every byte each way logged (a hex dump);
* ``faxemu://?out=received.tif`` / ``faxemu://?send=page.tif``: faxcore's Class 1 emulator
  in this process, its line to a faxcore station (see
  :mod:`faxcore.class1.protocol_faxemu`).

Importing this module adds ``faxcore.class1`` to pyserial's
``serial.protocol_handler_packages`` (for ``faxemu://``).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable

import serial  # pyserial

from faxcore.class1.call import Class1Call
from faxcore.class1.quirks import Quirks, resolve

__all__ = ["Class1Error", "Class1Serial"]

# pyserial finds the handler of "faxemu://" as the module protocol_faxemu of a package in
# this list (faxcore/class1/protocol_faxemu.py)
if "faxcore.class1" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("faxcore.class1")


class Class1Error(Exception):
    """The modem cannot be used (raised by the transports; the driver itself only sets
    :attr:`~faxcore.class1.dte.Class1Driver.error`)."""


class Class1Serial:
    """Runs a :class:`~faxcore.class1.call.Class1Call` on a serial port opened with
    pyserial's ``serial_for_url``: a device (``/dev/ttyUSB0``, ``COM3``, a pty) or a URL
    (see the module docstring). ``rtscts``: hardware flow control (most fax modems want
    it for page data; ignored by ``socket://``). ``port``: an open pyserial-like object
    to use instead (``device`` then only names it). ``quirks``: the quirk profile of the
    modem on this port, given to each call's driver (:mod:`faxcore.class1.quirks`:
    ``"auto"``, ``"spandsp-t31"``, ...; ``None``: the driver's own setting, by default
    ``"auto"``); ``ValueError`` for an unknown profile or flag.

        Class1Serial("/dev/ttyUSB0").run(Class1Call(True, dial="5551234", send=[...]))
    """

    def __init__(self, device: str, *, baudrate: int = 115200, rtscts: bool = True,
                 xonxoff: bool = False, port=None, quirks: str | Quirks | None = None) -> None:
        resolve(quirks)  # an unknown profile fails here, before the port is opened
        self.quirks = quirks
        if port is None:
            try:
                port = serial.serial_for_url(device, baudrate=baudrate, rtscts=rtscts,
                                             xonxoff=xonxoff, timeout=0)
            except (serial.SerialException, OSError, ValueError) as e:
                # ValueError: a URL of an unknown protocol, or a bad option in it
                raise Class1Error(f"cannot open {device}: {e}") from e
        self.port = port
        self.device = device

    def close(self) -> None:
        self.port.close()

    def run(self, call: Class1Call, *, max_seconds: float = 1800.0,
            progress: Callable[[Class1Call], None] | None = None,
            clock: Callable[[], float] = time.monotonic) -> Class1Call:
        """Run the call to its end (or ``max_seconds``); returns it."""
        start = clock()
        if self.quirks is not None:
            call.driver.use_quirks(self.quirks)
        call.start(start)
        fd = self._fileno()
        timed_out = False
        while not call.done:
            now = clock()
            if now - start > max_seconds and not timed_out:
                # once: ATH0 then has its time (failing again each turn would send it
                # again and move its deadline on, for ever if the modem never answers)
                timed_out = True
                call.fail(f"call took longer than {max_seconds:.0f} s", now)
            out = call.outgoing()
            if out:
                self._write(out)
            d = call.next_deadline
            wait = 0.2 if d is None else min(0.2, max(0.0, d - now))
            if fd is not None:
                select.select([fd], [], [], wait)
                data = self.port.read(65536)
            else:
                data = self.port.read(65536)
                if not data:
                    time.sleep(min(wait, 0.01))
            now = clock()
            if data:
                call.receive(data, now)
            call.tick(now)
            if progress is not None:
                progress(call)
        out = call.outgoing()
        if out:
            self._write(out)
        return call

    def _fileno(self):
        try:
            return self.port.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            k = self.port.write(view)
            if k is None:
                k = len(view)
            view = view[k:]
            if view:
                try:
                    self.port.flush()
                except OSError:
                    pass
