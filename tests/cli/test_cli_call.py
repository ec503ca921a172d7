"""``faxcore call --loopback``: one call over simulated audio from the command line."""

from __future__ import annotations

import wave

import numpy as np

from faxcore.cli import main
from faxcore.codecs.tiff import read_tiff
from faxcore.testing.pages import pbm_page
from faxcore.testing.peers import require_shared
from faxcore.testing.spandsp import lib as spandsp_lib


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
    assert len(got) == 1 and np.array_equal(got[0].bitmap, pbm_page(chart))
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


def test_call_with_spandsp_peer(tmp_path, capsys):
    """``--peer spandsp``: faxcore calls and sends, spandsp (libspandsp2) answers and
    writes what it received; the pages must be the sent ones."""
    spandsp_lib()
    charts = [require_shared("testdata/itu/itu1.pbm"), require_shared("testdata/itu/itu3.pbm")]
    out = tmp_path / "sp.tif"
    code = main(["call", "--loopback", *map(str, charts), "--peer", "spandsp",
                 "--out", str(out)])
    report = capsys.readouterr()
    assert code == 0, report.out
    assert "caller:   status OK" in report.out
    assert "answerer: status OK (spandsp); pages sent 0, received 2; 14400 bit/s ECM mmr; " \
           "remote '+1 555 0100'" in report.out
    assert "PPS-EOP" in report.out and "phase E" in report.err
    got = read_tiff(out)
    assert len(got) == 2
    for g, chart in zip(got, charts, strict=True):
        assert np.array_equal(g.bitmap, pbm_page(chart))


def test_call_with_spandsp_peer_no_ecm_v27ter(tmp_path, capsys):
    spandsp_lib()
    chart = require_shared("testdata/itu/itu4.pbm")
    out = tmp_path / "sp.tif"
    assert main(["call", "--loopback", str(chart), "--peer", "spandsp", "--no-ecm",
                 "--modem", "v27ter", "--out", str(out)]) == 0
    assert "4800 bit/s no ECM mr" in capsys.readouterr().out
    (g,) = read_tiff(out)
    assert np.array_equal(g.bitmap, pbm_page(chart))


def test_call_spandsp_missing_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from faxcore.testing.spandsp import library

    monkeypatch.setattr(library, "NAMES", ("libspandsp-not-here.so.2",))
    chart = require_shared("testdata/itu/itu4.pbm")
    assert main(["call", "--loopback", str(chart), "--peer", "spandsp",
                 "--out", str(tmp_path / "x.tif")]) == 1
    err = capsys.readouterr().err
    assert "install the Debian package libspandsp2" in err and "cannot open" in err


def test_call_sub_and_sid_reach_spandsp(tmp_path, capsys):
    spandsp_lib()
    chart = require_shared("testdata/itu/itu4.pbm")
    out = tmp_path / "sp.tif"
    assert main(["call", "--loopback", str(chart), "--peer", "spandsp", "--modem", "v29",
                 "--sub", "4711", "--sid", "s3cret", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "answerer received SUB '4711', SID 's3cret'" in text
    assert "  tx  SUB " in text and "  tx  SID " in text
    (g,) = read_tiff(out)
    assert np.array_equal(g.bitmap, pbm_page(chart))
    assert main(["call", "--loopback", str(chart), "--sub", "x" * 21]) == 1
    assert "longer than 20" in capsys.readouterr().err


def test_call_spandsp_sends_to_faxcore(tmp_path, capsys):
    """``--peer spandsp --peer-sends``: spandsp calls and sends (from a TIFF-F it reads
    itself), faxcore answers and writes what it received."""
    spandsp_lib()
    charts = [require_shared("testdata/itu/itu1.pbm"), require_shared("testdata/itu/itu5.pbm")]
    out = tmp_path / "fc.tif"
    code = main(["call", "--loopback", *map(str, charts), "--peer", "spandsp", "--peer-sends",
                 "--no-ecm", "--modem", "v29", "--sub", "99", "--sid", "abc",
                 "--out", str(out)])
    report = capsys.readouterr()
    assert code == 0, report.out
    assert "caller:   status OK (spandsp); pages sent 2" in report.out
    assert "answerer: status OK (OK); pages sent 0, received 2; V29/9600 no ECM mr" in report.out
    assert "answerer received SUB '99', SID 'abc'" in report.out
    assert "pages received 2/2" in report.err
    got = read_tiff(out)
    assert len(got) == 2
    for g, chart in zip(got, charts, strict=True):
        assert np.array_equal(g.bitmap, pbm_page(chart))
    assert main(["call", "--loopback", str(charts[0]), "--peer-sends"]) == 1
    assert "needs --peer spandsp" in capsys.readouterr().err


def test_call_snr_option_adds_noise_that_many_db_below_the_signal():
    """``--snr 30``: the noise the simulated line adds is 30 dB below the power of the
    signal faxcore sends (measured on V.29 data at the stations' level)."""
    from faxcore import modem
    from faxcore.cli.call import TX_LEVEL_DBM0, simulated_line
    from faxcore.testing.line import chain

    t = modem.transmitter("v29", 9600, level_dbm0=TX_LEVEL_DBM0)
    t.send(np.random.default_rng(3).integers(0, 2, 19200).astype(np.uint8), final=True)
    x = t.tx(16000)[4000:12000]
    y = chain(*simulated_line(30.0, None, np.random.default_rng(4)))(x, 0)
    noise = y.astype(float) - x
    snr = 10 * np.log10(np.mean(x.astype(float) ** 2) / np.mean(noise ** 2))
    assert abs(snr - 30.0) < 0.3, snr
