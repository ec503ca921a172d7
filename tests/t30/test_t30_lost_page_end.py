"""A non-ECM page whose data loses its end (no RTC) is not a good page: the receiver's
copy-quality check counts the lost tail as bad rows and answers RTP or RTN, and the
result and the TIFF-F written by the session record the damage (BadFaxLines,
ConsecutiveBadFaxLines, CleanFaxData). Loopback calls in virtual time."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import decode, encode
from faxcore.codecs.tiff import UNCLEAN, read_tiff
from faxcore.session import write_received_tiff
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.dis import DCSParams
from faxcore.t30.loopback import Faults
from faxcore.t30.pages import judge_page, nominal_rows
from faxcore.testing.engines import loopback_call, names
from faxcore.testing.pages import text_page


def cut_pages(keep: float, times: int = 1):
    """A line fault: the first ``times`` page transmissions lose everything after the
    first ``keep`` fraction of their data (TCF is left alone)."""
    count = [0]

    def fault(sender, cmd, data):
        if cmd.long_training or count[0] >= times:
            return data
        count[0] += 1
        return data[:int(len(data) * keep)]

    return fault


@pytest.mark.parametrize("schemes", [("mh",), ("mh", "mr")])
def test_page_cut_in_half_gets_rtn(schemes):
    """Half of a 600-row page arrives (about 300 rows, no RTC): the missing rows count as
    bad rows (not MCF with 0 bad rows), so RTN, and the page is not kept."""
    pages = [TxPage(text_page(600, 3))]
    a, b, _ = loopback_call(pages, faults=Faults(data=cut_pages(0.5)),
                       caller=dict(ecm=False, schemes=schemes))
    assert a.result.scheme == schemes[-1]
    assert names(b, "tx")[-1] == "RTN"
    assert b.received_pages == [] and b.result.pages_received == 0
    assert (a.result.pages_sent, a.result.pages_rejected) == (0, 1)
    assert b.result.status == T30Status.RX_DCNNORTN


def test_page_cut_before_mps_is_sent_again_whole():
    """RTN to MPS: the transmitter retrains and sends the page again; the page kept is
    the complete one, pixel for pixel."""
    pages = [TxPage(text_page(400, 4)), TxPage(text_page(200, 5))]
    a, b, _ = loopback_call(pages, faults=Faults(data=cut_pages(0.4)), caller=dict(ecm=False))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert names(b, "tx").count("RTN") == 1 and names(a, "tx").count("MPS") == 2
    assert len(b.received_pages) == 2
    for sent, got in zip(pages, b.received_pages, strict=True):
        assert np.array_equal(got.bitmap, sent.bitmap)
        assert got.bad_rows == 0 and not got.end_lost and got.quality == "MCF"
    assert b.result.bad_rows == 0


def test_full_length_page_losing_its_last_tenth_gets_rtp_and_is_recorded(tmp_path):
    """An A4 page (2286 fine rows) that loses the last 10 % of its data: about a tenth of
    the rows are missing, between the RTP (5 %) and RTN (15 %) limits. The page is kept
    with the missing rows counted as bad, and the TIFF-F written from it says so."""
    rows = nominal_rows("fine", "a4")
    assert rows == 2286  # 297 mm at 7.7 lines/mm
    page = text_page(rows, 6)
    a, b, _ = loopback_call([TxPage(page)], faults=Faults(data=cut_pages(0.9)),
                       caller=dict(ecm=False, schemes=("mh",)))
    assert names(b, "tx")[-1] == "RTP"
    assert a.result.ok and a.result.pages_sent == 1
    assert b.result.ok and b.result.pages_received == 1
    (got,) = b.received_pages
    assert got.end_lost and got.quality == "RTP"
    assert 0.85 * rows < got.rows < 0.95 * rows
    # The cut falls inside a row: the decoder counts that row as damaged, and the rows
    # after it, up to the nominal length, are the lost tail: one run of bad rows.
    assert got.error == f"row {got.rows - 1}: data ended inside the row"
    assert got.bad_rows == rows - got.rows + 1 == got.consecutive_bad_rows
    assert b.result.bad_rows == got.bad_rows
    assert np.array_equal(got.bitmap[:-1], page[:got.rows - 1])  # what arrived is intact
    out = tmp_path / "rx.tif"
    assert write_received_tiff(out, b.received_pages) == 1
    (t,) = read_tiff(out)
    assert np.array_equal(t.bitmap, got.bitmap)
    assert t.bad_rows == got.bad_rows and t.consecutive_bad_rows == got.bad_rows
    assert t.clean == UNCLEAN


def test_page_without_rtc_is_never_mcf():
    """A page longer than the nominal length whose RTC is missing: at least one row is
    taken as lost, and the answer is RTP, not MCF. With its RTC it is MCF."""
    eng = T30Engine(T30Config(calling=False))
    dcs = DCSParams(scheme="mh", resolution="standard")
    page = text_page(nominal_rows("standard") + 20, 7)
    whole = bytes(encode(page, "mh", lsb_first=True, end_marker=True))
    no_rtc = bytes(encode(page, "mh", lsb_first=True, end_marker=False))
    good = judge_page(whole, dcs, eng.cfg)
    assert (good.quality, good.bad_rows, good.end_lost) == ("MCF", 0, False)
    bad = judge_page(no_rtc, dcs, eng.cfg)
    assert np.array_equal(bad.bitmap, page)
    assert (bad.quality, bad.bad_rows, bad.end_lost) == ("RTP", 1, True)


def test_ecm_pages_are_judged_by_their_rows_only():
    """With ECM the frame map makes the data complete: an MMR page is judged by its
    rows (here perfect, MCF) whatever the end-marker rule says for non-ECM pages."""
    eng = T30Engine(T30Config(calling=False))
    dcs = DCSParams(scheme="mmr", resolution="fine", ecm=True)
    page = text_page(100, 8)
    got = judge_page(bytes(encode(page, "mmr", lsb_first=True, end_marker=False)), dcs,
                     eng.cfg)
    assert got.quality == "MCF" and not got.end_lost and got.bad_rows == 0
    assert np.array_equal(got.bitmap, page)


def test_ecm_page_closed_with_gaps_after_eor_is_recorded_as_damaged(tmp_path):
    """EOR/ERR: the block is accepted without the frame that never got through. The MMR
    decoder stops at the gap, so the page lost its end: its bad rows say so, in the
    result and the TIFF-F (the ECM answer itself was ERR, per block)."""
    pages = [TxPage(text_page(300, 12))]
    a, b, _ = loopback_call(pages, faults=Faults(ecm_frame=lambda s, n, burst: n == 2),
                       caller=dict(modems=("v27ter",), ecm_frame_size=64),
                       answerer=dict(modems=("v27ter",)), limit=7200)
    assert "ERR" in names(b, "tx") and a.result.scheme == "mmr"
    (got,) = b.received_pages
    assert got.ecm and got.end_lost and got.error
    assert 0 < got.rows < 300
    assert got.bad_rows == nominal_rows("fine") - got.rows == got.consecutive_bad_rows
    assert b.result.bad_rows == got.bad_rows
    # The rows coded in frames 0 and 1 (before the gap) are intact; what MMR made of the
    # data after the gap, until it hit an error, is not (no decoder can tell).
    intact = decode(bytes(encode(pages[0].bitmap, "mmr", lsb_first=True))[:128], "mmr",
                    1728, lsb_first=True).rows
    assert 0 < intact < got.rows
    assert np.array_equal(got.bitmap[:intact], pages[0].bitmap[:intact])
    out = tmp_path / "rx.tif"
    write_received_tiff(out, b.received_pages)
    (t,) = read_tiff(out)
    assert t.bad_rows == got.bad_rows and t.clean == UNCLEAN
