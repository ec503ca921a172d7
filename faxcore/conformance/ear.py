"""The tester's ear in audio mode: :class:`LineAnalyser` listens to the DUT's 8 kHz audio
and turns it into what the DUT said, with times: tones (CED/CNG), V.21 frames (with the
measured preamble) and fast-modem bursts (kept as audio; the audio runner demodulates
them once an ``R`` step says which modem to expect). The timing checks in
:mod:`faxcore.conformance.audio` read the start and end times it records.
"""

from __future__ import annotations

import numpy as np

from faxcore.modem import SAMPLE_RATE
from faxcore.modem.hdlc import HdlcEncoder, HdlcReceiver

AUDIO_CHUNK = 80              # 10 ms: the tester's transmit/receive granularity
LOUD = 64                     # |sample| above this is signal (our modems send ~ -10 dBm0)
QUIET_END = 160               # 20 ms without signal ends a burst


def _hdlc_bits(frame: bytes) -> int:
    """Bits of a frame on the line: stuffed data and FCS plus its closing flag."""
    enc = HdlcEncoder()
    enc.frame(frame)
    return len(enc.take())


class LineAnalyser:
    """The tester's ear: cuts the DUT's audio into bursts (signal between >= 20 ms of
    quiet) and classifies each finished burst: a CED/CNG tone (spectral share of 2100 /
    1100 Hz), V.21 HDLC (our V.21 HDLC receiver finds frames; one entry per frame, with
    the burst's start and the measured preamble), else a fast-modem burst kept as audio
    and demodulated when an ``R TCF/MSG/PP`` step says at which modem."""

    def __init__(self, out: list, signals: list) -> None:
        self.out = out              # the runner's DUT output log, appended to
        self.signals = signals      # (start, end, who) of every burst on the line
        self.start: float | None = None
        self.last_loud = 0.0
        self.quiet = 0
        self.buf: list[np.ndarray] = []

    @property
    def active(self) -> bool:
        """A burst has started and not yet ended."""
        return self.start is not None

    def feed(self, x: np.ndarray, t0: float) -> None:
        """Hear the DUT's int16 samples ``x``, the first at time ``t0`` (seconds)."""
        loud = np.flatnonzero(np.abs(x.astype(np.int32)) > LOUD)
        if loud.size:
            if self.start is None:
                self.start = t0 + loud[0] / SAMPLE_RATE
                self.buf = [x[loud[0]:]]
            else:
                self.buf.append(x)
            self.last_loud = t0 + (loud[-1] + 1) / SAMPLE_RATE
            self.quiet = len(x) - 1 - loud[-1]
            return
        if self.start is None:
            return
        self.buf.append(x)
        self.quiet += len(x)
        if self.quiet >= QUIET_END:
            self._finish()

    def _finish(self) -> None:
        start, end = self.start, self.last_loud
        audio = np.concatenate(self.buf)[:max(1, round((end - start) * SAMPLE_RATE))]
        self.start, self.buf, self.quiet = None, [], 0
        spec = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
        total = spec.sum() or 1.0
        for name, hz in (("CED", 2100.0), ("CNG", 1100.0)):
            if spec[np.abs(freqs - hz) <= 30].sum() > 0.8 * total:
                self.signals.append((start, end, "DUT tone"))
                self.out.append((start, end, "tone", name, {"duration": end - start}))
                return
        rx = HdlcReceiver("v21", 300)
        frames = []
        padded = np.concatenate([audio, np.zeros(SAMPLE_RATE // 4, np.int16)])
        for i in range(0, padded.size, AUDIO_CHUNK):
            rx.rx(padded[i:i + AUDIO_CHUNK])
            for e in rx.frames():
                if e.ok:  # a fast burst may decode as a bad "frame"; never as a good one
                    frames.append((start + (i + AUDIO_CHUNK) / SAMPLE_RATE, e))
        if frames:
            self.signals.append((start, end, "DUT hdlc"))
            for n, (t_det, e) in enumerate(frames):
                data = bytes(e.data)
                fstart = t_det - _hdlc_bits(data) / 300
                info = {"burst_start": start, "burst_end": end, "index": n, "ok": e.ok}
                if n == 0:
                    info["preamble"] = fstart - start
                self.out.append((fstart, t_det, "hdlc", data, info))
            return
        self.signals.append((start, end, "DUT fast"))
        self.out.append((start, end, "fast", audio, {}))
