"""Transition shim: the spandsp modem wrappers are :mod:`faxcore.testing.spandsp.modems`.

Kept only while tests/test_modem_v21.py (being edited elsewhere) still imports this
name; import :mod:`faxcore.testing.spandsp.modems` instead. To be deleted."""

from faxcore.testing.spandsp.modems import *  # noqa: F403
from faxcore.testing.spandsp.modems import lib  # noqa: F401
