"""Gate checks per second (``store.check_send``) on SQLite and PostgreSQL, one core.

Populates N accounts with a billing history (charges, invoices, payments, some
accounts suspended/closed/terminated), then calls ``check_send`` on random accounts
for a fixed time in one process, and prints checks/s for each back end and their
ratio. Payments/s (a write transaction each) are printed for reference.

PostgreSQL: ``--pg-url URL``, or a private server is started with faxcore.testing.pg
(Debian's PostgreSQL, as an unprivileged user when run as root).

    python benchmarks/accounts.py [--accounts 1000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta

from _common import pin_one_core, print_header

from faxcore.accounts import open_store
from faxcore.testing import pg

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def populate(store, n: int, rng: random.Random) -> list[int]:
    """n accounts, 45 days of history: weekly sends and receipts, daily billing runs;
    85 % pay each invoice the next day, 15 % never pay (suspended ... terminated)."""
    ids = [store.create_account(plan=rng.choice(["plus", "tollfree"]),
                                credit_limit_cents=rng.choice([2000, 5000, 100000]),
                                billing_day=rng.randint(1, 31), now=T0) for _ in range(n)]
    payers = {a for a in ids if rng.random() < 0.85}
    for day in range(45):
        now = T0 + timedelta(days=day)
        store.run_billing(now)
        for a in ids:
            if day % 7 == a % 7:
                store.record_outbound(a, rng.randint(1, 20), now + timedelta(hours=2))
                store.record_inbound(a, rng.randint(1, 5), now + timedelta(hours=3))
            if a in payers:
                due = store.balance_cents(a, now + timedelta(hours=4))
                if due > 0:
                    store.post_payment(a, due, f"bench-{a}-{day}", now + timedelta(hours=4))
        if day % 15 == 14:
            print(f"  day {day + 1}/45", flush=True)
    return ids


def bench_gate(store, ids: list[int], seconds: float, rng: random.Random) -> tuple[float, dict]:
    now = T0 + timedelta(days=45)
    picks = [rng.choice(ids) for _ in range(4096)]
    n = 0
    allowed = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for a in picks[:256]:
            allowed += store.check_send(a, now).allowed
        n += 256
        picks = picks[256:] + picks[:256]
        if time.perf_counter() >= deadline:
            break
    rate = n / (time.perf_counter() - t0)
    return rate, {"checks": n, "allowed_fraction": round(allowed / n, 3)}


def bench_payments(store, ids: list[int], seconds: float) -> float:
    now = T0 + timedelta(days=46)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        store.post_payment(ids[n % len(ids)], 1, f"pay-bench-{n}", now)
        n += 1
    return n / (time.perf_counter() - t0)


def run_backend(name: str, url: str, n: int, seconds: float) -> tuple[float, float]:
    rng = random.Random(1)
    store = open_store(url)
    print(f"[{name}] populating {n} accounts ...", flush=True)
    ids = populate(store, n, rng)
    rate, info = bench_gate(store, ids, seconds, rng)
    print(f"[{name}] check_send: {rate:,.0f} checks/s ({info['checks']} checks, "
          f"{info['allowed_fraction']:.0%} allowed)", flush=True)
    pay = bench_payments(store, ids, min(seconds, 2.0))
    print(f"[{name}] post_payment: {pay:,.0f} payments/s", flush=True)
    store.close()
    return rate, pay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of a private one")
    args = ap.parse_args()
    pin_one_core()
    print_header("faxcore accounts gate benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        sq_rate, sq_pay = run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args.accounts,
                                      args.seconds)
    with pg.server_url(args.pg_url) as pg_url:
        pg_rate, pg_pay = run_backend("postgresql", pg_url, args.accounts, args.seconds)
    print()
    print(f"{'backend':<12} {'check_send/s':>14} {'payments/s':>12}")
    print(f"{'sqlite':<12} {sq_rate:>14,.0f} {sq_pay:>12,.0f}")
    print(f"{'postgresql':<12} {pg_rate:>14,.0f} {pg_pay:>12,.0f}")
    print(f"ratio sqlite/postgresql gate checks: {sq_rate / pg_rate:.2f}x")
    ok = min(sq_rate, pg_rate) >= 1000
    print("gate throughput: " + ("OK (thousands per second on one core)" if ok
                                 else "BELOW 1000/s"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
