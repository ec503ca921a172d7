"""The one loader: documents of every kind as fax pages.

Everything that takes documents from a user goes through :func:`load_pages` (or
:func:`load_document` for one source): ``faxcore convert`` / ``info`` / ``call`` /
``demo``, :class:`faxcore.FaxSession` and the Class 1 driver (``send=[...]``, through
:func:`faxcore.session.load_pages`, which makes the pages T.30 pages).

Sources:

* a path (``str`` / ``os.PathLike``) or the bytes of a file. Its kind is found from its
  content: TIFF Class F (MH, MR, MMR or uncompressed bilevel; read by
  :mod:`faxcore.codecs.tiff`), PDF (rendered by pypdfium2), PBM P4 (every image a page),
  any other image Pillow opens (PNG, JPEG, GIF, BMP, grey or colour TIFF, 16-bit grey
  included). A raw T.4 / T.6 stream has no header: it is one when ``raw`` names its
  scheme, or by the extension ``.g3`` (MH or MR, whichever decodes cleaner) or ``.g4``
  (MMR); its rows are ``width`` pixels (default: the ITU width of ``page_size`` at
  ``resolution``), bits LSB first with ``lsb_first``, cut into pages of ``page_rows``
  when it has no RTC / EOFB (see :func:`faxcore.codecs.raw.read_raw`). A JBIG file (a
  T.85 BIE, or a single-layer T.82 one as ``pbmtojbg`` writes it: one page) is found by
  its header (BIH) or the extension ``.jbg`` / ``.jbig`` / ``.bie``; the BIH gives the
  width, not the resolution: it is read at ``resolution`` (default fine);
* a bitmap (2-D array, non-zero = black): a fax page at fine resolution (204 x 196 dpi);
* a :class:`~faxcore.codecs.tiff.Page` (a fax page at its own resolution);
* a Pillow image.

Geometry. PDFs and images are prepared by :mod:`faxcore.codecs.prep` at ``resolution``
(default fine) on the ITU width of ``page_size`` (default A4, 1728 pixels at 204 dpi):
placed at their physical size when known, scaled down to the width when wider, cut into
pages of the page length unless ``split`` is False. Fax pages (TIFF-F, bitmaps,
``Page`` objects) keep their width and resolution unless ``resolution`` or ``page_size``
is given; then they are refitted to it (the other one: the page's own resolution, A4).
Raw streams are read at ``resolution`` and not refitted.

``sendable=True`` makes every page one a T.30 call can send: ``resolution`` must then be
standard, fine or superfine (or None), and a page whose width is not a T.30 width (1728,
2048, 2432) is refitted to A4 (or ``page_size``) at the T.30 resolution nearest its own
(:func:`~faxcore.codecs.prep.t30_resolution`).

Errors: :class:`LoadError` (a ``ValueError``) names the source and says what is wrong;
when part of a file was read (a truncated TIFF, a raw stream cut short, a document over
the size budget) its ``pages`` are the complete pages before the problem.
:class:`SourceUnreadable` (also an ``OSError``) is a file that cannot be opened;
:class:`UnknownFormat` a file that is no kind this loader knows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from faxcore.codecs.jbig import JbigHeaderError, parse_bih
from faxcore.codecs.jbig import decode as decode_jbig
from faxcore.codecs.prep import (
    PAGE_SIZES,
    T30_RESOLUTIONS,
    T30_WIDTHS,
    fax_width,
    is_pdf,
    prepare_bitmap,
    prepare_image,
    prepare_pdf,
    refit_page,
    resolution_dpi,
    t30_resolution,
)
from faxcore.codecs.raw import guess_g3_scheme, read_raw
from faxcore.codecs.t4 import DocumentError, DocumentTooLarge
from faxcore.codecs.tiff import RESOLUTIONS, Page, TiffError, TiffUnsupportedError, read_tiff

log = logging.getLogger(__name__)

__all__ = ["JBIG_EXTENSIONS", "RAW_EXTENSIONS", "Document", "LoadError", "SourceUnreadable", "UnknownFormat",
           "load_document", "load_pages"]

#: File extensions of raw fax streams and the scheme each implies ("mh" for .g3 means
#: MH or MR: the loader tells them apart by decoding).
RAW_EXTENSIONS = {".g3": "mh", ".g4": "mmr"}
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
#: JBIG files (one BIE): by extension, or by a BIH that parses (:func:`_is_bie`)
JBIG_EXTENSIONS = (".jbg", ".jbig", ".bie")
_SCHEMES = ("mh", "mr", "mmr")

Source = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | Page | Image.Image
_ONE_SOURCE = (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Page, Image.Image)


class LoadError(ValueError):
    """A source could not be read, or only in part. ``source`` names it, ``kind`` is what
    it was found to be ("" if not known), ``pages`` the complete pages read before the
    problem (empty unless the file was read in part)."""

    def __init__(self, message: str, *, source: str = "", kind: str = "",
                 pages: Iterable[Page] = ()) -> None:
        super().__init__(message)
        self.source = source
        self.kind = kind
        self.pages: list[Page] = list(pages)


class SourceUnreadable(LoadError, OSError):
    """The file cannot be opened or read (missing, a directory, no permission). Also an
    ``OSError``, as the failed open it stands for."""


class UnknownFormat(LoadError):
    """The file is not a PDF, image, TIFF or (given ``raw``) raw fax stream."""


@dataclass
class Document:
    """What :func:`load_document` read: the pages of one source and what it was
    ("TIFF-F", "raw MMR stream", "PDF", "image", "bitmap", "page")."""

    kind: str
    pages: list[Page] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    resolution: str | None
    page_size: str | None
    dither: bool
    threshold: int
    split: str
    raw: str | None
    width: int | None
    lsb_first: bool
    page_rows: int | None
    sendable: bool

    def prep(self) -> dict:
        """Options for page preparation of PDFs and images."""
        return {"resolution": self.resolution or "fine", "page_size": self.page_size or "a4",
                "dither": self.dither, "threshold": self.threshold, "split": self.split}


def _options(resolution: str | None, page_size: str | None, dither: bool, threshold: int,
             split: bool | str, raw: str | None, width: int | None, lsb_first: bool,
             page_rows: int | None, sendable: bool) -> _Options:
    if resolution is not None:
        resolution = str(resolution).lower()
        resolution_dpi(resolution)              # ValueError for an unknown name
        if sendable and resolution not in T30_RESOLUTIONS:
            raise ValueError(f"a T.30 call sends at {', '.join(T30_RESOLUTIONS)}, "
                             f"not {resolution!r}")
    if page_size is not None:
        page_size = str(page_size).lower()
        if page_size not in PAGE_SIZES:
            raise ValueError(f"unknown page size {page_size!r} (one of {', '.join(PAGE_SIZES)})")
    if raw is not None:
        raw = str(raw).lower()
        if raw not in _SCHEMES:
            raise ValueError(f"unknown raw scheme {raw!r} (mh, mr or mmr)")
    if split is True:
        split = "auto"
    elif split is False or split is None:
        split = "none"
    return _Options(resolution, page_size, bool(dither), int(threshold), str(split), raw,
                    width, bool(lsb_first), page_rows, bool(sendable))


def load_pages(sources: Source | Iterable[Source] | None, *, resolution: str | None = None,
               page_size: str | None = None, dither: bool = False, threshold: int = 128,
               split: bool | str = True, raw: str | None = None, width: int | None = None,
               lsb_first: bool = False, page_rows: int | None = None,
               sendable: bool = False) -> list[Page]:
    """The pages of every source in turn (one source alone, or an iterable of them).

    ``resolution``: standard, fine, superfine, 300 or 400 (None: fine for PDFs and
    images, fax pages keep theirs); ``page_size``: a4, letter, b4, a3 (None: A4, fax
    pages keep theirs); ``dither``: Floyd-Steinberg for grey (default a fixed
    ``threshold``); ``split``: cut long PDFs / images at the page length (or the length
    of the page size named); ``raw``, ``width``, ``lsb_first``, ``page_rows``: for raw
    streams; ``sendable``: make every page a T.30 page. See the module docstring."""
    opts = _options(resolution, page_size, dither, threshold, split, raw, width, lsb_first,
                    page_rows, sendable)
    if sources is None:
        return []
    if isinstance(sources, _ONE_SOURCE):
        sources = [sources]
    pages: list[Page] = []
    for src in sources:
        pages.extend(_load(src, opts).pages)
    return pages


def load_document(source: Source, *, resolution: str | None = None,
                  page_size: str | None = None, dither: bool = False, threshold: int = 128,
                  split: bool | str = True, raw: str | None = None, width: int | None = None,
                  lsb_first: bool = False, page_rows: int | None = None,
                  sendable: bool = False) -> Document:
    """One source's pages and what kind of source it was (options as :func:`load_pages`)."""
    return _load(source, _options(resolution, page_size, dither, threshold, split, raw,
                                  width, lsb_first, page_rows, sendable))


# --------------------------------------------------------------------------- sources


def _load(src: Source, opts: _Options) -> Document:
    if isinstance(src, Page):
        return Document("page", _fit([src], opts))
    if isinstance(src, np.ndarray):
        bitmap = np.asarray(src)
        if bitmap.ndim != 2 or 0 in bitmap.shape:
            raise LoadError(f"a page bitmap must be a non-empty 2-D array, got shape "
                            f"{bitmap.shape}", source="bitmap", kind="bitmap")
        xres, yres = RESOLUTIONS["fine"]
        page = Page(bitmap=(bitmap != 0).astype(np.uint8), xres=xres, yres=yres)
        return Document("bitmap", _fit([page], opts))
    if isinstance(src, Image.Image):
        return Document("image", _sendable(prepare_bitmap(src, **opts.prep()), opts))
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
        return _load_file(data, f"<{len(data)} bytes>", None, data[:1024], opts)
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        try:
            with open(path, "rb") as f:
                head = f.read(1024)
        except OSError as exc:
            raise SourceUnreadable(f"cannot read {path}: {exc.strerror or exc}",
                                   source=str(path)) from None
        return _load_file(str(path), str(path), path.suffix.lower(), head, opts)
    raise TypeError(f"cannot load {type(src).__name__}: give a path, the bytes of a file, "
                    "a bitmap, a Page or a Pillow image")


def _load_file(src: str | bytes, name: str, suffix: str | None, head: bytes,
               opts: _Options) -> Document:
    """A file (``src``: its path or its bytes; ``name`` for messages)."""
    raw = opts.raw or RAW_EXTENSIONS.get(suffix or "")
    if raw:
        return _load_raw(src, name, raw, guess=opts.raw is None, opts=opts)
    if suffix in JBIG_EXTENSIONS or _is_bie(head):
        return _load_jbig(src, name, opts)
    if head[:4] in _TIFF_MAGIC:
        try:
            pages = read_tiff(src)
        except TiffUnsupportedError as exc:
            log.info("%s: not a fax TIFF (%s): reading it as an image", name, exc)
        except TiffError as exc:
            if exc.pages:
                raise LoadError(f"{name}: {exc}", source=name, kind="TIFF-F",
                                pages=exc.pages) from None
            what = "" if isinstance(exc, DocumentTooLarge) else "corrupt TIFF: "
            raise LoadError(f"{name}: {what}{exc}", source=name, kind="TIFF-F") from None
        else:
            return Document("TIFF-F", _fit(pages, opts))
    if is_pdf(head):
        try:
            pages = prepare_pdf(src, **opts.prep())
        except ValueError as exc:
            raise LoadError(f"{name}: {exc}", source=name, kind="PDF") from None
        return Document("PDF", _sendable(pages, opts))
    try:
        pages = prepare_image(src, **opts.prep())
    except UnidentifiedImageError:
        raise UnknownFormat(f"{name}: not a PDF, image, TIFF or raw fax stream",
                            source=name) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise LoadError(f"{name}: unreadable image: {exc}", source=name, kind="image") from None
    return Document("image", _sendable(pages, opts))


def _read_bytes(src: str | bytes, name: str) -> bytes:
    """The bytes of ``src`` (a path is read), or :class:`SourceUnreadable`."""
    if not isinstance(src, str):
        return src
    try:
        with open(src, "rb") as f:
            return f.read()
    except OSError as exc:
        raise SourceUnreadable(f"cannot read {name}: {exc.strerror or exc}",
                               source=name) from None


def _load_raw(src: str | bytes, name: str, scheme: str, guess: bool, opts: _Options) -> Document:
    width = opts.width or fax_width(opts.page_size or "a4", opts.resolution or "fine")
    xres, yres = RESOLUTIONS[opts.resolution or "fine"]
    kind = f"raw {scheme.upper()} stream"
    src = _read_bytes(src, name)
    try:
        if scheme == "mh" and guess:           # a .g3 file: MH or MR?
            scheme = guess_g3_scheme(src, width, lsb_first=opts.lsb_first)
            kind = f"raw {scheme.upper()} stream"
        pages = read_raw(src, scheme, width, lsb_first=opts.lsb_first, xres=xres, yres=yres,
                         page_rows=opts.page_rows)
    except DocumentError as exc:
        if exc.pages:
            raise LoadError(f"{name}: {exc}", source=name, kind=kind, pages=exc.pages) from None
        raise LoadError(f"{name}: corrupt or empty {scheme.upper()} stream: {exc}",
                        source=name, kind=kind) from None
    except ValueError as exc:
        raise LoadError(f"{name}: corrupt or empty {scheme.upper()} stream: {exc}",
                        source=name, kind=kind) from None
    return Document(kind, _sendable(pages, opts))


def _is_bie(head: bytes) -> bool:
    """A JBIG BIH: DL=0, D=0, P=1, fill 0 (``00 00 01 00``), then fields a single-layer
    BIE may have. The four bytes alone are also a Windows icon's header, whose next
    bytes (the icon count, then sizes) give an XD far above any fax width: refused."""
    if head[:4] != b"\0\0\x01\0":
        return False
    try:
        parse_bih(head, strict=False)
    except JbigHeaderError:
        return False
    return True


def _load_jbig(src: str | bytes, name: str, opts: _Options) -> Document:
    kind = "JBIG (T.85 BIE)"
    src = _read_bytes(src, name)
    xres, yres = RESOLUTIONS[opts.resolution or "fine"]
    # strict=False: also the single-layer T.82 BIEs of pbmtojbg / libtiff (bits that
    # mean nothing for one layer); several layers or planes are refused by the header
    page = decode_jbig(src, strict=False)
    pages = [Page(bitmap=page.bitmap, xres=xres, yres=yres)] if page.rows else []
    if page.error or not pages:
        what = "" if pages else "corrupt, empty or unsupported JBIG: "
        raise LoadError(f"{name}: {what}{page.error or 'no lines'}", source=name,
                        kind=kind, pages=pages) from None
    return Document(kind, _sendable(pages, opts))


# --------------------------------------------------------------------------- geometry


def _fit(pages: list[Page], opts: _Options) -> list[Page]:
    """Fax pages refitted to the requested resolution / page size, if any was given."""
    if not (opts.resolution or opts.page_size):
        return _sendable(pages, opts)
    out = []
    for p in pages:
        res = opts.resolution or (t30_resolution(p.yres) if opts.sendable else _own(p))
        out.append(refit_page(p, resolution=res, page_size=opts.page_size or "a4",
                              dither=opts.dither))
    return _sendable(out, opts)


def _own(page: Page) -> str:
    """A fax page's own resolution, by name (fine when it has none)."""
    name = page.resolution
    return name if name in RESOLUTIONS else "fine"


def _sendable(pages: list[Page], opts: _Options) -> list[Page]:
    """With ``sendable``: pages not of a T.30 width refitted to one."""
    if not opts.sendable:
        return pages
    return [p if p.width in T30_WIDTHS else
            refit_page(p, resolution=opts.resolution or t30_resolution(p.yres),
                       page_size=opts.page_size or "a4", dither=opts.dither)
            for p in pages]
