"""A reference UDPTL (T.38 clause 9 / Annex: the UDPTL packet that carries IFP packets over
UDP) for the test harness, written from the ASN.1 and the fact sheet
(``../shared/docs/t38-sip-facts.md`` section 2), independently of ``faxcore.t38`` so that
it can check it. Not for production: no sockets, simple and explicit.

``UDPTLPacket ::= SEQUENCE { seq-number INTEGER (0..65535), primary-ifp-packet TYPE
(open type), error-recovery CHOICE { secondary-ifp-packets SEQUENCE OF open type,
fec-info SEQUENCE { fec-npackets INTEGER, fec-data SEQUENCE OF OCTET STRING } } }``,
ALIGNED PER. On the wire:

- the sequence number, 2 octets big-endian;
- the primary IFP: a length determinant (1 octet below 128, ``0x80|hi, lo`` below
  16384; longer needs PER fragmentation, which this does not do) and the octets;
- one octet for the CHOICE: ``00`` redundancy, ``80`` FEC;
- redundancy: a count (length determinant), then the older IFPs newest first
  (seq-1, seq-2, ...), each with its length. No redundancy is ``00 00``;
- FEC: fec-npackets as an unconstrained INTEGER (``01 <span>``), the entry count, then
  each entry as an OCTET STRING with its length. Entry ``m`` of packet ``s`` is the XOR
  (zero padded to the longest) of the IFPs ``s+m-span*entries``, stepping by ``entries``,
  up to ``s+m-entries``; while fewer than ``span*entries`` packets have been sent the
  entry count (and at first the span) is smaller, as Asterisk does.

:class:`UdptlSender` frames IFPs, :class:`UdptlReceiver` unframes datagrams into IFPs in
sequence order (recovering lost ones from redundancy or FEC, dropping duplicates and late
arrivals), and :class:`LossyChannel` is a seeded in-memory network with loss,
duplication and reordering.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

SEQ_MOD = 0x10000
#: a forward jump of the sequence number larger than this is a restart of the stream,
#: not a loss (spandsp's t38_core uses the same bound)
MAX_GAP = 2000


class UdptlError(ValueError):
    """A datagram that is not a UDPTL packet this decoder understands."""


# ----------------------------------------------------------------- PER primitives


def _put_length(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
    elif n < 0x4000:
        out += bytes((0x80 | (n >> 8), n & 0xFF))
    else:
        raise ValueError(f"UDPTL field of {n} octets needs PER fragmentation (not supported)")


def _put_open(out: bytearray, data: bytes) -> None:
    _put_length(out, len(data))
    out += data


def _get_length(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise UdptlError("truncated length")
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    if b < 0xC0:
        if pos + 1 >= len(buf):
            raise UdptlError("truncated length")
        return ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
    raise UdptlError("fragmented length (not supported)")


def _get_open(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _get_length(buf, pos)
    if pos + n > len(buf):
        raise UdptlError("truncated field")
    return bytes(buf[pos:pos + n]), pos + n


def _xor(parts: Iterable[bytes]) -> bytes:
    parts = list(parts)
    width = max((len(p) for p in parts), default=0)
    acc = bytearray(width)
    for p in parts:
        for i, b in enumerate(p):
            acc[i] ^= b
    return bytes(acc)


# ----------------------------------------------------------------- packets


@dataclass
class UdptlPacket:
    """One decoded UDPTL packet. ``secondary``: the redundant IFPs, newest first
    (seq-1, seq-2, ...); ``fec``: (span, entries) with ``fec_data`` when FEC was used."""

    seq: int
    primary: bytes
    secondary: list[bytes] = field(default_factory=list)
    fec: tuple[int, int] | None = None
    fec_data: list[bytes] = field(default_factory=list)


def encode(packet: UdptlPacket) -> bytes:
    """The datagram for ``packet``."""
    out = bytearray(((packet.seq >> 8) & 0xFF, packet.seq & 0xFF))
    _put_open(out, packet.primary)
    if packet.fec is None:
        out.append(0x00)
        _put_length(out, len(packet.secondary))
        for ifp in packet.secondary:
            _put_open(out, ifp)
    else:
        span, _entries = packet.fec
        out.append(0x80)
        out += bytes((1, span))          # fec-npackets: length 1, value
        _put_length(out, len(packet.fec_data))
        for entry in packet.fec_data:
            _put_open(out, entry)
    return bytes(out)


def decode(datagram: bytes) -> UdptlPacket:
    """Parse one datagram; :class:`UdptlError` if it is not a whole UDPTL packet."""
    buf = bytes(datagram)
    if len(buf) < 4:
        raise UdptlError(f"{len(buf)} octets is too short for UDPTL")
    seq = (buf[0] << 8) | buf[1]
    primary, pos = _get_open(buf, 2)
    if pos >= len(buf):
        raise UdptlError("no error-recovery field")
    choice = buf[pos]
    pos += 1
    if choice == 0x00:
        count, pos = _get_length(buf, pos)
        secondary = []
        for _ in range(count):
            ifp, pos = _get_open(buf, pos)
            secondary.append(ifp)
        packet = UdptlPacket(seq, primary, secondary)
    elif choice == 0x80:
        nlen, pos = _get_length(buf, pos)
        if nlen < 1 or nlen > 2 or pos + nlen > len(buf):
            raise UdptlError("bad fec-npackets")
        span = int.from_bytes(buf[pos:pos + nlen], "big")
        pos += nlen
        entries, pos = _get_length(buf, pos)
        data = []
        for _ in range(entries):
            entry, pos = _get_open(buf, pos)
            data.append(entry)
        packet = UdptlPacket(seq, primary, fec=(span, entries), fec_data=data)
    else:
        raise UdptlError(f"error-recovery choice octet {choice:#04x}")
    if pos != len(buf):
        raise UdptlError(f"{len(buf) - pos} octets after the UDPTL packet")
    return packet


def ifp_length(buf: bytes, version: int = 0) -> int:
    """The length of the IFP packet at the start of ``buf`` (T.38 ASN.1, ALIGNED PER,
    the field-type coded as in ``version``: 4 bits in version 0, 5 in 1+); used to cut
    the zero padding off an IFP recovered by FEC. :class:`UdptlError` if ``buf`` is too
    short for the packet it starts."""
    n = len(buf)
    if n < 1:
        raise UdptlError("empty IFP")
    first = buf[0]
    pos = 2 if first & 0x20 else 1          # an extension value takes a second octet
    if not first & 0x80:                    # no data-field
        if pos > n:
            raise UdptlError("truncated IFP")
        return pos
    count, pos = _get_length(buf, pos)
    half = False                            # v0: the next field is in the low nibble
    for _ in range(count):
        if pos >= n:
            raise UdptlError("truncated IFP")
        b = buf[pos]
        if version == 0:
            if half:
                present = b & 0x08
                pos += 1
                half = False
            else:
                present = b & 0x80
                if present:
                    pos += 1
                else:
                    half = True
        else:
            present = b & 0x80
            pos += 2 if b & 0x40 else 1     # an extension field type: two octets
        if present:
            if pos + 2 > n:
                raise UdptlError("truncated IFP")
            pos += 2 + ((buf[pos] << 8) | buf[pos + 1]) + 1
    if half:
        pos += 1
    if pos > n:
        raise UdptlError("truncated IFP")
    return pos


# ----------------------------------------------------------------- endpoints


class UdptlSender:
    """Frames successive IFPs, numbering them from ``first_seq`` (wrapping at 65535 to
    0), with ``redundancy`` older IFPs in each packet, or FEC when ``fec`` = (span,
    entries) is given."""

    def __init__(self, *, redundancy: int = 3, fec: tuple[int, int] | None = None,
                 first_seq: int = 0):
        self.redundancy = redundancy
        self.fec = fec
        self.seq = first_seq % SEQ_MOD
        self.sent = 0
        self.history: list[bytes] = []      # the IFPs sent, newest last (bounded)
        self._keep = max(redundancy, (fec[0] * fec[1]) if fec else 0) + 1

    def packet(self, ifp: bytes) -> UdptlPacket:
        """The next UDPTL packet, carrying ``ifp``."""
        seq = self.seq
        h = self.history
        if self.fec is None:
            pkt = UdptlPacket(seq, ifp, secondary=h[::-1][:self.redundancy])
        else:
            span, entries = self.fec
            if self.sent < span * entries:      # wind up as Asterisk does
                entries = self.sent // span
                if self.sent < span:
                    span = 0
            data = []
            # covered by entry m: the packets sent (span*entries - m) .. (entries - m)
            # before this one, every ``entries``-th
            for m in range(entries):
                back = [span * entries - m - k * entries for k in range(span)]
                data.append(_xor(h[-b] for b in back))
            pkt = UdptlPacket(seq, ifp, fec=(span, entries), fec_data=data)
        h.append(ifp)
        if len(h) > self._keep:
            del h[0]
        self.seq = (seq + 1) % SEQ_MOD
        self.sent += 1
        return pkt

    def encode(self, ifp: bytes) -> bytes:
        """The next datagram, carrying ``ifp``."""
        return encode(self.packet(ifp))


class UdptlReceiver:
    """Unframes datagrams into ``(ifp, seq)`` in sequence order, each once: missing
    packets are taken from the redundant IFPs or rebuilt from FEC where possible
    (``ifp_version`` says how to find the end of a rebuilt IFP), duplicates and late
    packets are dropped, a malformed datagram is dropped and counted. The first
    datagram may have any sequence number; a jump of more than :data:`MAX_GAP` either
    way is a restart (as spandsp's t38_core treats it)."""

    def __init__(self, *, ifp_version: int = 0):
        self.ifp_version = ifp_version
        self.next: int | None = None
        self.window: dict[int, bytes] = {}   # recent IFPs by seq (for FEC)
        self.delivered = 0
        self.recovered = 0
        self.lost = 0
        self.duplicates = 0
        self.malformed = 0

    def receive(self, datagram: bytes) -> list[tuple[bytes, int]]:
        try:
            pkt = decode(datagram)
        except UdptlError:
            self.malformed += 1
            return []
        s = pkt.seq
        if self.next is None:
            gap = len(pkt.secondary)
            self.next = (s - gap) % SEQ_MOD
        delta = (s - self.next) % SEQ_MOD
        if delta >= SEQ_MOD - MAX_GAP:          # already delivered or given up: drop
            self.duplicates += 1
            return []
        if delta > MAX_GAP:                     # a jump either way: a restart from here
            self.next = s
            self.window.clear()
            delta = 0
        got: dict[int, bytes] = {s: pkt.primary}
        for back, ifp in enumerate(pkt.secondary, 1):
            if back <= delta:
                got[(s - back) % SEQ_MOD] = ifp
        self.window.update(got)
        if pkt.fec is not None:
            self._fec_repair(pkt, got)
        out = []
        for i in range(delta + 1):
            seq = (self.next + i) % SEQ_MOD
            ifp = got.get(seq)
            if ifp is None:
                self.lost += 1
                continue
            if seq != s:
                self.recovered += 1
            out.append((ifp, seq))
        self.delivered += len(out)
        self.next = (s + 1) % SEQ_MOD
        for old in [k for k in self.window if (s - k) % SEQ_MOD > 64]:
            del self.window[old]
        return out

    def _fec_repair(self, pkt: UdptlPacket, got: dict[int, bytes]) -> None:
        span, entries = pkt.fec
        s = pkt.seq
        for m, entry in enumerate(pkt.fec_data):
            group = [(s + m - span * entries + k * entries) % SEQ_MOD for k in range(span)]
            absent = [g for g in group if g not in self.window]
            if len(absent) != 1:
                continue
            rebuilt = _xor([entry, *(self.window[g] for g in group if g in self.window)])
            try:
                rebuilt = rebuilt[:ifp_length(rebuilt, self.ifp_version)]
            except UdptlError:
                continue
            self.window[absent[0]] = rebuilt
            got[absent[0]] = rebuilt


class LossyChannel:
    """A seeded in-memory network for datagrams, in time steps: each datagram sent is
    lost with probability ``loss``, sent twice with probability ``duplicate``, and held
    back 1..``max_delay`` steps with probability ``reorder`` (so later ones overtake it);
    the rest arrive in the step they were sent."""

    def __init__(self, *, loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
                 max_delay: int = 3, seed: int = 0):
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.max_delay = max_delay
        self.rng = random.Random(seed)
        self._queue: list[tuple[int, int, bytes]] = []
        self._order = 0
        self.sent = self.dropped = self.duplicated = self.delayed = 0

    def send(self, datagram: bytes, step: int) -> None:
        rng = self.rng
        self.sent += 1
        if rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 1
        if self.duplicate and rng.random() < self.duplicate:
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            at = step
            if self.reorder and rng.random() < self.reorder:
                at += rng.randint(1, self.max_delay)
                self.delayed += 1
            self._order += 1
            heapq.heappush(self._queue, (at, self._order, datagram))

    def deliver(self, step: int) -> list[bytes]:
        """The datagrams that arrive by ``step``, in arrival order."""
        out = []
        q = self._queue
        while q and q[0][0] <= step:
            out.append(heapq.heappop(q)[2])
        return out
