"""The engine driven by hand through its sans-IO API, the way a TSB-85 tester would:
frames written in TSB-85 spec order, time passed in, commands checked one by one."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import encode
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30.frames import from_spec_hex
from faxcore.t30.modem_if import (
    V27_4800,
    CarrierDown,
    CarrierUp,
    DataReceived,
    FrameReceived,
    HangUp,
    LineDropped,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    SendTone,
    Silence,
    TxComplete,
)


class Driver:
    def __init__(self, engine):
        self.e = engine
        self.now = 0.0

    def start(self):
        self.e.start(self.now)
        return self.e.commands()

    def ev(self, event, dt=0.1):
        self.now += dt
        self.e.handle_event(event, self.now)
        return self.e.commands()

    def sent_frames(self, dt=0.1):
        """Complete the pending silence and return the frames of the next SendHDLC."""
        cmds = self.ev(TxComplete(), dt)
        assert cmds == [SendHDLC(cmds[0].frames)], cmds
        return cmds[0].frames


def spec(text):
    return from_spec_hex(text)


def page_bitmap():
    page = np.zeros((120, 1728), np.uint8)
    page[10:60, 100:900] = 1
    page[70:110:3, 200:1700] = 1
    return page


def test_answering_receiver_against_tsb85_style_tester():
    d = Driver(T30Engine(T30Config(calling=False, ident="+0123456789")))
    assert d.start() == [SendTone("CED", 2650)]
    assert d.ev(TxComplete(), 3.0) == [Silence(75)]
    csi, dis = d.sent_frames(0.075)
    assert csi == spec("FF C0 02 9C 1C EC 6C AC 2C CC 4C 8C 0C D4 04 04 04 04 04 04 04 04 04")
    assert dis[:3] == spec("FF C8 01")
    assert d.ev(TxComplete(), 2.0) == [ReceiveHDLC()]
    # Tester: DCS V.27ter 4800, standard, MH, A4, 20 ms; then TCF of 900 zero octets.
    assert d.ev(FrameReceived(spec("FF C8 41 00 50 00")), 1.5) == [ReceiveData(V27_4800)]
    assert d.ev(CarrierUp(), 0.8) == []
    assert d.ev(DataReceived(bytes(900)), 1.5) == []
    assert d.ev(CarrierDown(), 0.0) == [Silence(75)]
    (cfr,) = d.sent_frames(0.075)
    assert cfr == spec("FF C8 21")
    assert d.ev(TxComplete(), 1.2) == [ReceiveData(V27_4800, short_train=True)]
    # The page, coded as the DCS says: MH, 20 ms at 4800 bit/s = 96 bits per row minimum.
    bitmap = page_bitmap()
    data = encode(bitmap, "mh", min_row_bits=96, lsb_first=True)  # line order
    d.ev(CarrierUp(), 0.8)
    d.ev(DataReceived(data[:1000]), 1.0)
    d.ev(DataReceived(data[1000:]), 1.0)
    assert d.ev(CarrierDown(), 0.0) == [ReceiveHDLC()]
    # PRI-EOP (procedure interrupt request): no operator here, treated as EOP.
    assert d.ev(FrameReceived(spec("FF C8 7C")), 1.5) == [Silence(75)]
    (mcf,) = d.sent_frames(0.075)
    assert mcf == spec("FF C8 31")
    assert d.ev(TxComplete(), 1.2) == [ReceiveHDLC()]
    # The tester repeats EOP (as if MCF was lost): the answer is repeated, no new page.
    assert d.ev(FrameReceived(spec("FF C8 74")), 1.5) == [Silence(75)]
    assert d.sent_frames(0.075) == (spec("FF C8 31"),)
    assert d.ev(TxComplete(), 1.2) == [ReceiveHDLC()]
    assert d.ev(FrameReceived(spec("FF C8 5F")), 1.5) == [HangUp()]
    e = d.e
    assert e.done and e.result.status == T30Status.OK
    assert e.result.remote_ident == "" and e.result.modulation == "V27ter/4800"
    assert len(e.received_pages) == 1
    assert np.array_equal(e.received_pages[0].bitmap, bitmap)
    assert [t.name for t in e.result.trace] == [
        "CSI", "DIS", "DCS", "CFR", "PRI-EOP", "MCF", "EOP", "MCF", "DCN"]


def test_bad_tcf_gets_ftt():
    d = Driver(T30Engine(T30Config(calling=False)))
    d.start()
    d.ev(TxComplete(), 3.0)
    d.sent_frames(0.075)
    d.ev(TxComplete(), 2.0)
    assert d.ev(FrameReceived(spec("FF C8 41 00 50 00")), 1.5) == [ReceiveData(V27_4800)]
    d.ev(CarrierUp(), 0.8)
    d.ev(DataReceived(b"\x55" * 900), 1.5)          # TSB-85 "bad TCF": 1010...
    assert d.ev(CarrierDown(), 0.0) == [Silence(75)]
    assert d.sent_frames(0.075) == (spec("FF C8 22"),)   # FTT


def test_transmitter_times_and_retries_follow_t4():
    """A calling transmitter whose DCS is never answered: three DCS + TCF, T4 apart,
    then DCN and TX_PHBDEAD; the TCF is 1.5 s of zeros at the DCS rate, long training."""
    pages = [TxPage(page_bitmap(), "standard")]
    d = Driver(T30Engine(T30Config(calling=True, pages=pages, ecm=False)))
    assert d.start() == [ReceiveHDLC(cng=True)]
    # Called station offers V.27ter only (DIS "FF C8 01 00 50 00").
    assert d.ev(FrameReceived(spec("FF C8 01 00 50 00")), 4.0) == [Silence(75)]
    dcs_times = []
    for _ in range(3):
        frames = d.sent_frames(0.075)
        dcs_times.append(d.now)
        assert frames[-1] == spec("FF C8 C1 00 50 00")   # DCS with X = 1: V.27ter 4800
        assert d.ev(TxComplete(), 1.0) == [Silence(75)]
        (tcf,) = d.ev(TxComplete(), 0.075)
        assert isinstance(tcf, SendData) and tcf.long_training and tcf.modulation == V27_4800
        assert tcf.data == bytes(900)
        assert d.ev(TxComplete(), 2.2) == [ReceiveHDLC()]
        d.now += 3.45
        d.e.handle_timer(d.now)
        cmds = d.e.commands()
        assert cmds == [Silence(75)]
    (dcn,) = d.sent_frames(0.075)
    assert dcn == spec("FF C8 DF")
    assert d.ev(TxComplete(), 1.0) == [HangUp()]
    assert d.e.result.status == T30Status.TX_PHBDEAD
    assert all(b - a >= 3.45 for a, b in zip(dcs_times, dcs_times[1:], strict=False))


def test_line_dropped_ends_call_without_dcn():
    d = Driver(T30Engine(T30Config(calling=False)))
    d.start()
    d.ev(TxComplete(), 3.0)
    d.sent_frames(0.075)
    assert d.ev(LineDropped(), 0.5) == [HangUp()]
    assert d.e.result.status == T30Status.CALLDROPPED and d.e.done
    # Events after the end are ignored.
    assert d.ev(TxComplete()) == []


def test_engine_api_misuse():
    with pytest.raises(ValueError):
        T30Config(calling=True)             # nothing to send, no poll
    with pytest.raises(ValueError):
        TxPage(np.zeros((10, 1000), np.uint8))
    with pytest.raises(ValueError):
        T30Config(calling=False, modems=("v34",))
    e = T30Engine(T30Config(calling=False))
    e.start(0.0)
    with pytest.raises(RuntimeError):
        e.start(0.0)
