"""Small real documents for the ways-in tests: a one-page PDF of a letter-like page."""

from __future__ import annotations

import io

import img2pdf
import numpy as np
from PIL import Image

from faxcore.testing.pages import letter_page


def letter_pdf(seed: int = 1, rows: int = 400) -> bytes:
    """A PDF (200 dpi, 1728 px wide bilevel image) of :func:`letter_page`."""
    bm = letter_page(rows, seed)
    img = Image.fromarray(np.where(bm > 0, 0, 255).astype(np.uint8)).convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(200, 200))
    return img2pdf.convert(buf.getvalue())
