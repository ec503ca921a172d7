"""Page codecs: ITU-T T.4 MH/MR and T.6 MMR (Cython core), TIFF Class F, PBM, page
preparation, and the one loader of documents as fax pages (:func:`load_pages`).

    >>> import numpy as np
    >>> from faxcore.codecs import encode, decode
    >>> page = np.zeros((4, 1728), np.uint8); page[1, 100:200] = 1
    >>> decode(encode(page, "mmr"), "mmr", 1728).bitmap.tolist() == page.tolist()
    True
"""


import importlib


class CodecsNotBuilt(ImportError):
    """The compiled codec core (``faxcore.codecs._t4``, Cython) is missing or unusable."""


try:
    # importlib, not ``from faxcore.codecs import _t4``: that turns a missing module into
    # "cannot import name ... (most likely due to a circular import)".
    importlib.import_module("faxcore.codecs._t4")
except ModuleNotFoundError as exc:
    if exc.name != "faxcore.codecs._t4":    # numpy or another dependency: its own error
        raise
    raise CodecsNotBuilt(
        "faxcore.codecs: the Cython extension is not built: run `make build`") from exc
except ImportError as exc:                  # there, but built for another Python / numpy
    raise CodecsNotBuilt(f"faxcore.codecs: the Cython extension cannot be loaded ({exc}): "
                         "run `make build`") from exc

from faxcore.codecs.loader import (  # noqa: E402  (after the check above)
    Document,
    LoadError,
    SourceUnreadable,
    UnknownFormat,
    load_document,
    load_pages,
)
from faxcore.codecs.pbm import pbm_bytes, read_pbm  # noqa: E402
from faxcore.codecs.t4 import (  # noqa: E402
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
from faxcore.codecs.tiff import RESOLUTIONS, Page, iter_tiff, read_tiff, write_tiff  # noqa: E402

__all__ = [
    "RESOLUTIONS",
    "CodecsNotBuilt",
    "Document",
    "LoadError",
    "SourceUnreadable",
    "UnknownFormat",
    "load_document",
    "load_pages",
    "pbm_bytes",
    "read_pbm",
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
