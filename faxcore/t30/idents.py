"""Identification strings: TSI, CSI, CIG (and SUB, SID, PWD, SEP, PSA).

The FIF is exactly 20 octets. The string is sent last character first and padded with
spaces at the end of the FIF, so "+0123456789" goes out as "9876543210+" and nine
spaces. T.30 allows digits, '+' and space; we send any printable ASCII (as HylaFAX
accepts on receive) and refuse anything else.

On receipt anything is taken: a FIF longer than 20 octets is read whole (some machines
send longer identities; its first octets are the *end* of the string, so cutting the
FIF at 20 octets would drop the start of a number, its country code), and octets
outside printable ASCII are dropped. At most RX_IDENT_MAX characters are kept (the
start of the string), so a hostile frame cannot put kilobytes into a result.
"""

from __future__ import annotations

IDENT_LEN = 20
RX_IDENT_MAX = 64  # characters kept of a received identity (T.30 sends 20)


def encode_ident(text: str) -> bytes:
    """A string of up to 20 printable ASCII characters -> the 20-octet FIF."""
    if len(text) > IDENT_LEN:
        raise ValueError(f"identifier longer than {IDENT_LEN} characters: {text!r}")
    if any(not (0x20 <= ord(c) < 0x7F) for c in text):
        raise ValueError(f"identifier has characters outside printable ASCII: {text!r}")
    return text[::-1].encode("ascii").ljust(IDENT_LEN, b" ")


def decode_ident(fif: bytes) -> str:
    """The FIF of an identifier frame -> the string (reversed back, trimmed).

    Tolerant: any length is accepted (all of it read, the first RX_IDENT_MAX characters
    of the string kept) and non-printable octets are dropped."""
    chars = "".join(chr(b) for b in bytes(fif) if 0x20 <= b < 0x7F)
    return chars[::-1].strip()[:RX_IDENT_MAX].rstrip()
