"""The SIP user agent (faxcore.sip.ua) in virtual time: two UAs (A calls, B answers)
through faxcore.testing.sip_peer.SipNetwork, with targeted drops and random loss so that
retransmissions matter, and scripted peers (an outsider address the test answers by hand)
for digest challenges, REGISTER and hostile requests. Every assertion is on what went over
the wire or on the events and states the UAs reached."""

from __future__ import annotations

import hashlib
import random

import pytest

from faxcore.sip import sdp as S
from faxcore.sip.digest import parse_credentials
from faxcore.sip.message import Request, Response, parse_message
from faxcore.sip.ua import (
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallRinging,
    CallState,
    EndReason,
    IncomingCall,
    MediaChanged,
    Registered,
    ReInviteFailed,
    ReInviteOffer,
    SessionRefreshed,
    Unregistered,
    UserAgent,
)
from faxcore.testing.sip_peer import SipNetwork, offer_sdp

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)
X = ("10.0.0.9", 5060)          # a scripted outsider (registrar, proxy, attacker)


class Pair:
    """A (caller) and B (callee) on one network. B answers calls and accepts re-INVITEs
    unless told otherwise (``b_answer``, ``b_reinvite``)."""

    def __init__(self, loss: float = 0.0, seed: int = 1, drop=None, a_kw=None, b_kw=None,
                 b_answer: str = "answer", b_reinvite: str = "accept",
                 a_reinvite: str = "accept") -> None:
        self.net = SipNetwork(loss=loss, seed=seed, drop=drop)
        self.a = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(seed),
                           **(a_kw or {}))
        self.b = UserAgent("sip:b@10.0.0.2", "sip:b@10.0.0.2:5060",
                           rng=random.Random(seed + 100), **(b_kw or {}))
        self.oa = S.SdpOriginator("10.0.0.1", 1000)
        self.ob = S.SdpOriginator("10.0.0.2", 2000)
        self.la = S.LocalMedia("10.0.0.1", 4000, 4002)
        self.lb = S.LocalMedia("10.0.0.2", 5000, 5002)
        self.b_answer, self.b_reinvite, self.a_reinvite = b_answer, b_reinvite, a_reinvite
        self.net.add(A, self.a, self._on_a)
        self.net.add(B, self.b, self._on_b)

    def _on_a(self, ev) -> None:
        if isinstance(ev, ReInviteOffer):
            self._reinvite(self.a, ev, self.a_reinvite, self.la, self.oa)

    def _on_b(self, ev) -> None:
        if isinstance(ev, IncomingCall):
            if self.b_answer == "answer":
                self.b.answer(ev.call, S.answer(ev.sdp, self.lb, self.ob), self.net.now)
            elif self.b_answer == "ring":
                self.b.ringing(ev.call, self.net.now)
            elif self.b_answer.isdigit():
                self.b.reject(ev.call, int(self.b_answer), self.net.now)
        elif isinstance(ev, ReInviteOffer):
            self._reinvite(self.b, ev, self.b_reinvite, self.lb, self.ob)

    def _reinvite(self, ua, ev, how, local, origin) -> None:
        if how == "accept":
            ua.accept_reinvite(ev.call, S.answer(ev.sdp, local, origin), self.net.now)
        elif how.isdigit():
            ua.reject_reinvite(ev.call, int(how), self.net.now)

    def call(self):
        return self.a.invite("sip:b@10.0.0.2:5060", offer_sdp(self.oa, 4000), self.net.now)

    def names(self, addr) -> list[str]:
        return [type(e).__name__ for e in self.net.events[addr]]

    def ended(self, addr) -> CallEnded:
        (ev,) = [e for e in self.net.events[addr] if isinstance(e, CallEnded)]
        return ev

    def lines(self, src, start: str) -> list[float]:
        """Times at which ``src`` put a datagram whose first line starts with ``start``."""
        return [t for t, s, _, first in self.net.sent if s == src and first.startswith(start)]


def _drop_first(n_by_start: dict[str, int]):
    """A drop predicate: drop the first n datagrams whose first line starts with a key."""
    left = dict(n_by_start)

    def drop(data: bytes, src, dst) -> bool:
        first = data.split(b"\r\n", 1)[0].decode()
        for k, n in left.items():
            if first.startswith(k) and n > 0:
                left[k] = n - 1
                return True
        return False
    return drop


def test_basic_call_and_bye():
    p = Pair()
    call = p.call()
    p.net.run(until=1)
    assert p.names(A) == ["CallAnswered"] and p.names(B) == ["IncomingCall", "CallConfirmed"]
    (bcall,) = p.b.calls
    assert call.state is CallState.CONFIRMED and bcall.state is CallState.CONFIRMED
    assert call.remote_sdp.media[0].port == 5000 and bcall.remote_sdp.media[0].port == 4000
    p.a.bye(call, p.net.now)
    p.net.run()
    assert p.ended(A).reason is EndReason.LOCAL_BYE and p.ended(A).status == 200
    assert p.ended(B).reason is EndReason.REMOTE_BYE
    assert p.a.calls == [] and p.b.calls == [] and p.a.next_deadline is None
    assert p.b.next_deadline is None


def test_lost_invite_200_and_ack_are_retransmitted():
    """The INVITE is resent after T1; B resends its 200 (T1, 2*T1) until an ACK gets
    through; A answers every 200 copy with the ACK again."""
    p = Pair(drop=_drop_first({"INVITE": 1, "SIP/2.0 200": 1, "ACK": 1}))
    p.call()
    p.net.run(until=5)
    assert p.lines(A, "INVITE") == [0.0, 0.5]
    oks = p.lines(B, "SIP/2.0 200")
    assert oks[0] == pytest.approx(0.52) and oks[1] == pytest.approx(1.02)
    assert len(oks) == 3 and oks[2] == pytest.approx(2.02)
    assert len(p.lines(A, "ACK")) == 2
    assert p.names(B) == ["IncomingCall", "CallConfirmed"]


@pytest.mark.parametrize("seed", range(8))
def test_calls_complete_over_a_lossy_network(seed):
    """30 % loss each way: the call is set up, switched to T.38 and torn down anyway."""
    p = Pair(loss=0.3, seed=seed)
    call = p.call()
    p.net.run(until=20)
    assert call.state is CallState.CONFIRMED, p.net.sent
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), p.net.now)
    p.net.run(until=60)
    assert call.remote_sdp.media[0].is_t38
    p.a.bye(call, p.net.now)
    p.net.run()
    assert p.ended(A).reason is EndReason.LOCAL_BYE
    assert p.ended(B).reason is EndReason.REMOTE_BYE
    assert len(p.net.sent) > 8          # some datagrams went more than once


def test_invite_to_nobody_times_out_after_timer_b():
    p = Pair()
    call = p.a.invite("sip:nobody@10.0.0.7", offer_sdp(p.oa), 0.0)
    p.net.run()
    assert p.lines(A, "INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert p.ended(A).reason is EndReason.TIMEOUT and p.ended(A).status == 408
    assert p.net.now == 32.0 and call.state is CallState.ENDED


def test_bye_to_a_vanished_peer_uses_timer_e_capped_at_t2():
    p = Pair()
    call = p.call()
    p.net.run(until=1)
    p.net.drop = lambda data, src, dst: True          # the network goes dead
    p.a.bye(call, 1.0)
    p.net.run()
    times = [round(t - 1.0, 3) for t in p.lines(A, "BYE")]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert p.ended(A).status == 408


def test_a_2xx_never_acked_ends_with_bye_after_64_t1():
    p = Pair(drop=lambda data, src, dst: data.startswith(b"ACK"))
    p.call()
    p.net.run()
    oks = p.lines(B, "SIP/2.0 200")
    assert len(oks) >= 9                                 # T1, 2T1, 4T1, then every T2
    assert p.ended(B).reason is EndReason.NO_ACK
    assert p.ended(A).reason is EndReason.REMOTE_BYE


def test_retransmitted_invite_after_the_answer_is_not_a_new_call():
    p = Pair()
    p.call()
    p.net.run(until=0.03)                    # B has answered, the 200 is on its way
    invite = next(d for t, s, _, d in p.net.wire if s == A and d.startswith(b"INVITE"))
    p.net.inject(invite, A, B)
    p.net.run(until=2)
    assert p.names(B).count("IncomingCall") == 1


def test_reject_is_acked_and_not_resent():
    p = Pair(b_answer="486")
    p.call()
    p.net.run()
    assert p.ended(A).reason is EndReason.REJECTED and p.ended(A).status == 486
    assert p.ended(B).reason is EndReason.DECLINED
    assert len(p.lines(B, "SIP/2.0 486")) == 1 and len(p.lines(A, "ACK")) == 1


def test_cancel_after_ringing():
    p = Pair(b_answer="ring")
    call = p.call()
    p.net.run(until=1)
    assert "CallRinging" in p.names(A)
    p.a.cancel(call, p.net.now)
    p.net.run()
    assert p.ended(A).reason is EndReason.CANCELLED and p.ended(A).status == 487
    assert p.ended(B).reason is EndReason.CANCELLED
    assert len(p.lines(B, "SIP/2.0 487")) == 1          # ACKed: not resent
    cancel = next(d for t, s, _, d in p.net.wire if s == A and d.startswith(b"CANCEL"))
    invite = next(d for t, s, _, d in p.net.wire if s == A and d.startswith(b"INVITE"))
    c, i = parse_message(cancel), parse_message(invite)
    assert c.vias[0].branch == i.vias[0].branch and c.cseq == (i.cseq[0], "CANCEL")


def test_cancel_before_any_provisional_waits_for_one():
    """RFC 3261 §9.1: no CANCEL before a provisional response; it goes once 180 comes."""
    p = Pair(b_answer="none", drop=lambda d, s, t: d.startswith(b"SIP/2.0 100"))
    call = p.call()
    p.net.run(until=1)
    p.a.cancel(call, p.net.now)
    p.net.run(until=2)
    assert p.lines(A, "CANCEL") == []
    (bcall,) = p.b.calls
    p.b.ringing(bcall, p.net.now)
    p.net.run()
    assert p.lines(A, "CANCEL") == [pytest.approx(2.02)]
    assert p.ended(A).reason is EndReason.CANCELLED


def test_answer_crossing_cancel_is_acked_then_byed():
    p = Pair(b_answer="none", drop=lambda d, s, t: d.startswith(b"SIP/2.0 100"))
    call = p.call()
    p.net.run(until=1)
    p.a.cancel(call, p.net.now)
    (bcall,) = p.b.calls
    p.b.answer(bcall, S.answer(bcall.remote_sdp, p.lb, p.ob), p.net.now)
    p.net.run()
    assert p.lines(A, "ACK") and p.lines(A, "BYE")
    assert p.ended(A).reason is EndReason.CANCELLED and p.ended(B).reason is \
        EndReason.REMOTE_BYE


@pytest.mark.parametrize("who", ["A", "B"])
def test_t38_reinvite_accepted_in_either_direction(who):
    p = Pair()
    call = p.call()
    p.net.run(until=1)
    (bcall,) = p.b.calls
    ua, c, origin, port = (p.a, call, p.oa, 4002) if who == "A" else (p.b, bcall, p.ob, 5002)
    ua.reinvite(c, offer_sdp(origin, image_port=port), p.net.now)
    p.net.run(until=5)
    for addr, cc in ((A, call), (B, bcall)):
        (mc,) = [e for e in p.net.events[addr] if isinstance(e, MediaChanged)]
        assert mc.remote.media[0].is_t38 and mc.local.media[0].is_t38
        assert cc.remote_sdp.media[0].is_t38
    offer = next(d for t, s, _, d in p.net.wire
                 if d.startswith(b"INVITE") and b"m=image" in d)
    assert parse_message(offer).body.count(b"T38Fax") >= 5


def test_t38_refused_with_488_leaves_the_session_unchanged():
    p = Pair(b_reinvite="488")
    call = p.call()
    p.net.run(until=1)
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), p.net.now)
    p.net.run(until=5)
    assert [e.status for e in p.net.events[A] if isinstance(e, ReInviteFailed)] == [488]
    assert call.remote_sdp.media[0].is_audio and call.state is CallState.CONFIRMED
    assert call.local_sdp and b"m=audio" in call.local_sdp
    assert len(p.lines(B, "SIP/2.0 488")) == 1
    p.a.bye(call, p.net.now)                  # the dialog still works
    p.net.run()
    assert p.ended(B).reason is EndReason.REMOTE_BYE


def test_glare_491_and_retry_windows():
    """Both re-INVITE at once: both get 491. B (not the Call-ID owner) retries within
    0-2 s, A (owner) would wait 2.1-4 s; B's retry reaches A first, A accepts it and
    drops its own retry (ReInviteFailed 491)."""
    p = Pair()
    call = p.call()
    p.net.run(until=1)
    (bcall,) = p.b.calls
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), 1.0)
    p.b.reinvite(bcall, offer_sdp(p.ob, image_port=5002), 1.0)
    p.net.run(until=10)
    assert len(p.lines(A, "SIP/2.0 491")) == 1 and len(p.lines(B, "SIP/2.0 491")) == 1
    b_invites = p.lines(B, "INVITE")
    assert len(b_invites) == 2 and 1.02 <= b_invites[1] <= 3.04
    assert len(p.lines(A, "INVITE")) == 2                 # the first call's + the crossing one
    assert [e.status for e in p.net.events[A] if isinstance(e, ReInviteFailed)] == [491]
    assert call.remote_sdp.media[0].is_t38 and bcall.remote_sdp.media[0].is_t38


@pytest.mark.parametrize("a_owns_call_id", [True, False])
def test_retry_after_491_waits_by_call_id_ownership(a_owns_call_id):
    """RFC 3261 §14.1: after a 491 the Call-ID's owner retries in 2.1-4 s, the other
    side in 0-2 s. X is a scripted peer that answers A's first re-INVITE 491."""
    net = SipNetwork()
    ua = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(11))
    origin = S.SdpOriginator("10.0.0.1", 50)
    net.add(A, ua, lambda ev: ua.answer(ev.call, S.answer(ev.sdp, S.LocalMedia(
        "10.0.0.1", 4000, 4002), origin), net.now) if isinstance(ev, IncomingCall) else None)
    sdp_x = S.SdpOriginator("10.0.0.9", 70).describe([S.audio_media(7000)]).to_bytes()
    if a_owns_call_id:
        call = ua.invite("sip:x@10.0.0.9", offer_sdp(origin), 0.0)
        net.run(until=0.1)
        (inv,) = _outsider_requests(net, "INVITE")
        net.inject(_reply(inv, 200, "OK", [("Contact", "<sip:x@10.0.0.9:5060>")], sdp_x), X, A)
    else:
        net.inject(b"INVITE sip:a@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;"
                   b"branch=z9hG4bKxi\r\nFrom: <sip:x@10.0.0.9>;tag=xt\r\nTo: <sip:a@10.0.0.1>"
                   b"\r\nCall-ID: owned-by-x\r\nCSeq: 1 INVITE\r\nContact: <sip:x@10.0.0.9>"
                   b"\r\nContent-Type: application/sdp\r\n\r\n" + sdp_x, X, A)
        net.run(until=0.1)
        ok = next(parse_message(d) for t, s, _, d in net.wire if s == A
                  and d.startswith(b"SIP/2.0 200"))
        net.inject(b"ACK sip:a@10.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;"
                   b"branch=z9hG4bKxa\r\nFrom: <sip:x@10.0.0.9>;tag=xt\r\nTo: "
                   + ok.get("To").encode() + b"\r\nCall-ID: owned-by-x\r\nCSeq: 1 ACK\r\n\r\n",
                   X, A)
    net.run(until=1)
    (call,) = ua.calls
    assert call.state is CallState.CONFIRMED
    delays = []
    for _ in range(3):                         # three 491s: three retries, then give up
        t0 = net.now
        ua.reinvite(call, offer_sdp(origin, image_port=4002), t0) if not delays else None
        net.run(until=net.now + 0.1)
        re = _outsider_requests(net, "INVITE")[-1]
        net.inject(_reply(re, 491, "Request Pending"), X, A)
        t491 = net.now
        net.run(until=net.now + 4.5)
        after = [t for t, s, _, f in net.sent if s == A and f.startswith("INVITE") and t > t491]
        assert after, "no retry"
        delays.append(after[0] - t491)
    lo, hi = (2.1, 4.0) if a_owns_call_id else (0.0, 2.0)
    assert all(lo <= d <= hi + 0.03 for d in delays), delays
    re = _outsider_requests(net, "INVITE")[-1]
    net.inject(_reply(re, 491, "Request Pending"), X, A)
    net.run(until=net.now + 5)
    assert [e.status for e in net.events[A] if isinstance(e, ReInviteFailed)] == [491]
    assert call.reinvite.value == "idle"


def test_overlapping_reinvite_gets_500_with_retry_after():
    p = Pair(b_reinvite="none")
    call = p.call()
    p.net.run(until=1)
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), p.net.now)
    p.net.run(until=1.1)
    first = parse_message(next(d for t, s, _, d in p.net.wire
                               if s == A and b"m=image" in d))
    second = Request(method="INVITE", uri=first.uri, headers=list(first.headers),
                     body=first.body)
    second.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsecond")
    second.set("CSeq", f"{first.cseq[0] + 1} INVITE")
    p.net.inject(second.to_bytes(), A, B)
    p.net.run(until=1.2)
    resp = [parse_message(d) for t, s, _, d in p.net.wire if s == B and b"z9hG4bKsecond" in d]
    final = [r for r in resp if r.status >= 200]
    assert final[0].status == 500 and 0 <= int(final[0].get("Retry-After")) <= 10


def test_bye_while_a_reinvite_waits_answers_it_487():
    p = Pair(b_reinvite="none")
    call = p.call()
    p.net.run(until=1)
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), p.net.now)
    p.net.run(until=1.1)
    (bcall,) = p.b.calls
    p.b.bye(bcall, p.net.now)
    p.net.run()
    assert p.lines(B, "SIP/2.0 491") == []
    assert [e.status for e in p.net.events[A] if isinstance(e, ReInviteFailed)] in ([487], [])
    assert p.ended(A).reason is EndReason.REMOTE_BYE
    assert p.ended(B).reason is EndReason.LOCAL_BYE


def _outsider_requests(net, method: str) -> list[Request]:
    """The requests X received, retransmissions left out (one per branch)."""
    out, seen = [], set()
    for m in (parse_message(d) for d in net.outsider.get(X, [])):
        if isinstance(m, Request) and m.method == method and m.vias[0].branch not in seen:
            seen.add(m.vias[0].branch)
            out.append(m)
    return out


def _reply(req: Request, status: int, reason: str, headers=(), body=b"",
           to_tag: str | None = "x1") -> bytes:
    r = Response(status=status, reason=reason)
    for v in req.get_lines("Via"):
        r.add("Via", v)
    r.add("From", req.get("From"))
    to = req.get("To")
    r.add("To", to if (to_tag is None or "tag=" in to) else f"{to};tag={to_tag}")
    r.add("Call-ID", req.call_id)
    r.add("CSeq", req.get("CSeq"))
    for n, v in headers:
        r.add(n, v)
    if body:
        r.add("Content-Type", "application/sdp")
        r.body = body
    return r.to_bytes()


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def test_register_with_digest_and_refresh():
    net = SipNetwork()
    ua = UserAgent("sip:fax@10.0.0.1", "sip:fax@10.0.0.1:5060", rng=random.Random(5))
    net.add(A, ua)
    reg = ua.register("sip:10.0.0.9", "fax", "secret", expires=120, now=0.0)
    net.run(until=0.1)
    (r1,) = _outsider_requests(net, "REGISTER")
    assert r1.get("Expires") == "120" and r1.uri == "sip:10.0.0.9"
    net.inject(_reply(r1, 401, "Unauthorized", [("WWW-Authenticate",
               'Digest realm="reg", nonce="n1", qop="auth", algorithm=MD5')]), X, A)
    net.run(until=0.2)
    r2 = _outsider_requests(net, "REGISTER")[1]
    assert r2.call_id == r1.call_id and r2.cseq[0] == r1.cseq[0] + 1
    p = parse_credentials(r2.get("Authorization"))
    ha1, ha2 = _md5("fax:reg:secret"), _md5("REGISTER:sip:10.0.0.9")
    assert p["response"] == _md5(f"{ha1}:n1:{p['nc']}:{p['cnonce']}:auth:{ha2}")
    net.inject(_reply(r2, 200, "OK", [("Contact", "<sip:fax@10.0.0.1:5060>;expires=60")]),
               X, A)
    net.run(until=1)
    assert [(type(e), e.expires) for e in net.events[A]] == [(Registered, 60)]
    net.run(until=40)                                  # refreshed at half of 60 s
    r3 = _outsider_requests(net, "REGISTER")[2]
    assert r3.cseq[0] == r2.cseq[0] + 1
    # the refresh answers the last challenge at once, with the next nonce count
    p3 = parse_credentials(r3.get("Authorization"))
    assert p3["nc"] == "00000002" and p3["nonce"] == "n1"
    assert p3["response"] == _md5(f"{ha1}:n1:00000002:{p3['cnonce']}:auth:{ha2}")
    assert any(t == pytest.approx(30.2, abs=0.05) for t, s, _, f in net.sent
               if f.startswith("REGISTER") and t > 1)
    net.inject(_reply(r3, 200, "OK", [("Expires", "60")]), X, A)
    net.run(until=41)
    ua.unregister(reg, net.now)
    net.run(until=42)
    r4 = _outsider_requests(net, "REGISTER")[3]
    assert r4.get("Expires") == "0"
    net.inject(_reply(r4, 200, "OK"), X, A)
    net.run(until=43)
    assert isinstance(net.events[A][-1], Unregistered)


@pytest.mark.parametrize("status, challenge, answer", [
    (401, "WWW-Authenticate", "Authorization"),
    (407, "Proxy-Authenticate", "Proxy-Authorization")])
def test_invite_answers_a_digest_challenge(status, challenge, answer):
    net = SipNetwork()
    ua = UserAgent("sip:fax@10.0.0.1", "sip:fax@10.0.0.1:5060", credentials=("fax", "pw"),
                   rng=random.Random(3))
    net.add(A, ua)
    origin = S.SdpOriginator("10.0.0.1", 9)
    call = ua.invite("sip:1000@10.0.0.9", offer_sdp(origin), 0.0)
    net.run(until=0.1)
    (i1,) = _outsider_requests(net, "INVITE")
    net.inject(_reply(i1, status, "Challenge", [(challenge, 'Digest realm="px", '
               'nonce="abc", algorithm=SHA-256, qop="auth"')]), X, A)
    net.run(until=0.2)
    (ack,) = _outsider_requests(net, "ACK")
    assert ack.vias[0].branch == i1.vias[0].branch and ack.cseq == (i1.cseq[0], "ACK")
    i2 = _outsider_requests(net, "INVITE")[1]
    assert i2.cseq[0] == i1.cseq[0] + 1 and i2.from_.tag == i1.from_.tag
    assert i2.vias[0].branch != i1.vias[0].branch and i2.body == i1.body
    p = parse_credentials(i2.get(answer))

    def h(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()

    want = h(f"{h('fax:px:pw')}:abc:{p['nc']}:{p['cnonce']}:auth:{h('INVITE:' + i2.uri)}")
    assert p["response"] == want
    body = S.answer(S.parse_sdp(i2.body), S.LocalMedia("10.0.0.9", 7000)).to_bytes()
    net.inject(_reply(i2, 200, "OK", [("Contact", "<sip:1000@10.0.0.9:5060>")], body), X, A)
    net.run(until=1)
    assert isinstance(net.events[A][-1], CallAnswered) and call.state is CallState.CONFIRMED
    acks = _outsider_requests(net, "ACK")
    assert len(acks) == 2 and acks[1].cseq == (i2.cseq[0], "ACK")


def test_session_timer_refresh_during_t38_reoffers_the_image_sdp():
    """A asks for 90 s; B (UAS) makes A the refresher. After the switch to T.38, A's
    refresh at 45 s offers the T.38 SDP again, same o= version: B treats it as a refresh
    (no ReInviteOffer), the media stays T.38."""
    p = Pair(a_kw={"session_expires": 90})
    call = p.call()
    p.net.run(until=1)
    assert call.session_interval == 90 and call.we_refresh
    p.a.reinvite(call, offer_sdp(p.oa, image_port=4002), p.net.now)
    p.net.run(until=2)
    t38_offer = next(d for t, s, _, d in p.net.wire if s == A and b"m=image" in d)
    p.net.run(until=50)
    refresh = [(t, d) for t, s, _, d in p.net.wire if s == A and d.startswith(b"INVITE")][-1]
    assert refresh[0] == pytest.approx(1.04 + 45, abs=0.05)
    assert parse_message(refresh[1]).body == parse_message(t38_offer).body
    assert "SessionRefreshed" in p.names(A) and "SessionRefreshed" in p.names(B)
    assert p.names(B).count("ReInviteOffer") == 1
    (bcall,) = p.b.calls
    assert bcall.remote_sdp.media[0].is_t38 and call.remote_sdp.media[0].is_t38


def test_session_expires_without_refresh_bye_before_expiry():
    p = Pair(a_kw={"session_expires": 90})
    p.call()
    p.net.run(until=1)
    p.net.drop = lambda data, src, dst: src == A and data.startswith(b"INVITE")
    p.net.run(until=200)
    # B: 90 - min(32, 30) = 60 s after the answer (0.02 s), with no refresh seen
    (bye_t,) = p.lines(B, "BYE")[:1]
    assert bye_t == pytest.approx(60.02, abs=0.01)
    assert p.ended(B).reason is EndReason.SESSION_EXPIRED


def test_min_se_422_is_retried_with_the_larger_interval():
    p = Pair(a_kw={"session_expires": 30})
    call = p.call()
    p.net.run(until=2)
    assert len(p.lines(B, "SIP/2.0 422")) == 1 and call.state is CallState.CONFIRMED
    assert call.session_interval == 90


@pytest.mark.parametrize("raw, status", [
    (b"OPTIONS sip:b@10.0.0.2 SIP/2.0\r\n", 200),
    (b"FOO sip:b@10.0.0.2 SIP/2.0\r\n", 501),
    (b"SUBSCRIBE sip:b@10.0.0.2 SIP/2.0\r\n", 405),
    (b"BYE sip:b@10.0.0.2 SIP/2.0\r\n", 481),
])
def test_out_of_dialog_requests(raw, status):
    p = Pair()
    method = raw.split(b" ")[0].decode()
    data = raw + (b"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKo1\r\n"
                  b"From: <sip:x@10.0.0.9>;tag=9\r\nTo: <sip:b@10.0.0.2>\r\n"
                  b"Call-ID: oo1\r\nCSeq: 7 " + method.encode() + b"\r\n\r\n")
    p.net.inject(data, X, B)
    p.net.run()
    (resp,) = [parse_message(d) for d in p.net.outsider[X]]
    assert resp.status == status and resp.cseq == (7, method)
    if status in (200, 405, 501):
        assert "INVITE" in resp.get("Allow")
    if status == 200:
        assert resp.get("Accept") == "application/sdp"


def test_in_dialog_request_for_an_unknown_dialog_gets_481_and_unknown_require_420():
    p = Pair()
    p.net.inject(b"INFO sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKq\r\n"
                 b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>;tag=nope\r\nCall-ID: zz\r\n"
                 b"CSeq: 1 INFO\r\n\r\n", X, B)
    p.net.inject(b"INVITE sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKr\r\n"
                 b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: zy\r\n"
                 b"CSeq: 1 INVITE\r\nRequire: 100rel, timer\r\n\r\n", X, B)
    p.net.run()
    resps = [parse_message(d) for d in p.net.outsider[X]]
    # the 420 is resent (Timer G) since this peer never ACKs it
    assert [r.status for r in resps if r.status != 100][:2] == [481, 420]
    assert next(r for r in resps if r.status == 420).get("Unsupported") == "100rel"
    assert p.names(B) == []


@pytest.mark.parametrize("raw, answered", [
    (b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKm\r\n"
     b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\n"
     b"Content-Length: 900\r\n\r\nv=0", True),
    (b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKm\r\n"
     b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\n"
     b"Content-Type: application/sdp\r\n\r\nv=0\r\nbogus\r\n", True),     # bad SDP
    (b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKm\r\n"
     b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\n"
     b"Contact: <sip:broken\r\n\r\n", True),                                # bad Contact
    (b"ACK sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKm\r\n"
     b"CSeq: x ACK\r\n\r\n", False),
    (b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", False),
    (b"\x00\xff garbage", False),
])
def test_malformed_requests_get_400_or_are_dropped(raw, answered):
    p = Pair()
    p.net.inject(raw, X, B)
    p.net.run()
    finals = [r for r in (parse_message(d) for d in p.net.outsider.get(X, []))
              if r.status >= 200]
    assert {r.status for r in finals} == ({400} if answered else set())
    assert p.names(B) == []


def test_rfc2543_peer_without_branch_cookie_is_served():
    p = Pair()
    req = (b"OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060\r\n"
           b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: old\r\nCSeq: 1 OPTIONS\r\n\r\n")
    p.net.inject(req, X, B)
    p.net.inject(req, X, B)
    p.net.run()
    assert [parse_message(d).status for d in p.net.outsider[X]] == [200, 200]


def test_ua_events_carry_their_call():
    p = Pair()
    call = p.call()
    p.net.run(until=1)
    p.a.bye(call, p.net.now)
    p.net.run()
    for ev in p.net.events[A]:
        assert ev.call is call
    assert {type(e) for e in p.net.events[B]} == {IncomingCall, CallConfirmed, CallEnded}
    assert not any(isinstance(e, (CallRinging, SessionRefreshed)) for e in p.net.events[A])
    assert CallConfirmed not in {type(e) for e in p.net.events[A]}


def test_late_invite_copy_after_the_ack_is_absorbed():
    """RFC 6026: the INVITE server transaction stays (Accepted) 64*T1 after its 2xx, so
    a copy of the INVITE delayed in the network past the ACK is not a second call."""
    p = Pair()
    p.call()
    p.net.run(until=5)
    invite = next(d for t, s, _, d in p.net.wire if s == A and d.startswith(b"INVITE"))
    p.net.inject(invite, A, B)
    p.net.run(until=10)
    assert p.names(B).count("IncomingCall") == 1
    assert len(p.b.calls) == 1


def test_cancel_goes_after_a_100_trying():
    """RFC 3261 §9.1: any provisional response, 100 included, lets the CANCEL go."""
    p = Pair(b_answer="none")
    call = p.call()
    p.net.run(until=1)
    assert call.state is CallState.CALLING          # only 100 Trying came
    p.a.cancel(call, p.net.now)
    p.net.run()
    assert p.lines(A, "CANCEL") == [1.0]
    assert p.ended(A).reason is EndReason.CANCELLED and p.ended(B).reason is \
        EndReason.CANCELLED


def test_actions_default_to_the_latest_time_the_ua_was_given():
    p = Pair()
    p.net.run(until=7.0)
    p.a.receive_datagram(b"junk", X, 7.0)
    call = p.a.invite("sip:nobody@10.0.0.7", offer_sdp(p.oa))     # no now: 7.0
    p.net.run()
    # the retransmission timers count from 7.0 (with a default of 0.0 they were all due)
    assert p.lines(A, "INVITE") == [7.0, 7.5, 8.5, 10.5, 14.5, 22.5, 38.5]
    assert p.ended(A).reason is EndReason.TIMEOUT and call.state is CallState.ENDED


def test_record_route_set_is_used_for_in_dialog_requests():
    """A proxy (X) record-routes: A's ACK and BYE go to the proxy with a Route header,
    their Request-URI is B's Contact (loose routing, RFC 3261 §12.2.1.1)."""
    net = SipNetwork()
    ua = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(4),
                   session_expires=None)
    net.add(A, ua)
    call = ua.invite("sip:b@example.com", offer_sdp(S.SdpOriginator("10.0.0.1", 1)), 0.0,
                     proxy=X)
    net.run(until=0.1)
    (inv,) = _outsider_requests(net, "INVITE")
    assert inv.uri == "sip:b@example.com"
    body = S.answer(S.parse_sdp(inv.body), S.LocalMedia("10.0.0.2", 5000)).to_bytes()
    net.inject(_reply(inv, 200, "OK", [("Record-Route", "<sip:10.0.0.9;lr>"),
                                       ("Contact", "<sip:b@10.0.0.2:5070>")], body), X, A)
    net.run(until=0.2)
    ua.bye(call, net.now)
    net.run(until=0.3)
    for method in ("ACK", "BYE"):
        (req,) = _outsider_requests(net, method)
        assert req.uri == "sip:b@10.0.0.2:5070" and req.get("Route") == "<sip:10.0.0.9;lr>"


def test_offerless_invite_gets_our_offer_and_the_answer_comes_in_the_ack():
    net = SipNetwork()
    ua = UserAgent("sip:b@10.0.0.2", "sip:b@10.0.0.2:5060", rng=random.Random(6))
    origin = S.SdpOriginator("10.0.0.2", 5)
    net.add(B, ua, lambda ev: ua.answer(ev.call, offer_sdp(origin, 5000), net.now)
            if isinstance(ev, IncomingCall) else None)
    net.inject(b"INVITE sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;"
               b"branch=z9hG4bKol\r\nFrom: <sip:x@10.0.0.9>;tag=xo\r\nTo: <sip:b@10.0.0.2>"
               b"\r\nCall-ID: offerless\r\nCSeq: 1 INVITE\r\nContact: <sip:x@10.0.0.9>\r\n\r\n",
               X, B)
    net.run(until=0.1)
    ok = next(r for r in (parse_message(d) for d in net.outsider[X]) if r.status == 200)
    offer = S.parse_sdp(ok.body)
    ans = S.answer(offer, S.LocalMedia("10.0.0.9", 7000)).to_bytes()
    net.inject(b"ACK sip:b@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;"
               b"branch=z9hG4bKoa\r\nFrom: <sip:x@10.0.0.9>;tag=xo\r\nTo: "
               + ok.get("To").encode() + b"\r\nCall-ID: offerless\r\nCSeq: 1 ACK\r\n"
               b"Content-Type: application/sdp\r\nContent-Length: "
               + str(len(ans)).encode() + b"\r\n\r\n" + ans, X, B)
    net.run(until=1)
    first, confirmed = net.events[B]
    assert isinstance(first, IncomingCall) and first.sdp is None
    assert isinstance(confirmed, CallConfirmed) and confirmed.sdp.media[0].port == 7000
    assert first.call.remote_sdp.media[0].port == 7000


@pytest.mark.parametrize("expires", ["9" * 400, "²", "4294967296000"])
def test_a_registrar_granting_absurd_expiry_is_clamped(expires):
    """Fuzz finding: 'Expires: 999...9' overflowed float arithmetic out of the UA; a
    non-ASCII digit crashed int(). The grant is clamped to 2**32-1 s or ignored."""
    net = SipNetwork()
    ua = UserAgent("sip:fax@10.0.0.1", "sip:fax@10.0.0.1:5060", rng=random.Random(5))
    net.add(A, ua)
    ua.register("sip:10.0.0.9", "fax", "secret", expires=120, now=0.0)
    net.run(until=0.1)
    (r1,) = _outsider_requests(net, "REGISTER")
    net.inject(_reply(r1, 200, "OK", [("Expires", expires)]), X, A)
    net.run(until=1)
    (ev,) = net.events[A]
    assert isinstance(ev, Registered) and ev.expires in (120, 2 ** 32 - 1)


def test_responses_copy_each_via_value_and_mark_the_top_one():
    """A comma-joined Via line: received= belongs on the first value (it was appended to
    the end of the line, i.e. to the second Via), and each value is its own line."""
    p = Pair()
    p.net.inject(b"OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;"
                 b"branch=z9hG4bKv1;rport, SIP/2.0/UDP 10.0.0.8;branch=z9hG4bKv0\r\n"
                 b"From: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: vv\r\n"
                 b"CSeq: 1 OPTIONS\r\n\r\n", X, B)
    p.net.run()
    (resp,) = [parse_message(d) for d in p.net.outsider[X]]
    top, second = resp.vias
    assert top.params["received"] == "10.0.0.9" and top.params["rport"] == "5060"
    assert "received" not in second.params and second.branch == "z9hG4bKv0"
    assert len(resp.get_lines("Via")) == 2
