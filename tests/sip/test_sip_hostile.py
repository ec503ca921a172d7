"""Hostile datagrams against the user agent, through the registered fuzz targets
(faxcore.testing.fuzz TARGETS["sip"] / ["sdp"], whose promises are documented in
faxcore.testing.fuzz_sip): Hypothesis-generated mutations of the committed corpus and
token soups. A target raises only when a promise broke (an exception out of the UA, a
datagram we sent that does not parse, timers that never rest)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faxcore.testing.fuzz import TARGETS, corpus_cases
from faxcore.testing.paths import CORPUS

SIP = TARGETS["sip"]
SDP = TARGETS["sdp"]
SIP_CORPUS = [c.data for c in corpus_cases(SIP, CORPUS)]
SDP_CORPUS = [c.data for c in corpus_cases(SDP, CORPUS)]


@st.composite
def mutated(draw, pool):
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 3))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            data[i:i] = draw(st.sampled_from([b"\r\n", b";tag=", b",", b"<", b"\"", b"0",
                                              b"99999999999", b" ", b"\r\n\r\n", b":"]))
        elif op == 2:
            j = draw(st.integers(i, min(len(data), i + 40)))
            del data[i:j]
        else:
            data += draw(st.binary(max_size=20))
    return bytes(data)


@settings(max_examples=150)
@given(mutated(SIP_CORPUS))
def test_mutated_sip_datagrams_keep_the_ua_promises(data):
    SIP.run(data, {})


@settings(max_examples=300)
@given(mutated(SDP_CORPUS))
def test_mutated_sdp_offers_are_answered_within_the_rules(data):
    SDP.run(data, {})


def test_the_corpus_covers_every_ua_state():
    """The seed datagrams reach the states they were made for: an IncomingCall on a
    fresh UA, a ReInviteOffer in a confirmed call, a CallAnswered for the caller whose
    INVITE waits, a Registered after the registrar's 200, a CANCEL answered 487."""
    sigs = {c.label.rsplit("/", 1)[1]: SIP.run(c.data, {}) for c in corpus_cases(SIP, CORPUS)}

    def role(name, r):
        return next(x for x in sigs[name][1:] if x[0] == r)

    assert "IncomingCall" in role("a-invite-1.bin", "fresh")[1]
    assert "ReInviteOffer" in role("a-invite-2.bin", "callee")[1]
    assert "CallAnswered" in role("b-200-1.bin", "calling")[1]
    assert "Registered" in role("registrar-200-1.bin", "registering")[1]
    assert 487 in role("a-cancel-1.bin", "ringing")[2]
    assert 400 in role("bad-sdp.bin", "fresh")[2]
    assert 501 in role("unknown-method.bin", "fresh")[2]
