"""Nothing lost (security issue): a receiver stores every page, and every ECM block of a
page in progress, through ``T30Config.page_store`` before it queues the answer that
confirms it; a store that fails means no confirmation; and a page that arrived whole is
kept when its post-page command never comes. Loopback calls in virtual time; the disk
side (a real process killed mid-call) is in test_session_durable.py."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import decode, encode
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.loopback import Faults, Loopback
from faxcore.t30.modem_if import LineDropped, SendData
from faxcore.t30.pages import nominal_rows
from faxcore.testing.engines import names
from faxcore.testing.pages import text_page


class RecordingStore:
    """A PageStore that notes, at each call, the receiver's trace so far (so a test can
    see that the confirming answer was not yet queued) and what the sender knew."""

    def __init__(self, fail_page: int | None = None, fail_block: int | None = None):
        self.engine: T30Engine | None = None
        self.sender: T30Engine | None = None
        self.calls: list[tuple[str, object, int, int]] = []  # (kind, item, trace len, sent)
        self.fail_page, self.fail_block = fail_page, fail_block

    def record(self, kind: str, item) -> None:
        self.calls.append((kind, item, len(self.engine.result.trace),
                           self.sender.result.pages_sent))

    def store_page(self, page) -> None:
        n = sum(1 for k, *_ in self.calls if k == "page")
        if n == self.fail_page:
            raise OSError(28, "No space left on device")
        self.record("page", page)

    def store_block(self, block) -> None:
        n = sum(1 for k, *_ in self.calls if k == "block")
        if n == self.fail_block:
            raise OSError(28, "No space left on device")
        self.record("block", block)

    def pages(self):
        return [item for k, item, *_ in self.calls if k == "page"]


def call(pages, store, *, faults=None, caller=None, answerer=None, setup=None):
    a = T30Engine(T30Config(calling=True, pages=list(pages), **(caller or {})))
    b = T30Engine(T30Config(calling=False, page_store=store, **(answerer or {})))
    store.engine, store.sender = b, a
    lb = Loopback(a, b, faults)
    if setup is not None:
        setup(lb, a, b)
    lb.run(7200)
    assert a.done and b.done
    return a, b


def dense_page(rows: int, seed: int) -> np.ndarray:
    """A page that codes large (random dots): with 64-octet ECM frames, 2 or more blocks."""
    return (np.random.default_rng(seed).random((rows, 1728)) < 0.04).astype(np.uint8)


ECM64 = dict(ecm_frame_size=64)


# ---- stored before confirmed -----------------------------------------------------------

@pytest.mark.parametrize("ecm", [False, True])
def test_each_page_is_stored_before_the_answer_that_confirms_it(ecm):
    """At every store_page the receiver's last trace entry is the post-page command it is
    about to answer (nothing sent after it), and the sender has not counted the page;
    right after it in the trace comes our MCF. Every page is stored exactly once, equal
    to the sent one."""
    sent = [TxPage(text_page(200, s)) for s in range(3)]
    store = RecordingStore()
    a, b = call(sent, store, caller=dict(ecm=ecm))
    assert a.result.ok and b.result.ok
    trace = b.result.trace
    pages = [c for c in store.calls if c[0] == "page"]
    assert len(pages) == 3
    for k, (_, page, at, pages_sent) in enumerate(pages):
        cmd = trace[at - 1]
        assert cmd.direction == "rx"
        assert cmd.name == (["PPS-MPS", "PPS-MPS", "PPS-EOP"] if ecm else
                            ["MPS", "MPS", "EOP"])[k]
        assert (trace[at].direction, trace[at].name) == ("tx", "MCF")
        assert pages_sent == k
        assert np.array_equal(page.bitmap, sent[k].bitmap) and not page.unconfirmed
    assert [p.bitmap.shape for p in b.received_pages] == [s.bitmap.shape for s in sent]


def test_ecm_block_of_a_page_in_progress_is_stored_before_its_mcf():
    """A page of several ECM blocks: each block answered MCF after PPS-NULL is given to
    store_block first (PPS-NULL the last thing in the trace), then the whole page to
    store_page before the MCF to PPS-EOP. The blocks' data, in order, is the page."""
    page = dense_page(400, 1)
    store = RecordingStore()
    a, b = call([TxPage(page)], store, caller=ECM64)
    assert a.result.ok and b.result.ok
    blocks = [c for c in store.calls if c[0] == "block"]
    assert len(blocks) >= 2
    trace = b.result.trace
    for i, (_, blk, at, _sent) in enumerate(blocks):
        assert (trace[at - 1].direction, trace[at - 1].name) == ("rx", "PPS-NULL")
        assert (trace[at].direction, trace[at].name) == ("tx", "MCF")
        assert (blk.page, blk.block, blk.scheme, blk.width) == (0, i, "mmr", 1728)
    (_, got, at, _), = [c for c in store.calls if c[0] == "page"]
    assert trace[at - 1].name == "PPS-EOP" and trace[at].name == "MCF"
    coded = bytes(encode(page, "mmr", lsb_first=True, end_marker=True))
    assert coded.startswith(b"".join(c[1].data for c in blocks))
    assert np.array_equal(got.bitmap, page)


@pytest.mark.parametrize("ecm", [False, True])
def test_a_page_that_cannot_be_stored_is_not_confirmed(ecm):
    """The store fails on page 2: no MCF for it; the receiver disconnects with FILEERROR
    and the sender, answered with DCN, counts only page 1 as sent. Page 2 stays in
    memory, marked unconfirmed."""
    sent = [TxPage(text_page(150, s)) for s in range(3)]
    store = RecordingStore(fail_page=1)
    a, b = call(sent, store, caller=dict(ecm=ecm))
    assert b.result.status == T30Status.FILEERROR
    assert "page 2 could not be stored" in b.result.message
    assert names(b, "tx").count("MCF") == 1 and names(b, "tx")[-1] == "DCN"
    # DCN in answer to MPS: RX_DCNPHD; to PPS-MPS: TX_BADPG (rules.py Decision 5)
    assert a.result.status == (T30Status.TX_BADPG if ecm else T30Status.RX_DCNPHD)
    assert a.result.pages_sent == 1
    assert len(store.pages()) == 1
    assert [p.unconfirmed for p in b.received_pages] == [False, True]
    assert np.array_equal(b.received_pages[1].bitmap, sent[1].bitmap)


def test_an_ecm_block_that_cannot_be_stored_is_not_confirmed():
    store = RecordingStore(fail_block=0)
    a, b = call([TxPage(dense_page(260, 2))], store, caller=ECM64)
    assert b.result.status == T30Status.FILEERROR
    assert "block 0 of page 1 could not be stored" in b.result.message
    assert "MCF" not in names(b, "tx") and names(b, "tx")[-1] == "DCN"
    assert a.result.pages_sent == 0 and store.calls == []


# ---- a whole page whose post-page command never comes -----------------------------------

def drop(*frames: str):
    return lambda sender, f, n: "drop" if sender == "caller" and f.describe() in frames else "ok"


def end_at_first(post: str, how: str):
    """When the caller first sends ``post``, it is lost and 0.2 s later the receiver's
    line drops (``how="drop"``) or it hangs up itself (``how="abort"``)."""
    box = {}

    def setup(lb, a, b):
        box["lb"], box["b"] = lb, b

    def frame(sender, f, n):
        if sender == "caller" and f.describe() == post:
            lb, b = box["lb"], box["b"]

            def end():
                if how == "drop":
                    b.handle_event(LineDropped(), lb.now)
                else:
                    b.abort(lb.now, "operator hung up")
                lb.pump("answerer")

            if n == 0:
                lb.at(lb.now + 0.2, end)
            return "drop"
        return "ok"

    return frame, setup


CASES = {
    # name: (pages, fault, setup, receiver status, pages the sender counts)
    "EOP lost, DCN arrives": (1, drop("EOP"), None, T30Status.RX_DCNFAX),
    "EOP and DCN lost": (1, drop("EOP", "DCN"), None, T30Status.RX_T2EXPD),
    "MPS lost": (2, drop("MPS"), None, T30Status.RX_DCNFAX),
    "EOM lost": (2, drop("EOM"), None, T30Status.RX_DCNFAX),
    "EOP garbled every time": (
        1, lambda s, f, n: "garble" if s == "caller" and f.name == "EOP" else "ok", None,
        T30Status.RX_DCNFAX),
    "line drops after the page": (1, *end_at_first("EOP", "drop"), T30Status.CALLDROPPED),
    "receiver hangs up after the page": (1, *end_at_first("EOP", "abort"),
                                         T30Status.CALLDROPPED),
}


@pytest.mark.parametrize("case", list(CASES))
def test_whole_page_without_its_post_page_command_is_kept(case):
    """A non-ECM page arrives whole (RTC seen) and its post-page command never does.
    It used to be thrown away; now it is kept, stored, counted in pages_received and
    pages_unconfirmed, the status stays the failure it is, and the sender (never
    answered) does not count it."""
    n, fault, setup, status = CASES[case]
    sent = [TxPage(text_page(200, 20 + i), new_document=i > 0 and case == "EOM lost")
            for i in range(n)]
    store = RecordingStore()
    a, b = call(sent, store, faults=Faults(frame=fault), caller=dict(ecm=False),
                setup=setup)
    assert b.result.status == status, b.result.summary()
    assert a.result.pages_sent == 0 and not a.result.ok
    (page,) = b.received_pages                         # page 1: the one left unanswered
    assert page.unconfirmed and not page.end_lost and page.quality == "MCF"
    assert np.array_equal(page.bitmap, sent[0].bitmap)
    assert (b.result.pages_received, b.result.pages_unconfirmed) == (1, 1)
    assert "1 unconfirmed" in b.result.summary()
    assert store.pages() == [page]
    assert "MCF" not in names(b, "tx")


def test_ecm_page_whose_pps_never_comes_is_kept():
    """ECM: the block holding the whole page arrived (every frame), the PPS-EOP never
    did: the page is kept, unconfirmed and complete."""
    sent = [TxPage(text_page(200, 30))]
    store = RecordingStore()
    a, b = call(sent, store, faults=Faults(frame=drop("PPS-EOP")))
    assert b.result.status == T30Status.RX_DCNFAX and a.result.pages_sent == 0
    (page,) = b.received_pages
    assert page.unconfirmed and not page.end_lost and page.ecm
    assert np.array_equal(page.bitmap, sent[0].bitmap)
    assert store.pages() == [page] and b.result.pages_unconfirmed == 1


def test_page_cut_mid_data_is_still_not_kept():
    """The line dies during the page (no RTC): nothing arrived whole, nothing is kept."""
    def half(sender, cmd):  # the receiver loses the carrier half way through the page
        return 0.5 if sender == "caller" and not cmd.long_training else None

    store = RecordingStore()
    sent = [TxPage(text_page(300, 31))]
    a, b = call(sent, store, caller=dict(ecm=False),
                faults=Faults(frame=drop("EOP", "DCN"), carrier_lost=half))
    assert b.result.status == T30Status.RX_T2EXPD
    assert b.received_pages == [] and store.calls == []
    assert names(a, "tx") == ["DCS", "EOP", "EOP", "EOP", "DCN"]   # the sender went on


def test_confirmed_ecm_blocks_are_kept_when_the_call_ends_mid_page():
    """A page of several blocks; the line dies after block 0 was confirmed (MCF to
    PPS-NULL). Block 0 was stored before its MCF; as the call ends the page is kept
    from its confirmed data: unconfirmed, end lost, the rows of block 0 intact."""
    page = dense_page(260, 3)
    bursts = []

    def cut(sender, cmd, now):
        if sender == "caller" and isinstance(cmd, SendData) and cmd.hdlc:
            bursts.append(now)
        return len(bursts) == 2

    store = RecordingStore()
    a, b = call([TxPage(page)], store, faults=Faults(cut=cut), caller=ECM64)
    assert names(b, "tx").count("MCF") == 1
    assert b.result.status == T30Status.RX_T2EXPFAX  # as before: no page came whole
    (kind, blk, *_), (kind2, got, *_) = store.calls
    assert (kind, kind2) == ("block", "page")
    assert got is b.received_pages[0] and got.unconfirmed and got.end_lost
    intact = decode(blk.data, "mmr", 1728, lsb_first=True)
    assert intact.rows > 0 and np.array_equal(got.bitmap[:intact.rows - 1],
                                              page[:intact.rows - 1])
    assert got.bad_rows >= nominal_rows("fine") - got.rows
    assert a.result.pages_sent == 0
