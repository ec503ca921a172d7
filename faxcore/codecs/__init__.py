"""Page codecs: ITU-T T.4 MH/MR and T.6 MMR (Cython core), TIFF Class F, PBM, page
preparation, and the one loader of documents as fax pages (:func:`load_pages`).

    >>> import numpy as np
    >>> from faxcore.codecs import encode, decode
    >>> page = np.zeros((4, 1728), np.uint8); page[1, 100:200] = 1
    >>> decode(encode(page, "mmr"), "mmr", 1728).bitmap.tolist() == page.tolist()
    True
"""


class CodecsNotBuilt(ImportError):
    """The compiled codec core (``faxcore.codecs._t4``, Cython) is not there."""


try:
    from faxcore.codecs import _t4  # noqa: F401  (every codec needs the compiled core)
except ImportError as exc:
    # Only the core itself missing (not built, or built for another Python) is a build
    # problem; any other missing module (numpy...) keeps its own error.
    if not isinstance(exc, ModuleNotFoundError) or exc.name == "faxcore.codecs._t4":
        raise CodecsNotBuilt(
            "faxcore.codecs: the Cython extension is not built: run `make build`"
            f" ({exc})") from exc
    raise

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
