"""The ``faxcore`` command line.

Each subcommand group lives in its own module under ``faxcore.cli`` and exposes
``register(subparsers)``, which adds its parsers and sets ``func`` on each; the
function returns the process exit code.

Exit status and errors (what the README states):

* 0: done; 1: an error, printed as one line on standard error
  (``faxcore COMMAND: error: ...``), never a traceback: errors a user can cause are
  raised as :class:`CliError`, anything else (a bug) is reported in one line too, with
  the traceback logged at ``-vv``;
* 2: a usage error (unknown option, missing or malformed argument), also one line,
  naming the ``--help`` to read: the Unix convention, as argparse has it;
* 3: ``faxcore jobs submit`` recorded the job as refused (the account may not send);
* 130: interrupted (Ctrl-C).

Standard output closed early (``faxcore ... | head -1``) is not an error: the rest of the
output is dropped and the command finishes with its own status
(:mod:`faxcore.cli.output`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from faxcore import __version__

# Subcommand modules, in the order they appear in --help. A module is listed
# here once it exists; find_spec keeps a partially built tree usable.
MODULES = ("demo", "convert", "call", "conformance", "account", "jobs", "modem", "sip", "serve",
           "cups", "mail")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger(__name__)


class CliError(Exception):
    """An error reported to the user as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line (no usage block): ``PROG: error: MESSAGE
    (PROG --help lists the options)``, exit status 2. Subcommand parsers are made of
    this class too (argparse uses the parent's class)."""

    def error(self, message: str) -> NoReturn:
        # not at the top: faxcore.cli.output imports CliError from this module (a cycle)
        from faxcore.cli.output import err, settle_streams

        err(f"{self.prog}: error: {message} ({self.prog} --help lists the options)")
        settle_streams()
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="faxcore", description="faxcore fax engine")
    parser.add_argument("--version", action="version", version=f"faxcore {__version__}",
                        help="print faxcore's version and exit")
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


@dataclass(frozen=True)
class Option:
    """One option or positional argument of a ``faxcore`` command (see
    :func:`iter_options`)."""

    command: tuple[str, ...]   # ("faxcore", "account", "create")
    name: str                  # its last option string ("--plan"), or a positional's name
    help: str | None
    default: object
    required: bool
    flag: bool                 # takes no value (store_true, store_false, count)


def iter_options(parser: argparse.ArgumentParser | None = None,
                 command: tuple[str, ...] = ("faxcore",)) -> Iterator[Option]:
    """Every option and positional argument of ``parser`` (the ``faxcore`` command line,
    :func:`build_parser`, by default) and of its sub-commands, ``--help`` and
    ``--version`` aside: for checks on the whole command line (each states its help and
    its default) and for generated documentation."""
    parser = build_parser() if parser is None else parser
    # argparse offers no public way to list a parser's arguments: its _actions, here only.
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from iter_options(sub, (*command, name))
        elif not isinstance(a, argparse._HelpAction | argparse._VersionAction):
            yield Option(command, a.option_strings[-1] if a.option_strings else a.dest,
                         a.help, a.default, a.required, a.nargs == 0)


def command_name(args: argparse.Namespace) -> str:
    """``faxcore account show`` and the like: the command as the user typed it."""
    words = ["faxcore", getattr(args, "command", None) or ""]
    for attr in ("account_command", "jobs_command", "modem_command", "sip_command", "suite"):
        if getattr(args, attr, None):
            words.append(getattr(args, attr))
    return " ".join(w for w in words if w)


def main(argv: list[str] | None = None) -> int:
    # not at the top: faxcore.cli.output imports CliError from this module (a cycle)
    from faxcore.cli.output import settle_streams

    try:
        return _main(argv)
    except BrokenPipeError:
        # Output that did not go through faxcore.cli.output (argparse's --help, a
        # command's own writes) met a closed pipe: drop the rest of it, quietly.
        return EXIT_ERROR
    finally:
        settle_streams()


def _main(argv: list[str] | None) -> int:
    # not at the top: faxcore.cli.output imports CliError from this module (a cycle)
    from faxcore.cli.output import err

    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        err(f"{command_name(args)}: error: {_one_line(exc)}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug: still one line; the traceback at -vv (DEBUG)
        log.debug("traceback", exc_info=True)
        err(f"{command_name(args)}: error: internal error: {type(exc).__name__}: "
            f"{_one_line(exc)} (please report it; -vv shows the traceback)")
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

