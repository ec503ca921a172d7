"""Software fax modems on 8 kHz audio (``SAMPLE_RATE``; sans-IO).

Public factory (see :mod:`faxcore.modem.base` for the full transmitter/receiver contract)::

    from faxcore import modem
    tx = modem.transmitter("v21", 300)
    tx.send(bits)                 # numpy array / bytes of 0/1
    audio = tx.tx(modem.SAMPLE_RATE)   # one second of int16 samples
    rx = modem.receiver("v21", 300)
    rx.rx(audio); rx.bits(); rx.events(); rx.trained

Names and bit rates: ``"v21"`` 300, ``"v27ter"`` 2400/4800, ``"v29"`` 7200/9600,
``"v17"`` 7200/9600/12000/14400 (``MODEMS``; ``PAGE_MODEMS`` are the ones that carry
pages, fastest first). Each name maps to the module ``faxcore.modem.<name>``,
imported on first use, which exposes ``Transmitter(bit_rate, **options)`` and
``Receiver(bit_rate, **options)``.

Also here: G.711 (:mod:`faxcore.modem.g711`), CNG/CED tones (:mod:`faxcore.modem.tones`),
HDLC (:mod:`faxcore.modem.hdlc`), level/noise helpers (:mod:`faxcore.modem.dsp`).
"""

from __future__ import annotations

import importlib

from faxcore.modem.base import SAMPLE_RATE, ModemEvent

__all__ = ["MODEMS", "PAGE_MODEMS", "SAMPLE_RATE", "ModemEvent", "ModemNotAvailable",
           "available", "receiver", "transmitter"]

#: modem name -> allowed bit rates
MODEMS: dict[str, tuple[int, ...]] = {
    "v21": (300,),
    "v27ter": (2400, 4800),
    "v29": (7200, 9600),
    "v17": (7200, 9600, 12000, 14400),
}
#: The modems that carry pages (all but V.21, which carries the T.30 commands), fastest
#: first: the order a sender falls back in, the choices of ``faxcore call --modem`` and
#: what a FaxSession offers by default.
PAGE_MODEMS: tuple[str, ...] = tuple(name for name in reversed(MODEMS) if name != "v21")


class ModemNotAvailable(ImportError):
    """The module implementing a known modem is not present (or failed to import)."""


def _module(name: str, bit_rate: int):
    if name not in MODEMS:
        raise ValueError(f"unknown modem {name!r}; expected one of {sorted(MODEMS)}")
    if bit_rate not in MODEMS[name]:
        raise ValueError(f"modem {name!r} does not run at {bit_rate} bit/s; rates: {MODEMS[name]}")
    modname = f"faxcore.modem.{name}"
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        # the modem's module, or a compiled core it needs, is not there (not built yet?)
        if (exc.name or "").startswith("faxcore."):
            raise ModemNotAvailable(
                f"modem {name!r} is not available: cannot import {exc.name} ({exc}); "
                f"run `make build`"
            ) from exc
        raise


def available(name: str) -> bool:
    """True if the module for modem ``name`` can be imported."""
    try:
        _module(name, MODEMS[name][0])
    except ModemNotAvailable:
        return False
    return True


def transmitter(name: str, bit_rate: int, **options):
    """A new transmitter for modem ``name`` at ``bit_rate`` bit/s (see base.py contract)."""
    return _module(name, bit_rate).Transmitter(bit_rate, **options)


def receiver(name: str, bit_rate: int, **options):
    """A new receiver for modem ``name`` at ``bit_rate`` bit/s (see base.py contract)."""
    return _module(name, bit_rate).Receiver(bit_rate, **options)
