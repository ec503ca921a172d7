"""Documents to send, as pages the T.30 engine takes (:class:`~faxcore.t30.pages.TxPage`):
the one place where files, bytes, bitmaps and codec pages become T.30 pages, for every
station (:class:`~faxcore.session.FaxSession`, the T.38 terminal, Class 1 calls).
"""

from __future__ import annotations

import os

import numpy as np

from faxcore.codecs import RESOLUTIONS, Page
from faxcore.codecs import load_pages as load_codec_pages
from faxcore.codecs.prep import t30_resolution
from faxcore.t30.pages import TxPage

__all__ = ["load_pages", "page_from_tx", "to_tx_page"]


def to_tx_page(page: Page | TxPage, resolution: str | None = None) -> TxPage:
    """A codec page as a page for the T.30 engine, sent at ``resolution`` (default: the
    T.30 resolution nearest its own). Its width must be a T.30 one (1728, 2048, 2432):
    :func:`load_pages` refits pages that are not."""
    if isinstance(page, TxPage):
        return page
    return TxPage(page.bitmap, resolution or t30_resolution(page.yres))


def page_from_tx(page: TxPage) -> Page:
    """A page for the T.30 engine as a codec page (bitmap and resolution in dpi)."""
    xres, yres = RESOLUTIONS[page.resolution]
    return Page(bitmap=page.bitmap, xres=xres, yres=yres)


def load_pages(items, *, resolution: str | None = None, **options) -> list[TxPage]:
    """Pages to send, as the T.30 engine takes them: ``TxPage`` objects as they are, and
    anything :func:`faxcore.codecs.load_pages` reads (paths or bytes of PDF, image, TIFF-F,
    PBM or raw files, bitmaps, codec pages), with every page refitted to a T.30 width
    and sent at ``resolution`` (standard, fine, superfine; default: each page's own, or
    fine). Other keyword options go to the loader (``page_size``, ``dither``...).

    Raises :class:`faxcore.codecs.LoadError` (a ``ValueError``) for a file it cannot
    read, :class:`faxcore.codecs.SourceUnreadable` (also an ``OSError``) for one it
    cannot open, ``TypeError`` for something that is no page at all."""
    if items is None:
        return []
    if isinstance(items, TxPage):
        items = [items]
    elif isinstance(items, str | os.PathLike | bytes | np.ndarray | Page):
        items = [items]
    pages: list[TxPage] = []
    for item in items:
        if isinstance(item, TxPage):
            pages.append(item)
            continue
        for page in load_codec_pages(item, resolution=resolution, sendable=True, **options):
            pages.append(to_tx_page(page, resolution))
    return pages
