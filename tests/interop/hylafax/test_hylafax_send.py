"""HylaFAX sends to faxcore through faxcore's emulated Class 1 modem.

``sendfax`` (HylaFAX 6.0.7, Debian ``hylafax-server``) submits a job to ``hfaxd``;
``faxq`` runs ``faxsend``, which dials on the pty of :class:`faxcore.class1.pty.PtyModem`
(``faxcore modem emulate``); the emulator's line goes to a faxcore
:class:`~faxcore.FaxSession` that answers and receives. The daemons run on a private
spool (:mod:`faxcore.testing.hylafax`), as root (their fax user is ``uucp``).

The faxcore station decides the coding (its DIS offers one scheme), ECM and the
modulation; ``sendfax -1/-2/-3`` decides how faxq prepares the document: MH, MR, or MMR
(only with ECM: ``-3 -E`` gives MR). Each job dials a new number, as faxq remembers what
a number's machine could do (``info/``) and would prepare the next document for it.
Pages are compared pixel for pixel, with one known HylaFAX habit: from an MH or MR
document ``faxsend`` may put one row fewer on the line than the document has (it cuts
the data after the last row that it sees an EOL follow, and libtiff's last row has
none), so such a page may arrive without its last row, which is white here. HylaFAX ends MR pages in ECM
with a 9-byte RTC (the sixth EOL+1 cut short): faxcore accepts both (bad rows 0).

The default cases run the line as fast as the CPU allows; ``slow`` ones cover the rest
of the matrix and a long non-ECM page at real-time pace (``data_speed=1``: 70 s on the
line, which only works with the emulator's flow control: HylaFAX writes the page in
1 KB chunks, and would otherwise wait past its 60 s timeout for the ``OK``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from faxcore.codecs.tiff import Page, write_tiff
from faxcore.session import FaxSession
from faxcore.testing import hylafax
from faxcore.testing.peers import missing

SEND_MODEMS = ("v17", "v29", "v27ter")


def page(rows: int, seed: int, *, dots: float = 0.0) -> np.ndarray:
    """A test page with a white last row (see the module docstring); ``dots``: that
    share of every third column flipped at random (fine detail: a big page)."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, 1728), np.uint8)
    bm[8:30, 100:1600] = 1
    for _ in range(80):
        y, x = int(rng.integers(35, rows - 14)), int(rng.integers(0, 1700))
        bm[y:y + int(rng.integers(1, 12)), x:x + int(rng.integers(1, 26))] = 1
    if dots:
        bm[40:rows - 10, ::3] ^= (rng.random((rows - 50, 576)) < dots).astype(np.uint8)
    bm[-1] = 0
    return bm


@pytest.fixture(scope="module")
def rig():
    why = hylafax.missing()
    if why:
        missing(f"HylaFAX: {why}")
    with hylafax.Rig() as r:
        yield r


def hylafax_sends(rig: hylafax.Rig, tmp_path, pages: list[np.ndarray], *, scheme: str,
                  ecm: bool, doc: str, modems: tuple[str, ...] = SEND_MODEMS,
                  speed: float | None = None, timeout: float = 240.0):
    """One job: sendfax with ``doc`` (-1/-2/-3), faxcore receiving with only ``scheme``
    offered; returns (the faxcore station, the job's q file, HylaFAX's session logs)."""
    src = tmp_path / "doc.tif"
    write_tiff(src, [Page(bm) for bm in pages], "mh")
    rig.emu.data_speed = speed
    before = len(rig.stations)
    old_logs = rig.hf.session_log_names()
    rig.far_end = lambda dialled: FaxSession(False, receive=lambda p: None, ecm=ecm,
                                             schemes=(scheme,), modems=modems)
    number = f"555{before:04d}"  # new to faxq: see the module docstring
    job = rig.hf.sendfax([src], number, extra=["-m", doc] + ([] if ecm else ["-E"]))
    q = rig.hf.wait_job(job, timeout)
    logs = rig.hf.session_logs(exclude=old_logs)  # this call's
    assert rig.emu.error is None, rig.emu.error
    assert len(rig.stations) == before + 1, "faxsend did not dial"
    station = rig.stations[-1]
    assert rig.emu.dce.dial_string == number
    assert int(q["state"]) == hylafax.JOB_DONE, f"job {job}: {q.get('status')}\n{logs[-6000:]}"
    rig.hf.wait_idle(rig.dev)  # faxgetty has the modem back: ready for the next case
    return station, q, logs


def check_pages(station, pages: list[np.ndarray], doc: str, ecm: bool) -> None:
    """Pixel for pixel; from an MH/MR document the last (white) row may be missing (see
    the module docstring), from an MMR one (``-3`` with ECM) nothing may."""
    mmr_doc = doc == "-3" and ecm
    got = station.pages
    assert len(got) == len(pages)
    for i, (g, sent) in enumerate(zip(got, pages, strict=True)):
        if not mmr_doc and g.shape[0] == sent.shape[0] - 1:
            assert not sent[-1].any()
            sent = sent[:-1]
        assert g.shape == sent.shape, f"page {i + 1}: {g.shape} rows, sent {sent.shape}"
        assert np.array_equal(g, sent), f"page {i + 1} differs"
    assert [p.bad_rows for p in station.engine.received_pages] == [0] * len(pages)


FORMAT = {"mh": "1-D MH", "mr": "2-D MR", "mmr": "2-D MMR"}

DEFAULT = [("mh", False, "-1"), ("mr", True, "-2"), ("mmr", True, "-3")]
MATRIX = [(s, e, d) for s in ("mh", "mr", "mmr") for e in (False, True)
          for d in ("-1", "-2", "-3") if (s != "mmr" or e) and (s, e, d) not in DEFAULT]


def _case(scheme, ecm, doc):
    return f"{scheme}-{'ecm' if ecm else 'noecm'}-doc{doc[1]}"


@pytest.mark.parametrize("scheme,ecm,doc", DEFAULT, ids=[_case(*c) for c in DEFAULT])
def test_hylafax_sends_to_faxcore(rig, tmp_path, scheme, ecm, doc):
    pages = [page(300, 1), page(180, 2)]
    station, q, logs = hylafax_sends(rig, tmp_path, pages, scheme=scheme, ecm=ecm, doc=doc)
    r = station.result
    assert int(r.status) == 0, r.summary()
    assert r.ecm is ecm and r.modulation == "V17/14400" and r.remote_ident == "HylaFAX"
    assert q["dataformat"] == FORMAT[scheme] and q["signalrate"] == "14400 bit/s"
    check_pages(station, pages, doc, ecm)
    if scheme == "mr" and ecm:
        assert "SEND 2D RTC" in logs  # the 9-byte RTC, in the ECM block


@pytest.mark.slow
@pytest.mark.parametrize("scheme,ecm,doc", MATRIX, ids=[_case(*c) for c in MATRIX])
def test_hylafax_sends_to_faxcore_matrix(rig, tmp_path, scheme, ecm, doc):
    pages = [page(260, 3), page(200, 4)]
    station, q, _ = hylafax_sends(rig, tmp_path, pages, scheme=scheme, ecm=ecm, doc=doc)
    assert int(station.result.status) == 0, station.result.summary()
    assert station.result.ecm is ecm and q["dataformat"] == FORMAT[scheme]
    check_pages(station, pages, doc, ecm)


@pytest.mark.slow
@pytest.mark.parametrize("modem,rate", [("v29", "9600"), ("v27ter", "4800")])
@pytest.mark.parametrize("ecm", [False, True], ids=["noecm", "ecm"])
def test_hylafax_sends_at_each_modulation(rig, tmp_path, modem, rate, ecm):
    pages = [page(240, 5)]
    station, q, logs = hylafax_sends(rig, tmp_path, pages, scheme="mr", ecm=ecm, doc="-2",
                                     modems=(modem,))
    assert int(station.result.status) == 0, station.result.summary()
    assert q["signalrate"] == f"{rate} bit/s"
    check_pages(station, pages, "-2", ecm)
    assert "--> [5:ERROR]" not in logs


@pytest.mark.slow
def test_hylafax_sends_a_long_page_at_line_pace(rig, tmp_path):
    """A ~126 KB non-ECM MH page at V.17 with the line at real-time pace: 70 s on the
    line. HylaFAX writes it into the pty as fast as the pty takes it (1 KB writes), then
    waits for the OK after <DLE><ETX> with a 60 s timeout. The emulator holds the writes
    to the line rate (flow control), so that wait is short. Before, it took the whole
    page at once and the OK came 70 s later: HylaFAX gave up (the field issue: a 62 s
    page failed)."""
    pages = [page(2200, 6, dots=0.075)]
    station, q, logs = hylafax_sends(rig, tmp_path, pages, scheme="mh", ecm=False,
                                     doc="-1", modems=("v17",), speed=1.0, timeout=400)
    assert int(station.result.status) == 0, station.result.summary()
    check_pages(station, pages, "-1", False)
    sent = sum(int(n) for n in re.findall(r"SENT (\d+) bytes of data", logs))
    assert sent * 8 / 14400 > 62, f"the page should be over 62 s on the line ({sent} octets)"
