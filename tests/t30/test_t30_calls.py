"""Complete T.30 calls faxcore <-> faxcore over the simulated line (virtual time):
sending, polling, ECM and not, MH/MR/MMR, resolutions, fallback and failure paths.
Received pages are compared pixel for pixel with the sent ones."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.frames import Frame
from faxcore.t30.loopback import Faults, Loopback
from faxcore.t30.modem_if import SendData
from faxcore.t30.pages import judge_page
from faxcore.testing.engines import assert_pages_equal, loopback_call, names
from faxcore.testing.pages import pbm_page, text_page
from faxcore.testing.peers import require_shared

# ---- successful calls -------------------------------------------------------------------

@pytest.mark.parametrize("ecm,schemes,expect", [
    (False, ("mh",), "mh"), (False, ("mh", "mr"), "mr"), (False, ("mh", "mr", "mmr"), "mr"),
    (True, ("mh",), "mh"), (True, ("mh", "mr"), "mr"), (True, ("mh", "mr", "mmr"), "mmr")])
@pytest.mark.parametrize("resolution", ["standard", "fine"])
def test_send_call(ecm, schemes, expect, resolution):
    pages = [TxPage(text_page(200, seed), resolution) for seed in range(2)]
    a, b, _ = loopback_call(pages, caller=dict(ecm=ecm), answerer=dict(ecm=ecm, schemes=schemes))
    for e in (a, b):
        assert e.result.status == T30Status.OK, e.result.summary()
        assert e.result.scheme == expect and e.result.ecm == ecm
        assert e.result.resolution == resolution and e.result.bit_rate == 14400
    assert a.result.pages_sent == 2 and b.result.pages_received == 2
    assert a.result.remote_ident == "+44 20 7946" and b.result.remote_ident == "+1 555 0100"
    assert_pages_equal(pages, b)
    post = "PPS-MPS" if ecm else "MPS"
    tx = names(a, "tx")
    assert tx[:2] == ["TSI", "DCS"] and post in tx and tx[-1] == "DCN"
    assert names(b, "tx")[:2] == ["CSI", "DIS"]
    assert a.result.trace[-1].hex == "FF 13 FB"   # DCN with the X bit of the caller


def test_itu_charts_ecm_mmr_and_non_ecm_mr():
    charts = [pbm_page(require_shared(f"testdata/itu/itu{n}.pbm")) for n in (1, 4)]
    pages = [TxPage(c, "fine") for c in charts]
    for ecm in (True, False):
        a, b, _ = loopback_call(pages, caller=dict(ecm=ecm), answerer=dict(ecm=ecm))
        assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
        assert b.result.scheme == ("mmr" if ecm else "mr")
        assert_pages_equal(pages, b)
        assert b.result.bad_rows == 0


def test_superfine_wide_page_and_64_octet_frames():
    pages = [TxPage(text_page(150, 3, width=2048), "superfine")]
    a, b, _ = loopback_call(pages, caller=dict(ecm_frame_size=64))
    assert a.result.ok and b.result.ok
    assert_pages_equal(pages, b)
    # A 64-octet frame block: the first PPS counts more than 1 frame per 64 octets.
    assert b.received_pages[0].width == 2048


def test_mixed_resolutions_use_eom():
    pages = [TxPage(text_page(120, 1), "fine"), TxPage(text_page(120, 2), "standard"),
             TxPage(text_page(120, 3), "standard")]
    for ecm in (True, False):
        a, b, _ = loopback_call(pages, caller=dict(ecm=ecm))
        assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
        assert_pages_equal(pages, b)
        tx = names(a, "tx")
        assert ("PPS-EOM" if ecm else "EOM") in tx
        assert tx.count("DCS") == 2
        assert names(b, "tx").count("DIS") == 2


@pytest.mark.parametrize("ecm", [True, False])
def test_polling_caller_receives(ecm):
    pages = [TxPage(text_page(150, 7), "fine"), TxPage(text_page(100, 8), "fine")]
    a, b, _ = loopback_call(caller=dict(pages=[], poll=True, ecm=ecm),
                       answerer=dict(pages=pages, ecm=ecm))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert_pages_equal(pages, a)
    assert b.result.pages_sent == 2
    assert names(a, "tx")[:2] == ["CIG", "DTC"]
    # X bit: the polled station sent the DIS, so its DCS has X = 0; the caller's CFR X = 1.
    dcs = [t for t in b.result.trace if t.name == "DCS"][0]
    assert dcs.hex.startswith("FF 13 82")
    cfr = [t for t in a.result.trace if t.name == "CFR"][0]
    assert cfr.hex == "FF 13 85"


def test_polling_refused_when_nothing_to_poll():
    a, b, _ = loopback_call(caller=dict(pages=[], poll=True))
    # As spandsp reports it (TSB-85 MTGP01): the far end cannot transmit.
    assert a.result.status == T30Status.TX_INCAPABLE
    assert b.result.status == T30Status.RX_DCNWHY


# ---- training and fallback ----------------------------------------------------------------

# Fallback order (spandsp's): V.17 14400, 12000, 9600, V.29 9600, V.17 7200, V.29 7200,
# V.27ter 4800, 2400. A line that cannot carry more than max_rate fails TCF above it.
@pytest.mark.parametrize("max_rate,mod,ftts", [
    (12000, "V17/12000", 1), (9600, "V17/9600", 2), (7200, "V17/7200", 4),
    (4800, "V27ter/4800", 6), (2400, "V27ter/2400", 7)])
@pytest.mark.parametrize("ecm", [True, False])
def test_fallback_after_ftt(max_rate, mod, ftts, ecm):
    pages = [TxPage(text_page(80, 4), "fine")]
    a, b, _ = loopback_call(pages, faults=Faults(max_rate=max_rate), caller=dict(ecm=ecm))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert a.result.modulation == mod and b.result.modulation == mod
    assert a.result.bit_rate == max_rate
    assert names(b, "tx").count("FTT") == ftts
    assert names(a, "tx").count("DCS") == ftts + 1
    assert_pages_equal(pages, b)


def test_fallback_v29_family():
    pages = [TxPage(text_page(80, 4), "fine")]
    a, b, _ = loopback_call(pages, faults=Faults(max_rate=7200), caller=dict(modems=("v29", "v27ter")))
    assert a.result.ok and a.result.modulation == "V29/7200"
    assert names(b, "tx").count("FTT") == 1
    assert names(b, "rx").count("DCS") == 2


def test_cannot_train_at_any_speed():
    pages = [TxPage(text_page(80, 4), "fine")]
    a, b, _ = loopback_call(pages, faults=Faults(max_rate=1200))
    assert a.result.status == T30Status.CANNOT_TRAIN
    assert names(b, "tx").count("FTT") == 8
    assert b.result.status == T30Status.RX_DCNWHY
    assert a.result.pages_sent == 0 and b.result.pages_received == 0


# ---- failure paths -----------------------------------------------------------------------

def test_no_answer_t1():
    a = T30Engine(T30Config(calling=True, pages=[TxPage(text_page(50))]))
    lb = Loopback(a, None)
    end = lb.run()
    assert a.result.status == T30Status.T1_EXPIRED
    assert 35.0 <= end < 36.0 and a.result.trace == []


def test_garbled_dcs_once_is_repeated():
    def garble_first_dcs(sender, frame, n):
        return "garble" if frame.name == "DCS" and n == 0 else "ok"

    pages = [TxPage(text_page(80, 5))]
    a, b, _ = loopback_call(pages, faults=Faults(frame=garble_first_dcs))
    assert a.result.ok and b.result.ok
    # The called station heard a bad frame instead of DCS and repeated its DIS.
    assert names(b, "rx")[:2] == ["TSI", "?"]
    assert names(b, "tx").count("DIS") >= 2
    assert names(a, "tx").count("DCS") == 2
    assert_pages_equal(pages, b)


def test_garbled_dcs_always_fails_cleanly():
    pages = [TxPage(text_page(80, 5))]
    a, b, _ = loopback_call(pages, faults=Faults(frame=lambda s, f, n: "garble" if f.name == "DCS" else "ok"))
    # Both give up after three tries; the receiver's third DIS goes unanswered first
    # (rules.py Decision 3), so its DCN answers the sender's third DCS.
    assert a.result.status == T30Status.TX_BADDCS
    assert names(a, "tx").count("DCS") == 3
    assert b.result.status == T30Status.RETRYDCN
    assert names(b, "tx") == ["CSI", "DIS"] * 3 + ["DCN"]


@pytest.mark.parametrize("ecm", [True, False])
def test_lost_mcf_once_is_recovered(ecm):
    def drop_first_mcf(sender, frame, n):
        return "drop" if frame.name == "MCF" and n == 0 else "ok"

    pages = [TxPage(text_page(80, s)) for s in range(2)]
    a, b, _ = loopback_call(pages, faults=Faults(frame=drop_first_mcf), caller=dict(ecm=ecm))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert_pages_equal(pages, b)          # the repeated MPS did not add a page
    assert names(a, "tx").count("PPS-MPS" if ecm else "MPS") == 2


@pytest.mark.parametrize("ecm", [True, False])
def test_missing_mcf_three_tries_then_failure(ecm):
    pages = [TxPage(text_page(80, s)) for s in range(2)]
    a, b, _ = loopback_call(pages, faults=Faults(frame=lambda s, f, n: "drop" if f.name == "MCF" else "ok"),
                       caller=dict(ecm=ecm))
    assert a.result.status == T30Status.TX_PHDDEAD
    assert names(a, "tx").count("PPS-MPS" if ecm else "MPS") == 3
    assert names(a, "tx")[-1] == "DCN"
    # The receiver answered every MPS, then heard DCN while waiting for the next page.
    assert b.result.status == T30Status.RX_DCNDATA
    assert b.result.pages_received == 1


def abort_mid_page(ecm: bool, who: str, after: float, *reason: str):
    """A one-page call in which ``who`` ("caller" or "answerer") aborts ``after`` seconds
    into the page (with ``reason``, if given). Returns both engines, ended."""
    pages = [TxPage(text_page(400, 9))]
    a = T30Engine(T30Config(calling=True, pages=pages, ecm=ecm))
    b = T30Engine(T30Config(calling=False, ecm=ecm))
    lb = Loopback(a, b)
    end = a if who == "caller" else b

    def abort_on_page(sender, cmd, now):
        if sender == "caller" and isinstance(cmd, SendData) and not cmd.long_training:
            lb.at(now + after, lambda: (end.abort(lb.now, *reason), lb.pump(who)))
        return False

    lb.faults.cut = abort_on_page
    lb.run()
    return a, b


@pytest.mark.parametrize("ecm", [True, False])
def test_far_end_hangs_up_mid_page(ecm):
    a, b = abort_mid_page(ecm, "answerer", 0.5, "operator hung up")
    assert b.result.status == T30Status.CALLDROPPED
    assert a.result.status == T30Status.TX_PHDDEAD
    assert a.result.pages_sent == 0 and b.result.pages_received == 0


def test_sender_dcn_mid_page():
    a, b = abort_mid_page(False, "caller", 1.0)
    assert a.result.status == T30Status.CALLDROPPED
    assert b.result.status == T30Status.RX_DCNFAX
    assert names(a, "tx")[-1] == "DCN" and names(b, "rx")[-1] == "DCN"


def test_line_goes_dead_mid_page():
    pages = [TxPage(text_page(400, 9))]

    def cut(sender, cmd, now):
        return sender == "caller" and isinstance(cmd, SendData) and not cmd.long_training

    a, b, _ = loopback_call(pages, faults=Faults(cut=cut), caller=dict(ecm=False))
    assert a.result.status == T30Status.TX_PHDDEAD
    assert b.result.status == T30Status.RX_T2EXPFAX


# ---- ECM error correction ------------------------------------------------------------------

def test_ppr_selective_retransmission():
    pages = [TxPage(text_page(600, 11))]
    hit = []

    def corrupt(sender, number, burst):
        bad = burst == 0 and number in (1, 5)
        if bad:
            hit.append(number)
        return bad

    a, b, _ = loopback_call(pages, faults=Faults(ecm_frame=corrupt), caller=dict(ecm_frame_size=64))
    assert a.result.ok and b.result.ok
    assert sorted(hit) == [1, 5]
    ppr = [t for t in b.result.trace if t.name == "PPR"]
    assert len(ppr) == 1
    assert Frame.parse(bytes.fromhex(ppr[0].hex)).fif[:1] == bytes([0x22])  # frames 1 and 5
    assert_pages_equal(pages, b)


def test_four_pprs_lead_to_ctc_ctr():
    pages = [TxPage(text_page(300, 12))]
    a, b, _ = loopback_call(pages, faults=Faults(ecm_frame=lambda s, n, burst: n == 2 and burst < 4),
                       caller=dict(ecm_frame_size=64))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert names(b, "tx").count("PPR") == 4
    assert "CTC" in names(a, "tx") and "CTR" in names(b, "tx")
    assert a.result.modulation == b.result.modulation == "V17/12000"
    assert_pages_equal(pages, b)


def test_four_pprs_at_lowest_speed_lead_to_eor_err():
    pages = [TxPage(text_page(300, 12))]
    a, b, _ = loopback_call(pages, faults=Faults(ecm_frame=lambda s, n, burst: n == 2),
                       caller=dict(modems=("v27ter",), ecm_frame_size=64),
                       answerer=dict(modems=("v27ter",)),
                       limit=7200)
    # The sender gives up after EOR/ERR (page damaged): DCN, RETRYDCN; the receiver keeps
    # the damaged page but reports the DCN that came while image data was still due.
    assert a.result.status == T30Status.RETRYDCN
    assert b.result.status == T30Status.RX_DCNDATA
    tx = names(a, "tx")
    assert "CTC" in tx and "EOR-EOP" in tx and "ERR" in names(b, "tx") and tx[-1] == "DCN"
    # The block was accepted without frame 2: the page arrives damaged, not identical.
    page = b.received_pages[0]
    assert page.rows > 0 and not (page.bitmap.shape == pages[0].bitmap.shape
                                  and np.array_equal(page.bitmap, pages[0].bitmap))


def test_rnr_rr_while_receiver_busy():
    pages = [TxPage(text_page(80, 13))]
    a, b, _ = loopback_call(pages, answerer=dict(rnr_count=2))
    assert a.result.ok and b.result.ok
    assert names(b, "tx").count("RNR") == 2 and names(a, "tx").count("RR") == 2
    assert_pages_equal(pages, b)


# ---- copy quality ---------------------------------------------------------------------------

def damage(fraction: float, times: int):
    """A data fault that flips bits through ``fraction`` of a page's length, on the first
    ``times`` page transmissions (TCF is left alone)."""
    count = [0]

    def fault(sender, cmd, data):
        if cmd.long_training or count[0] >= times:
            return data
        count[0] += 1
        buf = bytearray(data)
        step = max(int(1 / fraction), 1)
        for i in range(16, len(buf), step):
            buf[i] ^= 0xFF
        return bytes(buf)

    return fault


def test_rtn_to_mps_retrains_and_resends():
    """RTN to MPS: retrain one speed lower and send the page again (TSB-85 MTGN27)."""
    pages = [TxPage(text_page(300, 14)), TxPage(text_page(300, 16))]
    a, b, _ = loopback_call(pages, faults=Faults(data=damage(0.05, 1)), caller=dict(ecm=False))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert names(b, "tx").count("RTN") == 1
    assert names(a, "tx").count("DCS") == 2          # retrained after RTN, one speed lower
    assert names(a, "tx").count("MPS") == 2 and names(a, "tx").count("EOP") == 1
    assert a.result.modulation == b.result.modulation == "V17/12000"
    assert a.result.pages_sent == 2 and a.result.pages_rejected == 0
    assert_pages_equal(pages, b)                      # the damaged copy was not kept


def test_rtn_to_mps_every_time_gives_up():
    pages = [TxPage(text_page(300, 14)), TxPage(text_page(300, 16))]
    a, b, _ = loopback_call(pages, faults=Faults(data=damage(0.05, 99)), caller=dict(ecm=False))
    assert a.result.status == T30Status.RETRYDCN
    assert names(b, "tx").count("RTN") == 3
    assert b.result.status == T30Status.RX_DCNNORTN
    assert b.result.pages_received == 0


def test_rtn_to_eop_is_not_retransmitted():
    """RTN to EOP: the page is not sent again, the call ends with DCN (TSB-85 MTGN28); the
    result counts the page as rejected, not sent."""
    pages = [TxPage(text_page(300, 14))]
    a, b, _ = loopback_call(pages, faults=Faults(data=damage(0.05, 1)), caller=dict(ecm=False))
    assert a.result.status == T30Status.OK
    assert (a.result.pages_sent, a.result.pages_rejected) == (0, 1)
    assert "rejected" in a.result.message and "rejected 1" in a.result.summary()
    assert names(a, "tx") == ["TSI", "DCS", "EOP", "DCN"]
    assert names(b, "tx")[-1] == "RTN"
    assert b.result.status == T30Status.RX_DCNNORTN and b.result.pages_received == 0


def test_rtn_to_eom_goes_on_with_the_next_document():
    """RTN to EOM: back to phase B and on with the next document; the rejected page is
    not sent again (TSB-85 MTGN26)."""
    pages = [TxPage(text_page(300, 14)), TxPage(text_page(300, 16), new_document=True)]
    a, b, _ = loopback_call(pages, faults=Faults(data=damage(0.05, 1)), caller=dict(ecm=False))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert (a.result.pages_sent, a.result.pages_rejected) == (1, 1)
    assert names(a, "tx").count("EOM") == 1 and names(a, "tx").count("EOP") == 1
    assert names(b, "tx").count("DIS") == 2 and names(b, "tx").count("RTN") == 1
    assert_pages_equal(pages[1:], b)


def test_receiver_rejects_a_scan_line_over_5_seconds():
    """T.4: a total coded scan line takes less than 5 s. A row padded with fill to 5.1 s
    gets RTN; 4.9 s is accepted (TSB-85 MRGN03 checks the same over the tester)."""
    from faxcore.codecs import encode
    from faxcore.t30.dis import DCSParams
    from faxcore.t30.modem_if import Modulation
    from faxcore.t30.pages import longest_coded_line

    page = text_page(40, 17)
    dcs = DCSParams(scheme="mh").with_modulation(Modulation(4800, "v27ter"))
    eng = T30Engine(T30Config(calling=False))

    def coded(seconds: float) -> bytes:
        out = bytearray()
        for r in range(page.shape[0]):
            row = bytes(encode(page[r:r + 1], "mh", eol_align=True, end_marker=False,
                               lsb_first=True))
            if r == 20:  # fill zeros before the next EOL: the line takes longer
                row += bytes(round(seconds * 4800 / 8) - len(row))
            out += row
        return bytes(out) + b"\x00\x08\x80" * 3

    for seconds, quality in ((4.9, "MCF"), (5.1, "RTN")):
        data = coded(seconds)
        assert abs(longest_coded_line(data) / 4800 - seconds) < 0.01
        got = judge_page(data, dcs, eng.cfg)
        assert got.quality == quality
        assert np.array_equal(got.bitmap, page)  # the page decodes; only its timing differs
    assert longest_coded_line(bytes(encode(page, "mh", lsb_first=True))) < 2000
    assert longest_coded_line(b"") == 0 and longest_coded_line(b"\xff" * 9) == 0


def test_copy_quality_thresholds():
    eng = T30Engine(T30Config(calling=False))
    page = text_page(200, 15)
    from faxcore.codecs import encode
    from faxcore.t30.dis import DCSParams
    dcs = DCSParams(scheme="mh")
    data = encode(page, "mh", lsb_first=True)
    assert judge_page(data, dcs, eng.cfg).quality == "MCF"
    assert judge_page(b"\xff" * 50, dcs, eng.cfg).quality == "RTN"


# ---- SUB / SID in phase B -------------------------------------------------------------------

def test_sub_and_sid_go_with_dcs():
    """A subaddress (SUB) and sender identification (SID) go out between TSI and DCS, with
    DCS bits 49/50 set, and the receiver reports them."""
    from faxcore.t30.dis import DCSParams

    pages = [TxPage(text_page(120, 21))]
    a, b, _ = loopback_call(pages, caller=dict(sub_address="4711", sender_ident="s3cret"))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert names(a, "tx")[:4] == ["TSI", "SUB", "SID", "DCS"]
    assert b.result.remote_sub_address == "4711"
    assert b.result.remote_sender_ident == "s3cret"
    dcs_hex = next(t.hex for t in a.result.trace if t.name == "DCS")
    dcs = DCSParams.from_fif(Frame.parse(bytes.fromhex(dcs_hex)).fif)
    assert dcs.sub and dcs.sid
    assert_pages_equal(pages, b)


def test_no_sub_or_sid_without_them():
    pages = [TxPage(text_page(120, 21))]
    a, b, _ = loopback_call(pages)
    assert "SUB" not in names(a) and "SID" not in names(a)
    assert b.result.remote_sub_address == "" and b.result.remote_sender_ident == ""


@pytest.mark.parametrize("sid", ["wrong", ""])
def test_receiver_refuses_a_wrong_or_missing_sid(sid):
    pages = [TxPage(text_page(120, 21))]
    a, b, _ = loopback_call(pages, caller=dict(sender_ident=sid),
                       answerer=dict(accept_sid="s3cret"))
    assert b.result.status == T30Status.SID_UNACCEPTABLE
    assert "CFR" not in names(b, "tx") and names(b, "tx")[-1] == "DCN"
    assert a.result.status == T30Status.TX_BADDCS       # DCN in answer to DCS
    assert b.result.pages_received == 0 and a.result.pages_sent == 0


def test_receiver_takes_the_right_sid():
    pages = [TxPage(text_page(120, 21))]
    a, b, _ = loopback_call(pages, caller=dict(sender_ident="s3cret"),
                       answerer=dict(accept_sid="s3cret"))
    assert a.result.ok and b.result.ok
    assert_pages_equal(pages, b)


def test_sub_not_sent_to_a_station_that_cannot_take_it():
    from faxcore.t30.dis import Capabilities, DCSParams
    from faxcore.testing.engines import frame, play

    def phase_b(sub: bool, pwd: bool) -> tuple[list[str], DCSParams]:
        """What the caller sends to a far end whose DIS offers (or not) SUB and PWD/SID."""
        eng = T30Engine(T30Config(calling=True, pages=[TxPage(text_page(50, 1))],
                                  sub_address="12", sender_ident="x"))
        eng.start(0.0)
        dis = Capabilities(modems=frozenset({"v27ter"}), sub=sub, pwd=pwd).to_fif()
        got = play(eng, [[frame("DIS", dis)]])
        (dcs,) = [f for f in got.sent if f.name == "DCS"]
        return got.names, DCSParams.from_fif(dcs.fif)

    sent, dcs = phase_b(sub=False, pwd=False)
    assert not dcs.sub and not dcs.sid
    assert "SUB" not in sent and "SID" not in sent
    sent, dcs = phase_b(sub=True, pwd=True)
    assert dcs.sub and dcs.sid
    assert "SUB" in sent and "SID" in sent
    with pytest.raises(ValueError):
        T30Config(calling=True, pages=[TxPage(text_page(50, 1))], sub_address="x" * 21)


@pytest.mark.parametrize("pwd,ok", [("pw 1", True), ("pw 2", False)])
def test_polling_with_pwd(pwd, ok):
    """PWD goes with DTC; the polled station sends its document only for its password,
    and reports the PWD it got."""
    pages = [TxPage(text_page(100, 22))]
    a, b, _ = loopback_call(caller=dict(pages=[], poll=True, password=pwd),
                       answerer=dict(pages=pages, poll_password="pw 1"))
    assert names(a, "tx")[:3] == ["CIG", "PWD", "DTC"]
    assert b.result.remote_password == pwd
    if ok:
        assert a.result.ok and b.result.ok
        assert_pages_equal(pages, a)
    else:
        assert b.result.status == T30Status.PWD_UNACCEPTABLE
        assert a.received_pages == []


def test_pps_counting_only_the_frames_of_the_burst(monkeypatch):
    """spandsp's PPS after a PPR states the frames of *that burst* (2 here), not of the
    block: the receiver keeps the block's size from the first PPS and loses nothing."""
    import faxcore.t30.transmitter as transmitter_mod

    burst_sizes = []
    real_burst, real_pps = transmitter_mod.ecm_mod.block_burst, transmitter_mod.pps_fif

    def burst(frames, numbers):
        burst_sizes.append(len(numbers))
        return real_burst(frames, numbers)

    monkeypatch.setattr(transmitter_mod.ecm_mod, "block_burst", burst)
    monkeypatch.setattr(transmitter_mod, "pps_fif",
                        lambda fcf2, page, block, n: real_pps(fcf2, page, block, burst_sizes[-1]))
    pages = [TxPage(text_page(600, 31))]
    a, b, _ = loopback_call(pages, faults=Faults(ecm_frame=lambda s, n, burst: burst == 0
                                            and n in (3, 4)), caller=dict(ecm_frame_size=64))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert names(b, "tx").count("PPR") == 1
    pps = [Frame.parse(bytes.fromhex(t.hex)) for t in a.result.trace if t.name.startswith("PPS")]
    assert [p.fif[3] + 1 for p in pps] == [burst_sizes[0], 2]
    assert burst_sizes[0] > 5
    assert_pages_equal(pages, b)
