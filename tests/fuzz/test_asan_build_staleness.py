"""The ASan build's staleness check: a module is rebuilt when its .pyx *or a .pxd it
cimports* changed (a changed .pxd changes the C layout its users compile against; the
check used to look at the .pyx alone and kept such modules stale)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from faxcore.testing.paths import ROOT as REPO

_spec = importlib.util.spec_from_file_location("asan_build", REPO / "fuzz" / "asan_build.py")
asan_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(asan_build)


def _tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "faxcore" / "modem"
    pkg.mkdir(parents=True)
    (pkg / "_a.pxd").write_text("cdef class A:\n    cdef int x\n")
    (pkg / "_a.pyx").write_text("cdef class A:\n    pass\n")
    (pkg / "_b.pyx").write_text("from faxcore.modem._a cimport A\n")
    (pkg / "_c.pyx").write_text("x = 1\n")
    for name in ("_a", "_b", "_c"):
        (pkg / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    return pkg


def _age(path: Path, seconds: float) -> None:
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def test_sources_follow_cimports_and_own_pxd(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    assert asan_build._sources(pkg / "_b.pyx") == [pkg / "_b.pyx", pkg / "_a.pxd"]
    assert asan_build._sources(pkg / "_a.pyx") == [pkg / "_a.pyx", pkg / "_a.pxd"]
    assert asan_build._sources(pkg / "_c.pyx") == [pkg / "_c.pyx"]


def test_a_changed_pxd_makes_its_users_stale(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    for src in ("_a.pxd", "_a.pyx", "_b.pyx", "_c.pyx"):
        _age(pkg / src, 100)
    assert all(asan_build._built(pkg / f"{n}.pyx") for n in ("_a", "_b", "_c"))
    (pkg / "_a.pxd").write_text("cdef class A:\n    cdef double x\n")   # newer than the .so
    assert not asan_build._built(pkg / "_a.pyx")
    assert not asan_build._built(pkg / "_b.pyx")      # was reported built before the fix
    assert asan_build._built(pkg / "_c.pyx")


def test_the_repo_cimports_are_found() -> None:
    deps = asan_build._sources(REPO / "faxcore" / "modem" / "_sessionpump.pyx")
    assert {p.name for p in deps} >= {"_pump.pxd", "_txpump.pxd"}
