"""T.85 (JBIG) in T.30: DIS/DTC/DCS bits 78 (T.85 basic) and 79 (optional L0), the
choice of coding (T.85 only with ECM, preferred over MMR when both ends offer it, MMR /
MR / MH when the far end lacks it), page coding and judging, and whole calls faxcore <->
faxcore in virtual time with the pages compared pixel for pixel."""

from __future__ import annotations

import pytest

from faxcore import codecs
from faxcore.t30 import T30Config, T30Status, TxPage
from faxcore.t30.dis import (
    B_MMR,
    B_T85,
    B_T85_L0,
    Capabilities,
    DCSParams,
    accept_dcs,
    bits_from_fif,
    negotiate,
)
from faxcore.t30.modem_if import V17_14400
from faxcore.t30.pages import encode_page, judge_page
from faxcore.testing.engines import assert_pages_equal, loopback_call, names
from faxcore.testing.pages import text_page

# ---- DIS / DCS bits -------------------------------------------------------------------

def test_dis_bits_78_79_round_trip():
    fif = Capabilities(jbig=True, jbig_l0=True).to_fif()
    bits = bits_from_fif(fif)
    assert {B_T85, B_T85_L0} <= bits and len(fif) >= 10  # octet 10 holds bits 73-80
    caps = Capabilities.from_fif(fif)
    assert caps.jbig and caps.jbig_l0 and B_T85 not in caps.other_bits
    basic = Capabilities.from_fif(Capabilities(jbig=True).to_fif())
    assert basic.jbig and not basic.jbig_l0
    assert B_T85 not in bits_from_fif(Capabilities().to_fif())  # off by default


def test_dis_t85_never_without_ecm():
    assert not bits_from_fif(Capabilities(jbig=True, jbig_l0=True, ecm=False).to_fif()) & {
        B_T85, B_T85_L0}
    # A far end that sets bit 78 without ECM (bit 27) is not taken to offer T.85.
    fif = Capabilities(jbig=True, ecm=True).to_fif()
    no_ecm = bytearray(fif)
    no_ecm[3] &= ~(1 << 2)  # bit 27
    assert not Capabilities.from_fif(bytes(no_ecm)).jbig


@pytest.mark.parametrize("l0", [False, True])
def test_dcs_jbig_round_trip(l0):
    dcs = DCSParams(modulation=V17_14400, resolution="fine", scheme="jbig", ecm=True,
                    jbig_l0=l0)
    bits = bits_from_fif(dcs.to_fif())
    assert B_T85 in bits and B_MMR not in bits and (B_T85_L0 in bits) == l0
    back = DCSParams.from_fif(dcs.to_fif())
    assert back == dcs


def test_accept_dcs_jbig():
    dcs = DCSParams(modulation=V17_14400, scheme="jbig", ecm=True)
    assert accept_dcs(Capabilities(jbig=True), dcs) is None
    assert "T.85" in accept_dcs(Capabilities(), dcs)
    assert "T.85" in accept_dcs(Capabilities(jbig=True), DCSParams(
        modulation=V17_14400, scheme="jbig", ecm=False))
    assert "L0" in accept_dcs(Capabilities(jbig=True), DCSParams(
        modulation=V17_14400, scheme="jbig", ecm=True, jbig_l0=True))


# ---- negotiation ----------------------------------------------------------------------

ALL = ("mh", "mr", "mmr", "jbig")


@pytest.mark.parametrize("ecm,remote,schemes,prefer,expect", [
    (True, Capabilities(jbig=True), ALL, True, "jbig"),        # both offer + ECM
    (True, Capabilities(jbig=True), ALL, False, "mmr"),        # MMR preferred
    (True, Capabilities(jbig=True, mmr=False), ALL, False, "jbig"),  # no MMR: JBIG anyway
    (False, Capabilities(jbig=True), ALL, True, "mr"),         # we run without ECM
    (True, Capabilities(jbig=True, ecm=False), ALL, True, "mr"),  # far end without ECM
    (True, Capabilities(), ALL, True, "mmr"),                  # far end lacks T.85
    (True, Capabilities(mmr=False), ALL, True, "mr"),
    (True, Capabilities(jbig=True), ("mh", "mr", "mmr"), True, "mmr"),  # we do not offer it
])
def test_negotiation_table(ecm, remote, schemes, prefer, expect):
    remote = Capabilities.from_fif(remote.to_fif())  # as the far end's DIS says it
    dcs, _ = negotiate(("v17",), remote, resolution="fine", width_pixels=1728, ecm=ecm,
                       schemes=schemes, prefer_jbig=prefer)
    assert dcs.scheme == expect
    assert dcs.ecm == (ecm and remote.ecm)


def test_config_jbig_option():
    assert "jbig" not in T30Config(calling=False).schemes
    assert T30Config(calling=False, jbig=True).schemes == ("mh", "mr", "mmr", "jbig")
    assert T30Config(calling=False, schemes=("mh", "jbig")).jbig
    with pytest.raises(ValueError):
        T30Config(calling=False, schemes=("mh", "t43"))


# ---- page coding ----------------------------------------------------------------------

def test_encode_and_judge_jbig_page():
    page = TxPage(text_page(300, 3), "fine")
    dcs = DCSParams(modulation=V17_14400, resolution="fine", scheme="jbig", ecm=True)
    cfg = T30Config(calling=False, jbig=True)
    data = encode_page(page, dcs, cfg)
    # The line carries the BIE octets as they are, each sent LSB first like any line
    # octet (not bit-reversed as MH/MR/MMR bit streams are): HylaFAX and spandsp do so.
    assert data == codecs.jbig.encode_for_line(page.bitmap)
    assert len(data) < len(encode_page(page, DCSParams(
        modulation=V17_14400, resolution="fine", scheme="mmr", ecm=True), cfg))
    rx = judge_page(data, dcs, cfg)
    assert rx.scheme == "jbig" and rx.quality == "MCF" and not rx.end_lost
    assert (rx.bitmap == page.bitmap).all()
    cut = judge_page(data[: len(data) // 2], dcs, cfg, truncated=True)
    assert cut.end_lost and cut.rows < page.bitmap.shape[0] and cut.quality != "MCF"


# ---- calls ----------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", ["standard", "fine"])
def test_jbig_call(resolution):
    pages = [TxPage(text_page(300, seed), resolution) for seed in range(2)]
    a, b, _ = loopback_call(pages, caller=dict(jbig=True), answerer=dict(jbig=True))
    for e in (a, b):
        assert e.result.status == T30Status.OK, e.result.summary()
        assert e.result.scheme == "jbig" and e.result.ecm
    assert b.result.pages_received == 2
    assert_pages_equal(pages, b)
    dcs = next(f for f in a.result.trace if f.direction == "tx" and f.name == "DCS")
    assert B_T85 in bits_from_fif(bytes.fromhex(dcs.hex)[3:])  # address, control, FCF
    assert "PPS-EOP" in names(a, "tx")


@pytest.mark.parametrize("caller,answerer,expect", [
    (dict(jbig=True), dict(), "mmr"),                       # answerer lacks T.85
    (dict(), dict(jbig=True), "mmr"),                       # caller does not use it
    (dict(jbig=True, ecm=False), dict(jbig=True), "mr"),    # no ECM, no T.85
    (dict(jbig=True, prefer_jbig=False), dict(jbig=True), "mmr"),
])
def test_jbig_fallback_calls(caller, answerer, expect):
    pages = [TxPage(text_page(150, 1), "fine")]
    a, b, _ = loopback_call(pages, caller=caller, answerer=answerer)
    assert a.result.status == T30Status.OK and b.result.scheme == expect
    assert_pages_equal(pages, b)


def test_jbig_polling():
    """DTC carries bits 78/79 too: the polled station sends T.85 pages when the poller
    offers it, MMR when not."""
    pages = [TxPage(text_page(150, 7), "fine"), TxPage(text_page(100, 8), "fine")]
    for poller, expect in ((dict(jbig=True), "jbig"), (dict(), "mmr")):
        a, b, _ = loopback_call(caller=dict(pages=[], poll=True, **poller),
                                answerer=dict(pages=pages, jbig=True))
        assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
        assert a.result.scheme == expect
        assert_pages_equal(pages, a)
