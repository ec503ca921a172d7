"""ECM partial-page retransmission over audio: bursts of loud noise hit the sender's
ECM bursts, so the receiver answers PPS with PPR (the frame map of what it lost) again
and again for the same block; our transmitter resends just those frames until the block
is whole, and after the fourth PPR for a block it steps down a speed with CTC/CTR.

Receivers: faxcore (FaxSession) and spandsp's fax terminal (libspandsp2 through ctypes).
The page that arrives must be identical to the page sent."""

from __future__ import annotations

import numpy as np
import pytest

import faxcore
from faxcore.codecs.tiff import read_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.t30.ecm import parse_ppr
from faxcore.t30.frames import Frame
from faxcore.testing.line import run_call
from faxcore.testing.pages import busy_page
from faxcore.testing.spandsp import SpandspFax

# Where the noise goes, from the first sample of each of the sender's phase-C fast-modem
# bursts (the V.17 short training, 200 ms of flags, then the FCD frames, 64 octets = 38
# ms each at 14400 bit/s): 40 ms of noise as loud as the signal (RMS 5090 at -10 dBm0)
# over the first frames of every burst it hits, so a retransmission (those frames only)
# is hit again. Both receivers (faxcore's and spandsp's) lose only the frames hit and
# carry on, so the PPRs are selective. Timed from the signal itself, not from the
# engine's phase change: the session starts a burst only once the far end's carrier has
# gone, some time after the engine decided to send it.
HIT_FROM_MS, HIT_MS, HIT_RMS = 355, 40, 5090.0


def _sending_fast(sess) -> bool:
    """Whether the FaxSession ``sess`` is transmitting on a fast modem right now."""
    return sess.tx_bit_rate > 300


class NoiseHits:
    """The line from the sender ``sess`` (a FaxSession) to the far end, an impairment for
    run_call: clean, except that the sender's phase-C fast-modem bursts number ``hits``
    (counted from 0) get a burst of noise."""

    def __init__(self, sess, hits: set[int], seed: int = 1):
        self.sess, self.hits = sess, set(hits)
        self.rng = np.random.default_rng(seed)
        self.burst, self.start = -1, 0
        self.in_burst = False
        self.hit_count = 0

    def __call__(self, x: np.ndarray, n: int) -> np.ndarray:
        """The sender's block ``x`` (line time ``n``) as the far end hears it."""
        fast = self.sess.engine.phase == "C" and _sending_fast(self.sess)
        if fast and not self.in_burst:
            # a burst began in this block: at its first sound (silence comes before it)
            self.burst += 1
            loud = np.flatnonzero(x)
            self.start = n + (int(loud[0]) if loud.size else len(x))
        self.in_burst = fast
        if self.burst not in self.hits or self.burst < 0:
            return x
        t0 = self.start + HIT_FROM_MS * 8
        lo, hi = max(t0, n), min(t0 + HIT_MS * 8, n + len(x))
        if lo >= hi:
            return x
        if lo == t0:
            self.hit_count += 1
        y = x.astype(float)
        y[lo - n:hi - n] += self.rng.normal(0.0, HIT_RMS, hi - lo)
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def ecm_exchange(sender) -> list[tuple[str, Frame]]:
    """The sender's phase-D frames after CFR, both directions, parsed from its trace."""
    out = []
    for t in sender.result.trace:
        f = Frame.parse(bytes.fromhex(t.hex))
        if f.name in ("PPS", "PPR", "MCF", "CTC", "CTR"):
            out.append((t.direction, f))
    return out


def receive(peer: str, tmp_path, page):
    """The receiving station and a function giving the pages it received."""
    if peer == "faxcore":
        b = faxcore.FaxSession(False, ecm=True, modems=("v17",))
        return b, lambda: b.pages
    out = tmp_path / "rx.tif"
    b = SpandspFax(False, receive_tiff=str(out), ecm=True, modems=("v17",), rx_mmr=True)
    return b, lambda: [p.bitmap for p in read_tiff(out)]


def receiver_ok(b) -> bool:
    return b.result.ok if hasattr(b, "engine") else b.status_name == "OK"


def hit_call(peer: str, tmp_path, hits: set[int]):
    """A one-page ECM call (V.17, 64-octet frames) to ``peer`` whose sender's bursts
    numbered ``hits`` are hit by noise. Returns (page, sender, receiver, its pages,
    the NoiseHits)."""
    page = busy_page()
    a = faxcore.FaxSession(True, send=[TxPage(page, "fine")], ecm=True, modems=("v17",),
                           ecm_frame_size=64)
    b, pages = receive(peer, tmp_path, page)
    noise = NoiseHits(a, hits)
    run_call(a, b, to_answerer=[noise], max_seconds=300)
    return page, a, b, pages, noise


@pytest.mark.parametrize("peer", ["faxcore", "spandsp"])
def test_repeated_ppr_for_one_block_over_audio(peer, tmp_path):
    page, a, b, pages, hits = hit_call(peer, tmp_path, {0, 1})
    assert hits.hit_count == 2
    assert a.result.ok and receiver_ok(b), a.result.summary()
    assert a.result.pages_sent == 1 and a.result.modulation == "V17/14400"
    ex = ecm_exchange(a)
    assert [(d, f.name) for d, f in ex] == [("tx", "PPS"), ("rx", "PPR")] * 2 + [
        ("tx", "PPS"), ("rx", "MCF")]
    pps = [f for d, f in ex if f.name == "PPS"]
    assert {(f.fif[1], f.fif[2]) for f in pps} == {(0, 0)}   # page 0, block 0 each time
    frames = pps[0].fif[3] + 1
    first, second = (parse_ppr(f.fif) & set(range(frames)) for d, f in ex if f.name == "PPR")
    # Selective: the noise cost some frames, not the block; the second PPR asks again
    # for (some of) the frames resent after the first.
    assert 0 < len(first) < frames and 0 < len(second) and second <= first
    (got,) = pages()
    assert np.array_equal(got, page)


@pytest.mark.parametrize("peer", ["faxcore", "spandsp"])
def test_four_pprs_then_ctc_ctr_over_audio(peer, tmp_path):
    page, a, b, pages, hits = hit_call(peer, tmp_path, {0, 1, 2, 3})
    assert hits.hit_count == 4
    assert a.result.ok and receiver_ok(b), a.result.summary()
    ex = ecm_exchange(a)
    assert [(d, f.name) for d, f in ex] == [("tx", "PPS"), ("rx", "PPR")] * 4 + [
        ("tx", "CTC"), ("rx", "CTR"), ("tx", "PPS"), ("rx", "MCF")]
    assert {(f.fif[1], f.fif[2]) for d, f in ex if f.name == "PPS"} == {(0, 0)}
    # CTC stepped down one V.17 speed; the block finished there.
    assert a.result.modulation == "V17/12000" and a.result.bit_rate == 12000
    if peer == "faxcore":
        assert b.result.status == T30Status.OK and b.result.bit_rate == 12000
    else:
        assert b.stats.bit_rate == 12000 and b.stats.pages_rx == 1
    (got,) = pages()
    assert np.array_equal(got, page)
