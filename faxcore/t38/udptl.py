"""UDPTL (T.38 clause 9, Annex A): IFP packets in UDP datagrams with a sequence number and
error recovery, sans-IO. IFP packets are handled as opaque octets here (code them with
:mod:`faxcore.t38.ifp` at the negotiated T.38 version).

Wire layout (ALIGNED PER of ``UDPTLPacket``): ``seq-number`` (2 octets, big-endian); the
primary IFP as an open type (a length determinant: 1 octet below 128, ``0x80|len`` in 2
octets below 16384; then the octets); the ``error-recovery`` choice octet, ``00`` for
redundancy or ``80`` for FEC. Redundancy: a count then the secondary IFPs, newest first
(seq-1, seq-2, ...), each with its length; no redundancy is ``00 00``. FEC: ``fec-npackets``
(the span, an unconstrained INTEGER: a length octet then the value), a count of entries,
each an octet string: entry ``m`` of packet ``s`` with span ``S`` and ``E`` entries is the
XOR of the primary IFPs of packets ``s+m-S*E, s+m-S*E+E, ..., s+m-E``, padded with zeros to
the longest of them. Lengths of 16384 and more (PER's fragmented form) are not supported.

API:

* ``encode_udptl(pkt) -> bytes`` / ``decode_udptl(data) -> UdptlPacket``. Decode raises
  :class:`UdptlError` (a ValueError), and nothing else, for malformed octets (truncated,
  fragmented lengths, a negative or over-4-octet ``fec-npackets``, octets after the end).
  Encode raises ValueError for what cannot be coded (seq out of range, a length >= 16384).
  ``decode_udptl(encode_udptl(p)) == p``.
* :class:`UdptlSender`: ``send(ifp) -> datagram``, numbering from ``first_seq`` (0) and
  wrapping 0xFFFF -> 0, with redundancy (the last ``redundancy`` IFPs, default 3) or FEC
  (``fec=(span, entries)``; the entry count winds up over the first ``span*entries``
  packets). ``max_datagram`` (the peer's T38FaxMaxDatagram, read as the UDPTL datagram
  size as Asterisk does) is never exceeded: the oldest secondary IFPs (or FEC entries) are
  dropped until the datagram fits; an IFP that does not fit alone raises ValueError (it is
  never truncated: a cut IFP is garbage to the peer) -- size chunks with ``max_ifp``.
* :class:`UdptlReceiver`: ``feed(datagram, now) -> list[Delivery]`` and
  ``poll(now) -> list[Delivery]``. Datagrams in any order, duplicated or lost; out come the
  IFPs in sequence order, each sequence number exactly once: ``Delivery(seq, ifp, source)``
  with ``source`` ``"primary"``, ``"redundancy"`` or ``"fec"`` (recovered), or ``ifp=None,
  source="lost"`` for a packet given up on. A gap blocks later packets until it is filled
  (from a later packet's redundancy or FEC, or the late packet itself), or until
  the packet ``hold_packets`` (12) after it arrived, or ``hold_time`` (0.2 s) passed since
  the receiver began waiting (checked by ``feed`` and ``poll``, call ``poll`` from a timer;
  then everything held is delivered, its gaps as lost). The first packet's sequence number
  starts the stream (its secondaries fill the packets before it); a jump of more than 2000
  either way is a restart (held packets are released, then the stream starts again).
  An FEC-rebuilt IFP is padded with zeros to its group's longest member (UDPTL does not
  say its length); ``UdptlReceiver(ifp_version=v)`` cuts it to its coded length (spandsp
  refuses the padded form; faxcore's ``ifp.decode`` ignores the padding).
  A packet ``window`` or more ahead of the next delivery ends the wait at once: what is
  held is delivered (gaps as lost), the rest of the gap is reported by ONE lost delivery
  (its first sequence number; ``stats.lost`` counts them all) and delivery goes on from
  that packet: the one place where delivered sequence numbers jump, apart from a restart.
  Malformed datagrams are counted in ``stats.malformed`` and dropped; ``feed`` and
  ``poll`` never raise. Memory is bounded by ``window`` packets (default 128) of history,
  held packets and FEC information.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from faxcore.t38.ifp import IfpError, coded_length

__all__ = ["Delivery", "FecInfo", "UdptlError", "UdptlPacket", "UdptlReceiver",
           "UdptlSender", "UdptlStats", "decode_udptl", "encode_udptl"]

log = logging.getLogger(__name__)

MAX_LENGTH = 16383          # the largest un-fragmented PER length determinant
MAX_FEC_COVER = 64          # the widest FEC (span * entries) the receiver uses
RESTART_JUMP = 2000         # spandsp's restart rule: a larger jump starts a new stream


class UdptlError(ValueError):
    """Malformed UDPTL octets (decode only)."""


@dataclass(frozen=True)
class FecInfo:
    """``fec-info``: the span (``fec-npackets``) and the XOR entries (``fec-data``)."""

    npackets: int
    entries: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class UdptlPacket:
    """One UDPTL packet: IFPs as octets. ``secondary`` (redundancy) is newest first; a
    packet with ``fec`` set uses FEC and must have no ``secondary``."""

    seq: int
    primary: bytes
    secondary: tuple[bytes, ...] = ()
    fec: FecInfo | None = None


# ---- codec --------------------------------------------------------------------------------

def _len_size(n: int) -> int:
    return 1 if n < 128 else 2


def _put_length(out: bytearray, n: int, what: str) -> None:
    if n < 128:
        out.append(n)
    elif n <= MAX_LENGTH:
        out += bytes((0x80 | n >> 8, n & 0xFF))
    else:
        raise ValueError(f"{what}: length {n} needs PER fragmentation (max {MAX_LENGTH})")


def _int_octets(v: int) -> bytes:
    """An unconstrained INTEGER's value octets: minimal two's complement (v >= 0)."""
    return v.to_bytes(v.bit_length() // 8 + 1, "big")


def encode_udptl(pkt: UdptlPacket) -> bytes:
    """The octets of ``pkt`` (see the module docstring; ValueError if not codable)."""
    if not 0 <= pkt.seq <= 0xFFFF:
        raise ValueError(f"sequence number {pkt.seq} out of 0..65535")
    out = bytearray(pkt.seq.to_bytes(2, "big"))
    _put_length(out, len(pkt.primary), "primary IFP")
    out += pkt.primary
    if pkt.fec is None:
        out.append(0x00)
        _put_length(out, len(pkt.secondary), "secondary count")
        for ifp in pkt.secondary:
            _put_length(out, len(ifp), "secondary IFP")
            out += ifp
    else:
        if pkt.secondary:
            raise ValueError("a UDPTL packet carries redundancy or FEC, not both")
        if not 0 <= pkt.fec.npackets <= 0x7FFFFFFF:
            raise ValueError(f"fec-npackets {pkt.fec.npackets} out of range")
        out.append(0x80)
        v = _int_octets(pkt.fec.npackets)
        out.append(len(v))
        out += v
        _put_length(out, len(pkt.fec.entries), "fec-data count")
        for e in pkt.fec.entries:
            _put_length(out, len(e), "fec-data entry")
            out += e
    return bytes(out)


def _get_length(data: bytes, pos: int, what: str) -> tuple[int, int]:
    n = len(data)
    if pos >= n:
        raise UdptlError(f"truncated: no {what} at octet {pos}")
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    if b < 0xC0:
        if pos + 1 >= n:
            raise UdptlError(f"truncated: two-octet {what} at octet {pos}")
        return (b & 0x3F) << 8 | data[pos + 1], pos + 2
    raise UdptlError(f"{what} at octet {pos} in PER's fragmented form (not supported)")


def _get_octets(data: bytes, pos: int, what: str) -> tuple[bytes, int]:
    n, pos = _get_length(data, pos, f"{what} length")
    if pos + n > len(data):
        raise UdptlError(f"truncated: {what} of {n} octets at octet {pos}, "
                         f"{len(data) - pos} left")
    return data[pos:pos + n], pos + n


def decode_udptl(data: bytes | bytearray | memoryview) -> UdptlPacket:
    """The UDPTL packet in one datagram; raises :class:`UdptlError` if malformed."""
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    if n < 3:
        raise UdptlError(f"{n} octets: too short for a UDPTL packet")
    seq = data[0] << 8 | data[1]
    primary, pos = _get_octets(data, 2, "primary IFP")
    if pos >= n:
        raise UdptlError("truncated: no error-recovery after the primary IFP")
    choice = data[pos] & 0x80
    pos += 1
    if not choice:
        count, pos = _get_length(data, pos, "secondary count")
        secondary = []
        for i in range(count):
            ifp, pos = _get_octets(data, pos, f"secondary IFP {i}")
            secondary.append(ifp)
        fec = None
        sec = tuple(secondary)
    else:
        if pos >= n:
            raise UdptlError("truncated: no fec-npackets")
        k = data[pos]
        if not 1 <= k <= 4 or pos + 1 + k > n:
            raise UdptlError(f"fec-npackets of {k} octets at octet {pos}")
        span = int.from_bytes(data[pos + 1:pos + 1 + k], "big", signed=True)
        if span < 0:
            raise UdptlError(f"negative fec-npackets {span}")
        pos += 1 + k
        count, pos = _get_length(data, pos, "fec-data count")
        entries = []
        for i in range(count):
            e, pos = _get_octets(data, pos, f"fec-data entry {i}")
            entries.append(e)
        fec = FecInfo(span, tuple(entries))
        sec = ()
    if pos != n:
        raise UdptlError(f"{n - pos} octets after the end of the UDPTL packet")
    return UdptlPacket(seq, primary, sec, fec)


def _xor_into(acc: bytearray, b: bytes) -> None:
    """``acc ^= b``, ``acc`` grown with zeros to ``len(b)`` first."""
    if len(b) > len(acc):
        acc.extend(bytes(len(b) - len(acc)))
    n = len(b)
    if n:
        x = int.from_bytes(acc[:n], "big") ^ int.from_bytes(b, "big")
        acc[:n] = x.to_bytes(n, "big")


# ---- sender ---------------------------------------------------------------------------------

class UdptlSender:
    """Numbers IFPs and wraps them in UDPTL datagrams with redundancy or FEC (sans-IO).

    ``redundancy``: how many earlier IFPs each datagram repeats (0..100, default 3);
    ``fec``: ``(span, entries)`` to send FEC instead (the peer asked for t38UDPFEC);
    ``max_datagram``: the largest datagram to send (None: no limit but PER's);
    ``first_seq``: the first sequence number.
    """

    def __init__(self, redundancy: int = 3, fec: tuple[int, int] | None = None,
                 max_datagram: int | None = None, first_seq: int = 0) -> None:
        if not 0 <= redundancy <= 100:
            raise ValueError(f"redundancy depth {redundancy} out of 0..100")
        if fec is not None and not (1 <= fec[0] <= 127 and 1 <= fec[1] <= 32):
            raise ValueError(f"FEC span/entries {fec} out of 1..127 / 1..32")
        if max_datagram is not None and max_datagram < 8:
            raise ValueError(f"max_datagram {max_datagram} is too small")
        if not 0 <= first_seq <= 0xFFFF:
            raise ValueError(f"first_seq {first_seq} out of 0..65535")
        self.redundancy = redundancy
        self.fec = fec
        self.max_datagram = max_datagram
        self.seq = first_seq                    # the next packet's sequence number
        self.sent = 0
        depth = fec[0] * fec[1] if fec else redundancy
        self._history: deque[bytes] = deque(maxlen=depth)   # newest first

    @property
    def max_ifp(self) -> int:
        """The largest IFP a datagram can carry under ``max_datagram`` (alone)."""
        if self.max_datagram is None:
            return MAX_LENGTH
        room = self.max_datagram - 2 - 2          # seq, the "00 00" or "80 01 00 00" floor
        room -= 2 if self.fec else 0
        return max(0, min(MAX_LENGTH, room - (1 if room - 1 < 128 else 2)))

    def send(self, ifp: bytes) -> bytes:
        """The datagram carrying ``ifp`` as the next sequence number."""
        if len(ifp) > MAX_LENGTH:
            raise ValueError(f"IFP of {len(ifp)} octets: at most {MAX_LENGTH}")
        ifp = bytes(ifp)
        if self.fec is None:
            pkt = UdptlPacket(self.seq, ifp, tuple(self._history))
            out = encode_udptl(pkt)
            while self.max_datagram is not None and len(out) > self.max_datagram:
                if not pkt.secondary:
                    raise ValueError(f"IFP of {len(ifp)} octets does not fit a datagram "
                                     f"of {self.max_datagram} (max_ifp {self.max_ifp})")
                pkt = UdptlPacket(self.seq, ifp, pkt.secondary[:-1])
                out = encode_udptl(pkt)
        else:
            span, entries = self.fec
            # the wind-up (Asterisk's): only groups of packets that were sent
            e = min(entries, self.sent // span)
            while True:
                out = encode_udptl(UdptlPacket(self.seq, ifp, (), self._fec(span, e)))
                if self.max_datagram is None or len(out) <= self.max_datagram:
                    break
                if e == 0:
                    raise ValueError(f"IFP of {len(ifp)} octets does not fit a datagram "
                                     f"of {self.max_datagram} (max_ifp {self.max_ifp})")
                e -= 1
        if self._history.maxlen:
            self._history.appendleft(ifp)
        self.seq = (self.seq + 1) & 0xFFFF
        self.sent += 1
        return out

    def _fec(self, span: int, e: int) -> FecInfo:
        if e == 0:
            return FecInfo(0, ())
        hist = self._history                    # hist[k] is packet seq-1-k
        entries = []
        for m in range(e):
            acc = bytearray()
            # packets s+m-span*e + j*e, j = 0..span-1; as history index: s-1-(that)
            for j in range(span):
                _xor_into(acc, hist[span * e - m - j * e - 1])
            entries.append(bytes(acc))
        return FecInfo(span, tuple(entries))


# ---- receiver ----------------------------------------------------------------------------

class Delivery(NamedTuple):
    """One IFP in sequence order: its 16-bit ``seq``, its octets (None when lost) and where
    they came from: ``primary``, ``redundancy``, ``fec`` or ``lost``."""

    seq: int
    ifp: bytes | None
    source: str


@dataclass
class UdptlStats:
    """What a :class:`UdptlReceiver` saw (counts)."""

    datagrams: int = 0
    malformed: int = 0
    duplicates: int = 0      # a primary whose sequence number is already held
    late: int = 0            # older than the next delivery: a duplicate of a delivered
    #                          packet, or one that came after it was recovered or given up
    recovered_redundancy: int = 0
    recovered_fec: int = 0
    lost: int = 0
    restarts: int = 0
    fec_ignored: int = 0     # FEC information too wide for the window
    fec_bad: int = 0         # an FEC-rebuilt packet that is no IFP (with ifp_version)


class UdptlReceiver:
    """Datagrams in, IFPs out in sequence order, exactly once (see the module docstring)."""

    def __init__(self, window: int = 128, hold_packets: int = 12,
                 hold_time: float = 0.2, ifp_version: int | None = None) -> None:
        if not 8 <= window <= 4096 or not 1 <= hold_packets < window:
            raise ValueError(f"window {window} / hold_packets {hold_packets} out of range")
        self.window = window
        self.hold_packets = hold_packets
        self.hold_time = hold_time
        self.ifp_version = ifp_version
        self.stats = UdptlStats()
        self._started = False
        self._expected = 0              # extended (unwrapped) seq of the next delivery
        self._highest = -1
        self._pending: dict[int, tuple[bytes, str]] = {}
        self._primary: set[int] = set()  # held seqs that arrived as primaries
        self._history: dict[int, bytes] = {}    # delivered IFPs, for FEC recovery
        self._fec: dict[int, FecInfo] = {}      # FEC information of held packets
        self._gap_since: float | None = None

    @property
    def expected(self) -> int:
        """The sequence number the receiver delivers next."""
        return self._expected & 0xFFFF

    @property
    def held(self) -> int:
        """How many packets wait behind a gap (at most ``window``)."""
        return len(self._pending)

    @property
    def remembered(self) -> int:
        """How many delivered IFPs and FEC entries are kept (each at most ``window``)."""
        return len(self._history) + len(self._fec)

    def feed(self, datagram: bytes, now: float = 0.0) -> list[Delivery]:
        """One received datagram; the IFPs now deliverable, in order. Never raises."""
        self.stats.datagrams += 1
        try:
            pkt = decode_udptl(datagram)
        except UdptlError as exc:
            self.stats.malformed += 1
            log.debug("UDPTL datagram dropped: %s", exc)
            return []
        out: list[Delivery] = []
        if not self._started:
            self._start(pkt, 0)
        d = ((pkt.seq - self._expected + 0x8000) & 0xFFFF) - 0x8000
        if abs(d) > RESTART_JUMP:
            log.info("UDPTL sequence jumped by %d: a new stream", d)
            self.stats.restarts += 1
            at = self._expected + d         # before the release moves _expected
            self._release_all(out)
            self._start(pkt, at - pkt.seq)
            d = ((pkt.seq - self._expected + 0x8000) & 0xFFFF) - 0x8000
        s = self._expected + d
        if s < self._expected:
            self.stats.late += 1
            return self._tick(out, now)
        if s in self._primary:
            self.stats.duplicates += 1
            return self._tick(out, now)
        if s - self._expected >= self.window:
            self._skip_to(out, s - min(len(pkt.secondary), self.hold_packets))
        self._pending[s] = (pkt.primary, "primary")
        self._primary.add(s)
        for i, ifp in enumerate(pkt.secondary):
            t = s - 1 - i
            if t < self._expected or i >= self.window:
                break
            if t not in self._pending:
                self._pending[t] = (ifp, "redundancy")
        if pkt.fec is not None and pkt.fec.entries and pkt.fec.npackets:
            if pkt.fec.npackets * len(pkt.fec.entries) <= min(MAX_FEC_COVER, self.window):
                self._fec[s] = pkt.fec
            else:
                self.stats.fec_ignored += 1
        self._highest = max(self._highest, s)
        return self._tick(out, now, fresh=True)

    def poll(self, now: float) -> list[Delivery]:
        """Release what waited ``hold_time`` on a gap. Never raises."""
        return self._tick([], now)

    # -- internals --

    def _start(self, pkt: UdptlPacket, base: int) -> None:
        """A new stream at ``pkt`` (extended seq ``base + pkt.seq``); its secondaries are
        the packets before it."""
        self._started = True
        self._expected = base + pkt.seq - min(len(pkt.secondary), self.hold_packets)
        self._highest = self._expected - 1
        self._history.clear()
        self._fec.clear()

    def _tick(self, out: list[Delivery], now: float, fresh: bool = False) -> list[Delivery]:
        self._deliver(out)
        # FEC can rebuild a packet only when something new became known (``fresh``);
        # a few passes, as a rebuilt packet can complete another group
        for _ in range(4):
            if not (fresh and self._pending and self._fec and self._recover_fec()):
                break
            self._deliver(out)
        while self._pending and self._highest - self._expected >= self.hold_packets:
            self._advance(out, lose=True)
            self._deliver(out)
        if self._pending:
            if self._gap_since is None:
                self._gap_since = now
            elif now - self._gap_since >= self.hold_time:
                self._release_all(out)
        if not self._pending:
            self._gap_since = None
        return out

    def _deliver(self, out: list[Delivery]) -> None:
        while self._expected in self._pending:
            self._advance(out, lose=False)

    def _advance(self, out: list[Delivery], lose: bool) -> None:
        """Deliver the packet at ``_expected`` (or give it up as lost) and move on."""
        s = self._expected
        got = self._pending.pop(s, None)
        if got is None:
            if not lose:
                return
            out.append(Delivery(s & 0xFFFF, None, "lost"))
            self.stats.lost += 1
        else:
            ifp, source = got
            out.append(Delivery(s & 0xFFFF, ifp, source))
            if source == "redundancy":
                self.stats.recovered_redundancy += 1
            elif source == "fec":
                self.stats.recovered_fec += 1
            self._history[s] = ifp
        self._primary.discard(s)
        self._fec.pop(s, None)
        self._history.pop(s - self.window, None)
        self._expected = s + 1

    def _known(self, t: int) -> bytes | None:
        got = self._pending.get(t)
        if got is not None:
            return got[0]
        return self._history.get(t)

    def _recover_fec(self) -> bool:
        """Rebuild held-up packets from stored FEC entries; True if any was."""
        missing = [t for t in range(self._expected, self._highest) if t not in self._pending]
        if not missing:
            return False
        lo, hi = missing[0], missing[-1]
        found = False
        for f, info in list(self._fec.items()):
            span, e = info.npackets, len(info.entries)
            base = f - span * e
            if f <= lo or base > hi:
                continue                        # this packet's groups hold no gap
            for m in range(e):
                members = range(base + m, f, e)
                gone = [t for t in members if self._known(t) is None]
                # one member unknown and not settled yet: it is the XOR of the rest
                if len(gone) != 1 or gone[0] < self._expected:
                    continue
                acc = bytearray(info.entries[m])
                for t in members:
                    if t != gone[0]:
                        _xor_into(acc, self._known(t) or b"")
                rebuilt = bytes(acc)
                if self.ifp_version is not None:
                    try:                    # cut the zero padding: the exact IFP
                        rebuilt = rebuilt[:coded_length(rebuilt, self.ifp_version)]
                    except IfpError:
                        self.stats.fec_bad += 1
                        continue            # not an IFP: the FEC data was bad
                self._pending[gone[0]] = (rebuilt, "fec")
                found = True
        return found

    def _skip_to(self, out: list[Delivery], start: int) -> None:
        """A packet a window or more ahead: release what is held, then report the rest of
        the gap as one lost delivery (bounded work per datagram, whatever the jump) and
        go on at ``start`` (the new packet's oldest secondary)."""
        self._release_all(out)
        if start > self._expected:
            out.append(Delivery(self._expected & 0xFFFF, None, "lost"))
            self.stats.lost += start - self._expected
            self._expected = start
            self._highest = start - 1
            self._history.clear()           # nothing in it is within reach any more
            self._fec.clear()

    def _release_all(self, out: list[Delivery]) -> None:
        """Everything held, in order, the gaps as lost (before a restart)."""
        while self._pending:
            self._advance(out, lose=True)
