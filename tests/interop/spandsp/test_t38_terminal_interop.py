"""faxcore's T.38 terminal (faxcore.t38.T38Terminal, its IFP coded by faxcore.t38.ifp)
against spandsp 0.0.6's T.38 terminal (faxcore.testing.spandsp.t38), over the reference
UDPTL of faxcore.testing.udptl_ref (written independently of faxcore.t38.udptl) with
redundancy 3: faxcore sending and receiving, ECM on and off, V.17/V.29/V.27ter, 0/2/10 %
random loss and reordering with duplicates. Both sides must end OK and the pages arrive
pixel-identical (spandsp's received TIFF read back, or faxcore's received bitmaps).

The sweep (48 calls) costs about a second of CPU: spandsp's terminal and ours carry no
audio, so it runs with the default suite."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs.tiff import Page, read_tiff, write_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.t38 import ifp
from faxcore.t38.terminal import T38Terminal
from faxcore.testing.pages import small_page
from faxcore.testing.spandsp import SpandspFax
from faxcore.testing.spandsp.t38 import (
    SpandspT38Gateway,
    SpandspT38Terminal,
    UdptlLink,
    run_gateway_call,
    run_t38_call,
)

RATE = {"v17": 14400, "v29": 9600, "v27ter": 4800}
SAMPLE_RATE = 8000


class FaxcoreT38:
    """faxcore's T38Terminal with the surface run_t38_call drives (T38Endpoint): time in
    8 kHz samples, IFP octets out (each copy its own packet: the terminal already repeats
    indicators and signal ends) and in with their UDPTL sequence numbers; a gap in the
    numbers is reported to the terminal as lost packets."""

    def __init__(self, terminal: T38Terminal, version: int):
        self.t = terminal
        self.version = version
        self.now = 0.0
        self._out: list[tuple[bytes, int]] = []
        self._next_seq: int | None = None
        terminal.start(0.0)

    def advance(self, samples: int) -> bool:
        self.now += samples / SAMPLE_RATE
        self._out += [(ifp.encode(p, self.version), 1) for p in self.t.packets(self.now)]
        return self.t.done

    def take(self) -> list[tuple[bytes, int]]:
        out, self._out = self._out, []
        return out

    def rx_ifp(self, data: bytes, seq: int) -> None:
        if self._next_seq is not None and seq != self._next_seq:
            gap = (seq - self._next_seq) & 0xFFFF
            if gap >= 0x8000:
                return  # late: already given up on
            self.t.packet_lost(self.now, gap)
        self._next_seq = (seq + 1) & 0xFFFF
        self.t.receive_packet(ifp.decode(data, self.version), self.now)

    @property
    def done(self) -> bool:
        return self.t.done


@pytest.fixture(scope="module")
def pages():
    return [small_page(31), small_page(32, rows=220), small_page(33)]


def t38_call(tmp_path, pages, *, faxcore_sends: bool, ecm: bool, modem: str = "v17",
             loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
             version: int = 0, seed: int = 1):
    """One call; returns (faxcore terminal, spandsp terminal, spandsp's TIFF, links)."""
    out = tmp_path / "out.tif"
    modems = (modem,)
    if faxcore_sends:
        ours = T38Terminal(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                           modems=modems, version=version, ident="+1 555 0100")
        theirs = SpandspT38Terminal(False, receive_tiff=str(out), ecm=ecm, modems=modems,
                                    version=version, ident="+222")
    else:
        src = tmp_path / "src.tif"
        write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
        ours = T38Terminal(False, ecm=ecm, modems=modems, version=version,
                           ident="+1 555 0100")
        theirs = SpandspT38Terminal(True, send_tiff=str(src), ecm=ecm, modems=modems,
                                    version=version, ident="+222")
    links = [UdptlLink(redundancy=3, loss=loss, duplicate=duplicate, reorder=reorder,
                       seed=seed + k) for k in (0, 1)]
    fc = FaxcoreT38(ours, version)
    a, b = (fc, theirs) if faxcore_sends else (theirs, fc)
    run_t38_call(a, b, ab=links[0], ba=links[1], max_seconds=400)
    return ours, theirs, out, links


def check(ours, theirs, out, pages, *, faxcore_sends, ecm, modem):
    assert ours.result.status == T30Status.OK, ours.result.summary()
    assert theirs.status_name == "OK", (theirs.status_name, ours.result.summary())
    assert ours.result.ecm is ecm and theirs.stats.error_correcting_mode == int(ecm)
    assert ours.result.bit_rate == RATE[modem] == theirs.stats.bit_rate
    assert theirs.remote_ident == "+1 555 0100" and ours.result.remote_ident == "+222"
    got = [g.bitmap for g in read_tiff(out)] if faxcore_sends else ours.pages
    assert len(got) == len(pages)
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g, p)
    if faxcore_sends:
        assert ours.result.pages_sent == 3 and theirs.stats.pages_rx == 3
    else:
        assert theirs.stats.pages_tx == 3


@pytest.mark.parametrize("loss", [0.0, 0.10])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("faxcore_sends", [True, False], ids=["faxcore-sends", "spandsp-sends"])
def test_faxcore_t38_terminal_with_spandsp(faxcore_sends, ecm, loss, pages, tmp_path):
    """V.17, both directions, ECM on and off, no loss and 10 % loss at redundancy 3."""
    r = t38_call(tmp_path, pages, faxcore_sends=faxcore_sends, ecm=ecm, loss=loss, seed=3)
    check(*r[:3], pages, faxcore_sends=faxcore_sends, ecm=ecm, modem="v17")
    if loss:
        assert sum(link.channel.dropped for link in r[3]) > 0


@pytest.mark.parametrize("faxcore_sends", [True, False], ids=["faxcore-sends", "spandsp-sends"])
def test_reordered_and_duplicated_datagrams_version_3(faxcore_sends, pages, tmp_path):
    """T.38 version 3 coding, datagrams reordered and duplicated with 2 % loss."""
    r = t38_call(tmp_path, pages, faxcore_sends=faxcore_sends, ecm=True, version=3,
                 loss=0.02, duplicate=0.1, reorder=0.1, seed=5)
    check(*r[:3], pages, faxcore_sends=faxcore_sends, ecm=True, modem="v17")
    assert sum(link.channel.duplicated for link in r[3]) > 0


@pytest.mark.parametrize("net", ["clean", "loss2", "loss10", "reorder-dup"])
@pytest.mark.parametrize("modem", ["v17", "v29", "v27ter"])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("faxcore_sends", [True, False], ids=["faxcore-sends", "spandsp-sends"])
def test_sweep(faxcore_sends, ecm, modem, net, pages, tmp_path):
    """Every modem, ECM on and off, both directions, on a clean network, 2 % and 10 %
    loss, and reordering with duplicates (2 % loss), redundancy 3."""
    opts = {"clean": {}, "loss2": {"loss": 0.02}, "loss10": {"loss": 0.10},
            "reorder-dup": {"loss": 0.02, "duplicate": 0.1, "reorder": 0.1}}[net]
    r = t38_call(tmp_path, pages, faxcore_sends=faxcore_sends, ecm=ecm, modem=modem,
                 seed=11, **opts)
    check(*r[:3], pages, faxcore_sends=faxcore_sends, ecm=ecm, modem=modem)


@pytest.mark.parametrize("modem", ["v17", "v29", "v27ter"])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("faxcore_sends", [True, False], ids=["faxcore-sends", "spandsp-sends"])
def test_through_spandsp_gateway_to_spandsp_audio(faxcore_sends, ecm, modem, pages, tmp_path):
    """spandsp's audio fax terminal <-> spandsp's T.38 gateway <-> faxcore's T.38
    terminal (2 % loss, redundancy 3, on the packet side): the gateway turns our IFP
    packets into modem audio in real time, so our pacing and timings must suit a real
    modem (no underrun inside a frame or a page, the training times)."""
    out = tmp_path / "out.tif"
    gw = SpandspT38Gateway(ecm=ecm)
    modems = (modem,)
    if faxcore_sends:
        ours = T38Terminal(True, send=[TxPage(p, "fine") for p in pages], ecm=ecm,
                           modems=modems, ident="+1 555 0100")
        audio = SpandspFax(False, receive_tiff=str(out), ecm=ecm, modems=modems, ident="+222")
    else:
        src = tmp_path / "src.tif"
        write_tiff(src, [Page(p, 204, 196) for p in pages], "mh")
        ours = T38Terminal(False, ecm=ecm, modems=modems, ident="+1 555 0100")
        audio = SpandspFax(True, send_tiff=str(src), ecm=ecm, modems=modems, ident="+222")
    links = {"link_to_t38": UdptlLink(redundancy=3, loss=0.02, seed=21),
             "link_to_gateway": UdptlLink(redundancy=3, loss=0.02, seed=22)}
    run_gateway_call(audio, gw, FaxcoreT38(ours, 0), max_seconds=400, **links)
    assert ours.result.status == T30Status.OK, ours.result.summary()
    assert audio.status_name == "OK", (audio.status_name, ours.result.summary())
    assert ours.result.bit_rate == RATE[modem] and ours.result.ecm is ecm
    assert audio.remote_ident == "+1 555 0100" and ours.result.remote_ident == "+222"
    got = [g.bitmap for g in read_tiff(out)] if faxcore_sends else ours.pages
    assert len(got) == len(pages)
    for g, p in zip(got, pages, strict=True):
        assert np.array_equal(g, p)
