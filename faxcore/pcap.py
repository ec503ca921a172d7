"""Classic libpcap capture files of IPv4/UDP datagrams: what faxcore sent and received
on the network (SIP, RTP, UDPTL), for Wireshark/tshark, and capture replay for tests.

Writing: :class:`PcapWriter` makes a classic pcap file (magic ``a1b2c3d4``, version 2.4,
microsecond timestamps, little-endian) with link type Ethernet (``LINKTYPE_ETHERNET`` = 1:
Wireshark, tshark and SIPp's ``play_pcap_*`` all read it). Each datagram becomes one frame:
an Ethernet header (fixed locally administered MAC addresses, EtherType IPv4), an IPv4
header (no options, TTL 64, DF set, protocol 17, correct header checksum) and a UDP header
(checksum 0, which IPv4 allows: "no checksum").

Reading: :func:`read_pcap` reads classic pcap files in either byte order, with micro- or
nanosecond timestamps, link type Ethernet (with or without one 802.1Q tag), raw IPv4
(``LINKTYPE_RAW`` 101 / ``DLT_RAW`` 12 / 14) or Linux cooked (113). It returns the IPv4 UDP
datagrams in file order; other frames (ARP, TCP, IPv6, IP fragments after the first) are
passed over. pcapng is not read. A truncated or malformed file raises :class:`PcapError`.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["Address", "Datagram", "PcapError", "PcapWriter", "ip_checksum", "read_pcap"]

log = logging.getLogger(__name__)

Address = tuple[str, int]
"""An IPv4 address as dotted text and a UDP port."""
Datagram = tuple[float, Address, Address, bytes]
"""``(timestamp in seconds, source, destination, UDP payload)``."""

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
_RAW_TYPES = (12, 14, LINKTYPE_RAW)     # DLT_RAW has had different numbers on BSDs
LINKTYPE_LINUX_SLL = 113
SNAPLEN = 65535
MAX_PAYLOAD = 65535 - 20 - 8            # the largest UDP payload an IPv4 datagram holds

_GLOBAL = struct.Struct("<IHHiIII")     # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = struct.Struct("<IIII")        # ts_sec, ts_usec, incl_len, orig_len
_ETH = bytes.fromhex("020000000002" "020000000001" "0800")   # dst MAC, src MAC, IPv4
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


class PcapError(ValueError):
    """The file is not a classic pcap file this module reads, or it is truncated."""


def ip_checksum(header: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``header``: the 16-bit ones' complement of the
    ones' complement sum of its big-endian 16-bit words (an odd last octet padded with 0)."""
    if len(header) % 2:
        header += b"\0"
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


class PcapWriter:
    """Writes IPv4/UDP datagrams to a new classic pcap file at ``path`` (Ethernet frames).

    Use as a context manager or call :meth:`close`. Every :meth:`datagram` is written
    (buffered) at once; :meth:`flush` pushes it to the OS, so a capture of a running call
    can be opened while it grows.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "wb")
        self._ident = 0
        self.count = 0
        self._f.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))

    def datagram(self, ts: float, src: Address, dst: Address, payload: bytes) -> None:
        """Append one UDP datagram sent at ``ts`` (seconds, e.g. ``time.time()``; must be
        >= 0) from ``src`` to ``dst`` (``(ipv4, port)``). Raises ValueError for a bad
        address, port, timestamp or a payload over 65507 octets."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"UDP payload of {len(payload)} octets exceeds {MAX_PAYLOAD}")
        if ts < 0:
            raise ValueError(f"timestamp {ts} is negative")
        (sip, sport), (dip, dport) = src, dst
        for port in (sport, dport):
            if not 0 <= port <= 0xFFFF:
                raise ValueError(f"UDP port {port} out of range")
        udp_len = 8 + len(payload)
        self._ident = (self._ident + 1) & 0xFFFF
        hdr = _IPV4.pack(0x45, 0, 20 + udp_len, self._ident, 0x4000, 64, 17, 0,
                         _ip(sip), _ip(dip))
        hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
        frame = _ETH + hdr + _UDP.pack(sport, dport, udp_len, 0) + bytes(payload)
        usec_total = round(ts * 1_000_000)
        sec, usec = divmod(usec_total, 1_000_000)
        self._f.write(_RECORD.pack(sec & 0xFFFFFFFF, usec, len(frame), len(frame)))
        self._f.write(frame)
        self.count += 1

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _ipv4_udp(pkt: bytes) -> tuple[Address, Address, bytes] | None:
    """The UDP datagram in an IPv4 packet, or None when it is something else."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    total = int.from_bytes(pkt[2:4], "big")
    frag = int.from_bytes(pkt[6:8], "big")
    if ihl < 20 or pkt[9] != 17 or frag & 0x1FFF or len(pkt) < ihl + 8:
        return None
    end = min(len(pkt), total) if total >= ihl + 8 else len(pkt)
    sport, dport, ulen, _ = _UDP.unpack_from(pkt, ihl)
    if ulen >= 8:
        end = min(end, ihl + ulen)
    src = (str(ipaddress.IPv4Address(pkt[12:16])), sport)
    dst = (str(ipaddress.IPv4Address(pkt[16:20])), dport)
    return src, dst, bytes(pkt[ihl + 8:end])


def _network_layer(linktype: int, frame: bytes) -> bytes | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        etype, off = int.from_bytes(frame[12:14], "big"), 14
        if etype == 0x8100 and len(frame) >= 18:        # one 802.1Q VLAN tag
            etype, off = int.from_bytes(frame[16:18], "big"), 18
        return frame[off:] if etype == 0x0800 else None
    if linktype in _RAW_TYPES:
        return frame
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16 or int.from_bytes(frame[14:16], "big") != 0x0800:
            return None
        return frame[16:]
    raise PcapError(f"link type {linktype} is not supported (Ethernet, raw IP, Linux SLL)")


def read_pcap(path: str | Path) -> list[Datagram]:
    """Every IPv4/UDP datagram in the classic pcap file ``path``, in file order, as
    ``(ts, (src_ip, src_port), (dst_ip, dst_port), payload)`` with ``ts`` in seconds."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise PcapError(f"{path}: {len(data)} octets, too short for a pcap header")
    magic = data[:4]
    formats = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
    if magic not in formats:
        if magic == b"\x0a\x0d\x0d\x0a":
            raise PcapError(f"{path}: a pcapng file; save it as classic pcap")
        raise PcapError(f"{path}: not a pcap file (magic {magic.hex()})")
    order, unit = formats[magic]
    linktype = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    rec = struct.Struct(order + "IIII")
    out: list[Datagram] = []
    off = 24
    while off < len(data):
        if off + rec.size > len(data):
            raise PcapError(f"{path}: truncated record header at offset {off}")
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += rec.size
        if off + incl > len(data):
            raise PcapError(f"{path}: record at offset {off - rec.size} truncated "
                            f"({incl} octets announced, {len(data) - off} left)")
        frame = data[off:off + incl]
        off += incl
        pkt = _network_layer(linktype, frame)
        udp = _ipv4_udp(pkt) if pkt is not None else None
        if udp is not None:
            out.append((sec + frac * unit, *udp))
    return out
