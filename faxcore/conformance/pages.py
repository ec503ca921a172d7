"""The test pages: reading the PBM images a procedure names and coding them the way the
tester sends them.

A step names a page as a TIFF (``value="etsi_300_242_a4_stairstep.tif"``); the images
sit next to the XML file as PBM (``pages/etsi_300_242_a4_stairstep.pbm``, possibly
several images in one file). The tester codes a page with the scheme and minimum row
length of the DCS it sent. Two kinds of page need altered rows, so they are coded row by
row: pages with ``bad_rows`` (rows replaced by invalid code) and the ETS 300 242
DURATION pages (one row padded to a long coded scan line).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faxcore.codecs import encode, read_pbm
from faxcore.t30.dis import DCSParams

# ETS 300 242's DURATION pages test the total coded scan line time (T.4: at most 5 s):
# the PBM pages cannot carry line timing, so the tester pads one row with fill to
# these lengths at the step's bit rate.
LINE_SECONDS = {"duration1": 4.9, "duration2": 5.1}


def page_file(pages_dir: Path, value: str) -> Path:
    """The PBM file of the page a step's ``value`` names."""
    return pages_dir / Path(value).with_suffix(".pbm").name


def read_pbm_pages(path: Path) -> list[np.ndarray]:
    """All images of a (possibly multi-image) PBM P4 file, 1 = black."""
    try:
        return read_pbm(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def code_pages(path: Path, dcs: DCSParams, min_bits: int | None = None) -> list[bytes]:
    """Each image of ``path`` coded as ``dcs`` says (scheme, minimum row bits unless
    ``min_bits`` is given), LSB first as on the line."""
    out = []
    for p in read_pbm_pages(path):
        mb = dcs.min_row_bits() if min_bits is None else min_bits
        opts = {"min_row_bits": mb} if mb and dcs.scheme != "mmr" else {}
        out.append(bytes(encode(p, dcs.scheme, k=2, lsb_first=True, **opts)))
    return out


def code_rows(path: Path, dcs: DCSParams, bad: set[int] = frozenset(),
              long_row: tuple[int, int] | None = None) -> bytes:
    """The first image of ``path`` as MH coded row by row with byte-aligned EOLs, so that
    rows can be altered: the listed ``bad`` rows (1-based) are replaced by invalid code,
    and ``long_row`` = (row, bits) pads that row (0-based) with fill so that its total
    coded scan line (data, fill and the next EOL) is that many bits long."""
    page = read_pbm_pages(path)[0]
    mb = dcs.min_row_bits()
    opts = {"min_row_bits": mb} if mb else {}
    out = bytearray()
    for r in range(page.shape[0]):
        if r + 1 in bad:
            # EOL (+1 = 1-D row for MR), then ones: no valid code, the row is lost.
            out += b"\x00\x80" + (b"\xff" * max(4, mb // 8))
            continue
        # Each chunk is EOL (4 fill bits + 000000000001: octets 00 80) + the row's code.
        chunk = bytes(encode(page[r:r + 1], "mh", eol_align=True, end_marker=False,
                             lsb_first=True, **opts))
        if long_row is not None and r == long_row[0]:
            # From the end of this row's EOL to the end of the next one: the code after
            # the EOL, the fill, then the 16 bits of the next aligned EOL.
            fill = -(-(long_row[1] - 16) // 8) - (len(chunk) - 2)
            chunk += bytes(max(fill, 0))
        out += chunk
    # RTC: six EOLs.
    out += b"\x00\x08\x80\x00\x08\x80\x00\x08\x80"
    return bytes(out)


def coded_message(path: Path, dcs: DCSParams, rate: int, bad_rows: str | None = None) -> bytes:
    """The coded page a ``T MSG`` step sends at ``rate`` bit/s: with ``bad_rows`` (1-based
    row numbers, comma-separated) those rows invalid, a DURATION page with its long row,
    else the plain coded page."""
    stem = path.stem.rsplit("_", 1)[-1]
    if bad_rows:
        bad = {int(x) for x in bad_rows.replace("\n", " ").split(",") if x.strip()}
        data = code_rows(path, dcs, bad)
    elif stem in LINE_SECONDS:
        rows = read_pbm_pages(path)[0]
        data = code_rows(path, dcs, long_row=(
            rows.shape[0] // 2, round(LINE_SECONDS[stem] * rate)))
    else:
        data = b"".join(code_pages(path, dcs))
    return data
