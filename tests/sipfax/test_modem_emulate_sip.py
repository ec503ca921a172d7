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

from faxcore.codecs import Page, read_tiff, write_tiff
from faxcore.testing.kamailio import free_udp_port
from faxcore.testing.pages import small_page

FAXCORE = [sys.executable, "-m", "faxcore"]
HOST = "127.0.0.1"


@pytest.mark.slow
def test_a_program_on_the_emulated_modem_faxes_over_sip(tmp_path):
    bitmaps = [small_page(seed, rows=120) for seed in (11, 12)]
    write_tiff(tmp_path / "doc.tif", [Page(b, 204, 196) for b in bitmaps], "mh")
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
        send = subprocess.run([*FAXCORE, "modem", "send", "--device", pty, "--dial", "1000",
                               str(tmp_path / "doc.tif")], capture_output=True, text=True,
                              timeout=120, env=env)
        lout, lerr = listener.communicate(timeout=30)
        eout, eerr = emulator.communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert send.returncode == 0, send.stdout + send.stderr
    assert "status OK (OK); pages sent 2" in send.stdout
    assert listener.returncode == 0, lout + lerr
    assert "media G.711" in lout and "received 2" in lout
    assert "SIP re-INVITE refused (488)" in lerr          # the line takes no T.38
    assert "calling sip:1000@127.0.0.1" in eout, eout + eerr
    files = sorted((tmp_path / "in").glob("*.tif"))
    assert len(files) == 1
    got = read_tiff(files[0])
    assert len(got) == 2
    for want, page in zip(bitmaps, got, strict=True):
        assert np.array_equal(want, page.bitmap)
