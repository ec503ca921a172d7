"""CNG / CED generation and detection, spandsp's tones, V.21 preamble, no false detects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from faxcore.modem import dsp, hdlc, tones
from faxcore.testing.spandsp import modems as sp

FS = 8000


def _detect(x, block=160, **kw):
    det = tones.ToneDetector(**kw)
    for i in range(0, len(x), block):
        det.rx(x[i:i + block])
    return [(e.kind, e.sample, e.duration) for e in det.events()]


def _speech_like(seconds, rng, level_dbm0=-15):
    """Voiced/unvoiced speech-like signal: a glottal pulse train with drifting pitch
    through moving formant resonators, syllabic envelope and pauses."""
    n = int(seconds * FS)
    out = np.zeros(n)
    seg = 400  # 50 ms segments
    zi = [np.zeros(2)] * 3
    phase = 0.0
    for s0 in range(0, n, seg):
        f0 = rng.uniform(90, 260)
        voiced = rng.random() < 0.7
        src = np.zeros(seg)
        if voiced:
            period = FS / f0
            while phase < seg:
                src[int(phase)] = 1.0
                phase += period * rng.uniform(0.97, 1.03)
            phase -= seg
        else:
            src = rng.standard_normal(seg) * 0.1
        y = src
        new_zi = []
        for k, (lo, hi) in enumerate(((250, 900), (800, 2400), (2000, 3400))):
            f = rng.uniform(lo, hi)
            r = 0.97
            a = [1, -2 * r * np.cos(2 * np.pi * f / FS), r * r]
            y, z = lfilter([1.0], a, y, zi=zi[k])
            new_zi.append(z)
        zi = new_zi
        out[s0:s0 + seg] = y[:len(out[s0:s0 + seg])]
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * np.arange(n) / FS)
    env[(np.arange(n) // 4000) % 3 == 2] = 0.02  # pauses
    return dsp.to_int16(dsp.scale_to_dbm0(out * env, level_dbm0))


def test_our_cng_cadence_detected_with_timing():
    x = tones.CngGenerator(level_dbm0=-11).tx(FS * 9)
    assert abs(dsp.level_dbm0(x[:4000]) + 11) < 0.1
    assert np.all(x[4000:28000] == 0)
    ev = _detect(x)
    assert [k for k, _, _ in ev] == ["cng"] * 3
    for i, (_, start, dur) in enumerate(ev):
        assert abs(start - i * 28000) <= 80 and abs(dur - 4000) <= 160


def test_spandsp_cng_detected():
    ev = _detect(sp.ToneTx(sp.TONES_FAX_CNG).tx(FS * 5))
    assert [k for k, _, _ in ev] == ["cng", "cng"]


def test_our_cng_detected_by_spandsp():
    det = sp.ToneRx(sp.TONES_FAX_CNG)
    det.rx(tones.CngGenerator().tx(FS * 4))
    assert sp.TONES_FAX_CNG in [c for c, _, _ in det.reports]


def test_our_ced_detected_with_timing():
    g = tones.CedGenerator(silence_before=0.2)
    x = np.concatenate([g.tx(FS * 4), np.zeros(800, np.int16)])
    assert g.done
    ev = _detect(x)
    assert [k for k, _, _ in ev] == ["ced", "ced_end"]
    assert abs(ev[0][1] - 1600) <= 80
    assert abs(ev[1][1] - (1600 + 26400)) <= 160 and abs(ev[1][2] - 26400) <= 240


def test_spandsp_ced_detected_and_ours_by_spandsp():
    ev = _detect(sp.ToneTx(sp.TONES_ANS).tx(FS * 4))
    assert [k for k, _, _ in ev] == ["ced", "ced_end"]
    det = sp.ToneRx(sp.TONES_ANS)
    det.rx(tones.CedGenerator().tx(FS * 4))
    assert sp.TONES_ANS in [c for c, _, _ in det.reports]


def test_ced_under_echo_of_our_cng_and_noise():
    rng = np.random.default_rng(4)
    ced = np.concatenate([np.zeros(4000), tones.CedGenerator(level_dbm0=-30).tx(FS * 4)])
    echo = np.roll(tones.CngGenerator(level_dbm0=-20).tx(len(ced)), 2000).astype(float)
    x = dsp.to_int16(ced + echo + dsp.awgn(len(ced), -45, rng))
    ev = _detect(x, detect=("ced",))
    assert [k for k, _, _ in ev] == ["ced", "ced_end"]
    assert abs(ev[0][1] - 4000) <= 160


@pytest.mark.parametrize("level", [-10, -25, -43])
def test_weak_and_strong_tones(level):
    x = np.concatenate([tones.CngGenerator(level_dbm0=level, cycles=1).tx(FS * 4),
                        tones.CedGenerator(level_dbm0=level).tx(FS * 4)])
    assert [k for k, _, _ in _detect(x)] == ["cng", "ced", "ced_end"]


def test_off_frequency_and_wrong_duration_rejected():
    t = np.arange(FS * 3) / FS

    def tone(f, dur):
        x = dsp.dbm0_to_peak(-12) * np.sin(2 * np.pi * f * t[:int(dur * FS)])
        return dsp.to_int16(np.concatenate([np.zeros(800), x, np.zeros(800)]))

    assert _detect(tone(1100, 2.0)) == []          # too long for CNG
    assert _detect(tone(1100, 0.25)) == []         # too short
    assert _detect(tone(1000, 0.5)) == []          # wrong frequency
    assert _detect(tone(2100, 0.3)) == []          # too short for CED
    assert _detect(tone(2000, 3.0)) == []
    assert [k for k, _, _ in _detect(tone(1130, 0.5))] == ["cng"]   # within +-38 Hz
    assert [k for k, _, _ in _detect(tone(2112, 1.0))] == ["ced", "ced_end"]  # within +-15 Hz


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_false_detect_on_speech_and_noise(seed):
    rng = np.random.default_rng(seed)
    speech = _speech_like(20, rng)
    assert _detect(speech, detect=("cng", "ced")) == []
    noisy = dsp.to_int16(speech + dsp.awgn(len(speech), -30, rng))
    assert _detect(noisy, detect=("cng", "ced")) == []
    for lvl in (-10, -30, -50):
        assert _detect(dsp.to_int16(dsp.awgn(FS * 10, lvl, rng))) == []


def test_v21_preamble_flags_detected_without_ced():
    tx = hdlc.HdlcTransmitter()
    tx.send([b"\xff\x13\x80\x00\xee"])
    x = np.concatenate([np.zeros(800, np.int16), sp.run_tx(tx)])
    ev = _detect(x)
    assert [k for k, _, _ in ev] == ["v21_preamble"]
    assert ev[0][1] < 800 + FS // 2   # within half a second of the first flag
    # and spandsp's HDLC preamble too
    ev = _detect(sp.run_tx(sp.HdlcTx([b"\xff\x13\x80\x00\xee"])))
    assert [k for k, _, _ in ev] == ["v21_preamble"]


def test_generators_reject_bad_levels():
    with pytest.raises(ValueError):
        tones.CngGenerator(level_dbm0=10)
    with pytest.raises(ValueError):
        tones.CedGenerator(duration=0)
    with pytest.raises(ValueError):
        tones.ToneDetector(detect=("dtmf",))
