"""The Class 1 channel (``kind = "class1"``) against faxcore's Class 1 emulator
(``faxemu://`` URLs: an emulated modem whose line side is a faxcore station, over
simulated audio): a job sent through the HTTP API is dialled on the modem and delivered
end to end, pages identical below the stamped header; a call that rings on a modem line
is answered, received and routed to the account owning the line's number; a terminated
account's line is not answered. Pages are compared pixel for pixel."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from faxcore.class1 import Class1Serial
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.server.class1_channel import Class1Channel, ModemLine
from faxcore.server.config import ChannelConfig, ConfigError, ServerConfig, apply_toml, check
from faxcore.server.documents import HEADER_ROWS
from faxcore.testing.pages import letter_page


def modems(*devices, **kw) -> list[ChannelConfig]:
    return [ChannelConfig(type="class1", name="modems", devices=list(devices), **kw)]


def wait_for(cond, seconds: float = 120.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_job_over_a_class1_modem_is_delivered_end_to_end(harness_with, tmp_path: Path):
    out = tmp_path / "far-end.tif"
    h = harness_with(channels=modems(f"faxemu://?out={out}"))
    a = h.account(["+15550100"])
    r = h.submit(a, "+1 555 0300", 2, header="ACME")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["channel"] == "modems"
    assert h.run() == 1
    got = h.fax(a, job["id"])
    assert got["state"] == "delivered", got
    assert got["pages_confirmed"] == [1, 2]
    (att,) = got["attempts"]
    assert att["transport"] == "modem" and att["result"] == "delivered"
    assert att["t30_status"] == "OK" and att["pages_confirmed"] == 2
    # the far end (the emulator's faxcore station) has the pages, identical below the
    # header band, which holds the header line
    pages = read_tiff(out)
    sent = h.pages[job["id"]]
    assert len(pages) == 2
    rows = HEADER_ROWS["fine"]
    for p, s in zip(pages, sent, strict=True):
        assert p.bitmap.shape == s.bitmap.shape
        assert np.array_equal(p.bitmap[rows:], s.bitmap[rows:])
        assert p.bitmap[:rows].any()
    # the modem dialled the number without its +
    modem = h.service.channels["modems"].lines[0].port.port.modem
    assert modem.dce.dialled


def test_a_call_ringing_on_a_modem_line_is_answered_and_routed_by_its_number(
        harness_with, tmp_path: Path):
    page = Page(letter_page(300, 7))
    src = tmp_path / "incoming.tif"
    src.write_bytes(tiff_bytes([page]))
    h = harness_with(channels=modems({"url": f"faxemu://?send={src}", "number": "+15550400"},
                                     capacity=1))
    h.account(["+15550100"])
    b = h.account(["+15550400"])
    h.service.start_channels()
    try:
        faxes = wait_for(lambda: h.client.get("/v1/inbox", headers=b.auth).json()["faxes"])
    finally:
        h.service.stop_channels()
    f = faxes[-1]
    assert f["to"] == "+15550400" and f["pages"] == 1 and not f["partial"]
    tif = h.client.get(f"/v1/received/{f['id']}.tif", headers=b.auth)
    (got,) = read_tiff(tif.content)
    assert np.array_equal(got.bitmap, page.bitmap)
    # metered free for the receiver
    assert ("inbound", 0, 1) in h.rows("SELECT kind, amount_cents, pages FROM ledger "
                                       "WHERE account_id = ?", (b.id,))


def test_a_terminated_accounts_modem_line_is_not_answered(harness_with, tmp_path: Path):
    src = tmp_path / "incoming.tif"
    src.write_bytes(tiff_bytes([Page(letter_page(300, 1))]))
    h = harness_with(channels=modems({"url": f"faxemu://?send={src}", "number": "+15550500"}))
    b = h.account(["+15550500"])
    # bill the account and let the invoice go unpaid 14 days: terminated
    h.clock.now = h.store.account(b.id)["next_billing_at"] + timedelta(days=14, seconds=1)
    h.store.run_billing(h.clock())
    assert h.store.status(b.id, h.clock()).name == "terminated"
    h.service.start_channels()
    try:
        # the emulator rings every 2 s; the refusal is recorded once per call
        wait_for(lambda: h.rows("SELECT state FROM jobs WHERE account_id = ? AND "
                                "direction = 'receive'", (b.id,)), 30)
        time.sleep(5)
        modem = h.service.channels["modems"].lines[0].port.port.modem
        assert not modem.far_ends  # never off hook: the call was not answered
    finally:
        h.service.stop_channels()
    assert h.rows("SELECT direction, state, pages FROM jobs WHERE account_id = ?",
                  (b.id,)) == [("receive", "refused", 0)]
    assert h.rows("SELECT count(*) FROM inbound_faxes") == [(0,)]


def test_class1_channel_config_from_toml():
    cfg = ServerConfig()
    apply_toml(cfg, {"channel": [{"kind": "class1", "name": "modems", "number": "+15550001",
                                  "devices": ["/dev/ttyUSB0",
                                              {"url": "socket://10.0.0.5:4001",
                                               "number": "+15550002"}]}]})
    check(cfg)
    (c,) = cfg.channels
    assert c.type == "class1"
    assert c.modem_lines() == [("/dev/ttyUSB0", "+15550001"),
                               ("socket://10.0.0.5:4001", "+15550002")]
    bad = ServerConfig()
    apply_toml(bad, {"channel": [{"kind": "class1", "name": "m"}]})
    with pytest.raises(ConfigError, match="needs devices"):
        check(bad)


CODES = b"\r\n24,48,72,73,74,96,97,98,121,122,145,146\r\n\r\nOK\r\n"


class ScriptedModem:
    """A pyserial-like port: a modem that says OK to every command and ``answer`` to ATD."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.written = b""
        self._pending = b""

    def write(self, data) -> int:
        self.written += bytes(data)
        for line in bytes(data).split(b"\r")[:-1]:
            if line.startswith(b"ATD"):
                self._pending += b"\r\n" + self.answer + b"\r\n"
            else:
                self._pending += CODES if line.endswith(b"=?") else b"\r\nOK\r\n"
        return len(data)

    def read(self, n: int) -> bytes:
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def fileno(self):
        raise OSError("no file")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("answer,result,delay", [(b"BUSY", "busy", 180),
                                                 (b"NO CARRIER", "no_answer", 300),
                                                 (b"NO DIALTONE", "channel_error", 30)])
def test_the_modems_dial_results_drive_the_retry_policy(harness, answer, result, delay):
    modem = ScriptedModem(answer)
    ch = Class1Channel("modems", [ModemLine("scripted")], dial_prefix="9",
                       open_port=lambda url: Class1Serial(url, port=modem, quirks="generic"))
    harness.service.channels["modems"] = ch
    harness.service.scheduler.channels["modems"] = ch
    harness.service.config.routes.append(("+1", "modems"))
    a = harness.account(["+15550100"])
    job = harness.submit(a, "+1 555 0300", 1).json()
    assert job["channel"] == "modems"
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "retry_wait" and got["attempts"][0]["result"] == result, got
    assert got["attempts"][0]["transport"] == "modem"
    assert b"ATD915550300\r" in modem.written and b"ATH0\r" in modem.written
    assert harness.run(delay - 1) == 0


def test_an_outbound_call_takes_the_line_from_its_listener(harness_with, tmp_path: Path):
    out = tmp_path / "far-end.tif"
    h = harness_with(channels=modems({"url": f"faxemu://?out={out}", "number": "+15550100"}))
    a = h.account(["+15550100"])
    ch = h.service.channels["modems"]
    h.service.start_channels()
    try:
        wait_for(lambda: ch.lines[0].listening, 10)  # the listener holds the modem
        job = h.submit(a, "+15550300", 1).json()
        assert h.run() == 1
        got = h.fax(a, job["id"])
        assert got["state"] == "delivered", got["attempts"]
        # and the listener has the line again afterwards
        wait_for(lambda: ch.lines[0].listening, 10)
    finally:
        h.service.stop_channels()
    (page,) = read_tiff(out)
    rows = HEADER_ROWS["fine"]
    assert np.array_equal(page.bitmap[rows:], h.pages[job["id"]][0].bitmap[rows:])
    assert ch.lines[0].calls == 1


def test_a_call_goes_to_a_free_modem_of_the_group(harness_with, tmp_path: Path):
    outs = [tmp_path / "far-1.tif", tmp_path / "far-2.tif"]
    h = harness_with(channels=modems(*(f"faxemu://?out={o}" for o in outs)))
    a = h.account(["+15550100"])
    ch = h.service.channels["modems"]
    assert ch.capacity == 2
    with ch.lines[0].lock:                      # modem 1 is in a call
        job = h.submit(a, "+15550301", 1).json()
        assert h.run() == 1
        assert h.fax(a, job["id"])["state"] == "delivered"
        assert [line.calls for line in ch.lines] == [0, 1]
        assert not outs[0].exists()
        (page,) = read_tiff(outs[1])
        rows = HEADER_ROWS["fine"]
        assert np.array_equal(page.bitmap[rows:], h.pages[job["id"]][0].bitmap[rows:])
        with ch.lines[1].lock:                  # and now modem 2 too
            job2 = h.submit(a, "+15550302", 1).json()
            assert h.run() == 1
    got = h.fax(a, job2["id"])
    assert got["state"] == "retry_wait"
    assert got["attempts"][0]["result"] == "channel_error"
    assert got["attempts"][0]["hangup_cause"] == "every modem of the channel is busy"
    assert h.run(30) == 1                       # the retry, on a free modem
    assert h.fax(a, job2["id"])["state"] == "delivered"
