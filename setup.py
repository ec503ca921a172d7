"""Build the Cython extensions of faxcore.

Every ``.pyx`` file under ``faxcore/`` becomes an extension module of the same
dotted name, so a new hot loop only needs its file; nothing to register here.
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent


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
                extra_compile_args=["-O3"],
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
