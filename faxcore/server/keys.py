"""API keys: one or more per account, stored hashed.

A key is ``fxk_<key id>_<secret>``: the key id (8 hex digits) finds the row, the secret
(32 random bytes, URL-safe base64) is checked against its SHA-256 with a constant-time
comparison. SHA-256 rather than a password hash (argon2): the secret is 256 random
bits, which no dictionary or brute force reaches, so a slow hash would only add
~50 ms to every request; a stolen table still gives no usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from faxcore.accounts import Store
from faxcore.accounts.rules import from_us, to_us

PREFIX = "fxk_"


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(store: Store, account_id: int, now: datetime) -> str:
    """A new key for the account; the only time the secret is seen."""
    store.account(account_id)  # UnknownAccount
    secret = secrets.token_urlsafe(32)
    with store.db.write():
        while True:
            key_id = secrets.token_hex(4)
            if store.db.one("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)) is None:
                break
        store.db.execute("INSERT INTO api_keys (account_id, key_id, secret_sha256, created_at) "
                         "VALUES (?, ?, ?, ?)", (account_id, key_id, _sha(secret), to_us(now)))
    return f"{PREFIX}{key_id}_{secret}"


def account_for_key(store: Store, key: str) -> int | None:
    """The account of a valid, unrevoked key; None otherwise."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX):].partition("_")
    if not sep or len(key_id) != 8 or not secret:
        return None
    row = store.db.one("SELECT account_id, secret_sha256 FROM api_keys WHERE key_id = ? "
                       "AND revoked_at IS NULL", (key_id,))
    if row is None or not hmac.compare_digest(row[1], _sha(secret)):
        return None
    return int(row[0])


def revoke_key(store: Store, key_id: str, now: datetime,
               account_id: int | None = None) -> bool:
    """Revoke the key ``key_id`` (of ``account_id`` only, when given): it stops working at
    once (every request looks the key up). False when there is no such unrevoked key."""
    sql = "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
    params: tuple = (to_us(now), key_id)
    if account_id is not None:
        sql += " AND account_id = ?"
        params += (account_id,)
    with store.db.write():
        cur = store.db.execute(sql, params)
    return bool(getattr(cur, "rowcount", 0))


def key_id_of(key: str) -> str | None:
    """The key id part of ``fxk_<key id>_<secret>``."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, _ = key[len(PREFIX):].partition("_")
    return key_id if sep and len(key_id) == 8 else None


def keys_of(store: Store, account_id: int) -> list[dict]:
    """The account's keys (ids and times, never secrets), oldest first."""
    return [{"key_id": r[0], "created_at": from_us(r[1]),
             "revoked_at": from_us(r[2]) if r[2] is not None else None}
            for r in store.db.all("SELECT key_id, created_at, revoked_at FROM api_keys "
                                  "WHERE account_id = ? ORDER BY id", (account_id,))]
