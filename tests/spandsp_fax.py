"""The spandsp fax terminal for the tests: :mod:`faxcore.testing.spandsp`, with a missing
libspandsp2 turned into conftest's ``missing()`` (skip on a developer machine, fail in CI)."""

from __future__ import annotations

from conftest import missing

from faxcore.testing import spandsp as _sp
from faxcore.testing.spandsp import (  # noqa: F401  (re-exported for the tests)
    ENCODINGS,
    T30_ERR_NAMES,
    SpandspMissing,
    T30Stats,
)


def lib():
    try:
        return _sp.lib()
    except _sp.SpandspMissing as exc:
        missing(str(exc))


class SpandspFax(_sp.SpandspFax):
    __doc__ = _sp.SpandspFax.__doc__

    def __init__(self, *args, **kwargs):
        lib()
        super().__init__(*args, **kwargs)
