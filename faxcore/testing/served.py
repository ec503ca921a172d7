"""A running fax service for tests of the ways in that need real sockets (the CUPS backend
is a child of cupsd and talks HTTP; the mail gateway runs SMTP): a
:class:`~faxcore.server.service.Service` on a temporary directory with its scheduler
threads and uvicorn in a thread on a free port, plus admin helpers over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from faxcore.server.config import ServerConfig
from faxcore.server.service import Service

ADMIN = "test-admin-token"


@dataclass
class ServedAccount:
    id: int
    key: str
    numbers: list[str]


@dataclass
class Served:
    service: Service
    base_url: str

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.base_url + path, timeout=30,
                             headers={"authorization": f"Bearer {ADMIN}"}, **kw)

    def account(self, numbers: list[str] = (), **kw: Any) -> ServedAccount:
        r = self.admin("POST", "/v1/admin/accounts", json={"numbers": list(numbers), **kw})
        assert r.status_code == 201, r.text
        b = r.json()
        return ServedAccount(b["id"], b["api_key"], b["numbers"])

    def suspend(self, acct: ServedAccount) -> str:
        """Put an account made with ``credit_limit_cents=0`` over its limit (one page
        metered): suspended until paid. Returns the gate's reason."""
        store = self.service.store()
        store.record_outbound(acct.id, 1, self.service.clock())
        decision = store.check_send(acct.id, self.service.clock())
        assert decision.status.name == "suspended_until_paid", decision
        return decision.reason

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return [tuple(r) for r in self.service.store().db.all(sql, params)]

    def wait_state(self, job_id: int, states: set[str], timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while True:
            (state,) = self.rows("SELECT state FROM fax_jobs WHERE id = ?", (job_id,))[0]
            if state in states or time.monotonic() > end:
                return state
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(data_dir: Path, **cfg: Any) -> Iterator[Served]:
    config = ServerConfig(data_dir=str(data_dir), admin_token=ADMIN, bind="127.0.0.1:0",
                          workers=2, **cfg)
    service = Service(config)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(service.app(), log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    service.start_background()
    thread.start()
    try:
        end = time.monotonic() + 30
        while not server.started and time.monotonic() < end:
            time.sleep(0.02)
        yield Served(service, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        service.close()
        sock.close()
