"""ITU-T T.4 (MH, MR) and T.6 (MMR) page codecs: the public API.

Schemes:
    ``"mh"``  Modified Huffman, T.4 one-dimensional coding (TIFF Compression 3, G3 1-D)
    ``"mr"``  Modified READ, T.4 two-dimensional coding with parameter K (TIFF G3 2-D)
    ``"mmr"`` Modified Modified READ, T.6 (TIFF Compression 4, G4)
    ``"jbig"`` ITU-T T.85 JBIG, default options (3-line template, TPBON, L0=128); the
              options are in :func:`faxcore.codecs.jbig.encode`. The width is in the
              stream's header; ``decode`` checks it against ``width``.

Terms: an EOL (end of line, ``000000000001``) precedes every MH/MR row; in MR a tag bit
follows each EOL (1 = next row 1-D, 0 = 2-D). Fill bits are 0 bits inserted before an EOL.
RTC (return to control) ends an MH/MR page: six EOLs (each followed by tag 1 in MR).
EOFB (end of facsimile block) ends an MMR page: two EOLs.

Bitmaps are 2-D numpy ``uint8`` arrays, one row per scan line, 1 (any non-zero) = black.
The packed form, :class:`PackedBitmap`, is rows of bytes, most significant bit first,
1 = black (as PBM P4 and libtiff), with an explicit width; the codec core works on it, so
passing packed rows saves the packing step.

Stream layouts :func:`encode` produces (bits most significant first unless ``lsb_first``):

=========================  ==========================================================
options                    stream
=========================  ==========================================================
mh/mr, end_marker=True     EOL row EOL row ... EOL row RTC, padded to a byte (T.4 page)
mh/mr, end_marker=False    EOL row EOL row ... EOL row, padded to a byte: exactly what
                           libtiff writes for one TIFF Class F strip (Compression 3,
                           FAXMODE_CLASSF, no RTC); ``eol_align=True`` matches T4Options
                           bit 2 (libtiff ``tiffcp -c g3:fill``); MR needs the same K:
                           libtiff uses K=4 when YResolution > 150 dpi, else K=2
mmr, end_marker=True       rows EOFB, padded to a byte: exactly libtiff's G4 strip
mmr, end_marker=False      rows, padded to a byte (e.g. ECM blocks that add EOFB later)
=========================  ==========================================================

:func:`encode_tiff_strip` picks the libtiff-compatible combination for a TIFF writer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

import numpy as np

from faxcore.codecs import _t4

log = logging.getLogger(__name__)

SCHEMES = {"mh": 0, "mr": 1, "mmr": 2}
MAX_WIDTH = _t4.MAX_WIDTH  # 65535 pixels
#: Default cap on decoded rows when ``rows`` is not given (also bounded by the input size:
#: every row costs at least one bit) and on decoded pixels (rows * width).
MAX_ROWS = _t4.MAX_ROWS  # 65535 rows
MAX_PIXELS = 1 << 28  # 268 million pixels, 32 MiB packed
_REVERSE = _t4.REVERSE_TABLE

#: Default budget of one multi-page read (``read_tiff``/``iter_tiff``/``read_raw``/
#: ``iter_raw``): decoded pixels of all pages together, counting ``PAGE_OVERHEAD_PIXELS``
#: per page. 2**30 is about 270 A4 pages at fine resolution (1728 x 2292) or 67 at
#: 400 dpi, far more than a fax; it bounds what a small hostile file can make a reader
#: allocate to 1 GiB of the 1-byte-per-pixel bitmaps ``read_tiff`` returns (128 MiB
#: packed), where per-page caps alone let 10 KB of TIFF ask for 6 GiB.
MAX_DOCUMENT_PIXELS = 1 << 30
#: Default cap on the pages of one read: a fax has tens of pages, TIFF page numbers stop
#: at 65535; without it, pages of one row cost more in Python objects than in pixels.
MAX_DOCUMENT_PAGES = 10_000
#: Pixels charged per page on top of its width x height: its Python objects and the
#: decoder's per-page set-up (about 3 KB measured for a one-row page of 1728 pixels).
PAGE_OVERHEAD_PIXELS = 4096


class DocumentError(ValueError):
    """A multi-page file could be read only in part.

    Attributes:
        pages: the complete pages read before the problem, in order (``read_tiff`` and
            ``read_raw`` fill it; the iterators leave it empty, as their caller has
            already received those pages).
        complete_pages: how many complete pages came before the problem.
    """

    def __init__(self, message: str, *, pages: list | None = None,
                 complete_pages: int | None = None) -> None:
        super().__init__(message)
        self.pages: list = list(pages) if pages else []
        self.complete_pages: int = (len(self.pages) if complete_pages is None
                                    else int(complete_pages))


class DocumentTooLarge(DocumentError):
    """A multi-page read went over its budget of pixels or pages (a decompression bomb,
    or a document larger than the caller allowed)."""


class DocumentBudget:
    """What one multi-page read may still decode: pixels and pages (see
    ``MAX_DOCUMENT_PIXELS``). ``error`` is the exception class raised when over it."""

    def __init__(self, max_pixels: int = MAX_DOCUMENT_PIXELS,
                 max_pages: int = MAX_DOCUMENT_PAGES,
                 error: type[DocumentTooLarge] = DocumentTooLarge) -> None:
        if int(max_pixels) < 1 or int(max_pages) < 1:
            raise ValueError(f"document budget must be positive, got {max_pixels} pixels, "
                             f"{max_pages} pages")
        self.max_pixels = int(max_pixels)
        self.max_pages = int(max_pages)
        self.error = error
        self.pixels = 0     # charged so far, overhead included
        self.pages = 0

    def _fail(self, what: str) -> DocumentTooLarge:
        return self.error(f"document too large: {what} (limits: {self.max_pixels} pixels, "
                          f"{self.max_pages} pages per read)", complete_pages=self.pages)

    def check(self, pixels: int) -> None:
        """Raise ``self.error`` unless a next page of ``pixels`` fits."""
        if self.pages >= self.max_pages:
            raise self._fail(f"more than {self.max_pages} pages")
        if self.pixels + int(pixels) + PAGE_OVERHEAD_PIXELS > self.max_pixels:
            raise self._fail(f"page {self.pages + 1} needs {int(pixels)} pixels, "
                             f"{self.pixels} already used")

    def charge(self, pixels: int) -> None:
        """Account for the next page of ``pixels`` (before its bitmap is made); raise
        ``self.error`` when it does not fit."""
        self.check(pixels)
        self.pixels += int(pixels) + PAGE_OVERHEAD_PIXELS
        self.pages += 1

    def rows_left(self, width: int) -> int:
        """Rows of ``width`` pixels the next page may have (0 when no page fits)."""
        if self.pages >= self.max_pages:
            return 0
        return max(0, (self.max_pixels - self.pixels - PAGE_OVERHEAD_PIXELS) // max(1, width))


_P = TypeVar("_P")


def read_source(src: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO) -> bytes:
    """The bytes of a multi-page reader's ``src``: the bytes themselves, a binary file
    object (read to its end) or a path."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if hasattr(src, "read"):
        return src.read()
    with open(src, "rb") as f:
        return f.read()


def collect_pages(pages: Iterable[_P]) -> list[_P]:
    """Every page of a page iterator (``iter_tiff``/``iter_raw``) as a list. A
    :class:`DocumentError` on the way gets the pages read before it in ``pages`` (the
    iterators leave that empty, as their caller already has them) and is raised again."""
    done: list[_P] = []
    try:
        for page in pages:
            done.append(page)
    except DocumentError as exc:
        exc.pages = done
        exc.complete_pages = len(done)
        raise
    return done


@dataclass(frozen=True, eq=False)
class PackedBitmap:
    """A bilevel page as packed rows: ``data[row, byte]``, MSB first, 1 = black.

    ``data`` is a C-contiguous ``uint8`` array of shape (rows, ceil(width / 8)); bits past
    ``width`` in the last byte of a row are ignored by the encoder and 0 from the decoder.
    """

    data: np.ndarray
    width: int

    def __post_init__(self) -> None:
        data = np.ascontiguousarray(self.data, dtype=np.uint8)
        if data.ndim != 2:
            raise ValueError("packed data must be 2-D (rows, bytes per row)")
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"width must be 1..{MAX_WIDTH}, got {self.width}")
        if data.shape[1] != (self.width + 7) // 8:
            raise ValueError(
                f"packed rows of width {self.width} need {(self.width + 7) // 8} bytes, "
                f"got {data.shape[1]}"
            )
        object.__setattr__(self, "data", data)

    @property
    def rows(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.width)

    @classmethod
    def from_bytes(cls, buf: bytes, width: int, rows: int | None = None) -> PackedBitmap:
        """From raw packed rows (e.g. the raster of a PBM P4 file)."""
        rowbytes = (width + 7) // 8
        if rows is None:
            rows = len(buf) // rowbytes
        if len(buf) < rows * rowbytes:
            raise ValueError(f"need {rows * rowbytes} bytes for {rows} rows, got {len(buf)}")
        arr = np.frombuffer(buf, dtype=np.uint8, count=rows * rowbytes).reshape(rows, rowbytes)
        return cls(arr, width)

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    def unpack(self) -> np.ndarray:
        return unpack(self)


def pack(bitmap: np.ndarray) -> PackedBitmap:
    """2-D 0/1 bitmap (non-zero = black) to :class:`PackedBitmap`."""
    bitmap = np.asarray(bitmap)
    if bitmap.ndim != 2:
        raise ValueError(f"bitmap must be 2-D (rows, width), got shape {bitmap.shape}")
    if bitmap.shape[1] < 1:
        raise ValueError("bitmap width must be at least 1")
    return PackedBitmap(np.packbits(bitmap, axis=1), int(bitmap.shape[1]))


def unpack(packed: PackedBitmap) -> np.ndarray:
    """:class:`PackedBitmap` to a 2-D ``uint8`` 0/1 bitmap."""
    return np.unpackbits(packed.data, axis=1, count=packed.width)


def _scheme(scheme: str) -> int:
    try:
        return SCHEMES[scheme.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"scheme must be one of 'mh', 'mr', 'mmr', got {scheme!r}") from None


def _is_jbig(scheme: str) -> bool:
    return isinstance(scheme, str) and scheme.lower() == "jbig"


def _as_packed(bitmap: np.ndarray | PackedBitmap) -> PackedBitmap:
    if isinstance(bitmap, PackedBitmap):
        return bitmap
    return pack(bitmap)


def encode(
    bitmap: np.ndarray | PackedBitmap,
    scheme: str,
    *,
    k: int = 4,
    eol_align: bool = False,
    min_row_bits: int = 0,
    end_marker: bool = True,
    lsb_first: bool = False,
) -> bytes:
    """Encode a page with MH, MR or MMR.

    Args:
        bitmap: 2-D ``uint8`` array (non-zero = black) or a :class:`PackedBitmap`.
        scheme: ``"mh"``, ``"mr"`` or ``"mmr"``.
        k: MR only: the K parameter; each 1-D row is followed by at most K-1 2-D rows
            (T.4 uses 2 at standard and 4 at fine resolution). The first row is 1-D.
        eol_align: MH/MR: fill bits before every EOL (including those of RTC) so that the
            EOL ends on a byte boundary (TIFF T4Options bit 2, ``fax2tiff -A``).
        min_row_bits: MH/MR: minimum bits per coded row, counting the row's EOL (and tag
            bit), its data and its fill; fill bits are added before the next EOL. Use
            ``bit rate * minimum scan line time`` (T.30 DCS), e.g. 9600 * 0.020 = 192.
        end_marker: write RTC (MH/MR) or EOFB (MMR) after the last row.
        lsb_first: reverse the bit order in each byte (TIFF FillOrder 2, the order in
            which bits are sent on the line) instead of most significant bit first.

    Returns the coded bytes; the last byte is padded with 0 bits. See the module docstring
    for which options give byte-identical libtiff strips.
    """
    if _is_jbig(scheme):
        if eol_align or min_row_bits or not end_marker:
            raise ValueError("eol_align, min_row_bits and end_marker=False are T.4/T.6 options")
        # function-level: faxcore.codecs.jbig imports this module (PackedBitmap, DecodedPage)
        from faxcore.codecs import jbig
        out = jbig.encode(_as_packed(bitmap))
        return out.translate(_REVERSE) if lsb_first else out
    code = _scheme(scheme)
    if code == 2 and (eol_align or min_row_bits):
        raise ValueError("eol_align and min_row_bits apply to MH/MR only (MMR has no EOL)")
    if code == 1 and not 1 <= k <= 65535:
        raise ValueError(f"k must be 1..65535, got {k}")
    if min_row_bits < 0 or min_row_bits > 1 << 20:
        raise ValueError(f"min_row_bits must be 0..{1 << 20}, got {min_row_bits}")
    packed = _as_packed(bitmap)
    out = _t4.encode_packed(
        packed.data, packed.width, code, k, bool(eol_align), int(min_row_bits), bool(end_marker)
    )
    if lsb_first:
        out = out.translate(_REVERSE)
    return out


def encode_tiff_strip(
    bitmap: np.ndarray | PackedBitmap,
    scheme: str,
    *,
    k: int = 4,
    eol_align: bool = False,
    lsb_first: bool = False,
) -> bytes:
    """Encode one TIFF Class F strip exactly as libtiff does.

    G3 (``"mh"``/``"mr"``): an EOL (with tag bit in MR) before every row, no RTC, padded
    to a byte; each strip starts afresh, so its first MR row is 1-D. ``eol_align`` is T4Options
    bit 2 (fill bits). G4 (``"mmr"``): the rows coded against an all-white line, then EOFB.
    ``lsb_first`` gives FillOrder 2. Same as ``encode(..., end_marker=(scheme == "mmr"))``.
    """
    return encode(
        bitmap,
        scheme,
        k=k,
        eol_align=eol_align and scheme != "mmr",
        end_marker=_scheme(scheme) == 2,
        lsb_first=lsb_first,
    )


@dataclass(eq=False)
class DecodedPage:
    """Result of :func:`decode`.

    Attributes:
        packed: the decoded rows as a :class:`PackedBitmap` (``.bitmap`` unpacks it).
        rows: number of rows decoded (including replaced damaged rows).
        bad_rows: number of damaged rows (MH/MR), each replaced by the previous row.
        bad_row_indices: their row numbers, ascending.
        max_consecutive_bad_rows: longest run of consecutive damaged rows (TIFF
            ConsecutiveBadFaxLines; T.30 copy-quality checks use it with ``bad_rows``).
        end_marker_seen: RTC (MH/MR: six EOLs; also two or more EOLs at the very end of
            the data) or EOFB (MMR) was found.
        error: ``None`` when every row decoded cleanly, else a message describing the first
            problem (MMR: why decoding stopped).
        consumed_bits: bits of input used, up to the end marker or the last row
            (including any ``skipped_bits``).
        skipped_bits: MH/MR: bits before the first EOL that were skipped because the
            page starts at its first EOL (T.4: a receiver synchronises on it), such as a
            modem's preamble of 1 bits (the mark state) or noise before the page; they
            count neither as rows nor as bad rows. 0 when the data starts with an EOL
            (fill bits, i.e. 0 bits, before the first EOL are part of it, not skipped),
            when it holds no EOL at all, and for MMR.
    """

    packed: PackedBitmap
    rows: int
    bad_rows: int
    bad_row_indices: list[int]
    max_consecutive_bad_rows: int
    end_marker_seen: bool
    error: str | None
    consumed_bits: int
    scheme: str
    skipped_bits: int = 0
    _bitmap: np.ndarray | None = field(default=None, repr=False)

    @property
    def bitmap(self) -> np.ndarray:
        """The rows as a 2-D ``uint8`` array, 1 = black (unpacked on first use)."""
        if self._bitmap is None:
            self._bitmap = unpack(self.packed)
        return self._bitmap

    @property
    def width(self) -> int:
        return self.packed.width

    @property
    def consumed_bytes(self) -> int:
        return (self.consumed_bits + 7) // 8

    @property
    def ok(self) -> bool:
        """True when there was no error and no damaged row."""
        return self.error is None and self.bad_rows == 0


def _longest_run(indices: list[int]) -> int:
    best = run = 0
    prev = None
    for i in indices:
        run = run + 1 if prev is not None and i == prev + 1 else 1
        best = max(best, run)
        prev = i
    return best


def _byte_buffer(data: bytes | bytearray | memoryview) -> bytes | memoryview:
    """The input as a flat byte buffer, without copying when it already is one (callers
    decoding page after page from one stream pass memoryview slices)."""
    if isinstance(data, bytes):
        return data
    mv = memoryview(data)
    if mv.c_contiguous and mv.itemsize == 1:
        return mv.cast("B")
    return bytes(mv)


def decode(
    data: bytes | bytearray | memoryview,
    scheme: str,
    width: int,
    *,
    rows: int | None = None,
    k: int | None = None,
    lsb_first: bool = False,
    max_rows: int | None = None,
) -> DecodedPage:
    """Decode an MH, MR or MMR stream. Never raises on damaged data; see below.

    Args:
        data: the coded bytes.
        scheme: ``"mh"``, ``"mr"`` or ``"mmr"``.
        width: pixels per row, 1..65535.
        rows: stop after this many rows (e.g. TIFF ImageLength); fewer are returned if the
            data ends first (``error`` then says so).
        k: MR only: used for rows not preceded by an EOL (streams without EOLs), where
            every K-th row is 1-D. After an EOL the tag bit always decides.
        lsb_first: the data is in TIFF FillOrder 2 (bit-reversed bytes).
        max_rows: cap on rows when ``rows`` is None; default: 65535 rows and at most
            2**28 pixels. Hitting it sets ``error``.

    Behaviour:
        MH/MR: each row may be preceded by an EOL with optional fill bits (byte-aligned
        EOLs are fine). The page starts at the first EOL: when the data holds an EOL,
        everything before it (a modem's preamble of 1 bits, line noise, even a first row
        sent without its EOL) is skipped and counted in ``skipped_bits``, not decoded,
        as T.4 receivers, spandsp and libtiff do. Data without any EOL (rows back to
        back, as in TIFF strips written without EOLs) decodes from its first bit.
        A damaged row (invalid code, wrong length, EOL too early) is counted in
        ``bad_rows``, replaced by the previous good row (white for the first row), and
        decoding resumes after the next EOL. The page ends at RTC or at the end of the
        data. In a stream without EOLs there is nothing to resynchronise on, so the
        first error ends the page.
        MMR: decoding stops at the first error, returning the rows decoded so far with
        ``error`` set; it ends at EOFB or at the end of the data.
        The memory used is bounded by ``rows * width`` (when ``rows`` is given) or by the
        caps above, and by the input size (every row costs at least one bit).
    """
    code = -1 if _is_jbig(scheme) else _scheme(scheme)
    if not isinstance(width, int | np.integer) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be 1..{MAX_WIDTH}, got {width!r}")
    width = int(width)
    buf = _byte_buffer(data)
    if lsb_first:
        buf = bytes(buf).translate(_REVERSE)
    if code < 0:
        if rows is not None and rows < 0:
            raise ValueError("rows must be >= 0")
        # function-level: faxcore.codecs.jbig imports this module (PackedBitmap, DecodedPage)
        from faxcore.codecs import jbig
        return jbig.decode(buf, width=width, rows=rows, max_rows=max_rows)
    if rows is not None:
        if rows < 0:
            raise ValueError("rows must be >= 0")
        limit = int(rows)
    else:
        limit = MAX_ROWS if max_rows is None else int(max_rows)
        limit = max(0, min(limit, MAX_PIXELS // width))
    kk = 0 if k is None else int(k)
    if code == 1 and k is not None and kk < 1:
        raise ValueError("k must be >= 1")
    out, nrows, bad, end_seen, error, consumed, skipped = _t4.decode_packed(
        buf, width, code, limit, kk, rows is not None
    )
    if skipped:
        log.debug("%s decode: skipped %d bits before the first EOL", scheme, skipped)
    if rows is not None and nrows < rows and error is None:
        error = f"data ended after {nrows} of {rows} rows"
    if error is not None:
        log.debug("%s decode: %s", scheme, error)
    packed = PackedBitmap(out, width)
    return DecodedPage(
        packed=packed,
        rows=nrows,
        bad_rows=len(bad),
        bad_row_indices=list(bad),
        max_consecutive_bad_rows=_longest_run(bad),
        end_marker_seen=bool(end_seen),
        error=error,
        consumed_bits=int(consumed),
        scheme=scheme.lower(),
        skipped_bits=int(skipped),
    )
