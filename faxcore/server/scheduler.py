"""The scheduler: workers that claim due jobs, place their calls on the channels and
record what happened, by the retry policy (:mod:`faxcore.server.model`).

The clock is injected (``clock()`` gives an aware datetime): tests move a fake clock
past a retry delay and call :meth:`Scheduler.run_due` instead of sleeping minutes. In
the server, :meth:`Scheduler.start` runs ``workers`` threads that do the same in real
time, each with its own database connection (``stores()`` is per thread).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from faxcore.accounts import Store
from faxcore.server.channels import Channel, OutboundCall
from faxcore.server.documents import pages_to_send, read_document
from faxcore.server.inbound import numbers_of
from faxcore.server.model import AttemptOutcome, DialResult, Limits, RetryPolicy
from faxcore.server.queue import DEFAULT_LEASE_SECONDS, Claim, JobQueue, LeaseLost, Listener

log = logging.getLogger("faxcore.server.scheduler")


class _Control:
    """The :class:`~faxcore.server.channels.CallControl` of one claimed attempt."""

    def __init__(self, queue: JobQueue, claim: Claim, clock: Callable[[], datetime],
                 lease_seconds: float) -> None:
        self.queue, self.claim, self.clock = queue, claim, clock
        self.lease_seconds = lease_seconds

    # Each renews the lease in its own write; the cancel flag is read again after it
    # committed (a read costs no fsync), so a cancel that came in meanwhile is seen now.
    def answered(self) -> bool:
        return self.queue.answered(self.claim, self.clock(), lease_seconds=self.lease_seconds) \
            or self.queue.cancel_requested(self.claim.job.id)

    def page_confirmed(self, page: int) -> bool:
        return self.queue.page_confirmed(self.claim, page, self.clock(),
                                         lease_seconds=self.lease_seconds) \
            or self.queue.cancel_requested(self.claim.job.id)

    def heartbeat(self) -> bool:
        return self.queue.heartbeat(self.claim, self.clock(), lease_seconds=self.lease_seconds)


class Scheduler:
    def __init__(self, stores: Callable[[], Store], channels: Mapping[str, Channel],
                 clock: Callable[[], datetime], *, policy: RetryPolicy | None = None,
                 limits: Limits | None = None, listeners: Iterable[Listener] = (),
                 tx_listeners: Iterable[Listener] = (), lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 worker_name: str | None = None, poll_seconds: float = 0.5) -> None:
        self.stores = stores
        self.channels = dict(channels)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.limits = limits or Limits()
        self.listeners = list(listeners)
        self.tx_listeners = list(tx_listeners)
        self.lease_seconds = lease_seconds
        self.worker_name = worker_name or \
            f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.poll_seconds = poll_seconds
        self._local = threading.local()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def queue(self) -> JobQueue:
        """This thread's job queue (on this thread's store)."""
        store = self.stores()
        q = getattr(self._local, "queue", None)
        if q is None or q.store is not store:
            q = JobQueue(store, policy=self.policy, limits=self.limits,
                         listeners=self.listeners, tx_listeners=self.tx_listeners)
            self._local.queue = q
        return q

    @property
    def capacity(self) -> dict[str, int]:
        return {name: ch.capacity for name, ch in self.channels.items()}

    # ---- one step at a time (tests, and the threads below) -------------------------

    def run_one(self, worker: str | None = None) -> bool:
        """Claim one due job and make its call; False when nothing could be claimed."""
        q = self.queue()
        worker = worker or self.worker_name
        claim = q.claim(self.clock(), worker, self.capacity, lease_seconds=self.lease_seconds)
        if claim is None:
            return False
        self._attempt(q, claim)
        return True

    def run_due(self, limit: int = 10_000) -> int:
        """Housekeeping, then every job that is due now, one after another; returns how
        many attempts were made."""
        self.queue().maintain(self.clock())
        n = 0
        while n < limit and self.run_one():
            n += 1
        return n

    def _attempt(self, q: JobQueue, claim: Claim) -> None:
        job = claim.job
        channel = self.channels.get(job.channel)
        now = self.clock()
        try:
            if channel is None:
                raise RuntimeError(f"no channel {job.channel!r} is configured")
            document = read_document(job.document)
            callers = numbers_of(q.store, job.account_id)
            caller = callers[0] if callers else ""
            ident = (job.ident or caller)[:20]
            pages = pages_to_send(document, claim.pages_to_send, when=now, ident=ident,
                                  header=job.header, resumed=claim.resumed)
            call = OutboundCall(job.destination, pages, list(claim.pages_to_send),
                                ident=ident, caller=caller)
            outcome = channel.place_call(call, _Control(q, claim, self.clock,
                                                        self.lease_seconds))
        except LeaseLost as exc:
            log.warning("%s; the attempt is abandoned", exc)
            return
        except Exception as exc:  # a channel's failure is one failed attempt, not a crash
            log.exception("job %d: attempt %d failed in the channel", job.id, claim.attempt_n)
            outcome = AttemptOutcome(DialResult.CHANNEL_ERROR,
                                     getattr(channel, "transport", "") or "",
                                     hangup_cause=f"channel error: {type(exc).__name__}: {exc}")
        try:
            q.finish(claim, outcome, self.clock())
        except LeaseLost as exc:
            log.warning("%s; its result is not recorded", exc)

    # ---- threads --------------------------------------------------------------------

    def wake(self) -> None:
        """A job was submitted or released: look now rather than at the next poll."""
        self._wake.set()

    def start(self, workers: int | None = None) -> None:
        n = workers or max(1, min(16, sum(self.capacity.values())))
        self._stop.clear()
        for i in range(n):
            t = threading.Thread(target=self._loop, args=(i,), name=f"faxcore-worker-{i}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        log.info("scheduler started: %d worker(s) on %s", n,
                 ", ".join(f"{c} ({k} lines)" for c, k in self.capacity.items()))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def _loop(self, index: int) -> None:
        worker = f"{self.worker_name}/{index}"
        last_maintain = 0.0
        while not self._stop.is_set():
            try:
                now = self.clock().timestamp()
                if index == 0 and now - last_maintain >= 1.0:
                    self.queue().maintain(self.clock())
                    last_maintain = now
                if self.run_one(worker):
                    continue
            except Exception:  # keep the worker alive: the database may come back
                log.exception("scheduler worker %s", worker)
                self._stop.wait(self.poll_seconds)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
