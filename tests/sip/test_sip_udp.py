"""The asyncio UDP adapter (faxcore.sipfax.sip_udp): two user agents on real sockets on
127.0.0.1 (free ports, no SIPp) set up a call, switch it to T.38 and hang up."""

from __future__ import annotations

import asyncio
import socket

from faxcore.sip import sdp as S
from faxcore.sip.ua import CallEnded, IncomingCall, MediaChanged, ReInviteOffer, UserAgent
from faxcore.sipfax.sip_udp import SipUdpEndpoint


def _free_ports() -> tuple[int, int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = tuple(s.getsockname()[1] for s in socks)
    for s in socks:
        s.close()
    return ports  # type: ignore[return-value]


async def _call() -> tuple[list[str], list[str]]:
    ea_events: list[object] = []
    eb_events: list[object] = []
    ob = S.SdpOriginator("127.0.0.1", 2)
    local_b = S.LocalMedia("127.0.0.1", 5000, 5002)
    pa, pb = _free_ports()
    ua_b = UserAgent("sip:b@127.0.0.1", f"sip:b@127.0.0.1:{pb}")

    def on_b(ev) -> None:
        eb_events.append(ev)
        if isinstance(ev, IncomingCall):
            ua_b.answer(ev.call, S.answer(ev.sdp, local_b, ob))
        elif isinstance(ev, ReInviteOffer):
            ua_b.accept_reinvite(ev.call, S.answer(ev.sdp, local_b, ob))
    eb = await SipUdpEndpoint.create(ua_b, ("127.0.0.1", pb), on_b)
    ua_a = UserAgent("sip:a@127.0.0.1", f"sip:a@127.0.0.1:{pa}")
    ea = await SipUdpEndpoint.create(ua_a, ("127.0.0.1", pa), ea_events.append)
    assert ea.local_addr == ("127.0.0.1", pa)
    oa = S.SdpOriginator("127.0.0.1", 1)
    loop = asyncio.get_running_loop()
    call = ua_a.invite(f"sip:b@127.0.0.1:{pb}", oa.describe([S.audio_media(4000)]), loop.time())
    ea.kick()

    async def until(pred, timeout=5.0):
        end = loop.time() + timeout
        while not pred() and loop.time() < end:
            await asyncio.sleep(0.01)
        assert pred()
    await until(lambda: call.state.value == "confirmed")
    ua_a.reinvite(call, oa.describe([S.image_media(4002)]), loop.time())
    ea.kick()
    await until(lambda: any(isinstance(e, MediaChanged) for e in ea_events))
    ua_a.bye(call, loop.time())
    ea.kick()
    await until(lambda: any(isinstance(e, CallEnded) for e in eb_events)
                and any(isinstance(e, CallEnded) for e in ea_events))
    ea.close()
    eb.close()
    return [type(e).__name__ for e in ea_events], [type(e).__name__ for e in eb_events]


def test_two_uas_over_loopback_udp():
    a, b = asyncio.run(_call())
    assert a == ["CallAnswered", "MediaChanged", "CallEnded"]
    assert b == ["IncomingCall", "CallConfirmed", "ReInviteOffer", "MediaChanged", "CallEnded"]
