"""Class 1 quirk profiles (faxcore.class1.quirks) and what each flag makes the driver do,
sans-IO: the modem's side is replayed from what spandsp 0.0.6's T.31 modem really sent
(recorded with faxcore.testing.spandsp.t31; the whole calls are in test_t31_spandsp.py).
Also: Class1Serial(quirks=...) and ``faxcore modem send --quirks``.
"""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from faxcore.class1 import Class1Call, Class1Driver, Class1Serial
from faxcore.class1.dte import DEFAULT_INIT, MAX_REISSUE
from faxcore.class1.quirks import FLAGS, GENERIC, IDENTIFY, PROFILES, detect, resolve
from faxcore.cli import main
from faxcore.codecs import pbm_bytes, read_tiff
from faxcore.t30.modem_if import (
    V17_14400,
    FrameReceived,
    HangUp,
    ReceiveData,
    ReceiveHDLC,
    SendHDLC,
    Silence,
    TxComplete,
)

CODES = b"\r\n24,48,72,73,74,96,97,98,121,122,145,146\r\n\r\nOK\r\n"
# spandsp's answers to the identification commands (ATE0 in force)
SPANDSP_ID = {"ATI": b"\r\nspandsp\r\n\r\nOK\r\n",
              "AT+FMI?": b"\r\nwww.soft-switch.org\r\n\r\nOK\r\n",
              "AT+FMM?": b"\r\nspandsp\r\n\r\nOK\r\n",
              "AT+FMR?": b"\r\n0.0.6\r\n\r\nOK\r\n"}
DIS = bytes.fromhex("ff1380 00eefa80809103")     # as the engine gets it (no FCS)
DIS_FCS = bytes.fromhex("9cda")
# AT+FRH=3 issued after the DIS (second frame of the burst) had arrived: spandsp answers
DOUBLE_CONNECT = b"\r\nCONNECT\r\n\r\nCONNECT\r\n" + DIS + DIS_FCS + b"\x10\x03\r\nOK\r\n"


def answer_init(drv: Class1Driver, ident: dict[str, bytes] | None = None) -> list[str]:
    """Answer the driver's initialisation like a modem would; the commands it sent."""
    sent = []
    while not drv.ready and drv.error is None:
        out = drv.outgoing().decode()
        assert out.endswith("\r"), out
        cmd = out[:-1]
        sent.append(cmd)
        if cmd in ("AT+FTM=?", "AT+FRM=?"):
            drv.receive(CODES, 0.0)
        elif cmd in IDENTIFY:
            drv.receive((ident or {}).get(cmd, b"\r\nERROR\r\n"), 0.0)
        else:
            drv.receive(b"\r\nOK\r\n", 0.0)
    return sent


def after_double_connect(quirks: str) -> tuple[Class1Driver, list]:
    """A calling driver that has just received the DIS as spandsp delivers a frame that
    arrived before +FRH=3; its events."""
    drv = Class1Driver(dial=None, wait_ring=False, quirks=quirks)
    drv.start(0.0)
    answer_init(drv)
    drv.send_command(ReceiveHDLC(), 1.0)
    assert drv.outgoing() == b"AT+FRH=3\r"
    drv.receive(DOUBLE_CONNECT, 1.5)
    return drv, drv.events()


# ---- profiles -------------------------------------------------------------------------------

def test_profile_names_and_flags():
    assert resolve("auto") is None and resolve(None) is None and resolve("") is None
    sp = resolve("spandsp-t31")
    assert sp is PROFILES["spandsp-t31"] and sp.stray_connect and sp.reissue_empty_ok
    assert resolve("generic") is GENERIC and not GENERIC.flags
    q = resolve("generic, stray-connect")
    assert q.stray_connect and not q.reissue_empty_ok and q.name == "generic+stray_connect"
    q = resolve("spandsp-t31,no-reissue_empty_ok")
    assert q.flags == {"stray_connect"} and q.name == "spandsp-t31-reissue_empty_ok"
    assert resolve("Tolerant").flags == set(FLAGS)
    assert resolve(sp) is sp
    for bad, why in (("bogus", "unknown quirk profile 'bogus'"),
                     ("generic,bogus", "unknown quirk flag 'bogus'"),
                     ("auto,stray_connect", "'auto' takes no flags")):
        with pytest.raises(ValueError, match=why):
            resolve(bad)


def test_detect_from_identification_answers():
    assert detect({"ATI": ["spandsp"]}).name == "spandsp-t31"
    assert detect({"AT+FMI?": ["www.soft-switch.org"]}).name == "spandsp-t31"
    assert detect({"ATI": ["56000"], "AT+FMI?": ["U.S. Robotics"]}) is GENERIC
    assert detect({"ATI": ["spandspx"]}) is GENERIC  # a word, not any text containing it
    assert detect({}) is GENERIC


def test_auto_asks_the_modem_and_chooses():
    drv = Class1Driver(dial="1")
    drv.start(0.0)
    sent = answer_init(drv, {k: v for k, v in SPANDSP_ID.items()})
    assert sent == [*DEFAULT_INIT, *IDENTIFY]
    assert drv.ready and drv.error is None and drv.quirks.name == "spandsp-t31"
    assert drv.identity == {"ATI": ["spandsp"], "AT+FMI?": ["www.soft-switch.org"],
                            "AT+FMM?": ["spandsp"], "AT+FMR?": ["0.0.6"]}


def test_auto_with_a_modem_that_refuses_identification():
    drv = Class1Driver(dial="1")
    drv.start(0.0)
    answer_init(drv, {})  # ERROR to every identification command
    assert drv.ready and drv.error is None and drv.quirks is GENERIC
    assert drv.tx_codes and drv.modems == ("v17", "v29", "v27ter")


def test_a_named_profile_asks_nothing():
    drv = Class1Driver(dial="1", quirks="spandsp-t31")
    drv.start(0.0)
    assert answer_init(drv) == list(DEFAULT_INIT)
    assert drv.quirks.name == "spandsp-t31" and drv.identity == {}


# ---- stray_connect ----------------------------------------------------------------------

def test_stray_connect_dropped_before_the_frame():
    drv, ev = after_double_connect("spandsp-t31")
    frames = [e for e in ev if isinstance(e, FrameReceived)]
    assert len(frames) == 1 and frames[0].data == DIS and frames[0].crc_ok
    assert drv.workarounds["stray_connect"] == 1 and drv.error is None


def test_stray_connect_whatever_the_chunking():
    want = after_double_connect("spandsp-t31")[1]
    drv = Class1Driver(dial=None, wait_ring=False, quirks="spandsp-t31")
    drv.start(0.0)
    answer_init(drv)
    drv.send_command(ReceiveHDLC(), 1.0)
    drv.outgoing()
    for i in range(len(DOUBLE_CONNECT)):
        drv.receive(DOUBLE_CONNECT[i:i + 1], 1.5)
    got = drv.events()
    assert [(type(e), getattr(e, "data", None)) for e in got] == \
        [(type(e), getattr(e, "data", None)) for e in want]


def test_without_the_flag_the_second_connect_is_frame_data():
    """What today's generic driver makes of it (and made of it before the profiles): the
    engine gets a 'frame' starting with CONNECT, marked good."""
    _, ev = after_double_connect("generic")
    frames = [e for e in ev if isinstance(e, FrameReceived)]
    assert len(frames) == 1 and frames[0].data.startswith(b"\r\nCONNECT\r\n\xff\x13\x80")


# ---- reissue_empty_ok: the command after such a frame is swallowed ---------------------

def test_swallowed_fts_is_waited_for_with_frs():
    drv, _ = after_double_connect("spandsp-t31")
    drv.send_command(Silence(75), 2.0)
    assert drv.outgoing() == b"AT+FTS=8\r"
    drv.receive(b"\r\nOK\r\n", 2.0)            # taken for an abort, not run
    assert drv.outgoing() == b"AT+FRS=8\r" and drv.events() == []
    drv.receive(b"\r\nOK\r\n", 2.1)
    assert [type(e) for e in drv.events()] == [TxComplete]
    assert drv.workarounds["reissue_empty_ok"] == 1


def test_generic_takes_that_ok_as_the_silence():
    drv, _ = after_double_connect("generic")
    drv.send_command(Silence(75), 2.0)
    drv.outgoing()
    drv.receive(b"\r\nOK\r\n", 2.0)
    assert drv.outgoing() == b"" and [type(e) for e in drv.events()] == [TxComplete]


def test_swallowed_fth_is_sent_again():
    drv, _ = after_double_connect("spandsp-t31")
    dcs = bytes.fromhex("ff13830000e278")
    drv.send_command(SendHDLC((dcs,)), 2.0)
    assert drv.outgoing() == b"AT+FTH=3\r"
    drv.receive(b"\r\nOK\r\n", 2.0)
    assert drv.outgoing() == b"AT+FTH=3\r"
    drv.receive(b"\r\nCONNECT\r\n", 2.0)
    assert drv.outgoing() == dcs + b"\x10\x03"
    drv.receive(b"\r\nOK\r\n", 3.0)
    assert [type(e) for e in drv.events()] == [TxComplete]


def test_swallowed_frm_with_dle_etx_is_sent_again_and_not_junk():
    drv, _ = after_double_connect("spandsp-t31")
    drv.send_command(ReceiveData(V17_14400), 2.0)
    assert drv.outgoing() == b"AT+FRM=145\r"
    drv.receive(b"\x10\x03\r\nOK\r\n", 2.0)    # the carrier was still on: <DLE><ETX> first
    assert drv.outgoing() == b"AT+FRM=145\r"
    assert drv.state == "frm" and drv.pending_command.junk == 0
    assert drv.workarounds["reissue_empty_ok"] == 1


def test_swallowed_ath_is_sent_again():
    drv, _ = after_double_connect("spandsp-t31")
    drv.send_command(HangUp(), 2.0)
    assert drv.outgoing() == b"ATH0\r"
    drv.receive(b"\r\nOK\r\n", 2.0)
    assert drv.outgoing() == b"ATH0\r" and not drv.hung_up  # the modem is still off hook
    drv.receive(b"\r\nOK\r\n", 2.0)
    assert drv.hung_up


def test_reissue_is_bounded():
    """A modem that answers OK to AT+FTH=3 for ever: sent MAX_REISSUE more times, then
    the call ends at the command's deadline with a clear error."""
    drv = Class1Driver(dial=None, wait_ring=False, quirks="spandsp-t31")
    drv.start(0.0)
    answer_init(drv)
    drv.send_command(SendHDLC((bytes.fromhex("ff13fb"),)), 1.0)
    sent = 0
    t = 1.0
    while drv.error is None and t < 60:
        out = drv.outgoing()
        sent += out.count(b"AT+FTH=3\r")
        if out:
            drv.receive(b"\r\nOK\r\n", t)
        t += 0.5
        drv.handle_timer(t)
    assert sent == 1 + MAX_REISSUE
    assert drv.error == "no answer from the modem to 'AT+FTH=3' within 5.0 s"


# ---- the port and the command line --------------------------------------------------------

class _OkPort:
    """A pyserial-like port whose modem says OK to everything and never connects."""

    def __init__(self) -> None:
        self.written = b""
        self._pending = b""

    def write(self, data) -> int:
        self.written += bytes(data)
        for line in bytes(data).split(b"\r")[:-1]:
            if line.startswith(b"ATD"):
                continue
            self._pending += CODES if line.endswith(b"=?") else b"\r\nOK\r\n"
        return len(data)

    def read(self, n: int) -> bytes:
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def fileno(self):
        raise OSError("no file")

    def close(self) -> None:
        pass


def test_class1serial_gives_its_profile_to_the_call():
    port = _OkPort()
    ticks = iter(np.arange(0.0, 1000.0, 1.0))
    call = Class1Call(True, dial="1", send=[np.zeros((8, 1728), np.uint8)])
    Class1Serial("fake", port=port, quirks="spandsp-t31").run(call, clock=lambda: next(ticks))
    assert call.driver.quirks.name == "spandsp-t31"
    assert b"ATI\r" not in port.written and b"ATD1\r" in port.written
    with pytest.raises(ValueError, match="unknown quirk profile"):
        Class1Serial("fake", port=_OkPort(), quirks="no-such-modem")


def test_cli_quirks_option(tmp_path, capsys):
    src = tmp_path / "page.pbm"
    bm = np.zeros((60, 1728), np.uint8)
    bm[10:40, 200:900] = 1
    src.write_bytes(pbm_bytes([bm]))
    url = "faxemu://?" + urllib.parse.urlencode({"out": str(tmp_path / "rx-%d.tif")})
    code = main(["modem", "send", "--device", url, "--no-rtscts", "--dial", "5550100",
                 "--quirks", "generic,stray_connect", str(src)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "modem quirk profile: generic+stray_connect" in out
    assert np.array_equal(read_tiff(tmp_path / "rx-1.tif")[0].bitmap, bm)
    code = main(["modem", "send", "--device", url, "--dial", "1", "--quirks", "bogus",
                 str(src)])
    assert code == 1 and "unknown quirk profile 'bogus'" in capsys.readouterr().err
