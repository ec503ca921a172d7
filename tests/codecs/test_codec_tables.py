"""The T.4 code tables checked against the standard, typed in here independently.

Source: ITU-T Rec. T.4 (07/2003), Table 1/T.4 (terminating codes), Table 2/T.4 (make-up
codes), Table 3/T.4 (extended make-up codes) and Table 4/T.4 (2-D code table). Written
below as the standard prints them: run length, white code word, black code word.
A second, independent oracle is libtiff: every run length 0..2700 of both colours coded by
tiffcp must equal our codes (test_libtiff_codec.py::test_every_run_length_matches_libtiff).
"""

from __future__ import annotations

import pytest

from faxcore.codecs import tables

TABLE_1 = """
0 00110101 0000110111
1 000111 010
2 0111 11
3 1000 10
4 1011 011
5 1100 0011
6 1110 0010
7 1111 00011
8 10011 000101
9 10100 000100
10 00111 0000100
11 01000 0000101
12 001000 0000111
13 000011 00000100
14 110100 00000111
15 110101 000011000
16 101010 0000010111
17 101011 0000011000
18 0100111 0000001000
19 0001100 00001100111
20 0001000 00001101000
21 0010111 00001101100
22 0000011 00000110111
23 0000100 00000101000
24 0101000 00000010111
25 0101011 00000011000
26 0010011 000011001010
27 0100100 000011001011
28 0011000 000011001100
29 00000010 000011001101
30 00000011 000001101000
31 00011010 000001101001
32 00011011 000001101010
33 00010010 000001101011
34 00010011 000011010010
35 00010100 000011010011
36 00010101 000011010100
37 00010110 000011010101
38 00010111 000011010110
39 00101000 000011010111
40 00101001 000001101100
41 00101010 000001101101
42 00101011 000011011010
43 00101100 000011011011
44 00101101 000001010100
45 00000100 000001010101
46 00000101 000001010110
47 00001010 000001010111
48 00001011 000001100100
49 01010010 000001100101
50 01010011 000001010010
51 01010100 000001010011
52 01010101 000000100100
53 00100100 000000110111
54 00100101 000000111000
55 01011000 000000100111
56 01011001 000000101000
57 01011010 000001011000
58 01011011 000001011001
59 01001010 000000101011
60 01001011 000000101100
61 00110010 000001011010
62 00110011 000001100110
63 00110100 000001100111
"""

TABLE_2 = """
64 11011 0000001111
128 10010 000011001000
192 010111 000011001001
256 0110111 000001011011
320 00110110 000000110011
384 00110111 000000110100
448 01100100 000000110101
512 01100101 0000001101100
576 01101000 0000001101101
640 01100111 0000001001010
704 011001100 0000001001011
768 011001101 0000001001100
832 011010010 0000001001101
896 011010011 0000001110010
960 011010100 0000001110011
1024 011010101 0000001110100
1088 011010110 0000001110101
1152 011010111 0000001110110
1216 011011000 0000001110111
1280 011011001 0000001010010
1344 011011010 0000001010011
1408 011011011 0000001010100
1472 010011000 0000001010101
1536 010011001 0000001011010
1600 010011010 0000001011011
1664 011000 0000001100100
1728 010011011 0000001100101
"""

# Table 3/T.4: one code word for both colours
TABLE_3 = """
1792 00000001000
1856 00000001100
1920 00000001101
1984 000000010010
2048 000000010011
2112 000000010100
2176 000000010101
2240 000000010110
2304 000000010111
2368 000000011100
2432 000000011101
2496 000000011110
2560 000000011111
"""

TABLE_4 = {
    "P": "0001",
    "H": "001",
    "V0": "1",
    "VR1": "011",
    "VR2": "000011",
    "VR3": "0000011",
    "VL1": "010",
    "VL2": "000010",
    "VL3": "0000010",
    "EXT2D": "0000001",
}


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_terminating_codes():
    rows = _rows(TABLE_1)
    assert [int(r[0]) for r in rows] == list(range(64))
    assert list(tables.WHITE_TERMINATING) == [r[1] for r in rows]
    assert list(tables.BLACK_TERMINATING) == [r[2] for r in rows]


def test_makeup_codes():
    rows = _rows(TABLE_2)
    assert [int(r[0]) for r in rows] == list(range(64, 1729, 64))
    assert tables.WHITE_MAKEUP == {int(r[0]): r[1] for r in rows}
    assert tables.BLACK_MAKEUP == {int(r[0]): r[2] for r in rows}


def test_extended_makeup_codes():
    rows = _rows(TABLE_3)
    assert [int(r[0]) for r in rows] == list(range(1792, 2561, 64))
    assert tables.COMMON_MAKEUP == {int(r[0]): r[1] for r in rows}


def test_mode_codes_and_eol():
    assert tables.MODE_CODES == TABLE_4
    assert tables.EOL == "0" * 11 + "1"
    assert tables.VERTICAL_BY_OFFSET == tuple(
        TABLE_4[m] for m in ("VL3", "VL2", "VL1", "V0", "VR1", "VR2", "VR3")
    )


@pytest.mark.parametrize("black", [False, True])
def test_run_codes_prefix_free(black):
    codes = list(tables.run_codes(black).values()) + [tables.EOL]
    assert len(codes) == 64 + 27 + 13 + 1
    for a in codes:
        for b in codes:
            assert a == b or not b.startswith(a), (a, b)


def test_mode_codes_prefix_free_and_complete():
    codes = list(TABLE_4.values())
    for a in codes:
        for b in codes:
            assert a == b or not b.startswith(a)
    # with 0000000 (EOL / EOFB prefix) the 7-bit mode space is fully used
    assert sum(2.0 ** -len(c) for c in codes) + 2.0**-7 == 1.0


def test_run_code_sequence_long_runs():
    seq = tables.run_code_sequence(2560 * 3 + 100, black=False)
    # runs >= 2624 repeat the 2560 make-up, then one ordinary make-up, then a terminating code
    assert seq == ["000000011111"] * 3 + [TABLE_2.split()[1], _rows(TABLE_1)[36][1]]
    assert tables.run_code_sequence(2600, True) == ["000000011111", _rows(TABLE_1)[40][2]]
    assert tables.run_code_sequence(0, True) == ["0000110111"]
    with pytest.raises(ValueError):
        tables.run_code_sequence(-1, False)
