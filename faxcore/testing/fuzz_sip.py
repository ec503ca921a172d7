"""Fuzz targets for faxcore.sip, registered by :mod:`faxcore.testing.fuzz`.

``FUZZ`` lists ``(name, run, max_len)``: ``run(data, opts) -> signature`` feeds hostile
bytes to the parser and raises only when a promise broke (see faxcore.testing.fuzz);
``name`` is also the corpus directory tests/corpus/<name>/.

* ``sip``: one datagram. Parsed (only ``SipParseError`` escapes; a parsed message
  serializes to bytes that parse to the same start line, headers and body), then given
  twice (the second time as a retransmission) to a user agent in each of seven states,
  all built the same way every time (fixed seeds, so the corpus's datagrams carry the
  Call-IDs, tags and branches those dialogs expect): a fresh UA; the callee and the
  caller of a confirmed call; a caller whose INVITE is unanswered; a callee still
  ringing; a caller whose re-INVITE is pending; a UA registering. Then its timers run
  two minutes of virtual time (past Timer B/F/H/L, the session timer's refresh and
  expiry, a registration refresh). Promises: nothing raises; everything the UA sends parses
  (except a ``400`` echoing a malformed request's own header lines), the timers come to
  rest or keep a bounded pace.
* ``sdp``: one SDP body. Parsed (only ``SdpParseError`` escapes), then answered
  (:func:`faxcore.sip.sdp.answer`). Promises: the answer has one m-line per offered one,
  parses again, and claims no T.38 boolean the offer lacked; T.38 version is at most the
  offer's.

:func:`seed_datagrams` makes the valid datagrams of those flows (the committed corpus of
``sip`` was written from it, plus hostile regression inputs).
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Hashable, Mapping

from faxcore.sip import sdp as S
from faxcore.sip.message import MAX_HEADERS, Request, SipParseError, parse_message
from faxcore.sip.sdp import SdpParseError, parse_sdp
from faxcore.sip.ua import UserAgent
from faxcore.testing.sip_peer import SipNetwork, offer_sdp

__all__ = ["FUZZ", "ROLES", "build_role", "seed_datagrams"]

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)
R = ("10.0.0.9", 5060)
#: virtual time the timers run after the input, and the most timer steps allowed in it
RUN_FOR = 120.0
MAX_STEPS = 20000

LOCAL_B = S.LocalMedia("10.0.0.2", 5000, 5002, S.T38Params(version=3, fill_bit_removal=True))


def _pair(b_answer: bool = True, b_reinvite: bool = True):
    net = SipNetwork(delay=0.01)
    a = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(1),
                  credentials=("fax", "secret"), session_expires=90)
    b = UserAgent("sip:b@10.0.0.2", "sip:b@10.0.0.2:5060", rng=random.Random(2))
    ob = S.SdpOriginator("10.0.0.2", 2000)

    def on_b(ev) -> None:
        name = type(ev).__name__
        if name == "IncomingCall" and b_answer:
            b.answer(ev.call, S.answer(ev.sdp, LOCAL_B, ob), net.now)
        elif name == "ReInviteOffer" and b_reinvite:
            b.accept_reinvite(ev.call, S.answer(ev.sdp, LOCAL_B, ob), net.now)
    net.add(A, a)
    net.add(B, b, on_b)
    return net, a, b, S.SdpOriginator("10.0.0.1", 1000)


def build_role(role: str) -> tuple[UserAgent, tuple[str, int], float]:
    """A user agent in state ``role`` (one of :data:`ROLES`), the address the input
    comes from, and the current time."""
    if role == "fresh":
        return UserAgent("sip:b@10.0.0.2", "sip:b@10.0.0.2:5060", rng=random.Random(2)), R, 0.0
    if role == "registering":
        ua = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(1))
        ua.register("sip:10.0.0.9", "fax", "secret", 120, 0.0)
        ua.datagrams_to_send()
        return ua, R, 0.0
    net, a, b, oa = _pair(b_answer=role not in ("calling", "ringing"),
                          b_reinvite=role != "reinviting")
    call = a.invite("sip:b@10.0.0.2:5060", offer_sdp(oa), 0.0)
    if role == "calling":
        net.run(until=0.001)                       # the INVITE is on the wire, unanswered
        return a, B, net.now
    net.run(until=1.0)
    if role == "ringing":
        return b, A, net.now
    if role == "reinviting":
        a.reinvite(call, offer_sdp(oa, image_port=4002), net.now)
        net.run(until=1.5)
        return a, B, net.now
    return (b, A, net.now) if role == "callee" else (a, B, net.now)


ROLES = ("fresh", "callee", "caller", "calling", "ringing", "reinviting", "registering")


_BUILT: dict[str, tuple[bytes, tuple[str, int], float]] = {}


def _role(role: str) -> tuple[UserAgent, tuple[str, int], float]:
    """A private copy of the UA in ``role`` (built once, then copied per input through
    pickle, several times faster than deepcopy for the random generator's state)."""
    if role not in _BUILT:
        ua, src, now = build_role(role)
        _BUILT[role] = (pickle.dumps(ua), src, now)
    blob, src, now = _BUILT[role]
    return pickle.loads(blob), src, now


def _drain(ua: UserAgent, sent: list[bytes], events: list[str]) -> None:
    sent.extend(d for d, _ in ua.datagrams_to_send())
    events.extend(type(e).__name__ for e in ua.events())


def _check_sent(data: bytes) -> int:
    """Every datagram we send parses; a 400 may echo the bad lines it answers."""
    try:
        m = parse_message(data)
    except SipParseError:
        assert data.startswith(b"SIP/2.0 400 "), f"we sent an unparseable message: {data[:200]!r}"
        return 400
    return m.status if hasattr(m, "status") else 0


def _run_sip(data: bytes, opts: Mapping[str, int]) -> Hashable:
    try:
        msg = parse_message(data)
        kind = type(msg).__name__
    except SipParseError as exc:
        kind = "partial" if exc.message is not None else "error"
        msg = None
    # to_bytes() adds Content-Length when it was absent: one field more than we parsed,
    # which the header-count limit may then refuse
    if msg is not None and len(msg.headers) + (msg.get("Content-Length") is None) \
            <= MAX_HEADERS:
        again = parse_message(msg.to_bytes())

        def fields(m):
            # to_bytes() always writes Content-Length (last); the rest must come back as is
            return [h for h in m.headers if h[0] != "Content-Length"]
        assert fields(again) == fields(msg) and again.body == msg.body, "round trip"
        if isinstance(msg, Request):
            assert (again.method, again.uri) == (msg.method, msg.uri)
    sig: list[Hashable] = [kind]
    # bytes that do not parse at all are dropped before any state is looked at: one
    # role shows it (and keeps the target fast enough for 10^5 inputs a run)
    for role in ROLES if kind != "error" else ROLES[:1]:
        ua, src, now = _role(role)
        sent: list[bytes] = []
        events: list[str] = []
        _drain(ua, [], [])
        ua.receive_datagram(data, src, now)
        _drain(ua, sent, events)
        ua.receive_datagram(data, src, now + 0.01)
        _drain(ua, sent, events)
        steps, end = 0, now + RUN_FOR
        while (d := ua.next_deadline) is not None and d <= end:
            ua.handle_timer(d)
            _drain(ua, sent, events)
            steps += 1
            assert steps < MAX_STEPS, f"{role}: timers run away"
        # retransmissions repeat the same bytes: check each distinct datagram once
        statuses = tuple(sorted({_check_sent(s) for s in set(sent)}))
        sig.append((role, tuple(dict.fromkeys(events)), statuses))
    return tuple(sig)


_OURS = S.T38Params(version=3, fill_bit_removal=True, transcoding_mmr=True,
                    transcoding_jbig=True, udp_ec=S.UDP_FEC)
_LOCAL = S.LocalMedia("192.0.2.1", 4000, 4002, _OURS)


def _run_sdp(data: bytes, opts: Mapping[str, int]) -> Hashable:
    try:
        offer = parse_sdp(data)
    except SdpParseError as exc:
        return ("error", str(exc)[:20])
    ans = S.answer(offer, _LOCAL)
    assert len(ans.media) == len(offer.media)
    again = parse_sdp(ans.to_bytes())
    assert [m.port for m in again.media] == [m.port for m in ans.media]
    kinds = []
    for o, a in zip(offer.media, again.media, strict=True):
        if a.port == 0:
            kinds.append("rejected")
            continue
        if o.is_t38:
            po, pa = S.T38Params.from_media(o), S.T38Params.from_media(a)
            for flag in ("fill_bit_removal", "transcoding_mmr", "transcoding_jbig"):
                assert not getattr(pa, flag) or getattr(po, flag), f"claimed {flag}"
            assert pa.version <= po.version
            assert pa.rate_management == po.rate_management
            kinds.append(("t38", pa.version, pa.udp_ec))
        else:
            assert o.is_audio and a.fmts, "accepted a stream that is neither"
            kinds.append(("audio", tuple(a.fmts)))
    return tuple(kinds)


def seed_datagrams() -> dict[str, bytes]:
    """Valid datagrams for the ``sip`` target's roles, from the same fixed-seed flows:
    what the peer of each role sends (file stem -> datagram)."""
    out: dict[str, bytes] = {}
    net, a, b, oa = _pair()
    call = a.invite("sip:b@10.0.0.2:5060", offer_sdp(oa), 0.0)
    net.run(until=1.0)
    a.reinvite(call, offer_sdp(oa, image_port=4002), net.now)
    net.run(until=2.0)
    a.bye(call, net.now)
    net.run(until=3.0)
    wire = list(net.wire)
    # a cancelled call
    net, a, b, oa = _pair(b_answer=False)
    call = a.invite("sip:b@10.0.0.2:5060", offer_sdp(oa), 0.0)
    net.run(until=1.0)
    a.cancel(call, net.now)
    net.run(until=2.0)
    wire += [w for w in net.wire if w[3].startswith((b"CANCEL", b"SIP/2.0 487"))]
    # a registrar's challenge and acceptance for the "registering" role
    ua, _, _ = build_role("registering")
    reg = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(1))
    reg.register("sip:10.0.0.9", "fax", "secret", 120, 0.0)
    ((register, _),) = reg.datagrams_to_send()
    req = parse_message(register)
    for status, extra in ((401, 'WWW-Authenticate: Digest realm="r", nonce="n", qop="auth"'),
                          (200, "Contact: <sip:a@10.0.0.1:5060>;expires=60")):
        head = [f"SIP/2.0 {status} X", *(f"Via: {v}" for v in req.get_lines("Via")),
                f"From: {req.get('From')}", f"To: {req.get('To')};tag=r1",
                f"Call-ID: {req.call_id}", f"CSeq: {req.get('CSeq')}", extra]
        wire.append((0.0, R, A, ("\r\n".join(head) + "\r\n\r\n").encode()))
    names: dict[str, int] = {}
    for _, src, _, d in wire:
        first = d.split(b"\r\n", 1)[0].decode()
        word = first.split()[1] if first.startswith("SIP/2.0") else first.split()[0]
        who = {A: "a", B: "b"}.get(src, "registrar")
        key = f"{who}-{word.lower()}"
        names[key] = names.get(key, 0) + 1
        out[f"{key}-{names[key]}"] = d
    return out


FUZZ: tuple[tuple[str, Callable[[bytes, Mapping[str, int]], Hashable], int], ...] = (
    ("sip", _run_sip, 4096),
    ("sdp", _run_sdp, 4096),
)
