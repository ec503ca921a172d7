"""Fax call tones: CNG (calling, 1100 Hz 0.5 s on / 3 s off) and CED (answer, 2100 Hz,
2.6-4 s), generation and detection; V.21 preamble flags as a fax answer without CED.

Detection works on 10 ms blocks: a single-bin DFT (Goertzel-like, vectorised) gives the
power at 1100 and 2100 Hz; a block counts as "tone" when that tone holds most of the
block's energy *after removing the other fax tone* (so the echo of our own CNG does not
hide the far end's CED) and is above the level threshold. CED uses 20 ms coherent windows
(tighter frequency tolerance, about ±20 Hz); CNG 10 ms ones (its tolerance is ±38 Hz).
Cadence checks then reject speech: CNG must be a single 0.4-0.65 s burst, CED must last
0.5 s before it is reported.

    det = ToneDetector()
    det.rx(samples)
    for ev in det.events(): ev.kind, ev.sample, ev.duration   # "cng", "ced", "ced_end", "v21_preamble"
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from faxcore.modem.base import SAMPLE_RATE, as_samples
from faxcore.modem.dsp import dbm0_to_peak, dbm0_to_rms

CNG_HZ = 1100.0
CED_HZ = 2100.0
DEFAULT_TONE_LEVEL_DBM0 = -11.0
BLOCK = 80  # 10 ms

__all__ = ["CedGenerator", "CngGenerator", "ToneDetector", "ToneEvent"]


class _ToneGen:
    def __init__(self, freq: float, level_dbm0: float) -> None:
        if not -60.0 <= level_dbm0 <= 3.0:
            raise ValueError("level_dbm0 must be within -60..+3 dBm0")
        self._amp = dbm0_to_peak(level_dbm0)
        self._w = 2.0 * np.pi * freq / SAMPLE_RATE
        self.position = 0  # samples generated so far

    def _table(self, n: int) -> np.ndarray:
        """``rint(amp sin(w i))`` for ``i`` in ``0..n-1``, as int16, computed once per
        tone, level and length and shared (read-only): the generators copy slices of it
        instead of computing sines per block (the very same values)."""
        return _tone_table(self._w, self._amp, n)


@functools.lru_cache(maxsize=32)
def _tone_table(w: float, amp: float, n: int) -> np.ndarray:
    t = np.rint(amp * np.sin(w * np.arange(n))).astype(np.int16)
    t.setflags(write=False)
    return t


class CngGenerator(_ToneGen):
    """CNG: 1100 Hz, 0.5 s on, 3 s off, repeating forever (``cycles`` limits it)."""

    ON = SAMPLE_RATE // 2
    PERIOD = SAMPLE_RATE * 7 // 2

    def __init__(self, level_dbm0: float = DEFAULT_TONE_LEVEL_DBM0, cycles: int | None = None):
        super().__init__(CNG_HZ, level_dbm0)
        self.cycles = cycles

    @property
    def done(self) -> bool:
        return self.cycles is not None and self.position >= self.cycles * self.PERIOD

    def continues_past(self, n: int) -> bool:
        """True if ``tx(n)`` surely leaves ``done`` False: the session then plays the
        block in one piece instead of 40 samples at a time (the same samples)."""
        return self.cycles is None or self.position + n < self.cycles * self.PERIOD

    def tx(self, n: int) -> np.ndarray:
        # each burst starts at phase 0: sample k of a period is the table's k while on
        pos = self.position
        self.position += n
        table = self._table(self.ON)
        out = np.zeros(n, np.int16)
        k = 0
        while k < n:
            at = (pos + k) % self.PERIOD
            m = min(n - k, self.PERIOD - at)
            if at < self.ON:
                j = min(m, self.ON - at)
                out[k:k + j] = table[at:at + j]
            k += m
        if self.cycles is not None:
            end = self.cycles * self.PERIOD - pos
            if end < n:
                out[max(0, end):] = 0
        return out


class CedGenerator(_ToneGen):
    """CED: ``silence_before`` seconds of silence, then 2100 Hz for ``duration`` seconds
    (default 3.3 s), then silence; ``done`` after the tone."""

    def __init__(self, level_dbm0: float = DEFAULT_TONE_LEVEL_DBM0, duration: float = 3.3,
                 silence_before: float = 0.0):
        super().__init__(CED_HZ, level_dbm0)
        if not 0.0 < duration <= 10.0 or silence_before < 0:
            raise ValueError("bad CED timing")
        self._start = int(round(silence_before * SAMPLE_RATE))
        self._end = self._start + int(round(duration * SAMPLE_RATE))

    @property
    def done(self) -> bool:
        return self.position >= self._end

    def continues_past(self, n: int) -> bool:
        """True if ``tx(n)`` surely leaves ``done`` False (see CngGenerator's)."""
        return self.position + n < self._end

    def tx(self, n: int) -> np.ndarray:
        pos = self.position
        self.position += n
        out = np.zeros(n, np.int16)
        a, b = max(pos, self._start), min(pos + n, self._end)
        if a < b:  # the tone's samples in this block: slices of its table
            table = self._table(self._end - self._start)
            out[a - pos:b - pos] = table[a - self._start:b - self._start]
        return out


@dataclass(frozen=True)
class ToneEvent:
    """``kind``: "cng" (a CNG burst ended; ``sample`` = its start, ``duration`` samples),
    "ced" (CED present for 0.5 s; ``sample`` = its start), "ced_end" (``sample`` = end of
    the tone, ``duration`` = its length), "v21_preamble" (V.21 HDLC flags, ``sample`` =
    detection time)."""

    kind: str
    sample: int
    duration: int = 0


class _Run:
    """On/off tracking of one tone over 10 ms blocks, with a one-block dropout allowed."""

    def __init__(self) -> None:
        self.on = False
        self.start = 0
        self.last = 0      # index of the last block that had the tone
        self.gap = 0
        self.reported = False

    def update(self, present: bool, block: int) -> tuple[int, int] | None:
        """Returns (start_block, end_block_exclusive) when a run ends."""
        if present:
            if not self.on:
                self.on = True
                self.start = block
                self.reported = False
            self.last = block
            self.gap = 0
            return None
        if self.on:
            self.gap += 1
            if self.gap > 1:
                self.on = False
                return self.start, self.last + 1
        return None


class ToneDetector:
    """CNG / CED / V.21 preamble detector (see module docstring).

    Options: ``min_level_dbm0`` (default -45), ``detect`` (subset of
    {"cng", "ced", "v21"}; default all)."""

    def __init__(self, *, min_level_dbm0: float = -45.0,
                 detect: tuple[str, ...] = ("cng", "ced", "v21")) -> None:
        bad = set(detect) - {"cng", "ced", "v21"}
        if bad:
            raise ValueError(f"unknown tone kinds {sorted(bad)}")
        self.detect = tuple(detect)
        self._buf = np.zeros(0, np.int16)
        self._block = 0
        self._events: list[ToneEvent] = []
        # mean square of a sine at the minimum level, per block
        self._min_ms = dbm0_to_rms(min_level_dbm0) ** 2
        k = np.arange(BLOCK)
        self._e_cng = np.exp(-2j * np.pi * CNG_HZ * k / SAMPLE_RATE)
        self._e_ced = np.exp(-2j * np.pi * CED_HZ * k / SAMPLE_RATE)
        self._prev_ced = 0j
        self._prev_energy = 0.0
        self._prev_cng_pow = 0.0
        self._cng = _Run()
        self._ced = _Run()
        self._v21 = None
        if "v21" in self.detect:
            # Only for V.21 detection: hdlc needs a compiled core, the tones do not.
            from faxcore.modem.hdlc import HdlcReceiver

            self._v21 = HdlcReceiver("v21", 300)
        self.position = 0

    def rx(self, samples) -> None:
        x = as_samples(samples)
        if self._v21 is not None and x.size:
            self._v21.rx(x)
            for ev in self._v21.events():
                if getattr(ev, "kind", None) == "flags":
                    self._events.append(ToneEvent("v21_preamble", self.position + x.size))
        self.position += x.size
        buf = np.concatenate([self._buf, x]) if self._buf.size else x
        nb = buf.size // BLOCK
        self._buf = buf[nb * BLOCK:].copy()
        if nb == 0:
            return
        blocks = buf[:nb * BLOCK].reshape(nb, BLOCK).astype(np.float64)
        energy = np.einsum("ij,ij->i", blocks, blocks)
        first = self._block
        idx0 = (first + np.arange(nb)) * BLOCK
        # phase reference at each block's absolute start, so consecutive blocks add coherently
        rot_ced = np.exp(-2j * np.pi * CED_HZ * idx0 / SAMPLE_RATE)
        xc = (blocks @ self._e_cng)
        xd = (blocks @ self._e_ced) * rot_ced
        # power of a tone in the block: |X|^2 * 2 / N equals its share of sum(x^2)
        p_cng = np.abs(xc) ** 2 * (2.0 / BLOCK)
        p_ced10 = np.abs(xd) ** 2 * (2.0 / BLOCK)
        for i in range(nb):
            b = first + i
            e = energy[i]
            # CED on 20 ms (this block + the previous one), coherent
            x2 = xd[i] + self._prev_ced
            e2 = e + self._prev_energy
            p_ced20 = abs(x2) ** 2 * (2.0 / (2 * BLOCK))
            other_cng = p_cng[i] + self._prev_cng_pow
            self._prev_ced, self._prev_energy, self._prev_cng_pow = xd[i], e, p_cng[i]
            if "ced" in self.detect:
                rest = max(e2 - other_cng, 1e-9)
                present = (p_ced20 > 0.6 * rest and p_ced20 > self._min_ms * 2 * BLOCK)
                self._ced_update(present, b)
            if "cng" in self.detect:
                rest = max(e - p_ced10[i], 1e-9)
                present = p_cng[i] > 0.5 * rest and p_cng[i] > self._min_ms * BLOCK
                self._cng_update(present, b)
        self._block = first + nb

    def _cng_update(self, present: bool, b: int) -> None:
        ended = self._cng.update(present, b)
        if ended:
            start, end = ended
            dur = (end - start) * BLOCK
            if int(0.4 * SAMPLE_RATE) <= dur <= int(0.65 * SAMPLE_RATE):
                self._events.append(ToneEvent("cng", start * BLOCK, dur))

    def _ced_update(self, present: bool, b: int) -> None:
        run = self._ced
        ended = run.update(present, b)
        # the 20 ms window lags by one block: the tone began one block earlier than the
        # first window that saw it fully; count from the window's first block
        if run.on and not run.reported and (b - run.start + 1) * BLOCK >= SAMPLE_RATE // 2:
            run.reported = True
            self._events.append(ToneEvent("ced", (run.start - 1) * BLOCK))
        if ended:
            start, end = ended
            if run.reported:
                dur = (end - start + 1) * BLOCK
                self._events.append(ToneEvent("ced_end", end * BLOCK, dur))

    def events(self) -> list[ToneEvent]:
        ev, self._events = self._events, []
        return ev
