"""tshark (Wireshark 4.0's T.38 dissector, a decoder we did not write) reads faxcore's
UDPTL/IFP packets: for T.38 version 0 (tshark's default, the 1998 ASN.1) and version 3
(``t38.use_pre_corrigendum_asn1_specification:FALSE``), with no redundancy, redundancy 3
and FEC, every packet decodes with no malformed-packet or expert error, and its sequence
number, indicators, data types, field types and field data (primary and secondary IFPs)
and FEC entries are the values faxcore encoded. The packets carry every indicator, data
type and field type of the version, and a realistic call sequence (CNG, CED, V.21 HDLC
frames with fcs-OK / fcs-OK-sig-end, V.17 training and non-ECM data).
"""

from __future__ import annotations

import subprocess

import pytest

from faxcore.pcap import PcapWriter
from faxcore.t38.ifp import decode, encode
from faxcore.t38.packets import DataPacket, DataType, Field, FieldType, Indicator, IndicatorPacket
from faxcore.t38.udptl import UdptlSender, decode_udptl
from faxcore.testing.peers import require_tool

PORT = 4000
F = FieldType
_REV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
#: DIS and CSI as Class 1 writes them (FF 13 80 ...), bit-reversed into T.38 order as
#: spandsp does: Wireshark's T.30 dissector expects FF C8 01 ... inside T.38
DIS = bytes.fromhex("FF1380004EF880809181808080 18").translate(_REV)
CSI = (bytes.fromhex("FF0340") + b" 9876 54321 44+".ljust(20)).translate(_REV)
TSI_FIELDS = ("t38.seq_number", "t38.t30_indicator", "t38.t30_data", "t38.field_type",
              "t38.field_data", "t38.secondary_ifp_packets", "t38.fec_npackets",
              "t38.fec_data_item", "_ws.malformed", "_ws.expert")


def _hdlc_frames(dt: DataType, frame: bytes) -> list[DataPacket]:
    """One HDLC frame sent the ways T.38 peers send it: in chunks with fcs-OK after; in
    one packet with fcs-OK; bad FCS; a frame ending the burst (fcs-OK-sig-end, then
    fcs-BAD-sig-end) and a lone hdlc-sig-end."""
    def d(*fields: Field) -> DataPacket:
        return DataPacket(dt, fields)
    return [d(Field(F.HDLC_DATA, frame[:3])), d(Field(F.HDLC_DATA, frame[3:])),
            d(Field(F.HDLC_FCS_OK)),
            d(Field(F.HDLC_DATA, frame), Field(F.HDLC_FCS_OK)),
            d(Field(F.HDLC_DATA, frame), Field(F.HDLC_FCS_BAD)),
            d(Field(F.HDLC_DATA, frame), Field(F.HDLC_FCS_OK_SIG_END)),
            d(Field(F.HDLC_DATA, frame), Field(F.HDLC_FCS_BAD_SIG_END)),
            d(Field(F.HDLC_SIG_END))]


def _non_ecm(dt: DataType) -> list[DataPacket]:
    chunk = bytes(range(54))
    return [DataPacket(dt, (Field(F.T4_NON_ECM_DATA, chunk),)),
            DataPacket(dt, (Field(F.T4_NON_ECM_DATA, chunk), Field(F.T4_NON_ECM_SIG_END))),
            DataPacket(dt, (Field(F.T4_NON_ECM_DATA, chunk[:7]),)),
            DataPacket(dt, (Field(F.T4_NON_ECM_SIG_END),))]


def every_type(version: int) -> list:
    """Every indicator, data type and field type codable at ``version``."""
    root = version == 0
    pkts: list = [IndicatorPacket(i) for i in Indicator if not (root and i >= 16)]
    for dt in DataType:
        if root and dt >= 9:
            continue
        pkts += _hdlc_frames(dt, DIS) + _non_ecm(dt)
        pkts.append(DataPacket(dt))                     # a data type with no data-field
    if not root:
        v8 = DataType.V8
        pkts += [DataPacket(v8, (Field(F.CM_MESSAGE, b"\xe0\xc1"), Field(F.JM_MESSAGE),
                                 Field(F.CI_MESSAGE, b"\x83"), Field(F.V34RATE, b"14"))),
                 DataPacket(DataType.V34_PRI_RATE, (Field(F.V34RATE, b"336"),)),
                 # data-less fields then data: fields are bit-packed, not octet-aligned
                 DataPacket(DataType.V21, (Field(F.HDLC_SIG_END), Field(F.JM_MESSAGE),
                                           Field(F.HDLC_FCS_BAD), Field(F.HDLC_DATA, DIS),
                                           Field(F.HDLC_FCS_OK)))]
    else:
        pkts.append(DataPacket(DataType.V21, (Field(F.HDLC_SIG_END), Field(F.HDLC_FCS_BAD),
                                              Field(F.HDLC_DATA, DIS), Field(F.HDLC_FCS_OK))))
    return pkts


def realistic() -> list:
    """A calling/answering exchange as spandsp's terminal paces it: indicators x3, V.21
    HDLC one octet a packet, a V.17 page's non-ECM data in 54-octet chunks; each sig-end
    sent once (repeats: see test_tshark_flags_repeated_sig_ends)."""
    ind = [IndicatorPacket(Indicator.NO_SIGNAL)] * 3 + [IndicatorPacket(Indicator.CNG)] * 3
    ind += [IndicatorPacket(Indicator.CED)] * 3 + [IndicatorPacket(Indicator.V21_PREAMBLE)] * 3
    v21 = DataType.V21
    out = list(ind)
    for frame, last in ((CSI, False), (DIS, True)):
        out += [DataPacket(v21, (Field(F.HDLC_DATA, frame[i:i + 1]),)) for i in range(len(frame))]
        out.append(DataPacket(v21, (Field(F.HDLC_FCS_OK_SIG_END if last else F.HDLC_FCS_OK),)))
    out += [IndicatorPacket(Indicator.NO_SIGNAL)] * 3
    out += [IndicatorPacket(Indicator.V17_14400_LONG_TRAINING)] * 3
    page = bytes((i * 37) & 0xFF for i in range(54 * 12))
    out += [DataPacket(DataType.V17_14400, (Field(F.T4_NON_ECM_DATA, page[i:i + 54]),))
            for i in range(0, len(page), 54)]
    out.append(DataPacket(DataType.V17_14400, (Field(F.T4_NON_ECM_SIG_END),)))
    out += [IndicatorPacket(Indicator.NO_SIGNAL)] * 3
    return out


def _write(path, pkts, version, sender):
    dgs = []
    with PcapWriter(path) as w:
        for i, p in enumerate(pkts):
            dg = sender.send(encode(p, version))
            dgs.append(dg)
            w.datagram(1.0 + 0.03 * i, ("127.0.0.1", PORT), ("127.0.0.1", PORT + 2), dg)
    return dgs


def _tshark(path, version, reassembly=True) -> list[dict[str, str]]:
    tshark = require_tool("tshark")
    cmd = [tshark, "-r", str(path), "-d", f"udp.port=={PORT},t38", "-T", "fields",
           "-o", f"t38.reassembly:{'TRUE' if reassembly else 'FALSE'}"]
    if version > 0:
        cmd += ["-o", "t38.use_pre_corrigendum_asn1_specification:FALSE"]
    for f in TSI_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [dict(zip(TSI_FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def _expected(datagram: bytes, version: int) -> dict[str, str]:
    """What tshark should show: the values of the primary then each secondary IFP."""
    u = decode_udptl(datagram)
    ind, dts, fts, fds = [], [], [], []
    for raw in (u.primary, *u.secondary):
        p = decode(raw, version)
        if isinstance(p, IndicatorPacket):
            ind.append(str(int(p.indicator)))
            continue
        dts.append(str(int(p.data_type)))
        for f in p.fields:
            fts.append(str(int(f.type)))
            if f.data:
                fds.append(f.data.hex())
    return {"t38.seq_number": str(u.seq), "t38.t30_indicator": ",".join(ind),
            "t38.t30_data": ",".join(dts), "t38.field_type": ",".join(fts),
            "t38.field_data": ",".join(fds),
            "t38.secondary_ifp_packets": "" if u.fec else str(len(u.secondary)),
            "t38.fec_npackets": str(u.fec.npackets) if u.fec else "",
            "t38.fec_data_item": ",".join(e.hex() for e in u.fec.entries) if u.fec else "",
            "_ws.malformed": "", "_ws.expert": ""}


SENDERS = {"plain": dict(redundancy=0), "redundancy3": dict(redundancy=3),
           "fec3x3": dict(fec=(3, 3), redundancy=0)}


@pytest.mark.parametrize("sender", sorted(SENDERS))
@pytest.mark.parametrize("version", [0, 3])
@pytest.mark.parametrize("sequence", ["every_type", "realistic"])
def test_tshark_decodes_what_we_sent(tmp_path, sequence, version, sender):
    pkts = every_type(version) if sequence == "every_type" else realistic()
    dgs = _write(tmp_path / "t38.pcap", pkts, version,
                 UdptlSender(first_seq=65500 if sender == "plain" else 0, **SENDERS[sender]))
    rows = _tshark(tmp_path / "t38.pcap", version)
    assert len(rows) == len(dgs)
    for i, (row, dg) in enumerate(zip(rows, dgs, strict=True)):
        assert row == _expected(dg, version), f"packet {i}: {pkts[i]}"


def test_the_version_trap_is_visible_in_tshark(tmp_path):
    """A version-0 fcs-OK read as version 1+ is fcs-OK-sig-end (both are octet 20): tshark
    with the other ASN.1 shows the wrong field type, silently, as the fact sheet warns."""
    pkt = DataPacket(DataType.V21, (Field(F.HDLC_DATA, DIS), Field(F.HDLC_FCS_OK)))
    _write(tmp_path / "trap.pcap", [pkt], 0, UdptlSender(redundancy=0))
    assert [r["t38.field_type"] for r in _tshark(tmp_path / "trap.pcap", 0)] == ["0,2"]
    assert [r["t38.field_type"] for r in _tshark(tmp_path / "trap.pcap", 3)] == ["0,4"]


@pytest.mark.parametrize("redundancy", [0, 3])
def test_tshark_flags_repeated_sig_ends(tmp_path, redundancy):
    """spandsp sends sig-ends 3 times (FreeSWITCH: the same datagram 3 times). tshark 4.0's
    reassembly then reports every copy after the first, though its octets decode (the
    field types are right): a Note "Unreassembled fragment", which also stops the
    dissection of the rest of that datagram (its redundancy or FEC is not shown); with
    redundancy, a repeated t4-non-ecm-sig-end is an Error/Malformed "[RECEIVED END OF
    FRAGMENT W/OUT ANY FRAGMENT DATA]" instead. The first copy is clean."""
    v21, v17 = DataType.V21, DataType.V17_14400
    hdlc_end = DataPacket(v21, (Field(F.HDLC_FCS_OK_SIG_END),))
    t4_end = DataPacket(v17, (Field(F.T4_NON_ECM_SIG_END),))
    pkts = ([DataPacket(v21, (Field(F.HDLC_DATA, DIS),))] + [hdlc_end] * 3
            + [DataPacket(v17, (Field(F.T4_NON_ECM_DATA, bytes(54)),))] + [t4_end] * 3)
    _write(tmp_path / "rep.pcap", pkts, 0, UdptlSender(redundancy=redundancy))
    rows = _tshark(tmp_path / "rep.pcap", 0)
    assert [r["t38.field_type"].split(",")[0] for r in rows] == \
        ["0", "4", "4", "4", "6", "7", "7", "7"]
    experts = [r["_ws.expert"] for r in rows]
    assert experts[:2] == ["", ""] and experts[4:6] == ["", ""], experts
    assert all("Note/Reassemble" in e for e in experts[2:4]), experts
    t4 = "Error/Malformed" if redundancy else "Note/Reassemble"
    assert all(t4 in e for e in experts[6:]), experts
