"""``faxcore conformance tsb85 FILE.xml``: run TSB-85 fax conformance procedures against
faxcore's T.30 engine (see :mod:`faxcore.conformance`) and report pass/fail per procedure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from faxcore.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conformance", help="run fax conformance procedures (TSB-85)",
                       description="Run conformance procedures against faxcore's T.30 engine.")
    csub = p.add_subparsers(dest="suite", metavar="SUITE")
    csub.required = True
    t = csub.add_parser("tsb85", help="TSB-85 procedures from an XML file",
                        description="Play the tester's side of each TSB-85 procedure in FILE "
                                    "against the T.30 engine and check what it does.")
    t.add_argument("file", help="the procedures (e.g. ../shared/conformance/tsb85.xml, or "
                                "faxcore/conformance/exceptions.xml: faxcore's exception "
                                "procedures)")
    t.add_argument("--test", action="append", metavar="NAME",
                   help="run only this procedure (repeatable)")
    t.add_argument("--pages", help="directory of the test pages (default: FILE's pages/, "
                                   "else the IMAGE path FILE's <config> names)")
    t.add_argument("--json", action="store_true", help="print the results as JSON")
    t.add_argument("--trace", action="store_true", help="print each procedure's steps")
    t.add_argument("--audio", action="store_true",
                   help="run the DUT as a FaxSession over 8 kHz audio: the tester sends and "
                        "hears tones, preambles, frames, TCF and pages through faxcore's "
                        "modems and checks their timing (CED length, V.21 preamble, silences, "
                        "turnarounds, TCF length)")
    t.set_defaults(func=run_tsb85)


def run_tsb85(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every faxcore command builds all subcommand parsers,
    # and the harness pulls in FaxSession and the compiled modems.
    from faxcore import conformance

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    try:
        progress = None
        if args.audio and sys.stderr.isatty():
            def progress(r):
                sys.stderr.write(f"\r{r.name:11s} {'PASS' if r.passed else 'FAIL'}   ")
                sys.stderr.flush()
        results = conformance.run(path, args.test, args.pages, audio=args.audio, progress=progress)
        if progress is not None:
            sys.stderr.write("\r" + " " * 20 + "\r")
    except conformance.PagesNotFound as exc:  # before any procedure is played
        raise CliError(str(exc)) from None
    except Exception as exc:  # unreadable XML and the like: one clear line
        raise CliError(f"cannot run {path}: {' '.join(str(exc).split())}") from None
    if args.test and not results:
        raise CliError(f"no procedure named {', '.join(args.test)} in {path}")
    out = sys.stdout
    if args.json:
        json.dump([{k: v for k, v in asdict(r).items() if args.trace or k != "trace"}
                   for r in results], out, indent=1)
        out.write("\n")
    else:
        width = max([11] + [len(r.name) for r in results])
        for r in results:
            verdict = "PASS" if r.passed else "FAIL"
            timing = f"timing {len(r.timings):2d}  " if args.audio else ""
            out.write(f"{r.name:{width}s} {verdict}  status {r.status:<16s} "
                      f"steps checked {r.checked:3d}, not checkable {r.unchecked}  "
                      f"{timing}{r.failure}\n")
            if args.trace and args.audio:
                out.write("".join(f"    {t['check']}: {t['measured'] * 1000:.0f} ms "
                                  f"({t['low'] * 1000:.0f}..{t['high'] * 1000:.0f}) "
                                  f"{'ok' if t['ok'] else 'FAIL'}  [{t['step']}]\n"
                                  for t in r.timings))
            if args.trace:
                out.write("\n".join("    " + line for line in r.trace) + "\n")
        groups = Counter()
        for r in results:
            groups[(r.group, r.passed)] += 1
        for g in dict.fromkeys(r.group for r in results):
            out.write(f"  {g}: {groups[(g, True)]}/{groups[(g, True)] + groups[(g, False)]}\n")
        mode = f" ({results[0].mode})" if args.audio and results else ""
        out.write(f"passed {sum(r.passed for r in results)} of {len(results)} procedures{mode}\n")
    return 0 if all(r.passed for r in results) else 1
