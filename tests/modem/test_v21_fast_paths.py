"""V.21's fast paths (issue 14) against their plain readings.

Transmitter: the compiled table-driven modulator gives the same samples (0 LSB) as
:func:`faxcore.modem.v21.reference_samples`, the phase-continuous FSK written out in
numpy, at every level and block size, with the mark fill between pieces of data.
"""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp, hdlc, v21, v21_core
from faxcore.modem.dsp import dbm0_to_peak
from faxcore.testing.spandsp import modems as sp


@pytest.mark.parametrize("level", [-43.0, -10.0, 0.0, 3.0])
@pytest.mark.parametrize("block", [1, 37, 160, 8000])
def test_tx_equals_numpy_reference(level, block):
    bits = np.random.default_rng(int(block + 100 - level)).integers(0, 2, 700, dtype=np.uint8)
    tx = modem.transmitter("v21", 300, level_dbm0=level)
    tx.send(bits)
    out = []
    while not tx.done:
        out.append(tx.tx(block))
    out = np.concatenate(out)
    ref = v21.reference_samples(bits, dbm0_to_peak(level))
    assert out.shape[0] >= ref.shape[0] and not out[ref.shape[0]:].any()
    assert int(np.abs(out[:ref.shape[0]].astype(np.int32) - ref).max()) == 0


def test_tx_amplitude_is_dbm0_to_peak():
    """The transmitter computes its amplitude without numpy: the same number."""
    for level in np.arange(-60.0, 3.01, 0.25):
        tx = v21.Transmitter(300, level_dbm0=float(level))
        ref = v21.reference_samples(np.ones(30, np.uint8), dbm0_to_peak(float(level)))
        np.testing.assert_array_equal(tx.tx(len(ref)), ref)


def test_tx_fill_between_pieces_equals_reference():
    a = np.random.default_rng(1).integers(0, 2, 50, dtype=np.uint8)
    b = np.random.default_rng(2).integers(0, 2, 50, dtype=np.uint8)
    tx = modem.transmitter("v21", 300)
    tx.send(a, final=False)
    first = tx.tx(4000)                 # 50 data bits, then 100 bits of mark fill
    tx.send(b)
    rest = np.concatenate([tx.tx(160) for _ in range(20)])
    got = np.concatenate([first, rest])
    ref = v21.reference_samples(np.concatenate([a, np.ones(100, np.uint8), b]),
                                dbm0_to_peak(-10.0))
    np.testing.assert_array_equal(got[:ref.shape[0]], ref)
    assert tx.done and not got[ref.shape[0]:].any()


# -- receiver -----------------------------------------------------------------------------
# V21Demodulator (what modem.receiver("v21") makes) against V21ReferenceDemodulator, the
# plain reading (double-precision correlators every sample, no gate): the same bits and
# events on V.21 audio. The fast one's correlators are exact integers (Q40 tables) and
# it idles behind a gate while no V.21 is near, replaying the skipped samples from its
# ring when the gate opens.


def _rx(cls, x, blocks):
    r = cls(-47.0, -50.0)
    i = 0
    for n in blocks:
        if i >= len(x):
            break
        r.process(np.ascontiguousarray(x[i:i + n]))
        i += n
    if i < len(x):
        r.process(np.ascontiguousarray(x[i:]))
    return r.take_bits(), list(r.event_list), r


def _tx(name, rate, bits, level=-10.0):
    tx = modem.transmitter(name, rate, level_dbm0=level)
    tx.send(bits)
    out = []
    while not tx.done:
        out.append(tx.tx(160))
    return np.concatenate(out)


def _v21_signals():
    rng = np.random.default_rng(21)
    z = np.zeros
    yield "two bursts", np.concatenate([z(1000, np.int16), _tx("v21", 300, rng.integers(0, 2, 400)),
                                         z(3000, np.int16),
                                         _tx("v21", 300, rng.integers(0, 2, 40), -44.0),
                                         z(500, np.int16)])
    b = np.concatenate([z(900), _tx("v21", 300, rng.integers(0, 2, 300)).astype(float),
                        z(900)])
    for snr in (20.0, 6.0, 3.0):
        yield f"snr{snr}", dsp.to_int16(dsp.add_awgn(b, snr, rng))
    yield "ppm", dsp.to_int16(dsp.resample_clock(b, 100))
    yield "hz", dsp.to_int16(dsp.frequency_shift(b, 10))
    c = b.copy()
    c[4000:4100] += 4000 * np.where(np.arange(100) % 2, 1.0, -1.0)   # a click in the burst
    yield "click", dsp.to_int16(c)
    # back-to-back short bursts (shorter than the decoder lag; each padded with zeros to
    # whole blocks), and a near-threshold one. Faint noise under the short bursts: bits
    # timed inside a gap of digital silence are decided on d = 0 exactly by the integer
    # correlators, but on the reference's rounding residue of its running sums (+-1e-9,
    # either sign), so the two could only agree there by chance
    s = np.concatenate([_tx("v21", 300, rng.integers(0, 2, n)) for n in (9, 5, 30)]
                       + [z(2000, np.int16)]).astype(float)
    yield "short", dsp.to_int16(s + rng.normal(0.0, 20.0, len(s)))
    yield "faint", np.concatenate([z(2000, np.int16), _tx("v21", 300, rng.integers(0, 2, 200),
                                                          -46.5), z(2000, np.int16)])
    yield "noise", dsp.to_int16(rng.normal(0.0, 2000.0, 30000))


@pytest.mark.parametrize("name,x", list(_v21_signals()), ids=lambda v: v if isinstance(v, str) else "")
def test_rx_fast_equals_reference(name, x):
    rng = np.random.default_rng(len(x))
    blocks = [int(n) for n in rng.integers(1, 400, len(x))]
    ref_bits, ref_ev, _ = _rx(v21_core.V21ReferenceDemodulator, x, [160] * len(x))
    bits, ev, r = _rx(v21_core.V21Demodulator, x, blocks)
    np.testing.assert_array_equal(bits, ref_bits)
    assert ev == ref_ev
    if name == "noise":
        assert ev == [] and r.full_samples < len(x) // 4   # the gate kept it idle


# -- the gate: V.21 starting anywhere over fast-modem audio or silence ---------------------
# The watch receiver runs beside the fast receiver during page data; the gate keeps it
# idle there, and a V.21 burst (an HDLC preamble, as T.30 sends) that starts at any
# sample, right after the fast carrier or after a silence, must come out from its first
# flag: every transmitted bit, with the burst's start where the reference puts it.

DCS = b"\xff\x13\x83\x00\xc6\x88\x00"


def _fast_audio(name, rate, seconds, rng):
    # (spandsp's transmitters: page data as a peer sends it)
    bits = rng.integers(0, 2, int(rate * seconds), dtype=np.uint8)
    return sp.run_tx(sp.transmitter(name, rate, bits), 160)


def _ends_with_burst(bits, hb, slack=4):
    """``hb`` whole, ending within ``slack`` bits of the end of ``bits``."""
    return any(np.array_equal(bits[len(bits) - len(hb) - k:len(bits) - k], hb)
               for k in range(slack + 1))


@pytest.mark.parametrize("lead", ["v17", "v29", "v27ter", "silence"])
def test_v21_at_random_offsets_caught_from_first_flag(lead):
    rng = np.random.default_rng(["v17", "v29", "v27ter", "silence"].index(lead))
    fast = {"v17": ("v17", 14400), "v29": ("v29", 9600), "v27ter": ("v27ter", 4800)}
    hb = hdlc.encode_frames([DCS], preamble=6)     # a short preamble: no flag to spare
    burst = _tx("v21", 300, hb)
    for trial in range(6):
        if lead == "silence":
            before = np.zeros(int(rng.integers(1200, 9000)), np.int16)
        else:
            a = _fast_audio(*fast[lead], 3.0, rng)
            before = a[:int(rng.integers(8000, len(a)))]            # cut anywhere
            if trial % 2:
                gap = np.zeros(int(rng.integers(1, 1000)), np.int16)  # or after a pause
                before = np.concatenate([before, gap])
        x = np.concatenate([before, burst, np.zeros(2400, np.int16)])
        blocks = [160] * (len(x) // 160 + 1)
        bits, ev, r = _rx(v21_core.V21Demodulator, x, blocks)
        ref_bits, ref_ev, _ = _rx(v21_core.V21ReferenceDemodulator, x, blocks)
        # the V.21 burst is the last one, in both; every bit of it, from the first flag
        # (where the reference's burst starts with the V.21, so does ours, to the sample;
        # where a bogus carrier of the fast audio ran into it, they may start apart)
        if abs(ref_ev[-2][1] - len(before)) <= 30:
            assert ev[-2:] == ref_ev[-2:], (trial, ev[-2:], ref_ev[-2:])
        assert ev[-1] == ref_ev[-1]
        # (it starts no later than the burst: where the fast carrier stops right into the
        # V.21 one, a bogus V.21 carrier already up in the fast audio runs into it, in
        # the reference as well)
        assert ev[-2][0] == "carrier_up" and ev[-2][1] <= len(before) + 30
        # (a bogus carrier running into the burst may add a bit or two after it)
        assert _ends_with_burst(bits, hb) and _ends_with_burst(ref_bits, hb), trial
        # the gate's frames follow the sample count: other block sizes, the same output
        rb = [int(k) for k in rng.integers(1, 500, len(x) // 100)]
        bits2, ev2, _ = _rx(v21_core.V21Demodulator, x, rb)
        np.testing.assert_array_equal(bits2, bits)
        assert ev2 == ev
        dec = hdlc.HdlcDecoder()
        got = [(e.kind, e.data, e.ok) for e in dec.put_bits(bits)]
        assert ("frame", DCS, True) in got
        # and the gate did keep it idle over most of what came before (not over V.27ter:
        # its narrow spectrum raises the V.21 detector's carrier much of the time, in the
        # reference too, and a carrier keeps the full receiver running)
        if lead in ("v17", "v29"):
            assert r.full_samples < 0.3 * len(before) + 2 * len(burst) + 2400, trial
        elif lead == "silence":
            assert r.full_samples < 1200 + len(burst) + 2400 + 1024, trial


def test_watch_idles_over_fast_audio_and_reports_no_v21():
    """Over page data the fast receiver idles (the reference runs its full receiver on
    every sample and reports short bogus bursts there: the bits it decodes out of V.17)."""
    rng = np.random.default_rng(17)
    x = _fast_audio("v17", 14400, 8.0, rng)
    bits, ev, r = _rx(v21_core.V21Demodulator, x, [160] * (len(x) // 160 + 1))
    # (the first bogus burst, in the training's tones, before the gate closes)
    assert len(ev) <= 2 and r.full_samples < 0.1 * len(x)
    ref_bits, ref_ev, _ = _rx(v21_core.V21ReferenceDemodulator, x, [160] * (len(x) // 160 + 1))
    assert len(ref_ev) > len(ev)
