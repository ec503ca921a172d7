"""Fixtures for the control panel's HTTP tests: a :class:`Service` on a temporary SQLite
database with a clock the test moves, the panel installed on its app, and Starlette's
TestClient (the ASGI app in process; cookies kept per client)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faxcore.accounts import Status
from faxcore.server.service import Service
from faxcore.testing.panel import PASSWORD, WEBHOOK_SECRET, csrf_of, make_account
from faxcore.testing.server import Clock, make_service
from faxcore.web import install_panel

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class PanelHarness:
    service: Service
    app: object
    clock: Clock
    panel: object

    @property
    def store(self):
        return self.service.store()

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver", follow_redirects=False)

    def account(self, status: Status, login: str, numbers: tuple[str, ...] = ()) -> int:
        return make_account(self.store, self.clock(), status, login=login, numbers=numbers)

    def login(self, login: str, password: str = PASSWORD, client: TestClient | None = None
              ) -> TestClient:
        c = client or self.client()
        page = c.get("/panel/login")
        r = c.post("/panel/login", data={"login": login, "password": password,
                                         "csrf": csrf_of(page.text)})
        assert r.status_code == 303, r.text
        return c

    def csrf(self, c: TestClient, path: str = "/panel/account") -> str:
        r = c.get(path)
        return csrf_of(r.text)


def make_ph(tmp_path: Path, **cfg) -> Iterator[PanelHarness]:
    clock = Clock()
    service = make_service(tmp_path, clock, **cfg)
    app = service.app()
    panel = install_panel(app, service, webhook_secret=WEBHOOK_SECRET)
    yield PanelHarness(service, app, clock, panel)
    service.close()


@pytest.fixture
def ph(tmp_path: Path) -> Iterator[PanelHarness]:
    yield from make_ph(tmp_path)


@pytest.fixture
def pg_ph(tmp_path: Path, pg_url: str) -> Iterator[PanelHarness]:
    """The same on a fresh PostgreSQL schema (tests/conftest.py's ``pg_url``)."""
    yield from make_ph(tmp_path, db=pg_url)


def _root_conftest(config: pytest.Config):
    """tests/conftest.py as pytest loaded it (its ``missing``/``require_tool``: skip on a
    developer machine, fail under CI=true); not imported by name, as ``conftest`` is
    this file's module name too."""
    root = str(Path(__file__).resolve().parents[1] / "conftest.py")
    for plugin in config.pluginmanager.get_plugins():
        if str(getattr(plugin, "__file__", "")) == root:
            return plugin
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture
def browser_tools(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver (scripts/install-peers.sh)."""
    root = _root_conftest(request.config)
    return root.require_tool("chromium"), root.require_tool("chromedriver")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_js: the browser test runs with JavaScript off")
