"""TSB-85 conformance procedures against the T.30 engine (faxcore.conformance), and the
``faxcore conformance tsb85`` command."""

from __future__ import annotations

import json

import pytest

from faxcore import conformance
from faxcore.cli import main
from faxcore.testing.peers import require_shared


@pytest.fixture(scope="module")
def results():
    path = require_shared("conformance/tsb85.xml")
    return {r.name: r for r in conformance.run(path)}


PASSING = """
MRGN01 MRGN02 MRGN03 MRGN04 MRGN05 MRGN06a MRGN06b MRGN07 MRGN08 MRGN09 MRGN10 MRGN11
MRGN12 MRGN13 MRGN14 MRGN15 MRGN16 MRGN17 ORGC01 ORGC02 ORGC03 OREN01 OREN02 OREN03
OREN04 OREN05 OREN06 OREN07 OREN08 OREN09 OREN10 MTGP01 MTGP02 OTGP03 MTGN01 MTGN02
MTGN03 MTGN04 MTGN05 MTGN06 MTGN07 MTGN08 MTGN09 MTGN10 MTGN11 MTGN12 MTGN13 MTGN14
MTGN15 MTGN16 MTGN17 MTGN18 MTGN19 MTGN20 MTGN21 MTGN22 MTGN23 MTGN24 MTGN25 MTGN26
MTGN27 MTGN28 OTGC01 OTGC02 OTGC03 OTGC04 OTGC05 OTGC06 OTGC07 OTGC08 OTGC09-01
OTGC09-02 OTGC09-03 OTGC09-04 OTGC09-05 OTGC09-06 OTGC09-07 OTGC09-08 OTGC09-09
OTGC09-10 OTGC09-11 OTGC09-12 OTGC10 OTGC11 OTEN01 OTEN02 OTEN03 OTEN04 OTEN05 OTEN06
MRGP01 MRGP02 MRGP03 MRGP04 MRGP05 MRGP06 MRGP07 MRGP08 ORGP09 ORGP10
""".split()


def test_all_procedures_run_to_a_verdict(results):
    assert len(results) == 100
    for r in results.values():
        assert r.status != "RUNNING" or not r.passed
        assert r.passed == (r.failure == "")
        if r.passed and r.expected_status:
            assert r.status == r.expected_status


def test_every_procedure_passes(results):
    """100 of 100: a regression in any procedure fails here, by name."""
    assert len(PASSING) == 100
    failing = {n: r.failure for n, r in results.items() if not r.passed}
    assert failing == {}
    assert sorted(n for n, r in results.items() if r.passed) == sorted(PASSING)


@pytest.mark.parametrize("name", [
    "MRGN01",  # receive 2 pages, CSI content, MPS/EOP/MCF
    "MRGN04",  # copy quality: 4.9 % bad rows accepted, 15.1 % gets RTN
    "MRGN07",  # corrupted TCF gets FTT, good TCF CFR
    "MRGN14",  # corrupted DCS, DCS repeated
    "OREN02",  # ECM: PPR with the right frame map, selective retransmission
    "OREN04",  # ECM: the same frame bad again and again -> PPR each time
    "OREN05",  # ECM: EOR / ERR
    "MTGN24",  # RTP: retrain one speed lower
    "OTGC08",  # fallback V.17 14400 -> 12000 -> 9600 -> V.29 9600 after FTT
    "OTEN04",  # ECM transmit: 4 PPR -> CTC at a lower speed -> 4 PPR -> EOR -> DCN
    "MRGP03",  # polling with a wrong password: DCN, PWD_UNACCEPTABLE
    "OTGP03",  # polling with a password (PWD before DTC)
    "ORGP10",  # EOM then DTC: the called station turns transmitter
    "MRGN03",  # 4.9 s coded scan line accepted, 5.1 s rejected; EOP repeated -> RETRYDCN
    "OREN09",  # PPS repeating the last confirmed page/block: MCF, still awaiting data
    "MTGN26",  # RTN to EOM: next document after the new DIS, no resend
    "MTGN27",  # RTN to MPS: retrain and resend the page
    "MTGN28",  # RTN to EOP: DCN, no resend, status OK
])
def test_key_procedures_pass(results, name):
    r = results[name]
    assert r.passed, r.failure
    assert r.checked > 3


def test_a_wrong_expectation_fails(tmp_path):
    """The runner really checks: MRGN01 with an expected FTT instead of CFR fails."""
    src = require_shared("conformance/tsb85.xml")
    text = src.read_text()
    start = text.index('<test name="MRGN01">')
    end = text.index("</test>", start) + len("</test>")
    proc = text[start:end].replace('tag="CFR" value="FF C8 21"', 'tag="CFR" value="FF C8 22"', 1)
    doc = text[:text.index("<test-group")] + '<test-group name="x">' + proc + \
        "</test-group></fax-tests>"
    (tmp_path / "t.xml").write_text(doc)
    (r,) = conformance.run(tmp_path / "t.xml", pages_dir=src.parent / "pages")
    assert not r.passed and "FF C8 22" in r.failure and "FF C8 21" in r.failure


def test_cli_json(capsys):
    path = require_shared("conformance/tsb85.xml")
    code = main(["conformance", "tsb85", str(path), "--test", "MRGN02", "--test", "OTEN01",
                 "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [g["name"] for g in got] == ["MRGN02", "OTEN01"]
    assert all(g["passed"] and g["status"] == "OK" for g in got)
    assert main(["conformance", "tsb85", str(path), "--test", "NOSUCH"]) == 1
