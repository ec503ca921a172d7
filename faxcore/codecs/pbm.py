"""PBM P4 (netpbm's packed bitmap) in and out: the one PBM reader and writer.

A P4 image is a text header (``P4``, width, height; ``#`` comments between fields)
followed by the rows packed 8 pixels a byte, most significant bit first, 1 = black:
exactly the packed form of :mod:`faxcore.codecs.t4`. netpbm writes several images as
one file, one after another; that is how multi-page documents are stored (the ITU test
charts, ``faxcore convert ... NAME.pbm``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

__all__ = ["MAX_PBM_PIXELS", "pbm_bytes", "read_pbm"]

#: Largest image :func:`read_pbm` unpacks by default: 128 Mpixel, about 11 m of paper at
#: fine resolution (a long image that page preparation cuts into pages).
MAX_PBM_PIXELS = 1 << 27

_HEADER = re.compile(rb"P4(?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)\s")


def read_pbm(data: bytes, *, max_pixels: int = MAX_PBM_PIXELS) -> list[np.ndarray]:
    """Every image of a PBM P4 file as a bitmap (2-D uint8, 1 = black).

    Raises ``ValueError`` for a bad header, an image over ``max_pixels`` (checked before
    anything is allocated) or a truncated image; trailing whitespace is ignored."""
    data = bytes(data)
    images: list[np.ndarray] = []
    pos = 0
    while pos < len(data):
        m = _HEADER.match(data, pos)
        if not m:
            if images and not data[pos:].strip():
                break                       # trailing whitespace
            raise ValueError(f"bad PBM header at byte {pos}")
        w, h = int(m.group(1)), int(m.group(2))
        if w < 1 or h < 1:
            raise ValueError(f"bad PBM size {w}x{h}")
        if w * h > max_pixels:
            raise ValueError(f"PBM image {len(images) + 1} is {w} x {h} pixels, more than "
                             f"the {max_pixels} pixel limit")
        stride = (w + 7) // 8
        start = m.end()
        if start + stride * h > len(data):
            raise ValueError(f"PBM image {len(images) + 1} is truncated")
        rows = np.frombuffer(data, np.uint8, stride * h, start).reshape(h, stride)
        images.append(np.unpackbits(rows, axis=1, count=w))
        pos = start + stride * h
    return images


def pbm_bytes(bitmaps: Iterable[np.ndarray]) -> bytes:
    """Bitmaps (1 = black) as one PBM P4 file, images one after another."""
    out = []
    for bm in bitmaps:
        bm = np.asarray(bm)
        if bm.ndim != 2 or 0 in bm.shape:
            raise ValueError(f"a PBM image must be a non-empty 2-D bitmap, got shape {bm.shape}")
        h, w = bm.shape
        out.append(f"P4\n{w} {h}\n".encode() + np.packbits(bm != 0, axis=1).tobytes())
    return b"".join(out)
