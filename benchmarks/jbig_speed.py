"""Benchmark: faxcore's T.85 JBIG codec against jbigkit's libjbig85 (jbg85_*), per page.

The same pages as ``benchmarks/codec.py`` (the eight ITU charts, a text page, a dithered
photo) plus its 8x8 Bayer halftone. jbigkit runs through the C driver of ``codec.py``
(one ctypes call codes or decodes a whole page), at its best: the output buffer (encode)
and the image (decode) are allocated once, outside the timed call, so only jbigkit's own
work is timed. faxcore runs through its public API (``jbig.encode`` on a PackedBitmap,
``decode(data, "jbig", width)``), allocations included.

Every repeat times both implementations back to back (order alternating), CPU time of
this thread; the ratio jbigkit time / faxcore time (> 1 = faxcore faster) is taken per
repeat and printed as min/median/max. Encode: plain (3-line template, TPBON, L0=128, no AT
moves: jbigkit's ``-m 0``; bytes must equal jbigkit's) and, with ``--at``, our own AT
choice (``auto_at=True``) against jbigkit's plain encode. Decode: of our (= jbigkit's)
stream. Pixels and bytes are checked before timing.

    python benchmarks/jbig_speed.py [--repeat 9] [--pages itu1,itu5,photo] [--at]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import codec as cb  # noqa: E402  (benchmarks/ is not a package: its page loader and driver)

from faxcore.codecs import decode, jbig, pack  # noqa: E402


class JbigkitBest(cb.Jbigkit):
    """The driver of codec.py with the buffers made once per page, outside the timing."""

    def prepare(self, pdata: np.ndarray, width: int) -> None:
        self.cap = pdata.size * 2 + 4096
        self.out = ctypes.create_string_buffer(self.cap)
        self.img = np.zeros_like(pdata)
        self.width = width

    def enc(self, pdata: np.ndarray) -> int:
        return self.lib.fc_jbg85_encode(pdata.ctypes.data, self.width, pdata.shape[0],
                                        jbig.TPBON, 128, 0, self.out, self.cap)

    def dec(self, data: bytes) -> int:
        return self.lib.fc_jbg85_decode(data, len(data), self.img.ctypes.data, self.width,
                                        self.img.shape[0])


def spread(v: list[float]) -> str:
    return f"{min(v):.2f}/{statistics.median(v):.2f}/{max(v):.2f}"


def timed(fn, *args, **kwargs) -> float:
    t0 = time.thread_time()
    fn(*args, **kwargs)
    return time.thread_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--pages", default="", help="comma-separated: itu1..itu8,text,photo,"
                    "halftone")
    ap.add_argument("--at", action="store_true", help="also time auto_at=True encode")
    args = ap.parse_args()
    names = [p for p in args.pages.split(",") if p]
    pages = cb.load_pages(names or None)
    if not names or "halftone" in names:
        pages["halftone"] = cb.halftone_page()
    failures = 0
    print("T.85 ratio = jbigkit CPU time / faxcore CPU time per repeat, min/median/max "
          f"over {args.repeat} (> 1 = faxcore faster); MP/s of the fastest repeat")
    hdr = (f"{'page':9} {'bytes':>7} | {'enc':>6} {'jbk':>6} {'enc ratio':>15} | "
           f"{'dec':>6} {'jbk':>6} {'dec ratio':>15}" + (f" | {'auto_at ratio':>15}"
                                                          if args.at else ""))
    print(hdr)
    print("-" * len(hdr))
    meds: dict[str, list[float]] = {"enc": [], "dec": [], "at": []}
    with tempfile.TemporaryDirectory() as tmp:
        jk = JbigkitBest(Path(tmp))
        for name, bm in pages.items():
            packed = pack(bm)
            pdata = np.ascontiguousarray(packed.data)
            rows, width = bm.shape
            jk.prepare(pdata, width)
            ours = jbig.encode(packed)
            n = jk.enc(pdata)
            theirs = jk.out.raw[:n]
            if ours != theirs:
                print(f"  !! {name}: bytes differ from jbigkit's")
                failures += 1
            jk.dec(theirs)
            page = decode(theirs, "jbig", width)
            if page.error or not (np.array_equal(jk.img, pdata)
                                  and np.array_equal(page.packed.data, pdata)):
                print(f"  !! {name}: pixels differ")
                failures += 1
            t: dict[str, list[float]] = {k: [] for k in ("enc", "jenc", "dec", "jdec", "at")}
            for i in range(args.repeat):
                runs = [("jenc", partial(timed, jk.enc, pdata)),
                        ("enc", partial(timed, jbig.encode, packed)),
                        ("jdec", partial(timed, jk.dec, theirs)),
                        ("dec", partial(timed, decode, theirs, "jbig", width))]
                if args.at:
                    runs.append(("at", partial(timed, jbig.encode, packed, auto_at=True)))
                for key, run in (runs if i % 2 == 0 else runs[::-1]):
                    t[key].append(run())
            mp = bm.size / 1e6
            re_ = [a / b for a, b in zip(t["jenc"], t["enc"], strict=True)]
            rd = [a / b for a, b in zip(t["jdec"], t["dec"], strict=True)]
            line = (f"{name:9} {len(ours):7d} | {mp / min(t['enc']):6.1f} "
                    f"{mp / min(t['jenc']):6.1f} {spread(re_):>15} | "
                    f"{mp / min(t['dec']):6.1f} {mp / min(t['jdec']):6.1f} {spread(rd):>15}")
            meds["enc"].append(statistics.median(re_))
            meds["dec"].append(statistics.median(rd))
            if args.at:
                ra = [a / b for a, b in zip(t["jenc"], t["at"], strict=True)]
                meds["at"].append(statistics.median(ra))
                line += f" | {spread(ra):>15}"
            print(line, flush=True)
    for k, label in (("enc", "encode"), ("dec", "decode"), ("at", "auto_at encode")):
        if meds[k]:
            print(f"{label:15} per-page median ratios: min {min(meds[k]):.2f} "
                  f"median {statistics.median(meds[k]):.2f} max {max(meds[k]):.2f}")
    if failures:
        print(f"{failures} identity checks FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
