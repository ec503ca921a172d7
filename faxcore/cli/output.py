"""Output helpers shared by the CLI subcommands: one answer, as text or (``--json``) JSON;
output files checked before the work starts and rescued when they cannot be written; the
one format of call progress lines and of the frame trace's header.

Closed pipes. ``faxcore ... | head -1`` closes the reading end of standard output early.
Every line the commands print goes through :func:`out` (standard output) or :func:`err`
(standard error): once the reader has gone, the rest of that stream's output goes to
``/dev/null`` (``dup2`` onto its file descriptor, so buffered data flushed at exit goes
there too) and the command carries on: a demo still writes its files, a payment is still
posted, and the exit status is the command's own.

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
from typing import Any, TextIO

from faxcore.cli import CliError
from faxcore.pagestore import fallback_name


def out(text: str, *, flush: bool = False) -> None:
    """One line (or several, joined by newlines) to standard output; ``flush`` for
    progress a user watches."""
    write(sys.stdout, text + "\n", flush=flush)


def err(text: str) -> None:
    """One line to standard error, flushed (progress, warnings, the error line)."""
    write(sys.stderr, text + "\n", flush=True)


def write(stream: TextIO, text: str, *, flush: bool = False) -> None:
    """``stream.write(text)``, and once the stream's reader has gone, nothing."""
    try:
        stream.write(text)
        if flush:
            stream.flush()
    except BrokenPipeError:
        discard(stream)


def discard(stream: TextIO) -> None:
    """The reader of ``stream`` has gone (``| head``): point its file descriptor at
    ``/dev/null`` so that later writes, and the flush of what is still buffered when the
    program exits, succeed silently instead of raising ``BrokenPipeError`` again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured output)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def settle_streams() -> None:
    """Flush standard output and error; a stream whose reader has gone is discarded."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            discard(stream)
            try:
                stream.flush()      # the buffered rest, now into /dev/null
            except OSError:
                pass
        except (OSError, ValueError):   # closed by the command: nothing to flush
            pass


def out_json(obj: Any) -> None:
    out(json.dumps(obj, indent=2, default=_json_default))


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


# ---- call progress and the frame trace ----------------------------------------------------

#: T.30 phases as the progress lines name them.
PHASES = {"A": "call set-up", "B": "negotiation and training", "C": "page transfer",
          "D": "post-page exchange", "E": "call release"}

#: What the columns of a frame trace (:meth:`faxcore.t30.CallResult.trace_text`) mean; the
#: header line above every trace the CLI prints.
TRACE_COLUMNS = ("time in s from the start of the call (tx: when the frame's burst began, "
                 "rx: when the frame ended), direction, frame, octets as on the line")


def progress_line(seconds: float, phase: str, *, done: int, total: int | None = None,
                  sending: bool = True, bit_rate: int = 0, modulation: str = "") -> str:
    """One progress line of a call, the same for every command that shows one::

           11.3 s  phase C (page transfer), pages sent 0/2, 14400 bit/s V17/14400

    ``done``: pages sent (``sending``) or received so far, of ``total`` when known."""
    count = f"{done}/{total}" if total else str(done)
    rate = f"{bit_rate} bit/s {modulation}".rstrip() if bit_rate else (modulation or "-")
    return (f"{seconds:7.1f} s  phase {phase} ({PHASES.get(phase, '?')}), "
            f"pages {'sent' if sending else 'received'} {count}, {rate}")


def call_progress(show: Callable[[str], None], total: int | None, *,
                  sending: bool = True) -> Callable[[float, Any], None]:
    """A ``progress(seconds, engine)`` callback for :func:`faxcore.cli.call.simulate_call`
    (and anything driving a T.30 engine) that passes :func:`progress_line` for the
    engine's state to ``show``."""
    def progress(seconds: float, engine: Any) -> None:
        r = engine.result
        done = r.pages_sent if sending else len(engine.received_pages)
        show(progress_line(seconds, engine.phase, done=done, total=total, sending=sending,
                           bit_rate=r.bit_rate, modulation=r.modulation))
    return progress
