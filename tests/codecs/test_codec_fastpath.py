"""The fast decode paths of ``faxcore.codecs._t4`` give exactly what the plain reading gives.

The decoder has fast paths for busy pages (dithered photos, halftones): pixels written
straight into the packed row, MH and H-mode run pairs in one look-up, a 2-D hot loop for
V, P and short H modes. ``decode_packed(..., plain=True)`` runs the plain reading of the
algorithm instead (one code per look-up, changing elements rendered afterwards). Here both
decode many generated pages (Floyd-Steinberg dithered, Bayer halftones, noise of every
density, text-like rows, rows switching between sparse and busy, odd widths) and many
damaged streams (bit flips, cuts, inserted and zeroed bytes, random bytes), and must agree
on everything decode_packed returns: pixels, row count, bad rows, end marker, error
message, consumed and skipped bits. Undamaged pages must also come back as they were, and
libtiff's (tiffcp) strips of a dithered page decode to its pixels, and ours to libtiff's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs import _t4, encode, pack
from faxcore.codecs.tiff import tiff_bytes
from faxcore.testing.peers import require_tool

SCHEMES = {"mh": 0, "mr": 1, "mmr": 2}
WIDTHS = (1, 2, 7, 8, 63, 64, 65, 127, 200, 1728, 2432)


def smooth_grey(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """A random smooth picture, 0..255 (upsampled noise plus a gradient)."""
    coarse = rng.uniform(0, 255, (max(2, rows // 16 + 2), max(2, width // 16 + 2)))
    img = Image.fromarray(coarse.astype(np.float32)).resize((width, rows), Image.BICUBIC)
    grey = np.asarray(img) + np.linspace(-40, 40, width)[None, :]
    return np.clip(grey, 0, 255)


def dithered(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """Floyd-Steinberg error diffusion to 1 bit (Pillow's convert("1")): 1 = black."""
    img = Image.fromarray(smooth_grey(rng, rows, width).astype(np.uint8), "L")
    return (np.asarray(img.convert("1")) == 0).astype(np.uint8)


def halftone(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """An 8x8 Bayer ordered dither of a random smooth picture."""
    b2 = np.array([[0, 2], [3, 1]])
    b4 = np.block([[4 * b2, 4 * b2 + 2], [4 * b2 + 3, 4 * b2 + 1]])
    b8 = np.block([[4 * b4, 4 * b4 + 2], [4 * b4 + 3, 4 * b4 + 1]])
    y, x = np.mgrid[0:rows, 0:width]
    return (smooth_grey(rng, rows, width) / 4 > b8[y % 8, x % 8]).astype(np.uint8)


def noise(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """Independent pixels, a different black density on every row (0 to 1)."""
    p = rng.uniform(0, 1, (rows, 1))
    return (rng.uniform(0, 1, (rows, width)) < p).astype(np.uint8)


def text_like(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """Runs of every length, long white ones and short black ones (make-up codes)."""
    bm = np.zeros((rows, width), np.uint8)
    for r in range(rows):
        pos = int(rng.integers(0, 3000))
        while pos < width:
            run = int(rng.integers(1, 12))
            bm[r, pos:pos + run] = 1
            pos += run + int(rng.geometric(0.01 if r % 3 else 0.2))
    return bm


def switching(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """Bands of busy and sparse rows, and rows half busy: the decoder changes path (and
    its 2-D hot loop starts and stops) within rows and from row to row."""
    parts = [dithered(rng, rows, width), text_like(rng, rows, width), noise(rng, rows, width)]
    band = (np.arange(rows) // max(1, int(rng.integers(1, 5)))) % 3
    bm = np.choose(band[:, None], parts).astype(np.uint8)
    half = rng.integers(0, width + 1)
    bm[::5, half:] = 0
    bm[1::7, :half] = 1
    return bm


KINDS = {"dithered": dithered, "halftone": halftone, "noise": noise, "text": text_like,
         "switching": switching}


def decode_both(data: bytes, width: int, code: int, max_rows: int, k: int = 0,
                rows_given: bool = True) -> tuple:
    """decode_packed fast and plain; asserts that every returned field is the same."""
    fast = _t4.decode_packed(data, width, code, max_rows, k, rows_given, False)
    plain = _t4.decode_packed(data, width, code, max_rows, k, rows_given, True)
    assert fast[0].shape == plain[0].shape
    assert np.array_equal(fast[0], plain[0]), "pixels differ"
    assert fast[1:] == plain[1:], (fast[1:], plain[1:])
    return fast


def streams(bm: np.ndarray) -> dict[str, tuple[int, bytes]]:
    """The page coded in every scheme and layout the decoder meets."""
    p = pack(bm)
    return {
        "mh": (0, encode(p, "mh")),
        "mh-aligned": (0, encode(p, "mh", eol_align=True, min_row_bits=96)),
        "mr-k2": (1, encode(p, "mr", k=2)),
        "mr-k4": (1, encode(p, "mr", k=4, eol_align=True)),
        "mr-k1000": (1, encode(p, "mr", k=1000)),
        "mmr": (2, encode(p, "mmr")),
        "mmr-noeofb": (2, encode(p, "mmr", end_marker=False)),
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_fast_path_decodes_pages_as_plain_and_as_coded(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for width in WIDTHS:
        rows = int(rng.integers(20, 60))
        bm = KINDS[kind](rng, rows, width)
        want = pack(bm).data
        for name, (code, data) in streams(bm).items():
            out, nrows, bad, end_seen, error, _, _ = decode_both(data, width, code, rows)
            assert (nrows, bad, error) == (rows, [], None), (kind, width, name)
            assert np.array_equal(out, want), (kind, width, name)
            # without the row count: the page ends at its end marker or data
            out2 = decode_both(data, width, code, 65535, rows_given=False)[0]
            assert np.array_equal(out2, want), (kind, width, name)


def damage(rng: np.random.Generator, data: bytes) -> bytes:
    b = bytearray(data)
    how = int(rng.integers(0, 6))
    if how == 0:                                    # a few flipped bits
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(0, len(b) * 8))
            b[i // 8] ^= 0x80 >> (i % 8)
    elif how == 1:                                  # cut short
        del b[int(rng.integers(0, len(b))):]
    elif how == 2:                                  # bytes inserted
        i = int(rng.integers(0, len(b) + 1))
        b[i:i] = rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8).tobytes()
    elif how == 3:                                  # a burst of zeros (lost carrier)
        i = int(rng.integers(0, len(b)))
        b[i:i + int(rng.integers(1, 40))] = bytes(min(40, len(b) - i))
    elif how == 4:                                  # a burst of noise
        i = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 40))
        b[i:i + n] = rng.integers(0, 256, n).astype(np.uint8).tobytes()
    else:                                           # many flipped bits
        for _ in range(int(rng.integers(10, 200))):
            i = int(rng.integers(0, len(b) * 8))
            b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


@pytest.mark.parametrize("kind", list(KINDS))
def test_fast_path_handles_damaged_streams_as_plain(kind):
    """Partial results (bad rows replaced, resynchronisation, MMR stopping at the first
    error, error messages, consumed bits) are the same on both paths."""
    rng = np.random.default_rng(1000 + sum(map(ord, kind)))
    damaged_rows = 0
    for width in (7, 64, 65, 1728, 2432):
        rows = 40
        bm = KINDS[kind](rng, rows, width)
        for code, data in streams(bm).values():
            for _ in range(25):
                bad = damage(rng, data)
                for rows_given in (True, False):
                    res = decode_both(bad, width, code, rows if rows_given else 65535,
                                      k=int(rng.integers(0, 5)), rows_given=rows_given)
                    damaged_rows += len(res[2]) + (res[4] is not None)
    assert damaged_rows > 100           # the damage did reach the decoder's error paths


def test_fast_path_on_random_bytes_as_plain():
    rng = np.random.default_rng(77)
    for _ in range(300):
        n = int(rng.integers(0, 600))
        # biased bytes too: mostly-zero and mostly-one data hit EOLs and long codes
        bias = rng.choice([0.5, 0.1, 0.9])
        data = np.packbits(rng.uniform(0, 1, n * 8) < bias).tobytes()
        width = int(rng.choice([1, 5, 64, 100, 1728]))
        for code in (0, 1, 2):
            decode_both(data, width, code, int(rng.integers(1, 80)), k=int(rng.integers(0, 4)),
                        rows_given=bool(rng.integers(0, 2)))


# --------------------------------------------------------------------------------------
# libtiff (tiffcp) on a dithered page, both ways
# --------------------------------------------------------------------------------------

TIFFCP = {"mh": "g3:1d", "mr": "g3:2d", "mmr": "g4"}


def _strip(path: Path) -> bytes:
    with Image.open(path) as im:
        tags = dict(im.tag_v2)
    raw = path.read_bytes()
    assert len(tags[273]) == 1
    return raw[tags[273][0]:tags[273][0] + tags[279][0]]


@pytest.mark.parametrize("scheme", list(TIFFCP))
def test_libtiff_strips_of_a_dithered_page(tmp_path, scheme):
    tiffcp = require_tool("tiffcp")
    rng = np.random.default_rng(5)
    bm = dithered(rng, 300, 1728)
    bm[100:140] = halftone(rng, 40, 1728)
    plain_tif = tmp_path / "page.tif"
    plain_tif.write_bytes(tiff_bytes([bm], "none"))
    # libtiff codes it; we decode
    coded = tmp_path / "coded.tif"
    subprocess.run([tiffcp, "-c", TIFFCP[scheme], "-r", "300", str(plain_tif), str(coded)],
                   check=True)
    out = decode_both(_strip(coded), 1728, SCHEMES[scheme], 300)
    assert out[1:3] == (300, [])
    assert np.array_equal(out[0], pack(bm).data)
    # we code it; libtiff decodes
    ours = tmp_path / "ours.tif"
    ours.write_bytes(tiff_bytes([bm], scheme))
    back = tmp_path / "back.tif"
    subprocess.run([tiffcp, "-c", "none", str(ours), str(back)], check=True)
    with Image.open(back) as im:
        got = (np.asarray(im.convert("L")) < 128).astype(np.uint8)
    assert np.array_equal(got, bm)
