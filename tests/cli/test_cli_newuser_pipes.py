"""The CLI piped into ``head`` (field issue "CLI and README defects found by a new user").

``faxcore account statement 1 | head -1`` and ``faxcore demo | head -3`` died with
BrokenPipeError tracebacks, the demo before writing its files. Now output that meets a
closed pipe is dropped, the command finishes its work and exits with its own status.

Each test runs faxcore in a subprocess on a real pipe: either piped into ``head`` (its
output larger than a pipe's buffer, so the write after ``head`` exits must fail), or
with the pipe's reading end closed before faxcore starts (every write fails: the same
situation, deterministic).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.accounts import open_store
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes

PKG_ROOT = Path(faxcore.__file__).resolve().parent.parent
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(PKG_ROOT))
    e.pop("FAXCORE_DB", None)
    return e


def faxcore_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "faxcore", *args]


def into_closed_pipe(args: list[str], cwd: Path, *, stderr_too: bool = False
                     ) -> subprocess.CompletedProcess:
    """Run faxcore with standard output (and standard error) a pipe nobody reads any more."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(faxcore_argv(*args), stdout=w,
                              stderr=w if stderr_too else subprocess.PIPE, text=True,
                              env=env(), cwd=cwd, timeout=300)
    finally:
        os.close(w)


def into_head(args: list[str], lines: int, cwd: Path) -> tuple[str, int, str]:
    """``faxcore ARGS | head -LINES``: (what head printed, faxcore's status, its stderr)."""
    fax = subprocess.Popen(faxcore_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env(), cwd=cwd)
    head = subprocess.Popen(["head", f"-{lines}"], stdin=fax.stdout, stdout=subprocess.PIPE)
    fax.stdout.close()          # head holds the only reading end now
    shown = head.communicate(timeout=300)[0].decode()
    err = fax.stderr.read().decode()
    fax.stderr.close()
    return shown, fax.wait(timeout=300), err


@pytest.fixture
def db(tmp_path) -> Path:
    """An account with 1500 ledger entries: its statement is ~100 KB, more than a pipe
    holds, and a payment of its reference ``PRE``."""
    path = tmp_path / "acc.db"
    store = open_store(f"sqlite:///{path}?synchronous=off")
    a = store.create_account(plan="plus", credit_limit_cents=10**9, billing_day=1, now=T0)
    for i in range(1500):
        store.record_outbound(a, 1, T0 + timedelta(minutes=i))
    store.close()
    return path


def test_statement_piped_into_head(db, tmp_path):
    args = ["account", "statement", "1", "--db", str(db), "--now", "2026-01-10"]
    full = subprocess.run(faxcore_argv(*args), capture_output=True, text=True, env=env(),
                          timeout=300)
    assert full.returncode == 0 and len(full.stdout) > 65536   # more than a pipe buffer
    shown, code, err = into_head(args, 1, tmp_path)
    assert shown == full.stdout.splitlines(keepends=True)[0]
    assert (code, err) == (0, "")


@pytest.mark.parametrize("args,status", [
    (["account", "show", "1"], 0),
    (["account", "list"], 0),
    (["account", "list", "--json"], 0),
    (["account", "statement", "1"], 0),
    (["jobs", "list"], 0),
    (["--help"], 0),
    (["account", "--help"], 0),
    (["--version"], 0),
])
def test_read_commands_into_a_closed_pipe(db, tmp_path, args, status):
    if args[0] != "--help" and "--help" not in args and args != ["--version"]:
        args = [*args, "--db", str(db), "--now", "2026-01-10"]
    run = into_closed_pipe(args, tmp_path)
    assert (run.returncode, run.stderr) == (status, "")


def test_writing_commands_finish_their_work_into_a_closed_pipe(db, tmp_path):
    """The payment is posted and the job recorded although nobody reads what they say;
    the exit status is the command's own (3: the job was refused)."""
    run = into_closed_pipe(["account", "pay", "1", "25.00", "--reference", "PAID-1",
                            "--db", str(db), "--now", "2026-01-10"], tmp_path)
    assert (run.returncode, run.stderr) == (0, "")
    store = open_store(str(db))
    try:
        entries = store.statement(1, T0 + timedelta(days=6))["entries"]
        assert [e.get("reference") for e in entries if e["kind"] == "payment"] == ["PAID-1"]
        store.run_billing(datetime(2026, 2, 1, tzinfo=UTC))   # $5 fee + 1500 pages, $25 paid
    finally:
        store.close()
    # suspended 2 days after the unpaid invoice: the job is refused, exit status 3
    run = into_closed_pipe(["jobs", "submit", "1", "--to", "+15550100", "--pages", "1",
                            "--db", str(db), "--now", "2026-02-04"], tmp_path)
    assert (run.returncode, run.stderr) == (3, "")
    store = open_store(str(db))
    try:
        (job,) = store.list_jobs(1)
        assert (job.state, job.remote) == ("refused", "+15550100")
    finally:
        store.close()


def test_convert_and_info_into_a_closed_pipe(tmp_path):
    src = tmp_path / "in.png"
    Image.new("L", (300, 200), 255).save(src)
    run = into_closed_pipe(["convert", str(src), str(tmp_path / "out.tif")], tmp_path)
    assert (run.returncode, run.stderr) == (0, "")
    assert len(read_tiff(tmp_path / "out.tif")) == 1
    run = into_closed_pipe(["info", str(tmp_path / "out.tif")], tmp_path)
    assert (run.returncode, run.stderr) == (0, "")


def test_error_line_still_reaches_stderr_with_stdout_closed(tmp_path):
    run = into_closed_pipe(["info", str(tmp_path / "missing.tif")], tmp_path)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"faxcore info: error: cannot read {tmp_path / 'missing.tif'}: No such file or directory"]


def _page() -> np.ndarray:
    bm = np.zeros((120, 1728), np.uint8)
    bm[20:100, 200:1500:7] = 1
    return bm


def test_demo_piped_into_head_still_writes_its_files(tmp_path):
    out = tmp_path / "demo"
    shown, code, err = into_head(["demo", "--out", str(out)], 3, tmp_path)
    assert shown.count("\n") == 3 and shown.startswith("[1/4] page 1: ")
    assert code == 0 and "Traceback" not in err and "Error" not in err
    report = (out / "report.txt").read_text()
    assert "caller (sending):     status OK" in report
    (page,) = read_tiff(out / "received.tif")
    assert (out / "page-1.png").exists() and page.bitmap.any()


def test_demo_into_a_closed_pipe_makes_the_call_and_writes_everything(tmp_path):
    doc = tmp_path / "extra.tif"
    doc.write_bytes(tiff_bytes([Page(_page(), 204, 196)], "mh"))
    out = tmp_path / "demo"
    run = into_closed_pipe(["demo", "--out", str(out), str(doc)], tmp_path)
    assert (run.returncode, run.stderr) == (0, "")
    received = read_tiff(out / "received.tif")
    assert len(received) == 2
    np.testing.assert_array_equal(received[1].bitmap, _page())
    assert (out / "page-2.png").exists() and "status OK" in (out / "report.txt").read_text()


def test_call_with_stdout_and_stderr_closed(tmp_path):
    """``faxcore call X 2>&1 | head``: the progress on stderr meets the closed pipe too."""
    doc = tmp_path / "page.tif"
    doc.write_bytes(tiff_bytes([Page(_page(), 204, 196)], "mh"))
    run = into_closed_pipe(["call", str(doc), "--out", str(tmp_path / "rx.tif")], tmp_path,
                           stderr_too=True)
    assert run.returncode == 0
    (page,) = read_tiff(tmp_path / "rx.tif")
    np.testing.assert_array_equal(page.bitmap, _page())
