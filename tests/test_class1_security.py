"""Hostile serial-line input to the Class 1 driver (DTE) and the emulator (DCE).

README promise: "If the modem answers ERROR, sends garbage or stops answering, the call ends
with a clear message, never a hang." So, for both sides of the Class 1 line:

* regression tests, one per defect found (the first part of this file);
* hypothesis fuzzing (second part): random bytes, random AT-ish lines and random DLE
  sequences fed to :class:`~faxcore.modem.class1.Class1Driver` in every phase (idle,
  initialising, waiting for RING, after ATD, in +FRH/+FRM data, sending) and to
  :class:`~faxcore.modem.class1_emulator.Class1Dce`'s command parser and data modes; no
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

import pytest

from faxcore.modem import class1 as c1
from faxcore.modem import class1_codes as codes
from faxcore.modem import class1_emulator as c1e
from faxcore.modem import class1_pty as c1p
from faxcore.modem.class1 import Class1Driver
from faxcore.modem.class1_emulator import Class1Dce
from faxcore.t30.modem_if import V29_9600, DataReceived, LineDropped, ReceiveData, ReceiveHDLC

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
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
        from faxcore.modem.class1 import Class1Driver
        drv = Class1Driver(dial="1")
        drv.start(0.0)
        for _ in range(5):
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


def test_emulator_endless_ftm_data_is_bounded():
    """+FTM data beyond MAX_DATA (a DTE ignoring flow control): was all kept in memory."""
    dce = emulator_in_call()
    dce.from_dte(b"AT+FTM=96\r")
    assert dce.to_dte() == b"\r\nCONNECT\r\n"
    chunk = b"\x00" * (1 << 20)
    for _ in range(codes.MAX_DATA // len(chunk) + 2):
        dce.from_dte(chunk)
    assert len(dce._ftm_buf) <= codes.MAX_DATA
    dce.from_dte(b"AT\r\x10\x03")
    assert dce.to_dte() == b"\r\nERROR\r\n" and dce.mode == "command"
    dce.from_dte(b"AT\r")
    assert dce.to_dte() == b"\r\nOK\r\n"


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
            modem._io(0.0)
            assert len(modem.transcript) <= c1p.TRANSCRIPT_MAX
            assert len(modem._wbuf) <= c1p.WBUF_MAX
        assert modem.transcript.endswith(chunk)
        assert modem.overruns > 0
    finally:
        os.close(fd)
        modem.close()
