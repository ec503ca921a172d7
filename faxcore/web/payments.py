"""Payments: the provider interface, the embedded test provider, signed notifications.

A :class:`PaymentProvider` takes a payment the client asked for in the panel and answers
with a :class:`Checkout`: either settled at once (the embedded :class:`TestProvider`) or
a URL at the provider where the client pays; a real provider then tells us the outcome
by a *notification* posted to ``/panel/payments/webhook``:

* body: JSON ``{"reference": "...", "account": 12, "cents": 1500, "status": "complete"}``
* headers: ``X-Faxcore-Timestamp: <unix seconds>`` and
  ``X-Faxcore-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``

A notification is accepted only with a valid signature and a timestamp within
:data:`WINDOW_SECONDS` of our clock (an old captured notification cannot be replayed
later), and it is idempotent by the provider's reference (the ledger's payment reference
is unique: the same notification twice posts one payment). Posting a payment that
settles the balance makes the account active at once (:mod:`faxcore.accounts.rules`);
:func:`apply_payment` then wakes the scheduler, which releases the held send jobs on its
next pass, and releases the held inbound faxes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faxcore.accounts import Payment
from faxcore.server.service import Service

log = logging.getLogger("faxcore.web.payments")

WINDOW_SECONDS = 300
MAX_BODY = 16 * 1024


@dataclass(frozen=True)
class Checkout:
    reference: str
    settled: bool
    redirect_url: str | None = None


class PaymentProvider(Protocol):
    name: str

    def checkout(self, account_id: int, cents: int, now: datetime) -> Checkout:
        """Start a payment of ``cents`` for the account."""
        ...


class TestProvider:
    """The embedded default: every payment settles at once (no money moves). For
    development, demos and tests; a real provider replaces it."""

    __test__ = False  # not a pytest class
    name = "test"

    def checkout(self, account_id: int, cents: int, now: datetime) -> Checkout:
        return Checkout(f"test-{now:%Y%m%d%H%M%S}-{secrets.token_hex(6)}", True)


def apply_payment(service: Service, account_id: int, cents: int, reference: str) -> Payment:
    """Post a complete payment and release what the account's status held back."""
    store = service.store()
    now = service.clock()
    p = store.post_payment(account_id, cents, reference, now)
    if store.status(account_id, now).login_scope == "full":
        store.received_faxes(account_id, now)  # held inbound faxes become visible
    service.scheduler.wake()  # held send jobs go back to queued on the next pass
    log.info("payment %s of %d cents to account %s%s", reference, cents, account_id,
             " (duplicate)" if p.duplicate else "")
    return p


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class NotificationRejected(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Notification:
    reference: str
    account: int
    cents: int
    status: str


def verify_notification(secret: bytes, body: bytes, timestamp: str | None,
                        signature: str | None, now: datetime) -> Notification:
    """Check signature and time window, then parse; raises :class:`NotificationRejected`."""
    if not timestamp or not signature:
        raise NotificationRejected(401, "missing X-Faxcore-Timestamp or X-Faxcore-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise NotificationRejected(401, "X-Faxcore-Timestamp must be unix seconds")
    ts = int(timestamp)
    if not hmac.compare_digest(sign(secret, ts, body), signature.strip()):
        raise NotificationRejected(401, "bad signature")
    if abs(now.timestamp() - ts) > WINDOW_SECONDS:
        raise NotificationRejected(401, f"timestamp outside the {WINDOW_SECONDS} s window "
                                        "(a replayed or delayed notification)")
    try:
        data = json.loads(body)
        n = Notification(str(data["reference"]), int(data["account"]), int(data["cents"]),
                         str(data.get("status", "complete")))
    except (ValueError, KeyError, TypeError):
        raise NotificationRejected(400, "the body must be JSON with reference, account, "
                                        "cents, status") from None
    if not n.reference.strip() or len(n.reference) > 200:
        raise NotificationRejected(400, "bad reference")
    return n
