"""The job store under several schedulers: each queued job is claimed exactly once, and
jobs of accounts that may not send are refused at claim time, never handed out."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from faxcore.accounts import open_store

T0 = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)
N_JOBS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    return request.getfixturevalue("pg_url")


def scheduler(url: str, barrier, results, name: str) -> None:
    store = open_store(url)
    barrier.wait()
    claimed = []
    try:
        while True:
            job = store.claim_next_job(T0 + timedelta(minutes=1), worker=name)
            if job is None:
                break
            assert job.state == "sending" and job.attempts == 1, job
            assert job.lease_owner == name and job.leases_lost == 0, job
            done = store.finish_job(job.id, T0 + timedelta(minutes=2), success=True,
                                    pages_sent=job.pages, result="MCF", worker=name)
            assert done.lease_owner == name and done.lease_expires_at is None, done
            claimed.append(job.id)
    except Exception as exc:  # report, do not hang the test on an empty queue
        results.put(f"scheduler failed: {exc!r}")
    else:
        results.put(claimed)
    finally:
        store.close()


def test_concurrent_schedulers_claim_each_job_once(url):
    store = open_store(url)
    good = store.create_account(plan="plus", credit_limit_cents=10**9, billing_day=1, now=T0)
    # suspended by its credit limit after the jobs were queued: they must never be sent
    bad = store.create_account(plan="plus", credit_limit_cents=100, billing_day=1, now=T0)
    ids = {good: [], bad: []}
    for i in range(N_JOBS):
        a = good if i % 4 else bad
        ids[a].append(store.submit_job(a, f"+1555{i:04d}", 1 + i % 3, T0, channel="website").id)
    store.record_outbound(bad, 10, T0 + timedelta(seconds=1))  # reaches the limit

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    procs = [ctx.Process(target=scheduler, args=(url, barrier, results, f"sched{n}"))
             for n in range(3)]
    for p in procs:
        p.start()
    claimed = [results.get(timeout=120) for _ in procs]
    assert all(isinstance(c, list) for c in claimed), claimed
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * 3

    flat = sorted(j for c in claimed for j in c)
    assert flat == sorted(ids[good])  # every sendable job exactly once
    for j in ids[bad]:
        job = store.get_job(j)
        assert job.state == "refused" and job.attempts == 0
        assert "suspended until paid" in job.reason
    done = store.list_jobs(good, state="done")
    assert len(done) == len(ids[good])
    pages = sum(j.pages for j in done)
    assert store.balance_cents(good, T0 + timedelta(minutes=3)) == pages * 10
    store.close()
