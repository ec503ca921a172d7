"""Hostile input for the T.4/T.6 decoders: the 2-D reference-index overrun (runs of VL1
codes that kept a1 at a0) and the invariants every decoded row must meet.

The exact regression streams are built here and also committed to tests/corpus/ (for the
AddressSanitizer replay), with about ten small valid seeds per target (mh, mr, mmr, tiff,
raw_mmr); ``python tests/codecs/test_codec_security.py --write-corpus`` rewrites the corpus
files of those targets (including the small bombs and the truncated TIFFs of
:mod:`faxcore.testing.hostile_files`), and the tests below check they match.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.codecs import decode, encode, tables
from faxcore.codecs.raw import raw_bytes, read_raw
from faxcore.codecs.t4 import DocumentError
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.testing.hostile_files import SMALL_BOMBS, truncated_corpus
from faxcore.testing.paths import CORPUS

EOL = tables.EOL
EOFB = EOL + EOL
VL1 = tables.MODE_CODES["VL1"]     # 010
V0 = tables.MODE_CODES["V0"]       # 1
PASS = tables.MODE_CODES["P"]      # 0001
H = tables.MODE_CODES["H"]         # 001


def _bits(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


def _bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def _mmr_rows_bits(rows: np.ndarray) -> str:
    """The MMR code of ``rows`` without EOFB and padding (more rows may follow)."""
    bits = _bits(encode(rows, "mmr", end_marker=True))
    return bits[: bits.rindex("1") + 1 - len(EOFB)]


def _pad_bits_clear(packed: np.ndarray, width: int) -> bool:
    if width % 8 == 0 or packed.size == 0:
        return True
    return not (packed[:, -1] & ((1 << (8 - width % 8)) - 1)).any()


# --------------------------------------------------------------------------- streams

W_STALE = 100


def _stale_rows() -> np.ndarray:
    """Three rows for width 100: the first with five black spans, then two white rows.

    Decoding them leaves the first row's changing elements (10, 20, ..., 90) in the
    reference array after the white row's width sentinels, where the old decoder's
    reference index ran to after a VL1 run.
    """
    rows = np.zeros((3, W_STALE), np.uint8)
    for a, b in [(10, 20), (30, 40), (50, 60), (70, 80), (85, 90)]:
        rows[0, a:b] = 1
    return rows


# Against a white reference row: VL1 puts a1 at width - 1; the next VL1s left a1 at a0
# (= width - 1) while b1 stepped through the width sentinels into stale elements; a pass
# mode then moved a0 back to 50 and the row ended with black from 0 to 59 and 99..103,
# i.e. four bits set past the width of 100.
STALE_ROW = VL1 * 3 + PASS + V0 + PASS + PASS + V0
# VL1 twice then V0: the old decoder accepted the second VL1 (a1 == a0) and returned a
# white row; a1 must be right of a0, so the row is invalid.
VL1_TWICE_ROW = VL1 + VL1 + V0


def _page_rows(n: int = 3, width: int = 1728, white_last: bool = False) -> np.ndarray:
    rows = np.zeros((n, width), np.uint8)
    for i in range(n - white_last):
        rows[i, 100 + 37 * i: 400 + 11 * i] = 1
        rows[i, width - 50: width - 10 + i] = 1
    return rows


def mmr_vl1_run() -> bytes:
    """Three good rows, then a row of 64 VL1 codes, then EOFB (width 1728).

    The old decoder read past the end of the reference array on it: valgrind
    (--malloc-fill=0x00) reported invalid 4-byte reads 0..28 bytes after the 6936-byte
    block (1728 + 6 elements) in _decode_2d_body."""
    return _bytes(_mmr_rows_bits(_page_rows()) + VL1 * 64 + EOFB)


def mmr_vl1_run_first_row() -> bytes:
    """The bare VL1 run: the first row of the page (reference: the white row)."""
    return _bytes(VL1 * 64)


def mmr_stale_ref() -> bytes:
    return _bytes(_mmr_rows_bits(_stale_rows()) + STALE_ROW + EOFB)


def mmr_vl1_twice() -> bytes:
    return _bytes(_mmr_rows_bits(_page_rows(white_last=True)) + VL1_TWICE_ROW + EOFB)


def _mr_stream(rows: np.ndarray, bad_row: str, last: np.ndarray) -> bytes:
    """MR: ``rows`` (K=4, EOLs), then EOL + tag 0 + ``bad_row``, then ``last`` and RTC."""
    head = _bits(encode(rows, "mr", k=4, end_marker=False))   # zero padding = fill bits
    tail = _bits(encode(last, "mr", k=4, end_marker=True))     # starts with EOL + tag 1
    return _bytes(head + EOL + "0" + bad_row + tail)


def mr_vl1_run() -> bytes:
    rows = _page_rows()
    return _mr_stream(rows, VL1 * 64, rows[:1])


def mr_stale_ref() -> bytes:
    rows = _stale_rows()
    return _mr_stream(rows, STALE_ROW, rows[:1])


def mr_vl1_twice() -> bytes:
    rows = _page_rows(white_last=True)
    return _mr_stream(rows, VL1_TWICE_ROW, rows[:1])


def _seed_pages() -> dict[str, tuple[np.ndarray, dict]]:
    """Small valid pages for the corpus seeds: name -> (bitmap, encode options)."""
    rng = np.random.default_rng(4)
    text = np.zeros((8, 1728), np.uint8)
    for r in range(8):
        for _ in range(12):
            a = int(rng.integers(0, 1700))
            text[r, a:a + int(rng.integers(1, 25))] = 1
    alternating = np.zeros((3, 64), np.uint8)
    alternating[:, ::2] = 1
    alternating[1] ^= 1
    long_runs = np.zeros((3, 5000), np.uint8)
    long_runs[1, 10:4990] = 1
    long_runs[2, 2600:] = 1
    shifts = np.zeros((7, 1728), np.uint8)       # V modes: edges moving by -3..3
    for r, d in enumerate((0, 1, 2, 3, -1, -2, -3)):
        shifts[r, 300 + d * (r + 1): 600 - d] = 1
    passes = np.zeros((4, 1728), np.uint8)        # pass modes: spans above, none below
    passes[0, 100:110] = passes[0, 500:520] = passes[2, 40:900] = 1
    return {
        "white": (np.zeros((4, 1728), np.uint8), {}),
        "vertical-modes": (shifts, {}),
        "pass-modes": (passes, {}),
        "black-row": (np.vstack([np.zeros((1, 1728)), np.ones((1, 1728)),
                                 np.zeros((1, 1728))]).astype(np.uint8), {}),
        "text": (text, {}),
        "text-k2": (text, {"k": 2}),
        "alternating-w64": (alternating, {}),
        "one-pixel-w1": (np.array([[0], [1], [1], [0]], np.uint8), {}),
        "odd-w13": ((rng.random((6, 13)) < 0.5).astype(np.uint8), {}),
        "long-runs-w5000": (long_runs, {}),
        "no-end-marker": (text[:3], {"end_marker": False}),
        "aligned-eol": (text[:3], {"eol_align": True}),
        "min-row-bits": (text[:3], {"min_row_bits": 192}),
    }


def _container_seeds(target: str) -> dict[str, bytes]:
    """Small valid TIFF files / raw MMR streams."""
    pages = _seed_pages()
    text, shifts, passes = pages["text"][0], pages["vertical-modes"][0], pages["pass-modes"][0]
    small = [Page(text[:4]), Page(passes, yres=98.0)]
    if target == "raw_mmr":
        return {
            "seed-one-page.bin": raw_bytes([text], "mmr"),
            "seed-two-pages.bin": raw_bytes(small, "mmr"),
            "seed-three-pages.bin": raw_bytes([text, shifts, passes], "mmr"),
            "seed-white.bin": raw_bytes([pages["white"][0]], "mmr"),
            "seed-no-eofb.bin": encode(shifts, "mmr", end_marker=False),
            "seed-gs-no-markers.bin": b"".join(encode(p, "mmr", end_marker=False)
                                               for p in (text[:2], passes[:2])),
            "seed-alternating-w64.bin": raw_bytes([pages["alternating-w64"][0]], "mmr"),
            "seed-odd-w13.bin": raw_bytes([pages["odd-w13"][0]] * 2, "mmr"),
            "seed-long-runs-w5000.bin": raw_bytes([pages["long-runs-w5000"][0]], "mmr"),
            "seed-trailing-zeros.bin": raw_bytes(small, "mmr") + bytes(16),
        }
    assert target == "tiff"
    out = {f"seed-{scheme}.bin": tiff_bytes(small, scheme)
           for scheme in ("mmr", "mh", "mr", "none")}
    out["seed-mh-aligned-lsb.bin"] = tiff_bytes(small, "mh", eol_align=True, fill_order=2)
    out["seed-mr-big-endian.bin"] = tiff_bytes(small, "mr", byteorder=">")
    out["seed-mmr-strips.bin"] = tiff_bytes([Page(shifts)], "mmr", rows_per_strip=2)
    out["seed-mh-strips.bin"] = tiff_bytes([Page(text)], "mh", rows_per_strip=3)
    out["seed-odd-width.bin"] = tiff_bytes([Page(pages["odd-w13"][0])], "mmr")
    out["seed-one-page.bin"] = tiff_bytes([Page(passes)], "mmr")
    return out


def seeds(target: str) -> dict[str, bytes]:
    """Small valid inputs of one corpus target, named as the corpus files."""
    if target in ("tiff", "raw_mmr"):
        return _container_seeds(target)
    out = {}
    for name, (page, opts) in _seed_pages().items():
        if target == "mmr" and ("eol_align" in opts or "min_row_bits" in opts or "k" in opts):
            continue
        if target == "mh" and "k" in opts:
            continue
        out[f"seed-{name}.bin"] = encode(page, target, **opts)
    if target != "mmr":     # a modem's mark preamble (1 bits) before the first EOL
        out["seed-preamble.bin"] = b"\xff" * 6 + encode(_seed_pages()["text"][0][:2], target)
    return out


REGRESSION = {
    ("mmr", "vl1-run.bin"): mmr_vl1_run,
    ("mmr", "vl1-run-first-row.bin"): mmr_vl1_run_first_row,
    ("mmr", "vl1-twice.bin"): mmr_vl1_twice,
    ("mmr", f"vl1-stale-ref-w{W_STALE}.bin"): mmr_stale_ref,
    ("mr", "vl1-run.bin"): mr_vl1_run,
    ("mr", "vl1-twice.bin"): mr_vl1_twice,
    ("mr", f"vl1-stale-ref-w{W_STALE}.bin"): mr_stale_ref,
}


# --------------------------------------------------------------------------- regression


@pytest.mark.parametrize(("make", "white_last"), [(mmr_vl1_run, False),
                                                  (mmr_vl1_twice, True)])
def test_mmr_vl1_run_stops_with_error_after_good_rows(make, white_last):
    page = decode(make(), "mmr", 1728)
    good = _page_rows(white_last=white_last)
    assert page.rows == 3
    assert page.error == "row 3: invalid code"
    assert np.array_equal(page.bitmap, good)
    assert not page.end_marker_seen


def test_mmr_vl1_run_on_first_row():
    page = decode(mmr_vl1_run_first_row(), "mmr", 1728)
    assert page.rows == 0
    assert page.error == "row 0: invalid code"


def test_mmr_stale_reference_row_has_no_bits_past_width():
    page = decode(mmr_stale_ref(), "mmr", W_STALE)
    assert page.rows == 3
    assert page.error == "row 3: invalid code"
    assert np.array_equal(page.bitmap, _stale_rows())
    assert _pad_bits_clear(page.packed.data, W_STALE)


@pytest.mark.parametrize(("make", "white_last"), [(mr_vl1_run, False), (mr_vl1_twice, True)])
def test_mr_vl1_run_row_replaced_by_previous(make, white_last):
    page = decode(make(), "mr", 1728)
    good = _page_rows(white_last=white_last)
    assert page.rows == 5
    assert page.bad_row_indices == [3]
    assert page.error == "row 3: invalid code"
    assert page.end_marker_seen
    assert np.array_equal(page.bitmap[:3], good)
    assert np.array_equal(page.bitmap[3], good[2])      # damaged row: previous row
    assert np.array_equal(page.bitmap[4], good[0])      # decoding resumed at the EOL


def test_mr_stale_reference_row_replaced_and_no_bits_past_width():
    page = decode(mr_stale_ref(), "mr", W_STALE)
    good = _stale_rows()
    assert page.rows == 5
    assert page.bad_row_indices == [3]
    assert np.array_equal(page.bitmap[:3], good)
    assert np.array_equal(page.bitmap[3], good[2])
    assert np.array_equal(page.bitmap[4], good[0])
    assert _pad_bits_clear(page.packed.data, W_STALE)


def test_v_mode_at_line_start_may_put_a1_at_zero():
    # T.4: at the start of a line a0 is the imaginary element before pixel 0, so a1 = 0
    # (a row starting black) is a valid V code: here V0 against a row starting black
    width = 64
    rows = np.zeros((2, width), np.uint8)
    rows[:, 0:5] = 1
    page = decode(encode(rows, "mmr"), "mmr", width)
    assert page.error is None
    assert np.array_equal(page.bitmap, rows)
    assert _bits(encode(rows, "mmr")).startswith(H)     # row 0: H mode, white run 0
    # row 1 is V0 V0 against row 0; a VL1 there would put a1 at -1: invalid
    bad = _bytes(_mmr_rows_bits(rows[:1]) + VL1 + V0 + EOFB)
    page = decode(bad, "mmr", width)
    assert page.rows == 1 and page.error == "row 1: invalid code"


def test_valid_pages_unchanged():
    rng = np.random.default_rng(7)
    for width in (1, 7, 100, 1729):
        rows = (rng.random((30, width)) < 0.3).astype(np.uint8)
        rows[5:9] = 0
        rows[10:12] = 1
        for scheme in ("mh", "mr", "mmr"):
            page = decode(encode(rows, scheme, k=3), scheme, width)
            assert page.ok, (width, scheme, page.error)
            assert np.array_equal(page.bitmap, rows)


# --------------------------------------------------------------------------- fuzzing

CODES = [VL1, VL1, VL1, VL1, PASS, V0, tables.MODE_CODES["VR1"], tables.MODE_CODES["VL2"],
         tables.MODE_CODES["VL3"], tables.MODE_CODES["VR3"],
         H + tables.WHITE_TERMINATING[0] + tables.BLACK_TERMINATING[0],
         H + tables.WHITE_TERMINATING[3] + tables.BLACK_TERMINATING[2], EOL, EOL + "0",
         EOL + "1"]


def _check_page(page, width: int) -> None:
    data = page.packed.data
    assert data.dtype == np.uint8
    assert data.shape == (page.rows, (width + 7) // 8)
    assert page.bitmap.shape == (page.rows, width)
    assert _pad_bits_clear(data, width), "bits set past the width"


def _prefix_bits(scheme: str, rows: int, width: int) -> str:
    """Good rows to start with: a busy row, then white rows, which leaves stale changing
    elements behind the sentinels of the reference array (as in ``_stale_rows``)."""
    if rows == 0:
        return ""
    page = np.zeros((rows, width), np.uint8)
    page[0, 1::3] = 1
    if scheme == "mmr":
        return _mmr_rows_bits(page)
    return _bits(encode(page, scheme, k=4, end_marker=False))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.integers(0, 3), codes=st.lists(st.sampled_from(CODES), max_size=120),
       width=st.sampled_from([1, 5, 13, 63, 100, 1729]),
       scheme=st.sampled_from(["mh", "mr", "mmr"]))
def test_fuzz_mode_codes_never_set_bits_past_width(prefix, codes, width, scheme):
    data = _bytes(_prefix_bits(scheme, prefix, width) + "".join(codes))
    _check_page(decode(data, scheme, width), width)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600), width=st.sampled_from([3, 9, 100, 1729]),
       scheme=st.sampled_from(["mh", "mr", "mmr"]))
def test_fuzz_garbage_never_sets_bits_past_width(data, width, scheme):
    _check_page(decode(data, scheme, width), width)


# --------------------------------------------------------------------------- corpus


def test_corpus_files_are_the_streams_built_here():
    for (target, name), make in REGRESSION.items():
        path = CORPUS / target / name
        assert path.read_bytes() == make(), f"{path} differs: rerun --write-corpus"


def _corpus_width(name: str) -> int:
    stem = name.rsplit(".", 1)[0]
    for part in stem.split("-"):
        if part.startswith("w") and part[1:].isdigit():
            return int(part[1:])
    return 1728


@pytest.mark.parametrize("target", ["mh", "mr", "mmr"])
def test_corpus_decodes_within_invariants(target):
    files = sorted((CORPUS / target).glob("*.bin"))
    assert files, f"no corpus files for {target}"
    for path in files:
        width = _corpus_width(path.name)
        _check_page(decode(path.read_bytes(), target, width), width)


@pytest.mark.parametrize("target", ["mh", "mr", "mmr"])
def test_corpus_seeds_decode_cleanly(target):
    names = seeds(target)
    assert len(names) >= 9
    for name in names:
        path = CORPUS / target / name
        width = _corpus_width(name)
        page = decode(path.read_bytes(), target, width)
        assert page.error is None and page.bad_rows == 0, (name, page.error)
        assert page.end_marker_seen == ("no-end-marker" not in name), name


def test_container_seeds_read_cleanly():
    for name, data in seeds("tiff").items():
        assert (CORPUS / "tiff" / name).read_bytes() == data, name
        pages = read_tiff(data)
        assert pages and all(p.error is None for p in pages), name
    for name, data in seeds("raw_mmr").items():
        assert (CORPUS / "raw_mmr" / name).read_bytes() == data, name
        page_rows = 2 if "gs-no-markers" in name else None
        pages = read_raw(data, "mmr", _corpus_width(name), page_rows=page_rows)
        assert pages and all(p.bad_rows == 0 for p in pages), name
        assert all(p.error is None for p in pages) == ("no-eofb" not in name), name


def test_container_corpus_reads_within_invariants():
    """Every TIFF and raw MMR corpus file reads, or fails with the documented errors;
    every page returned is a 0/1 bitmap of its stated width."""
    files = sorted((CORPUS / "tiff").glob("*.bin")) + sorted((CORPUS / "raw_mmr").glob("*.bin"))
    assert len(files) >= 20
    for path in files:
        try:
            if path.parent.name == "tiff":
                pages = read_tiff(path)
            else:
                pages = read_raw(path, "mmr", _corpus_width(path.name))
        except DocumentError as exc:
            pages = exc.pages
        for p in pages:
            assert p.bitmap.dtype == np.uint8 and p.bitmap.ndim == 2
            assert p.bitmap.max(initial=0) <= 1


def write_corpus() -> None:
    """Write every committed corpus file of the codec, TIFF and raw MMR targets."""
    files = {key: make() for key, make in REGRESSION.items()}
    files.update({key: make() for key, make in SMALL_BOMBS.items()})
    files.update({("tiff", name): data for name, data in truncated_corpus().items()})
    for target in ("mh", "mr", "mmr", "tiff", "raw_mmr"):
        files.update({(target, name): data for name, data in seeds(target).items()})
    for (target, name), data in files.items():
        assert len(data) < 64 * 1024, name
        (CORPUS / target).mkdir(parents=True, exist_ok=True)
        (CORPUS / target / name).write_bytes(data)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-corpus"]:
        write_corpus()
    else:
        sys.exit("usage: python tests/codecs/test_codec_security.py --write-corpus")
