"""HylaFAX's ``faxinfo`` (Debian hylafax-client / hylafax-server) reads the call metadata
faxcore writes into the pages it receives: a whole call between two FaxSessions over
8 kHz audio, the answerer receiving into a TIFF-F (each page written as it arrives), then
``faxinfo`` on that file must print the sender (TSI), the subaddress, the page count,
quality and size, when it was received, how long it took, the signal rate, the data
format and whether ECM was used; libtiff's ``tiffinfo`` names the tags; faxcore's own
reader gives the same values (``Page.fax_info``). Measured against Debian's 6.0.7.

Before, the file carried none of it: faxinfo printed ``Sender: <unknown>``,
``TimeToRecv: <unknown>`` and guessed the rest from the compression tag (MMR, as the
file is coded, whatever the line used), ``Quality: Normal`` for a fine page and
``SignalRate: 0 bit/s``. faxinfo (hylafax-server) and tiffinfo must be installed, else
the tests skip locally and fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import faxcore
from faxcore.codecs.faxinfo import RecvParams
from faxcore.codecs.tiff import read_tiff
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.line import run_call
from faxcore.testing.peers import missing, require_tool

SENDER = "+1 555 0100"
PAGESIZES = (Path("/etc/hylafax/pagesizes"), Path("/usr/share/hylafax/pagesizes"))


def a4_page(rows: int, seed: int) -> np.ndarray:
    """A page of A4 length (``rows`` at its resolution) with some marks on it."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, 1728), np.uint8)
    for _ in range(80):
        y, x = int(rng.integers(0, rows - 12)), int(rng.integers(0, 1700))
        bm[y:y + 10, x:x + 24] = 1
    return bm


def faxinfo_tool() -> str:
    """HylaFAX's faxinfo: Debian's hylafax-server puts it in /usr/sbin, which a
    non-root PATH may lack."""
    for found in (shutil.which("faxinfo"), "/usr/sbin/faxinfo"):
        if found and os.access(found, os.X_OK):
            return found
    missing("command 'faxinfo' (Debian package hylafax-server)")
    return ""


def faxinfo(path: Path) -> dict[str, str]:
    out = subprocess.run([faxinfo_tool(), str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    fields = {}
    for line in out.splitlines()[1:]:          # the first line is the file name
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def page_size_abbreviation(name: str) -> str:
    """The abbreviation HylaFAX's pagesizes file gives the page size ``name`` faxinfo
    printed (Debian's has a "default" entry, A4, which faxinfo may name instead)."""
    for path in PAGESIZES:
        if path.exists():
            for line in path.read_text().splitlines():
                cols = line.split("\t")
                cols = [c for c in cols if c]
                if cols and not line.startswith("#") and cols[0] == name:
                    return cols[1]
            return ""
    missing("HylaFAX's pagesizes file")
    return ""


def hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@pytest.mark.parametrize("mod,ecm,schemes,rate,data_format", [
    ("v17", True, ("mh", "mr", "mmr"), 14400, "2-D MMR"),
    ("v29", False, ("mh", "mr", "mmr"), 9600, "2-D MR"),
    ("v27ter", False, ("mh",), 4800, "1-D MH"),
])
def test_faxinfo_shows_what_faxcore_recorded(tmp_path, mod, ecm, schemes, rate, data_format):
    faxinfo_tool()
    out = tmp_path / "rx.tif"
    pages = [TxPage(a4_page(2287, 1), "fine"), TxPage(a4_page(1143, 2), "standard")]
    a = faxcore.FaxSession(True, send=pages, ecm=ecm, modems=(mod,), ident=SENDER,
                           sub_address="42", schemes=schemes)
    b = faxcore.FaxSession(False, receive=out, ecm=ecm, modems=(mod,), ident="+1 555 0199")
    before = time.time()
    run_call(a, b)
    after = time.time()
    assert b.result.status == T30Status.OK, b.result.summary()
    assert b.received_path == out

    info = faxinfo(out)
    assert info["Sender"] == SENDER
    assert info["SubAddr"] == "42"
    assert info["Pages"] == "2"
    assert info["Quality"] == "Fine"                       # the first page's
    assert page_size_abbreviation(info["Page"]) == "A4"
    received = time.mktime(time.strptime(info["Received"], "%Y:%m:%d %H:%M:%S"))
    assert int(before) <= received <= after
    assert info["SignalRate"] == f"{rate} bit/s"
    assert info["DataFormat"] == data_format
    assert info["ErrCorrect"] == ("Yes" if ecm else "No")

    # TimeToRecv is the sum of the pages' FaxRecvTime: page 1 from the call's start to
    # the command that completed it, page 2 from there to the one that completed it
    ours = read_tiff(out)
    times = [p.fax_info.recv_time for p in ours]
    assert info["TimeToRecv"] == hms(sum(times))
    ends = [t.time for t in b.result.trace if t.direction == "rx"
            and t.name in ("MPS", "EOM", "EOP", "PPS-MPS", "PPS-EOM", "PPS-EOP")]
    assert len(ends) == 2
    for got, want in zip(times, [ends[0], ends[1] - ends[0]], strict=True):
        assert abs(got - want) <= 0.501 and got > 3      # whole seconds, rounded

    # faxcore's reader: the same values, per page
    fmt = {14400: "mmr", 9600: "mr", 4800: "mh"}[rate]
    for p, res in zip(ours, ("fine", "standard"), strict=True):
        assert p.fax_info.sender == SENDER and p.fax_info.sub_address == "42"
        assert p.fax_info.params == RecvParams(res, rate, 1728, "unlimited", fmt, ecm, 0)
        assert p.fax_info.notes == ()
    lines = dict(ours[0].fax_info.describe())
    for label in ("Sender", "SubAddr", "Received", "SignalRate", "DataFormat", "ErrCorrect"):
        assert lines[label] == info[label], label

    # libtiff knows HylaFAX's tags by name
    tiffinfo = subprocess.run([require_tool("tiffinfo"), str(out)], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    for tag in (f"ImageDescription: {SENDER}", "DateTime: ", "FaxRecvParams: ",
                "FaxSubAddress: 42", "FaxRecvTime: ", "FaxDcs: 00 "):
        assert tiffinfo.count(tag) == 2, tag
