"""The panel's security pieces: signed session cookies, CSRF tokens, password hashes,
and the log-in rate limiter.

Sessions are a signed cookie (no server-side table): ``base64url(json) "." hex(HMAC-SHA256)``
with the service's panel secret. The JSON carries the panel user, the account, the role,
the CSRF token and the issue time; a cookie older than :data:`SESSION_SECONDS` or with a
bad signature is no session. Every visitor gets one (an anonymous one on the log-in page)
so the log-in form has a CSRF token too. The CSRF token is a per-session random string
put in every form as a hidden field and compared (constant time) on every POST; the
cookie is ``SameSite=Lax`` and ``HttpOnly`` besides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_SECONDS = 12 * 3600
COOKIE = "fxpanel"

_hasher = PasswordHasher()
# A hash to verify against when the login is unknown, so an unknown login costs the same
# time as a wrong password (no user enumeration by timing).
_DUMMY = _hasher.hash("no such user: " + secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def load_secret(path: Path) -> bytes:
    """The panel's signing secret, made once per data directory (mode 0600) so sessions
    survive a restart. Several ``faxcore serve`` processes may share the directory and
    start together: the first to link its file in place wins and the others read it."""
    for _attempt in range(50):
        try:
            data = path.read_bytes()
            if len(data) >= 32:
                return data
        except FileNotFoundError:
            pass
        else:  # a short file: not one of ours, or caught half-written by an old version
            raise RuntimeError(f"{path} holds fewer than 32 bytes: remove it to make a new one")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process was first
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    raise RuntimeError(f"cannot read or create {path}")


class Signer:
    """HMAC-SHA256 over a JSON payload; ``purpose`` keeps cookies and staged-upload
    tokens from being swapped for each other."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(secret + b"\0" + purpose.encode()).digest()

    def dumps(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":"))
                                        .encode()).decode().rstrip("=")
        sig = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{sig}"

    def loads(self, token: str | None) -> dict[str, Any] | None:
        if not token or token.count(".") != 1 or len(token) > 4096:
            return None
        body, sig = token.split(".")
        want = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


@dataclass
class Session:
    csrf: str
    issued: float
    user: int | None = None
    login: str | None = None
    account: int | None = None
    role: str | None = None  # "client" or "admin"

    def to_json(self) -> dict[str, Any]:
        return {"c": self.csrf, "t": self.issued, "u": self.user, "l": self.login,
                "a": self.account, "r": self.role}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Session | None:
        try:
            return cls(str(d["c"]), float(d["t"]), d.get("u"), d.get("l"), d.get("a"),
                       d.get("r"))
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def anonymous(cls, now: float) -> Session:
        return cls(secrets.token_urlsafe(24), now)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token and hmac.compare_digest(session.csrf, token))


class RateLimiter:
    """Failed log-ins in a sliding window, counted per key (``login:<name>``,
    ``ip:<address>``). ``blocked(key, now)`` says how many seconds are left, 0 when the
    key may try. In memory: one process serves the panel (``faxcore serve``)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def blocked(self, key: str, now: float) -> float:
        with self._lock:
            q = self._fails.get(key)
            if not q:
                return 0.0
            self._trim(q, now)
            if len(q) < self.limit:
                return 0.0
            return max(1.0, q[0] + self.window - now)

    def failed(self, key: str, now: float) -> None:
        with self._lock:
            q = self._fails.setdefault(key, deque())
            self._trim(q, now)
            q.append(now)
            if len(self._fails) > 100_000:  # a flood of distinct keys: forget the oldest
                for k in list(self._fails)[:50_000]:
                    del self._fails[k]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)
