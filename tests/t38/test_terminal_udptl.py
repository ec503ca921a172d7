"""Two faxcore T.38 terminals through the real wire path: IFP encode (faxcore.t38.ifp) at
the T.38 version, UDPTL with redundancy (faxcore.t38.udptl), a network that loses,
reorders and duplicates datagrams, UDPTL receive and IFP decode. Both sides must end
OK with pages identical pixel for pixel."""

from __future__ import annotations

import heapq
import itertools
import random

import numpy as np
import pytest

from faxcore.t30 import TxPage
from faxcore.t30.result import T30Status
from faxcore.t38 import ifp
from faxcore.t38.link import LOST, run_pair
from faxcore.t38.terminal import T38Terminal
from faxcore.t38.udptl import UdptlReceiver, UdptlSender
from faxcore.testing.pages import text_page


class UdptlNet:
    """One direction: terminal packets -> IFP octets -> UDPTL datagrams -> a lossy
    network (``loss``: each datagram dropped with that probability; ``dup``: sent twice;
    ``jitter``: each delayed by up to that many seconds more than ``delay``, which
    reorders them) -> UDPTL receiver -> IFP packets, or LOST for sequence numbers the
    receiver gave up on."""

    def __init__(self, *, version: int, redundancy: int = 3, loss: float = 0.0,
                 dup: float = 0.0, jitter: float = 0.0, delay: float = 0.03, seed: int = 1):
        self.version = version
        self.tx = UdptlSender(redundancy=redundancy, max_datagram=1400)
        self.rx = UdptlReceiver()
        self.loss, self.dup, self.jitter, self.delay = loss, dup, jitter, delay
        self.rng = random.Random(seed)
        self._q: list[tuple[float, int, bytes]] = []
        self._n = itertools.count()
        self._poll_at: float | None = None
        self._highest: int | None = None
        self.sent = self.dropped = 0

    def send(self, packets, now):
        for p in packets:
            d = self.tx.send(ifp.encode(p, self.version))
            self.sent += 1
            for _ in range(2 if self.rng.random() < self.dup else 1):
                if self.rng.random() < self.loss:
                    self.dropped += 1
                    continue
                t = now + self.delay + self.rng.random() * self.jitter
                heapq.heappush(self._q, (t, next(self._n), d))

    def deliveries(self, now):
        got = []
        while self._q and self._q[0][0] <= now:
            d = heapq.heappop(self._q)[2]
            seq = int.from_bytes(d[:2], "big")
            if self._highest is None or ((seq - self._highest) & 0xFFFF) < 0x8000:
                self._highest = seq
            got += self.rx.feed(d, now)
        if self._poll_at is not None and now >= self._poll_at:
            got += self.rx.poll(now)
        # something is held back on a gap: poll when the receiver would give up on it
        held = self._highest is not None and self.rx.expected != (self._highest + 1) & 0xFFFF
        self._poll_at = (now + self.rx.hold_time) if held and self._poll_at is None or \
            held and now >= self._poll_at else (self._poll_at if held else None)
        return [LOST if g.ifp is None else ifp.decode(g.ifp, self.version) for g in got]

    @property
    def next_time(self):
        c = [t for t in (self._q[0][0] if self._q else None, self._poll_at) if t is not None]
        return min(c) if c else None


def three_pages(seed: int) -> list[TxPage]:
    return [TxPage(text_page(1100, seed=seed + i), "fine") for i in range(3)]


def udptl_call(*, ecm: bool, version: int, seed: int, modems=("v17", "v29", "v27ter"),
               **net):
    pages = three_pages(seed)
    a = T38Terminal(True, send=pages, ecm=ecm, modems=modems, version=version)
    b = T38Terminal(False, ecm=ecm, modems=modems, version=version)
    ab = UdptlNet(version=version, seed=seed, **net)
    ba = UdptlNet(version=version, seed=seed + 1000, **net)
    run_pair(a, b, a_to_b=ab, b_to_a=ba, limit=900)
    return pages, a, b, ab, ba


def assert_ok(pages, a, b):
    assert a.result.status == T30Status.OK, a.result.summary()
    assert b.result.status == T30Status.OK, b.result.summary()
    assert a.result.pages_sent == 3
    assert len(b.pages) == 3
    for sent, got in zip(pages, b.pages, strict=True):
        assert np.array_equal(sent.bitmap, got)


@pytest.mark.parametrize("version", [0, 3])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_clean_network_at_t38_version_0_and_3(ecm, version):
    """No loss: every packet goes through the codec and UDPTL; nothing is lost."""
    pages, a, b, ab, ba = udptl_call(ecm=ecm, version=version, seed=1)
    assert_ok(pages, a, b)
    assert a.rx_lost == b.rx_lost == 0
    assert ab.rx.stats.datagrams == ab.sent


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("loss", [0.02, 0.10])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_random_loss_at_redundancy_3(ecm, loss, seed):
    """2 % and 10 % of datagrams dropped at random, both directions, redundancy 3: the
    redundant copies fill the gaps; both sides OK, pages identical."""
    pages, a, b, ab, ba = udptl_call(ecm=ecm, version=0, seed=seed, loss=loss)
    assert ab.dropped > 0  # the sender's direction: hundreds of datagrams
    assert ab.rx.stats.recovered_redundancy > 0
    assert_ok(pages, a, b)


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_reordering_and_duplicates_with_loss(ecm):
    """Datagrams delayed by 30-70 ms at random (reordered), 10 % sent twice, 2 % lost,
    version 3: the UDPTL receiver puts them back in order once each; both OK."""
    pages, a, b, ab, ba = udptl_call(ecm=ecm, version=3, seed=5, loss=0.02, dup=0.10,
                                     jitter=0.04)
    assert ab.rx.stats.duplicates + ab.rx.stats.late > 0
    assert_ok(pages, a, b)


def test_heavy_loss_without_redundancy_ends_cleanly():
    """30 % loss and no redundancy: the call may fail, but both sides end by themselves
    with a status (no hang), and every packet given up on was reported lost."""
    pages, a, b, ab, ba = udptl_call(ecm=True, version=0, seed=4, loss=0.30, redundancy=0)
    assert a.done and b.done
    assert a.result.status != T30Status.IN_PROGRESS
    assert b.result.status != T30Status.IN_PROGRESS
    assert a.rx_lost + b.rx_lost > 0
