"""Benchmark: a 3-page T.38 call (ITU charts 1-3, fine, V.17 14400) between two faxcore
T.38 terminals (faxcore.t38.T38Terminal) and between two spandsp 0.0.6 T.38 terminals
(ctypes), in the same run, ECM and non-ECM. No audio: a T.38 endpoint's work is T.30,
the page coding and the IFP packets.

(a) CPU per call (both terminals). faxcore: the pair in virtual time with every packet
    IFP-encoded and decoded (faxcore.t38.ifp) on its way, and the received pages
    written to a TIFF-F, as a server would. spandsp at its best: one call through the
    ctypes harness is recorded, then both terminals' C entry calls
    (``t38_terminal_send_timeout``, ``t38_core_rx_ifp_packet``) are replayed in a bare
    loop with a C function as the packet handler, so only spandsp's C work (its IFP
    coding, T.30, T.4, TIFF I/O) and the ctypes calls are counted. Median of
    ``--repeat`` runs; ratio faxcore / spandsp.
(b) Calls one core sustains in real time, per endpoint (a server runs one end of each
    call): line seconds of the call / CPU seconds of one endpoint (half the pair's).
    Also where faxcore's time goes: the same call between bare T.30 engines
    (faxcore.t30.loopback), the terminals without the IFP codec, without the TIFF.
(c) Line time: the virtual seconds from the start to both ends finished, faxcore <->
    faxcore and spandsp <-> spandsp, and the mixed pairs (faxcore <-> spandsp).

    .venv/bin/python benchmarks/t38.py [--repeat N]
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
from faxcore.t30 import T30Status, TxPage
from faxcore.t38 import ifp
from faxcore.t38.link import DelayChannel, run_pair
from faxcore.t38.terminal import T38Terminal
from faxcore.testing.engines import loopback_call
from faxcore.testing.pages import pbm_page
from faxcore.testing.paths import SHARED
from faxcore.testing.spandsp.library import lib
from faxcore.testing.spandsp.t38 import SpandspT38Terminal, run_t38_call

SAMPLE_RATE = 8000


class IfpChannel(DelayChannel):
    """20 ms delay, every packet through the IFP encoder and decoder (version 0)."""

    def send(self, packets, now):
        super().send([ifp.decode(ifp.encode(p, 0), 0) for p in packets], now)


def faxcore_call(pages, out: Path | None, ecm: bool, codec: bool = True) -> tuple[float, float]:
    """(line seconds, CPU seconds) of one faxcore <-> faxcore call (``out``: the
    received TIFF-F, None for none; ``codec``: IFP-code every packet)."""
    t0 = time.process_time()
    a = T38Terminal(True, send=pages, ecm=ecm, modems=("v17",))
    b = T38Terminal(False, receive=out, ecm=ecm, modems=("v17",))
    chans = {"a_to_b": IfpChannel(), "b_to_a": IfpChannel()} if codec else {}
    line = run_pair(a, b, **chans)
    cpu = time.process_time() - t0
    if (a.result.status, b.result.status, len(b.pages)) != (T30Status.OK, T30Status.OK, 3):
        raise SystemExit(f"faxcore call failed: {a.result.summary()} / {b.result.summary()}")
    if out is not None:
        out.unlink()
    return line, cpu


def engines_call(pages, ecm: bool) -> float:
    """CPU seconds of the same call between two bare T.30 engines on the simulated line
    (faxcore.t30.loopback: no T.38, no TIFF): the T.30 and T.4 share."""
    t0 = time.process_time()
    a, b, _ = loopback_call(pages, caller={"ecm": ecm, "modems": ("v17",)},
                            answerer={"ecm": ecm, "modems": ("v17",)})
    cpu = time.process_time() - t0
    if len(b.received_pages) != 3:
        raise SystemExit("loopback call failed")
    return cpu


def spandsp_record(src: Path, out: Path, ecm: bool):
    """One spandsp <-> spandsp call through the harness: its line time and the ops."""
    a = RecordingT38Terminal(True, send_tiff=str(src), ecm=ecm, modems=("v17",))
    b = RecordingT38Terminal(False, receive_tiff=str(out), ecm=ecm, modems=("v17",))
    line = run_t38_call(a, b)
    if (a.status_name, b.status_name, b.stats.pages_rx) != ("OK", "OK", 3):
        raise SystemExit(f"spandsp call failed: {a.status_name} / {b.status_name}")
    return line, {True: a.ops, False: b.ops}


def spandsp_replay(src: Path, out: Path, ecm: bool, ops) -> float:
    """CPU seconds of both spandsp terminals doing the recorded call, C handler, bare
    loop (only the replay loop is timed, not the set-up)."""
    L = lib()
    total = 0.0
    for calling in (True, False):
        s = bare_t38_terminal(calling, src, out, ecm)
        total += replay_t38_ops(s, ops[calling])
        L.t38_terminal_free(s)
    return total


class FaxcoreEndpoint:
    """faxcore's terminal with the harness's surface (as in the interop tests)."""

    def __init__(self, terminal: T38Terminal):
        self.t, self.now, self._out, self._next = terminal, 0.0, [], None
        terminal.start(0.0)

    def advance(self, samples):
        self.now += samples / SAMPLE_RATE
        self._out += [(ifp.encode(p, 0), 1) for p in self.t.packets(self.now)]

    def take(self):
        out, self._out = self._out, []
        return out

    def rx_ifp(self, data, seq):
        self.t.receive_packet(ifp.decode(data, 0), self.now)

    @property
    def done(self):
        return self.t.done


def mixed_line_time(pages, src: Path, out: Path, ecm: bool, faxcore_sends: bool) -> float:
    if faxcore_sends:
        a = FaxcoreEndpoint(T38Terminal(True, send=pages, ecm=ecm, modems=("v17",)))
        b = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, modems=("v17",))
        ok = lambda: a.t.result.status == T30Status.OK and b.status_name == "OK"  # noqa: E731
    else:
        a = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, modems=("v17",))
        b = FaxcoreEndpoint(T38Terminal(False, ecm=ecm, modems=("v17",)))
        ok = lambda: b.t.result.status == T30Status.OK and a.status_name == "OK"  # noqa: E731
    line = run_t38_call(a, b)
    if not ok():
        raise SystemExit("mixed call failed")
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    pin_one_core()
    print_header("T.38 terminal: faxcore vs spandsp 0.0.6, 3 pages (ITU 1-3, fine), V.17")
    bitmaps = [pbm_page(SHARED / f"testdata/itu/itu{n}.pbm") for n in (1, 2, 3)]
    pages = [TxPage(p, "fine") for p in bitmaps]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src.tif", Path(tmp) / "out.tif"
        write_tiff(src, [Page(p, 204, 196) for p in bitmaps], "mh")
        for ecm in (True, False):
            fc_line, _ = faxcore_call(pages, out, ecm)   # warm-up (imports, caches)
            fc = [faxcore_call(pages, out, ecm)[1] for _ in range(args.repeat)]
            sp_line, ops = spandsp_record(src, out, ecm)
            sp = [spandsp_replay(src, out, ecm, ops) for _ in range(args.repeat)]
            fc_cpu, sp_cpu = statistics.median(fc), statistics.median(sp)
            bare = statistics.median(faxcore_call(pages, None, ecm, codec=False)[1]
                                     for _ in range(args.repeat))
            no_tiff = statistics.median(faxcore_call(pages, None, ecm)[1]
                                        for _ in range(args.repeat))
            eng = statistics.median(engines_call(pages, ecm) for _ in range(args.repeat))
            mix_fs = mixed_line_time(pages, src, out, ecm, True)
            mix_ss = mixed_line_time(pages, src, out, ecm, False)
            mode = "ECM" if ecm else "no ECM"
            print(f"\n[{mode}]  {args.repeat} repeats, medians (min..max)")
            print(f"(a) CPU per call, both ends: faxcore {fc_cpu * 1e3:7.1f} ms "
                  f"({min(fc) * 1e3:.1f}..{max(fc) * 1e3:.1f}), spandsp {sp_cpu * 1e3:7.1f} ms "
                  f"({min(sp) * 1e3:.1f}..{max(sp) * 1e3:.1f}); ratio faxcore/spandsp "
                  f"{fc_cpu / sp_cpu:.2f}")
            print(f"    faxcore's share: T.30 engines + T.4 {eng * 1e3:.1f} ms, T.38 terminals "
                  f"{(bare - eng) * 1e3:.1f} ms, IFP encode+decode {(no_tiff - bare) * 1e3:.1f} "
                  f"ms, received TIFF-F {(fc_cpu - no_tiff) * 1e3:.1f} ms")
            print(f"(b) calls per core in real time, per endpoint: faxcore "
                  f"{fc_line / (fc_cpu / 2):8.0f}, spandsp {sp_line / (sp_cpu / 2):8.0f}")
            print(f"(c) line time: faxcore<->faxcore {fc_line:.2f} s, spandsp<->spandsp "
                  f"{sp_line:.2f} s (ratio {fc_line / sp_line:.2f}); faxcore->spandsp "
                  f"{mix_fs:.2f} s, spandsp->faxcore {mix_ss:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
