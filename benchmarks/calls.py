"""Benchmark: the same 3-page fax call (ITU charts 1-3, fine) with faxcore at both ends
and with spandsp (libspandsp2 0.0.6, ctypes) at both ends, same modem, ECM setting and
pages, over 8 kHz audio in 20 ms blocks. Prints seconds on the line (from the first
sample to both stations finished) and CPU seconds per call, and the ratios.

    .venv/bin/python benchmarks/calls.py [--modem v17|v29|v27ter] [--no-ecm] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import faxcore
from faxcore.codecs.tiff import Page, write_tiff
from faxcore.t30 import TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import pbm_page
from faxcore.testing.paths import SHARED
from faxcore.testing.spandsp import SpandspFax


def run(a, b, limit=1800.0) -> tuple[float, float]:
    """(line seconds, CPU seconds) of one call."""
    t0 = time.process_time()
    line = run_call(a, b, max_seconds=limit)
    return line, time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modem", choices=("v17", "v29", "v27ter"), default="v29")
    ap.add_argument("--no-ecm", dest="ecm", action="store_false")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    pages = [pbm_page(SHARED / f"testdata/itu/itu{n}.pbm") for n in (1, 2, 3)]
    print(f"faxcore vs spandsp: 3-page call (ITU 1-3, fine), {args.modem}, "
          f"{'ECM' if args.ecm else 'no ECM'}; {platform.machine()} {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "tx.tif"
        write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
        for who in ("faxcore", "spandsp"):
            best_cpu, line, ok = float("inf"), 0.0, True
            for i in range(args.repeat):
                if who == "faxcore":
                    a = faxcore.FaxSession(True, send=[TxPage(p, "fine") for p in pages],
                                           ecm=args.ecm, modems=(args.modem,))
                    b = faxcore.FaxSession(False, ecm=args.ecm, modems=(args.modem,))
                else:
                    a = SpandspFax(True, send_tiff=str(src), ecm=args.ecm, modems=(args.modem,))
                    b = SpandspFax(False, receive_tiff=str(Path(d) / f"rx{i}.tif"), ecm=args.ecm,
                                   modems=(args.modem,))
                line, cpu = run(a, b)
                best_cpu = min(best_cpu, cpu)
                if who == "faxcore":
                    ok = ok and a.result.ok and b.result.ok and len(b.pages) == 3
                else:
                    ok = ok and a.status_name == "OK" and b.status_name == "OK"
            rows[who] = (line, best_cpu, ok)
            print(f"  {who:8s} line {line:7.1f} s   CPU {best_cpu:6.3f} s per call "
                  f"(both ends, best of {args.repeat})   {'OK' if ok else 'FAILED'}")
    fl, fc, _ = rows["faxcore"]
    sl, sc, _ = rows["spandsp"]
    print(f"  line time faxcore/spandsp = {fl / sl:.3f}   CPU faxcore/spandsp = {fc / sc:.2f}")
    return 0 if rows["faxcore"][2] and rows["spandsp"][2] else 1


if __name__ == "__main__":
    sys.exit(main())
