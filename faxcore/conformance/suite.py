"""Running a TSB-85 file: :func:`run` loads the procedures, plays each one (all, or the
ones named) with the interface-level or the audio runner, and returns their outcomes in
file order. This is the entry point the ``faxcore conformance tsb85`` command uses.

The pages the procedures send are looked for in ``pages_dir`` if given, else in the
file's ``pages/`` directory, else in the directory its ``<config>`` names (IMAGE path,
relative to the file). No such directory is :class:`PagesNotFound`, before anything is
played; a page missing from it fails only the procedures that need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from faxcore.conformance.audio import AudioRunner
from faxcore.conformance.model import Outcome, image_dir, load
from faxcore.conformance.runner import Runner, one_line

log = logging.getLogger(__name__)


class ProcedureName(logging.Filter):
    """Names the procedure being played in every log record that reaches a handler: sets
    ``record.procedure`` and prefixes the message with ``[NAME]``, so that a warning of the
    T.30 engine printed by ``faxcore conformance tsb85`` says which procedure it came from.
    Installed on handlers (a logger's filter would only see that logger's own records, not
    those of ``faxcore.t30``); a record passing several handlers is prefixed once."""

    def __init__(self, name: str):
        super().__init__()
        self.procedure = name

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "procedure", None) is None:
            record.procedure = self.procedure
            # The message is a %-format string: a '%' in the name must not become a field.
            record.msg = f"[{self.procedure.replace('%', '%%')}] {record.msg}"
        return True


@contextmanager
def procedure_logging(name: str) -> Iterator[None]:
    """While the block runs, log records reaching the root logger's handlers carry the
    procedure ``name`` (see :class:`ProcedureName`)."""
    f = ProcedureName(name)
    handlers = list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(f)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(f)


class PagesNotFound(FileNotFoundError):
    """The directory of test pages is not there (one line says which was looked for)."""


def find_pages(path: Path, pages_dir: str | Path | None) -> Path:
    """Where the pages of the procedures in ``path`` are (see the module docstring)."""
    if pages_dir is not None:
        pages = Path(pages_dir)
        if not pages.is_dir():
            raise PagesNotFound(f"pages directory not found: {pages}")
        return pages
    tried = [path.parent / "pages"]
    configured = image_dir(path)
    if configured is not None:
        tried.append(configured)
    for pages in tried:
        if pages.is_dir():
            return pages
    raise PagesNotFound("pages directory not found: "
                        + " or ".join(str(p) for p in tried) + " (give one with --pages)")


def run(path: str | Path, names: list[str] | None = None,
        pages_dir: str | Path | None = None, *, audio: bool = False,
        wait_carrier_end: bool = True,
        progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run the procedures of a TSB-85 XML file (all, or those named) against the engine:
    at the modem interface, or with ``audio=True`` against a FaxSession over 8 kHz audio
    (timing measured). ``wait_carrier_end=False`` (audio mode) makes the FaxSession answer
    75 ms after the tester's final frame, during its closing flags, instead of once its
    signal has ended: a check of the runner, which then fails the turnaround.
    ``progress(outcome)`` is called after each procedure. Raises :class:`PagesNotFound`
    when there is no directory of pages; a procedure that goes wrong in any other way
    fails with a one-line reason and the run goes on."""
    path = Path(path)
    procedures = load(path)
    pages = find_pages(path, pages_dir)
    out = []
    for proc in procedures:
        if names and proc.name not in names:
            continue
        try:
            with procedure_logging(proc.name):
                r = (AudioRunner(proc, pages, wait_carrier_end) if audio
                     else Runner(proc, pages)).run()
        except Exception as e:  # Runner.run catches its own; this is the last guard
            log.debug("procedure %s: internal error", proc.name, exc_info=True)
            r = Outcome(proc.name, proc.group, False,
                        failure=one_line(f"internal error: {type(e).__name__}: {e}"),
                        mode="audio" if audio else "interface")
        out.append(r)
        if progress is not None:
            progress(r)
    return out
