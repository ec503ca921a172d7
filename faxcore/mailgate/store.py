"""The gateway's tables, in the service's database beside the server's (same connection,
so a job and the record of the mail it came from commit together):

* ``mail_senders``: allow-listed sender addresses, each of one account;
* ``mail_jobs``: for each job made from a mail, where its result goes and whether the
  result mail went (``notified_at``), with the relay's last error and the next try;
* ``mail_replies``: reply mails saying why a mail was refused (the gate, a document that
  cannot be read), sent through the relay like the result mails (``sent_at``, tries).
"""

from __future__ import annotations

import logging
from datetime import datetime

from faxcore.accounts import Store
from faxcore.accounts.db import Database
from faxcore.accounts.rules import to_us

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE mail_senders (
            address TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE mail_jobs (
            job_id BIGINT PRIMARY KEY REFERENCES fax_jobs(id),
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            reply_to TEXT NOT NULL,
            message_id TEXT,
            subject TEXT NOT NULL DEFAULT '',
            notified_at BIGINT,
            tries INTEGER NOT NULL DEFAULT 0,
            next_try_at BIGINT NOT NULL DEFAULT 0,
            last_error TEXT
        )""",
        "CREATE INDEX mail_jobs_pending ON mail_jobs (notified_at, next_try_at)",
    ]),
    (2, [
        """CREATE TABLE mail_replies (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            reply_to TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            in_reply_to TEXT,
            created_at BIGINT NOT NULL,
            sent_at BIGINT,
            tries INTEGER NOT NULL DEFAULT 0,
            next_try_at BIGINT NOT NULL DEFAULT 0,
            last_error TEXT
        )""",
        "CREATE INDEX mail_replies_pending ON mail_replies (sent_at, next_try_at)",
        "CREATE INDEX mail_replies_to ON mail_replies (reply_to, created_at)",
    ]),
]
_PG_LOCK = 0x0FA7C0E0


def migrate(db: Database) -> None:
    db.apply_migrations("mailgate_schema_version", _PG_LOCK, MIGRATIONS, log,
                        "migrating the mail gateway's tables to version %d")


def normalize_address(address: str) -> str:
    """Addresses compare case-insensitively (the local part too: mail systems treat
    ``Alice@`` and ``alice@`` as one mailbox in practice)."""
    return address.strip().strip("<>").lower()


def allow_sender(store: Store, account_id: int, address: str, now: datetime) -> None:
    """Allow-list ``address`` for ``account_id`` (an address belongs to one account)."""
    store.account(account_id)  # UnknownAccount
    addr = normalize_address(address)
    if "@" not in addr:
        raise ValueError(f"not a mail address: {address!r}")
    with store.db.write():
        store.db.execute("DELETE FROM mail_senders WHERE address = ?", (addr,))
        store.db.execute("INSERT INTO mail_senders (address, account_id, created_at) "
                         "VALUES (?, ?, ?)", (addr, account_id, to_us(now)))


def deny_sender(store: Store, address: str) -> bool:
    with store.db.write():
        cur = store.db.execute("DELETE FROM mail_senders WHERE address = ?",
                               (normalize_address(address),))
    return bool(getattr(cur, "rowcount", 0))


def account_of_sender(store: Store, address: str) -> int | None:
    row = store.db.one("SELECT account_id FROM mail_senders WHERE address = ?",
                       (normalize_address(address),))
    return None if row is None else int(row[0])


def senders_of(store: Store, account_id: int) -> list[str]:
    return [r[0] for r in store.db.all("SELECT address FROM mail_senders WHERE account_id = ? "
                                       "ORDER BY address", (account_id,))]
