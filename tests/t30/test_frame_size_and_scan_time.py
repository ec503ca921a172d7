"""ECM frame size and minimum scan line time, on the virtual-time loopback (faxcore <->
faxcore): the ECM frames on the line are the size DCS says (64 or 256 octets), and the
transmitter honours the receiver's minimum scan line time."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.t30 import T30Config, T30Engine, TxPage
from faxcore.t30.dis import DCSParams
from faxcore.t30.frames import Frame
from faxcore.t30.loopback import Loopback
from faxcore.t30.modem_if import SendData
from faxcore.testing.engines import assert_pages_equal
from faxcore.testing.pages import text_page


def run_capture(pages, caller=None, answerer=None):
    """A loopback call; returns the engines and every SendData the caller issued."""
    a = T30Engine(T30Config(calling=True, pages=pages, **(caller or {})))
    b = T30Engine(T30Config(calling=False, **(answerer or {})))
    sent: list[SendData] = []
    orig = a.commands

    def commands():
        cmds = orig()
        sent.extend(c for c in cmds if isinstance(c, SendData))
        return cmds

    a.commands = commands
    Loopback(a, b).run()
    assert a.done and b.done
    return a, b, sent


@pytest.mark.parametrize("size", [64, 256])
def test_ecm_frame_size_is_what_dcs_says(size):
    page = text_page(400, 31)
    a, b, sent = run_capture([TxPage(page, "fine")], caller=dict(ecm_frame_size=size))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    dcs = [DCSParams.from_fif(Frame.parse(bytes.fromhex(e.hex)).fif)
           for e in a.result.trace if e.name == "DCS"]
    assert dcs and all(d.ecm_frame_size == size for d in dcs)
    fcd = [f for c in sent if c.hdlc for f in c.frames if len(f) > 3 and f[2] == 0x06]
    assert len(fcd) >= 2
    # FCD: FF 03 06 <frame number> <data>: every frame but the block's last is full.
    lengths = [len(f) - 4 for f in fcd]
    assert all(n == size for n in lengths[:-1]) and 0 < lengths[-1] <= size
    # PPS counts the frames of the block.
    pps = [Frame.parse(bytes.fromhex(e.hex)) for e in a.result.trace if e.name.startswith("PPS")]
    assert sum(p.fif[3] + 1 for p in pps) == len(fcd)
    assert_pages_equal([TxPage(page, "fine")], b)


def eol_row_bits(data: bytes) -> list[int]:
    """Bits from one EOL's end to the next (a total coded scan line: code, fill, EOL),
    for MH data sent LSB first. In MH only EOL holds 11 zeros in a row."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    ends, zeros = [], 0
    for i, bit in enumerate(bits):
        if bit:
            if zeros >= 11:
                ends.append(i)
            zeros = 0
        else:
            zeros += 1
    return list(np.diff(ends))


@pytest.mark.parametrize("scan_ms,res,expect_ms", [(20, "standard", 20), (40, "standard", 40),
                                                  (10, "fine", 10)])
def test_minimum_scan_line_time_honoured(scan_ms, res, expect_ms):
    """The receiver asks for a minimum scan line time in its DIS; at V.27ter 4800 every
    coded row the transmitter sends must then last at least that long (20 ms = 96
    bits), with white rows (shortest codes) among them."""
    page = text_page(120, 32)
    page[40:60] = 0  # white rows: 1 short code word each without fill
    a, b, sent = run_capture([TxPage(page, res)],
                             caller=dict(ecm=False, modems=("v27ter",), schemes=("mh",)),
                             answerer=dict(ecm=False, modems=("v27ter",), min_scan_ms=scan_ms))
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    dcs = DCSParams.from_fif(Frame.parse(bytes.fromhex(
        [e for e in a.result.trace if e.name == "DCS"][0].hex)).fif)
    assert dcs.min_scan_ms == expect_ms
    pages = [c for c in sent if not c.long_training and not c.hdlc]
    assert len(pages) == 1
    rows = eol_row_bits(pages[0].data)
    assert len(rows) >= 120
    need = 4800 * expect_ms // 1000
    assert min(rows[:120]) >= need, (min(rows[:120]), need)
    assert_pages_equal([TxPage(page, res)], b)


def test_no_minimum_scan_line_time_sends_short_rows():
    """Control for the test above: with 0 ms the white rows are sent short (so the
    measure really measures)."""
    page = text_page(120, 32)
    page[40:60] = 0
    _, _, sent = run_capture([TxPage(page, "standard")],
                             caller=dict(ecm=False, modems=("v27ter",), schemes=("mh",)),
                             answerer=dict(ecm=False, modems=("v27ter",), min_scan_ms=0))
    rows = eol_row_bits([c for c in sent if not c.long_training][0].data)
    assert min(rows[:120]) < 96
