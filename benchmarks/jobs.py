"""Send-job claims per second (``store.claim_next_job``) on SQLite and PostgreSQL, one core.

Queues a backlog of send jobs for a few active accounts (inserted in one transaction:
setup, not measured), then, in one process, for a fixed time each:

* ``claim``: ``claim_next_job`` only (each claim is one write transaction);
* ``claim+finish``: ``claim_next_job`` then ``finish_job(success=True)`` (two write
  transactions and a page charge), the cycle a worker runs per fax.

The backlog is analysed (``ANALYZE``) before measuring unless ``--no-analyze``: a fresh
bulk load with stale planner statistics shows how robust the claim query's plan is.

Uses only the calls that existed before claims had leases, so the same script measures
the code before and after (``PYTHONPATH=<old checkout>``). PostgreSQL: ``--pg-url URL``, or a private server is started
with faxcore.testing.pg (``fsync=off``). SQLite uses the store's default (``synchronous=FULL``:
an fsync per claim) unless ``--sqlite-sync normal``.

    python benchmarks/jobs.py [--jobs 30000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from _common import pin_one_core, print_header

from faxcore.accounts import open_store
from faxcore.accounts.rules import to_us
from faxcore.testing import pg

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def populate(store, n_jobs: int, analyze: bool, n_accounts: int = 20) -> None:
    ids = [store.create_account(plan="plus", credit_limit_cents=10**11, billing_day=1, now=T0)
           for _ in range(n_accounts)]
    t = to_us(T0)
    with store.db.write():
        for i in range(n_jobs):
            # plain SQL: submit_job would run the send gate per row, slow for 10^5 rows
            store.db.insert(
                "INSERT INTO jobs (account_id, direction, channel, remote, pages, state, "
                "created_at, updated_at) VALUES (?, 'send', 'api', ?, ?, 'queued', ?, ?)",
                (ids[i % n_accounts], f"+1555{i:06d}", 1 + i % 3, t, t))
    if analyze:  # fresh statistics, as autovacuum / a long-lived database would have
        store.db.execute("ANALYZE")


def bench(store, seconds: float, finish: bool) -> tuple[float, int]:
    now = T0 + timedelta(minutes=1)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        job = store.claim_next_job(now)
        if job is None:
            raise SystemExit("backlog exhausted: raise --jobs")
        if finish:
            store.finish_job(job.id, now, success=True, pages_sent=job.pages, result="MCF")
        n += 1
    return n / (time.perf_counter() - t0), n


def run_backend(name: str, url: str, n_jobs: int, seconds: float,
                analyze: bool) -> tuple[float, float]:
    store = open_store(url)
    print(f"[{name}] queueing {n_jobs} jobs ...", flush=True)
    populate(store, n_jobs, analyze)
    claim, n1 = bench(store, seconds, finish=False)
    print(f"[{name}] claim: {claim:,.0f} claims/s ({n1} claims)", flush=True)
    cycle, n2 = bench(store, seconds, finish=True)
    print(f"[{name}] claim+finish: {cycle:,.0f} jobs/s ({n2} jobs)", flush=True)
    store.close()
    return claim, cycle


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=30000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--no-analyze", action="store_true",
                    help="measure right after the bulk insert, before ANALYZE (stale planner "
                         "statistics)")
    ap.add_argument("--sqlite-sync", choices=("full", "normal"), default="full",
                    help="SQLite synchronous mode (normal: no fsync per commit, so the "
                         "figure is the CPU cost of a claim)")
    ap.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of a private one")
    args = ap.parse_args()
    pin_one_core()
    print_header("faxcore job claim benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        sq = run_backend("sqlite", f"sqlite:///{tmp}/bench.db?synchronous={args.sqlite_sync}",
                         args.jobs, args.seconds, not args.no_analyze)
    with pg.server_url(args.pg_url) as pg_url:
        pgr = run_backend("postgresql", pg_url, args.jobs, args.seconds, not args.no_analyze)
    print()
    print(f"{'backend':<12} {'claims/s':>10} {'claim+finish/s':>15}")
    print(f"{'sqlite':<12} {sq[0]:>10,.0f} {sq[1]:>15,.0f}")
    print(f"{'postgresql':<12} {pgr[0]:>10,.0f} {pgr[1]:>15,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
