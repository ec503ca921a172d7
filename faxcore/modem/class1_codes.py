"""Class 1 (ITU-T T.31 / EIA-578) vocabulary shared by the driver and the emulator.

* DLE escaping: data between DTE and DCE is sent as is, except DLE (0x10) which is
  doubled; ``<DLE><ETX>`` ends a frame or a data stream. Any other ``<DLE>x`` pair is
  not data (T.31 reserves some, e.g. ``<DLE><SUB>`` = two DLEs); both ends drop it.
* Modulation numbers of ``+FTM``/``+FRM`` (``+FTH``/``+FRH``): 3 = V.21 ch 2 (300 bit/s),
  24/48 = V.27ter, 72/96 = V.29, 73/97/121/145 = V.17 long training and 74/98/122/146 the
  same rates with short training.
"""

from __future__ import annotations

DLE = 0x10
ETX = 0x03
SUB = 0x1A  # <DLE><SUB>: two DLE data octets (T.31 8.3.3.1)

#: Class 1 modulation number -> (faxcore modem name, bit rate, short training)
MODULATIONS: dict[int, tuple[str, int, bool]] = {
    3: ("v21", 300, False),
    24: ("v27ter", 2400, False),
    48: ("v27ter", 4800, False),
    72: ("v29", 7200, False),
    96: ("v29", 9600, False),
    73: ("v17", 7200, False),
    74: ("v17", 7200, True),
    97: ("v17", 9600, False),
    98: ("v17", 9600, True),
    121: ("v17", 12000, False),
    122: ("v17", 12000, True),
    145: ("v17", 14400, False),
    146: ("v17", 14400, True),
}
FAST_CODES = tuple(c for c in MODULATIONS if c != 3)

__all__ = ["DLE", "ETX", "FAST_CODES", "MODULATIONS", "DleDecoder", "dle_escape",
           "modulation_code"]


def dle_escape(data: bytes) -> bytes:
    """``data`` with every DLE doubled (no terminating ``<DLE><ETX>``)."""
    return bytes(data).replace(b"\x10", b"\x10\x10")


def modulation_code(name: str, rate: int, short_train: bool = False) -> int:
    """The Class 1 number for a modem and rate (``short_train`` only changes V.17)."""
    for code, (n, r, s) in MODULATIONS.items():
        if n == name and r == rate and s == (short_train and name == "v17"):
            return code
    raise ValueError(f"no Class 1 modulation for {name} at {rate} bit/s")


class DleDecoder:
    """Undoes DLE escaping of a stream that arrives in pieces.

    ``feed(chunk)`` returns ``(data, ended, rest)``: the data octets decoded, whether a
    ``<DLE><ETX>`` was met, and the input after it (unconsumed, when ``ended``). A lone DLE
    at the end of a chunk is kept for the next one. ``junk`` counts ``<DLE>x`` pairs that
    meant nothing (dropped)."""

    def __init__(self) -> None:
        self._pending_dle = False
        self.junk = 0

    def reset(self) -> None:
        self._pending_dle = False

    def feed(self, chunk: bytes) -> tuple[bytes, bool, bytes]:
        out = bytearray()
        i, n = 0, len(chunk)
        while i < n:
            if self._pending_dle:
                self._pending_dle = False
                c = chunk[i]
                i += 1
                if c == ETX:
                    return bytes(out), True, bytes(chunk[i:])
                if c == DLE:
                    out.append(DLE)
                elif c == SUB:
                    out += b"\x10\x10"
                else:
                    self.junk += 1
                continue
            j = chunk.find(b"\x10", i)
            if j < 0:
                out += chunk[i:]
                break
            out += chunk[i:j]
            self._pending_dle = True
            i = j + 1
        return bytes(out), False, b""
