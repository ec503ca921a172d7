"""``faxcore demo``: the main job on built-in sample input (what ``make demo`` runs).

For now: ITU-T test chart 1 (``../shared/testdata/itu/itu1.pbm`` beside the repository, or
the built-in letter page when that folder is absent) is coded to MMR TIFF Class F, read
back, checked pixel for pixel, and written as a PNG preview.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faxcore.cli import CliError
from faxcore.codecs.prep import sample_page
from faxcore.codecs.tiff import Page, read_tiff, write_tiff

REPO = Path(__file__).resolve().parent.parent.parent


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo: ITU chart 1 to MMR TIFF-F and back",
                       description="Code ITU-T chart 1 (or the built-in page) to MMR TIFF-F, "
                                   "decode it, check the round trip and write a PNG preview.")
    p.add_argument("--out", default="out/demo", help="output directory (default out/demo)")
    p.add_argument("--input", help="a PBM/PNG fax page to use instead of ITU chart 1")
    p.set_defaults(func=run_demo)


def chart_path() -> Path:
    shared = Path(os.environ.get("FAXCORE_SHARED", REPO.parent / "shared"))
    return shared / "testdata" / "itu" / "itu1.pbm"


def load_source(path: Path | None) -> tuple[str, np.ndarray]:
    if path is None:
        path = chart_path()
        if not path.exists():
            return "built-in sample page (ITU charts not found at " f"{path.parent})", \
                sample_page("fine")
    try:
        with Image.open(path) as img:
            bitmap = (np.asarray(img.convert("L")) < 128).astype(np.uint8)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    return str(path), bitmap


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror or exc}") from None
    name, bitmap = load_source(Path(args.input) if args.input else None)
    h, w = bitmap.shape
    _say(f"[1/4] source: {name} ({w} x {h} pixels, 204 x 196 dpi)")

    tif = out / "itu1-mmr.tif"
    t0 = time.perf_counter()
    size = write_tiff(tif, [Page(bitmap=bitmap, xres=204.0, yres=196.0)], "mmr")
    t1 = time.perf_counter()
    raw_bytes = h * ((w + 7) // 8)
    _say(f"[2/4] coded MMR (T.6) TIFF-F: {tif} ({size} bytes, {raw_bytes / size:.1f}:1 "
         f"against packed pixels, {1000 * (t1 - t0):.0f} ms)")

    t0 = time.perf_counter()
    pages = read_tiff(tif)
    t1 = time.perf_counter()
    back = pages[0].bitmap
    if len(pages) != 1 or back.shape != bitmap.shape:
        raise CliError(f"round trip failed: got {len(pages)} page(s) of {back.shape}")
    diff = int(np.count_nonzero(back != bitmap))
    if diff:
        raise CliError(f"round trip failed: {diff} pixels differ")
    _say(f"[3/4] decoded and compared: pixel-exact ({w * h} pixels, "
         f"{1000 * (t1 - t0):.0f} ms)")

    png = out / "itu1.png"
    img = Image.fromarray(((1 - back) * 255).astype(np.uint8), "L")
    img.convert("1").save(png, dpi=(204, 196))
    preview = out / "itu1-preview.png"
    # Fine resolution pixels are almost square: halve both axes for a screen-sized view.
    img.resize((w // 2, h // 2), Image.Resampling.BOX).save(preview)
    _say(f"[4/4] PNG: {png} (full page), {preview} (half size)")
    _say(f"demo output is in {out.resolve()}")
    return 0
