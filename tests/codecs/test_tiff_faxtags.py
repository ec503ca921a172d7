"""Received pages carry their call's metadata in HylaFAX's tags (faxcore.codecs.faxinfo,
written by faxcore.pagestore as each page arrives): the bit layouts of FaxRecvParams and
FaxDcs, the tags' round trip through the TIFF writer and reader, libtiff's tiffinfo
naming them, and a page far longer than its DCS declared being flagged.

Pages come from a real T30Engine driven by a scripted far end (faxcore.testing.engines)
and stored by a real TiffPageWriter; the HylaFAX ``faxinfo`` checks on a file received by
a whole FaxSession call are in tests/interop/hylafax/test_faxinfo_received_tags.py."""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import pytest

from faxcore.codecs import encode
from faxcore.codecs.faxinfo import (
    FaxInfo,
    RecvParams,
    clean_ascii,
    dcs_from_hex,
    dcs_hex,
)
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.pagestore import TiffPageWriter
from faxcore.session import write_received_tiff
from faxcore.t30 import T30Config, T30Engine, T30Status
from faxcore.t30.dis import DCSParams
from faxcore.t30.frames import Frame
from faxcore.t30.idents import encode_ident
from faxcore.t30.modem_if import V17_14400, V27_4800
from faxcore.testing.engines import frame, play
from faxcore.testing.paths import CORPUS
from faxcore.testing.peers import require_tool

GOOD_TCF = bytes(1000)   # 1.7 s of zeros at 4800 bit/s: a good TCF
SENDER = "+1 555 0100"


# ---- the bit layouts -------------------------------------------------------------------

def test_recv_params_layout_is_hylafax_class2params_encode():
    """Fine (VR 1), 14400 (BR 5), 1728 (WD 0), unlimited (LN 2), MMR (DF 3), ECM, 0 ms
    (ST 0), with the version bit 21: bits 0-2, 3-6, 9-11, 12-13, 14-15, 16, 18-20."""
    p = RecvParams("fine", 14400, 1728, "unlimited", "mmr", True, 0)
    assert p.encode() == 1 | 5 << 3 | 0 << 9 | 2 << 12 | 3 << 14 | 1 << 16 | 1 << 21
    assert RecvParams.decode(p.encode()) == p
    q = RecvParams("superfine", 4800, 2432, "b4", "mh", False, 20)
    assert q.encode() == 2 | 1 << 3 | 2 << 9 | 1 << 12 | 0 << 14 | 5 << 18 | 1 << 21
    assert RecvParams.decode(q.encode()) == q
    # HylaFAX's original layout (no version bit): VR bit 0, BR 1-3, WD 4-6, LN 7-8,
    # DF 9-10, EC 11, BF 12, ST 13-15
    old = 1 | 3 << 1 | 1 << 4 | 0 << 7 | 1 << 9 | 1 << 11 | 3 << 13
    assert RecvParams.decode(old) == RecvParams("fine", 9600, 2048, "a4", "mr", True, 10)
    with pytest.raises(ValueError, match="bit/s"):
        RecvParams("fine", 0, 1728, "a4", "mh", False).encode()


def test_dcs_hex_is_table2_bit_1_first_as_hylafax_writes_it():
    """FaxDcs: bit 1 of T.30 Table 2 is the most significant bit of the first octet
    (octets on the line go LSB first); octets follow while the extend bit says so."""
    dcs = DCSParams(modulation=V17_14400, resolution="fine", scheme="mmr", ecm=True,
                    length="unlimited", sub=True)
    fif = dcs.to_fif()
    # bits 10 (receive), 14 (V.17 14400), 15 (fine) | 20 (unlimited), 21-23 (0 ms),
    # 24 (extend) | 27 (ECM), 31 (MMR), 32 | 40 | 48 | 49 (SUB)
    assert dcs_hex(fif) == "00 46 1F 23 01 01 80"
    assert dcs_from_hex(dcs_hex(fif)) == fif
    # an octet after one without its extend bit is not part of the DCS
    short = DCSParams(modulation=V27_4800, resolution="standard").to_fif()
    assert len(short) == 3 and dcs_hex(short + b"\xff\xff") == dcs_hex(short)


# ---- through the TIFF writer and reader -------------------------------------------------

@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_fax_info_round_trip(byteorder):
    info = FaxInfo(sender=SENDER, received="2025:01:31 14:25:02", recv_time=17,
                   recv_params=RecvParams("fine", 9600, 1728, "a4", "mr", False).encode(),
                   sub_address="42", dcs="00 63 1F 01 01 01 80",
                   notes=("page 1 is 900 mm long", "second note"))
    bm = np.zeros((40, 1728), np.uint8)
    bm[5:9, 100:300] = 1
    data = tiff_bytes([Page(bm, fax_info=info), Page(bm)], "mh", byteorder=byteorder)
    first, second = read_tiff(data)
    assert first.fax_info == info and second.fax_info is None
    assert np.array_equal(first.bitmap, bm)
    assert first.fax_info.params.bit_rate == 9600
    assert dict(first.fax_info.describe())["TimeToRecv"] == "0:00:17"


def test_hostile_ident_text_is_written_as_printable_ascii():
    """An ident from the line may hold any octet: the ASCII tags get '?' for what is not
    printable ASCII (a NUL would cut the value, a newline make a CallID line)."""
    info = FaxInfo(sender="a\0b\nc\xe9", sub_address="\x7f1")
    back = read_tiff(tiff_bytes([Page(np.zeros((4, 1728), np.uint8), fax_info=info)]))
    assert back[0].fax_info.sender == "a?b?c?" == clean_ascii(info.sender)
    assert back[0].fax_info.sub_address == "?1"
    with pytest.raises(ValueError, match="DateTime"):
        FaxInfo(received="31.01.2025 14:25")


def test_fax_tags_of_the_wrong_type_are_ignored():
    """tests/corpus/tiff/hostile-faxtags.bin (written by Pillow): FaxRecvParams as
    ASCII, FaxRecvTime as two SHORTs, FaxDcs as BYTEs with a NUL, FaxcoreNotes as LONGs,
    a DateTime that is no date, an ImageDescription with a CallID line. The page reads;
    only the sender (the first line) is taken."""
    (p,) = read_tiff(CORPUS / "tiff" / "hostile-faxtags.bin")
    assert p.fax_info == FaxInfo(sender="sender")
    assert p.bitmap[4:8, 100:300].all() and p.bitmap.sum() == 4 * 200


# ---- pages received by a real engine, stored by the real writer ---------------------------

def page_rows(rows: int) -> np.ndarray:
    bm = np.zeros((rows, 1728), np.uint8)
    bm[10:30, 200:900] = 1
    bm[rows - 30:rows - 10, 300:700] = 1      # something at the very end of the page
    return bm


def receive(tmp_path, pages: list[np.ndarray], *, length: str = "a4",
            resolution: str = "standard", sub: str = "", between=None):
    """A real answering engine receives ``pages`` (MH, V.27ter, no ECM) from a scripted
    sender whose DCS declares ``length``; its TiffPageWriter (attached as FaxSession
    attaches it) stores them. ``between(writer)`` runs after the first page is stored,
    before the second is sent. Returns (engine, writer)."""
    writer = TiffPageWriter(tmp_path / "rx.tif")
    eng = T30Engine(T30Config(calling=False, modems=("v27ter",), page_store=writer))
    eng.start(0.0)
    writer.attach(eng)
    dcs = DCSParams(modulation=V27_4800, scheme="mh", resolution=resolution, length=length,
                    min_scan_ms=20, sub=bool(sub))
    phase_b = [Frame.build("TSI", encode_ident(SENDER), x=True, final=False).to_bytes()]
    if sub:
        phase_b.append(Frame.build("SUB", encode_ident(sub), x=True, final=False).to_bytes())
    phase_b.append(frame("DCS", dcs.to_fif(), x=True))
    # V.21 frames as tuples: the far end's carrier drops after them
    scripts = [[tuple(phase_b), GOOD_TCF]]
    for i, bm in enumerate(pages, 1):
        scripts[-1] += [bytes(encode(bm, "mh", lsb_first=True)),
                        (frame("EOP" if i == len(pages) else "MPS", x=True),)]
        scripts.append([])
    scripts[-1].append((frame("DCN", x=True),))
    got = play(eng, scripts[0])
    if between is not None:
        between(writer)
    for script in scripts[1:-1]:
        got = play(eng, script, waiting=got.waiting)
    play(eng, scripts[-1], to_end=True, waiting=got.waiting)
    writer.close()
    assert eng.result.status == T30Status.OK, eng.result.summary()
    return eng, writer


def test_each_page_written_with_its_metadata_as_it_arrives(tmp_path):
    """The first page's tags are on disk before the second page arrives (durable as
    the page is), and every page has the sender, subaddress, time, parameters and DCS."""
    seen = []

    def after_first(writer):
        seen.extend(read_tiff(writer.path))

    pages = [page_rows(200), page_rows(120)]
    eng, writer = receive(tmp_path, pages, sub="42", between=after_first)
    assert len(seen) == 1 and seen[0].fax_info.sender == SENDER
    back = read_tiff(tmp_path / "rx.tif")
    assert [np.array_equal(p.bitmap, bm) for p, bm in zip(back, pages, strict=True)] \
        == [True, True]
    dcs = next(t for t in eng.result.trace if t.name == "DCS")
    for p in back:
        info = p.fax_info
        assert info.sender == SENDER and info.sub_address == "42"
        assert info.params == RecvParams("standard", 4800, 1728, "a4", "mh", False, 20)
        assert dcs_from_hex(info.dcs) == bytes.fromhex(dcs.hex)[3:]
        assert len(info.received) == 19 and info.notes == ()
    # receive times: page 1 from the call's start to its MPS, page 2 from there to EOP
    t = {e.name: e.time for e in eng.result.trace if e.direction == "rx"}
    want = [t["MPS"], t["EOP"] - t["MPS"]]     # FaxRecvTime holds them rounded
    assert all(abs(p.fax_info.recv_time - w) <= 0.501 for p, w in zip(back, want, strict=True))
    assert writer.notes == []


def test_page_far_longer_than_declared_is_flagged(tmp_path, caplog):
    """A 33-inch page (3227 rows at 3.85 l/mm) under a DCS that declared A4 (1143
    rows): kept (it is a good page), but logged and noted in its FaxcoreNotes tag; a
    page 1.4 times A4 is not flagged."""
    long_page, fair = page_rows(int(33 * 25.4 * 3.85)), page_rows(int(1.4 * 1143))
    with caplog.at_level(logging.WARNING, logger="faxcore.pagestore"):
        eng, writer = receive(tmp_path, [fair, long_page])
    back = read_tiff(tmp_path / "rx.tif")
    assert np.array_equal(back[1].bitmap, long_page)
    assert back[0].fax_info.notes == ()
    note = "page 2 is 838 mm long (3227 rows), 2.8 times the A4 length its DCS declared"
    assert back[1].fax_info.notes == (note,) and writer.notes == [note]
    assert note in caplog.text
    assert ("Note", note) in back[1].fax_info.describe()
    # libtiff shows the tag as it shows any tag it does not know
    tiffinfo = subprocess.run([require_tool("tiffinfo"), str(tmp_path / "rx.tif")],
                              capture_output=True, text=True, check=True).stdout
    assert note in tiffinfo


@pytest.mark.parametrize("length,flagged", [("b4", False), ("unlimited", False), ("a4", True)])
def test_long_page_limit_follows_the_declared_length(tmp_path, length, flagged):
    """1.5 times A4 is 1714 rows; B4 (364 mm) allows 2102; "unlimited" declares none."""
    rows = 2000
    receive(tmp_path, [page_rows(rows)], length=length)
    (p,) = read_tiff(tmp_path / "rx.tif")
    assert bool(p.fax_info.notes) == flagged
    assert p.fax_info.params.length == length


def test_write_received_tiff_with_the_call_result(tmp_path):
    """The all-at-once writer takes the same metadata from the call's result (no
    receive times: only the writer that stores pages as they arrive knows them)."""
    eng, _ = receive(tmp_path, [page_rows(100)], sub="7")
    out = tmp_path / "again.tif"
    assert write_received_tiff(out, eng.received_pages, eng.result) == 1
    (p,) = read_tiff(out)
    assert p.fax_info.sender == SENDER and p.fax_info.sub_address == "7"
    assert p.fax_info.recv_time is None and p.fax_info.received == ""
    assert p.fax_info.params.data_format == "mh"
    write_received_tiff(out, eng.received_pages)
    assert read_tiff(out)[0].fax_info is None
