"""Panel users: a log-in name, an argon2 password hash, a role, and (for clients) the
account they manage. Kept in the panel's own table (``panel_users``), created additively
next to the server's tables, so the accounts package stays a leaf.

Roles: ``client`` (one account) and ``admin`` (operators: the reactivation screen, setting
clients' passwords; no account). The built-in operator ``admin`` logs in with the
server's ``admin_token`` when one is configured, so a fresh server needs no bootstrap step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from faxcore.accounts import Store
from faxcore.accounts.rules import to_us
from faxcore.web.security import hash_password, verify_password

ROLES = ("client", "admin")

_DDL = """CREATE TABLE IF NOT EXISTS panel_users (
    id {pk},
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    account_id BIGINT REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    sessions_after BIGINT NOT NULL DEFAULT 0
)"""


@dataclass(frozen=True)
class PanelUser:
    id: int
    login: str
    role: str
    account_id: int | None


def migrate(store: Store) -> None:
    with store.db.write():
        store.db.execute(_DDL)


def normalize_login(login: str) -> str:
    return login.strip().lower()


def set_password(store: Store, login: str, password: str, now: datetime, *,
                 account_id: int | None = None, role: str = "client") -> PanelUser:
    """Create the panel user or change its password (and account/role)."""
    login = normalize_login(login)
    if not login or len(login) > 200:
        raise ValueError("a log-in name is 1 to 200 characters")
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "client":
        if account_id is None:
            raise ValueError("a client log-in belongs to an account")
        store.account(account_id)  # UnknownAccount
    h = hash_password(password)
    with store.db.write():
        row = store.db.one("SELECT id FROM panel_users WHERE login = ?", (login,))
        if row is None:
            uid = store.db.insert("INSERT INTO panel_users (login, password_hash, role, "
                                  "account_id, created_at) VALUES (?, ?, ?, ?, ?)",
                                  (login, h, role, account_id, to_us(now)))
        else:
            uid = int(row[0])
            # a new password ends the sessions made with the old one
            store.db.execute("UPDATE panel_users SET password_hash = ?, role = ?, "
                             "account_id = ?, sessions_after = ? WHERE id = ?",
                             (h, role, account_id, to_us(now), uid))
    return PanelUser(uid, login, role, account_id)


def authenticate(store: Store, login: str, password: str) -> PanelUser | None:
    """The user whose password this is; None otherwise (same cost for unknown logins)."""
    row = store.db.one("SELECT id, login, password_hash, role, account_id FROM panel_users "
                       "WHERE login = ?", (normalize_login(login),))
    if not verify_password(None if row is None else row[2], password):
        return None
    return PanelUser(int(row[0]), row[1], row[3], None if row[4] is None else int(row[4]))


def logins_of(store: Store, account_id: int) -> list[str]:
    return [r[0] for r in store.db.all("SELECT login FROM panel_users WHERE account_id = ? "
                                       "ORDER BY login", (account_id,))]


def end_sessions(store: Store, user_id: int, now: datetime) -> None:
    """Log the user out everywhere: sessions issued before ``now`` are no longer valid
    (the cookie is signed, so this row is what makes a copied cookie useless)."""
    with store.db.write():
        store.db.execute("UPDATE panel_users SET sessions_after = ? WHERE id = ?",
                         (to_us(now), user_id))


def session_valid(store: Store, user_id: int, issued: datetime) -> bool:
    row = store.db.one("SELECT sessions_after FROM panel_users WHERE id = ?", (user_id,))
    return row is not None and to_us(issued) >= int(row[0])
