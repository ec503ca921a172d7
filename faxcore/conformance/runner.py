"""The interface-level TSB-85 tester: plays the tester's side of one procedure against a
:class:`~faxcore.t30.engine.T30Engine`, the device under test (DUT), and checks what the
DUT does. :class:`Runner` holds the step logic; the audio runner
(:mod:`faxcore.conformance.audio`) reuses it and only changes the line.

The tester works at the level of :mod:`faxcore.t30.modem_if` in virtual time: a ``T``
step becomes the events a modem would report to the DUT (carrier, frames, data), an
``R`` step is matched against the DUT's modem commands (tones, V.21 frames, TCF, page
data, ECM blocks, clearing). Checked: frame types and contents (spec-order hex with
``...`` as wildcard, the ``+`` tag suffix meaning "X bit set" is in the hex already),
the modulation of TCF/pages/blocks, clearing, and the final status. Not checked here:
tone and preamble timing, which need audio.

Interpretations where the file is silent or loose (each one documented here):

* NSF/NSC/NSS frames carry vendor data; we send none, so an ``R`` step expecting one is
  counted as *not checked* (not passed) when the DUT sends something else.
* Optional identification frames (CSI/TSI/CIG) the DUT sends before the frame a step
  names are skipped; a CRP the DUT sends after a frame the tester corrupted is skipped
  (the scripts say "CRP | nothing").
* ``T PP``: successive PP steps of one image send its successive blocks; ``crc_error``
  numbers the corrupted frame within the page; the frame count of the PPS that follows
  is set to the frames actually sent (the scripts' counts are nominal).
* ``T MSG bad_rows``: those rows (1-based) are replaced by invalid code; ``T TCF
  pattern=N``: the first N octets are 0x55 (01010101...).
* ``T MSG`` of the DURATION1/DURATION2 pages (the same bitmap in the PBM files): the
  middle row is padded with fill to a total coded scan line of 4.9 s / 5.1 s at the
  step's bit rate, the line lengths ETS 300 242 tests (T.4's 5 s maximum).
* The DUT uses its defaults (ECM 256-octet frames, all modems, MH/MR/MMR); ``SET
  IDENT/PWD/TXFILE`` and ``R SET PWD`` (the password the DUT requires from pollers)
  configure it; a ``TXFILE`` set after the start is a second document (EOM between).
* ``T PREAMBLE`` without a modem: more flags within the signal being sent (between its
  frames), or the start of a V.21 signal when none is open.
* ``T HDLC`` with ``...`` (e.g. a TSI written ``FF C0 42 9C ... 04 ...``): the tester
  sends the octets written before the ``...``; what follows it is left out.

A procedure never stops the run: a step the runner cannot play (bad hex, say), a page
file that is missing, or any error of the runner or the engine makes that procedure
FAIL with a one-line reason, and the next one is played.
"""

from __future__ import annotations

import logging
from pathlib import Path

from faxcore.conformance.model import Outcome, Procedure, Repeat, Step, parse_modem
from faxcore.conformance.pages import code_pages, coded_message, page_file, read_pbm_pages
from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import DCSParams
from faxcore.t30.engine import T30Config, T30Engine, TxPage
from faxcore.t30.frames import Frame, FrameError, bitrev, pps_fif
from faxcore.t30.modem_if import (
    V21,
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    HangUp,
    LineDropped,
    Modulation,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
    WrongCarrier,
)

log = logging.getLogger(__name__)

V21_PREAMBLE = 37 * 8 / 300.0
DEFAULT_TIMEOUT = 15.0


class Mismatch(Exception):
    """The DUT did not do what an ``R`` step expects: the procedure fails with this text."""


class BadStep(Exception):
    """A step the runner cannot play as written (the procedure fails with this text)."""


class PageMissing(BadStep):
    """A page file a step names is not there."""


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line of at most ``limit`` characters (a failure reason)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Runner:
    """Plays one procedure against a T30Engine at the modem interface.

    :meth:`run` walks the steps: ``t_*`` methods are the tester's transmissions, ``r_*``
    methods match what the DUT must do. Everything the DUT sends is logged in ``out``
    as (start, end, kind, payload) and ``cursor`` is how far the ``R`` steps have read
    it. The audio runner overrides the line: :meth:`start`, :meth:`advance`, ``_wait``,
    ``_event``, the ``t_*`` methods, ``r_fast``, ``r_silence`` and ``_after_r``.
    """

    def __init__(self, proc: Procedure, pages_dir: Path):
        self.proc = proc
        self.pages_dir = pages_dir
        self.now = 0.0
        self.dut: T30Engine | None = None
        self.rx = None              # the DUT's current receive command
        self.tx_end: float | None = None
        self.out: list[tuple] = []  # DUT output log: (start, end, kind, payload)
        self.cursor = 0
        self.tester_dcs: DCSParams | None = None
        self.burst: Modulation | None = None
        self.pp_state: dict = {}
        self.last_pp_count = 0
        self.checked = 0
        self.unchecked = 0
        self.trace: list[str] = []

    # ---- DUT plumbing --------------------------------------------------------------

    def _page_file(self, value: str) -> Path:
        """The PBM file of the page ``value`` names; PageMissing if it is not there."""
        path = page_file(self.pages_dir, value)
        if not path.is_file():
            raise PageMissing(f"page file missing: {path}")
        return path

    def _pages(self, value: str) -> list[TxPage]:
        return [TxPage(p, "standard") for p in read_pbm_pages(self._page_file(value))]

    def start(self, calling: bool, settings: dict, doc: str | None) -> None:
        pages = self._pages(doc) if doc else []
        for extra in settings.get("TXFILES", []):
            more = self._pages(extra)
            if pages:  # a further document: it follows an EOM
                more[0].new_document = True
            pages += more
        cfg = T30Config(calling=calling, pages=pages, poll=calling and not pages,
                        ident=settings.get("IDENT", ""), poll_password=settings.get("R:PWD", ""),
                        password=settings.get("PWD", "") if calling else "")
        self.dut = T30Engine(cfg)
        self.dut.start(self.now)
        self._pump()

    def _pump(self) -> None:
        for cmd in self.dut.commands():
            self._execute(cmd)

    def _execute(self, cmd) -> None:
        t = self.now
        if isinstance(cmd, ReceiveHDLC | ReceiveData):
            self.rx = cmd
            if isinstance(cmd, ReceiveHDLC) and cmd.cng:
                self.out.append((t, t, "tone", "CNG"))
            return
        self.rx = None
        if isinstance(cmd, HangUp):
            self.out.append((t, t, "clear", None))
            return
        if isinstance(cmd, Silence):
            dur = cmd.ms / 1000
        elif isinstance(cmd, SendTone):
            dur = cmd.ms / 1000
            self.out.append((t, t + dur, "tone", cmd.tone))
        elif isinstance(cmd, SendHDLC):
            dur = V21_PREAMBLE
            for f in cmd.frames:
                start = t + dur
                dur += (len(f) + 3) * 8 * 1.02 / 300
                self.out.append((start, t + dur, "hdlc", f))
        elif isinstance(cmd, SendData):
            mod = cmd.modulation
            bits = (sum(len(f) + 3 for f in cmd.frames) if cmd.hdlc else len(cmd.data)) * 8
            dur = 0.3 + bits / mod.rate
            kind = "pp" if cmd.hdlc else ("tcf" if cmd.long_training and not any(cmd.data)
                                          else "msg")
            self.out.append((t, t + dur, kind, cmd))
        else:
            raise TypeError(cmd)
        self.tx_end = t + dur

    def advance(self, until: float) -> None:
        """Let virtual time pass, firing the DUT's timers and transmission ends."""
        while True:
            cands = [until]
            d = self.dut.next_deadline if self.dut and not self.dut.done else None
            if d is not None:
                cands.append(d)
            if self.tx_end is not None:
                cands.append(self.tx_end)
            t = min(cands)
            if t > until or (t == until and t != self.tx_end and t != d):
                self.now = max(self.now, until)
                return
            self.now = max(self.now, t)
            if self.tx_end is not None and self.tx_end <= self.now:
                self.tx_end = None
                self._event(TxComplete())
            elif d is not None and d <= self.now:
                self.dut.handle_timer(self.now)
                self._pump()
            if t >= until:
                self.now = max(self.now, until)
                if (self.tx_end is None or self.tx_end > until) and (
                        self.dut.next_deadline is None or self.dut.next_deadline > until):
                    return

    def _event(self, ev) -> None:
        if self.dut is None or self.dut.done:
            return
        self.dut.handle_event(ev, self.now)
        self._pump()

    # ---- tester transmissions ------------------------------------------------------

    def t_preamble(self, mod: Modulation) -> None:
        self.burst = mod
        if mod == V21:
            if isinstance(self.rx, ReceiveData):
                self._event(WrongCarrier())
            elif isinstance(self.rx, ReceiveHDLC):
                self._event(CarrierUp())
            self.advance(self.now + V21_PREAMBLE)
        else:
            self.advance(self.now + 0.3)
            if self._fast_listening(mod, hdlc=True):
                self._event(CarrierUp())

    def _signal_open(self) -> bool:
        """Is the tester in the middle of a signal (a PREAMBLE without its POSTAMBLE)?"""
        return self.burst is not None

    def _fast_listening(self, mod: Modulation, hdlc: bool) -> bool:
        return isinstance(self.rx, ReceiveData) and self.rx.modulation == mod \
            and self.rx.hdlc == hdlc

    def t_hdlc(self, value: str, crc_error: bool) -> None:
        raw = self._tester_frame(value, crc_error)
        self.advance(self.now + (len(raw) + 3) * 8 * 1.02 / 300)
        if isinstance(self.rx, ReceiveHDLC) and self.burst == V21:
            self._event(FrameReceived(raw, crc_ok=not crc_error))

    def _tester_frame(self, value: str, crc_error: bool) -> bytes:
        """The frame of a ``T HDLC`` step in line order (shared by both modes): the octets
        written, up to a ``...`` if there is one (the tester sends nothing for it)."""
        octets = value.split()
        if "..." in octets:
            octets = octets[:octets.index("...")]
        try:
            raw = bitrev(bytes.fromhex("".join(octets)))
        except ValueError:
            raise BadStep(f"tester frame is not hex octets: {value!r}") from None
        try:
            f = Frame.parse(raw)
        except FrameError:
            f = None
        if f is not None and f.name == "DCS" and not crc_error:
            try:
                self.tester_dcs = DCSParams.from_fif(f.fif)
            except ValueError:
                pass
        if f is not None and f.name == "PPS" and len(f.fif) >= 4 and self.last_pp_count:
            # The scripts' frame counts are nominal: state the frames really sent.
            raw = Frame(f.fcf, pps_fif(f.fif[0], f.fif[1], f.fif[2], self.last_pp_count),
                        f.final).to_bytes()
        return raw

    def t_postamble(self) -> None:
        self.advance(self.now + 5 * 8 / 300)
        if self.burst == V21 and isinstance(self.rx, ReceiveHDLC):
            self._event(CarrierDown())
        elif self.burst is not None and self.burst != V21 and isinstance(self.rx, ReceiveData):
            self._event(CarrierDown())
        self.burst = None

    def t_tcf(self, mod: Modulation, octets: int, pattern: int = 0) -> None:
        """TCF: ``octets`` zero octets, the first ``pattern`` of them 0101... (bad TCF)."""
        listening = self._fast_listening(mod, hdlc=False)
        self.advance(self.now + 0.3)
        if listening and self._fast_listening(mod, hdlc=False):
            self._event(CarrierUp())
            self.advance(self.now + octets * 8 / mod.rate)
            bad = min(pattern, octets)
            self._event(DataReceived(b"\x55" * bad + bytes(octets - bad)))
            self._event(CarrierDown())
        else:
            self.advance(self.now + octets * 8 / mod.rate)

    def t_msg(self, mod: Modulation, value: str, bad_rows: str | None = None) -> None:
        data = self._msg_data(mod, value, bad_rows)
        listening = self._fast_listening(mod, hdlc=False)
        self.advance(self.now + 0.3)
        if listening and self._fast_listening(mod, hdlc=False):
            self._event(CarrierUp())
            step = mod.rate // 8
            for i in range(0, len(data), step):
                self.advance(self.now + len(data[i:i + step]) * 8 / mod.rate)
                self._event(DataReceived(data[i:i + step]))
            self._event(CarrierDown())
        else:
            self.advance(self.now + len(data) * 8 / mod.rate)

    def _msg_data(self, mod: Modulation, value: str, bad_rows: str | None) -> bytes:
        """The coded page of a ``T MSG`` step (shared by both modes)."""
        return coded_message(self._page_file(value), self.tester_dcs or DCSParams(),
                             mod.rate, bad_rows)

    def t_pp(self, attrs: dict) -> None:
        frames, bad = self._pp_block(attrs)
        mod = self.burst
        for n, payload in enumerate(frames):
            raw = ecm_mod.fcd_frame(n, payload)
            self.advance(self.now + (len(raw) + 3) * 8 / mod.rate)
            if self._fast_listening(mod, hdlc=True):
                self._event(FrameReceived(raw, crc_ok=n != bad))
        for _ in range(3):
            self.advance(self.now + 6 * 8 / mod.rate)
            if self._fast_listening(mod, hdlc=True):
                self._event(FrameReceived(ecm_mod.rcp_frame()))

    def _pp_block(self, attrs: dict) -> tuple[list[bytes], int | None]:
        """The block of a ``T PP`` step: its frames' payloads and the number of the frame
        to corrupt, if any (shared by both modes)."""
        value = attrs["value"]
        size = int(attrs.get("frame_size", "256"))
        key = (value, attrs.get("min_bits"))
        st = self.pp_state
        last_out = next((e[3] for e in reversed(self.out) if e[2] == "hdlc"), b"")
        ppr = len(last_out) > 2 and last_out[2] & 0xFE == 0xBC
        if st.get("key") != key or (st.get("done") and not ppr):
            mb = int(attrs["min_bits"]) if "min_bits" in attrs else None
            data = code_pages(self._page_file(value),
                              self.tester_dcs or DCSParams(), mb)[0]
            st.clear()
            st.update(key=key, blocks=ecm_mod.split_page(data, size), next=0, done=False)
        # After a PPR the tester sends the same block again, else the next one.
        again = ppr and "cur" in st
        b = int(attrs["block"]) if "block" in attrs else (st["cur"] if again else st["next"])
        st["cur"] = b
        b = min(b, len(st["blocks"]) - 1)
        frames = st["blocks"][b]
        st["next"] = b + 1
        st["done"] = st["next"] >= len(st["blocks"])
        # crc_error numbers the frame within the page (block b holds 256 b ... 256 b + 255).
        bad = int(attrs["crc_error"]) - ecm_mod.FRAMES_PER_BLOCK * b if "crc_error" in attrs \
            else None
        self.last_pp_count = len(frames)
        return frames, bad

    # ---- expectations ----------------------------------------------------------------

    def _next_output(self, kinds: tuple[str, ...], timeout: float, skip_tone=True):
        """Wait (in virtual time) for the DUT's next output of one of ``kinds``."""
        deadline = self.now + timeout
        while True:
            while self.cursor < len(self.out):
                entry = self.out[self.cursor]
                if entry[2] in kinds:
                    self.cursor += 1
                    if entry[1] > self.now:
                        self.advance(entry[1])
                    return entry
                if entry[2] == "tone" and skip_tone:
                    self.cursor += 1
                    continue
                raise Mismatch(f"expected {'/'.join(kinds)}, DUT sent {self._show(entry)}")
            if self.dut.done or self.now >= deadline:
                raise Mismatch(f"expected {'/'.join(kinds)}, DUT sent nothing "
                               f"(within {timeout:.1f} s)")
            self._wait(deadline)

    def _wait(self, deadline: float) -> None:
        """Let time pass towards ``deadline``, stopping at the DUT's next event."""
        nxt = [deadline]
        if self.dut.next_deadline is not None:
            nxt.append(self.dut.next_deadline)
        if self.tx_end is not None:
            nxt.append(self.tx_end)
        self.advance(max(min(nxt), self.now))

    @staticmethod
    def _show(entry) -> str:
        kind, payload = entry[2], entry[3]
        if kind == "hdlc":
            return "HDLC " + bitrev(payload).hex(" ").upper()
        if kind in ("tcf", "msg", "pp"):
            return f"{kind.upper()} at {payload.modulation}"
        return f"{kind} {payload or ''}".strip()

    OPTIONAL = {"20", "21", "22", "23"}  # NSF, NSC, NSS (line order, X masked): vendor data
    IDENTS = {"40", "41", "42", "43"}     # CSI, CIG, TSI

    def r_hdlc(self, pattern: str, timeout: float):
        want_fcf = bitrev(bytes.fromhex(pattern.split()[2])).hex() if len(pattern.split()) > 2 \
            else ""
        if want_fcf in self.OPTIONAL:
            # Non-standard frames carry vendor data we do not send: not checked.
            saved = self.cursor
            entry = self._next_output(("hdlc",), timeout)
            if entry[3][2:3].hex() not in self.OPTIONAL:
                self.cursor = saved
                self.checked -= 1
                self.unchecked += 1
                return None
            self.cursor = saved
        entry = self._next_output(("hdlc",), timeout)
        # Identification frames are optional before the frame the script names.
        while entry[3][2:3].hex() in self.IDENTS and want_fcf not in self.IDENTS \
                and entry[3][1] == 0x03:
            entry = self._next_output(("hdlc",), timeout)
        # A CRP (repeat request) after a frame the tester sent corrupt is allowed where
        # the script expects something else ("CRP | nothing" in the procedures).
        while bitrev(entry[3][2:3]) in (b"\x58", b"\xd8") and not pattern.upper().startswith(
                ("FF C8 58", "FF C8 D8")):
            entry = self._next_output(("hdlc",), timeout)
        got = bitrev(entry[3]).hex(" ").upper().split()
        want = pattern.upper().split()
        for i, w in enumerate(want):
            if w == "...":
                return entry
            if i >= len(got) or got[i] != w:
                raise Mismatch(f"expected HDLC {pattern}, got {' '.join(got)}")
        if len(got) != len(want):
            raise Mismatch(f"expected HDLC {pattern}, got {' '.join(got)}")
        return entry

    def r_fast(self, kind: str, mod: Modulation | None, timeout: float):
        entry = self._next_output((kind,), timeout)
        if mod is not None and entry[3].modulation != mod:
            raise Mismatch(f"expected {kind.upper()} at {mod}, got {entry[3].modulation}")
        return entry

    def r_silence(self) -> None:
        if self.tx_end is not None:
            self.advance(self.tx_end)

    def r_clear(self, timeout: float) -> None:
        deadline = self.now + timeout
        while not self.dut.done and self.now < deadline:
            self._wait(deadline)
        if not self.dut.done:
            raise Mismatch(f"DUT did not clear the call within {timeout:.1f} s")
        # Whatever the DUT still had to say (e.g. its DCN) was said before clearing.
        self.cursor = len(self.out)

    # ---- the procedure -------------------------------------------------------------

    def run(self) -> Outcome:
        proc = self.proc
        outcome = Outcome(proc.name, proc.group, False)
        flat = proc.steps
        settings = {}
        role = None
        doc = None
        for s in flat:
            if isinstance(s, Step) and s.type == "SET" and s.dir == "R":
                settings["R:" + s.attrs.get("tag", "")] = s.attrs.get("value", "")
            if isinstance(s, Step) and s.type == "SET" and s.dir == "T":
                tag = s.attrs.get("tag", "")
                if tag == "TXFILE":
                    settings.setdefault("TXFILES", []).append(s.attrs.get("value", ""))
                else:
                    settings[tag] = s.attrs.get("value", "")
            if isinstance(s, Step) and s.type in ("CALL", "ANSWER") and role is None:
                role, doc = s.type, s.attrs.get("value")
        expected = next((s.attrs.get("value") for s in flat
                         if isinstance(s, Step) and s.type == "STATUS"), None)
        outcome.expected_status = expected or ""
        try:
            self.start(calling=role == "ANSWER", settings=settings, doc=doc)
            self._steps(flat)
            if not self.dut.done:
                self.r_clear(120.0)
        except (Mismatch, BadStep) as e:
            outcome.failure = one_line(str(e))
        except Exception as e:  # a runner or engine bug must not stop the whole run
            log.debug("procedure %s: internal error", proc.name, exc_info=True)
            outcome.failure = one_line(f"internal error: {type(e).__name__}: {e}")
        try:
            done = self.dut is not None and self.dut.done
            outcome.status = self.dut.result.status.name if done else "RUNNING"
        except Exception as e:  # the DUT cannot even say how it ended
            outcome.status = "UNKNOWN"
            outcome.failure = outcome.failure or one_line(f"internal error: {e}")
        if not outcome.failure and expected and outcome.status != expected:
            outcome.failure = f"final status {outcome.status}, expected {expected}"
        outcome.passed = not outcome.failure
        outcome.checked, outcome.unchecked = self.checked, self.unchecked
        outcome.trace = self.trace
        return outcome

    def _steps(self, steps: list) -> None:
        for s in steps:
            if isinstance(s, Repeat):
                self._repeat(s)
                continue
            self.trace.append(f"{self.now:8.3f} {s.describe()}")
            self._step(s)

    def _repeat(self, rep: Repeat) -> None:
        count = 0
        while rep.max is None or count < rep.max:
            first = rep.steps[0] if rep.steps else None
            if count >= rep.min and isinstance(first, Step) and first.dir == "R" \
                    and first.type == "HDLC" and not self._peek_hdlc(first.attrs.get("value", "")):
                return
            self._steps(rep.steps)
            count += 1
            if count >= rep.min and not (isinstance(first, Step) and first.dir == "R"):
                return

    def _after_r(self, step: Step, entry) -> None:
        """Hook after an ``R`` step matched ``entry`` (audio mode checks timing here)."""

    def t_tone(self, tone: str) -> None:
        self.advance(self.now + (0.5 if tone == "CNG" else 3.0))

    def t_clear(self) -> None:
        if self.dut and not self.dut.done:
            self._event(LineDropped())

    def _peek_hdlc(self, pattern: str) -> bool:
        """Does the DUT's next frame (waiting for it if need be) match ``pattern``?"""
        saved = self.cursor
        try:
            self.r_hdlc(pattern, DEFAULT_TIMEOUT)
        except Mismatch:
            return False
        finally:
            self.cursor = saved
        return True

    def _step(self, s: Step) -> None:
        a = s.attrs
        timeout = float(a["timeout"]) / 1000 if "timeout" in a else DEFAULT_TIMEOUT
        mod = parse_modem(a.get("modem"))
        t = s.type
        if t in ("CALL", "ANSWER", "SET", "STATUS"):
            return
        if t == "WAIT":
            self.advance(self.now + float(a.get("value", "0")) / 1000)
            return
        if s.dir == "T":
            if t == "CNG":
                self.t_tone("CNG")
            elif t == "CED":
                self.t_tone("CED")
            elif t == "PREAMBLE":
                if mod is None and self._signal_open():
                    pass  # more flags inside the signal being sent: nothing changes
                else:
                    self.t_preamble(mod or V21)
            elif t == "HDLC":
                self.t_hdlc(a["value"], "crc_error" in a)
            elif t == "POSTAMBLE":
                self.t_postamble()
            elif t == "TCF":
                self.t_tcf(mod, int(a.get("value", "0")), int(a.get("pattern", "0")))
            elif t == "MSG":
                self.t_msg(mod, a["value"], a.get("bad_rows"))
            elif t == "PP":
                self.t_pp(a)
            elif t == "CLEAR":
                self.t_clear()
            elif t == "SILENCE":
                self.advance(self.now + float(a.get("value", "75")) / 1000)
            else:
                self.unchecked += 1
            return
        # dir == "R": what the DUT must do
        self.checked += 1
        if t == "HDLC":
            self._after_r(s, self.r_hdlc(a["value"], timeout))
        elif t in ("CED", "CNG"):
            entry = self._next_output(("tone",), timeout, skip_tone=False)
            if entry[3] != t:
                raise Mismatch(f"expected {t}, DUT sent {self._show(entry)}")
            self._after_r(s, entry)
        elif t == "TCF":
            self._after_r(s, self.r_fast("tcf", mod, timeout))
        elif t == "MSG":
            self._after_r(s, self.r_fast("msg", mod, timeout))
        elif t == "PP":
            self._after_r(s, self.r_fast("pp", mod, timeout))
        elif t == "SILENCE":
            self.r_silence()
        elif t == "CLEAR":
            self.r_clear(timeout)
        else:
            self.checked -= 1
            self.unchecked += 1
