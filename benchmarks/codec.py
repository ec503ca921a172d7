"""Benchmark: faxcore's T.4/T.6 codec against libtiff's, in the same run.

Pages: the eight ITU-T test charts (../shared/testdata/itu/itu1..8.pbm, 1728 x 2376), a
dense text page rendered here with Pillow, a photo-like picture dithered to 1 bit by
Floyd-Steinberg error diffusion ("photo") and an 8x8 Bayer halftone ("halftone"), the
last three generated here, deterministically. Photo and halftone are the hard case for a
fax codec: runs of 1 to 4 pixels, so the cost is per code, not per pixel. For each page
and scheme (MH, MR with K=4, MMR) it encodes and decodes with

* faxcore, packed rows in and out (PackedBitmap: what libtiff works on too), and
* faxcore with numpy 0/1 bitmaps (the encode packs them, the decode result is unpacked),
* libtiff 4 (libtiff.so.6) through ctypes at its best: one strip per page in a TIFF on
  /dev/shm (memory-mapped, FillOrder 1, so libtiff decodes straight from the map without a
  copy); only the single TIFFWriteEncodedStrip / TIFFReadEncodedStrip call is timed
  (opening, tags and closing are not), and one ctypes call per page costs about 1 us
  against the milliseconds the page takes,

checks that both give identical bytes (encode) and pixels (decode), and prints megapixels
per second (from the fastest repeat) and the ratio faxcore/libtiff (> 1 = faxcore faster)
as min/median/max over the --repeat repeats. All times are CPU time of this thread
(time.thread_time), the implementations interleaved within each repeat, their order
alternating. The summary gives the same per page class (the 8 ITU charts together: per
repeat, libtiff's total time over the charts / faxcore's).

    python benchmarks/codec.py [--repeat 7] [--pages itu1,itu4,text,photo,halftone]
"""

from __future__ import annotations

import os

# numpy's OpenBLAS would otherwise start spinning worker threads that steal CPU from
# both codecs on a small machine (the benchmark does no linear algebra)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes
import ctypes.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faxcore.codecs import decode, encode, encode_tiff_strip, jbig, pack

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FAXCORE_SHARED", ROOT.parent / "shared"))
WIDTH, HEIGHT = 1728, 2376
SCHEMES = {"mh": (3, 0), "mr": (3, 1), "mmr": (4, 0)}  # Compression, T4Options

# --------------------------------------------------------------------------------------
# libtiff through ctypes
# --------------------------------------------------------------------------------------


class LibTiff:
    TAGS = {"width": 256, "length": 257, "bps": 258, "compression": 259, "photometric": 262,
            "fillorder": 266, "spp": 277, "rowsperstrip": 278, "xres": 282, "yres": 283,
            "planar": 284, "t4options": 292, "resunit": 296}

    def __init__(self) -> None:
        name = "libtiff.so.6"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError:
            found = ctypes.util.find_library("tiff")
            if not found:
                raise SystemExit("libtiff not found (apt-get install libtiff6)") from None
            self.lib = ctypes.CDLL(found)
        lib = self.lib
        lib.TIFFOpen.restype = ctypes.c_void_p
        lib.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.TIFFClose.argtypes = [ctypes.c_void_p]
        for fn in ("TIFFWriteEncodedStrip", "TIFFReadEncodedStrip", "TIFFReadRawStrip"):
            f = getattr(lib, fn)
            f.restype = ctypes.c_ssize_t
            f.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_ssize_t]
        lib.TIFFGetVersion.restype = ctypes.c_char_p
        lib.TIFFSetWarningHandler.restype = ctypes.c_void_p
        lib.TIFFSetWarningHandler.argtypes = [ctypes.c_void_p]
        lib.TIFFSetWarningHandler(None)
        self.version = lib.TIFFGetVersion().decode().splitlines()[0]
        self.dir = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self.path = os.path.join(self.dir, f"faxcore-bench-{os.getpid()}.tif").encode()

    def _set(self, tif, tag: str, value) -> None:
        arg = ctypes.c_double(value) if isinstance(value, float) else ctypes.c_int(value)
        if not self.lib.TIFFSetField(ctypes.c_void_p(tif), ctypes.c_uint32(self.TAGS[tag]), arg):
            raise RuntimeError(f"TIFFSetField {tag} failed")

    def encode(self, packed: np.ndarray, width: int, scheme: str) -> float:
        """Write one strip; returns the CPU seconds spent in TIFFWriteEncodedStrip."""
        comp, t4 = SCHEMES[scheme]
        tif = self.lib.TIFFOpen(self.path, b"w")
        if not tif:
            raise RuntimeError("TIFFOpen failed")
        rows = packed.shape[0]
        for tag, value in (("width", width), ("length", rows), ("bps", 1), ("spp", 1),
                           ("compression", comp), ("photometric", 0), ("fillorder", 1),
                           ("planar", 1), ("rowsperstrip", rows), ("xres", 204.0),
                           ("yres", 196.0), ("resunit", 2)):  # 196 dpi: libtiff MR K=4
            self._set(tif, tag, value)
        if comp == 3:
            self._set(tif, "t4options", t4)
        buf = packed.ctypes.data_as(ctypes.c_void_p)
        t0 = time.thread_time()
        n = self.lib.TIFFWriteEncodedStrip(tif, 0, buf, packed.nbytes)
        t = time.thread_time() - t0
        self.lib.TIFFClose(tif)
        if n != packed.nbytes:
            raise RuntimeError("TIFFWriteEncodedStrip failed")
        return t

    def raw_strip(self) -> bytes:
        tif = self.lib.TIFFOpen(self.path, b"r")
        buf = ctypes.create_string_buffer(8 << 20)
        n = self.lib.TIFFReadRawStrip(tif, 0, buf, len(buf))
        self.lib.TIFFClose(tif)
        return buf.raw[:n]

    def open_for_decode(self):
        return self.lib.TIFFOpen(self.path, b"r")

    def decode(self, tif, out: np.ndarray) -> float:
        buf = out.ctypes.data_as(ctypes.c_void_p)
        t0 = time.thread_time()
        n = self.lib.TIFFReadEncodedStrip(tif, 0, buf, out.nbytes)
        t = time.thread_time() - t0
        if n != out.nbytes:
            raise RuntimeError(f"TIFFReadEncodedStrip returned {n}")
        return t

    def close(self, tif) -> None:
        self.lib.TIFFClose(tif)

    def cleanup(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


# --------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------

WORDS = ("fax facsimile modem page line code run white black scan resolution transmit "
         "receive protocol signal phase the of and to in is for on with as by at from "
         "T.4 T.30 V.29 V.17 ECM MCF DCS DIS CFR TCF 9600 14400 bit/s 1728 pixels").split()


def text_page() -> np.ndarray:
    """A dense page of small text (about 80 lines of 140 characters), deterministic."""
    rng = np.random.default_rng(20240601)
    img = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=20)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    y = 40
    while y < HEIGHT - 60:
        line = " ".join(rng.choice(WORDS, size=40))
        draw.text((60, y), line, fill=0, font=font)
        y += 27
    return (np.asarray(img) < 128).astype(np.uint8)


def photo_page() -> np.ndarray:
    """A photo-like picture (smooth shading, soft blobs, fine texture) dithered to 1 bit
    by Floyd-Steinberg error diffusion (Pillow's convert("1")), as a fax driver sends a
    photo; deterministic. About 1.5 MB in MH: runs of mostly 1 to 4 pixels."""
    rng = np.random.default_rng(20261207)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    grey = 128 + 60 * np.sin(x / 210.0 + np.cos(y / 170.0)) * np.cos(y / 130.0)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(80, 400)
        grey += rng.uniform(-70, 70) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    noise = rng.normal(0, 1, (HEIGHT // 8 + 1, WIDTH // 8 + 1)).astype(np.float32)
    grey += 25 * np.asarray(Image.fromarray(noise).resize((WIDTH, HEIGHT), Image.BICUBIC))
    img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")
    return (np.asarray(img.convert("1")) == 0).astype(np.uint8)


def load_pages(names: list[str] | None) -> dict[str, np.ndarray]:
    pages = {}
    for i in range(1, 9):
        name = f"itu{i}"
        if names and name not in names:
            continue
        path = SHARED / "testdata" / "itu" / f"{name}.pbm"
        if not path.exists():
            print(f"missing {path}, skipped", file=sys.stderr)
            continue
        with Image.open(path) as im:
            pages[name] = (np.asarray(im.convert("L")) < 128).astype(np.uint8)
    for name, make in (("text", text_page), ("photo", photo_page),
                       ("halftone", halftone_page)):
        if not names or name in names:
            pages[name] = make()
    return pages


def page_class(name: str) -> str:
    return "itu" if name.startswith("itu") else name


def spread(values: list[float]) -> str:
    """min/median/max of a list of ratios."""
    return (f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}")


# --------------------------------------------------------------------------------------


def clock(fn, *args, **kwargs) -> float:
    """CPU seconds (this thread) one call of fn(*args, **kwargs) takes."""
    t0 = time.thread_time()
    fn(*args, **kwargs)
    return time.thread_time() - t0


def decode_bitmap(data: bytes, scheme: str, width: int, rows: int) -> np.ndarray:
    return decode(data, scheme, width, rows=rows).bitmap

# --------------------------------------------------------------------------------------
# JBIG (T.85) against jbigkit's libjbig (jbg85_*), through a small C driver built here
# --------------------------------------------------------------------------------------

JBIG_DRIVER = r"""
#include <stdlib.h>
#include <string.h>
#include <jbig85.h>
struct obuf { unsigned char *p; size_t n, cap; };
static void out_cb(unsigned char *s, size_t len, void *f) {
    struct obuf *o = f;
    if (o->n + len > o->cap) return;          /* the caller gives enough room */
    memcpy(o->p + o->n, s, len); o->n += len;
}
/* whole page: rows of bpl bytes -> BIE; returns its length */
long fc_jbg85_encode(const unsigned char *img, unsigned long w, unsigned long h,
                     int options, unsigned long l0, int mx, unsigned char *out, size_t cap) {
    struct jbg85_enc_state s; struct obuf o = {out, 0, cap};
    size_t bpl = (w + 7) / 8; unsigned long y;
    jbg85_enc_init(&s, w, h, out_cb, &o);
    jbg85_enc_options(&s, options, l0, mx);
    for (y = 0; y < h; y++)
        jbg85_enc_lineout(&s, (unsigned char *)img + y * bpl,
                          y > 0 ? (unsigned char *)img + (y - 1) * bpl : NULL,
                          y > 1 ? (unsigned char *)img + (y - 2) * bpl : NULL);
    return (long)o.n;
}
struct lines { unsigned char *p; size_t bpl; unsigned long rows; };
static int line_cb(const struct jbg85_dec_state *s, unsigned char *start, size_t len,
                   unsigned long y, void *f) {
    struct lines *l = f;
    if (y < l->rows) memcpy(l->p + y * l->bpl, start, len);
    return 0;
}
/* BIE -> rows; returns jbigkit's result code (0 = JBG_EOK) */
int fc_jbg85_decode(unsigned char *bie, size_t len, unsigned char *img, unsigned long w,
                    unsigned long h) {
    struct jbg85_dec_state s; size_t cnt = 0, done = 0; int r = 0;
    size_t bpl = (w + 7) / 8;
    unsigned char *buf = malloc(3 * bpl);
    struct lines l = {img, bpl, h};
    jbg85_dec_init(&s, buf, 3 * bpl, line_cb, &l);
    while (done < len) {
        r = jbg85_dec_in(&s, bie + done, len - done, &cnt);
        done += cnt;
        if (r != JBG_EOK_INTR) break;
    }
    if (r == JBG_EAGAIN) r = jbg85_dec_end(&s);
    free(buf);
    return r;
}
"""


class Jbigkit:
    """jbigkit's T.85 coder (libjbig, jbg85_*): the C driver above, compiled now."""

    def __init__(self, workdir: Path) -> None:
        src, lib = workdir / "fc_jbg85.c", workdir / "fc_jbg85.so"
        src.write_text(JBIG_DRIVER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-ljbig"],
                       check=True)
        self.lib = ctypes.CDLL(str(lib))
        self.lib.fc_jbg85_encode.restype = ctypes.c_long
        self.lib.fc_jbg85_encode.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong,
                                             ctypes.c_int, ctypes.c_ulong, ctypes.c_int,
                                             ctypes.c_void_p, ctypes.c_size_t]
        self.lib.fc_jbg85_decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                             ctypes.c_ulong, ctypes.c_ulong]

    # the output buffer and the decoded image are made once per size and reused, so the
    # timed calls measure jbigkit's coding, not a fresh 1 MB buffer being zeroed
    _out: ctypes.Array | None = None
    _img: np.ndarray | None = None

    def encode(self, pdata: np.ndarray, width: int) -> bytes:
        cap = pdata.size * 2 + 4096
        if self._out is None or len(self._out) < cap:
            self._out = ctypes.create_string_buffer(cap)
        n = self.lib.fc_jbg85_encode(pdata.ctypes.data, width, pdata.shape[0], jbig.TPBON,
                                     128, 0, self._out, cap)
        return ctypes.string_at(self._out, n)

    def decode(self, data: bytes, width: int, rows: int) -> np.ndarray:
        shape = (rows, (width + 7) // 8)
        if self._img is None or self._img.shape != shape:
            self._img = np.zeros(shape, np.uint8)
        r = self.lib.fc_jbg85_decode(data, len(data), self._img.ctypes.data, width, rows)
        if r not in (0, 0x10):
            raise RuntimeError(f"jbigkit decode failed: {r:#x}")
        return self._img


def halftone_page() -> np.ndarray:
    """A smooth picture through an 8x8 Bayer matrix (a halftoned photo)."""
    b2 = np.array([[0, 2], [3, 1]])
    b8 = np.kron(np.kron(b2, np.ones((2, 2), int)) * 4 + np.tile(b2, (2, 2)),
                 np.ones((2, 2), int)) * 4 + np.tile(b2, (4, 4))
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    grey = 32 + 28 * np.sin(x / 150.0) * np.cos(y / 90.0)
    return (grey > b8[y % 8, x % 8]).astype(np.uint8)


def bench_jbig(pages: dict[str, np.ndarray], repeat: int) -> int:
    """T.85 (3-line template, TPBON, L0=128, no AT moves: jbigkit's -m 0) against jbigkit,
    and sizes against MMR. Returns the number of failed identity checks."""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        jk = Jbigkit(Path(tmp))
        print()
        print("JBIG T.85 (3-line, TPBON, L0=128, MX=0) vs jbigkit libjbig jbg85_*; "
              "ratio = faxcore / jbigkit (> 1 = faxcore faster)")
        hdr = (f"{'page':9} {'jbig B':>7} {'mmr B':>7} {'mmr/jbig':>8} | {'enc':>6} "
               f"{'jbigkit':>7} {'ratio':>6} | {'dec':>6} {'jbigkit':>7} {'ratio':>6}")
        print(hdr)
        print("-" * len(hdr))
        enc_r, dec_r, size_r = [], [], []
        for name, bm in {**pages, "halftone": halftone_page()}.items():
            packed = pack(bm)
            pdata = np.ascontiguousarray(packed.data)
            rows, width = bm.shape
            mp = bm.size / 1e6
            ours = jbig.encode(packed)
            theirs = jk.encode(pdata, width)
            if ours != theirs:
                print(f"  !! {name}: jbig bytes differ from jbigkit's")
                failures += 1
            if not (np.array_equal(jk.decode(ours, width, rows), pdata)
                    and np.array_equal(decode(theirs, "jbig", width).packed.data, pdata)):
                print(f"  !! {name}: jbig pixels differ")
                failures += 1
            mmr = len(encode(packed, "mmr"))
            # interleaved, order alternating; the ratio is the median of the per-repeat
            # ratios, MP/s from the fastest repeat (benchmarks/jbig_speed.py: min/med/max)
            t: dict[str, list[float]] = {"e": [], "je": [], "d": [], "jd": []}
            for i in range(repeat):
                runs = [("je", partial(clock, jk.encode, pdata, width)),
                        ("e", partial(clock, jbig.encode, packed)),
                        ("jd", partial(clock, jk.decode, theirs, width, rows)),
                        ("d", partial(clock, decode, ours, "jbig", width))]
                for key, run in (runs if i % 2 == 0 else runs[::-1]):
                    t[key].append(run())
            re_ = statistics.median(a / b for a, b in zip(t["je"], t["e"], strict=True))
            rd = statistics.median(a / b for a, b in zip(t["jd"], t["d"], strict=True))
            te, tje, td, tjd = min(t["e"]), min(t["je"]), min(t["d"]), min(t["jd"])
            if name.startswith("itu"):
                enc_r.append(re_)
                dec_r.append(rd)
                size_r.append(mmr / len(ours))
            print(f"{name:9} {len(ours):7d} {mmr:7d} {mmr / len(ours):8.2f} | {mp / te:6.1f} "
                  f"{mp / tje:7.1f} {re_:6.2f} | {mp / td:6.1f} {mp / tjd:7.1f} "
                  f"{rd:6.2f}", flush=True)
        if enc_r:
            print(f"median over the ITU charts: encode ratio {statistics.median(enc_r):.2f}, "
                  f"decode ratio {statistics.median(dec_r):.2f}, "
                  f"MMR bytes / JBIG bytes {statistics.median(size_r):.2f}")
    return failures


def bench_jbig_at(pages: dict[str, np.ndarray], repeat: int) -> int:
    """Our encoder's own AT choice (``auto_at``) and the coding the T.30 transmitter uses
    (``encode_for_line``: AT, TPBON on/off, one stripe with optional L0) against no AT
    moves, jbigkit's own AT choice (libjbig jbg85, MX 8, its default) and MMR: sizes, and
    the encode CPU cost of the choice ('x' = AT / no AT; jbigkit's with its AT choice). Every AT stream is decoded by jbigkit's library.
    Returns the number of failed identity checks."""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        jk = Jbigkit(Path(tmp))
        print()
        print("JBIG AT choice: bytes (L0=128 unless said), encode CPU ms (fastest of "
              f"{repeat}); 'line' = T.30 coding with optional L0 (one stripe)")
        hdr = (f"{'page':9} {'mmr':>7} {'no AT':>7} {'jbigkit':>7} {'AT':>7} {'line':>7} "
               f"{'AT/noAT':>7} | {'ms noAT':>7} {'ms AT':>7} {'ms line':>7} {'x':>5} "
               f"{'ms jbigkit':>10}")
        print(hdr)
        print("-" * len(hdr))
        tot: dict[str, int] = defaultdict(int)
        for name, bm in {**pages, "halftone": halftone_page()}.items():
            packed = pack(bm)
            pdata = np.ascontiguousarray(packed.data)
            rows, width = bm.shape
            plain = jbig.encode(packed)
            moved = jbig.encode(packed, auto_at=True)
            line = jbig.encode_for_line(packed, optional_l0=True)
            cap = pdata.size * 2 + 4096
            out = ctypes.create_string_buffer(cap)
            n = jk.lib.fc_jbg85_encode(pdata.ctypes.data, width, rows, jbig.TPBON, 128, 8,
                                       out, cap)
            theirs = out.raw[:n]
            for label, data in (("AT", moved), ("line", line)):
                if not np.array_equal(jk.decode(data, width, rows), pdata):
                    print(f"  !! {name}: jbigkit decodes our {label} stream to other pixels")
                    failures += 1
            mmr = len(encode(packed, "mmr"))
            tp = ta = tl = tj = float("inf")

            def jk_at(pdata=pdata, width=width, rows=rows, out=out, cap=cap) -> int:
                return jk.lib.fc_jbg85_encode(pdata.ctypes.data, width, rows, jbig.TPBON,
                                              128, 8, out, cap)

            for _ in range(repeat):
                tj = min(tj, clock(jk_at))
                tp = min(tp, clock(jbig.encode, packed))
                ta = min(ta, clock(partial(jbig.encode, auto_at=True), packed))
                tl = min(tl, clock(partial(jbig.encode_for_line, optional_l0=True), packed))
            for key, v in (("mmr", mmr), ("plain", len(plain)), ("jk", len(theirs)),
                           ("at", len(moved)), ("line", len(line))):
                tot[key] += v if name.startswith("itu") else 0
            print(f"{name:9} {mmr:7d} {len(plain):7d} {len(theirs):7d} {len(moved):7d} "
                  f"{len(line):7d} {len(moved) / len(plain):7.3f} | {1e3 * tp:7.1f} "
                  f"{1e3 * ta:7.1f} {1e3 * tl:7.1f} {ta / tp:5.1f} {1e3 * tj:10.1f}",
                  flush=True)
        if tot["plain"]:
            print(f"{'ITU sum':9} {tot['mmr']:7d} {tot['plain']:7d} {tot['jk']:7d} "
                  f"{tot['at']:7d} {tot['line']:7d} {tot['at'] / tot['plain']:7.3f}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--pages", default="",
                    help="comma-separated: itu1..itu8,text,photo,halftone")
    ap.add_argument("--schemes", default="mh,mr,mmr,jbig")
    ap.add_argument("--at", action="store_true",
                    help="with jbig: also the encoder's own AT choice (sizes, encode cost)")
    args = ap.parse_args()
    lt = LibTiff()
    pages = load_pages([p for p in args.pages.split(",") if p] or None)
    schemes = [s for s in args.schemes.split(",") if s != "jbig"]
    with_jbig = "jbig" in args.schemes.split(",")
    print(f"faxcore codec benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {lt.version}")
    print(f"MP/s = megapixels per CPU second (fastest of {args.repeat}); ratio = libtiff time / "
          "faxcore time, min/med/max over the repeats (> 1 = faxcore faster); 'pk' = "
          "PackedBitmap in/out (like libtiff), 'arr' = numpy 0/1 bitmap in/out (median)")
    hdr = (f"{'page':8} {'sch':4} {'bytes':>7} | {'enc pk':>6} {'lt':>6} {'ratio pk':>14} "
           f"{'arr':>5} | {'dec pk':>6} {'lt':>6} {'ratio pk':>14} {'arr':>5}")
    print(hdr)
    print("-" * len(hdr))
    ratios: dict[tuple[str, str, str], list[float]] = {}
    # (class, scheme, direction) -> per repeat [libtiff seconds, faxcore packed seconds]
    totals: dict[tuple[str, str, str], list[list[float]]] = {}
    failures = 0
    mp = None
    try:
        for name, bm in pages.items():
            packed = pack(bm)
            pdata = np.ascontiguousarray(packed.data)
            mp = bm.size / 1e6
            for scheme in schemes:
                # --- encode
                lt.encode(pdata, bm.shape[1], scheme)
                ref = lt.raw_strip()
                ours = encode_tiff_strip(packed, scheme)
                if ours != ref or encode_tiff_strip(bm, scheme) != ref:
                    print(f"  !! {name} {scheme}: encoded bytes differ from libtiff")
                    failures += 1
                t = {key: [] for key in ("enc lt", "enc pk", "enc arr",
                                         "dec lt", "dec pk", "dec arr")}
                for i in range(args.repeat):
                    runs = [("enc lt", partial(lt.encode, pdata, bm.shape[1], scheme)),
                            ("enc pk", partial(clock, encode_tiff_strip, packed, scheme)),
                            ("enc arr", partial(clock, encode_tiff_strip, bm, scheme))]
                    for key, run in (runs if i % 2 == 0 else runs[::-1]):
                        t[key].append(run())
                # --- decode (the file on /dev/shm now holds libtiff's strip = ours)
                tif = lt.open_for_decode()
                out = np.empty_like(pdata)
                page = decode(ref, scheme, bm.shape[1], rows=bm.shape[0])
                lt.decode(tif, out)
                if (page.error or not np.array_equal(page.packed.data, out)
                        or not np.array_equal(page.bitmap, bm)):
                    print(f"  !! {name} {scheme}: decoded pixels differ from libtiff/input")
                    failures += 1
                for i in range(args.repeat):
                    runs = [("dec lt", partial(lt.decode, tif, out)),
                            ("dec pk", partial(clock, decode, ref, scheme, bm.shape[1],
                                               rows=bm.shape[0])),
                            ("dec arr", partial(clock, decode_bitmap, ref, scheme,
                                                bm.shape[1], bm.shape[0]))]
                    for key, run in (runs if i % 2 == 0 else runs[::-1]):
                        t[key].append(run())
                lt.close(tif)
                r = {(d, form): [a / b for a, b in zip(t[f"{d} lt"], t[f"{d} {short}"],
                                                        strict=True)]
                     for d in ("enc", "dec") for form, short in (("packed", "pk"),
                                                                 ("array", "arr"))}
                if name.startswith("itu"):
                    for (d, form), v in r.items():
                        ratios.setdefault((scheme, d, form), []).append(statistics.median(v))
                for d in ("enc", "dec"):
                    acc = totals.setdefault((page_class(name), scheme, d),
                                            [[0.0, 0.0] for _ in range(args.repeat)])
                    for i in range(args.repeat):
                        acc[i][0] += t[f"{d} lt"][i]
                        acc[i][1] += t[f"{d} pk"][i]
                print(f"{name:8} {scheme:4} {len(ref):7d} | {mp / min(t['enc pk']):6.0f} "
                      f"{mp / min(t['enc lt']):6.0f} {spread(r['enc', 'packed']):>14} "
                      f"{statistics.median(r['enc', 'array']):5.2f} | "
                      f"{mp / min(t['dec pk']):6.0f} {mp / min(t['dec lt']):6.0f} "
                      f"{spread(r['dec', 'packed']):>14} "
                      f"{statistics.median(r['dec', 'array']):5.2f}", flush=True)
    finally:
        lt.cleanup()
    if with_jbig:
        failures += bench_jbig(pages, args.repeat)
        if args.at:
            failures += bench_jbig_at(pages, args.repeat)
    if totals:
        print()
        print("per page class, packed rows: ratio faxcore/libtiff, min/median/max over the "
              f"{args.repeat} repeats (itu = the 8 charts' total time per repeat)")
        print(f"{'class':9} {'scheme':6} {'encode':>16} {'decode':>16}")
        for cls in dict.fromkeys(page_class(n) for n in pages):
            for scheme in schemes:
                vals = [spread([a / b for a, b in totals[cls, scheme, d]])
                        for d in ("enc", "dec")]
                print(f"{cls:9} {scheme:6} {vals[0]:>16} {vals[1]:>16}")
    if ratios:
        print()
        print("median (over the ITU charts) of each chart's median ratio faxcore/libtiff "
              "(>= 1.0: faxcore faster)")
        print(f"{'scheme':6} {'enc packed':>10} {'enc array':>10} {'dec packed':>10} "
              f"{'dec array':>10}")
        for scheme in schemes:
            vals = [statistics.median(ratios[scheme, d, f]) for d in ("enc", "dec")
                    for f in ("packed", "array")]
            print(f"{scheme:6} " + " ".join(f"{v:10.2f}" for v in vals))
    if failures:
        print(f"{failures} identity checks FAILED")
        return 1
    print("identity checks: faxcore bytes == libtiff bytes and pixels == libtiff pixels "
          "for every page and scheme")
    return 0


if __name__ == "__main__":
    sys.exit(main())
