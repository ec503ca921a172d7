"""faxcore.t38.udptl: UDPTL packets to and from octets (fact sheet 2's layout), the sender
(sequence numbers, redundancy, FEC, MaxDatagram) and the receiver (in order, exactly once,
recovery by redundancy and FEC, duplicates, wrap, restart, bounded memory, hostile bytes)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.t38.ifp import encode
from faxcore.t38.packets import DataPacket, DataType, Field, FieldType, Indicator, IndicatorPacket
from faxcore.t38.udptl import (
    FecInfo,
    UdptlError,
    UdptlPacket,
    UdptlReceiver,
    UdptlSender,
    decode_udptl,
    encode_udptl,
)

EXAMPLES = [
    # seq 1, primary CNG, no error correction: "00 00" as Asterisk sends it
    (UdptlPacket(1, b"\x02"), "0001010200" "00"),
    (UdptlPacket(0xFFFF, b"\x06", (b"\x04", b"\x02")), "ffff0106" "0002" "0104" "0102"),
    (UdptlPacket(7, b"\x02", (), FecInfo(3, (b"\x01\x02", b"\x03"))),
     "0007" "0102" "80" "0103" "02" "020102" "0103"),
    (UdptlPacket(2, bytes(200)), "0002" "80c8" + "00" * 200 + "0000"),
    (UdptlPacket(3, b"\x02", (), FecInfo(0, ())), "0003010280" "0100" "00"),
    (UdptlPacket(4, b"\x02", (), FecInfo(300, ())), "0004010280" "02012c" "00"),
]


@pytest.mark.parametrize("pkt,hexed", EXAMPLES)
def test_layout(pkt, hexed):
    assert encode_udptl(pkt).hex() == hexed
    assert decode_udptl(bytes.fromhex(hexed)) == pkt


HOSTILE = {
    "short": "0001",
    "primary beyond the end": "000105",
    "no error-recovery": "00010102",
    "secondary count beyond": "0001010200" "02" "0104",
    "secondary length beyond": "0001010200" "01" "0504",
    "fragmented primary": "0001c1",
    "fragmented count": "0001010200c1",
    "two-octet length cut": "000181",
    "fec no npackets": "0001010280",
    "fec npackets too long": "00010102800500000000000",
    "fec npackets zero octets": "000101028000",
    "fec negative": "000101028001ff00",
    "fec entry beyond": "0001010280010301" "05",
    "trailing octets": "000101020000" "00",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_octets_raise_udptlerror(name):
    h = HOSTILE[name]
    with pytest.raises(UdptlError):
        decode_udptl(bytes.fromhex(h if len(h) % 2 == 0 else h + "0"))


@given(st.builds(UdptlPacket, st.integers(0, 0xFFFF), st.binary(max_size=200),
                 st.lists(st.binary(max_size=150), max_size=5).map(tuple)))
def test_round_trip_redundancy(pkt):
    assert decode_udptl(encode_udptl(pkt)) == pkt


@given(st.integers(0, 0xFFFF), st.binary(max_size=200), st.integers(0, 2**31 - 1),
       st.lists(st.binary(max_size=150), max_size=5))
def test_round_trip_fec(seq, primary, span, entries):
    pkt = UdptlPacket(seq, primary, (), FecInfo(span, tuple(entries)))
    assert decode_udptl(encode_udptl(pkt)) == pkt


@given(st.binary(max_size=80))
def test_decode_raises_only_udptlerror(raw):
    try:
        pkt = decode_udptl(raw)
    except UdptlError:
        return
    # the canonical form (minimal lengths, zero padding) is never longer
    assert len(encode_udptl(pkt)) <= len(raw)
    assert decode_udptl(encode_udptl(pkt)) == pkt


# ---- sender -----------------------------------------------------------------------------

def _ifps(n: int, seed: int = 0) -> list[bytes]:
    rnd = random.Random(seed)
    return [bytes([0xC0, i & 0xFF]) + rnd.randbytes(rnd.randint(0, 60)) for i in range(n)]


def test_sender_numbers_and_wraps():
    tx = UdptlSender(first_seq=0xFFFE)
    seqs = [decode_udptl(tx.send(b"\x02")).seq for _ in range(4)]
    assert seqs == [0xFFFE, 0xFFFF, 0, 1]


def test_sender_redundancy_newest_first():
    ifps = _ifps(6)
    tx = UdptlSender()                       # depth 3 by default
    pkts = [decode_udptl(tx.send(x)) for x in ifps]
    assert pkts[0].secondary == ()
    assert pkts[1].secondary == (ifps[0],)
    assert pkts[5].secondary == (ifps[4], ifps[3], ifps[2])
    assert all(p.fec is None for p in pkts)
    tx0 = UdptlSender(redundancy=0)
    assert tx0.send(b"\x02").hex() == "0000010200" "00"
    tx0.send(b"\x04")
    assert decode_udptl(tx0.send(b"\x06")).secondary == ()


def _xor(*bs: bytes) -> bytes:
    out = bytearray(max(map(len, bs)))
    for b in bs:
        for i, x in enumerate(b):
            out[i] ^= x
    return bytes(out)


@pytest.mark.parametrize("span,entries", [(3, 3), (2, 4), (1, 1), (4, 2)])
def test_sender_fec_entries(span, entries):
    """Entry m of packet s is the XOR of packets s+m-span*E, stepping E, up to s+m-E
    (fact sheet 2); E winds up from 0 over the first span*entries packets."""
    ifps = _ifps(40, seed=span)
    tx = UdptlSender(fec=(span, entries))
    for s, x in enumerate(ifps):
        p = decode_udptl(tx.send(x))
        assert p.primary == x and p.secondary == ()
        e = min(entries, s // span)
        assert len(p.fec.entries) == e
        assert p.fec.npackets == (span if e else 0)
        for m in range(e):
            group = [ifps[k] for k in range(s + m - span * e, s + m - e + 1, e)]
            assert len(group) == span
            assert p.fec.entries[m] == _xor(*group)


def test_max_datagram_drops_oldest_redundancy_first_and_is_never_exceeded():
    rnd = random.Random(5)
    for limit in (40, 100, 400):
        tx = UdptlSender(redundancy=3, max_datagram=limit)
        sent: list[bytes] = []
        for _ in range(300):
            x = rnd.randbytes(rnd.randint(1, tx.max_ifp))
            dg = tx.send(x)
            assert len(dg) <= limit
            p = decode_udptl(dg)
            assert p.primary == x
            k = len(p.secondary)
            assert p.secondary == tuple(reversed(sent[-k:])) if k else True
            # the datagram could not have carried one more (older) secondary
            if k < min(3, len(sent)):
                more = UdptlPacket(p.seq, x, p.secondary + (sent[-k - 1],))
                assert len(encode_udptl(more)) > limit
            sent.append(x)


def test_max_datagram_with_fec():
    tx = UdptlSender(fec=(3, 3), max_datagram=120)
    rnd = random.Random(1)
    for _ in range(100):
        dg = tx.send(rnd.randbytes(rnd.randint(1, 100)))
        assert len(dg) <= 120


@pytest.mark.parametrize("fec", [None, (3, 3)])
def test_an_ifp_too_big_for_max_datagram_raises_never_truncates(fec):
    tx = UdptlSender(max_datagram=100, fec=fec)
    assert len(tx.send(bytes(tx.max_ifp))) <= 100
    with pytest.raises(ValueError, match="does not fit"):
        tx.send(bytes(tx.max_ifp + 1))


# ---- receiver ---------------------------------------------------------------------------

def _check(out, first: int, ifps: list[bytes]):
    """Deliveries are consecutive from ``first``, each the IFP sent (FEC: zero-padded)."""
    for i, d in enumerate(out):
        assert d.seq == (first + i) & 0xFFFF
        if d.ifp is not None:
            x = ifps[i]
            assert d.ifp[:len(x)] == x and not d.ifp[len(x):].strip(b"\0"), i


def _run(sender: UdptlSender, ifps, order, rx=None):
    dgs = [sender.send(x) for x in ifps]
    rx = rx or UdptlReceiver()
    out = []
    for i in order:
        out += rx.feed(dgs[i], 0.0)
    out += rx.poll(10.0)
    return rx, out


def test_in_order_exactly_once_without_loss():
    ifps = _ifps(50)
    rx, out = _run(UdptlSender(), ifps, range(50))
    _check(out, 0, ifps)
    assert len(out) == 50 and all(d.source == "primary" for d in out)


def test_redundancy3_recovers_three_consecutive_losses():
    ifps = _ifps(40)
    order = [i for i in range(40) if i not in (10, 11, 12, 30)]
    rx, out = _run(UdptlSender(redundancy=3), ifps, order)
    _check(out, 0, ifps)
    assert len(out) == 40 and all(d.ifp is not None for d in out)
    assert [d.seq for d in out if d.source == "redundancy"] == [10, 11, 12, 30]
    assert rx.stats.recovered_redundancy == 4 and rx.stats.lost == 0


def test_redundancy3_four_losses_lose_one():
    ifps = _ifps(40)
    order = [i for i in range(40) if i not in (10, 11, 12, 13)]
    rx, out = _run(UdptlSender(redundancy=3), ifps, order)
    _check(out, 0, ifps)
    assert len(out) == 40
    assert [d.seq for d in out if d.ifp is None] == [10]
    assert rx.stats.lost == 1


def test_fec_recovers_a_loss_per_group():
    ifps = _ifps(60)
    lost = {12, 22, 23, 40, 44}         # 22 and 23 are in different groups (E = 3)
    order = [i for i in range(60) if i not in lost]
    rx, out = _run(UdptlSender(fec=(3, 3), redundancy=0), ifps, order)
    _check(out, 0, ifps)
    assert len(out) == 60 and all(d.ifp is not None for d in out)
    assert {d.seq for d in out if d.source == "fec"} == lost
    assert rx.stats.recovered_fec == len(lost)


def test_reorder_and_duplicates_are_delivered_once_in_order():
    ifps = _ifps(30)
    order = [0, 2, 1, 1, 3, 5, 4, 4, 4, 6, 7, 9, 8] + list(range(10, 30)) + [12, 29, 3]
    rx, out = _run(UdptlSender(redundancy=0), ifps, order)
    _check(out, 0, ifps)
    assert len(out) == 30 and all(d.source == "primary" for d in out)
    assert rx.stats.duplicates + rx.stats.late == 6


def test_wrap():
    ifps = _ifps(40)
    order = [i for i in range(40) if i not in (3, 4)]      # seq 0xFFFF and 0 lost
    rx, out = _run(UdptlSender(first_seq=0xFFFC), ifps, order)
    _check(out, 0xFFFC, ifps)
    assert len(out) == 40 and rx.stats.lost == 0


def test_restart_after_a_jump():
    ifps = _ifps(10)
    rx = UdptlReceiver()
    a, b = UdptlSender(first_seq=100), UdptlSender(first_seq=110 + 2001)   # 110 is next
    out = [d for x in ifps for d in rx.feed(a.send(x))]
    out2 = [d for x in ifps for d in rx.feed(b.send(x))]
    _check(out, 100, ifps)
    _check(out2, 2111, ifps)
    assert rx.stats.restarts == 1 and len(out2) == 10


def test_a_jump_within_2000_is_loss_not_restart():
    rx = UdptlReceiver()
    tx = UdptlSender(redundancy=0)
    rx.feed(tx.send(b"\x02"))
    tx.seq = 1500
    out = rx.feed(tx.send(b"\x04"))
    assert rx.stats.restarts == 0
    # beyond the window (128): one lost delivery stands for the gap (bounded work)
    assert out == [(1, None, "lost"), (1500, b"\x04", "primary")]
    assert rx.stats.lost == 1499
    tx.seq = 1600                       # within the window: a lost delivery per packet
    out = rx.feed(tx.send(b"\x06")) + rx.poll(1.0)
    assert [d.seq for d in out] == list(range(1501, 1601))
    assert rx.stats.lost == 1499 + 99


def test_joining_mid_stream_uses_the_first_packets_redundancy():
    ifps = _ifps(10)
    tx = UdptlSender(first_seq=500)
    dgs = [tx.send(x) for x in ifps]
    rx = UdptlReceiver()
    out = [d for dg in dgs[4:] for d in rx.feed(dg)]
    _check(out, 501, ifps[1:])
    assert len(out) == 9


def test_hold_time_releases_a_gap():
    rx = UdptlReceiver(hold_packets=50, hold_time=0.2)
    tx = UdptlSender(redundancy=0)
    dgs = [tx.send(bytes([2 * i])) for i in range(5)]
    assert [d.seq for d in rx.feed(dgs[0], 0.0)] == [0]
    assert rx.feed(dgs[2], 0.01) == [] and rx.feed(dgs[3], 0.02) == []
    assert rx.poll(0.1) == [] and rx.held == 2
    out = rx.poll(0.25)
    assert [(d.seq, d.source) for d in out] == [(1, "lost"), (2, "primary"), (3, "primary")]
    assert rx.held == 0
    assert [d.seq for d in rx.feed(dgs[1], 0.3)] == []      # too late: counted
    assert rx.stats.late == 1


def test_hostile_datagrams_are_counted_never_raised():
    rx = UdptlReceiver()
    rnd = random.Random(3)
    for _ in range(2000):
        assert rx.feed(rnd.randbytes(rnd.randint(0, 12)), 0.0) is not None
    assert rx.stats.malformed > 0
    assert rx.stats.datagrams == 2000


def test_memory_is_bounded_by_the_window():
    """A peer that never fills its gaps (every 5th packet lost, no redundancy) or sends
    wide FEC: the receiver keeps at most ``window`` of each."""
    rx = UdptlReceiver(window=32, hold_packets=20)
    tx = UdptlSender(redundancy=0)
    for i in range(3000):
        dg = tx.send(bytes([0xC0, i & 0xFF]) + bytes(100))
        if i % 5:
            rx.feed(dg, 0.0)
        assert rx.held <= 32 and rx.remembered <= 64
    rx.poll(1.0)
    assert rx.stats.lost == 599         # every 5th but the first (the stream starts at 1)
    rx = UdptlReceiver(window=32, hold_packets=20)
    for i in range(3000):
        # hostile FEC: wide spans, many entries, gaps everywhere
        fec = FecInfo(1 + i % 40, tuple(bytes(50) for _ in range(i % 7)))
        if i % 3:
            rx.feed(encode_udptl(UdptlPacket(i & 0xFFFF, b"\x02", (), fec)), 0.0)
        assert rx.held <= 32 and rx.remembered <= 64
    assert rx.stats.fec_ignored > 0


_schedule = st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=60,
                     max_size=60)


@given(_schedule, st.sampled_from([None, (3, 3), (2, 2)]), st.integers(0, 0xFFFF))
def test_receiver_property(sched, fec, first):
    """Any loss/duplicate/swap schedule: deliveries are consecutive and exactly once, each
    what was sent or marked lost; with redundancy 3, no loss unless 4 in a row were lost."""
    ifps = _ifps(60, seed=first)
    tx = UdptlSender(redundancy=3, fec=fec, first_seq=first)
    dgs = [tx.send(x) for x in ifps]
    net = [0]
    for i, (drop, dup, swap) in enumerate(sched[1:], start=1):
        if not drop:
            net.append(i)
            if dup:
                net.append(i)
        if swap and len(net) > 2:
            net[-1], net[-2] = net[-2], net[-1]
    rx = UdptlReceiver()
    out = [d for i in net for d in rx.feed(dgs[i], 0.0)] + rx.poll(1.0)
    _check(out, first, ifps)
    assert len(out) == max(net) + 1
    if fec is None:
        dropped = [s[0] for s in sched[1:]]
        burst = max((len(r) for r in "".join("x" if d else "." for d in dropped).split(".")),
                    default=0)
        if burst <= 3:
            assert all(d.ifp is not None for d in out)


@pytest.mark.parametrize("version", [0, 3])
def test_fec_rebuilt_ifps_are_cut_to_their_length_with_ifp_version(version):
    """UDPTL does not carry a rebuilt IFP's length: it comes zero-padded to its group's
    longest; given the T.38 version, the receiver cuts it to the IFP's coded length."""
    ifps = [encode(IndicatorPacket(Indicator.CED), version) if i % 4 == 0 else
            encode(DataPacket(DataType.V21, (Field(FieldType.HDLC_DATA, bytes([i] * (i % 7))),
                                             Field(FieldType.HDLC_FCS_OK))), version)
            for i in range(40)]
    for lost in (20, 21, 22, 30):
        order = [i for i in range(40) if i != lost]
        _, padded = _run(UdptlSender(fec=(3, 3), redundancy=0), ifps, order)
        _, exact = _run(UdptlSender(fec=(3, 3), redundancy=0), ifps, order,
                        UdptlReceiver(ifp_version=version))
        assert exact[lost].source == "fec"
        assert [d.ifp for d in exact] == ifps
        assert padded[lost].ifp[:len(ifps[lost])] == ifps[lost]
        assert len(padded[lost].ifp) > len(ifps[lost])      # the zero padding


def test_restart_while_packets_are_held_delivers_the_new_stream_from_its_start():
    """Found by the udptl fuzz target: a restart released the held packets first and then
    placed the new stream relative to the moved position, so the new stream's first
    packets were skipped (fails on the old code: 5000 and 5001 never delivered)."""
    rx = UdptlReceiver()
    old = UdptlSender(redundancy=0, first_seq=1)
    dgs = [old.send(bytes([2 * i])) for i in range(6)]
    for i in (0, 1, 3, 4, 5):                  # seq 3 missing: 4..6 held
        rx.feed(dgs[i])
    assert rx.held == 3
    new = UdptlSender(redundancy=3, first_seq=5000)
    out = [d for i in range(4) for d in rx.feed(new.send(bytes([0xC0, i])))]
    assert [(d.seq, d.source) for d in out] == [
        (3, "lost"), (4, "primary"), (5, "primary"), (6, "primary"),
        (5000, "primary"), (5001, "primary"), (5002, "primary"), (5003, "primary")]
    assert rx.stats.restarts == 1


def test_many_secondaries_stay_within_the_window():
    """A hostile packet with more secondaries than the window holds no more than it."""
    rx = UdptlReceiver(window=16, hold_packets=8)
    rx.feed(encode_udptl(UdptlPacket(100, b"\x02")))
    out = rx.feed(encode_udptl(UdptlPacket(140, b"\x04", tuple(b"\x06" for _ in range(60)))))
    assert rx.held <= 16
    out += rx.poll(10.0)
    assert [d.seq for d in out][-1] == 140 and rx.held == 0
