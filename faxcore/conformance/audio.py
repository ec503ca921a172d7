"""The audio TSB-85 tester: the same procedures, with the DUT a
:class:`faxcore.session.FaxSession` (T.30 engine + software modems) on an 8 kHz line, so
that tone, preamble, silence, turnaround and TCF timing can be measured.

:class:`AudioRunner` keeps :class:`~faxcore.conformance.runner.Runner`'s step logic and
replaces the line: the tester makes audio with faxcore's modem transmitters and hears
the DUT with :class:`~faxcore.conformance.ear.LineAnalyser`.

In detail (``run(..., audio=True)``, ``faxcore conformance tsb85 FILE --audio``): the
tester sends CNG/CED, V.21 bursts (37 preamble flags, 5 closing), TCF, pages and ECM
blocks (~200 ms of flags, 10 closing) with faxcore's modem transmitters, and cuts the
DUT's audio into bursts (|sample| > 64, 20 ms of quiet ends one) that it classifies
(CED/CNG by spectrum, V.21 by our HDLC receiver, else a fast burst, demodulated at the
step's modem). Measured, and a failure when out of range: CED length (2.6-4 s), V.21
preamble (1 s +- 15 %), TCF length (1.5 s +- 10 %), the silence where the DUT switches
between its own signals (CED -> V.21, V.21 -> TCF/page, page/block -> V.21: 75 +- 20 ms;
the 20 ms of no energy that open V.27ter/V.29 training count as signal), and the
turnaround after the tester's signal (the DUT must not start before it ends, and must
answer within T2's 7 s). Bounds a step's ``<check>`` names ("preamble is 850ms to
1150ms", "interval ... between 5.0s and 7.0s") replace these. The checks made, with
their measured values, are in ``Outcome.timings``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from faxcore import modem
from faxcore.conformance.ear import AUDIO_CHUNK, LOUD, LineAnalyser
from faxcore.conformance.model import Outcome, Procedure, Step
from faxcore.conformance.runner import Mismatch, Runner
from faxcore.modem import SAMPLE_RATE
from faxcore.modem.hdlc import HdlcReceiver, HdlcTransmitter
from faxcore.modem.tones import CedGenerator, CngGenerator
from faxcore.session import FaxSession
from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import DCSParams
from faxcore.t30.frames import Frame, FrameError
from faxcore.t30.modem_if import V21, LineDropped, Modulation

_CED_S = (2.6, 4.0)           # T.30 5.3.2.1: CED 2.6 s to 4 s
_PREAMBLE_S = (0.85, 1.15)    # T.30 5.3.1: V.21 preamble 1 s +- 15 %
_GAP_S = (0.055, 0.095)       # T.30 5.3.2.4: 75 +- 20 ms before a fast burst / after CED
_RESPONSE_S = (0.0, 7.0)      # not before the far end's signal ends; within T2 (6 +- 1 s)
_TCF_S = (1.35, 1.65)         # T.30 5.3.6.1: TCF 1.5 s +- 10 %

# "NAME is 850ms to 1150ms", "between 5.0s and 7.0s": bounds a <check> names
_BOUNDS = re.compile(
    r"(\d+(?:\.\d+)?)\s*(ms|s)\b\s*(?:to|and)\s*(\d+(?:\.\d+)?)\s*(ms|s)\b")


def _check_bounds(desc: str) -> tuple[float, float] | None:
    m = _BOUNDS.search(desc)
    if not m:
        return None
    lo = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    hi = float(m.group(3)) / (1000 if m.group(4) == "ms" else 1)
    return lo, hi


class _AudioDut:
    """What the step logic asks of the DUT, for a FaxSession on the line."""

    next_deadline = None

    def __init__(self, runner: AudioRunner):
        self.r = runner

    @property
    def done(self) -> bool:
        return self.r.session.done and not self.r.ear.active

    @property
    def result(self):
        return self.r.session.result


class AudioRunner(Runner):
    """Audio mode: the DUT is a :class:`faxcore.session.FaxSession` (engine + software
    modems) on an 8 kHz line; the tester makes audio with faxcore's modem transmitters
    and listens with its receivers, so tone, preamble and turnaround timing is measured.
    The steps are played by :class:`Runner`'s logic; only the line is different."""

    def __init__(self, proc: Procedure, pages_dir: Path, wait_carrier_end: bool = True):
        super().__init__(proc, pages_dir)
        self.wait_carrier_end = wait_carrier_end
        self.session: FaxSession | None = None
        self.src = None               # what the tester is sending
        self.signals: list[tuple[float, float, str]] = []
        self.ear = LineAnalyser(self.out, self.signals)
        self.pending: list[tuple[bytes, bool]] | None = None  # frames of the open burst
        self.long_train_next = False  # V.17: long training after CTC (T.30 A.4.1)
        self.timings: list[dict] = []
        self.carried: list[str] = []  # <check>s of a skipped optional frame
        self.timed: set[float] = set()  # V.21 bursts whose timing was checked

    def start(self, calling: bool, settings: dict, doc: str | None) -> None:
        pages = self._pages(doc) if doc else []
        for extra in settings.get("TXFILES", []):
            more = self._pages(extra)
            if pages:
                more[0].new_document = True
            pages += more
        self.session = FaxSession(
            calling, send=pages, poll=calling and not pages, ident=settings.get("IDENT", ""),
            poll_password=settings.get("R:PWD", ""),
            password=settings.get("PWD", "") if calling else "",
            wait_carrier_end=self.wait_carrier_end)
        self.dut = _AudioDut(self)

    # ---- the line -----------------------------------------------------------------------

    def _tick(self) -> None:
        n = AUDIO_CHUNK
        if self.src is not None:
            a = self.src.tx(n)
            # the signal ends at its last loud sample, which may be chunks before the
            # source is done (a modem's tail of silence can be longer than a chunk)
            loud = np.flatnonzero(np.abs(a.astype(np.int32)) > LOUD)
            if loud.size:
                self._tx_end = self.now + (loud[-1] + 1) / SAMPLE_RATE
            if self.src.done:
                self.src = None
                self.signals.append((self._tx_start, self._tx_end, "tester"))
        else:
            a = np.zeros(n, np.int16)
        self.session.rx(a)
        self.ear.feed(self.session.tx(n), self.now)
        self.now += n / SAMPLE_RATE

    def advance(self, until: float) -> None:
        while self.now + 1e-9 < until:
            self._tick()

    def _wait(self, deadline: float) -> None:
        seen = len(self.out)
        while self.now + 1e-9 < deadline and len(self.out) == seen and not self.dut.done:
            self._tick()

    def _event(self, ev) -> None:  # the line carries audio only
        raise AssertionError("no modem events in audio mode")

    def _play(self, src) -> None:
        self.src = src
        self._tx_start = self._tx_end = self.now
        limit = self.now + 600.0
        while self.src is not None and self.now < limit:
            self._tick()

    # ---- tester transmissions -----------------------------------------------------------

    def _opts(self, mod: Modulation, long_train: bool) -> dict:
        return {"short_train": not long_train} if mod.name == "v17" else {}

    def t_tone(self, tone: str) -> None:
        self._play(CngGenerator(cycles=1) if tone == "CNG" else CedGenerator(duration=3.0))

    def t_clear(self) -> None:
        # The network clears the call: the DUT's line interface reports it.
        if not self.session.engine.done:
            self.session._event(LineDropped())

    def _signal_open(self) -> bool:
        return self.pending is not None

    def t_preamble(self, mod: Modulation) -> None:
        self._flush()
        self.burst = mod
        self.pending = []

    def t_hdlc(self, value: str, crc_error: bool) -> None:
        raw = self._tester_frame(value, crc_error)
        f = Frame.parse(raw) if len(raw) >= 3 else None
        if f is not None and f.name == "CTC":
            self.long_train_next = True
        if self.pending is None:
            self.burst, self.pending = V21, []
        self.pending.append((raw, crc_error))

    def t_pp(self, attrs: dict) -> None:
        frames, bad = self._pp_block(attrs)
        if self.pending is None:
            self.pending = []
        self.pending += [(ecm_mod.fcd_frame(n, p), n == bad) for n, p in enumerate(frames)]
        self.pending += [(ecm_mod.rcp_frame(), False)] * 3

    def t_postamble(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self.pending is None:
            return
        mod, frames = self.burst or V21, self.pending
        self.pending, self.burst = None, None
        # The file's header: 37 preamble flags, 1 flag between frames, 5 (V.21) or 10
        # (fast) closing flags; ECM blocks have about 200 ms of flags before them.
        if mod == V21:
            tx = HdlcTransmitter("v21", 300, preamble=37, trailing_flags=5)
        else:
            tx = HdlcTransmitter(mod.name, mod.rate, preamble_ms=200.0, trailing_flags=10,
                                 **self._opts(mod, self.long_train_next))
            self.long_train_next = False
        for raw, bad in frames:
            tx.send(raw, final=False, corrupt=bad)
        tx.send([], final=True)
        self._play(tx)

    def _fast(self, mod: Modulation, data: bytes, long_train: bool) -> None:
        self._flush()
        tx = modem.transmitter(mod.name, mod.rate, **self._opts(mod, long_train))
        tx.send(np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little"), final=True)
        self._play(tx)

    def t_tcf(self, mod: Modulation, octets: int, pattern: int = 0) -> None:
        bad = min(pattern, octets)
        self._fast(mod, b"\x55" * bad + bytes(octets - bad), True)

    def t_msg(self, mod: Modulation, value: str, bad_rows: str | None = None) -> None:
        self._fast(mod, self._msg_data(mod, value, bad_rows), self.long_train_next)
        self.long_train_next = False

    # ---- what the tester hears ----------------------------------------------------------

    def r_silence(self) -> None:
        """Wait until the DUT's signal on the line has ended (20 ms of quiet)."""
        limit = self.now + 60.0
        while self.ear.active and self.now < limit:
            self._tick()

    def _dut_dcs_mod(self) -> Modulation | None:
        for e in reversed(self.out[:self.cursor]):
            if e[2] == "hdlc" and len(e[3]) > 2:
                try:
                    f = Frame.parse(e[3])
                except FrameError:
                    continue
                if f.name == "DCS":
                    p = DCSParams.from_fif(f.fif)
                    return p.modulation
        return None

    def r_fast(self, kind: str, mod: Modulation | None, timeout: float):
        entry = self._next_output(("fast",), timeout)
        mod = mod or self._dut_dcs_mod()
        if mod is None:
            raise Mismatch(f"expected {kind.upper()}: cannot tell its modem")
        audio = np.concatenate([entry[3], np.zeros(SAMPLE_RATE // 2, np.int16)])
        info = entry[4]
        info.update(modem_name=mod.name, kind=kind)
        for long_train in ((True,) if kind == "tcf" or mod.name != "v17" else (False, True)):
            opts = self._opts(mod, long_train)
            if kind == "pp":
                rx = HdlcReceiver(mod.name, mod.rate, **opts)
                rx.rx(audio)
                good = [f for f in rx.frames() if f.ok]
                if good:
                    info.update(modem=str(mod), frames=len(good))
                    return entry
                continue
            rx = modem.receiver(mod.name, mod.rate, **opts)
            rx.rx(audio)
            if not any(e.kind == "training_succeeded" for e in rx.events()):
                continue
            bits = rx.bits()
            info.update(modem=str(mod), bits=int(bits.size))
            if kind == "tcf":
                # the zeros after training: the run of 0 bits is the TCF proper
                ones = np.flatnonzero(bits)
                zeros = int(bits.size - ones.size)
                info["tcf_seconds"] = zeros / mod.rate
                if zeros < 0.9 * bits.size:
                    raise Mismatch(f"expected TCF at {mod}: the data is not zeros")
            elif not bits.size:
                raise Mismatch(f"expected {kind.upper()} at {mod}: no data")
            return entry
        raise Mismatch(f"expected {kind.upper()} at {mod}: no {mod} carrier trained")

    # ---- timing -------------------------------------------------------------------------

    def _measure(self, step: Step, check: str, value: float, bounds: tuple[float, float],
                 unit: str = "s") -> None:
        lo, hi = bounds
        ok = lo <= value <= hi
        self.timings.append({"step": step.describe(), "check": check,
                             "measured": round(float(value), 4), "low": lo, "high": hi,
                             "unit": unit, "ok": bool(ok)})
        if not ok:
            raise Mismatch(f"{check}: measured {value * 1000:.0f} ms, expected "
                           f"{lo * 1000:.0f} to {hi * 1000:.0f} ms ({step.describe()})")

    def _prev_signal(self, t: float) -> tuple[float, str] | None:
        """(end, who) of the line signal before time ``t``; one still on at ``t`` (the
        DUT talking over it) counts, giving a negative gap."""
        before = [(e, w) for s_, e, w in self.signals if s_ < t - 1e-6]
        return max(before) if before else None

    def _named(self, step: Step) -> list[tuple[str, tuple[float, float], str]]:
        out = []
        checks, self.carried = step.attrs.get("_checks", []) + self.carried, []
        for c in checks:
            b = _check_bounds(c)
            if b:
                out.append((c, b, c.lower()))
        return out

    def _after_r(self, step: Step, entry) -> None:
        """Timing of what an ``R`` step matched: CED's length, the V.21 preamble, TCF's
        length, and the silence before the DUT's signal: 75 +- 20 ms where the DUT
        switches between its own signals (CED -> V.21, V.21 -> fast modem, fast -> V.21);
        after the tester's signal, the turnaround window (the DUT must not start before
        the tester's signal has ended, and must answer within T2). Bounds a ``<check>``
        names (e.g. "MCF to DIS interval ... between 5.0s and 7.0s") replace these."""
        if entry is None:
            # an optional frame (NSF) the DUT did not send: its checks (e.g. "preamble
            # is 850ms to 1150ms") apply to the frame that opens the burst instead
            self.carried = step.attrs.get("_checks", [])
            return
        kind, info = entry[2], entry[4]
        named = self._named(step)
        if kind == "tone":
            if entry[3] == "CED":
                b = next((b for c, b, lc in named if lc.startswith("ced is")), _CED_S)
                self._measure(step, "CED duration", info["duration"], b)
            return
        if kind == "hdlc":
            start = info["burst_start"]
            if start in self.timed:
                return
            # the burst's first frame may have been an optional one a step skipped
            self.timed.add(start)
            info = next(e[4] for e in self.out if e[2] == "hdlc"
                        and e[4]["burst_start"] == start and e[4]["index"] == 0)
            b = next((b for c, b, lc in named if "preamble" in lc), _PREAMBLE_S)
            self._measure(step, "V.21 preamble", info["preamble"], b)
        else:
            start = entry[0]
            if info.get("modem_name") in ("v27ter", "v29"):
                # V.27ter segment 2 / V.29 segment 1: 20 ms of no energy open the
                # training; the signal starts there
                start -= 0.020
            if "tcf_seconds" in info:
                self._measure(step, "TCF duration", info["tcf_seconds"], _TCF_S)
        prev = self._prev_signal(start)
        if prev is None:
            return
        gap, who = start - prev[0], prev[1]
        silence = next((b for c, b, lc in named if "silence" in lc or "interval" in lc), None)
        if silence:
            self._measure(step, "silence before the signal", gap, silence)
        elif who == "tester":
            self._measure(step, "turnaround (tester's end to DUT's start)", gap, _RESPONSE_S)
        elif who == "DUT fast" and kind == "hdlc" and any(
                e[2] == "fast" and e[1] == prev[0] and e[4].get("kind") == "tcf"
                for e in self.out):
            # after its TCF the DUT waits for the tester's answer: a V.21 signal next
            # is a command repeated after a timeout, not a switch of modems
            return
        elif who == "DUT tone" or (who == "DUT hdlc") != (kind == "hdlc"):
            what = {"DUT tone": "CED", "DUT hdlc": "V.21"}.get(who, "fast modem")
            self._measure(step, f"silence {what} -> {'V.21' if kind == 'hdlc' else step.type}",
                          gap, _GAP_S)

    def run(self) -> Outcome:
        out = super().run()
        out.mode = "audio" if self.wait_carrier_end else "audio (DUT answers at once)"
        out.timings = self.timings
        return out
