"""Round trips and option semantics for MH, MR and MMR.

The encoder output is compared bit for bit with a slow reference encoder written here in
plain Python straight from T.4/T.6 (pixel-by-pixel changing elements, code tables from
faxcore.codecs.tables, which test_codec_tables.py checks against the standard), for every
option combination; then decode(encode(x)) must give x back.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxcore.codecs import (
    DecodedPage,
    PackedBitmap,
    decode,
    encode,
    encode_tiff_strip,
    pack,
    tables,
    unpack,
)

# ---------------------------------------------------------------------------------------
# reference encoder (slow, obviously-correct)
# ---------------------------------------------------------------------------------------

EOL = tables.EOL


def _changes(row) -> list[int]:
    out = []
    prev = 0
    for i, px in enumerate(row):
        if px != prev:
            out.append(i)
            prev = px
    return out


def _span(run: int, black: bool) -> str:
    return "".join(tables.run_code_sequence(run, black))


def _ref_1d(row) -> str:
    bits = []
    pos, colour = 0, 0
    for c in _changes(row) + [len(row)]:
        bits.append(_span(c - pos, bool(colour)))
        pos, colour = c, 1 - colour
    if pos < len(row):  # unreachable: the loop ends with width
        bits.append(_span(len(row) - pos, bool(colour)))
    return "".join(bits)


def _ref_2d(row, refrow) -> str:
    w = len(row)
    cur = _changes(row)
    ref = _changes(refrow)

    def colour_at(line, i):  # pixel colour, imaginary white before the line
        return int(line[i]) if 0 <= i < w else 0

    bits = []
    a0, c = -1, 0
    while True:
        a1 = next((x for x in cur if x > a0), w)
        # b1: first changing element on the reference line right of a0 whose colour
        # is opposite to a0's colour
        b1 = next((x for x in ref if x > a0 and colour_at(refrow, x) != c), w)
        b2 = next((x for x in ref if x > b1), w)
        if b2 < a1:
            bits.append(tables.MODE_CODES["P"])
            a0 = b2
        elif abs(a1 - b1) <= 3:
            bits.append(tables.VERTICAL_BY_OFFSET[a1 - b1 + 3])
            a0, c = a1, 1 - c
        else:
            a2 = next((x for x in cur if x > a1), w)
            bits.append(tables.MODE_CODES["H"])
            bits.append(_span(a1 - max(a0, 0), bool(c)))
            bits.append(_span(a2 - a1, not c))
            a0 = a2
        if a0 >= w:
            return "".join(bits)


def _to_bytes(bits: str, lsb_first: bool) -> bytes:
    bits += "0" * (-len(bits) % 8)
    out = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    if lsb_first:
        out = bytes(int(f"{b:08b}"[::-1], 2) for b in out)
    return out


def reference_encode(bm, scheme, k=4, eol_align=False, min_row_bits=0, end_marker=True,
                     lsb_first=False) -> bytes:
    bits = ""
    white = np.zeros(bm.shape[1], np.uint8)
    prev = white

    def eol(tag):
        nonlocal bits
        if eol_align:
            while (len(bits) + 12) % 8:
                bits += "0"
        bits += EOL + ("" if tag is None else str(tag))

    if scheme == "mmr":
        for row in bm:
            bits += _ref_2d(row, prev)
            prev = row
        if end_marker:
            bits += EOL + EOL
        return _to_bytes(bits, lsb_first)
    for i, row in enumerate(bm):
        start = len(bits)
        one_d = scheme == "mh" or i % k == 0
        eol(None if scheme == "mh" else int(one_d))
        bits += _ref_1d(row) if one_d else _ref_2d(row, prev)
        prev = row
        bits += "0" * max(0, min_row_bits - (len(bits) - start))
    if end_marker:
        for _ in range(6):
            eol(None if scheme == "mh" else 1)
    return _to_bytes(bits, lsb_first)


# ---------------------------------------------------------------------------------------
# bitmaps
# ---------------------------------------------------------------------------------------


@st.composite
def bitmaps(draw, max_width=300, max_rows=12):
    width = draw(st.one_of(st.integers(1, 16), st.integers(1, max_width)))
    rows = draw(st.integers(0, max_rows))
    kind = draw(st.sampled_from(["random", "white", "black", "checker", "runs", "stripes"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        bm = rng.random((rows, width)) < draw(st.floats(0.0, 1.0))
    elif kind == "white":
        bm = np.zeros((rows, width), bool)
    elif kind == "black":
        bm = np.ones((rows, width), bool)
    elif kind == "checker":
        cell = draw(st.integers(1, 5))
        y, x = np.indices((rows, width))
        bm = ((y // cell + x // cell) % 2) == 1
    elif kind == "stripes":
        bm = np.zeros((rows, width), bool)
        bm[:, draw(st.integers(0, width - 1)) :: draw(st.integers(1, 9))] = True
    else:  # runs of random lengths, rows derived from each other (like real pages)
        bm = np.zeros((rows, width), bool)
        row = np.zeros(width, bool)
        for r in range(rows):
            if r == 0 or rng.random() < 0.3:
                lengths = rng.geometric(rng.uniform(0.01, 0.5), size=width)
                vals = np.repeat(np.arange(len(lengths)) % 2 == 1, lengths)[:width]
                row = vals if len(vals) == width else np.pad(vals, (0, width - len(vals)))
            else:
                shift = rng.integers(-3, 4)
                row = np.roll(row, shift)
            bm[r] = row
    return bm.astype(np.uint8)


OPTIONS = st.fixed_dictionaries(
    {
        "k": st.integers(1, 6),
        "eol_align": st.booleans(),
        "min_row_bits": st.sampled_from([0, 0, 1, 13, 96, 192, 400]),
        "end_marker": st.booleans(),
        "lsb_first": st.booleans(),
    }
)


def _check_roundtrip(bm, scheme, opts):
    data = encode(bm, scheme, **opts)
    page = decode(data, scheme, bm.shape[1], lsb_first=opts.get("lsb_first", False))
    assert isinstance(page, DecodedPage)
    assert page.error is None, page.error
    assert page.rows == bm.shape[0]
    assert page.bad_rows == 0 and page.bad_row_indices == []
    assert page.bitmap.shape == bm.shape
    np.testing.assert_array_equal(page.bitmap, bm)
    if opts.get("end_marker", True) and (bm.shape[0] or scheme != "mmr"):
        assert page.end_marker_seen
    assert page.consumed_bytes <= len(data)
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bm=bitmaps(), scheme=st.sampled_from(["mh", "mr", "mmr"]), opts=OPTIONS)
def test_matches_reference_encoder_and_round_trips(bm, scheme, opts):
    if scheme == "mmr":
        opts = {"end_marker": opts["end_marker"], "lsb_first": opts["lsb_first"]}
    elif scheme == "mh":
        opts = {**opts, "k": 4}
    data = _check_roundtrip(bm, scheme, opts)
    assert data == reference_encode(bm, scheme, **opts)


@settings(max_examples=40, deadline=None)
@given(bm=bitmaps(max_width=9000, max_rows=4), scheme=st.sampled_from(["mh", "mr", "mmr"]))
def test_wide_rows_round_trip(bm, scheme):
    _check_roundtrip(bm, scheme, {})


@pytest.mark.parametrize("scheme", ["mh", "mr", "mmr"])
@pytest.mark.parametrize("width", [1, 2, 7, 8, 9, 63, 64, 65, 1728, 2560, 2561, 2623, 2624,
                                   5120, 5185, 65535])
def test_long_runs_and_edge_widths(scheme, width):
    bm = np.zeros((6, width), np.uint8)
    bm[1] = 1  # all black: one run of `width`
    bm[2, width // 3 :] = 1
    bm[3, ::2] = 1
    bm[4, : width // 2] = 1
    bm[5] = bm[3]
    data = _check_roundtrip(bm, scheme, {})
    if width <= 5185:
        assert data == reference_encode(bm, scheme)


def test_long_run_uses_repeated_2560_makeup():
    bm = np.ones((1, 8000), np.uint8)
    bm[0, :5300] = 0  # white 5300 = 2560 + 2560 + 128 + 52, black 2700 = 2560 + 128 + 12
    bits = "".join(f"{b:08b}" for b in encode(bm, "mh", end_marker=False))
    expect = (EOL + "000000011111" * 2 + tables.WHITE_MAKEUP[128] + tables.WHITE_TERMINATING[52]
              + "000000011111" + tables.BLACK_MAKEUP[128] + tables.BLACK_TERMINATING[12])
    assert bits.startswith(expect) and set(bits[len(expect):]) <= {"0"}


def test_packed_input_and_output():
    rng = np.random.default_rng(5)
    bm = (rng.random((30, 203)) < 0.2).astype(np.uint8)
    packed = pack(bm)
    assert isinstance(packed, PackedBitmap) and packed.shape == (30, 203)
    assert packed.data.shape == (30, 26)
    np.testing.assert_array_equal(unpack(packed), bm)
    # garbage in the pad bits of the last byte is ignored
    noisy_data = packed.data.copy()
    noisy_data[:, -1] |= 0x1F  # the 5 pad bits after pixel 202
    noisy = PackedBitmap(noisy_data, 203)
    for scheme in ("mh", "mr", "mmr"):
        data = encode(packed, scheme)
        assert data == encode(bm, scheme) == encode(noisy, scheme)
        page = decode(data, scheme, 203)
        np.testing.assert_array_equal(page.packed.data, packed.data)
        raw = PackedBitmap.from_bytes(packed.tobytes(), 203)
        np.testing.assert_array_equal(raw.unpack(), bm)


def test_mh_stream_layout():
    bm = np.zeros((2, 16), np.uint8)
    bm[1, 4:8] = 1
    w16 = tables.WHITE_TERMINATING[16]
    row1 = tables.WHITE_TERMINATING[4] + tables.BLACK_TERMINATING[4] + tables.WHITE_TERMINATING[8]
    bits = "".join(f"{b:08b}" for b in encode(bm, "mh"))
    body = EOL + w16 + EOL + row1 + EOL * 6
    assert bits == body + "0" * (-len(body) % 8)
    # libtiff layout: no RTC
    bits = "".join(f"{b:08b}" for b in encode_tiff_strip(bm, "mh"))
    body = EOL + w16 + EOL + row1
    assert bits == body + "0" * (-len(body) % 8)
    # MR: tag bits, K=2 -> rows 1-D, 2-D; RTC is EOL+1 six times
    bits = "".join(f"{b:08b}" for b in encode(bm, "mr", k=2))
    assert bits.startswith(EOL + "1" + w16 + EOL + "0")
    assert (EOL + "1") * 6 in bits
    # MMR: EOFB
    bits = "".join(f"{b:08b}" for b in encode(bm, "mmr"))
    assert EOL + EOL in bits and EOL * 3 not in bits
    assert encode_tiff_strip(bm, "mmr") == encode(bm, "mmr")


def test_eol_align_and_min_row_bits():
    bm = np.zeros((5, 1728), np.uint8)
    bm[2, 3:9] = 1
    for scheme in ("mh", "mr"):
        bits = "".join(f"{b:08b}" for b in encode(bm, scheme, eol_align=True))
        # every EOL ends on a byte boundary
        idx = [i for i in range(len(bits) - 11) if bits[i : i + 12] == EOL]
        assert len(idx) == 5 + 6
        assert all((i + 12) % 8 == 0 for i in idx)
        # min_row_bits: every row from its EOL to the next is at least that long
        bits = "".join(f"{b:08b}" for b in encode(bm, scheme, min_row_bits=200))
        idx = [i for i in range(len(bits) - 11) if bits[i : i + 12] == EOL]
        assert all(b - a >= 200 for a, b in zip(idx[:5], idx[1:6], strict=True))
        assert decode(encode(bm, scheme, min_row_bits=200), scheme, 1728).bitmap.tolist() == \
            bm.tolist()


def test_bad_arguments():
    bm = np.zeros((2, 8), np.uint8)
    with pytest.raises(ValueError):
        encode(bm, "g5")
    with pytest.raises(ValueError):
        encode(bm, "mmr", eol_align=True)
    with pytest.raises(ValueError):
        encode(bm, "mmr", min_row_bits=10)
    with pytest.raises(ValueError):
        encode(bm, "mr", k=0)
    with pytest.raises(ValueError):
        encode(np.zeros((2, 0), np.uint8), "mh")
    with pytest.raises(ValueError):
        encode(np.zeros((2, 70000), np.uint8), "mh")
    with pytest.raises(ValueError):
        encode(np.zeros(8, np.uint8), "mh")
    with pytest.raises(ValueError):
        decode(b"", "mh", 0)
    with pytest.raises(ValueError):
        decode(b"", "mh", 65536)
    with pytest.raises(ValueError):
        decode(b"", "xx", 8)
    with pytest.raises(ValueError):
        PackedBitmap(np.zeros((2, 3), np.uint8), 8)


def test_empty_streams():
    for scheme in ("mh", "mr", "mmr"):
        page = decode(b"", scheme, 1728)
        assert page.rows == 0 and page.bitmap.shape == (0, 1728) and page.error is None
        page = decode(encode(np.zeros((0, 1728), np.uint8), scheme), scheme, 1728)
        assert page.rows == 0 and page.end_marker_seen
        page = decode(b"\0" * 100, scheme, 1728)
        assert page.rows == 0 and page.error is None


def test_rows_limit_and_missing_rows():
    bm = np.zeros((10, 100), np.uint8)
    bm[:, 10:20] = 1
    for scheme in ("mh", "mr", "mmr"):
        data = encode(bm, scheme)
        page = decode(data, scheme, 100, rows=4)
        assert page.rows == 4 and page.error is None
        np.testing.assert_array_equal(page.bitmap, bm[:4])
        page = decode(data, scheme, 100, rows=12)
        assert page.rows == 10 and "10 of 12" in page.error
        page = decode(data, scheme, 100, max_rows=3)
        assert page.rows == 3 and "limit" in page.error


def test_decode_mr_without_eols_uses_k():
    # MR rows with the EOLs and tag bits taken out: K says which rows are 1-D
    rng = np.random.default_rng(3)
    bm = np.repeat((rng.random((1, 64)) < 0.3).astype(np.uint8), 9, axis=0)
    bm[4, 5:30] ^= 1
    bits = ""
    for i, row in enumerate(bm):
        bits += _ref_1d(row) if i % 3 == 0 else _ref_2d(row, bm[i - 1])
    data = _to_bytes(bits, False)
    page = decode(data, "mr", 64, k=3, rows=9)
    assert page.error is None
    np.testing.assert_array_equal(page.bitmap, bm)
    # MH without EOLs (each row directly after the previous one)
    data = _to_bytes("".join(_ref_1d(r) for r in bm), False)
    page = decode(data, "mh", 64, rows=9)
    np.testing.assert_array_equal(page.bitmap, bm)
