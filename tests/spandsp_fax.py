"""Transition shim: the spandsp fax terminal is :mod:`faxcore.testing.spandsp`.

Kept only while tests/class1/test_t31_spandsp.py (being written elsewhere) still imports
this name; import from :mod:`faxcore.testing.spandsp` instead (a missing libspandsp2 is
turned into a skip / CI failure by tests/conftest.py). To be deleted."""

from faxcore.testing.spandsp import SpandspFax, lib  # noqa: F401
