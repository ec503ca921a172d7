"""The server's tables, beside (not inside) the account store's.

Why tables of its own rather than ``faxcore.accounts``' ``jobs``: that table's states
(queued/sending/done/failed/cancelled/refused) and its meaning of an attempt (one claim;
a failure requeues at once) are what ``faxcore jobs`` and its tests stand on. A fax
server's job needs more: retry_wait with a due time, held_billing, send-at and kill time,
dials and tries counted apart, one row per attempt, a page journal, Idempotency-Key.
Changing the accounts table for that would change ``faxcore jobs``; so the server keeps
``fax_jobs`` and friends in the same database (same connection, same transactions: a
page charge in the ledger and the journal row that causes it commit together), migrated
here with the accounts' machinery (:class:`faxcore.accounts.db.Database`: ``{pk}``, ``?``
placeholders, PostgreSQL advisory lock) under a version table of their own. Received
faxes are metered and held by the accounts store (``record_inbound``: its ``jobs`` rows
with direction ``receive``); ``inbound_faxes`` adds where the files are.

Leases are modelled on :mod:`faxcore.accounts.jobs` (owner, expiry, heartbeat).
"""

from __future__ import annotations

import logging

from faxcore.accounts.db import Database

log = logging.getLogger(__name__)

_PG_LOCK = 0x0FA7C0DF

# (version, statements). Never edit a released migration: append a new one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE api_keys (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            key_id TEXT NOT NULL UNIQUE,
            secret_sha256 TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        )""",
        """CREATE TABLE numbers (
            number TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id)
        )""",
        """CREATE TABLE fax_jobs (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            idempotency_key TEXT,
            request_sha256 TEXT,
            destination TEXT NOT NULL,
            channel TEXT NOT NULL,
            state TEXT NOT NULL,
            pages INTEGER NOT NULL,
            header TEXT NOT NULL DEFAULT '',
            ident TEXT NOT NULL DEFAULT '',
            document TEXT NOT NULL,
            send_at BIGINT,
            kill_at BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            dials INTEGER NOT NULL DEFAULT 0,
            tries INTEGER NOT NULL DEFAULT 0,
            max_dials INTEGER NOT NULL,
            max_tries INTEGER NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_at BIGINT,
            reason TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (account_id, idempotency_key)
        )""",
        "CREATE INDEX fax_jobs_due ON fax_jobs (state, next_attempt_at, id)",
        "CREATE INDEX fax_jobs_account ON fax_jobs (account_id, id)",
        "CREATE INDEX fax_jobs_destination ON fax_jobs (destination, state)",
        """CREATE TABLE fax_attempts (
            id {pk},
            job_id BIGINT NOT NULL REFERENCES fax_jobs(id),
            n INTEGER NOT NULL,
            channel TEXT NOT NULL,
            worker TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            ended_at BIGINT,
            result TEXT,
            transport TEXT,
            bit_rate INTEGER,
            modulation TEXT,
            ecm INTEGER,
            pages_confirmed INTEGER NOT NULL DEFAULT 0,
            t30_status TEXT,
            hangup_cause TEXT,
            duration_s DOUBLE PRECISION,
            UNIQUE (job_id, n)
        )""",
        """CREATE TABLE fax_pages (
            job_id BIGINT NOT NULL REFERENCES fax_jobs(id),
            page INTEGER NOT NULL,
            attempt_id BIGINT NOT NULL REFERENCES fax_attempts(id),
            confirmed_at BIGINT NOT NULL,
            PRIMARY KEY (job_id, page)
        )""",
        """CREATE TABLE inbound_faxes (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            accounts_job_id BIGINT NOT NULL,
            called TEXT NOT NULL,
            caller TEXT,
            pages INTEGER NOT NULL,
            partial INTEGER NOT NULL DEFAULT 0,
            t30_status TEXT,
            tif_path TEXT,
            pdf_path TEXT,
            received_at BIGINT NOT NULL
        )""",
        "CREATE INDEX inbound_faxes_account ON inbound_faxes (account_id, id)",
        """CREATE TABLE webhooks (
            account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
            url TEXT NOT NULL,
            secret TEXT NOT NULL
        )""",
        """CREATE TABLE webhook_outbox (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            next_try_at BIGINT NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0,
            delivered_at BIGINT,
            last_error TEXT
        )""",
        "CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_try_at, id)",
    ]),
    # which way in the job came (issue 12): website, email, printer or api. Not "channel":
    # that column is the line the job is dialled on.
    (2, [
        "ALTER TABLE fax_jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'api'",
    ]),
    # inbound routing and mail delivery (issue 11): how a received fax found its account
    # (number, sub, default), where an account's received faxes are mailed, and the
    # outbox of those mails (a row per fax and address, written with the fax's row)
    (3, [
        "ALTER TABLE inbound_faxes ADD COLUMN routed_by TEXT",
        """CREATE TABLE fax_email (
            account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
            address TEXT NOT NULL
        )""",
        """CREATE TABLE mail_outbox (
            id {pk},
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            inbound_fax_id BIGINT NOT NULL,
            address TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            next_try_at BIGINT NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0,
            delivered_at BIGINT,
            last_error TEXT
        )""",
        "CREATE INDEX mail_outbox_due ON mail_outbox (delivered_at, next_try_at, id)",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(db: Database) -> None:
    """Create or upgrade the server's tables (the accounts' tables must exist: the store
    made them when it opened the database)."""
    db.apply_migrations("server_schema_version", _PG_LOCK, MIGRATIONS, log,
                        f"migrating the server's {db.dialect} tables to version %d")
