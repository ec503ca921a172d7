"""Class 1 (ITU-T T.31 / EIA-578) vocabulary shared by the driver (:mod:`.dte`) and the
emulator (:mod:`.dce`).

* DLE escaping: data between DTE and DCE is sent as is, except DLE (0x10) which is
  doubled; ``<DLE><ETX>`` ends a frame or a data stream. Any other ``<DLE>x`` pair is
  not data (T.31 reserves some, e.g. ``<DLE><SUB>`` = two DLEs); both ends drop it.
* Modulation numbers of ``+FTM``/``+FRM`` (``+FTH``/``+FRH``): 3 = V.21 ch 2 (300 bit/s),
  24/48 = V.27ter, 72/96 = V.29, 73/97/121/145 = V.17 long training and 74/98/122/146 the
  same rates with short training. :data:`MODULATIONS` is faxcore's one table of them.
* Result codes: :data:`RESULT_CODES` (``ATV0`` numbers); ``CAN`` aborts a receive.
* Numbers on the line (``+FTM=?`` answers, ``ATS7=60``, ``AT+FTM=96``) are ASCII digits
  only: :func:`parse_number` / :func:`scan_number` / :func:`parse_code_list`, used by both
  the driver and the emulator. ``int()`` and ``str.isdigit()`` are not: they accept
  superscripts (``'²'.isdigit()``, which ``int()`` then refuses), Arabic-Indic and
  fullwidth digits, signs, spaces and underscores.
* Caps shared by both sides (a modem on a serial line or a DTE on a pty may send anything,
  without end): :data:`MAX_FRAME` and :data:`MAX_DATA`.
"""

from __future__ import annotations

import re

DLE = 0x10
ETX = 0x03
SUB = 0x1A  # <DLE><SUB>: two DLE data octets (T.31 8.3.3.1)
CAN = b"\x18"  # any character aborts +FRH/+FRM/+FRS; the driver sends this one

#: verbose result code -> what a modem sends after ``ATV0`` (V.250 6.2.6; T.31 8.5.2)
RESULT_CODES: dict[str, int | str] = {
    "OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4, "NO DIALTONE": 6,
    "BUSY": 7, "NO ANSWER": 8, "+FCERROR": "+F4"}

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

#: Longest HDLC frame either side takes between ``<DLE><ETX>``s (address to FCS). T.30
#: frames are far shorter (an NSF stays under 256 octets, an ECM frame is 64 or 256
#: octets of data); 4096 is faxcore's HDLC limit (:data:`faxcore.modem.hdlc.MAX_FRAME`).
MAX_FRAME = 4096
#: Longest ``+FRM``/``+FTM`` data stream either side takes (one TCF, one ECM burst or one
#: non-ECM page): 8 MiB. The worst a page can be is one of B4 width (2048 pels) at
#: superfine resolution (5606 rows) with every pel alternating, MH-coded at 4.5 bits a
#: pel: 6.5 MB (over an hour at 14400 bit/s); an ECM burst is under 100 KB and a TCF
#: under 3 KB. Beyond it the data is garbage: the driver ends the call, the emulator
#: stops sending and answers ERROR.
MAX_DATA = 8 << 20
#: Longest decimal number taken. Class 1 numbers have three digits (modulations up to 146,
#: S-registers and +FTS/+FRS to 255); leading zeros are allowed, up to this many digits.
MAX_DIGITS = 20

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

__all__ = ["CAN", "DLE", "ETX", "FAST_CODES", "MAX_DATA", "MAX_DIGITS", "MAX_FRAME",
           "MODULATIONS", "RESULT_CODES", "SUB", "DleDecoder", "ascii_upper", "dle_escape",
           "modulation_code", "parse_code_list", "parse_number", "scan_number"]


def ascii_upper(text: str) -> str:
    """``text`` with ASCII a-z upper-cased and nothing else changed. ``str.upper()`` turns
    ``'ß'`` (a latin-1 octet of line noise) into ``'SS'``: indices found in its result do
    not fit the original any more."""
    return text.translate(_UPPER)


def parse_number(text: str) -> int | None:
    """``text`` as a decimal number of ASCII digits only (at most :data:`MAX_DIGITS`), or
    ``None``: empty, a sign, a space, ``'²'``, ``'٣'``, ``'1_0'`` are not numbers."""
    if len(text) > MAX_DIGITS or _DIGITS.fullmatch(text) is None:
        return None
    return int(text)


def scan_number(text: str, pos: int) -> tuple[int | None, int]:
    """The ASCII decimal number that starts at ``text[pos]``, and the index after it, as
    an AT command parser reads ``S7=60``: ``(None, pos)`` when no digit is there, ``(None,
    end)`` when it has more than :data:`MAX_DIGITS` digits."""
    m = _DIGITS.match(text, pos)
    if m is None:
        return None, pos
    return parse_number(m.group()), m.end()


def parse_code_list(text: str) -> set[int] | None:
    """The Class 1 modulation numbers a ``+FTM=?``/``+FRM=?`` answer lists: numbers and
    ranges separated by commas, ``24,48,72,96`` or ``(24-48),96``. Only the numbers of
    :data:`MODULATIONS` are kept; a range is intersected with them, never expanded (a
    modem answering ``1-99999999999`` costs nothing). ``None`` if ``text`` is not such a
    list (another line the modem sent, or garbage)."""
    body = text.replace("(", "").replace(")", "").replace(" ", "")
    if not body:
        return None
    out: set[int] = set()
    for part in body.split(","):
        lo, dash, hi = part.partition("-")
        a = parse_number(lo)
        b = parse_number(hi) if dash else a
        if a is None or b is None:
            return None
        out.update(c for c in MODULATIONS if a <= c <= b)
    return out


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
