"""Hostile files for the TIFF and raw readers, made here (small code, exact bytes):
decompression bombs (a few KB that decode to gigabytes of pixels) and truncated
multi-page TIFFs (a received fax cut short). The small forms of both are committed to
the corpus (tests/corpus/tiff, tests/corpus/raw_mmr) for the AddressSanitizer replay.
"""

from __future__ import annotations

import struct

import numpy as np

from faxcore.codecs import tables
from faxcore.codecs.tiff import Page, tiff_bytes

# ---- decompression bombs --------------------------------------------------------------


def tiff_bomb(pages: int = 100, width: int = 8192, height: int = 8192) -> bytes:
    """``pages`` IFDs of width x height MMR pages that all share one empty strip: about
    110 bytes per page. Each page decodes to a white page (its rows are missing)."""
    out = bytearray(b"II*\0\0\0\0\0")
    prev = 4
    for _ in range(pages):
        entries = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 0),
                   (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, 0)]
        struct.pack_into("<I", out, prev, len(out))
        out += struct.pack("<H", len(entries))
        for tag, typ, val in entries:
            out += struct.pack("<HHI", tag, typ, 1)
            out += struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val)
        prev = len(out)
        out += b"\0\0\0\0"
    return bytes(out)


def _bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def raw_mmr_bomb(pages: int = 40, rows: int = 65535) -> bytes:
    """MMR pages of ``rows`` white rows (V0: one bit per row) and EOFB: 8 KB per page of
    65535 x 1728 pixels, 320 KB for 40 pages (4.5 GB of bitmaps)."""
    return _bytes("1" * rows + tables.EOL * 2) * pages


def raw_rows_bomb(nbytes: int = 200_000) -> bytes:
    """White MMR rows, one bit each and no EOFB: with page_rows=1 every byte is a page."""
    return b"\xff" * nbytes


def g3_rows_bomb(rows: int = 30_000, mr: bool = False) -> bytes:
    """MH (or 1-D MR) rows of 1728 white pixels: EOL (+ tag 1) and 17 bits each, no RTC."""
    white = "".join(tables.run_code_sequence(1728, False))
    return _bytes((tables.EOL + ("1" if mr else "") + white) * rows)


#: The bombs scaled down, as committed to the corpus: (target, file name) -> maker.
SMALL_BOMBS = {
    ("tiff", "bomb-shared-empty-strip.bin"): lambda: tiff_bomb(pages=20, width=512,
                                                                height=512),
    ("raw_mmr", "bomb-white-pages.bin"): lambda: raw_mmr_bomb(pages=8, rows=2000),
    ("raw_mmr", "bomb-one-bit-rows.bin"): lambda: raw_rows_bomb(2000),
}


# ---- truncated TIFFs ------------------------------------------------------------------


def four_pages() -> list[Page]:
    rng = np.random.default_rng(3)
    return [Page((rng.random((30 + 5 * i, 200)) < 0.2).astype(np.uint8),
                 yres=98.0 if i % 2 else 196.0) for i in range(4)]


def ifd_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every IFD of a little-endian TIFF, next-IFD offset included."""
    out = []
    off = struct.unpack_from("<I", data, 4)[0]
    while off:
        n = struct.unpack_from("<H", data, off)[0]
        end = off + 2 + 12 * n + 4
        out.append((off, end))
        off = struct.unpack_from("<I", data, end - 4)[0]
    return out


def truncated_corpus() -> dict[str, bytes]:
    """Truncated files for the corpus: cut in a strip, in an IFD, in a next-IFD offset."""
    out = {}
    for scheme in ("mmr", "mh"):
        data = tiff_bytes(four_pages()[:3], scheme)
        spans = ifd_spans(data)
        out[f"truncated-{scheme}-in-strip.bin"] = data[:spans[2][0] - 50]
        out[f"truncated-{scheme}-in-ifd.bin"] = data[:spans[1][0] + 20]
        out[f"truncated-{scheme}-in-next-offset.bin"] = data[:spans[1][1] - 2]
    return out
