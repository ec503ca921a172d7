"""A fax call over SIP on real UDP sockets (127.0.0.1) whose media goes through a lossy
relay (faxcore.testing.relay: drop, duplicate, reorder, delay jitter up to 60 ms): the
SIP dialog switches to T.38 and three pages arrive pixel-identical, with UDPTL
redundancy rebuilding what the relay dropped. In process (asyncio), real time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import read_tiff
from faxcore.sipfax.call import FaxOptions, SipFaxAgent
from faxcore.t30 import TxPage
from faxcore.testing.kamailio import free_udp_port
from faxcore.testing.pages import small_page
from faxcore.testing.relay import Impairment, UdpRelay

HOST = "127.0.0.1"


def _impairment(seed: int, drop: float) -> Impairment:
    return Impairment(drop=drop, duplicate=0.03, reorder=0.03, jitter_ms=60.0, seed=seed)


async def _relayed_call(tmp: Path, t38: str, pages: list[TxPage], *, drop: float,
                        jitter_ms: float = 60.0):
    ports = {k: free_udp_port(HOST) for k in ("a_rtp", "a_udptl", "b_rtp", "b_udptl")}
    rtp = await UdpRelay.start((HOST, ports["a_rtp"]), (HOST, ports["b_rtp"]),
                               _impairment(3, drop))
    udptl = await UdpRelay.start((HOST, ports["a_udptl"]), (HOST, ports["b_udptl"]),
                                 _impairment(5, drop))
    # each side advertises the relay's port for the other side (A sends to for_a)
    a_opts = FaxOptions(t38=t38, rtp_port=ports["a_rtp"], udptl_port=ports["a_udptl"],
                        advertise={"audio": rtp.for_b[1], "image": udptl.for_b[1]},
                        jitter_ms=jitter_ms, max_seconds=120)
    b_opts = FaxOptions(t38=t38, rtp_port=ports["b_rtp"], udptl_port=ports["b_udptl"],
                        advertise={"audio": rtp.for_a[1], "image": udptl.for_a[1]},
                        jitter_ms=jitter_ms, max_seconds=120)
    received = {}

    def on_call(agent, ev):
        received["call"] = agent.take(ev, receive=tmp / "rx.tif", options=b_opts)
        return received["call"]

    b = await SipFaxAgent.create((HOST, 0), on_call=on_call)
    a = await SipFaxAgent.create((HOST, 0))
    try:
        call = a.call(f"sip:fax@{HOST}:{b.port}", pages, options=a_opts)
        sent = await call.wait()
        got = await received["call"].wait()
    finally:
        a.close()
        b.close()
        rtp.close()
        udptl.close()
    return sent, got, rtp.stats, udptl.stats


def test_three_pages_over_t38_through_a_lossy_relay(tmp_path):
    pages = [TxPage(small_page(seed, rows=160), "fine") for seed in range(3)]
    sent, got, _, (ab, ba) = asyncio.run(_relayed_call(tmp_path, "prefer", pages, drop=0.03))
    assert sent.ok and got.ok, (sent.summary(), got.summary())
    assert sent.media == got.media == "T.38"
    # the relay did impair the UDPTL stream both ways, and the calls survived it
    assert ab.dropped + ba.dropped > 0 and ab.duplicated + ba.duplicated > 0
    assert ab.reordered + ba.reordered > 0
    assert sent.udptl.recovered + got.udptl.recovered > 0
    rx = read_tiff(got.received_path)
    assert len(rx) == 3
    for p, r in zip(pages, rx, strict=True):
        assert np.array_equal(p.bitmap, r.bitmap)


@pytest.mark.slow
def test_two_pages_over_g711_through_a_jittery_relay(tmp_path):
    """G.711 cannot take T.38's loss (one lost 20 ms packet garbles a V.21 frame or a
    TCF): 0.3 % loss here, with the same duplicates, reordering and 60 ms jitter, and a
    120 ms jitter buffer. ECM repeats what the losses damaged; the pages are exact."""
    pages = [TxPage(small_page(seed, rows=160), "fine") for seed in (7, 8)]
    sent, got, (ab, ba), _ = asyncio.run(_relayed_call(tmp_path, "never", pages, drop=0.003,
                                                       jitter_ms=120.0))
    assert sent.ok and got.ok, (sent.summary(), got.summary())
    assert sent.media == got.media == "G.711"
    assert ab.dropped + ba.dropped > 0 and ab.reordered + ba.reordered > 0
    assert sent.rtp.lost + got.rtp.lost > 0 and got.rtp.duplicates > 0
    rx = read_tiff(got.received_path)
    assert len(rx) == 2
    for p, r in zip(pages, rx, strict=True):
        assert np.array_equal(p.bitmap, r.bitmap)
