"""V.21 channel 2 modem: our tx/rx against spandsp's, both directions, over impaired lines.

20 000 random bits per run (66.7 s of audio); zero bit errors required in every condition.
"""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import dsp, g711
from faxcore.modem.base import ModemEvent, Receiver, Transmitter
from faxcore.testing.spandsp import modems as sp

NBITS = 20_000
LEAD = 1200  # silence before the burst (150 ms)


@pytest.fixture(scope="module")
def data_bits():
    return np.random.default_rng(21).integers(0, 2, NBITS, dtype=np.uint8)


def _burst(tx):
    audio = sp.run_tx(tx, 160)
    return np.concatenate([np.zeros(LEAD, np.int16), audio, np.zeros(2400, np.int16)]).astype(float)


@pytest.fixture(scope="module")
def spandsp_audio(data_bits):
    sp.lib()
    return _burst(sp.V21Tx(data_bits, level_dbm0=-10))


@pytest.fixture(scope="module")
def our_audio(data_bits):
    tx = modem.transmitter("v21", 300)
    tx.send(data_bits)
    return _burst(tx)


def _impair(x, cond, rng):
    kind, val = cond
    if kind == "clean":
        return x
    if kind == "snr":
        return dsp.add_awgn(x, val, rng)
    if kind == "law":
        return g711.roundtrip(dsp.to_int16(x), val).astype(float)
    if kind == "level":
        return dsp.scale_to_dbm0(x, val)
    if kind == "level_law":
        lvl, law = val
        return g711.roundtrip(dsp.to_int16(dsp.scale_to_dbm0(x, lvl)), law).astype(float)
    if kind == "ppm":
        return dsp.resample_clock(x, val)
    if kind == "hz":
        return dsp.frequency_shift(x, val)
    raise AssertionError(kind)


def _rx_ours(x, block=160):
    rx = modem.receiver("v21", 300)
    x = dsp.to_int16(x)
    for i in range(0, len(x), block):
        rx.rx(x[i:i + block])
    return rx.bits(), rx.events()


COMMON = [("clean", 0), ("snr", 30), ("law", "ulaw"), ("law", "alaw"), ("ppm", 100),
          ("ppm", -100), ("hz", 10), ("hz", -10), ("level", -5)]
TO_OURS = COMMON + [("level", -24), ("level", -43), ("level_law", (-43, "ulaw")),
                    ("level_law", (-43, "alaw"))]
TO_SPANDSP = COMMON + [("level", -24), ("level_law", (-24, "alaw"))]


@pytest.mark.parametrize("cond", TO_OURS, ids=[f"{k}{v}" for k, v in TO_OURS])
def test_spandsp_tx_to_our_rx(spandsp_audio, data_bits, cond):
    x = _impair(spandsp_audio, cond, np.random.default_rng(1))
    got, events = _rx_ours(x)
    errors, compared, off = dsp.bit_errors(data_bits, got, max_shift=8)
    assert compared == NBITS and errors == 0
    # spandsp's FSK transmitter starts with one extra mark bit before the first data bit
    assert off == 1 and got[0] == 1
    assert len(got) <= NBITS + 3
    kinds = [e.kind for e in events]
    assert kinds == ["carrier_up", "carrier_down"]
    # event times are the estimated burst edges
    assert abs(events[0].sample - LEAD) <= 30


@pytest.mark.parametrize("cond", TO_SPANDSP, ids=[f"{k}{v}" for k, v in TO_SPANDSP])
def test_our_tx_to_spandsp_rx(our_audio, data_bits, cond):
    x = dsp.to_int16(_impair(our_audio, cond, np.random.default_rng(2)))
    rx = sp.V21Rx()
    rx.rx(x)
    errors, compared, off = dsp.bit_errors(data_bits, rx.bits(), max_shift=8)
    assert compared == NBITS and errors == 0


def test_our_tx_to_our_rx_exact_bits(our_audio, data_bits):
    got, events = _rx_ours(our_audio, block=1)  # block size 1 works too
    np.testing.assert_array_equal(got, data_bits)
    assert [e.kind for e in events] == ["carrier_up", "carrier_down"]
    assert isinstance(events[0], ModemEvent)


def test_transmitter_level_and_timing():
    tx = modem.transmitter("v21", 300, level_dbm0=-12)
    tx.send(bytes([1, 0] * 150))  # 300 bits = exactly 1 s
    out = np.concatenate([tx.tx(n) for n in (1, 7999, 100)])
    assert out.dtype == np.int16 and len(out) == 8100
    assert tx.done
    assert abs(dsp.level_dbm0(out[:8000]) + 12) < 0.1
    assert np.all(out[8000:] == 0)
    assert np.count_nonzero(out[7990:8000]) > 5


def test_not_final_idles_with_mark_then_continues():
    tx = modem.transmitter("v21", 300)
    tx.send(np.zeros(30, np.uint8), final=False)
    a = tx.tx(8000)              # 30 zeros, then 270 bits of mark fill
    tx.send(np.zeros(30, np.uint8))
    b = np.concatenate([tx.tx(8000), tx.tx(400)])
    assert tx.done
    rx = modem.receiver("v21", 300)
    rx.rx(np.concatenate([a, b, np.zeros(800, np.int16)]))
    got = rx.bits()
    assert got[:30].sum() == 0 and got[30:300].min() == 1 and got[300:330].sum() == 0
    assert len(got) == 330


def test_two_bursts_and_noise_only():
    rng = np.random.default_rng(3)
    bursts = []
    for n in (40, 9):   # the second burst is shorter than the decoder lag
        tx = modem.transmitter("v21", 300)
        b = rng.integers(0, 2, n, dtype=np.uint8)
        tx.send(b)
        bursts.append((b, np.concatenate([sp.run_tx(tx), np.zeros(1200, np.int16)])))
    noise = dsp.to_int16(dsp.awgn(16000, -20, rng))
    rx = modem.receiver("v21", 300)
    rx.rx(noise)
    assert rx.bits().size == 0 and rx.events() == [] and not rx.trained
    for b, a in bursts:
        rx.rx(a)
        np.testing.assert_array_equal(rx.bits(), b)
        assert [e.kind for e in rx.events()] == ["carrier_up", "carrier_down"]


def test_factory_and_contract():
    tx = modem.transmitter("v21", 300)
    rx = modem.receiver("v21", 300)
    assert isinstance(tx, Transmitter) and isinstance(rx, Receiver)
    with pytest.raises(ValueError):
        modem.transmitter("v21", 2400)
    with pytest.raises(ValueError):
        modem.receiver("v99", 300)
    with pytest.raises(ValueError):
        tx.send(np.array([0, 2]))
    with pytest.raises(ValueError):
        rx.rx(np.array([0.5, 1.0]))
    with pytest.raises(TypeError):
        modem.transmitter("v21", 300, bogus=1)
    rx.rx(np.zeros(0, np.int16))
    assert rx.bits().size == 0


def test_missing_module_gives_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faxcore.modem.v29", None)
    with pytest.raises(modem.ModemNotAvailable, match="v29"):
        modem.transmitter("v29", 9600)


def test_block_size_does_not_change_output(our_audio, data_bits):
    x = dsp.to_int16(our_audio[:60000])
    rng = np.random.default_rng(9)
    ref_bits, ref_ev = _rx_ours(x, block=8000)
    rx = modem.receiver("v21", 300)
    i = 0
    while i < len(x):
        n = int(rng.integers(1, 700))
        rx.rx(x[i:i + n])
        i += n
    np.testing.assert_array_equal(rx.bits(), ref_bits)
    assert rx.events() == ref_ev


def test_hostile_audio_no_crash():
    rng = np.random.default_rng(5)
    rx = modem.receiver("v21", 300)
    for sig in (rng.integers(-32768, 32768, 40000).astype(np.int16),   # full-scale noise
                np.full(8000, 32767, np.int16), np.full(8000, -32768, np.int16),
                np.tile(np.array([32767, -32768], np.int16), 4000)):
        rx.rx(sig)
        rx.bits()
        for e in rx.events():
            assert e.kind in ("carrier_up", "carrier_down")
    rx.rx([1, 2, 3])  # plain Python ints are accepted


def test_tones_do_not_raise_v21_carrier():
    from faxcore.modem import tones

    rx = modem.receiver("v21", 300)
    rx.rx(tones.CngGenerator(level_dbm0=-5).tx(8000 * 4))
    rx.rx(tones.CedGenerator(level_dbm0=-5).tx(8000 * 4))
    assert rx.events() == [] and rx.bits().size == 0


def test_ced_then_spandsp_v21_frames():
    """The usual answer: CED, 75 ms silence, then V.21 HDLC (preamble + DIS)."""
    from faxcore.modem import hdlc, tones

    dis = b"\xff\x13\x80\x00\xce\xf4\x80\x80\x81\x80\x80\x80\x18"
    x = np.concatenate([tones.CedGenerator().tx(8000 * 3), np.zeros(600, np.int16),
                        sp.run_tx(sp.HdlcTx([dis])), np.zeros(2000, np.int16)])
    rx = hdlc.HdlcReceiver()
    for i in range(0, len(x), 160):
        rx.rx(x[i:i + 160])
    assert [(e.data, e.ok) for e in rx.frames()] == [(dis, True)]


def test_no_more_errors_than_spandsp_in_noise(spandsp_audio, data_bits):
    """Issue 3: ours no worse than spandsp where spandsp's BER is below 1e-2: the same
    noisy spandsp burst into both receivers, errors summed over noise seeds at 2 and 0 dB
    (errors near the edge are rare events, so a single seed could go either way)."""
    # noise from the burst's first sample on, at the burst's power (as the benchmark:
    # spandsp's FSK receiver is lost if noise this strong precedes the burst)
    start = int(np.nonzero(spandsp_audio)[0][0])
    active = spandsp_audio[start:]
    power = float(np.mean(active[active != 0] ** 2))
    ours_err = theirs_err = 0
    for snr in (2.0, 0.0):
        for seed in range(3):
            x = spandsp_audio.copy()
            x[start:] = dsp.add_awgn(x[start:], snr, np.random.default_rng(40 + seed),
                                     signal_power=power)
            x = dsp.to_int16(x)
            got, _ = _rx_ours(x)
            rx = sp.V21Rx()
            rx.rx(x)
            e_ours, n, _ = dsp.bit_errors(data_bits, got, max_shift=8)
            e_theirs, _, _ = dsp.bit_errors(data_bits, rx.bits(), max_shift=8)
            ours_err += e_ours
            theirs_err += e_theirs
    assert 0 < theirs_err < 0.01 * 6 * NBITS, theirs_err
    assert ours_err <= theirs_err, (ours_err, theirs_err)


# -- burst edges in order (fuzz finding: a carrier_down before its own carrier_up) --------
# A burst the detector ends because the in-band share fell (noise or a click on top of
# the tone) has no fall of its amplitude to time the end by; the search for one walked
# back past the burst's own start (to an earlier noise burst, or to the end of the history
# ring, 970 samples back), so carrier_down came before carrier_up. Quiet bursts (-45 dBm0,
# just above the -47 dBm0 threshold) are where this shows.

QUIET_DBM0 = -45.0


def _quiet_burst(nbits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    bits = np.random.default_rng(seed).integers(0, 2, nbits, dtype=np.uint8)
    tx = modem.transmitter("v21", 300, level_dbm0=QUIET_DBM0)
    tx.send(bits)
    return bits, sp.run_tx(tx).astype(float)


def _assert_bursts_in_order(events: list[ModemEvent]) -> None:
    kinds = [e.kind for e in events]
    assert kinds == ["carrier_up", "carrier_down"] * (len(kinds) // 2) + \
        ["carrier_up"] * (len(kinds) % 2), kinds
    samples = [e.sample for e in events]
    assert samples == sorted(samples), [(e.kind, e.sample) for e in events]


def test_click_in_quiet_burst_keeps_events_in_order_and_bits():
    bits, b = _quiet_burst(120, 1)
    x = np.concatenate([np.zeros(800), b, np.zeros(800)])
    click = 800 + 3000                                    # bit 112 of the burst
    x[click:click + 100] += 800 * np.where(np.arange(100) % 2, 1.0, -1.0)
    got, events = _rx_ours(x)
    _assert_bursts_in_order(events)
    # the first burst runs up to the click (it ended 970 samples before, at the ring's end)
    assert events[0].sample < 800 + 27 and click <= events[1].sample < click + 27
    np.testing.assert_array_equal(got[:112], bits[:112])


def test_loud_noise_then_quiet_burst_keeps_events_in_order():
    bits, b = _quiet_burst(120, 1)
    noise = np.random.default_rng(0).normal(0.0, 11000.0, 100)
    x = np.concatenate([np.zeros(800), noise, b, np.zeros(800)])
    got, events = _rx_ours(x)
    # (the carrier flickers while the noise leaves the slow power average: the ends of
    # those bursts were put at the noise's fall, before their starts)
    _assert_bursts_in_order(events)
    assert len(events) % 2 == 0
    end = 900 + len(bits) * 8000 // 300                  # (b is padded to whole blocks)
    assert end - 27 < events[-1].sample < end + 27
    np.testing.assert_array_equal(got[-80:], bits[-80:])

