"""100 inbound calls at once on the loopback channel (100 threads, each a faxcore station
calling a number of one of 10 accounts): every fax is stored, routed to its account,
metered once, and its page in the stored TIFF-F is, pixel for pixel, the page its caller
sent."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from faxcore.codecs.tiff import read_tiff
from faxcore.t30 import TxPage
from faxcore.testing.pages import letter_page

CALLS = 100


def test_100_concurrent_inbound_calls_are_all_stored(harness):
    accounts = [harness.account([f"+1555060{i}"]) for i in range(10)]
    sent = {i: letter_page(200, 1000 + i) for i in range(CALLS)}
    start = threading.Barrier(CALLS)

    def call(i: int):
        start.wait()  # all 100 calls in progress together
        return harness.channel.call_in(f"+1555800{i:04d}", f"+1555060{i % 10}",
                                       [TxPage(sent[i], "fine")])

    with ThreadPoolExecutor(CALLS) as pool:
        engines = list(pool.map(call, range(CALLS)))
    assert all(e is not None and e.result.ok for e in engines)
    rows = harness.rows("SELECT caller, called, account_id, pages, partial, tif_path "
                        "FROM inbound_faxes")
    assert len(rows) == CALLS
    assert len({r[5] for r in rows}) == CALLS          # a file each
    for caller, called, account_id, pages, partial, tif in rows:
        i = int(caller[-4:])
        assert called == f"+1555060{i % 10}" and account_id == accounts[i % 10].id
        assert pages == 1 and not partial
        (page,) = read_tiff(tif)
        assert np.array_equal(page.bitmap, sent[i])
    assert harness.rows("SELECT count(*), sum(pages), sum(amount_cents) FROM ledger "
                        "WHERE kind = 'inbound'") == [(CALLS, CALLS, 0)]
    for a in accounts:
        assert len(harness.client.get("/v1/inbox", headers=a.auth).json()["faxes"]) == 10
