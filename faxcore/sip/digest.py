"""HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616/8760 SHA-256).

A 401 carries ``WWW-Authenticate`` and is answered with ``Authorization``; a 407 carries
``Proxy-Authenticate`` and is answered with ``Proxy-Authorization``. With ``qop=auth``::

    HA1 = H(user:realm:password)      HA2 = H(method:uri)
    response = H(HA1:nonce:nc:cnonce:auth:HA2)

and without qop (RFC 2069 compatibility) ``response = H(HA1:nonce:HA2)``. ``H`` is MD5 or
SHA-256 as the challenge's ``algorithm`` says. ``-sess`` variants and ``auth-int`` are not
supported: :func:`parse_challenge` rejects them with :class:`DigestError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from faxcore.sip.message import SipParseError, parse_params, split_list

__all__ = ["Challenge", "DigestError", "authorization", "digest_response", "parse_challenge",
           "parse_credentials"]

_HASHES = {"md5": hashlib.md5, "sha-256": hashlib.sha256}


class DigestError(ValueError):
    """A challenge we cannot answer (not Digest, unknown algorithm or qop)."""


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def _auth_params(value: str) -> tuple[str, dict[str, str | None]]:
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str | None] = {}
    for item in split_list(rest):
        try:
            params.update(parse_params(item))
        except SipParseError as exc:
            raise DigestError(str(exc)) from None
    return scheme, params


def parse_challenge(value: str) -> Challenge:
    """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value -> :class:`Challenge`."""
    scheme, p = _auth_params(value)
    if scheme.lower() != "digest":
        raise DigestError(f"auth scheme {scheme[:20]!r} is not Digest")
    realm, nonce = p.get("realm"), p.get("nonce")
    if realm is None or not nonce:
        raise DigestError("challenge without realm or nonce")
    algorithm = p.get("algorithm") or "MD5"
    if algorithm.lower() not in _HASHES:
        raise DigestError(f"algorithm {algorithm[:20]!r} not supported")
    qop = tuple(q.strip().lower() for q in (p.get("qop") or "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise DigestError(f"qop {qop} offers no 'auth'")
    return Challenge(realm, nonce, algorithm, qop, p.get("opaque"),
                     (p.get("stale") or "").lower() == "true")


def parse_credentials(value: str) -> dict[str, str | None]:
    """An ``Authorization`` value's parameters (for servers and tests)."""
    scheme, p = _auth_params(value)
    if scheme.lower() != "digest":
        raise DigestError(f"auth scheme {scheme[:20]!r} is not Digest")
    return p


def digest_response(algorithm: str, user: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, qop: str | None = None, nc: str = "",
                    cnonce: str = "") -> str:
    """The ``response=`` value (hex digest)."""
    try:
        h = _HASHES[algorithm.lower()]
    except KeyError:
        raise DigestError(f"algorithm {algorithm!r} not supported") from None

    def hx(s: str) -> str:
        # surrogate escapes stand for the octets as received: hash those octets
        return h(s.encode("utf-8", "surrogateescape")).hexdigest()

    ha1 = hx(f"{user}:{realm}:{password}")
    ha2 = hx(f"{method}:{uri}")
    if qop:
        return hx(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return hx(f"{ha1}:{nonce}:{ha2}")


def authorization(ch: Challenge, method: str, uri: str, user: str, password: str,
                  nc: int = 1, cnonce: str = "") -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` header value answering ``ch``.
    ``cnonce`` is required when the challenge offers qop=auth."""
    qop = "auth" if "auth" in ch.qop else None
    ncs = f"{nc:08x}"
    resp = digest_response(ch.algorithm, user, ch.realm, password, method, uri, ch.nonce,
                           qop, ncs, cnonce)
    parts = [f'username="{user}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"',
             f'uri="{uri}"', f'response="{resp}"', f"algorithm={ch.algorithm}"]
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    if qop:
        parts += [f"qop={qop}", f"nc={ncs}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(parts)
