"""T.85 JBIG codec: round trips over the options, the fast decoder against the plain-Python
reference, and the hostile-input contract (rows so far + error, bounded rows)."""

import struct

import numpy as np
import pytest

from faxcore.codecs import MAX_ROWS, decode, encode, jbig, jbig_reference, pack


def _page(rows: int, width: int, seed: int = 0, density: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = (rng.random((rows, width)) < density).astype(np.uint8)
    a[rows // 3: rows // 3 + 5] = 0                # typical (repeated) lines for TPBON
    if rows > 8:
        a[7] = a[6]
    a[:, width // 2: width // 2 + 3] = 1            # a vertical rule
    return a


@pytest.mark.parametrize("two_line", [False, True])
@pytest.mark.parametrize("tpbon", [False, True])
@pytest.mark.parametrize("l0", [1, 5, 128])
def test_round_trip_over_the_options(two_line, tpbon, l0):
    a = _page(70, 203, seed=l0)
    data = jbig.encode(a, two_line=two_line, tpbon=tpbon, l0=l0)
    p = jbig.decode(data)
    assert p.error is None and p.end_marker_seen
    assert np.array_equal(p.bitmap, a)


@pytest.mark.parametrize("width", [1, 2, 7, 8, 9, 130, 1728, 2432])
def test_round_trip_through_the_scheme_dispatch(width):
    a = _page(40, width, seed=width)
    data = encode(a, "jbig")
    p = decode(data, "jbig", width)
    assert p.ok and p.rows == 40 and np.array_equal(p.bitmap, a)
    assert np.array_equal(p.packed.data, pack(a).data)      # pad bits past the width: 0
    q = decode(encode(a, "jbig", lsb_first=True), "jbig", width, lsb_first=True)
    assert np.array_equal(q.bitmap, a)


def test_all_white_and_all_black_pages():
    for value in (0, 1):
        a = np.full((300, 1728), value, np.uint8)
        data = encode(a, "jbig")
        assert np.array_equal(decode(data, "jbig", 1728).bitmap, a)
    assert len(encode(np.zeros((2000, 1728), np.uint8), "jbig")) < 200


def test_at_moves_newlen_and_comment():
    a = _page(300, 500, seed=3, density=0.3)
    a[:, ::5] = 1                                   # a period the AT pixel can use
    data = jbig.encode(a, at_moves={0: 5, 130: 10, 200: 0}, l0=64, yd=1000,
                       comment=b"\xff\x02 not a marker")
    bih = jbig.parse_bih(data)
    assert bih["yd"] == 1000 and bih["options"] & jbig.VLENGTH and bih["mx"] == 10
    p = jbig.decode(data)
    assert p.error is None and np.array_equal(p.bitmap, a)
    assert np.array_equal(jbig_reference.decode(data), a)
    unknown = jbig.encode(a, yd=jbig.YD_UNKNOWN, l0=128)
    assert np.array_equal(jbig.decode(unknown).bitmap, a)


def test_a_newlen_inside_the_last_stripe_data():
    """NEWLEN between the last SCD and its SDNORM (read by jbigkit too) ends the page."""
    a = _page(200, 64, seed=4)
    data = jbig.encode(a, yd=5000)
    tail = b"\xff\x02" + data[-8:]                 # SDNORM NEWLEN(200) SDNORM
    assert data.endswith(tail)
    moved = data[: -len(tail)] + data[-8:-2] + b"\xff\x02"
    p = jbig.decode(moved)
    assert p.error is None and np.array_equal(p.bitmap, a)


@pytest.mark.parametrize("two_line", [False, True])
def test_fast_decoder_equals_the_reference(two_line):
    for seed in range(3):
        a = _page(23, 37 + seed * 11, seed=seed, density=0.2 + 0.2 * seed)
        data = jbig.encode(a, two_line=two_line, l0=9, at_moves={4: 3 + seed, 15: 0})
        ref = jbig_reference.decode(data)
        assert np.array_equal(ref, a)
        assert np.array_equal(jbig.decode(data).bitmap, ref)


def test_sdrst_resets_the_statistics():
    """Stripes ended by SDRST: each stripe starts with fresh context states (and the
    TPBON state), so the bytes differ from SDNORM's and both decoders follow."""
    a = _page(60, 64, seed=5, density=0.3)
    norm = jbig.encode(a, l0=10)
    rst = jbig.encode(a, l0=10, sdrst=True)
    assert rst.count(b"\xff\x03") == 6 and rst != norm
    p = jbig.decode(rst)
    assert p.error is None and np.array_equal(p.bitmap, a)
    assert np.array_equal(jbig_reference.decode(rst), a)
    # decoded without the reset (SDRST read as SDNORM), the stripes after the first break
    wrong = jbig.decode(rst.replace(b"\xff\x03", b"\xff\x02"))
    assert not np.array_equal(wrong.bitmap, a)


def test_a_truncated_stream_gives_the_correct_rows_so_far():
    a = _page(400, 1728, seed=9)
    data = jbig.encode(a)
    for cut in (25, 100, len(data) // 3, len(data) - 3):
        p = jbig.decode(data[:cut])
        assert p.error and "ended" in p.error
        assert 0 <= p.rows < 400
        assert np.array_equal(p.bitmap, a[:p.rows])
    assert jbig.decode(data[: len(data) // 2]).rows > 100


def test_hostile_headers_and_markers():
    a = _page(50, 100)
    good = jbig.encode(a, l0=16)
    bad_bih = [good[:10], b"\x01" + good[1:], good[:3] + b"\x05" + good[4:],
               good[:4] + b"\0\0\0\0" + good[8:], good[:19] + b"\x80" + good[20:],
               good[:4] + struct.pack(">I", 70000) + good[8:]]
    for data in bad_bih:
        p = jbig.decode(data)
        assert p.rows == 0 and p.error
    # NEWLEN without VLENGTH, invalid marker, ATMOVE with ty != 0, ABORT
    first_sde_end = good.index(b"\xff\x02") + 2
    for insert in (b"\xff\x05\0\0\0\x10", b"\xff\x09", b"\xff\x06\0\0\0\0\x03\x01",
                   b"\xff\x04"):
        p = jbig.decode(good[:first_sde_end] + insert + good[first_sde_end:])
        assert p.error and p.rows == 16 and np.array_equal(p.bitmap, a[:16])


def test_a_huge_declared_page_is_capped():
    """YD = 2**32-1 and width 65535 with a few bytes: rows stop at the pixel cap."""
    data = struct.pack(">BBBBIIIBBBB", 0, 0, 1, 0, 65535, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0,
                       jbig.TPBON | jbig.VLENGTH) + b"\xff\x02"
    p = jbig.decode(data)
    assert p.rows <= min(MAX_ROWS, (1 << 28) // 65535) and p.error
    data = struct.pack(">BBBBIIIBBBB", 0, 0, 1, 0, 8, 0xFFFFFFFF, 128, 0, 0, 0, 8)
    p = jbig.decode(data + b"\x00\xff\x02" * 600)
    assert p.rows == MAX_ROWS and "cap" in p.error


def test_the_width_must_match_the_header():
    data = encode(np.zeros((3, 100), np.uint8), "jbig")
    p = decode(data, "jbig", 99)
    assert p.rows == 0 and "XD=100" in p.error
