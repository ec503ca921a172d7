"""``faxcore modem emulate --sip URI``: the Class 1 emulator's line side as a SIP G.711
call. A program (here faxcore's own Class 1 driver, ``faxcore modem send``) dials on
the emulated modem's pty; the emulator calls ``sip:{number}@...``, where ``faxcore sip
listen`` answers (and asks for T.38, which the line refuses: the T.30 procedure is the
program's, so it stays on G.711). Real time, three processes; pages compared."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs import Page, read_tiff, write_tiff
from faxcore.testing.kamailio import free_udp_port
from faxcore.testing.pages import form_page, small_page
from faxcore.testing.peers import require_tool

FAXCORE = [sys.executable, "-m", "faxcore"]
HOST = "127.0.0.1"


def _emulated_call(tmp_path, program: list[str]):
    """``sip listen --once`` and ``modem emulate --sip``, then ``program`` (with
    ``{pty}`` replaced by the emulated modem's path); returns the program's run, the
    listener's (stdout, stderr), the emulator's stdout and the received TIFF-F files."""
    (tmp_path / "in").mkdir()
    port = free_udp_port(HOST)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    try:
        listener = subprocess.Popen(
            [*FAXCORE, "sip", "listen", "--bind", f"{HOST}:{port}", "--out",
             str(tmp_path / "in"), "--once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        procs.append(listener)
        assert listener.stdout.readline().startswith("listening on sip:")
        emulator = subprocess.Popen(
            [*FAXCORE, "modem", "emulate", "--sip", f"sip:{{number}}@{HOST}:{port}",
             "--sip-bind", HOST, "--calls", "1", "--link", str(tmp_path / "pty")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(emulator)
        for _ in range(100):
            if (tmp_path / "pty").exists() and (tmp_path / "pty").read_text().strip():
                break
            time.sleep(0.1)
        pty = (tmp_path / "pty").read_text().strip()
        run = subprocess.run([a.replace("{pty}", pty) for a in program], capture_output=True,
                             text=True, timeout=120, env=env)
        lout, lerr = listener.communicate(timeout=30)
        eout, eerr = emulator.communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert listener.returncode == 0, lout + lerr
    return run, (lout, lerr), eout + eerr, sorted((tmp_path / "in").glob("*.tif"))


@pytest.mark.slow
def test_a_program_on_the_emulated_modem_faxes_over_sip(tmp_path):
    bitmaps = [small_page(seed, rows=120) for seed in (11, 12)]
    write_tiff(tmp_path / "doc.tif", [Page(b, 204, 196) for b in bitmaps], "mh")
    send, (lout, lerr), eout, files = _emulated_call(
        tmp_path, [*FAXCORE, "modem", "send", "--device", "{pty}", "--dial", "1000",
                   str(tmp_path / "doc.tif")])
    assert send.returncode == 0, send.stdout + send.stderr
    assert "status OK (OK); pages sent 2" in send.stdout
    assert "media G.711" in lout and "received 2" in lout
    assert "SIP re-INVITE refused (488)" in lerr          # the line takes no T.38
    assert "calling sip:1000@127.0.0.1" in eout, eout
    assert len(files) == 1
    got = read_tiff(files[0])
    assert len(got) == 2
    for want, page in zip(bitmaps, got, strict=True):
        assert np.array_equal(want, page.bitmap)


EFAX_HEADER_ROWS = 20  # efax's HDRSPCE: the rows it puts on top of each page it sends


@pytest.mark.slow
def test_efax_faxes_over_sip_through_the_emulated_modem(tmp_path):
    """efax (a program we did not write) sends two pages through the emulated modem,
    whose line is a SIP call to faxcore sip listen; the pages arrive pixel for pixel
    below efax's blank page header."""
    efax = require_tool("efax")
    pages = [form_page(260, 1), form_page(180, 2)]
    files = []
    for i, bm in enumerate(pages):
        files.append(str(tmp_path / f"p{i}.pbm"))
        Image.fromarray(np.where(bm == 0, 255, 0).astype(np.uint8)).convert("1").save(files[-1])
    run, (lout, lerr), eout, got_files = _emulated_call(
        tmp_path, [efax, "-d", "{pty}", "-o1", "-v", "ewinchr", "-l", "+1 555 0199", "-h", " ",
                   "-t", "5550100", *files])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "received 2" in lout and "remote '+1 555 0199'" in lout, lout + lerr
    assert "calling sip:5550100@127.0.0.1" in eout, eout
    got = read_tiff(got_files[0])
    assert len(got) == 2
    for page, sent in zip(got, pages, strict=True):
        assert page.bitmap.shape == (sent.shape[0] + EFAX_HEADER_ROWS, 1728)
        assert not page.bitmap[:EFAX_HEADER_ROWS].any()
        assert np.array_equal(page.bitmap[EFAX_HEADER_ROWS:], sent)


@pytest.mark.slow
def test_an_incoming_sip_call_rings_the_program_on_the_emulated_modem(tmp_path):
    """``modem emulate --sip-listen``: ``faxcore sip send`` calls the emulator; the
    emulated modem rings, the program (``faxcore modem receive``, faxcore's Class 1
    driver) answers and receives the pages over G.711."""
    bitmaps = [small_page(seed, rows=120) for seed in (21, 22)]
    write_tiff(tmp_path / "doc.tif", [Page(b, 204, 196) for b in bitmaps], "mh")
    port = free_udp_port(HOST)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    try:
        emulator = subprocess.Popen(
            [*FAXCORE, "modem", "emulate", "--sip-listen", f"{HOST}:{port}", "--calls", "1",
             "--link", str(tmp_path / "pty")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        procs.append(emulator)
        for _ in range(100):
            if (tmp_path / "pty").exists() and (tmp_path / "pty").read_text().strip():
                break
            time.sleep(0.1)
        pty = (tmp_path / "pty").read_text().strip()
        receiver = subprocess.Popen(
            [*FAXCORE, "modem", "receive", "--device", pty, "--out", str(tmp_path / "rx.tif")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(receiver)
        assert receiver.stdout.readline().startswith("waiting for a call")
        send = subprocess.run([*FAXCORE, "sip", "send", "--to", f"sip:fax@{HOST}:{port}",
                               "--bind", HOST, str(tmp_path / "doc.tif")],
                              capture_output=True, text=True, timeout=120, env=env)
        rout, rerr = receiver.communicate(timeout=30)
        eout, eerr = emulator.communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert send.returncode == 0, send.stdout + send.stderr
    assert "media G.711" in send.stdout
    assert receiver.returncode == 0, rout + rerr
    assert "status OK (OK); pages sent 0, received 2" in rout
    assert "the program answered: taking the SIP call" in eout, eout + eerr
    got = read_tiff(tmp_path / "rx.tif")
    assert len(got) == 2
    for want, page in zip(bitmaps, got, strict=True):
        assert np.array_equal(want, page.bitmap)
