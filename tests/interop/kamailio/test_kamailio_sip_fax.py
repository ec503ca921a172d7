"""Kamailio (Debian kamailio 5.6) as registrar and proxy with digest authentication,
between two ``faxcore`` processes: ``faxcore sip listen --register`` registers (401,
then 200 with the right password), ``faxcore sip send --proxy --user --password`` calls
it through the proxy (407, then the call), once over T.38 and once over G.711, both
calls at the same time; the pages arrive identical. In-dialog requests (the T.38
re-INVITE, ACK, BYE) follow the Record-Route through the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import Page, read_tiff, write_tiff
from faxcore.pcap import read_pcap
from faxcore.testing.kamailio import KamailioMissing, kamailio
from faxcore.testing.pages import small_page
from faxcore.testing.peers import missing

FAXCORE = [sys.executable, "-m", "faxcore"]
HOST = "127.0.0.1"
USERS = {"fax": "secret", "fax2": "secret2", "sender": "s3nder"}


def _first_lines(proc: subprocess.Popen, n: int) -> list[str]:
    lines = [proc.stdout.readline() for _ in range(n)]
    if not all(lines):
        proc.kill()
        raise AssertionError(f"sip listen stopped: {lines} {proc.stderr.read()}")
    return lines


def _starts(grams: list[bytes]) -> list[str]:
    """The first line of each SIP message in a capture."""
    out = []
    for p in grams:
        head = p.split(b"\r\n", 1)[0]
        if b"SIP/2.0" in head:
            out.append(head.decode())
    return out


@pytest.fixture
def kam():
    try:
        with kamailio(USERS) as k:
            yield k
    except KamailioMissing as exc:
        missing(str(exc))


def test_register_and_call_through_kamailio_over_t38_and_g711(tmp_path: Path, kam):
    k = kam
    bitmaps = [small_page(seed, rows=150) for seed in (3, 4)]
    write_tiff(tmp_path / "doc.tif", [Page(b, 204, 196) for b in bitmaps], "mh")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen] = []
    results = {}
    try:
        listeners = {}
        for user, t38 in (("fax", "prefer"), ("fax2", "never")):
            out = tmp_path / user
            out.mkdir()
            listeners[user] = subprocess.Popen(
                [*FAXCORE, "sip", "listen", "--bind", HOST, "--register",
                 f"sip:{user}@{HOST}:{k.port}", "--password", USERS[user], "--out", str(out),
                 "--once", "--t38", t38, "--pcap", str(tmp_path / f"{user}.pcap")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            procs.append(listeners[user])
        for user, proc in listeners.items():
            lines = _first_lines(proc, 2)
            assert lines[1].startswith(f"registered sip:{user}@{HOST}:{k.port}"), lines
        senders = {}
        for user in listeners:
            senders[user] = subprocess.Popen(
                [*FAXCORE, "sip", "send", "--to", f"sip:{user}@{HOST}:{k.port}", "--proxy",
                 f"{HOST}:{k.port}", "--user", "sender", "--password", USERS["sender"],
                 "--bind", HOST, "--t38", "prefer", "--pcap", str(tmp_path / f"to-{user}.pcap"),
                 str(tmp_path / "doc.tif")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            procs.append(senders[user])
        for user in listeners:
            so, se = senders[user].communicate(timeout=120)
            lo, le = listeners[user].communicate(timeout=30)
            results[user] = (senders[user].returncode, so, se, listeners[user].returncode, lo, le)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = k.log()

    for user, media in (("fax", "T.38"), ("fax2", "G.711")):
        src, so, se, lrc, lo, le = results[user]
        assert src == 0 and lrc == 0, (user, so, se, lo, le, log[-2000:])
        assert f"media {media}" in so and f"media {media}" in lo, (so, lo)
        files = sorted((tmp_path / user).glob("*.tif"))
        assert len(files) == 1
        got = read_tiff(files[0])
        assert len(got) == 2
        for want, page in zip(bitmaps, got, strict=True):
            assert np.array_equal(want, page.bitmap)
        # the sender was challenged (407) and authenticated through the proxy
        sent = _starts([p for _, _, _, p in read_pcap(tmp_path / f"to-{user}.pcap")])
        assert "SIP/2.0 407 Proxy Authentication Required" in sent, sent
        assert sent.count(f"INVITE sip:{user}@{HOST}:{k.port} SIP/2.0") >= 2, sent
        assert any(s.startswith("SIP/2.0 200 ") for s in sent)
        # the listener was challenged (401) at REGISTER, then registered
        reg = _starts([p for _, _, _, p in read_pcap(tmp_path / f"{user}.pcap")])
        assert reg.index("SIP/2.0 401 Unauthorized") < len(reg) - 1, reg
        assert reg.count(f"REGISTER sip:{HOST}:{k.port} SIP/2.0") >= 2, reg
    # the T.38 call's re-INVITE went through the proxy (Record-Route)
    t38_sent = [p for _, src, dst, p in read_pcap(tmp_path / "fax.pcap")
                if p.startswith(b"INVITE ") and b"m=image" in p]
    assert t38_sent and b"Route:" in t38_sent[0]
