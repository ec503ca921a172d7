"""Benchmark: spandsp's T.38 terminal calling itself through the ctypes harness
(faxcore.testing.spandsp.t38), a 3-page V.17 ECM call (ITU charts 1-3, fine): CPU
seconds per call over a direct link and over the reference UDPTL (redundancy 3), and
how much of it is Python. The split: one call's operations (every ``advance`` and
``rx_ifp`` of each terminal) are recorded, then replayed straight into the C functions
twice, once with a C function as the tx packet handler (libc ``getpid``: the x86-64 C
ABI ignores the extra arguments; its return is > 0, which spandsp takes as sent) and
once with the wrapper's Python callback. spandsp is deterministic, so both replays do
the same C work.

    .venv/bin/python benchmarks/spandsp_t38.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    RecordingT38Terminal,
    bare_t38_terminal,
    pin_one_core,
    print_header,
    replay_t38_ops,
)

from faxcore.codecs.tiff import Page, write_tiff
from faxcore.testing.pages import pbm_page
from faxcore.testing.paths import SHARED
from faxcore.testing.spandsp.library import lib
from faxcore.testing.spandsp.t38 import SpandspT38Terminal, UdptlLink, run_t38_call


def pair(src: Path, out: Path, cls=SpandspT38Terminal):
    return (cls(True, send_tiff=str(src), ecm=True, modems=("v17",)),
            cls(False, receive_tiff=str(out), ecm=True, modems=("v17",)))


def call(src: Path, out: Path, udptl: bool) -> tuple[float, float]:
    a, b = pair(src, out)
    links = {"ab": UdptlLink(redundancy=3), "ba": UdptlLink(redundancy=3)} if udptl else {}
    t0 = time.process_time()
    line = run_t38_call(a, b, **links)
    cpu = time.process_time() - t0
    if (a.status_name, b.status_name, b.stats.pages_rx) != ("OK", "OK", 3):
        raise SystemExit(f"call failed: {a.status_name} / {b.status_name}")
    return line, cpu


def replay(src: Path, out: Path, ops: dict[bool, list], c_handler: bool) -> float:
    """CPU seconds to replay both terminals' recorded operations."""
    L = lib()
    total = 0.0
    for calling in (True, False):
        t = SpandspT38Terminal(calling, send_tiff=str(src) if calling else None,
                               receive_tiff=None if calling else str(out), ecm=True,
                               modems=("v17",))
        if c_handler:   # the same terminal, but its packets go to a C no-op
            L.t38_terminal_free(t._s)
            t._s = bare_t38_terminal(calling, src, out, ecm=True)
        total += replay_t38_ops(t._s, ops[calling])
        t.close()
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    pin_one_core()
    print_header("spandsp T.38 <-> T.38 through the ctypes harness")
    pages = [pbm_page(SHARED / f"testdata/itu/itu{n}.pbm") for n in (1, 2, 3)]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src.tif", Path(tmp) / "out.tif"
        write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
        a, b = pair(src, out, RecordingT38Terminal)
        line = run_t38_call(a, b)
        packets = sum(1 for op in a.ops + b.ops if op[0])
        ops = {True: a.ops, False: b.ops}
        direct = statistics.median(call(src, out, False)[1] for _ in range(args.repeat))
        udptl = statistics.median(call(src, out, True)[1] for _ in range(args.repeat))
        c_only = statistics.median(replay(src, out, ops, True) for _ in range(args.repeat))
        with_cb = statistics.median(replay(src, out, ops, False) for _ in range(args.repeat))
    calls = len(a.ops) + len(b.ops)
    print(f"line time {line:.2f} s; {calls} C entry calls, {packets} IFP packets delivered")
    print(f"CPU per call, direct link:        {direct * 1e3:8.1f} ms")
    print(f"CPU per call, UDPTL redundancy 3: {udptl * 1e3:8.1f} ms")
    print(f"replay, C packet handler:         {c_only * 1e3:8.1f} ms  (spandsp + ctypes calls)")
    print(f"replay, Python packet callback:   {with_cb * 1e3:8.1f} ms  "
          f"(+{(with_cb - c_only) * 1e6 / max(packets, 1):.2f} us per packet)")
    print(f"Python share of the direct call:  {100 * (direct - c_only) / direct:8.1f} %  "
          f"(callbacks {100 * (with_cb - c_only) / direct:.1f} %, harness loop "
          f"{100 * (direct - with_cb) / direct:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
