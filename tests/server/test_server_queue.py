"""The queue's limits, counted in the database at each claim: one call at a time per
destination, a channel's lines; the transition table refuses what it does not list;
several services (workers) sharing one database never claim a job twice."""

from __future__ import annotations

import threading

import pytest

from faxcore.codecs.tiff import tiff_bytes
from faxcore.server import model
from faxcore.server.model import TRANSITIONS, check_transition
from faxcore.server.service import Service
from faxcore.testing.pages import letter_page


def test_one_call_at_a_time_per_destination_and_no_more_than_the_lines(harness):
    a = harness.account()
    j1 = harness.submit(a, "+15550001", 1).json()
    j2 = harness.submit(a, "+15550001", 1).json()     # same number as j1
    j3 = harness.submit(a, "+15550002", 1).json()
    j4 = harness.submit(a, "+15550003", 1).json()
    q = harness.service.queue()
    now = harness.clock()
    c1 = q.claim(now, "w1", {"loopback": 2})
    c2 = q.claim(now, "w2", {"loopback": 2})
    assert (c1.job.id, c2.job.id) == (j1["id"], j3["id"])   # j2 waits for j1's number
    assert q.claim(now, "w3", {"loopback": 2}) is None       # both lines busy
    assert q.busy_lines() == {"loopback": 2}
    c3 = q.claim(now, "w3", {"loopback": 3})
    assert c3.job.id == j4["id"]
    assert q.claim(now, "w4", {"loopback": 9}) is None      # j2: its number is in a call
    q.finish(c1, model.AttemptOutcome(model.DialResult.BUSY), now)
    c4 = q.claim(now, "w4", {"loopback": 9})
    assert c4.job.id == j2["id"]


def test_the_transition_table_is_closed_and_enforced():
    assert set(TRANSITIONS) == set(model.STATES)
    for old, news in TRANSITIONS.items():
        assert news <= set(model.STATES)
        if old in model.FINAL:
            assert not news
    with pytest.raises(ValueError, match="delivered -> queued"):
        check_transition("delivered", "queued")
    with pytest.raises(ValueError):
        check_transition("held_billing", "dialing")  # released to queued first


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_services_sharing_a_database_deliver_every_job_once(harness, request, backend,
                                                                tmp_path):
    """Two services (as two ``faxcore serve`` workers) on one database, four scheduler
    threads each, drain 40 jobs at once: each job has exactly one attempt, its pages are
    journaled once and charged once."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        cfg = harness.service.config
        first = Service(type(cfg)(**{**cfg.__dict__, "db": url}), clock=harness.clock)
    else:
        first = harness.service
    cfg = first.config
    second = Service(type(cfg)(**{**cfg.__dict__, "data_dir": str(tmp_path / "w2"),
                                  "db": first.stores.url}), clock=harness.clock)
    store = first.store()
    acct = store.create_account(credit_limit_cents=10**9, now=harness.clock())
    doc = harness.data_dir / "shared.tif"
    doc.write_bytes(tiff_bytes([letter_page(200, 1), letter_page(200, 2)]))
    q = first.queue()
    for i in range(40):
        q.submit(acct, f"+1555{i:07d}", channel="loopback", pages=2, document=str(doc),
                 now=harness.clock())
    start = threading.Barrier(8)

    def drain(svc):
        start.wait()
        while svc.scheduler.run_one(f"{id(svc)}/{threading.get_ident()}"):
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in (first, second) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    db = store.db
    assert db.all("SELECT state, count(*) FROM fax_jobs GROUP BY state") == [("delivered", 40)]
    assert db.one("SELECT count(*), count(DISTINCT job_id) FROM fax_attempts") == (40, 40)
    assert db.one("SELECT count(*) FROM fax_pages")[0] == 80
    assert db.one("SELECT sum(pages) FROM ledger WHERE kind = 'page_charge'")[0] == 80
    workers = {r[0].split("/")[0] for r in db.all("SELECT worker FROM fax_attempts")}
    assert len(workers) == 2                                # both services took jobs
    second.close()
    if first is not harness.service:
        first.close()
