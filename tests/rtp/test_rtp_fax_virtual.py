"""Two FaxSessions over G.711 RTP in virtual time (faxcore.sipfax.rtp_media.run_virtual):
each direction a stream of RTP datagrams through a seeded impairment (delay jitter,
duplicates, reordering, loss), the jitter buffer putting the audio back together.
Three pages, ECM and not, PCMU one way and PCMA the other: received pages pixel-identical,
and the streams' counts match what the impairment did to the datagrams."""

from __future__ import annotations

import random

import numpy as np
import pytest

import faxcore
from faxcore.rtp import PCMA, PCMU, RtpAudioStream
from faxcore.sipfax.rtp_media import RtpFaxEndpoint, run_virtual
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import small_page, text_page
from faxcore.testing.relay import Impairment

PAGES = [TxPage(text_page(300, 1), "fine"), TxPage(small_page(2), "standard"),
         TxPage(text_page(200, 3), "standard")]


def endpoints(ecm: bool, pages, *, depth_ms: float = 60.0, seed: int = 0):
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=("v17",), ident="+1 555 0100")
    b = faxcore.FaxSession(False, ecm=ecm, modems=("v17",), ident="+1 555 0199")
    ea = RtpFaxEndpoint(a, RtpAudioStream(PCMU, depth_ms=depth_ms, rng=random.Random(seed)))
    eb = RtpFaxEndpoint(b, RtpAudioStream(PCMA, depth_ms=depth_ms,
                                          rng=random.Random(seed + 1)))
    return ea, eb


def assert_delivered(ea: RtpFaxEndpoint, eb: RtpFaxEndpoint, pages) -> None:
    a, b = ea.session, eb.session
    for s in (a, b):
        assert s.result.status == T30Status.OK, s.result.summary()
    assert a.result.pages_sent == len(pages) and b.result.pages_received == len(pages)
    assert b.result.remote_ident == "+1 555 0100"
    assert len(b.pages) == len(pages)
    for got, sent in zip(b.pages, pages, strict=True):
        assert np.array_equal(got, sent.bitmap)


@pytest.mark.parametrize("ecm", [True, False])
def test_three_pages_through_jitter_duplicates_and_reordering(ecm):
    """Up to 30 ms of delay jitter plus 20 ms more for 3 % of datagrams (reordered), 3 %
    duplicated: all within the 60 ms buffer, so nothing is late or lost and every
    duplicate the impairment made is counted and dropped."""
    ea, eb = endpoints(ecm, PAGES)
    ab = Impairment(jitter_ms=30, duplicate=0.03, reorder=0.03, reorder_ms=20, seed=11)
    ba = Impairment(jitter_ms=30, duplicate=0.03, reorder=0.03, reorder_ms=20, seed=12)
    seconds = run_virtual(ea, eb, a_to_b=ab, b_to_a=ba, max_seconds=300)
    assert_delivered(ea, eb, PAGES)
    assert ea.session.result.ecm == ecm
    for imp, rx, tx in ((ab, eb, ea), (ba, ea, eb)):
        s = rx.stream.stats
        assert imp.stats.duplicated > 10 and imp.stats.reordered > 10
        assert s.lost == 0 and s.late == 0 and s.strays == 0 and s.malformed == 0
        # what was still in flight when the call ended (at most the largest delay: 50 ms)
        unsent = tx.stream.stats.sent - s.received
        assert 0 <= unsent <= 3
        assert imp.stats.duplicated - 3 <= s.duplicates <= imp.stats.duplicated
    assert 20 < seconds < 120


def test_the_same_call_without_rtp_takes_the_same_line_time():
    """RTP adds the jitter buffer's depth to each direction's delay and nothing else: the
    T.30 exchange is the same as a bare audio call's, page for page."""
    ea, eb = endpoints(True, PAGES)
    seconds = run_virtual(ea, eb, max_seconds=300)
    assert_delivered(ea, eb, PAGES)
    assert ea.stream.stats.concealed == eb.stream.stats.concealed == 0
    bare_a, bare_b = (e.session for e in endpoints(True, PAGES))
    bare = run_call(bare_a, bare_b, block=160)
    for rtp, plain in ((ea.session, bare_a), (eb.session, bare_b)):
        assert [t.name for t in rtp.result.trace] == [t.name for t in plain.result.trace]
    assert "PPR" not in [t.name for t in eb.session.result.trace]
    # each turn-around waits for the far end's depth (60 ms) more; nothing else differs
    assert bare < seconds < bare + 3


def test_ecm_survives_half_a_percent_loss():
    """0.5 % of the datagrams lost each way (seeded): the losses are counted exactly,
    filled with silence, and ECM (partial page requests) still delivers every pixel."""
    pages = PAGES[:2]
    ea, eb = endpoints(True, pages)
    ab = Impairment(drop=0.005, seed=21)
    ba = Impairment(drop=0.005, seed=22)
    run_virtual(ea, eb, a_to_b=ab, b_to_a=ba, max_seconds=300)
    assert_delivered(ea, eb, pages)
    # a page's frames were lost and asked for again (PPR), not just phase B repeated
    assert "PPR" in [t.name for t in eb.session.result.trace]
    for imp, rx in ((ab, eb), (ba, ea)):
        s = rx.stream.stats
        assert s.lost >= 1
        # a drop among the last datagrams (after the last one received) is not known
        assert imp.stats.dropped - 1 <= s.lost <= imp.stats.dropped
        # silence for each loss (the last ones may still be in the buffer at the end)
        assert 160 * (s.lost - 3) <= s.concealed <= 160 * s.lost


def test_a_call_stays_in_sync_across_sequence_and_timestamp_wrap():
    """Both streams start just before their sequence number and timestamp wrap."""
    pages = PAGES[1:2]
    a = faxcore.FaxSession(True, send=pages, ecm=True, modems=("v17",), ident="+1 555 0100")
    b = faxcore.FaxSession(False, ecm=True, modems=("v17",))
    ea = RtpFaxEndpoint(a, RtpAudioStream(PCMU, seq=65500, timestamp=(1 << 32) - 16000,
                                          ssrc=1))
    eb = RtpFaxEndpoint(b, RtpAudioStream(PCMU, seq=65535, timestamp=(1 << 32) - 1, ssrc=2))
    run_virtual(ea, eb, max_seconds=300)
    assert_delivered(ea, eb, pages)
    assert eb.stream.seq < 65500 and ea.stream.timestamp < 1 << 31
    for e in (ea, eb):
        s = e.stream.stats
        assert s.lost == s.late == s.strays == s.restarts == s.concealed == 0
