"""The UDPTL side of a SIP fax call, sans-IO (faxcore.sipfax.t38_media.UdptlFaxEndpoint):
two T.38 terminals joined through UDPTL coding, driven the way a loaded event loop
drives them (late, at irregular times), in virtual time."""

from __future__ import annotations

import random

import numpy as np
import pytest

from faxcore.sipfax.t38_media import UdptlFaxEndpoint
from faxcore.t30 import TxPage
from faxcore.t38.terminal import T38Terminal
from faxcore.testing.pages import small_page


def _late_driver(a: UdptlFaxEndpoint, b: UdptlFaxEndpoint, seed: int,
                 limit: float = 120.0) -> float:
    """Run both to the end, each looked at only every 50-400 ms (a busy CPU): what one
    sends reaches the other at the next look."""
    rng = random.Random(seed)
    now = 0.0
    a.terminal.start(now)
    b.terminal.start(now)
    inbox: dict[int, list[bytes]] = {id(a): [], id(b): []}
    while not (a.done and b.done):
        now += rng.uniform(0.05, 0.4)
        if now > limit:
            raise AssertionError(f"not over after {limit} s: "
                                 f"{a.terminal.result.summary()}")
        for me, peer in ((a, b), (b, a)):
            for data in inbox[id(me)]:
                inbox[id(peer)] += me.datagram(data, now)
            inbox[id(me)] = []
            inbox[id(peer)] += me.datagrams(now)
    return now


@pytest.mark.parametrize("ecm", [True, False])
def test_a_late_caller_still_sends_every_frame_whole(ecm):
    """Asked late, the terminal would end its own transmission first and drop the
    packets still queued for it (a CFR or MCF without its end: the far end waits for
    it until T2 and the call fails, as seen under load on loopback). The endpoint steps
    the terminal through every deadline it missed, so frames go out whole, late."""
    pages = [TxPage(small_page(seed, rows=120), "fine") for seed in range(2)]
    a = UdptlFaxEndpoint(T38Terminal(True, send=pages, ecm=ecm))
    b = UdptlFaxEndpoint(T38Terminal(False, ecm=ecm))
    _late_driver(a, b, seed=3)
    assert a.terminal.result.ok and b.terminal.result.ok, (
        a.terminal.result.summary(), b.terminal.result.summary())
    assert len(b.terminal.pages) == 2
    for p, got in zip(pages, b.terminal.pages, strict=True):
        assert np.array_equal(p.bitmap, got)
    assert a.stats.lost == b.stats.lost == 0 and a.stats.malformed == 0


def test_garbage_datagrams_are_counted_and_dropped():
    e = UdptlFaxEndpoint(T38Terminal(False))
    e.terminal.start(0.0)
    for junk in (b"", b"\x00", b"\xff" * 40, bytes(range(200))):
        e.datagram(junk, 0.1)
    assert e.stats.received == 4 and e.stats.malformed >= 1
    assert not e.terminal.engine.done
