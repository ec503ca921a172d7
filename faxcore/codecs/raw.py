"""Raw fax streams: ``.g3`` (T.4 MH or MR) and ``.g4`` (T.6 MMR) files without a container.

This is what Ghostscript's ``faxg3`` / ``faxg32d`` / ``faxg4`` devices and netpbm's
``pbmtog3`` write and what ``fax2tiff`` and ``g3topbm`` read: the pages one after the
other, each T.4 page ended by RTC (return to control: six EOLs) and each T.6 page by EOFB
(end of facsimile block: two EOLs). The stream records neither the page width nor the
resolution, so the reader is told the width (1728 by default) and the caller assigns a
resolution.

Page splitting is done on the bit stream before decoding: a T.4 page ends at a run of
at least ``RTC_MIN_EOLS`` (4) consecutive EOLs with nothing between them but fill bits
and MR's 1-D tag bit (six in an undamaged RTC; a fax line can garble some of them); the
last EOL of the run goes to the next page when more data follows (T.4 pages start with
an EOL). A T.6 page ends after its EOFB. A cut is moved to the next byte boundary when
only 0 bits (padding) lie before it. Data after the last end marker that holds a decodable row becomes a
final page with ``Page.error`` saying it was not terminated (a truncated stream); data
with no row at all (zero padding) is dropped.

A raw stream says nothing about page sizes, and a white MMR row costs one bit, so a few
hundred KB can decode to gigabytes: one read decodes at most ``max_document_pixels``
(default ``MAX_DOCUMENT_PIXELS``, 2**30 pixels, each page also charged
``PAGE_OVERHEAD_PIXELS``) in at most ``max_pages`` pages (default 10 000). The decoder is
told how many rows are left, so it stops there; :class:`DocumentTooLarge` (a
``ValueError``) is then raised. :func:`iter_raw` decodes page by page as the caller
iterates; :func:`read_raw` is ``list(iter_raw(...))`` and puts the pages decoded before an
error in the exception's ``pages``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np

from faxcore.codecs.t4 import (
    MAX_DOCUMENT_PAGES,
    MAX_DOCUMENT_PIXELS,
    MAX_ROWS,
    DocumentBudget,
    DocumentError,
    DocumentTooLarge,
    collect_pages,
    decode,
    encode,
    read_source,
)
from faxcore.codecs.tiff import RESOLUTIONS, Page

__all__ = ["read_raw", "iter_raw", "raw_bytes", "write_raw", "split_pages",
           "guess_g3_scheme", "RTC_MIN_EOLS", "DocumentTooLarge"]

RTC_MIN_EOLS = 4
_EOL_ZEROS = 11  # an EOL is eleven or more 0 bits (fill included) and a 1


def _bits(data: bytes, lsb_first: bool) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8)
    return np.unpackbits(buf, bitorder="little" if lsb_first else "big")


def split_pages(data: bytes, scheme: str, *, lsb_first: bool = False) -> list[tuple[bytes, bool]]:
    """Cut a raw stream into pages: a list of (page bytes MSB first, end marker seen)."""
    scheme = scheme.lower()
    if scheme not in ("mh", "mr", "mmr"):
        raise ValueError(f"unknown scheme {scheme!r} (mh, mr or mmr)")
    bits = _bits(data, lsb_first)
    ones = np.flatnonzero(bits)
    if ones.size == 0:
        return []
    gaps = np.diff(ones, prepend=-1) - 1          # 0 bits before each 1 bit
    eol = np.flatnonzero(gaps >= _EOL_ZEROS)        # indices into ``ones`` of EOL 1-bits
    ends: list[int] = []                            # bit position just after each page
    if eol.size >= 2:
        nxt = eol[1:]
        cur = eol[:-1]
        # Nothing between two EOLs but fill, or (MR) the tag bit right after the first.
        empty = (nxt == cur + 1) | ((nxt == cur + 2) & (ones[np.minimum(cur + 1, ones.size - 1)]
                                                        == ones[cur] + 1))
        need = 1 if scheme == "mmr" else RTC_MIN_EOLS - 1   # empty pairs in a row
        edges = np.diff(np.r_[0, empty.astype(np.int8), 0])
        for s, t in zip(np.flatnonzero(edges == 1).tolist(),
                        np.flatnonzero(edges == -1).tolist(), strict=True):
            if t - s < need:
                continue
            j = int(nxt[t - 1])                  # the last EOL of the run
            tagged = scheme == "mr" and j + 1 < ones.size and ones[j + 1] == ones[j] + 1
            if scheme != "mmr" and j + 1 + tagged < ones.size:
                # More data follows: the run's last EOL is the one a T.4 page starts
                # with, so it goes to the next page.
                j = int(cur[t - 1])
                tagged = scheme == "mr" and ones[j + 1] == ones[j] + 1
            ends.append(int(ones[j]) + 1 + tagged)
    pages: list[tuple[bytes, bool]] = []
    start = 0
    for end in ends:
        padded = -(-end // 8) * 8
        if not bits[end:padded].any():   # encoders pad a page to a byte boundary
            end = padded
        pages.append((np.packbits(bits[start:end]).tobytes(), True))
        start = end
    tail = bits[start:]
    if tail.any():
        pages.append((np.packbits(tail).tobytes(), False))
    return pages


def iter_raw(src: str | os.PathLike | bytes | BinaryIO, scheme: str, width: int = 1728, *,
             lsb_first: bool = False, xres: float = RESOLUTIONS["fine"][0],
             yres: float = RESOLUTIONS["fine"][1],
             page_rows: int | None = None, max_rows: int | None = None,
             max_document_pixels: int = MAX_DOCUMENT_PIXELS,
             max_pages: int = MAX_DOCUMENT_PAGES) -> Iterator[Page]:
    """Decode the pages of a raw stream one at a time, as the caller asks for them.

    Arguments as for :func:`read_raw`. The stream is read and checked at once; each page
    is decoded when the iteration reaches it (an MH/MR stream cut by ``page_rows`` is
    decoded per end-marker chunk and then cut). Raises :class:`DocumentTooLarge` when the
    next page would take the pages so far past ``max_document_pixels`` or ``max_pages``,
    and :class:`~faxcore.codecs.t4.DocumentError` (a ``ValueError``) when the stream
    holds no decodable row; errors carry ``complete_pages``, the pages yielded before.
    """
    data = read_source(src)
    scheme = scheme.lower()
    if scheme not in ("mh", "mr", "mmr"):
        raise ValueError(f"unknown scheme {scheme!r} (mh, mr or mmr)")
    if width < 1:
        raise ValueError(f"bad width {width}")
    if page_rows is not None and page_rows < 1:
        raise ValueError(f"bad page_rows {page_rows}")
    budget = DocumentBudget(max_document_pixels, max_pages)
    return _iter_pages(data, scheme, width, lsb_first, xres, yres, page_rows, max_rows,
                       budget)


def _iter_pages(data: bytes, scheme: str, width: int, lsb_first: bool, xres: float,
                yres: float, page_rows: int | None, max_rows: int | None,
                budget: DocumentBudget) -> Iterator[Page]:
    done = 0
    try:
        for chunk, terminated in split_pages(data, scheme, lsb_first=lsb_first):
            for dp in _decode_pages(chunk, scheme, width, page_rows, max_rows, budget):
                err = getattr(dp, "error", None)
                errors = [str(err)] if err else []
                if not terminated and not page_rows:
                    errors.append("stream ends without " + ("EOFB" if scheme == "mmr"
                                                            else "RTC"))
                rows = int(dp.rows)
                yield Page(
                    bitmap=np.ascontiguousarray(dp.bitmap[:rows], dtype=np.uint8),
                    xres=xres, yres=yres, scheme=scheme, bad_rows=int(dp.bad_rows),
                    consecutive_bad_rows=int(getattr(dp, "max_consecutive_bad_rows", 0)),
                    fill_order=2 if lsb_first else 1, error="; ".join(errors) or None,
                    page_number=done,
                    # apart for callers that tell a stream without end markers
                    # (Ghostscript's) from a damaged one
                    extra={"end_marker": terminated,
                           "decode_error": str(err) if err else None})
                done += 1
    except DocumentError as exc:
        exc.complete_pages = done
        raise
    if not done:
        raise DocumentError(f"no decodable {scheme.upper()} page in {len(data)} bytes "
                            f"(width {width})")


def read_raw(src: str | os.PathLike | bytes | BinaryIO, scheme: str, width: int = 1728, *,
             lsb_first: bool = False, xres: float = RESOLUTIONS["fine"][0],
             yres: float = RESOLUTIONS["fine"][1],
             page_rows: int | None = None, max_rows: int | None = None,
             max_document_pixels: int = MAX_DOCUMENT_PIXELS,
             max_pages: int = MAX_DOCUMENT_PAGES) -> list[Page]:
    """Decode every page of a raw stream. ``scheme`` "mh", "mr" (both ``.g3``) or "mmr".

    Pages are split at RTC / EOFB. Ghostscript's fax devices write neither, so their
    multi-page streams read as one tall page unless ``page_rows`` gives the rows per page
    (for MMR each page then restarts at the byte after the previous page's last row).
    Damaged rows are handled by the codec (replaced and counted in ``Page.bad_rows``);
    a page that ends in an error or lacks its end marker has ``Page.error`` set (a stream
    cut into pages by ``page_rows`` needs no end marker). ``max_rows`` caps the rows of
    one undivided page (the codec's default cap is 65535 rows).

    The whole read decodes at most ``max_document_pixels`` pixels (default 2**30, each
    page counting ``PAGE_OVERHEAD_PIXELS`` more) in at most ``max_pages`` pages (default
    10 000); beyond that it raises :class:`DocumentTooLarge`, whose ``pages`` holds the
    pages decoded before. Raises :class:`~faxcore.codecs.t4.DocumentError` (a
    ``ValueError``) when the stream holds no decodable row at all.
    """
    return collect_pages(iter_raw(src, scheme, width, lsb_first=lsb_first, xres=xres,
                                  yres=yres, page_rows=page_rows, max_rows=max_rows,
                                  max_document_pixels=max_document_pixels,
                                  max_pages=max_pages))


class _Cut:
    """One ``page_rows`` slice of a decoded page, shaped like the codec's DecodedPage."""

    def __init__(self, bitmap: np.ndarray, bad: list[int], error: str | None):
        self.bitmap = bitmap
        self.rows = bitmap.shape[0]
        self.bad_rows = len(bad)
        self.max_consecutive_bad_rows = _longest_run(bad)
        self.error = error


def _longest_run(indices: list[int]) -> int:
    best = run = 0
    for i, v in enumerate(indices):
        run = run + 1 if i and v == indices[i - 1] + 1 else 1
        best = max(best, run)
    return best


def _decode_pages(chunk: bytes, scheme: str, width: int, page_rows: int | None,
                  max_rows: int | None, budget: DocumentBudget) -> Iterator:
    """Decode one marker-delimited chunk, cut into ``page_rows`` pages when given.

    Yields decoded pages with at least one row, each charged to ``budget`` before its
    bitmap is unpacked. Undivided pages (and MH/MR chunks cut afterwards) are decoded
    with at most one row more than the budget has left, so the decoder stops there.
    """
    cap = MAX_ROWS if max_rows is None else int(max_rows)
    if not page_rows:
        dp = decode(chunk, scheme, width, max_rows=min(cap, budget.rows_left(width) + 1))
        if dp.rows:
            budget.charge(int(dp.rows) * width)
            yield dp
        return
    if scheme != "mmr":
        # MH/MR rows stand alone after their EOL (an MR page starts with a 1-D row), so
        # the pages decode as one and are cut afterwards.
        dp = decode(chunk, scheme, width, max_rows=min(cap, budget.rows_left(width) + 1))
        bad = list(getattr(dp, "bad_row_indices", []))
        for y in range(0, int(dp.rows), page_rows):
            rows = min(page_rows, int(dp.rows) - y)
            budget.charge(rows * width)
            rows_bad = [i - y for i in bad if y <= i < y + page_rows]
            yield _Cut(dp.bitmap[y:y + rows], rows_bad,
                       dp.error if y + page_rows >= dp.rows else None)
        return
    # MMR pages each start from a white reference row: decode page by page, from an
    # offset into the chunk (a memoryview: no copy of the rest of the stream per page).
    view = memoryview(chunk)
    end = len(chunk.rstrip(b"\0"))        # only zero padding after this
    pos = 0
    while pos < end:
        # the decoder allocates this many rows up front (every row costs >= 1 bit)
        budget.check(min(page_rows, 8 * (len(chunk) - pos) + 1) * width)
        dp = decode(view[pos:], scheme, width, rows=page_rows)
        if not dp.rows:
            break
        budget.charge(int(dp.rows) * width)
        yield dp
        step = (int(dp.consumed_bits) + 7) // 8
        if dp.rows < page_rows or step == 0:
            break
        pos += step


def guess_g3_scheme(src: bytes, width: int = 1728, *, lsb_first: bool = False) -> str:
    """Tell MH from MR in a ``.g3`` stream: the one whose first page decodes cleaner.

    Both start every row with an EOL, so only decoding tells them apart; ties go to MH.
    """
    chunks = split_pages(bytes(src), "mr", lsb_first=lsb_first)
    if not chunks:
        return "mh"
    first = chunks[0][0]
    score = {}
    for scheme in ("mh", "mr"):
        dp = decode(first, scheme, width)
        score[scheme] = (int(dp.bad_rows) + (dp.error is not None), -int(dp.rows))
    return "mr" if score["mr"] < score["mh"] else "mh"


def raw_bytes(pages: Iterable[Page | np.ndarray], scheme: str, *, k: int | None = None,
              eol_align: bool = False, min_row_bits: int = 0, lsb_first: bool = False) -> bytes:
    """A raw stream of ``pages``: each page coded on its own and ended by RTC or EOFB.

    ``k`` is MR's K; by default 2 for pages at standard resolution and 4 otherwise (T.4's
    values for 3.85 and 7.7 lines/mm; libtiff uses the same rule). Bare bitmaps count as
    fine resolution.
    """
    scheme = scheme.lower()
    if scheme not in ("mh", "mr", "mmr"):
        raise ValueError(f"unknown scheme {scheme!r} (mh, mr or mmr)")
    out = []
    for p in pages:
        page = p if isinstance(p, Page) else Page(bitmap=np.asarray(p))
        kk = k if k is not None else (4 if page.yres > 150 else 2)
        out.append(encode(page.bitmap, scheme, k=kk, eol_align=eol_align,
                          min_row_bits=min_row_bits, end_marker=True, lsb_first=lsb_first))
    if not out:
        raise ValueError("no pages to write")
    return b"".join(out)


def write_raw(path: str | os.PathLike | BinaryIO, pages: Iterable[Page | np.ndarray],
              scheme: str, **options) -> int:
    """Write :func:`raw_bytes` to ``path``; return the number of bytes written."""
    data = raw_bytes(pages, scheme, **options)
    if hasattr(path, "write"):
        path.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return len(data)
