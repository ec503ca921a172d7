"""Output helpers shared by the CLI subcommands: one answer, as text or (``--json``) JSON.

Not a subcommand module (it is not listed in ``faxcore.cli.MODULES``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any


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
