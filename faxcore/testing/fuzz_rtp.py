"""Fuzz targets for faxcore.rtp, registered by :mod:`faxcore.testing.fuzz`.

``FUZZ`` lists ``(name, run, max_len)``: ``run(data, opts) -> signature`` feeds hostile
bytes to the parser and raises only when a promise broke (see faxcore.testing.fuzz);
``name`` is also the corpus directory tests/corpus/<name>/.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

FUZZ: tuple[tuple[str, Callable[[bytes, Mapping[str, int]], Hashable], int], ...] = ()
