"""TIFF Class F (TIFF-F) in and out, written by hand with :mod:`struct`.

TIFF Class F is the TIFF profile for fax pages: one bilevel image per IFD (Image File
Directory), chained into a multi-page file, the pixels in strips compressed with
ITU-T T.4 (Compression 3: MH, or MR when T4Options bit 0 is set) or T.6 (Compression 4:
MMR); libtiff also writes JBIG (Compression 34661, :data:`COMPRESSION_JBIG`). The strip format is libtiff's: for T.4 every row starts with an EOL (end of line
code, optionally padded so it ends on a byte boundary: T4Options bit 2) and a strip ends
without RTC (``write_tiff(..., rtc=True)``: a page's last strip ends with RTC, for efax);
for T.6 a strip ends with EOFB; a JBIG page is one strip holding a single-layer T.82 BIE
(bi-level image entity) whose bytes, as libtiff's tif_jbig.c stores them, are bit-reversed
when FillOrder is 1 (libtiff reverses them when the FillOrder tag *matches* its native
order: a quirk of that codec, which we follow so that libtiff reads our files). Each strip is coded on its own (MR and MMR start every
strip from an all-white reference row). A received page's call metadata (sender, time,
session parameters, DCS: HylaFAX's tags) is ``Page.fax_info``, read and written
(:mod:`faxcore.codecs.faxinfo`).

Reading accepts both byte orders, FillOrder 1 and 2, any RowsPerStrip, Compression 1
(uncompressed), 3, 4 and 34661 (JBIG: any single-layer T.82 BIE, in either bit order;
several strips are read as one BIE each), PhotometricInterpretation 0 (min-is-white) and 1 (min-is-black);
pixels are always returned as 1 = black. Resolutions in pixels/cm (ResolutionUnit 3) are
converted to dpi.

Limits: pages up to ``MAX_WIDTH`` (32768) pixels wide and ``max_pixels`` (default
``MAX_PIXELS``, 64 Mpixel; an A3 page at 400 dpi is 32 Mpixel) in all; a strip is never
asked for more rows than it has bits. Compression 2 (CCITT RLE), BigTIFF, tiles, grey and
colour are not fax pages: they raise :class:`TiffUnsupportedError` (``faxcore convert``
then hands the file to Pillow).

A document is bounded as a whole too: one read decodes at most ``max_document_pixels``
(default ``MAX_DOCUMENT_PIXELS``, 2**30 pixels, each page also charged
``PAGE_OVERHEAD_PIXELS``) in at most ``max_pages`` pages (default 10 000); the size of
each page is known from its IFD, so a page that would go over is refused before it is
decoded, with :class:`TiffTooLarge`. :func:`iter_tiff` decodes one page at a time, when
the iteration reaches it, so a caller that does not keep the pages needs memory for one
or two pages (the one it holds and the next being decoded); :func:`read_tiff` is
``list(iter_tiff(...))``.

Bad input never crashes or hangs the reader:

* a broken file structure (bad header, IFD or tag outside the file, IFD chain loop,
  inconsistent strip tables, a page larger than ``max_pixels``) raises :class:`TiffError`
  (a ``ValueError``). The error carries the complete pages read before the broken IFD:
  ``exc.pages`` (from :func:`read_tiff`) and ``exc.complete_pages``; its message starts
  with the page it is about ("page 3: ..."). This is the partial result of a truncated
  file (e.g. a received fax cut short): every page whose IFD is in the file is returned
  (as libtiff's ``tiffinfo`` lists it; writers that put the strips before the IFD, as
  ours and libtiff's do, make it a complete page), and the first IFD or next-IFD
  offset cut off by the end of the file raises. With ``strict=False`` those pages are
  returned instead, and the error is logged;
* a document over its budget raises :class:`TiffTooLarge` (a :class:`TiffError` and a
  :class:`~faxcore.codecs.t4.DocumentTooLarge`), also carrying the pages read before it,
  whatever ``strict`` says;
* a valid TIFF that is not a bilevel fax image (grey, colour, LZW, tiles...) raises
  :class:`TiffUnsupportedError` (a ``TiffError``), so callers can hand it to Pillow;
* damaged pixel data is a *partial page*, as a fax receiver would keep it: damaged MH/MR
  rows are replaced by the codec, rows that cannot be decoded (MMR error, truncated or
  missing strip data) are left white and counted in ``Page.bad_rows``, and
  ``Page.error`` says what happened.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from faxcore.codecs import jbig as _jbig
from faxcore.codecs.faxinfo import FaxInfo
from faxcore.codecs.t4 import (
    MAX_DOCUMENT_PAGES,
    MAX_DOCUMENT_PIXELS,
    DocumentBudget,
    DocumentError,
    DocumentTooLarge,
    collect_pages,
    decode,
    encode,
    read_source,
)

log = logging.getLogger(__name__)

__all__ = [
    "Page", "TiffError", "TiffUnsupportedError", "TiffTooLarge", "iter_tiff", "read_tiff",
    "write_tiff", "tiff_bytes", "RESOLUTIONS", "resolution_name", "FaxInfo",
]

# Fax resolutions as TIFF-F writes them (dpi, ResolutionUnit 2).
RESOLUTIONS: dict[str, tuple[float, float]] = {
    "standard": (204.0, 98.0),
    "fine": (204.0, 196.0),
    "superfine": (204.0, 391.0),
    "300": (300.0, 300.0),
    "400": (400.0, 400.0),
}
# A page's resolution when nothing says otherwise: fine, the usual fax resolution.
_FINE_X, _FINE_Y = RESOLUTIONS["fine"]

# Largest page the reader allocates (pixels). An A3 page at 400 dpi is about 32 Mpixel.
MAX_PIXELS = 1 << 26
MAX_WIDTH = 1 << 15

# Tags (TIFF 6.0 and the TIFF-F additions).
NEW_SUBFILE_TYPE = 254
IMAGE_WIDTH = 256
IMAGE_LENGTH = 257
BITS_PER_SAMPLE = 258
COMPRESSION = 259
#: Compression value of libtiff's JBIG codec (tif_jbig.c): one strip holding a T.82 BIE
COMPRESSION_JBIG = 34661
PHOTOMETRIC = 262
FILL_ORDER = 266
STRIP_OFFSETS = 273
ORIENTATION = 274
SAMPLES_PER_PIXEL = 277
ROWS_PER_STRIP = 278
STRIP_BYTE_COUNTS = 279
X_RESOLUTION = 282
Y_RESOLUTION = 283
PLANAR_CONFIG = 284
T4_OPTIONS = 292
T6_OPTIONS = 293
RESOLUTION_UNIT = 296
PAGE_NUMBER = 297
SOFTWARE = 305
TILE_WIDTH = 322
BAD_FAX_LINES = 326
CLEAN_FAX_DATA = 327
CONSECUTIVE_BAD_FAX_LINES = 328

# TIFF field types: size in bytes and struct code.
_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "B"), 2: (1, "B"), 3: (2, "H"), 4: (4, "I"), 5: (8, "II"), 6: (1, "b"),
    7: (1, "B"), 8: (2, "h"), 9: (4, "i"), 10: (8, "ii"), 11: (4, "f"), 12: (8, "d"),
    13: (4, "I"),
}

_SCHEME_OF = {(3, False): "mh", (3, True): "mr", (4, False): "mmr", (4, True): "mmr"}
# CleanFaxData values
CLEAN, REGENERATED, UNCLEAN = 0, 1, 2


class TiffError(DocumentError):
    """The file is not a readable TIFF (broken header, IFD, tags or strip tables).

    A ``ValueError``; ``pages`` / ``complete_pages`` are the complete pages before the
    problem (see :class:`~faxcore.codecs.t4.DocumentError`).
    """


class TiffUnsupportedError(TiffError):
    """A valid TIFF that is not a bilevel fax page (grey, colour, LZW, tiled, ...)."""


class TiffTooLarge(TiffError, DocumentTooLarge):
    """The TIFF holds more pixels or pages than one read may decode (``max_document_pixels``,
    ``max_pages``)."""


@dataclass(eq=False)   # bitmaps are arrays: compare pages by their fields explicitly
class Page:
    """One fax page: a bitmap (2-D uint8, 1 = black) and its resolution in dpi.

    The optional fields are what TIFF-F records about a page; ``read_tiff`` fills them
    and ``write_tiff`` writes those that are set.
    """

    bitmap: np.ndarray
    xres: float = _FINE_X
    yres: float = _FINE_Y
    scheme: str | None = None          # "mh", "mr", "mmr", "jbig" or "none" as stored
    bad_rows: int = 0                  # BadFaxLines
    consecutive_bad_rows: int = 0      # ConsecutiveBadFaxLines
    clean: int | None = None           # CleanFaxData: 0 clean, 1 regenerated, 2 unclean
    page_number: int | None = None     # PageNumber (0-based as in TIFF)
    fill_order: int = 1
    software: str | None = None        # Software tag as read (the writer sets its own)
    fax_info: FaxInfo | None = None    # the call's metadata tags (faxcore.codecs.faxinfo)
    error: str | None = None           # set when the pixel data was damaged (partial page)
    extra: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.bitmap.shape[1])

    @property
    def height(self) -> int:
        return int(self.bitmap.shape[0])

    @property
    def resolution(self) -> str:
        return resolution_name(self.xres, self.yres)


def resolution_name(xres: float, yres: float) -> str:
    """The fax name of a resolution ("fine", "300", ...) or "XxY dpi" when it has none."""
    for name, (x, y) in RESOLUTIONS.items():
        # 203.2 (8 pels/mm) and 195.6 (7.7 lines/mm) are the metric forms of 204 and 196.
        if abs(xres - x) <= 0.02 * x and abs(yres - y) <= 0.02 * y:
            return name
    return f"{xres:g}x{yres:g} dpi"


# --------------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        if len(data) < 8:
            raise TiffError(f"not a TIFF file: {len(data)} bytes")
        order = data[:2]
        if order == b"II":
            self.bo = "<"
        elif order == b"MM":
            self.bo = ">"
        else:
            raise TiffError("not a TIFF file (no II/MM byte order mark)")
        (magic,) = struct.unpack(self.bo + "H", data[2:4])
        if magic == 43:
            raise TiffUnsupportedError("BigTIFF is not supported")
        if magic != 42:
            raise TiffError(f"not a TIFF file (magic {magic}, expected 42)")

    def u16(self, off: int) -> int:
        self._need(off, 2)
        return struct.unpack_from(self.bo + "H", self.data, off)[0]

    def u32(self, off: int) -> int:
        self._need(off, 4)
        return struct.unpack_from(self.bo + "I", self.data, off)[0]

    def _need(self, off: int, n: int) -> None:
        if off < 0 or off + n > len(self.data):
            raise TiffError(f"offset {off}+{n} is past the end of the file ({len(self.data)} bytes)")

    def ifd(self, off: int) -> tuple[dict[int, tuple], int | None]:
        """Parse the IFD at ``off``: {tag: values tuple} and the next IFD offset, None when
        the file ends inside that offset (a truncated file: the IFD itself is whole)."""
        n = self.u16(off)
        if off + 2 + 12 * n > len(self.data):
            raise TiffError(f"IFD at offset {off} ({n} entries) is cut off by the end of the "
                            f"file ({len(self.data)} bytes): file truncated?")
        tags: dict[int, tuple] = {}
        for i in range(n):
            e = off + 2 + 12 * i
            tag, typ, count = struct.unpack_from(self.bo + "HHI", self.data, e)
            if typ not in _TYPES:
                continue  # TIFF 6.0: readers skip fields of unknown type
            size, code = _TYPES[typ]
            nbytes = size * count
            if nbytes <= 4:
                voff = e + 8
            else:
                voff = struct.unpack_from(self.bo + "I", self.data, e + 8)[0]
                if voff + nbytes > len(self.data):
                    raise TiffError(f"tag {tag}: {count} values at offset {voff} are past "
                                    f"the end of the file ({len(self.data)} bytes)")
            if typ == 2:
                raw = self.data[voff:voff + count]
                tags[tag] = (raw.split(b"\0", 1)[0].decode("latin-1"),)
                continue
            fmt = f"{self.bo}{count * len(code)}{code[0]}"
            vals = struct.unpack_from(fmt, self.data, voff)
            if typ in (5, 10):
                vals = tuple(vals[j] / vals[j + 1] if vals[j + 1] else 0.0
                             for j in range(0, len(vals), 2))
            tags[tag] = vals
        end = off + 2 + 12 * n
        return tags, (self.u32(end) if end + 4 <= len(self.data) else None)


def _ints(tags: dict, tag: int) -> tuple[int, ...] | None:
    """The values of an integer tag, or None when absent; TiffError when not integers."""
    vals = tags.get(tag)
    if vals is None:
        return None
    if not all(isinstance(v, int) and v >= 0 for v in vals):
        raise TiffError(f"tag {tag} does not hold non-negative integers")
    return vals


def _one(tags: dict, tag: int, default: int | None = None) -> int:
    vals = _ints(tags, tag)
    if not vals:
        if default is None:
            raise TiffError(f"required tag {tag} missing")
        return default
    return vals[0]


def _real(tags: dict, tag: int, default: float) -> float:
    vals = tags.get(tag)
    if not vals or isinstance(vals[0], str) or not math.isfinite(vals[0]) or vals[0] <= 0:
        return default      # absent or meaningless: as libtiff, fall back to the default
    return float(vals[0])


def iter_tiff(src: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO, *,
              strict: bool = True, max_pixels: int = MAX_PIXELS,
              max_document_pixels: int = MAX_DOCUMENT_PIXELS,
              max_pages: int = MAX_DOCUMENT_PAGES) -> Iterator[Page]:
    """Decode the pages of a TIFF one at a time, as the caller asks for them.

    The file is read at once (``src`` as for :func:`read_tiff`) and its header checked;
    each page is decoded only when the iteration reaches it. ``max_pixels`` caps one page;
    ``max_document_pixels`` caps all the pages of this iteration together, each page
    counting ``PAGE_OVERHEAD_PIXELS`` more, and ``max_pages`` their number: a page that
    would go over is not decoded, :class:`TiffTooLarge` is raised instead. Errors raised
    after some pages have ``complete_pages`` set (their ``pages`` stay empty: the caller
    already has them). See the module docstring for broken files.
    """
    r = _Reader(read_source(src))
    budget = DocumentBudget(max_document_pixels, max_pages, TiffTooLarge)
    return _iter_pages(r, strict, max_pixels, budget)


def _iter_pages(r: _Reader, strict: bool, max_pixels: int,
                budget: DocumentBudget) -> Iterator[Page]:
    seen: set[int] = set()
    off: int | None = r.u32(4)
    index = 0          # IFDs so far (thumbnails included)
    done = 0           # pages yielded
    while off:
        try:
            if off in seen:
                raise TiffError(f"IFD chain loops back to offset {off}")
            seen.add(off)
            if off + 2 > len(r.data):
                where = "past" if off >= len(r.data) else "cut off by"
                raise TiffError(f"IFD at offset {off} is {where} the end of the file "
                                f"({len(r.data)} bytes): file truncated?")
            tags, nxt = r.ifd(off)
            page = _read_page(r, tags, index, max_pixels, budget)
        except TiffUnsupportedError as exc:
            exc.complete_pages = done
            raise
        except TiffTooLarge as exc:
            exc.complete_pages = done
            raise
        except TiffError as exc:
            if strict or not done:
                raise TiffError(f"page {done + 1}: {exc}", complete_pages=done) from None
            log.warning("TIFF page %d unreadable, keeping %d pages: %s", done + 1, done, exc)
            return
        if page is not None:
            yield page
            done += 1
        index += 1
        if nxt is None:
            msg = (f"page {done + 1}: file truncated ({len(r.data)} bytes) inside the "
                   f"next-IFD offset after page {done}")
            if strict or not done:
                raise TiffError(msg, complete_pages=done)
            log.warning("TIFF %s; keeping %d pages", msg, done)
            return
        off = nxt
    if not done:
        raise TiffError("TIFF file has no image")


def read_tiff(src: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO, *,
              strict: bool = True, max_pixels: int = MAX_PIXELS,
              max_document_pixels: int = MAX_DOCUMENT_PIXELS,
              max_pages: int = MAX_DOCUMENT_PAGES) -> list[Page]:
    """Read every page of a TIFF (Class F or any bilevel TIFF) as :class:`Page` objects.

    ``src`` is a path, the file's bytes, or a binary file object. The limits are those
    of :func:`iter_tiff`: by default at most 2**30 pixels (1 GiB of bitmaps) and 10 000
    pages in all. A :class:`TiffError` (including :class:`TiffTooLarge`) raised after
    some pages carries them in ``exc.pages``: a truncated multi-page file gives its
    complete pages that way. See the module docstring for what happens with broken files.
    """
    return collect_pages(iter_tiff(src, strict=strict, max_pixels=max_pixels,
                                   max_document_pixels=max_document_pixels,
                                   max_pages=max_pages))


def _read_page(r: _Reader, tags: dict, index: int, max_pixels: int,
               budget: DocumentBudget) -> Page | None:
    subfile = _one(tags, NEW_SUBFILE_TYPE, 0)
    if subfile & 1:
        return None  # reduced-resolution copy (thumbnail): not a page
    if TILE_WIDTH in tags:
        raise TiffUnsupportedError("tiled TIFF is not a fax image")
    width = int(_one(tags, IMAGE_WIDTH))
    height = int(_one(tags, IMAGE_LENGTH))
    bps = int(_one(tags, BITS_PER_SAMPLE, 1))
    spp = int(_one(tags, SAMPLES_PER_PIXEL, 1))
    comp = int(_one(tags, COMPRESSION, 1))
    if bps != 1 or spp != 1:
        raise TiffUnsupportedError(f"not a bilevel image ({spp} samples of {bps} bits)")
    if comp not in (1, 3, 4, COMPRESSION_JBIG):
        raise TiffUnsupportedError(f"compression {comp} is not a fax compression "
                                   f"(1, 3, 4, {COMPRESSION_JBIG})")
    photometric = int(_one(tags, PHOTOMETRIC, 0))
    if photometric not in (0, 1):
        raise TiffUnsupportedError(f"photometric interpretation {photometric} is not bilevel")
    fill = int(_one(tags, FILL_ORDER, 1))
    if fill not in (1, 2):
        raise TiffError(f"bad FillOrder {fill}")
    if width <= 0 or height <= 0 or width > MAX_WIDTH or width * height > max_pixels:
        raise TiffError(f"implausible page size {width}x{height} (limit {MAX_WIDTH} wide, "
                        f"{max_pixels} pixels)")
    rps = int(_one(tags, ROWS_PER_STRIP, 0xFFFFFFFF)) or height
    rps = min(rps, height)
    nstrips = -(-height // rps)
    offsets = _ints(tags, STRIP_OFFSETS)
    counts = _ints(tags, STRIP_BYTE_COUNTS)
    if not offsets:
        raise TiffError("no StripOffsets")
    if counts is None:
        if len(offsets) != 1:
            raise TiffError("no StripByteCounts")
        counts = (len(r.data) - offsets[0],)
    if len(offsets) != len(counts):
        raise TiffError(f"{len(offsets)} StripOffsets but {len(counts)} StripByteCounts")
    if len(offsets) < nstrips:
        raise TiffError(f"{len(offsets)} strips for {height} rows of {rps} per strip")

    t4 = int(_one(tags, T4_OPTIONS, 0))
    if comp == COMPRESSION_JBIG:
        scheme = "jbig"
    else:
        scheme = "none" if comp == 1 else _SCHEME_OF[(comp, bool(t4 & 1))]
    # Charged before anything is decoded: rows that cannot be decoded are still returned
    # (white), so the page costs width x height whatever its data.
    budget.charge(width * height)
    # One page-sized array that the strips are copied into (missing rows stay white);
    # a page in one fully decoded strip is used as decoded. Peak: the page plus a strip.
    bitmap: np.ndarray | None = None
    bad = consecutive = 0
    errors: list[str] = []
    for s in range(nstrips):
        nrows = min(rps, height - s * rps)
        start, want = int(offsets[s]), int(counts[s])
        chunk = r.data[start:start + want] if start < len(r.data) else b""
        if len(chunk) < want:
            errors.append(f"strip {s}: {len(chunk)} of {want} bytes in file")
        rows, strip_bad, run, err = _decode_strip(chunk, scheme, width, nrows, fill == 2)
        got = rows.shape[0]
        if nstrips == 1 and got == height:
            bitmap = rows
        else:
            if bitmap is None:
                bitmap = np.zeros((height, width), dtype=np.uint8)
            bitmap[s * rps:s * rps + got] = rows
        del rows
        bad += strip_bad + (nrows - got)
        consecutive = max(consecutive, run, nrows - got)
        if err:
            errors.append(f"strip {s}: {err}")
        elif got < nrows:
            errors.append(f"strip {s}: {got} of {nrows} rows decoded")
    assert bitmap is not None        # nstrips >= 1
    if photometric == 1:
        np.subtract(1, bitmap, out=bitmap)   # min-is-black: a 0 bit is black
    xres = _real(tags, X_RESOLUTION, _FINE_X)
    yres = _real(tags, Y_RESOLUTION, _FINE_Y)
    if _one(tags, RESOLUTION_UNIT, 2) == 3:
        xres, yres = round(xres * 2.54, 2), round(yres * 2.54, 2)
    pn = _ints(tags, PAGE_NUMBER)
    clean = _ints(tags, CLEAN_FAX_DATA)
    sw = [v for v in tags.get(SOFTWARE, ()) if isinstance(v, str)]
    # The tags are the file's word and may be anything; a run of bad rows is never longer
    # than all bad rows together (consecutive <= bad). BadFaxLines may exceed the rows in
    # the file: a received page whose end was lost counts the rows it lacks (nominal page
    # length minus rows received; faxcore.pagestore writes it so).
    bad_rows = max(bad, int(_one(tags, BAD_FAX_LINES, 0)))
    consecutive = min(bad_rows, max(consecutive, int(_one(tags, CONSECUTIVE_BAD_FAX_LINES, 0))))
    return Page(
        bitmap=bitmap, xres=xres, yres=yres, scheme=scheme,
        bad_rows=bad_rows,
        consecutive_bad_rows=consecutive,
        clean=int(clean[0]) if clean else None,
        page_number=int(pn[0]) if pn else None,
        fill_order=fill,
        software=str(sw[0]) if sw else None,
        fax_info=FaxInfo.from_tags(tags),
        error="; ".join(errors) or None,
        extra={"t4options": t4, "rows_per_strip": rps, "strips": nstrips,
               "photometric": photometric, "index": index},
    )


def _decode_strip(chunk: bytes, scheme: str, width: int, nrows: int,
                  lsb_first: bool) -> tuple[np.ndarray, int, int, str | None]:
    """Decode one strip of at most ``nrows`` rows.

    Returns (the rows decoded, damaged rows, longest run of damaged rows, error).
    """
    if scheme == "none":
        stride = (width + 7) // 8
        avail = min(nrows, len(chunk) // stride)
        buf = np.frombuffer(chunk, dtype=np.uint8, count=avail * stride)
        if lsb_first:
            buf = _REVERSE[buf]
        bits = np.unpackbits(buf.reshape(avail, stride), axis=1, count=width)
        return np.ascontiguousarray(bits), 0, 0, None
    if not chunk:
        return np.zeros((0, width), dtype=np.uint8), 0, 0, "no data"
    if scheme == "jbig":
        return _decode_jbig_strip(chunk, width, nrows, lsb_first)
    # Every row takes at least one bit, so a strip cannot hold more rows than this;
    # capping ``rows`` caps what the decoder may allocate on hostile input.
    cap = min(nrows, 8 * len(chunk) + 1)
    dp = decode(chunk, scheme, width, rows=cap, lsb_first=lsb_first)
    rows = dp.bitmap[:min(int(dp.rows), nrows)]
    if rows.dtype != np.uint8 or not rows.flags.c_contiguous or not rows.flags.writeable:
        rows = np.ascontiguousarray(rows, dtype=np.uint8).copy()
    err = getattr(dp, "error", None)
    run = int(getattr(dp, "max_consecutive_bad_rows", 0))
    return rows, int(dp.bad_rows), run, (str(err) if err else None)


_REVERSE = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def _reversed_bits(data: bytes) -> bytes:
    return _REVERSE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def _decode_jbig_strip(chunk: bytes, width: int, nrows: int,
                       fill_lsb: bool) -> tuple[np.ndarray, int, int, str | None]:
    """Decode a strip holding one BIE (``fill_lsb``: the FillOrder tag is 2).

    libtiff's JBIG codec stores the BIE bit-reversed when FillOrder is 1 and as coded when
    it is 2. The BIH's third byte (P, which is 1 for one plane) tells which order the bytes
    are really in, so a file from a writer that did not follow libtiff is read too; when
    it says neither, libtiff's order is assumed (the decoder then reports the bad BIH).
    """
    if len(chunk) > 2 and chunk[2] in (0x01, 0x80):
        reverse = chunk[2] == 0x80
    else:
        reverse = not fill_lsb
    bie = _reversed_bits(chunk) if reverse else chunk
    # ``rows`` caps what the decoder allocates: the strip's rows, which the page's size
    # (checked against max_pixels and the document budget before this) bounds.
    dp = _jbig.decode(bie, width=width, rows=nrows, strict=False)
    rows = np.ascontiguousarray(dp.bitmap[:min(int(dp.rows), nrows)], dtype=np.uint8)
    if not rows.flags.writeable:
        rows = rows.copy()
    return rows, 0, 0, (str(dp.error) if dp.error else None)


# --------------------------------------------------------------------------- writing


def _as_page(p: Page | np.ndarray) -> Page:
    if isinstance(p, Page):
        return p
    return Page(bitmap=np.asarray(p))


def _check_bitmap(bm: np.ndarray) -> np.ndarray:
    bm = np.asarray(bm)
    if bm.ndim != 2 or bm.shape[0] < 1 or bm.shape[1] < 1:
        raise ValueError(f"a page bitmap must be 2-D and non-empty, got shape {bm.shape}")
    if bm.dtype != np.uint8:
        bm = bm.astype(np.uint8)
    return bm


def _rational(v: float) -> tuple[int, int]:
    if float(v).is_integer():
        return int(v), 1
    return round(v * 100), 100


def tiff_bytes(pages: Iterable[Page | np.ndarray], scheme: str = "mmr", *,
               fill_order: int = 1, rows_per_strip: int | None = None,
               eol_align: bool = False, k: int | None = None,
               software: str | None = "faxcore", byteorder: str = "<",
               rtc: bool = False) -> bytes:
    """The bytes of a TIFF-F file holding ``pages``; see :func:`write_tiff`."""
    scheme = scheme.lower()
    if scheme not in ("mh", "mr", "mmr", "jbig", "none"):
        raise ValueError(f"unknown scheme {scheme!r} (mh, mr, mmr, jbig or none)")
    if fill_order not in (1, 2):
        raise ValueError("fill_order must be 1 or 2")
    if byteorder not in ("<", ">"):
        raise ValueError("byteorder must be '<' or '>'")
    pages = [_as_page(p) for p in pages]
    if not pages:
        raise ValueError("no pages to write")
    bo = byteorder
    out = io.BytesIO()
    out.write((b"II" if bo == "<" else b"MM") + struct.pack(bo + "HI", 42, 0))
    next_ptr = 4  # where the offset of the next IFD goes
    for index, page in enumerate(pages):
        bm = _check_bitmap(page.bitmap)
        h, w = bm.shape
        rps = h if not rows_per_strip else max(1, min(int(rows_per_strip), h))
        if scheme == "jbig":
            rps = h   # libtiff's JBIG codec reads and writes one strip per page only
        # RTC ends the page: it goes after the last strip's rows only
        strips = [_encode_strip(bm[y:y + rps], scheme, fill_order, eol_align,
                                _k_for(k, page.yres), rtc and y + rps >= h)
                  for y in range(0, h, rps)]
        offsets = []
        for s in strips:
            offsets.append(out.tell())
            out.write(s)
            if out.tell() % 2:
                out.write(b"\0")
        entries: list[tuple[int, int, list]] = [
            (NEW_SUBFILE_TYPE, 4, [2]),
            (IMAGE_WIDTH, 4, [w]),
            (IMAGE_LENGTH, 4, [h]),
            (BITS_PER_SAMPLE, 3, [1]),
            (COMPRESSION, 3, [{"none": 1, "mh": 3, "mr": 3, "mmr": 4,
                               "jbig": COMPRESSION_JBIG}[scheme]]),
            (PHOTOMETRIC, 3, [0]),
            (FILL_ORDER, 3, [fill_order]),
            (STRIP_OFFSETS, 4, offsets),
            (ORIENTATION, 3, [1]),
            (SAMPLES_PER_PIXEL, 3, [1]),
            (ROWS_PER_STRIP, 4, [rps]),
            (STRIP_BYTE_COUNTS, 4, [len(s) for s in strips]),
            (X_RESOLUTION, 5, [_rational(page.xres)]),
            (Y_RESOLUTION, 5, [_rational(page.yres)]),
            (PLANAR_CONFIG, 3, [1]),
            (RESOLUTION_UNIT, 3, [2]),
            (PAGE_NUMBER, 3, [index, len(pages)]),
        ]
        if scheme in ("mh", "mr"):
            entries.append((T4_OPTIONS, 4, [(1 if scheme == "mr" else 0)
                                            | (4 if eol_align else 0)]))
        elif scheme == "mmr":
            entries.append((T6_OPTIONS, 4, [0]))
        if software:                     # the software that wrote this file
            entries.append((SOFTWARE, 2, [software]))
        if page.bad_rows or page.clean is not None:
            clean = page.clean if page.clean is not None else (REGENERATED if page.bad_rows
                                                               else CLEAN)
            entries += [(BAD_FAX_LINES, 4, [page.bad_rows]),
                        (CLEAN_FAX_DATA, 3, [clean]),
                        (CONSECUTIVE_BAD_FAX_LINES, 4, [page.consecutive_bad_rows])]
        if page.fax_info is not None:    # sender, time, session parameters, DCS...
            entries += page.fax_info.tags()
        entries.sort(key=lambda e: e[0])
        next_ptr = _write_ifd(out, bo, entries, next_ptr)
    return out.getvalue()


def _k_for(k: int | None, yres: float) -> int:
    # libtiff's choice when nothing says otherwise: K=2 at standard, 4 above 150 lpi.
    if k is not None:
        return k
    return 4 if yres > 150 else 2


def _encode_strip(rows: np.ndarray, scheme: str, fill_order: int, eol_align: bool,
                  k: int, rtc: bool = False) -> bytes:
    if scheme == "none":
        packed = np.packbits(rows, axis=1)
        if fill_order == 2:
            packed = _REVERSE[packed]
        return packed.tobytes()
    lsb = fill_order == 2
    if scheme == "jbig":
        # T.85 defaults (L0 128, 3-line template, TPBON), which jbigkit's full decoder in
        # libtiff takes; trim_zeros ends the stripes as jbigkit's own encoder does. The
        # BIE is stored bit-reversed under FillOrder 1, as libtiff stores it.
        bie = _jbig.encode(rows, trim_zeros=True)
        return bie if lsb else _reversed_bits(bie)
    if scheme == "mmr":
        # libtiff ends every T.6 strip with EOFB.
        return encode(rows, "mmr", end_marker=True, lsb_first=lsb)
    # libtiff's TIFF-F T.4 strips: an EOL before every row, no RTC at the end (unless
    # asked for: readers that take a page's data to RTC or the end of the file, as efax).
    return encode(rows, scheme, k=k, eol_align=eol_align, end_marker=rtc, lsb_first=lsb)


def _write_ifd(out: io.BytesIO, bo: str, entries: list[tuple[int, int, list]],
               next_ptr: int) -> int:
    """Write the out-of-line values, then the IFD; link it from ``next_ptr``."""
    blobs: list[bytes] = []
    for _tag, typ, vals in entries:
        if typ == 2:
            blobs.append(str(vals[0]).encode("latin-1") + b"\0")
        elif typ == 5:
            blobs.append(b"".join(struct.pack(bo + "II", *v) for v in vals))
        else:
            blobs.append(struct.pack(f"{bo}{len(vals)}{_TYPES[typ][1]}", *vals))
    value_off: list[int | None] = []
    for blob in blobs:
        if len(blob) > 4:
            if out.tell() % 2:
                out.write(b"\0")
            value_off.append(out.tell())
            out.write(blob)
        else:
            value_off.append(None)
    if out.tell() % 2:
        out.write(b"\0")
    ifd_off = out.tell()
    out.write(struct.pack(bo + "H", len(entries)))
    for (tag, typ, vals), blob, voff in zip(entries, blobs, value_off, strict=True):
        count = len(blob) if typ == 2 else len(vals)
        field_ = struct.pack(bo + "I", voff) if voff is not None else blob.ljust(4, b"\0")
        out.write(struct.pack(bo + "HHI", tag, typ, count) + field_)
    new_next = out.tell()
    out.write(struct.pack(bo + "I", 0))
    end = out.tell()
    out.seek(next_ptr)
    out.write(struct.pack(bo + "I", ifd_off))
    out.seek(end)
    return new_next


def write_tiff(path: str | os.PathLike | BinaryIO, pages: Sequence[Page | np.ndarray],
               scheme: str = "mmr", *, fill_order: int = 1, rows_per_strip: int | None = None,
               eol_align: bool = False, k: int | None = None,
               software: str | None = "faxcore", byteorder: str = "<",
               rtc: bool = False) -> int:
    """Write ``pages`` as a TIFF Class F file; return the number of bytes written.

    ``scheme``: "mh" (Compression 3), "mr" (Compression 3, T4Options bit 0), "mmr"
    (Compression 4), "jbig" (Compression 34661, as libtiff writes it: one strip per page,
    ``rows_per_strip`` ignored, a T.85 BIE bit-reversed under FillOrder 1) or "none"
    (uncompressed). ``fill_order`` 2 stores bits LSB first.
    ``rows_per_strip`` splits pages into strips (default: one strip per page).
    ``eol_align`` byte-aligns every EOL (T4Options bit 2). ``k`` is MR's K (default as
    libtiff: 2 at standard resolution, 4 above). ``rtc`` (MH and MR only; MMR strips
    always end with EOFB) ends each page's last strip with RTC, the T.4 end of page:
    libtiff, Pillow and faxcore read such a file as the same pixels, and readers that
    take a page's data up to RTC or the end of the file (efax, ``efix``) stop at the
    page's end instead of running into the next page. Pages may be :class:`Page`
    objects or bare bitmaps (taken as 204x196 dpi). Every page gets NewSubfileType 2 (a
    page of a multi-page document), PageNumber, and, when it has bad rows, BadFaxLines,
    CleanFaxData and ConsecutiveBadFaxLines; a page with ``fax_info`` gets its tags
    (ImageDescription, DateTime, FaxRecvParams...: :mod:`faxcore.codecs.faxinfo`).
    """
    data = tiff_bytes(pages, scheme, fill_order=fill_order, rows_per_strip=rows_per_strip,
                      eol_align=eol_align, k=k, software=software, byteorder=byteorder,
                      rtc=rtc)
    if hasattr(path, "write"):
        path.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return len(data)
