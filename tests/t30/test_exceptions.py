"""T.30 exception behaviour of the engine (faxcore/t30/rules.py, Decisions 3 to 7): how
often a command is repeated and what ends it, the final status when the far end hangs
up or misbehaves, tolerance of unusual but valid frames. Each test drives a real
T30Engine through its public API with a scripted far end (faxcore.testing.engines) and
checks the frames it sends, its status and what it reports."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import encode
from faxcore.t30 import T30Config, T30Engine, T30Status
from faxcore.t30.dis import Capabilities, DCSParams
from faxcore.t30.frames import Frame
from faxcore.t30.idents import RX_IDENT_MAX, decode_ident
from faxcore.t30.modem_if import (
    V27_4800,
    CarrierDown,
    CarrierUp,
    FrameReceived,
    LineDropped,
    ReceiveData,
    SendHDLC,
    Silence,
)
from faxcore.t30.pages import TxPage
from faxcore.testing.engines import NOTHING, BadFcs, dis_frame, frame, play

PAGE = np.zeros((60, 1728), np.uint8)
PAGE[10:30, 200:900] = 1
T4_DCS = DCSParams(modulation=V27_4800, scheme="mh", ecm=False, resolution="standard")

T4_PAGE = bytes(encode(PAGE, "mh", lsb_first=True))
GOOD_TCF = bytes(1000)


def answerer(**cfg) -> T30Engine:
    eng = T30Engine(T30Config(calling=False, modems=("v27ter",), **cfg))
    eng.start(0.0)
    return eng


# ---- Decision 3: DIS/DTC at most max_tries times, then DCN ----------------------------------

def test_receiver_sends_dis_three_times_then_dcn():
    """Nobody answers the DIS: three DIS (T4 apart), then DCN and RETRYDCN, long before
    T1. It used to send DIS until T1 ran out (six of them) and end T1_EXPIRED, silently."""
    eng = answerer()
    got = play(eng, [], to_end=True)
    assert got.names == ["DIS", "DIS", "DIS", "DCN"]
    assert eng.result.status == T30Status.RETRYDCN
    assert eng.result.duration < eng.cfg.timers.t1


def test_polling_caller_sends_dtc_three_times_then_dcn():
    eng = T30Engine(T30Config(calling=True, poll=True, modems=("v27ter",)))
    eng.start(0.0)
    offer = frame("DIS", Capabilities(modems=frozenset({"v27ter"}), ready_to_poll=True)
                  .to_fif())
    got = play(eng, [[offer]], to_end=True)
    assert got.names == ["DTC", "DTC", "DTC", "DCN"]
    assert eng.result.status == T30Status.RETRYDCN


def test_garbled_answers_count_as_no_answer():
    """Each DIS is answered by a DCS with a bad FCS: no valid answer, still three DIS
    (each after T4), then DCN."""
    eng = answerer()
    bad = BadFcs(frame("DCS", T4_DCS.to_fif(), x=True))
    got = play(eng, [bad, bad, bad], to_end=True)
    assert got.names == ["DIS", "DIS", "DIS", "DCN"]
    assert eng.result.status == T30Status.RETRYDCN


def test_dis_count_starts_again_in_a_new_phase_b():
    """One DIS unanswered, the second answered (DCS, TCF, page, EOM, MCF); the new phase
    B after EOM has its own three tries."""
    eng = answerer()
    script = [NOTHING, [frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
              [frame("EOM", x=True)]]
    got = play(eng, script, to_end=True)
    assert got.names == ["DIS", "DIS", "CFR", "MCF", "DIS", "DIS", "DIS", "DCN"]
    assert eng.result.status == T30Status.RETRYDCN
    assert eng.result.pages_received == 1
    assert np.array_equal(eng.received_pages[0].bitmap, PAGE)


def test_far_end_answering_the_third_dis_is_served():
    """Two DIS unanswered, the third answered: the call goes through (TSB-85 MRGN11)."""
    eng = answerer()
    script = [NOTHING, NOTHING, [frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
              [frame("EOP", x=True)], [frame("DCN", x=True)]]
    got = play(eng, script, to_end=True)
    assert got.names == ["DIS", "DIS", "DIS", "CFR", "MCF"]
    assert eng.result.status == T30Status.OK and eng.result.pages_received == 1


# ---- Decision 4: the line drops after the procedure is complete -----------------------------

def test_receiver_hung_up_on_after_mcf_to_eop_is_ok():
    """The far end hangs up after our MCF to its EOP without sending DCN: every page is
    confirmed, the status is OK (was CALLDROPPED). No DCN of ours: there is no line."""
    eng = answerer()
    script = [[frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
              [frame("EOP", x=True)]]
    got = play(eng, script)
    assert got.names == ["DIS", "CFR", "MCF"] and eng.state.name == "AFTER_EOP"
    eng.handle_event(LineDropped(), eng.now + 0.5)
    assert eng.done and eng.result.status == T30Status.OK
    assert [c for c in eng.commands() if isinstance(c, SendHDLC)] == []
    assert eng.result.pages_received == 1 and eng.result.pages_unconfirmed == 0
    assert np.array_equal(eng.received_pages[0].bitmap, PAGE)


def test_receiver_hung_up_on_before_eop_is_still_calldropped():
    """The same page, the line drops after MCF to MPS (the next page was due)."""
    eng = answerer()
    script = [[frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
              [frame("MPS", x=True)]]
    got = play(eng, script)
    assert got.names == ["DIS", "CFR", "MCF"]
    eng.handle_event(LineDropped(), eng.now + 0.5)
    assert eng.done and eng.result.status == T30Status.CALLDROPPED


def after_answer(eng: T30Engine, answer: bytes) -> None:
    """Give the engine, listening after its EOP, the far end's ``answer``; it is then in
    phase E with its DCN queued (the gap before it not yet over)."""
    for ev in (CarrierUp(), FrameReceived(answer), CarrierDown()):
        eng.handle_event(ev, eng.now + 0.05)
    assert isinstance(eng.commands()[0], Silence)
    assert eng.state.name == "RELEASE" and not eng.done


def test_transmitter_hung_up_on_while_sending_its_dcn_is_ok():
    """MCF to EOP, and the far end hangs up while our DCN is going out: the page was
    confirmed, OK (was CALLDROPPED), one page sent."""
    eng = T30Engine(T30Config(calling=True, pages=[TxPage(PAGE, "standard")], ecm=False,
                              modems=("v27ter",)))
    eng.start(0.0)
    got = play(eng, [[dis_frame(False)], [frame("CFR")]])   # stops listening after EOP
    assert got.names == ["DCS", "EOP"]
    after_answer(eng, frame("MCF"))
    eng.handle_event(LineDropped(), eng.now + 0.1)
    assert eng.done and eng.result.status == T30Status.OK and eng.result.pages_sent == 1


def test_a_failure_keeps_its_status_when_the_line_drops_during_its_dcn():
    """CFR in answer to EOP: TX_INVALRSP and our DCN; the line drops while it goes out
    (also in RELEASE): the status stays TX_INVALRSP."""
    eng = T30Engine(T30Config(calling=True, pages=[TxPage(PAGE, "standard")], ecm=False,
                              modems=("v27ter",)))
    eng.start(0.0)
    play(eng, [[dis_frame(False)], [frame("CFR")]])
    after_answer(eng, frame("CFR"))
    eng.handle_event(LineDropped(), eng.now + 0.1)
    assert eng.done and eng.result.status == T30Status.TX_INVALRSP


# ---- Decision 5: DCN in answer to MPS or EOM is RX_DCNPHD ------------------------------------

@pytest.mark.parametrize("post,status", [("MPS", T30Status.RX_DCNPHD),
                                         ("EOM", T30Status.RX_DCNPHD),
                                         ("EOP", T30Status.TX_BADPG)])
def test_dcn_in_answer_to_a_post_page_command(post, status):
    """DCN where the next page (MPS) or document (EOM) was announced: RX_DCNPHD, as
    spandsp's transmitter says (was TX_BADPG); after EOP it stays TX_BADPG. The page
    is not counted as sent, and the DCN is not answered with one of ours."""
    pages = [TxPage(PAGE, "standard")]
    if post != "EOP":
        pages.append(TxPage(PAGE, "standard", new_document=post == "EOM"))
    eng = T30Engine(T30Config(calling=True, pages=pages, ecm=False, modems=("v27ter",)))
    eng.start(0.0)
    got = play(eng, [[dis_frame(False)], [frame("CFR")], [frame("DCN")]], to_end=True)
    assert got.names == ["DCS", post]
    assert eng.result.status == status and eng.result.pages_sent == 0


# ---- tolerance: a frame at the HDLC maximum ---------------------------------------------------

def test_a_256_octet_nss_before_the_dcs_is_waited_for():
    """The caller answers DIS with an NSS of 256 octets (about 7 s at 300 bit/s, after a
    1 s preamble), then its DCS. The receiver waits for the frame's end and trains; it
    used to give the burst 5 s, time out in the middle of the NSS and send DIS again
    over it."""
    eng = answerer()
    first = play(eng, [])                       # DIS out, listening for a command
    nss = Frame.build("NSS", bytes(253), x=True, final=False).to_bytes()
    assert len(nss) == 256
    t0 = eng.now
    eng.handle_event(CarrierUp(), t0)
    frame_end = t0 + 1.0 + (len(nss) + 3) * 8 * 1.2 / 300   # preamble, frame, stuffing
    while eng.next_deadline is not None and eng.next_deadline < frame_end:
        eng.handle_timer(eng.next_deadline)
        assert not any(isinstance(c, SendHDLC) for c in eng.commands()), \
            "talked over the far end's frame"
    eng.handle_event(FrameReceived(nss), frame_end)
    eng.handle_event(FrameReceived(frame("DCS", T4_DCS.to_fif(), x=True)), frame_end + 0.4)
    cmds = eng.commands()
    assert any(isinstance(c, ReceiveData) for c in cmds)   # receiving the TCF
    got = play(eng, [GOOD_TCF, T4_PAGE, [frame("EOP", x=True)], [frame("DCN", x=True)]],
               to_end=True, waiting=cmds[-1])
    assert first.names + got.names == ["DIS", "CFR", "MCF"]
    assert eng.result.status == T30Status.OK and eng.result.pages_received == 1


# ---- Decision 6: DIS in answer to DCS, three times --------------------------------------------

def caller_one_page() -> T30Engine:
    eng = T30Engine(T30Config(calling=True, pages=[TxPage(PAGE, "standard")], ecm=False,
                              modems=("v27ter",)))
    eng.start(0.0)
    return eng


def test_dcs_answered_by_dis_three_times_is_retrydcn():
    """The far end answers each DCS/TCF with its DIS (it did not hear the DCS): DCS three
    times, then DCN, RETRYDCN (was TX_PHBDEAD, "no response", though it answered)."""
    eng = caller_one_page()
    got = play(eng, [[dis_frame(False)]] * 4, to_end=True)
    assert got.names == ["DCS", "DCS", "DCS", "DCN"]
    assert eng.result.status == T30Status.RETRYDCN


def test_dcs_without_any_response_is_still_tx_phbdead():
    """Silence, a DIS, then silence: the last try got no response: TX_PHBDEAD."""
    eng = caller_one_page()
    got = play(eng, [[dis_frame(False)], NOTHING, [dis_frame(False)], NOTHING], to_end=True)
    assert got.names == ["DCS", "DCS", "DCS", "DCN"]
    assert eng.result.status == T30Status.TX_PHBDEAD


# ---- Decision 7: CRP in answer to DIS ---------------------------------------------------------

def test_crp_in_answer_to_dis_gets_the_dis_again_at_once():
    """The caller answers our DIS with CRP (it heard it garbled): DIS again at once, not
    after T2 (7 s) as for an unknown command; CRP twice, then DCS: the call goes on."""
    eng = answerer()
    crp = [frame("CRP", x=True)]
    first = play(eng, [crp])
    assert first.names == ["DIS", "DIS"]
    assert eng.now < 1.0                       # the second DIS came at once
    got = play(eng, [crp, [frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
                     [frame("EOP", x=True)], [frame("DCN", x=True)]],
               to_end=True, waiting=first.waiting)
    assert got.names == ["DIS", "CFR", "MCF"]
    assert eng.result.status == T30Status.OK and eng.result.pages_received == 1


# ---- tolerance: identities longer than 20 characters ----------------------------------------

def test_a_tsi_longer_than_20_characters_is_reported_whole():
    """A TSI of 32 characters (T.30 says 20): the whole identity is reported. Its FIF
    is sent last character first, so reading only the first 20 octets (as before) kept
    the end of the string and lost its start, the country code."""
    eng = answerer()
    ident = "+44 20 7946 0958 ext. 1234 (fax)"
    tsi = Frame.build("TSI", ident[::-1].encode(), x=True, final=False).to_bytes()
    got = play(eng, [[tsi, frame("DCS", T4_DCS.to_fif(), x=True)], GOOD_TCF, T4_PAGE,
                     [frame("EOP", x=True)], [frame("DCN", x=True)]], to_end=True)
    assert got.names == ["DIS", "CFR", "MCF"] and eng.result.status == T30Status.OK
    assert eng.result.remote_ident == ident


def test_a_received_identity_is_bounded_and_printable():
    """A 275-octet CSI of letters with NUL, DEL and 0xFF octets among them: the DUT keeps
    the printable characters, at most RX_IDENT_MAX, from the start of the string."""
    fif = (b"ACME\x00Fax\x7f\xff-" * 25)[::-1]
    assert len(fif) == 275
    assert decode_ident(fif) == ("ACMEFax-" * 25)[:RX_IDENT_MAX]
