"""Where the test data lives, for the tests and the benchmarks of a source checkout.

``ROOT`` is the checkout (the folder holding the ``faxcore`` package), ``CORPUS`` the
committed hostile-input corpus (``tests/corpus/<target>/``), and ``SHARED`` the shared
test data next to the checkout (``../shared``: the ITU charts, TSB-85 files...), or
``$FAXCORE_SHARED``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "tests" / "corpus"
SHARED = Path(os.environ.get("FAXCORE_SHARED", ROOT.parent / "shared"))
