"""Shared test fixtures: where the shared test data lives and how a missing peer is handled.

A peer (tiffcp, Ghostscript, spandsp, PostgreSQL, ...) that is missing makes a test
skip on a developer machine, and *fail* when CI=true: CI must prove interoperability.

The test-support code itself lives in :mod:`faxcore.testing` (no test module imports
another one); this file only turns its "not installed" errors into :func:`missing`:
a test that meets :class:`~faxcore.testing.spandsp.SpandspMissing` (libspandsp2 absent)
is skipped or failed by :func:`pytest_runtest_call`, and the PostgreSQL fixtures below
call :func:`missing` when the server binaries or psycopg are absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from faxcore.testing import pg
from faxcore.testing.paths import CORPUS, ROOT, SHARED  # noqa: F401  (for the tests)
from faxcore.testing.peers import IN_CI, missing, require_shared, require_tool  # noqa: F401
from faxcore.testing.spandsp import SpandspMissing

# Hypothesis: no per-example deadline (two shared cores make timings meaningless), and in
# CI a derandomized run, so a landing is judged on the same examples every time; developer
# runs keep exploring new random examples.
settings.register_profile("faxcore", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("faxcore-ci", parent=settings.get_profile("faxcore"),
                          derandomize=True, print_blob=True)
settings.load_profile("faxcore-ci" if IN_CI else "faxcore")


@pytest.fixture
def shared() -> Path:
    return SHARED


def _spandsp_missing_is_missing():
    """Hook-wrapper body: SpandspMissing raised by a test or its fixtures becomes
    :func:`missing`, so every test that needs spandsp just uses it."""
    try:
        return (yield)
    except SpandspMissing as exc:
        missing(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _spandsp_missing_is_missing())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _spandsp_missing_is_missing())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PgServer]:
    """A private PostgreSQL server, one per test process (pytest-xdist worker)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("python package psycopg")
    try:
        server = pg.start_server()
    except pg.PostgresMissing as exc:
        missing(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: pg.PgServer) -> str:
    """The URL of a fresh, empty schema on the test PostgreSQL server."""
    return pg.new_schema_url(postgres_server.url)
