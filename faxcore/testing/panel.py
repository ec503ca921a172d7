"""Support for the control panel's tests: accounts put in each billing status by their
own ledger (no shortcuts into the summary row), panel log-ins, and a real server
(uvicorn in a thread, free port) for the browser tests."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import uvicorn

from faxcore.accounts import Status, Store
from faxcore.server import keys
from faxcore.server.inbound import add_number
from faxcore.web import users

PASSWORD = "correct horse battery"
ADMIN = "test-admin-token"
WEBHOOK_SECRET = b"test-webhook-secret-0123456789abcdef"


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in a panel page."""
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    if m is None:
        raise AssertionError("no CSRF field in the page")
    return m.group(1)

# Age of the overdue invoice, in days, that puts an account in each status
# (suspended from 2 days, closed from 7, terminated from 14).
_AGE_DAYS = {Status.suspended_until_paid: 3, Status.closed_until_paid: 9,
             Status.terminated: 16}


def make_account(store: Store, now: datetime, status: Status, *, login: str,
                 numbers: tuple[str, ...] = (), name: str | None = None) -> int:
    """An account whose status at ``now`` is ``status``, with a panel log-in ``login``
    (password :data:`PASSWORD`) and an API key. A non-active account gets there the way a
    customer does: created earlier, billed (the monthly fee) on a billing day that many
    days ago, never paid."""
    if status is Status.active:
        acct = store.create_account(plan="plus", credit_limit_cents=5000, billing_day=1,
                                    now=now, name=name or login)
    else:
        days = _AGE_DAYS[status]
        billed = now - timedelta(days=days)
        while billed.day > 28:  # a billing day every month has
            billed -= timedelta(days=1)
        billed = billed.replace(hour=0, minute=0, second=0, microsecond=0)
        acct = store.create_account(plan="plus", credit_limit_cents=5000,
                                    billing_day=billed.day, now=billed - timedelta(days=1),
                                    name=name or login)
        store.run_billing(now)
    got = store.status(acct, now).status
    if got is not status:
        raise AssertionError(f"made account {acct} {got}, wanted {status}")
    for n in numbers:
        add_number(store, acct, n)
    keys.issue_key(store, acct, now)
    users.set_password(store, login, PASSWORD, now, account_id=acct)
    return acct


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, port: int) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="panel-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
