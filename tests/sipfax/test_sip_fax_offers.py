"""Who offers T.38, end to end on 127.0.0.1 (in process, real time; two calls at once):
the sending side's own re-INVITE (``offer_after``) taken by a receiver that would only
have offered at its DIS; and both sides offering at the same moment (glare): each gets
491, the user agents retry (RFC 3261 14.1), and the call still goes over T.38."""

from __future__ import annotations

import asyncio

import numpy as np

from faxcore.sipfax.call import FaxOptions, SipFaxAgent
from faxcore.t30 import TxPage
from faxcore.testing.pages import small_page

HOST = "127.0.0.1"


async def _call(tmp, name: str, tx_opts: FaxOptions, rx_opts: FaxOptions, pages):
    taken = {}

    def on_call(agent, ev):
        taken["c"] = agent.take(ev, receive=tmp / f"{name}.tif", options=rx_opts)
        return taken["c"]

    b = await SipFaxAgent.create((HOST, 0), on_call=on_call)
    a = await SipFaxAgent.create((HOST, 0))
    try:
        sent = await a.call(f"sip:fax@{HOST}:{b.port}", pages, options=tx_opts).wait()
        got = await taken["c"].wait()
    finally:
        a.close()
        b.close()
    return sent, got


def test_the_senders_own_offer_and_a_glare_both_end_on_t38(tmp_path):
    pages = [TxPage(small_page(seed, rows=120), "fine") for seed in (5,)]

    async def both():
        return await asyncio.gather(
            # the receiver would offer only at its DIS (after 3 s of CED): the sender
            # offers after 1 s, while the receiver's T.30 has sent no frame yet
            _call(tmp_path, "own", FaxOptions(offer_after=1.0, max_seconds=90),
                  FaxOptions(offer_at="dis", max_seconds=90), pages),
            # both offer the moment the call is up
            _call(tmp_path, "glare", FaxOptions(offer_after=0.0, max_seconds=90),
                  FaxOptions(offer_at="ced", max_seconds=90), pages))

    (own_tx, own_rx), (gl_tx, gl_rx) = asyncio.run(both())
    for sent, got in ((own_tx, own_rx), (gl_tx, gl_rx)):
        assert sent.ok and got.ok, (sent.summary(), got.summary())
        assert sent.media == got.media == "T.38"
        assert len(got.pages) == 1 and np.array_equal(got.pages[0], pages[0].bitmap)
    # the sender's offer was the one taken: it went offering -> switching
    assert [s for _, s, _ in own_tx.switch] == ["audio", "offering", "switching", "t38"]
    assert [s for _, s, _ in own_rx.switch][:2] == ["audio", "switching"]
    # glare: one side's offer ended in 491 and it took the other side's offer instead
    events = [why for _, _, why in gl_tx.switch] + [why for _, _, why in gl_rx.switch]
    assert "OfferGlare" in events and "PeerOffersT38" in events
