"""Options, exit statuses and call output found lacking by a new user (field issue).

* options without help or without their default; no ``faxcore --version``;
* "errors are one line and exit status 1": argparse printed a usage block, some errors a
  traceback. Now: usage errors are one line, exit status 2 (the Unix convention); every
  other error one line, exit status 1 (3: ``jobs submit`` recorded a refused job);
* ``call`` required ``--loopback``, which changes nothing;
* three progress formats for the same call; the trace's time column unexplained;
* ``call`` refused a 16-bit grey TIFF that ``convert`` took (fixed by the one loader).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faxcore
from faxcore.cli import iter_options, main
from faxcore.codecs.tiff import read_tiff

PKG_ROOT = Path(faxcore.__file__).resolve().parent.parent
# Commands of this area; ``modem`` and ``conformance`` are checked by their owners.
OURS = ("demo", "convert", "info", "call", "account", "jobs")


def test_every_option_has_help_and_states_its_default():
    problems = []
    for o in iter_options():
        if len(o.command) > 1 and o.command[1] not in OURS:
            continue
        name = " ".join(o.command) + " " + o.name
        if not o.help:
            problems.append(f"{name}: no help")
        elif not (o.flag or o.required or o.default in (None, False, "", [])) \
                and "default" not in o.help.lower():
            problems.append(f"{name}: default {o.default!r} not stated")
    assert problems == []


def test_iter_options_lists_every_command_and_option():
    """iter_options walks the sub-commands: a few options of the help test are there,
    with what they say."""
    got = {(" ".join(o.command), o.name): o for o in iter_options()}
    assert got[("faxcore", "--verbose")].flag
    plan = got[("faxcore account create", "--plan")]
    assert not plan.flag and plan.default == "plus" and "default: plus" in plan.help
    assert not got[("faxcore call", "--loopback")].required
    assert ("faxcore", "--help") not in got and ("faxcore", "--version") not in got


@pytest.mark.parametrize("argv,words", [
    (["account", "create"], ["--plan", "default: plus", "--credit-limit", "default: 50.00",
                             "--billing-day", "default: 1", "--name"]),
    (["account", "pay"], ["DOLLARS", "12.50", "--reference", "unique"]),
    (["jobs", "submit"], ["--pages", "counted from --document", "--to", "15 digits"]),
    (["call"], ["--loopback", "default and only mode"]),
])
def test_help_of_the_options_named_in_the_issue(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for w in words:
        assert w in text, w


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"faxcore {faxcore.__version__}\n"


# ---- exit statuses and one-line errors, in a subprocess (what a shell sees) -------------

def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PKG_ROOT), HOME=str(cwd),
               XDG_DATA_HOME=str(cwd / "data"))
    env.pop("FAXCORE_DB", None)
    return subprocess.run([sys.executable, "-m", "faxcore", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


USAGE_ERRORS = [
    [], ["nosuchcommand"], ["--nosuchoption"], ["demo", "--nosuch"],
    ["convert"], ["convert", "a.png", "b.tif", "--scheme", "zip"],
    ["convert", "a.g3", "b.pbm", "--width", "0"], ["convert", "a.g3", "b.pbm", "--width", "x"],
    ["info", "a.g3", "--page-rows", "-5"], ["info", "a.tif", "--page-size", "a4"],
    ["call"], ["call", "a.tif", "--modem", "v99"], ["call", "a.tif", "--snr", "loud"],
    ["account"], ["account", "show"], ["account", "show", "one"],
    ["account", "create", "--plan", "gold"], ["account", "create", "--billing-day", "x"],
    ["account", "pay", "1", "5.00"], ["account", "charge", "1"],
    ["jobs", "submit", "1"], ["jobs", "list", "--limit", "0"], ["jobs", "cancel"],
    ["conformance"], ["modem"], ["modem", "send", "--dial", "1", "f.tif"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a) or "(none)")
def test_usage_errors_are_one_line_exit_2(tmp_path, argv):
    r = run(*argv, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert re.fullmatch(r"faxcore( [a-z0-9]+)*: error: .+ \(faxcore( [a-z0-9]+)* --help "
                        r"lists the options\)", line), line
    assert list(tmp_path.iterdir()) == []                    # and nothing was made


RUNTIME_ERRORS = [
    ["convert", "missing.png", "o.tif"], ["convert", "doc.png", "o.xyz"],
    ["convert", "doc.png", "nodir/o.tif"], ["info", "missing.tif"], ["info", "junk.bin"],
    ["info", "junk.g4"], ["call", "missing.tif"], ["call", "doc.png", "--out", "nodir/rx.tif"],
    ["call", "doc.png", "--sub", "\u00e9t\u00e9"], ["call", "doc.png", "--peer-sends"],
    ["demo", "missing.pdf"], ["demo", "--out", "doc.png"],
    ["account", "show", "1"], ["account", "list", "--db", "mysql://x/y"],
    ["account", "create", "--db", "nodir/x.db"], ["account", "create", "--now", "soon"],
    ["account", "create", "--billing-day", "40"], ["account", "create", "--credit-limit", "-1"],
    ["jobs", "show", "99999999999999999999999"], ["jobs", "submit", "1", "--to", "x"],
    ["conformance", "tsb85", "missing.xml"],
    ["modem", "send", "--device", "/nonexistent/tty", "--dial", "1", "doc.png"],
]


@pytest.mark.parametrize("argv", RUNTIME_ERRORS, ids=lambda a: " ".join(a))
def test_errors_are_one_line_exit_1(tmp_path, argv):
    Image.new("L", (120, 80), 255).save(tmp_path / "doc.png")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01junk" * 50)
    (tmp_path / "junk.g4").write_bytes(np.random.default_rng(1).integers(0, 256, 2000,
                                                                           np.uint8).tobytes())
    r = run(*argv, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if " error: " in line]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert re.match(r"faxcore [a-z0-9 ]+: error: ", errors[0]), errors[0]
    assert r.stderr.splitlines()[-1] == errors[0]
    if argv[0] not in ("call", "demo"):      # they show progress on the way; others are quiet
        assert r.stderr == errors[0] + "\n"


def test_an_internal_error_is_one_line_too(capsys, monkeypatch):
    def broken(args):
        raise KeyError("page_rows")

    import faxcore.cli.convert as convert
    monkeypatch.setattr(convert, "run_info", broken)
    assert main(["info", "x.tif"]) == 1
    assert capsys.readouterr().err == ("faxcore info: error: internal error: KeyError: "
                                       "'page_rows' (please report it; -vv shows the "
                                       "traceback)\n")


# ---- faxcore call ----------------------------------------------------------------------

PROGRESS = re.compile(r" *\d+\.\d s  phase ([A-E]) \((call set-up|negotiation and training|"
                      r"page transfer|post-page exchange|call release)\), pages sent (\d)/(\d),"
                      r" (-|\d+ bit/s \S+)")


def grey16_tiff(path: Path) -> np.ndarray:
    """A 16-bit grey TIFF (mode I;16) with a black bar; returns where it is black."""
    a = np.full((240, 400), 65535, np.uint16)
    a[60:120, 40:360] = 0
    Image.fromarray(a).save(path)
    with Image.open(path) as im:
        assert im.mode == "I;16"
    return a == 0


def test_call_without_loopback_sends_a_16_bit_grey_tiff(tmp_path, capsys):
    src = tmp_path / "grey16.tif"
    grey16_tiff(src)
    assert main(["convert", str(src), str(tmp_path / "c.tif")]) == 0
    want = read_tiff(tmp_path / "c.tif")
    capsys.readouterr()
    assert main(["call", str(src), "--out", str(tmp_path / "rx.tif")]) == 0
    out, err = capsys.readouterr()
    got = read_tiff(tmp_path / "rx.tif")
    assert len(got) == 1 and got[0].bitmap.sum() > 10000
    np.testing.assert_array_equal(got[0].bitmap, want[0].bitmap)
    assert "caller:   status OK" in out
    # one progress format, on stderr for call: every line of it matches
    lines = err.splitlines()
    assert lines and all(PROGRESS.fullmatch(line) for line in lines), lines
    assert [PROGRESS.fullmatch(line).group(1) for line in lines] == list("ABCDE")
    assert PROGRESS.fullmatch(lines[-1]).group(3, 4) == ("1", "1")
    # the trace header says what its time column means
    assert ("frame trace (caller's view, faxcore; time in s from the start of the call (tx: "
            "when the frame's burst began, rx: when the frame ended), direction, frame, "
            "octets as on the line):") in out.splitlines()
    # --loopback is still accepted, and changes nothing
    assert main(["call", "--loopback", str(src), "--out", str(tmp_path / "rx2.tif")]) == 0
    np.testing.assert_array_equal(read_tiff(tmp_path / "rx2.tif")[0].bitmap, got[0].bitmap)


def test_demo_progress_has_the_call_format(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAXCORE_SHARED", str(tmp_path / "absent"))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if " phase " in line]
    assert [PROGRESS.fullmatch(line).group(1) for line in lines] == list("ABCDE")
    report = (tmp_path / "demo" / "report.txt").read_text()
    assert "frame trace, caller's view (time in s from the start of the call (tx: when the " \
           "frame's burst began, rx: when the frame ended), direction, frame, octets as on " \
           "the line):" in report
