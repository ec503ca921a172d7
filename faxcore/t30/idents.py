"""Identification strings: TSI, CSI, CIG (and SUB, SID, PWD, SEP, PSA).

The FIF is exactly 20 octets. The string is sent last character first and padded with
spaces at the end of the FIF, so "+0123456789" goes out as "9876543210+" and nine
spaces. T.30 allows digits, '+' and space; we send any printable ASCII (as HylaFAX
accepts on receive) and refuse anything else.
"""

from __future__ import annotations

IDENT_LEN = 20


def encode_ident(text: str) -> bytes:
    """A string of up to 20 printable ASCII characters -> the 20-octet FIF."""
    if len(text) > IDENT_LEN:
        raise ValueError(f"identifier longer than {IDENT_LEN} characters: {text!r}")
    if any(not (0x20 <= ord(c) < 0x7F) for c in text):
        raise ValueError(f"identifier has characters outside printable ASCII: {text!r}")
    return text[::-1].encode("ascii").ljust(IDENT_LEN, b" ")


def decode_ident(fif: bytes) -> str:
    """The FIF of an identifier frame -> the string (reversed back, trimmed).

    Tolerant: any length is accepted and non-printable octets are dropped."""
    chars = "".join(chr(b) for b in bytes(fif)[:IDENT_LEN] if 0x20 <= b < 0x7F)
    return chars[::-1].strip()
