"""tshark (Wireshark 4.0's RTP analysis, which we did not write) reads what faxcore's
G.711 RTP sender put on a real UDP socket: two seconds of a fax call (the caller's CNG)
sent by :class:`faxcore.sipfax.rtp_media.RtpMedia` at its 20 ms cadence to a plain
socket, captured with faxcore.pcap as it was sent. ``-z rtp,streams`` must show exactly
one stream, our SSRC and payload type, every packet, 0 lost, no problems flagged
(sequence errors, wrong timestamps), and a mean packet spacing of 20 ms; the
per-packet fields must be the sequence/timestamp progression faxcore promises."""

from __future__ import annotations

import asyncio
import random
import subprocess

import pytest

import faxcore
from faxcore.pcap import PcapWriter, read_pcap
from faxcore.rtp import PCMA, PCMU, RtpAudioStream
from faxcore.sipfax.rtp_media import RtpMedia
from faxcore.t30 import TxPage
from faxcore.testing.pages import small_page
from faxcore.testing.peers import require_tool

SECONDS = 2.0


async def _capture(path, pt: int) -> tuple[RtpMedia, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    sink, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                  local_addr=("127.0.0.1", 0))
    session = faxcore.FaxSession(True, send=[TxPage(small_page(1), "standard")])
    with PcapWriter(path) as pcap:
        media = RtpMedia(session, RtpAudioStream(pt, rng=random.Random(pt)), pcap=pcap)
        await media.open(("127.0.0.1", 0))
        media.set_remote(sink.get_extra_info("sockname")[:2])
        t0 = loop.time()
        await media.run(until=lambda: loop.time() - t0 >= SECONDS, linger=0)
    media.close()
    sink.close()
    return media, media.local


@pytest.mark.parametrize("pt,name", [(PCMU, "g711U"), (PCMA, "g711A")])
def test_tshark_sees_one_clean_20ms_stream(tmp_path, pt, name):
    tshark = require_tool("tshark")
    path = tmp_path / "rtp.pcap"
    media, (_, port) = asyncio.run(_capture(path, pt))
    sent = media.stream.stats.sent
    assert len(read_pcap(path)) == sent and sent >= 90
    base = [tshark, "-r", str(path), "-d", f"udp.port=={port},rtp"]
    out = subprocess.run(base + ["-q", "-z", "rtp,streams"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    rows = [line.split() for line in out.splitlines() if "127.0.0.1" in line]
    assert len(rows) == 1, out
    row = rows[0]
    # Start End Src Port Dst Port SSRC Payload Pkts Lost(n (x%)) MinΔ MeanΔ MaxΔ
    # MinJ MeanJ MaxJ [Problems?]
    assert int(row[3]) == port
    assert int(row[6], 16) == media.stream.ssrc
    assert row[7] == name and int(row[8]) == sent
    assert row[9] == "0" and row[10] == "(0.0%)", out
    assert len(row) == 17, f"tshark flags a problem: {out}"
    # the mean spacing is the cadence over the whole run: catch-up keeps it at 20 ms
    assert abs(float(row[12]) - 20.0) < 1.0, out
    fields = subprocess.run(
        base + ["-Y", "rtp", "-T", "fields", "-e", "rtp.seq", "-e", "rtp.timestamp",
                "-e", "rtp.marker", "-e", "rtp.p_type", "-e", "_ws.expert"],
        capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    got = [line.split("\t") for line in fields]
    assert len(got) == sent
    seq0, ts0 = int(got[0][0]), int(got[0][1])
    for i, (seq, ts, marker, ptype, expert) in enumerate(got):
        assert int(seq) == (seq0 + i) & 0xFFFF and int(ts) == (ts0 + 160 * i) & 0xFFFFFFFF
        assert (marker in ("1", "True")) == (i == 0) and int(ptype) == pt
        assert expert == "", (i, expert)
