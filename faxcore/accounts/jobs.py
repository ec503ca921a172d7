"""The job store: send jobs and received faxes, guarded by the account gate.

Send job states::

    queued --claim--> sending --finish ok--> done
       |                 '----finish failed--> queued (attempts left) | failed
       +--cancel--> cancelled
       '--gate refuses (at submit or at claim)--> refused   (never dialled)

Received faxes: ``received``; ``held`` while the account is suspended or closed
(released, i.e. turned into ``received``, the first time they are listed while the
account is active); ``refused`` for a terminated account (the call is not answered).

The gate is checked when a job is submitted *and* again when a scheduler claims it,
so a job queued before the account was suspended is never dialled: it becomes
``refused`` with the gate's reason. A job's ``channel`` records where it came from:
``website``, ``email``, ``printer`` (the printer driver) or ``api``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from faxcore.accounts.rules import PAGE_CHARGE, from_us, to_us

if TYPE_CHECKING:
    from faxcore.accounts.db import Database

SEND_CHANNELS = ("website", "email", "printer", "api")
SEND_STATES = ("queued", "sending", "done", "failed", "cancelled", "refused")
RECEIVE_STATES = ("received", "held", "refused")


class JobError(ValueError):
    """A job operation that is not possible (unknown job, wrong state)."""


def _job_id(value: Any) -> int:
    """A job id as given by a caller: a positive int; no silent coercion, no raw DB error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"job id must be an integer, got {type(value).__name__}")
    if not 1 <= value <= 2**63 - 1:
        raise JobError(f"no job {value!r}")
    return value


@dataclass(frozen=True)
class Job:
    id: int
    account_id: int
    direction: str  # "send" or "receive"
    channel: str
    remote: str | None  # destination number (send) or caller id (receive)
    pages: int
    duration_s: float | None
    state: str
    attempts: int
    max_attempts: int
    result: str | None
    reason: str | None
    document: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items()}


_JOB_COLS = ("id, account_id, direction, channel, remote, pages, duration_s, state, attempts, "
             "max_attempts, result, reason, document, created_at, updated_at")


def _job(row: Any) -> Job:
    r = list(row)
    r[13] = from_us(r[13])
    r[14] = from_us(r[14])
    return Job(*r)


class JobStoreMixin:
    """Job methods of :class:`faxcore.accounts.store.Store`."""

    db: Database

    if TYPE_CHECKING:  # provided by Store
        def check_send(self, account_id: int, now: datetime) -> Any: ...
        def status(self, account_id: int, now: datetime) -> Any: ...
        def _event(self, account_id: int, t: int, kind: str, amount: int, **kw: Any) -> int: ...
        def _row(self, account_id: int, lock: bool = False) -> Any: ...

    def _insert_job(self, account_id: int, direction: str, channel: str, remote: str | None,
                    pages: int, state: str, t: int, *, reason: str | None = None,
                    duration_s: float | None = None, document: str | None = None,
                    max_attempts: int = 3) -> int:
        return self.db.insert(
            "INSERT INTO jobs (account_id, direction, channel, remote, pages, duration_s, state, "
            "max_attempts, reason, document, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, direction, channel, remote, pages, duration_s, state, max_attempts,
             reason, document, t, t))

    def submit_job(self, account_id: int, destination: str, pages: int, now: datetime, *,
                   channel: str = "website", document: str | None = None,
                   max_attempts: int = 3) -> Job:
        """Queue a send job, or record it as refused (with the gate's reason) if not allowed."""
        if channel not in SEND_CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(SEND_CHANNELS)}, got {channel!r}")
        if not isinstance(destination, str) or not destination.strip():
            raise ValueError("a send job needs a destination number")
        if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= 100_000:
            raise ValueError(f"pages must be a positive integer, got {pages!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) \
                or not 1 <= max_attempts <= 1000:
            raise ValueError("max_attempts must be >= 1")
        t = to_us(now)
        decision = self.check_send(account_id, now)
        state = "queued" if decision.allowed else "refused"
        reason = None if decision.allowed else decision.reason
        with self.db.write():
            job_id = self._insert_job(account_id, "send", channel, destination, pages, state, t,
                                      reason=reason, document=document,
                                      max_attempts=max_attempts)
        return self.get_job(job_id)

    def get_job(self, job_id: int) -> Job:
        job_id = _job_id(job_id)
        row = self.db.one(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise JobError(f"no job {job_id!r}")
        return _job(row)

    def list_jobs(self, account_id: int | None = None, *, direction: str | None = None,
                  state: str | None = None, limit: int = 1000) -> list[Job]:
        sql = f"SELECT {_JOB_COLS} FROM jobs WHERE 1 = 1"
        params: list[Any] = []
        if account_id is not None:
            sql += " AND account_id = ?"
            params.append(account_id)
        if direction is not None:
            sql += " AND direction = ?"
            params.append(direction)
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        sql += " ORDER BY id LIMIT ?"
        params.append(int(limit))
        return [_job(r) for r in self.db.all(sql, params)]

    def count_jobs(self, account_id: int | None = None, state: str | None = None) -> int:
        sql = "SELECT count(*) FROM jobs WHERE 1 = 1"
        params: list[Any] = []
        if account_id is not None:
            sql += " AND account_id = ?"
            params.append(account_id)
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        return int(self.db.one(sql, params)[0])

    def cancel_job(self, job_id: int, now: datetime) -> Job:
        """Cancel a queued send job (one being sent or finished cannot be cancelled)."""
        job_id = _job_id(job_id)
        t = to_us(now)
        with self.db.write():
            row = self.db.one("SELECT state, direction FROM jobs WHERE id = ? {for_update}",
                              (job_id,))
            if row is None:
                raise JobError(f"no job {job_id!r}")
            if row[1] != "send" or row[0] != "queued":
                raise JobError(f"job {job_id} is {row[0]}: only queued send jobs can be cancelled")
            self.db.execute("UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE id = ?",
                            (t, job_id))
        return self.get_job(job_id)

    def claim_next_job(self, now: datetime) -> Job | None:
        """For schedulers: take the oldest queued send job whose account may send now.

        Jobs of accounts that may no longer send are marked ``refused`` on the way.
        Safe with several schedulers (PostgreSQL: ``FOR UPDATE SKIP LOCKED``).
        """
        t = to_us(now)
        while True:
            with self.db.write():
                row = self.db.one("SELECT id, account_id FROM jobs WHERE state = 'queued' "
                                  "AND direction = 'send' ORDER BY id LIMIT 1 {skip_locked}")
                if row is None:
                    return None
                job_id, account_id = row
                decision = self.check_send(account_id, now)
                if decision.allowed:
                    self.db.execute("UPDATE jobs SET state = 'sending', attempts = attempts + 1, "
                                    "updated_at = ? WHERE id = ?", (t, job_id))
                    break
                self.db.execute("UPDATE jobs SET state = 'refused', reason = ?, updated_at = ? "
                                "WHERE id = ?", (decision.reason, t, job_id))
        return self.get_job(job_id)

    def finish_job(self, job_id: int, now: datetime, *, success: bool, pages_sent: int = 0,
                   result: str = "", duration_s: float | None = None) -> Job:
        """Record the result of a call; a success charges the pages sent."""
        job_id = _job_id(job_id)
        if isinstance(pages_sent, bool) or not isinstance(pages_sent, int) \
                or not 0 <= pages_sent <= 100_000:
            raise ValueError(f"pages_sent must be an integer 0..100000, got {pages_sent!r}")
        t = to_us(now)
        with self.db.write():
            row = self.db.one("SELECT state, account_id, attempts, max_attempts FROM jobs "
                              "WHERE id = ? {for_update}", (job_id,))
            if row is None:
                raise JobError(f"no job {job_id!r}")
            state, account_id, attempts, max_attempts = row
            if state != "sending":
                raise JobError(f"job {job_id} is {state}, not sending")
            if success:
                new_state = "done"
                if pages_sent > 0:
                    price = self.db.one("SELECT p.page_price_cents FROM accounts a JOIN plans p "
                                        "ON p.code = a.plan WHERE a.id = ?", (account_id,))[0]
                    self._event(account_id, t, PAGE_CHARGE, pages_sent * int(price),
                                pages=pages_sent, note=f"job {job_id}")
            else:
                new_state = "queued" if attempts < max_attempts else "failed"
            self.db.execute("UPDATE jobs SET state = ?, result = ?, duration_s = ?, "
                            "updated_at = ? WHERE id = ?",
                            (new_state, result, duration_s, t, job_id))
        return self.get_job(job_id)

    def received_faxes(self, account_id: int, now: datetime) -> list[Job]:
        """Received faxes the client may see now; held ones are released once active."""
        t = to_us(now)
        if self.status(account_id, now).name == "active":
            with self.db.write():
                self.db.execute("UPDATE jobs SET state = 'received', updated_at = ? "
                                "WHERE account_id = ? AND direction = 'receive' "
                                "AND state = 'held'", (t, account_id))
        return [j for j in self.list_jobs(account_id, direction="receive")
                if j.state == "received"]
