"""Benchmark: channel density, how many fax stations one core carries in real time.

    .venv/bin/python benchmarks/density.py [--pairs 20] [--seconds 30] [--repeat 3]
        [--modem v17] [--no-ecm] [--memory-pairs 40] [--no-c] [--per-piece] [--py-step]

Back-to-back calls (a calling station sending ITU charts 1-3 at fine resolution, an
answering one receiving them), 160-sample (20 ms) blocks, the same way for every engine:

* ``faxcore``: two :class:`faxcore.FaxSession` per call;
* ``spandsp-py``: two spandsp 0.0.6 ``fax_state_t`` through the ctypes wrapper of the
  test suite (:class:`faxcore.testing.spandsp.SpandspFax`, what the interop tests use);
* ``spandsp-C``: the same calls entirely in C (``benchmarks/c/spandsp_call.c``, built
  here with ``cc`` against libspandsp-dev into a temporary directory): spandsp at its
  best, no Python at all;
* ``faxcore-per-piece`` (``--per-piece``): faxcore with its transmit pump off
  (:data:`faxcore.session.TX_PUMP` None: the session's per-piece loop, as before the
  pump), so the pump's gain is measured in the same run;
* ``faxcore-py-step`` (``--py-step``): faxcore with its session step in plain Python
  (:class:`faxcore.modem.sessionpump.ReferenceSessionPump` instead of the compiled
  :class:`faxcore.modem._sessionpump.SessionPump`), so the compiled step's gain is
  measured in the same run.

``--pairs`` calls run at once; call i starts ``i x L / pairs`` seconds of line time late
(L: the length of one call) and each call is restarted with a fresh pair when it ends, so
every phase of a call (V.21 commands, training, page data, silence) is in the mix. After
one call length of warm-up, ``--seconds`` of line time are measured in CPU time (the
process's, so other processes on the machine count little): stations per core =
station-seconds of audio handled / CPU seconds. The worst 1-second window of line time
(the most CPU any second of line time took) gives a second, pessimistic figure. The
engines run in a shuffled order, ``--repeat`` times, in this one process (the C engine
as a child); the ratio is computed per repeat, and min/median/max are printed.

Resident memory per station: in a fresh child process per engine, the RSS growth from
one warm-up call's end to ``--memory-pairs`` calls in progress (staggered as above,
measured mid-call), divided by the stations. The pages sent are shared by every
calling station, so this is the memory of a session beyond the pages it sends; the
received pages are kept packed (one bit per pixel) and their coded data, both printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import pin_one_core, print_header

import faxcore
import faxcore.session
from faxcore.codecs.tiff import Page, write_tiff
from faxcore.modem import sessionpump, txpump
from faxcore.t30 import TxPage
from faxcore.testing.pages import pbm_page
from faxcore.testing.paths import SHARED
from faxcore.testing.spandsp import SpandspFax

BLOCK = 160
BLOCKS_PER_S = 8000 // BLOCK
C_SOURCE = Path(__file__).with_name("c") / "spandsp_call.c"
ENGINES = ("faxcore", "spandsp-py", "spandsp-C")
#: ``--per-piece``: faxcore with its transmit pump off (the session's per-piece loop, as
#: before the pump): the pump's gain measured in the same run
PER_PIECE = "faxcore-per-piece"
#: ``--py-step``: faxcore with the session step in Python (the compiled step's gain)
PY_STEP = "faxcore-py-step"


def select(engine: str) -> None:
    """Set the session's transmit pump and session step for ``engine`` (runs are one
    engine at a time)."""
    faxcore.session.TX_PUMP = None if engine == PER_PIECE else txpump.tx_pump
    faxcore.session.SESSION_PUMP = sessionpump.ReferenceSessionPump if engine == PY_STEP \
        else sessionpump.session_pump


def build_c_driver(outdir: Path) -> Path | None:
    """Compile benchmarks/c/spandsp_call.c against libspandsp-dev; None (and why, on
    stderr) if there is no C compiler or no spandsp headers."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("  (no C compiler: spandsp-C left out)", file=sys.stderr)
        return None
    exe = outdir / "spandsp_call"
    cmd = [cc, "-O2", "-o", str(exe), str(C_SOURCE), "-I/usr/include/x86_64-linux-gnu",
           "-lspandsp", "-ltiff", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        print(f"  (building the C driver failed: spandsp-C left out)\n{r.stderr}", file=sys.stderr)
        return None
    return exe


class Workload:
    """The pages, the TIFF spandsp sends, and where spandsp writes what it receives."""

    def __init__(self, tmp: Path, modem: str, ecm: bool):
        self.tmp = tmp
        self.modem = modem
        self.ecm = ecm
        bitmaps = [pbm_page(SHARED / f"testdata/itu/itu{n}.pbm") for n in (1, 2, 3)]
        self.pages = [TxPage(p, "fine") for p in bitmaps]
        self.tiff = tmp / "tx.tif"
        write_tiff(self.tiff, [Page(p, 204, 196) for p in bitmaps], "mh")

    def pair(self, engine: str, slot: int):
        if engine.startswith("faxcore"):
            return (faxcore.FaxSession(True, send=self.pages, ecm=self.ecm, modems=(self.modem,)),
                    faxcore.FaxSession(False, ecm=self.ecm, modems=(self.modem,)))
        return (SpandspFax(True, send_tiff=str(self.tiff), ecm=self.ecm, modems=(self.modem,)),
                SpandspFax(False, receive_tiff=str(self.tmp / f"rx{slot}.tif"), ecm=self.ecm,
                           modems=(self.modem,)))


def ok(engine: str, a, b) -> bool:
    if engine.startswith("faxcore"):
        # counted, not unpacked: b.pages would make a bitmap of every page
        got = sum(p.packed is not None for p in b.engine.received_pages)
        return a.result.ok and b.result.ok and got == 3
    return a.status_name == "OK" and b.status_name == "OK"


def one_call(w: Workload, engine: str, c_exe: Path | None) -> tuple[float, float, bool]:
    """(line seconds, CPU seconds, ok) of one call from start to end."""
    select(engine)
    if engine == "spandsp-C":
        out = subprocess.run([str(c_exe), str(w.tiff), str(w.tmp), w.modem, str(int(w.ecm)),
                              "1", "0", "0", "0"], capture_output=True, text=True, check=True)
        kv = dict(x.split("=") for x in out.stdout.split())
        return float(kv["line"]), float(kv["cpu"]), kv["ok"] == "1"
    a, b = w.pair(engine, 0)
    n = 0
    t0 = time.process_time()
    while not (a.done and b.done):
        x, y = a.tx(BLOCK), b.tx(BLOCK)
        a.rx(y)
        b.rx(x)
        n += BLOCK
        if n > 1800 * 8000:
            raise RuntimeError(f"{engine} call did not end")
    return n / 8000, time.process_time() - t0, ok(engine, a, b)


def whole_calls(w: Workload, engines: list[str], c_exe: Path | None, repeat: int
                ) -> tuple[dict[str, list[float]], dict[str, float], bool]:
    """``repeat`` rounds of one whole call per engine, in a new random order each round:
    (CPU seconds per engine and round, line seconds per engine, every call OK)."""
    cpu: dict[str, list[float]] = {e: [] for e in engines}
    line: dict[str, float] = {}
    good = True
    for _ in range(repeat):
        order = engines[:]
        random.shuffle(order)
        for e in order:
            ln, c, fine = one_call(w, e, c_exe)
            line[e] = ln
            cpu[e].append(c)
            good &= fine
    return cpu, line, good


def density(w: Workload, engine: str, pairs: int, seconds: float, call_s: float,
            c_exe: Path | None) -> dict:
    """Stations per core (mean and worst 1-second window) for ``pairs`` staggered,
    restarted calls, measured over ``seconds`` of line time after ``call_s`` of warm-up."""
    stagger = call_s / pairs
    select(engine)
    if engine == "spandsp-C":
        out = subprocess.run([str(c_exe), str(w.tiff), str(w.tmp), w.modem, str(int(w.ecm)),
                              str(pairs), str(seconds), str(stagger), str(call_s)],
                             capture_output=True, text=True, check=True)
        kv = {k: float(v) for k, v in (x.split("=") for x in out.stdout.split())}
        cpu, st_s, worst = kv["cpu"], kv["station_seconds"], kv["worst_window"]
        calls, good = int(kv["calls"]), int(kv["ok"])
    else:
        slots: list = [None] * pairs
        start = [int(stagger * i * BLOCKS_PER_S) for i in range(pairs)]
        warm = int(call_s * BLOCKS_PER_S)
        total = warm + int(seconds * BLOCKS_PER_S)
        st_s, calls, good, worst = 0.0, 0, 0, 0.0
        t0 = win0 = time.process_time()
        for blk in range(total):
            if blk == warm:
                t0 = win0 = time.process_time()
            elif blk > warm and (blk - warm) % BLOCKS_PER_S == 0:
                now = time.process_time()
                worst = max(worst, now - win0)
                win0 = now
            for i in range(pairs):
                if blk < start[i]:
                    continue
                p = slots[i]
                if p is None:
                    p = slots[i] = w.pair(engine, i)
                a, b = p
                x, y = a.tx(BLOCK), b.tx(BLOCK)
                a.rx(y)
                b.rx(x)
                if blk >= warm:
                    st_s += 2 * BLOCK / 8000
                if a.done and b.done:
                    if blk >= warm:
                        calls += 1
                        good += ok(engine, a, b)
                    slots[i] = None
        cpu = time.process_time() - t0
    return {"engine": engine, "cpu": cpu, "station_seconds": st_s,
            "per_core": st_s / cpu, "worst_per_core": (2 * pairs) / worst if worst else 0.0,
            "calls": calls, "ok": good}


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory_child(engine: str, modem: str, ecm: bool, pairs: int, call_s: float) -> None:
    """Child process: print the RSS growth per station with ``pairs`` calls mid-call."""
    with tempfile.TemporaryDirectory() as d:
        w = Workload(Path(d), modem, ecm)
        one_call(w, engine, None)  # warm-up: imports, caches, tables
        base = _rss_kb()
        stagger = call_s / pairs
        start = [int(stagger * i * BLOCKS_PER_S) for i in range(pairs)]
        slots: list = [None] * pairs
        peak = base
        for blk in range(int(call_s * BLOCKS_PER_S) - 1):   # the last starts just now
            for i in range(pairs):
                if blk < start[i] or (slots[i] is not None and slots[i] == "done"):
                    continue
                if slots[i] is None:
                    slots[i] = w.pair(engine, i)
                a, b = slots[i]
                x, y = a.tx(BLOCK), b.tx(BLOCK)
                a.rx(y)
                b.rx(x)
                if a.done and b.done:
                    slots[i] = "done"  # not restarted: the count of live stations stays known
            if blk % BLOCKS_PER_S == 0:
                peak = max(peak, _rss_kb())
        live = [s for s in slots if s not in (None, "done")]
        now = _rss_kb()
        # what the received pages hold of it: their rows as kept (packed, one bit per
        # pixel) and their coded data (as received); the goal is the RSS beyond
        # the coded data
        rx = [p for _a, b in live for p in getattr(getattr(b, "engine", None),
                                                      "received_pages", [])]
        held = sum(p.packed.nbytes for p in rx if p.packed is not None) // 1024
        coded = sum(len(p.data) for p in rx) // 1024
        n = max(1, 2 * len(live))
        print(json.dumps({"engine": engine, "stations": 2 * len(live),
                          "per_station_kb": (now - base) / n,
                          "peak_per_station_kb": (peak - base) / n,
                          "page_rows_per_station_kb": held / n,
                          "page_coded_per_station_kb": coded / n}))


def _mmm(xs: list[float], fmt: str = "{:.0f}") -> str:
    return "/".join(fmt.format(v) for v in (min(xs), statistics.median(xs), max(xs)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modem", choices=("v17", "v29", "v27ter"), default="v17")
    ap.add_argument("--no-ecm", dest="ecm", action="store_false")
    ap.add_argument("--pairs", type=int, default=20, help="calls at once (2 stations each)")
    ap.add_argument("--seconds", type=float, default=30.0, help="line seconds measured")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-pairs", type=int, default=40, help="0: no memory figure")
    ap.add_argument("--no-c", action="store_true", help="leave out the C driver")
    ap.add_argument("--per-piece", action="store_true",
                    help="also faxcore with its transmit pump off (the gain, same run)")
    ap.add_argument("--py-step", action="store_true",
                    help="also faxcore with its session step in Python (the gain, same run)")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    ap.add_argument("--call-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    pin_one_core()
    if args.memory_child:
        memory_child(args.memory_child, args.modem, args.ecm, args.memory_pairs, args.call_seconds)
        return 0
    print_header(f"density: {args.modem} {'ECM' if args.ecm else 'no ECM'} 3-page calls (ITU 1-3, "
                 f"fine), {args.pairs} at once staggered and restarted, {args.seconds:g} s measured, "
                 f"{args.repeat} repeats, CPU time on one core")
    failed = False
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        w = Workload(tmp, args.modem, args.ecm)
        c_exe = None if args.no_c else build_c_driver(tmp)
        engines = [e for e in ENGINES if e != "spandsp-C" or c_exe is not None]
        engines += [PER_PIECE] if args.per_piece else []
        engines += [PY_STEP] if args.py_step else []
        # whole calls first: their line length sets the stagger
        calls, line, good = whole_calls(w, engines, c_exe, args.repeat)
        failed |= not good
        print("\none whole call, CPU seconds (both stations) min/median/max; line seconds")
        for e in engines:
            print(f"  {e:17s} {_mmm(calls[e], '{:.4f}')} s   line {line[e]:.1f} s")
        call_s = line["faxcore"]
        rows: dict[str, list[dict]] = {e: [] for e in engines}
        for _ in range(args.repeat):
            order = engines[:]
            random.shuffle(order)
            for e in order:
                r = density(w, e, args.pairs, args.seconds, call_s, c_exe)
                rows[e].append(r)
                failed |= r["ok"] != r["calls"]
        print("\nstations per core in real time (mean over the window; worst 1-s window), "
              "min/median/max")
        for e in engines:
            rr = rows[e]
            print(f"  {e:17s} {_mmm([r['per_core'] for r in rr]):>17s}   worst 1 s "
                  f"{_mmm([r['worst_per_core'] for r in rr]):>17s}   calls ended "
                  f"{sum(r['calls'] for r in rr)} ({sum(r['ok'] for r in rr)} OK)")
        print("\nratios faxcore / peer (per repeat; > 1: faxcore carries more), min/median/max")
        for peer in engines[1:]:
            dens = [f["per_core"] / s["per_core"] for f, s in zip(rows["faxcore"], rows[peer], strict=True)]
            cpu = [f / s for f, s in zip(calls["faxcore"], calls[peer], strict=True)]
            print(f"  vs {peer:17s} density {_mmm(dens, '{:.3f}')}   whole-call CPU "
                  f"faxcore/{peer} {_mmm(cpu, '{:.2f}')}")
    if args.memory_pairs:
        print(f"\nresident memory per station, {args.memory_pairs} calls in progress "
              "(RSS growth / stations; peak)")
        for e in ("faxcore", "spandsp-py"):
            out = subprocess.run([sys.executable, __file__, "--memory-child", e, "--modem",
                                  args.modem, *([] if args.ecm else ["--no-ecm"]),
                                  "--memory-pairs", str(args.memory_pairs),
                                  "--call-seconds", str(call_s)],
                                 capture_output=True, text=True, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {e:11s} {m['per_station_kb'] / 1024:6.2f} MB per station "
                  f"({m['stations']} stations; peak {m['peak_per_station_kb'] / 1024:.2f} MB"
                  + (f"; received pages held {m['page_rows_per_station_kb'] / 1024:.2f} MB"
                     f" packed, their coded data {m['page_coded_per_station_kb'] / 1024:.2f} MB"
                     if e == "faxcore" else "") + ")")
            if e == "faxcore":
                beyond = m["per_station_kb"] - m["page_coded_per_station_kb"]
                print(f"  {'':11s} {beyond / 1024:6.2f} MB per station beyond its pages' "
                      "coded data (issue 14 goal: <= 1 MB)")
    print("\nall calls OK" if not failed else "\nSOME CALLS FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
