"""The ``faxcore`` command line.

Each subcommand group lives in its own module under ``faxcore.cli`` and exposes
``register(subparsers)``, which adds its parsers and sets ``func`` on each; the
function returns the process exit code. Errors a user can cause (unreadable
file, corrupt stream, bad account id) are raised as :class:`CliError` and printed
as one line with exit code 1 (2 for usage errors, from argparse).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

# Subcommand modules, in the order they appear in --help. A module is listed
# here once it exists; find_spec keeps a partially built tree usable.
MODULES = ("demo", "convert", "call", "conformance", "account", "jobs", "modem")


class CliError(Exception):
    """An error reported to the user as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faxcore", description="faxcore fax engine")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: INFO, T.30 frame trace; -vv: DEBUG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in MODULES:
        modname = f"faxcore.cli.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"faxcore {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
