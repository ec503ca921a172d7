"""Benchmark: the CPU cost of carrying a fax call over G.711 RTP, against the same call on
bare audio, in the same run. Both run the same 3-page call (ITU charts 1-3, fine) between
two FaxSessions in 20 ms blocks: bare, the blocks go straight from one session to the
other (faxcore.testing.line.run_call); over RTP, each block is G.711-encoded into an RTP
packet, built, parsed, put in the far end's jitter buffer and played out
(faxcore.sipfax.rtp_media.run_virtual, no impairment). Calls alternate, CPU seconds are
process time; prints the best and median of each, and the overhead ratio (goal <= 1.10),
then the RTP path alone per packet.

    .venv/bin/python benchmarks/rtp.py [--modem v17|v29|v27ter] [--no-ecm] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
from _common import pin_one_core, print_header

import faxcore
from faxcore.rtp import PCMA, PCMU, RtpAudioStream
from faxcore.sipfax.rtp_media import RtpFaxEndpoint, run_virtual
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import run_call
from faxcore.testing.pages import pbm_page
from faxcore.testing.paths import SHARED


def sessions(pages, ecm: bool, modem: str):
    a = faxcore.FaxSession(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                           modems=(modem,))
    b = faxcore.FaxSession(False, ecm=ecm, modems=(modem,))
    return a, b


def bare(pages, ecm, modem) -> tuple[float, float]:
    a, b = sessions(pages, ecm, modem)
    t0 = time.process_time()
    line = run_call(a, b, block=160)
    cpu = time.process_time() - t0
    assert a.result.status == b.result.status == T30Status.OK
    return line, cpu


def over_rtp(pages, ecm, modem) -> tuple[float, float]:
    a, b = sessions(pages, ecm, modem)
    ea = RtpFaxEndpoint(a, RtpAudioStream(PCMU, rng=random.Random(1)))
    eb = RtpFaxEndpoint(b, RtpAudioStream(PCMA, rng=random.Random(2)))
    t0 = time.process_time()
    line = run_virtual(ea, eb)
    cpu = time.process_time() - t0
    assert a.result.status == b.result.status == T30Status.OK
    assert all(np.array_equal(x, y) for x, y in zip(b.pages, pages, strict=True))
    return line, cpu


def packet_path(n: int = 20000) -> float:
    """Microseconds per 20 ms packet for the RTP path alone (encode, build, parse, jitter
    buffer, decode, play) on a modem-like signal."""
    rng = np.random.default_rng(0)
    block = (rng.standard_normal(160) * 3000).astype(np.int16)
    tx, rx = RtpAudioStream(PCMU, rng=random.Random(1)), RtpAudioStream(PCMU)
    t0 = time.process_time()
    for _ in range(n):
        rx.receive(tx.send(block))
        rx.play()
    return (time.process_time() - t0) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modem", choices=("v17", "v29", "v27ter"), default="v17")
    ap.add_argument("--no-ecm", dest="ecm", action="store_false")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pin_one_core()
    print_header(f"G.711 RTP over a bare FaxSession call: 3 pages (ITU 1-3, fine), "
                 f"{args.modem}, {'ECM' if args.ecm else 'no ECM'}")
    pages = [pbm_page(SHARED / f"testdata/itu/itu{n}.pbm") for n in (1, 2, 3)]
    cpu: dict[str, list[float]] = {"bare": [], "rtp": []}
    lines = {}
    for _ in range(args.repeat):                 # alternate, so drift hits both alike
        for name, fn in (("bare", bare), ("rtp", over_rtp)):
            line, c = fn(pages, args.ecm, args.modem)
            cpu[name].append(c)
            lines[name] = line
    for name in ("bare", "rtp"):
        print(f"  {name:5} line {lines[name]:6.1f} s   CPU best {min(cpu[name]):6.3f} s   "
              f"median {statistics.median(cpu[name]):6.3f} s   ({args.repeat} calls)")
    best = min(cpu["rtp"]) / min(cpu["bare"])
    med = statistics.median(cpu["rtp"]) / statistics.median(cpu["bare"])
    print(f"  ratio RTP/bare: best {best:.3f}, median {med:.3f} (goal <= 1.10)")
    # the RTP call is longer on the line (each turn-around waits for the far end's
    # jitter buffer): per second of line time, what RTP itself adds
    per_line = med * lines["bare"] / lines["rtp"]
    print(f"  ratio per second of line time (median): {per_line:.3f}")
    us = packet_path()
    packets = 2 * lines["rtp"] / 0.020
    print(f"  RTP path alone: {us:.1f} us per 20 ms packet (send + receive + play); "
          f"x {packets:.0f} packets = {us * packets / 1e6:.3f} s of the call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
