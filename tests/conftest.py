"""Shared test fixtures: where the shared test data lives and how a missing peer is handled.

A peer (tiffcp, Ghostscript, spandsp, PostgreSQL, ...) that is missing makes a test
skip on a developer machine, and *fail* when CI=true: CI must prove interoperability.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FAXCORE_SHARED", ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Hypothesis: no per-example deadline (two shared cores make timings meaningless), and in
# CI a derandomized run, so a landing is judged on the same examples every time; developer
# runs keep exploring new random examples.
settings.register_profile("faxcore", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("faxcore-ci", parent=settings.get_profile("faxcore"),
                          derandomize=True, print_blob=True)
settings.load_profile("faxcore-ci" if IN_CI else "faxcore")


def missing(what: str) -> None:
    """Skip (developer machine) or fail (CI) because a peer or data file is absent."""
    msg = f"required peer or test data missing: {what}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: peers must be installed by scripts/install-peers.sh)")
    pytest.skip(msg)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"command {name!r}")
    return path


def require_shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        missing(f"{path}")
    return path


@pytest.fixture
def shared() -> Path:
    return SHARED
