"""Two fax stations back to back on 8 kHz audio, and what a telephone line does to it.

A *station* is anything with ``tx(n) -> int16 samples``, ``rx(samples)`` and ``done``:
a :class:`faxcore.FaxSession`, spandsp's :class:`~faxcore.testing.spandsp.SpandspFax`,
a Class 1 modem emulator's line side. :func:`run_call` plays a call between two of them
in 20 ms blocks until both are done.

An *impairment* is a callable ``(samples, start) -> samples``: it gets a block of int16
samples and the line time of its first sample (in samples from the start of the call)
and returns what the far end hears. The ones here are small and composable
(:func:`chain`): :class:`Noise` (white noise of an RMS or at an SNR, optionally gated
to where a signal is on the line), :class:`G711`, :class:`Cut` (the line goes dead),
:class:`Hits` (bursts of noise at given times). They keep their random state, so a
call is the same every run for a seed.

The modem tests impair a whole burst at once with :func:`burst_channel` (its level, a
clock offset, a carrier offset, AWGN, silence around it, G.711): resampling and
frequency shifting work on a whole signal, not block by block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from faxcore.modem import dsp, g711

SAMPLE_RATE = 8000
BLOCK = 160  # samples per turn: 20 ms, the block size of a softmodem or RTP

Impairment = Callable[[np.ndarray, int], np.ndarray]


def chain(*impairments: Impairment) -> Impairment:
    """The impairments one after another (the first applies first)."""
    def line(x: np.ndarray, start: int) -> np.ndarray:
        for imp in impairments:
            x = imp(x, start)
        return x

    return line


class G711:
    """G.711 A-law or µ-law encoding and decoding (``law`` "alaw" or "ulaw")."""

    def __init__(self, law: str):
        self.law = law

    def __call__(self, x: np.ndarray, start: int) -> np.ndarray:
        return g711.roundtrip(x, self.law)


class Noise:
    """White Gaussian noise of RMS ``rms`` added to every sample (``gated``: only where
    a signal is on the line, i.e. the sample is not 0, so silence stays silence)."""

    def __init__(self, rms: float, seed: int | np.random.Generator = 0, *,
                 gated: bool = False):
        self.rms = rms
        self.rng = np.random.default_rng(seed)
        self.gated = gated

    @classmethod
    def at_snr(cls, snr_db: float, signal_rms: float, seed: int | np.random.Generator = 0,
               *, gated: bool = False) -> Noise:
        """Noise ``snr_db`` dB below a signal of RMS ``signal_rms``."""
        return cls(signal_rms / 10 ** (snr_db / 20), seed, gated=gated)

    @classmethod
    def below_dbm0(cls, snr_db: float, level_dbm0: float,
                   seed: int | np.random.Generator = 0) -> Noise:
        """Noise ``snr_db`` dB below a signal at ``level_dbm0`` (e.g. -10 dBm0, RMS about
        5090; 32767 is the peak of a +3.14 dBm0 sine, not an RMS)."""
        return cls(dsp.dbm0_to_rms(level_dbm0 - snr_db), seed)

    def __call__(self, x: np.ndarray, start: int) -> np.ndarray:
        noise = self.rng.normal(0.0, self.rms, len(x))
        if self.gated:
            noise[x == 0] = 0.0
        return dsp.to_int16(x.astype(np.float64) + noise)


class Cut:
    """The line goes dead (silence) from line time ``at`` (samples) on."""

    def __init__(self, at: int):
        self.at = at

    def __call__(self, x: np.ndarray, start: int) -> np.ndarray:
        if start + len(x) <= self.at:
            return x
        y = x.copy()
        y[max(0, self.at - start):] = 0
        return y


class Hits:
    """Bursts of white noise of RMS ``rms`` added over ``spans``: (first sample, length)
    pairs in line time."""

    def __init__(self, spans: Sequence[tuple[int, int]], rms: float,
                 seed: int | np.random.Generator = 0):
        self.spans = list(spans)
        self.rms = rms
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray, start: int) -> np.ndarray:
        hit = False
        y = x.astype(np.float64)
        for first, n in self.spans:
            lo, hi = max(first, start), min(first + n, start + len(x))
            if lo < hi:
                y[lo - start:hi - start] += self.rng.normal(0.0, self.rms, hi - lo)
                hit = True
        return dsp.to_int16(y) if hit else x


class CallDidNotEnd(AssertionError):
    """The two stations were still running after the call's time limit."""


class BadStation(AssertionError):
    """A station broke the contract: ``tx(n)`` must give ``n`` int16 samples."""


def describe(station) -> str:
    """One line on how a station is doing (its result summary, or spandsp's status)."""
    result = getattr(station, "result", None)
    if result is not None and hasattr(result, "summary"):
        return result.summary()
    return str(getattr(station, "status_name", station))


def run_call(caller, answerer, *, impairments: Sequence[Impairment] = (),
             to_answerer: Sequence[Impairment] = (), to_caller: Sequence[Impairment] = (),
             max_seconds: float = 400.0, block: int = BLOCK,
             watch: Callable[[int], None] | None = None) -> float:
    """Play a call between two stations until both are done; returns its line time in
    seconds. Each turn both stations make ``block`` samples and hear the other's:
    ``impairments`` act on both directions (the caller's block first, then the
    answerer's), then ``to_answerer`` on what the caller sent and ``to_caller`` on what
    the answerer sent. ``watch(n)`` is called after each turn with the samples played so
    far (to report progress, or to change something mid-call). :class:`CallDidNotEnd`
    once ``max_seconds`` of line time have gone; :class:`BadStation` if a station's
    block is not ``block`` int16 samples."""
    ab = chain(*impairments, *to_answerer)
    ba = chain(*impairments, *to_caller)
    n = 0
    while not (caller.done and answerer.done):
        x, y = caller.tx(block), answerer.tx(block)
        for station, out in ((caller, x), (answerer, y)):
            if out.dtype != np.int16 or len(out) != block:
                raise BadStation(f"{type(station).__name__}.tx({block}) gave "
                                 f"{len(out)} {out.dtype} samples, not {block} int16")
        x = ab(x, n)
        y = ba(y, n)
        caller.rx(y)
        answerer.rx(x)
        n += block
        if watch is not None:
            watch(n)
        if n >= max_seconds * SAMPLE_RATE:
            raise CallDidNotEnd(f"call still running after {max_seconds:g} s of line time: "
                                f"{describe(caller)} / {describe(answerer)}")
    return n / SAMPLE_RATE


def burst_channel(sig: np.ndarray, *, level: float | None = None, ppm: float = 0.0,
                  hz: float = 0.0, snr: float | None = None, signal_dbm0: float | None = None,
                  lead: int = 0, tail: int = 0, noise: str = "burst",
                  rng: np.random.Generator | None = None, law: str | None = None) -> np.ndarray:
    """A whole burst ``sig`` over a line, as int16: scaled to ``level`` dBm0, a clock
    offset of ``ppm``, a carrier offset of ``hz``, ``lead`` / ``tail`` samples of silence
    around it, white noise ``snr`` dB below the signal, then G.711 ``law``.

    The noise's reference power is that of a signal at ``signal_dbm0``, or else the
    burst's measured power (its samples above 0.5 in magnitude). Where the noise goes
    (``noise``): "burst" over the burst only (the silence is added after); "lead" over
    the leading silence and the burst (a noise floor before the carrier; the silence
    goes through the clock and carrier offsets with the burst); "active" from the first
    to the last sample of the burst after the silence is added; "all" everywhere."""
    if noise not in ("burst", "lead", "active", "all"):
        raise ValueError(f"noise: {noise!r}")
    x = np.asarray(sig, dtype=np.float64)
    if level is not None:
        x = dsp.scale_to_dbm0(x, level)
    pre = lead if noise == "lead" else 0
    x = np.concatenate([np.zeros(pre), x])
    if ppm:
        x = dsp.resample_clock(x, ppm)
    if hz:
        x = dsp.frequency_shift(x, hz)
    padded = noise in ("active", "all")
    if padded:
        x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    if snr is not None:
        active = np.nonzero(np.abs(x) > 0.5)[0]
        power = dsp.dbm0_to_rms(signal_dbm0) ** 2 if signal_dbm0 is not None \
            else float(np.mean(x[active] ** 2))
        lo, hi = (active[0], active[-1] + 1) if noise == "active" else (0, len(x))
        x[lo:hi] = dsp.add_awgn(x[lo:hi], snr,
                                rng if rng is not None else np.random.default_rng(0),
                                signal_power=power)
    if not padded:
        x = np.concatenate([np.zeros(lead - pre), x, np.zeros(tail)])
    y = dsp.to_int16(x)
    if law:
        y = g711.roundtrip(y, law)
    return y
