"""``faxcore call --loopback``: one call over simulated audio from the command line."""

from __future__ import annotations

import wave

import numpy as np
from conftest import require_shared
from test_session import read_pbm

from faxcore.cli import main
from faxcore.codecs.tiff import read_tiff


def test_call_loopback_writes_received_tiff_and_report(tmp_path, capsys):
    chart = require_shared("testdata/itu/itu2.pbm")
    out, wav = tmp_path / "rx.tif", tmp_path / "line.wav"
    code = main(["call", "--loopback", str(chart), "--modem", "v29", "--no-ecm",
                 "--snr", "35", "--g711", "alaw", "--out", str(out), "--wav", str(wav)])
    report = capsys.readouterr()
    assert code == 0, report.out
    assert "caller:   status OK" in report.out and "answerer: status OK" in report.out
    assert "V29/9600 no ECM mr fine" in report.out
    assert "EOP" in report.out and "phase E" in report.err
    got = read_tiff(out)
    assert len(got) == 1 and np.array_equal(got[0].bitmap, read_pbm(chart))
    with wave.open(str(wav)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        seconds = w.getnframes() / 8000
    assert 20 < seconds < 120


def test_call_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"II*\x00garbage")
    assert main(["call", "--loopback", str(bad), "--out", str(tmp_path / "o.tif")]) == 1
    assert "cannot use" in capsys.readouterr().err
    assert main(["call", "--loopback", str(tmp_path / "missing.pbm")]) == 1
