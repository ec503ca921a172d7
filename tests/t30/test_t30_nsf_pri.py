"""NSF (non-standard facilities): none sent by default, sent when configured, any NSF
received is tolerated and reported (T.35 country code, vendor code, contents). And the
procedure-interrupt post-page commands PRI-MPS / PRI-EOM (T.4 and ECM PPS forms): with no
operator to interrupt for, the receiver treats them as MPS / EOM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxcore.codecs import encode
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import DCSParams
from faxcore.t30.frames import Frame, bitrev, fcf_value, pps_fif
from faxcore.t30.modem_if import V27_4800
from faxcore.t30.nsf import parse_nsf
from faxcore.testing.engines import dis_frame, drive, loopback_call, names
from faxcore.testing.pages import block_page, text_page

US_HP = bytes([0xB5, 0x00, 0x36]) + b"model 42"  # T.35: USA (181), then a vendor code


def cmd(name: str, fif: bytes = b"") -> bytes:
    """A command from the transmitting station (it received DIS: X bit set)."""
    return Frame.build(name, fif, x=True, final=True).to_bytes()


# ---- NSF -----------------------------------------------------------------------------------

def test_no_nsf_by_default():
    a, b, _ = loopback_call([TxPage(text_page(100, 1))])
    assert "NSF" not in names(a) + names(b)
    assert a.result.remote_nsf == b"" and a.result.remote_nsf_country is None
    assert "NSF" not in a.result.summary()


def test_configured_nsf_is_sent_and_reported():
    a, b, _ = loopback_call([TxPage(text_page(100, 1))], answerer=dict(nsf=US_HP))
    assert a.result.ok and b.result.ok
    assert names(b, "tx")[:3] == ["NSF", "CSI", "DIS"]
    r = a.result
    assert (r.remote_nsf, r.remote_nsf_country, r.remote_nsf_vendor) == (
        US_HP, 181, b"\x00\x36")
    assert "NSF country 181, vendor 0036" in r.summary()
    # On the line (the trace shows line order) each T.35 octet is bit-reversed.
    nsf_hex = next(t.hex for t in a.result.trace if t.name == "NSF")
    assert bytes.fromhex(nsf_hex)[3:] == bitrev(US_HP) and bitrev(b"\xb5") == b"\xad"


def test_nsf_with_a_country_code_extension():
    got = parse_nsf(bitrev(bytes([0xFF, 0x12, 0x00, 0x99]) + b"xyz"))
    assert (got.country, got.country_extension, got.vendor) == (0xFF, 0x12, b"\x00\x99")
    short = parse_nsf(bitrev(b"\x04"))
    assert (short.country, short.country_extension, short.vendor) == (4, None, b"")
    empty = parse_nsf(b"")
    assert (empty.data, empty.country, empty.vendor) == (b"", None, b"")


def test_nsf_option_is_checked():
    for bad in (b"\x04", b"\xb5\x00", bytes(101)):
        with pytest.raises(ValueError, match="NSF needs"):
            T30Config(calling=False, nsf=bad)
    assert T30Config(calling=False, nsf=b"").nsf == b""      # none: the default
    assert T30Config(calling=False, nsf=bytes(100)).nsf == bytes(100)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=250))
def test_any_nsf_content_is_tolerated(fif):
    """Whatever an NSF holds, the caller reports it and goes on with the call."""
    got = parse_nsf(fif)
    assert got.data == bitrev(fif)
    nsf = Frame.build("NSF", fif, final=False).to_bytes()
    e = T30Engine(T30Config(calling=True, pages=[TxPage(block_page(), "standard")],
                            ecm=False, modems=("v27ter",)))
    sent, _ = drive(e, [[nsf, dis_frame(False)], [Frame.build("CFR").to_bytes()],
                        [Frame.build("MCF").to_bytes()]])
    assert e.result.status == T30Status.OK, e.result.summary()
    assert [f.name for f in sent] == ["DCS", "EOP", "DCN"]
    assert e.result.remote_nsf == bitrev(fif)
    assert e.result.remote_nsf_country == (bitrev(fif)[0] if fif else None)


# ---- PRI-MPS / PRI-EOM ---------------------------------------------------------------------

def pages3():
    out = []
    for k in range(3):
        p = np.zeros((60, 1728), np.uint8)
        p[5 + 10 * k:15 + 10 * k, 100 + 300 * k:700 + 300 * k] = 1
        out.append(p)
    return out


def test_pri_mps_and_pri_eom_without_ecm():
    """Page 1 + PRI-MPS: MCF and straight on to page 2; page 2 + PRI-EOM: MCF, back to
    phase B (a new DCS and TCF); page 3 + PRI-EOP: MCF, DCN. Three good pages."""
    e = T30Engine(T30Config(calling=False, modems=("v27ter",)))
    dcs = cmd("DCS", DCSParams(modulation=V27_4800, scheme="mh",
                               resolution="standard").to_fif())
    p = pages3()
    data = [bytes(encode(x, "mh", end_marker=True, lsb_first=True)) for x in p]
    sent, _ = drive(e, [[dcs], bytes(900), data[0], [cmd("PRI-MPS")], data[1],
                        [cmd("PRI-EOM")], [dcs], bytes(900), data[2], [cmd("PRI-EOP")],
                        [cmd("DCN")]])
    assert e.result.status == T30Status.OK, e.result.summary()
    assert [f.name for f in sent] == ["DIS", "CFR", "MCF", "MCF", "CFR", "MCF"]
    assert len(e.received_pages) == 3
    for got, want in zip(e.received_pages, p, strict=True):
        assert np.array_equal(got.bitmap, want) and got.quality == "MCF"
    assert [t.name for t in e.result.trace if t.direction == "rx"] == [
        "DCS", "PRI-MPS", "PRI-EOM", "DCS", "PRI-EOP", "DCN"]


def test_pps_pri_mps_and_pps_pri_eom_with_ecm():
    e = T30Engine(T30Config(calling=False, modems=("v27ter",)))
    dcs = cmd("DCS", DCSParams(modulation=V27_4800, scheme="mr", ecm=True,
                               resolution="standard").to_fif())
    p = pages3()
    script = [[dcs], bytes(900)]
    for n, (page, post) in enumerate(zip(p, ("PRI-MPS", "PRI-EOM", "PRI-EOP"), strict=True)):
        (block,) = ecm_mod.split_page(bytes(encode(page, "mr", k=2, end_marker=True,
                                                   lsb_first=True)), 256)
        script.append(ecm_mod.block_burst(block, range(len(block))))
        script.append([cmd("PPS", pps_fif(fcf_value(post, True), n, 0, len(block)))])
        if post == "PRI-EOM":
            script += [[dcs], bytes(900)]
    script.append([cmd("DCN")])
    sent, _ = drive(e, script)
    assert e.result.status == T30Status.OK, e.result.summary()
    assert [f.name for f in sent] == ["DIS", "CFR", "MCF", "MCF", "CFR", "MCF"]
    assert [t.name for t in e.result.trace if t.direction == "rx"] == [
        "DCS", "PPS-PRI-MPS", "PPS-PRI-EOM", "DCS", "PPS-PRI-EOP", "DCN"]
    assert len(e.received_pages) == 3
    for got, want in zip(e.received_pages, p, strict=True):
        assert np.array_equal(got.bitmap, want)
