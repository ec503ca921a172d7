"""The TSB-85 runner never stops a run on one procedure: a tester frame written with
``...``, a page file that is missing, a step it cannot play or an error inside the
runner make that procedure FAIL with a one-line reason and the next one is played; a
missing pages directory is one line and exit status 1 before anything is played."""

from __future__ import annotations

import logging
import shutil

import pytest

from faxcore import conformance
from faxcore.cli import main
from faxcore.conformance import runner as runner_mod
from faxcore.testing.peers import require_shared

HEAD = '<?xml version="1.0"?>\n<fax-tests>\n<test-group name="robust">\n'
TAIL = "</test-group>\n</fax-tests>\n"

# The tester calls, sends TSI (written with "..." after its 23 octets, and an extra
# preamble step without a modem between the frames) and DCS, TCF, one page, EOP, DCN.
RECEIVE_ONE_PAGE = """
<test name="{name}">
  <step type="CALL"/>
  <step dir="R" type="CED"/>
  <step dir="R" type="HDLC" modem="V.21" tag="DIS" value="FF C8 01 ..." timeout="60000"/>
  <step dir="R" type="SILENCE"/>
  <step type="WAIT" value="75"/>
  <step dir="T" type="PREAMBLE" modem="V.21"/>
  <step dir="T" type="HDLC" tag="TSI" value="FF C0 C2 9C 1C EC 6C AC 2C CC 4C 8C 0C D4 04 04 04 04 04 04 04 04 04 ..."/>
  <step dir="T" type="PREAMBLE" value="29"/>
  <step dir="T" type="HDLC" tag="DCS" value="{dcs}"/>
  <step dir="T" type="POSTAMBLE"/>
  <step type="WAIT" value="75"/>
  <step dir="T" type="TCF" modem="V.27ter/4800" value="900"/>
  <step dir="R" type="HDLC" modem="V.21" tag="CFR" value="FF C8 21"/>
  <step dir="R" type="SILENCE"/>
  <step type="WAIT" value="75"/>
  <step dir="T" type="MSG" modem="V.27ter/4800" value="{page}"/>
  <step type="WAIT" value="75"/>
  <step dir="T" type="PREAMBLE" modem="V.21"/>
  <step dir="T" type="HDLC" tag="EOP" value="FF C8 F4"/>
  <step dir="T" type="POSTAMBLE"/>
  <step dir="R" type="HDLC" modem="V.21" tag="MCF" value="FF C8 31"/>
  <step type="WAIT" value="75"/>
  <step dir="T" type="PREAMBLE" modem="V.21"/>
  <step dir="T" type="HDLC" tag="DCN" value="FF C8 DF"/>
  <step dir="T" type="POSTAMBLE"/>
  <step dir="T" type="CLEAR"/>
  <step dir="R" type="CLEAR" timein="0" timeout="100"/>
  <step type="STATUS" value="OK"/>
</test>
"""
GOOD_DCS = "FF C8 C1 00 50 00"


def proc(name: str, dcs: str = GOOD_DCS, page: str = "etsi_300_242_a4_white.tif") -> str:
    return RECEIVE_ONE_PAGE.format(name=name, dcs=dcs, page=page)


@pytest.fixture
def pages(tmp_path):
    """A pages directory holding the WHITE page only."""
    src = require_shared("conformance/pages/etsi_300_242_a4_white.pbm")
    d = tmp_path / "pages"
    d.mkdir()
    shutil.copy(src, d)
    return d


def write(tmp_path, *procs: str):
    path = tmp_path / "procs.xml"
    path.write_text(HEAD + "".join(procs) + TAIL)
    return path


@pytest.mark.parametrize("audio", [False, True], ids=["interface", "audio"])
def test_tester_frame_with_dots_and_modemless_preamble_are_played(tmp_path, pages, audio):
    """A TSI written with "..." (TSB-85 does so) used to raise ValueError in
    _tester_frame; a PREAMBLE without a modem between frames lost the DCS. Both are
    played now, and the call goes through."""
    (r,) = conformance.run(write(tmp_path, proc("DOTS")), audio=audio)
    assert r.passed, r.failure
    assert r.status == "OK" and r.checked >= 5


@pytest.mark.parametrize("audio", [False, True], ids=["interface", "audio"])
def test_one_bad_procedure_does_not_stop_the_run(tmp_path, pages, audio, caplog):
    """A missing page, bad hex in a tester frame: those procedures fail with a one-line
    reason (no traceback in the log), the others are played and pass."""
    path = write(tmp_path, proc("FIRST"), proc("NOPAGE", page="no_such_page.tif"),
                 proc("BADHEX", dcs="FF C8 C1 ZZ 50 00"), proc("LAST"))
    with caplog.at_level(logging.INFO):
        got = {r.name: r for r in conformance.run(path, audio=audio)}
    assert list(got) == ["FIRST", "NOPAGE", "BADHEX", "LAST"]
    assert got["FIRST"].passed and got["LAST"].passed
    assert not got["NOPAGE"].passed and not got["BADHEX"].passed
    assert got["NOPAGE"].failure.startswith("page file missing: ")
    assert got["NOPAGE"].failure.endswith("no_such_page.pbm")
    assert "not hex" in got["BADHEX"].failure and "ZZ" in got["BADHEX"].failure
    for r in got.values():
        assert "\n" not in r.failure
    assert "Traceback" not in caplog.text


def test_an_internal_error_fails_one_procedure_in_one_line(tmp_path, pages, monkeypatch,
                                                           caplog):
    """Any exception inside a procedure (here: the runner's MSG step blows up for one
    page) is one FAIL line naming it; the run goes on."""
    real = runner_mod.Runner.t_msg
    calls = []

    def t_msg(self, mod, value, bad_rows=None):
        calls.append(value)
        if len(calls) == 1:
            raise RuntimeError("boom\nsecond line")
        return real(self, mod, value, bad_rows)

    monkeypatch.setattr(runner_mod.Runner, "t_msg", t_msg)
    with caplog.at_level(logging.INFO):
        a, b = conformance.run(write(tmp_path, proc("A"), proc("B")))
    assert not a.passed and a.failure == "internal error: RuntimeError: boom second line"
    assert b.passed, b.failure
    assert "Traceback" not in caplog.text


def test_missing_pages_directory_is_one_line_and_exit_1(tmp_path, capsys):
    tsb85 = require_shared("conformance/tsb85.xml")
    assert main(["conformance", "tsb85", str(tsb85), "--pages", str(tmp_path / "none")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("faxcore conformance")
    assert line.endswith(f"error: pages directory not found: {tmp_path / 'none'}")


def test_no_default_pages_directory_says_where_it_looked(tmp_path, capsys):
    path = write(tmp_path, proc("A"))   # no pages/ next to it, no <config>
    assert main(["conformance", "tsb85", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "pages") in err[0] and "--pages" in err[0]


def test_pages_from_the_config_image_path(tmp_path, pages):
    """A file without pages/ next to it finds them where its <config> IMAGE path says
    (relative to the file), as faxcore/conformance/exceptions.xml does."""
    sub = tmp_path / "procs"
    sub.mkdir()
    path = sub / "p.xml"
    path.write_text(HEAD.replace("<fax-tests>\n", '<fax-tests>\n<config><path type="IMAGE" '
                                 'value="../pages"/></config>\n') + proc("A") + TAIL)
    (r,) = conformance.run(path)
    assert r.passed, r.failure
