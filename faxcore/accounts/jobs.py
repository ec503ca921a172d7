"""The job store: send jobs and received faxes, guarded by the account gate.

Send job states::

    queued --claim--> sending --finish ok--> done
       |                 |'----finish failed--> queued (attempts left) | failed
       |                 '----lease expired, next claim--> sending (recovered, new owner)
       |                                            | failed (attempts exhausted)
       +--cancel--> cancelled
       '--gate refuses (at submit or at claim)--> refused   (never dialled)

Received faxes: ``received``; ``held`` while the account is suspended or closed
(released, i.e. turned into ``received``, the first time they are listed while the
account is active); ``refused`` for a terminated account (the call is not answered).

The gate is checked when a job is submitted *and* again when a scheduler claims it,
so a job queued before the account was suspended is never dialled: it becomes
``refused`` with the gate's reason. A job's ``channel`` records where it came from:
``website``, ``email``, ``printer`` (the printer driver) or ``api``.

Leases. A claim belongs to a *worker* (a name unique among live workers; default: one
per :class:`Store` object, ``host:pid:random``) for ``lease_seconds``
(:data:`DEFAULT_LEASE_SECONDS`): the job row records ``lease_owner`` and
``lease_expires_at``, and ``attempts`` counts claims. The worker renews the lease with
:meth:`JobStoreMixin.heartbeat` while the call lasts and ends it with ``finish_job``.
A job whose lease expired (its worker was killed, hung, or lost the database) is
claimable again: the next ``claim_next_job`` takes it back before any queued job,
logs a warning and counts it in ``leases_lost``. So a lost claim costs one attempt;
once ``attempts`` reached ``max_attempts``, a lost claim makes the job ``failed`` with
a reason instead: a job that kills every worker that takes it (a poison job) stops
after ``max_attempts`` claims.

Only the lease holder may renew or finish a claim: a worker whose lease expired *and
was taken by another claim* gets :class:`LeaseLost` from ``heartbeat`` and
``finish_job``, and nothing it reports is recorded (no state change, no charge). A
late worker whose lease expired but was not taken yet may still renew or finish it.
Expiry is judged with the ``now`` the callers pass: workers' clocks must agree to
well within a lease (NTP), and a lease must be longer than the longest gap between
heartbeats. A recovered claim may follow a call that did reach the far end (the worker
died after sending pages): the fax may then be sent twice.

Claiming is one write transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL (concurrent claimers skip each other's rows instead of waiting), ``BEGIN
IMMEDIATE`` on SQLite (claims are serialised by the database write lock).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from faxcore.accounts.rules import PAGE_CHARGE, from_us, to_us

if TYPE_CHECKING:
    from faxcore.accounts.db import Database

log = logging.getLogger(__name__)

SEND_CHANNELS = ("website", "email", "printer", "api")
SEND_STATES = ("queued", "sending", "done", "failed", "cancelled", "refused")
RECEIVE_STATES = ("received", "held", "refused")
FINAL_SEND_STATES = ("done", "failed", "cancelled", "refused")

#: Lease of a claim when the caller gives none: long enough for a long fax between two
#: heartbeats, short enough that a killed worker's job is resent within minutes.
DEFAULT_LEASE_SECONDS = 300.0
MAX_LEASE_SECONDS = 7 * 86400.0
DEFAULT_MAX_ATTEMPTS = 3
_MAX_WORKER_LEN = 200


class JobError(ValueError):
    """A job operation that is not possible (unknown job, wrong state)."""


class LeaseLost(JobError):
    """The caller does not hold the job's lease (it expired and another claim took the
    job, or the job was never claimed by this worker): the result is not recorded; stop
    working on the job."""


#: Destination numbers: an optional ``+`` then digits, 2 to 15 of them (E.164's longest
#: international number has 15); spaces, dashes, dots and parentheses between them are
#: accepted and dropped: ``+1 (555) 010-0199`` is stored as ``+15550100199``.
MIN_NUMBER_DIGITS = 2
MAX_NUMBER_DIGITS = 15
_NUMBER_SEPARATORS = str.maketrans("", "", " -.()")


def normalize_number(number: Any) -> str:
    """A destination fax number as stored: see :data:`MAX_NUMBER_DIGITS`. Raises
    ``ValueError`` (``TypeError`` for a non-string) saying what is allowed."""
    if not isinstance(number, str):
        raise TypeError(f"a fax number must be a string, got {type(number).__name__}")
    text = number.strip()
    plus = text.startswith("+")
    digits = (text[1:] if plus else text).translate(_NUMBER_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()
            and MIN_NUMBER_DIGITS <= len(digits) <= MAX_NUMBER_DIGITS):
        raise ValueError(f"bad fax number {number!r}: use digits, {MIN_NUMBER_DIGITS} to "
                         f"{MAX_NUMBER_DIGITS} of them, with an optional leading + "
                         "(spaces, dashes, dots and parentheses are dropped)")
    return "+" * plus + digits


def _where(**equal: Any) -> tuple[str, list[Any]]:
    """A WHERE condition ``col = ?`` for each keyword that is not None (column names come
    from the code, never from input), and its parameters; ``1 = 1`` when all are None."""
    cols = [c for c, v in equal.items() if v is not None]
    return " AND ".join([f"{c} = ?" for c in cols]) or "1 = 1", [equal[c] for c in cols]


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
    lease_owner: str | None  # worker holding (state sending) or that last held the claim
    lease_expires_at: datetime | None  # set while sending
    leases_lost: int  # claims of this job that expired and were taken back

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items()}


_JOB_COLS = ("id, account_id, direction, channel, remote, pages, duration_s, state, attempts, "
             "max_attempts, result, reason, document, created_at, updated_at, lease_owner, "
             "lease_expires_at, leases_lost")


def _job(row: Any) -> Job:
    r = list(row)
    r[13] = from_us(r[13])
    r[14] = from_us(r[14])
    if r[16] is not None:
        r[16] = from_us(r[16])
    return Job(*r)


def _lease_us(lease_seconds: Any) -> int:
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)) \
            or not math.isfinite(lease_seconds) or not 0 < lease_seconds <= MAX_LEASE_SECONDS:
        raise ValueError(f"lease_seconds must be a number in (0, {MAX_LEASE_SECONDS:.0f}], "
                         f"got {lease_seconds!r}")
    return max(1, round(lease_seconds * 1_000_000))


def _check_worker(worker: Any) -> str:
    if not isinstance(worker, str):
        raise TypeError(f"worker must be a string, got {type(worker).__name__}")
    if not worker.strip() or len(worker) > _MAX_WORKER_LEN:
        raise ValueError(f"worker must be a non-empty name of at most {_MAX_WORKER_LEN} "
                         "characters")
    return worker


def _iso(t_us: int | None) -> str:
    return "never" if t_us is None else from_us(t_us).isoformat()


class JobStoreMixin:
    """Job methods of :class:`faxcore.accounts.store.Store`."""

    db: Database

    if TYPE_CHECKING:  # provided by Store
        def check_send(self, account_id: int, now: datetime) -> Any: ...
        def status(self, account_id: int, now: datetime) -> Any: ...
        def _event(self, account_id: int, t: int, kind: str, amount: int, **kw: Any) -> int: ...
        def _row(self, account_id: int, lock: bool = False) -> Any: ...

    _worker_id: tuple[int, str] | None = None

    @property
    def worker_id(self) -> str:
        """This store's worker name, used when a claim call names no worker: unique per
        Store object and process (``host:pid:random``)."""
        pid = os.getpid()
        if self._worker_id is None or self._worker_id[0] != pid:  # new after a fork
            self._worker_id = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
        return self._worker_id[1]

    def _worker(self, worker: str | None) -> str:
        return self.worker_id if worker is None else _check_worker(worker)

    def _insert_job(self, account_id: int, direction: str, channel: str, remote: str | None,
                    pages: int, state: str, t: int, *, reason: str | None = None,
                    duration_s: float | None = None, document: str | None = None,
                    max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
        return self.db.insert(
            "INSERT INTO jobs (account_id, direction, channel, remote, pages, duration_s, state, "
            "max_attempts, reason, document, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, direction, channel, remote, pages, duration_s, state, max_attempts,
             reason, document, t, t))

    def submit_job(self, account_id: int, destination: str, pages: int, now: datetime, *,
                   channel: str = "website", document: str | None = None,
                   max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Job:
        """Queue a send job, or record it as refused (with the gate's reason) if not allowed.

        ``destination`` is checked and stored as :func:`normalize_number` gives it.
        ``max_attempts`` bounds the claims of the job, lost ones (worker died) included."""
        if channel not in SEND_CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(SEND_CHANNELS)}, got {channel!r}")
        if not isinstance(destination, str) or not destination.strip():
            raise ValueError("a send job needs a destination number")
        destination = normalize_number(destination)
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
            return self.get_job(job_id)  # as submitted, not as a worker may have claimed it

    def get_job(self, job_id: int) -> Job:
        job_id = _job_id(job_id)
        row = self.db.one(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise JobError(f"no job {job_id!r}")
        return _job(row)

    def list_jobs(self, account_id: int | None = None, *, direction: str | None = None,
                  state: str | None = None, limit: int = 1000) -> list[Job]:
        where, params = _where(account_id=account_id, direction=direction, state=state)
        params.append(int(limit))
        return [_job(r) for r in self.db.all(f"SELECT {_JOB_COLS} FROM jobs WHERE {where} "
                                             "ORDER BY id LIMIT ?", params)]

    def count_jobs(self, account_id: int | None = None, state: str | None = None) -> int:
        where, params = _where(account_id=account_id, state=state)
        return int(self.db.one(f"SELECT count(*) FROM jobs WHERE {where}", params)[0])

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

    def claim_next_job(self, now: datetime, *, worker: str | None = None,
                       lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job | None:
        """For workers: claim the next send job, leased to ``worker`` until
        ``now + lease_seconds``; None when there is none.

        A job whose lease expired (its worker stopped renewing it) is taken back first,
        oldest expiry first, then the oldest queued job. Each claim counts one attempt;
        an expired claim on a job without attempts left makes it ``failed``. Jobs of
        accounts that may no longer send are marked ``refused`` on the way.
        """
        worker = self._worker(worker)
        lease = _lease_us(lease_seconds)
        t = to_us(now)
        while True:
            with self.db.write():
                row = self.db.one(
                    "SELECT id, account_id, attempts, max_attempts, lease_owner, "
                    "lease_expires_at, leases_lost FROM jobs WHERE state = 'sending' "
                    "AND lease_expires_at <= ? ORDER BY lease_expires_at, id LIMIT 1 "
                    "{skip_locked}", (t,))
                recovered = row is not None
                if row is None:
                    row = self.db.one(
                        "SELECT id, account_id, attempts, max_attempts, lease_owner, "
                        "lease_expires_at, leases_lost FROM jobs WHERE state = 'queued' "
                        "AND direction = 'send' ORDER BY id LIMIT 1 {skip_locked}")
                    if row is None:
                        return None
                job_id, account_id, attempts, max_attempts, owner, expires, lost = row
                if recovered:
                    lost += 1
                    log.warning("job %d: lease of worker %s expired at %s (attempt %d/%d, "
                                "%d claim(s) lost); taking it back", job_id,
                                owner or "(claimed before leases)", _iso(expires), attempts,
                                max_attempts, lost)
                    if attempts >= max_attempts:
                        reason = (f"attempt {attempts}/{max_attempts} lost: worker "
                                  f"{owner or '(unknown)'} stopped renewing its lease "
                                  f"(expired {_iso(expires)}); {lost} of {attempts} claims "
                                  "were lost this way, the job may be crashing its workers")
                        log.error("job %d failed: %s", job_id, reason)
                        self.db.execute(
                            "UPDATE jobs SET state = 'failed', reason = ?, leases_lost = ?, "
                            "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
                            "WHERE id = ?", (reason, lost, t, job_id))
                        continue
                decision = self.check_send(account_id, now)
                if decision.allowed:
                    self.db.execute(
                        "UPDATE jobs SET state = 'sending', attempts = attempts + 1, "
                        "lease_owner = ?, lease_expires_at = ?, leases_lost = ?, "
                        "updated_at = ? WHERE id = ?", (worker, t + lease, lost, t, job_id))
                    # read before commit: once committed, a lease that expires before
                    # this process reads the row again (it was stopped, or slow) may be
                    # taken by another claim, and the caller must get *its* claim
                    return self.get_job(job_id)
                self.db.execute(
                    "UPDATE jobs SET state = 'refused', reason = ?, leases_lost = ?, "
                    "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                    (decision.reason, lost, t, job_id))

    def _leased_row(self, job_id: int, worker: str, what: str) -> Any:
        """The locked row of a job ``worker`` holds the lease of (in a write transaction):
        (state, account_id, attempts, max_attempts, lease_expires_at)."""
        row = self.db.one("SELECT state, account_id, attempts, max_attempts, lease_owner, "
                          "lease_expires_at FROM jobs WHERE id = ? {for_update}", (job_id,))
        if row is None:
            raise JobError(f"no job {job_id!r}")
        state, account_id, attempts, max_attempts, owner, expires = row
        if state == "sending" and owner == worker:
            return state, account_id, attempts, max_attempts, expires
        if owner == worker:  # this worker's claim already ended (finished, or failed)
            raise JobError(f"job {job_id} is {state}, not sending: cannot {what} it")
        if state == "sending":
            raise LeaseLost(f"job {job_id}: lease lost: worker {worker} cannot {what} it, "
                            f"attempt {attempts} is leased to {owner} until {_iso(expires)}")
        raise LeaseLost(f"job {job_id}: worker {worker} does not hold its lease (the job is "
                        f"{state}): cannot {what} it")

    def heartbeat(self, job_id: int, worker: str | None, now: datetime, *,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job:
        """Renew ``worker``'s lease on a job it is sending, until ``now + lease_seconds``.

        Raises :class:`LeaseLost` if the lease was taken by another claim (stop sending:
        the job belongs to someone else now). A lease that expired but was not taken yet
        is renewed (the worker was late, nobody else started the job).
        """
        job_id = _job_id(job_id)
        worker = self._worker(worker)
        lease = _lease_us(lease_seconds)
        t = to_us(now)
        with self.db.write():
            _state, _acc, attempts, _max, expires = self._leased_row(job_id, worker, "renew")
            if expires is not None and expires <= t:
                log.warning("job %d: worker %s renewed its lease %.3f s after it expired",
                            job_id, worker, (t - expires) / 1e6)
            # never shorten a lease (a heartbeat with a smaller now or lease_seconds)
            self.db.execute("UPDATE jobs SET lease_expires_at = ? WHERE id = ?",
                            (max(t + lease, expires or 0), job_id))
            return self.get_job(job_id)  # in the transaction: this renewal, not a later claim

    def finish_job(self, job_id: int, now: datetime, *, success: bool, pages_sent: int = 0,
                   result: str = "", duration_s: float | None = None,
                   worker: str | None = None) -> Job:
        """Record the result of ``worker``'s call; a success charges the pages sent.

        Only the lease holder may finish a claim: :class:`LeaseLost` (nothing recorded)
        if the job was taken back by another claim after this worker's lease expired.
        A failure requeues the job while attempts are left, else it is ``failed``.
        """
        job_id = _job_id(job_id)
        worker = self._worker(worker)
        if isinstance(pages_sent, bool) or not isinstance(pages_sent, int) \
                or not 0 <= pages_sent <= 100_000:
            raise ValueError(f"pages_sent must be an integer 0..100000, got {pages_sent!r}")
        t = to_us(now)
        with self.db.write():
            _state, account_id, attempts, max_attempts, expires = \
                self._leased_row(job_id, worker, "finish")
            if expires is not None and expires <= t:
                log.warning("job %d: worker %s finished it %.3f s after its lease expired",
                            job_id, worker, (t - expires) / 1e6)
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
                            "lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                            (new_state, result, duration_s, t, job_id))
            return self.get_job(job_id)  # in the transaction: the job as this call left it

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
