"""T.30 HDLC frames and FCF (facsimile control field) codes.

A frame on the line is: address 0xFF, control 0x03 (more frames follow) or 0x13 (final
frame, the line turns round after it), FCF, FIF (facsimile information field). The FCS
(frame check sequence, CRC-16) is added and checked by the modem layer, as in Class 1.

Octets are kept in **line order**: each octet is sent LSB first, so T.30's bit patterns
(written in transmission order, first bit leftmost) read right-to-left give our values.
"Spec-order" hex (TSB-85 scripts, HylaFAX constants) is each octet bit-reversed:
:func:`from_spec_hex` / :func:`to_spec_hex` convert.

The X bit (first transmitted bit of the FCF, line mask 0x01) is 1 in frames sent by the
station that received a valid DIS, 0 in frames from the station that sent it.
"""

from __future__ import annotations

from dataclasses import dataclass

ADDRESS = 0xFF
CONTROL_NOT_FINAL = 0x03
CONTROL_FINAL = 0x13

X_BIT = 0x01

# Frames whose whole octet is the code (no X bit): the phase-B identification group
# (DIS/DTC differ exactly in the X position) and the ECM in-block frames.
_FIXED: dict[str, int] = {
    "DIS": 0x80, "CSI": 0x40, "NSF": 0x20,
    "DTC": 0x81, "CIG": 0x41, "NSC": 0x21, "PWD": 0xC1, "SEP": 0xA1, "PSA": 0x61,
    "CIA": 0xE1, "ISP": 0x11,
    "FCD": 0x06, "CCD": 0x46, "RCP": 0x86,
}

# Codes carrying the X bit; values with X = 0.
_XCODES: dict[str, int] = {
    "DCS": 0x82, "TSI": 0x42, "NSS": 0x22, "SUB": 0xC2, "SID": 0xA2, "TSA": 0x62, "IRA": 0xE2,
    "CTC": 0x12,
    "CFR": 0x84, "FTT": 0x44, "CTR": 0xC4, "CSA": 0x24,
    "EOM": 0x8E, "MPS": 0x4E, "EOR": 0xCE, "EOP": 0x2E, "RR": 0x6E, "EOS": 0x1E,
    "PRI-EOM": 0x9E, "PRI-MPS": 0x5E, "PRI-EOP": 0x3E, "PPS": 0xBE,
    "MCF": 0x8C, "RTN": 0x4C, "RTP": 0xCC, "PIN": 0x2C, "PIP": 0xAC, "PID": 0x6C,
    "RNR": 0xEC, "ERR": 0x1C, "PPR": 0xBC, "FDM": 0xFC,
    "DCN": 0xFA, "CRP": 0x1A, "FNV": 0xCA, "TR": 0x6A, "TNR": 0xEA, "DNK": 0x9A,
}

FCF_CODES: dict[str, int] = {**_FIXED, **_XCODES}
"""Every known FCF name -> line-order value (X = 0 for X-carrying codes)."""

_BY_FIXED = {v: k for k, v in _FIXED.items()}
_BY_X = {v: k for k, v in _XCODES.items()}

NULL_FCF2 = 0x00
"""FCF2 of a PPS/EOR whose block does not end the page (PPS-NULL)."""

# Post-page messages (the FCF2 values of PPS/EOR are these, with X).
POST_PAGE_COMMANDS = ("MPS", "EOM", "EOP", "PRI-MPS", "PRI-EOM", "PRI-EOP")


def _reverse_table() -> bytes:
    return bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


REVERSE = _reverse_table()
"""Bit-reversal of each octet value (line order <-> spec order)."""


def bitrev(data: bytes) -> bytes:
    """Reverse the bit order inside every octet."""
    return bytes(data).translate(REVERSE)


def from_spec_hex(text: str) -> bytes:
    """Spec-order hex such as TSB-85's ``"FF C8 41 00 50 00"`` -> line-order bytes."""
    return bitrev(bytes.fromhex(text))


def to_spec_hex(data: bytes) -> str:
    return bitrev(data).hex(" ").upper()


def fcf_name(fcf: int) -> str:
    """Name of a line-order FCF octet (X bit ignored where the code has one)."""
    fcf &= 0xFF
    name = _BY_FIXED.get(fcf)
    if name is not None:
        return name
    name = _BY_X.get(fcf & ~X_BIT & 0xFF)
    if name is not None:
        return name
    if fcf == NULL_FCF2:
        return "NULL"
    return f"FCF?{fcf:02X}"


def fcf_value(name: str, x: bool = False) -> int:
    """Line-order FCF of ``name``; ``x`` sets the X bit for codes that carry it."""
    if name == "NULL":
        return NULL_FCF2
    if name in _FIXED:
        return _FIXED[name]
    try:
        return _XCODES[name] | (X_BIT if x else 0)
    except KeyError:
        raise ValueError(f"unknown FCF name {name!r}") from None


def has_x(name: str) -> bool:
    return name in _XCODES


class FrameError(ValueError):
    """A received octet string is not a T.30 HDLC frame."""


@dataclass(frozen=True)
class Frame:
    """One T.30 frame without its FCS. ``fcf`` is the line-order octet (X included)."""

    fcf: int
    fif: bytes = b""
    final: bool = True

    @property
    def name(self) -> str:
        return fcf_name(self.fcf)

    @property
    def x(self) -> bool:
        return has_x(self.name) and bool(self.fcf & X_BIT)

    def to_bytes(self) -> bytes:
        ctl = CONTROL_FINAL if self.final else CONTROL_NOT_FINAL
        return bytes((ADDRESS, ctl, self.fcf)) + bytes(self.fif)

    @property
    def fcf2_name(self) -> str | None:
        """For PPS/EOR: the name of the FCF2 (first FIF octet)."""
        if self.name in ("PPS", "EOR") and self.fif:
            return fcf_name(self.fif[0])
        return None

    def describe(self) -> str:
        """Name as a person reads it in a trace: ``PPS-MPS``, ``EOR-NULL``, ``DCS``."""
        sub = self.fcf2_name
        return f"{self.name}-{sub}" if sub else self.name

    @classmethod
    def build(cls, name: str, fif: bytes = b"", *, x: bool = False, final: bool = True) -> Frame:
        return cls(fcf_value(name, x), bytes(fif), final)

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        """Parse address, control, FCF, FIF (no FCS). Raises :class:`FrameError`."""
        data = bytes(data)
        if len(data) < 3:
            raise FrameError(f"frame too short ({len(data)} octets)")
        if data[0] != ADDRESS:
            raise FrameError(f"bad address octet {data[0]:02X}")
        if data[1] not in (CONTROL_FINAL, CONTROL_NOT_FINAL):
            raise FrameError(f"bad control octet {data[1]:02X}")
        return cls(data[2], data[3:], data[1] == CONTROL_FINAL)


def pps_fif(fcf2: int, page: int, block: int, frames: int) -> bytes:
    """FIF of a PPS (partial page signal): FCF2, page counter, block counter and
    number of frames in the block minus one (0 if none), each modulo 256."""
    return bytes((fcf2 & 0xFF, page & 0xFF, block & 0xFF, max(frames - 1, 0) & 0xFF))
