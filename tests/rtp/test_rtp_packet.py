"""RTP packets (RFC 3550 §5.1): build/parse round trips over every header field, the
exact octets of a known packet, and hostile bytes, which raise RtpError and nothing else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.rtp import RtpError, RtpPacket

packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127), seq=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=300), marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 0xFFFF),
                                    st.binary(max_size=40).map(lambda b: b[:len(b) // 4 * 4])),
    padding=st.integers(0, 255))


@given(packets)
def test_build_then_parse_gives_the_packet(pkt):
    data = pkt.build()
    assert RtpPacket.parse(data) == pkt
    assert RtpPacket.parse(bytearray(data)) == pkt


def test_known_octets():
    """A PCMU packet with the marker set, as RFC 3550 lays it out, both ways."""
    pkt = RtpPacket(payload_type=0, seq=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304,
                    payload=b"\xff" * 4, marker=True)
    want = bytes.fromhex("80 80 1234 deadbeef 01020304 ffffffff")
    assert pkt.build() == want
    # CSRCs, an extension and 3 octets of padding
    full = RtpPacket(8, 1, 2, 3, b"ab", csrc=(7, 9), extension=(0xBEDE, b"\x10\x20\x30\x40"),
                     padding=3)
    want = (bytes.fromhex("b2 08 0001 00000002 00000003 00000007 00000009 bede 0001 10203040")
            + b"ab" + b"\x00\x00\x03")
    assert full.build() == want
    assert RtpPacket.parse(want) == full


def _header(b0=0x80, b1=0, seq=0, ts=0, ssrc=0) -> bytes:
    return struct.pack("!BBHII", b0, b1, seq, ts, ssrc)


@pytest.mark.parametrize("data,why", [
    (b"", "shorter"),
    (b"\x80\x00\x00", "shorter"),
    (_header()[:11], "shorter"),
    (_header(b0=0x40), "version 1"),
    (_header(b0=0x00), "version 0"),
    (_header(b0=0xC0), "version 3"),
    (_header(b0=0x81), "CSRCs run past"),
    (_header(b0=0x8F) + bytes(56), "CSRCs run past"),
    (_header(b0=0x90), "extension runs past"),
    (_header(b0=0x90) + b"\x00\x00\x00\x02" + bytes(4), "extension of 2 words"),
    (_header(b0=0x90) + b"\x00\x00\xff\xff", "extension of 65535 words"),
    (_header(b0=0xA0) + b"\x00", "padding count 0"),
    (_header(b0=0xA0) + b"\x05", "padding count 5"),
    (_header(b0=0xA0), "padding count"),          # P set, nothing after the header
    (_header(b0=0xB1) + bytes(4) + b"\x00\x00\x00\x00" + b"\x02", "padding count 2"),
])
def test_malformed_packets_raise_rtp_error(data, why):
    with pytest.raises(RtpError, match=why.split()[0]):
        RtpPacket.parse(data)


def test_an_empty_payload_and_all_padding_is_valid():
    """Padding may take everything after the headers (RFC 3550: a packet may be all
    padding); the payload is then empty."""
    pkt = RtpPacket.parse(_header(b0=0xA0) + b"\x00\x00\x03")
    assert pkt.payload == b"" and pkt.padding == 3


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_rtp_error(data):
    try:
        pkt = RtpPacket.parse(data)
    except RtpError:
        return
    # what parsed builds again, and parses to the same packet
    assert RtpPacket.parse(pkt.build()) == pkt
    assert len(pkt.build()) == len(data)


@given(st.binary(min_size=12, max_size=200))
def test_any_bytes_with_version_2_parse_or_raise_rtp_error(data):
    data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass


@pytest.mark.parametrize("kw,why", [
    ({"payload_type": 128}, "payload type"), ({"payload_type": -1}, "payload type"),
    ({"seq": 65536}, "sequence"), ({"timestamp": 1 << 32}, "timestamp"),
    ({"ssrc": -1}, "SSRC"), ({"csrc": tuple(range(16))}, "CSRCs"), ({"csrc": (1 << 32,)}, "CSRC"),
    ({"padding": 256}, "padding"), ({"extension": (0, b"abc")}, "extension"),
    ({"extension": (1 << 16, b"")}, "profile"),
])
def test_build_refuses_fields_out_of_range(kw, why):
    base = dict(payload_type=0, seq=0, timestamp=0, ssrc=0)
    with pytest.raises(RtpError, match=why):
        RtpPacket(**{**base, **kw}).build()


@pytest.mark.parametrize("thing", [1 << 40, None, "80000000", [0x80] * 12])
def test_parse_refuses_non_bytes_with_rtp_error(thing):
    """Not a buffer: RtpError at once (an int is not taken as a length to allocate)."""
    with pytest.raises(RtpError, match="not bytes"):
        RtpPacket.parse(thing)  # type: ignore[arg-type]
