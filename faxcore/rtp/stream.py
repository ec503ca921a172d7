"""A sans-IO G.711 RTP audio stream: 160-sample blocks in, datagrams out; datagrams in,
160-sample blocks out at the playout clock. The caller owns the socket and the 20 ms
clock (:mod:`faxcore.sipfax.rtp_media` is the asyncio one).

    stream = RtpAudioStream(payload_type=PCMU, depth_ms=60)
    every 20 ms:
        sock.sendto(stream.send(block_of_160_samples), peer)
        audio = stream.play()                 # 160 int16 samples
    on each datagram:
        stream.receive(datagram)
    stream.stats                              # StreamStats

Sending (RFC 3550 §5.1, RFC 3551): a random initial SSRC, sequence number and timestamp
(from ``random.SystemRandom`` unless a seeded ``rng`` is given, for tests); the sequence
number +1 and the timestamp +160 per packet, both wrapping; the marker bit on the first
packet only (the start of a talkspurt: there is no silence suppression for fax). No
VAD, no comfort noise, no events: every block is sent.

Receiving: any datagram is accepted (the caller filters by source address); one that
is not RTP is counted in ``malformed`` and dropped (never raises); packets go to a
:class:`~faxcore.rtp.jitter.JitterBuffer`, PCMU and PCMA decoded whatever payload type
we send (each packet names its own), RFC 4733 events and other types ignored.
"""

from __future__ import annotations

import logging
import random
import struct
from dataclasses import dataclass

import numpy as np

from faxcore.rtp import _core, g711
from faxcore.rtp.jitter import TELEPHONE_EVENT, JitterBuffer
from faxcore.rtp.packet import HEADER_LEN, RtpError, RtpPacket

__all__ = ["FRAME", "PTIME_MS", "RtpAudioStream", "StreamStats"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!BBHII")

#: samples per packet (20 ms at 8 kHz) and the packet time
FRAME = 160
PTIME_MS = 20


@dataclass(frozen=True)
class StreamStats:
    """A stream's counts: what it sent, and what the receive side saw (see
    :class:`~faxcore.rtp.jitter.JitterStats` for the receive counts)."""

    sent: int
    received: int
    lost: int
    late: int
    duplicates: int
    malformed: int
    events: int
    ignored: int
    strays: int
    restarts: int
    played: int
    concealed: int

    def summary(self) -> str:
        """One line for logs and progress output."""
        return (f"RTP sent {self.sent}, received {self.received}, lost {self.lost}, "
                f"late {self.late}, duplicates {self.duplicates}, malformed {self.malformed}, "
                f"concealed {self.concealed / 8000:.2f} s")


class RtpAudioStream:
    """One G.711 RTP stream, both directions (see the module docstring).

    ``payload_type``: what we send, :data:`~faxcore.rtp.g711.PCMU` (0) or
    :data:`~faxcore.rtp.g711.PCMA` (8). ``depth_ms``: the jitter buffer's fixed depth.
    ``event_types``: RFC 4733 payload types to ignore (the SDP's telephone-event, 101).
    ``rng``: a ``random.Random`` for the initial SSRC, sequence number and timestamp
    (default: the system's); ``ssrc``, ``seq``, ``timestamp`` set them instead."""

    def __init__(self, payload_type: int = g711.PCMU, *, depth_ms: float = 60.0,
                 event_types: tuple[int, ...] = (TELEPHONE_EVENT,),
                 rng: random.Random | None = None, ssrc: int | None = None,
                 seq: int | None = None, timestamp: int | None = None) -> None:
        if not g711.law_of(payload_type):
            raise ValueError(f"payload type {payload_type}: G.711 is PCMU 0 or PCMA 8")
        rng = rng or random.SystemRandom()
        self.payload_type = payload_type
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self.seq = rng.getrandbits(16) if seq is None else seq
        self.timestamp = rng.getrandbits(32) if timestamp is None else timestamp
        self.jitter = JitterBuffer(depth_ms, event_types=event_types)
        self._encode = g711.encode_table(payload_type)
        self.sent = 0
        self.malformed = 0

    def send(self, samples: np.ndarray) -> bytes:
        """One RTP datagram carrying ``samples`` (int16, normally :data:`FRAME` of them:
        the timestamp advances by their count)."""
        b1 = self.payload_type | (0x80 if self.sent == 0 else 0)
        try:
            # the hot path (every 20 ms), in C, for a 1-D int16 array: the octets
            # RtpPacket.build would give (tests/rtp/test_rtp_stream.py)
            out = _core.g711_packet(b1, self.seq, self.timestamp, self.ssrc, samples,
                                    self._encode)
        except (TypeError, ValueError):
            # another dtype or shape (the C path refuses it): the general encoder, which
            # clips other integers and refuses floats
            out = _HEADER.pack(0x80, b1, self.seq, self.timestamp, self.ssrc) + g711.encode(
                samples, self.payload_type)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(out) - HEADER_LEN) & 0xFFFFFFFF
        self.sent += 1
        return out

    def receive(self, datagram: bytes) -> str:
        """Take one received datagram; returns what became of it ("malformed", or what
        :meth:`JitterBuffer.put` says). Never raises for hostile bytes."""
        if isinstance(datagram, bytes):
            # the hot path, in C: a plain 12-octet header (what RtpPacket.parse would
            # say of it); None for anything else, which gets the full parse
            done = self.jitter.put_datagram(datagram)
            if done is not None:
                return done
        try:
            pkt = RtpPacket.parse(datagram)
        except RtpError as exc:
            self.malformed += 1
            log.debug("RTP: dropped a malformed datagram: %s", exc)
            return "malformed"
        return self.jitter.put(pkt)

    def play(self, n: int = FRAME) -> np.ndarray:
        """The next ``n`` received samples at the playout clock (silence where none)."""
        return self.jitter.pop(n)

    @property
    def stats(self) -> StreamStats:
        j = self.jitter.stats
        return StreamStats(sent=self.sent, received=j.received, lost=j.lost, late=j.late,
                           duplicates=j.duplicates, malformed=self.malformed, events=j.events,
                           ignored=j.ignored, strays=j.strays, restarts=j.restarts,
                           played=j.played, concealed=j.concealed)
