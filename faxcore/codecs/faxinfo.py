"""What a received fax page's TIFF tags say about its call, as HylaFAX writes them.

HylaFAX's receiver (and ``faxinfo``, its reader) records the call in each page's IFD:

* ImageDescription (270): the sender's identity (TSI); HylaFAX's further lines (after a
  newline) are caller-ID values, which ``faxinfo`` prints as ``CallID1``...;
* DateTime (306): when the page was received, local time, ``YYYY:MM:DD HH:MM:SS``;
* FaxRecvParams (34908, LONG): the session parameters packed into 32 bits as HylaFAX's
  ``Class2Params::encode`` does (:class:`RecvParams`);
* FaxSubAddress (34909, ASCII): the subaddress (SUB) the sender gave;
* FaxRecvTime (34910, LONG): seconds it took to receive the page (HylaFAX: since the end
  of the previous page, or since the call began for the first; ``faxinfo`` prints their
  sum as ``TimeToRecv``);
* FaxDcs (34911, ASCII): the DCS as received, each FIF octet in hexadecimal, upper case,
  separated by spaces, bit 1 of T.30 Table 2 as the *most* significant bit of the first
  octet (HylaFAX's ``FaxParams::asciiEncode``; octets on the line go least significant
  bit first, so each is bit-reversed), as many octets as the extend bits say.

faxcore adds one tag of its own: FaxcoreNotes (65000, ASCII, in the reusable private
range), its warnings about the page, one per line (a page far longer than its DCS
declared, see :mod:`faxcore.pagestore`). Other readers show it as an unknown tag.

:class:`FaxInfo` is those values for one page (``Page.fax_info`` in
:mod:`faxcore.codecs.tiff`); :meth:`FaxInfo.describe` gives them as label/value lines,
labels as ``faxinfo`` prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FaxInfo", "RecvParams", "dcs_hex", "dcs_from_hex", "clean_ascii",
           "IMAGE_DESCRIPTION", "DATE_TIME", "FAX_RECV_PARAMS", "FAX_SUB_ADDRESS",
           "FAX_RECV_TIME", "FAX_DCS", "FAXCORE_NOTES"]

IMAGE_DESCRIPTION = 270
DATE_TIME = 306
FAX_RECV_PARAMS = 34908
FAX_SUB_ADDRESS = 34909
FAX_RECV_TIME = 34910
FAX_DCS = 34911
FAXCORE_NOTES = 65000

DATE_TIME_FORMAT = "%Y:%m:%d %H:%M:%S"
_DATE_TIME_RE = re.compile(r"\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}")

# HylaFAX's codes (libhylafax/class2.h). VR: the one-hot vertical resolution, of which
# encode() keeps the metric values 0-4 (standard, fine, R8 superfine, R16).
_VR = {"standard": 0, "fine": 1, "superfine": 2, "hyperfine": 4}
_VR_NAME = {v: k for k, v in _VR.items()}
_WD = {1728: 0, 2048: 1, 2432: 2}
_WD_PIXELS = {v: k for k, v in _WD.items()}
_LN = {"a4": 0, "b4": 1, "unlimited": 2}
_LN_NAME = {0: "a4", 1: "b4", 2: "unlimited", 3: "a4"}  # 3: US letter, read as A4 (HylaFAX)
_DF = {"mh": 0, "mr": 1, "mmr": 3}
_DF_NAME = {0: "mh", 1: "mr", 2: "uncompressed", 3: "mmr"}
# minimum scan line time (ms, the DCS values) <-> HylaFAX's ST codes; the DIS-only
# "half at fine" codes 2, 4, 6 read as their full value
_ST = {0: 0, 5: 1, 10: 3, 20: 5, 40: 7}
_ST_MS = {0: 0, 1: 5, 2: 10, 3: 10, 4: 20, 5: 20, 6: 40, 7: 40}
_VERSION = 1 << 21  # encode()'s layout; values without it are HylaFAX's original layout

_FORMAT_LABEL = {"mh": "1-D MH", "mr": "2-D MR", "mmr": "2-D MMR",
                 "uncompressed": "2-D Uncompressed Mode"}


@dataclass(frozen=True)
class RecvParams:
    """The session parameters of a received page, as FaxRecvParams packs them:
    ``resolution`` (standard, fine, superfine, hyperfine), ``bit_rate`` (bit/s),
    ``width`` (pixels; 0 for a code that names none), ``length`` (a4, b4, unlimited: what
    the DCS declared), ``data_format`` (mh, mr, mmr), ``ecm`` and ``scan_ms`` (minimum
    scan line time)."""

    resolution: str
    bit_rate: int
    width: int
    length: str
    data_format: str
    ecm: bool
    scan_ms: int = 0

    def encode(self) -> int:
        """The FaxRecvParams value (HylaFAX's current layout, version bit 21 set):
        bits 0-2 resolution, 3-6 rate code (2400 bit/s steps from 0), 9-11 width,
        12-13 length, 14-15 data format, 16 ECM, 17 BFT (0), 18-20 scan time."""
        if self.resolution not in _VR:
            raise ValueError(f"no FaxRecvParams code for resolution {self.resolution!r}")
        if self.bit_rate % 2400 or not 2400 <= self.bit_rate <= 33600:
            raise ValueError(f"no FaxRecvParams code for {self.bit_rate} bit/s")
        if self.width not in _WD:
            raise ValueError(f"no FaxRecvParams code for a width of {self.width} pixels")
        if self.data_format not in _DF:
            raise ValueError(f"no FaxRecvParams code for data format {self.data_format!r}")
        if self.scan_ms not in _ST:
            raise ValueError(f"no FaxRecvParams code for a {self.scan_ms} ms scan time")
        return (_VR[self.resolution]
                | (self.bit_rate // 2400 - 1) << 3
                | _WD[self.width] << 9
                | _LN[self.length] << 12
                | _DF[self.data_format] << 14
                | int(self.ecm) << 16
                | _ST[self.scan_ms] << 18
                | _VERSION)

    @classmethod
    def decode(cls, value: int) -> RecvParams:
        """A FaxRecvParams value, either of HylaFAX's layouts (as its ``decode``)."""
        if value >> 21 == 1:
            vr, br, wd = value & 7, value >> 3 & 15, value >> 9 & 7
            ln, df, ec, st = value >> 12 & 3, value >> 14 & 3, value >> 16 & 1, value >> 18 & 7
        else:   # the original layout: one resolution bit, three rate bits
            vr, br, wd = value & 1, value >> 1 & 7, value >> 4 & 7
            ln, df, ec, st = value >> 7 & 3, value >> 9 & 3, value >> 11 & 1, value >> 13 & 7
        return cls(resolution=_VR_NAME.get(vr, f"code {vr}"), bit_rate=2400 * (br + 1),
                   width=_WD_PIXELS.get(wd, 0), length=_LN_NAME[ln],
                   data_format=_DF_NAME[df], ecm=bool(ec), scan_ms=_ST_MS[st])


def _reverse(octet: int) -> int:
    return int(f"{octet:08b}"[::-1], 2)


def dcs_hex(fif: bytes) -> str:
    """A DCS FIF (octets as on the line) as FaxDcs holds it: see the module docstring.
    Octets after one whose extend bit (bit 24, 32, ...) is clear are left out."""
    fif = bytes(fif)
    n = min(len(fif), 3)
    while n < len(fif) and fif[n - 1] & 0x80:   # extend bit: the octet's last on the line
        n += 1
    return " ".join(f"{_reverse(o):02X}" for o in fif[:n])


def dcs_from_hex(text: str) -> bytes:
    """The FIF octets (line order) of a FaxDcs string; ValueError if it is not hex."""
    return bytes(_reverse(o) for o in bytes.fromhex(text))


def clean_ascii(text: str) -> str:
    """``text`` as a TIFF ASCII value: printable 7-bit ASCII, anything else '?' (as
    ``faxinfo`` shows it). An ident from the line may hold any octet, NUL included."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _hms(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class FaxInfo:
    """The call metadata of one received page (see the module docstring); a field that
    is empty or None is not written. ``params`` decodes ``recv_params``."""

    sender: str = ""                 # ImageDescription, first line: the sender's TSI
    received: str = ""               # DateTime, "YYYY:MM:DD HH:MM:SS" local time
    recv_time: int | None = None     # FaxRecvTime: seconds to receive the page
    recv_params: int | None = None   # FaxRecvParams (RecvParams.encode())
    sub_address: str = ""            # FaxSubAddress: the SUB the sender gave
    dcs: str = ""                    # FaxDcs: the DCS as received (dcs_hex)
    notes: tuple[str, ...] = ()      # FaxcoreNotes: faxcore's warnings about the page

    def __post_init__(self) -> None:
        if self.received and not _DATE_TIME_RE.fullmatch(self.received):
            raise ValueError(f"DateTime must be 'YYYY:MM:DD HH:MM:SS', got {self.received!r}")
        for name in ("recv_time", "recv_params"):
            v = getattr(self, name)
            if v is not None and not 0 <= v < 1 << 32:
                raise ValueError(f"{name} must fit a TIFF LONG, got {v}")
        self.notes = tuple(self.notes)

    @property
    def params(self) -> RecvParams | None:
        return None if self.recv_params is None else RecvParams.decode(self.recv_params)

    def describe(self) -> list[tuple[str, str]]:
        """The values as (label, text) lines, in ``faxinfo``'s order and with its labels
        where it has one (Sender, SubAddr, Received, TimeToRecv, SignalRate, DataFormat,
        ErrCorrect), then PageLength (the length the DCS declared) and a Note per note.
        Only what the page records."""
        out: list[tuple[str, str]] = []
        if self.sender:
            out.append(("Sender", self.sender))
        if self.sub_address:
            out.append(("SubAddr", self.sub_address))
        if self.received:
            out.append(("Received", self.received))
        if self.recv_time is not None:
            out.append(("TimeToRecv", _hms(self.recv_time)))
        p = self.params
        if p is not None:
            out += [("SignalRate", f"{p.bit_rate} bit/s"),
                    ("DataFormat", _FORMAT_LABEL.get(p.data_format, p.data_format)),
                    ("ErrCorrect", "Yes" if p.ecm else "No"),
                    ("PageLength", {"a4": "A4", "b4": "B4"}.get(p.length, p.length))]
        if self.dcs:
            out.append(("DCS", self.dcs))
        out += [("Note", n) for n in self.notes]
        return out

    def tags(self) -> list[tuple[int, int, list]]:
        """The IFD entries (tag, TIFF type, values) that record this page's values."""
        out: list[tuple[int, int, list]] = []
        if self.sender:
            out.append((IMAGE_DESCRIPTION, 2, [clean_ascii(self.sender)]))
        if self.received:
            out.append((DATE_TIME, 2, [self.received]))
        if self.recv_params is not None:
            out.append((FAX_RECV_PARAMS, 4, [self.recv_params]))
        if self.sub_address:
            out.append((FAX_SUB_ADDRESS, 2, [clean_ascii(self.sub_address)]))
        if self.recv_time is not None:
            out.append((FAX_RECV_TIME, 4, [self.recv_time]))
        if self.dcs:
            out.append((FAX_DCS, 2, [clean_ascii(self.dcs)]))
        if self.notes:
            out.append((FAXCORE_NOTES, 2, ["\n".join(clean_ascii(n) for n in self.notes)]))
        return out

    @classmethod
    def from_tags(cls, tags: dict[int, tuple]) -> FaxInfo | None:
        """The values of an IFD's tags ({tag: values} as the TIFF reader parses them);
        None when it has none of them. A value of the wrong type is ignored."""

        def text(tag: int) -> str:
            v = tags.get(tag, ())
            return v[0] if v and isinstance(v[0], str) else ""

        def long(tag: int) -> int | None:
            v = tags.get(tag, ())
            return v[0] if len(v) == 1 and isinstance(v[0], int) and 0 <= v[0] < 1 << 32 \
                else None

        received = text(DATE_TIME)
        info = cls(sender=text(IMAGE_DESCRIPTION).split("\n", 1)[0],
                   received=received if _DATE_TIME_RE.fullmatch(received) else "",
                   recv_time=long(FAX_RECV_TIME), recv_params=long(FAX_RECV_PARAMS),
                   sub_address=text(FAX_SUB_ADDRESS), dcs=text(FAX_DCS),
                   notes=tuple(n for n in text(FAXCORE_NOTES).split("\n") if n))
        return None if info == cls() else info
