"""``faxcore convert`` and ``faxcore info``: fax pages between PDF, images, TIFF-F and raw streams.

Input is read by the one loader, :func:`faxcore.codecs.load_document`: its kind is found
from the file's content (TIFF, PDF, PBM, anything Pillow opens) and, for raw fax streams,
which have no header, from ``--raw`` or the ``.g3`` / ``.g4`` extension.
Output kind is chosen by extension: ``.tif``/``.tiff`` (TIFF Class F), ``.g3`` (raw MH or
MR), ``.g4`` (raw MMR), ``.png`` (one file per page, ``NAME-1.png``, ``NAME-2.png``, ...,
with square pixels: see :func:`square_pixels`), ``.pbm`` (PBM P4, pages one after another
as netpbm writes multi-image files).

Raw streams record neither width nor scheme, and a wrong one decodes into garbage rather
than failing: a raw input is refused (one line, exit 1) when more than
:data:`BAD_ROWS_PERCENT` % of its rows are bad, or when decoding stops at an error before
a single black pixel; the message names the width and scheme tried and, when one is found,
a width, scheme and bit order that decode the stream cleanly. A raw stream without
RTC / EOFB that decodes cleanly is what Ghostscript's fax devices write: it is not
called damaged (``info`` notes the missing marker; ``--page-rows`` cuts its pages).

``convert`` and ``info`` summarise the pages: one width and resolution, or ``mixed``
with the pages of each.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from faxcore.cli import CliError
from faxcore.cli.argtypes import whole_number
from faxcore.cli.output import out as _say
from faxcore.codecs import LoadError, UnknownFormat, jbig, load_document, pbm_bytes, prep
from faxcore.codecs.raw import write_raw
from faxcore.codecs.t4 import decode
from faxcore.codecs.tiff import RESOLUTIONS, Page, resolution_name, write_tiff

log = logging.getLogger(__name__)

SCHEMES = ("mh", "mr", "mmr")
#: What ``--scheme`` may write: the raw-stream schemes and JBIG (T.85), which goes in a
#: TIFF (Compression 34661, as libtiff writes it) or a .jbg file (one BIE per page).
OUTPUT_SCHEMES = (*SCHEMES, "jbig")

#: A raw input with more bad rows than this (percent of all rows) is refused: its width
#: or scheme is wrong (a fax from a noisy line has a few percent).
BAD_ROWS_PERCENT = 50
#: How much of a refused raw stream is tried with other widths / schemes / bit orders,
#: and how many rows of it: enough to reach a page's first black pixels.
_HINT_BYTES = 64 * 1024
_HINT_ROWS = 4000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert between PDF, images, TIFF-F and raw G3/G4 fax streams",
        description="Convert INPUT (PDF, image, TIFF-F or raw .g3/.g4 stream) to OUTPUT, "
                    "whose extension picks the format: .tif (TIFF Class F), .g3/.g4 (raw), "
                    ".png (one file per page, NAME-N.png) or .pbm. PNG pages have square "
                    "pixels, as image viewers expect: each row of a standard-resolution "
                    "page (204 x 98 dpi) is repeated twice (204 x 196 dpi), each column of "
                    "a superfine page twice; the other formats keep the fax rows as they "
                    "are.")
    p.add_argument("input", help="input file")
    p.add_argument("output", help="output file (.tif, .tiff, .g3, .g4, .jbg, .png, .pbm); "
                                  ".png and .jbg: one file per page (NAME-N) when there "
                                  "are several; .png: square pixels")
    p.add_argument("--scheme", choices=OUTPUT_SCHEMES,
                   help="coding of the output: mh, mr (K=2 standard, 4 otherwise), mmr or "
                        "jbig (T.85, in .tif or .jbg) (default: mmr for .tif, mh for .g3)")
    _input_options(p, convert=True)
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
                       description="Print per page: size, resolution, coding scheme, bad "
                                   "rows; then a summary: one width and resolution, or "
                                   "mixed.")
    q.add_argument("file", help="TIFF, raw .g3/.g4, PDF or image file")
    _input_options(q, convert=False)
    q.set_defaults(func=run_info, page_size=None, dither=False, no_split=False)


def _input_options(p: argparse.ArgumentParser, *, convert: bool) -> None:
    p.add_argument("--raw", choices=SCHEMES,
                   help="the input is a raw fax stream coded with this scheme (default: "
                        "by extension: .g3 MH or MR, whichever decodes cleaner; .g4 MMR)")
    sized = "--page-size and --resolution" if convert else "A4 at --resolution"
    p.add_argument("--width", type=whole_number, metavar="PIXELS",
                   help=f"pixels per row of a raw input stream (default: the ITU width for "
                        f"{sized}: 1728 at 204 dpi)")
    p.add_argument("--lsb-first", action="store_true",
                   help="raw input stream has its bits LSB first (TIFF FillOrder 2)")
    p.add_argument("--page-rows", type=whole_number, metavar="ROWS",
                   help="rows per page of a raw stream without RTC/EOFB (Ghostscript's: "
                        "2292 for A4 at fine); default: one page up to each end marker")
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
        doc = _load(path, args, args.page_rows)
    except UnknownFormat as exc:
        raise CliError(f"{exc} (for a raw stream give --raw mh|mr|mmr --width N)") from None
    except LoadError as exc:
        if exc.pages:
            raise PartialInput(str(exc), exc.kind, exc.pages) from None
        if exc.kind.startswith("raw"):    # nothing decoded: say what would
            raise CliError(f"{exc}{_raw_hint(path, args)}") from None
        raise CliError(str(exc)) from None
    kind, pages = doc.kind, doc.pages
    if kind == "raw MMR stream" and args.page_rows is None:
        kind, pages = _cut_mmr_pages(path, args, kind, pages)
    if kind.startswith("raw"):
        for p in pages:
            if _gs_form(p, pages):
                p.error = None            # Ghostscript's stream: complete, not damaged
    return kind, pages


def _load(path: Path, args: argparse.Namespace, page_rows: int | None):
    return load_document(path, resolution=args.resolution,
                         page_size=getattr(args, "page_size", None),
                         dither=getattr(args, "dither", False),
                         split=not getattr(args, "no_split", False), raw=args.raw,
                         width=args.width, lsb_first=args.lsb_first, page_rows=page_rows)


# --------------------------------------------------------------------------- raw streams


def _page_lengths(resolution: str) -> list[tuple[int, str]]:
    """(rows, page size as people write it: A4, letter) of every page size's length at
    ``resolution``."""
    return [(prep.page_rows(size, resolution), size if size == "letter" else size.upper())
            for size in prep.PAGE_SIZES]


def _cut_mmr_pages(path: Path, args: argparse.Namespace, kind: str,
                   pages: list[Page]) -> tuple[str, list[Page]]:
    """An MMR stream without EOFB, as Ghostscript's faxg4 writes several pages: each page
    restarts at a byte boundary from a white reference row, so decoded as one page it
    stops with an error (or turns to garbage) at the second page. When cutting it every
    page length (A4, letter, B4, A3 at the resolution) decodes every page cleanly and
    all alike, those are its pages; otherwise the pages as read."""
    if len(pages) != 1 or pages[0].extra.get("end_marker") is not False:
        return kind, pages
    height, resolution = pages[0].height, args.resolution or "fine"
    for rows, size in _page_lengths(resolution):
        if rows > height:
            continue
        try:
            cut = _load(path, args, rows).pages
        except LoadError:
            continue
        if len(cut) >= 2 and all(p.height == rows and p.bad_rows == 0
                                 and not p.extra.get("decode_error") for p in cut):
            return (f"{kind} without EOFB, cut every {rows} rows ({size} at "
                    f"{resolution}, as Ghostscript writes pages)", cut)
    return kind, pages


def _gs_form(page: Page, pages: list[Page]) -> bool:
    """The page is a whole raw stream without RTC / EOFB, every row decoded cleanly:
    what Ghostscript's faxg3 / faxg32d / faxg4 devices write (a stream cut exactly
    after a row looks the same, and its rows are intact too)."""
    extra = page.extra
    return (len(pages) == 1 and extra.get("end_marker") is False
            and extra.get("decode_error") is None and page.bad_rows == 0)


def _gs_note(page: Page, resolution: str) -> str:
    """What ``info`` says about a page in :func:`_gs_form`: no end marker, and how to
    cut it when it is several page lengths tall."""
    end = "EOFB" if page.scheme == "mmr" else "RTC"
    cut = "--page-rows N cuts its pages"
    for rows, size in _page_lengths(resolution):
        if page.height >= 2 * rows and page.height % rows == 0:
            cut = (f"{page.height // rows} {size} pages at {resolution}? "
                   f"--page-rows {rows} cuts them")
            break
    return f"no {end}: normal for Ghostscript's output ({cut}), else damaged (cut short)"


def check_raw(path: Path, pages: list[Page], args: argparse.Namespace) -> None:
    """Refuse the pages of a raw stream decoded with a wrong width, scheme or bit order:

    * more than :data:`BAD_ROWS_PERCENT` % of its rows bad (MH, MR);
    * decoding stopped by an error (MMR stops at its first error, and white rows decode
      at any width) where another width, scheme or bit order decodes cleanly, or before
      a tenth of the data was used.

    A stream that decodes no better otherwise and stops late is damaged, not misread:
    its pages are kept, with warnings."""
    first = pages[0]
    given = ((first.scheme or "").lower(), first.width, first.fill_order == 2)
    rows = sum(p.height for p in pages)
    bad = sum(p.bad_rows for p in pages)
    sample = _sample(path)
    found = _clean_alternative(sample, args, given)
    if rows and bad * 100 > BAD_ROWS_PERCENT * rows:
        what = f"{bad} of its {rows} rows do not decode"
    else:
        stopped = next(((i, p) for i, p in enumerate(pages, 1)
                        if p.extra.get("decode_error")), None)
        if stopped is None:
            return
        i, p = stopped
        what = f"decoding stopped on page {i}, {p.height} rows down ({p.extra['decode_error']})"
        if found is None:
            used = _used_bytes(sample, given)
            if used is None or used * 10 >= len(sample):
                return
            what += f", at byte {used} of {len(sample)}"
    raise CliError(f"{path}: {what} as {given[0].upper() or '?'} {given[1]} pixels "
                   f"wide{', LSB first' if given[2] else ''}: the width or the scheme is "
                   f"probably wrong{_hint_text(found)}")


def _raw_hint(path: Path, args: argparse.Namespace) -> str:
    """The end of an error message about a raw stream nothing could be read from."""
    return _hint_text(_clean_alternative(_sample(path), args, None))


def _hint_text(found: tuple[str, int, bool] | None) -> str:
    if found is None:
        return ("; give the stream's --raw mh|mr|mmr and --width (--lsb-first for "
                "FillOrder 2)")
    scheme, width, lsb = found
    opts = f"--raw {scheme} --width {width}" + (" --lsb-first" if lsb else "")
    return (f"; it decodes cleanly as {scheme.upper()} {width} pixels wide"
            f"{', LSB first' if lsb else ''} ({opts})")


def _sample(path: Path) -> bytes:
    """The start of the stream, which the alternatives are tried on."""
    try:
        with open(path, "rb") as f:
            return f.read(_HINT_BYTES)
    except OSError:
        return b""


def _clean_alternative(sample: bytes, args: argparse.Namespace,
                       given: tuple[str, int, bool] | None) -> tuple[str, int, bool] | None:
    """The first (scheme, width, lsb_first) other than ``given`` that decodes the start
    of the stream without a bad row, with black pixels and without stopping early;
    None if none does."""
    for cand in _candidates(args):
        if cand != given and _decodes_cleanly(sample, *cand):
            return cand
    return None


def _used_bytes(sample: bytes, given: tuple[str, int, bool]) -> int | None:
    """Bytes of ``sample`` the ``given`` options decode before an error (None: no error
    within the sample or the row cap)."""
    scheme, width, lsb = given
    if not sample or scheme not in SCHEMES:
        return None
    dp = decode(sample, scheme, width, lsb_first=lsb, max_rows=_HINT_ROWS)
    if dp.error is None or int(dp.rows) >= _HINT_ROWS:
        return None
    return int(dp.consumed_bytes)


def _candidates(args: argparse.Namespace) -> Iterator[tuple[str, int, bool]]:
    """(scheme, width, lsb_first) to try: the given bit order first, then every scheme
    at every ITU width, narrowest first."""
    widths = sorted({w for cls in prep.FAX_WIDTHS.values() for w in cls.values()})
    for lsb in (args.lsb_first, not args.lsb_first):
        for scheme in SCHEMES:
            for width in widths:
                yield scheme, width, lsb


def _decodes_cleanly(sample: bytes, scheme: str, width: int, lsb: bool) -> bool:
    if not sample:
        return False
    dp = decode(sample, scheme, width, lsb_first=lsb, max_rows=_HINT_ROWS)
    rows = int(dp.rows)
    if not rows or dp.bad_rows or not np.asarray(dp.bitmap)[:rows].any():
        return False
    # an error is fine only where the sample was cut (or the row cap was reached)
    return (dp.error is None or rows >= _HINT_ROWS
            or int(dp.consumed_bytes) >= len(sample) - 1)


# --------------------------------------------------------------------------- summaries


def _spans(numbers: list[int]) -> str:
    """``1-3, 5``: page numbers as ranges."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def _grouped(values: Iterable[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(values, 1):
        groups.setdefault(v, []).append(i)
    return groups


def describe_pages(pages: list[Page]) -> str:
    """``1728 px wide, fine`` when every page agrees; otherwise ``mixed`` with the pages
    of each: ``1728 px wide, mixed resolution: fine (pages 1, 3), standard (page 2)``."""
    parts = []
    for label, unit, values in (
            ("widths", " px", [str(p.width) for p in pages]),
            ("resolution", "", [resolution_name(p.xres, p.yres) for p in pages])):
        groups = _grouped(values)
        if len(groups) == 1:
            parts.append(f"{values[0]}{unit}{' wide' if unit else ''}")
        else:
            parts.append(f"mixed {label}: " + ", ".join(
                f"{v}{unit} (page{'s' if len(n) > 1 else ''} {_spans(n)})"
                for v, n in groups.items()))
    return ", ".join(parts)


# --------------------------------------------------------------------------- output


def square_pixels(page: Page) -> tuple[np.ndarray, float, float]:
    """The page's bitmap and dpi with (nearly) square pixels, as image viewers draw
    pixels: rows repeated when the page is coarser across than down by 1.5 or more
    (standard, 204 x 98 dpi: each row twice, 204 x 196), columns when it is coarser down
    (superfine, 204 x 391: each column twice, 408 x 391); other pages as they are."""
    bitmap, x, y = page.bitmap, float(page.xres), float(page.yres)
    if x >= 1.5 * y:
        n = round(x / y)
        bitmap, y = np.repeat(bitmap, n, axis=0), y * n
    elif y >= 1.5 * x:
        n = round(y / x)
        bitmap, x = np.repeat(bitmap, n, axis=1), x * n
    return bitmap, x, y


def save_png(page: Page, path: Path) -> None:
    """One page as a bilevel PNG, black on white, with square pixels
    (:func:`square_pixels`) and their resolution as the dpi."""
    bitmap, x, y = square_pixels(page)
    img = Image.fromarray(((1 - bitmap) * 255).astype(np.uint8), "L").convert("1")
    img.save(path, dpi=(x, y))


def save_pages(pages: list[Page], path: Path, args: argparse.Namespace) -> list[Path]:
    ext = path.suffix.lower()
    scheme = args.scheme
    lsb = args.fill_order == 2
    try:
        if ext in (".tif", ".tiff"):
            write_tiff(path, pages, scheme or "mmr", fill_order=args.fill_order)
            return [path]
        if ext == ".g3":
            if scheme in ("mmr", "jbig"):
                raise CliError(f".g3 holds MH or MR; write {scheme.upper()} to a "
                               f"{'.g4' if scheme == 'mmr' else '.tif or .jbg'} file")
            write_raw(path, pages, scheme or "mh", lsb_first=lsb)
            return [path]
        if ext == ".g4":
            if scheme not in (None, "mmr"):
                raise CliError(".g4 holds MMR; write " + ("JBIG to a .tif or .jbg file"
                                                          if scheme == "jbig"
                                                          else "MH or MR to a .g3 file"))
            write_raw(path, pages, "mmr", lsb_first=lsb)
            return [path]
        if ext == ".jbg":
            if scheme not in (None, "jbig"):
                raise CliError(".jbg holds JBIG; write MH, MR or MMR to .g3, .g4 or .tif")
            return _save_per_page(pages, path, _save_jbg)
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
    raise CliError(f"unknown output type {ext or '(none)'!r}: use .tif, .g3, .g4, .jbg, "
                   ".png or .pbm")


def _save_jbg(page: Page, path: Path) -> None:
    """One page as a T.85 BIE (jbigkit's ``jbgtopbm`` reads it); MSB first, as a BIE is."""
    path.write_bytes(jbig.encode(page.bitmap))


def _save_per_page(pages: list[Page], path: Path, save) -> list[Path]:
    """A single page to ``path``; several to NAME-1.ext, NAME-2.ext... (a .jbg file holds
    one BIE, one page)."""
    if len(pages) == 1:
        save(pages[0], path)
        return [path]
    out = []
    for i, page in enumerate(pages, 1):
        target = path.with_name(f"{path.stem}-{i}{path.suffix}")
        save(page, target)
        out.append(target)
    return out


def run_convert(args: argparse.Namespace) -> int:
    src, dst = Path(args.input), Path(args.output)
    kind, pages = load_pages(src, args)
    if kind.startswith("raw"):
        check_raw(src, pages, args)
    for i, p in enumerate(pages, 1):
        if p.error:
            log.warning("%s page %d damaged: %s", src, i, p.error)
    written = save_pages(pages, dst, args)
    size = sum(f.stat().st_size for f in written)
    _say(f"{src} ({kind}) -> {', '.join(map(str, written))}: {len(pages)} page(s), "
         f"{describe_pages(pages)}, {size} bytes")
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
        elif _gs_form(p, pages):
            line += ", " + _gs_note(p, args.resolution or "fine")
        _say(line)
    if partial is not None:
        raise partial
    if kind.startswith("raw"):
        check_raw(path, pages, args)      # the pages above, then why they are garbage
    _say(f"summary: {len(pages)} page(s), {describe_pages(pages)}")
    return 0
