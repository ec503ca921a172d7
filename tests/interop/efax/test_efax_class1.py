"""efax (Debian package efax, 0.9a) drives faxcore's Class 1 emulator on a pseudo-terminal.

efax is a fax program we did not write that talks Class 1 to a modem on a serial port. Here
its "modem" is :class:`faxcore.class1.pty.PtyModem`, whose line goes to a faxcore
:class:`~faxcore.FaxSession`:

* ``efax -t`` sends two pages, faxcore receives them: each page arrives pixel for pixel,
  below the 20 rows efax puts on top of every page it sends (its page header; given as a
  blank ``-h " "`` here, because efax's header text reaches into the page's first rows);
* ``efax -r`` answers the emulator's RING and receives two pages faxcore sends: the TIFF
  files efax writes hold exactly the pages faxcore sent.

Every efax run has a timeout; efax must be installed (scripts/install-peers.sh), else the
tests skip locally and fail in CI.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
from PIL import Image

from faxcore.class1.pty import PtyModem
from faxcore.session import FaxSession
from faxcore.t30.engine import TxPage
from faxcore.testing.pages import form_page
from faxcore.testing.peers import require_tool

EFAX_HEADER_ROWS = 20  # efax's HDRSPCE: rows it puts on top of each page it sends


def save_pbm(bm: np.ndarray, path) -> None:
    Image.fromarray(((1 - bm) * 255).astype(np.uint8)).convert("1").save(path)


def efax(args, timeout=60):
    return subprocess.run([require_tool("efax"), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_efax_sends_two_pages_to_faxcore(tmp_path):
    require_tool("efax")
    pages = [form_page(260, 1), form_page(180, 2)]
    files = []
    for i, bm in enumerate(pages):
        files.append(str(tmp_path / f"p{i}.pbm"))
        save_pbm(bm, files[-1])
    fars = []

    def far_end(dialled):
        assert dialled  # efax -t dials
        s = FaxSession(calling=False, receive=lambda p: None, ident="+1 555 0100")
        fars.append(s)
        return s

    # data_speed=1.0: efax divides the bytes it sent by the whole seconds the page took
    with PtyModem(far_end, data_speed=1.0) as modem:
        run = efax(["-d", modem.path, "-o1", "-v", "ewinchr", "-l", "+1 555 0199", "-h", " ",
                    "-t", "5550100", *files])
    assert run.returncode == 0, run.stderr[-3000:]
    assert modem.error is None
    log = modem.dce.log
    assert log[:6] == ["ATQ0V1", "ATE0", "ATI3", "AT+FCLASS=1", "AT+FTM=?", "ATD5550100"]
    s = fars[0]
    assert int(s.result.status) == 0, s.result.summary()
    assert s.result.remote_ident == "+1 555 0199"  # efax's TSI
    assert s.result.ecm is False and s.result.modulation == "V17/14400"
    assert len(s.pages) == 2
    for got, sent in zip(s.pages, pages, strict=True):
        assert got.shape == (sent.shape[0] + EFAX_HEADER_ROWS, 1728)
        assert not got[:EFAX_HEADER_ROWS].any()
        assert np.array_equal(got[EFAX_HEADER_ROWS:], sent)
    assert [p.bad_rows for p in s.engine.received_pages] == [0, 0]
    # our CSI, as efax read it (it prints the 20-character field as it stands)
    assert re.search(r"remote ID -> +\+1 555 0100$", run.stderr, re.M)


def test_efax_receives_two_pages_from_faxcore(tmp_path):
    require_tool("efax")
    pages = [form_page(300, 3), form_page(150, 4)]
    fars = []

    def far_end(dialled):
        assert not dialled  # efax answered our RING
        s = FaxSession(calling=True, send=[TxPage(bm, "fine") for bm in pages])
        fars.append(s)
        return s

    with PtyModem(far_end, ring=True) as modem:
        run = efax(["-d", modem.path, "-o1", "-v", "ewinchr", "-r", str(tmp_path / "rx")])
    assert run.returncode == 0, run.stderr[-3000:]
    assert modem.error is None
    log = modem.dce.log
    assert log[:6] == ["ATQ0V1", "ATE0", "ATI3", "AT+FCLASS=1", "AT+FRM=?", "ATA"]
    s = fars[0]
    assert int(s.result.status) == 0, s.result.summary()
    assert s.result.pages_sent == 2
    files = sorted(tmp_path.glob("rx.*"))
    assert [f.name for f in files] == ["rx.001", "rx.002"]
    for f, sent in zip(files, pages, strict=True):
        with Image.open(f) as im:
            assert im.format == "TIFF"
            got = (np.asarray(im.convert("1")) == 0).astype(np.uint8)
        assert np.array_equal(got, sent)


def test_efax_to_efax_through_two_emulated_modems(tmp_path):
    """Two emulators joined by one simulated line (PtyPair): efax -t on one pty, efax -r
    on the other. Neither end is faxcore's T.30: only our modems and line are in between."""
    from faxcore.class1.pty import PtyPair

    require_tool("efax")
    sent = form_page(220, 6)
    src = tmp_path / "p.pbm"
    save_pbm(sent, src)
    with PtyPair(data_speed=1.0) as pair:
        a, b = pair.paths
        rx = subprocess.Popen([require_tool("efax"), "-d", b, "-o1", "-v", "ewinc", "-r",
                               str(tmp_path / "rx")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            tx = efax(["-d", a, "-o1", "-v", "ewinc", "-h", " ", "-t", "1", str(src)])
            _, rx_log = rx.communicate(timeout=60)
        finally:
            if rx.poll() is None:
                rx.kill()
                rx.wait(5)
    assert pair.error is None
    assert tx.returncode == 0, tx.stderr[-3000:]
    assert rx.returncode == 0, rx_log[-3000:]
    assert "ATD1" in pair.a.dce.log and "ATA" in pair.b.dce.log
    files = sorted(tmp_path.glob("rx.*"))
    assert [f.name for f in files] == ["rx.001"]
    with Image.open(files[0]) as im:
        got = (np.asarray(im.convert("1")) == 0).astype(np.uint8)
    assert got.shape == (sent.shape[0] + EFAX_HEADER_ROWS, 1728)
    assert not got[:EFAX_HEADER_ROWS].any() and np.array_equal(got[EFAX_HEADER_ROWS:], sent)
