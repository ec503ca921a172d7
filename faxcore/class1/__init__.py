"""Class 1 (ITU-T T.31 / EIA-578) fax modems: a driver for real ones, and an emulator.

The DTE side (faxcore drives a modem)::

    from faxcore.class1 import Class1Call, Class1Serial
    call = Class1Serial("/dev/ttyUSB0").run(Class1Call(True, dial="5551234", send=["p.tif"]))

The DCE side (faxcore is the modem, for efax, HylaFAX or the driver above)::

    from faxcore.class1 import PtyModem
    with PtyModem(far_end) as modem: ...   # modem.path is a pty to open

Modules, one job each:

* :mod:`.codes`: the Class 1 vocabulary both sides share: DLE framing, result codes, the
  ASCII number parser, the one table of Class 1 modulation numbers;
* :mod:`.dte`: :class:`Class1Driver`, the sans-IO driver (AT commands out, T.30 events in);
* :mod:`.call`: :class:`Class1Call`, the T.30 engine bound to the driver (sans-IO);
* :mod:`.serial`: :class:`Class1Serial`, a call on a port (pyserial URLs:
  ``socket://``, ``rfc2217://``, ``spy://``, ``faxemu://``);
* :mod:`.dce`: :class:`Class1Dce`, the emulated modem (sans-IO: bytes and 8 kHz audio);
* :mod:`.pty`: :class:`PtyModem`, :class:`PtyPair`, :class:`DceLine`: the emulator served
  on pseudo-terminals (POSIX only);
* :mod:`.protocol_faxemu`: pyserial's handler of ``faxemu://``.
"""

from __future__ import annotations

from faxcore.class1.call import Class1Call
from faxcore.class1.codes import MODULATIONS, modulation_code
from faxcore.class1.dce import Class1Dce, DceStats
from faxcore.class1.dte import Class1Driver
from faxcore.class1.serial import Class1Error, Class1Serial

__all__ = ["MODULATIONS", "Class1Call", "Class1Dce", "Class1Driver", "Class1Error",
           "Class1Serial", "DceLine", "DceStats", "PtyModem", "PtyPair", "modulation_code"]

_PTY_NAMES = ("DceLine", "PtyModem", "PtyPair")


def __getattr__(name: str):
    if name in _PTY_NAMES:
        # faxcore.class1.pty needs ptys (the tty and termios modules: POSIX only), so it is
        # imported on first use of its names: the driver stays importable on Windows (COM3)
        from faxcore.class1 import pty

        return getattr(pty, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
