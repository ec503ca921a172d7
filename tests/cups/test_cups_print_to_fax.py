"""Print to fax through a real cupsd (Debian cups) started on a temporary directory and
port: the backend installed by ``faxcore cups install`` into its ServerBin, a raw queue,
``lp -o phone=...`` -> a send job (origin printer) on the loopback channel -> delivered and
in the receiver's inbox; a suspended account's print job held with the reason in
``lpstat -l``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.server.documents import HEADER_ROWS
from faxcore.testing.cupsd import CUPSD, CupsDaemon
from faxcore.testing.docs import letter_pdf
from faxcore.testing.paths import ROOT
from faxcore.testing.peers import missing, require_tool
from faxcore.testing.served import Served, free_port, served


@pytest.fixture(scope="module")
def svc(tmp_path_factory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("cupsfax")) as s:
        yield s


@pytest.fixture(scope="module")
def cups(tmp_path_factory) -> Iterator[CupsDaemon]:
    if not Path(CUPSD).exists():
        missing(CUPSD + " (Debian cups)")
    for tool in ("lp", "lpstat", "lpadmin"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("root, to start cupsd (it drops to User lp for backends)")
    d = CupsDaemon(free_port())
    d.start()
    yield d
    d.stop()


def faxcore_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faxcore", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def add_queue(cups: CupsDaemon, svc: Served, name: str, key: str) -> None:
    r = faxcore_cli("cups", "install", "--backend-dir", str(cups.backend_dir), "--queue", name,
                    "--uri", f"faxcore://{svc.base_url.split('//')[1]}/?key={key}",
                    "--cups-server", cups.server)
    assert r.returncode == 0, r.stderr
    assert f"installed the CUPS backend {cups.backend_dir / 'faxcore'}" in r.stdout


def print_job(cups: CupsDaemon, queue: str, pdf: Path, *opts: str) -> str:
    r = cups.run("lp", "-d", queue, *opts, str(pdf))
    return r.stdout.split("request id is ", 1)[1].split()[0]   # faxcore-1


def wait(cond, timeout: float = 90, what: str = ""):
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() > end:
            assert got, f"timed out waiting for {what}"
            return got
        time.sleep(0.2)


def test_lp_with_phone_option_becomes_a_delivered_fax(cups, svc, tmp_path) -> None:
    sender = svc.account()
    receiver = svc.account(numbers=["5551234"])
    add_queue(cups, svc, "faxcore", sender.key)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(letter_pdf(3))
    request = print_job(cups, "faxcore", pdf, "-o", "phone=5551234")
    rows = wait(lambda: svc.rows("SELECT id, destination, origin, channel FROM fax_jobs "
                                 "WHERE account_id = ?", (sender.id,)), what="the fax job")
    (job_id, dest, origin, channel), = rows
    assert (dest, origin, channel) == ("5551234", "printer", "loopback")
    assert svc.wait_state(job_id, {"delivered", "failed"}) == "delivered"
    # the CUPS job completed (backend exit 0)
    done = wait(lambda: request in cups.run("lpstat", "-W", "completed", "-o", "faxcore").stdout,
                what="the CUPS job to complete")
    assert done
    # the receiver's inbox has the page, pixel for pixel what the server sent
    inbox = wait(lambda: httpx.get(svc.base_url + "/v1/inbox", timeout=30, headers={
        "authorization": f"Bearer {receiver.key}"}).json()["faxes"], what="the inbox")
    assert [f["pages"] for f in inbox] == [1]
    (sent_doc,) = svc.rows("SELECT document FROM fax_jobs WHERE id = ?", (job_id,))[0]
    (recv_tif,) = svc.rows("SELECT tif_path FROM inbound_faxes WHERE account_id = ?",
                           (receiver.id,))[0]
    (sent,), (got,) = read_tiff(sent_doc), read_tiff(recv_tif)
    h = HEADER_ROWS["fine"]  # below the header band the sending station stamps
    assert got.bitmap.shape == sent.bitmap.shape
    assert np.array_equal(got.bitmap[h:], sent.bitmap[h:]) and got.bitmap[:h].any()
    assert np.count_nonzero(got.bitmap) > 1000


def test_a_suspended_account_has_its_print_job_held_with_the_reason(cups, svc,
                                                                    tmp_path) -> None:
    poor = svc.account(credit_limit_cents=0)
    reason = svc.suspend(poor)
    add_queue(cups, svc, "poorfax", poor.key)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(letter_pdf(4))
    request = print_job(cups, "poorfax", pdf, "-o", "phone=5551234")
    long = wait(lambda: (lambda out: out if "job-hold-until-specified" in out else "")(
        cups.run("lpstat", "-l", "-o", "poorfax").stdout), what="the job held")
    assert request in long and f"fax account may not send: {reason}" in long
    assert "suspended until paid" in long
    # held (job-hold-until indefinite), not completed, not retried
    held = cups.run("lpstat", "-W", "not-completed", "-o", "poorfax").stdout
    assert request in held
    assert "Alerts: job-hold-until-specified" in long, long   # the job is held
    assert "Backend returned status 3 (hold job)" in cups.error_log
    assert svc.rows("SELECT count(*) FROM fax_jobs WHERE account_id = ?", (poor.id,)) == [(0,)]


def test_a_print_job_waits_and_retries_while_the_fax_server_is_down(cups, svc,
                                                                    tmp_path) -> None:
    a = svc.account()
    down = free_port()   # nothing listens there
    r = faxcore_cli("cups", "install", "--backend-dir", str(cups.backend_dir), "--queue",
                    "downfax", "--uri", f"faxcore://127.0.0.1:{down}/?key={a.key}",
                    "--cups-server", cups.server)
    assert r.returncode == 0, r.stderr
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(letter_pdf(5))
    request = print_job(cups, "downfax", pdf, "-o", "phone=5551234")
    long = wait(lambda: (lambda out: out if "cannot be reached" in out else "")(
        cups.run("lpstat", "-l", "-o", "downfax").stdout), what="the retry message")
    assert request in long and "will retry" in long
    # cupsd logs the exit status once the backend (and the filters before it) ended,
    # which can be after the STATE/ERROR lines lpstat shows
    assert wait(lambda: "Backend returned status 6 (retry job later)" in cups.error_log,
                what="the backend's exit status in the log")
    assert request in cups.run("lpstat", "-W", "not-completed", "-o", "downfax").stdout
    cups.run("cancel", request)


def test_the_queue_ppd_offers_a_fax_number_and_a_dialogs_custom_value_is_the_number(
        cups, svc, tmp_path) -> None:
    """``faxcore cups install --queue`` gives the queue the faxcore PPD: ``lpoptions -l``
    shows the free-text ``phone`` option a print dialog prompts for; the value a dialog
    sends (``phone=Custom.NUMBER``) and ``lp -o phone=NUMBER`` both become the fax's
    number; a text file goes through cups-filters to PDF and is faxed too."""
    a = svc.account()
    add_queue(cups, svc, "dialogfax", a.key)
    listed = cups.run("lpoptions", "-p", "dialogfax", "-l").stdout
    assert "phone/Fax Number: *None Custom.STRING" in listed.splitlines(), listed
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(letter_pdf(2))
    print_job(cups, "dialogfax", pdf, "-o", "phone=Custom.5551234")
    print_job(cups, "dialogfax", pdf, "-o", "phone='+1 555 1234'")
    text = tmp_path / "memo.txt"
    text.write_text("Memo\n\nThe figures follow on Monday.\n")
    print_job(cups, "dialogfax", text, "-o", "phone=5551234")
    rows = wait(lambda: (lambda r: r if len(r) == 3 else [])(svc.rows(
        "SELECT id, destination, origin, pages FROM fax_jobs WHERE account_id = ? ORDER BY id",
        (a.id,))), what="three fax jobs")
    assert [r[1:] for r in rows] == [("5551234", "printer", 1), ("+15551234", "printer", 1),
                                     ("5551234", "printer", 1)]
    for job_id, *_ in rows:
        assert svc.wait_state(job_id, {"delivered", "failed"}) == "delivered"
    (memo_doc,) = svc.rows("SELECT document FROM fax_jobs WHERE id = ?", (rows[2][0],))[0]
    (memo,) = read_tiff(memo_doc)
    assert np.count_nonzero(memo.bitmap[HEADER_ROWS["fine"]:]) > 200  # the text is drawn


def test_faxcore_cups_ppd_prints_the_ppd_cupstestppd_passes(tmp_path) -> None:
    tool = require_tool("cupstestppd")
    r = faxcore_cli("cups", "ppd")
    assert r.returncode == 0, r.stderr
    ppd = tmp_path / "faxcore.ppd"
    ppd.write_text(r.stdout, encoding="latin-1")
    check = subprocess.run([tool, "-W", "all", str(ppd)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and "PASS" in check.stdout, check.stdout
    assert "*Customphone True/Fax Number" in r.stdout
