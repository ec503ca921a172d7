"""G.711 µ-law / A-law: bit-exact with spandsp's coder (exhaustive), sane on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.modem import g711
from faxcore.testing.spandsp import modems as sp

ALL = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.parametrize("law", g711.LAWS)
def test_encode_all_16bit_values_match_spandsp(law):
    ours = g711.encode(ALL, law)
    assert ours == sp.g711_encode(ALL, law)


@pytest.mark.parametrize("law", g711.LAWS)
def test_decode_all_codes_match_spandsp(law):
    codes = bytes(range(256))
    np.testing.assert_array_equal(g711.decode(codes, law), sp.g711_decode(codes, law))


def test_digital_milliwatt_sequences():
    # the 1 kHz 0 dBm0 sequences of G.711 decode to RMS ~16 139 (A) and ~16 017 (µ)
    a = g711.decode(bytes([0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]), "alaw")
    u = g711.decode(bytes([0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]), "ulaw")
    assert round(float(np.sqrt(np.mean(a.astype(float) ** 2)))) in range(16100, 16180)
    assert round(float(np.sqrt(np.mean(u.astype(float) ** 2)))) in range(15980, 16060)
    assert a[1] < 0 < a[5] and u[1] < 0 < u[5]
    np.testing.assert_array_equal(np.sign(a), np.sign(u))


@pytest.mark.parametrize("law", g711.LAWS)
def test_roundtrip_is_idempotent_and_close(law):
    once = g711.roundtrip(ALL, law)
    np.testing.assert_array_equal(g711.roundtrip(once, law), once)
    err = np.abs(once.astype(np.int64) - ALL)
    # quantisation step is at most 1/16 of the magnitude (plus the smallest step)
    assert np.all(err <= np.abs(ALL.astype(np.int64)) // 16 + 16)


def test_silence_and_idle_codes():
    assert g711.encode(np.zeros(3, np.int16), "ulaw") == bytes([0xFF]) * 3
    assert g711.encode(np.zeros(3, np.int16), "alaw") == bytes([0xD5]) * 3
    assert g711.decode(bytes([g711.ULAW_IDLE]), "ulaw")[0] == 0


def test_transcode_keeps_signal():
    x = (8000 * np.sin(np.arange(800) * 0.3)).astype(np.int16)
    u = g711.encode(x, "ulaw")
    back = g711.decode(g711.ulaw_to_alaw(u), "alaw").astype(float)
    assert np.max(np.abs(back - x)) < 600


def test_bad_input():
    with pytest.raises(ValueError):
        g711.encode(np.zeros(4, np.int16), "slaw")
    with pytest.raises(ValueError):
        g711.encode(np.zeros(4), "ulaw")
    with pytest.raises(ValueError):
        g711.decode(np.array([300]), "alaw")
    # out-of-range integers are saturated, not wrapped
    assert g711.encode(np.array([40000, -40000]), "ulaw") == g711.encode(
        np.array([32767, -32768], np.int16), "ulaw")
