"""Build the Cython extensions of faxcore.

Every ``.pyx`` file under ``faxcore/`` becomes an extension module of the same
dotted name, so a new hot loop only needs its file; nothing to register here.
"""

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent

# FAXCORE_SANITIZE=address builds an AddressSanitizer copy for scripts/asan-replay.sh:
# -O1 -g keeps the reports readable; the Cython directives (boundscheck off) are the
# shipped ones, so ASan checks the very code paths that ship.
SANITIZE = os.environ.get("FAXCORE_SANITIZE", "")
if SANITIZE not in ("", "address"):
    raise SystemExit(f"FAXCORE_SANITIZE={SANITIZE!r}: only 'address' is supported")
if SANITIZE:
    COMPILE_ARGS = ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"]
    LINK_ARGS = ["-fsanitize=address"]
else:
    COMPILE_ARGS = ["-O3"]
    LINK_ARGS = []


def _extensions() -> list[Extension]:
    exts = []
    for pyx in sorted(ROOT.glob("faxcore/**/*.pyx")):
        rel = pyx.relative_to(ROOT).with_suffix("")
        exts.append(
            Extension(
                ".".join(rel.parts),
                [str(pyx.relative_to(ROOT))],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=COMPILE_ARGS,
                extra_link_args=LINK_ARGS,
            )
        )
    return exts


setup(
    ext_modules=cythonize(
        _extensions(),
        language_level=3,
        compiler_directives={"embedsignature": True},
    ),
)
