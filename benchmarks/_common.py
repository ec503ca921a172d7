"""Set-up shared by the benchmark scripts (run as ``python benchmarks/<name>.py``, so this
module is imported from the script's own folder)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime


def pin_one_core() -> None:
    """Run on one core, so a figure is per-core and not spread over the machine's others."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):  # no affinity API (macOS) or not allowed: run unpinned
        pass


def print_header(title: str) -> None:
    """The first line of a benchmark's output: what, when and on which machine/Python."""
    print(f"{title}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()} {platform.processor() or ''} Python {platform.python_version()}")
