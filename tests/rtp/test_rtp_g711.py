"""G.711 for RTP (faxcore.rtp.g711): every one of the 65 536 int16 samples encodes, and
every one of the 256 codes decodes, exactly as an independent per-sample reference (the
segment/quantisation rules of G.711 written out as a scalar loop, 16-bit input as
spandsp's g711.h takes it) and as spandsp itself does; the quantiser is the nearest
level; the idle codes; the API refuses what is not G.711."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.rtp import g711
from faxcore.rtp.g711 import PCMA, PCMU
from faxcore.testing.spandsp import modems as spandsp

ALL = np.arange(-32768, 32768, dtype=np.int16)
CODES = bytes(range(256))


def ref_ulaw(x: int) -> int:
    """µ-law: magnitude + 132, segment = the magnitude's top bit - 7, 4 mantissa bits,
    everything inverted, so the sign bit ends 1 for non-negative samples."""
    mag = abs(x) + 0x84
    seg = 0
    while seg < 8 and mag >= 256 << seg:
        seg += 1
    code = 0x7F if seg >= 8 else (seg << 4) | ((mag >> (seg + 3)) & 0xF)
    return (code | (0x80 if x < 0 else 0)) ^ 0xFF


def ref_alaw(x: int) -> int:
    """A-law: one's-complement magnitude, segment 0 is linear (shift 4), then shift
    seg + 3; even bits inverted (0x55); sign bit 1 for non-negative samples."""
    mag = -x - 1 if x < 0 else x
    seg = 0
    while seg < 8 and mag >= 256 << seg:
        seg += 1
    if seg >= 8:
        code = 0x7F
    else:
        code = (seg << 4) | ((mag >> (4 if seg == 0 else seg + 3)) & 0xF)
    return (code | (0 if x < 0 else 0x80)) ^ 0x55


def ref_ulaw_decode(c: int) -> int:
    c ^= 0xFF
    seg = (c >> 4) & 7
    mag = ((((c & 0xF) << 3) + 0x84) << seg) - 0x84
    return -mag if c & 0x80 else mag


def ref_alaw_decode(c: int) -> int:
    c ^= 0x55
    seg = (c >> 4) & 7
    t = (c & 0xF) << 4
    mag = t + 8 if seg == 0 else (t + 0x108) << (seg - 1)
    return mag if c & 0x80 else -mag


REF = {PCMU: (ref_ulaw, ref_ulaw_decode), PCMA: (ref_alaw, ref_alaw_decode)}


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_every_sample_and_code_matches_the_reference(pt):
    enc, dec = REF[pt]
    want = bytes(enc(int(x)) for x in ALL)
    assert g711.encode(ALL, pt) == want
    got = g711.decode(CODES, pt)
    assert got.dtype == np.int16
    assert got.tolist() == [dec(c) for c in CODES]


@pytest.mark.parametrize("pt,law", [(PCMU, "ulaw"), (PCMA, "alaw")])
def test_every_sample_and_code_matches_spandsp(pt, law):
    assert g711.encode(ALL, pt) == spandsp.g711_encode(ALL, law)
    assert np.array_equal(g711.decode(CODES, pt), spandsp.g711_decode(CODES, law))


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_each_sample_decodes_within_half_a_step(pt):
    """The reconstruction level is the middle of the decision interval the sample fell
    in: within half the step of its segment (µ-law 8·2^seg, A-law 16·2^(seg-1) and 16 in
    segment 0, in 16-bit units), outside the clipped top of the range; and every code
    is a fixed point (decode then encode gives it back; µ-law's -0, 0x7F, becomes +0)."""
    x = ALL.astype(np.int64)
    codes = np.frombuffer(g711.encode(ALL, pt), np.uint8).astype(np.int64)
    y = g711.decode(g711.encode(ALL, pt), pt).astype(np.int64)
    seg = ((codes ^ (0xFF if pt == PCMU else 0x55)) >> 4) & 7
    step = 8 << seg if pt == PCMU else 16 << np.maximum(seg - 1, 0)
    inside = np.abs(y) < np.abs(g711.decode(CODES, pt).astype(np.int64)).max()
    assert (np.abs(x - y)[inside] <= step[inside] // 2).all()
    again = np.frombuffer(g711.encode(g711.decode(CODES, pt), pt), np.uint8)
    fixed = again == np.frombuffer(CODES, np.uint8)
    assert fixed.sum() == (255 if pt == PCMU else 256)
    assert pt != PCMU or (not fixed[0x7F] and again[0x7F] == 0xFF)


def test_silence_codes():
    z = np.zeros(5, np.int16)
    assert g711.encode(z, PCMU) == b"\xff" * 5 and g711.encode(z, PCMA) == b"\xd5" * 5
    assert g711.SILENCE == {PCMU: 0xFF, PCMA: 0xD5}
    assert g711.decode(b"\xff", PCMU).tolist() == [0]


def test_other_integer_dtypes_are_clipped_and_floats_refused():
    big = np.array([-100000, 40000, 5], np.int64)
    assert g711.encode(big, PCMU) == g711.encode(np.array([-32768, 32767, 5], np.int16), PCMU)
    with pytest.raises(ValueError, match="integer"):
        g711.encode(np.array([0.5]), PCMU)
    with pytest.raises(ValueError, match="not G.711"):
        g711.encode(np.zeros(3, np.int16), 9)
    with pytest.raises(ValueError, match="not G.711"):
        g711.decode(b"abc", 101)


def test_a_strided_view_encodes_like_its_copy():
    x = ALL[::7]
    assert g711.encode(x, PCMA) == g711.encode(x.copy(), PCMA)
