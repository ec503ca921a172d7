"""Fixtures for the server tests: a :class:`faxcore.server.service.Service` on a temporary
SQLite database and data directory, with a clock the test moves, driven through its
HTTP API (Starlette's TestClient: the ASGI app in process) and ``run_due()`` (the
scheduler's work, done in the test's thread instead of background threads)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faxcore.codecs.tiff import Page, tiff_bytes
from faxcore.server.config import ChannelConfig
from faxcore.server.model import RetryPolicy
from faxcore.server.service import Service
from faxcore.testing.pages import letter_page
from faxcore.testing.server import ADMIN, Clock, make_service

with warnings.catch_warnings():
    # Starlette's TestClient on httpx warns that it wants httpx2 one day; not our concern.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class Account:
    id: int
    key: str
    numbers: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}


@dataclass
class Harness:
    service: Service
    client: TestClient
    clock: Clock
    data_dir: Path
    pages: dict[int, list[Page]] = field(default_factory=dict)

    @property
    def store(self):
        return self.service.store()

    @property
    def channel(self):
        return self.service.channels["loopback"]

    def account(self, numbers: list[str] = (), **kw: Any) -> Account:
        r = self.client.post("/v1/admin/accounts", json={"numbers": list(numbers), **kw},
                             headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 201, r.text
        body = r.json()
        return Account(body["id"], body["api_key"], body["numbers"])

    def submit(self, acct: Account, to: str, pages: int | list[Page] = 1, *,
               headers: dict[str, str] | None = None, **fields: str):
        doc = pages if isinstance(pages, list) else document(pages)
        r = self.client.post("/v1/faxes", data={"to": to, **fields},
                             files={"files": ("doc.tif", tiff_bytes(doc), "image/tiff")},
                             headers={**acct.auth, **(headers or {})})
        if r.status_code in (200, 202):
            self.pages[r.json()["id"]] = doc
        return r

    def fax(self, acct: Account, fax_id: int) -> dict[str, Any]:
        r = self.client.get(f"/v1/faxes/{fax_id}", headers=acct.auth)
        assert r.status_code == 200, r.text
        return r.json()

    def run(self, seconds: float = 0.0) -> int:
        """Move the clock on by ``seconds``, then do what is due."""
        self.clock.advance(seconds)
        return self.service.run_due()

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return [tuple(r) for r in self.store.db.all(sql, params)]


def document(n: int, seed: int = 0) -> list[Page]:
    """``n`` distinct fine A4 pages (letter-like content; each page its own seed)."""
    return [Page(letter_page(300, seed * 100 + i)) for i in range(n)]


def make_harness(tmp_path: Path, *, faults: dict | None = None,
                 retry: RetryPolicy | None = None, channels: list[ChannelConfig] | None = None,
                 **cfg: Any) -> Iterator[Harness]:
    clock = Clock()
    service = make_service(tmp_path, clock,
                           channels=channels or [ChannelConfig(faults=faults or {})],
                           retry=retry or RetryPolicy(), **cfg)
    with TestClient(service.app()) as client:
        yield Harness(service, client, clock, tmp_path / "data")
    service.close()


@pytest.fixture
def harness(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A service; ``@pytest.mark.parametrize``-free options come from the test's
    ``server_options`` marker: ``@pytest.mark.server_options(faults={...}, retry=...)``."""
    marker = request.node.get_closest_marker("server_options")
    options = dict(marker.kwargs) if marker else {}
    yield from make_harness(tmp_path, **options)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server_options(**kw): options of the harness fixture")


@pytest.fixture
def pg_harness(tmp_path: Path, pg_url: str, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The same service on a fresh PostgreSQL schema (tests/conftest.py's ``pg_url``)."""
    marker = request.node.get_closest_marker("server_options")
    options = dict(marker.kwargs) if marker else {}
    yield from make_harness(tmp_path, db=pg_url, **options)


@pytest.fixture
def harness_with(tmp_path: Path):
    """A factory: ``harness_with(**options)`` is a harness made with options known only
    inside the test (paths under ``tmp_path``); closed when the test ends. ``root``: its
    own directory (two services in one test)."""
    made: list[Iterator[Harness]] = []

    def make(root: Path | None = None, **options: Any) -> Harness:
        gen = make_harness(root or tmp_path, **options)
        made.append(gen)
        return next(gen)

    yield make
    for gen in made:
        for _ in gen:  # runs the rest: the client and the service closed
            pass

