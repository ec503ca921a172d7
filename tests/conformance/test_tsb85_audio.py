"""TSB-85 procedures in audio mode (faxcore.conformance, ``--audio``): the DUT is a
FaxSession on an 8 kHz line, the tester makes and hears the audio with faxcore's modems,
and tone, preamble, silence, turnaround and TCF timing is measured."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faxcore import conformance
from faxcore.cli import main
from faxcore.conformance.ear import LineAnalyser
from faxcore.modem.hdlc import HdlcTransmitter
from faxcore.modem.tones import CedGenerator
from faxcore.t30 import engine
from faxcore.testing.peers import require_shared


@pytest.fixture(scope="module")
def results():
    path = require_shared("conformance/tsb85.xml")
    return {r.name: r for r in conformance.run(path, audio=True)}


# The whole file in audio mode: 99 of 100, every procedure but the one in KNOWN_FAILURES,
# which fails on a measured DUT timing; a change in either direction shows up here by
# name. (test_tsb85.py names the 100 procedures, all passing at the interface.)
#
# What the failing one measures (the check that failed): a DUT finding, not a runner gap.
# OTEN03: T5 (65 s, T.30's 60 +- 5 s at most) ends the RNR/RR loop after 21 RRs, the file
# wants at least 23: one RR -> RNR round here takes 3.15 s (our RR 1.23 s, the tester's
# 500 ms wait, its RNR 1.29 s, our turnaround), 23 RRs would need about 69 s.
KNOWN_FAILURES = {
    "OTEN03": "expected HDLC FF C8 F6",
}


def test_whole_file_in_audio_mode(results):
    assert len(results) == 100
    assert len(KNOWN_FAILURES) == 1 and set(KNOWN_FAILURES) <= set(results)
    assert sorted(n for n, r in results.items() if r.passed) \
        == sorted(set(results) - set(KNOWN_FAILURES))
    for r in results.values():
        assert r.mode == "audio"
        assert r.passed == (r.failure == "")
        if r.passed and r.expected_status:
            assert r.status == r.expected_status
        # every timing check made is in range, except the one that failed a procedure
        bad = [t for t in r.timings if not t["ok"]]
        assert len(bad) <= 1
        if bad:
            assert not r.passed and bad[0]["check"] in r.failure
        for t in r.timings:
            assert t["ok"] == (t["low"] <= t["measured"] <= t["high"])
    for name, what in KNOWN_FAILURES.items():
        assert not results[name].passed and what in results[name].failure, name


def test_gaps_count_from_the_end_of_the_signal(results):
    """The 75 ms gaps are measured from the last audible sample of the signal before
    them: a V.17 page's tail of silence and the far end's carrier-down detection delay
    are not added to them (they were: 96 ms against a 95 ms limit), and the DUT never
    starts inside the 75 ms after the tester's signal."""
    fast = [t for r in results.values() for t in _checks(r, "silence fast modem -> V.21")]
    assert len(fast) > 50 and all(0.075 <= t["measured"] <= 0.080 for t in fast)
    turns = [t for r in results.values() for t in _checks(r, "turnaround")]
    assert len(turns) > 300 and all(t["measured"] >= 0.075 for t in turns)


def test_fixed_procedures(results):
    """MRGN09: after EOM/MCF the DUT sends DIS when T.30's nominal T2 (6 s) has passed
    without a command (5 to 7 s). MRGN11: a DCS with a bad FCS is not answered and the
    DIS is repeated only after the tester's TCF, never over it."""
    (eom,) = _checks(results["MRGN09"], "silence before the signal")
    assert eom["ok"] and 5.9 <= eom["measured"] <= 6.1
    r = results["MRGN11"]
    assert r.passed and r.status == "OK"
    assert all(t["ok"] and t["measured"] >= 0.075 for t in _checks(r, "turnaround"))


def _checks(r, name):
    return [t for t in r.timings if t["check"].startswith(name)]


@pytest.mark.parametrize("name, answers, sends", [
    ("MRGN01", True, False),    # A: receive, 2 pages
    ("MRGN07", True, False),    # A: corrupted TCF -> FTT, then CFR
    ("ORGC01", True, False),    # B: capability receive
    ("OREN02", True, False),    # C: ECM receive with PPR
    ("MTGP01", False, False),   # E: polling receive (the DUT polls)
    ("MTGN01", False, True),    # F: transmit
    ("OTGC08", False, True),    # G: fallback after FTT
    ("OTEN01", False, True),    # H: ECM transmit
    ("MRGP01", True, True),     # J: polled, transmits
])
def test_representative_procedures_pass_with_timing(results, name, answers, sends):
    r = results[name]
    assert r.passed, r.failure
    assert r.checked > 3 and len(r.timings) >= 2
    for t in r.timings:
        assert t["ok"] and t["low"] <= t["measured"] <= t["high"], t
    pre = _checks(r, "V.21 preamble")
    assert pre and all(0.85 <= t["measured"] <= 1.15 for t in pre)
    turn = _checks(r, "turnaround")
    assert turn and all(0.0 <= t["measured"] <= 7.0 for t in turn)
    if answers:
        (ced,) = _checks(r, "CED duration")
        assert 2.6 <= ced["measured"] <= 4.0
        (gap,) = _checks(r, "silence CED -> V.21")
        assert 0.055 <= gap["measured"] <= 0.095
    if sends:
        tcf = _checks(r, "TCF duration")
        assert tcf and all(1.35 <= t["measured"] <= 1.65 for t in tcf)
        switch = _checks(r, "silence V.21 -> TCF")
        assert switch and all(0.055 <= t["measured"] <= 0.095 for t in switch)


def test_ecm_blocks_are_demodulated(results):
    """The tester hears the DUT's ECM blocks (frames with good FCS at the step's modem)."""
    r = results["OTEN01"]
    assert r.passed
    assert any(t["step"].startswith("R PP") for t in r.timings)


def test_shortened_ced_is_a_failure(monkeypatch):
    """A DUT whose CED is 2.0 s (T.30: 2.6 to 4 s) fails, with the measured length."""
    path = require_shared("conformance/tsb85.xml")
    monkeypatch.setattr(engine, "CED_MS", 2000)
    (r,) = conformance.run(path, ["MRGN01"], audio=True)
    assert not r.passed and "CED duration" in r.failure
    (ced,) = _checks(r, "CED duration")
    assert not ced["ok"] and abs(ced["measured"] - 2.0) < 0.02
    # the interface-level runner does not hear tones: the same DUT passes there
    (r2,) = conformance.run(path, ["MRGN01"])
    assert r2.passed and r2.timings == []


def test_answering_during_closing_flags_is_a_failure():
    """A FaxSession that answers 75 ms after the tester's final frame
    (``wait_carrier_end=False``), while the tester's 5 closing flags (133 ms) are still on
    the line: the runner measures the overlap and fails the procedure."""
    path = require_shared("conformance/tsb85.xml")
    (r,) = conformance.run(path, ["MRGN01"], audio=True, wait_carrier_end=False)
    assert not r.passed and "turnaround" in r.failure
    bad = [t for t in r.timings if not t["ok"]]
    assert len(bad) == 1 and -0.06 < bad[0]["measured"] < 0.0


def _one_procedure(tmp_path, name, old, new):
    src = require_shared("conformance/tsb85.xml")
    text = src.read_text()
    start = text.index(f'<test name="{name}">')
    end = text.index("</test>", start) + len("</test>")
    proc = text[start:end]
    assert old in proc
    doc = text[:text.index("<test-group")] + '<test-group name="x">' + \
        proc.replace(old, new, 1) + "</test-group></fax-tests>"
    (tmp_path / "t.xml").write_text(doc)
    (r,) = conformance.run(tmp_path / "t.xml", pages_dir=src.parent / "pages", audio=True)
    return r


def test_altered_expected_frame_fails(tmp_path):
    r = _one_procedure(tmp_path, "MRGN01", 'tag="CFR" value="FF C8 21"',
                       'tag="CFR" value="FF C8 22"')
    assert not r.passed and "FF C8 22" in r.failure and "FF C8 21" in r.failure


def test_altered_timing_bound_fails(tmp_path):
    """A <check> naming other bounds is applied: the 1.02 s preamble fails 1.1-1.15 s."""
    r = _one_procedure(tmp_path, "MRGN01", "preamble is 850ms to 1150ms",
                       "preamble is 1100ms to 1150ms")
    assert not r.passed and "V.21 preamble" in r.failure
    bad = [t for t in r.timings if not t["ok"]]
    assert len(bad) == 1 and bad[0]["low"] == 1.1 and 0.85 <= bad[0]["measured"] < 1.1


def test_line_analyser_measures_ced():
    """The tester's ear on its own: a 3.1 s CED, 75 ms of silence, then V.21 flags."""
    ced = CedGenerator(duration=3.1)
    audio = [ced.tx(8000 * 4)[:int(3.1 * 8000)], np.zeros(600, np.int16)]
    tx = HdlcTransmitter("v21", 300, preamble=37)
    tx.send([bytes.fromhex("ff1380")], final=True)
    while not tx.done:
        audio.append(tx.tx(80))
    audio.append(np.zeros(800, np.int16))
    line = np.concatenate(audio)
    out, signals = [], []
    ear = LineAnalyser(out, signals)
    for i in range(0, line.size, 80):
        ear.feed(line[i:i + 80], i / 8000)
    assert [e[2] for e in out] == ["tone", "hdlc"]
    assert out[0][3] == "CED" and abs(out[0][4]["duration"] - 3.1) < 0.005
    assert out[1][3] == bytes.fromhex("ff1380")
    assert abs(out[1][4]["preamble"] - 37 * 8 / 300) < 0.03
    assert abs(signals[1][0] - signals[0][1] - 0.075) < 0.002


def test_cli_audio_json(capsys):
    path = require_shared("conformance/tsb85.xml")
    code = main(["conformance", "tsb85", str(path), "--audio", "--test", "MRGN02", "--json"])
    (got,) = json.loads(capsys.readouterr().out)
    assert code == 0 and got["passed"] and got["mode"] == "audio"
    names = {t["check"] for t in got["timings"]}
    assert {"CED duration", "V.21 preamble", "silence CED -> V.21"} <= names
    assert all(t["ok"] and isinstance(t["measured"], float) for t in got["timings"])
