"""Hostile input into the modem receivers and the HDLC deframer (security issue).

* Regressions, each failing on the code before the fix: a V.17 receiver fed DC and then
  a training read past its constellation table (a blown-up equaliser made the Viterbi
  path metrics NaN, so no survivor was chosen and uninitialised state and label numbers
  went into the trace-back); full-scale square waves drove the QAM equaliser to NaN/inf;
  a V.27ter receiver trained on a quiet line blew its equaliser up on a loud hit (NaN
  carrier loop, and no correct bit after the hit even when it did not); configurations
  that made the cores shift by 32 or more (undefined behaviour in C) were accepted; a
  V.21 burst cut short by noise or a click reported its carrier_down before its
  carrier_up (two fuzz findings, in the corpus).
* Hypothesis fuzzing of every receiver (random blocks, square waves, DC, clipping,
  silence and bursts, DC then a real burst, block sizes 1..8000) and of the deframer:
  no exception, every exposed float finite, held bits and frame buffers bounded.
* The corpus in tests/corpus/{v17,v29,v27ter,v21,hdlc} (replayed under AddressSanitizer
  by ``make test``): modem files are int16 little-endian 8 kHz samples, named
  ``<what>-r<bit rate>[-short].bin`` (``-short``: V.17 short training); hdlc files are
  bytes, unpacked to bits LSB first. ``python tests/test_modem_security.py
  --write-corpus`` rewrites the files built here; ``test_corpus_*`` replay them.
"""

from __future__ import annotations

import math
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxcore import modem
from faxcore.modem import hdlc, hdlc_core, qam, qam_core, v17, v21_core, v27ter_core
from faxcore.testing.paths import CORPUS

MODEM_TARGETS = ("v17", "v29", "v27ter", "v21")

# --------------------------------------------------------------------------- helpers


def burst(name: str, rate: int, nbits: int, seed: int, level: float = -10.0,
          short: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(samples, payload bits) of one burst from our transmitter."""
    bits = np.random.default_rng(seed).integers(0, 2, nbits).astype(np.uint8)
    opts = {"short_train": True} if short else {}
    tx = modem.transmitter(name, rate, level_dbm0=level, **opts)
    tx.send(bits)
    out = []
    while not tx.done:
        out.append(tx.tx(160))
    return np.concatenate(out), bits


def receiver(name: str, rate: int, short: bool = False):
    return modem.receiver(name, rate, **({"short_train": True} if short else {}))


def held_limit(rx) -> int:
    """Most bits a V.29/V.17 core may hold between two rx() calls (module doc of
    qam_core: hold_symbols + lost_grace symbols, plus one); bit_rate / 2400 bits a
    symbol."""
    return (qam.HOLD_SYMBOLS + qam.LOST_GRACE + 2) * (rx.bit_rate // 2400)


def nonfinite(rx) -> list[str]:
    """Names of the exposed float state that is NaN or infinite."""
    vals: dict[str, float] = {}
    core = getattr(rx, "_core", None)
    if isinstance(rx, qam.QamReceiver):
        d = rx.diagnostics()
        vals.update({k: v for k, v in d.items() if isinstance(v, float)})
        vals.update({"hit." + k: v for k, v in d["hit"].items() if isinstance(v, float)})
        vals.update(lk_peak=core.lk_peak, tim_total=core.tim_total)
    elif core is not None:   # V.27ter
        ti = core.training_info
        vals.update(mse=ti["mse"], gain=ti["gain"], last_mse=core.last_mse,
                    freq=core.carrier_frequency_offset)
    return [k for k, v in vals.items() if not math.isfinite(v)]


def feed(rx, x: np.ndarray, blocks=(160,)) -> tuple[np.ndarray, list[str]]:
    """Feed ``x`` in blocks (cycling through ``blocks``), checking the invariants after
    every call; returns (bits, event kinds)."""
    out, kinds = [], []
    pos = i = 0
    while pos < len(x):
        n = blocks[i % len(blocks)]
        i += 1
        rx.rx(x[pos:pos + n])
        pos += n
        b = rx.bits()
        assert b.dtype == np.uint8 and (b.size == 0 or int(b.max()) <= 1)
        out.append(b)
        kinds += [e.kind for e in rx.events()]
        if isinstance(rx, qam.QamReceiver):
            assert rx.held_bits <= held_limit(rx), "held bits grow without bound"
    bad = nonfinite(rx)
    assert not bad, f"non-finite receiver state: {bad}"
    return (np.concatenate(out) if out else np.zeros(0, np.uint8)), kinds


def errors_after(out: np.ndarray, ref: np.ndarray) -> int:
    """Fewest bit errors of ``ref`` against any alignment inside ``out`` (the receiver
    may deliver a few extra bits around a hit)."""
    if len(out) < len(ref):
        return len(ref)
    w = np.lib.stride_tricks.sliding_window_view(out, len(ref))
    return int(np.min(np.sum(w != ref, axis=1)))


def dc_then_burst(rate: int, short: bool, dc_level: int, dc_samples: int, gap: int,
                  seed: int = 7, nbits: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    sig, bits = burst("v17", rate, nbits, seed, short=short)
    x = np.concatenate([np.full(dc_samples, dc_level, np.int16), np.zeros(gap, np.int16), sig])
    return x, bits


def square(n: int, half_period: int) -> np.ndarray:
    return np.where((np.arange(n) // half_period) % 2, 32767, -32768).astype(np.int16)


def quiet_burst_with_hit(rate: int, hit: str, hit_len: int,
                         seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """V.27ter at -43 dBm0 (the AGC trains on a quiet line) with a loud hit in the
    middle of ``seconds`` of data."""
    sig, bits = burst("v27ter", rate, int(seconds * rate), 3, level=-43.0)
    cut = len(sig) // 2
    if hit == "dc":
        h = np.full(hit_len, 32767.0)
    else:
        h = np.random.default_rng(4).normal(0.0, 20000.0, hit_len)
    x = np.concatenate([sig[:cut], h, sig[cut:]])
    return np.clip(np.round(x), -32768, 32767).astype(np.int16), bits


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("rate,short,gap", [
    (14400, True, 50), (14400, True, 0), (9600, True, 50), (7200, True, 50),
    (14400, False, 50)])
def test_v17_dc_then_training_trains_and_decodes(rate, short, gap):
    """4589 samples of DC at half scale, then (no gap, or 6 ms) a V.17 burst: the
    carrier stays up over the 10 dB step, and the receiver used to train on the DC's
    tail, blow its equaliser up and read past its constellation table in the Viterbi
    trace-back. Now it restarts the acquisition on the burst and decodes every bit."""
    x, bits = dc_then_burst(rate, short, 16000, 4589, gap)
    out, kinds = feed(receiver("v17", rate, short), x)
    assert "training_succeeded" in kinds and "signal_lost" not in kinds
    assert len(out) >= len(bits)
    assert np.array_equal(out[:len(bits)], bits)


@pytest.mark.parametrize("gap,trains", [(0, False), (50, False), (200, True), (600, True)])
def test_v17_full_scale_dc_then_training(gap, trains):
    """Full-scale DC is 16 dB over the burst: the carrier drops at its end, and a burst
    that follows with under ~25 ms of silence is not told from the DC's tail (the
    detector wants a rise of 9 dB over the floor). That is reported cleanly (no bits,
    no training event); with a gap the burst trains and decodes."""
    x, bits = dc_then_burst(14400, True, 32767, 24000, gap)
    out, kinds = feed(receiver("v17", 14400, True), x)
    if trains:
        assert "training_succeeded" in kinds
        assert np.array_equal(out[:len(bits)], bits)
    else:
        assert len(out) == 0 and set(kinds) <= {"carrier_up", "carrier_down"}


@pytest.mark.parametrize("name,rate,half", [
    ("v17", 9600, 122), ("v17", 14400, 170), ("v17", 7200, 122), ("v29", 9600, 160),
    ("v29", 7200, 170)])
def test_qam_square_wave_keeps_state_finite(name, rate, half):
    """Full-scale square waves of 22-33 Hz pass the ABAB check; the training that
    follows used to drive the equaliser to inf/NaN (and V.17 then past its tables)."""
    rx = receiver(name, rate)
    out, kinds = feed(rx, square(12000, half))
    assert len(out) == 0 and "training_succeeded" not in kinds
    mse = rx.diagnostics()["mse"]
    assert mse < 1e4    # a stopped equaliser, not one that blew up (was NaN, inf, 1e97)


@pytest.mark.parametrize("rate", [2400, 4800])
@pytest.mark.parametrize("hit", ["dc", "noise"])
def test_v27ter_rides_out_loud_hit_after_quiet_training(rate, hit):
    """Trained at -43 dBm0, a 10 ms full-scale hit used to blow the equaliser up (its
    step was not normalised): no correct bit after it. Now the step is normalised by the
    line energy when that is far above the trained level, and the data after the hit
    comes out right."""
    x, bits = quiet_burst_with_hit(rate, hit, 80)
    out, kinds = feed(receiver("v27ter", rate), x)
    assert kinds.count("training_succeeded") == 1
    tail = bits[-len(bits) // 4 - 100:-100]
    assert errors_after(out, tail) == 0


@pytest.mark.parametrize("rate", [2400, 4800])
def test_v27ter_long_loud_noise_keeps_state_finite(rate):
    """0.5 s of loud noise after a quiet training: the carrier loop used to go NaN."""
    x, _ = quiet_burst_with_hit(rate, "noise", 4000)
    feed(receiver("v27ter", rate), x)   # checks every exposed float is finite


def test_core_configurations_that_shift_out_of_range_are_refused():
    """A scrambler tap of 0 or over 22 made the cores shift by -1 or 32+ (undefined
    behaviour); a pulse-shaper period with den > num stepped its polyphase row out of
    the table; a stuffing run of 5+ ones is not a state the encoder can be in; a NaN
    gain or an amplitude over full scale made the transmitters cast NaN or out-of-range
    values to int16."""
    with pytest.raises(ValueError):
        qam_core.scramble23(np.ones(8, np.uint8), 1, 0)
    with pytest.raises(ValueError):
        qam_core.scramble23(np.ones(8, np.uint8), 1, 40)
    cfg = v17.receiver_config(14400, False)
    for key, bad in (("tap", 40), ("traceback", 0), ("check_len", 0),
                     ("v17_next", np.zeros((4, 4), np.int64)),
                     ("grid", np.zeros((9, 4, 3), np.uint8))):
        with pytest.raises(ValueError):
            qam_core.QamReceiver(dict(cfg, **{key: bad}))
    with pytest.raises(ValueError):
        v27ter_core.PskShaper(5, 6, np.ones((5, 8)))
    with pytest.raises(ValueError):
        hdlc_core.stuff_bytes(b"\xff", 5)
    qam_core.QamReceiver(cfg)   # the real configuration is accepted
    # transmitters: a NaN or out-of-range sample cast to int16 is undefined behaviour
    with pytest.raises(ValueError):
        qam_core.Modulator(qam.tx_pulse(), 1800.0, float("nan"))
    with pytest.raises(ValueError):
        v21_core.V21Modulator(40000.0)
    shaper = v27ter_core.PskShaper(5, 1, np.ones((5, 8)))
    with pytest.raises(ValueError):
        shaper.run(np.zeros(shaper.symbols_needed(10), np.int8), 10, float("inf"))


# --------------------------------------------------------------------------- HDLC


def _bits_of(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")


def test_deframer_overlong_frame_then_good_frame():
    """A frame longer than the buffer is reported bad (and its bits dropped at the
    buffer's end); the next frame decodes."""
    enc = hdlc.HdlcEncoder()
    enc.flags(3)
    body = bytes(range(256)) * 20       # 5120 octets > 4100
    bits, _ = hdlc_core.stuff_bytes(body + hdlc.fcs(body), 0)
    good = b"\xff\x13\x80\x00\xee"
    dec = hdlc.HdlcDecoder()
    ev = dec.put_bits(np.concatenate([enc.take(), bits, hdlc.FLAG_BITS,
                                      hdlc.encode_frames([good], 1, 1)]))
    assert [(e.kind, e.ok) for e in ev] == [("bad", False), ("frame", True)]
    assert ev[1].data == good


def test_deframer_floods_change_nothing():
    """A million flags, ones or aborts: one "flags" event at most, bounded events,
    then a frame still decodes."""
    good = b"\xff\x03\x20\x41"
    dec = hdlc.HdlcDecoder()
    ev = dec.put_bits(np.tile(hdlc.FLAG_BITS, 1_000_000 // 8 * 8))
    assert [e.kind for e in ev] == ["flags"]
    for flood in (np.ones(1_000_000, np.uint8), np.tile(np.r_[hdlc.FLAG_BITS, np.ones(8, np.uint8)], 50_000)):
        ev = dec.put_bits(flood)
        assert len(ev) <= len(flood) // 8
        assert all(e.kind in ("flags", "abort") for e in ev)
    ev = dec.put_bits(hdlc.encode_frames([good], 5, 1))
    assert [(e.kind, e.data, e.ok) for e in ev if e.kind == "frame"] == [("frame", good, True)]


@settings(max_examples=200)
@given(data=st.binary(min_size=0, max_size=4000),
       mode=st.sampled_from(["raw", "ones-heavy", "flags-mixed", "stuffed-junk"]))
def test_deframer_random_bits(data, mode):
    bits = _bits_of(data)
    if mode == "ones-heavy":
        bits = bits | _bits_of(bytes(reversed(data)))
    elif mode == "flags-mixed":
        parts = np.array_split(bits, max(1, len(bits) // 37))
        bits = np.concatenate([np.r_[p, hdlc.FLAG_BITS] for p in parts]) if len(bits) else bits
    elif mode == "stuffed-junk":
        bits = np.r_[np.tile(hdlc.FLAG_BITS, 5), hdlc_core.stuff_bytes(data, 0)[0], hdlc.FLAG_BITS]
    dec = hdlc.HdlcDecoder()
    ev = dec.put_bits(bits)
    assert len(ev) <= len(bits) // 8 + 1
    for e in ev:
        assert e.kind in ("frame", "bad", "abort", "flags")
        assert len(e.data) <= 4100
    if mode == "stuffed-junk" and 3 <= len(data) - 2 <= 4098:
        # any octets between flags come out as one frame, FCS checked
        frames = [e for e in ev if e.kind == "frame"]
        assert len(frames) == 1 and frames[0].data == data[:-2]


# --------------------------------------------------------------------------- fuzzing

RECEIVERS = [("v21", 300, False), ("v27ter", 2400, False), ("v27ter", 4800, False),
             ("v29", 7200, False), ("v29", 9600, False), ("v17", 7200, False),
             ("v17", 9600, False), ("v17", 12000, False), ("v17", 14400, False),
             ("v17", 14400, True), ("v17", 12000, True), ("v17", 9600, True),
             ("v17", 7200, True)]
_BURSTS: dict = {}


def _legit(name: str, rate: int, short: bool, level: float) -> np.ndarray:
    key = (name, rate, short, level)
    if key not in _BURSTS:
        _BURSTS[key] = burst(name, rate, 600, 1, level=level, short=short)[0]
    return _BURSTS[key]


def hostile(kind: str, seed: int, name: str, rate: int, short: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(100, 24000))
    if kind == "random":
        x = rng.integers(-32768, 32768, n)
    elif kind == "square":
        x = square(n, int(rng.integers(1, 200)))
    elif kind == "dc":
        x = np.full(n, int(rng.choice([32767, -32768, int(rng.integers(-32768, 32768))])))
    elif kind == "clipped":
        x = np.clip(_legit(name, rate, short, -10.0) * float(rng.uniform(2, 60)), -32768, 32767)
    elif kind == "bursts":
        parts = []
        for _ in range(int(rng.integers(1, 6))):
            parts.append(np.zeros(int(rng.integers(0, 2500))))
            m = int(rng.integers(1, 3000))
            sub = int(rng.integers(0, 3))
            if sub == 0:
                parts.append(rng.normal(0, rng.uniform(1, 30000), m))
            elif sub == 1:
                parts.append(32767 * np.sin(2 * np.pi * rng.uniform(0, 4000) / 8000 * np.arange(m)))
            else:
                s = _legit(name, rate, short, float(rng.choice([-45.0, -10.0, 0.0])))
                k = int(rng.integers(0, len(s)))
                parts.append(s[k:k + m])
        x = np.clip(np.concatenate(parts), -32768, 32767)
    elif kind == "quiet-then-loud":
        s = _legit(name, rate, short, -43.0).astype(float)
        k = int(rng.integers(0, len(s)))
        x = np.clip(np.r_[s[:k], rng.normal(0, 30000, int(rng.integers(10, 8000))), s[k:]],
                    -32768, 32767)
    else:   # dc-then-burst
        x = np.r_[np.full(int(rng.integers(400, 30000)), int(rng.choice([32767, 16000, -20000]))),
                  np.zeros(int(rng.choice([0, 1, 50, 200]))), _legit(name, rate, short, -10.0)]
    return np.round(np.asarray(x, float)).astype(np.int16)


@settings(max_examples=150)
@given(which=st.sampled_from(RECEIVERS),
       kind=st.sampled_from(["random", "square", "dc", "clipped", "bursts",
                             "quiet-then-loud", "dc-then-burst"]),
       seed=st.integers(0, 2**32 - 1),
       blocks=st.lists(st.integers(1, 8000), min_size=1, max_size=8))
def test_receivers_survive_hostile_audio(which, kind, seed, blocks):
    name, rate, short = which
    x = hostile(kind, seed, name, rate, short)
    rx = receiver(name, rate, short)
    out, kinds = feed(rx, x, blocks)
    assert set(kinds) <= {"carrier_up", "carrier_down", "training_succeeded",
                          "training_failed", "signal_lost"}
    # never more bits than the line could carry (plus the decoder's slack)
    assert len(out) <= len(x) * rate / 8000 + 64


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), blocks=st.lists(st.integers(1, 8000), min_size=1, max_size=4))
def test_hdlc_receiver_survives_hostile_audio(seed, blocks):
    x = hostile("bursts", seed, "v21", 300, False)
    r = hdlc.HdlcReceiver()
    pos = i = 0
    while pos < len(x):
        n = blocks[i % len(blocks)]
        i += 1
        r.rx(x[pos:pos + n])
        pos += n
        for e in r.frames():
            assert len(e.data) <= 4100


def test_receivers_refuse_what_is_not_int16_audio():
    """The only exception rx() raises is the documented ValueError for non-audio."""
    for name, rate, short in RECEIVERS:
        rx = receiver(name, rate, short)
        with pytest.raises(ValueError):
            rx.rx([40000])
        with pytest.raises(ValueError):
            rx.rx(np.array([0.5, 1.5]))
        rx.rx(np.zeros(0, np.int16))


# --------------------------------------------------------------------------- corpus


def corpus_inputs() -> dict[str, bytes]:
    """Relative path under tests/corpus -> file content, for the files built here."""
    files: dict[str, np.ndarray | bytes] = {}
    # v17: the regression (DC then a short-train burst; and at 7200), seeds
    files["v17/dc16000-then-training-r14400-short.bin"] = dc_then_burst(14400, True, 16000, 4589, 50)[0]
    files["v17/dc16000-then-training-r7200-short.bin"] = dc_then_burst(7200, True, 16000, 4589, 50)[0]
    files["v17/square122-r9600.bin"] = square(12000, 122)
    files["v17/seed-r14400-short.bin"] = burst("v17", 14400, 3000, 11, short=True)[0]
    files["v17/seed-r9600.bin"] = burst("v17", 9600, 1200, 12)[0]
    files["v17/seed-clipped-r12000-short.bin"] = np.clip(
        burst("v17", 12000, 2000, 13, short=True)[0].astype(float) * 20, -32768, 32767).astype(np.int16)
    # v29
    files["v29/square160-r9600.bin"] = square(8000, 160)
    files["v29/seed-r9600.bin"] = burst("v29", 9600, 3000, 21)[0]
    files["v29/seed-r7200.bin"] = burst("v29", 7200, 2000, 22)[0]
    files["v29/quiet-then-dc-r9600.bin"] = np.r_[
        burst("v29", 9600, 4000, 23, level=-43.0)[0][:3000], np.full(400, 32767, np.int16),
        burst("v29", 9600, 4000, 23, level=-43.0)[0][3000:]]
    # v27ter
    files["v27ter/quiet-then-dc-r4800.bin"] = quiet_burst_with_hit(4800, "dc", 80, 0.5)[0]
    files["v27ter/quiet-then-noise-r4800.bin"] = quiet_burst_with_hit(4800, "noise", 2000, 0.5)[0]
    files["v27ter/seed-r4800.bin"] = burst("v27ter", 4800, 2000, 31)[0]
    files["v27ter/seed-r2400.bin"] = burst("v27ter", 2400, 1000, 32)[0]
    # v21 (HDLC frames as T.30 sends them), and hostile shapes
    tx = hdlc.HdlcTransmitter(preamble=10)
    tx.send([b"\xff\x13\x80\x00\xee\xf8\x80", b"\xff\x13\x84\xc0"])
    v21 = []
    while not tx.done:
        v21.append(tx.tx(160))
    files["v21/seed-frames-r300.bin"] = np.concatenate(v21)
    files["v21/square7-r300.bin"] = square(8000, 7)
    files["v21/noise-bursts-r300.bin"] = hostile("bursts", 41, "v21", 300, False)[:16000]
    # hdlc: bytes, bits LSB first
    enc = hdlc.HdlcEncoder()
    enc.flags(5)
    for f in (b"\xff\x03\x20\x41\x41", b"\xff\x13\x80\x00\xee\xf8\x80"):
        enc.frame(f)
    enc.frame(b"\xff\x13\x83", corrupt=True)
    enc.abort()
    enc.flags(2)
    enc.frame(b"\xff\x13\xfb")
    files["hdlc/seed-frames.bin"] = np.packbits(enc.take(), bitorder="little").tobytes()
    body = bytes(range(256)) * 20
    long = np.r_[np.tile(hdlc.FLAG_BITS, 3), hdlc_core.stuff_bytes(body, 0)[0], hdlc.FLAG_BITS]
    files["hdlc/overlong-frame.bin"] = np.packbits(long, bitorder="little").tobytes()
    files["hdlc/flag-abort-flood.bin"] = bytes([0x7E, 0xFF] * 2000 + [0xFF] * 2000 + [0x7E] * 2000)
    return {k: (v.astype("<i2").tobytes() if isinstance(v, np.ndarray) else v)
            for k, v in files.items()}


def corpus_receiver(target: str, filename: str):
    m = re.search(r"-r(\d+)", filename)
    assert m, f"{filename}: modem corpus names carry -r<bit rate>"
    return receiver(target, int(m.group(1)), "-short" in filename)


def test_corpus_has_the_files_built_here():
    for rel, data in corpus_inputs().items():
        path = CORPUS / rel
        assert path.exists(), f"{path} missing: run python tests/test_modem_security.py --write-corpus"
        assert len(data) < 64 * 1024
        if rel.startswith("hdlc/"):
            assert path.read_bytes() == data


@pytest.mark.parametrize("target", MODEM_TARGETS)
def test_corpus_replays_cleanly(target):
    """Every file of a modem target, as the ASan replay feeds it (160-sample blocks)."""
    files = sorted((CORPUS / target).glob("*.bin"))
    assert files
    for path in files:
        x = np.frombuffer(path.read_bytes(), "<i2").astype(np.int16)
        out, kinds = feed(corpus_receiver(target, path.name), x)
        if path.name.startswith("seed-") and "clipped" not in path.name:
            assert "training_succeeded" in kinds or target == "v21", path.name


def test_corpus_v21_burst_events_in_order():
    """The V.21 fuzz findings (a quiet burst right after loud noise; a click in a quiet
    burst: carrier_down came before its carrier_up) and every other V.21 file: events
    alternate up, down, ... and their sample numbers never go back."""
    files = sorted((CORPUS / "v21").glob("*.bin"))
    assert {"loud-noise-then-quiet-burst-r300.bin", "click-in-quiet-burst-r300.bin"} <= {
        p.name for p in files}
    for path in files:
        x = np.frombuffer(path.read_bytes(), "<i2").astype(np.int16)
        rx = corpus_receiver("v21", path.name)
        events = []
        for i in range(0, len(x), 160):
            rx.rx(x[i:i + 160])
            events += [(e.kind, e.sample) for e in rx.events()]
        kinds = [k for k, _ in events]
        assert kinds == ["carrier_up", "carrier_down"] * (len(kinds) // 2) + \
            ["carrier_up"] * (len(kinds) % 2), (path.name, events)
        samples = [t for _, t in events]
        assert samples == sorted(samples), (path.name, events)


def test_corpus_v17_regression_decodes():
    """The committed DC-then-training files decode to their payload (seed 7)."""
    for rate in (14400, 7200):
        path = CORPUS / "v17" / f"dc16000-then-training-r{rate}-short.bin"
        x = np.frombuffer(path.read_bytes(), "<i2").astype(np.int16)
        out, kinds = feed(corpus_receiver("v17", path.name), x)
        bits = np.random.default_rng(7).integers(0, 2, 2000).astype(np.uint8)
        assert "training_succeeded" in kinds
        assert np.array_equal(out[:len(bits)], bits)


def test_corpus_hdlc_replays_cleanly():
    files = sorted((CORPUS / "hdlc").glob("*.bin"))
    assert files
    for path in files:
        bits = _bits_of(path.read_bytes())
        ev = hdlc.HdlcDecoder().put_bits(bits)
        assert len(ev) <= len(bits) // 8 + 1
    ev = hdlc.HdlcDecoder().put_bits(_bits_of((CORPUS / "hdlc" / "seed-frames.bin").read_bytes()))
    assert [(e.kind, e.ok) for e in ev if e.kind == "frame"] == [
        ("frame", True), ("frame", True), ("frame", False), ("frame", True)]


def write_corpus() -> None:
    for rel, data in corpus_inputs().items():
        path = CORPUS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path} ({len(data)} bytes)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-corpus"]:
        write_corpus()
    else:
        sys.exit("usage: python tests/test_modem_security.py --write-corpus")
