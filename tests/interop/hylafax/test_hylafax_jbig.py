"""T.85 (JBIG) on the line with HylaFAX, both ways, through faxcore's emulated Class 1 modem.

HylaFAX 6.0.7 (Debian ``hylafax-server``, built with libjbig and a libtiff with JBIG)
with ``Class1JBIGSupport: full`` offers T.85 in its DIS (bits 78 and 79) and, sending,
re-codes the document faxq prepared into a T.85 BIE with libjbig (``ModemSoftRTFCC``,
on by default: ``jbg_enc_options(order 0, options 0, L0 128, MX 0)``); receiving, it
stores the BIE as it arrived in a JBIG TIFF (Compression 34661). The faxcore station
offers T.85 with ``jbig=True`` (ECM). Evidence that T.85 was used: the DCS in HylaFAX's
session log (its octets are logged bit-reversed: bit 78 is 0x04 of the tenth FIF octet),
faxcore's result, and the received TIFF's compression.

The line order of a BIE: each octet goes as it is, LSB first like every octet on the
line (HylaFAX frames libjbig's octets exactly as MH data whose first bit is the octet's
LSB, and reads received blocks the same way; spandsp puts t85_encode's octets straight
into ECM frames). faxcore used to bit-reverse the BIE octets (each went MSB first):
faxcore read its own pages, but HylaFAX's pages were refused ("not T.85: P=128") and
faxcore's BIH was garbage to HylaFAX. The first tests pin the order without HylaFAX,
against jbigkit (the library HylaFAX uses); they fail on that old code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from faxcore.cli import main as cli_main
from faxcore.codecs.pbm import pbm_bytes, read_pbm
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.pagestore import TiffPageWriter, read_partial
from faxcore.session import FaxSession
from faxcore.t30.config import T30Config
from faxcore.t30.dis import DCSParams, bits_from_fif
from faxcore.t30.engine import TxPage
from faxcore.t30.modem_if import V17_14400
from faxcore.t30.pages import encode_page, judge_page
from faxcore.t30.store import ReceivedBlock
from faxcore.testing import hylafax
from faxcore.testing.pages import dithered_photo, pbm_page
from faxcore.testing.peers import missing, require_shared, require_tool

B_T85 = 78


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    """An ITU chart (text and drawings, full A4 at fine resolution) and a dithered
    photo (500 rows: about 74 KB of JBIG, 41 s of V.17, two ECM blocks of 64 KB)."""
    return [pbm_page(require_shared("testdata/itu/itu1.pbm")), dithered_photo(500)]


# ---- the line order of the BIE octets (jbigkit, no HylaFAX) ----------------------------

JBIG_DCS = DCSParams(modulation=V17_14400, resolution="fine", scheme="jbig", ecm=True)
CFG = T30Config(calling=False, jbig=True)


def hylafax_bie(tmp_path: Path, page: np.ndarray) -> bytes:
    """The BIE HylaFAX's faxsend makes of ``page`` with libjbig (MemoryDecoder::
    convertDataFormat): jbg_enc_options(order 0, options 0, L0 128, MX 0, MY 0), which
    is ``pbmtojbg85 -s 128 -m 0 -p 0``. HylaFAX puts these octets on the line as they are."""
    src, dst = tmp_path / "page.pbm", tmp_path / "page.jbg"
    src.write_bytes(pbm_bytes([page]))
    subprocess.run([require_tool("pbmtojbg85"), "-s", "128", "-m", "0", "-p", "0",
                    str(src), str(dst)], check=True, capture_output=True)
    return dst.read_bytes()


def test_bie_from_the_line_as_hylafax_sends_it_is_decoded(tmp_path, pages):
    """The old code read the BIH reversed (P = 128: not T.85) and answered RTN."""
    for page in pages:
        rx = judge_page(hylafax_bie(tmp_path, page), JBIG_DCS, CFG)
        assert rx.error is None and rx.quality == "MCF", rx.error
        assert np.array_equal(rx.bitmap, page)


def test_bie_faxcore_puts_on_the_line_is_the_bie(tmp_path, pages):
    """The octets faxcore sends are a BIE as they are: jbigkit decodes them unchanged
    (the old code's were bit-reversed: jbgtopbm85 refused them)."""
    page = pages[1]
    line = encode_page(TxPage(page, "fine"), JBIG_DCS, CFG)
    # BIH: DL 0, D 0, P 1, then XD = 1728 and YD = 500, MSB first (T.82 6.2)
    assert line[:12] == bytes([0, 0, 1, 0]) + (1728).to_bytes(4, "big") + \
        (500).to_bytes(4, "big")
    src, dst = tmp_path / "line.jbg", tmp_path / "line.pbm"
    src.write_bytes(line)
    subprocess.run([require_tool("jbgtopbm85"), str(src), str(dst)], check=True,
                   capture_output=True)
    assert np.array_equal(read_pbm(dst.read_bytes())[0].astype(np.uint8), page)


def test_partial_jbig_page_is_read_back_from_line_octets(tmp_path, pages):
    """A receiver stopped mid-page keeps the ECM blocks (line octets); read_partial
    decodes a JBIG one (the old code reversed them first: nothing decoded)."""
    page = pages[0]
    line = hylafax_bie(tmp_path, page)
    out = tmp_path / "rx.tif"
    w = TiffPageWriter(out)
    w.store_block(ReceivedBlock(0, 0, line[:len(line) // 2], "jbig", 1728, "fine"))
    part = read_partial(out)
    assert part is not None and part.scheme == "jbig" and part.rows > 100
    assert np.array_equal(part.bitmap, page[:part.rows])
    w.close()


# ---- calls with HylaFAX ----------------------------------------------------------------

@pytest.fixture(scope="module")
def rig():
    why = hylafax.missing()
    if why:
        missing(f"HylaFAX: {why}")
    with hylafax.Rig(modem_settings={"Class1JBIGSupport": "full"}) as r:
        yield r


def hylafax_dcs_bits(logs: str, direction: str) -> set[int]:
    """The DCS bits in a HylaFAX session log: ``direction`` "<--" (HylaFAX sent it) or
    "-->" (HylaFAX received it). HylaFAX logs each octet bit-reversed (bit 1 is 0x80)."""
    dcs = [line for line in logs.splitlines()
           if f"{direction} HDLC<" in line and ":FF C8 C1 " in line]
    assert len(dcs) == 1, dcs
    octets = dcs[0].split(":FF C8 C1 ", 1)[1].rstrip(">").split()
    if direction == "-->":
        octets = octets[:-2]  # a received frame is logged with its FCS
    fif = bytes(int(f"{int(o, 16):08b}"[::-1], 2) for o in octets)
    return bits_from_fif(fif)


def tiff_pages_libtiff(path: Path, tmp_path: Path) -> list[np.ndarray]:
    """A TIFF's pages decoded by libtiff: ``tiffcp -c none`` (its JBIG codec, libjbig),
    then read by Pillow."""
    plain = tmp_path / "plain.tif"
    subprocess.run([require_tool("tiffcp"), "-c", "none", str(path), str(plain)],
                   check=True, capture_output=True)
    with Image.open(plain) as im:
        return [(np.asarray(f.convert("L")) < 128).astype(np.uint8)
                for f in ImageSequence.Iterator(im)]


# The default cases run the line as fast as the CPU allows; the slow ones at real-time
# pace (data_speed 1, about 60 s of page data each way), so that HylaFAX's own timers
# run against the real length of each 64 KB JBIG block.
PACE = [pytest.param(None, id="fast"), pytest.param(1.0, id="line-pace",
                                                    marks=pytest.mark.slow)]


@pytest.mark.parametrize("speed", PACE)
def test_hylafax_sends_jbig_to_faxcore(rig, tmp_path, pages, speed):
    src = tmp_path / "doc.tif"
    write_tiff(src, [Page(bm) for bm in pages], "mh")
    src.chmod(0o644)
    before = len(rig.stations)
    old_logs = rig.hf.session_log_names()
    rig.emu.data_speed = speed
    rig.far_end = lambda dialled: FaxSession(False, receive=lambda p: None, jbig=True,
                                             modems=("v17",))
    number = f"555{before:04d}"  # new to faxq (it remembers what a number could do)
    job = rig.hf.sendfax([src], number, extra=["-m"])  # -m: fine, as the pages
    q = rig.hf.wait_job(job, 400)
    logs = rig.hf.session_logs(exclude=old_logs)
    assert rig.emu.error is None, rig.emu.error
    assert len(rig.stations) == before + 1, "faxsend did not dial"
    assert int(q["state"]) == hylafax.JOB_DONE, f"job {job}: {q.get('status')}\n{logs[-6000:]}"
    station = rig.stations[-1]
    r = station.result
    assert int(r.status) == 0, r.summary()
    # T.85 was used: HylaFAX's DCS has bit 78, faxcore received JBIG pages
    assert "USE JBIG" in logs and q["dataformat"] == "JBIG"
    assert "SEND send NULL (more blocks, same page)" in logs  # the photo: two blocks
    assert B_T85 in hylafax_dcs_bits(logs, "<--")
    assert r.ecm and " jbig " in r.summary()
    got = station.engine.received_pages
    assert [p.scheme for p in got] == ["jbig", "jbig"]
    assert [(p.bad_rows, p.quality) for p in got] == [(0, "MCF")] * 2
    assert len(station.pages) == len(pages)
    for i, (g, sent) in enumerate(zip(station.pages, pages, strict=True)):
        assert g.shape == sent.shape and np.array_equal(g, sent), f"page {i + 1} differs"
    rig.hf.wait_idle(rig.dev)


@pytest.mark.parametrize("speed", PACE)
def test_faxcore_sends_jbig_to_faxgetty(rig, tmp_path, pages, speed):
    before = len(rig.hf.received())
    old_logs = rig.hf.session_log_names()
    rig.emu.data_speed = speed
    rig.far_end = lambda dialled: FaxSession(True, send=[TxPage(bm, "fine") for bm in pages],
                                             jbig=True, modems=("v17",))
    rig.ring()
    files = rig.hf.wait_received(before + 1, 400)
    logs = rig.hf.session_logs(exclude=old_logs)
    assert rig.emu.error is None, rig.emu.error
    station = rig.stations[-1]
    r = station.result
    assert r is not None and int(r.status) == 0, (
        f"{r.summary() if r else 'no result'}\n{logs[-6000:]}")
    assert r.pages_sent == len(pages) and r.ecm and " jbig " in r.summary()
    # T.85 was used: the DCS HylaFAX received has bit 78, it stored JBIG
    assert B_T85 in hylafax_dcs_bits(logs, "-->") and "REMOTE wants JBIG" in logs
    assert logs.count("7.7 line/mm, JBIG, 14400 bit/s") == len(pages)
    assert "frames of block 2 of page 2" in logs  # the photo: two blocks
    assert "--> [5:ERROR]" not in logs and "send CRP" not in logs
    tif = files[-1]
    out = subprocess.run([require_tool("tiffinfo"), "-s", str(tif)], capture_output=True,
                         text=True, check=True).stdout
    assert out.count("Compression Scheme: ISO JBIG") == len(pages), out
    # HylaFAX stored each BIE as it arrived: its L0 is 128 (T.85's basic value) unless
    # the DCS has bit 79 (optional L0), which HylaFAX's DIS offers
    l0_ok = 79 in hylafax_dcs_bits(logs, "-->")
    strips = [tuple(map(int, m)) for m in re.findall(r"0: \[\s*(\d+),\s*(\d+)\]", out)]
    assert len(strips) == len(pages), out
    raw = tif.read_bytes()
    for (offset, _n), sent in zip(strips, pages, strict=True):
        bih = raw[offset:offset + 20]
        assert bih[:4] == bytes([0, 0, 1, 0]) and int.from_bytes(bih[8:12], "big") == \
            sent.shape[0], bih.hex()
        l0 = int.from_bytes(bih[12:16], "big")
        assert l0 == 128 or (l0_ok and 1 <= l0 <= sent.shape[0]), (l0, l0_ok)
    # the pages, decoded by libtiff (libjbig) and by faxcore's TIFF reader
    for decoded in (tiff_pages_libtiff(tif, tmp_path),
                    [p.bitmap for p in read_tiff(tif)]):
        assert len(decoded) == len(pages)
        for i, (g, sent) in enumerate(zip(decoded, pages, strict=True)):
            assert g.shape == sent.shape and np.array_equal(g, sent), f"page {i + 1} differs"
    rig.hf.wait_idle(rig.dev)


def test_cli_emulate_jbig_receives_jbig_from_hylafax(tmp_path, pages, capsys):
    """`faxcore modem emulate --jbig`: what a user runs to try HylaFAX's JBIG by hand.
    HylaFAX (Class1JBIGSupport: full) dials the emulator, whose faxcore station offers
    T.85 with --jbig (without it, MMR: the old emulator had no way to offer JBIG)."""
    why = hylafax.missing()
    if why:
        missing(f"HylaFAX: {why}")
    root = Path(tempfile.mkdtemp(prefix="faxcore-hylafax-cli-"))
    root.chmod(0o755)  # the daemons run as the fax user
    link, out = tmp_path / "pty", tmp_path / "rx-%d.tif"
    result: dict[str, object] = {}

    def serve() -> None:
        try:
            result["rc"] = cli_main(["modem", "emulate", "--jbig", "--calls", "1", "--speed",
                                     "0", "--out", str(out), "--link", str(link)])
        except BaseException as e:  # reported below
            result["exc"] = e

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        for _ in range(500):
            if link.exists() and link.read_text().strip():
                break
            time.sleep(0.02)
        src = root / "doc.tif"
        write_tiff(src, [Page(bm) for bm in pages], "mh")
        src.chmod(0o644)
        with hylafax.HylaFax(root / "spool") as hf:
            dev = hf.add_modem(link.read_text().strip(), Class1JBIGSupport="full")
            hf.start_faxq()
            hf.start_hfaxd()
            hf.start_faxgetty(dev)
            old_logs = hf.session_log_names()
            job = hf.sendfax([src], "5550100", extra=["-m"])
            q = hf.wait_job(job, 240)
            logs = hf.session_logs(exclude=old_logs)
            assert int(q["state"]) == hylafax.JOB_DONE, f"{q.get('status')}\n{logs[-6000:]}"
            assert B_T85 in hylafax_dcs_bits(logs, "<--") and q["dataformat"] == "JBIG"
            th.join(60)  # the emulator stops once faxgetty is quiet after the call
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert not th.is_alive(), "the emulator did not stop after its call"
    assert "exc" not in result and result["rc"] == 0, result
    assert "ECM jbig fine" in capsys.readouterr().out  # the emulator's call summary
    got = [p.bitmap for p in read_tiff(tmp_path / "rx-1.tif")]
    assert len(got) == len(pages)
    for i, (g, sent) in enumerate(zip(got, pages, strict=True)):
        assert g.shape == sent.shape and np.array_equal(g, sent), f"page {i + 1} differs"


@pytest.mark.parametrize("support,hylafax_sends", [("send", False), ("receive", True)],
                         ids=["send-only-receives", "receive-only-sends"])
def test_one_way_jbig_support_falls_back_to_mmr(tmp_path, pages, support, hylafax_sends):
    """Class1JBIGSupport ``send``: faxgetty's DIS lacks T.85, so faxcore (jbig=True)
    sends MMR; ``receive``: faxsend does not code JBIG, so HylaFAX sends MMR although
    faxcore's DIS offers T.85. Pages equal either way."""
    why = hylafax.missing()
    if why:
        missing(f"HylaFAX: {why}")
    with hylafax.Rig(modem_settings={"Class1JBIGSupport": support}) as rig:
        old_logs = rig.hf.session_log_names()
        if hylafax_sends:
            src = tmp_path / "doc.tif"
            write_tiff(src, [Page(bm) for bm in pages], "mh")
            src.chmod(0o644)
            rig.far_end = lambda dialled: FaxSession(False, receive=lambda p: None,
                                                     jbig=True, modems=("v17",))
            q = rig.hf.wait_job(rig.hf.sendfax([src], "5550200", extra=["-m"]), 240)
            assert int(q["state"]) == hylafax.JOB_DONE, q.get("status")
            assert q["dataformat"] == "2-D MMR"
            got = rig.stations[-1].pages
        else:
            rig.far_end = lambda dialled: FaxSession(
                True, send=[TxPage(bm, "fine") for bm in pages], jbig=True, modems=("v17",))
            rig.ring()
            got = tiff_pages_libtiff(rig.hf.wait_received(1, 240)[-1], tmp_path)
        logs = rig.hf.session_logs(exclude=old_logs)
        r = rig.stations[-1].result
        assert r is not None and int(r.status) == 0, r.summary() if r else logs[-6000:]
        assert " mmr " in r.summary()
        assert B_T85 not in hylafax_dcs_bits(logs, "<--" if hylafax_sends else "-->")
        assert len(got) == len(pages)
        for i, (g, sent) in enumerate(zip(got, pages, strict=True)):
            assert g.shape == sent.shape and np.array_equal(g, sent), f"page {i + 1} differs"
