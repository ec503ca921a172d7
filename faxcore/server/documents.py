"""Documents: what a client uploads, made into fax pages and kept as TIFF-F and PDF; the
header line stamped on each page sent; received faxes stored and rendered.

Files are written under the service's data directory, each durably (written to a
temporary name, fsync'ed, renamed) so a job or received fax row never points at a
half-written file. The PDF holds the TIFF-F's G4 (MMR) pages as they are (img2pdf
embeds CCITT G4 data without re-encoding: lossless).
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import img2pdf
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faxcore.codecs import LoadError, load_pages
from faxcore.codecs.tiff import Page, TiffError, read_tiff, tiff_bytes
from faxcore.pagestore import write_durably
from faxcore.t30 import TxPage

log = logging.getLogger(__name__)

#: Rows of the header band at each resolution (about 4 mm), and the font size in it.
HEADER_ROWS = {"standard": 16, "fine": 32, "superfine": 64}
_FONT_PX = {"standard": 13, "fine": 26, "superfine": 52}


class DocumentRejected(ValueError):
    """An upload that cannot be faxed: unreadable, empty, too many pages. The message is
    a sentence for the client."""


@dataclass(frozen=True)
class StoredDocument:
    tif: Path
    pdf: Path
    pages: int


def load_upload(files: Sequence[tuple[str, bytes]], *, max_pages: int) -> list[Page]:
    """The fax pages of the uploaded ``(filename, bytes)`` in order (PDF, TIFF, images:
    anything :func:`faxcore.codecs.load_pages` reads), each made a T.30 page (1728 wide,
    standard/fine/superfine). Raises :class:`DocumentRejected`."""
    if not files:
        raise DocumentRejected("no file: send one or more files (PDF, TIFF or images)")
    pages: list[Page] = []
    for name, data in files:
        if not data:
            raise DocumentRejected(f"file {name!r} is empty (0 bytes)")
        try:
            got = load_pages(bytes(data), sendable=True)
        except (LoadError, TiffError, ValueError, OSError) as exc:
            raise DocumentRejected(f"file {name!r} cannot be read as a fax document: "
                                   f"{exc}") from None
        if not got:
            raise DocumentRejected(f"file {name!r} has no pages")
        pages.extend(got)
        if len(pages) > max_pages:
            raise DocumentRejected(f"the document has more than {max_pages} pages (the "
                                   "server's limit)")
    return pages


def _unique(directory: Path, stem: str) -> Path:
    return directory / f"{stem}-{secrets.token_hex(6)}"


def store_pages(directory: Path, stem: str, pages: Sequence[Page]) -> StoredDocument:
    """Write ``pages`` as ``<stem>-<random>.tif`` (MMR) in ``directory``, durably. Its PDF
    (``.pdf`` beside it) is made when first asked for (:func:`ensure_pdf`): a submission
    then waits for one durable file, not two (each costs fsyncs)."""
    directory.mkdir(parents=True, exist_ok=True)
    tif = _unique(directory, stem).with_suffix(".tif")
    write_durably(tif, tiff_bytes(list(pages), "mmr"))
    return StoredDocument(tif, tif.with_suffix(".pdf"), len(pages))


def ensure_pdf(tif: str | os.PathLike) -> Path:
    """The PDF of a stored TIFF-F, written beside it the first time it is asked for."""
    pdf = Path(tif).with_suffix(".pdf")
    if not pdf.exists():
        write_durably(pdf, pdf_from_tiff(Path(tif).read_bytes()))
    return pdf


def pdf_from_tiff(tif_data: bytes) -> bytes:
    """A PDF of a TIFF-F's pages: img2pdf puts each G4 page in as it is (CCITTFaxDecode),
    at the page's resolution, so the PDF is lossless and about the TIFF's size."""
    return img2pdf.convert(tif_data)


def remove_quietly(*paths: Path | str | None) -> None:
    for p in paths:
        if p:
            try:
                os.unlink(p)
            except OSError:
                pass


def read_document(path: str | os.PathLike) -> list[Page]:
    return read_tiff(path)


def header_text(when: datetime, ident: str, header: str, page: int, total: int,
                resumed: bool) -> str:
    """The header line, HylaFAX style: date and time, the sender (header text, ident),
    page n/m of the whole document; ``RESENT`` on a retry that resumes after pages the
    far end already confirmed (so its n/m stays the document's numbering)."""
    who = "  ".join(x for x in (header.strip(), ident.strip()) if x)
    text = f"{when:%Y-%m-%d %H:%M} UTC  {who}  PAGE {page}/{total}"
    return text + ("  (RESENT: EARLIER PAGES DELIVERED)" if resumed else "")


def stamp_header(page: Page, text: str) -> np.ndarray:
    """The page's bitmap with its top band cleared and ``text`` written in it."""
    res = page.resolution if page.resolution in HEADER_ROWS else "fine"
    rows = min(HEADER_ROWS[res], page.height)
    font = ImageFont.load_default(size=_FONT_PX[res])
    band = Image.new("L", (page.width, rows), 255)
    draw = ImageDraw.Draw(band)
    # The font is drawn with square pixels; at standard resolution rows are twice as
    # tall, so draw at double height and squeeze.
    if res == "standard":
        tall = Image.new("L", (page.width, rows * 2), 255)
        ImageDraw.Draw(tall).text((16, 2), text, fill=0, font=ImageFont.load_default(size=26))
        band = tall.resize((page.width, rows), Image.Resampling.BOX)
    else:
        draw.text((16, rows // 8), text, fill=0, font=font)
    out = np.array(page.bitmap, dtype=np.uint8, copy=True)
    out[:rows] = (np.asarray(band) < 128).astype(np.uint8)
    return out


def pages_to_send(document: Sequence[Page], numbers: Sequence[int], *, when: datetime,
                  ident: str, header: str, resumed: bool) -> list[TxPage]:
    """The pages ``numbers`` (1-based) of ``document``, stamped, as T.30 pages."""
    total = len(document)
    out = []
    for n in numbers:
        p = document[n - 1]
        text = header_text(when, ident, header, n, total, resumed)
        out.append(TxPage(stamp_header(p, text), p.resolution))
    return out


#: A cover page: A4 at fine resolution (1728 x 2287: 8.04 x 7.7 lines/mm).
COVER_ROWS = 2287


@dataclass(frozen=True)
class Cover:
    """What a cover page says (each at most :data:`COVER_FIELD_MAX` characters; the
    note at most :data:`COVER_NOTE_MAX`)."""

    to: str = ""
    sender: str = ""
    subject: str = ""
    note: str = ""


COVER_FIELD_MAX = 100
COVER_NOTE_MAX = 2000


def _wrap(text: str, draw: ImageDraw.ImageDraw, font, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        words, line = para.split(), ""
        for w in words:
            trial = f"{line} {w}".strip()
            if draw.textlength(trial, font=font) <= width or not line:
                line = trial
            else:
                lines.append(line)
                line = w
        lines.append(line)
    return lines


def render_cover(cover: Cover, *, when: datetime, pages: int) -> Page:
    """The cover page as a fine-resolution fax page: a "FAX" title, To, From, Date,
    Pages (the document's, the cover not counted) and Subject, then the note, word
    wrapped. Pillow's own font (no font files needed), drawn in 1-bit."""
    width, rows = 1728, COVER_ROWS
    img = Image.new("L", (width, rows), 255)
    d = ImageDraw.Draw(img)
    title = ImageFont.load_default(size=120)
    label = ImageFont.load_default(size=40)
    body = ImageFont.load_default(size=34)
    d.text((120, 120), "FAX", fill=0, font=title)
    d.rectangle((120, 290, width - 120, 296), fill=0)
    y = 340
    for name, value in (("To:", cover.to), ("From:", cover.sender),
                        ("Date:", f"{when:%Y-%m-%d %H:%M} UTC"),
                        ("Pages:", f"{pages} + cover"), ("Subject:", cover.subject)):
        d.text((120, y), name, fill=0, font=label)
        d.text((420, y), value, fill=0, font=label)
        y += 70
    d.rectangle((120, y + 10, width - 120, y + 14), fill=0)
    y += 60
    for line in _wrap(cover.note, d, body, width - 240):
        if y > rows - 120:
            break
        d.text((120, y), line, fill=0, font=body)
        y += 46
    bitmap = (np.asarray(img) < 128).astype(np.uint8)
    return Page(bitmap)


def png_bytes(page: Page) -> bytes:
    """One page as a PNG, black on white, with square pixels (a standard-resolution page's
    rows drawn twice) and its dpi."""
    bm = page.bitmap
    x, y = page.xres, page.yres
    if y * 1.5 < x:  # standard resolution: 204 x 98 dpi
        bm = np.repeat(bm, 2, axis=0)
        y *= 2
    img = Image.fromarray(((1 - bm) * 255).astype(np.uint8), "L").convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(x, y))
    return buf.getvalue()
