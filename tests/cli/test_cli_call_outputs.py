"""``faxcore call`` and ``faxcore demo`` never lose the fax to an output that cannot be
written: a bad ``--out``/``--wav`` is refused before the call (one line, exit 1, no
call); a write that fails during or after the call keeps the output in a rescue
directory, says where in one line, and exits 1."""

from __future__ import annotations

import errno
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

import faxcore.cli.call as call_mod
import faxcore.pagestore as pagestore
from faxcore.cli import main
from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.testing.pages import small_page


def pages_file(tmp_path: Path, n: int = 2) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(5)
    pages = [small_page(rng, 120, blocks=40) for _ in range(n)]
    src = tmp_path / "send.tif"
    write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
    return src, pages


@pytest.fixture
def rescue_home(tmp_path, monkeypatch) -> Path:
    """The user's data directory (XDG_DATA_HOME), where rescued output goes first."""
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "faxcore" / "rescued"


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- checked before the call ----------------------------------------------------------

@pytest.mark.parametrize("option", ["--out", "--wav"])
def test_output_in_a_missing_directory_is_refused_before_the_call(option, tmp_path, capsys,
                                                                   monkeypatch):
    src, _ = pages_file(tmp_path, 1)
    played = []
    monkeypatch.setattr(call_mod, "play_call", lambda *a, **k: played.append(1))
    args = ["call", "--loopback", str(src), "--out", str(tmp_path / "rx.tif")]
    args += [option, "/missing/dir/x" + (".tif" if option == "--out" else ".wav")]
    assert main(args) == 1
    got = capsys.readouterr()
    assert error_line(got.err) == (f"faxcore call: error: cannot write {option} /missing/dir/"
                                   f"x{'.tif' if option == '--out' else '.wav'}: no such "
                                   "directory /missing/dir")
    assert played == [] and got.out == ""


def test_output_that_is_a_directory_is_refused(tmp_path, capsys):
    src, _ = pages_file(tmp_path, 1)
    assert main(["call", "--loopback", str(src), "--out", str(tmp_path)]) == 1
    assert "it is a directory" in error_line(capsys.readouterr().err)


# ---- failing during or after the call ----------------------------------------------------

def play_after(action):
    """Make ``action()`` happen once the stations exist, just as the call starts."""
    real = call_mod.play_call

    def play(*a, **k):
        action()
        return real(*a, **k)

    return play


def test_out_directory_removed_during_the_call_keeps_the_fax(tmp_path, capsys, monkeypatch,
                                                             rescue_home):
    src, sent = pages_file(tmp_path)
    d = tmp_path / "out"
    d.mkdir()
    monkeypatch.setattr(call_mod, "play_call", play_after(lambda: shutil.rmtree(d)))
    code = main(["call", "--loopback", str(src), "--out", str(d / "rx.tif")])
    got = capsys.readouterr()
    assert code == 1
    line = error_line(got.err)
    (kept,) = rescue_home.glob("rx-*.tif")
    assert line == (f"faxcore call: error: cannot write {d / 'rx.tif'}: No such file or "
                    f"directory; the received fax was kept in {kept}")
    assert "answerer: status OK" in got.out  # the call itself went well
    assert f"received pages written to {kept}" in got.out
    assert [p.bitmap.tolist() for p in read_tiff(kept)] == [p.tolist() for p in sent]


def test_disk_full_during_the_call_keeps_the_fax(tmp_path, capsys, monkeypatch, rescue_home):
    src, sent = pages_file(tmp_path)
    d = tmp_path / "out"
    d.mkdir()
    real = pagestore.write_durably

    def full(path, data):
        if Path(path).parent == d:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(pagestore, "write_durably", full)
    assert main(["call", "--loopback", str(src), "--out", str(d / "rx.tif")]) == 1
    line = error_line(capsys.readouterr().err)
    (kept,) = rescue_home.glob("rx-*.tif")
    assert "No space left on device; the received fax was kept in " + str(kept) in line
    assert len(read_tiff(kept)) == 2 and not (d / "rx.tif").exists()


def test_nowhere_to_write_is_said_plainly(tmp_path, capsys, monkeypatch):
    """Neither the output nor any rescue directory can be written: the receiver does not
    confirm the page (FILEERROR), and the command says the pages could not be written."""
    src, _ = pages_file(tmp_path)
    d = tmp_path / "out"
    d.mkdir()
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(call_mod, "rescue_dirs", lambda: [tmp_path / "file" / "rescued"])
    monkeypatch.setattr(call_mod, "play_call", play_after(lambda: shutil.rmtree(d)))
    assert main(["call", "--loopback", str(src), "--out", str(d / "rx.tif")]) == 1
    got = capsys.readouterr()
    assert "answerer: status FILEERROR" in got.out
    assert "received pages could not be written anywhere: page 1 could not be stored" \
        in error_line(got.err)


def test_wav_directory_removed_during_the_call_keeps_the_recording(tmp_path, capsys,
                                                                   monkeypatch, rescue_home):
    src, sent = pages_file(tmp_path, 1)
    d = tmp_path / "rec"
    d.mkdir()
    monkeypatch.setattr(call_mod, "play_call", play_after(lambda: shutil.rmtree(d)))
    out = tmp_path / "rx.tif"
    assert main(["call", "--loopback", str(src), "--out", str(out),
                 "--wav", str(d / "line.wav")]) == 1
    line = error_line(capsys.readouterr().err)
    (kept,) = rescue_home.glob("line-*.wav")
    assert line.endswith(f"the line recording was kept in {kept}")
    with wave.open(str(kept)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 8000 * 5
    assert np.array_equal(read_tiff(out)[0].bitmap, sent[0])


# ---- the demo -------------------------------------------------------------------------

def test_demo_output_directory_removed_during_the_call(tmp_path, capsys, monkeypatch,
                                                       rescue_home):
    out = tmp_path / "demo"
    monkeypatch.setattr(call_mod, "play_call", play_after(lambda: shutil.rmtree(out)))
    assert main(["demo", "--out", str(out)]) == 1
    got = capsys.readouterr()
    line = error_line(got.err)
    (tif,) = rescue_home.glob("received-*.tif")
    (kept,) = rescue_home.glob("demo-*")
    assert f"the received fax was kept in {tif}" in line
    assert f"the report and previews were kept in {kept}" in line
    assert (kept / "report.txt").read_text().startswith("faxcore demo: call report")
    assert (kept / "page-1.png").exists() and len(read_tiff(tif)) == 1
    assert "[4/4] checked" in got.out  # the pages were still checked, from the rescue


def test_demo_output_that_cannot_be_created_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["demo", "--out", str(tmp_path / "file" / "demo")]) == 1
    assert "cannot create" in error_line(capsys.readouterr().err)
