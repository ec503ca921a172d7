"""Bits before the first EOL of an MH/MR page: skipped, not decoded.

T.4 starts a page with an EOL and a receiver synchronises on it. Modems often send the
mark state (1 bits) for a while before the first EOL, and line noise or a row sent without
its EOL can come first too: decoding starts at the first EOL, the bits before it count
neither as rows nor as bad rows, and ``skipped_bits`` says how many there were. Data that
holds no EOL at all still decodes from its first bit. libtiff and spandsp do the same
(checked below: tiffcp on TIFF strips we build, spandsp's t4_rx through ctypes).
"""

from __future__ import annotations

import struct
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from faxcore.codecs import decode, encode, tables
from faxcore.testing.pages import row_runs
from faxcore.testing.peers import require_tool
from faxcore.testing.spandsp import t4 as spandsp_t4

WIDTH = 1728


def _page(rows: int = 12, width: int = WIDTH, seed: int = 1) -> np.ndarray:
    bm = row_runs(rows, width, seed, runs=8, length=90)
    bm[rows // 2] = 1  # an all-black row
    return bm

PAGE = _page()


def _bits(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


def _bytes(bits: str, lsb_first: bool = False) -> bytes:
    """Bits in line order to bytes: MSB first, or LSB first (TIFF FillOrder 2, the order
    in which a Class 1 modem hands over what it received)."""
    bits += "0" * (-len(bits) % 8)
    if lsb_first:
        return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _stream(scheme: str, eol_align: bool = False, k: int = 2) -> str:
    return _bits(encode(PAGE, scheme, k=k, eol_align=eol_align))


def _mh_rows(bm: np.ndarray) -> list[str]:
    """Each row's MH code without EOL or fill: the bits between the EOLs of an MH page
    (valid row data never contains an EOL; a row's trailing 0s stay with the row, as
    ``find`` matches an EOL at the last 11 of the zeros before its 1)."""
    return _bits(encode(bm, "mh")).split(tables.EOL)[1 : bm.shape[0] + 1]


def _check_exact(page, skipped: int) -> None:
    assert page.error is None, page.error
    assert page.bad_rows == 0 and page.bad_row_indices == []
    assert page.rows == PAGE.shape[0]
    assert page.end_marker_seen
    assert page.skipped_bits == skipped
    np.testing.assert_array_equal(page.bitmap, PAGE)


def test_mark_preamble_lengths_that_decode_as_rows():
    """The 1 bits are valid codes (1111 = white 7, 11 = black 2): 1152 of them are one
    complete 1728-pixel row, so without skipping they would turn into rows."""
    ones = "1" * 1152
    page = decode(_bytes(ones), "mh", WIDTH)
    assert page.rows == 1 and page.bad_rows == 0 and page.skipped_bits == 0
    row = np.zeros(WIDTH, np.uint8)
    for x in range(0, WIDTH, 9):
        row[x + 7 : x + 9] = 1
    np.testing.assert_array_equal(page.bitmap[0], row)
    # the same bits before the page's first EOL are skipped
    for scheme in ("mh", "mr"):
        _check_exact(decode(_bytes(ones + _stream(scheme)), scheme, WIDTH), 1152)


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("lsb_first", [False, True])
@pytest.mark.parametrize("eol_align", [False, True])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 7, 8, 11, 12, 13, 100, 1151, 1152, 1153,
                               2304, 2687, 2688, 3000])
def test_mark_preamble(scheme, lsb_first, eol_align, n):
    # 2688 bits: 0.28 s at 9600 bit/s, as in the Class 1 report
    data = _bytes("1" * n + _stream(scheme, eol_align), lsb_first)
    _check_exact(decode(data, scheme, WIDTH, lsb_first=lsb_first), n)


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("lsb_first", [False, True])
@pytest.mark.parametrize("n", [1, 5, 11, 12, 100, 3000])
def test_zero_fill_before_first_eol_is_not_skipped(scheme, lsb_first, n):
    """0 bits before the first EOL are fill bits (part of the EOL), not skipped data."""
    data = _bytes("0" * n + _stream(scheme), lsb_first)
    _check_exact(decode(data, scheme, WIDTH, lsb_first=lsb_first), 0)


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_mark_then_fill_before_first_eol(scheme):
    data = _bytes("1" * 500 + "0" * 37 + _stream(scheme))
    _check_exact(decode(data, scheme, WIDTH), 500)


def _no_eol(junk: str) -> str:
    """Break every run of 11 zeros with a 1, so that the junk holds no EOL of its own."""
    out, zeros = [], 0
    for b in junk:
        if b == "0" and zeros == 10:
            out.append("1")
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == "0" else 0
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(junk=st.text(alphabet="01", min_size=1, max_size=3000),
       scheme=st.sampled_from(["mh", "mr"]), lsb_first=st.booleans(),
       eol_align=st.booleans())
def test_random_junk_before_first_eol(junk, scheme, lsb_first, eol_align):
    junk = _no_eol(junk)
    data = _bytes(junk + _stream(scheme, eol_align), lsb_first)
    # junk ending in 0 bits: those are fill before the EOL, not skipped
    _check_exact(decode(data, scheme, WIDTH, lsb_first=lsb_first), len(junk.rstrip("0")))


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_valid_rows_before_first_eol_are_skipped(scheme):
    """Rows coded without EOLs before the first EOL (another page's data): skipped too."""
    junk = "".join(_mh_rows(_page(rows=3, seed=9)))
    assert tables.EOL not in junk and decode(_bytes(junk), "mh", WIDTH).rows == 3
    _check_exact(decode(_bytes(junk + _stream(scheme)), scheme, WIDTH),
                 len(junk.rstrip("0")))


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_first_row_without_eol_is_skipped(scheme):
    """Non-standard: a first row without its EOL, the later rows with one. Like libtiff
    (see the tiffcp test below) and fax receivers, the page starts at the first EOL.
    MR with K=1 here: a 2-D second row would refer to the skipped first one."""
    bits = _stream(scheme, k=1)
    assert bits.startswith(tables.EOL)
    first_len = bits.index(tables.EOL, 12) - 12 - (scheme == "mr")
    body = bits[12 + (scheme == "mr"):]
    page = decode(_bytes(body), scheme, WIDTH)
    assert page.rows == PAGE.shape[0] - 1 and page.bad_rows == 0 and page.error is None
    assert page.skipped_bits == len(body[:first_len].rstrip("0"))
    np.testing.assert_array_equal(page.bitmap, PAGE[1:])


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_streams_without_any_eol_decode_from_the_start(scheme):
    """No EOL anywhere (rows back to back): nothing is skipped, as before."""
    bm = _page(rows=6, width=64, seed=4)
    bits = "".join(_mh_rows(bm))
    # MR with K=1: every row 1-D, i.e. the same bits as MH
    page = decode(_bytes(bits), scheme, 64, rows=6, k=1 if scheme == "mr" else None)
    assert page.error is None and page.bad_rows == 0 and page.skipped_bits == 0
    np.testing.assert_array_equal(page.bitmap, bm)


def test_consumed_bits_include_the_skipped_ones():
    body = encode(PAGE, "mh")
    page = decode(_bytes("1" * 16) + body, "mh", WIDTH)
    plain = decode(body, "mh", WIDTH)
    assert page.skipped_bits == 16
    assert page.consumed_bits == plain.consumed_bits + 16


def test_mmr_is_not_affected():
    data = encode(PAGE, "mmr")
    page = decode(data, "mmr", WIDTH)
    assert page.skipped_bits == 0 and page.error is None
    np.testing.assert_array_equal(page.bitmap, PAGE)


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_damage_after_the_preamble_still_counted(scheme):
    """Skipping the preamble does not hide a damaged row after the first EOL."""
    bits = _stream(scheme)
    tag = int(scheme == "mr")
    s = bits.index(tables.EOL, 12) + 12 + tag          # start of row 1
    damaged = bits[:s] + "000000001" + bits[s:]        # invalid code: row 1 is bad
    page = decode(_bytes("1" * 700 + damaged), scheme, WIDTH)
    assert page.skipped_bits == 700
    assert page.bad_row_indices[0] == 1 and page.rows == PAGE.shape[0]


# ---------------------------------------------------------------------------------------
# libtiff: the same strips through tiffcp (libtiff's G3 decoder)
# ---------------------------------------------------------------------------------------


def _g3_tiff(strip: bytes, width: int, rows: int, t4options: int, fill_order: int) -> bytes:
    """A minimal little-endian TIFF: one G3 (Compression 3) strip, min-is-white."""
    entries = [(256, 3, width), (257, 3, rows), (258, 3, 1), (259, 3, 3), (262, 3, 0),
               (266, 3, fill_order), (273, 4, 0), (277, 3, 1), (278, 3, rows),
               (279, 4, len(strip)), (292, 4, t4options)]
    data_off = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, typ, val in entries:
        val = data_off if tag == 273 else val
        out += struct.pack("<HHIHH" if typ == 3 else "<HHII", tag, typ, 1, val,
                           *((0,) if typ == 3 else ()))
    return out + b"\0\0\0\0" + strip


def _libtiff_decode(tmp_path, strip: bytes, width: int, rows: int, scheme: str,
                    lsb_first: bool) -> np.ndarray:
    src, dst = tmp_path / "in.tif", tmp_path / "out.tif"
    src.write_bytes(_g3_tiff(strip, width, rows, int(scheme == "mr"), 2 if lsb_first else 1))
    subprocess.run(["tiffcp", "-c", "none", str(src), str(dst)], check=True,
                   capture_output=True)
    with Image.open(dst) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("lsb_first", [False, True])
@pytest.mark.parametrize("preamble", ["ones", "junk", "first_row_without_eol"])
def test_same_rows_as_libtiff(tmp_path, scheme, lsb_first, preamble):
    require_tool("tiffcp")
    bm = _page(rows=8, width=256, seed=5)
    # MR: K=1 when the first row goes (a 2-D second row would refer to it)
    k = 1 if preamble == "first_row_without_eol" else 2
    bits = _bits(encode(bm, scheme, k=k, end_marker=False))
    tag = int(scheme == "mr")
    expect = bm
    if preamble == "ones":
        bits = "1" * 1153 + bits
    elif preamble == "junk":
        rng = np.random.default_rng(7)
        bits = _no_eol("".join(rng.choice(["0", "1"], 999))) + bits
    else:
        bits = bits[12 + tag:]
        expect = bm[1:]
    strip = _bytes(bits, lsb_first)
    ref = _libtiff_decode(tmp_path, strip, 256, expect.shape[0], scheme, lsb_first)
    np.testing.assert_array_equal(ref, expect)      # libtiff skips them too
    page = decode(strip, scheme, 256, lsb_first=lsb_first)
    assert page.bad_rows == 0 and page.error is None and page.skipped_bits > 0
    np.testing.assert_array_equal(page.bitmap, ref)


# ---------------------------------------------------------------------------------------
# spandsp: a fax receiver's T.4 decoder (t4_rx: faxcore.testing.spandsp.t4)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["mh", "mr"])
@pytest.mark.parametrize("preamble", ["ones2688", "ones1152", "junk", "first_row_without_eol"])
def test_same_rows_as_spandsp(tmp_path, scheme, preamble):
    k = 1 if preamble == "first_row_without_eol" else 2
    bits = _stream(scheme, k=k)
    expect = PAGE
    if preamble.startswith("ones"):
        bits = "1" * int(preamble[4:]) + bits
    elif preamble == "junk":
        rng = np.random.default_rng(11)
        bits = _no_eol("".join(rng.choice(["0", "1"], 1500))) + bits
    else:
        bits = bits[12 + (scheme == "mr"):]
        expect = PAGE[1:]
    data = _bytes(bits, lsb_first=True)
    ref = spandsp_t4.decode_page(data, scheme, WIDTH, tmp_path / "rx.tif")
    np.testing.assert_array_equal(ref, expect)      # spandsp skips them too
    page = decode(data, scheme, WIDTH, lsb_first=True)
    assert page.bad_rows == 0 and page.error is None and page.skipped_bits > 0
    np.testing.assert_array_equal(page.bitmap, ref)


# ---------------------------------------------------------------------------------------
# the search for the first EOL against a plain reference, on hostile streams
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zeros", [10, 11, 12, 30])
def test_zero_runs_at_every_offset(zeros):
    """A run of 0s then a 1 at every bit offset (across byte and 64-bit word boundaries):
    an EOL from 11 zeros on, not below."""
    stream = _stream("mh")
    for off in range(140):
        bits = "1" * off + "0" * zeros + "1" * 6 + stream
        page = decode(_bytes(bits), "mh", WIDTH)
        if zeros >= 11:
            assert page.skipped_bits == off, off
        else:
            _check_exact(page, off + zeros + 6)

_SEGMENT = st.one_of(
    st.integers(0, 16).map(lambda n: "0" * n),      # zero runs around the EOL length
    st.text(alphabet="01", min_size=1, max_size=90),
    st.sampled_from([tables.EOL, tables.EOL + "1", tables.EOL * 6, "1" * 64]),
)


@settings(max_examples=1500, deadline=None)
@given(segments=st.lists(_SEGMENT, max_size=40), scheme=st.sampled_from(["mh", "mr"]),
       width=st.sampled_from([1, 7, 64, 1728]), lsb_first=st.booleans())
def test_skip_matches_reference(segments, scheme, width, lsb_first):
    """skipped_bits is where the zero run of the first EOL (11 or more 0s, then a 1)
    starts, and the rest decodes exactly as the data from that point on would."""
    bits = "".join(segments)
    i = bits.find("0" * 11 + "1")
    start = 0
    if i > 0:
        start = len(bits[:i].rstrip("0"))
    page = decode(_bytes(bits, lsb_first), scheme, width, lsb_first=lsb_first)
    assert page.skipped_bits == start
    assert page.bitmap.shape == (page.rows, width) and page.bad_rows <= page.rows
    assert page.consumed_bits <= len(_bytes(bits)) * 8
    if start:
        # the same bits from the first EOL's zero run on, with start % 8 more fill zeros
        # before it, so that both streams end in the same padding
        fill = start % 8
        rest_data = _bytes("0" * fill + bits[start:], lsb_first)
        rest = decode(rest_data, scheme, width, lsb_first=lsb_first)
        assert rest.skipped_bits == 0
        assert (page.rows, page.bad_row_indices, page.end_marker_seen, page.error) == (
            rest.rows, rest.bad_row_indices, rest.end_marker_seen, rest.error)
        assert page.consumed_bits == rest.consumed_bits - fill + start
        np.testing.assert_array_equal(page.bitmap, rest.bitmap)
