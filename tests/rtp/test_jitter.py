"""The fixed jitter buffer (faxcore.rtp.jitter): what comes out, sample by sample, for
packets in order, reordered within the depth, lost, late, duplicated, across sequence
number and timestamp wrap, from a new SSRC, mixed with RFC 4733 telephone events and
comfort noise, and after sequence/timestamp jumps; and its memory stays bounded."""

from __future__ import annotations

import random
import sys
import tracemalloc

import numpy as np
import pytest

from faxcore.rtp import JitterBuffer, RtpPacket, g711
from faxcore.rtp.jitter import LATE_RESYNC, RING, SEQ_WINDOW

F = 160


def block(k: int) -> np.ndarray:
    """Packet k's audio: a level no other packet has, exact through PCMU."""
    return np.full(F, int(g711.decode(bytes([k % 120]), 0)[0]), np.int16)


def pkt(k: int, *, seq0: int = 1000, ts0: int = 5000, ssrc: int = 7, pt: int = 0,
        payload: bytes | None = None) -> RtpPacket:
    """The k-th packet of a 20 ms stream (sequence and timestamp wrap like RTP's)."""
    return RtpPacket(pt, (seq0 + k) & 0xFFFF, (ts0 + F * k) & 0xFFFFFFFF, ssrc,
                     g711.encode(block(k), 0) if payload is None else payload)


def run(arrivals: list[list[RtpPacket]], jb: JitterBuffer, extra: int = 3) -> list[np.ndarray]:
    """Each tick: the tick's packets go in, then one 20 ms block comes out; then
    ``extra`` more blocks (the depth: what is still buffered; more is silence, which
    counts as concealed)."""
    out = []
    for got in arrivals + [[]] * extra:
        for p in got:
            jb.put(p)
        out.append(jb.pop(F))
    return out


def expect(out: list[np.ndarray], lead: int, want: list[int | None]) -> None:
    """After ``lead`` silent blocks, block i is packet want[i] (None: silence)."""
    for i in range(lead):
        assert not out[i].any(), i
    for i, k in enumerate(want):
        got = out[lead + i]
        ref = np.zeros(F, np.int16) if k is None else block(k)
        assert np.array_equal(got, ref), (i, k, got[:3])


def test_in_order_plays_depth_behind():
    jb = JitterBuffer(60)
    out = run([[pkt(k)] for k in range(20)], jb)
    # 60 ms = 3 blocks of lead, then every packet in turn
    expect(out, 3, list(range(20)))
    s = jb.stats
    assert (s.received, s.lost, s.late, s.duplicates, s.concealed) == (20, 0, 0, 0, 0)


def test_reordered_within_the_depth_comes_out_in_order():
    order = [0, 2, 1, 3, 6, 5, 4, 7, 9, 8, 10, 11]
    arrivals = [[pkt(k)] for k in order]
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, list(range(12)))
    assert jb.stats.late == 0 and jb.stats.lost == 0


def test_packets_held_up_to_the_depth_are_in_time():
    """Packets 3..5 all arrive at tick 5 (held 40 ms): with 60 ms they are in time."""
    arrivals = [[pkt(0)], [pkt(1)], [pkt(2)], [], [], [pkt(3), pkt(4), pkt(5)],
                [pkt(6)], [pkt(7)]]
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, list(range(8)))
    assert jb.stats.late == 0


def test_a_lost_packet_is_silence_and_counted():
    arrivals = [[pkt(k)] if k != 5 else [] for k in range(12)]
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, [0, 1, 2, 3, 4, None, 6, 7, 8, 9, 10, 11])
    s = jb.stats
    assert (s.received, s.lost, s.late, s.concealed) == (11, 1, 0, F)


def test_a_late_packet_is_silence_counted_late_not_lost():
    arrivals = [[pkt(k)] for k in range(12)]
    arrivals[4] = []
    arrivals[9] = [pkt(9), pkt(4)]          # 100 ms late: its block played at tick 7
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, [0, 1, 2, 3, None, 5, 6, 7, 8, 9, 10, 11])
    s = jb.stats
    assert (s.received, s.lost, s.late, s.concealed) == (11, 0, 1, F)


def test_duplicates_are_dropped_and_counted():
    arrivals = [[pkt(k), pkt(k)] for k in range(6)]
    arrivals[5].append(pkt(2))              # a late duplicate, after its block played
    jb = JitterBuffer(40)
    expect(run(arrivals, jb), 2, list(range(6)))
    s = jb.stats
    assert (s.received, s.duplicates, s.lost, s.late) == (6, 7, 0, 0)


@pytest.mark.parametrize("seq0,ts0", [(65530, 5000), (100, (1 << 32) - 3 * F - 17),
                                      (65533, (1 << 32) - 2 * F)])
def test_sequence_and_timestamp_wrap(seq0, ts0):
    order = [0, 1, 3, 2, 4, 5, 7, 6, 8, 9, 10, 11]
    arrivals = [[pkt(k, seq0=seq0, ts0=ts0)] for k in order]
    arrivals[10] = []                        # packet 10 lost, across the wrap
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, None, 11])
    s = jb.stats
    assert (s.received, s.lost, s.late, s.strays, s.restarts) == (11, 1, 0, 0, 0)


def test_a_new_ssrc_restarts_the_buffer():
    """Source 2 (other numbering and timeline) takes over after packet 5 of source 1:
    the buffer starts again, source 2's first packet played a depth later."""
    first = [[pkt(k)] for k in range(6)]
    second = [[pkt(k, ssrc=99, seq0=40000, ts0=123456789)] for k in range(50, 56)]
    jb = JitterBuffer(60)
    out = run(first + second, jb)
    # source 1: 3 lead blocks then 0..2 by tick 5; the restart drops 3..5 (still
    # buffered), then 3 more lead blocks, then source 2
    expect(out, 3, [0, 1, 2])
    expect(out[6:], 3, list(range(50, 56)))
    s = jb.stats
    assert s.restarts == 1 and s.lost == 0 and s.received == 12 and jb.ssrc == 99


def test_telephone_events_and_comfort_noise_are_ignored():
    """RFC 4733 events (PT 101) and CN (PT 13) share the source's sequence numbers: they
    play nothing, cost no loss, and the audio around them is untouched."""
    arrivals = []
    seq = 0
    for k in range(10):
        arrivals.append([RtpPacket(0, seq, 5000 + F * k, 7, g711.encode(block(k), 0))])
        seq += 1
        if k in (3, 6):
            pt = 101 if k == 3 else 13
            arrivals[-1].append(RtpPacket(pt, seq, 5000 + F * k, 7, b"\x05\x0a\x00\xa0"))
            seq += 1
    jb = JitterBuffer(60)
    expect(run(arrivals, jb), 3, list(range(10)))
    s = jb.stats
    assert (s.received, s.events, s.ignored, s.lost) == (10, 1, 1, 0)


def test_pcma_packets_decode_as_pcma():
    x = block(3)
    jb = JitterBuffer(0)
    jb.put(RtpPacket(8, 1, 0, 1, g711.encode(x, 8)))
    assert np.array_equal(jb.pop(F), g711.decode(g711.encode(x, 8), 8))


def test_one_stray_sequence_jump_is_dropped_two_in_sequence_resynchronise():
    jb = JitterBuffer(60)
    arrivals = [[pkt(k)] for k in range(10)]
    # a lone hostile packet far off in sequence: dropped, nothing else disturbed
    arrivals[4].append(pkt(30004, payload=g711.encode(block(77), 0)))
    expect(run(arrivals, jb, extra=0), 3, list(range(7)))
    s = jb.stats
    assert (s.strays, s.restarts, s.lost) == (1, 0, 0)
    # the sender renumbers: two packets in sequence far away -> a resync onto them
    jb = JitterBuffer(60)
    arrivals = [[pkt(k)] for k in range(5)] + [[pkt(k, seq0=20000, ts0=9 << 20)]
                                                for k in range(5, 12)]
    out = run(arrivals, jb)
    s = jb.stats
    assert (s.strays, s.restarts, s.lost) == (1, 1, 0)
    # packet 5 (the first stray) is gone; 6.. play a depth after the resync at tick 6
    expect(out[6:], 3, list(range(6, 12)))


def test_a_sender_behind_the_playout_clock_is_caught_up():
    """The sender stalls 1 s and carries on with its timestamps as if nothing happened:
    every packet is late; after LATE_RESYNC of them the buffer resynchronises."""
    jb = JitterBuffer(60)
    arrivals = [[pkt(k)] for k in range(5)] + [[]] * 50 + [[pkt(k)] for k in range(5, 20)]
    out = run(arrivals, jb)
    s = jb.stats
    assert s.late == LATE_RESYNC - 1 and s.restarts == 1 and s.lost == 0
    first = 5 + LATE_RESYNC - 1                       # the packet resynchronised on
    start = 55 + LATE_RESYNC - 1 + 3                  # its tick + the depth
    expect(out[start:], 0, list(range(first, 20)))


def test_odd_pop_sizes_give_the_same_samples():
    a, b = JitterBuffer(60), JitterBuffer(60)
    for k in range(8):
        a.put(pkt(k))
        b.put(pkt(k))
    whole = np.concatenate([a.pop(F) for _ in range(11)])
    sizes = [7, 1, 300, 0, 99, 400, 953]
    parts = np.concatenate([b.pop(n) for n in sizes])
    assert sum(sizes) == len(whole) and np.array_equal(whole, parts)


def test_nothing_before_the_first_packet_counts():
    jb = JitterBuffer(60)
    assert not jb.pop(F).any() and not jb.started
    assert jb.stats.played == 0 and jb.stats.concealed == 0


def test_memory_is_bounded_under_a_flood():
    """Random and far-ahead packets, huge payloads: the buffer's memory is fixed (its
    arrays are part of the object), nothing else is held on to, every packet is
    accounted for."""
    rng = random.Random(5)
    jb = JitterBuffer(60)
    size = sys.getsizeof(jb)
    assert size > 2 * RING + SEQ_WINDOW * 8          # the ring and window are inside
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kinds: dict[str, int] = {}
    for i in range(5000):
        n = rng.choice([0, 1, 160, 20000])
        p = RtpPacket(rng.choice([0, 8, 101, 13, 96]), rng.getrandbits(16),
                      rng.getrandbits(32), rng.choice([1, 2]), bytes(n))
        r = jb.put(p)
        kinds[r] = kinds.get(r, 0) + 1
        if i % 3 == 0:
            assert len(jb.pop(F)) == F
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert sys.getsizeof(jb) == size and grown < 100_000, grown
    assert jb.buffered <= RING
    s = jb.stats
    counted = (s.received + s.late + s.duplicates + s.events + s.ignored + s.strays)
    assert counted == 5000, (kinds, s)


def test_depth_is_checked():
    with pytest.raises(ValueError, match="depth"):
        JitterBuffer(2000)
    with pytest.raises(ValueError, match="depth"):
        JitterBuffer(-1)


def test_a_partly_played_packet_plays_its_rest_and_is_counted_once():
    """A packet whose first half was already played (an odd timestamp): its second half
    plays, and it counts as received only (it was counted late too, so the counts no
    longer summed to the packets given: fuzz finding
    tests/corpus/rtp/partly-late-counted-twice.bin)."""
    jb = JitterBuffer(0)
    jb.put(pkt(0))
    assert np.array_equal(jb.pop(F), block(0))
    x = np.arange(F, dtype=np.int16) * 50        # exact through PCMU? decode what was sent
    odd = RtpPacket(0, 1001, 5000 + F // 2, 7, g711.encode(x, 0))
    assert jb.put(odd) == "audio"
    got = jb.pop(F)
    sent = g711.decode(g711.encode(x, 0), 0)
    assert np.array_equal(got[:F // 2], sent[F // 2:]) and not got[F // 2:].any()
    s = jb.stats
    assert (s.received, s.late) == (2, 0)


def test_a_packet_just_before_the_first_across_the_wrap_is_not_a_duplicate():
    """The first packet has sequence number 0; the one before it (65535, extended to -1)
    arrives next: it is audio played in its place, not taken for a duplicate (the old
    window was initialised with -1, so it was)."""
    jb = JitterBuffer(60)
    assert jb.put(pkt(1, seq0=65535, ts0=5000 - F)) == "audio"      # seq 0
    assert jb.put(pkt(0, seq0=65535, ts0=5000 - F)) == "audio"      # seq 65535
    out = [jb.pop(F) for _ in range(5)]
    # played from the first packet's timestamp minus the depth: 65535's block is there
    assert np.array_equal(out[2], block(0)) and np.array_equal(out[3], block(1))
    s = jb.stats
    assert (s.received, s.duplicates, s.lost) == (2, 0, 0)
