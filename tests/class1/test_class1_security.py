"""Hostile serial-line input to the Class 1 driver (DTE) and the emulator (DCE).

README promise: "If the modem answers ERROR, sends garbage or stops answering, the call ends
with a clear message, never a hang." So, for both sides of the Class 1 line:

* regression tests, one per defect found (the first part of this file);
* hypothesis fuzzing (second part): random bytes, random AT-ish lines and random DLE
  sequences fed to :class:`~faxcore.class1.dte.Class1Driver` in every phase (idle,
  initialising, waiting for RING, after ATD, in +FRH/+FRM data, sending) and to
  :class:`~faxcore.class1.dce.Class1Dce`'s command parser and data modes; no
  exception escapes, every buffer stays under its documented cap, and with virtual time
  running the call always ends;
* the committed corpus (``tests/corpus/class1_dte``, ``tests/corpus/class1_dce``) replayed
  through :mod:`faxcore.testing.class1_fuzz`.

``FAXCORE_CLASS1_FUZZ_EXAMPLES=N`` multiplies nothing: it sets every fuzz test's example
count to N (the long run done outside the suite).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.class1 import Class1Call, Class1Dce, Class1Driver, codes
from faxcore.class1 import dce as c1e
from faxcore.class1 import dte as c1
from faxcore.class1 import pty as c1p
from faxcore.t30.engine import TxPage
from faxcore.t30.modem_if import V29_9600, DataReceived, LineDropped, ReceiveData, ReceiveHDLC
from faxcore.testing import class1_fuzz as fz
from faxcore.testing.paths import CORPUS, ROOT

ALL_CODES = b"24,48,72,73,74,96,97,98,121,122,145,146"


# ---- helpers -------------------------------------------------------------------------------

def answer_init(drv: Class1Driver, ftm: bytes = ALL_CODES, frm: bytes | None = None,
                t: float = 0.0) -> None:
    """Answer the driver's initialisation commands as a good modem does."""
    for _ in range(len(drv.init)):
        out = drv.outgoing()
        if out == b"AT+FTM=?\r":
            drv.receive(b"\r\n" + ftm + b"\r\n\r\nOK\r\n", t)
        elif out == b"AT+FRM=?\r":
            drv.receive(b"\r\n" + (ftm if frm is None else frm) + b"\r\n\r\nOK\r\n", t)
        else:
            drv.receive(b"\r\nOK\r\n", t)


def ready_driver(**kw) -> Class1Driver:
    drv = Class1Driver(command_timeout=1.0, **kw)
    drv.start(0.0)
    answer_init(drv)
    assert drv.ready and drv.error is None
    drv.outgoing()
    return drv


def failed_cleanly(drv: Class1Driver) -> bool:
    """The documented error path: ``error`` set, ``LineDropped`` reported, ``ATH0`` sent."""
    evs = drv.events()
    return (drv.error is not None and any(isinstance(e, LineDropped) for e in evs)
            and drv.outgoing().endswith(b"ATH0\r"))


def emulator(echo: bool = False) -> Class1Dce:
    dce = Class1Dce()
    if not echo:
        dce.from_dte(b"ATE0\r")
        assert dce.to_dte() == b"ATE0\r\r\nOK\r\n"
    return dce


def emulator_in_call() -> Class1Dce:
    """Off hook (dialled), in command mode: the state between two Class 1 commands."""
    dce = emulator()
    dce.from_dte(b"ATD1\rAT+FTS=1\r")
    for _ in range(3):
        dce.tx_audio(160)
    assert dce.offhook and dce.mode == "command" and dce.to_dte() == b"\r\nOK\r\n"
    return dce


# ---- regression tests: the driver (bytes a modem writes) -----------------------------------

def test_error_while_waiting_for_ring_ends_the_call_clearly():
    """Was: AttributeError ('_Op' object has no attribute 'at') out of receive()."""
    drv = ready_driver()
    for _ in range(c1.MAX_JUNK + 1):
        drv.receive(b"\r\nERROR\r\n", 1.0)
    assert failed_cleanly(drv)
    assert "waiting for RING" in drv.error and "'ERROR'" in drv.error


def test_junk_while_waiting_for_ring_ends_the_call_clearly():
    drv = ready_driver()
    for _ in range(c1.MAX_JUNK):
        drv.receive(b"\r\nHELLO\r\n", 1.0)
    assert drv.error is None  # a few stray lines are tolerated, as while any command runs
    drv.receive(b"x" * (c1.MAX_LINE + 1), 1.0)  # a line end that never comes: junk too
    assert failed_cleanly(drv) and "waiting for RING" in drv.error


def test_junk_with_nothing_outstanding_ends_the_call():
    """Was: ignored for ever (no command outstanding, nothing counted)."""
    drv = ready_driver(wait_ring=False)
    for _ in range(c1.MAX_JUNK):
        drv.receive(b"\r\nNO CARRIER\r\n", 1.0)
    assert drv.error is None
    drv.receive(b"\r\n\xff\xfe\r\n", 1.0)
    assert failed_cleanly(drv) and "no command outstanding" in drv.error


@pytest.mark.parametrize("answer", [b"24,48,\xb2", b"\xb9-\xb3", b"24,4\xb38"],
                         ids=["superscript-two", "superscript-range", "superscript-inside"])
def test_non_ascii_digits_in_ftm_answer(answer):
    """Was: ValueError (str.isdigit accepts '²', int() does not) out of receive()."""
    drv = Class1Driver(dial="1", command_timeout=1.0)
    drv.start(0.0)
    answer_init(drv, ftm=answer, frm=b"24,48,72,96")
    assert drv.error is None and drv.ready
    assert drv.tx_codes == set()  # the answer is not a list of numbers: nothing offered
    assert drv.rx_codes == {24, 48, 72, 96}


def test_code_list_parser_is_ascii_only():
    """int() and str.isdigit() accept '٣' (Arabic-Indic three): the old parser took
    '24,٣' as {24, 3}. Only ASCII 0-9 make a number now."""
    parse = codes.parse_code_list
    assert parse("24,\u0663") is None and parse("24,\u00b2") is None
    assert parse("\uff19\uff16") is None  # fullwidth 96
    assert parse("1_0") is None and parse("+3") is None and parse(" ") is None
    assert parse("(24-48),96") == {24, 48, 96}
    assert parse("24,48,72,73,74,96,97,98,121,122,145,146") == set(codes.MODULATIONS) - {3}
    assert parse("3,24,25") == {3, 24}  # numbers Class 1 does not define are left out
    assert parse("48-24") == set()


def test_huge_range_in_ftm_answer_is_not_materialised():
    """'1-99999999999' made a set of 10**11 ints (hundreds of GB). Run in a child limited
    to 1 GiB of address space, so the old code fails with MemoryError instead of taking
    the machine down."""
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from faxcore.class1 import Class1Driver
        drv = Class1Driver(dial="1")
        drv.start(0.0)
        for _ in range(len(drv.init)):
            out = drv.outgoing()
            drv.receive(b"\\r\\n(1-99999999999)\\r\\n\\r\\nOK\\r\\n" if b"=?" in out
                        else b"\\r\\nOK\\r\\n", 0.0)
        print(drv.ready, drv.error, sorted(drv.tx_codes), drv.modems)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    every = sorted(codes.MODULATIONS)
    assert run.stdout.strip() == f"True None {every} ('v17', 'v29', 'v27ter')"


def test_overlong_line_is_junk_whatever_the_chunking():
    """Was: 600 octets without a line end were dropped, and the 'OK' that ended that same
    line, arriving in the next read, was taken as the modem's answer."""
    for chunks in ([b"x" * 600 + b"OK\r\n"], [b"x" * 600, b"OK\r\n"],
                   [b"x" * 300, b"x" * 300, b"OK\r\n"]):
        drv = Class1Driver(dial="1", command_timeout=1.0)
        drv.start(0.0)
        assert drv.outgoing() == b"ATZ\r"
        for c in chunks:
            drv.receive(c, 0.1)
        assert drv.outgoing() == b""  # still waiting for ATZ's answer
        drv.receive(b"\r\nOK\r\n", 0.2)
        assert drv.outgoing() == b"ATE0V1Q0\r"
    errors = set()
    for chunks in ([b"y" * 1400 + b"\r\n"], [b"y" * 700, b"y" * 700 + b"\r\n"]):
        drv = ready_driver(wait_ring=False)
        drv.receive(b"\r\nHELLO\r\n" * c1.MAX_JUNK, 1.0)
        for c in chunks:
            drv.receive(c, 1.0)
        assert failed_cleanly(drv)
        errors.add(drv.error)
    assert errors == {"garbage from the modem with no command outstanding (a line longer "
                      f"than {c1.MAX_LINE} octets)"}


def test_endless_frm_data_is_cut():
    """+FRM data with no <DLE><ETX>: was passed on for ever (the engine kept it all)."""
    drv = ready_driver(wait_ring=False)
    drv.send_command(ReceiveData(V29_9600), 1.0)
    assert drv.outgoing() == b"AT+FRM=96\r"
    drv.receive(b"\r\nCONNECT\r\n", 1.0)
    chunk = bytes(range(256)).replace(b"\x10", b"") * 256  # no DLE: nothing ends the data
    got = 0
    fed = 0
    while fed < codes.MAX_DATA + len(chunk) * 4 and drv.error is None:
        drv.receive(chunk, 2.0)
        fed += len(chunk)
        for e in drv.events():
            if isinstance(e, DataReceived):
                got += len(e.data)
            elif isinstance(e, LineDropped):
                break
    assert drv.error is not None and "longer than" in drv.error
    assert codes.MAX_DATA - len(chunk) < got <= codes.MAX_DATA
    assert drv.outgoing().endswith(b"ATH0\r")


def test_driver_log_is_bounded():
    """A modem that answers each +FRH=3 with NO CARRIER at once: the driver re-arms the
    receive each time; its command log was a list without end."""
    drv = ready_driver(dial=None, wait_ring=False)
    drv.send_command(ReceiveHDLC(), 0.0)
    for _ in range(c1.LOG_MAX + 200):
        assert drv.outgoing() == b"AT+FRH=3\r"
        drv.receive(b"\r\nNO CARRIER\r\n", 0.0)
    assert drv.error is None
    assert len(drv.log) == c1.LOG_MAX and drv.log[-1] == "AT+FRH=3"


# ---- regression tests: the emulator (bytes a DTE writes) -----------------------------------

@pytest.mark.parametrize("line, regs", [
    ("ATS\u00b9=1", {0: 0, 7: 60}),
    ("ATS7=1\u00b2", {0: 0, 7: 1}),  # S7=1 ran, then '²' is an unknown command (V.250)
    ("ATE\u00b9", {0: 0, 7: 60}),
    ("ATS\u00b2?", {0: 0, 7: 60}),
])
def test_emulator_non_ascii_digits(line, regs):
    """Was: ValueError out of from_dte() (str.isdigit accepts superscripts)."""
    dce = emulator()
    dce.from_dte(line.encode("latin-1") + b"\r")
    assert dce.to_dte() == b"\r\nERROR\r\n"
    assert dce.regs == regs


def test_emulator_overlong_command_line_is_refused_whole():
    """Was: ERROR after 257 octets, then the rest of the same line ran as a command (here
    ATZ, which reset the modem and answered OK)."""
    dce = emulator()
    dce.from_dte(b"A" * 300 + b"TZ\r")
    assert dce.to_dte() == b"\r\nERROR\r\n"
    assert not dce.echo  # ATZ did not run
    dce.from_dte(b"AT" + b"E" * (c1e.MAX_LINE - 2) + b"\r")  # at the limit: a command
    assert dce.to_dte() == b"\r\nOK\r\n"


def test_emulator_noise_before_at_does_not_shift_the_command():
    """'ß'.upper() is 'SS': the old parser found 'AT' in the upper-cased line and cut the
    original one at that index, so 'ßATE1' ran 'E1' as ... '1' (ERROR)."""
    dce = emulator()
    dce.from_dte(b"\xdfATE1\r")
    assert dce.to_dte() == b"\r\nOK\r\n" and dce.echo


def test_emulator_s_registers_are_bounded():
    """Was: any register number and value stored (a dict without bound)."""
    dce = emulator()
    dce.from_dte(b"ATS255=255\r")
    assert dce.to_dte() == b"\r\nOK\r\n" and dce.regs[255] == 255
    for line in (b"ATS256=1", b"ATS9=256", b"ATS" + b"9" * 40 + b"=1", b"ATS1=" + b"9" * 40):
        dce.from_dte(line + b"\r")
        assert dce.to_dte() == b"\r\nERROR\r\n", line
    for n in range(2000):
        dce.from_dte(b"ATS%d=1\r" % n)
    assert len(dce.regs) <= 256


def test_emulator_hang_up_while_dialling_is_back_in_command_mode():
    """Was: ATH during ATD put the modem on hook but left it in mode 'dial' (and 'fts',
    'answer' likewise)."""
    for start in (b"ATD1\r", b"ATA\r", b"ATD1\rAT+FTS=100\r"):
        dce = emulator()
        dce.from_dte(start)
        dce.from_dte(b"ATH\r")
        assert not dce.offhook and dce.mode == "command", start


def test_emulator_log_is_bounded():
    dce = emulator()
    for _ in range(c1e.LOG_MAX + 100):
        dce.from_dte(b"AT\r")
    assert len(dce.log) == c1e.LOG_MAX


def test_emulator_overlong_fth_frame_discards_to_dle_etx():
    """Was: ERROR at 4097 octets and back to command mode at once, so the rest of the
    frame (here 'ATZ') ran as commands."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTH=3\r")
    assert dce.to_dte() == b"\r\nCONNECT\r\n"
    dce.from_dte(b"\xff\x03" + b"\x55" * 5000)
    dce.from_dte(b"\rATZ\r")
    assert dce.to_dte() == b""  # still the frame: nothing is parsed as a command
    dce.from_dte(b"\x10\x03")
    assert dce.to_dte() == b"\r\nERROR\r\n"
    assert dce.mode == "command" and dce.offhook and not dce.echo


def test_emulator_fth_frames_ahead_of_the_line_are_bounded():
    """+FTH answers CONNECT at once after a non-final frame: a DTE that never waits for the
    line queued frames (and their bits) without end."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTH=3\r")
    assert dce.to_dte() == b"\r\nCONNECT\r\n"
    frame = b"\xff\x03" + b"\x55" * 1000 + b"\x10\x03"  # non-final (control 0x03)
    answers = []
    for _ in range(100):
        dce.from_dte(frame)
        answers.append(dce.to_dte())
        if dce.mode != "fth":
            break
    fit = (c1e.MAX_FTH_AHEAD - 300) // ((1002 + 3) * 8 * 6 // 5)
    assert answers == [b"\r\nCONNECT\r\n"] * fit + [b"\r\nERROR\r\n"]
    assert dce.mode == "command" and dce.offhook


def test_emulator_short_fth_frame_keeps_the_commands_after_it():
    """A frame too short for HDLC ends in ERROR; what followed its <DLE><ETX> in the same
    write was dropped (the same bytes in two writes ran as commands)."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTH=3\r")
    dce.to_dte()
    dce.from_dte(b"\xff\x10\x03AT\r")
    assert dce.to_dte() == b"\r\nERROR\r\n\r\nOK\r\n"


def test_emulator_endless_ftm_data_is_bounded():
    """+FTM data beyond MAX_DATA (a DTE ignoring flow control): was all kept in memory."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTM=96\r")
    assert dce.to_dte() == b"\r\nCONNECT\r\n"
    chunk = b"\x00" * (1 << 20)
    for _ in range(codes.MAX_DATA // len(chunk) + 2):
        dce.from_dte(chunk)
    assert dce.ftm_buffered <= codes.MAX_DATA
    dce.from_dte(b"AT\r\x10\x03")
    assert dce.to_dte() == b"\r\nERROR\r\n" and dce.mode == "command"
    dce.from_dte(b"AT\r")
    assert dce.to_dte() == b"\r\nOK\r\n"


def test_emulator_and_driver_report_what_they_hold():
    """Class1Dce.buffered() and Class1Driver.buffered() (what the fuzz replay checks
    against the caps) count what is really held: a command line being typed, an +FTH
    frame being written, the +FTM rate and end; a modem's response line being read."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FT")
    assert dce.buffered().command_line == 5
    dce.from_dte(b"H=3\r")
    assert dce.to_dte() == b"\r\nCONNECT\r\n" and dce.buffered().command_line == 0
    dce.from_dte(b"\xff\x03\x40\x55")
    held = dce.buffered()
    assert held.fth_frame == 4 and held.fth_ahead_bits == 300.0 and not held.ending
    dce.from_dte(b"\x10\x03")   # the frame goes to the line
    assert dce.buffered().fth_frame == 0 and dce.buffered().fth_ahead_bits > 300.0
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTM=96\r" + bytes(500))
    held = dce.buffered()
    # 200 ms of data (240 octets at 9600 bit/s) went to the modulator; the rest is held
    assert held.ftm_rate == 9600 and held.ftm_data == 500 - 240 == dce.ftm_buffered
    dce.from_dte(b"\x10\x03")
    assert dce.buffered().ending
    drv = ready_driver()
    drv.receive(b"\r\nCONN", 0.0)
    assert drv.buffered() == (len(b"CONN"), 0)   # the line so far, no frame


def test_pty_buffers_are_bounded():
    """A DTE that writes without end and never reads: the transcript and the pending
    output (the echo) were both kept whole."""
    modem = c1p.PtyModem()
    fd = os.open(modem.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        chunk = b"X" * 4096
        total = 0
        while total < 3 * c1p.TRANSCRIPT_MAX:
            try:
                total += os.write(fd, chunk)
            except BlockingIOError:
                pass
            modem.pump(0.0)
            assert len(modem.transcript) <= c1p.TRANSCRIPT_MAX
            assert modem.output_pending <= c1p.WBUF_MAX
        assert modem.transcript.endswith(chunk)
        assert modem.overruns > 0
    finally:
        os.close(fd)
        modem.close()


# ---- fuzzing: strategies -------------------------------------------------------------------

_N = os.environ.get("FAXCORE_CLASS1_FUZZ_EXAMPLES")


def fuzz(n: int):
    """Hypothesis settings for a fuzz test of ``n`` examples (or the long-run count)."""
    return settings(max_examples=int(_N) if _N else n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


ENDS = [b"\r\n", b"\r", b"\n", b"", b"\n\r", b"\r\r\n", b"\r\n\r\n"]
WEIRD_NUMBERS = [b"\xb2", b"\xb9-\xb3", "\u0663".encode(), "\uff19\uff16".encode(), b"1_0",
                 b"+3", b"-3", b"(1-99999999999)", b"9" * 60, b"0" * 30 + b"96", b""]
MODEM_TOKENS = [b"OK", b"CONNECT", b"CONNECT 9600", b"ERROR", b"NO CARRIER", b"RING",
                b"+FCERROR", b"BUSY", b"NO DIALTONE", b"NO ANSWER", b"0", b"1", b"3", b"4",
                b"+F4", ALL_CODES, b"24,48-146", b"AT+FRH=3", b"\x10\x03", b"\x10\x10",
                b"\x18", b"\x11", b"\x13", b"\x00", b"x" * 600] + WEIRD_NUMBERS
DTE_TOKENS = [b"AT", b"ATZ", b"AT&F", b"ATE0", b"ATE1", b"ATV0", b"ATV1", b"ATQ1", b"ATQ0",
              b"ATI3", b"ATD1", b"ATDT5551234", b"ATA", b"ATH", b"ATH0", b"AT+FCLASS=1",
              b"AT+FCLASS=?", b"AT+FTM=?", b"AT+FRM=?", b"AT+FTH=3", b"AT+FRH=3",
              b"AT+FTM=96", b"AT+FTM=146", b"AT+FRM=96", b"AT+FRM=24", b"AT+FTS=8",
              b"AT+FRS=5", b"ATS7=60", b"ATS0=1", b"ATS0?", b"ATS255=255", b"AT+FAE=1",
              b"AT+FMI?", b"\x10\x03", b"\x18", b"\xff\x03", b"\xff\x13\x80\x00\xee",
              b"\xdfAT", b"A" * 300, b"\x08", b"\x7f"]
NUMBERED = [b"ATS", b"ATS7=", b"AT+FTM=", b"AT+FRM=", b"AT+FTH=", b"AT+FTS=", b"AT+FRS=",
            b"ATE", b"AT+FCLASS="]
DLE_TOKENS = [b"\x10", b"\x10\x03", b"\x10\x10", b"\x10\x1a", b"\x10\x18", b"\x03",
              b"\x10\x10\x03", b"\xff\x13\x80", b"\xff\x03", b"\r\nOK\r\n", b"\r\nCONNECT\r\n",
              b"\r\nERROR\r\n", b"\r\nNO CARRIER\r\n", b"\r\nRING\r\n", b"ATH0\r"]

latin1 = st.text(st.characters(max_codepoint=255), max_size=24).map(
    lambda s: s.encode("latin-1"))
numbers = st.integers(0, 10**30).map(lambda n: str(n).encode())


def lines(tokens: list[bytes], prefixes: list[bytes] | None = None) -> st.SearchStrategy:
    """AT-ish traffic: known words, numbers (ASCII and not), latin-1 noise, any ending."""
    words = [st.sampled_from(tokens), latin1, numbers, st.sampled_from(WEIRD_NUMBERS)]
    if prefixes:
        words.append(st.builds(lambda a, b: a + b, st.sampled_from(prefixes),
                               st.one_of(numbers, st.sampled_from(WEIRD_NUMBERS))))
    return st.lists(st.tuples(st.one_of(*words), st.sampled_from(ENDS)), max_size=40).map(
        lambda xs: b"".join(a + b for a, b in xs))


dle_traffic = st.lists(st.one_of(st.sampled_from(DLE_TOKENS), st.binary(max_size=40)),
                       max_size=40).map(b"".join)
chunkings = st.lists(st.integers(1, 300), min_size=1, max_size=6)
modem_bytes = st.one_of(st.binary(max_size=600), lines(MODEM_TOKENS), dle_traffic)
dte_bytes = st.one_of(st.binary(max_size=600), lines(DTE_TOKENS, NUMBERED), dle_traffic)


# ---- fuzzing: the driver -------------------------------------------------------------------

@fuzz(900)
@given(st.sampled_from(fz.DTE_PHASES), st.binary(max_size=600), chunkings)
def test_fuzz_driver_random_bytes(phase, data, chunks):
    fz.replay_dte_bytes(data, (phase,), chunks=chunks)


@fuzz(900)
@given(st.sampled_from(fz.DTE_PHASES), lines(MODEM_TOKENS), chunkings)
def test_fuzz_driver_at_lines(phase, data, chunks):
    fz.replay_dte_bytes(data, (phase,), chunks=chunks)


@fuzz(600)
@given(st.sampled_from(fz.DTE_PHASES), dle_traffic, chunkings)
def test_fuzz_driver_dle_sequences(phase, data, chunks):
    fz.replay_dte_bytes(data, (phase,), chunks=chunks)


@fuzz(400)
@given(st.sampled_from(fz.DTE_PHASES), modem_bytes, chunkings)
def test_fuzz_driver_does_not_depend_on_read_sizes(phase, data, chunks):
    """The same bytes read whole or in any pieces: the same commands, events and error."""
    assert fz.driver_outcome(phase, data, chunks) == fz.driver_outcome(phase, data,
                                                                        [len(data) + 1])


# ---- fuzzing: the emulator -----------------------------------------------------------------

@fuzz(500)
@given(st.sampled_from(fz.DCE_PHASES), st.binary(max_size=600), chunkings)
def test_fuzz_emulator_random_bytes(phase, data, chunks):
    fz.replay_dce_bytes(data, (phase,), chunks=chunks)


@fuzz(600)
@given(st.sampled_from(fz.DCE_PHASES), lines(DTE_TOKENS, NUMBERED), chunkings)
def test_fuzz_emulator_at_lines(phase, data, chunks):
    fz.replay_dce_bytes(data, (phase,), chunks=chunks)


@fuzz(400)
@given(st.sampled_from(fz.DCE_PHASES), dle_traffic, chunkings)
def test_fuzz_emulator_dle_sequences(phase, data, chunks):
    fz.replay_dce_bytes(data, (phase,), chunks=chunks)


@fuzz(300)
@given(st.sampled_from(fz.INVARIANT_DCE_PHASES), dte_bytes, chunkings)
def test_fuzz_emulator_command_parser_does_not_depend_on_write_sizes(phase, data, chunks):
    """Command mode and +FTH/+FTM data, with no line time passing: the same bytes written
    whole or in pieces give the same answers and state. (+FRH/+FRM are left out: there
    the first octet of any write aborts, by design.)"""
    assert (fz.emulator_outcome(phase, data, chunks)
            == fz.emulator_outcome(phase, data, [len(data) + 1]))


# ---- fuzzing: a whole call (the real T.30 engine on the driver) ----------------------------

def _run_call(calling: bool, answers: list[bytes]) -> tuple[Class1Call, float]:
    """A call against a modem that answers initialisation well, then (after a RING when
    answering) gives one of ``answers`` to each command, then nothing. Virtual time."""
    if calling:
        call = Class1Call(True, dial="1", send=[TxPage(np.zeros((20, 1728), np.uint8),
                                                       "standard")])
    else:
        call = Class1Call(False, receive=lambda p: None)
    buf = b""
    todo = list(answers)
    ring = not calling
    t = 0.0
    call.start(t)
    while not call.done:
        assert t < 1200.0, "call still going after 20 minutes of virtual time"
        buf += call.outgoing()
        back = b""
        while b"\r" in buf:
            line, buf = buf.split(b"\r", 1)
            text = line.lstrip(b"\x18\x10\x03").decode("latin-1")
            if text in ("ATZ", "ATE0V1Q0", "AT+FCLASS=1"):
                back += b"\r\nOK\r\n"
            elif text in ("AT+FTM=?", "AT+FRM=?"):
                back += b"\r\n" + ALL_CODES + b"\r\n\r\nOK\r\n"
            elif todo:
                back += todo.pop(0)
        if ring and call.driver.ready:
            back += b"\r\nRING\r\n"
            ring = False
        if back:
            call.receive(back, t)
            call.tick(t)
            continue
        call.tick(t)
        d = call.next_deadline
        if call.done:
            break
        assert d is not None, f"nothing more can happen: {call.driver.state}"
        t = max(t + 0.01, d)
    return call, t


@fuzz(120)
@given(st.booleans(), st.lists(modem_bytes, max_size=12))
def test_fuzz_whole_call_always_ends(calling, answers):
    call, t = _run_call(calling, answers)
    assert call.done
    if call.engine is None:
        assert call.error is not None
    else:
        assert call.driver.hung_up
        if int(call.result.status) != 0:
            assert call.result.message or call.error


# ---- the corpus ----------------------------------------------------------------------------

def _corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).glob("*.bin"))


@pytest.mark.parametrize("path", _corpus("class1_dte"), ids=lambda p: p.name)
def test_corpus_dte(path):
    assert path.stat().st_size < 64 << 10
    fz.replay_dte_bytes(path.read_bytes())


@pytest.mark.parametrize("path", _corpus("class1_dce"), ids=lambda p: p.name)
def test_corpus_dce(path):
    assert path.stat().st_size < 64 << 10
    fz.replay_dce_bytes(path.read_bytes())


def test_corpus_is_there():
    assert len(_corpus("class1_dte")) >= 5 and len(_corpus("class1_dce")) >= 5
