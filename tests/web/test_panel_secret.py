"""The panel's signing secret: made once per data directory, mode 0600, and the same for
every process that starts on that directory at the same time (else one process's
session cookies would be refused by the others)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from faxcore.web.security import load_secret


def _load(path: str, barrier, out) -> None:
    barrier.wait()
    out.put(load_secret(Path(path)))


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    path = tmp_path / "panel-secret"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(6)
    out = ctx.Queue()
    procs = [ctx.Process(target=_load, args=(str(path), barrier, out)) for _ in range(6)]
    for p in procs:
        p.start()
    got = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert got == {path.read_bytes()} and len(path.read_bytes()) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(x.name for x in tmp_path.iterdir()) == ["panel-secret"]  # no leftovers
    assert load_secret(path) == path.read_bytes()
