"""The send-job queue in the database: submit, claim under a lease, the page journal,
finish an attempt by the retry policy, cancel, hold and release, expire.

Every method takes ``now`` (the scheduler's clock: tests move it) and runs in one write
transaction of the store's connection, so a state change, its attempt row, its journal
row and its ledger charge commit together. Claims are serialised (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: an advisory transaction lock) because the limits they check
(busy lines of a channel, calls to a destination) are counts over many rows: two
claimers must not both see a free line. Claims are short, so this costs little.

One log line per state change (``job 12: queued -> dialing (attempt 1 on loopback)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faxcore.accounts import Store
from faxcore.accounts.rules import from_us, to_us
from faxcore.server import model
from faxcore.server.model import (
    ACTIVE,
    CLAIMABLE,
    AttemptOutcome,
    DialResult,
    Limits,
    RetryPolicy,
    check_transition,
)

log = logging.getLogger("faxcore.server.jobs")

_PG_CLAIM_LOCK = 0x0FA7C1A1
DEFAULT_LEASE_SECONDS = 120.0


class QueueError(ValueError):
    """A job operation that is not possible (unknown job, wrong state)."""


class NotFound(QueueError, LookupError):
    pass


class LeaseLost(QueueError):
    """This worker no longer holds the job: stop the call, record nothing."""


class IdempotencyConflict(QueueError):
    """The Idempotency-Key was used before for a different request."""


@dataclass(frozen=True)
class FaxJob:
    id: int
    account_id: int
    idempotency_key: str | None
    destination: str
    channel: str
    state: str
    pages: int
    header: str
    ident: str
    document: str
    send_at: datetime | None
    kill_at: datetime
    next_attempt_at: datetime
    dials: int
    tries: int
    max_dials: int
    max_tries: int
    cancel_requested: bool
    lease_owner: str | None
    lease_expires_at: datetime | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    origin: str = "api"   # the way in: website, email, printer, api (ORIGINS)


ORIGINS = ("website", "email", "printer", "api")

_COLS = ("id, account_id, idempotency_key, destination, channel, state, pages, header, ident, "
         "document, send_at, kill_at, next_attempt_at, dials, tries, max_dials, max_tries, "
         "cancel_requested, lease_owner, lease_expires_at, reason, created_at, updated_at, "
         "origin")


def job_note(job_id: int) -> str:
    """The ledger note of a page charged for job ``job_id`` (the per-job usage's link)."""
    return f"fax job {job_id}"


def _t(v: int | None) -> datetime | None:
    return None if v is None else from_us(v)


def _job(row: Any) -> FaxJob:
    r = list(row)
    for i in (10, 11, 12, 19, 21, 22):
        r[i] = _t(r[i])
    r[17] = bool(r[17])
    return FaxJob(*r)


@dataclass(frozen=True)
class Attempt:
    id: int
    job_id: int
    n: int
    channel: str
    worker: str
    started_at: datetime
    ended_at: datetime | None
    result: str | None
    transport: str | None
    bit_rate: int | None
    modulation: str | None
    ecm: bool | None
    pages_confirmed: int
    t30_status: str | None
    hangup_cause: str | None
    duration_s: float | None


_ATT_COLS = ("id, job_id, n, channel, worker, started_at, ended_at, result, transport, "
             "bit_rate, modulation, ecm, pages_confirmed, t30_status, hangup_cause, duration_s")


def _attempt(row: Any) -> Attempt:
    r = list(row)
    r[5], r[6] = from_us(r[5]), _t(r[6])
    r[11] = None if r[11] is None else bool(r[11])
    return Attempt(*r)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one job for one attempt: what to dial and which pages to send."""

    job: FaxJob
    attempt_id: int
    attempt_n: int
    worker: str
    pages_to_send: list[int]  # 1-based page numbers not yet confirmed by the far end
    resumed: bool             # some pages were confirmed by an earlier attempt


#: A listener is told of every state change after its transaction committed:
#: ``listener(event, job, data)``; events: "state" (data: old, new, why), "page"
#: (data: page), "attempt" (data: the Attempt).
Listener = Callable[[str, FaxJob, Mapping[str, Any]], None]


class JobQueue:
    """The send jobs of one store (one connection: one per thread)."""

    def __init__(self, store: Store, *, policy: RetryPolicy | None = None,
                 limits: Limits | None = None, listeners: Iterable[Listener] = (),
                 tx_listeners: Iterable[Listener] = ()) -> None:
        self.store = store
        self.db = store.db
        self.policy = policy or RetryPolicy()
        self.limits = limits or Limits()
        self.listeners = list(listeners)
        self.tx_listeners = list(tx_listeners)
        self._pending: list[tuple[str, FaxJob, dict]] = []

    # ---- events ---------------------------------------------------------------------

    def _note(self, event: str, job: FaxJob, **data: Any) -> None:
        """An event, inside the transaction that causes it: ``tx_listeners`` run now, on
        this connection (what they write commits or rolls back with the change: the
        webhook outbox); ``listeners`` (logs, metrics) after the commit."""
        for fn in self.tx_listeners:
            fn(event, job, data)
        self._pending.append((event, job, data))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for event, job, data in pending:
            if event == "state":
                log.info("job %d: %s -> %s%s", job.id, data["old"], data["new"],
                         f" ({data['why']})" if data.get("why") else "")
            for fn in self.listeners:
                try:
                    fn(event, job, data)
                except Exception:  # a listener's bug must not undo a committed change
                    log.exception("job event listener failed")

    def _set_state(self, job_id: int, old: str, new: str, t: int, why: str = "",
                   **cols: Any) -> FaxJob:
        check_transition(old, new)
        sets = ", ".join(f"{c} = ?" for c in cols)
        self.db.execute(f"UPDATE fax_jobs SET state = ?, updated_at = ?{', ' if sets else ''}"
                        f"{sets} WHERE id = ?", (new, t, *cols.values(), job_id))
        job = self._get(job_id)
        self._note("state", job, old=old, new=new, why=why)
        return job

    # ---- reads ----------------------------------------------------------------------

    def _get(self, job_id: int) -> FaxJob:
        row = self.db.one(f"SELECT {_COLS} FROM fax_jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no fax {job_id}")
        return _job(row)

    def get(self, job_id: int, account_id: int | None = None) -> FaxJob:
        job = self._get(job_id)
        if account_id is not None and job.account_id != account_id:
            raise NotFound(f"no fax {job_id}")  # another account's job does not exist
        return job

    def list(self, account_id: int, limit: int = 100) -> list[FaxJob]:
        return [_job(r) for r in self.db.all(
            f"SELECT {_COLS} FROM fax_jobs WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit))]

    def attempts(self, job_id: int) -> list[Attempt]:
        return [_attempt(r) for r in self.db.all(
            f"SELECT {_ATT_COLS} FROM fax_attempts WHERE job_id = ? ORDER BY n", (job_id,))]

    def confirmed_pages(self, job_id: int) -> list[int]:
        return [int(r[0]) for r in self.db.all(
            "SELECT page FROM fax_pages WHERE job_id = ? ORDER BY page", (job_id,))]

    def count_by_state(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.all(
            "SELECT state, count(*) FROM fax_jobs GROUP BY state")}

    def busy_lines(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.all(
            "SELECT channel, count(*) FROM fax_jobs WHERE state IN (?, ?) GROUP BY channel",
            ACTIVE)}

    # ---- submit and cancel ----------------------------------------------------------

    def find_idempotent(self, account_id: int, key: str) -> FaxJob | None:
        row = self.db.one(f"SELECT {_COLS}, request_sha256 FROM fax_jobs WHERE account_id = ? "
                          "AND idempotency_key = ?", (account_id, key))
        return None if row is None else _job(row[:-1])

    def request_hash(self, job_id: int) -> str | None:
        row = self.db.one("SELECT request_sha256 FROM fax_jobs WHERE id = ?", (job_id,))
        return None if row is None else row[0]

    def submit(self, account_id: int, destination: str, *, channel: str, pages: int,
               document: str, now: datetime, header: str = "", ident: str = "",
               send_at: datetime | None = None, idempotency_key: str | None = None,
               request_sha256: str | None = None, origin: str = "api") -> tuple[FaxJob, bool]:
        """Insert a job (its document already on disk); returns (job, created). With an
        ``idempotency_key`` already used by this account: the existing job and False if
        the request is the same (``request_sha256``), else :class:`IdempotencyConflict`."""
        if origin not in ORIGINS:
            raise QueueError(f"origin must be one of {', '.join(ORIGINS)}, not {origin!r}")
        t = to_us(now)
        due = max(t, to_us(send_at)) if send_at is not None else t
        kill = due + round(self.policy.kill_after * 1e6)
        first = model.SCHEDULED if due > t else model.QUEUED
        try:
            with self.db.write():
                job_id = self.db.insert(
                    "INSERT INTO fax_jobs (account_id, idempotency_key, request_sha256, "
                    "destination, channel, state, pages, header, ident, document, send_at, "
                    "kill_at, next_attempt_at, max_dials, max_tries, created_at, updated_at, "
                    "origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (account_id, idempotency_key, request_sha256, destination, channel,
                     model.ACCEPTED, pages, header, ident, document,
                     None if send_at is None else to_us(send_at), kill, due,
                     self.policy.max_dials, self.policy.max_tries, t, t, origin))
                self._note("state", self._get(job_id), old="new", new=model.ACCEPTED,
                           why=f"{pages} page(s) to {destination}")
                why = f"send at {from_us(due):%Y-%m-%d %H:%M:%S} UTC" if first == \
                    model.SCHEDULED else ""
                job = self._set_state(job_id, model.ACCEPTED, first, t, why)
        except self.db.integrity_errors:
            self._pending.clear()
            if idempotency_key is None:
                raise
            existing = self.find_idempotent(account_id, idempotency_key)
            if existing is None:  # pragma: no cover - the constraint says it exists
                raise
            if self.request_hash(existing.id) != request_sha256:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was used for another request "
                    f"(fax {existing.id})") from None
            return existing, False
        self._flush()
        return job, True

    def cancel(self, job_id: int, account_id: int, now: datetime) -> FaxJob:
        t = to_us(now)
        with self.db.write():
            job = self.get(job_id, account_id)
            if job.state in model.FINAL:
                raise QueueError(f"fax {job_id} is {job.state}: it can no longer be canceled")
            if job.state in ACTIVE:
                # the worker sees the flag at its next page or heartbeat and ends the call
                self.db.execute("UPDATE fax_jobs SET cancel_requested = 1, updated_at = ? "
                                "WHERE id = ?", (t, job_id))
                job = self._get(job_id)
                log.info("job %d: cancel requested while %s", job_id, job.state)
            else:
                job = self._set_state(job_id, job.state, model.CANCELED, t, "canceled by the "
                                      "client", next_attempt_at=t)
        self._flush()
        return job

    # ---- the scheduler's side -------------------------------------------------------

    def maintain(self, now: datetime) -> None:
        """Expire jobs past their kill time, release held jobs whose account may send
        again, and take back claims whose lease expired (their worker died)."""
        t = to_us(now)
        with self.db.write():
            for row in self.db.all(
                    "SELECT id, state FROM fax_jobs WHERE state IN (?, ?, ?, ?) AND kill_at <= ?",
                    (*CLAIMABLE, model.HELD_BILLING, t)):
                self._set_state(row[0], row[1], model.EXPIRED, t, "kill time reached",
                                reason="kill time reached before the fax could be delivered")
            for row in self.db.all("SELECT id, account_id FROM fax_jobs WHERE state = ?",
                                   (model.HELD_BILLING,)):
                if self.store.check_send(row[1], now).allowed:
                    self._set_state(row[0], model.HELD_BILLING, model.QUEUED, t,
                                    "account may send again", next_attempt_at=t, reason=None)
            for row in self.db.all(
                    f"SELECT {_COLS} FROM fax_jobs WHERE state IN (?, ?) AND lease_expires_at <= ?",
                    (*ACTIVE, t)):
                job = _job(row)
                self._close_attempt_lost(job, t)
                self._after_attempt(job, DialResult.CHANNEL_ERROR, t,
                                    f"worker {job.lease_owner} stopped renewing its lease")
        self._flush()

    def _close_attempt_lost(self, job: FaxJob, t: int) -> None:
        self.db.execute(
            "UPDATE fax_attempts SET ended_at = ?, result = ?, hangup_cause = ? "
            "WHERE job_id = ? AND ended_at IS NULL",
            (t, DialResult.CHANNEL_ERROR.value, "worker lost (lease expired)", job.id))

    def claim(self, now: datetime, worker: str, capacity: Mapping[str, int], *,
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Claim | None:
        """Claim the next due job whose channel has a free line and whose destination is
        not already being called (``capacity``: lines per channel name); the account gate
        is checked on the way (refused: ``held_billing``)."""
        t = to_us(now)
        lease = round(lease_seconds * 1e6)
        with self.db.write():
            if self.db.dialect == "postgresql":
                self.db.execute("SELECT pg_advisory_xact_lock(?)", (_PG_CLAIM_LOCK,))
            busy = self.busy_lines()
            free = [c for c, n in capacity.items() if busy.get(c, 0) < n]
            if not free:
                return None
            marks = ", ".join("?" for _ in free)
            rows = self.db.all(
                f"SELECT {_COLS} FROM fax_jobs j WHERE state IN (?, ?, ?) "
                f"AND next_attempt_at <= ? AND channel IN ({marks}) "
                "AND (SELECT count(*) FROM fax_jobs b WHERE b.destination = j.destination "
                "AND b.state IN (?, ?)) < ? ORDER BY next_attempt_at, id LIMIT 20",
                (*CLAIMABLE, t, *free, *ACTIVE, self.limits.per_destination))
            claim = None
            for row in rows:
                job = _job(row)
                if job.kill_at <= now:
                    self._set_state(job.id, job.state, model.EXPIRED, t, "kill time reached",
                                    reason="kill time reached before the fax could be "
                                           "delivered")
                    continue
                decision = self.store.check_send(job.account_id, now)
                if not decision.allowed:
                    self._set_state(job.id, job.state, model.HELD_BILLING, t,
                                    "the account may not send", reason=decision.reason)
                    continue
                claim = self._claim(job, t, lease, worker)
                break
        self._flush()
        return claim

    def _claim(self, job: FaxJob, t: int, lease: int, worker: str) -> Claim:
        n = int(self.db.one("SELECT count(*) FROM fax_attempts WHERE job_id = ?",
                            (job.id,))[0]) + 1
        attempt_id = self.db.insert(
            "INSERT INTO fax_attempts (job_id, n, channel, worker, started_at) "
            "VALUES (?, ?, ?, ?, ?)", (job.id, n, job.channel, worker, t))
        job = self._set_state(job.id, job.state, model.DIALING, t,
                              f"attempt {n} on {job.channel}, dial {job.dials + 1}/"
                              f"{job.max_dials}",
                              dials=job.dials + 1, lease_owner=worker,
                              lease_expires_at=t + lease)
        done = set(self.confirmed_pages(job.id))
        todo = [p for p in range(1, job.pages + 1) if p not in done]
        return Claim(job, attempt_id, n, worker, todo, bool(done))

    def _held(self, claim: Claim, t: int) -> FaxJob:
        """The job's row, locked, if ``claim`` still holds it (else LeaseLost)."""
        row = self.db.one(f"SELECT {_COLS} FROM fax_jobs WHERE id = ? {{for_update}}",
                          (claim.job.id,))
        job = _job(row)
        if job.state not in ACTIVE or job.lease_owner != claim.worker:
            raise LeaseLost(f"job {job.id}: worker {claim.worker} lost its claim "
                            f"(the job is {job.state}, held by {job.lease_owner})")
        return job

    def heartbeat(self, claim: Claim, now: datetime, *,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Renew the lease; returns True when the client asked to cancel."""
        t = to_us(now)
        with self.db.write():
            job = self._held(claim, t)
            self._renew(job, t, lease_seconds)
        return job.cancel_requested

    def _renew(self, job: FaxJob, t: int, lease_seconds: float) -> None:
        """Extend the lease (never shorten it), in the caller's transaction."""
        old = to_us(job.lease_expires_at) if job.lease_expires_at is not None else 0
        self.db.execute("UPDATE fax_jobs SET lease_expires_at = ? WHERE id = ?",
                        (max(t + round(lease_seconds * 1e6), old), job.id))

    def cancel_requested(self, job_id: int) -> bool:
        """A read (no transaction): did the client ask to cancel this job?"""
        row = self.db.one("SELECT cancel_requested FROM fax_jobs WHERE id = ?", (job_id,))
        return bool(row and row[0])

    def answered(self, claim: Claim, now: datetime, *,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """The far end answered: ``transmitting``, the lease renewed; returns True when
        the client asked to cancel."""
        t = to_us(now)
        with self.db.write():
            job = self._held(claim, t)
            self._renew(job, t, lease_seconds)
            if job.state == model.DIALING:
                self._set_state(job.id, model.DIALING, model.TRANSMITTING, t,
                                "the far end answered")
        self._flush()
        return job.cancel_requested

    def page_confirmed(self, claim: Claim, page: int, now: datetime, *,
                       lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Journal page ``page`` (1-based) as confirmed by the far end (MCF), charge it and
        renew the lease, in one transaction; returns True when the client asked to
        cancel. A page journaled before is not charged again (a duplicate cannot happen
        with one lease holder, but the primary key makes sure)."""
        t = to_us(now)
        with self.db.write():
            job = self._held(claim, t)
            self._renew(job, t, lease_seconds)
            if self.db.one("SELECT 1 FROM fax_pages WHERE job_id = ? AND page = ?",
                           (job.id, page)) is None:
                self.db.execute("INSERT INTO fax_pages (job_id, page, attempt_id, "
                                "confirmed_at) VALUES (?, ?, ?, ?)",
                                (job.id, page, claim.attempt_id, t))
                self.db.execute("UPDATE fax_attempts SET pages_confirmed = pages_confirmed + 1 "
                                "WHERE id = ?", (claim.attempt_id,))
                self.store.record_outbound(job.account_id, 1, now, note=job_note(job.id))
                self._note("page", job, page=page)
        self._flush()
        return job.cancel_requested

    def finish(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> FaxJob:
        """Record the attempt and move the job on by the retry policy."""
        t = to_us(now)
        with self.db.write():
            job = self._held(claim, t)
            self.db.execute(
                "UPDATE fax_attempts SET ended_at = ?, result = ?, transport = ?, bit_rate = ?, "
                "modulation = ?, ecm = ?, t30_status = ?, hangup_cause = ?, duration_s = ? "
                "WHERE id = ?",
                (t, outcome.result.value, outcome.transport, outcome.bit_rate,
                 outcome.modulation, int(outcome.ecm), outcome.t30_status,
                 outcome.hangup_cause, outcome.duration_s, claim.attempt_id))
            attempt = _attempt(self.db.one(f"SELECT {_ATT_COLS} FROM fax_attempts WHERE id = ?",
                                           (claim.attempt_id,)))
            self._note("attempt", job, attempt=attempt)
            missing = job.pages - len(self.confirmed_pages(job.id))
            result = outcome.result
            if result is DialResult.DELIVERED and missing:
                # the channel said delivered but the journal lacks pages: not delivered
                result = DialResult.PROTOCOL_ERROR
            job = self._after_attempt(job, result, t, outcome.hangup_cause or result.value,
                                      missing=missing)
        self._flush()
        return job

    def _after_attempt(self, job: FaxJob, result: DialResult, t: int, why: str, *,
                       missing: int | None = None) -> FaxJob:
        """The job's next state after an attempt (inside a write transaction)."""
        if missing is None:
            missing = job.pages - len(self.confirmed_pages(job.id))
        clear = {"lease_owner": job.lease_owner, "lease_expires_at": None}
        if missing == 0:
            return self._set_state(job.id, job.state, model.DELIVERED, t,
                                   f"{job.pages} page(s) confirmed", reason=None, **clear)
        if job.cancel_requested:
            return self._set_state(job.id, job.state, model.CANCELED, t,
                                   "canceled by the client during the call",
                                   reason=f"canceled: {job.pages - missing} of {job.pages} "
                                          "page(s) were delivered", **clear)
        tries = job.tries + (1 if self.policy.counts_try(result) else 0)
        if tries >= job.max_tries or job.dials >= job.max_dials:
            limit = (f"{tries} tries (max {job.max_tries})" if tries >= job.max_tries
                     else f"{job.dials} dials (max {job.max_dials})")
            return self._set_state(job.id, job.state, model.FAILED, t, f"{why}; {limit}",
                                   tries=tries, reason=f"{why}; gave up after {limit}; "
                                   f"{job.pages - missing} of {job.pages} page(s) delivered",
                                   **clear)
        due = t + round(self.policy.delay(result) * 1e6)
        if due >= to_us(job.kill_at):
            return self._set_state(job.id, job.state, model.EXPIRED, t,
                                   f"{why}; next try would pass the kill time", tries=tries,
                                   reason=f"{why}; the kill time came before another try",
                                   **clear)
        return self._set_state(job.id, job.state, model.RETRY_WAIT, t,
                               f"{why}; retry at {from_us(due):%H:%M:%S}", tries=tries,
                               next_attempt_at=due, reason=why, **clear)


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)
