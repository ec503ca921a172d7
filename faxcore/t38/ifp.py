"""The IFP packet codec: :mod:`faxcore.t38.packets` values to and from their ALIGNED PER
octets (T.38 Annex A), for T.38 version 0 (the 1998 ASN.1) and version 1 and up (2002).

API (stable; the T.38 terminal and the fuzz targets use exactly this):

* ``encode(pkt, version=0) -> bytes``: the octets of one IFP packet. Raises
  :class:`ValueError` (never :class:`IfpError`) for a packet that cannot be coded: a 2002
  extension value (indicator >= 16, data type >= 9, field type >= 8) at version 0, more
  than 16383 fields, or field data over 65535 octets. A ``Field`` with empty ``data`` is
  coded without its ``field-data``; a ``DataPacket`` with no fields without ``data-field``.
* ``coded_length(data, version=0) -> int``: where the IFP at the start of ``data`` ends.
* ``decode(data, version=0) -> IfpPacket``: the packet in ``data`` (bytes, bytearray or
  memoryview; one whole IFP, as UDPTL delimits it). Anything malformed raises
  :class:`IfpError` (a ValueError) with a message saying what and where, and nothing else.
  Decoding allocates nothing beyond the returned packet, whose field octets are slices of
  the input. Tolerated (not errors): non-zero padding bits; trailing zero octets after the
  packet (an FEC-recovered packet is the lost one padded with zeros to its group's longest
  member); a present ``data-field`` with no elements (decoded as ``fields=()``); 2002
  extension indicator and data type values at version 0 (both ASN.1 modules mark those
  enumerations extensible). Rejected: a ``data-field`` on an indicator (the terminal cannot
  act on it), unknown enumeration values, lengths in the fragmented form (>= 16384).

``decode(encode(p, v), v) == p`` for every codable ``p``; ``encode(decode(b, v), v) == b``
when ``b`` is in canonical form (zero padding, no trailing octets, no empty data-field).

The version trap (fact sheet 1): only ``field-type`` differs. Version 0 codes it as a
non-extensible 3-bit enumeration (4 bits per field with the ``field-data`` presence bit,
so two data-less fields share an octet); version 1+ as an extensible one (an extension bit
first: 5 bits per field, 9 for the 2002 values). ``hdlc-fcs-OK`` at version 0 and
``hdlc-fcs-OK-sig-end`` at version 1 are both the octet ``20``: a version mismatch ends
HDLC frames in the wrong place, silently. Fields follow each other bit-packed, as PER and
Wireshark have them: after a data-less field the next one starts mid-octet in either
version; a field with data is octet-aligned from its length on.
"""

from __future__ import annotations

from faxcore.t38.packets import (
    DataPacket,
    DataType,
    Field,
    FieldType,
    IfpPacket,
    Indicator,
    IndicatorPacket,
)

__all__ = ["IfpError", "coded_length", "decode", "encode", "first_extension"]

#: the enumerations' root sizes; values from these on are the 2002 extension additions
INDICATOR_ROOT = 16
DATA_TYPE_ROOT = 9
FIELD_TYPE_ROOT = 8
MAX_FIELDS = 16383          # the largest count in the two-octet length determinant
MAX_FIELD_DATA = 65535      # field-data OCTET STRING (SIZE (1..65535))

_INDICATORS = tuple(Indicator)
_DATA_TYPES = tuple(DataType)
_FIELD_TYPES = tuple(FieldType)
# the one-octet fast paths: indicator root values and single-field headers
_IND_OCTET = tuple(bytes((v << 1,)) for v in range(INDICATOR_ROOT))


class IfpError(ValueError):
    """Malformed IFP octets (decode only)."""


def first_extension(kind: type) -> int:
    """The first 2002 extension value of ``Indicator``, ``DataType`` or ``FieldType``."""
    return {Indicator: INDICATOR_ROOT, DataType: DATA_TYPE_ROOT,
            FieldType: FIELD_TYPE_ROOT}[kind]


# ---- encoding ----------------------------------------------------------------------------

class _Bits:
    """An MSB-first bit writer for the few bit-fields PER needs (at most 9 bits at a time)."""

    __slots__ = ("acc", "n", "out")

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, k: int) -> None:
        acc = (self.acc << k) | value
        n = self.n + k
        while n >= 8:
            n -= 8
            self.out.append((acc >> n) & 0xFF)
        self.acc = acc & ((1 << n) - 1)
        self.n = n

    def align(self) -> None:
        if self.n:
            self.put(0, 8 - self.n)


def _length(n: int) -> bytes:
    """An unconstrained length determinant (n < 16384)."""
    return bytes((n,)) if n < 128 else bytes((0x80 | n >> 8, n & 0xFF))


def encode(pkt: IfpPacket, version: int = 0) -> bytes:
    """The ALIGNED PER octets of ``pkt`` for T.38 ``version`` (0, or 1+ for the 2002
    field-type coding). See the module docstring for what raises ValueError."""
    if version < 0:
        raise ValueError(f"T.38 version {version} is negative")
    if isinstance(pkt, IndicatorPacket):
        v = int(pkt.indicator)
        if v < INDICATOR_ROOT:
            return _IND_OCTET[v]
        if version == 0:
            raise ValueError(f"indicator {pkt.indicator.name} is a T.38 2002 value: "
                             "not codable at version 0")
        v -= INDICATOR_ROOT
        return bytes((0x20 | v >> 2, (v & 3) << 6))
    if not isinstance(pkt, DataPacket):
        raise TypeError(f"not an IFP packet: {pkt!r}")
    dt = int(pkt.data_type)
    fields = pkt.fields
    present = 0x80 if fields else 0
    if dt < DATA_TYPE_ROOT:
        out = bytearray((present | 0x40 | dt << 1,))
    elif version == 0:
        raise ValueError(f"data type {pkt.data_type.name} is a T.38 2002 value: "
                         "not codable at version 0")
    else:
        dt -= DATA_TYPE_ROOT
        out = bytearray((present | 0x60 | dt >> 2, (dt & 3) << 6))
    if not fields:
        return bytes(out)
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"{len(fields)} fields: at most {MAX_FIELDS}")
    out += _length(len(fields))
    if len(fields) == 1:                # the common case: whole octets only
        f = fields[0]
        ft = int(f.type)
        n = len(f.data)
        if ft < FIELD_TYPE_ROOT and n <= MAX_FIELD_DATA:
            shift = 4 if version == 0 else 3
            if n:
                out.append(0x80 | ft << shift)
                out += (n - 1).to_bytes(2, "big")
                out += f.data
            else:
                out.append(ft << shift)
            return bytes(out)
    w = _Bits()
    w.out = out
    for f in fields:
        ft = int(f.type)
        n = len(f.data)
        if n > MAX_FIELD_DATA:
            raise ValueError(f"field data of {n} octets: at most {MAX_FIELD_DATA}")
        w.put(1 if n else 0, 1)
        if version == 0:
            if ft >= FIELD_TYPE_ROOT:
                raise ValueError(f"field type {f.type.name} is a T.38 2002 value: "
                                 "not codable at version 0")
            w.put(ft, 3)
        elif ft < FIELD_TYPE_ROOT:
            w.put(ft, 4)                        # extension bit 0, then 3 bits
        else:
            w.put(0b10 << 6 | (ft - FIELD_TYPE_ROOT), 8)
        if n:
            w.align()
            w.out += (n - 1).to_bytes(2, "big")
            w.out += f.data
    w.align()
    return bytes(w.out)


# ---- decoding ----------------------------------------------------------------------------

def _bits(data: bytes, n: int, bp: int, k: int, what: str) -> int:
    """``k`` (<= 9) bits of ``data`` (``n`` octets) from bit ``bp``, MSB first."""
    end = bp + k
    if end > 8 * n:
        raise IfpError(f"truncated: {what} needs bits {bp}..{end - 1}, packet has {8 * n}")
    i = bp >> 3
    word = data[i] << 8
    if i + 1 < n:
        word |= data[i + 1]
    return (word >> (16 - (bp & 7) - k)) & ((1 << k) - 1)


def _ext_value(data: bytes, n: int, bp: int, root: int, count: int, what: str) -> int:
    """The 2002 value coded at ``bp`` (after its extension bit): "small" bit, 6 bits."""
    small = _bits(data, n, bp, 7, what)
    if small >> 6:
        raise IfpError(f"{what}: extension index coded as a large number")
    v = root + small
    if v >= count:
        raise IfpError(f"{what}: unknown extension value {v}")
    return v


def decode(data: bytes | bytearray | memoryview, version: int = 0) -> IfpPacket:
    """The IFP packet coded in ``data`` for T.38 ``version``; raises :class:`IfpError`."""
    if not isinstance(data, bytes):
        data = bytes(data)
    pkt, end = _decode(data, version)
    n = len(data)
    if end < n and data.count(0, end) != n - end:
        raise IfpError(f"{n - end} octets after the end of the IFP packet at octet {end}")
    return pkt


def coded_length(data: bytes | bytearray | memoryview, version: int = 0) -> int:
    """How many octets the IFP packet at the start of ``data`` takes (what follows is not
    looked at): cuts an FEC-rebuilt IFP to its own length. Raises :class:`IfpError`."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return _decode(data, version)[1]


def _decode(data: bytes, version: int) -> tuple[IfpPacket, int]:
    n = len(data)
    if n == 0:
        raise IfpError("empty IFP packet")
    b0 = data[0]
    has_fields = b0 & 0x80
    is_data = b0 & 0x40
    if not b0 & 0x20:                                   # root value, one octet
        value = (b0 >> 1) & 0x0F
        pos = 1
    else:
        what = "t30-data" if is_data else "t30-indicator"
        root, count = (DATA_TYPE_ROOT, len(_DATA_TYPES)) if is_data else \
            (INDICATOR_ROOT, len(_INDICATORS))
        value = _ext_value(data, n, 3, root, count, what)
        pos = 2
    if not is_data:
        if has_fields:
            raise IfpError(f"indicator {value} carries a data-field")
        return IndicatorPacket(_INDICATORS[value]), pos
    if not b0 & 0x20 and value >= DATA_TYPE_ROOT:
        # the root has 9 values: 9..15 in its 4 bits are not v8... (those are extensions)
        raise IfpError(f"unknown t30-data root value {value}")
    data_type = _DATA_TYPES[value]
    if not has_fields:
        return DataPacket(data_type), pos
    if pos >= n:
        raise IfpError("truncated: no data-field count")
    count = data[pos]
    if count < 0x80:
        pos += 1
    elif count < 0xC0:
        if pos + 1 >= n:
            raise IfpError("truncated: two-octet data-field count")
        count = (count & 0x3F) << 8 | data[pos + 1]
        pos += 2
    else:
        raise IfpError("data-field count in the fragmented form (>= 16384 fields)")
    fields: list[Field] = []
    bp = 8 * pos
    v0 = version == 0
    for i in range(count):
        what = f"field {i}"
        if v0:
            hdr = _bits(data, n, bp, 4, what)
            present, ft = hdr >> 3, hdr & 7
            bp += 4
        else:
            hdr = _bits(data, n, bp, 5, what)
            present = hdr >> 4
            if hdr & 0x08:
                ft = _ext_value(data, n, bp + 2, FIELD_TYPE_ROOT, len(_FIELD_TYPES), what)
                bp += 9
            else:
                ft = hdr & 7
                bp += 5
        if present:
            pos = (bp + 7) >> 3
            if pos + 2 > n:
                raise IfpError(f"truncated: {what} has no room for its length")
            length = (data[pos] << 8 | data[pos + 1]) + 1
            pos += 2
            if pos + length > n:
                raise IfpError(f"truncated: {what} announces {length} octets, "
                               f"{n - pos} left")
            fields.append(Field(_FIELD_TYPES[ft], data[pos:pos + length]))
            bp = 8 * (pos + length)
        else:
            fields.append(Field(_FIELD_TYPES[ft]))
    return DataPacket(data_type, tuple(fields)), (bp + 7) >> 3
