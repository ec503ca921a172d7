"""RTP packets (RFC 3550 §5.1): parse and build the fixed header, CSRC list, header
extension and padding.

    pkt = RtpPacket(payload_type=0, seq=1, timestamp=160, ssrc=0x1234, payload=b"...")
    data = pkt.build()
    RtpPacket.parse(data) == pkt

:meth:`RtpPacket.parse` reads bytes from strangers: anything that is not a well-formed
RTP version 2 packet raises :class:`RtpError` (a ``ValueError``) and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HEADER_LEN", "RtpError", "RtpPacket"]

HEADER_LEN = 12
_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")
#: CSRC count is a 4-bit field (RFC 3550 §5.1)
MAX_CSRC = 15


class RtpError(ValueError):
    """Bytes that are not a well-formed RTP version 2 packet, or a packet that cannot be
    built (a field out of range)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding``: how many padding octets follow the payload (0: the P
    bit is clear; else 1..255, the last of them holding the count, as RFC 3550 §5.1 says);
    the padding's contents are not kept (built as zeros and the count).
    ``extension``: None (the X bit clear) or ``(profile, data)``, the 16-bit
    profile-defined value and the extension's data, a multiple of 4 octets."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    def build(self) -> bytes:
        """The packet's octets. Raises :class:`RtpError` for a field out of range."""
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} is not 0..127")
        if not 0 <= self.seq <= 0xFFFF:
            raise RtpError(f"sequence number {self.seq} is not 0..65535")
        for name, v in (("timestamp", self.timestamp), ("SSRC", self.ssrc), *(
                ("CSRC", c) for c in self.csrc)):
            if not 0 <= v <= 0xFFFFFFFF:
                raise RtpError(f"{name} {v} is not a 32-bit unsigned value")
        if len(self.csrc) > MAX_CSRC:
            raise RtpError(f"{len(self.csrc)} CSRCs: at most {MAX_CSRC}")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding {self.padding} is not 0..255")
        b0 = 0x80 | (0x20 if self.padding else 0) | (0x10 if self.extension else 0) \
            | len(self.csrc)
        parts = [_FIXED.pack(b0, (0x80 if self.marker else 0) | self.payload_type,
                             self.seq, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            profile, data = self.extension
            if not 0 <= profile <= 0xFFFF:
                raise RtpError(f"extension profile {profile} is not 0..65535")
            if len(data) % 4 or len(data) // 4 > 0xFFFF:
                raise RtpError(f"extension of {len(data)} octets: a multiple of 4 up to "
                               "262140 is needed")
            parts.append(_EXT.pack(profile, len(data) // 4))
            parts.append(bytes(data))
        parts.append(bytes(self.payload))
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Read one datagram. Raises :class:`RtpError` (only) for anything malformed:
        shorter than its header, a version other than 2, a CSRC list or header extension
        running past the end, a padding count of 0 or longer than what follows the
        headers."""
        try:
            # through memoryview: bytes(n) of an int would allocate n zero octets
            data = bytes(memoryview(data))
        except TypeError as exc:
            raise RtpError(f"not bytes: {type(data).__name__}") from exc
        n = len(data)
        if n < HEADER_LEN:
            raise RtpError(f"{n} octets: shorter than the 12-octet RTP header")
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpError(f"RTP version {b0 >> 6}, not 2")
        pos = HEADER_LEN
        cc = b0 & 0x0F
        if pos + 4 * cc > n:
            raise RtpError(f"{cc} CSRCs run past the end of a {n}-octet packet")
        csrc = struct.unpack_from(f"!{cc}I", data, pos) if cc else ()
        pos += 4 * cc
        extension = None
        if b0 & 0x10:
            if pos + 4 > n:
                raise RtpError("header extension runs past the end of the packet")
            profile, words = _EXT.unpack_from(data, pos)
            pos += 4
            if pos + 4 * words > n:
                raise RtpError(f"header extension of {words} words runs past the end")
            extension = (profile, data[pos:pos + 4 * words])
            pos += 4 * words
        end = n
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or padding > n - pos:
                raise RtpError(f"padding count {padding} with {n - pos} octets after "
                               "the headers")
            end -= padding
        return cls(payload_type=b1 & 0x7F, seq=seq, timestamp=ts, ssrc=ssrc,
                   payload=data[pos:end], marker=bool(b1 & 0x80), csrc=tuple(csrc),
                   extension=extension, padding=padding)
