"""Output helpers shared by the CLI subcommands: one answer, as text or (``--json``) JSON;
output files checked before the work starts and rescued when they cannot be written.

Not a subcommand module (it is not listed in ``faxcore.cli.MODULES``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from faxcore.cli import CliError
from faxcore.pagestore import fallback_name


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def out_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit(args: argparse.Namespace, data: Any, text: Callable[[], Iterable[str]]) -> None:
    """A command's answer: ``data`` as JSON with ``--json``, else the lines ``text()``
    gives (only called for text output: formatting may need more than ``data``)."""
    if args.json:
        out_json(data)
    else:
        for line in text():
            out(line)


# ---- output files: checked before the work, rescued after it ----------------------------

def check_writable(path: str | os.PathLike, what: str) -> Path:
    """Fail early (a :class:`~faxcore.cli.CliError`, one line) when ``path`` cannot be
    written: its directory missing or not writable (a file is created there and removed
    again), or ``path`` a directory. ``what`` names the option (``--out``)."""
    p = Path(path)
    parent = p.parent
    if p.is_dir():
        raise CliError(f"cannot write {what} {p}: it is a directory")
    if not parent.is_dir():
        raise CliError(f"cannot write {what} {p}: no such directory {parent}")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".faxcore-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(f"cannot write {what} {p}: {exc.strerror or exc} in {parent}") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise CliError(f"cannot write {what} {p}: permission denied")
    return p


def rescue_dirs() -> list[Path]:
    """Where output that cannot go where it was asked to is kept instead, in order:
    ``$XDG_DATA_HOME/faxcore/rescued`` (``~/.local/share/faxcore/rescued``), then
    ``faxcore-rescued`` in the system temporary directory."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "share")
    return [Path(data) / "faxcore" / "rescued",
            Path(tempfile.gettempdir()) / "faxcore-rescued"]


def rescue(requested: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(path)`` for a new file in the first rescue directory that takes it
    (the name of ``requested`` with the date and time); returns that path. Raises
    ``OSError`` when none does."""
    errors = []
    for d in rescue_dirs():
        target = fallback_name(requested, d)
        try:
            d.mkdir(parents=True, exist_ok=True)
            write(target)
            return target
        except OSError as exc:
            errors.append(f"{d}: {exc.strerror or exc}")
    raise OSError(f"no rescue directory could be written ({'; '.join(errors)})")
