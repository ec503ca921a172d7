"""faxcore's own exception procedures (faxcore/conformance/exceptions.xml, written after
the themes of TSB-85's Annexes D and I): every one passes, at the modem interface and
over audio. Before the engine fixes (rules.py Decisions 3 to 7, frames at the HDLC
maximum), 51 of these 63 passed at the modem interface (of the first 62: 51 in both
modes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import faxcore.conformance
from faxcore import conformance
from faxcore.cli import main
from faxcore.testing.peers import require_shared

FILE = Path(faxcore.conformance.__file__).parent / "exceptions.xml"


@pytest.fixture(scope="module")
def pages() -> Path:
    return require_shared("conformance/pages")


def test_the_file_holds_both_annexes_themes():
    procs = conformance.load(FILE)
    names = [p.name for p in procs]
    assert len(names) == len(set(names)) >= 60
    groups = Counter(p.group for p in procs)
    assert len(groups) == 2 and all(n >= 30 for n in groups.values())
    text = FILE.read_text()
    assert "Annex D" in text and "Annex I" in text and "not copied" in text
    for p in procs:   # every procedure names the status it expects
        assert any(getattr(s, "type", "") == "STATUS" for s in p.steps), p.name


@pytest.mark.parametrize("audio", [False, True], ids=["interface", "audio"])
def test_every_exception_procedure_passes(pages, audio):
    results = conformance.run(FILE, pages_dir=pages, audio=audio)
    assert len(results) == len(conformance.load(FILE))
    failing = {r.name: r.failure for r in results if not r.passed}
    assert failing == {}
    for r in results:
        assert r.status == r.expected_status and r.checked >= 2
        assert r.mode == ("audio" if audio else "interface")


def test_cli_runs_the_file(pages, capsys):
    code = main(["conformance", "tsb85", str(FILE), "--pages", str(pages),
                 "--test", "RX-DIS-3-TRIES-THEN-DCN", "--test", "TX-HANGUP-AFTER-EOP-MCF"])
    out = capsys.readouterr().out
    assert code == 0
    assert "RX-DIS-3-TRIES-THEN-DCN PASS  status RETRYDCN" in out
    assert "TX-HANGUP-AFTER-EOP-MCF PASS  status OK" in out
    assert out.rstrip().endswith("passed 2 of 2 procedures")
