"""The account rules at their boundaries, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from faxcore.accounts import (
    InvalidOperation,
    PaymentConflict,
    UnknownAccount,
    open_store,
)
from faxcore.accounts.db import SCHEMA_VERSION

DAY = timedelta(days=1)
US = timedelta(microseconds=1)
T0 = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
B = datetime(2026, 1, 15, tzinfo=UTC)  # first billing instant for billing_day=15
FEE = 500  # default "plus" monthly fee
PAGE = 10  # default "plus" per-page price


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/accounts.db"
    else:
        url = request.getfixturevalue("pg_url")
    s = open_store(url)
    yield s
    s.close()


def billed(store, *, limit=1_000_000, pages=10, plan="plus"):
    """An account created at T0, `pages` sent on Jan 12, invoiced at B (Jan 15)."""
    a = store.create_account(plan=plan, credit_limit_cents=limit, billing_day=15, now=T0)
    store.record_outbound(a, pages, T0 + 2 * DAY)
    assert store.run_billing(B) == 1
    return a


def test_invoice_covers_balance_with_monthly_fee(store):
    a = billed(store)
    assert store.balance_cents(a, B) == 10 * PAGE + FEE
    assert store.balance_cents(a, B - US) == 10 * PAGE  # fee charged at the billing instant
    st = store.statement(a, B)
    inv = [e for e in st["entries"] if e["kind"] == "invoice"]
    assert len(inv) == 1 and inv[0]["period"] == "2026-01" and inv[0]["invoiced_cents"] == 600
    assert store.run_billing(B + DAY) == 0  # not twice


def test_tollfree_prices(store):
    a = billed(store, plan="tollfree", pages=3)
    assert store.balance_cents(a, B) == 3 * 12 + 1000


@pytest.mark.parametrize("offset,expected,scope", [
    (timedelta(0), "active", "full"),
    (2 * DAY - US, "active", "full"),
    (2 * DAY, "suspended_until_paid", "limited"),
    (2 * DAY + US, "suspended_until_paid", "limited"),
    (7 * DAY - US, "suspended_until_paid", "limited"),
    (7 * DAY, "closed_until_paid", "limited"),
    (14 * DAY - US, "closed_until_paid", "limited"),
    (14 * DAY, "terminated", "none"),
    (60 * DAY, "terminated", "none"),
])
def test_unpaid_invoice_deadlines(store, offset, expected, scope):
    a = billed(store)
    now = B + offset
    assert store.status(a, now).name == expected
    assert store.login_scope(a, now) == scope
    actions = store.panel_actions(a, now)
    assert ("make_payment" in actions) is (scope != "none")
    assert ("view_account" in actions) is (scope != "none")
    assert ("send_fax" in actions) is (scope == "full")
    gate = store.check_send(a, now)
    assert gate.allowed is (expected == "active")
    if expected != "active":
        assert expected.replace("_", " ") in gate.reason
        assert "$6.00" in gate.reason  # amount due


def test_status_since_is_the_deadline(store):
    a = billed(store)
    assert store.status(a, B + 3 * DAY).since == B + 2 * DAY
    assert store.status(a, B + 8 * DAY).since == B + 7 * DAY
    assert store.status(a, B + 20 * DAY).since == B + 14 * DAY
    assert "since 2026-01-29" in store.check_send(a, B + 20 * DAY).reason


def test_full_payment_just_before_deadline_keeps_active(store):
    a = billed(store)
    store.post_payment(a, 600, "pay-1", B + 2 * DAY - US)
    for off in (2 * DAY, 7 * DAY, 14 * DAY, 20 * DAY):
        assert store.status(a, B + off).name == "active"
    assert store.balance_cents(a, B + 3 * DAY) == 0


def test_partial_payment_does_not_prevent_suspension(store):
    a = billed(store)
    store.post_payment(a, 599, "part", B + DAY)
    assert store.status(a, B + 2 * DAY - US).name == "active"
    assert store.status(a, B + 2 * DAY).name == "suspended_until_paid"
    assert "$0.01" in store.check_send(a, B + 2 * DAY).reason
    # the last cent settles the complete balance: active at that very instant
    store.post_payment(a, 1, "rest", B + 3 * DAY)
    assert store.status(a, B + 3 * DAY - US).name == "suspended_until_paid"
    assert store.status(a, B + 3 * DAY).name == "active"
    assert store.check_send(a, B + 3 * DAY).allowed


@pytest.mark.parametrize("offset,status", [
    (3 * DAY, "suspended_until_paid"),
    (8 * DAY, "closed_until_paid"),
])
def test_payment_during_suspended_and_closed(store, offset, status):
    a = billed(store)
    now = B + offset
    assert store.status(a, now).name == status
    store.post_payment(a, 300, "half", now)
    assert store.status(a, now).name == status  # partial: unchanged
    assert store.login_scope(a, now) == "limited"
    later = now + DAY
    store.post_payment(a, 300, "rest", later)
    assert store.status(a, later).name == "active"
    assert store.login_scope(a, later) == "full"
    assert store.check_send(a, later).allowed
    assert store.status(a, B + 30 * DAY).name == "active"  # and it stays active


def test_paying_the_invoice_but_not_later_charges_stays_suspended(store):
    a = billed(store)
    store.record_outbound(a, 5, B + DAY)  # 50 cents after the invoice, still active
    now = B + 3 * DAY
    assert store.status(a, now).name == "suspended_until_paid"
    store.post_payment(a, 600, "inv", now)  # invoice settled, complete balance not
    assert store.status(a, now).name == "suspended_until_paid"
    # the invoice is settled, so the status no longer escalates
    assert store.status(a, B + 20 * DAY).name == "suspended_until_paid"
    store.post_payment(a, 50, "rest", B + 21 * DAY)
    assert store.status(a, B + 21 * DAY).name == "active"


def test_payment_when_terminated_needs_operator_and_fee(store):
    a = billed(store)
    now = B + 15 * DAY
    store.post_payment(a, 600, "late", now)
    assert store.balance_cents(a, now) == 0
    st = store.status(a, now)
    assert st.name == "terminated"
    assert store.login_scope(a, now) == "none"
    gate = store.check_send(a, now)
    assert not gate.allowed
    assert "support" in gate.reason and "$10.00" in gate.reason

    st = store.reactivate(a, now + DAY, operator="alice")
    assert st.name == "suspended_until_paid"
    assert store.balance_cents(a, now + DAY) == 1000  # the reactivation fee
    assert store.login_scope(a, now + DAY) == "limited"
    assert not store.check_send(a, now + DAY).allowed
    store.post_payment(a, 999, "fee-part", now + 2 * DAY)
    assert store.status(a, now + 2 * DAY).name == "suspended_until_paid"
    store.post_payment(a, 1, "fee-rest", now + 2 * DAY)
    assert store.status(a, now + 2 * DAY).name == "active"
    assert store.login_scope(a, now + 2 * DAY) == "full"
    notes = [e.get("note") for e in store.statement(a, now + 2 * DAY)["entries"]]
    assert "reactivated by alice" in notes


def test_reactivation_without_payment_escalates_again(store):
    a = billed(store)
    r = B + 20 * DAY
    store.reactivate(a, r, operator="bob")
    assert store.balance_cents(a, r) == 600 + 1000
    assert store.status(a, r + 7 * DAY - US).name == "suspended_until_paid"
    assert store.status(a, r + 7 * DAY).name == "closed_until_paid"
    assert store.status(a, r + 14 * DAY).name == "terminated"
    store.post_payment(a, 1600, "all", r + 3 * DAY)
    assert store.status(a, r + 30 * DAY).name == "active"


def test_reactivate_requires_terminated(store):
    a = billed(store)
    with pytest.raises(InvalidOperation):
        store.reactivate(a, B + DAY, operator="x")
    with pytest.raises(InvalidOperation):
        store.reactivate(a, B + 10 * DAY, operator="x")  # closed is not terminated
    assert store.balance_cents(a, B + 10 * DAY) == 600  # no fee charged


def test_credit_limit_reached_exactly(store):
    a = store.create_account(plan="plus", credit_limit_cents=300, billing_day=15, now=T0)
    store.record_outbound(a, 29, T0 + US)
    assert store.status(a, T0 + US).name == "active"  # 290 < 300
    assert store.check_send(a, T0 + US).allowed
    store.record_outbound(a, 1, T0 + 2 * US)  # 300 == limit
    st = store.status(a, T0 + 2 * US)
    assert st.name == "suspended_until_paid" and st.since == T0 + 2 * US
    gate = store.check_send(a, T0 + 2 * US)
    assert not gate.allowed and "$3.00" in gate.reason
    assert store.login_scope(a, T0 + 2 * US) == "limited"
    # below the limit again but not fully paid: still suspended until paid
    store.post_payment(a, 100, "p1", T0 + DAY)
    assert store.status(a, T0 + DAY).name == "suspended_until_paid"
    store.post_payment(a, 200, "p2", T0 + 2 * DAY)
    assert store.status(a, T0 + 2 * DAY).name == "active"


def test_credit_limit_counts_unbilled_and_billed(store):
    a = store.create_account(plan="plus", credit_limit_cents=600, billing_day=15, now=T0)
    store.record_outbound(a, 9, T0)  # 90
    store.run_billing(B)  # +500 fee = 590
    assert store.status(a, B).name == "active"
    store.record_outbound(a, 1, B + DAY)  # 600: unbilled charge reaches the limit
    assert store.status(a, B + DAY).name == "suspended_until_paid"


def test_credit_limit_reached_from_a_credit_over_several_sends(store):
    """A credit raises the pages needed to reach the limit beyond what one call may record
    (MAX_PAGES): the over-cap call is refused and writes nothing; sends that add up to the
    limit suspend exactly at it (the property test's to_limit step, found by Hypothesis)."""
    from faxcore.accounts.store import MAX_PAGES

    a = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=15, now=T0)
    store.post_payment(a, 250, "prepaid", T0)  # $2.50 credit
    pages = (10**6 + 250) // PAGE
    assert pages == MAX_PAGES + 25
    with pytest.raises(ValueError, match="at most 100000"):
        store.record_outbound(a, pages, T0 + US)
    assert store.balance_cents(a, T0 + US) == -250
    assert [e["kind"] for e in store.statement(a, T0 + US)["entries"]] == ["payment"]
    store.record_outbound(a, MAX_PAGES, T0 + US)
    st = store.status(a, T0 + US)
    assert st.name == "active" and st.balance_cents == 10**6 - 250  # 25 pages short
    store.record_outbound(a, 25, T0 + US)
    st = store.status(a, T0 + US)
    assert st.name == "suspended_until_paid" and st.balance_cents == 10**6
    assert not store.check_send(a, T0 + US).allowed


def test_idempotent_payments(store):
    a = billed(store)
    other = store.create_account(plan="plus", credit_limit_cents=1000, billing_day=1, now=T0)
    p1 = store.post_payment(a, 250, "ref-42", B)
    p2 = store.post_payment(a, 250, "ref-42", B + DAY)
    assert not p1.duplicate and p2.duplicate and p1.ledger_id == p2.ledger_id
    assert store.balance_cents(a, B + DAY) == 350
    with pytest.raises(PaymentConflict):
        store.post_payment(a, 300, "ref-42", B + DAY)
    with pytest.raises(PaymentConflict):
        store.post_payment(other, 250, "ref-42", B + DAY)
    assert store.balance_cents(a, B + DAY) == 350
    assert store.balance_cents(other, B + DAY) == 0


@pytest.mark.parametrize("created,day,expected", [
    (datetime(2026, 1, 31, 10, tzinfo=UTC), 31,
     ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
    (datetime(2028, 1, 30, tzinfo=UTC), 30, ["2028-02-29", "2028-03-30", "2028-04-30"]),
    (datetime(2026, 1, 15, tzinfo=UTC), 15, ["2026-02-15", "2026-03-15"]),  # strictly after
])
def test_billing_day_in_short_months(store, created, day, expected):
    a = store.create_account(plan="plus", credit_limit_cents=10**9, billing_day=day, now=created)
    for n, day_ in enumerate(expected):
        b = datetime.fromisoformat(day_).replace(tzinfo=UTC)
        assert store.run_billing(b - US) == 0
        assert store.run_billing(b) == 1
        assert store.run_billing(b + DAY) == 0
        store.post_payment(a, store.balance_cents(a, b + DAY), f"m{n}", b + DAY)
    end = datetime.fromisoformat(expected[-1]).replace(tzinfo=UTC) + DAY
    entries = store.statement(a, end)["entries"]
    assert [e["at"].date().isoformat() for e in entries if e["kind"] == "invoice"] == expected
    assert store.account(a)["next_billing_at"] > end


def test_late_billing_run_catches_up_once_per_cycle(store):
    a = store.create_account(plan="plus", credit_limit_cents=10**9, billing_day=31,
                             now=datetime(2026, 1, 31, 10, tzinfo=UTC))
    store.post_payment(a, 5000, "prepaid", datetime(2026, 2, 1, tzinfo=UTC))
    assert store.run_billing(datetime(2026, 6, 1, tzinfo=UTC)) == 4  # Feb 28 .. May 31
    assert store.balance_cents(a, datetime(2026, 6, 1, tzinfo=UTC)) == 4 * FEE - 5000
    assert store.status(a, datetime(2026, 6, 1, tzinfo=UTC)).name == "active"


def test_terminated_account_is_not_billed_until_reactivated(store):
    a = billed(store)  # Jan 15 invoice unpaid: terminated from Jan 29
    assert store.run_billing(datetime(2026, 4, 1, tzinfo=UTC)) == 0  # Feb 15, Mar 15 skipped
    r = datetime(2026, 4, 1, 12, tzinfo=UTC)
    store.reactivate(a, r, operator="carol")
    store.post_payment(a, 1600, "settle", r)
    assert store.status(a, r).name == "active"
    assert store.run_billing(datetime(2026, 4, 15, tzinfo=UTC)) == 1  # billing resumes
    assert store.balance_cents(a, datetime(2026, 4, 15, tzinfo=UTC)) == FEE


def test_late_billing_run_dates_invoice_at_billing_date(store):
    a = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=15, now=T0)
    store.post_payment(a, 500, "prepay", B + DAY)  # recorded before billing ran
    store.run_billing(B + 5 * DAY)  # invoice dated Jan 15, settled by the Jan 16 payment
    assert store.status(a, B + 5 * DAY).name == "active"
    assert store.balance_cents(a, B + 5 * DAY) == 0
    b = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=15, now=T0)
    store.run_billing(B + 5 * DAY)
    assert store.status(b, B + 5 * DAY).name == "suspended_until_paid"


def test_status_at_an_earlier_time_ignores_later_events(store):
    a = billed(store)
    store.post_payment(a, 600, "pay", B + 3 * DAY)
    assert store.status(a, B + 2 * DAY).name == "suspended_until_paid"
    assert store.balance_cents(a, B + 2 * DAY) == 600
    assert store.status(a, B + 3 * DAY).name == "active"


def test_back_dated_payment_rebuilds_summary(store):
    a = billed(store)
    store.record_inbound(a, 2, B + 5 * DAY)
    store.post_payment(a, 600, "backdated", B + DAY)  # earlier than the last event
    assert store.status(a, B + 10 * DAY).name == "active"
    assert store.balance_cents(a, B + 10 * DAY) == 0


def test_inbound_is_free_held_and_refused(store):
    a = billed(store)
    r1 = store.record_inbound(a, 7, B + DAY, caller="+4930123", duration_s=95.0)
    assert r1.state == "received" and r1.accepted
    assert store.balance_cents(a, B + DAY) == 600  # free
    r2 = store.record_inbound(a, 3, B + 3 * DAY, caller="+4930999")  # suspended
    assert r2.state == "held" and r2.accepted
    r3 = store.record_inbound(a, 2, B + 8 * DAY)  # closed
    assert r3.state == "held"
    assert [j.id for j in store.received_faxes(a, B + 8 * DAY)] == [r1.job_id]
    store.post_payment(a, 600, "pay", B + 9 * DAY)
    got = store.received_faxes(a, B + 9 * DAY)  # active again: nothing lost
    assert [(j.id, j.pages, j.remote) for j in got] == [
        (r1.job_id, 7, "+4930123"), (r2.job_id, 3, "+4930999"), (r3.job_id, 2, None)]
    assert store.get_job(r1.job_id).duration_s == 95.0
    assert store.balance_cents(a, B + 9 * DAY) == 0

    b = billed(store)
    r4 = store.record_inbound(b, 4, B + 14 * DAY)  # terminated: refused, not metered
    assert r4.state == "refused" and not r4.accepted
    assert store.received_faxes(b, B + 14 * DAY) == []
    metered = [e for e in store.statement(a, B + 9 * DAY)["entries"] if e["kind"] == "inbound"]
    assert [(e["pages"], e["amount_cents"]) for e in metered] == [(7, 0), (3, 0), (2, 0)]
    assert not [e for e in store.statement(b, B + 14 * DAY)["entries"] if e["kind"] == "inbound"]


def test_refused_job_recorded_and_never_claimed(store):
    a = billed(store)
    ok = store.submit_job(a, "+15550001", 2, B + DAY, channel="email")
    assert ok.state == "queued" and ok.channel == "email"
    refused = store.submit_job(a, "+15550002", 1, B + 2 * DAY, channel="printer")
    assert refused.state == "refused" and "suspended until paid" in refused.reason
    # the queued job's account is suspended by the time a scheduler looks: never dialled
    assert store.claim_next_job(B + 2 * DAY) is None
    j = store.get_job(ok.id)
    assert j.state == "refused" and j.attempts == 0 and "suspended" in j.reason


def test_job_lifecycle_and_charges(store):
    a = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=1, now=T0)
    j = store.submit_job(a, "+15550003", 4, T0, channel="website", document="/tmp/x.tif",
                         max_attempts=2)
    c = store.claim_next_job(T0 + US)
    assert c.id == j.id and c.state == "sending" and c.attempts == 1
    assert store.claim_next_job(T0 + US) is None
    f = store.finish_job(j.id, T0 + DAY, success=False, result="no answer")
    assert f.state == "queued" and f.result == "no answer"
    store.claim_next_job(T0 + DAY)
    d = store.finish_job(j.id, T0 + DAY, success=True, pages_sent=4, result="MCF", duration_s=61.5)
    assert d.state == "done" and d.attempts == 2
    assert store.balance_cents(a, T0 + DAY) == 4 * PAGE
    k = store.submit_job(a, "+15550004", 1, T0 + DAY)
    assert store.cancel_job(k.id, T0 + DAY).state == "cancelled"
    from faxcore.accounts import JobError
    with pytest.raises(JobError):
        store.cancel_job(j.id, T0 + DAY)  # done
    store.submit_job(a, "+15550005", 1, T0 + DAY)
    store.claim_next_job(T0 + DAY)
    g = store.finish_job(store.list_jobs(a, state="sending")[0].id, T0 + DAY, success=False)
    assert g.state == "queued"
    assert [x.state for x in store.list_jobs(a)] == ["done", "cancelled", "queued"]
    assert store.count_jobs(a) == 3


def test_bad_input_is_rejected_clearly(store):
    a = store.create_account(plan="plus", credit_limit_cents=100, billing_day=1, now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.status(a, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="plan"):
        store.create_account(plan="gold", credit_limit_cents=100, billing_day=1, now=T0)
    with pytest.raises(ValueError, match="billing_day"):
        store.create_account(plan="plus", credit_limit_cents=100, billing_day=32, now=T0)
    with pytest.raises(ValueError):
        store.post_payment(a, 0, "zero", T0)
    with pytest.raises(ValueError):
        store.record_outbound(a, -1, T0)
    with pytest.raises(ValueError, match="channel"):
        store.submit_job(a, "+1555", 1, T0, channel="pigeon")
    with pytest.raises(UnknownAccount):
        store.status(999_999, T0)
    with pytest.raises(UnknownAccount):
        store.post_payment(999_999, 100, "nobody", T0)
    assert store.balance_cents(a, T0 + DAY) == 0


def test_schema_migrated_once_and_plans_configurable(store):
    assert store.db.schema_version() == SCHEMA_VERSION
    again = open_store(store.url)
    assert again.db.schema_version() == SCHEMA_VERSION
    again.close()
    assert {p.code for p in store.plans()} == {"plus", "tollfree"}
    store.set_plan("plus", page_price_cents=7)
    a = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=1, now=T0)
    assert store.record_outbound(a, 3, T0) == 21


def test_sqlite_urls(tmp_path):
    from faxcore.accounts.db import sqlite_path

    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("plain.db") == "plain.db"
    with pytest.raises(ValueError, match="unsupported"):
        open_store("mysql://localhost/x")
    with pytest.raises(ValueError, match="synchronous"):
        open_store(f"sqlite:///{tmp_path}/a.db?journal=delete")
    s = open_store(f"sqlite:///{tmp_path}/b.db?synchronous=normal")
    assert s.db.one("PRAGMA journal_mode")[0] == "wal"
    assert s.db.one("PRAGMA synchronous")[0] == 1  # NORMAL
    s.close()
    s = open_store(f"sqlite:///{tmp_path}/c.db")
    assert s.db.one("PRAGMA synchronous")[0] == 2  # FULL by default
    s.close()


def test_active_since_and_inbound_result_truth(store):
    a = billed(store)
    store.post_payment(a, 600, "p", B + 4 * DAY)
    st = store.status(a, B + 5 * DAY)
    assert st.name == "active" and st.since == B + 4 * DAY and st.balance_cents == 0
    assert bool(store.record_inbound(a, 1, B + 5 * DAY))
    b = billed(store)
    assert not store.record_inbound(b, 1, B + 30 * DAY)


BAD_IDS = [None, "1", "abc", 1.0, True, [1], b"1"]
OUT_OF_RANGE_IDS = [0, -1, 2**63, 2**70]


def test_hostile_ids_amounts_and_text_give_clear_errors(store):
    """Bad ids, negative/huge/non-integer cents and pages, NUL in text: a clear TypeError /
    ValueError / UnknownAccount on both back ends (never a raw database error, never
    SQLite's silent coercion of "1" or True to account 1), and nothing is written."""
    from faxcore.accounts import JobError

    a = store.create_account(plan="plus", credit_limit_cents=10**6, billing_day=15, now=T0)
    calls = [
        lambda i: store.status(i, T0), lambda i: store.check_send(i, T0),
        lambda i: store.login_scope(i, T0), lambda i: store.balance_cents(i, T0),
        lambda i: store.record_outbound(i, 1, T0), lambda i: store.record_inbound(i, 1, T0),
        lambda i: store.post_payment(i, 100, f"ref-{i!r}", T0),
        lambda i: store.reactivate(i, T0, "op"), lambda i: store.submit_job(i, "+1555", 1, T0),
        lambda i: store.statement(i, T0), lambda i: store.account(i),
    ]
    for call in calls:
        for bad in BAD_IDS:
            with pytest.raises(TypeError):
                call(bad)
        for bad in OUT_OF_RANGE_IDS:
            with pytest.raises(UnknownAccount):
                call(bad)
    for bad in BAD_IDS:
        for call in (store.get_job, lambda j: store.cancel_job(j, T0)):
            with pytest.raises(TypeError):
                call(bad)
    for bad in OUT_OF_RANGE_IDS:
        with pytest.raises(JobError):
            store.get_job(bad)
    for cents in (-1, 0, -2**63, 2**63, 10**12 + 1, 1.5, "100", None, True):
        with pytest.raises((TypeError, ValueError)):
            store.post_payment(a, cents, f"c{cents!r}", T0)
        with pytest.raises((TypeError, ValueError)):
            store.record_outbound(a, cents, T0)
        with pytest.raises((TypeError, ValueError)):
            store.submit_job(a, "+1555", cents, T0)
        with pytest.raises((TypeError, ValueError)):
            store.create_account(plan="plus", credit_limit_cents=cents if cents != 0 else -5,
                                 billing_day=1, now=T0)
    for price in (-1, 1.5, "100", True, 2**63):
        with pytest.raises((TypeError, ValueError)):
            store.set_plan("plus", page_price_cents=price)
        with pytest.raises((TypeError, ValueError)):
            store.set_plan("plus", monthly_fee_cents=price)
    assert store.plan("plus").page_price_cents == PAGE  # unchanged
    with pytest.raises(ValueError):
        store.post_payment(a, 5, "nul\x00ref", T0)
    with pytest.raises(ValueError):
        store.reactivate(a, T0, "")
    j = store.submit_job(a, "+1555", 1, T0)
    store.claim_next_job(T0)
    for pages_sent in (-1, 1.5, True):
        with pytest.raises((TypeError, ValueError)):
            store.finish_job(j.id, T0, success=True, pages_sent=pages_sent)
    # nothing above was recorded
    assert store.balance_cents(a, T0 + DAY) == 0
    assert [e["kind"] for e in store.statement(a, T0 + DAY)["entries"]] == []
    assert store.list_accounts()[-1]["id"] == a
