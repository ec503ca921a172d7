"""A fixed jitter buffer for fax over G.711: packets are placed by their RTP timestamp
into a ring of samples and played out at a steady clock, ``depth`` behind the first
packet. No time-stretching, no packet loss concealment: fax modems need sample-exact
timing, so a missing or late packet becomes silence (and is counted), never stretched or
interpolated audio (t38-sip-facts §5).

    jb = JitterBuffer(depth_ms=60)
    jb.put(RtpPacket.parse(datagram))    # as datagrams arrive, in any order
    block = jb.pop(160)                  # every 20 ms: 160 int16 samples
    jb.stats                             # JitterStats: received, lost, late, duplicates ...

Rules, in the order :meth:`JitterBuffer.put` applies them:

* **SSRC change**: a packet from a new SSRC restarts the buffer (the old source's state
  is dropped, its losses kept in the totals): the next audio packet starts a new
  timeline ``depth`` ahead of the playout point.
* **Sequence numbers** (16 bits, wrapping) are extended as RFC 3550 A.1 does. A jump of
  more than ``MAX_DROPOUT`` forward or ``MAX_MISORDER`` back is a *stray* packet and is
  dropped, unless the next packet follows it in sequence: then the sender restarted
  its numbering and the buffer resynchronises (``restarts``).
* **Duplicates** (a sequence number seen among the last ``SEQ_WINDOW``) are dropped.
* **RFC 4733 telephone-event** payloads (``event_types``, default 101) and other
  non-audio payload types (comfort noise 13, ...) are ignored: their sequence numbers
  count as received (they share the source's numbering) but they play no audio.
* **Audio** (``decoders``: PCMU 0 and PCMA 8, one octet per sample) goes at its timestamp (32 bits, wrapping).
  A packet whose samples were all played already is *late* and dropped; a packet
  further ahead than the ring holds is a stray. ``LATE_RESYNC`` late packets in a row,
  or two strays in sequence, mean the sender's timeline moved (a pause, clock drift):
  the buffer resynchronises on the newest packet, ``depth`` ahead.

Memory is bounded: the ring of ``RING`` samples and the window of ``SEQ_WINDOW``
sequence numbers are allocated once; a packet longer than half the ring is dropped.

Counts (:class:`JitterStats`): ``lost`` = sequence numbers never seen (RFC 3550's
expected minus received, per source and timeline, summed), ``late``, ``duplicates``,
``concealed`` = samples played as silence after the first packet, and so on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from faxcore.rtp import g711
from faxcore.rtp.packet import RtpPacket

__all__ = ["JitterBuffer", "JitterStats", "RING", "SAMPLE_RATE", "TELEPHONE_EVENT"]

SAMPLE_RATE = 8000
#: the dynamic payload type we offer for RFC 4733 events (a=rtpmap:101 telephone-event)
TELEPHONE_EVENT = 101
#: ring size in samples (2.048 s): the furthest ahead a packet may be placed
RING = 1 << 14
#: sequence numbers remembered for duplicate detection
SEQ_WINDOW = 1024
#: RFC 3550 A.1: the largest forward jump and backward step that are still in sequence
MAX_DROPOUT = 3000
MAX_MISORDER = 100
#: late packets in a row that mean the playout point is behind the sender's timeline
LATE_RESYNC = 4

#: payload type -> its 256-entry int16 decoding table (one octet per sample)
DEFAULT_DECODERS: Mapping[int, np.ndarray] = {
    pt: g711.decode_table(pt) for pt in (g711.PCMU, g711.PCMA)}

_M16 = 0xFFFF
_M32 = 0xFFFFFFFF


@dataclass
class JitterStats:
    """What the buffer did with the packets it was given (totals over restarts)."""

    #: audio packets placed in the buffer (in time)
    received: int = 0
    #: sequence numbers never seen (RFC 3550: expected - received)
    lost: int = 0
    #: audio packets that came after all their samples were played (dropped); each packet
    #: is counted once, in one of received, late, duplicates, events, ignored, strays
    late: int = 0
    #: packets whose sequence number was seen already (dropped)
    duplicates: int = 0
    #: RFC 4733 telephone-event packets (ignored)
    events: int = 0
    #: packets of other payload types (comfort noise, video...; ignored)
    ignored: int = 0
    #: packets out of every window (a timestamp or sequence jump; dropped) and packets
    #: too long for the ring
    strays: int = 0
    #: new SSRCs after the first, and resynchronisations on a moved timeline
    restarts: int = 0
    #: samples played out from the first audio packet's timestamp on
    played: int = 0
    #: of those, samples played as silence because no packet held them
    concealed: int = 0


class JitterBuffer:
    """A fixed-depth jitter buffer (see the module docstring). ``depth_ms``: how far
    behind the first audio packet playout runs (the most network jitter absorbed).
    ``decoders``: payload type -> 256-entry int16 table decoding its octets (default
    PCMU and PCMA). ``event_types``: RFC 4733 payload types to ignore."""

    def __init__(self, depth_ms: float = 60.0, *,
                 decoders: Mapping[int, np.ndarray] = DEFAULT_DECODERS,
                 event_types: Collection[int] = (TELEPHONE_EVENT,)) -> None:
        depth = round(depth_ms * SAMPLE_RATE / 1000)
        if not 0 <= depth <= RING // 2:
            raise ValueError(f"depth {depth_ms} ms is not 0..{RING // 2 * 1000 // SAMPLE_RATE}")
        self.depth = depth
        self.decoders = dict(decoders)
        self.event_types = frozenset(event_types)
        self._ring = np.zeros(RING, np.int16)
        self._have = np.zeros(RING, bool)
        self._seen = np.full(SEQ_WINDOW, -1, np.int64)
        self._stats = JitterStats()
        self.ssrc: int | None = None
        self._new_source()

    # ---- state ------------------------------------------------------------------------

    def _new_source(self) -> None:
        """Forget the sequence numbering and the timeline (keep the totals)."""
        self._max_seq: int | None = None   # highest extended sequence number seen
        self._base_seq = 0                 # lowest
        self._unique = 0                   # distinct sequence numbers seen
        self._seen.fill(-1)
        self._play: int | None = None      # extended timestamp of the next sample out
        self._lead = 0                     # samples still to play before the timeline
        self._ring.fill(0)
        self._have.fill(False)
        self._late_run = 0
        self._stray: int | None = None     # the sequence number a stray's successor has

    def _epoch_lost(self) -> int:
        if self._max_seq is None:
            return 0
        return max(0, self._max_seq - self._base_seq + 1 - self._unique)

    def _restart(self) -> None:
        self._stats.lost += self._epoch_lost()
        self._stats.restarts += 1
        self._new_source()

    @property
    def stats(self) -> JitterStats:
        """The counts so far (a copy; ``lost`` includes the current source's)."""
        s = JitterStats(**vars(self._stats))
        s.lost += self._epoch_lost()
        return s

    @property
    def started(self) -> bool:
        """True once an audio packet has set the timeline."""
        return self._play is not None

    @property
    def buffered(self) -> int:
        """Samples held ahead of the playout point (the filled ones)."""
        return int(self._have.sum())

    # ---- input ------------------------------------------------------------------------

    def put(self, pkt: RtpPacket) -> str:
        """Take one packet; returns what became of it: "audio", "late", "duplicate",
        "event", "ignored" or "stray" (also counted in :attr:`stats`)."""
        return self.put_fields(pkt.ssrc, pkt.seq, pkt.timestamp, pkt.payload_type,
                               pkt.payload)

    def put_fields(self, ssrc: int, seq: int, timestamp: int, payload_type: int,
                   data: bytes, offset: int = 0, end: int | None = None) -> str:
        """:meth:`put` from the header fields and the payload ``data[offset:end]``, for a
        caller that parsed a plain header itself (the stream's fast path)."""
        st = self._stats
        if self.ssrc != ssrc:
            if self.ssrc is not None:
                self._restart()
            self.ssrc = ssrc
        ext = self._extend_seq(seq)
        if ext is None:
            return self._stray_packet(ssrc, seq, timestamp, payload_type, data, offset, end)
        if self._seen[ext % SEQ_WINDOW] == ext:
            st.duplicates += 1
            return "duplicate"
        table = self.decoders.get(payload_type)
        if table is None:
            self._mark(ext)
            if payload_type in self.event_types:
                st.events += 1
                return "event"
            st.ignored += 1
            return "ignored"
        n = (len(data) if end is None else end) - offset
        if n > RING // 2:
            st.strays += 1
            return "stray"
        if self._play is None:
            self._resync(timestamp, restart=False)
        # the timestamp extended near the playout point (RTP timestamps wrap at 2^32)
        off = (timestamp - self._play) & _M32
        if off >= 1 << 31:
            off -= 1 << 32
        if off + n <= 0:
            self._mark(ext)
            st.late += 1
            self._late_run += 1
            if self._late_run < LATE_RESYNC:
                return "late"
            # the sender's timeline is ahead of ours: play from this packet again
            st.late -= 1
            self._resync(timestamp)
            off = self.depth
            self._unique -= 1                # marked again below
        elif off + n > RING:
            return self._stray_packet(ssrc, seq, timestamp, payload_type, data, offset, end)
        self._mark(ext)
        self._late_run = 0
        self._stray = None
        if off < 0:
            # partly played already: the rest still plays (a received packet, not a late
            # one; its played part was silence, counted in ``concealed``)
            offset -= off
            n += off
            off = 0
        self._place(off, table, data, offset, n)
        st.received += 1
        return "audio"

    def _extend_seq(self, seq: int) -> int | None:
        """The extended sequence number, or None for a stray (RFC 3550 A.1)."""
        if self._max_seq is None:
            self._max_seq = self._base_seq = seq
            return seq
        d = (seq - self._max_seq) & _M16
        if d >= 1 << 15:
            d -= 1 << 16
        if d > MAX_DROPOUT or d < -MAX_MISORDER:
            return None
        ext = self._max_seq + d
        if ext > self._max_seq:
            self._max_seq = ext
        elif ext < self._base_seq:
            if self._max_seq - ext >= SEQ_WINDOW:
                return None
            self._base_seq = ext
        return ext

    def _mark(self, seq: int) -> None:
        self._seen[seq % SEQ_WINDOW] = seq
        self._unique += 1

    def _stray_packet(self, ssrc: int, seq: int, timestamp: int, payload_type: int,
                      data: bytes, offset: int, end: int | None) -> str:
        """A packet out of every window: dropped, unless it follows the previous stray
        in sequence, which means the sender's numbering or timeline moved."""
        if self._stray is not None and seq == self._stray:
            # the first stray is gone; this one starts the new numbering and timeline
            self._restart()
            return self.put_fields(ssrc, seq, timestamp, payload_type, data, offset, end)
        self._stray = (seq + 1) & _M16
        self._stats.strays += 1
        return "stray"

    def _resync(self, timestamp: int, *, restart: bool = True) -> None:
        """Start the timeline so that ``timestamp`` plays ``depth`` from now."""
        self._stats.restarts += restart
        self._ring.fill(0)
        self._have.fill(False)
        self._play = timestamp - self.depth
        self._lead = self.depth            # the silence before it is no loss
        self._late_run = 0

    def _place(self, off: int, table: np.ndarray, data: bytes, offset: int, n: int) -> None:
        """Decode the ``n`` octets at ``data[offset:]`` into the ring, ``off`` samples
        after the playout point (0 <= off, off + n <= RING: checked by the caller)."""
        codes = np.frombuffer(data, np.uint8, n, offset)
        start = (self._play + off) % RING
        first = min(n, RING - start)
        table.take(codes[:first], out=self._ring[start:start + first])
        self._have[start:start + first] = True
        if first < n:
            table.take(codes[first:], out=self._ring[:n - first])
            self._have[:n - first] = True

    # ---- output -----------------------------------------------------------------------

    def pop(self, n: int = 160) -> np.ndarray:
        """The next ``n`` samples at the playout clock (a new int16 array): silence
        where no packet brought them, and before the first audio packet."""
        if not 0 <= n <= RING:
            raise ValueError(f"pop({n}): 0..{RING} samples")
        if self._play is None:
            return np.zeros(n, np.int16)
        start = self._play % RING
        skip = min(n, self._lead)
        self._lead -= skip
        if start + n <= RING:               # the common case: no wrap, slices
            out = self._ring[start:start + n].copy()
            have = int(np.count_nonzero(self._have[start + skip:start + n]))
            self._ring[start:start + n] = 0
            self._have[start:start + n] = False
        else:
            idx = np.arange(start, start + n) % RING
            out = self._ring[idx]
            have = int(np.count_nonzero(self._have[idx][skip:]))
            self._ring[idx] = 0
            self._have[idx] = False
        self._play += n
        self._stats.played += n - skip
        self._stats.concealed += n - skip - have
        return out
