"""Installing the backend into CUPS's backend directory, and a raw queue that uses it.

The backend is a small script whose ``#!`` is this Python (the one faxcore is installed
in), so cupsd runs it without any environment. Mode 0755: cupsd runs it as its ``User``
(lp), which is all it needs (it only talks HTTP). But when that Python is not reachable
by other users (a pyenv or venv under /root: cupsd's exec fails with EACCES, "stopped with
status 113"), the mode is 0700, and cupsd runs backends of mode 0700 as root (backend(7)).
The queue is raw (no PPD, no filters): the application's PDF reaches the backend as is,
and ``lp -o phone=NUMBER`` reaches it as a job option.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """#!{python}
# faxcore CUPS backend (installed by `faxcore cups install`); see faxcore/cups/backend.py
import sys

from faxcore.cups.backend import main

sys.exit(main())
"""


class InstallError(Exception):
    pass


def backend_dir(prefix: str | os.PathLike = "/usr") -> Path:
    """CUPS's backend directory under ``prefix`` (Debian: /usr/lib/cups/backend)."""
    return Path(prefix) / "lib" / "cups" / "backend"


def reachable_by_others(path: str | os.PathLike) -> bool:
    """Can a user other than the owner execute ``path`` (every directory on the way x)?"""
    real = Path(os.path.realpath(path))
    if not os.stat(real).st_mode & 0o001:
        return False
    return all(os.stat(d).st_mode & 0o001 for d in real.parents)


def install_backend(directory: str | os.PathLike, *, python: str | None = None,
                    mode: int | None = None) -> Path:
    """Write the ``faxcore`` backend script into ``directory`` (made if missing); ``mode``
    by default 0755, or 0700 when ``python`` is not reachable by cupsd's user."""
    python = python or sys.executable
    if mode is None:
        mode = 0o755 if reachable_by_others(python) else 0o700
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "faxcore"
    tmp = d / ".faxcore.tmp"
    tmp.write_text(SCRIPT.format(python=python))
    os.chmod(tmp, mode)
    os.replace(tmp, path)  # cupsd never sees a half-written backend
    return path


def add_queue(name: str, uri: str, *, server: str | None = None,
              description: str = "Fax (faxcore)") -> None:
    """``lpadmin -p NAME -E -v URI``: a raw queue to the backend, enabled and accepting."""
    cmd = ["lpadmin"]
    if server:
        cmd += ["-h", server]
    cmd += ["-p", name, "-E", "-v", uri, "-D", description, "-o", "printer-is-shared=false"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"cannot run lpadmin: {exc}") from None
    if r.returncode != 0:
        raise InstallError(f"lpadmin failed ({r.returncode}): {r.stderr.strip()}")
