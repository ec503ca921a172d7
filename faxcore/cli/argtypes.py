"""argparse pieces the command modules share: an argument type and the ACTION
sub-command group."""

from __future__ import annotations

import argparse
from typing import Any


def whole_number(text: str) -> int:
    """An argparse type for a count (pixels, rows, a list limit): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def action_group(sub: Any, name: str, help: str, dest: str) -> Any:
    """Add command ``name`` to ``sub`` with its own required ACTION sub-commands (stored in
    ``dest``); returns the group to add the actions to."""
    p = sub.add_parser(name, help=help)
    actions = p.add_subparsers(dest=dest, metavar="ACTION")
    actions.required = True
    return actions
