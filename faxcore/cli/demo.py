"""``faxcore demo``: the main job on built-in sample input (what ``make demo`` runs).

A real fax call: ITU-T test chart 1 (``../shared/testdata/itu/itu1.pbm`` beside the
repository, or the built-in letter page when that folder is absent) plus any files the user
names (PDF, images, TIFF) go from one faxcore station to another over simulated 8 kHz
audio, V.17 with ECM (both stations' T.30 engines and software modems). Progress is shown
as the call goes (one line per change of phase, page or bit rate, in the format of
``faxcore call``: :func:`faxcore.cli.output.progress_line`); the received TIFF-F,
PNG previews of every received page and the call report (result summaries and the frame
trace) are written to ``out/demo/``; and the received pages are checked pixel for pixel
against the sent ones.

The output directory is created and checked before the call. If it cannot be written
during or after the call, the received TIFF-F, the previews and the report are kept in a
rescue directory instead (:func:`faxcore.cli.output.rescue_dirs`); the demo says where
and exits with status 1. Its standard output closed early (``faxcore demo | head -3``)
does not stop it: the call is made and every file written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from faxcore.cli import CliError
from faxcore.cli.call import load_inputs, simulate_call
from faxcore.cli.convert import save_png
from faxcore.cli.output import TRACE_COLUMNS, call_progress, check_writable, out, rescue
from faxcore.codecs import LoadError, load_pages
from faxcore.codecs.prep import sample_page
from faxcore.codecs.tiff import TiffError, read_tiff
from faxcore.modem import PAGE_MODEMS
from faxcore.session import page_from_rx
from faxcore.t30 import TxPage

REPO = Path(__file__).resolve().parent.parent.parent


def _say(line: str) -> None:
    out(line, flush=True)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo: fax ITU chart 1 between two faxcore stations",
                       description="Send ITU-T chart 1 (or the built-in page) and any FILEs "
                                   "from one faxcore station to another over simulated audio "
                                   "(V.17, ECM); write the received TIFF-F, PNG previews and "
                                   "the call report, and check the pages arrived intact.")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="more documents to send after the chart (PDF, images, TIFF)")
    p.add_argument("--out", default="out/demo", help="output directory (default out/demo)")
    p.set_defaults(func=run_demo)


def chart_path() -> Path:
    shared = Path(os.environ.get("FAXCORE_SHARED", REPO.parent / "shared"))
    return shared / "testdata" / "itu" / "itu1.pbm"


def load_chart() -> tuple[str, np.ndarray]:
    """ITU chart 1 at fine resolution, or the built-in sample page when it is absent."""
    path = chart_path()
    if not path.exists():
        return f"built-in sample page (ITU charts not found at {path.parent})", \
            sample_page("fine")
    try:
        # A fax page (1728 wide): taken as it is, at fine; one page, however long.
        page = load_pages(path, resolution="fine", split=False)[0]
    except LoadError as exc:
        raise CliError(str(exc)) from None
    return f"ITU-T chart 1 ({path})", page.bitmap


def write_previews(pages, out: Path) -> list[Path]:
    """A full-size PNG per received page (page-N.png, black on white, with its dpi)."""
    written = []
    for n, p in enumerate((p for p in pages if p.packed is not None), 1):
        path = out / f"page-{n}.png"
        save_png(page_from_rx(p), path)
        written.append(path)
    return written


def report_text(caller, answerer, line: float, cpu: float, sent: list[str]) -> str:
    lines = ["faxcore demo: call report", "",
             "sent: " + "; ".join(sent),
             f"line time {line:.1f} s, CPU {cpu:.2f} s (both stations)",
             f"caller (sending):     {caller.result.summary()}",
             f"answerer (receiving): {answerer.result.summary()}",
             "", f"frame trace, caller's view ({TRACE_COLUMNS}):",
             caller.result.trace_text(),
             "", "frame trace, answerer's view:",
             answerer.result.trace_text(), ""]
    return "\n".join(lines)


def write_outputs(out: Path, caller, answerer, line: float, cpu: float,
                  sent: list[str]) -> tuple[Path, list[Path]]:
    """The call report and the page previews, into ``out``; returns their paths."""
    report = out / "report.txt"
    report.write_text(report_text(caller, answerer, line, cpu, sent))
    return report, write_previews(answerer.engine.received_pages, out)


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror or exc}") from None
    check_writable(out / "received.tif", "--out")
    name, chart = load_chart()
    pages = [TxPage(chart, "fine")]
    sent = [f"{name}: 1 page"]
    _say(f"[1/4] page 1: {name}, {chart.shape[1]} x {chart.shape[0]} pixels, fine")
    for f in args.files:
        # A page of another resolution or width is preceded by EOM: the engine
        # renegotiates (DIS/DCS) for it.
        got = load_inputs([f], None)
        first, last = len(pages) + 1, len(pages) + len(got)
        span = f"page {first}" if first == last else f"pages {first}-{last}"
        _say(f"      {span}: {f}, {got[0].width} pixels wide, {got[0].resolution}")
        pages += got
        sent.append(f"{f}: {len(got)} page(s)")

    tif = out / "received.tif"
    _say(f"[2/4] calling: {len(pages)} page(s) over simulated audio, V.17 with ECM")

    caller, answerer, line, cpu, problems = simulate_call(
        pages, ecm=True, modems=PAGE_MODEMS, out=tif, progress=call_progress(_say, len(pages)))
    tif = answerer.received_path or tif  # a rescue directory if out/ failed mid-call
    try:
        report, pngs = write_outputs(out, caller, answerer, line, cpu, sent)
    except OSError as exc:
        # out/ went away or filled up: keep the report and previews with the fax.
        why = f"cannot write in {out}: {exc.strerror or exc}"
        saved: list = []

        def keep(d: Path) -> None:
            d.mkdir()
            saved[:] = write_outputs(d, caller, answerer, line, cpu, sent)

        try:
            where = rescue(out / "demo", keep)
        except OSError as exc2:
            raise CliError(f"{why}; the report and previews are lost: {exc2}") from None
        report, pngs = saved
        problems.append(f"{why}; the report and previews were kept in {where}")
    _say(f"      call over: caller {caller.result.status.name}, answerer "
         f"{answerer.result.status.name}, {line:.1f} s on the line, {cpu:.2f} s CPU")
    if not (caller.result.ok and answerer.result.ok):
        raise CliError(f"the call failed: {caller.result.summary()} (report: {report})"
                       + "".join(f"; {p}" for p in problems))

    try:
        received = read_tiff(tif)
    except (OSError, TiffError) as exc:
        raise CliError(f"cannot read back {tif}: {exc}") from None
    _say(f"[3/4] received TIFF-F: {tif} ({len(received)} page(s), "
         f"{tif.stat().st_size} bytes)")
    for p in pngs:
        _say(f"      preview: {p}")
    _say(f"      call report: {report}")

    if len(received) != len(pages):
        raise CliError(f"sent {len(pages)} page(s), received {len(received)}")
    for n, (got, want) in enumerate(zip(received, pages, strict=True), 1):
        if got.bitmap.shape != want.bitmap.shape:
            raise CliError(f"page {n}: received {got.bitmap.shape}, sent {want.bitmap.shape}")
        diff = int(np.count_nonzero(got.bitmap != want.bitmap))
        if diff:
            raise CliError(f"page {n}: {diff} pixels differ from the sent page")
    _say(f"[4/4] checked: all {len(pages)} received page(s) equal the sent ones, "
         "pixel for pixel")
    if problems:
        raise CliError("; ".join(problems))
    _say(f"demo output is in {out.resolve()}")
    return 0
