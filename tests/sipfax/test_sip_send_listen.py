"""``faxcore sip send`` -> ``faxcore sip listen`` over real UDP on 127.0.0.1, each in its
own process as a user runs them: T.38 (the listener re-INVITEs, the sender accepts),
G.711 (both ``--t38 never``), and a T.38 offer the sender refuses with 488, which
completes on G.711. The received TIFF-F is decoded and compared pixel for pixel with
what was sent; ``--pcap`` files are read back (and by tshark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs import Page, read_tiff, write_tiff
from faxcore.pcap import read_pcap
from faxcore.t38.udptl import decode_udptl
from faxcore.testing.kamailio import free_udp_port
from faxcore.testing.pages import small_page
from faxcore.testing.peers import require_tool

FAXCORE = [sys.executable, "-m", "faxcore"]
HOST = "127.0.0.1"


def _document(path: Path, n: int) -> list[np.ndarray]:
    bitmaps = [small_page(seed, rows=150) for seed in range(n)]
    write_tiff(path, [Page(b, 204, 196) for b in bitmaps], "mh")
    return bitmaps


def run_pair(tmp: Path, n_pages: int, send_args: list[str], listen_args: list[str]):
    """One call: ``sip listen --once`` then ``sip send``; returns (send, listen)
    CompletedProcess-like results (returncode, stdout, stderr) and the received files."""
    bitmaps = _document(tmp / "doc.tif", n_pages)
    out = tmp / "in"
    out.mkdir()
    port = free_udp_port(HOST)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    listener = subprocess.Popen(
        [*FAXCORE, "sip", "listen", "--bind", f"{HOST}:{port}", "--out", str(out), "--once",
         *listen_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = listener.stdout.readline()
        if not first.startswith("listening on sip:"):
            listener.kill()
            raise AssertionError(f"sip listen did not start: {first}{listener.stderr.read()}")
        send = subprocess.run(
            [*FAXCORE, "sip", "send", "--to", f"sip:fax@{HOST}:{port}", "--bind", HOST,
             *send_args, str(tmp / "doc.tif")], capture_output=True, text=True, timeout=120,
            env=env)
        lout, lerr = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    listen = subprocess.CompletedProcess(listener.args, listener.returncode, lout, lerr)
    return send, listen, bitmaps, sorted(out.glob("*.tif"))


def _same_pages(files: list[Path], bitmaps: list[np.ndarray]) -> None:
    assert len(files) == 1
    got = read_tiff(files[0])
    assert len(got) == len(bitmaps)
    for want, page in zip(bitmaps, got, strict=True):
        assert np.array_equal(want, page.bitmap)


def _ok(proc, media: str) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: status OK (OK)" in proc.stdout and f"media {media}" in proc.stdout, proc.stdout


def test_sip_send_to_sip_listen_over_t38_three_pages(tmp_path):
    send, listen, bitmaps, files = run_pair(
        tmp_path, 3, ["--pcap", str(tmp_path / "tx.pcap")], ["--pcap", str(tmp_path / "rx.pcap")])
    _ok(send, "T.38")
    _ok(listen, "T.38")
    assert "pages sent 3" in send.stdout and "3 page(s) written to" in listen.stdout
    _same_pages(files, bitmaps)
    # progress as the call goes: SIP state, the media, T.30 phases with the page count
    assert "SIP re-INVITE to T.38" in listen.stderr and "media T.38" in send.stderr
    assert "phase C (page transfer), pages sent 2/3" in send.stderr
    # the capture holds the SIP dialog (with the T.38 re-INVITE) and the UDPTL stream
    grams = [p for _, _, _, p in read_pcap(tmp_path / "tx.pcap")]
    sip = [p for p in grams if b"SIP/2.0" in p.split(b"\r\n", 1)[0]]
    assert any(p.startswith(b"INVITE ") and b"m=image" in p for p in sip)   # theirs
    assert any(p.startswith(b"SIP/2.0 200 ") and b"m=image" in p for p in sip)  # ours
    # UDPTL both ways (RTP, version 2, starts 0b10; UDPTL here starts with seq < 0x8000)
    udptl = [p for p in grams if p not in sip and p[0] >> 6 != 2]
    assert len(udptl) > 100
    assert all(decode_udptl(p).seq >= 0 for p in udptl)


def test_sip_send_to_sip_listen_over_g711(tmp_path):
    send, listen, bitmaps, files = run_pair(tmp_path, 1, ["--t38", "never"],
                                            ["--t38", "never"])
    _ok(send, "G.711")
    _ok(listen, "G.711")
    _same_pages(files, bitmaps)
    assert "SIP re-INVITE" not in listen.stderr


def test_a_t38_offer_refused_with_488_completes_on_g711(tmp_path):
    """The listener (receiving, --t38 prefer) re-INVITEs to T.38; the sender (--t38 never)
    answers 488; the listener falls back and the fax goes over G.711."""
    send, listen, bitmaps, files = run_pair(
        tmp_path, 1, ["--t38", "never", "--pcap", str(tmp_path / "tx.pcap")], ["--t38", "prefer"])
    _ok(send, "G.711")
    _ok(listen, "G.711")
    _same_pages(files, bitmaps)
    assert "SIP re-INVITE refused (488)" in listen.stderr
    sent = [p for _, _, _, p in read_pcap(tmp_path / "tx.pcap")]
    assert any(p.startswith(b"SIP/2.0 488 ") for p in sent)


def test_the_pcap_is_read_by_tshark(tmp_path):
    """--pcap of a short call that fails on purpose (the listener requires T.38, the
    sender refuses it with 488, the listener hangs up): tshark decodes the SIP dialog
    and the RTP with no malformed packet."""
    tshark = require_tool("tshark")
    send, listen, _, _ = run_pair(tmp_path, 1, ["--t38", "never", "--pcap",
                                                str(tmp_path / "c.pcap")], ["--t38", "only"])
    assert send.returncode == 1 and listen.returncode == 1
    assert "the far end refused T.38 (t38=only)" in listen.stdout
    r = subprocess.run([tshark, "-r", str(tmp_path / "c.pcap"), "-Y", "sip", "-T", "fields",
                        "-e", "sip.Method", "-e", "sip.Status-Code"],
                       capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert ["INVITE", ""] in rows and ["", "488"] in rows and ["BYE", ""] in rows
    bad = subprocess.run([tshark, "-r", str(tmp_path / "c.pcap"), "-Y", "_ws.malformed"],
                         capture_output=True, text=True, check=True)
    assert bad.stdout.strip() == ""


@pytest.mark.parametrize("argv, message", [
    (["sip", "send", "--to", "sip:fax@127.0.0.1:9", "--password", "x", "f.tif"],
     "--password needs --user"),
    (["sip", "listen", "--bind", "127.0.0.1", "--register", "sip:fax@127.0.0.1"],
     "--register needs --password"),
    (["sip", "listen", "--bind", "127.0.0.1", "--out", "/nonexistent/dir"], "no such directory"),
])
def test_usage_errors_are_one_line(argv, message):
    r = subprocess.run([*FAXCORE, *argv], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and message in r.stderr
