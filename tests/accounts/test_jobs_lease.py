"""Claim leases: owner and expiry on the row, heartbeats, recovery of expired claims,
only the lease holder may finish, poison jobs end ``failed``, the schema upgrade recovers
claims left in ``sending`` before leases existed; on SQLite and PostgreSQL.

Times are explicit (``now``), so expiry is exact and nothing here sleeps."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from faxcore.accounts import JobError, LeaseLost, open_store
from faxcore.cli import main

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
PAGE = 10  # plan "plus", cents


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lease.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(url):
    s = open_store(url)
    yield s
    s.close()


def account(store, limit=10**9):
    return store.create_account(plan="plus", credit_limit_cents=limit, billing_day=1, now=T0)


def charges(store, job_id):
    """The page-charge ledger rows of one job (the proof it was finished, and how often)."""
    return store.db.all("SELECT amount_cents, pages FROM ledger WHERE kind = 'page_charge' "
                        "AND note = ?", (f"job {job_id}",))


def test_claim_records_owner_expiry_and_attempt(store):
    a = account(store)
    j = store.submit_job(a, "+15550001", 2, T0)
    assert (j.lease_owner, j.lease_expires_at, j.leases_lost) == (None, None, 0)
    c = store.claim_next_job(T0 + S, worker="w1", lease_seconds=30)
    assert (c.id, c.state, c.attempts, c.lease_owner) == (j.id, "sending", 1, "w1")
    assert c.lease_expires_at == T0 + 31 * S
    # stored, not only returned
    row = store.db.one("SELECT lease_owner, lease_expires_at, attempts FROM jobs WHERE id = ?",
                       (j.id,))
    assert row[0] == "w1" and row[2] == 1
    # a live lease is not claimable, up to the last microsecond
    assert store.claim_next_job(T0 + 31 * S - timedelta(microseconds=1), worker="w2") is None


def test_expired_lease_is_recovered_logged_and_counted(store, caplog):
    a = account(store)
    j = store.submit_job(a, "+15550002", 3, T0)
    store.claim_next_job(T0, worker="killed", lease_seconds=60)
    queued = store.submit_job(a, "+15550003", 1, T0 + S)
    with caplog.at_level(logging.WARNING, logger="faxcore.accounts.jobs"):
        c = store.claim_next_job(T0 + 60 * S, worker="w2", lease_seconds=60)
    # the expired claim is taken back before the queued job
    assert (c.id, c.state, c.attempts, c.leases_lost, c.lease_owner) == \
        (j.id, "sending", 2, 1, "w2")
    assert c.lease_expires_at == T0 + 120 * S
    msgs = [r.getMessage() for r in caplog.records]
    assert any(f"job {j.id}: lease of worker killed expired" in m for m in msgs), msgs
    assert store.claim_next_job(T0 + 60 * S, worker="w3").id == queued.id
    d = store.finish_job(j.id, T0 + 61 * S, success=True, pages_sent=3, result="MCF",
                         worker="w2")
    assert (d.state, d.attempts, d.leases_lost, d.lease_owner, d.lease_expires_at) == \
        ("done", 2, 1, "w2", None)
    assert charges(store, j.id) == [(3 * PAGE, 3)]


def test_heartbeat_extends_and_fails_once_the_lease_is_taken(store):
    a = account(store)
    j = store.submit_job(a, "+15550004", 1, T0)
    store.claim_next_job(T0, worker="w1", lease_seconds=10)
    h = store.heartbeat(j.id, "w1", T0 + 8 * S, lease_seconds=10)
    assert h.lease_expires_at == T0 + 18 * S and h.lease_owner == "w1"
    # the extension is real: not claimable at the old expiry
    assert store.claim_next_job(T0 + 12 * S, worker="w2") is None
    # late but not taken: the heartbeat still renews it
    assert store.heartbeat(j.id, "w1", T0 + 20 * S, lease_seconds=10).lease_expires_at == \
        T0 + 30 * S
    # a heartbeat never shortens the lease
    assert store.heartbeat(j.id, "w1", T0 + 21 * S, lease_seconds=1).lease_expires_at == \
        T0 + 30 * S
    with pytest.raises(LeaseLost, match="leased to w1"):
        store.heartbeat(j.id, "w2", T0 + 21 * S)  # never held it
    assert store.claim_next_job(T0 + 30 * S, worker="w2", lease_seconds=10).lease_owner == "w2"
    with pytest.raises(LeaseLost, match=rf"job {j.id}: lease lost: worker w1 .* leased to w2"):
        store.heartbeat(j.id, "w1", T0 + 31 * S)
    assert store.get_job(j.id).lease_expires_at == T0 + 40 * S  # untouched by the loser


def test_finish_by_a_worker_whose_lease_was_taken_records_nothing(store):
    a = account(store)
    j = store.submit_job(a, "+15550005", 4, T0)
    store.claim_next_job(T0, worker="slow", lease_seconds=5)
    store.claim_next_job(T0 + 5 * S, worker="fast", lease_seconds=5)
    with pytest.raises(LeaseLost):
        store.finish_job(j.id, T0 + 6 * S, success=True, pages_sent=4, worker="slow")
    with pytest.raises(LeaseLost):
        store.finish_job(j.id, T0 + 6 * S, success=False, worker="slow")
    k = store.get_job(j.id)
    assert (k.state, k.lease_owner, k.attempts) == ("sending", "fast", 2)
    assert charges(store, j.id) == [] and store.balance_cents(a, T0 + 7 * S) == 0
    done = store.finish_job(j.id, T0 + 7 * S, success=True, pages_sent=4, worker="fast")
    assert done.state == "done" and charges(store, j.id) == [(4 * PAGE, 4)]
    # the slow worker still cannot touch it, and finishing twice is refused
    with pytest.raises(LeaseLost):
        store.finish_job(j.id, T0 + 8 * S, success=True, pages_sent=4, worker="slow")
    with pytest.raises(JobError, match="is done, not sending"):
        store.finish_job(j.id, T0 + 8 * S, success=True, pages_sent=4, worker="fast")
    assert charges(store, j.id) == [(4 * PAGE, 4)]


def test_claim_returns_its_own_claim_even_if_taken_right_after_commit(url, store):
    """A worker stopped between its claim's commit and reading the row back must get the
    claim it made (attempt 1, its lease), not the job as a later claim left it: found by
    the crash test on PostgreSQL (two workers logged the same attempt)."""
    a = account(store)
    j = store.submit_job(a, "+15550015", 1, T0)
    other = open_store(url)
    fired = []
    read = store.get_job

    def get_job_after_a_pause(job_id):
        if not fired and not store.db.in_transaction:  # the claim has committed: another worker
            fired.append(other.claim_next_job(T0 + 5 * S, worker="w2"))  # takes it back
        return read(job_id)

    store.get_job = get_job_after_a_pause
    try:
        c = store.claim_next_job(T0, worker="w1", lease_seconds=5)
    finally:
        del store.get_job
        other.close()
    assert (c.id, c.attempts, c.lease_owner, c.lease_expires_at) == (j.id, 1, "w1", T0 + 5 * S)


def test_late_finish_of_an_untaken_expired_lease_is_recorded(store):
    a = account(store)
    j = store.submit_job(a, "+15550006", 1, T0)
    store.claim_next_job(T0, worker="w1", lease_seconds=5)
    d = store.finish_job(j.id, T0 + 60 * S, success=True, pages_sent=1, worker="w1")
    assert d.state == "done" and charges(store, j.id) == [(PAGE, 1)]


def test_default_worker_is_the_store(url, store):
    a = account(store)
    j = store.submit_job(a, "+15550007", 1, T0)
    c = store.claim_next_job(T0)
    assert c.lease_owner == store.worker_id and str(__import__("os").getpid()) in c.lease_owner
    other = open_store(url)
    try:
        assert other.worker_id != store.worker_id
        with pytest.raises(LeaseLost):
            other.finish_job(j.id, T0 + S, success=True, pages_sent=1)
        with pytest.raises(LeaseLost):
            other.heartbeat(j.id, None, T0 + S)
    finally:
        other.close()
    assert store.finish_job(j.id, T0 + S, success=True, pages_sent=1).state == "done"


def test_poison_job_fails_after_max_attempts_lost_claims(store, caplog):
    a = account(store)
    j = store.submit_job(a, "+15550008", 1, T0, max_attempts=3)
    t = T0
    for n in range(1, 4):  # every worker that takes it dies: the lease just expires
        c = store.claim_next_job(t, worker=f"w{n}", lease_seconds=10)
        assert (c.id, c.attempts, c.leases_lost) == (j.id, n, n - 1)
        t += 10 * S
    with caplog.at_level(logging.WARNING, logger="faxcore.accounts.jobs"):
        assert store.claim_next_job(t, worker="w4") is None
    f = store.get_job(j.id)
    assert (f.state, f.attempts, f.leases_lost, f.lease_owner, f.lease_expires_at) == \
        ("failed", 3, 3, None, None)
    assert "attempt 3/3 lost: worker w3 stopped renewing its lease" in f.reason
    assert "3 of 3 claims" in f.reason
    assert any(r.levelno == logging.ERROR and f"job {j.id} failed" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(LeaseLost):
        store.finish_job(j.id, t, success=True, pages_sent=1, worker="w3")
    assert charges(store, j.id) == []


def test_lost_claims_and_failed_calls_share_the_attempt_bound(store):
    a = account(store)
    j = store.submit_job(a, "+15550009", 1, T0, max_attempts=2)
    store.claim_next_job(T0, worker="w1", lease_seconds=10)
    store.claim_next_job(T0 + 10 * S, worker="w2", lease_seconds=10)  # attempt 2 (recovered)
    f = store.finish_job(j.id, T0 + 11 * S, success=False, result="no answer", worker="w2")
    assert (f.state, f.attempts, f.leases_lost) == ("failed", 2, 1)


def test_recovered_job_of_a_suspended_account_is_refused(store):
    a = account(store, limit=100)
    j = store.submit_job(a, "+15550010", 1, T0)
    store.claim_next_job(T0, worker="w1", lease_seconds=10)
    store.record_outbound(a, 10, T0 + S)  # reaches the credit limit while the call "runs"
    assert store.claim_next_job(T0 + 10 * S, worker="w2") is None
    r = store.get_job(j.id)
    assert (r.state, r.attempts, r.leases_lost, r.lease_owner) == ("refused", 1, 1, None)
    assert "suspended" in r.reason


def test_bad_lease_arguments_are_rejected(store):
    a = account(store)
    j = store.submit_job(a, "+15550011", 1, T0)
    for bad in (0, -1, float("nan"), float("inf"), True, "60", 10**9):
        with pytest.raises((TypeError, ValueError)):
            store.claim_next_job(T0, worker="w1", lease_seconds=bad)
    for bad in ("", "   ", "x" * 201, 7):
        with pytest.raises((TypeError, ValueError)):
            store.claim_next_job(T0, worker=bad)
    assert store.get_job(j.id).state == "queued"  # nothing was claimed
    store.claim_next_job(T0, worker="w1")
    with pytest.raises((TypeError, ValueError)):
        store.heartbeat(j.id, "w1", T0, lease_seconds=0)
    with pytest.raises(JobError, match="no job 999"):
        store.heartbeat(999, "w1", T0)


def insert_v1_job(store, account_id: int, remote: str, pages: int, state: str, t: int) -> int:
    """A send job row as the version-1 code wrote it (plain SQL: no public call makes a
    job in 'sending' without claiming it)."""
    return store.db.insert(
        "INSERT INTO jobs (account_id, direction, channel, remote, pages, state, "
        "created_at, updated_at) VALUES (?, 'send', 'api', ?, ?, ?, ?, ?)",
        (account_id, remote, pages, state, t, t))


def test_upgrade_recovers_jobs_stuck_in_sending(url, monkeypatch, caplog):
    """A database written before leases existed, with a job a killed worker left in
    'sending': after the upgrade the next claim takes it back."""
    import faxcore.accounts.db as db

    with monkeypatch.context() as m:
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:1])
        old = open_store(url)
        a = account(old)
        t = int(T0.timestamp() * 1_000_000)
        with old.db.write():  # rows as the version-1 code wrote them
            stuck = insert_v1_job(old, a, "+15550012", 2, "sending", t)
            waiting = insert_v1_job(old, a, "+15550013", 1, "queued", t)
            old.db.execute("UPDATE jobs SET attempts = 1 WHERE id = ?", (stuck,))
        assert old.db.schema_version() == 1
        old.close()
    store = open_store(url)
    try:
        assert store.db.schema_version() == db.SCHEMA_VERSION
        with caplog.at_level(logging.WARNING, logger="faxcore.accounts.jobs"):
            c = store.claim_next_job(T0 + S)
        assert (c.id, c.attempts, c.leases_lost) == (stuck, 2, 1)
        assert any("claimed before leases" in r.getMessage() for r in caplog.records)
        assert store.claim_next_job(T0 + S).id == waiting
        assert store.claim_next_job(T0 + S) is None
    finally:
        store.close()


def cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_shows_the_lease(capsys, url):
    store = open_store(url)
    a = account(store)
    j = store.submit_job(a, "+15550014", 1, T0)
    store.claim_next_job(T0, worker="host-a:42", lease_seconds=90)
    store.close()
    code, out, _ = cli(capsys, "jobs", "show", str(j.id), "--db", url, "--now",
                       "2026-05-04T09:01:00")
    assert code == 0
    assert "  lease: host-a:42 until 2026-05-04 09:01:30 UTC\n" in out
    code, out, _ = cli(capsys, "jobs", "list", "--db", url, "--now", "2026-05-04T09:02:00")
    assert code == 0 and "host-a:42 until 2026-05-04 09:01:30 UTC EXPIRED" in out
    code, out, _ = cli(capsys, "jobs", "show", str(j.id), "--db", url, "--json")
    shown = json.loads(out)
    assert (shown["lease_owner"], shown["lease_expires_at"], shown["leases_lost"]) == \
        ("host-a:42", "2026-05-04T09:01:30+00:00", 0)
    code, out, _ = cli(capsys, "jobs", "submit", str(a), "--to", "+1555", "--pages", "1",
                       "--max-attempts", "5", "--db", url, "--json")
    assert code == 0 and json.loads(out)["max_attempts"] == 5
    # a lost claim shows up once the job is taken back
    store = open_store(url)
    store.claim_next_job(T0 + 90 * S, worker="host-b:7")
    store.close()
    code, out, _ = cli(capsys, "jobs", "show", str(j.id), "--db", url, "--now",
                       "2026-05-04T09:01:31")
    assert "lease: host-b:7 until" in out and "lost claims: 1" in out
