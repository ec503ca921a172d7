"""The T.38 reference harness: the independent UDPTL of faxcore.testing.udptl_ref (byte
layouts from the ASN.1 and the fact sheet, redundancy, FEC, sequence handling, the lossy
channel) and spandsp's T.38 terminal through faxcore.testing.spandsp.t38, calling
itself over UDPTL with and without loss. Pages must arrive pixel-identical, read back
both by faxcore's TIFF reader and by libtiff (Pillow)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.pcap import PcapWriter
from faxcore.t30.frames import bitrev
from faxcore.testing import udptl_ref as U
from faxcore.testing.pages import pillow_pages, small_page
from faxcore.testing.peers import require_tool
from faxcore.testing.spandsp.t38 import (
    CallDidNotEnd,
    DirectLink,
    SpandspT38Terminal,
    UdptlLink,
    run_t38_call,
)

# --------------------------------------------------------------- UDPTL framing


def test_udptl_redundancy_packet_bytes():
    """Seq big-endian, primary with its length, 00 = redundancy, the count, then the
    older IFPs newest first, each with its length."""
    pkt = U.UdptlPacket(0x1234, b"\x06", [b"\x02", b"\x00"])
    assert U.encode(pkt) == bytes.fromhex("1234 01 06 00 02 01 02 01 00")
    assert U.decode(U.encode(pkt)) == pkt


def test_udptl_without_redundancy_ends_00_00():
    assert U.encode(U.UdptlPacket(7, b"\xc0\x01\x40")) == bytes.fromhex("0007 03 c00140 00 00")


def test_udptl_long_ifp_takes_a_two_octet_length():
    ifp = bytes(range(200))
    wire = U.encode(U.UdptlPacket(1, ifp))
    assert wire[2:4] == bytes((0x80, 200)) and wire[4:204] == ifp
    assert U.decode(wire).primary == ifp


def test_udptl_fec_packet_bytes():
    """80, fec-npackets as length 1 + value (the span), the entry count, the entries."""
    pkt = U.UdptlPacket(9, b"\x00", fec=(3, 2), fec_data=[b"\x01\x02", b"\x03"])
    assert U.encode(pkt) == bytes.fromhex("0009 01 00 80 01 03 02 02 0102 01 03")
    assert U.decode(U.encode(pkt)) == pkt


@pytest.mark.parametrize("wire", [b"", b"\x00\x01", b"\x00\x01\x05\x06", b"\x00\x01\x01\x06",
                                  b"\x00\x01\x01\x06\x40", b"\x00\x01\x01\x06\x00\x02\x01\x00",
                                  b"\x00\x01\x01\x06\x00\x00\xff", b"\x00\x01\xc1\x06\x00\x00"])
def test_udptl_decode_refuses_broken_datagrams(wire):
    with pytest.raises(U.UdptlError):
        U.decode(wire)


@pytest.mark.parametrize("ifp,version,length", [
    ("06", 0, 1),                          # V.21 preamble indicator
    ("2100", 0, 2),                        # an extension indicator (v34-CC-retrain)
    ("c001800000ff", 0, 6),                # one HDLC octet
    ("c00140", 0, 3),                      # lone fcs-OK-sig-end, version 0
    ("c00120", 3, 3),                      # lone fcs-OK-sig-end, version 1+
    ("c00224", 0, 3),                      # v0: two data-less fields share an octet
    ("c002800000ff40", 0, 7),              # v0: data, then a data-less field
    ("c002800000ff20", 3, 7),              # v1+: each field starts an octet
])
def test_ifp_length(ifp, version, length):
    buf = bytes.fromhex(ifp)
    assert U.ifp_length(buf + bytes(9), version) == length


def _stream(n, first=0, redundancy=3, fec=None):
    tx = U.UdptlSender(redundancy=redundancy, fec=fec, first_seq=first)
    ifps = [bytes([0xC0 | (i & 1), 0x01, 0x80, 0x00, 0x00, i & 0xFF]) for i in range(n)]
    return ifps, [tx.encode(i) for i in ifps]


def test_udptl_receiver_in_order_and_across_the_wrap():
    ifps, wire = _stream(10, first=65530)
    rx = U.UdptlReceiver()
    got = [x for w in wire for x in rx.receive(w)]
    assert [i for i, _ in got] == ifps
    assert [s for _, s in got] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3]


def test_udptl_receiver_recovers_from_redundancy_and_drops_repeats():
    ifps, wire = _stream(10)
    rx = U.UdptlReceiver()
    got = []
    for k, w in enumerate(wire):
        if k in (3, 4, 5):               # three lost in a row: redundancy 3 covers them
            continue
        got += rx.receive(w)
        got += rx.receive(w)             # a repeat with the same seq is dropped
    assert [i for i, _ in got] == ifps and [s for _, s in got] == list(range(10))
    assert rx.recovered == 3 and rx.lost == 0 and rx.duplicates == 7


def test_udptl_receiver_counts_what_redundancy_cannot_cover_and_drops_late_packets():
    ifps, wire = _stream(10, redundancy=1)
    rx = U.UdptlReceiver()
    got = []
    for k in (0, 1, 4, 2, 5, 6, 7, 8, 9):    # 2 and 3 lost; 2 arrives late
        got += rx.receive(wire[k])
    assert [s for _, s in got] == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert rx.lost == 1 and rx.recovered == 1 and rx.duplicates == 1


@pytest.mark.parametrize("lost", [20, 21, 22])
def test_udptl_receiver_fec_rebuilds_a_lost_packet(lost):
    """IFPs of different lengths (the rebuilt one is cut to its own length, not the
    longest of its group's)."""
    tx = U.UdptlSender(fec=(3, 3))
    ifps = [b"\x06" if i % 5 == 0 else b"\xc0\x01\x40" if i % 5 == 1
            else b"\xd0\x01\x80\x00" + bytes([i % 5 - 1]) + bytes([i] * (i % 5))
            for i in range(30)]
    wire = [tx.encode(i) for i in ifps]
    rx = U.UdptlReceiver()
    got = []
    for k, w in enumerate(wire):
        if k != lost:
            got += rx.receive(w)
    assert [i for i, _ in got] == ifps
    assert rx.recovered == 1


def test_udptl_receiver_restarts_on_a_big_jump_and_survives_garbage():
    rx = U.UdptlReceiver()
    _, a = _stream(3, first=100, redundancy=0)
    _, b = _stream(3, first=40000, redundancy=0)
    got = [s for w in a + [b"\xff\xff\xff"] + b for _, s in rx.receive(w)]
    assert got == [100, 101, 102, 40000, 40001, 40002]
    assert rx.malformed == 1


def test_lossy_channel_is_seeded_and_reorders():
    def run(seed):
        ch = U.LossyChannel(loss=0.2, duplicate=0.1, reorder=0.2, seed=seed)
        out = []
        for step in range(200):
            ch.send(bytes([step]), step)
            out += ch.deliver(step)
        out += ch.deliver(10**6)
        return out, ch
    out, ch = run(5)
    assert out == run(5)[0] and out != run(6)[0]
    assert len(out) == ch.sent - ch.dropped + ch.duplicated
    assert 20 < ch.dropped < 60 and ch.duplicated > 5
    assert out != sorted(out)            # something was overtaken


# --------------------------------------------------------------- spandsp terminals


@pytest.fixture(scope="module")
def pages():
    return [small_page(11), small_page(12, rows=220), small_page(13)]


@pytest.fixture
def src(pages, tmp_path):
    path = tmp_path / "src.tif"
    write_tiff(path, [Page(p, 204, 196) for p in pages], "mh")
    return path


def _check_pages(path, pages):
    got = read_tiff(path)
    assert len(got) == len(pages)
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g.bitmap, p)
    for g, p in zip(pillow_pages(path), pages, strict=True):  # libtiff's reading
        assert np.array_equal(g, p)


def _refused(t):
    """Record in ``t.refused`` every IFP spandsp could not decode (rx_ifp() == -1): the
    harness must hand over only whole, exact IFPs."""
    t.refused = []
    rx = t.rx_ifp

    def checked(ifp, seq):
        r = rx(ifp, seq)
        if r != 0:
            t.refused.append(ifp)
        return r

    t.rx_ifp = checked
    return t


def _terminals(src, out, ecm=True, **kw):
    a = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, ident="+111", **kw)
    b = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, ident="+222", **kw)
    return _refused(a), _refused(b)


@pytest.mark.parametrize("loss", [0.0, 0.05])
@pytest.mark.parametrize("ecm", [True, False])
def test_spandsp_t38_terminals_over_udptl(ecm, loss, pages, src, tmp_path):
    """spandsp T.38 <-> spandsp T.38 over udptl_ref with redundancy 3 (each datagram sent
    as often as spandsp asks), 0 % and 5 % random loss."""
    out = tmp_path / "out.tif"
    a, b = _terminals(src, out, ecm)
    ab = UdptlLink(redundancy=3, loss=loss, seed=1)
    ba = UdptlLink(redundancy=3, loss=loss, seed=2)
    run_t38_call(a, b, ab=ab, ba=ba, max_seconds=200)
    assert (a.status_name, b.status_name) == ("OK", "OK")
    assert a.refused == b.refused == []
    assert b.stats.pages_rx == 3 and a.stats.pages_tx == 3
    assert b.stats.error_correcting_mode == int(ecm) and b.stats.bit_rate == 14400
    assert a.remote_ident == "+222" and b.remote_ident == "+111"
    if loss:
        assert ab.channel.dropped + ba.channel.dropped > 10
        assert ab.receiver.recovered + ba.receiver.recovered > 0
    _check_pages(out, pages)


def test_what_spandsp_sends_first_and_its_repeat_counts(src, tmp_path):
    """The calling terminal starts with no-signal and CNG indicators, each to be sent 3
    times; image data goes once; set_redundancy changes the counts."""
    a, b = _terminals(src, tmp_path / "o.tif")
    sent = []
    orig = a.take

    def take():
        got = orig()
        sent.extend(got)
        return got

    a.take = take
    run_t38_call(a, b, max_seconds=200)
    assert sent[:2] == [(b"\x00", 3), (b"\x02", 3)]
    assert {c for p, c in sent if p[0] in (0xD0,) and p[2] == 0x80} == {1}  # V.17 HDLC data
    assert all(c == 3 for p, c in sent if len(p) == 1)                     # indicators
    c = SpandspT38Terminal(True, send_tiff=str(src))
    c.set_redundancy(indicator=1)
    for _ in range(20):                  # CNG follows no-signal after 200 ms
        c.advance(160)
    assert c.take()[:2] == [(b"\x00", 1), (b"\x02", 1)]


def test_hdlc_octets_in_ifp_are_bit_reversed_from_spandsp_t30(src, tmp_path):
    """spandsp's T.30 logs DIS as FF 13 80 ...; in its IFP HDLC data the same octets are
    bit-reversed (FF C8 01 ...), as Wireshark's T.30 dissector expects. Every frame the
    answerer sent, rebuilt from its V.21 IFPs, is its logged frame bit-reversed."""
    a, b = _terminals(src, tmp_path / "o.tif")
    from_b = []
    orig = b.take

    def take():
        got = orig()
        from_b.extend(p for p, _ in got)
        return got

    b.take = take
    run_t38_call(a, b, max_seconds=200)
    frames, cur = [], bytearray()
    for p in from_b:
        if p[:3] == b"\xc0\x01\x80":            # V.21 hdlc-data (version 0)
            cur += p[5:]
        elif p in (b"\xc0\x01\x20", b"\xc0\x01\x40"):  # fcs-OK, fcs-OK-sig-end
            frames.append(bytes(cur))
            cur = bytearray()
    logged = [f for d, f in b.frames if d == "tx"]
    assert logged[0][:3] == b"\xff\x03\x40" and logged[1][:3] == b"\xff\x13\x80"  # CSI, DIS
    assert frames[1][:3] == b"\xff\xc8\x01"
    assert frames[:len(logged)] == [bitrev(f) for f in logged]


@pytest.mark.parametrize("version,sig_end", [(0, b"\xc0\x01\x40"), (3, b"\xc0\x01\x20")])
def test_t38_version_changes_the_field_type_coding(version, sig_end, src, pages, tmp_path):
    out = tmp_path / "o.tif"
    a, b = _terminals(src, out, version=version)
    sent = []
    orig = b.take

    def take():
        got = orig()
        sent.extend(p for p, _ in got)
        return got

    b.take = take
    run_t38_call(a, b, max_seconds=200)
    assert a.status_name == "OK" and sig_end in sent
    _check_pages(out, pages)


def test_mismatched_t38_versions_fail(src, tmp_path):
    """Version 0 against version 3: frames end in the wrong place (fact sheet's trap);
    spandsp fails the call rather than delivering anything."""
    a = SpandspT38Terminal(True, send_tiff=str(src), version=0)
    b = SpandspT38Terminal(False, receive_tiff=str(tmp_path / "o.tif"), version=3)
    with pytest.raises(CallDidNotEnd):
        run_t38_call(a, b, max_seconds=25)
    run_t38_call(a, b, max_seconds=120)
    assert a.status_name != "OK" and b.stats.pages_rx == 0


def test_repeats_and_a_sequence_wrap_are_harmless(src, pages, tmp_path):
    """Every IFP handed over twice with the same seq (spandsp drops the copy), numbers
    starting just below the 65535 -> 0 wrap."""

    class Twice(DirectLink):
        def carry(self, packets, step):
            return [x for x in super().carry(packets, step) for _ in (0, 1)]

    out = tmp_path / "o.tif"
    a, b = _terminals(src, out)
    run_t38_call(a, b, ab=Twice(65500), ba=Twice(65400), max_seconds=200)
    assert (a.status_name, b.status_name) == ("OK", "OK")
    _check_pages(out, pages)


def test_rx_ifp_reports_undecodable_packets():
    t = SpandspT38Terminal(True)
    assert t.rx_ifp(b"\x06", 0) == 0
    assert t.rx_ifp(b"\xff\xff\xff", 1) == -1
    assert t.rx_ifp(b"\xc0\x01\x80\x00\x05\xff", 2) == -1     # field longer than packet


def _tshark_fields(pcap, fields):
    out = subprocess.run(
        [require_tool("tshark"), "-r", str(pcap), "-d", "udp.port==4002,t38", "-T", "fields",
         "-E", "separator=|", *[x for f in fields for x in ("-e", f)]],
        capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


@pytest.mark.parametrize("mode", ["redundancy", "fec"])
def test_tshark_decodes_the_reference_udptl(mode, src, tmp_path):
    """Wireshark's T.38 dissector (a third implementation) reads udptl_ref's datagrams,
    carrying a real spandsp call's IFPs plus one 200-octet IFP (a two-octet length),
    across the 65535 -> 0 wrap: no malformed packet, the sequence numbers, the primary
    and (redundancy) the secondary IFPs newest first, or (FEC) the span."""
    a, b = _terminals(src, tmp_path / "o.tif")
    sent = []
    orig = a.take

    def take():
        got = orig()
        sent.extend(p for p, _ in got)
        return got

    a.take = take
    run_t38_call(a, b, max_seconds=200)
    big = b"\xd0\x01\x80\x00\xc7" + bytes(range(200))     # V.17 hdlc-data, 200 octets
    ifps = sent[:60] + [big] + sent[60:90]
    tx = U.UdptlSender(first_seq=65500, **({"redundancy": 3} if mode == "redundancy"
                                            else {"fec": (3, 3)}))
    pcap = tmp_path / "udptl.pcap"
    spans = []
    with PcapWriter(pcap) as w:
        for i, ifp in enumerate(ifps):
            pkt = tx.packet(ifp)
            spans.append(pkt.fec[0] if pkt.fec else None)
            w.datagram(i * 0.02, ("127.0.0.1", 4000), ("127.0.0.1", 4002), U.encode(pkt))
    rows = _tshark_fields(pcap, ["t38.seq_number", "t38.type_of_msg", "t38.fec_npackets",
                                 "t38.field_data", "_ws.malformed"])
    assert len(rows) == len(ifps)
    for i, (seq, types, span, data, malformed) in enumerate(rows):
        assert malformed == ""
        assert int(seq) == (65500 + i) % 65536
        kinds = [int(t) for t in types.split(",")]
        if mode == "redundancy":
            older = ifps[max(0, i - 3):i][::-1]
            assert kinds == [ifp[0] >> 6 & 1 for ifp in [ifps[i], *older]]
        else:
            assert kinds == [ifps[i][0] >> 6 & 1] and int(span) == spans[i]
            if ifps[i] is big:
                assert data == bytes(range(200)).hex()


@pytest.mark.parametrize("version", [0, 3])
def test_udptl_fec_carries_a_lossy_call(version, pages, src, tmp_path):
    """FEC 3/3 at 5 % loss, T.38 version 0 and 3 (the rebuilt IFPs are cut to the
    length their own coding gives): lost packets are rebuilt, the pages arrive."""
    out = tmp_path / "o.tif"
    a, b = _terminals(src, out, version=version)
    ab = UdptlLink(fec=(3, 3), loss=0.05, seed=1, ifp_version=version)
    ba = UdptlLink(fec=(3, 3), loss=0.05, seed=11, ifp_version=version)
    run_t38_call(a, b, ab=ab, ba=ba, max_seconds=200)
    assert (a.status_name, b.status_name) == ("OK", "OK")
    assert ab.receiver.recovered + ba.receiver.recovered > 0
    assert a.refused == b.refused == []             # every rebuilt IFP decodes
    _check_pages(out, pages)


# --------------------------------------------------------------- sweeps
# (not marked slow: spandsp's T.38 calls take ~20 ms of CPU each, the sweep < 1 s)


@pytest.mark.parametrize("modem", ["v17", "v29", "v27ter"])
@pytest.mark.parametrize("ecm", [True, False])
@pytest.mark.parametrize("impair", [
    {"loss": 0.02}, {"loss": 0.10}, {"loss": 0.05, "duplicate": 0.05, "reorder": 0.05},
    {"loss": 0.05, "fec": (3, 3)}])
def test_spandsp_t38_sweep(modem, ecm, impair, pages, src, tmp_path):
    out = tmp_path / "o.tif"
    a, b = _terminals(src, out, ecm, modems=(modem,))
    kw = {"redundancy": 3, **impair}
    run_t38_call(a, b, ab=UdptlLink(seed=3, **kw), ba=UdptlLink(seed=4, **kw),
                 max_seconds=300)
    assert (a.status_name, b.status_name) == ("OK", "OK")
    assert a.refused == b.refused == []
    assert b.stats.bit_rate == {"v17": 14400, "v29": 9600, "v27ter": 4800}[modem]
    _check_pages(out, pages)
