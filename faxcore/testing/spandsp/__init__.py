"""spandsp (Debian's libspandsp2 0.0.6, through ctypes) as a reference peer: a fax
implementation we did not write, for the interoperability tests, the benchmarks and
``faxcore call --peer spandsp``.

Modules:
    library   the one loader: :func:`lib` gives the library with every prototype set, or
              raises :class:`SpandspMissing` naming the Debian package
    fax       :class:`SpandspFax`, a complete fax terminal (T.30 and modems) on 8 kHz audio
    modems    spandsp's V.21 / V.27ter / V.29 / V.17 modems, HDLC, tones and G.711, with
              the same shape as faxcore's (``tx(n)``, ``rx(samples)``, ``bits()``,
              ``events()``)
    t4        spandsp's T.4 page decoder (a reference for faxcore's MH/MR decoding)
    t31       spandsp's T.31 Class 1 modem, and a rig putting faxcore's Class 1 driver
              in front of it
    t38       spandsp's T.38 terminal and audio <-> T.38 gateway (IFP packets in and
              out, time in samples), and the loops that play T.38 calls through them

The fax terminal's names are here too (``from faxcore.testing.spandsp import SpandspFax``),
and the T.38 terminal's and gateway's (``SpandspT38Terminal``, ``SpandspT38Gateway``).
"""

from faxcore.testing.spandsp.fax import ENCODINGS, T30_ERR_NAMES, T30_FEATURES, SpandspFax
from faxcore.testing.spandsp.library import SpandspMissing, T30Stats, available, lib
from faxcore.testing.spandsp.t38 import SpandspT38Gateway, SpandspT38Terminal

__all__ = ["ENCODINGS", "T30_ERR_NAMES", "T30_FEATURES", "SpandspFax", "SpandspMissing",
           "SpandspT38Gateway", "SpandspT38Terminal", "T30Stats", "available", "lib"]
