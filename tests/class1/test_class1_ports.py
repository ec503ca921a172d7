"""Class1Serial on pyserial URLs, and the transports' own promises.

* ``socket://``: a modem behind a TCP serial server (ser2net). The server here is a small
  loopback one that plays the modem's side with the emulator: real bytes over a socket;
* ``spy://``: a device with its traffic logged;
* ``faxemu://``: faxcore's emulator in process (faxcore.class1.protocol_faxemu);
* a call past ``max_seconds`` on a modem that has gone silent ends; a closed PtyModem
  closed again leaves other files alone.

Each call sends or receives one page and compares it pixel for pixel.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from faxcore.class1 import Class1Call, Class1Dce, Class1Driver, Class1Error, Class1Serial
from faxcore.class1.pty import PtyModem
from faxcore.codecs.tiff import read_tiff
from faxcore.session import FaxSession
from faxcore.t30.engine import TxPage
from faxcore.testing.pages import memo_page

BLOCK = 160


def run_on(port: Class1Serial, call: Class1Call) -> Class1Serial:
    """Run ``call`` on ``port`` (at most 60 s), then close the port; returns it."""
    try:
        port.run(call, max_seconds=60)
    finally:
        port.close()
    return port


def far_end_for(bm: np.ndarray, fars: list):
    """faxcore on the far end of the line: receives when the DTE dialled, else sends bm."""
    def far_end(dialled: bool) -> FaxSession:
        s = (FaxSession(False, receive=lambda p: None) if dialled
             else FaxSession(True, send=[TxPage(bm, "fine")]))
        fars.append(s)
        return s
    return far_end


class TcpModem:
    """A TCP serial server with a modem on it, as ser2net serves a real one: one connection
    on 127.0.0.1; what the client sends goes to an emulated modem (Class1Dce), what it
    answers goes back; its line goes to ``far_end(dialled)``. Line time runs as fast as
    the CPU allows, waits (up to 0.5 s) while the modem waits for the client, and keeps
    real-time pace while nobody sends. ``ring``: RING once the client is in class 1 and
    quiet, every 2 s, until it answers."""

    def __init__(self, far_end, *, ring: bool = False) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(30)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.dce = Class1Dce()
        self.far_end = far_end
        self.ring = ring
        self.error: BaseException | None = None
        self.closed_by_client = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guarded, daemon=True)

    def __enter__(self) -> TcpModem:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        self.server.close()

    def _guarded(self) -> None:
        try:
            self._serve()
        except BaseException as e:  # the test reports it
            self.error = e

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        dce, far = self.dce, None
        last_dte, last_ring = time.monotonic(), 0.0
        with conn:
            while not self._stop.is_set():
                readable, _, _ = select.select([conn], [], [], 0.002)
                now = time.monotonic()
                if readable:
                    data = conn.recv(65536)
                    if not data:
                        self.closed_by_client = True
                        return
                    last_dte = now
                    dce.from_dte(data)
                if (self.ring and not dce.offhook and dce.fclass == 1 and now - last_dte > 0.5
                        and now - last_ring > 2.0):
                    last_ring = now
                    dce.ring()
                if dce.offhook:
                    if far is None:
                        far = self.far_end(dce.dialled)
                    if not dce.waiting_for_dte or now - last_dte > 0.5:
                        for _ in range(25):
                            a = dce.tx_audio(BLOCK)
                            b = far.tx(BLOCK)
                            dce.rx_audio(b)
                            far.rx(a)
                            if not a.any() and not b.any():
                                time.sleep(BLOCK / 8000)  # nobody sends: real-time pace
                                break
                            if dce.output_pending or dce.waiting_for_dte or not dce.offhook:
                                break
                elif far is not None:
                    # the client hung up: the far end hears silence until it is done
                    for _ in range(500):
                        if far.done:
                            break
                        far.rx(np.zeros(BLOCK, np.int16))
                        far.tx(BLOCK)
                    far = None
                out = dce.to_dte()
                if out:
                    conn.sendall(out)


# ---- socket:// ------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["send", "receive"])
def test_driver_over_socket_url(direction):
    """Class1Serial("socket://host:port"): the driver talks to a modem behind a TCP serial
    server; the page crosses pixel for pixel."""
    bm = memo_page(seed=31)
    fars: list = []
    with TcpModem(far_end_for(bm, fars), ring=direction == "receive") as modem:
        if direction == "send":
            call = Class1Call(True, dial="5550123", send=[TxPage(bm, "fine")])
        else:
            call = Class1Call(False, receive=lambda p: None)
        run_on(Class1Serial(modem.url), call)
    assert modem.error is None, repr(modem.error)
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    got = fars[0].pages if direction == "send" else call.pages
    assert len(got) == 1 and np.array_equal(got[0], bm)
    log = modem.dce.log
    assert log[:5] == ["ATZ", "ATE0V1Q0", "AT+FCLASS=1", "AT+FTM=?", "AT+FRM=?"]
    assert log[-1] == "ATH0" and ("ATD5550123" in log if direction == "send" else "ATA" in log)


def test_socket_url_nobody_listening():
    s = socket.create_server(("127.0.0.1", 0))
    url = f"socket://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with pytest.raises(Class1Error, match="cannot open socket://127.0.0.1"):
        Class1Serial(url)


# ---- spy:// ---------------------------------------------------------------------------------

def test_spy_url_logs_the_traffic(tmp_path):
    """spy://DEVICE?file=...: the call runs on DEVICE (here the emulator's pty) and every
    byte each way is in the trace."""
    bm = memo_page(seed=32)
    fars: list = []
    trace = tmp_path / "trace.txt"
    with PtyModem(far_end_for(bm, fars)) as modem:
        call = Class1Call(True, dial="7", send=[TxPage(bm, "fine")], ecm=False)
        run_on(Class1Serial(f"spy://{modem.path}?file={trace}", rtscts=False), call)
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    assert np.array_equal(fars[0].pages[0], bm)
    text = trace.read_text()
    assert " TX   0000  41 54 5A 0D " in text  # ATZ<CR>, as pyserial's hex dump shows it
    assert " RX   0000  0D 0A 4F 4B 0D 0A " in text  # <CR><LF>OK<CR><LF>


# ---- faxemu:// ------------------------------------------------------------------------------

def test_faxemu_url_dial_and_send(tmp_path):
    """faxemu://?out=FILE: the emulator in process; faxcore answers and writes the page."""
    bm = memo_page(seed=33)
    url = "faxemu://?" + urllib.parse.urlencode({"out": str(tmp_path / "rx-%d.tif")})
    call = Class1Call(True, dial="5550100", send=[TxPage(bm, "fine")])
    port = run_on(Class1Serial(url, rtscts=False), call)
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    pages = read_tiff(tmp_path / "rx-1.tif")
    assert len(pages) == 1 and np.array_equal(pages[0].bitmap, bm)
    modem = port.port.modem
    assert modem.error is None and modem.dce.dial_string == "5550100"
    assert port.port.name == url  # the port is named by its URL, not the pty behind it


def test_faxemu_url_ring_and_receive(tmp_path):
    """faxemu://?send=FILE: the emulator rings; once answered, faxcore sends FILE."""
    bm = memo_page(seed=34)
    src = tmp_path / "p.pbm"
    Image.fromarray(((1 - bm) * 255).astype(np.uint8)).convert("1").save(src)
    url = "faxemu://?" + urllib.parse.urlencode({"send": str(src), "ecm": "0"})
    call = Class1Call(False, receive=lambda p: None)
    port = run_on(Class1Serial(url, rtscts=False), call)
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    assert call.result.ecm is False
    assert len(call.pages) == 1 and np.array_equal(call.pages[0], bm)
    assert "ATA" in port.port.modem.dce.log


@pytest.mark.parametrize("url, message", [
    ("faxemu://?colour=1", "bad option colour=1"),
    ("faxemu://?ecm=yes", "bad option ecm=yes"),
    ("faxemu://?speed=fast", "could not convert"),
    ("faxemu://?speed=-1", "speed=-1"),
    ("faxemu://somehost", "expected faxemu://"),
    ("nosuchproto://x", "protocol 'nosuchproto' not known"),
])
def test_bad_urls_are_refused(url, message):
    with pytest.raises(Class1Error, match=message):
        Class1Serial(url)


# ---- the transports' promises ---------------------------------------------------------------

class DeafModem:
    """A modem that never answers a command; it sends ``chatter`` on every read (``b""``:
    nothing at all). ``read()`` gives up (raises) after ``max_reads``."""

    def __init__(self, chatter: bytes = b"", max_reads: int = 300) -> None:
        self.chatter = chatter
        self.written = bytearray()
        self.reads = 0
        self.max_reads = max_reads

    def fileno(self):
        raise OSError("no file descriptor")

    def write(self, data) -> int:
        self.written += data
        return len(data)

    def read(self, n: int) -> bytes:
        self.reads += 1
        if self.reads > self.max_reads:
            raise RuntimeError("Class1Serial.run() goes on and on")
        return self.chatter

    def close(self) -> None:
        pass


def run_deaf(chatter: bytes) -> tuple[Class1Call, DeafModem, list[float]]:
    """A call on a DeafModem until max_seconds=10; the clock ticks 0.25 s at each look."""
    port = DeafModem(chatter)
    ticks = iter(range(10**6))
    seen: list[float] = []

    def clock() -> float:
        seen.append(next(ticks) / 4)
        return seen[-1]

    drv = Class1Driver(dial="1", command_timeout=1000.0)
    call = Class1Call(True, send=[TxPage(memo_page(80), "fine")], driver=drv)
    Class1Serial("deaf", port=port).run(call, max_seconds=10, clock=clock)
    return call, port, seen


def test_run_past_max_seconds_ends_though_the_modem_chatters():
    """Was: past max_seconds, run() failed the call again on every turn of its loop,
    sending ATH0 once more and moving its 2 s deadline on each time, so with a modem that
    kept sending something other than an answer (here RING) it never returned."""
    call, port, _ = run_deaf(b"\r\nRING\r\n")
    assert call.done and call.error == "call took longer than 10 s"
    assert call.driver.hung_up and call.driver.rings > 0
    assert bytes(port.written) == b"ATZ\rATH0\r"  # ATZ (never answered), then ATH0 once


def test_run_past_max_seconds_gives_the_modem_2s_to_hang_up():
    """Was: the ATH0 deadline was counted from the driver's last notion of the time (when
    the modem last sent something: here never, so 0), not from when the call was ended:
    with a silent modem it had passed already, and the driver gave up at once."""
    call, port, seen = run_deaf(b"")
    assert call.done and call.error == "call took longer than 10 s"
    assert bytes(port.written) == b"ATZ\rATH0\r"
    ended = 10.25  # the first look past max_seconds
    assert seen[-1] >= ended + 2  # the loop went on until ATH0's 2 s had passed


def test_pty_modem_closed_twice_leaves_other_files_alone():
    """Was: a second close() closed the pty's file descriptor numbers again, whatever
    files had been given those numbers since (pyserial closes a port again when it is
    garbage-collected)."""
    modem = PtyModem()
    modem.close()
    r, w = os.pipe()  # takes the lowest free descriptors: the pty's
    try:
        modem.close()
        os.write(w, b"still open")
        assert os.read(r, 100) == b"still open"
    finally:
        os.close(r)
        os.close(w)
