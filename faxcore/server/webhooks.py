"""Webhooks: per account, signed as Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256 with the account's
``whsec_...`` secret, by the ``standardwebhooks`` package), delivered from an outbox
table with retries.

Events: ``fax.queued``, ``fax.attempt_failed`` (``will_retry``), ``fax.delivered``,
``fax.failed`` (also for canceled and expired jobs, with the state), ``fax.received``.
An event is put in the outbox in the same database transaction as the state change it
reports (a job's, or a received fax's row), so a crash never loses or invents one. A
delivery that gets no 2xx is tried again after 5 s, 30 s, 2 min, 10 min, 1 h, then
every 3 h, :data:`MAX_TRIES` times in all; ``webhook-id`` stays the same, so the
receiver can drop repeats.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from faxcore.accounts import Store
from faxcore.accounts.rules import from_us, to_us
from faxcore.server import model
from faxcore.server.outbox import Poller, record_try

log = logging.getLogger("faxcore.server.webhooks")

BACKOFF = (5, 30, 120, 600, 3600)
LATER = 3 * 3600
MAX_TRIES = 10
TIMEOUT = 10.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def set_webhook(store: Store, account_id: int, url: str, secret: str | None = None) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("a webhook URL must start with http:// or https://")
    secret = secret or new_secret()
    Webhook(secret)  # validates
    with store.db.write():
        store.db.execute("DELETE FROM webhooks WHERE account_id = ?", (account_id,))
        store.db.execute("INSERT INTO webhooks (account_id, url, secret) VALUES (?, ?, ?)",
                         (account_id, url, secret))
    return secret


def webhook_of(store: Store, account_id: int) -> tuple[str, str] | None:
    row = store.db.one("SELECT url, secret FROM webhooks WHERE account_id = ?", (account_id,))
    return None if row is None else (row[0], row[1])


def webhook_events(store: Store, account_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The account's latest events in the outbox, newest first, with their delivery."""
    rows = store.db.all("SELECT event_id, type, created_at, tries, delivered_at, last_error, "
                        "next_try_at FROM webhook_outbox WHERE account_id = ? "
                        "ORDER BY id DESC LIMIT ?", (account_id, limit))
    return [{"id": r[0], "type": r[1], "created_at": from_us(r[2]).isoformat(),
             "tries": r[3], "delivered_at": from_us(r[4]).isoformat() if r[4] else None,
             "last_error": r[5],
             "next_try_at": None if r[4] or r[3] >= MAX_TRIES else from_us(r[6]).isoformat()}
            for r in rows]


def replay_event(store: Store, account_id: int, event_id: str, now: datetime) -> bool:
    """Deliver the account's event ``event_id`` again, now, with its retries afresh
    (delivered or given up, it does not matter). Same ``webhook-id``: it is the same
    event; a receiver that keeps the ids it has seen drops it. False: no such event."""
    with store.db.write():
        cur = store.db.execute("UPDATE webhook_outbox SET delivered_at = NULL, tries = 0, "
                               "next_try_at = ?, last_error = NULL WHERE account_id = ? "
                               "AND event_id = ?", (to_us(now), account_id, event_id))
    return bool(getattr(cur, "rowcount", 0))


class Webhooks:
    def __init__(self, stores: Callable[[], Store], clock: Callable[[], datetime],
                 client: httpx.Client | None = None) -> None:
        self.stores = stores
        self.clock = clock
        self.client = client
        self._poller = Poller(self.deliver_due, "faxcore-webhooks", log, "webhook delivery",
                              TIMEOUT + 1)

    # ---- events into the outbox -------------------------------------------------------

    def enqueue(self, account_id: int, type_: str, data: dict[str, Any]) -> None:
        store = self.stores()
        if webhook_of(store, account_id) is None:
            return
        now = self.clock()
        event_id = "msg_" + secrets.token_hex(12)
        payload = json.dumps({"type": type_, "timestamp": now.isoformat(), "data": data},
                             separators=(",", ":"), default=str)
        with store.db.write():
            store.db.execute("INSERT INTO webhook_outbox (account_id, event_id, type, payload, "
                             "created_at, next_try_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (account_id, event_id, type_, payload, to_us(now), to_us(now)))

    def job_event(self, event: str, job: Any, data: Mapping[str, Any]) -> None:
        """A :class:`~faxcore.server.queue.JobQueue` transaction listener: the event goes
        into the outbox in the transaction of the state change it reports."""
        if event != "state":
            return
        old, new = data["old"], data["new"]
        base = {"id": job.id, "to": job.destination, "state": new, "pages": job.pages}
        if old == model.ACCEPTED:
            self.enqueue(job.account_id, "fax.queued", base)
            return
        if old in model.ACTIVE and new not in (*model.ACTIVE, model.DELIVERED):
            att = self._last_attempt(job.id)
            self.enqueue(job.account_id, "fax.attempt_failed", {
                **base, "attempt": att[0], "result": att[1], "hangup_cause": att[2],
                "t30_status": att[3], "will_retry": new == model.RETRY_WAIT})
        if new == model.DELIVERED:
            self.enqueue(job.account_id, "fax.delivered", base)
        elif new in (model.FAILED, model.CANCELED, model.EXPIRED):
            self.enqueue(job.account_id, "fax.failed", {**base, "reason": job.reason})

    def _last_attempt(self, job_id: int) -> tuple:
        row = self.stores().db.one("SELECT n, result, hangup_cause, t30_status FROM "
                                   "fax_attempts WHERE job_id = ? ORDER BY n DESC LIMIT 1",
                                   (job_id,))
        return tuple(row) if row is not None else (None, None, None, None)

    def fax_received(self, fax: Any) -> None:
        self.enqueue(fax.account_id, "fax.received", {
            "id": fax.id, "from": fax.caller, "to": fax.called, "pages": fax.pages,
            "partial": fax.partial, "state": fax.state})

    # ---- delivery -----------------------------------------------------------------------

    def deliver_due(self, limit: int = 100) -> int:
        store = self.stores()
        now = self.clock()
        rows = store.db.all(
            "SELECT o.id, o.event_id, o.payload, o.tries, w.url, w.secret FROM webhook_outbox o "
            "JOIN webhooks w ON w.account_id = o.account_id WHERE o.delivered_at IS NULL "
            "AND o.tries < ? AND o.next_try_at <= ? ORDER BY o.next_try_at, o.id LIMIT ?",
            (MAX_TRIES, to_us(now), limit))
        sent = 0
        for oid, event_id, payload, tries, url, secret in rows:
            error = self._post(url, secret, event_id, payload, now)
            t = to_us(self.clock())
            with store.db.write():
                delay = record_try(store.db, "webhook_outbox", oid, tries, t, error, BACKOFF,
                                   LATER)
                if delay is None:
                    sent += 1
                else:
                    log.warning("webhook %s to %s failed (try %d): %s; next at %s", event_id,
                                url, tries + 1, error, from_us(t + delay * 1_000_000))
        return sent

    def _post(self, url: str, secret: str, event_id: str, payload: str,
              now: datetime) -> str | None:
        headers = {"content-type": "application/json", "webhook-id": event_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(secret).sign(event_id, now, payload)}
        try:
            client = self.client or httpx.Client(timeout=TIMEOUT)
            try:
                r = client.post(url, content=payload.encode(), headers=headers)
            finally:
                if self.client is None:
                    client.close()
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}"

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop()
