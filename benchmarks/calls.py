"""Benchmark: the same 3-page fax call (ITU charts 1-3, fine) with faxcore at both ends,
with spandsp (libspandsp2 0.0.6) at both ends through the test suite's ctypes wrapper,
and with spandsp entirely in C (``benchmarks/c/spandsp_call.c``, built here with ``cc``):
same modem, ECM setting and pages, over 8 kHz audio in 20 ms blocks. The engines run
interleaved in a shuffled order, ``--repeat`` times; prints line seconds, CPU seconds per
call (both stations; min/median/max) and the ratios.

    .venv/bin/python benchmarks/calls.py [--modem v17|v29|v27ter] [--no-ecm] [--repeat N]
        [--profile] [--callgrind] [--jbig [N]]

``--jbig [N]``: instead, faxcore <-> faxcore over audio, ITU charts 1..N (8 by default,
fine), V.17 ECM, once with MMR and once with T.85 (JBIG), same run: line seconds, CPU
seconds and page bytes of each, and the JBIG/MMR line time ratio (issue 13's goal: the
8-chart call at least 20 % shorter, ratio <= 0.80).

``--callgrind``: the instructions of one warm faxcore call (valgrind's callgrind,
``--dump-instr=no``): a child running 2 calls minus one running 1 (imports, the first
call's table building and the exit cancel out), with OpenBLAS on one thread and a fixed
hash seed so that the two runs differ by the call alone; with the top functions by own
instructions (``callgrind_annotate``), the Python interpreter's and numpy's share
included. The load-proof figure: the same on a busy machine.

``--profile``: one faxcore call under cProfile, its time split by layer: Cython DSP
(the compiled modem, HDLC and codec cores), numpy (its functions and array methods),
Python glue (per faxcore package/module), other.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path

from _common import pin_one_core, print_header
from density import ENGINES, PER_PIECE, Workload, build_c_driver, one_call, whole_calls

DSP_TIME = [0.0]
DSP_CALLS = [0]
_DEPTH = [0]


def dsp_call(fn, *args):
    """Call a compiled (Cython) entry point, adding its time to DSP_TIME (once: a
    compiled call made inside another counts in the outer one). cProfile does not see
    calls into Cython methods (it charges them to the Python caller), so the hot entry
    points are routed through this frame while profiling."""
    _DEPTH[0] += 1
    DSP_CALLS[0] += 1
    t0 = time.process_time()
    try:
        return fn(*args)
    finally:
        _DEPTH[0] -= 1
        if not _DEPTH[0]:
            DSP_TIME[0] += time.process_time() - t0


class _Timed:
    """A compiled object whose method calls go through :func:`dsp_call`."""

    def __init__(self, obj):
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name):
        v = getattr(self._obj, name)
        if callable(v) and not isinstance(v, type):
            v = functools.partial(dsp_call, v)
            object.__setattr__(self, name, v)  # found directly from now on: cheap
        return v

    def __setattr__(self, name, value):
        setattr(self._obj, name, value)


def _timed_factory(cls):
    return lambda *a, **k: _Timed(cls(*a, **k))


def route_dsp_calls() -> None:
    """Route the compiled cores' entry points through :func:`dsp_call` (for --profile)."""
    from faxcore.modem import (  # after the driver's imports
        hdlc,
        pump,
        qam,
        qam_core,
        v17,
        v21,
        v29,
    )

    proxy = types.SimpleNamespace(**vars(qam_core))
    proxy.QamReceiver = _timed_factory(qam_core.QamReceiver)
    proxy.Modulator = _timed_factory(qam_core.Modulator)
    proxy.scramble23 = functools.partial(dsp_call, qam_core.scramble23)
    proxy.v17_encode = functools.partial(dsp_call, qam_core.v17_encode)
    for m in (qam, v17, v29):
        m.qam_core = proxy
    # the V.21 transmitter (v21.Transmitter, a V21TxCore) is compiled and called from
    # the compiled transmit pump: no Python entry to route, its time is the pump's
    process = v21.V21Demodulator.process
    v21.Receiver.process = lambda self, x: dsp_call(process, self, x)
    hdlc.Deframer = _timed_factory(hdlc.Deframer)
    hdlc.frames_bits = functools.partial(dsp_call, hdlc.frames_bits)
    hdlc.crc16_update = functools.partial(dsp_call, hdlc.crc16_update)
    # the V.27ter transmitter (PskTxCore: scrambler, coder and shaper in one compiled
    # core) is called from the compiled transmit pump, like V.21's: no Python entry
    make_pump = pump.rx_pump
    pump.rx_pump = lambda *a, **k: _Timed(make_pump(*a, **k))


def layer(key: tuple[str, int, str]) -> str:
    """The layer a cProfile entry belongs to."""
    path, _line, name = key
    if name == "dsp_call":
        return "Cython DSP (modem, HDLC cores, receive pump)"
    if name == "<built-in method time.process_time>":
        return "profiling overhead (the clock reads timing the cores)"
    if path == "~":  # a built-in: a C function or method
        if "faxcore." in name and ("_core" in name or "_t4" in name or "_pump" in name):
            return "Cython DSP (modem, HDLC cores, receive pump)"
        if "numpy" in name:
            return "numpy"
        return "Python built-ins (len, isinstance, list ops...)"
    if "/numpy/" in path:
        return "numpy"
    if "/faxcore/" in path:
        rel = path.split("/faxcore/", 1)[1]
        parts = rel.split("/")
        mod = parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
        if mod == "modem":
            return f"Python glue: modem/{parts[1]}"
        if mod == "testing":
            return "benchmark driver (testing)"
        return f"Python glue: {mod}"
    if "/benchmarks/" in path:
        return "benchmark driver (testing)"
    return "other Python (stdlib)"


def profile(w: Workload) -> None:
    """Print the per-layer split of one faxcore call: unprofiled (the compiled cores
    timed, the rest is Python and numpy) and under cProfile (every layer)."""
    route_dsp_calls()
    one_call(w, "faxcore", None)  # warm up the routes
    # what timing one call costs (two clock reads and the routing frame), to take out
    t0 = time.process_time()
    for _ in range(20000):
        dsp_call(int)
    per_call = (time.process_time() - t0) / 20000
    DSP_TIME[0] = 0.0
    DSP_CALLS[0] = 0
    t0 = time.process_time()
    one_call(w, "faxcore", None)
    total = time.process_time() - t0 - DSP_CALLS[0] * per_call
    print(f"\nfaxcore call, compiled cores timed (no profiler; the timing's own cost, "
          f"{DSP_CALLS[0]} x {per_call * 1e6:.2f} us, taken out): {total:.3f} CPU s, of which "
          f"{100 * DSP_TIME[0] / total:.1f} % in the Cython DSP cores, "
          f"{100 - 100 * DSP_TIME[0] / total:.1f} % Python glue + numpy + T.30")
    pr = cProfile.Profile()
    pr.enable()
    one_call(w, "faxcore", None)
    pr.disable()
    st = pstats.Stats(pr)
    total = st.total_tt
    by: dict[str, float] = defaultdict(float)
    calls = 0
    for key, (_cc, nc, tt, _ct, _callers) in st.stats.items():
        by[layer(key)] += tt
        calls += nc
    print(f"\nfaxcore call under cProfile: {total:.3f} s (profiled; the profiler inflates "
          f"Python calls), {calls} function calls")
    for name, tt in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * tt / total:5.1f} %  {tt:7.3f} s  {name}")
    print("\n  top 15 functions by own time:")
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:15]
    for (path, line, name), (_cc, nc, tt, _ct, _c) in rows:
        where = name if path == "~" else f"{Path(path).name}:{line} {name}"
        print(f"  {100 * tt / total:5.1f} %  {nc:7d} calls  {where}")


def _callgrind_run(n: int, modem: str, ecm: bool, out: Path) -> int:
    """Instructions of a child that makes ``n`` faxcore calls under callgrind."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=no",
                        f"--callgrind-out-file={out}", sys.executable, __file__,
                        "--modem", modem, *([] if ecm else ["--no-ecm"]),
                        "--calls-child", str(n)],
                       env=env, capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


def _self_costs(path: Path) -> dict[str, int]:
    """Own instructions per function (file:function [object]) from callgrind_annotate."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                           "--auto=no", "--tree=none", str(path)],
                          capture_output=True, text=True, check=True).stdout
    costs: dict[str, int] = defaultdict(int)
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            name = re.sub(r"\[.*/([^/\]]+)\]$", r"[\1]", m.group(2))
            costs[re.sub(r"^.*/", "", name)] += int(m.group(1).replace(",", ""))
    return costs


def callgrind(modem: str, ecm: bool, top: int = 15) -> None:
    """Print the instructions of one warm faxcore call and its top functions."""
    if shutil.which("valgrind") is None:
        print("  valgrind not installed: no instruction counts")
        return
    with tempfile.TemporaryDirectory() as d:
        one, two = Path(d) / "cg1.out", Path(d) / "cg2.out"
        n1 = _callgrind_run(1, modem, ecm, one)
        n2 = _callgrind_run(2, modem, ecm, two)
        c1, c2 = _self_costs(one), _self_costs(two)
    call = n2 - n1
    print(f"\none warm faxcore call under callgrind: {call:,} instructions "
          f"(2 calls {n2:,} - 1 call {n1:,})")
    diff = {k: c2.get(k, 0) - c1.get(k, 0) for k in set(c1) | set(c2)}
    share: dict[str, int] = defaultdict(int)
    for k, v in diff.items():
        share["Python interpreter" if "libpython" in k else
              "numpy" if "_multiarray_umath" in k else
              k.split("[")[-1].rstrip("]").split(".")[0] if "[" in k else "other"] += v
    print("  by object: " + ", ".join(f"{k} {100 * v / call:.1f} %" for k, v in
                                      sorted(share.items(), key=lambda kv: -kv[1])[:8]))
    print(f"  top {top} functions by own instructions:")
    for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {v:13,} {100 * v / call:5.1f} %  {k[:110]}")


def jbig_vs_mmr(charts: int, repeat: int) -> bool:
    """Print the line time of the same V.17 ECM call (ITU charts 1..``charts``, fine)
    coded MMR and T.85 (JBIG); True if every call ended OK with the pages intact. The
    sizes are the pages as the transmitter codes them for such a DCS (JBIG: faxcore's
    own AT and TPBON choice, optional L0 as both faxcore ends offer it)."""
    # function-level: only this mode needs the sessions and the shared charts, and the
    # other modes import faxcore through density's driver
    import numpy as np

    import faxcore
    from faxcore.t30 import T30Config, T30Status, TxPage
    from faxcore.t30.dis import DCSParams
    from faxcore.t30.modem_if import V17_14400
    from faxcore.t30.pages import encode_page
    from faxcore.testing.line import run_call
    from faxcore.testing.pages import pbm_page
    from faxcore.testing.peers import require_shared

    pages = [TxPage(pbm_page(require_shared(f"testdata/itu/itu{i}.pbm")), "fine")
             for i in range(1, charts + 1)]
    line: dict[str, float] = {}
    cpu: dict[str, list[float]] = defaultdict(list)
    size: dict[str, int] = {}
    good = True
    for _ in range(repeat):
        for name, jbig in (("mmr", False), ("jbig", True)):
            a = faxcore.FaxSession(True, send=pages, modems=("v17",), jbig=jbig)
            b = faxcore.FaxSession(False, modems=("v17",), jbig=jbig)
            t0 = time.process_time()
            line[name] = run_call(a, b, max_seconds=3600.0)
            cpu[name].append(time.process_time() - t0)
            ok = (a.result.status == T30Status.OK and b.result.scheme == name
                  and len(b.pages) == len(pages)
                  and all(np.array_equal(r, p.bitmap) for r, p in zip(b.pages, pages,
                                                                       strict=True)))
            good = good and ok
            size[name] = sum(len(encode_page(p, DCSParams(
                modulation=V17_14400, resolution="fine", scheme=name, ecm=True,
                jbig_l0=name == "jbig"), T30Config(calling=False))) for p in pages)
    for name in ("mmr", "jbig"):
        xs = cpu[name]
        extra = f"   coded pages {size[name]} bytes"
        print(f"  {name:5s} line {line[name]:7.1f} s   CPU per call min/median/max "
              f"{min(xs):.3f}/{statistics.median(xs):.3f}/{max(xs):.3f} s{extra}")
    print(f"  line time JBIG/MMR: {line['jbig'] / line['mmr']:.3f} "
          f"({100 * (1 - line['jbig'] / line['mmr']):.1f} % shorter with JBIG)")
    print("  all calls OK, pages identical" if good else "  SOME CALLS FAILED")
    return good


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modem", choices=("v17", "v29", "v27ter"), default="v29")
    ap.add_argument("--no-ecm", dest="ecm", action="store_false")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions of one warm faxcore call (valgrind), no timing")
    ap.add_argument("--calls-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--jbig", type=int, nargs="?", const=8, default=0, metavar="N",
                    help="faxcore MMR vs JBIG, V.17 ECM, ITU charts 1..N (default 8)")
    ap.add_argument("--per-piece", action="store_true",
                    help="also faxcore with its transmit pump off (the gain, same run)")
    args = ap.parse_args()
    if args.calls_child:  # under callgrind (see callgrind): n faxcore calls, no timing
        with tempfile.TemporaryDirectory() as d:
            w = Workload(Path(d), args.modem, args.ecm)
            good = all(one_call(w, "faxcore", None)[2] for _ in range(args.calls_child))
        return 0 if good else 1
    if args.callgrind:
        print_header(f"faxcore: one warm 3-page call (ITU 1-3, fine), {args.modem}, "
                     f"{'ECM' if args.ecm else 'no ECM'}, callgrind instructions")
        callgrind(args.modem, args.ecm)
        return 0
    pin_one_core()
    if args.jbig:
        print_header(f"faxcore MMR vs T.85 JBIG: {args.jbig}-page call (ITU 1-{args.jbig}, "
                     f"fine), V.17, ECM, {args.repeat} repeats, line and CPU time")
        return 0 if jbig_vs_mmr(args.jbig, args.repeat) else 1
    print_header(f"faxcore vs spandsp: 3-page call (ITU 1-3, fine), {args.modem}, "
                 f"{'ECM' if args.ecm else 'no ECM'}, {args.repeat} repeats, CPU time")
    with tempfile.TemporaryDirectory() as d:
        w = Workload(Path(d), args.modem, args.ecm)
        c_exe = build_c_driver(Path(d))
        engines = [e for e in ENGINES if e != "spandsp-C" or c_exe is not None]
        engines += [PER_PIECE] if args.per_piece else []
        cpu, line, good = whole_calls(w, engines, c_exe, args.repeat)
        for e in engines:
            xs = cpu[e]
            print(f"  {e:17s} line {line[e]:6.1f} s   CPU per call min/median/max "
                  f"{min(xs):.4f}/{statistics.median(xs):.4f}/{max(xs):.4f} s")
        for peer in engines[1:]:
            r = [f / s for f, s in zip(cpu["faxcore"], cpu[peer], strict=True)]
            print(f"  CPU faxcore/{peer}: min/median/max {min(r):.2f}/{statistics.median(r):.2f}/"
                  f"{max(r):.2f}   line time ratio {line['faxcore'] / line[peer]:.3f}")
        print("  all calls OK" if good else "  SOME CALLS FAILED")
        if args.profile:
            profile(w)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
