"""Modem test rig shared by the V.29 and V.17 tests: line impairments between the modems,
our modems driven in blocks, spandsp (:mod:`faxcore.testing.spandsp.modems`) at the other
end, bit-error counting, and the interop cases run in both directions for every rate."""

from __future__ import annotations

import hashlib

import numpy as np

from faxcore import modem
from faxcore.modem import dsp
from faxcore.modem.base import CARRIER_DOWN, CARRIER_UP, TRAINING_FAILED, TRAINING_SUCCEEDED
from faxcore.testing.line import burst_channel
from faxcore.testing.spandsp import modems as sp

LABEL = {"v29": "V.29", "v17": "V.17"}


def need_spandsp() -> None:
    """Raise SpandspMissing without libspandsp2 (the tests skip locally, fail in CI)."""
    sp.lib()


def random_bits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def our_burst(name: str, rate: int, bits: np.ndarray, level: float = -10.0,
              short_train: bool = False, block: int = 160) -> np.ndarray:
    opts = {"short_train": True} if short_train else {}
    tx = modem.transmitter(name, rate, level_dbm0=level, **opts)
    tx.send(bits)
    out = []
    while not tx.done:
        b = tx.tx(block)
        assert len(b) == block and b.dtype == np.int16
        out.append(b)
        assert len(out) < 10000
    return np.concatenate(out)


def spandsp_burst(name: str, rate: int, bits: np.ndarray, level: float = -10.0,
                  **kw) -> np.ndarray:
    """spandsp's burst of ``bits`` (training, data, its own end of signal), every sample
    it produced and no padding; ``kw``: ``short_train``, ``tep``."""
    return sp.run_tx(sp.transmitter(name, rate, bits, level_dbm0=level, **kw), trim=True)


def statuses(rx) -> list[int]:
    """The SIG_STATUS_* codes a spandsp receiver reported since the last call."""
    return [s for s, _ in rx.events()]


def impair(sig: np.ndarray, *, level: float = -10.0, snr: float | None = None,
           ppm: float = 0.0, hz: float = 0.0, law: str | None = None, lead: int = 0,
           tail: int = 1600, seed: int = 0, noise_lead: bool = False) -> np.ndarray:
    """Line between the modems: level, clock offset, carrier offset, AWGN over the
    burst (SNR against the burst level; with noise_lead also over the leading silence),
    G.711, silence around it (:func:`faxcore.testing.line.burst_channel`)."""
    return burst_channel(sig, level=level, ppm=ppm, hz=hz, snr=snr, signal_dbm0=level,
                         lead=lead, tail=tail, noise="lead" if noise_lead else "burst",
                         rng=np.random.default_rng(seed + 1000), law=law)


def our_receive(name: str, rate: int, sig: np.ndarray, short_train: bool = False,
                blocks: str = "fixed", seed: int = 0):
    opts = {"short_train": True} if short_train else {}
    rx = modem.receiver(name, rate, **opts)
    got = []
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(sig):
        n = 160 if blocks == "fixed" else int(rng.integers(1, 8001))
        rx.rx(sig[i:i + n])
        got.append(rx.bits())
        i += n
    return np.concatenate(got), rx.events()


def assert_no_errors(sent: np.ndarray, got: np.ndarray, what: str) -> None:
    assert len(got) >= len(sent), f"{what}: only {len(got)} of {len(sent)} bits delivered"
    errors = int(np.count_nonzero(got[:len(sent)] != sent))
    assert errors == 0, f"{what}: {errors} bit errors in {len(sent)} (first bit at offset 0)"


# impairment cases: (id, kwargs); every case for every rate and direction
TO_OURS = [
    ("clean", {}),
    ("snr30", {"snr": 30.0, "noise_lead": True}),
    ("ulaw+100ppm+7Hz", {"law": "ulaw", "ppm": 100, "hz": 7.0}),
    ("alaw-100ppm-7Hz", {"law": "alaw", "ppm": -100, "hz": -7.0}),
    ("level-5", {"level": -5.0}),
    ("level-43", {"level": -43.0}),
    ("all-43dBm0", {"level": -43.0, "snr": 30.0, "law": "alaw", "ppm": 100, "hz": -7.0}),
]
TO_SPANDSP = [
    ("clean", {}),
    ("snr30", {"snr": 30.0}),
    ("ulaw+100ppm+7Hz", {"law": "ulaw", "ppm": 100, "hz": 7.0}),
    ("alaw-100ppm-7Hz", {"law": "alaw", "ppm": -100, "hz": -7.0}),
    ("level-5", {"level": -5.0}),
    ("level-24", {"level": -24.0}),
    ("all-24dBm0", {"level": -24.0, "snr": 30.0, "law": "ulaw", "ppm": -100, "hz": 7.0}),
]


def cases(rates, table):
    """pytest parameters: every line of ``table`` for every rate."""
    import pytest  # only the tests use this; faxcore.testing does not need pytest

    return [pytest.param(r, kw, id=f"{r}-{cid}") for r in rates for cid, kw in table]


def check_spandsp_to_ours(name: str, rate: int, line: dict, nbits: int) -> None:
    """spandsp's transmitter over ``line`` into ours: carrier up, trained, carrier down,
    never a failed training, every bit right."""
    need_spandsp()
    bits = random_bits(nbits, rate)
    sig = impair(spandsp_burst(name, rate, bits), lead=800, seed=rate, **line)
    got, events = our_receive(name, rate, sig)
    kinds = [e.kind for e in events]
    assert kinds[:2] == [CARRIER_UP, TRAINING_SUCCEEDED], kinds
    assert CARRIER_DOWN in kinds and TRAINING_FAILED not in kinds
    assert_no_errors(bits, got, f"spandsp {LABEL[name]}/{rate} -> ours {line}")


def check_ours_to_spandsp(name: str, rate: int, line: dict, nbits: int) -> None:
    """Our transmitter over ``line`` into spandsp's receiver: it trains, every bit right."""
    need_spandsp()
    bits = random_bits(nbits, rate + 1)
    sig = impair(our_burst(name, rate, bits), seed=rate, **line)
    rx = sp.receiver(name, rate)
    rx.rx(sig)
    st = statuses(rx)
    assert sp.SIG_STATUS_TRAINING_SUCCEEDED in st, st
    assert_no_errors(bits, rx.bits(), f"ours {LABEL[name]}/{rate} -> spandsp {line}")


def check_survives_arbitrary_input(name: str, rate: int, data: bytes, block: int,
                                   **opts) -> None:
    """Hostile audio: any int16 values in any block size never crash or hang the
    receiver, and nothing is delivered without a training that succeeded."""
    x = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)
    rx = modem.receiver(name, rate, **opts)
    for i in range(0, len(x), block):
        rx.rx(x[i:i + block])
    bits = rx.bits()
    kinds = [e.kind for e in rx.events()]
    assert bits.size == 0 or TRAINING_SUCCEEDED in kinds
    assert set(np.unique(bits)) <= {0, 1}


#: samples of the long training before the first data bit (ours and spandsp's)
LONG_TRAIN_SAMPLES = {"v17": 11144, "v29": 2024}


def with_noise_hit(name: str, burst: np.ndarray, *, at: float, ms: float, seed: int,
                   lead: int = 800, replace: bool = False) -> tuple[np.ndarray, int, int]:
    """``burst`` at -10 dBm0 after ``lead`` samples of silence, with white noise at the
    signal's power (-10 dBm0) added to it (or, ``replace``, instead of it) for ``ms``
    milliseconds starting ``at`` (0..1) of the way through the data. Returns (int16
    signal, first and last+1 sample of the hit)."""
    x = impair(burst, lead=lead, seed=seed).astype(np.float64)
    train = LONG_TRAIN_SAMPLES[name]
    start = lead + train + int((len(burst) - train) * at)
    n = int(ms * 8)
    noise = np.random.default_rng(seed + 99).normal(0.0, dsp.dbm0_to_rms(-10.0), n)
    x[start:start + n] = noise if replace else x[start:start + n] + noise
    return dsp.to_int16(x), start, start + n


def data_bit_at(name: str, rate: int, sample: int, lead: int = 800) -> int:
    """Index of the data bit being sent at ``sample`` (of a signal made by
    ``with_noise_hit``), to within a symbol."""
    return (sample - lead - LONG_TRAIN_SAMPLES[name]) * rate // 8000


def two_piece_burst_digest(name: str, rate: int, block: int, **options) -> tuple[str, int]:
    """A transmitter's burst in ``block``-sample calls, hashed: sha256 over each block's
    samples with ``sure_samples()`` and ``continues_past(block)`` after it; returns
    (hex digest, samples). The data comes in two pieces, the first announced as not
    final, and the second only after the first has run out (so the fill is sent in
    between). ``options`` go to :func:`faxcore.modem.transmitter`."""
    rng = np.random.default_rng(rate + block)
    first = rng.integers(0, 2, rate // 4, dtype=np.uint8)
    second = rng.integers(0, 2, rate // 3, dtype=np.uint8)
    tx = modem.transmitter(name, rate, **options)
    tx.send(first, final=False)
    h = hashlib.sha256()
    total = 0
    late = int(8000 * (len(first) / rate)) + 8000
    sent = False
    while not tx.done and total < 80000:
        if not sent and total >= late:
            tx.send(second, final=True)
            sent = True
        out = tx.tx(block)
        assert out.dtype == np.int16 and out.shape == (block,)
        h.update(out.tobytes())
        h.update(np.array([tx.sure_samples(), tx.continues_past(block)], np.int64).tobytes())
        total += block
    assert tx.done
    return h.hexdigest(), total
