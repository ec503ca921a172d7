"""Fuzzing the TIFF reader: truncated, bit-flipped, overwritten and random files.

Every case must give a list of well-formed pages (possibly partial, with ``Page.error``)
or a ``ValueError`` (``TiffError`` is one), never another exception, a crash or a hang.
About 4000 cases in all, derandomized so that CI runs the same cases every time.
"""

from __future__ import annotations

import functools
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes

MAX_PIXELS = 1 << 20          # keeps each case small; the limit itself is tested elsewhere
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def _bitmap(h, w, seed):
    rng = np.random.default_rng(seed)
    bm = np.zeros((h, w), np.uint8)
    for y in range(h):                      # runs of both colours, like text
        cuts = np.sort(rng.integers(0, w, size=8))
        for a, b in zip(cuts[::2], cuts[1::2], strict=True):
            bm[y, a:b] = 1
    return bm


@functools.cache
def corpus() -> tuple[bytes, ...]:
    pages = [_bitmap(24, 50, 1), _bitmap(17, 50, 2)]
    files = [
        tiff_bytes(pages, "none", rows_per_strip=7),
        tiff_bytes(pages[:1], "none", fill_order=2, byteorder=">"),
    ]
    try:
        from faxcore.codecs import encode  # noqa: F401
    except ImportError:
        return tuple(files)
    files += [
        tiff_bytes(pages, "mh", eol_align=True, fill_order=2, rows_per_strip=5),
        tiff_bytes(pages, "mr", k=2),
        tiff_bytes(pages, "mmr", rows_per_strip=9),
        tiff_bytes(pages[1:], "mmr", byteorder=">", fill_order=2),
        tiff_bytes(pages[:1], "mh"),
    ]
    return tuple(files)


@pytest.fixture(autouse=True)
def _watchdog():
    """Turn a hang into a failure (the whole test gets 120 s)."""
    def alarm(_sig, _frame):
        raise TimeoutError("TIFF reader hung")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _check(data: bytes) -> None:
    try:
        pages = read_tiff(data, max_pixels=MAX_PIXELS)
    except ValueError:
        return
    assert pages
    for p in pages:
        assert isinstance(p, Page)
        assert p.bitmap.dtype == np.uint8 and p.bitmap.ndim == 2
        assert p.bitmap.shape[0] >= 1 and p.bitmap.shape[1] >= 1
        assert p.bitmap.size <= MAX_PIXELS
        assert int(p.bitmap.max(initial=0)) <= 1
        assert 0 <= p.bad_rows


def test_corpus_reads_clean():
    for data in corpus():
        for p in read_tiff(data):
            assert p.error is None and p.bad_rows == 0


@FUZZ
@given(st.data())
def test_truncated(data):
    src = data.draw(st.sampled_from(corpus()))
    _check(src[:data.draw(st.integers(0, len(src) - 1))])


@FUZZ
@given(st.data())
def test_bit_flips(data):
    src = bytearray(data.draw(st.sampled_from(corpus())))
    for bit in data.draw(st.lists(st.integers(0, 8 * len(src) - 1), min_size=1, max_size=6)):
        src[bit // 8] ^= 1 << (bit % 8)
    _check(bytes(src))


@FUZZ
@given(st.data())
def test_overwritten_bytes(data):
    src = bytearray(data.draw(st.sampled_from(corpus())))
    # Aim at the header and IFDs (the first and last few hundred bytes) as often as anywhere.
    n = len(src)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.one_of(st.integers(0, n - 1), st.integers(max(0, n - 300), n - 1)))
        src[pos] = data.draw(st.sampled_from([0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF]))
    _check(bytes(src))


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.sampled_from([b"", b"II*\0\x08\0\0\0", b"MM\0*\0\0\0\x08"]), st.binary(max_size=600))
def test_random_bytes(head, body):
    _check(head + body)
