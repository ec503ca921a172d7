"""Fuzz targets for faxcore.rtp, registered by :mod:`faxcore.testing.fuzz`.

``FUZZ`` lists ``(name, run, max_len)``: ``run(data, opts) -> signature`` feeds hostile
bytes to the parser and raises only when a promise broke (see faxcore.testing.fuzz);
``name`` is also the corpus directory tests/corpus/<name>/.

* ``rtp``: the input is a sequence of datagrams, each a 2-octet big-endian length then
  that many octets (a length past the end takes the rest). The whole input is also
  parsed as one datagram. Each datagram: :meth:`RtpPacket.parse` gives a packet or
  raises :class:`RtpError` (nothing else); a packet builds to as many octets and parses
  back to itself. Then the datagrams go in turn into an :class:`RtpAudioStream`
  (jitter buffer: 60 ms, and 0 ms for a second run), a 160-sample block played after
  each: every block is 160 int16 samples, every datagram is accounted for in exactly
  one count, the counts stay consistent and the buffer's memory does not grow.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Mapping

import numpy as np

from faxcore.rtp import FRAME, RtpAudioStream, RtpError, RtpPacket
from faxcore.rtp.jitter import RING

__all__ = ["FUZZ", "datagrams", "pack_datagrams"]

MAX_LEN = 8192


def datagrams(data: bytes) -> list[bytes]:
    """Split an ``rtp`` fuzz input into its datagrams (see the module docstring)."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos:pos + 2], "big")
        out.append(data[pos + 2:pos + 2 + n])
        pos += 2 + n
    return out


def pack_datagrams(items: list[bytes]) -> bytes:
    """The inverse of :func:`datagrams`: an ``rtp`` corpus input."""
    return b"".join(len(d).to_bytes(2, "big") + d for d in items)


def _parse(d: bytes) -> str:
    try:
        pkt = RtpPacket.parse(d)
    except RtpError as exc:
        return str(exc).split(" ", 1)[-1][:24]
    again = pkt.build()
    assert len(again) == len(d), (len(again), len(d))
    assert RtpPacket.parse(again) == pkt, "build/parse round trip differs"
    # the fixed header and the payload are carried exactly
    assert again[1:12] == d[1:12] and pkt.payload in d
    return "ok"


def _feed(items: list[bytes], depth_ms: float) -> tuple:
    s = RtpAudioStream(depth_ms=depth_ms, ssrc=1, seq=0, timestamp=0)
    j = s.jitter
    size = sys.getsizeof(j)
    kinds = []
    for d in items:
        kinds.append(s.receive(d))
        block = s.play()
        assert block.dtype == np.int16 and block.shape == (FRAME,), (block.dtype, block.shape)
    st = s.stats
    assert sys.getsizeof(j) == size and 0 <= j.buffered <= RING, "buffer grew"
    counts = (st.received, st.late, st.duplicates, st.events, st.ignored, st.strays,
              st.malformed)
    assert min(counts) >= 0 and st.lost >= 0 and st.restarts >= 0, st
    # every datagram lands in exactly one count (a resync after a late run moves one
    # packet from "late" to "received"; the counts still sum)
    assert sum(counts) == len(items), (st, len(items))
    assert 0 <= st.concealed <= st.played <= FRAME * len(items), st
    assert kinds.count("malformed") == st.malformed
    return tuple(dict.fromkeys(kinds))[:6]


def _rtp(data: bytes, opts: Mapping[str, int]) -> Hashable:
    items = datagrams(data)
    whole = _parse(data)
    parsed = tuple(dict.fromkeys(_parse(d) for d in items[:64]))[:4]
    return (whole, parsed, _feed(items, 60.0), _feed(items, 0.0))


FUZZ: tuple[tuple[str, Callable[[bytes, Mapping[str, int]], Hashable], int], ...] = (
    ("rtp", _rtp, MAX_LEN),
)
