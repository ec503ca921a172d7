"""TSB-85 conformance runner: plays the tester's side of the procedures in a TSB-85
style XML file (``../shared/conformance/tsb85.xml``) against our T.30 engine, the device
under test (DUT), and checks what the DUT does.

The tester works at the level of :mod:`faxcore.t30.modem_if` in virtual time: a ``T``
step becomes the events a modem would report to the DUT (carrier, frames, data), an
``R`` step is matched against the DUT's modem commands (tones, V.21 frames, TCF, page
data, ECM blocks, clearing). Checked: frame types and contents (spec-order hex with
``...`` as wildcard, the ``+`` tag suffix meaning "X bit set" is in the hex already),
the modulation of TCF/pages/blocks, clearing, and the final status. Not checked here:
tone and preamble timing, which need audio.

Audio mode (``run(..., audio=True)``, ``faxcore conformance tsb85 FILE --audio``): the
same step logic, but the DUT is a :class:`faxcore.session.FaxSession` (engine + software
modems) on an 8 kHz line. The tester sends CNG/CED, V.21 bursts (37 preamble flags, 5
closing), TCF, pages and ECM blocks (~200 ms of flags, 10 closing) with faxcore's modem
transmitters, and cuts the DUT's audio into bursts (|sample| > 64, 20 ms of quiet ends
one) that it classifies (CED/CNG by spectrum, V.21 by our HDLC receiver, else a fast
burst, demodulated at the step's modem). Measured, and a failure when out of range:
CED length (2.6-4 s), V.21 preamble (1 s +- 15 %), TCF length (1.5 s +- 10 %), the
silence where the DUT switches between its own signals (CED -> V.21, V.21 -> TCF/page,
page/block -> V.21: 75 +- 20 ms; the 20 ms of no energy that open V.27ter/V.29 training
count as signal), and the turnaround after the tester's signal (the DUT must not start
before it ends, and must answer within T2's 7 s). Bounds a step's ``<check>`` names
("preamble is 850ms to 1150ms", "interval ... between 5.0s and 7.0s") replace these.
The checks made, with their measured values, are in ``Outcome.timings``.

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
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
from faxcore.t30.result import T30Status

log = logging.getLogger("faxcore.t30.tsb85")

V21_PREAMBLE = 37 * 8 / 300.0
DEFAULT_TIMEOUT = 15.0


def parse_modem(text: str | None) -> Modulation | None:
    if not text:
        return None
    name, _, rate = text.partition("/")
    name = name.lower().replace(".", "")
    if name == "v21":
        return V21
    return Modulation(int(rate), name)


def read_pbm_pages(path: Path) -> list[np.ndarray]:
    """All images of a (possibly multi-image) PBM P4 file, 1 = black."""
    data = path.read_bytes()
    pages, pos = [], 0
    while pos < len(data):
        fields: list[bytes] = []
        while len(fields) < 3:
            while pos < len(data) and data[pos:pos + 1].isspace():
                pos += 1
            if pos >= len(data):
                return pages
            if data[pos:pos + 1] == b"#":
                pos = data.index(b"\n", pos) + 1
                continue
            end = pos
            while end < len(data) and not data[end:end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        if fields[0] != b"P4":
            raise ValueError(f"{path}: not a PBM P4 file")
        w, h = int(fields[1]), int(fields[2])
        pos += 1
        stride = (w + 7) // 8
        raw = np.frombuffer(data, np.uint8, stride * h, pos)
        pos += stride * h
        pages.append(np.unpackbits(raw.reshape(h, stride), axis=1)[:, :w].copy())
    return pages


@dataclass
class Step:
    dir: str | None
    type: str
    attrs: dict

    def describe(self) -> str:
        a = self.attrs
        bits = [self.dir or "-", self.type]
        for k in ("tag", "modem", "value"):
            if k in a:
                bits.append(f"{k}={a[k]}")
        return " ".join(bits)


@dataclass
class Repeat:
    min: int
    max: int | None
    steps: list


@dataclass
class Procedure:
    name: str
    group: str
    steps: list


@dataclass
class Outcome:
    name: str
    group: str
    passed: bool
    status: str = ""
    expected_status: str = ""
    failure: str = ""
    checked: int = 0
    unchecked: int = 0
    trace: list[str] = field(default_factory=list)
    mode: str = "interface"
    # audio mode: the timing checks made, each {"step", "check", "measured", "low", "high",
    # "unit", "ok"} (seconds); a failed one ends the procedure
    timings: list[dict] = field(default_factory=list)


def load(path: str | Path) -> list[Procedure]:
    root = ET.parse(path).getroot()
    procs = []

    def steps_of(el) -> list:
        out = []
        for child in el:
            if child.tag == "step":
                attrs = dict(child.attrib)
                checks = [c.get("desc", "") for c in child if c.tag == "check"]
                if checks:
                    attrs["_checks"] = checks
                out.append(Step(child.get("dir"), child.get("type", ""), attrs))
            elif child.tag == "repeat":
                mx = child.get("max")
                out.append(Repeat(int(child.get("min", "0")), int(mx) if mx else None,
                                  steps_of(child)))
        return out

    for group in root.iter("test-group"):
        for test in group.iter("test"):
            procs.append(Procedure(test.get("name", "?"), group.get("name", ""), steps_of(test)))
    return procs


class Mismatch(Exception):
    pass


class _Runner:
    """Plays one procedure."""

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

    def _pages(self, value: str) -> list[TxPage]:
        name = Path(value).with_suffix(".pbm").name
        return [TxPage(p, "standard") for p in read_pbm_pages(self.pages_dir / name)]

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

    def _fast_listening(self, mod: Modulation, hdlc: bool) -> bool:
        return isinstance(self.rx, ReceiveData) and self.rx.modulation == mod \
            and self.rx.hdlc == hdlc

    def t_hdlc(self, value: str, crc_error: bool) -> None:
        raw = self._tester_frame(value, crc_error)
        self.advance(self.now + (len(raw) + 3) * 8 * 1.02 / 300)
        if isinstance(self.rx, ReceiveHDLC) and self.burst == V21:
            self._event(FrameReceived(raw, crc_ok=not crc_error))

    def _tester_frame(self, value: str, crc_error: bool) -> bytes:
        """The frame of a ``T HDLC`` step in line order (shared by both modes)."""
        raw = bitrev(bytes.fromhex(value))
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

    def _encode(self, value: str, min_bits: int | None = None) -> list[bytes]:
        from faxcore.codecs import encode

        dcs = self.tester_dcs or DCSParams()
        out = []
        for p in read_pbm_pages(self.pages_dir / Path(value).with_suffix(".pbm").name):
            mb = dcs.min_row_bits() if min_bits is None else min_bits
            opts = {"min_row_bits": mb} if mb and dcs.scheme != "mmr" else {}
            out.append(bytes(encode(p, dcs.scheme, k=2, lsb_first=True, **opts)))
        return out

    def _encode_rows(self, value: str, bad: set[int] = frozenset(),
                     long_row: tuple[int, int] | None = None) -> bytes:
        """MH page coded row by row with byte-aligned EOLs, so that rows can be altered:
        the listed ``bad`` rows (1-based) are replaced by invalid code, and ``long_row``
        = (row, bits) pads that row (0-based) with fill so that its total coded scan line
        (data, fill and the next EOL) is that many bits long."""
        from faxcore.codecs import encode

        dcs = self.tester_dcs or DCSParams()
        page = read_pbm_pages(self.pages_dir / Path(value).with_suffix(".pbm").name)[0]
        mb = dcs.min_row_bits()
        opts = {"min_row_bits": mb} if mb else {}
        out = bytearray()
        for r in range(page.shape[0]):
            if r + 1 in bad:
                # EOL (+1 = 1-D row for MR), then ones: no valid code, the row is lost.
                out += b"\x00\x80" + (b"\xff" * max(4, mb // 8))
                continue
            # Each chunk is EOL (4 fill bits + 000000000001: octets 00 80) + the row's code.
            chunk = bytes(encode(page[r:r + 1], "mh", eol_align=True, end_marker=False,
                                 lsb_first=True, **opts))
            if long_row is not None and r == long_row[0]:
                # From the end of this row's EOL to the end of the next one: the code after
                # the EOL, the fill, then the 16 bits of the next aligned EOL.
                fill = -(-(long_row[1] - 16) // 8) - (len(chunk) - 2)
                chunk += bytes(max(fill, 0))
            out += chunk
        # RTC: six EOLs.
        out += b"\x00\x08\x80\x00\x08\x80\x00\x08\x80"
        return bytes(out)

    # ETS 300 242's DURATION pages test the total coded scan line time (T.4: at most 5 s):
    # the PBM pages cannot carry line timing, so the tester pads one row with fill to
    # these lengths at the step's bit rate.
    LINE_SECONDS = {"duration1": 4.9, "duration2": 5.1}

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
        stem = Path(value).stem.rsplit("_", 1)[-1]
        if bad_rows:
            bad = {int(x) for x in bad_rows.replace("\n", " ").split(",") if x.strip()}
            data = self._encode_rows(value, bad)
        elif stem in self.LINE_SECONDS:
            rows = read_pbm_pages(self.pages_dir / Path(value).with_suffix(".pbm").name)[0]
            data = self._encode_rows(value, long_row=(
                rows.shape[0] // 2, round(self.LINE_SECONDS[stem] * mod.rate)))
        else:
            data = b"".join(self._encode(value))
        return data

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
            data = self._encode(value, mb)[0]
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
        except Mismatch as e:
            outcome.failure = str(e)
        except Exception as e:  # a runner or engine bug must not stop the whole run
            log.exception("procedure %s crashed", proc.name)
            outcome.failure = f"{type(e).__name__}: {e}"
        outcome.status = self.dut.result.status.name if self.dut and self.dut.done else "RUNNING"
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
                self.t_preamble(mod)
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



# ---- audio mode -------------------------------------------------------------------------

RATE = 8000
AUDIO_CHUNK = 80              # 10 ms: the tester's transmit/receive granularity
_LOUD = 64                    # |sample| above this is signal (our modems send ~ -10 dBm0)
_QUIET_END = 160              # 20 ms without signal ends a burst
_CED_S = (2.6, 4.0)           # T.30 5.3.2.1: CED 2.6 s to 4 s
_PREAMBLE_S = (0.85, 1.15)    # T.30 5.3.1: V.21 preamble 1 s +- 15 %
_GAP_S = (0.055, 0.095)       # T.30 5.3.2.4: 75 +- 20 ms before a fast burst / after CED
_RESPONSE_S = (0.0, 7.0)      # not before the far end's signal ends; within T2 (6 +- 1 s)
_TCF_S = (1.35, 1.65)         # T.30 5.3.6.1: TCF 1.5 s +- 10 %

# "NAME is 850ms to 1150ms", "between 5.0s and 7.0s": bounds a <check> names
_BOUNDS = __import__("re").compile(
    r"(\d+(?:\.\d+)?)\s*(ms|s)\b\s*(?:to|and)\s*(\d+(?:\.\d+)?)\s*(ms|s)\b")


def _check_bounds(desc: str) -> tuple[float, float] | None:
    m = _BOUNDS.search(desc)
    if not m:
        return None
    lo = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    hi = float(m.group(3)) / (1000 if m.group(4) == "ms" else 1)
    return lo, hi


def _hdlc_bits(frame: bytes) -> int:
    """Bits of a frame on the line: stuffed data and FCS plus its closing flag."""
    from faxcore.modem.hdlc import HdlcEncoder

    enc = HdlcEncoder()
    enc.frame(frame)
    return len(enc.take())


class _LineAnalyser:
    """The tester's ear: cuts the DUT's audio into bursts (signal between >= 20 ms of
    quiet) and classifies each finished burst: a CED/CNG tone (spectral share of 2100 /
    1100 Hz), V.21 HDLC (our V.21 HDLC receiver finds frames; one entry per frame, with
    the burst's start and the measured preamble), else a fast-modem burst kept as audio
    and demodulated when an ``R TCF/MSG/PP`` step says at which modem."""

    def __init__(self, out: list, signals: list):
        self.out = out
        self.signals = signals      # (start, end, who) of every burst on the line
        self.start: float | None = None
        self.last_loud = 0.0
        self.quiet = 0
        self.buf: list[np.ndarray] = []

    @property
    def active(self) -> bool:
        return self.start is not None

    def feed(self, x: np.ndarray, t0: float) -> None:
        loud = np.flatnonzero(np.abs(x.astype(np.int32)) > _LOUD)
        if loud.size:
            if self.start is None:
                self.start = t0 + loud[0] / RATE
                self.buf = [x[loud[0]:]]
            else:
                self.buf.append(x)
            self.last_loud = t0 + (loud[-1] + 1) / RATE
            self.quiet = len(x) - 1 - loud[-1]
            return
        if self.start is None:
            return
        self.buf.append(x)
        self.quiet += len(x)
        if self.quiet >= _QUIET_END:
            self._finish()

    def _finish(self) -> None:
        start, end = self.start, self.last_loud
        audio = np.concatenate(self.buf)[:max(1, round((end - start) * RATE))]
        self.start, self.buf, self.quiet = None, [], 0
        spec = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / RATE)
        total = spec.sum() or 1.0
        for name, hz in (("CED", 2100.0), ("CNG", 1100.0)):
            if spec[np.abs(freqs - hz) <= 30].sum() > 0.8 * total:
                self.signals.append((start, end, "DUT tone"))
                self.out.append((start, end, "tone", name, {"duration": end - start}))
                return
        from faxcore.modem.hdlc import HdlcReceiver

        rx = HdlcReceiver("v21", 300)
        frames = []
        padded = np.concatenate([audio, np.zeros(RATE // 4, np.int16)])
        for i in range(0, padded.size, AUDIO_CHUNK):
            rx.rx(padded[i:i + AUDIO_CHUNK])
            for e in rx.frames():
                if e.ok:  # a fast burst may decode as a bad "frame"; never as a good one
                    frames.append((start + (i + AUDIO_CHUNK) / RATE, e))
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


class _AudioDut:
    """What the step logic asks of the DUT, for a FaxSession on the line."""

    next_deadline = None

    def __init__(self, runner: _AudioRunner):
        self.r = runner

    @property
    def done(self) -> bool:
        return self.r.session.done and not self.r.ear.active

    @property
    def result(self):
        return self.r.session.result


class _AudioRunner(_Runner):
    """Audio mode: the DUT is a :class:`faxcore.session.FaxSession` (engine + software
    modems) on an 8 kHz line; the tester makes audio with faxcore's modem transmitters
    and listens with its receivers, so tone, preamble and turnaround timing is measured.
    The steps are played by :class:`_Runner`'s logic; only the line is different."""

    def __init__(self, proc: Procedure, pages_dir: Path, wait_carrier_end: bool = True):
        super().__init__(proc, pages_dir)
        self.wait_carrier_end = wait_carrier_end
        self.session = None
        self.src = None               # what the tester is sending
        self.signals: list[tuple[float, float, str]] = []
        self.ear = _LineAnalyser(self.out, self.signals)
        self.pending: list[tuple[bytes, bool]] | None = None  # frames of the open burst
        self.long_train_next = False  # V.17: long training after CTC (T.30 A.4.1)
        self.timings: list[dict] = []
        self.carried: list[str] = []  # <check>s of a skipped optional frame
        self.timed: set[float] = set()  # V.21 bursts whose timing was checked

    def start(self, calling: bool, settings: dict, doc: str | None) -> None:
        from faxcore.session import FaxSession

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
            loud = np.flatnonzero(np.abs(a.astype(np.int32)) > _LOUD)
            if loud.size:
                self._tx_end = self.now + (loud[-1] + 1) / RATE
            if self.src.done:
                self.src = None
                self.signals.append((self._tx_start, self._tx_end, "tester"))
        else:
            a = np.zeros(n, np.int16)
        self.session.rx(a)
        self.ear.feed(self.session.tx(n), self.now)
        self.now += n / RATE

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
        from faxcore.modem.tones import CedGenerator, CngGenerator

        self._play(CngGenerator(cycles=1) if tone == "CNG" else CedGenerator(duration=3.0))

    def t_clear(self) -> None:
        # The network clears the call: the DUT's line interface reports it.
        if not self.session.engine.done:
            self.session._event(LineDropped())

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
        from faxcore.modem.hdlc import HdlcTransmitter

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
        from faxcore import modem

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
        from faxcore import modem
        from faxcore.modem.hdlc import HdlcReceiver

        entry = self._next_output(("fast",), timeout)
        mod = mod or self._dut_dcs_mod()
        if mod is None:
            raise Mismatch(f"expected {kind.upper()}: cannot tell its modem")
        audio = np.concatenate([entry[3], np.zeros(RATE // 2, np.int16)])
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


def run(path: str | Path, names: list[str] | None = None,
        pages_dir: str | Path | None = None, *, audio: bool = False,
        wait_carrier_end: bool = True, progress=None) -> list[Outcome]:
    """Run the procedures of a TSB-85 XML file (all, or those named) against the engine:
    at the modem interface, or with ``audio=True`` against a FaxSession over 8 kHz audio
    (timing measured). ``wait_carrier_end=False`` (audio mode) makes the FaxSession answer
    75 ms after the tester's final frame, during its closing flags, instead of once its
    signal has ended: a check of the runner, which then fails the turnaround.
    ``progress(outcome)`` is called after each procedure."""
    path = Path(path)
    pages = Path(pages_dir) if pages_dir else path.parent / "pages"
    out = []
    for proc in load(path):
        if names and proc.name not in names:
            continue
        r = (_AudioRunner(proc, pages, wait_carrier_end) if audio
             else _Runner(proc, pages)).run()
        out.append(r)
        if progress is not None:
            progress(r)
    return out


__all__ = ["Outcome", "Procedure", "load", "run", "T30Status"]
