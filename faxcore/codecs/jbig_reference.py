"""A plain-Python reading of the T.85 decoder, for tests on small pages.

Written to follow ITU-T T.82 step by step (INITDEC, DECODE with its conditional exchange,
RENORMD, BYTEIN; the templates as pixel lists; typical prediction as LNTP), not for speed,
so that the fast Cython form (:mod:`faxcore.codecs._jbig`) has something independent to be
compared with. It trusts its input: use it on well-formed streams only.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from faxcore.codecs._jbig import TABLE

# template pixels (dx, dy) from the most significant context bit down; "A" is the AT pixel
_THREE_LINE = [(-1, -2), (0, -2), (1, -2), (-2, -1), (-1, -1), (0, -1), (1, -1), "A",
               (-2, 0), (-1, 0)]
_TWO_LINE = [(-3, -1), (-2, -1), (-1, -1), (0, -1), (1, -1), "A", (-4, 0), (-3, 0),
             (-2, 0), (-1, 0)]


class _ArithDecoder:
    def __init__(self, scd: bytes) -> None:
        self.scd = scd
        self.i = 0
        self.c = 0
        for _ in range(3):
            self.c = (self.c << 8) | self.byte_in()
        self.c <<= 8
        self.ct = 8
        self.a = 0x10000

    def byte_in(self) -> int:
        if self.i >= len(self.scd):
            return 0                  # past the SCD: zeros
        b = self.scd[self.i]
        self.i += 2 if b == 0xFF else 1   # 0xFF is followed by a stuffed 0x00
        return b

    def decode(self, st: list[int], mps: list[int], cx: int) -> int:
        lsz, nmps, nlps, swtch = TABLE[st[cx]]
        self.a -= lsz
        chigh = self.c >> 16
        if chigh < self.a:
            if self.a >= 0x8000:
                return mps[cx]
            lps = self.a < lsz            # conditional exchange
        else:
            self.c -= self.a << 16
            lps = not self.a < lsz
            self.a = lsz
        if lps:
            pix = 1 - mps[cx]
            if swtch:
                mps[cx] = 1 - mps[cx]
            st[cx] = nlps
        else:
            pix = mps[cx]
            st[cx] = nmps
        while self.a < 0x8000:
            self.a <<= 1
            self.c = (self.c << 1) & 0xFFFFFFFF
            self.ct -= 1
            if self.ct == 0:
                self.c |= self.byte_in() << 8
                self.ct = 8
        return pix


def decode(data: bytes) -> np.ndarray:
    """Decode a well-formed T.85 BIE to a 0/1 array (rows, width)."""
    _, _, _, _, xd, yd, l0, _, _, _, options = struct.unpack(">BBBBIIIBBBB", data[:20])
    template = _TWO_LINE if options & 0x40 else _THREE_LINE
    tp_cx = 0x195 if options & 0x40 else 0x0E5
    tpbon = bool(options & 0x08)
    img: list[list[int]] = []
    st, mps = [0] * 1024, [0] * 1024
    lntp_prev = 1
    tx = 0
    moves: dict[int, int] = {}
    pos = 20

    floor = 0                       # first line of the stripe after the last SDRST

    def pixel(x: int, y: int) -> int:
        return img[y][x] if floor <= y < len(img) and 0 <= x < xd else 0

    while len(img) < yd and pos < len(data):
        # floating marker segments
        while data[pos] == 0xFF and data[pos + 1] in (5, 6, 7):
            kind = data[pos + 1]
            if kind == 5:
                yd = int.from_bytes(data[pos + 2:pos + 6], "big")
                pos += 6
            elif kind == 6:
                moves[len(img) + int.from_bytes(data[pos + 2:pos + 6], "big")] = data[pos + 6]
                pos += 8
            else:
                pos += 6 + int.from_bytes(data[pos + 2:pos + 6], "big")
        if len(img) >= yd:
            break
        end = pos
        while not (data[end] == 0xFF and data[end + 1] != 0):
            end += 2 if data[end] == 0xFF else 1
        nxt = end + 2
        if data[nxt:nxt + 2] == b"\xff\x05":         # a NEWLEN right after this stripe
            yd = min(yd, int.from_bytes(data[nxt + 2:nxt + 6], "big"))
        dec = _ArithDecoder(data[pos:end])
        for _ in range(min(l0, yd - len(img))):
            y = len(img)
            tx = moves.get(y, tx)
            if tpbon:
                slntp = dec.decode(st, mps, tp_cx)
                lntp = lntp_prev ^ (1 - slntp)
                lntp_prev = lntp
                if not lntp:
                    img.append([pixel(x, y - 1) for x in range(xd)])
                    continue
            row = [0] * xd
            img.append(row)
            for x in range(xd):
                cx = 0
                for t in template:
                    if t == "A":
                        bit = pixel(x + 2, y - 1) if tx == 0 else pixel(x - tx, y)
                    else:
                        bit = pixel(x + t[0], y + t[1])
                    cx = (cx << 1) | bit
                row[x] = dec.decode(st, mps, cx)
        if data[end + 1] == 3:                   # SDRST
            # T.82: the next stripe starts afresh: statistics, TP, AT, white lines above
            st, mps, lntp_prev, tx, floor = [0] * 1024, [0] * 1024, 1, 0, len(img)
        pos = end + 2
    return np.array(img, dtype=np.uint8).reshape(len(img), xd)


def at_counts(img: np.ndarray, first: int, count: int, top: int, two_line: bool,
              tpbon: bool, mx: int) -> np.ndarray:
    """The plain reading of :func:`faxcore.codecs._jbig.at_counts`: for every coded pixel
    of lines ``first .. first + count`` of the 0/1 array ``img`` and every AT offset ``t``
    (0 = the default pixel above right, 3..``mx`` = ``t`` pixels to the left), count
    ``n[t, ctx9, at, pix]``, ``ctx9`` being the nine template pixels other than the AT
    pixel (most significant first, as in the context), lines above ``top`` white."""
    rows, xd = img.shape

    def pixel(x: int, y: int) -> int:
        return int(img[y][x]) if top <= y < rows and 0 <= x < xd else 0

    template = [t for t in (_TWO_LINE if two_line else _THREE_LINE) if t != "A"]
    n = np.zeros((mx + 1, 512, 2, 2), np.int64)
    for y in range(first, first + count):
        if tpbon and all(pixel(x, y) == pixel(x, y - 1) for x in range(xd)):
            continue                                  # typical: not coded pixel by pixel
        for x in range(xd):
            ctx9 = 0
            for dx, dy in template:
                ctx9 = (ctx9 << 1) | pixel(x + dx, y + dy)
            pix = pixel(x, y)
            n[0, ctx9, pixel(x + 2, y - 1), pix] += 1
            for t in range(3, mx + 1):
                n[t, ctx9, pixel(x - t, y), pix] += 1
    return n


def at_cost_bits(counts: np.ndarray) -> np.ndarray:
    """The plain reading of :func:`faxcore.codecs._jbig.at_cost_bits`: per AT offset, the
    sum over the (ctx9, at) cells holding ``n = k0 + k1`` pixels of
    ``n log2 n - k0 log2 k0 - k1 log2 k1 + log2(n + 1) / 2``; offsets 1 and 2: infinite."""
    cost = []
    for t in range(counts.shape[0]):
        if t in (1, 2):
            cost.append(math.inf)
            continue
        bits = 0.0
        for ctx9 in range(512):
            for at in (0, 1):
                k0, k1 = (int(v) for v in counts[t, ctx9, at])
                n = k0 + k1
                if n:
                    bits += sum(v * math.log2(v) for v in (n,) if v) \
                        - sum(v * math.log2(v) for v in (k0, k1) if v) + 0.5 * math.log2(n + 1)
        cost.append(bits)
    return np.array(cost)
