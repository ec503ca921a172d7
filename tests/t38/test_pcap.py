"""faxcore.pcap: classic pcap files of IPv4/UDP datagrams, written and read back, and
read by tshark (the addresses, ports, timestamps, payloads and IPv4 header checksum)."""

from __future__ import annotations

import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.pcap import PcapError, PcapWriter, ip_checksum, read_pcap
from faxcore.testing.peers import require_tool

SAMPLE = [
    (1700000000.125, ("192.0.2.10", 4000), ("198.51.100.7", 4002), b"\x00\x01\x02\x06\x00"),
    (1700000000.155, ("198.51.100.7", 4002), ("192.0.2.10", 4000), b""),
    (1700000001.000001, ("10.0.0.1", 5060), ("10.0.0.2", 5062), b"INVITE sip:x SIP/2.0\r\n" * 40),
]


def _write(path, items):
    with PcapWriter(path) as w:
        for ts, src, dst, payload in items:
            w.datagram(ts, src, dst, payload)
    return path


def test_written_file_reads_back(tmp_path):
    got = read_pcap(_write(tmp_path / "a.pcap", SAMPLE))
    assert [(s, d, p) for _, s, d, p in got] == [(s, d, p) for _, s, d, p in SAMPLE]
    assert [round(t, 6) for t, *_ in got] == [round(t, 6) for t, *_ in SAMPLE]


def test_ipv4_header_checksum_verifies(tmp_path):
    """The stored IPv4 header sums to 0xFFFF (checksum 0 over the header with it)."""
    raw = _write(tmp_path / "c.pcap", SAMPLE[:1]).read_bytes()
    ip = raw[24 + 16 + 14:24 + 16 + 14 + 20]
    assert ip_checksum(ip) == 0
    assert ip[9] == 17 and struct.unpack("!H", ip[2:4])[0] == 20 + 8 + 5


def test_ip_checksum_rfc1071_example():
    """RFC 1071 section 3's example words 0001 f203 f4f5 f6f7 sum to ddf2."""
    assert ip_checksum(bytes.fromhex("0001f203f4f5f6f7")) == (~0xDDF2 & 0xFFFF)


def test_tshark_reads_the_file(tmp_path):
    tshark = require_tool("tshark")
    path = _write(tmp_path / "t.pcap", SAMPLE)
    out = subprocess.run(
        [tshark, "-r", str(path), "-o", "ip.check_checksum:TRUE", "-T", "fields",
         "-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst",
         "-e", "udp.dstport", "-e", "udp.length", "-e", "ip.checksum.status",
         "-e", "_ws.malformed", "-e", "_ws.expert", "-d", "udp.port==4000,data",
         "-d", "udp.port==5060,data"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(SAMPLE)
    for line, (ts, (sip, sport), (dip, dport), payload) in zip(out, SAMPLE, strict=True):
        cols = line.split("\t")
        assert abs(float(cols[0]) - ts) < 1e-6
        assert cols[1:6] == [sip, str(sport), dip, str(dport), str(8 + len(payload))]
        assert cols[6] == "1", line          # 1 = Good (0 Bad, 2 Unverified)
        assert cols[7] == "" and cols[8] == "", line


def test_tshark_reads_the_payload(tmp_path):
    tshark = require_tool("tshark")
    path = _write(tmp_path / "p.pcap", SAMPLE[:1])
    out = subprocess.run([tshark, "-r", str(path), "-d", "udp.port==4000,data", "-T",
                          "fields", "-e", "data.data"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [SAMPLE[0][3].hex()]


def test_bad_inputs_raise(tmp_path):
    w = PcapWriter(tmp_path / "x.pcap")
    with pytest.raises(ValueError):
        w.datagram(0.0, ("1.2.3.4", 70000), ("1.2.3.4", 1), b"")
    with pytest.raises(ValueError):
        w.datagram(0.0, ("1.2.3.400", 1), ("1.2.3.4", 1), b"")
    with pytest.raises(ValueError):
        w.datagram(0.0, ("1.2.3.4", 1), ("1.2.3.4", 1), bytes(65508))
    w.close()
    (tmp_path / "short.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    with pytest.raises(PcapError):
        read_pcap(tmp_path / "short.pcap")
    good = _write(tmp_path / "g.pcap", SAMPLE).read_bytes()
    (tmp_path / "trunc.pcap").write_bytes(good[:-3])
    with pytest.raises(PcapError, match="truncated"):
        read_pcap(tmp_path / "trunc.pcap")


def test_reads_raw_ip_big_endian_nanosecond_files(tmp_path):
    """A file another tool wrote: big-endian, nanosecond magic, LINKTYPE_RAW."""
    good = _write(tmp_path / "g.pcap", SAMPLE[:1]).read_bytes()
    frame = good[24 + 16:]
    ip = frame[14:]
    raw = (struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)
           + struct.pack(">IIII", 5, 250_000_000, len(ip), len(ip)) + ip)
    (tmp_path / "r.pcap").write_bytes(raw)
    [(ts, src, dst, payload)] = read_pcap(tmp_path / "r.pcap")
    assert ts == 5.25 and src == SAMPLE[0][1] and dst == SAMPLE[0][2] and payload == SAMPLE[0][3]


@given(st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 999_999),
                          st.ip_addresses(v=4).map(str), st.integers(0, 65535),
                          st.binary(max_size=300)), max_size=8))
def test_round_trip_property(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("h") / "h.pcap"
    dgs = [(s + u / 1e6, (a, p), ("127.0.0.1", 9), b) for s, u, a, p, b in items]
    got = read_pcap(_write(path, dgs))
    assert [(round(t * 1e6), s, d, p) for t, s, d, p in got] == \
           [(round(t * 1e6), s, d, p) for t, s, d, p in dgs]
