"""Class 1 driver (faxcore.class1.dte) and emulator (faxcore.class1.dce, faxcore.class1.pty).

* driver <-> emulator in memory (virtual time) and over a real pseudo-terminal: a T.30
  engine on the Class 1 driver sends to / receives from a faxcore FaxSession on the far end
  of the emulator's audio line; pages are compared pixel for pixel;
* garbage on the serial line, a modem that refuses class 1, a modem that stops answering:
  the call ends with a readable error, bounded by virtual time (no hang, no exception);
* the emulator answers the commands efax sends, and survives random input.
"""

from __future__ import annotations

import inspect
import os
import select
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from faxcore import modem
from faxcore.class1 import Class1Call, Class1Dce, Class1Driver, Class1Serial, PtyModem
from faxcore.class1.codes import DleDecoder, dle_escape
from faxcore.session import FaxSession
from faxcore.t30.config import PAGE_MODEMS
from faxcore.t30.engine import T30Config, TxPage
from faxcore.t30.modem_if import (
    V29_9600,
    FrameReceived,
    ReceiveData,
    ReceiveHDLC,
    SendHDLC,
)
from faxcore.testing.class1_memory import run_in_memory, trade_bytes
from faxcore.testing.pages import letter_page
from faxcore.testing.paths import ROOT

# ---- DLE framing --------------------------------------------------------------------------

@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
@settings(max_examples=150, deadline=None)
def test_dle_escape_roundtrip_any_chunking(data, cuts):
    stream = dle_escape(data) + b"\x10\x03" + b"rest"
    dec = DleDecoder()
    got, pos, ended, rest = bytearray(), 0, False, b""
    for c in cuts + [len(stream)]:
        if ended:
            break
        d, ended, rest = dec.feed(stream[pos:pos + c])
        got += d
        pos += c
    if not ended:
        d, ended, rest = dec.feed(stream[pos:])
        got += d
    assert ended and bytes(got) == data
    assert (rest + stream[pos:]).endswith(b"rest") or rest == b"rest"


# ---- driver <-> emulator in memory ------------------------------------------------------

@pytest.mark.parametrize("ecm", [False, True], ids=["t4", "ecm"])
def test_driver_sends_through_emulator_in_memory(ecm):
    bm = letter_page()
    dce = Class1Dce()
    far = FaxSession(False, receive=lambda p: None, ecm=ecm)
    call = run_in_memory(Class1Call(True, dial="5551234", send=[TxPage(bm, "fine")], ecm=ecm),
                      dce, far)
    assert call.error is None
    assert int(call.result.status) == 0, call.result.summary()
    assert call.result.ecm is ecm and call.result.pages_sent == 1
    assert len(far.pages) == 1 and np.array_equal(far.pages[0], bm)
    at = call.driver.log
    assert at[:5] == ["ATZ", "ATE0V1Q0", "AT+FCLASS=1", "AT+FTM=?", "AT+FRM=?"]
    assert "ATD5551234" in at and "AT+FTM=145" in at and "AT+FTM=146" in at
    assert at[-1] == "ATH0" and dce.dial_string == "5551234"


@pytest.mark.parametrize("ecm", [False, True], ids=["t4", "ecm"])
def test_driver_receives_through_emulator_in_memory(ecm):
    bm = letter_page(seed=3)
    dce = Class1Dce()
    far = FaxSession(True, send=[TxPage(bm, "fine")], ecm=ecm)
    call = run_in_memory(Class1Call(False, receive=lambda p: None, ecm=ecm), dce, far, ring=True)
    assert call.error is None
    assert int(call.result.status) == 0, call.result.summary()
    assert call.result.ecm is ecm
    assert len(call.pages) == 1 and np.array_equal(call.pages[0], bm)
    assert "ATA" in call.driver.log and "AT+FRM=146" in call.driver.log


def test_driver_uses_only_modulations_the_modem_lists():
    """A modem offering V.27ter/V.29 only (as +FTM=? says): the call runs at V.29 9600."""
    bm = letter_page(120)

    class OldModem(Class1Dce):
        def send_info(self, text):
            super().send_info("24,48,72,96" if text.startswith("24,") else text)

    dce = OldModem()
    far = FaxSession(False, receive=lambda p: None, ecm=False)
    call = run_in_memory(Class1Call(True, dial="1", send=[TxPage(bm, "fine")], ecm=False),
                      dce, far)
    assert call.driver.modems == ("v29", "v27ter")
    assert call.result.modulation == "V29/9600" and int(call.result.status) == 0
    assert np.array_equal(far.pages[0], bm)


# ---- driver <-> emulator over a pseudo-terminal ---------------------------------------

@pytest.mark.parametrize("ecm", [False, True], ids=["t4", "ecm"])
@pytest.mark.parametrize("direction", ["send", "receive"])
def test_driver_over_pty(direction, ecm):
    bm = letter_page(seed=7)
    fars = []

    def far_end(dialled):
        s = (FaxSession(False, receive=lambda p: None, ecm=ecm) if dialled
             else FaxSession(True, send=[TxPage(bm, "fine")], ecm=ecm))
        fars.append(s)
        return s

    with PtyModem(far_end, ring=direction == "receive") as modem:
        if direction == "send":
            call = Class1Call(True, dial="42", send=[TxPage(bm, "fine")], ecm=ecm)
        else:
            call = Class1Call(False, receive=lambda p: None, ecm=ecm)
        port = Class1Serial(modem.path, rtscts=False)
        try:
            port.run(call, max_seconds=60)
        finally:
            port.close()
    assert modem.error is None
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    got = fars[0].pages if direction == "send" else call.pages
    assert len(got) == 1 and np.array_equal(got[0], bm)
    assert int(fars[0].result.status) == 0


def test_cli_emulate_and_send(tmp_path):
    """`faxcore modem emulate` prints its pty; `faxcore modem send --device` faxes to it."""
    from PIL import Image

    bm = letter_page(200, seed=11)
    src = tmp_path / "page.png"
    Image.fromarray(((1 - bm) * 255).astype(np.uint8)).convert("1").save(src, dpi=(204, 196))
    out = tmp_path / "rx-%d.tif"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    emu = subprocess.Popen([sys.executable, "-m", "faxcore", "modem", "emulate", "--calls", "1",
                            "--speed", "0", "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        r, _, _ = select.select([emu.stdout], [], [], 30)
        assert r, "emulator printed nothing"
        path = emu.stdout.readline().decode().strip()
        assert path.startswith("/dev/")
        send = subprocess.run([sys.executable, "-m", "faxcore", "modem", "send", "--device",
                               path, "--no-rtscts", "--dial", "777", str(src)],
                              capture_output=True, text=True, timeout=60, env=env)
        assert send.returncode == 0, send.stdout + send.stderr
        assert "status OK" in send.stdout
        rest, _ = emu.communicate(timeout=30)
        assert emu.returncode == 0, rest.decode()
    finally:
        if emu.poll() is None:
            emu.kill()
            emu.wait(5)
    from faxcore.codecs.tiff import read_tiff

    pages = read_tiff(tmp_path / "rx-1.tif")
    assert len(pages) == 1 and np.array_equal(pages[0].bitmap, bm)
    # by default the emulator writes what efax's efix reads: MH (1-D T.4), RTC-terminated
    with Image.open(tmp_path / "rx-1.tif") as im:
        assert im.info["compression"] == "group3"
        assert np.array_equal(np.asarray(im.convert("1")) == 0, bm.astype(bool))


# ---- a bad serial line ----------------------------------------------------------------

class ScriptedModem:
    """A fake modem: ``answer(line) -> bytes`` for each command line the driver writes."""

    def __init__(self, answer):
        self.answer = answer
        self.buf = b""
        self.lines: list[str] = []

    def exchange(self, data: bytes) -> bytes:
        self.buf += data
        out = b""
        while b"\r" in self.buf:
            line, self.buf = self.buf.split(b"\r", 1)
            text = line.decode("latin-1").lstrip("\x18")
            self.lines.append(text)
            out += self.answer(text)
        return out


def drive(call: Class1Call, modem: ScriptedModem, *, max_seconds: float = 300.0,
          noise=None) -> float:
    """Run ``call`` against ``modem`` in virtual time (10 ms steps); returns the time."""
    t = 0.0
    call.start(t)
    while not call.done and t < max_seconds:
        out = call.outgoing()
        back = modem.exchange(out) if out else b""
        if noise is not None:
            back += noise(t)
        if back:
            call.receive(back, t)
        call.tick(t)
        t += 0.01
    return t


def ok_init(line: str) -> bytes:
    up = line.upper()
    if up in ("AT+FTM=?", "AT+FRM=?"):
        return b"\r\n24,48,72,73,74,96,97,98,121,122,145,146\r\n\r\nOK\r\n"
    return b"\r\nOK\r\n"


def test_modem_that_stops_answering_gives_a_clear_error():
    def answer(line):
        return ok_init(line) if not line.upper().startswith(("ATD", "AT+F", "ATH")) or \
            line.upper().endswith("?") or line.upper() == "AT+FCLASS=1" else b""

    call = Class1Call(True, dial="1", send=[TxPage(letter_page(50), "fine")])
    call.driver.dial_timeout = 20.0
    t = drive(call, ScriptedModem(answer))
    assert call.done and t < 60
    assert "no answer from the modem to 'ATD1'" in call.error
    assert int(call.result.status) != 0  # CALLDROPPED: the engine was told the line is gone


def test_modem_silent_mid_call():
    """The modem connects, delivers DIS, then goes dead: the next command times out."""
    from faxcore.t30.frames import Frame

    dis = Frame.build("DIS", bytes.fromhex("00ee7a"), x=False, final=True).to_bytes()
    from faxcore.modem.hdlc import fcs

    state = {"n": 0}

    def answer(line):
        up = line.upper()
        if up.startswith("ATD"):
            return b"\r\nCONNECT\r\n" + dle_escape(dis + fcs(dis)) + b"\x10\x03\r\nOK\r\n"
        if up.startswith(("AT+FTS", "AT+FTH", "AT+FTM", "AT+FRH", "ATH")) and \
                not up.endswith("?"):
            state["n"] += 1
            return b""
        return ok_init(line)

    call = Class1Call(True, dial="2", send=[TxPage(letter_page(50), "fine")])
    t = drive(call, ScriptedModem(answer))
    assert call.done and t < 60
    assert call.error.startswith("no answer from the modem to 'AT+FTS=8'")
    assert call.result is not None and call.result.status.name == "CALLDROPPED"
    assert state["n"] >= 1
    assert state["n"] >= 1


def test_not_a_class1_modem():
    def answer(line):
        return b"\r\nERROR\r\n" if line.upper() == "AT+FCLASS=1" else ok_init(line)

    call = Class1Call(True, dial="3", send=[TxPage(letter_page(50), "fine")])
    t = drive(call, ScriptedModem(answer))
    assert call.done and t < 30
    assert "refused 'AT+FCLASS=1'" in call.error and call.result is None


def test_garbage_results_end_the_call():
    """A modem that answers every command with random junk lines."""
    rng = np.random.default_rng(5)

    def answer(line):
        if line.upper() in ("ATZ", "ATE0V1Q0", "AT+FCLASS=1", "AT+FTM=?", "AT+FRM=?"):
            return ok_init(line)
        junk = bytes(rng.integers(0, 256, 40, dtype=np.uint8))
        return b"\r\n" + junk.replace(b"\n", b"") + b"\r\n"

    call = Class1Call(True, dial="4", send=[TxPage(letter_page(50), "fine")])
    t = drive(call, ScriptedModem(answer), noise=lambda t: b"\r\nHELLO\r\n" if int(t * 100) % 7
              else b"")
    assert call.done and t < 200
    assert call.error is not None and ("unexpected" in call.error or "garbage" in call.error
                                       or "no answer" in call.error)


def test_endless_frame_data_is_cut():
    """+FRH=3 answered with CONNECT and then data that never ends: error, no hang."""
    def answer(line):
        if line.upper().startswith("ATD"):
            return b"\r\nCONNECT\r\n" + b"\x55" * 5000
        return ok_init(line)

    call = Class1Call(True, dial="5", send=[TxPage(letter_page(50), "fine")])
    t = drive(call, ScriptedModem(answer))
    assert call.done and t < 60
    assert "longer than 4096" in call.error


@given(st.lists(st.binary(min_size=0, max_size=200), min_size=1, max_size=30))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_driver_survives_random_bytes(chunks):
    """Whatever the modem sends, in any state, the driver raises nothing and its events are
    engine events; with time passing it always reaches an end."""
    drv = Class1Driver(dial="9", command_timeout=1.0)
    drv.start(0.0)
    t = 0.0
    cmds = [None, ReceiveHDLC(cng=True), SendHDLC((b"\xff\x13\xfa",)),
            ReceiveData(V29_9600), ReceiveHDLC()]
    for i, c in enumerate(chunks):
        if drv.ready and cmds[i % len(cmds)] is not None:
            drv.send_command(cmds[i % len(cmds)], t)
        drv.receive(c, t)
        drv.outgoing()
        for e in drv.events():
            assert type(e).__module__ == "faxcore.t30.modem_if"
            if isinstance(e, FrameReceived):
                assert isinstance(e.data, bytes)
        t += 0.3
        drv.handle_timer(t)
    for _ in range(100):  # quiet line: every wait has a deadline (or none is outstanding)
        d = drv.next_deadline
        if d is None:
            break
        t = max(t, d)
        drv.handle_timer(t)
        drv.outgoing()
    assert drv.next_deadline is None


def test_garbage_over_pty_does_not_hang(tmp_path):
    """A 'modem' on a pty that spews random bytes: Class1Serial returns with an error."""
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    path = os.ttyname(slave)
    stop = threading.Event()
    rng = np.random.default_rng(9)

    def spew():
        while not stop.is_set():
            try:
                os.write(master, bytes(rng.integers(0, 256, 64, dtype=np.uint8)))
                while select.select([master], [], [], 0)[0]:
                    os.read(master, 4096)
            except OSError:
                return
            time.sleep(0.005)

    th = threading.Thread(target=spew, daemon=True)
    th.start()
    try:
        drv = Class1Driver(dial="6", command_timeout=1.0)
        call = Class1Call(True, send=[TxPage(letter_page(50), "fine")], driver=drv)
        port = Class1Serial(path, rtscts=False)
        t0 = time.monotonic()
        port.run(call, max_seconds=20)
        port.close()
        assert time.monotonic() - t0 < 20
    finally:
        stop.set()
        th.join(2)
        os.close(master)
        os.close(slave)
    assert call.done and call.error is not None


# ---- the emulator alone ---------------------------------------------------------------

def test_emulator_answers_efax_init():
    dce = Class1Dce()
    replies = []
    for cmd in ("ATQ0V1", "ATE0", "ATI3", "AT+FCLASS=1", "AT+FTM=?", "AT+FRM=?", "ATS0=0",
                "AT&F", "ATE0", "AT+FAE=0", "AT+FCLASS=?", "AT+FCLASS?", "ATV0", "ATX9Y"):
        dce.from_dte(cmd.encode() + b"\r")
        replies.append(dce.to_dte())
    assert replies[0] == b"ATQ0V1\r\r\nOK\r\n"  # echo on until ATE0
    assert replies[1] == b"ATE0\r\r\nOK\r\n"
    assert replies[2] == b"\r\nfaxcore Class 1 emulator\r\n\r\nOK\r\n"
    assert replies[3] == b"\r\nOK\r\n"
    codes = b"24,48,72,96,73,74,97,98,121,122,145,146"
    assert replies[4] == replies[5] == b"\r\n" + codes + b"\r\n\r\nOK\r\n"
    assert replies[6] == b"\r\nOK\r\n"
    assert replies[7] == b"\r\nOK\r\n"
    assert replies[8] == b"ATE0\r\r\nOK\r\n"  # &F restored the factory echo
    assert replies[9] == b"\r\nOK\r\n"
    assert replies[10] == b"\r\n0,1\r\n\r\nOK\r\n"
    assert replies[11] == b"\r\n0\r\n\r\nOK\r\n"  # &F reset the class to 0
    assert replies[12] == b"0\r"  # ATV0: numeric result codes from now on
    assert replies[13] == b"4\r"  # numeric result codes after ATV0; Y is unknown: ERROR


def test_emulator_action_commands_need_a_call():
    dce = Class1Dce()
    dce.from_dte(b"ATE0\rAT+FTH=3\rAT+FRM=96\rAT+FTM=99\r")
    assert dce.to_dte() == b"ATE0\r\r\nOK\r\n" + b"\r\nERROR\r\n" * 3


@given(st.binary(max_size=400))
@example(b"AT+FTH=3\r")
@settings(max_examples=200, deadline=None)
def test_emulator_survives_random_input(data):
    dce = Class1Dce()
    dce.from_dte(b"ATD1\r")
    for i in range(0, len(data), 37):
        dce.from_dte(data[i:i + 37])
        dce.rx_audio(np.zeros(160, np.int16))
        dce.tx_audio(160)
        dce.to_dte()
    dce.from_dte(b"\x18\rATH0\r")  # whatever state it is in, it can be hung up
    for _ in range(400):
        dce.tx_audio(160)
        # <DLE><ETX> twice: in +FTH the first ends the frame begun, the second is the
        # empty frame that ends the burst (one alone starts a new frame, "\rATH0\r", and
        # a DTE sending one every 20 ms floods the 300 bit/s line: the emulator then
        # refuses only once MAX_FTH_AHEAD bits are queued, after more than 400 blocks)
        dce.from_dte(b"\x10\x03\x10\x03\rATH0\r")
        if not dce.offhook:
            break
    assert not dce.offhook


def test_emulator_dial_timeout_says_no_carrier():
    dce = Class1Dce()
    dce.from_dte(b"ATE0\rATS7=5\rATD123\r")
    dce.to_dte()
    for _ in range(int(6 * 8000 / 160)):
        dce.rx_audio(np.zeros(160, np.int16))
        dce.tx_audio(160)
    assert dce.to_dte() == b"\r\nNO CARRIER\r\n" and not dce.offhook


def test_two_emulators_on_one_line():
    """Two emulated modems joined back to back, each driven by faxcore's Class 1 driver."""
    bm = letter_page(120, seed=21)
    a, b = Class1Dce(), Class1Dce()
    tx = Class1Call(True, dial="1", send=[TxPage(bm, "fine")], ecm=True)
    rx = Class1Call(False, receive=lambda p: None, ecm=True)
    now = lambda: a.clock / 8000  # noqa: E731
    tx.start(0.0)
    rx.start(0.0)
    rang = False
    while not (tx.done and rx.done) and a.clock < 8000 * 120:
        for call, dce in ((tx, a), (rx, b)):
            trade_bytes(call, dce, now, rounds=50)
        if a.offhook and not b.offhook and not rang and rx.driver.ready:
            b.ring()
            rang = True
        x, y = a.tx_audio(160), b.tx_audio(160)
        a.rx_audio(y)
        b.rx_audio(x)
        tx.tick(now())
        rx.tick(now())
    assert int(tx.result.status) == 0 and int(rx.result.status) == 0
    assert len(rx.pages) == 1 and np.array_equal(rx.pages[0], bm)


def test_engine_abort_during_page_ends_the_call_cleanly():
    """engine.abort() while the page is going out: the driver ends the data (<DLE><ETX>),
    sends DCN (+FTS, +FTH=3) and hangs up; the far end hears the DCN."""
    bm = letter_page(400, seed=5)
    dce = Class1Dce()
    far = FaxSession(False, receive=lambda p: None, ecm=False)
    call = Class1Call(True, dial="8", send=[TxPage(bm, "fine")], ecm=False)
    now = lambda: dce.clock / 8000  # noqa: E731
    call.start(0.0)
    aborted = False
    while not call.done and dce.clock < 8000 * 120:
        trade_bytes(call, dce, now)
        if not aborted and dce.mode == "ftm" and dce.log[-1] == "AT+FTM=146":
            call.abort(now(), "operator pressed stop")
            aborted = True
        a = dce.tx_audio(160)
        b = far.tx(160)
        dce.rx_audio(b)
        far.rx(a)
        call.tick(now())
    for _ in range(200):  # let the far end finish hearing the DCN
        far.rx(np.zeros(160, np.int16))
        far.tx(160)
    assert aborted and call.done and call.error is None
    assert call.result.status.name == "CALLDROPPED"
    assert call.result.message == "operator pressed stop"
    at = call.driver.log
    i = at.index("AT+FTM=146")
    assert at[i + 1:] == ["AT+FTS=8", "AT+FTH=3", "ATH0"]
    assert [t.name for t in call.result.trace][-1] == "DCN"
    assert not dce.offhook
    assert far.result.status.name.startswith("RX_DCN")
    # The modem sent out the whole page it had (RTC included) before the DCN: the far
    # end keeps it, as a page never confirmed to the sender (pages_sent stays 0).
    assert far.result.pages_unconfirmed == 1 and np.array_equal(far.pages[0], bm)
    assert call.result.pages_sent == 0


def test_unanswered_command_is_repeated_after_aborting_the_receive():
    """The far end goes deaf and mute once it has sent its DIS: each DCS waits T4 on
    +FRH=3, the driver aborts that receive (CAN -> OK) to send DCS again, three times, then
    the call ends."""
    bm = letter_page(60)
    dce = Class1Dce()
    far = FaxSession(False, receive=lambda p: None, ecm=False)

    class Deaf:
        gone = False

        def tx(self, n):
            self.gone = self.gone or "AT+FTH=3" in dce.log  # we are about to send DCS
            return np.zeros(n, np.int16) if self.gone else far.tx(n)

        def rx(self, samples):
            if not self.gone:
                far.rx(samples)

    sent = bytearray()
    orig = dce.from_dte

    def spy(data):
        sent.extend(data)
        orig(data)

    dce.from_dte = spy
    call = run_in_memory(Class1Call(True, dial="7", send=[TxPage(bm, "fine")], ecm=False),
                      dce, Deaf(), max_seconds=120)
    assert call.done and call.error is None
    assert call.result.status.name == "TX_PHBDEAD", (call.result.message, call.driver.log, [(t.time, t.direction, t.name) for t in call.result.trace])
    assert call.driver.log.count("AT+FTM=145") == 3  # DCS + TCF, three times
    assert sent.count(b"\x18") >= 2  # the receives that T4 ended were aborted
    assert not dce.offhook


def test_the_default_modems_are_one_list():
    """A Class 1 call and a T.30 station offer the same modems by default, the page
    modems faxcore.modem has, fastest first."""
    assert inspect.signature(Class1Call).parameters["modems"].default is PAGE_MODEMS
    assert T30Config(calling=False).modems is PAGE_MODEMS
    assert PAGE_MODEMS == modem.PAGE_MODEMS
