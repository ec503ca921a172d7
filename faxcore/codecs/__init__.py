"""Page codecs: ITU-T T.4 MH/MR and T.6 MMR (Cython core), TIFF Class F, page preparation.

    >>> import numpy as np
    >>> from faxcore.codecs import encode, decode
    >>> page = np.zeros((4, 1728), np.uint8); page[1, 100:200] = 1
    >>> decode(encode(page, "mmr"), "mmr", 1728).bitmap.tolist() == page.tolist()
    True
"""

from faxcore.codecs.t4 import (
    MAX_DOCUMENT_PAGES,
    MAX_DOCUMENT_PIXELS,
    MAX_PIXELS,
    MAX_ROWS,
    MAX_WIDTH,
    SCHEMES,
    DecodedPage,
    DocumentError,
    DocumentTooLarge,
    PackedBitmap,
    decode,
    encode,
    encode_tiff_strip,
    pack,
    unpack,
)
from faxcore.codecs.tiff import Page, iter_tiff, read_tiff, write_tiff

__all__ = [
    "MAX_DOCUMENT_PAGES",
    "MAX_DOCUMENT_PIXELS",
    "MAX_PIXELS",
    "MAX_ROWS",
    "MAX_WIDTH",
    "SCHEMES",
    "DecodedPage",
    "DocumentError",
    "DocumentTooLarge",
    "PackedBitmap",
    "Page",
    "decode",
    "encode",
    "encode_tiff_strip",
    "iter_tiff",
    "pack",
    "read_tiff",
    "unpack",
    "write_tiff",
]
