"""Page preparation: ordinary images and PDFs to fax pages (bilevel, fax resolution, ITU width).

Everything here is numpy and Pillow (PDF pages are rendered by pypdfium2); no Python loop
runs per pixel or per row.

Geometry. A fax page is ``fax_width(page_size, resolution)`` pixels wide: the ITU-T T.4
scan widths, A4 1728, B4 2048, A3 2432 at 8 pels/mm (the 204 dpi resolutions), 2592 /
3072 / 3648 at 300 dpi and 3456 / 4096 / 4864 at 400 dpi; Letter is sent at A4 width.
A source is placed on that width at its physical size, centred, when its size is known
and fits (a PDF page; an image with a dpi tag), and is scaled down to fit when it is
wider. An image with no dpi tag is scaled to the full scan width with square pixels,
except one already exactly an ITU width wide, which is taken to be a fax page (8, 300 or
400 pels per inch across by its width; down, the requested resolution at 204 dpi
widths, else fine) so that fax bitmaps such as the ITU charts are not resampled. PDF
pages in landscape are turned to portrait.

Grey to bilevel: a fixed threshold (default 128 of 255; best for text and line art) or
Floyd-Steinberg error diffusion (``dither=True``; for photographs).

Long sources are cut into pages of the page length (A4 297 mm, Letter 11 in, B4 364 mm,
A3 420 mm) unless ``split="none"``; the last page keeps what is left (up to 5 % over
the length stays on one page rather than making a sliver of a page).
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from faxcore.codecs.pbm import read_pbm
from faxcore.codecs.tiff import RESOLUTIONS, Page

log = logging.getLogger(__name__)

__all__ = [
    "PAGE_SIZES", "FAX_WIDTHS", "fax_width", "page_rows", "resolution_dpi", "to_bilevel",
    "split_bitmap", "prepare", "prepare_image", "prepare_pdf", "prepare_bitmap",
    "refit_page", "sample_page", "is_pdf", "pbm_frames", "T30_RESOLUTIONS", "T30_WIDTHS",
    "t30_resolution",
]

# Page sizes in mm (width, length).
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "a4": (210.0, 297.0),
    "letter": (215.9, 279.4),
    "b4": (250.0, 364.0),
    "a3": (297.0, 420.0),
}
# T.4 scan widths in pixels by width class and horizontal resolution class.
FAX_WIDTHS: dict[str, dict[int, int]] = {
    "a4": {204: 1728, 300: 2592, 400: 3456},
    "b4": {204: 2048, 300: 3072, 400: 4096},
    "a3": {204: 2432, 300: 3648, 400: 4864},
}
_WIDTH_CLASS = {"a4": "a4", "letter": "a4", "b4": "b4", "a3": "a3"}
#: What a T.30 call sends: the 204 dpi widths (8 pels/mm) at these resolutions.
T30_WIDTHS: frozenset[int] = frozenset(cls[204] for cls in FAX_WIDTHS.values())
T30_RESOLUTIONS: tuple[str, ...] = ("standard", "fine", "superfine")
# Every ITU width and the horizontal dpi it implies.
_KNOWN_WIDTHS = {w: x for cls in FAX_WIDTHS.values() for x, w in cls.items()}
_SPLIT_SLACK = 0.05
# Largest bitmap prepared in one piece (before splitting into pages): 128 Mpixel, about
# 11 m of paper at fine resolution. Larger requests raise ValueError instead of eating
# the memory.
MAX_PREP_PIXELS = 1 << 27


def resolution_dpi(resolution: str) -> tuple[float, float]:
    """(x, y) dpi of a fax resolution name: standard, fine, superfine, 300, 400."""
    try:
        return RESOLUTIONS[str(resolution).lower()]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r} "
                         f"(one of {', '.join(RESOLUTIONS)})") from None


def t30_resolution(yres: float) -> str:
    """The T.30 resolution a page ``yres`` dpi tall is sent at: below 140 dpi standard,
    below 300 fine, else superfine."""
    if yres < 140:
        return "standard"
    if yres < 300:
        return "fine"
    return "superfine"


def _page_size(page_size: str) -> str:
    key = str(page_size).lower()
    if key not in PAGE_SIZES:
        raise ValueError(f"unknown page size {page_size!r} (one of {', '.join(PAGE_SIZES)})")
    return key


def fax_width(page_size: str = "a4", resolution: str = "fine") -> int:
    """The ITU scan width in pixels for a page size at a resolution."""
    xdpi = int(resolution_dpi(resolution)[0])
    return FAX_WIDTHS[_WIDTH_CLASS[_page_size(page_size)]][xdpi]


def page_rows(page_size: str = "a4", resolution: str = "fine") -> int:
    """Rows in one page length at the resolution's vertical dpi."""
    ydpi = resolution_dpi(resolution)[1]
    return round(PAGE_SIZES[_page_size(page_size)][1] / 25.4 * ydpi)


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF")


# --------------------------------------------------------------------------- pixels


def _grey(img: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit grey on white (transparency flattened onto white)."""
    img = ImageOps.exif_transpose(img) if "exif" in img.info else img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = max(float(arr.max()), 1.0)
        return Image.fromarray((arr * (255.0 / (65535.0 if hi > 255 else 255.0)))
                               .clip(0, 255).astype(np.uint8))
    return img.convert("L")


def to_bilevel(grey: Image.Image | np.ndarray, *, dither: bool = False,
               threshold: int = 128) -> np.ndarray:
    """Grey (0 black .. 255 white) to a bitmap, 1 = black: threshold or Floyd-Steinberg."""
    if isinstance(grey, np.ndarray):
        grey = Image.fromarray(np.asarray(grey, dtype=np.uint8), "L")
    elif grey.mode != "L":
        grey = _grey(grey)
    if dither:
        bw = grey.convert("1", dither=Image.Dither.FLOYDSTEINBERG)
        return (np.asarray(bw) == 0).astype(np.uint8)
    return (np.asarray(grey) < threshold).astype(np.uint8)


def split_bitmap(bitmap: np.ndarray, rows_per_page: int | None) -> list[np.ndarray]:
    """Cut a tall bitmap into pages of ``rows_per_page`` rows (None: one page)."""
    h = bitmap.shape[0]
    if not rows_per_page or h <= rows_per_page * (1 + _SPLIT_SLACK):
        return [bitmap]
    n = max(1, math.ceil((h - rows_per_page * _SPLIT_SLACK) / rows_per_page))
    cuts = [i * rows_per_page for i in range(n)] + [h]
    return [bitmap[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _split_rows(split: str | None, page_size: str, resolution: str) -> int | None:
    if split is None or str(split).lower() == "none":
        return None
    key = page_size if str(split).lower() in ("auto", "page") else split
    return page_rows(key, resolution)


def _place(grey: Image.Image, src_xdpi: float, src_ydpi: float, width: int,
           xdpi: float, ydpi: float) -> Image.Image:
    """Resample ``grey`` to the fax resolution and centre it on a page ``width`` wide."""
    w, h = grey.size
    tw = w * xdpi / src_xdpi
    scale = 1.0
    if tw > width:               # wider than the scan line: fit to the width
        scale = width / tw
    tw = max(1, min(width, round(tw * scale)))
    th = max(1, round(h * ydpi / src_ydpi * scale))
    _check_size(width, th)
    if (tw, th) != (w, h):
        grey = grey.resize((tw, th), Image.Resampling.LANCZOS)
    if tw == width:
        return grey
    canvas = Image.new("L", (width, th), 255)
    canvas.paste(grey, ((width - tw) // 2, 0))
    return canvas


def _check_size(width: int, rows: int) -> None:
    if width * rows > MAX_PREP_PIXELS:
        raise ValueError(f"page would be {width} x {rows} pixels, more than the "
                         f"{MAX_PREP_PIXELS} pixel limit")


def _source_dpi(img: Image.Image, width: int, xdpi: float, ydpi: float) -> tuple[float, float]:
    """The source image's resolution, following the rules in the module docstring."""
    dpi = img.info.get("dpi")
    try:
        sx, sy = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        sx = sy = 0.0
    if sx >= 30 and sy >= 30 and not (sx == sy == 72 and img.width in _KNOWN_WIDTHS):
        return sx, sy
    w = img.width
    if w in _KNOWN_WIDTHS:
        fx = float(_KNOWN_WIDTHS[w])
        if fx == 204:
            return fx, (ydpi if xdpi == 204 else RESOLUTIONS["fine"][1])
        return fx, fx
    # Unknown size: the image spans the whole scan line, square pixels.
    s = w * xdpi / width
    return s, s


# --------------------------------------------------------------------------- sources


def prepare_bitmap(grey: Image.Image, *, resolution: str = "fine", page_size: str = "a4",
                   dither: bool = False, threshold: int = 128, split: str | None = "auto",
                   src_dpi: tuple[float, float] | None = None) -> list[Page]:
    """One Pillow image to fax pages (see the module docstring for the geometry)."""
    xdpi, ydpi = resolution_dpi(resolution)
    width = fax_width(page_size, resolution)
    sx, sy = src_dpi or _source_dpi(grey, width, xdpi, ydpi)
    placed = _place(_grey(grey), sx, sy, width, xdpi, ydpi)
    bitmap = to_bilevel(placed, dither=dither, threshold=threshold)
    rows = _split_rows(split, page_size, resolution)
    return [Page(bitmap=np.ascontiguousarray(b), xres=xdpi, yres=ydpi)
            for b in split_bitmap(bitmap, rows)]


def prepare_image(src: str | os.PathLike | bytes | Image.Image, **options) -> list[Page]:
    """Every frame of an image Pillow opens (PNG, JPEG, TIFF, PBM, GIF...) as fax pages.

    Options: ``resolution``, ``page_size``, ``dither``, ``threshold``, ``split``.
    """
    if isinstance(src, Image.Image):
        return prepare_bitmap(src, **options)
    data = src if isinstance(src, bytes) else None
    if data is None:
        with open(src, "rb") as f:
            head = f.read(2)
        if head == b"P4":
            with open(src, "rb") as f:
                data = f.read()
    if data is not None and data[:2] == b"P4":
        # Pillow reads only the first image of a multi-image PBM (netpbm's multi-page form).
        return [page for frame in pbm_frames(data) for page in prepare_bitmap(frame, **options)]
    img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    pages: list[Page] = []
    with img:
        nframes = getattr(img, "n_frames", 1)
        for i in range(nframes):
            if nframes > 1:
                img.seek(i)
            frame = img.copy()
            frame.info = dict(img.info)
            pages.extend(prepare_bitmap(frame, **options))
    return pages


def pbm_frames(data: bytes) -> list[Image.Image]:
    """Every image of a PBM P4 file (netpbm writes multi-page files as images in a row),
    as grey Pillow images (:func:`faxcore.codecs.pbm.read_pbm`)."""
    return [Image.fromarray(((1 - bm) * 255).astype(np.uint8), "L")
            for bm in read_pbm(data, max_pixels=MAX_PREP_PIXELS)]


def prepare_pdf(src: str | os.PathLike | bytes, *, resolution: str = "fine",
                page_size: str = "a4", dither: bool = False, threshold: int = 128,
                split: str | None = "auto", pages: Sequence[int] | None = None) -> list[Page]:
    """Render PDF pages (pypdfium2) at the fax resolution and make them fax pages."""
    import pypdfium2 as pdfium

    xdpi, ydpi = resolution_dpi(resolution)
    width = fax_width(page_size, resolution)
    rows = _split_rows(split, page_size, resolution)
    try:
        pdf = pdfium.PdfDocument(src if not isinstance(src, os.PathLike) else os.fspath(src))
    except pdfium.PdfiumError as exc:
        raise ValueError(f"cannot open PDF: {exc}") from exc
    out: list[Page] = []
    try:
        indices = range(len(pdf)) if pages is None else pages
        for i in indices:
            page = pdf[i]
            w_pt, h_pt = page.get_size()
            rotation = 90 if w_pt > h_pt else 0
            if rotation:
                w_pt, h_pt = h_pt, w_pt
            tw = w_pt / 72.0 * xdpi
            scale = min(1.0, width / tw) if tw > 0 else 1.0
            tw = max(1, min(width, round(tw * scale)))
            th = max(1, round(h_pt / 72.0 * ydpi * scale))
            _check_size(width, th)
            # Render square pixels at the finer of the two axes, then resample the other.
            s = max(tw / w_pt, th / h_pt)
            img = page.render(scale=s, rotation=rotation, grayscale=True).to_pil()
            page.close()
            grey = _grey(img)
            if grey.size != (tw, th):
                grey = grey.resize((tw, th), Image.Resampling.LANCZOS)
            placed = _place(grey, xdpi, ydpi, width, xdpi, ydpi)
            bitmap = to_bilevel(placed, dither=dither, threshold=threshold)
            out.extend(Page(bitmap=np.ascontiguousarray(b), xres=xdpi, yres=ydpi)
                       for b in split_bitmap(bitmap, rows))
            log.info("PDF page %d: %dx%d", i + 1, width, th)
    finally:
        pdf.close()
    return out


def prepare(src: str | os.PathLike | bytes, **options) -> list[Page]:
    """A PDF or any image Pillow opens, as fax pages (see :func:`prepare_image`)."""
    if isinstance(src, bytes):
        head = src[:1024]
    else:
        with open(src, "rb") as f:
            head = f.read(1024)
    if is_pdf(head):
        return prepare_pdf(src, **options)
    return prepare_image(src, **options)


def refit_page(page: Page, *, resolution: str = "fine", page_size: str = "a4",
               dither: bool = False) -> Page:
    """A fax page at another resolution or width (identity when it already fits)."""
    xdpi, ydpi = resolution_dpi(resolution)
    width = fax_width(page_size, resolution)
    if page.width == width and abs(page.xres - xdpi) < 1 and abs(page.yres - ydpi) < 1:
        return page
    grey = Image.fromarray(((1 - page.bitmap) * 255).astype(np.uint8), "L")
    placed = _place(grey, page.xres, page.yres, width, xdpi, ydpi)
    return Page(bitmap=to_bilevel(placed, dither=dither), xres=xdpi, yres=ydpi)


# --------------------------------------------------------------------------- sample page

_SAMPLE_TEXT = (
    "Thank you for your letter of the 3rd. As agreed on the telephone, we enclose the "
    "drawings for the new assembly together with the parts list. Please check the "
    "dimensions marked in the margin and return one signed copy by fax. The remaining "
    "items will be shipped as soon as the revised drawings reach us. Should anything be "
    "unclear, our engineering office can be reached every working day between eight and "
    "five. We look forward to working with you on this project."
)


def sample_page(resolution: str = "fine", page_size: str = "a4") -> np.ndarray:
    """A deterministic letter-like test page (text, rules, a table, a drawing), 1 = black.

    Drawn once at 204x196 dpi on an A4 scan line and resampled to the requested
    resolution and width. Used by the demo when the ITU charts are not available.
    """
    w, h = 1728, page_rows("a4", "fine")
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)

    def font(size: int) -> ImageFont.ImageFont:
        return ImageFont.load_default(size=size)

    d.rectangle((120, 110, 260, 250), outline=0, width=8)
    d.ellipse((150, 140, 230, 220), fill=0)
    d.text((300, 120), "FAXCORE ENGINEERING", font=font(64), fill=0)
    d.text((300, 200), "12 Harbour Road  -  Telephone and fax +44 1234 567 890",
           font=font(28), fill=0)
    d.line((120, 280, w - 120, 280), fill=0, width=5)
    y = 340
    for line in ("Precision Parts Ltd.", "Attn. Purchasing Department", "Unit 7, Mill Lane",
                 "Northbridge NB4 2XY"):
        d.text((140, y), line, font=font(32), fill=0)
        y += 42
    d.text((1200, 340), "Our ref.  FC/2291", font=font(30), fill=0)
    d.text((1200, 382), "Your ref. PP/0417", font=font(30), fill=0)
    d.text((140, 580), "Dear Sirs,", font=font(32), fill=0)
    # Paragraph: word wrap by measured width (per word, not per pixel).
    f = font(30)
    y, line = 640, ""
    for word in (_SAMPLE_TEXT + " " + _SAMPLE_TEXT).split():
        trial = f"{line} {word}".strip()
        if d.textlength(trial, font=f) > w - 300:
            d.text((140, y), line, font=f, fill=0)
            y, line = y + 40, word
        else:
            line = trial
    d.text((140, y), line, font=f, fill=0)
    # Parts table.
    y += 80
    cols = (140, 340, 1100, 1350, w - 140)
    d.rectangle((cols[0], y, cols[-1], y + 7 * 50), outline=0, width=4)
    for x in cols[1:-1]:
        d.line((x, y, x, y + 7 * 50), fill=0, width=2)
    heads = ("Item", "Description", "Qty", "Drawing")
    rows = [("1", "Housing, cast aluminium", "2", "FC-101"),
            ("2", "Cover plate, 3 mm steel", "2", "FC-102"),
            ("3", "Shaft 12 mm, ground", "4", "FC-110"),
            ("4", "Bearing 6201-2RS", "8", "-"),
            ("5", "Gasket set", "2", "FC-120"),
            ("6", "Screw M5x16, stainless", "24", "-")]
    for r, cells in enumerate([heads, *rows]):
        yy = y + r * 50
        if r:
            d.line((cols[0], yy, cols[-1], yy), fill=0, width=2)
        for x, text in zip(cols, cells, strict=False):
            d.text((x + 14, yy + 10), text, font=font(28), fill=0)
    # A small drawing: a shaft with dimension lines, and a signature curve.
    y += 7 * 50 + 80
    d.rectangle((300, y + 40, 1100, y + 120), outline=0, width=4)
    d.rectangle((1100, y + 20, 1250, y + 140), outline=0, width=4)
    d.line((300, y + 200, 1250, y + 200), fill=0, width=2)
    for x in (300, 1250):
        d.line((x, y + 180, x, y + 220), fill=0, width=2)
    d.text((700, y + 210), "230.0 mm", font=font(28), fill=0)
    t = np.linspace(0.0, 1.0, 400)
    xs = 160 + 500 * t
    ys = y + 420 + 40 * np.sin(t * 19.0) * np.exp(-t)
    d.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=0, width=4)
    d.text((160, y + 500), "J. Smith, Engineering Manager", font=font(30), fill=0)
    d.line((120, h - 160, w - 120, h - 160), fill=0, width=3)
    d.text((140, h - 140), "faxcore built-in test page - ITU-T T.4 fine resolution 204 x 196",
           font=font(24), fill=0)
    bitmap = to_bilevel(img)
    if resolution == "fine" and _WIDTH_CLASS[_page_size(page_size)] == "a4":
        return bitmap
    page = refit_page(Page(bitmap, *RESOLUTIONS["fine"]), resolution=resolution,
                      page_size=page_size)
    return page.bitmap
