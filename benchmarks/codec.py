"""Benchmark: faxcore's T.4/T.6 codec against libtiff's, in the same run.

Pages: the eight ITU-T test charts (../shared/testdata/itu/itu1..8.pbm, 1728 x 2376) and a
dense text page rendered here with Pillow (deterministic). For each page and scheme (MH,
MR with K=4, MMR) it encodes and decodes with

* faxcore, packed rows in and out (PackedBitmap: what libtiff works on too), and
* faxcore with numpy 0/1 bitmaps (the encode packs them, the decode result is unpacked),
* libtiff 4 (libtiff.so.6) through ctypes: one strip per page in a TIFF on /dev/shm; only
  TIFFWriteEncodedStrip / TIFFReadEncodedStrip are timed (opening, tags and closing are not),

checks that both give identical bytes (encode) and pixels (decode), and prints megapixels
per second, the ratio faxcore/libtiff (> 1 = faxcore faster) and the compressed sizes, then
the median ratio over the eight ITU charts per scheme and direction. Each figure is the
best of --repeat runs, the implementations interleaved.

    python benchmarks/codec.py [--repeat 7] [--pages itu1,itu4,text]
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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faxcore.codecs import decode, encode_tiff_strip, pack

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
        """Write one strip; returns the seconds spent in TIFFWriteEncodedStrip."""
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
        t0 = time.perf_counter()
        n = self.lib.TIFFWriteEncodedStrip(tif, 0, buf, packed.nbytes)
        t = time.perf_counter() - t0
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
        t0 = time.perf_counter()
        n = self.lib.TIFFReadEncodedStrip(tif, 0, buf, out.nbytes)
        t = time.perf_counter() - t0
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
    if not names or "text" in names:
        pages["text"] = text_page()
    return pages


# --------------------------------------------------------------------------------------


def clock(fn, *args, **kwargs) -> float:
    """Seconds one call of fn(*args, **kwargs) takes."""
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def decode_bitmap(data: bytes, scheme: str, width: int, rows: int) -> np.ndarray:
    return decode(data, scheme, width, rows=rows).bitmap


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--pages", default="", help="comma-separated: itu1..itu8,text")
    ap.add_argument("--schemes", default="mh,mr,mmr")
    args = ap.parse_args()
    lt = LibTiff()
    pages = load_pages([p for p in args.pages.split(",") if p] or None)
    schemes = args.schemes.split(",")
    print(f"faxcore codec benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {lt.version}")
    print(f"MP/s = megapixels per second (best of {args.repeat}); ratio = faxcore / libtiff; "
          "'packed' = PackedBitmap in/out (like libtiff), 'array' = numpy 0/1 bitmap in/out")
    hdr = (f"{'page':6} {'sch':4} {'bytes':>7} | {'enc pk':>7} {'enc arr':>7} {'libtiff':>7} "
           f"{'ratio pk':>8} {'ratio arr':>9} | {'dec pk':>7} {'dec arr':>7} {'libtiff':>7} "
           f"{'ratio pk':>8} {'ratio arr':>9}")
    print(hdr)
    print("-" * len(hdr))
    ratios: dict[tuple[str, str, str], list[float]] = {}
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
                t_enc_pk = t_enc_arr = t_enc_lt = float("inf")
                for _ in range(args.repeat):
                    t_enc_lt = min(t_enc_lt, lt.encode(pdata, bm.shape[1], scheme))
                    t_enc_pk = min(t_enc_pk, clock(encode_tiff_strip, packed, scheme))
                    t_enc_arr = min(t_enc_arr, clock(encode_tiff_strip, bm, scheme))
                # --- decode (the file on /dev/shm now holds libtiff's strip = ours)
                tif = lt.open_for_decode()
                out = np.empty_like(pdata)
                t_dec_lt = float("inf")
                t_dec_pk = t_dec_arr = float("inf")
                page = decode(ref, scheme, bm.shape[1], rows=bm.shape[0])
                lt.decode(tif, out)
                if (page.error or not np.array_equal(page.packed.data, out)
                        or not np.array_equal(page.bitmap, bm)):
                    print(f"  !! {name} {scheme}: decoded pixels differ from libtiff/input")
                    failures += 1
                for _ in range(args.repeat):
                    t_dec_lt = min(t_dec_lt, lt.decode(tif, out))
                    t_dec_pk = min(t_dec_pk, clock(decode, ref, scheme, bm.shape[1],
                                                   rows=bm.shape[0]))
                    t_dec_arr = min(t_dec_arr, clock(decode_bitmap, ref, scheme, bm.shape[1],
                                                     bm.shape[0]))
                lt.close(tif)
                r = {
                    ("enc", "packed"): t_enc_lt / t_enc_pk, ("enc", "array"): t_enc_lt / t_enc_arr,
                    ("dec", "packed"): t_dec_lt / t_dec_pk, ("dec", "array"): t_dec_lt / t_dec_arr,
                }
                if name.startswith("itu"):
                    for (d, form), v in r.items():
                        ratios.setdefault((scheme, d, form), []).append(v)
                print(f"{name:6} {scheme:4} {len(ref):7d} | {mp / t_enc_pk:7.0f} "
                      f"{mp / t_enc_arr:7.0f} {mp / t_enc_lt:7.0f} "
                      f"{r['enc', 'packed']:8.2f} {r['enc', 'array']:9.2f} | "
                      f"{mp / t_dec_pk:7.0f} {mp / t_dec_arr:7.0f} {mp / t_dec_lt:7.0f} "
                      f"{r['dec', 'packed']:8.2f} {r['dec', 'array']:9.2f}", flush=True)
    finally:
        lt.cleanup()
    if ratios:
        print()
        print("median ratio faxcore/libtiff over the ITU charts (>= 1.0: faxcore faster)")
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
