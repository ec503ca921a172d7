"""A mail as a fax: its documents (the attachments, in order) and, when asked, a cover page
made of its text.

What counts as a fax document: a part whose type is ``application/pdf``, ``image/tiff``
or another ``image/*``, or ``application/octet-stream`` whose file name ends in .pdf,
.tif/.tiff, .png, .jpg/.jpeg, .gif, .bmp, .pbm. Text parts are the body. The cover page is
made when the subject starts with ``cover:`` (case-insensitive; the rest of the subject is
its title) or the mail has ``X-Fax-Cover: yes``.

Malformed MIME (a multipart without its boundary, bad base64, no header/body separator,
a part that is not where the structure says) is refused as a whole: better a clear error
now than a fax missing a page.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import hashlib
import html
import re
import textwrap
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faxcore.codecs.tiff import Page

DOC_TYPES = {"application/pdf", "image/tiff"}
DOC_SUFFIXES = (".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".pbm")

# defects that mean the structure or an attachment's bytes cannot be trusted
FATAL_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.CloseBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
    email.errors.MissingHeaderBodySeparatorDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64LengthDefect,
    email.errors.InvalidMultipartContentTransferEncodingDefect,
)

# a fine-resolution A4 page (204 x 196 dpi): 1728 x 2287 pixels
PAGE_W, PAGE_H = 1728, 2287
MARGIN = 120
TEXT_PX = 30
LINE_PX = 40
WRAP = 88


class MailRejected(Exception):
    """Refused with an SMTP reply: ``code`` and ``text`` (an enhanced status first)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text
        # the refused mail's Subject and Message-ID when it got that far (reply mails)
        self.subject: str = ""
        self.message_id: str | None = None

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"


@dataclass
class FaxMail:
    subject: str
    from_addresses: list[str]
    message_id: str | None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    cover: list[Page] = field(default_factory=list)
    body: str = ""

    def digest(self) -> str:
        """What the fax is made of (not the raw bytes: a re-sent mail may have new MIME
        boundaries): the subject, the cover text, each attachment's name and content."""
        h = hashlib.sha256()
        for part in (self.subject, self.body if self.cover else ""):
            h.update(part.encode("utf-8", errors="surrogateescape") + b"\0")
        for name, data in self.files:
            h.update(name.encode("utf-8", errors="surrogateescape") + b"\0" +
                     hashlib.sha256(data).digest())
        return h.hexdigest()


def parse_mail(raw: bytes) -> FaxMail:
    """The fax in ``raw`` (RFC 5322 bytes), or :class:`MailRejected` (554 5.6.0)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; anything it raises is malformed mail
        raise MailRejected(554, f"5.6.0 malformed message: {exc}") from None
    assert isinstance(msg, EmailMessage)
    if not raw.strip() or not list(msg.keys()):
        raise MailRejected(554, "5.6.0 malformed message: no headers")
    subject = str(msg.get("subject", "") or "").strip()
    froms = [a.lower() for _n, a in getaddresses([str(v) for v in msg.get_all("from", [])])
             if a]
    out = FaxMail(subject, froms, msg.get("message-id"))
    try:
        _read_parts(msg, out)
    except MailRejected as exc:
        exc.subject, exc.message_id = subject, out.message_id
        raise
    return out


def _read_parts(msg: EmailMessage, out: FaxMail) -> None:
    """The documents (and the cover when asked) of ``msg`` into ``out``."""
    subject, froms = out.subject, out.from_addresses
    texts: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        name = part.get_filename() or ""
        is_doc = (ctype in DOC_TYPES or ctype.startswith("image/")
                  or (ctype == "application/octet-stream"
                      and name.lower().endswith(DOC_SUFFIXES)))
        data = part.get_payload(decode=True) or b""
        if is_doc:
            out.files.append((name or f"attachment-{len(out.files) + 1}", bytes(data)))
        elif ctype in ("text/plain", "text/html") and part.get_content_disposition() != \
                "attachment":
            charset = part.get_content_charset() or "utf-8"
            try:
                text = bytes(data).decode(charset, errors="replace")
            except LookupError:
                text = bytes(data).decode("utf-8", errors="replace")
            texts.append(_strip_html(text) if ctype == "text/html" else text)
    defects = [d for p in msg.walk() for d in p.defects if isinstance(d, FATAL_DEFECTS)]
    if defects:
        raise MailRejected(554, f"5.6.0 malformed MIME: {_describe(defects[0])}; nothing "
                                "was sent")
    wants_cover = subject.lower().startswith("cover:") or \
        str(msg.get("x-fax-cover", "")).strip().lower() in ("yes", "true", "1")
    if wants_cover:
        title = subject[6:].strip() if subject.lower().startswith("cover:") else subject
        out.body = texts[0] if texts else ""
        out.cover = cover_pages(title, out.body, froms[0] if froms else "")
    if not out.files and not out.cover:
        raise MailRejected(554, "5.6.0 no fax document in the mail: attach a PDF, TIFF or "
                                "image (or start the subject with 'cover:' to fax the text)")
    empty = [n for n, d in out.files if not d]
    if empty:
        raise MailRejected(554, f"5.6.0 the attachment {empty[0]!r} is empty")


def _describe(defect: email.errors.MessageDefect) -> str:
    words = re.sub(r"(?<!^)([A-Z])", r" \1", type(defect).__name__.removesuffix("Defect"))
    return words.lower()


def _strip_html(text: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def cover_pages(title: str, body: str, sender: str) -> list[Page]:
    """The cover: a title, who it is from, then the text, wrapped; as many fine A4 pages
    as the text needs (at most 10: a longer body is cut with a note)."""
    lines = [f"FAX: {title}" if title else "FAX", f"From: {sender}" if sender else "", ""]
    for para in body.replace("\r\n", "\n").split("\n"):
        lines.extend(textwrap.wrap(para, WRAP) or [""])
    per_page = (PAGE_H - 2 * MARGIN) // LINE_PX
    max_lines = per_page * 10
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + ["[... the rest of the text was cut: 10 pages]"]
    font = ImageFont.load_default(size=TEXT_PX)
    big = ImageFont.load_default(size=TEXT_PX * 2)
    pages = []
    for start in range(0, len(lines), per_page):
        img = Image.new("L", (PAGE_W, PAGE_H), 255)
        draw = ImageDraw.Draw(img)
        y = MARGIN
        for i, line in enumerate(lines[start:start + per_page]):
            f = big if start == 0 and i == 0 else font
            draw.text((MARGIN, y), line, fill=0, font=f)
            y += LINE_PX * (2 if f is big else 1)
        pages.append(Page((np.asarray(img) < 128).astype(np.uint8)))
    return pages
