"""Digest authentication (faxcore.sip.digest) against the RFC 2617 §3.5 example and a
SHA-256 answer computed here independently with hashlib."""

from __future__ import annotations

import hashlib

import pytest

from faxcore.sip.digest import (
    DigestError,
    authorization,
    digest_response,
    parse_challenge,
    parse_credentials,
)


def test_rfc2617_section_3_5_example():
    assert digest_response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                           "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                           "auth", "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_sha256_with_qop_matches_hashlib():
    ch = parse_challenge('Digest realm="sip.example", nonce="n0nce", algorithm=SHA-256, '
                         'qop="auth,auth-int", opaque="op"')
    value = authorization(ch, "REGISTER", "sip:sip.example", "fax", "secret", 3, "c1")
    p = parse_credentials(value)

    def h(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()

    want = h(f"{h('fax:sip.example:secret')}:n0nce:00000003:c1:auth:"
             f"{h('REGISTER:sip:sip.example')}")
    assert p["response"] == want
    assert (p["nc"], p["qop"], p["cnonce"], p["opaque"], p["algorithm"]) == \
        ("00000003", "auth", "c1", "op", "SHA-256")


def test_md5_without_qop_is_rfc2069_style():
    ch = parse_challenge('Digest realm="r", nonce="abc"')
    p = parse_credentials(authorization(ch, "INVITE", "sip:x@y", "u", "p"))

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    assert p["response"] == md5(f"{md5('u:r:p')}:abc:{md5('INVITE:sip:x@y')}")
    assert "qop" not in p and "nc" not in p


@pytest.mark.parametrize("bad", ['Basic realm="r"', 'Digest realm="r"',
                                 'Digest realm="r", nonce="n", algorithm=SHA-512',
                                 'Digest realm="r", nonce="n", qop="auth-int"',
                                 'Digest realm="r", nonce="n", algorithm=MD5-sess'])
def test_challenges_we_cannot_answer(bad):
    with pytest.raises(DigestError):
        parse_challenge(bad)


def test_a_challenge_with_non_utf8_octets_is_answered_over_those_octets():
    """Fuzz finding: a realm with octets that are not UTF-8 (kept as surrogate escapes by
    the parser) made hashing raise UnicodeEncodeError out of the UA."""
    realm = b"r\xff\xfe".decode("utf-8", "surrogateescape")
    ch = parse_challenge(f'Digest realm="{realm}", nonce="n"')
    p = parse_credentials(authorization(ch, "REGISTER", "sip:h", "u", "pw"))

    def md5(b: bytes) -> str:
        return hashlib.md5(b).hexdigest()

    want = md5(f"{md5(b'u:r' + bytes([0xff, 0xfe]) + b':pw')}:n:{md5(b'REGISTER:sip:h')}"
               .encode())
    assert p["response"] == want
