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
sequence numbers are part of the object, allocated once; a packet longer than half the
ring is dropped. The per-packet work is C (:mod:`faxcore.rtp._core`, whose header states
its memory-safety invariants); this module is its Python face.

Counts (:class:`JitterStats`): ``lost`` = sequence numbers never seen (RFC 3550's
expected minus received, per source and timeline, summed), ``late``, ``duplicates``,
``concealed`` = samples played as silence after the first packet, and so on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from faxcore.rtp import _core, g711
from faxcore.rtp.packet import RtpPacket

__all__ = ["JitterBuffer", "JitterStats", "RING", "SAMPLE_RATE", "TELEPHONE_EVENT"]

SAMPLE_RATE = 8000
#: the dynamic payload type we offer for RFC 4733 events (a=rtpmap:101 telephone-event)
TELEPHONE_EVENT = 101
#: ring size in samples (2.048 s): the furthest ahead a packet may be placed
RING: int = _core.RING_SAMPLES
#: sequence numbers remembered for duplicate detection
SEQ_WINDOW: int = _core.SEQ_WINDOW_PACKETS
#: RFC 3550 A.1: the largest forward jump and backward step that are still in sequence
MAX_DROPOUT: int = _core.MAX_DROPOUT_PACKETS
MAX_MISORDER: int = _core.MAX_MISORDER_PACKETS
#: late packets in a row that mean the playout point is behind the sender's timeline
LATE_RESYNC: int = _core.LATE_RESYNC_PACKETS

#: payload type -> its 256-entry int16 decoding table (one octet per sample)
DEFAULT_DECODERS: Mapping[int, np.ndarray] = {
    pt: g711.decode_table(pt) for pt in (g711.PCMU, g711.PCMA)}


@dataclass
class JitterStats:
    """What the buffer did with the packets it was given (totals over restarts). Each
    packet is counted once, in one of received, late, duplicates, events, ignored,
    strays."""

    #: audio packets placed in the buffer (in time, or partly: the rest played)
    received: int = 0
    #: sequence numbers never seen (RFC 3550: expected - received)
    lost: int = 0
    #: audio packets that came after all their samples were played (dropped)
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


class JitterBuffer(_core.JitterCore):
    """A fixed-depth jitter buffer (see the module docstring). ``depth_ms``: how far
    behind the first audio packet playout runs (the most network jitter absorbed).
    ``decoders``: payload type -> 256-entry int16 table decoding its octets (default
    PCMU and PCMA). ``event_types``: RFC 4733 payload types to ignore.

    ``put(packet)`` or ``put_fields(ssrc, seq, timestamp, payload_type, data, offset=0,
    end=None)`` (the header fields and the payload ``data[offset:end]``, for a caller
    that parsed a plain header itself) take a packet and say what became of it:
    "audio", "late", "duplicate", "event", "ignored" or "stray". ``pop(n=160)`` gives
    the next ``n`` int16 samples at the playout clock (silence where no packet brought
    them, and before the first audio packet). ``ssrc``, ``started``, ``buffered``
    (samples held), ``depth`` (samples) and :attr:`stats` say where it is."""

    def __init__(self, depth_ms: float = 60.0, *,
                 decoders: Mapping[int, np.ndarray] = DEFAULT_DECODERS,
                 event_types: Collection[int] = (TELEPHONE_EVENT,)) -> None:
        depth = round(depth_ms * SAMPLE_RATE / 1000)
        if not 0 <= depth <= RING // 2:
            raise ValueError(f"depth {depth_ms} ms is not 0..{RING // 2 * 1000 // SAMPLE_RATE}")
        super().__init__(depth, decoders, event_types)

    def put(self, pkt: RtpPacket) -> str:
        """Take one packet; returns what became of it (see the class docstring)."""
        return self.put_fields(pkt.ssrc, pkt.seq, pkt.timestamp, pkt.payload_type,
                               bytes(pkt.payload))

    @property
    def stats(self) -> JitterStats:
        """The counts so far (a new object; ``lost`` includes the current source's)."""
        return JitterStats(*self.counts())
