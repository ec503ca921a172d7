"""The failure statuses of unexpected answers: TX_GOTDCN, TX_BADPG, TX_INVALRSP,
TX_ECMPHD, RX_ECMPHD; PIP and PIN after a page; the receiver's copy-quality answers
(MCF, RTP, RTN). The engine is
driven through its sans-IO API by a scripted far end: every transmission completes at
once, and each time the engine listens it gets the next scripted reply. The expected
codes are spandsp's meanings of the same T30_ERR names (t30_completion_code_to_str):
TX_GOTDCN "received a DCN while waiting for a DIS", TX_BADPG "received a DCN from remote
after sending a page", TX_INVALRSP "invalid response after sending a page", TX_ECMPHD /
RX_ECMPHD "invalid ECM response received from receiver / transmitter"."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import encode
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import DCSParams
from faxcore.t30.frames import Frame, pps_fif
from faxcore.t30.modem_if import V27_4800, SendData
from faxcore.testing.engines import dis_frame, drive, frame
from faxcore.testing.pages import block_page, mh_with_bad_rows

PAGE = block_page()


def caller(ecm: bool) -> T30Engine:
    return T30Engine(T30Config(calling=True, pages=[TxPage(PAGE, "standard")], ecm=ecm,
                               modems=("v27ter",)))


def test_dcn_instead_of_dis_gives_tx_gotdcn():
    e = caller(False)
    sent, _ = drive(e, [[frame("DCN")]])
    assert e.result.status == T30Status.TX_GOTDCN
    assert sent == []   # a DCN is not answered with DCN


def test_dcn_after_the_page_gives_tx_badpg():
    e = caller(False)
    sent, log = drive(e, [[dis_frame(False)], [frame("CFR")], [frame("DCN")]])
    assert e.result.status == T30Status.TX_BADPG
    assert [f.name for f in sent] == ["DCS", "EOP"]
    assert any(isinstance(c, SendData) and not c.long_training for c in log)  # the page went
    assert e.result.pages_sent == 0


def test_wrong_answer_to_eop_gives_tx_invalrsp():
    e = caller(False)
    sent, _ = drive(e, [[dis_frame(False)], [frame("CFR")], [frame("FTT")]])
    assert e.result.status == T30Status.TX_INVALRSP
    assert [f.name for f in sent] == ["DCS", "EOP", "DCN"]


def test_wrong_answer_to_pps_gives_tx_ecmphd():
    e = caller(True)
    sent, log = drive(e, [[dis_frame(True)], [frame("CFR")], [frame("CFR")]])
    assert e.result.status == T30Status.TX_ECMPHD
    names = [f.describe() for f in sent]
    assert names[0] == "DCS" and names[1] == "PPS-EOP" and names[-1] == "DCN"
    assert any(isinstance(c, SendData) and c.hdlc for c in log)   # ECM frames went


@pytest.mark.parametrize("command", ["EOP", "MPS"])
def test_non_ecm_post_page_command_in_ecm_gives_rx_ecmphd(command):
    """The receiver agreed ECM in DCS, got an ECM block, then a T.4 post-page command."""
    e = T30Engine(T30Config(calling=False, modems=("v27ter",)))
    dcs = DCSParams(modulation=V27_4800, scheme="mr", ecm=True, resolution="standard")
    data = bytes(encode(PAGE, "mr", k=2, end_marker=True, lsb_first=True))
    (block,) = ecm_mod.split_page(data, 256)
    burst = ecm_mod.block_burst(block, range(len(block)))
    sent, _ = drive(e, [[frame("DCS", dcs.to_fif())], bytes(900), burst, [frame(command)]])
    assert e.result.status == T30Status.RX_ECMPHD
    assert [f.name for f in sent] == ["DIS", "CFR", "DCN"]
    # The block held the whole page (every frame, RTC): it is kept, never confirmed.
    (page,) = e.received_pages
    assert page.unconfirmed and np.array_equal(page.bitmap, PAGE)


def test_scripted_driver_reaches_ok_with_a_good_far_end():
    """Control: the same driver and script style, answered properly, gives OK and the
    page, so the failures above come from the replies, not from the driver."""
    e = T30Engine(T30Config(calling=False, modems=("v27ter",)))
    dcs = DCSParams(modulation=V27_4800, scheme="mr", ecm=True, resolution="standard")
    data = bytes(encode(PAGE, "mr", k=2, end_marker=True, lsb_first=True))
    (block,) = ecm_mod.split_page(data, 256)
    burst = ecm_mod.block_burst(block, range(len(block)))
    pps = Frame.build("PPS", pps_fif(0x2E, 0, 0, len(block)), x=False).to_bytes()
    sent, _ = drive(e, [[frame("DCS", dcs.to_fif())], bytes(900), burst, [pps],
                        [frame("DCN")]])
    assert e.result.status == T30Status.OK, e.result.summary()
    assert [f.name for f in sent] == ["DIS", "CFR", "MCF"]
    assert np.array_equal(e.received_pages[0].bitmap, PAGE)


# ---- PIP / PIN answers and the receiver's RTP -------------------------------------------

def test_pip_after_the_page_counts_as_confirmed():
    """PIP (procedure interrupt positive): the page was received well; with no operator
    the engine goes on as after MCF."""
    e = caller(False)
    sent, _ = drive(e, [[dis_frame(False)], [frame("CFR")], [frame("PIP")]])
    assert e.result.status == T30Status.OK, e.result.summary()
    assert e.result.pages_sent == 1
    assert [f.name for f in sent] == ["DCS", "EOP", "DCN"]


def test_pin_after_the_page_is_not_a_confirmation():
    """PIN (procedure interrupt negative): the page was not received well; it must not be
    counted as sent."""
    e = caller(False)
    sent, _ = drive(e, [[dis_frame(False)], [frame("CFR")], [frame("PIN")]])
    assert e.result.pages_sent == 0
    assert [f.name for f in sent][-1] == "DCN"


@pytest.mark.parametrize("nbad,answer", [(6, "MCF"), (20, "RTP"), (40, "RTN")])
def test_receiver_copy_quality_answers(nbad, answer):
    """200 rows, 3 % / 10 % / 20 % of them unreadable (evenly spread, never two in a
    row): the receiver answers EOP with MCF, RTP or RTN (thresholds 5 % and 15 %), and
    keeps the page unless it answered RTN."""
    page = np.zeros((200, 1728), np.uint8)
    page[::7, 100:1600] = 1
    page[:, 800:804] = 1
    bad = set(range(3, 200, 200 // nbad))
    assert len(bad) == nbad
    data = mh_with_bad_rows(page, bad)
    e = T30Engine(T30Config(calling=False, modems=("v27ter",)))
    dcs = DCSParams(modulation=V27_4800, scheme="mh", resolution="standard")
    sent, _ = drive(e, [[frame("DCS", dcs.to_fif())], bytes(900), data, [frame("EOP")],
                        [frame("DCN")]])
    assert [f.name for f in sent][:3] == ["DIS", "CFR", answer]
    if answer == "RTN":
        assert e.received_pages == []
    else:
        (got,) = e.received_pages
        assert got.bad_rows == nbad and got.rows == 200
        good = [r for r in range(200) if r not in bad]
        assert np.array_equal(got.bitmap[good], page[good])
