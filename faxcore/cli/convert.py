"""``faxcore convert`` and ``faxcore info``: fax pages between PDF, images, TIFF-F and raw streams.

Input is read by the one loader, :func:`faxcore.codecs.load_document`: its kind is found
from the file's content (TIFF, PDF, PBM, anything Pillow opens) and, for raw fax streams,
which have no header, from ``--raw`` or the ``.g3`` / ``.g4`` extension.
Output kind is chosen by extension: ``.tif``/``.tiff`` (TIFF Class F), ``.g3`` (raw MH or
MR), ``.g4`` (raw MMR), ``.png`` (one file per page, ``NAME-1.png``, ``NAME-2.png``, ...),
``.pbm`` (PBM P4, pages one after another as netpbm writes multi-image files).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from faxcore.cli import CliError
from faxcore.codecs import LoadError, UnknownFormat, load_document, pbm_bytes, prep
from faxcore.codecs.raw import write_raw
from faxcore.codecs.tiff import RESOLUTIONS, Page, resolution_name, write_tiff

log = logging.getLogger(__name__)

SCHEMES = ("mh", "mr", "mmr")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert between PDF, images, TIFF-F and raw G3/G4 fax streams",
        description="Convert INPUT (PDF, image, TIFF-F or raw .g3/.g4 stream) to OUTPUT, "
                    "whose extension picks the format: .tif (TIFF Class F), .g3/.g4 (raw), "
                    ".png (one file per page, NAME-N.png) or .pbm.")
    p.add_argument("input", help="input file")
    p.add_argument("output", help="output file (.tif, .tiff, .g3, .g4, .png, .pbm)")
    p.add_argument("--scheme", choices=SCHEMES,
                   help="coding of the output: mh, mr (K=2 standard, 4 otherwise) or mmr "
                        "(default: mmr for .tif, mh for .g3)")
    _input_options(p)
    p.add_argument("--page-size", choices=tuple(prep.PAGE_SIZES),
                   help="page width class and page length for splitting (default a4)")
    p.add_argument("--dither", action="store_true",
                   help="Floyd-Steinberg dithering of grey (default: threshold, for text)")
    p.add_argument("--no-split", action="store_true",
                   help="keep long images as one page instead of cutting at the page length")
    p.add_argument("--fill-order", type=int, choices=(1, 2), default=1,
                   help="bit order of TIFF/raw output: 1 MSB first (default), 2 LSB first")
    p.set_defaults(func=run_convert)

    q = sub.add_parser("info", help="describe the pages of a fax file",
                       description="Print per page: size, resolution, coding scheme, bad rows.")
    q.add_argument("file", help="TIFF, raw .g3/.g4, PDF or image file")
    _input_options(q)
    q.set_defaults(func=run_info, page_size=None, dither=False, no_split=False)


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw", choices=SCHEMES,
                   help="INPUT is a raw fax stream coded with this scheme")
    p.add_argument("--width", type=int,
                   help="pixels per row of a raw input stream (default: the ITU width for "
                        "--page-size and --resolution, 1728 for A4 at 204 dpi)")
    p.add_argument("--lsb-first", action="store_true",
                   help="raw input stream has its bits LSB first (TIFF FillOrder 2)")
    p.add_argument("--page-rows", type=int,
                   help="rows per page of a raw stream without RTC/EOFB (Ghostscript's)")
    p.add_argument("--resolution", choices=tuple(RESOLUTIONS),
                   help="fax resolution (default fine; fax inputs keep theirs unless given)")


# --------------------------------------------------------------------------- input


class PartialInput(CliError):
    """INPUT could be read only in part (a truncated file, a document over the size
    limit): ``pages`` are its complete pages, the message says what stopped the read."""

    def __init__(self, message: str, kind: str, pages: list[Page]):
        super().__init__(message)
        self.kind = kind
        self.pages = pages


def load_pages(path: Path, args: argparse.Namespace) -> tuple[str, list[Page]]:
    """Read INPUT as fax pages; return (a description of the input kind, pages).

    Raises :class:`PartialInput` when only some pages could be read."""
    try:
        doc = load_document(path, resolution=args.resolution,
                            page_size=getattr(args, "page_size", None),
                            dither=getattr(args, "dither", False),
                            split=not getattr(args, "no_split", False), raw=args.raw,
                            width=args.width, lsb_first=args.lsb_first,
                            page_rows=args.page_rows)
    except UnknownFormat as exc:
        raise CliError(f"{exc} (for a raw stream give --raw mh|mr|mmr --width N)") from None
    except LoadError as exc:
        if exc.pages:
            raise PartialInput(str(exc), exc.kind, exc.pages) from None
        raise CliError(str(exc)) from None
    return doc.kind, doc.pages


# --------------------------------------------------------------------------- output


def save_png(page: Page, path: Path) -> None:
    """One page as a bilevel PNG, black on white, with its resolution as the dpi."""
    img = Image.fromarray(((1 - page.bitmap) * 255).astype(np.uint8), "L").convert("1")
    img.save(path, dpi=(page.xres, page.yres))


def save_pages(pages: list[Page], path: Path, args: argparse.Namespace) -> list[Path]:
    ext = path.suffix.lower()
    scheme = args.scheme
    lsb = args.fill_order == 2
    try:
        if ext in (".tif", ".tiff"):
            write_tiff(path, pages, scheme or "mmr", fill_order=args.fill_order)
            return [path]
        if ext == ".g3":
            if scheme == "mmr":
                raise CliError(".g3 holds MH or MR; write MMR to a .g4 file")
            write_raw(path, pages, scheme or "mh", lsb_first=lsb)
            return [path]
        if ext == ".g4":
            if scheme not in (None, "mmr"):
                raise CliError(".g4 holds MMR; write MH or MR to a .g3 file")
            write_raw(path, pages, "mmr", lsb_first=lsb)
            return [path]
        if ext == ".png":
            out = []
            for i, page in enumerate(pages, 1):
                target = path.with_name(f"{path.stem}-{i}{path.suffix}")
                save_png(page, target)
                out.append(target)
            return out
        if ext == ".pbm":
            path.write_bytes(pbm_bytes(p.bitmap for p in pages))
            return [path]
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    raise CliError(f"unknown output type {ext or '(none)'!r}: use .tif, .g3, .g4, .png or .pbm")


def run_convert(args: argparse.Namespace) -> int:
    src, dst = Path(args.input), Path(args.output)
    kind, pages = load_pages(src, args)
    for i, p in enumerate(pages, 1):
        if p.error:
            log.warning("%s page %d damaged: %s", src, i, p.error)
    written = save_pages(pages, dst, args)
    first = pages[0]
    size = sum(f.stat().st_size for f in written)
    _say(f"{src} ({kind}) -> {', '.join(map(str, written))}: {len(pages)} page(s), "
         f"{first.width} px wide, {resolution_name(first.xres, first.yres)}, {size} bytes")
    return 0


def run_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    partial = None
    try:
        kind, pages = load_pages(path, args)
    except PartialInput as exc:     # the complete pages, then the error (exit status 1)
        partial, kind, pages = exc, exc.kind, exc.pages
    _say(f"{path}: {kind}, {len(pages)} page(s)" + (" readable" if partial else ""))
    for i, p in enumerate(pages, 1):
        scheme = (p.scheme or "-").upper() if kind in ("TIFF-F",) or kind.startswith("raw") \
            else "not coded"
        line = (f"page {i}: {p.width} x {p.height} pixels, {p.xres:g} x {p.yres:g} dpi "
                f"({resolution_name(p.xres, p.yres)}), {scheme}, bad rows {p.bad_rows}")
        if kind == "TIFF-F":
            line += f", fill order {p.fill_order}, {p.extra.get('strips', 1)} strip(s)"
        if p.error:
            line += f", damaged: {p.error}"
        _say(line)
    if partial is not None:
        raise partial
    return 0
