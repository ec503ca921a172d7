"""Received faxes delivered by email: SMTP to a configured relay, the PDF attached.

An account that set an address (``PUT /v1/account/email``) gets a mail for each fax
it receives. A fax held while the account is suspended or closed is mailed once the
account is active again (looked at every :data:`HELD_RECHECK` seconds; waiting does not
count as a try), as the inbox lists it then. The mail is put in an outbox (``mail_outbox``) in the
transaction of the received fax's row, so a crash neither loses nor invents one, and
sent by :meth:`MailDelivery.deliver_due` (a thread in the server): ``smtplib`` to the
relay, STARTTLS and log-in when configured. A relay that refuses or cannot be reached
is tried again after 30 s, 2 min, 10 min, 1 h, then every 3 h, :data:`MAX_TRIES` times.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from faxcore.accounts import Store
from faxcore.accounts.rules import to_us
from faxcore.server.inbound import get_inbound
from faxcore.server.outbox import Poller, record_try

log = logging.getLogger("faxcore.server.mail")

BACKOFF = (30, 120, 600, 3600)
LATER = 3 * 3600
MAX_TRIES = 10
HELD_RECHECK = 60
TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int = 25
    sender: str = "faxcore@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False


def set_fax_email(store: Store, account_id: int, address: str | None) -> None:
    """Where the account's received faxes are mailed (None: not mailed)."""
    if address is not None:
        local, at, domain = address.strip().rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() or c in "<>,;\"" for
                                                             c in address.strip()):
            raise ValueError(f"not an email address: {address!r}")
        address = address.strip()
    store.account(account_id)  # UnknownAccount
    with store.db.write():
        store.db.execute("DELETE FROM fax_email WHERE account_id = ?", (account_id,))
        if address is not None:
            store.db.execute("INSERT INTO fax_email (account_id, address) VALUES (?, ?)",
                             (account_id, address))


def fax_email_of(store: Store, account_id: int) -> str | None:
    row = store.db.one("SELECT address FROM fax_email WHERE account_id = ?", (account_id,))
    return None if row is None else row[0]


def fax_mail(relay: SmtpRelay, to: str, fax: Any) -> EmailMessage:
    """The mail of one received fax: a line of text and its PDF."""
    msg = EmailMessage()
    msg["From"] = relay.sender
    msg["To"] = to
    msg["Subject"] = (f"Fax from {fax.caller or 'unknown'}: {fax.pages} page(s)"
                      + (" (partial)" if fax.partial else ""))
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2] or None)
    msg.set_content(
        f"A fax was received for {fax.called}.\n\n"
        f"From:     {fax.caller or 'unknown'}\n"
        f"To:       {fax.called}\n"
        f"Pages:    {fax.pages}{' (the call dropped: partial)' if fax.partial else ''}\n"
        f"Received: {fax.received_at:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Fax id:   {fax.id}\n\nThe fax is attached as a PDF.\n")
    if fax.pdf_path:
        msg.add_attachment(Path(fax.pdf_path).read_bytes(), maintype="application",
                           subtype="pdf", filename=f"fax-{fax.id}.pdf")
    return msg


class MailDelivery:
    def __init__(self, stores: Callable[[], Store], clock: Callable[[], datetime],
                 relay: SmtpRelay | None) -> None:
        self.stores, self.clock, self.relay = stores, clock, relay
        self._poller = Poller(self.deliver_due, "faxcore-mail", log, "mail delivery",
                              TIMEOUT + 1)

    def fax_received(self, fax: Any) -> None:
        """In the transaction of the received fax's row: its mail into the outbox."""
        if self.relay is None or fax.state not in ("received", "held") or not fax.pages:
            return
        store = self.stores()
        address = fax_email_of(store, fax.account_id)
        if address is None:
            return
        t = to_us(self.clock())
        with store.db.write():
            store.db.execute("INSERT INTO mail_outbox (account_id, inbound_fax_id, address, "
                             "created_at, next_try_at) VALUES (?, ?, ?, ?, ?)",
                             (fax.account_id, fax.id, address, t, t))

    def deliver_due(self, limit: int = 50) -> int:
        if self.relay is None:
            return 0
        store = self.stores()
        rows = store.db.all("SELECT id, inbound_fax_id, address, tries FROM mail_outbox "
                            "WHERE delivered_at IS NULL AND tries < ? AND next_try_at <= ? "
                            "ORDER BY next_try_at, id LIMIT ?",
                            (MAX_TRIES, to_us(self.clock()), limit))
        sent = 0
        for oid, fax_id, address, tries in rows:
            fax = get_inbound(store, fax_id)
            if fax is not None and fax.state == "held":
                # released (state received) if the account is active now, as the inbox does
                store.received_faxes(fax.account_id, self.clock())
                fax = get_inbound(store, fax_id)
                if fax is not None and fax.state == "held":
                    with store.db.write():
                        store.db.execute("UPDATE mail_outbox SET next_try_at = ? WHERE id = ?",
                                         (to_us(self.clock()) + HELD_RECHECK * 1_000_000, oid))
                    continue
            error = None
            try:
                if fax is None:
                    raise LookupError(f"received fax {fax_id} is gone")
                self._send(fax_mail(self.relay, address, fax))
            except (OSError, smtplib.SMTPException, LookupError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            t = to_us(self.clock())
            with store.db.write():
                if record_try(store.db, "mail_outbox", oid, tries, t, error, BACKOFF,
                              LATER) is None:
                    sent += 1
                    log.info("received fax %d mailed to %s", fax_id, address)
                else:
                    log.warning("mail of received fax %d to %s failed (try %d): %s",
                                fax_id, address, tries + 1, error)
        return sent

    def _send(self, msg: EmailMessage) -> None:
        r = self.relay
        with smtplib.SMTP(r.host, r.port, timeout=TIMEOUT) as smtp:
            if r.starttls:
                smtp.starttls()
            if r.user:
                smtp.login(r.user, r.password or "")
            smtp.send_message(msg)

    def start(self) -> None:
        if self.relay is None:
            return
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop()
