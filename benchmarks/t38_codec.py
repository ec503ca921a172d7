"""T.38 wire codecs: packets per second (CPU time, best of repeats, one core) for the
typical data packet, a V.17 14400 bit/s non-ECM chunk of 54 octets (30 ms of line),
carried in UDPTL with redundancy 3 (and FEC 3x3 for comparison).

Rows: faxcore.t38.ifp encode/decode; faxcore.t38.udptl UdptlSender.send /
UdptlReceiver.feed; the whole path (IFP encode + UDPTL send, UDPTL feed + IFP decode).
The peer in the same run is faxcore.testing.udptl_ref, the independent UDPTL framing the
spandsp interop harness uses (written from the standard, separately from faxcore.t38);
spandsp's own IFP/UDPTL code is reachable only through ctypes callbacks, whose cost
would swamp a codec this small, so it is not timed here.

    python benchmarks/t38_codec.py [--packets 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _common import pin_one_core, print_header

from faxcore.t38 import ifp
from faxcore.t38.packets import DataPacket, DataType, Field, FieldType
from faxcore.t38.udptl import UdptlReceiver, UdptlSender
from faxcore.testing import udptl_ref


def best_rate(fn: Callable[[], int], repeats: int) -> float:
    """Items per CPU second: the best of ``repeats`` runs of ``fn`` (returns its count)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        n = fn()
        dt = time.process_time() - t0
        best = max(best, n / dt if dt > 0 else float("inf"))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    pin_one_core()
    print_header("T.38 codec packets/s (V.17 54-octet non-ECM data, redundancy 3)")
    n = args.packets
    chunks = [bytes((i * 7 + k) & 0xFF for k in range(54)) for i in range(64)]
    pkts = [DataPacket(DataType.V17_14400, (Field(FieldType.T4_NON_ECM_DATA, c),))
            for c in chunks]
    raw = [ifp.encode(p, 0) for p in pkts]
    assert len(raw[0]) == 59

    def ifp_encode() -> int:
        for i in range(n):
            ifp.encode(pkts[i & 63], 0)
        return n

    def ifp_decode() -> int:
        for i in range(n):
            ifp.decode(raw[i & 63], 0)
        return n

    def datagrams(fec: tuple[int, int] | None) -> list[bytes]:
        tx = UdptlSender(redundancy=3, fec=fec)
        return [tx.send(raw[i & 63]) for i in range(n)]

    def send(fec: tuple[int, int] | None) -> Callable[[], int]:
        def run() -> int:
            tx = UdptlSender(redundancy=3, fec=fec)
            for i in range(n):
                tx.send(raw[i & 63])
            return n
        return run

    def feed(dgs: list[bytes], decode: bool) -> Callable[[], int]:
        def run() -> int:
            rx = UdptlReceiver()
            got = 0
            for d in dgs:
                for x in rx.feed(d):
                    got += 1
                    if decode:
                        ifp.decode(x.ifp, 0)
            assert got == n
            return n
        return run

    def full_send() -> int:
        tx = UdptlSender(redundancy=3)
        for i in range(n):
            tx.send(ifp.encode(pkts[i & 63], 0))
        return n

    def ref_send() -> int:
        tx = udptl_ref.UdptlSender(redundancy=3)
        for i in range(n):
            tx.encode(raw[i & 63])
        return n

    red = datagrams(None)
    fec = datagrams((3, 3))

    def ref_feed() -> int:
        rx = udptl_ref.UdptlReceiver()
        got = sum(len(rx.receive(d)) for d in red)
        assert got == n
        return n

    rows = [
        ("IFP encode", best_rate(ifp_encode, args.repeats), None),
        ("IFP decode", best_rate(ifp_decode, args.repeats), None),
        ("UDPTL send, redundancy 3", best_rate(send(None), args.repeats),
         best_rate(ref_send, args.repeats)),
        ("UDPTL send, FEC 3x3", best_rate(send((3, 3)), args.repeats), None),
        ("UDPTL feed, redundancy 3", best_rate(feed(red, False), args.repeats),
         best_rate(ref_feed, args.repeats)),
        ("UDPTL feed, FEC 3x3", best_rate(feed(fec, False), args.repeats), None),
        ("IFP encode + UDPTL send (red. 3)", best_rate(full_send, args.repeats), None),
        ("UDPTL feed + IFP decode (red. 3)", best_rate(feed(red, True), args.repeats), None),
    ]
    print(f"{'':36} {'faxcore/s':>12} {'udptl_ref/s':>12} {'ratio':>7}")
    for name, ours, peer in rows:
        extra = f"{peer:12,.0f} {ours / peer:6.2f}x" if peer else ""
        print(f"{name:36} {ours:12,.0f} {extra}")
    per_call = 1 / 0.03            # one packet each 30 ms a direction
    full = min(rows[-1][1], rows[-2][1])
    print(f"one T.38 call sends and receives ~{per_call:.0f} packets/s a direction: the "
          f"slower whole path alone would carry ~{full / per_call:,.0f} calls per core")


if __name__ == "__main__":
    main()
