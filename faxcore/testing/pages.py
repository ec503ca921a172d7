"""Synthetic fax pages for the tests and benchmarks: bitmaps (2-D uint8, 1 = black) that
code like real pages, made from a seed, so a test gets the same page every run.

Two kinds of content, each drawn by one function:

* :func:`scatter_blocks`: black rectangles at random places, like words and letters
  (long white runs between short black ones; MR/MMR rows that change a little);
* :func:`row_runs`: a few black runs in every row, independent of the row above (rows
  that change a lot: the 2-D codes' hard case).

The named pages below are the ones the tests use; each says what it is for. A ``seed``
may also be a ``numpy.random.Generator``, to draw several pages from one stream.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from faxcore.codecs import encode
from faxcore.codecs.pbm import read_pbm

WIDTH = 1728  # the A4 width of a fax page (T.4), in pixels

Span = int | tuple[int, int]


def _draw(rng: np.random.Generator, span: Span) -> int:
    """A fixed size, or one drawn from ``[lo, hi)``."""
    return span if isinstance(span, int) else int(rng.integers(*span))


def scatter_blocks(page: np.ndarray, rng: np.random.Generator, count: int, *,
                   rows: tuple[int, int], cols: tuple[int, int], height: Span,
                   width: Span) -> np.ndarray:
    """Draw ``count`` black rectangles on ``page`` (in place; returned): each one's top
    row from ``rows``, left column from ``cols``, then its height and width (fixed, or
    drawn from a ``(lo, hi)`` range), drawn from ``rng`` in that order."""
    for _ in range(count):
        r, c = int(rng.integers(*rows)), int(rng.integers(*cols))
        h = _draw(rng, height)
        w = _draw(rng, width)
        page[r:r + h, c:c + w] = 1
    return page


def row_runs(rows: int, width: int, seed: int | np.random.Generator, *, runs: int,
             length: int) -> np.ndarray:
    """A page whose every row has up to ``runs - 1`` black runs at random places, each
    1 to ``length - 1`` pixels long."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, width), np.uint8)
    for r in range(rows):
        for _ in range(int(rng.integers(0, runs))):
            a = int(rng.integers(0, width - 1))
            bm[r, a:a + int(rng.integers(1, length))] = 1
    return bm


def text_page(rows: int = 300, seed: int | np.random.Generator = 0,
              width: int = WIDTH) -> np.ndarray:
    """Text-like black blocks, one for every three rows (small, codes like a real page)."""
    rng = np.random.default_rng(seed)
    page = np.zeros((rows, width), np.uint8)
    return scatter_blocks(page, rng, rows // 3, rows=(0, rows - 8), cols=(0, width - 40),
                          height=(1, 8), width=(2, 40))


def small_page(seed: int | np.random.Generator = 0, rows: int = 150,
               blocks: int = 60) -> np.ndarray:
    """``blocks`` words (8 x 25 pixels) on a short page: a quick page for audio calls."""
    rng = np.random.default_rng(seed)
    page = np.zeros((rows, WIDTH), np.uint8)
    return scatter_blocks(page, rng, blocks, rows=(0, rows - 10), cols=(0, 1700), height=8,
                          width=25)


def busy_page(rows: int = 300, seed: int | np.random.Generator = 9,
              min_width: int = 2) -> np.ndarray:
    """Blocks for every second row (1-8 rows high, up to 27 pixels wide): a page that
    fills many ECM frames."""
    rng = np.random.default_rng(seed)
    page = np.zeros((rows, WIDTH), np.uint8)
    return scatter_blocks(page, rng, rows // 2, rows=(0, rows - 9), cols=(0, 1700),
                          height=(1, 9), width=(min_width, 28))


def ruled_page(seed: int, rows: int = 260) -> np.ndarray:
    """:func:`busy_page` content plus a few full-width rules and a diagonal: long runs,
    short runs and vertical-mode coding in MR/MMR (rows change little, then a lot)."""
    page = busy_page(rows, 1000 + seed, min_width=1)
    page[5, :] = 1
    page[rows - 6, 100:1628] = 1
    for r in range(rows):
        page[r, (r * 6) % WIDTH] = 1
    return page


def letter_page(rows: int = 240, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A heading bar, a band of vertical stripes and 40 words below: what the Class 1
    tests send."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, WIDTH), np.uint8)
    bm[10:30, 100:1500] = 1
    bm[35:rows // 2, ::9] = 1
    return scatter_blocks(bm, rng, 40, rows=(rows // 2, rows - 12), cols=(0, 1700),
                          height=10, width=(2, 28))


def memo_page(rows: int = 200, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A heading bar and 60 words below it."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, WIDTH), np.uint8)
    bm[10:30, 100:1500] = 1
    return scatter_blocks(bm, rng, 60, rows=(40, rows - 12), cols=(0, 1700), height=10,
                          width=(2, 28))


def form_page(rows: int, seed: int | np.random.Generator) -> np.ndarray:
    """A wide heading bar and 120 blocks of many sizes: a dense page (efax tests)."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, WIDTH), np.uint8)
    bm[10:40, 64:1664] = 1
    return scatter_blocks(bm, rng, 120, rows=(50, rows - 20), cols=(0, 1690),
                          height=(2, 18), width=(2, 36))


def block_page() -> np.ndarray:
    """60 rows with one black block: the smallest page that is a real page, for the
    engine driven by hand."""
    page = np.zeros((60, WIDTH), np.uint8)
    page[10:30, 200:900] = 1
    return page


def pbm_page(path: str | Path) -> np.ndarray:
    """The first image of a PBM P4 file (e.g. an ITU test chart)."""
    return read_pbm(Path(path).read_bytes())[0]


def pillow_pages(src: bytes | str | Path) -> list[np.ndarray]:
    """Every frame of an image file (its bytes or a path) as Pillow (libtiff, for a TIFF)
    decodes it, as a bitmap (1 = black): the independent reading the TIFF tests compare
    faxcore's with."""
    im = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    out = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        out.append((np.asarray(im.convert("L")) < 128).astype(np.uint8))
    return out


def mh_with_bad_rows(page: np.ndarray, bad: set[int]) -> bytes:
    """``page`` as a T.4 MH stream as a fax line carries it (LSB first, one byte-aligned
    EOL per row, RTC at the end) where the rows in ``bad`` (0-based) are replaced by a
    code no decoder can read (all ones): a page with known damaged rows."""
    out = bytearray()
    for r in range(page.shape[0]):
        if r in bad:
            out += b"\x00\x80" + b"\xff" * 4
            continue
        out += bytes(encode(page[r:r + 1], "mh", eol_align=True, end_marker=False,
                            lsb_first=True))
    return bytes(out) + b"\x00\x08\x80" * 3


def dithered_photo(rows: int, width: int = WIDTH, seed: int = 7) -> np.ndarray:
    """A halftone photo: a smooth picture with noise, Floyd-Steinberg dithered by Pillow.
    Dense, every row different: the page JBIG is for and the codecs' hard case."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:width]
    grey = 127 + 90 * np.sin(x / 97.0) * np.cos(y / 61.0) + rng.normal(0, 25, (rows, width))
    img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L").convert("1")
    return (np.asarray(img) == 0).astype(np.uint8)      # Pillow "1": 0 = black


def bayer_halftone(rows: int, width: int, period: int = 8,
                   scale: tuple[float, float] = (150.0, 90.0)) -> np.ndarray:
    """A smooth picture through a ``period`` x ``period`` Bayer matrix (``period`` a power
    of 2): the periodic halftone for which a JBIG encoder moves the AT pixel.
    ``scale``: the picture's horizontal and vertical wavelengths / 2 pi, in pixels."""
    m = np.array([[0]])
    while m.shape[0] < period:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    y, x = np.mgrid[0:rows, 0:width]
    levels = period * period
    grey = levels / 2 + levels / 2.5 * np.sin(x / scale[0]) * np.cos(y / scale[1])
    return (grey > m[y % period, x % period]).astype(np.uint8)
