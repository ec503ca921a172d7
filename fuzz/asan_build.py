"""Build the AddressSanitizer copy of faxcore in build/asan/ (the normal build is untouched).

The package is mirrored file by file (a file is copied only when its content changed),
so Cython and setuptools rebuild only the extensions whose .pyx changed since the last
ASan build; a change of
setup.py, of Cython or of the compiler forces a full rebuild. Every .pyx is compiled with
``-fsanitize=address -fno-omit-frame-pointer -O1 -g`` and the Cython directives it ships
with (boundscheck off), so ASan checks the shipped code paths.

Usage: python fuzz/asan_build.py [--root DIR]   (prints the tree's path last)
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_OUTPUTS = (".so", ".c", ".html")


def say(msg: str) -> None:
    sys.stdout.write(msg + "\n")      # a CLI: its output is the report
    sys.stdout.flush()


def _mirror(src: Path, dst: Path) -> int:
    """Copy every source file of ``src`` whose content differs into ``dst`` (the copy is
    new, so build_ext sees a changed .pyx as newer than its module; an unchanged one keeps
    its old time even if the original was touched), drop files gone from ``src``; leaves
    build outputs in ``dst`` alone. Returns the number copied."""
    copied = 0
    wanted: set[Path] = set()
    for path in src.rglob("*"):
        if "__pycache__" in path.parts or path.is_dir() or path.suffix in BUILD_OUTPUTS:
            continue
        rel = path.relative_to(src)
        wanted.add(rel)
        out = dst / rel
        data = path.read_bytes()
        if out.exists() and out.read_bytes() == data:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        copied += 1
    for path in dst.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts \
                and path.suffix not in BUILD_OUTPUTS and path.relative_to(dst) not in wanted:
            path.unlink()
    return copied


def _config_stamp() -> str:
    """What forces a full rebuild when it changes: setup.py, Cython, numpy, the compiler."""
    import Cython
    import numpy
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        ccver = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        ccver = "?"
    h = hashlib.sha256()
    for part in ((ROOT / "setup.py").read_bytes(), Cython.__version__.encode(),
                 numpy.__version__.encode(), ccver.encode(), sys.version.encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def build(tree: Path) -> Path:
    tree.mkdir(parents=True, exist_ok=True)
    # several people (or make -j) may build at once: one at a time per tree
    with open(tree.parent / f".{tree.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(tree)


def _build(tree: Path) -> Path:
    t0 = time.monotonic()
    n = _mirror(ROOT / "faxcore", tree / "faxcore")
    shutil.copy2(ROOT / "setup.py", tree / "setup.py")
    stamp_file = tree / ".asan-config"
    stamp = _config_stamp()
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        for out in (tree / "faxcore").rglob("*"):
            if out.suffix in (".so", ".c"):
                out.unlink()
        stamp_file.unlink(missing_ok=True)
    pyx = sorted((tree / "faxcore").rglob("*.pyx"))
    stale = [p for p in pyx if not _built(p)]
    say(f"asan-build: {n} files synced; {len(stale)} of {len(pyx)} extensions to build"
        + (": " + ", ".join(p.stem for p in stale) if stale else ""))
    if stale:
        env = dict(os.environ, FAXCORE_SANITIZE="address")
        log = tree / "build.log"
        with open(log, "w") as f:
            rc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2"],
                                cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            sys.stderr.write(log.read_text()[-4000:])
            raise SystemExit(f"asan-build: FAILED (exit {rc}), full log in {log}")
        stale = [p for p in pyx if not _built(p)]
        if stale:
            raise SystemExit(f"asan-build: no up-to-date module for {stale}, log in {log}")
        stamp_file.write_text(stamp)
        say(f"asan-build: built in {time.monotonic() - t0:.1f} s (log: {tree / 'build.log'})")
    else:
        stamp_file.write_text(stamp)
    return tree


_CIMPORT = re.compile(r"^\s*(?:from\s+(faxcore(?:\.\w+)+)\s+cimport|cimport\s+(faxcore(?:\.\w+)+))",
                      re.MULTILINE)


def _sources(pyx: Path) -> list[Path]:
    """The .pyx and the faxcore .pxd files it depends on: its own .pxd beside it and every
    ``from faxcore.x cimport`` / ``cimport faxcore.x`` (one level; a .pxd that cimports
    another is rare here). A changed .pxd changes the C layout its users compile against,
    so their modules are stale too (cythonize rebuilds them; this check must agree)."""
    out = [pyx]
    own = pyx.with_suffix(".pxd")
    if own.exists():
        out.append(own)
    pkg_root = next((p for p in pyx.parents if p.name == "faxcore"), None)
    if pkg_root is not None:
        for m in _CIMPORT.finditer(pyx.read_text(errors="replace")):
            dep = pkg_root.parent.joinpath(*(m.group(1) or m.group(2)).split(".")).with_suffix(".pxd")
            if dep.exists():
                out.append(dep)
    return out


def _built(pyx: Path) -> bool:
    """An extension module newer than its .pyx and the .pxd files it cimports exists
    next to it."""
    mods = list(pyx.parent.glob(pyx.stem + ".*.so"))
    newest = max(src.stat().st_mtime for src in _sources(pyx))
    return bool(mods) and all(m.stat().st_mtime >= newest for m in mods)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT / "build" / "asan")
    args = ap.parse_args()
    say(f"asan-build: tree {build(args.root.resolve())}")


if __name__ == "__main__":
    main()
