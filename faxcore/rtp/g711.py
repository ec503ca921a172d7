"""G.711 for RTP: PCMU (µ-law, payload type 0) and PCMA (A-law, payload type 8),
RFC 3551 §4.5.14. int16 numpy samples in, one octet per sample out, and back.

    codes = encode(samples, PCMU)     # int16 array -> bytes
    samples = decode(codes, PCMA)     # bytes -> int16 array

Bit-exact with the reference coders (spandsp's g711.h, which faxcore's peers use): the
16-bit sample is quantised directly (µ-law with the 0x84 bias on the magnitude, negative
values without a one's-complement offset; A-law on the one's complement of negative
values), the segment being the position of the magnitude's top bit. Both directions are
table lookups (65 536 entries to encode, 256 to decode), built once at import from the
segment formulas below; tests/rtp/test_g711.py checks every table entry against an
independent per-sample computation and against spandsp.

This is a copy of the law, not an import of :mod:`faxcore.modem.g711`: ``faxcore.rtp`` is a
network core on the same layer as ``faxcore.modem`` and may not import it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PCMA", "PCMU", "SILENCE", "decode", "decode_table", "encode", "encode_table",
           "law_of"]

#: RTP static payload types (RFC 3551 table 4)
PCMU = 0
PCMA = 8
#: the code of a zero sample, per payload type
SILENCE = {PCMU: 0xFF, PCMA: 0xD5}

_ULAW_BIAS = 0x84


def _segment(mag: np.ndarray) -> np.ndarray:
    """Segment of a magnitude: 0 below 256, then one per doubling (8 or more: clip).
    The top bit found by comparing against powers of two (exact, no floating point)."""
    return np.searchsorted(1 << np.arange(8, 17), mag, side="right")


def _ulaw_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int64)
    mag = np.abs(x) + _ULAW_BIAS          # |x| + bias, up to 32768 + 132
    seg = _segment(mag)
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4)
                    | ((mag >> (np.minimum(seg, 7) + 3)) & 0x0F))
    # µ-law sends the inverted code; bit 7 clear for negative samples
    return np.where(x < 0, code ^ 0x7F, code ^ 0xFF).astype(np.uint8)


def _alaw_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int64)
    mag = np.where(x < 0, -x - 1, x)      # one's complement for negatives
    seg = _segment(mag)
    segc = np.minimum(seg, 7)
    code = np.where(seg >= 8, 0x7F,
                    (segc << 4) | ((mag >> np.where(segc == 0, 4, segc + 3)) & 0x0F))
    # A-law inverts the even bits; bit 7 set for positive samples
    return np.where(x < 0, code ^ 0x55, code ^ 0xD5).astype(np.uint8)


def _ulaw_decode_table() -> np.ndarray:
    c = np.arange(256, dtype=np.int64) ^ 0xFF
    seg = (c >> 4) & 0x07
    mag = (((c & 0x0F) << 3) + _ULAW_BIAS << seg) - _ULAW_BIAS
    return np.where(c & 0x80, -mag, mag).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    c = np.arange(256, dtype=np.int64) ^ 0x55
    seg = (c >> 4) & 0x07
    step = (c & 0x0F) << 4
    mag = np.where(seg == 0, step + 8, (step + 0x108) << np.maximum(seg - 1, 0))
    return np.where(c & 0x80, mag, -mag).astype(np.int16)


_ENCODE = {PCMU: _ulaw_table(), PCMA: _alaw_table()}
_DECODE = {PCMU: _ulaw_decode_table(), PCMA: _alaw_decode_table()}
for _t in (*_ENCODE.values(), *_DECODE.values()):
    _t.flags.writeable = False


def law_of(payload_type: int) -> bool:
    """True if ``payload_type`` is a G.711 one (PCMU or PCMA)."""
    return payload_type in _ENCODE


def encode_table(payload_type: int) -> np.ndarray:
    """The read-only 65 536-entry table: code of sample x at index x + 32768 (the int16
    sample viewed as uint16 with its top bit flipped)."""
    return _ENCODE[_law(payload_type)]


def decode_table(payload_type: int) -> np.ndarray:
    """The read-only 256-entry int16 table: the sample of each code."""
    return _DECODE[_law(payload_type)]


def _law(payload_type: int) -> int:
    if payload_type not in _ENCODE:
        raise ValueError(f"payload type {payload_type} is not G.711 (PCMU 0 or PCMA 8)")
    return payload_type


def encode(samples: np.ndarray, payload_type: int) -> bytes:
    """int16 samples -> G.711 octets, one per sample. Other integer dtypes are clipped
    to the int16 range first; floats are refused (``ValueError``)."""
    x = np.asarray(samples)
    if x.dtype != np.int16:
        if x.size and not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"G.711 encodes integer (int16) samples, not {x.dtype}")
        x = np.clip(x, -32768, 32767).astype(np.int16)
    # view as uint16 and flip the sign bit: the table index, without an int32 temporary
    idx = x.view(np.uint16) ^ np.uint16(0x8000)
    return _ENCODE[_law(payload_type)][idx].tobytes()


def decode(data: bytes | bytearray | memoryview, payload_type: int) -> np.ndarray:
    """G.711 octets -> int16 samples (a new array)."""
    return _DECODE[_law(payload_type)][np.frombuffer(data, dtype=np.uint8)]
