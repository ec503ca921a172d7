"""T.30 frames, FCF codes, DIS/DTC/DCS fields, identifiers and ECM framing:
round trips and known vectors (t30-facts.md, HylaFAX capture, TSB-85 frames)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.t30 import dis as D
from faxcore.t30 import ecm
from faxcore.t30.frames import (
    FCF_CODES,
    Frame,
    FrameError,
    bitrev,
    fcf_name,
    fcf_value,
    from_spec_hex,
    to_spec_hex,
)
from faxcore.t30.idents import decode_ident, encode_ident
from faxcore.t30.modem_if import V17_7200, V17_14400, V27_2400, V27_4800, V29_7200, V29_9600
from faxcore.testing.peers import require_shared

# ---- frames ---------------------------------------------------------------------------

LINE_VALUES = {  # from t30-facts.md, line order, X = 0
    "DIS": 0x80, "CSI": 0x40, "NSF": 0x20, "DTC": 0x81, "CIG": 0x41, "NSC": 0x21,
    "PWD": 0xC1, "SEP": 0xA1, "PSA": 0x61, "DCS": 0x82, "TSI": 0x42, "NSS": 0x22,
    "SUB": 0xC2, "SID": 0xA2, "CTC": 0x12, "CFR": 0x84, "FTT": 0x44, "CTR": 0xC4,
    "EOM": 0x8E, "MPS": 0x4E, "EOR": 0xCE, "EOP": 0x2E, "RR": 0x6E, "PRI-EOM": 0x9E,
    "PRI-MPS": 0x5E, "PRI-EOP": 0x3E, "PPS": 0xBE, "MCF": 0x8C, "RTN": 0x4C, "RTP": 0xCC,
    "PIN": 0x2C, "PIP": 0xAC, "RNR": 0xEC, "ERR": 0x1C, "PPR": 0xBC, "DCN": 0xFA,
    "CRP": 0x1A, "FNV": 0xCA, "FCD": 0x06, "RCP": 0x86,
}
SPEC_VALUES = {  # HylaFAX / TSB-85 spec order, X = 0
    "DIS": 0x01, "CSI": 0x02, "DTC": 0x81, "DCS": 0x41, "TSI": 0x42, "CFR": 0x21,
    "FTT": 0x22, "MPS": 0x72, "EOP": 0x74, "EOM": 0x71, "MCF": 0x31, "RTN": 0x32,
    "RTP": 0x33, "PPS": 0x7D, "PPR": 0x3D, "DCN": 0x5F, "CRP": 0x58, "RNR": 0x37,
    "RR": 0x76, "CTC": 0x48, "CTR": 0x23, "EOR": 0x73, "ERR": 0x38, "FCD": 0x60, "RCP": 0x61,
}


@pytest.mark.parametrize("name,value", sorted(LINE_VALUES.items()))
def test_fcf_line_values(name, value):
    assert fcf_value(name) == value
    assert fcf_name(value) == name
    if name not in ("DIS", "CSI", "NSF", "DTC", "CIG", "NSC", "PWD", "SEP", "PSA", "FCD", "RCP"):
        assert fcf_value(name, x=True) == value | 1
        assert fcf_name(value | 1) == name


@pytest.mark.parametrize("name,spec", sorted(SPEC_VALUES.items()))
def test_fcf_spec_order_is_bit_reversed(name, spec):
    assert bitrev(bytes([spec]))[0] == fcf_value(name)


def test_every_code_is_unique_and_named():
    seen = {}
    for name in FCF_CODES:
        for x in (False, True):
            code = fcf_value(name, x)
            assert fcf_name(code) == name
            if code in seen:
                assert seen[code] == name
            seen[code] = name


def test_frame_build_parse_and_x_bit():
    f = Frame.build("DCS", b"\x00\x0a\x00", x=True)
    raw = f.to_bytes()
    assert raw == bytes([0xFF, 0x13, 0x83, 0x00, 0x0A, 0x00])
    g = Frame.parse(raw)
    assert g == f and g.name == "DCS" and g.x and g.final
    # TSB-85 writes the same frame in spec order with X = 0 ("FF C8 41 00 50 00").
    t = Frame.parse(from_spec_hex("FF C8 41 00 50 00"))
    assert t.name == "DCS" and not t.x and t.final and t.fif == b"\x00\x0a\x00"
    assert to_spec_hex(t.to_bytes()) == "FF C8 41 00 50 00"
    n = Frame.parse(bytes([0xFF, 0x03, 0x40]) + b" " * 20)
    assert n.name == "CSI" and not n.final


def test_pps_describe_names_fcf2():
    f = Frame.parse(from_spec_hex("FF C8 7D 72 00 80 08"))
    assert f.describe() == "PPS-MPS"
    assert f.fif[1:] == bytes([0, 1, 16])   # page 0, block 1, 17 frames


@pytest.mark.parametrize("raw", [b"", b"\xff", b"\xff\x13", b"\xfe\x13\x80", b"\xff\x00\x80"])
def test_frame_parse_rejects_garbage(raw):
    with pytest.raises(FrameError):
        Frame.parse(raw)


@given(st.binary(max_size=40))
def test_frame_parse_never_crashes(raw):
    try:
        f = Frame.parse(raw)
    except FrameError:
        return
    assert f.to_bytes() == raw
    assert isinstance(f.describe(), str)


# ---- DIS / DCS ------------------------------------------------------------------------

def test_hylafax_dis_vector():
    caps = D.Capabilities.from_fif(bytes.fromhex("00EEFAC480DF83808018"))
    assert caps.can_receive and not caps.ready_to_poll
    assert caps.modems == {"v27ter", "v29", "v17"}
    assert caps.fine and caps.superfine and caps.mr and caps.mmr and caps.ecm
    assert caps.max_width == 2 and caps.max_length == "unlimited" and caps.min_scan_ms == 0
    assert caps.inch and caps.metric and caps.sep and caps.sub and caps.pwd
    assert caps.letter and caps.legal
    assert caps.modulations() == [V17_14400, D.V17_12000, D.V17_9600, V29_9600, V17_7200,
                                  V29_7200, V27_4800, V27_2400]
    # 300x300 (42) and R16 (43) are kept as uninterpreted bits and written back.
    assert {42, 43} <= caps.other_bits
    assert D.Capabilities.from_fif(caps.to_fif()) == caps
    assert caps.to_fif() == bytes.fromhex("00EEFAC480DF83808018")


def test_tsb85_dcs_vectors():
    dcs = D.DCSParams.from_fif(from_spec_hex("00 50 00"))
    assert dcs == D.DCSParams(modulation=V27_4800, resolution="standard", scheme="mh",
                              ecm=False, width=0, length="a4", min_scan_ms=20, receive=True)
    assert dcs.to_fif() == from_spec_hex("00 50 00")
    dcs = D.DCSParams.from_fif(from_spec_hex("00 50 1F 30"))
    assert dcs.ecm and dcs.ecm_frame_size == 64 and dcs.length == "unlimited"
    assert dcs.min_scan_ms == 0 and dcs.modulation == V27_4800
    assert dcs.to_fif() == from_spec_hex("00 50 1F 30")
    dcs = D.DCSParams.from_fif(from_spec_hex("00 44 0F 30"))
    assert dcs.modulation == V17_14400 and dcs.ecm and dcs.width == 0
    # "accept DCS with 8 byte FIF": a longer field is read, extension bits honoured.
    long = from_spec_hex("00 50 1F 31 01 01 01 00")
    assert D.DCSParams.from_fif(long).ecm


def test_tsb85_dis_vectors():
    caps = D.Capabilities.from_fif(from_spec_hex("00 50 00"))
    assert caps.can_receive and caps.modems == {"v27ter"} and not caps.ecm
    assert caps.modulations() == [V27_4800, V27_2400] and caps.min_scan_ms == 20
    caps = D.Capabilities.from_fif(from_spec_hex("00 72 20"))
    assert caps.modems == {"v27ter", "v29"} and caps.fine and caps.max_length == "b4"
    caps = D.Capabilities.from_fif(from_spec_hex("00 80 11 01 01 01 40"))
    assert caps.ready_to_poll and not caps.can_receive and caps.pwd
    assert caps.max_length == "unlimited"


def test_dis_dcs_from_tsb85_file():
    """Every DIS/DTC/DCS with a full FIF in the TSB-85 procedures decodes, and DCS fields
    re-encode to the same octets."""
    text = require_shared("conformance/tsb85.xml").read_text()
    values = set(re.findall(r'value="FF C8 (01|81|41) ([0-9A-F ]+)"', text))
    assert len(values) >= 10
    for fcf, fif_hex in values:
        fif = from_spec_hex(fif_hex)
        if fcf == "41":
            dcs = D.DCSParams.from_fif(fif)
            again = D.DCSParams.from_fif(dcs.to_fif())
            assert again == dcs
        else:
            caps = D.Capabilities.from_fif(fif)
            assert D.Capabilities.from_fif(caps.to_fif()) == caps


@pytest.mark.parametrize("mod,bits", [
    (V27_2400, 0x00), (V27_4800, 0x08), (V29_9600, 0x04), (V29_7200, 0x0C),
    (V17_14400, 0x20), (D.V17_12000, 0x28), (D.V17_9600, 0x24), (V17_7200, 0x2C)])
def test_dcs_rate_codes(mod, bits):
    fif = D.DCSParams(modulation=mod, receive=False).to_fif()
    assert fif[1] & 0x3C == bits
    assert D.DCSParams.from_fif(fif).modulation == mod
    assert D.modulation_from_ctc(fif[:2]) == mod


def test_dcs_round_trips():
    for mod in (V27_2400, V29_9600, V17_14400):
        for res in D.RESOLUTIONS:
            for scheme, ecm_on in (("mh", False), ("mr", False), ("mr", True), ("mmr", True)):
                for width in (0, 1, 2):
                    for scan in (0, 5, 10, 20, 40):
                        d = D.DCSParams(modulation=mod, resolution=res, scheme=scheme,
                                        ecm=ecm_on, ecm_frame_size=64 if width == 1 and ecm_on else 256,
                                        width=width, length="b4", min_scan_ms=scan)
                        assert D.DCSParams.from_fif(d.to_fif()) == d


def test_unknown_bits_tolerated_and_extension_honoured():
    bits = {2, 5, 10, 11, 12, 15, 27, 61, 66}
    caps = D.Capabilities.from_fif(D.fif_from_bits(bits))
    assert caps.ecm and caps.fine and caps.modems == {"v27ter", "v29"}
    assert {2, 5, 61, 66} <= caps.other_bits
    # The octet after one without its extend bit is not part of the field.
    fif = bytes([0x00, 0x0E, 0x00, 0xFF, 0xFF])
    assert D.bits_from_fif(fif) == {10, 11, 12}
    # A promised octet that is missing is tolerated.
    assert D.bits_from_fif(bytes([0x00, 0x0E, 0x80])) == {10, 11, 12, 24}
    with pytest.raises(ValueError):
        D.DCSParams.from_fif(bytes([0x00, 0x1C, 0x00]))  # rate code 1110: no such DCS


@given(st.binary(max_size=16))
def test_fif_parsers_never_crash(fif):
    caps = D.Capabilities.from_fif(fif)
    assert D.Capabilities.from_fif(caps.to_fif()).modems == caps.modems
    try:
        D.DCSParams.from_fif(fif)
    except ValueError:
        pass


def test_min_scan_codes():
    for ms, code in ((20, 0x00), (5, 0x10), (10, 0x20), (40, 0x40), (0, 0x70)):
        fif = D.DCSParams(min_scan_ms=ms).to_fif()
        assert fif[2] & 0x70 == code
    # DIS "110": 20 ms at standard, half at fine.
    caps = D.Capabilities.from_fif(bytes([0, 0x4E, 0x30]))
    assert caps.min_scan_ms == 20 and caps.scan_half_fine
    dcs, _ = D.negotiate(("v29",), caps, resolution="fine", width_pixels=1728, ecm=False)
    assert dcs.min_scan_ms == 10 and dcs.min_row_bits() == 96
    dcs, _ = D.negotiate(("v29",), caps, resolution="standard", width_pixels=1728, ecm=False)
    assert dcs.min_scan_ms == 20 and dcs.min_row_bits() == 192


def test_negotiation():
    remote = D.Capabilities(modems=frozenset({"v27ter", "v29"}), mmr=False, max_width=1)
    dcs, mods = D.negotiate(("v17", "v29", "v27ter"), remote, resolution="fine",
                            width_pixels=2048, ecm=True)
    assert mods == [V29_9600, V29_7200, V27_4800, V27_2400]
    assert dcs.modulation == V29_9600 and dcs.scheme == "mr" and dcs.ecm and dcs.width == 1
    with pytest.raises(D.NegotiationError) as e:
        D.negotiate(("v17",), remote, resolution="fine", width_pixels=2432, ecm=True)
    assert e.value.reason == "NOSIZESUPPORT"
    with pytest.raises(D.NegotiationError) as e:
        D.negotiate(("v17",), remote, resolution="fine", width_pixels=1728, ecm=True)
    assert e.value.reason == "INCOMPATIBLE"
    with pytest.raises(D.NegotiationError) as e:
        D.negotiate(("v29",), D.Capabilities(fine=False), resolution="fine",
                    width_pixels=1728, ecm=True)
    assert e.value.reason == "NORESSUPPORT"
    # MMR only with ECM.
    dcs, _ = D.negotiate(("v29",), D.Capabilities(), resolution="fine", width_pixels=1728,
                         ecm=False)
    assert dcs.scheme == "mr" and not dcs.ecm
    assert D.fallback_order({"v17", "v29", "v27ter"}) == [
        V17_14400, D.V17_12000, D.V17_9600, V29_9600, V17_7200, V29_7200, V27_4800, V27_2400]
    assert D.fallback_order({"v17", "v27ter"}) == [
        V17_14400, D.V17_12000, D.V17_9600, V17_7200, V27_4800, V27_2400]
    assert D.fallback_order({"v29", "v27ter"}) == [V29_9600, V29_7200, V27_4800, V27_2400]
    assert D.fallback_order({"v27ter-fallback"}) == [V27_2400]


# ---- identifiers ----------------------------------------------------------------------

def test_ident_tsb85_csi():
    expected = from_spec_hex("9C 1C EC 6C AC 2C CC 4C 8C 0C D4 04 04 04 04 04 04 04 04 04")
    assert encode_ident("+0123456789") == expected
    assert decode_ident(expected) == "+0123456789"
    assert encode_ident("") == b" " * 20
    assert decode_ident(b"\x00\xff 1 ") == "1"
    with pytest.raises(ValueError):
        encode_ident("1" * 21)
    with pytest.raises(ValueError):
        encode_ident("caf\u00e9")


# ---- ECM ------------------------------------------------------------------------------

def test_ppr_map_tsb85_vectors():
    fif = from_spec_hex("80" + " 00" * 31)
    assert ecm.parse_ppr(fif) == {0}
    # TSB-85 ECM procedure: frame 100 and frames 221..255 asked for again.
    fif = from_spec_hex("00 " * 12 + "08 " + "00 " * 14 + "07 FF FF FF FF")
    assert len(fif) == 32
    frames = ecm.parse_ppr(fif)
    assert frames == {100} | set(range(221, 256))
    assert ecm.ppr_map(frames) == fif
    assert ecm.ppr_map({0, 9, 255}) == bytes([1, 2] + [0] * 29 + [0x80])
    with pytest.raises(ValueError):
        ecm.ppr_map({256})


def test_split_page_and_block_receiver():
    data = bytes(range(256)) * 300  # 76800 octets
    blocks = ecm.split_page(data, 256)
    assert [len(b) for b in blocks] == [256, 44]
    blocks64 = ecm.split_page(data[:1000], 64)
    assert len(blocks64) == 1 and len(blocks64[0]) == 16 and len(blocks64[0][-1]) == 40
    rx = ecm.BlockReceiver()
    burst = ecm.block_burst(blocks64[0], range(16))
    assert len(burst) == 19 and burst[-1] == bytes([0xFF, 0x03, 0x86])
    for f in burst:
        if f[3:4] != b"\x05":
            rx.add(f)
    assert rx.rcp_seen and rx.missing(16) == {5}
    rx.add(ecm.fcd_frame(5, blocks64[0][5]))
    assert rx.missing(16) == set() and rx.assemble(16) == data[:1000]
