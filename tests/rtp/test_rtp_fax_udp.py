"""Two FaxSessions over G.711 RTP on real UDP sockets on 127.0.0.1, at the real 20 ms
cadence (faxcore.sipfax.rtp_media.RtpMedia), through the lossy loopback relay
(faxcore.testing.relay.UdpRelay): delay jitter up to 60 ms, duplicates and reordering,
and a mild-loss case with ECM. One page each (a call takes ~15 s of real time); the
received page is pixel-identical."""

from __future__ import annotations

import asyncio
import random

import numpy as np

import faxcore
from faxcore.rtp import PCMA, PCMU, RtpAudioStream
from faxcore.sipfax.rtp_media import RtpMedia
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.pages import small_page
from faxcore.testing.relay import Impairment, UdpRelay

HOST = "127.0.0.1"


async def _call(pages, ecm: bool, ab: Impairment, ba: Impairment, depth_ms: float):
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=("v17",), ident="+1 555 0100")
    b = faxcore.FaxSession(False, ecm=ecm, modems=("v17",))
    ma = RtpMedia(a, RtpAudioStream(PCMU, depth_ms=depth_ms, rng=random.Random(1)))
    mb = RtpMedia(b, RtpAudioStream(PCMA, depth_ms=depth_ms, rng=random.Random(2)))
    la = await ma.open((HOST, 0))
    lb = await mb.open((HOST, 0))
    relay = await UdpRelay.start(la, lb, ab, ba)
    try:
        ma.set_remote(relay.for_a)
        mb.set_remote(relay.for_b)
        sa, sb = await asyncio.gather(ma.run(max_seconds=120), mb.run(max_seconds=120))
    finally:
        relay.close()
        ma.close()
        mb.close()
    return a, b, sa, sb, ma, mb


def call(pages, ecm, ab, ba, depth_ms=100.0):
    return asyncio.run(_call(pages, ecm, ab, ba, depth_ms))


def assert_page_received(a, b, pages):
    for s in (a, b):
        assert s.result.status == T30Status.OK, s.result.summary()
    assert len(b.pages) == len(pages)
    for got, sent in zip(b.pages, pages, strict=True):
        assert np.array_equal(got, sent.bitmap)


def test_udp_call_through_jitter_duplicates_and_reordering():
    """Delay 0..60 ms, 3 % duplicated, 3 % held back 30 ms (overtaken): the 100 ms
    buffer absorbs it all; duplicates are counted; only the relay's addresses are
    accepted (nothing foreign arrives)."""
    pages = [TxPage(small_page(4), "standard")]
    ab = Impairment(jitter_ms=60, duplicate=0.03, reorder=0.03, reorder_ms=30, seed=1)
    ba = Impairment(jitter_ms=60, duplicate=0.03, reorder=0.03, reorder_ms=30, seed=2)
    a, b, sa, sb, ma, mb = call(pages, False, ab, ba)
    assert_page_received(a, b, pages)
    assert b.result.remote_ident == "+1 555 0100"
    for imp, st, m in ((ab, sb, mb), (ba, sa, ma)):
        assert imp.stats.duplicated > 0 and imp.stats.reordered > 0
        assert st.duplicates > 0 and st.malformed == 0 and st.strays == 0
        assert st.received > 500 and m.foreign == 0


def test_udp_call_with_ecm_through_mild_loss():
    """0.5 % of the datagrams lost each way (the relay's plan is seeded per datagram, so
    the same packets go whatever the timing), plus jitter: ECM delivers the page."""
    pages = [TxPage(small_page(5), "standard")]
    ab = Impairment(drop=0.005, jitter_ms=30, seed=3)
    ba = Impairment(drop=0.005, jitter_ms=30, seed=4)
    a, b, sa, sb, ma, mb = call(pages, True, ab, ba, depth_ms=60.0)
    assert_page_received(a, b, pages)
    assert a.result.ecm
    assert sa.lost + sb.lost >= 1
    assert sa.lost + sb.lost <= ab.stats.dropped + ba.stats.dropped
