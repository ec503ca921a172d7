"""RtpMedia's 20 ms cadence on a real socket: after the event loop is blocked, the
missed packets go out at once (catch-up: the count of packets follows the clock, no
drift); blocked for longer than ``max_lag``, the schedule restarts instead (counted);
datagrams from any address but the remote are dropped (counted)."""

from __future__ import annotations

import asyncio
import time

import faxcore
from faxcore.rtp import RtpAudioStream, RtpPacket
from faxcore.sipfax.rtp_media import RtpMedia

HOST = "127.0.0.1"


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data, addr) -> None:
        self.got.append(data)


async def _run(block_s: float, run_s: float = 1.2):
    loop = asyncio.get_running_loop()
    sink_t, sink = await loop.create_datagram_endpoint(_Sink, local_addr=(HOST, 0))
    stranger, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                      local_addr=(HOST, 0))
    media = RtpMedia(faxcore.FaxSession(False), RtpAudioStream(), max_lag=1.0)
    local = await media.open((HOST, 0))
    media.set_remote(sink_t.get_extra_info("sockname")[:2])
    # the loop is blocked (a long CPU burst elsewhere) 0.3 s in
    loop.call_later(0.3, time.sleep, block_s)
    loop.call_later(0.1, stranger.sendto, b"\x80" + bytes(171), local)
    t0 = loop.time()
    await media.run(until=lambda: loop.time() - t0 >= run_s + block_s, linger=0)
    elapsed = loop.time() - t0
    await asyncio.sleep(0.05)
    media.close()
    sink_t.close()
    stranger.close()
    return media, sink.got, elapsed


def test_missed_ticks_are_caught_up():
    media, got, elapsed = asyncio.run(_run(0.25))
    sent = media.stream.stats.sent
    assert media.lag_resets == 0
    # one packet per 20 ms of the whole run, the blocked 250 ms included
    assert abs(sent - elapsed / 0.020) <= 3, (sent, elapsed)
    seqs = [RtpPacket.parse(d).seq for d in got]
    assert len(got) == sent and seqs == [(seqs[0] + i) & 0xFFFF for i in range(sent)]
    assert media.foreign == 1 and media.stream.stats.received == 0


def test_a_stall_longer_than_max_lag_restarts_the_schedule():
    media, got, elapsed = asyncio.run(_run(1.3))
    sent = media.stream.stats.sent
    assert media.lag_resets == 1
    # the 1.3 s stall is not made up for
    assert sent < (elapsed - 1.0) / 0.020, (sent, elapsed)
    assert len(got) == sent
