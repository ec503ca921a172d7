"""A peer we did not write (tiffcp, Ghostscript, spandsp, SIPp, chromium, ...) or the shared
test data is missing: the test is skipped on a developer machine and *fails* when
``CI=true``, because CI must prove interoperability. Tests import these from here (not
from ``conftest``: with several conftest.py files in the tree, ``import conftest`` finds
whichever was loaded first).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from faxcore.testing.paths import SHARED

__all__ = ["IN_CI", "missing", "require_shared", "require_tool"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip (developer machine) or fail (CI) because a peer or data file is absent."""
    msg = f"required peer or test data missing: {what}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: peers must be installed by scripts/install-peers.sh)")
    pytest.skip(msg)


def require_tool(name: str) -> str:
    """The path of command ``name``, or :func:`missing`."""
    path = shutil.which(name)
    if path is None:
        missing(f"command {name!r}")
    return path


def require_shared(rel: str) -> Path:
    """``../shared/<rel>`` (or ``$FAXCORE_SHARED/<rel>``), or :func:`missing`."""
    path = SHARED / rel
    if not path.exists():
        missing(f"{path}")
    return path
