"""RtpAudioStream, the sans-IO G.711 RTP stream: the packets it sends (the octets
RtpPacket.build gives: marker on the first only, sequence +1 and timestamp +160 with
wrap, random initial values), what it plays from what it receives, and its fast
receive path, which must do exactly what the general parse + JitterBuffer.put does."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.rtp import FRAME, PCMA, PCMU, JitterBuffer, RtpAudioStream, RtpPacket, g711


def tone(k: int = 0) -> np.ndarray:
    return (9000 * np.sin(np.arange(FRAME) * 0.3 + k)).astype(np.int16)


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_sent_packets(pt):
    s = RtpAudioStream(pt, ssrc=0xCAFEBABE, seq=65534, timestamp=(1 << 32) - 160)
    got = [RtpPacket.parse(s.send(tone(k))) for k in range(4)]
    assert [p.seq for p in got] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in got] == [(1 << 32) - 160, 0, 160, 320]
    assert [p.marker for p in got] == [True, False, False, False]
    assert {p.ssrc for p in got} == {0xCAFEBABE} and {p.payload_type for p in got} == {pt}
    assert got[2].payload == g711.encode(tone(2), pt)
    assert s.stats.sent == 4
    # the same octets as the general builder
    s2 = RtpAudioStream(pt, ssrc=1, seq=2, timestamp=3)
    assert s2.send(tone()) == RtpPacket(pt, 2, 3, 1, g711.encode(tone(), pt), marker=True).build()
    # other sample types go through the general encoder; floats are refused
    assert RtpPacket.parse(s2.send(tone().astype(np.int32))).payload == g711.encode(tone(), pt)
    assert RtpPacket.parse(s2.send(tone()[::-1])).payload == g711.encode(tone()[::-1], pt)
    with pytest.raises(ValueError):
        s2.send(np.zeros(FRAME))


def test_initial_values_are_random():
    firsts = {(s.ssrc, s.seq, s.timestamp) for s in (RtpAudioStream() for _ in range(20))}
    assert len(firsts) == 20
    a, b = RtpAudioStream(rng=random.Random(3)), RtpAudioStream(rng=random.Random(3))
    assert (a.ssrc, a.seq, a.timestamp) == (b.ssrc, b.seq, b.timestamp)
    with pytest.raises(ValueError, match="G.711"):
        RtpAudioStream(payload_type=18)


def test_received_audio_is_played_a_depth_later():
    tx = RtpAudioStream(PCMA, rng=random.Random(1))
    rx = RtpAudioStream(PCMU, depth_ms=40)
    out = []
    for k in range(10):
        rx.receive(tx.send(tone(k)))
        out.append(rx.play())
    assert not np.concatenate(out[:2]).any()
    for k in range(8):
        assert np.array_equal(out[k + 2], g711.decode(g711.encode(tone(k), PCMA), PCMA))
    assert rx.receive(b"\x00garbage") == "malformed" and rx.receive(b"") == "malformed"
    st_ = rx.stats
    assert (st_.received, st_.malformed, st_.lost, st_.sent) == (10, 2, 0, 0)
    assert "malformed 2" in st_.summary()


datagram = st.one_of(
    st.builds(lambda pt, seq, ts, ssrc, n: RtpPacket(pt, seq, ts, ssrc, bytes(range(n % 256)) * (
        n // 256 + 1)).build()[:12 + n],
        st.sampled_from([0, 8, 101, 13]), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
        st.sampled_from([1, 2]), st.integers(0, 400)),
    st.binary(max_size=40),
)


@given(st.lists(datagram, max_size=60), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
def test_the_fast_receive_path_equals_parse_and_put(items, seq, ts):
    """A stream of datagrams, near one another in sequence and time or not: the stream's
    fast path and RtpPacket.parse + JitterBuffer.put agree on every outcome and sample."""
    rng = random.Random(seq)
    near = []
    for i, d in enumerate(items):
        if len(d) >= 12 and rng.random() < 0.7:   # mostly a plausible stream
            d = (d[:2] + ((seq + i) & 0xFFFF).to_bytes(2, "big")
                 + ((ts + 160 * i) & 0xFFFFFFFF).to_bytes(4, "big") + d[8:])
        near.append(d)
    stream, jb = RtpAudioStream(depth_ms=40), JitterBuffer(40)
    for d in near:
        try:
            want = jb.put(RtpPacket.parse(d))
        except ValueError:
            want = "malformed"
        assert stream.receive(d) == want
        assert np.array_equal(stream.play(), jb.pop(FRAME))
    s, j = stream.stats, jb.stats
    assert (s.received, s.lost, s.late, s.duplicates, s.strays, s.restarts, s.concealed) == (
        j.received, j.lost, j.late, j.duplicates, j.strays, j.restarts, j.concealed)
