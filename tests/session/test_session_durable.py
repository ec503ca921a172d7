"""Nothing lost, on disk: a receiving FaxSession writes each page to its TIFF-F (fsync)
before the MCF that confirms it. A real receiver process is killed with SIGKILL right
after the sender (here, in the test process) gets its 2nd MCF: the file then holds
exactly those pages, readable by faxcore, libtiff (tiffinfo) and Pillow. Plus the page
writer itself: appends, a move to a fallback directory, a file removed under it, a
partial ECM page and an append cut short."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.codecs import decode
from faxcore.codecs.tiff import read_tiff
from faxcore.pagestore import TiffPageWriter, partial_path, read_partial
from faxcore.t30 import T30Status, TxPage
from faxcore.t30.engine import RxPage
from faxcore.t30.store import ReceivedBlock
from faxcore.testing.line import run_call
from faxcore.testing.pages import small_page
from faxcore.testing.paths import ROOT
from faxcore.testing.peers import require_tool

HERE = Path(__file__).resolve().parent
TESTS = ROOT / "tests"
BLOCK = 400  # samples per exchange with the receiver process (50 ms)


def text_page(seed: int, rows: int = 120) -> np.ndarray:
    return small_page(seed, rows, blocks=50)

def dense_page(rows: int, seed: int) -> np.ndarray:
    """Codes large: with 64-octet ECM frames (16 KB blocks), several blocks."""
    return (np.random.default_rng(seed).random((rows, 1728)) < 0.04).astype(np.uint8)


def child(out: str, ecm: str) -> None:
    """The receiver process: audio from the sender on stdin, its own on stdout, in
    lock-step blocks; it runs until killed (or the call ends)."""
    s = faxcore.FaxSession(False, receive=out, ecm=ecm == "ecm", modems=("v17",))
    inp, outp = sys.stdin.buffer, sys.stdout.buffer
    while True:
        x = inp.read(2 * BLOCK)
        if len(x) < 2 * BLOCK:
            return
        y = s.tx(BLOCK)
        s.rx(np.frombuffer(x, "<i2"))
        outp.write(y.astype("<i2").tobytes())
        outp.flush()


def send_until(pages, out: Path, *, ecm: bool, stop, sender_opts=None):
    """Run a sending FaxSession here against a receiver process writing ``out``; SIGKILL
    the receiver as soon as ``stop(sender)`` is true (checked after every block the
    sender takes in). Returns the sender."""
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=("v17",), **(sender_opts or {}))
    # the child imports this file, and with it tests/conftest.py
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.Popen([sys.executable, __file__, "child", str(out),
                             "ecm" if ecm else "no-ecm"], cwd=HERE, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        n = 0
        while True:
            proc.stdin.write(a.tx(BLOCK).astype("<i2").tobytes())
            proc.stdin.flush()
            y = proc.stdout.read(2 * BLOCK)
            assert len(y) == 2 * BLOCK, "the receiver process stopped"
            a.rx(np.frombuffer(y, "<i2"))
            n += BLOCK
            if stop(a):
                break
            assert not a.done and n < 300 * 8000, a.result.summary()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return a


def assert_tiff_holds(out: Path, pages) -> None:
    """Our reader, libtiff (tiffinfo) and Pillow all see exactly ``pages``."""
    got = read_tiff(out)
    assert len(got) == len(pages)
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g.bitmap, p)
    info = subprocess.run([require_tool("tiffinfo"), str(out)], capture_output=True,
                          text=True)
    assert info.returncode == 0 and "Error" not in info.stderr, info.stderr
    assert info.stdout.count("TIFF Directory at offset") == len(pages)
    with Image.open(out) as im:
        assert im.n_frames == len(pages)
        for i, p in enumerate(pages):
            im.seek(i)
            assert np.array_equal((np.asarray(im.convert("1")) == 0).astype(np.uint8), p)


@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
def test_receiver_killed_after_second_mcf_has_both_pages_on_disk(ecm, tmp_path):
    """Three pages; the receiver process is killed right after the sender's 2nd MCF
    (pages_sent becomes 2: the sender knows two pages were delivered). The TIFF-F on
    disk holds exactly those two. (Before: nothing at all, the file was written at
    hang-up.)"""
    sent = [text_page(s) for s in (1, 2, 3)]
    out = tmp_path / "rx.tif"
    a = send_until([TxPage(p) for p in sent], out, ecm=ecm,
                   stop=lambda a: a.result.pages_sent >= 2)
    assert a.result.pages_sent == 2
    assert [e.name for e in a.result.trace if e.direction == "rx"].count("MCF") == 2
    assert_tiff_holds(out, sent[:2])
    assert not partial_path(out).exists()


def test_receiver_killed_mid_ecm_page_has_its_confirmed_block_on_disk(tmp_path):
    """Page 2 takes several ECM blocks; the receiver is killed right after the sender
    gets the MCF to the first PPS-NULL of page 2. The TIFF-F holds page 1; the partial
    page beside it holds the confirmed block, which decodes to page 2's first rows."""
    sent = [text_page(4), dense_page(400, 5)]
    out = tmp_path / "rx.tif"

    def block_confirmed(a) -> bool:
        t = a.result.trace
        return any(p.name == "PPS-NULL" and q.name == "MCF" and q.direction == "rx"
                   for p, q in zip(t, t[1:], strict=False))

    a = send_until([TxPage(p) for p in sent], out, ecm=True, stop=block_confirmed,
                   sender_opts=dict(ecm_frame_size=64))
    assert a.result.pages_sent == 1
    assert_tiff_holds(out, sent[:1])
    part = read_partial(out)
    assert part is not None and (part.page, part.blocks) == (1, 1)
    assert len(part.data) == 256 * 64  # one whole block of 256 frames of 64 octets
    assert 0 < part.rows < 400
    whole = part.rows - 1  # the block may end inside a row
    assert whole > 50 and np.array_equal(part.bitmap[:whole], sent[1][:whole])


# ---- the writer ------------------------------------------------------------------------

def rxpage(bitmap, **kw) -> RxPage:
    return RxPage(bitmap, "fine", "mmr", bitmap.shape[1], bitmap.shape[0], 0, True, **kw)


def test_writer_appends_page_by_page(tmp_path):
    out = tmp_path / "rx.tif"
    out.write_bytes(b"an older file")
    w = TiffPageWriter(out)
    pages = [text_page(s, 60 + 10 * s) for s in range(4)]
    for i, p in enumerate(pages):
        w.store_page(rxpage(p))
        got = read_tiff(out)  # readable, complete, after every page
        assert [g.page_number for g in got] == list(range(i + 1))
    w.close()
    assert_tiff_holds(out, pages)
    info = subprocess.run(["tiffinfo", str(out)], capture_output=True, text=True).stdout
    assert info.count("Page Number: ") == 4 and "Page Number: 3-4" in info


def test_writer_without_pages_leaves_an_existing_file_alone(tmp_path):
    out = tmp_path / "rx.tif"
    out.write_bytes(b"keep me")
    w = TiffPageWriter(out)
    w.close()
    assert out.read_bytes() == b"keep me"


def test_append_cut_short_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    """A crash between writing a page and linking it in: the file still reads as the
    pages before it (the new page's octets are unreachable)."""
    import faxcore.pagestore as ps

    out = tmp_path / "rx.tif"
    w = TiffPageWriter(out)
    pages = [text_page(7), text_page(8)]
    w.store_page(rxpage(pages[0]))
    before = out.stat().st_size
    real = ps.write_all

    def crash_on_link(fd, data, offset):
        if len(data) == 4:
            raise KeyboardInterrupt  # stands for the process dying here
        real(fd, data, offset)

    monkeypatch.setattr(ps, "write_all", crash_on_link)
    with pytest.raises(KeyboardInterrupt):
        w.store_page(rxpage(pages[1]))
    assert out.stat().st_size > before  # page 2 is in the file, not linked in
    assert_tiff_holds(out, pages[:1])


def test_writer_moves_to_a_fallback_directory_when_its_directory_goes(tmp_path):
    """The output directory is removed after page 1: page 2 cannot be appended. The
    writer rewrites page 1 and writes page 2 in the fallback directory (the first that
    works) and says why; the call could go on."""
    d = tmp_path / "out"
    d.mkdir()
    fall = tmp_path / "rescue"
    (tmp_path / "a-file").write_text("not a directory")
    w = TiffPageWriter(d / "rx.tif", fallback_dirs=[tmp_path / "a-file" / "sub", fall])
    pages = [text_page(9), text_page(10), text_page(11)]
    w.store_page(rxpage(pages[0]))
    shutil.rmtree(d)
    w.store_page(rxpage(pages[1]))
    assert w.error.startswith(f"cannot write {d / 'rx.tif'}: ")
    assert w.path.parent == fall and w.path.name.startswith("rx-") and w.path.suffix == ".tif"
    w.store_page(rxpage(pages[2]))
    w.close()
    assert_tiff_holds(w.path, pages)


def test_writer_without_fallback_raises(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    w = TiffPageWriter(d / "rx.tif")
    w.store_page(rxpage(text_page(12)))
    shutil.rmtree(d)
    with pytest.raises(OSError):
        w.store_page(rxpage(text_page(13)))


def test_file_removed_after_the_last_page_is_rescued_at_close(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    w = TiffPageWriter(d / "rx.tif", fallback_dirs=[tmp_path / "rescue"])
    pages = [text_page(14), text_page(15)]
    for p in pages:
        w.store_page(rxpage(p))
    (d / "rx.tif").unlink()
    w.close()
    assert w.error and w.path.parent == tmp_path / "rescue"
    assert_tiff_holds(w.path, pages)


def test_partial_page_is_kept_block_by_block_and_goes_once_the_page_is_stored(tmp_path):
    from faxcore.codecs import encode

    page = dense_page(300, 16)
    coded = bytes(encode(page, "mmr", lsb_first=True, end_marker=True))
    out = tmp_path / "rx.tif"
    w = TiffPageWriter(out)
    w.store_page(rxpage(text_page(17)))
    for b in range(2):
        w.store_block(ReceivedBlock(1, b, coded[b * 16384:(b + 1) * 16384], "mmr", 1728,
                                    "fine"))
        part = read_partial(out)
        assert (part.page, part.blocks, part.data) == (1, b + 1, coded[:(b + 1) * 16384])
        ref = decode(part.data, "mmr", 1728, lsb_first=True)
        assert part.rows == ref.rows and np.array_equal(part.bitmap, page[:part.rows])
    w.store_page(rxpage(page))
    assert not partial_path(out).exists() and read_partial(out) is None
    w.close()
    assert_tiff_holds(out, [text_page(17), page])


def test_stale_partial_page_is_ignored(tmp_path):
    """Killed between storing the page and removing its partial file: the partial file
    is stale (its page is in the TIFF-F) and read_partial says there is none."""
    out = tmp_path / "rx.tif"
    w = TiffPageWriter(out)
    w.store_block(ReceivedBlock(0, 0, b"\x00" * 64, "mmr", 1728, "fine"))
    saved = partial_path(out).read_bytes()
    w.store_page(rxpage(text_page(18)))
    partial_path(out).write_bytes(saved)
    assert read_partial(out) is None


# ---- the session -----------------------------------------------------------------------

def remove_after_first_page(b, d: Path):
    """A ``watch`` for run_call: the directory ``d`` vanishes once ``b`` has a page."""
    def watch(n: int) -> None:
        if len(b.engine.received_pages) == 1 and d.exists():
            shutil.rmtree(d)

    return watch


def test_session_goes_on_in_the_fallback_directory(tmp_path):
    """FaxSession(receive=PATH, fallback_dirs=...): the output directory vanishes after
    page 1; the call still ends OK and every page is in the fallback file."""
    d = tmp_path / "out"
    d.mkdir()
    sent = [text_page(s, 80) for s in (19, 20)]
    a = faxcore.FaxSession(True, send=[TxPage(p) for p in sent], modems=("v17",))
    b = faxcore.FaxSession(False, receive=d / "rx.tif", modems=("v17",),
                           fallback_dirs=[tmp_path / "rescue"])
    run_call(a, b, max_seconds=200, watch=remove_after_first_page(b, d))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    assert b.store_error and b.received_path.parent == tmp_path / "rescue"
    assert_tiff_holds(b.received_path, sent)


def test_session_without_fallback_refuses_the_page_it_cannot_store(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    sent = [text_page(s, 80) for s in (21, 22)]
    a = faxcore.FaxSession(True, send=[TxPage(p) for p in sent], modems=("v17",))
    b = faxcore.FaxSession(False, receive=d / "rx.tif", modems=("v17",))
    run_call(a, b, max_seconds=200, watch=remove_after_first_page(b, d))
    assert b.result.status == T30Status.FILEERROR
    assert a.result.pages_sent == 1 and not a.result.ok


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    child(*sys.argv[2:4])
