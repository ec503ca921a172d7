"""Running a TSB-85 file: :func:`run` loads the procedures, plays each one (all, or the
ones named) with the interface-level or the audio runner, and returns their outcomes in
file order. This is the entry point the ``faxcore conformance tsb85`` command uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faxcore.conformance.audio import AudioRunner
from faxcore.conformance.model import Outcome, load
from faxcore.conformance.runner import Runner


def run(path: str | Path, names: list[str] | None = None,
        pages_dir: str | Path | None = None, *, audio: bool = False,
        wait_carrier_end: bool = True,
        progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run the procedures of a TSB-85 XML file (all, or those named) against the engine:
    at the modem interface, or with ``audio=True`` against a FaxSession over 8 kHz audio
    (timing measured). ``wait_carrier_end=False`` (audio mode) makes the FaxSession answer
    75 ms after the tester's final frame, during its closing flags, instead of once its
    signal has ended: a check of the runner, which then fails the turnaround.
    ``progress(outcome)`` is called after each procedure."""
    path = Path(path)
    pages = Path(pages_dir) if pages_dir else path.parent / "pages"
    out = []
    for proc in load(path):
        if names and proc.name not in names:
            continue
        r = (AudioRunner(proc, pages, wait_carrier_end) if audio
             else Runner(proc, pages)).run()
        out.append(r)
        if progress is not None:
            progress(r)
    return out
