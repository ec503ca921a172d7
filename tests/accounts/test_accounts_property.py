"""Random histories of charges, payments, billing runs, time steps, jobs and reactivations,
checked step by step against a small, independent reference model of the rules."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from faxcore.accounts import InvalidOperation, open_store
from faxcore.accounts.store import MAX_PAGES
from faxcore.testing.pg import new_schema_url

T0 = datetime(2026, 1, 20, 13, 0, tzinfo=UTC)
FEES = {"plus": (500, 10), "tollfree": (1000, 12)}  # (monthly fee, per page): the defaults
GRACE = [timedelta(days=2), timedelta(days=7), timedelta(days=14)]
NAMES = ["active", "suspended_until_paid", "closed_until_paid", "terminated"]


class Model:
    """The rules as written in the issue, evaluated by brute force from the event list."""

    def __init__(self, plan, limit, billing_day, created):
        self.fee, self.price = FEES[plan]
        self.limit = limit
        self.day = billing_day
        self.created = created
        self.events = []  # (time, seq, kind, amount)
        self.billed_through = created
        self.refs = {}
        self.seq = itertools.count()

    def billing_dates(self, start, end):
        """Billing instants b with start < b <= end."""
        y, m = start.year, start.month
        while True:
            d = date(y, m, min(self.day, calendar.monthrange(y, m)[1]))
            b = datetime(d.year, d.month, d.day, tzinfo=UTC)
            if b > end:
                return
            if b > start:
                yield b
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)

    def add(self, t, kind, amount):
        self.events.append((t, next(self.seq), kind, amount))

    def evaluate(self, t):
        """(status name, balance) at time t from the events with time <= t."""
        level = 0
        charges = paid = 0
        invoices = []  # (billing instant, charges to date then)

        def overdue_level(now):
            unpaid = [b for b, owed in invoices if paid < owed]
            if not unpaid:
                return 0
            age = now - min(unpaid)
            return sum(1 for g in GRACE if age >= g)

        for when, _seq, kind, amount in sorted(e for e in self.events if e[0] <= t):
            level = max(level, overdue_level(when))
            if kind == "charge":
                charges += amount
            elif kind == "invoice":
                charges += amount
                if charges > paid:
                    invoices.append((when, charges))
            elif kind == "payment":
                paid += amount
                if charges - paid <= 0 and level in (1, 2):
                    level = 0
            elif kind == "reactivate":
                assert level == 3
                charges += amount
                invoices = [(when, charges)] if charges > paid else []
                level = 1 if charges > paid else 0
            if kind in ("charge", "invoice") and charges - paid > 0 \
                    and charges - paid >= self.limit:
                level = max(level, 1)
        level = max(level, overdue_level(t))
        return NAMES[level], charges - paid


ops = st.lists(st.one_of(
    st.tuples(st.sampled_from(["wait", "wait+bill"]), st.sampled_from(
        [timedelta(hours=1), timedelta(hours=20), timedelta(days=1), timedelta(days=2),
         timedelta(days=5), timedelta(days=7), timedelta(days=14), timedelta(microseconds=1),
         timedelta(days=2) - timedelta(microseconds=1), timedelta(days=10),
         timedelta(days=31)])),
    st.tuples(st.just("bill"), st.just(0)),
    st.tuples(st.just("deadline"), st.tuples(st.integers(0, 3), st.sampled_from([-1, 0, 1]))),
    st.tuples(st.just("to_limit"), st.just(0)),
    st.tuples(st.just("to_billing"), st.sampled_from([0, 1, 3600])),
    st.tuples(st.just("send"), st.integers(1, 40)),
    st.tuples(st.just("inbound"), st.integers(0, 10)),
    st.tuples(st.just("pay"), st.sampled_from(["full", "half", "one", "dup", 250])),
    st.tuples(st.just("job"), st.integers(1, 5)),
    st.tuples(st.just("reactivate"), st.just(0)),
    st.tuples(st.just("past"), st.integers(0, 10**6)),
), min_size=5, max_size=30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url_factory(request, tmp_path_factory):
    if request.param == "sqlite":
        counter = itertools.count()
        base = tmp_path_factory.mktemp("prop")
        # the rules are under test here, not durability: skip the fsync per commit
        return lambda: f"sqlite:///{base}/h{next(counter)}.db?synchronous=normal"
    server = request.getfixturevalue("postgres_server")
    return lambda: new_schema_url(server.url)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=st.sampled_from(["plus", "tollfree"]),
       limit=st.sampled_from([0, 300, 1500, 10**6]),
       billing_day=st.sampled_from([1, 15, 28, 29, 30, 31]),
       history=ops)
# Found by Hypothesis: a $2.50 credit and a $10,000.00 limit need 100,025 pages at 10 cents to
# reach the limit, more than record_outbound takes in one call (MAX_PAGES).
@example(plan="plus", limit=10**6, billing_day=1,
         history=[("wait", timedelta(hours=1)), ("wait", timedelta(hours=1)), ("bill", 0),
                  ("pay", 250), ("to_limit", 0)])
def test_random_histories_match_reference_model(url_factory, plan, limit, billing_day, history):
    store = open_store(url_factory())
    try:
        now = T0
        a = store.create_account(plan=plan, credit_limit_cents=limit, billing_day=billing_day,
                                 now=now)
        model = Model(plan, limit, billing_day, now)
        refs = itertools.count()
        last_payment = None
        for op, arg in history:
            name, bal = model.evaluate(now)
            if op == "wait":
                now += arg
            if op == "wait+bill":
                now += arg
            if op in ("bill", "wait+bill"):
                for b in model.billing_dates(model.billed_through, now):
                    if model.evaluate(b)[0] != "terminated":  # no fee once terminated
                        model.add(b, "invoice", model.fee)
                model.billed_through = now
                store.run_billing(now)
            elif op == "deadline":
                # jump to just before / at / just after a grace deadline of a billing
                # instant or reactivation (the boundaries are where the rules bite)
                k, eps = arg
                marks = sorted({e[0] + g + eps * timedelta(microseconds=1)
                                for e in model.events if e[2] in ("invoice", "reactivate")
                                for g in GRACE})
                future = [m for m in marks if m > now]
                if future:
                    now = future[min(k, len(future) - 1)]
            elif op == "to_billing":
                # the next billing instant (+ arg seconds), then run billing
                now = next(model.billing_dates(now, now + timedelta(days=62)))
                now += timedelta(seconds=arg)
                for b in model.billing_dates(model.billed_through, now):
                    if model.evaluate(b)[0] != "terminated":  # no fee once terminated
                        model.add(b, "invoice", model.fee)
                model.billed_through = now
                store.run_billing(now)
            elif op == "to_limit":
                # send exactly enough pages to reach the credit limit, when possible; with a
                # credit that can be more than one call takes (MAX_PAGES), so send several
                # faxes at the same instant: only the last one reaches the limit
                gap = limit - bal
                if gap > 0 and gap % model.price == 0:
                    pages = gap // model.price
                    while pages:
                        n = min(pages, MAX_PAGES)
                        store.record_outbound(a, n, now)
                        model.add(now, "charge", n * model.price)
                        pages -= n
            elif op == "send":
                store.record_outbound(a, arg, now)
                model.add(now, "charge", arg * model.price)
            elif op == "inbound":
                r = store.record_inbound(a, arg, now)
                expected = {"active": "received", "terminated": "refused"}.get(name, "held")
                assert r.state == expected
            elif op == "pay":
                if arg == "dup":
                    if last_payment is None:
                        continue
                    p = store.post_payment(a, last_payment[1], last_payment[0], now)
                    assert p.duplicate  # counts once: the model gets nothing
                else:
                    cents = {"full": bal, "half": bal // 2, "one": 1}.get(arg, arg)
                    if cents <= 0:
                        continue
                    ref = f"r{next(refs)}"
                    store.post_payment(a, cents, ref, now)
                    model.add(now, "payment", cents)
                    last_payment = (ref, cents)
            elif op == "job":
                job = store.submit_job(a, "+15550100", arg, now, channel="website")
                assert job.state == ("queued" if name == "active" else "refused")
            elif op == "reactivate":
                if name == "terminated":
                    st_ = store.reactivate(a, now, operator="op")
                    model.add(now, "reactivate", 1000)
                    assert st_.name == model.evaluate(now)[0]
                else:
                    with pytest.raises(InvalidOperation):
                        store.reactivate(a, now, operator="op")
            elif op == "past":
                span = (now - T0).total_seconds()
                t = T0 + timedelta(seconds=span * arg / 10**6)
                m_name, m_bal = model.evaluate(t)
                assert store.status(a, t).name == m_name, t
                assert store.balance_cents(a, t) == m_bal
            name, bal = model.evaluate(now)
            assert store.status(a, now).name == name, (op, arg, now)
            assert store.balance_cents(a, now) == bal
            assert store.check_send(a, now).allowed is (name == "active")
            assert store.login_scope(a, now) == {"active": "full", "terminated": "none"}.get(
                name, "limited")
    finally:
        store.close()
