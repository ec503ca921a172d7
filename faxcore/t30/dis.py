"""DIS / DTC / DCS information fields (T.30 Table 2) and mode negotiation.

DIS (digital identification signal) and DTC (digital transmit command, polling) carry a
station's capabilities; DCS (digital command signal) the mode the transmitter chose. Bit
``n`` (1-based, as numbered in Table 2) lives in FIF octet ``(n-1)//8`` with line-order mask
``1 << ((n-1) % 8)``. Bits 24, 32, 40, ... are *extend* bits: 1 = another octet follows.
We write at least 3 octets, honour the extend bits on reading, and keep every bit we do
not interpret in :attr:`Capabilities.other_bits` (unknown bits are tolerated).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from faxcore.t30.modem_if import (
    V17_7200,
    V17_9600,
    V17_12000,
    V17_14400,
    V27_2400,
    V27_4800,
    V29_7200,
    V29_9600,
    Modulation,
)

# Bit numbers (Table 2) we interpret.
B_T38 = 3
B_V8 = 6
B_ECM64_PREFERRED = 7
B_READY_TO_POLL = 9
B_RECEIVE = 10
B_RATE = (11, 12, 13, 14)
B_FINE = 15
B_MR = 16
B_WIDTH = (17, 18)
B_LENGTH = (19, 20)
B_SCAN = (21, 22, 23)
B_UNCOMPRESSED = 26
B_ECM = 27
B_ECM64 = 28
B_MMR = 31
B_FNV = 33
B_SUPERFINE = 41
B_R300 = 42
B_R16 = 43
B_INCH = 44
B_METRIC = 45
B_HALF_SUPERFINE = 46
B_SEP = 47
B_SUB = 49
B_PWD = 50
B_LETTER = 76
B_LEGAL = 77
B_T85 = 78      # T.85 (JBIG) basic; ECM only
B_T85_L0 = 79   # T.85 optional L0 (stripes of other than 128 lines); with bit 78

_INTERPRETED = {B_ECM64_PREFERRED, B_READY_TO_POLL, B_RECEIVE, *B_RATE, B_FINE, B_MR, *B_WIDTH,
                *B_LENGTH, *B_SCAN, B_ECM, B_ECM64, B_MMR, B_SUPERFINE, B_INCH, B_METRIC,
                B_HALF_SUPERFINE, B_SEP, B_SUB, B_PWD, B_LETTER, B_LEGAL, B_T85, B_T85_L0}

# DCS rate codes: bits (11, 12, 13, 14) -> modulation.
_DCS_RATE = {
    (0, 0, 0, 0): V27_2400,
    (0, 1, 0, 0): V27_4800,
    (1, 0, 0, 0): V29_9600,
    (1, 1, 0, 0): V29_7200,
    (0, 0, 0, 1): V17_14400,
    (0, 1, 0, 1): V17_12000,
    (1, 0, 0, 1): V17_9600,
    (1, 1, 0, 1): V17_7200,
}
_RATE_DCS = {v: k for k, v in _DCS_RATE.items()}

# DIS rate codes -> modem families offered.
_DIS_RATE = {
    (0, 0, 0, 0): frozenset({"v27ter-fallback"}),
    (0, 1, 0, 0): frozenset({"v27ter"}),
    (1, 0, 0, 0): frozenset({"v29"}),
    (1, 1, 0, 0): frozenset({"v27ter", "v29"}),
    (1, 1, 0, 1): frozenset({"v27ter", "v29", "v17"}),
    (1, 1, 1, 0): frozenset({"v27ter", "v29"}),  # HylaFAX: + V.33, which we do not have
}

# Minimum scan line time codes, bits (21, 22, 23) -> ms (at 3.85 l/mm); DIS-only codes
# mean "this at 3.85 l/mm, half of it at 7.7 l/mm".
_SCAN = {(0, 0, 0): 20, (1, 0, 0): 5, (0, 1, 0): 10, (0, 0, 1): 40, (1, 1, 1): 0}
_SCAN_HALF = {(1, 1, 0): 20, (0, 1, 1): 10, (1, 0, 1): 40}
_SCAN_CODE = {v: k for k, v in _SCAN.items()}

WIDTH_PIXELS = {0: 1728, 1: 2048, 2: 2432}
"""Width code (0 = 215 mm, 1 = 255 mm, 2 = 303 mm) -> pixels at R8."""
PIXELS_WIDTH = {v: k for k, v in WIDTH_PIXELS.items()}

RESOLUTIONS = ("standard", "fine", "superfine")
SCHEMES = ("mh", "mr", "mmr", "jbig")


# ---- raw bit fields ------------------------------------------------------------------

def bits_from_fif(fif: bytes) -> set[int]:
    """Bit numbers set in a DIS/DTC/DCS FIF, honouring the extend bits.

    Octets after one whose extend bit is 0 are ignored; a missing octet promised by an
    extend bit is treated as all zeros (a short frame is tolerated)."""
    bits: set[int] = set()
    n = len(fif)
    for i in range(n):
        octet = fif[i]
        for j in range(8):
            if octet & (1 << j):
                bits.add(8 * i + j + 1)
        # Octets 0..2 always count; later octets only if the previous one said "extend".
        if i >= 2 and not octet & 0x80:
            break
    return bits


def fif_from_bits(bits: set[int] | frozenset[int]) -> bytes:
    """Encode bit numbers to a FIF of at least 3 octets, setting the extend bits."""
    data_bits = {b for b in bits if b < 24 or b % 8 != 0}
    top = max(data_bits, default=1)
    n = max(3, (top + 7) // 8)
    out = bytearray(n)
    for b in data_bits:
        out[(b - 1) // 8] |= 1 << ((b - 1) % 8)
    for i in range(2, n - 1):
        out[i] |= 0x80
    return bytes(out)


def _code(bits: set[int], numbers: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if b in bits else 0 for b in numbers)


def _set_code(bits: set[int], numbers: tuple[int, ...], code: tuple[int, ...]) -> None:
    for b, v in zip(numbers, code, strict=True):
        if v:
            bits.add(b)
        else:
            bits.discard(b)


# ---- DIS / DTC ----------------------------------------------------------------------

@dataclass(frozen=True)
class Capabilities:
    """What a station can do, as carried in DIS (or DTC).

    ``modems`` holds the families offered ("v27ter", "v29", "v17"; "v27ter-fallback" =
    V.27ter 2400 only). ``max_width`` is a width code (0/1/2), ``max_length`` one of
    "a4", "b4", "unlimited". ``min_scan_ms`` is the receiver's minimum scan line time at
    3.85 l/mm; ``scan_half_fine`` says it halves at 7.7 l/mm. ``jbig``: T.85 (bit 78),
    ``jbig_l0``: T.85 optional L0 (bit 79); both only with ECM (T.85 requires it)."""

    can_receive: bool = True
    ready_to_poll: bool = False
    modems: frozenset[str] = frozenset({"v27ter", "v29", "v17"})
    fine: bool = True
    superfine: bool = True
    mr: bool = True
    mmr: bool = True
    ecm: bool = True
    ecm_64_preferred: bool = False
    max_width: int = 0
    max_length: str = "unlimited"
    min_scan_ms: int = 0
    scan_half_fine: bool = False
    inch: bool = False
    metric: bool = True
    sep: bool = False
    sub: bool = True
    pwd: bool = False
    letter: bool = False
    legal: bool = False
    jbig: bool = False
    jbig_l0: bool = False
    other_bits: frozenset[int] = field(default_factory=frozenset)

    def modulations(self) -> list[Modulation]:
        """Every fast modulation offered, in fallback order (fastest first)."""
        return fallback_order(self.modems)

    def to_fif(self) -> bytes:
        bits: set[int] = set(self.other_bits)
        flags = {
            B_ECM64_PREFERRED: self.ecm_64_preferred, B_READY_TO_POLL: self.ready_to_poll,
            B_RECEIVE: self.can_receive, B_FINE: self.fine, B_MR: self.mr,
            B_ECM: self.ecm, B_MMR: self.mmr and self.ecm, B_SUPERFINE: self.superfine,
            B_INCH: self.inch, B_METRIC: self.metric, B_SEP: self.sep, B_SUB: self.sub,
            B_PWD: self.pwd, B_LETTER: self.letter, B_LEGAL: self.legal,
            B_T85: self.jbig and self.ecm, B_T85_L0: self.jbig and self.jbig_l0 and self.ecm,
        }
        for b, on in flags.items():
            if on:
                bits.add(b)
        m = self.modems
        if "v17" in m:
            code = (1, 1, 0, 1)
        elif "v29" in m and "v27ter" in m:
            code = (1, 1, 0, 0)
        elif "v29" in m:
            code = (1, 0, 0, 0)
        elif "v27ter" in m:
            code = (0, 1, 0, 0)
        else:
            code = (0, 0, 0, 0)
        _set_code(bits, B_RATE, code)
        _set_code(bits, B_WIDTH, {0: (0, 0), 1: (1, 0), 2: (0, 1)}[self.max_width])
        _set_code(bits, B_LENGTH, {"a4": (0, 0), "b4": (1, 0), "unlimited": (0, 1)}[self.max_length])
        if self.scan_half_fine and self.min_scan_ms in (10, 20, 40):
            scan = {v: k for k, v in _SCAN_HALF.items()}[self.min_scan_ms]
        else:
            scan = _SCAN_CODE[self.min_scan_ms]
        _set_code(bits, B_SCAN, scan)
        return fif_from_bits(bits)

    @classmethod
    def from_fif(cls, fif: bytes) -> Capabilities:
        bits = bits_from_fif(fif)
        rate = _code(bits, B_RATE)
        modems = _DIS_RATE.get(rate)
        if modems is None:
            # Reserved combination: believe the individual bits as far as they go.
            fam = set()
            if rate[0]:
                fam.add("v29")
            if rate[1]:
                fam.add("v27ter")
            if rate[0] and rate[1] and rate[3]:
                fam.add("v17")
            modems = frozenset(fam or {"v27ter-fallback"})
        width = {(0, 0): 0, (1, 0): 1, (0, 1): 2, (1, 1): 0}[_code(bits, B_WIDTH)]
        length = {(0, 0): "a4", (1, 0): "b4", (0, 1): "unlimited", (1, 1): "a4"}[
            _code(bits, B_LENGTH)]
        scan = _code(bits, B_SCAN)
        if scan in _SCAN_HALF:
            min_scan, half = _SCAN_HALF[scan], True
        else:
            min_scan, half = _SCAN[scan], False
        ecm = B_ECM in bits
        return cls(
            can_receive=B_RECEIVE in bits, ready_to_poll=B_READY_TO_POLL in bits,
            modems=modems, fine=B_FINE in bits, superfine=B_SUPERFINE in bits,
            mr=B_MR in bits, mmr=B_MMR in bits and ecm, ecm=ecm,
            ecm_64_preferred=B_ECM64_PREFERRED in bits, max_width=width, max_length=length,
            min_scan_ms=min_scan, scan_half_fine=half, inch=B_INCH in bits,
            metric=B_METRIC in bits, sep=B_SEP in bits, sub=B_SUB in bits, pwd=B_PWD in bits,
            letter=B_LETTER in bits, legal=B_LEGAL in bits,
            jbig=B_T85 in bits and ecm, jbig_l0=B_T85_L0 in bits and B_T85 in bits and ecm,
            other_bits=frozenset(b for b in bits if b not in _INTERPRETED and (b < 24 or b % 8)),
        )


# ---- DCS ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DCSParams:
    """The mode chosen by the transmitter, as carried in DCS. ``scheme`` "jbig" is T.85
    (bit 78, with ECM); ``jbig_l0`` says the BIE may use the optional L0 values (bit 79)."""

    modulation: Modulation = V27_4800
    resolution: str = "standard"
    scheme: str = "mh"
    ecm: bool = False
    ecm_frame_size: int = 256
    width: int = 0
    length: str = "a4"
    min_scan_ms: int = 0
    receive: bool = True
    sub: bool = False
    sid: bool = False
    jbig_l0: bool = False
    other_bits: frozenset[int] = field(default_factory=frozenset)

    @property
    def width_pixels(self) -> int:
        return WIDTH_PIXELS[self.width]

    def min_row_bits(self) -> int:
        """Minimum bits per coded row: rate x minimum scan line time (0 in ECM)."""
        if self.ecm:
            return 0
        return self.modulation.rate * self.min_scan_ms // 1000

    def to_fif(self) -> bytes:
        bits: set[int] = set(self.other_bits)
        if self.receive:
            bits.add(B_RECEIVE)
        _set_code(bits, B_RATE, _RATE_DCS[self.modulation])
        if self.resolution in ("fine", "superfine"):
            bits.add(B_FINE)
        if self.resolution == "superfine":
            bits.discard(B_FINE)
            bits.add(B_SUPERFINE)
        if self.scheme == "mr":
            bits.add(B_MR)
        if self.scheme == "mmr":
            bits.add(B_MMR)
        if self.scheme == "jbig":
            bits.add(B_T85)
            if self.jbig_l0:
                bits.add(B_T85_L0)
        if self.ecm:
            bits.add(B_ECM)
            if self.ecm_frame_size == 64:
                bits.add(B_ECM64)
        _set_code(bits, B_WIDTH, {0: (0, 0), 1: (1, 0), 2: (0, 1)}[self.width])
        _set_code(bits, B_LENGTH, {"a4": (0, 0), "b4": (1, 0), "unlimited": (0, 1)}[self.length])
        _set_code(bits, B_SCAN, _SCAN_CODE[self.min_scan_ms])
        if self.sub:
            bits.add(B_SUB)
        if self.sid:
            bits.add(B_PWD)
        return fif_from_bits(bits)

    @classmethod
    def from_fif(cls, fif: bytes) -> DCSParams:
        """Decode a DCS FIF. Raises ValueError for a rate code that names no modem."""
        bits = bits_from_fif(fif)
        rate = _code(bits, B_RATE)
        if rate not in _DCS_RATE:
            raise ValueError(f"DCS names an invalid data signalling rate code {rate}")
        if B_SUPERFINE in bits:
            res = "superfine"
        elif B_FINE in bits:
            res = "fine"
        else:
            res = "standard"
        ecm = B_ECM in bits
        if B_T85 in bits:  # T.85 beside another coding bit: the T.85 bit wins (as HylaFAX)
            scheme = "jbig"
        elif B_MMR in bits:
            scheme = "mmr"
        elif B_MR in bits:
            scheme = "mr"
        else:
            scheme = "mh"
        width = {(0, 0): 0, (1, 0): 1, (0, 1): 2}.get(_code(bits, B_WIDTH))
        if width is None:
            raise ValueError("DCS names an invalid recording width")
        scan = _code(bits, B_SCAN)
        if scan not in _SCAN:
            raise ValueError(f"DCS names an invalid minimum scan line time code {scan}")
        return cls(
            modulation=_DCS_RATE[rate], resolution=res, scheme=scheme, ecm=ecm,
            ecm_frame_size=64 if B_ECM64 in bits else 256, width=width,
            length={(0, 0): "a4", (1, 0): "b4", (0, 1): "unlimited", (1, 1): "a4"}[
                _code(bits, B_LENGTH)],
            min_scan_ms=_SCAN[scan], receive=B_RECEIVE in bits, sub=B_SUB in bits,
            sid=B_PWD in bits, jbig_l0=B_T85 in bits and B_T85_L0 in bits,
            other_bits=frozenset(b for b in bits if b not in _INTERPRETED and (b < 24 or b % 8)),
        )

    def with_modulation(self, modulation: Modulation) -> DCSParams:
        return replace(self, modulation=modulation)


def ctc_fif(dcs: DCSParams) -> bytes:
    """FIF of CTC (continue to correct): two octets in DCS layout carrying only the new
    data signalling rate (bits 11-14), as spandsp sends it and TSB-85 expects."""
    return bytes((0, dcs.to_fif()[1] & 0x3C))


def modulation_from_ctc(fif: bytes) -> Modulation:
    bits = bits_from_fif(bytes(fif[:2]) + b"\x00")
    rate = _code(bits, B_RATE)
    if rate not in _DCS_RATE:
        raise ValueError(f"CTC names an invalid rate code {rate}")
    return _DCS_RATE[rate]


# ---- negotiation --------------------------------------------------------------------

_RATE_LADDER = (14400, 12000, 9600, 7200, 4800, 2400)
_BY_RATE = {
    14400: (V17_14400,), 12000: (V17_12000,), 9600: (V17_9600, V29_9600),
    7200: (V17_7200, V29_7200), 4800: (V27_4800,), 2400: (V27_2400,),
}


def fallback_order(modems) -> list[Modulation]:
    """Modulations usable with these modem families, fastest first, in the order a
    transmitter falls back after FTT: 14400 -> 12000 -> 9600 -> 7200 -> 4800 -> 2400,
    trying V.29 after V.17 at 9600 and 7200 when both are there (as spandsp does, and as
    the TSB-85 procedures expect: V.29 is the sturdier modem at those rates)."""
    fams = set(modems)
    out = []
    for rate in _RATE_LADDER:
        for mod in _BY_RATE[rate]:
            if mod.name in fams or (mod == V27_2400 and "v27ter-fallback" in fams):
                out.append(mod)
    return out


class NegotiationError(ValueError):
    """The remote cannot take the page as it is; ``reason`` is a T30Status name."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def negotiate(local_modems, remote: Capabilities, *, resolution: str, width_pixels: int,
              ecm: bool, schemes=SCHEMES, ecm_frame_size: int = 256,
              prefer_jbig: bool = True) -> tuple[DCSParams, list[Modulation]]:
    """Choose the DCS for a page and the modulations to try (fastest first).

    Coding: T.85 (JBIG) and MMR need ECM at both ends; JBIG is chosen when both ends
    offer it and either ``prefer_jbig`` or MMR is not in common; then MMR, MR, MH."""
    if width_pixels not in PIXELS_WIDTH:
        raise NegotiationError("NOSIZESUPPORT", f"page width {width_pixels} px is not a T.4 width")
    width = PIXELS_WIDTH[width_pixels]
    if width > remote.max_width:
        raise NegotiationError("NOSIZESUPPORT", f"remote takes widths up to code {remote.max_width}")
    if resolution == "fine" and not remote.fine:
        raise NegotiationError("NORESSUPPORT", "remote cannot receive fine resolution")
    if resolution == "superfine" and not remote.superfine:
        raise NegotiationError("NORESSUPPORT", "remote cannot receive superfine resolution")
    common = set(local_modems) & set(remote.modems)
    if "v27ter" in local_modems and "v27ter-fallback" in remote.modems:
        common.add("v27ter-fallback")
    mods = fallback_order(common)
    if not mods:
        raise NegotiationError("INCOMPATIBLE", "no modem in common")
    use_ecm = ecm and remote.ecm
    jbig = use_ecm and "jbig" in schemes and remote.jbig
    mmr = use_ecm and "mmr" in schemes and remote.mmr
    if jbig and (prefer_jbig or not mmr):
        scheme = "jbig"
    elif mmr:
        scheme = "mmr"
    elif "mr" in schemes and remote.mr:
        scheme = "mr"
    else:
        scheme = "mh"
    if use_ecm:
        scan = 0
    else:
        scan = remote.min_scan_ms
        if remote.scan_half_fine and resolution in ("fine", "superfine"):
            scan //= 2
    frame_size = 64 if (ecm_frame_size == 64 or remote.ecm_64_preferred) else 256
    # T.85 optional L0 (bit 79): our encoder can always use it; only if the far end offers it
    dcs = DCSParams(modulation=mods[0], resolution=resolution, scheme=scheme, ecm=use_ecm,
                    ecm_frame_size=frame_size, width=width, length=remote.max_length,
                    min_scan_ms=scan, jbig_l0=scheme == "jbig" and remote.jbig_l0)
    return dcs, mods


def accept_dcs(local: Capabilities, dcs: DCSParams) -> str | None:
    """Why a receiver with ``local`` capabilities cannot accept ``dcs`` (None if it can)."""
    mod = dcs.modulation
    if mod.name not in local.modems and not (mod.rate == 2400 and "v27ter-fallback" in local.modems):
        return f"modulation {dcs.modulation} not offered"
    if dcs.scheme == "mmr" and not (local.mmr and dcs.ecm):
        return "MMR not offered (or without ECM)"
    if dcs.scheme == "jbig" and not (local.jbig and dcs.ecm):
        return "T.85 (JBIG) not offered (or without ECM)"
    if dcs.jbig_l0 and not local.jbig_l0:
        return "T.85 optional L0 not offered"
    if dcs.scheme == "mr" and not local.mr:
        return "MR not offered"
    if dcs.ecm and not local.ecm:
        return "ECM not offered"
    if dcs.resolution == "fine" and not local.fine:
        return "fine resolution not offered"
    if dcs.resolution == "superfine" and not local.superfine:
        return "superfine resolution not offered"
    if dcs.width > local.max_width:
        return "width not offered"
    return None
