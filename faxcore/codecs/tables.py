"""ITU-T T.4 / T.6 code tables, as bit strings (most significant bit first).

These are the modified Huffman (MH) run-length codes of ITU-T T.4 Tables 1/T.4 (terminating
codes, run lengths 0..63), 2/T.4 (make-up codes 64..1728) and 3/T.4 (extended make-up codes
1792..2560, shared by white and black), and the two-dimensional mode codes of Table 4/T.4
(also used by T.6 MMR). ``faxcore.codecs._t4`` turns them into fast lookup tables at import.

Terms (T.4 section 4): EOL is the end-of-line code ``000000000001``; RTC (return to control)
is six consecutive EOLs (each followed by the tag bit ``1`` in MR); EOFB (end of facsimile
block, T.6) is two EOLs. In MR the bit after each EOL is the tag: ``1`` = the next line is
coded one-dimensionally, ``0`` = two-dimensionally.
"""

from __future__ import annotations

EOL = "000000000001"

# Table 1/T.4, white terminating codes, run length 0..63
WHITE_TERMINATING: tuple[str, ...] = (
    "00110101", "000111", "0111", "1000", "1011", "1100", "1110", "1111",
    "10011", "10100", "00111", "01000", "001000", "000011", "110100", "110101",
    "101010", "101011", "0100111", "0001100", "0001000", "0010111", "0000011", "0000100",
    "0101000", "0101011", "0010011", "0100100", "0011000", "00000010", "00000011", "00011010",
    "00011011", "00010010", "00010011", "00010100", "00010101", "00010110", "00010111", "00101000",
    "00101001", "00101010", "00101011", "00101100", "00101101", "00000100", "00000101", "00001010",
    "00001011", "01010010", "01010011", "01010100", "01010101", "00100100", "00100101", "01011000",
    "01011001", "01011010", "01011011", "01001010", "01001011", "00110010", "00110011", "00110100",
)

# Table 1/T.4, black terminating codes, run length 0..63
BLACK_TERMINATING: tuple[str, ...] = (
    "0000110111", "010", "11", "10", "011", "0011", "0010", "00011",
    "000101", "000100", "0000100", "0000101", "0000111", "00000100", "00000111", "000011000",
    "0000010111", "0000011000", "0000001000", "00001100111", "00001101000", "00001101100",
    "00000110111", "00000101000",
    "00000010111", "00000011000", "000011001010", "000011001011", "000011001100", "000011001101",
    "000001101000", "000001101001",
    "000001101010", "000001101011", "000011010010", "000011010011", "000011010100", "000011010101",
    "000011010110", "000011010111",
    "000001101100", "000001101101", "000011011010", "000011011011", "000001010100", "000001010101",
    "000001010110", "000001010111",
    "000001100100", "000001100101", "000001010010", "000001010011", "000000100100", "000000110111",
    "000000111000", "000000100111",
    "000000101000", "000001011000", "000001011001", "000000101011", "000000101100", "000001011010",
    "000001100110", "000001100111",
)

# Table 2/T.4, white make-up codes 64..1728
WHITE_MAKEUP: dict[int, str] = {
    64: "11011", 128: "10010", 192: "010111", 256: "0110111", 320: "00110110",
    384: "00110111", 448: "01100100", 512: "01100101", 576: "01101000", 640: "01100111",
    704: "011001100", 768: "011001101", 832: "011010010", 896: "011010011", 960: "011010100",
    1024: "011010101", 1088: "011010110", 1152: "011010111", 1216: "011011000",
    1280: "011011001", 1344: "011011010", 1408: "011011011", 1472: "010011000",
    1536: "010011001", 1600: "010011010", 1664: "011000", 1728: "010011011",
}

# Table 2/T.4, black make-up codes 64..1728
BLACK_MAKEUP: dict[int, str] = {
    64: "0000001111", 128: "000011001000", 192: "000011001001", 256: "000001011011",
    320: "000000110011", 384: "000000110100", 448: "000000110101", 512: "0000001101100",
    576: "0000001101101", 640: "0000001001010", 704: "0000001001011", 768: "0000001001100",
    832: "0000001001101", 896: "0000001110010", 960: "0000001110011", 1024: "0000001110100",
    1088: "0000001110101", 1152: "0000001110110", 1216: "0000001110111", 1280: "0000001010010",
    1344: "0000001010011", 1408: "0000001010100", 1472: "0000001010101", 1536: "0000001011010",
    1600: "0000001011011", 1664: "0000001100100", 1728: "0000001100101",
}

# Table 3/T.4, extended make-up codes 1792..2560, the same for white and black runs
COMMON_MAKEUP: dict[int, str] = {
    1792: "00000001000", 1856: "00000001100", 1920: "00000001101", 1984: "000000010010",
    2048: "000000010011", 2112: "000000010100", 2176: "000000010101", 2240: "000000010110",
    2304: "000000010111", 2368: "000000011100", 2432: "000000011101", 2496: "000000011110",
    2560: "000000011111",
}

# Table 4/T.4, two-dimensional coding modes. V0 means a1 is just under b1; VR n means
# a1 is n pixels to the right of b1, VL n to the left. EXT2D is the 7-bit prefix of the
# extension code (followed by 3 bits selecting e.g. uncompressed mode, which faxcore
# does not support and reports as an error).
MODE_CODES: dict[str, str] = {
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

# Vertical mode codes indexed by the offset a1 - b1 + 3 (VL3 .. VR3)
VERTICAL_BY_OFFSET: tuple[str, ...] = (
    MODE_CODES["VL3"], MODE_CODES["VL2"], MODE_CODES["VL1"], MODE_CODES["V0"],
    MODE_CODES["VR1"], MODE_CODES["VR2"], MODE_CODES["VR3"],
)

MAX_RUN_CODE = 2560  # longest make-up code; longer runs repeat it (T.4 4.1.1.3)


def run_codes(black: bool) -> dict[int, str]:
    """All codes of one colour: {run length: code}, terminating and make-up together."""
    codes = dict(enumerate(BLACK_TERMINATING if black else WHITE_TERMINATING))
    codes.update(BLACK_MAKEUP if black else WHITE_MAKEUP)
    codes.update(COMMON_MAKEUP)
    return codes


def run_code_sequence(run: int, black: bool) -> list[str]:
    """The code words for one run, as T.4 prescribes (make-ups, then a terminating code).

    Runs of 2624 or more emit the 2560 make-up code repeatedly first, the way libtiff does,
    so the result is byte-identical to libtiff's; a run of 2560..2623 uses one 2560 code.
    """
    if run < 0:
        raise ValueError("negative run length")
    codes = run_codes(black)
    out = []
    while run >= MAX_RUN_CODE + 64:
        out.append(codes[MAX_RUN_CODE])
        run -= MAX_RUN_CODE
    if run >= 64:
        out.append(codes[run & ~63])
        run &= 63
    out.append(codes[run])
    return out
