"""pyserial's handler of ``faxemu://``: faxcore's Class 1 emulator as a serial port.

``serial.serial_for_url("faxemu://?out=received.tif")`` starts a
:class:`~faxcore.class1.pty.PtyModem` in this process (a thread) and opens its
pseudo-terminal: what is written to the port is the DTE's side of an emulated Class 1
modem whose line goes to a faxcore station (a :class:`~faxcore.FaxSession` per call). It
needs a POSIX system (ptys). pyserial finds this module because
:mod:`faxcore.class1.serial` adds ``faxcore.class1`` to ``serial.protocol_handler_packages``
(``import faxcore.class1`` does).

URL: ``faxemu://[?option=value[&option=value]...]``, options:

* ``out=PATH``: a number the DTE dials is answered by faxcore, which writes the pages it
  receives to the TIFF-F file PATH (``%d`` in it: the call number, from 1). Without it,
  the pages stay in memory: ``port.modem.far_ends[i].pages``;
* ``send=PATH`` (repeat for more files): the emulator rings (``RING``) once the DTE has
  put it in class 1, and when the DTE answers faxcore calls and sends these pages;
* ``ecm=0``: the faxcore station offers no ECM (default 1);
* ``speed=X``: high-speed data at X times real time (default 0: as fast as possible).

The port is a ``serial.Serial`` on the pty; :attr:`Serial.modem` is the emulator (its
``dce.log``, ``far_ends``, ``error``). Closing the port stops the emulator.
"""

from __future__ import annotations

import urllib.parse

import serial  # pyserial

from faxcore.class1.pty import PtyModem
from faxcore.session import FaxSession

__all__ = ["FaxStation", "Serial"]

_FORM = "faxemu://[?out=PATH][&send=PATH...][&ecm=0|1][&speed=X]"


class FaxStation:
    """The far end of each call (``PtyModem``'s ``far_end``): a new
    :class:`~faxcore.FaxSession` that answers and receives into ``out`` when the DTE
    dialled, or calls and sends ``send`` when it answered."""

    def __init__(self, *, out: str | None = None, send: tuple[str, ...] = (),
                 ecm: bool = True) -> None:
        self.out = out
        self.send = send
        self.ecm = ecm
        self.calls = 0

    def __call__(self, dialled: bool) -> FaxSession:
        self.calls += 1
        if dialled:
            out = self.out
            if out is not None and "%d" in out:
                out = out.replace("%d", str(self.calls))
            return FaxSession(calling=False, receive=out, ecm=self.ecm)
        return FaxSession(calling=True, send=list(self.send), ecm=self.ecm)


def parse_url(url: str) -> tuple[FaxStation, float | None]:
    """The far end and the ``data_speed`` a ``faxemu://`` URL asks for;
    ``serial.SerialException`` if it is not one."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "faxemu" or parts.netloc or parts.path not in ("", "/"):
        raise serial.SerialException(f"expected {_FORM}, not {url!r}")
    out, send, ecm, speed = None, [], True, 0.0
    try:
        for name, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True,
                                                  strict_parsing=bool(parts.query)).items():
            if name == "out" and len(values) == 1 and values[0]:
                out = values[0]
            elif name == "send" and all(values):
                send = values
            elif name == "ecm" and values in (["0"], ["1"]):
                ecm = values == ["1"]
            elif name == "speed" and len(values) == 1:
                speed = float(values[0])
                if not 0 <= speed < float("inf"):
                    raise ValueError(f"speed={values[0]}")
            else:
                raise ValueError(f"bad option {name}={'&'.join(values)}")
    except ValueError as e:
        raise serial.SerialException(f"expected {_FORM} in {url!r}: {e}") from None
    return FaxStation(out=out, send=tuple(send), ecm=ecm), (speed or None)


class Serial(serial.Serial):
    """The pty of a new emulator, as a pyserial port (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        self.modem: PtyModem | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.port is None:
            raise serial.SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        station, speed = parse_url(self.port)
        modem = PtyModem(station, ring=bool(station.send), data_speed=speed).start()
        # the port's name stays the URL; what is opened is the emulator's pty
        self.portstr = modem.path
        try:
            super().open()
        except BaseException:
            modem.close()
            raise
        self.modem = modem

    def close(self) -> None:
        super().close()
        if self.modem is not None:
            self.modem.close()  # kept: its log and far ends tell what happened
