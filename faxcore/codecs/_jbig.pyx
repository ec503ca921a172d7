# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Hot loops of the ITU-T T.85 (JBIG1 fax profile, T.82) codec: the adaptive arithmetic
coder (QM-coder) and the lowest-resolution-layer context models (3-line and 2-line
templates, typical prediction TPBON, AT pixel moves). The public API is
:mod:`faxcore.codecs.jbig`; the marker/BIH parsing is there too (plain Python, linear).

Rows are packed, MSB first, 1 = black, as in :mod:`faxcore.codecs._t4`.

Speed (benchmarks/jbig_speed.py against jbigkit's libjbig85): the coder state lives in C
locals inside the line loops; RENORME/RENORMD shift by a count of leading zeros; the
context comes from three rolling windows; white runs under white lines are coded or
decoded k pixels at a time while no renormalisation is due (``_white_run``, switchable
with :func:`set_fast_runs` so tests can compare it with the pixel-by-pixel path, which
is the plain reading; :mod:`faxcore.codecs.jbig_reference` is the independent one).

Memory safety: bounds checking is off for this module, so every pointer access below is
guarded by an explicit check or by an invariant stated next to it:

* rows are unpacked into three pixel lines (one byte a pixel) of ``LEFT + width + RIGHT``
  bytes; the context model reads at ``LEFT + x + d`` with ``-LEFT <= d <= 3`` for
  ``0 <= x <= width``: ``d`` is one of the template offsets (-4..+3) or ``-tx`` with
  ``0 < tx <= MAX_TX < LEFT`` (``tx`` is checked against ``MAX_TX`` before use), so every
  read is inside the line; the margins are zero (white pixels outside the page) and are
  never written (writes go to ``LEFT + x`` with ``0 <= x < width`` only);
* the white-run fast path (``_white_run``) loads 8 bytes at ``x + p``, ``x + 1 + p`` and
  ``x + 2 + p`` for ``p < limit <= width - x``: the last byte read is at most
  ``width + 8 < width + RIGHT``; it returns at most ``limit``, so the ``k`` pixels then
  written (``memset(c + x, 0, k)``) end at ``x + k <= width``; the windows are then reread
  at ``x - 4 .. x + 2`` with ``2 <= x <= width``;
* packed rows are read/written at ``row * rowbytes + (x >> 3)`` with ``x < width`` and
  ``row`` below the caller-checked row count of the array; ``_unpack_row`` copies 8 bytes
  from ``fc_unpack8[src[i]]`` (a byte index into 256 rows) to ``LEFT + 8 i`` only for
  ``i < width >> 3``; ``_pack_row`` loads 8 bytes at ``LEFT + 8 i`` for
  ``i < (width + 7) >> 3``, so at most ``width + 6 < width + RIGHT``;
* the coder tables ``S_LSZ``/``S_NMPS``/``S_NLPS`` have 256 entries and are indexed by a
  state byte (``uint8_t``), so every index is in range whatever the state holds;
* the arithmetic decoder reads its segment ``data[pos:end]`` with ``pos < end`` checked
  before every read; past ``end`` it feeds 0 bytes (T.82: the decoder pads a stripe's data
  with zeros) and counts them in ``pad``;
* the encoder's output grows with ``_out_reserve`` (checked realloc) before every write of
  at most 2 bytes;
* every decode loop runs over at most ``nrows * width`` pixels with ``nrows`` given by the
  caller (already capped), so hostile input cannot make it hang.
* ``at_counts`` (encoder side) reads its own three unpacked lines the same way (offsets
  -3..+3 and ``-t`` with ``3 <= t <= mx <= MAX_TX < LEFT``, ``mx`` checked on entry; the
  16-byte white tests read ``x - 4 .. x + 11`` only when ``x + 8 <= width`` (so at most
  ``width + 3 < width + RIGHT``), or ``u .. u + 15`` only when ``u + 16 <= width``), its
  quiet-pixel line at ``LEFT + u + t`` only when ``u + t < width``, and writes the count
  array at ``((ctx9 * 2 + pix) * (mx + 1) + t) * 2 + at`` with ``t <= mx``, ``ctx9 < 512``
  (nine bits) and ``at, pix`` in 0..1: inside the ``512 * 2 * (mx + 1) * 2`` counts it
  allocated; on its bit path (``mx <= 63``) ``t - 1`` is the index of a set bit of
  ``hist & cand`` and ``cand`` has bits 2..mx-1 only, so ``3 <= t <= mx`` again, and the
  totals are indexed by ``(ctx9 << 1) | pix < 1024``.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset, memcpy, memcmp
from libc.math cimport log2, INFINITY
from cpython.bytes cimport PyBytes_FromStringAndSize

import numpy as _np

cdef extern from *:
    """
    static inline int fc_ctz64(unsigned long long v) { return __builtin_ctzll(v); }
    /* the index * 8 of the first nonzero byte, in memory order, of 8 bytes loaded into v */
    static inline int fc_first_byte_bits(unsigned long long v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return __builtin_clzll(v);
    #else
        return __builtin_ctzll(v);
    #endif
    }
    """
    int fc_ctz64(unsigned long long v) noexcept nogil     # v != 0 (checked by callers)
    int fc_first_byte_bits(unsigned long long v) noexcept nogil   # v != 0 (checked)

DEF LEFT = 136      # left margin of a pixel line: covers x - tx for tx <= MAX_TX
DEF RIGHT = 16      # right margin: covers x + 3 and the 8-byte loads of _white_run
DEF MAX_TX = 127    # T.82/T.85: MX <= 127
DEF NCX = 1024      # 10-pixel templates
DEF TP3CX = 0x0E5   # TPBON pseudo-pixel context, 3-line template
DEF TP2CX = 0x195   # TPBON pseudo-pixel context, 2-line template

# T.82 Table 24: the probability estimation state machine (LSZ, NMPS, NLPS, SWTCH),
# 113 states.
cdef uint32_t LSZ[113]
cdef uint8_t NMPS[113]
cdef uint8_t NLPS[113]
cdef uint8_t SWTCH[113]

_TABLE = (
    (0x5a1d, 1, 1, 1), (0x2586, 2, 14, 0), (0x1114, 3, 16, 0), (0x080b, 4, 18, 0),
    (0x03d8, 5, 20, 0), (0x01da, 6, 23, 0), (0x00e5, 7, 25, 0), (0x006f, 8, 28, 0),
    (0x0036, 9, 30, 0), (0x001a, 10, 33, 0), (0x000d, 11, 35, 0), (0x0006, 12, 9, 0),
    (0x0003, 13, 10, 0), (0x0001, 13, 12, 0), (0x5a7f, 15, 15, 1), (0x3f25, 16, 36, 0),
    (0x2cf2, 17, 38, 0), (0x207c, 18, 39, 0), (0x17b9, 19, 40, 0), (0x1182, 20, 42, 0),
    (0x0cef, 21, 43, 0), (0x09a1, 22, 45, 0), (0x072f, 23, 46, 0), (0x055c, 24, 48, 0),
    (0x0406, 25, 49, 0), (0x0303, 26, 51, 0), (0x0240, 27, 52, 0), (0x01b1, 28, 54, 0),
    (0x0144, 29, 56, 0), (0x00f5, 30, 57, 0), (0x00b7, 31, 59, 0), (0x008a, 32, 60, 0),
    (0x0068, 33, 62, 0), (0x004e, 34, 63, 0), (0x003b, 35, 32, 0), (0x002c, 9, 33, 0),
    (0x5ae1, 37, 37, 1), (0x484c, 38, 64, 0), (0x3a0d, 39, 65, 0), (0x2ef1, 40, 67, 0),
    (0x261f, 41, 68, 0), (0x1f33, 42, 69, 0), (0x19a8, 43, 70, 0), (0x1518, 44, 72, 0),
    (0x1177, 45, 73, 0), (0x0e74, 46, 74, 0), (0x0bfb, 47, 75, 0), (0x09f8, 48, 77, 0),
    (0x0861, 49, 78, 0), (0x0706, 50, 79, 0), (0x05cd, 51, 48, 0), (0x04de, 52, 50, 0),
    (0x040f, 53, 50, 0), (0x0363, 54, 51, 0), (0x02d4, 55, 52, 0), (0x025c, 56, 53, 0),
    (0x01f8, 57, 54, 0), (0x01a4, 58, 55, 0), (0x0160, 59, 56, 0), (0x0125, 60, 57, 0),
    (0x00f6, 61, 58, 0), (0x00cb, 62, 59, 0), (0x00ab, 63, 61, 0), (0x008f, 32, 61, 0),
    (0x5b12, 65, 65, 1), (0x4d04, 66, 80, 0), (0x412c, 67, 81, 0), (0x37d8, 68, 82, 0),
    (0x2fe8, 69, 83, 0), (0x293c, 70, 84, 0), (0x2379, 71, 86, 0), (0x1edf, 72, 87, 0),
    (0x1aa9, 73, 87, 0), (0x174e, 74, 72, 0), (0x1424, 75, 72, 0), (0x119c, 76, 74, 0),
    (0x0f6b, 77, 74, 0), (0x0d51, 78, 75, 0), (0x0bb6, 79, 77, 0), (0x0a40, 48, 77, 0),
    (0x5832, 81, 80, 1), (0x4d1c, 82, 88, 0), (0x438e, 83, 89, 0), (0x3bdd, 84, 90, 0),
    (0x34ee, 85, 91, 0), (0x2eae, 86, 92, 0), (0x299a, 87, 93, 0), (0x2516, 71, 86, 0),
    (0x5570, 89, 88, 1), (0x4ca9, 90, 95, 0), (0x44d9, 91, 96, 0), (0x3e22, 92, 97, 0),
    (0x3824, 93, 99, 0), (0x32b4, 94, 99, 0), (0x2e17, 86, 93, 0), (0x56a8, 96, 95, 1),
    (0x4f46, 97, 101, 0), (0x47e5, 98, 102, 0), (0x41cf, 99, 103, 0), (0x3c3d, 100, 104, 0),
    (0x375e, 93, 99, 0), (0x5231, 102, 105, 0), (0x4c0f, 103, 106, 0), (0x4639, 104, 107, 0),
    (0x415e, 99, 103, 0), (0x5627, 106, 105, 1), (0x50e7, 107, 108, 0), (0x4b85, 103, 109, 0),
    (0x5597, 109, 110, 0), (0x504f, 107, 111, 0), (0x5a10, 111, 110, 1), (0x5522, 109, 112, 0),
    (0x59eb, 111, 112, 1),
)
#: (LSZ, NMPS, NLPS, SWTCH) per state, for the plain-Python reference decoder
TABLE = _TABLE

cdef int _i
for _i in range(113):
    LSZ[_i] = _TABLE[_i][0]
    NMPS[_i] = _TABLE[_i][1]
    NLPS[_i] = _TABLE[_i][2]
    SWTCH[_i] = _TABLE[_i][3]

# The same, indexed by a whole context state byte s (bit 7 the MPS, bits 0..6 the state
# index): S_LSZ[s] = LSZ[s & 0x7F], S_NMPS[s] = (s & 0x80) | NMPS[s & 0x7F] and
# S_NLPS[s] = ((s & 0x80) ^ (SWTCH[s & 0x7F] << 7)) | NLPS[s & 0x7F]: one load each in the
# coder. A state byte only ever takes values from these tables (or 0), so its index is
# < 113; the 256 entries cover any byte anyway (unreachable ones are 0, LSZ 1).
cdef uint32_t S_LSZ[256]
cdef uint8_t S_NMPS[256]
cdef uint8_t S_NLPS[256]
for _i in range(256):
    if (_i & 0x7F) < 113:
        S_LSZ[_i] = LSZ[_i & 0x7F]
        S_NMPS[_i] = (_i & 0x80) | NMPS[_i & 0x7F]
        S_NLPS[_i] = ((_i & 0x80) ^ (SWTCH[_i & 0x7F] << 7)) | NLPS[_i & 0x7F]
    else:
        S_LSZ[_i] = 1
        S_NMPS[_i] = 0
        S_NLPS[_i] = 0


cdef extern from *:
    """
    /* leading zeros of a 32-bit value; v != 0 */
    static inline int fc_clz32(unsigned int v) { return __builtin_clz(v); }
    """
    int fc_clz32(unsigned int v) noexcept nogil


#: 1 = the white-run fast path of the line loops is on (the default); 0 = every pixel goes
#: through ENCODE/DECODE (the plain reading, for tests that compare the two)
cdef int _fast_runs = 1


def set_fast_runs(bint on) -> None:
    """Switch the white-run fast path of the line loops on or off (tests compare the
    bytes and pixels of both; the coded bytes and decoded pixels are the same)."""
    global _fast_runs
    _fast_runs = on


# ---------------------------------------------------------------------------------------
# Encoder (T.82 INITENC, ENCODE, CODELPS, CODEMPS, RENORME, BYTEOUT, FLUSH)

cdef struct Out:
    uint8_t *buf
    size_t n
    size_t cap
    int failed

cdef int _out_reserve(Out *o, size_t extra) noexcept nogil:
    cdef size_t cap
    cdef uint8_t *nb
    if o.n + extra <= o.cap:
        return 1
    cap = o.cap * 2 + extra + 64
    nb = <uint8_t *> realloc(o.buf, cap)
    if nb == NULL:
        o.failed = 1
        return 0
    o.buf = nb
    o.cap = cap
    return 1

cdef inline void _put(Out *o, uint8_t b) noexcept nogil:
    # one coded byte; 0xFF is followed by a stuffed 0x00 (T.82 STUFF)
    if not _out_reserve(o, 2):
        return
    o.buf[o.n] = b
    o.n += 1
    if b == 0xFF:
        o.buf[o.n] = 0
        o.n += 1

cdef struct Enc:
    uint32_t a
    uint32_t c
    int ct
    long sc         # buffered 0xFF bytes (T.82 SC)
    int buffer      # byte waiting for a possible carry; -1 = none yet

cdef inline void _enc_init(Enc *e) noexcept nogil:
    e.a = 0x10000
    e.c = 0
    e.ct = 11
    e.sc = 0
    e.buffer = -1

cdef inline void _byteout(Enc *e, Out *o) noexcept nogil:
    cdef uint32_t temp = e.c >> 19
    if temp > 0xFF:
        # carry into the buffered byte; the buffered 0xFFs become 0x00s
        if e.buffer >= 0:
            _put(o, <uint8_t>(e.buffer + 1))
        while e.sc:
            _put(o, 0)
            e.sc -= 1
        e.buffer = temp & 0xFF
    elif temp == 0xFF:
        e.sc += 1
    else:
        if e.buffer >= 0:
            _put(o, <uint8_t>e.buffer)
        while e.sc:
            _put(o, 0xFF)
            e.sc -= 1
        e.buffer = temp
    e.c &= 0x7FFFF
    e.ct = 8

cdef inline void _encode(Enc *e, Out *o, uint8_t *st, int cx, int pix) noexcept nogil:
    cdef uint8_t s = st[cx]
    cdef uint32_t lsz = S_LSZ[s]
    cdef int n
    e.a -= lsz
    if pix != (s >> 7):
        # LPS: the upper sub-interval unless it is the larger one (conditional exchange)
        if e.a >= lsz:
            e.c += e.a
            e.a = lsz
        st[cx] = S_NLPS[s]
    else:
        if e.a >= 0x8000:
            return
        if e.a < lsz:
            e.c += e.a
            e.a = lsz
        st[cx] = S_NMPS[s]
    # RENORME: shift A and C left until A >= 0x8000 (n bits; 0 < A < 0x8000 here), a
    # BYTEOUT each time CT reaches 0. Plain reading, one bit at a time:
    #     while True:
    #         a <<= 1; c <<= 1; ct -= 1
    #         if ct == 0: byteout()        # sets ct = 8
    #         if a >= 0x8000: break
    n = fc_clz32(e.a) - 16
    while n >= e.ct:
        e.a <<= e.ct
        e.c <<= e.ct
        n -= e.ct
        _byteout(e, o)
    e.a <<= n
    e.c <<= n
    e.ct -= n

cdef void _enc_flush(Enc *e, Out *o, size_t start, int strip) noexcept nogil:
    # T.82 FLUSH: CLEARBITS (the value in the final interval with most trailing zeros),
    # FINALWRITES; trailing 0x00 bytes are not written (the decoder pads with zeros).
    cdef uint32_t temp = (e.a - 1 + e.c) & 0xFFFF0000U
    if temp < e.c:
        e.c = temp + 0x8000
    else:
        e.c = temp
    e.c <<= e.ct
    if e.c & 0xF8000000U:
        if e.buffer >= 0:
            _put(o, <uint8_t>(e.buffer + 1))
        if e.c & 0x7FFF800:
            while e.sc:
                _put(o, 0)
                e.sc -= 1
    else:
        if e.buffer >= 0:
            _put(o, <uint8_t>e.buffer)
        while e.sc:
            _put(o, 0xFF)
            e.sc -= 1
    if e.c & 0x7FFF800:
        _put(o, <uint8_t>((e.c >> 19) & 0xFF))
        if e.c & 0x7F800:
            _put(o, <uint8_t>((e.c >> 11) & 0xFF))
    if strip:
        # zero bytes at the end of the SCD carry nothing (the decoder pads with zeros)
        while o.n > start and o.buf[o.n - 1] == 0 and \
                not (o.n - 1 > start and o.buf[o.n - 2] == 0xFF):
            o.n -= 1


# ---------------------------------------------------------------------------------------
# Decoder (T.82 INITDEC, DECODE, RENORMD, BYTEIN)

cdef struct Dec:
    uint32_t a
    uint32_t c      # bits 16.. compared with a; bytes enter at bits 8..15
    int ct
    const uint8_t *data
    Py_ssize_t pos
    Py_ssize_t end
    long pad        # zero bytes fed past the end of the segment

cdef inline uint32_t _bytein(Dec *d) noexcept nogil:
    cdef uint32_t b
    if d.pos < d.end:
        b = d.data[d.pos]
        # inside a segment every 0xFF is followed by a stuffed 0x00 (the caller cut the
        # segment at the first 0xFF that is not)
        d.pos += 2 if b == 0xFF else 1
        if d.pos > d.end:
            d.pos = d.end
        return b
    d.pad += 1
    return 0

cdef inline void _dec_init(Dec *d, const uint8_t *data, Py_ssize_t start,
                           Py_ssize_t end) noexcept nogil:
    d.data = data
    d.pos = start
    d.end = end
    d.pad = 0
    d.c = _bytein(d) << 24
    d.c |= _bytein(d) << 16
    d.c |= _bytein(d) << 8
    d.ct = 8
    d.a = 0x10000

cdef inline int _decode(Dec *d, uint8_t *st, int cx) noexcept nogil:
    cdef uint8_t s = st[cx]
    cdef uint32_t lsz = S_LSZ[s]
    cdef int mps = s >> 7
    cdef int pix, n
    d.a -= lsz
    if (d.c >> 16) < d.a:
        # lower sub-interval: the MPS unless exchanged
        if d.a >= 0x8000:
            return mps
        if d.a < lsz:
            pix = 1 - mps
            st[cx] = S_NLPS[s]
        else:
            pix = mps
            st[cx] = S_NMPS[s]
    else:
        d.c -= d.a << 16
        if d.a < lsz:
            pix = mps
            st[cx] = S_NMPS[s]
        else:
            pix = 1 - mps
            st[cx] = S_NLPS[s]
        d.a = lsz
    # RENORMD: shift A and C left until A >= 0x8000 (n bits; 0 < A < 0x8000 here: A is
    # LSZ >= 1 or A - LSZ with A >= 0x8000 > LSZ), a BYTEIN each time CT reaches 0. Plain
    # reading, one bit at a time:
    #     while True:
    #         a <<= 1; c <<= 1; ct -= 1
    #         if ct == 0: c |= bytein() << 8; ct = 8
    #         if a >= 0x8000: break
    n = fc_clz32(d.a) - 16
    while n >= d.ct:
        d.a <<= d.ct
        d.c <<= d.ct
        n -= d.ct
        d.c |= _bytein(d) << 8
        d.ct = 8
    d.a <<= n
    d.c <<= n
    d.ct -= n
    return pix


# ---------------------------------------------------------------------------------------
# Lines and contexts

cdef extern from *:
    """
    /* fc_unpack8[v]: the 8 pixels of byte v, MSB first, one byte (0/1) each */
    static unsigned char fc_unpack8[256][8];
    static void fc_unpack8_init(void) {
        for (int v = 0; v < 256; v++)
            for (int j = 0; j < 8; j++)
                fc_unpack8[v][j] = (v >> (7 - j)) & 1;
    }
    /* 8 pixel bytes (0/1) at p -> one packed byte, p[0] in the MSB. Little endian: with
       u = sum p[i] << 8i, u * sum_k 2^9k puts p[i] (k = 7 - i) at bit 63 - i, and every
       other product term p[i] 2^(8i + 9k) lands below bit 56 at its own bit (i + k <= 6),
       so nothing carries into the top byte. */
    static inline unsigned char fc_pack8(const unsigned char *p) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        unsigned long long u;
        memcpy(&u, p, 8);
        return (unsigned char)((u * 0x8040201008040201ULL) >> 56);
    #else
        return (unsigned char)((p[0] << 7) | (p[1] << 6) | (p[2] << 5) | (p[3] << 4) |
                               (p[4] << 3) | (p[5] << 2) | (p[6] << 1) | p[7]);
    #endif
    }
    """
    const uint8_t fc_unpack8[256][8]
    void fc_unpack8_init() noexcept nogil
    uint8_t fc_pack8(const uint8_t *p) noexcept nogil

fc_unpack8_init()


cdef inline void _unpack_row(const uint8_t *src, uint8_t *line, int width) noexcept nogil:
    # line has LEFT + width + RIGHT bytes; writes line[LEFT .. LEFT + width) only: whole
    # source bytes as 8 pixel bytes from fc_unpack8 (i < width >> 3, so the 8 bytes at
    # LEFT + 8 i end at LEFT + width at most), the last partial byte pixel by pixel (its
    # pad bits may be anything and the right margin must stay 0). Plain reading:
    #     for x in range(width): p[x] = (src[x >> 3] >> (7 - (x & 7))) & 1
    cdef int x, i, nfull = width >> 3
    cdef uint8_t *p = line + LEFT
    for i in range(nfull):
        memcpy(p + 8 * i, &fc_unpack8[src[i]][0], 8)
    for x in range(nfull * 8, width):
        p[x] = (src[x >> 3] >> (7 - (x & 7))) & 1

cdef inline void _pack_row(const uint8_t *line, uint8_t *dst, int width) noexcept nogil:
    # eight pixels a byte (fc_pack8, plain form in its comment); the last byte reads up to
    # 7 pixels past the width, which are in the right margin (RIGHT = 16 bytes, always 0),
    # so its pad bits come out 0
    cdef int i, nb = (width + 7) >> 3
    for i in range(nb):
        dst[i] = fc_pack8(line + LEFT + 8 * i)


cdef class Model:
    """Coder state that lasts across stripes: the context states, the three lines, the
    AT offset and the TPBON line state (T.82 LNTP of the previous line)."""
    cdef uint8_t st[NCX]
    cdef uint8_t *lines
    cdef uint8_t *l2        # line y-2
    cdef uint8_t *l1        # line y-1
    cdef uint8_t *l0        # line y
    cdef int width
    cdef int two_line
    cdef int tpbon
    cdef public int tx      # AT pixel at (x - tx, y); 0 = the default (x + 2, y - 1)
    cdef int ltp_old        # 1 when the previous line was typical (jbigkit's ltp_old)
    cdef public long long y # lines coded so far

    def __cinit__(self, int width, bint two_line, bint tpbon):
        cdef size_t n = LEFT + <size_t>width + RIGHT
        if width < 1:
            raise ValueError("width must be >= 1")
        self.lines = <uint8_t *> malloc(3 * n)
        if self.lines == NULL:
            raise MemoryError()
        memset(self.lines, 0, 3 * n)
        self.l2 = self.lines
        self.l1 = self.lines + n
        self.l0 = self.lines + 2 * n
        self.width = width
        self.two_line = two_line
        self.tpbon = tpbon
        self.tx = 0
        self.ltp_old = 0
        self.y = 0
        memset(self.st, 0, NCX)

    def __dealloc__(self):
        free(self.lines)

    def reset(self):
        """SDRST (T.82): the next stripe starts as the first one does: fresh context states
        and TPBON state, the AT pixel at its default place, white lines above it."""
        memset(self.st, 0, NCX)
        self.ltp_old = 0
        self.tx = 0
        memset(self.lines, 0, 3 * (LEFT + <size_t>self.width + RIGHT))

    def copy(self):
        """An independent model in the same state (for the encoder's trial of an AT move:
        code a stripe both ways, keep the shorter)."""
        cdef Model m = Model(self.width, self.two_line, self.tpbon)
        cdef size_t n = LEFT + <size_t>self.width + RIGHT
        memcpy(m.st, self.st, NCX)
        memcpy(m.lines, self.lines, 3 * n)
        # the same rotation of the three lines (offsets into the same-sized buffer)
        m.l2 = m.lines + (self.l2 - self.lines)
        m.l1 = m.lines + (self.l1 - self.lines)
        m.l0 = m.lines + (self.l0 - self.lines)
        m.tx = self.tx
        m.ltp_old = self.ltp_old
        m.y = self.y
        return m

    def set_tx(self, int tx):
        if not 0 <= tx <= MAX_TX:
            raise ValueError(f"AT offset tx must be 0..{MAX_TX}, got {tx}")
        self.tx = tx

    cdef inline void _rotate(self) noexcept nogil:
        cdef uint8_t *t = self.l2
        self.l2 = self.l1
        self.l1 = self.l0
        self.l0 = t

    cdef int _line_ctx(self, int x) noexcept nogil:
        # the context of pixel x of line l0 (T.82 Figures 7/8, bit order of 6.7.4 /
        # Table: leftmost template pixel most significant); reference for the fast loops
        cdef const uint8_t *a = self.l2 + LEFT
        cdef const uint8_t *b = self.l1 + LEFT
        cdef const uint8_t *c = self.l0 + LEFT
        cdef int cx, at
        at = b[x + 2] if self.tx == 0 else c[x - self.tx]
        if self.two_line:
            cx = (b[x - 3] << 9) | (b[x - 2] << 8) | (b[x - 1] << 7) | (b[x] << 6) \
                | (b[x + 1] << 5) | (at << 4) | (c[x - 4] << 3) | (c[x - 3] << 2) \
                | (c[x - 2] << 1) | c[x - 1]
        else:
            cx = (a[x - 1] << 9) | (a[x] << 8) | (a[x + 1] << 7) | (b[x - 2] << 6) \
                | (b[x - 1] << 5) | (b[x] << 4) | (b[x + 1] << 3) | (at << 2) \
                | (c[x - 2] << 1) | c[x - 1]
        return cx


cdef inline int _white_run(const uint8_t *a, const uint8_t *b, const uint8_t *c, int x,
                           int limit) noexcept nogil:
    # How many consecutive p = 0, 1, .. < limit have a[x + 1 + p] | b[x + 2 + p] |
    # c[x + p] == 0 (a or c NULL: not tested), counted eight at a time, at most limit.
    # Plain reading:
    #     p = 0
    #     while p < limit and not (a[x+1+p] | b[x+2+p] | c[x+p]): p += 1
    # Reads: with 0 <= x and p < limit <= width - x, the last 8-byte load ends at
    # x + 2 + (limit - 1) + 7 <= width + 8 < width + RIGHT: inside the line.
    cdef int p = 0
    cdef uint64_t u, v
    while p < limit:
        memcpy(&u, b + x + 2 + p, 8)
        if a != NULL:
            memcpy(&v, a + x + 1 + p, 8)
            u |= v
        if c != NULL:
            memcpy(&v, c + x + p, 8)
            u |= v
        if u:
            # pixels are bytes 0/1: the first nonzero byte in memory order
            p += fc_first_byte_bits(u) >> 3
            return p if p < limit else limit
        p += 8
    return p if p < limit else limit


cdef void _encode_line(Model m, Enc *ep, Out *o) noexcept nogil:
    cdef int x, w = m.width, tx = m.tx, k, kmax
    cdef int fast = _fast_runs       # the white-run fast path (not in the loops with tx > 0)
    cdef const uint8_t *a = m.l2 + LEFT
    cdef const uint8_t *b = m.l1 + LEFT
    cdef const uint8_t *c = m.l0 + LEFT
    cdef uint8_t *st = m.st
    cdef uint32_t r2, r1, r0, cx, lsz0
    # the coder state in a local (not behind ep: the stores to st[] are uint8_t stores,
    # which may alias anything reached through a pointer, so the C compiler would reload
    # a, c, ct after every one); written back at the end
    cdef Enc e = ep[0]
    # sliding windows: r2 = line y-2 at x-1..x+1, r1 = line y-1 at x-3..x+2,
    # r0 = line y at x-4..x-1 (newest pixel in bit 0)
    # the windows at x = 0 (LEFT - 3 >= 0: inside the left margin)
    r2 = (m.l2[LEFT - 1] << 2) | (m.l2[LEFT] << 1) | m.l2[LEFT + 1]
    r1 = (m.l1[LEFT - 3] << 5) | (m.l1[LEFT - 2] << 4) | (m.l1[LEFT - 1] << 3) \
        | (m.l1[LEFT] << 2) | (m.l1[LEFT + 1] << 1) | m.l1[LEFT + 2]
    r0 = 0
    # the loops are written out per template and per AT pixel (see _decode_line)
    if m.two_line and tx:
        for x in range(w):
            cx = ((r1 & 0x3E) << 4) | (c[x - tx] << 4) | r0
            _encode(&e, o, st, cx, c[x])
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | c[x]) & 0xF
    elif tx:
        for x in range(w):
            cx = (r2 << 7) | ((r1 & 0x1E) << 2) | (c[x - tx] << 2) | (r0 & 3)
            _encode(&e, o, st, cx, c[x])
            r2 = ((r2 << 1) | a[x + 2]) & 0x7
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | c[x]) & 0xF
    elif m.two_line:
        x = 0
        while x < w:
            if fast and (r1 | r0) == 0 and st[0] < 0x80 and c[x] == 0:
                # white run (see _decode_line): the context stays 0 while b[x+2+p] and
                # c[x+p] are white, and each such MPS (white) pixel only takes LSZ off A
                # as long as A stays >= 0x8000: no renormalisation, no state change
                lsz0 = S_LSZ[st[0]]
                kmax = <int>((e.a - 0x8000) // lsz0)
                if kmax > 1:
                    k = _white_run(NULL, b, c, x, kmax if kmax < w - x else w - x)
                    if k > 1:
                        e.a -= <uint32_t>k * lsz0
                        x += k
                        r1 = (b[x - 3] << 5) | (b[x - 2] << 4) | (b[x - 1] << 3) \
                            | (b[x] << 2) | (b[x + 1] << 1) | b[x + 2]
                        r0 = (c[x - 4] << 3) | (c[x - 3] << 2) | (c[x - 2] << 1) | c[x - 1]
                        continue
                cx = 0
            else:
                cx = (r1 << 4) | r0
            _encode(&e, o, st, cx, c[x])
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | c[x]) & 0xF
            x += 1
    else:
        x = 0
        while x < w:
            cx = (r2 << 7) | ((r1 & 0x1F) << 2) | (r0 & 3)
            if fast and cx == 0 and st[0] < 0x80 and c[x] == 0:
                lsz0 = S_LSZ[st[0]]
                kmax = <int>((e.a - 0x8000) // lsz0)
                if kmax > 1:
                    k = _white_run(a, b, c, x, kmax if kmax < w - x else w - x)
                    if k > 1:
                        e.a -= <uint32_t>k * lsz0
                        x += k
                        r2 = (a[x - 1] << 2) | (a[x] << 1) | a[x + 1]
                        r1 = (b[x - 3] << 5) | (b[x - 2] << 4) | (b[x - 1] << 3) \
                            | (b[x] << 2) | (b[x + 1] << 1) | b[x + 2]
                        r0 = (c[x - 4] << 3) | (c[x - 3] << 2) | (c[x - 2] << 1) | c[x - 1]
                        continue
            _encode(&e, o, st, cx, c[x])
            r2 = ((r2 << 1) | a[x + 2]) & 0x7
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | c[x]) & 0xF
            x += 1
    ep[0] = e


cdef void _decode_line(Model m, Dec *dp) noexcept nogil:
    cdef int x, w = m.width, tx = m.tx, pix, k, kmax
    cdef int fast = _fast_runs       # the white-run fast path (not in the loops with tx > 0)
    cdef const uint8_t *a = m.l2 + LEFT
    cdef const uint8_t *b = m.l1 + LEFT
    cdef uint8_t *c = m.l0 + LEFT
    cdef uint8_t *st = m.st
    cdef uint32_t r2, r1, r0, cx, lsz0, bound
    # the coder state in a local (see _encode_line), written back at the end
    cdef Dec d = dp[0]
    # the windows at x = 0 (LEFT - 3 >= 0: inside the left margin)
    r2 = (m.l2[LEFT - 1] << 2) | (m.l2[LEFT] << 1) | m.l2[LEFT + 1]
    r1 = (m.l1[LEFT - 3] << 5) | (m.l1[LEFT - 2] << 4) | (m.l1[LEFT - 1] << 3) \
        | (m.l1[LEFT] << 2) | (m.l1[LEFT + 1] << 1) | m.l1[LEFT + 2]
    r0 = 0
    # White runs (tx == 0 only): when the context is 0 and its MPS is white, DECODE of
    # the next pixels is "A -= LSZ; if C_high < A and A >= 0x8000: return MPS" with no
    # state change, as long as their contexts stay 0, i.e. the pixels above are white
    # (_white_run) and the decoded ones are (they are the MPS). So k such pixels at once:
    # the largest k with A - k * LSZ >= max(0x8000, C_high + 1), capped by the white run
    # above and the line end; then A -= k * LSZ and the k pixels are 0.
    # the loops are written out per template and per AT pixel (tx > 0: the AT pixel on
    # the current line, no fast path) so that the compiler keeps no dead context form
    if m.two_line and tx:
        for x in range(w):
            cx = ((r1 & 0x3E) << 4) | (c[x - tx] << 4) | r0
            pix = _decode(&d, st, cx)
            c[x] = pix
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | pix) & 0xF
    elif tx:
        for x in range(w):
            cx = (r2 << 7) | ((r1 & 0x1E) << 2) | (c[x - tx] << 2) | (r0 & 3)
            pix = _decode(&d, st, cx)
            c[x] = pix
            r2 = ((r2 << 1) | a[x + 2]) & 0x7
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | pix) & 0xF
    elif m.two_line:
        x = 0
        while x < w:
            if fast and (r1 | r0) == 0 and st[0] < 0x80:
                lsz0 = S_LSZ[st[0]]
                bound = (d.c >> 16) + 1
                if bound < 0x8000:
                    bound = 0x8000
                if d.a > bound:
                    kmax = <int>((d.a - bound) // lsz0)
                    if kmax > 1:
                        k = _white_run(NULL, b, NULL, x, kmax if kmax < w - x else w - x)
                        if k > 1:
                            d.a -= <uint32_t>k * lsz0
                            memset(c + x, 0, k)
                            x += k
                            r1 = (b[x - 3] << 5) | (b[x - 2] << 4) | (b[x - 1] << 3) \
                                | (b[x] << 2) | (b[x + 1] << 1) | b[x + 2]
                            r0 = 0
                            continue
                cx = 0
            else:
                cx = (r1 << 4) | r0
            pix = _decode(&d, st, cx)
            c[x] = pix
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | pix) & 0xF
            x += 1
    else:
        x = 0
        while x < w:
            cx = (r2 << 7) | ((r1 & 0x1F) << 2) | (r0 & 3)
            if fast and cx == 0 and st[0] < 0x80:
                lsz0 = S_LSZ[st[0]]
                bound = (d.c >> 16) + 1
                if bound < 0x8000:
                    bound = 0x8000
                if d.a > bound:
                    kmax = <int>((d.a - bound) // lsz0)
                    if kmax > 1:
                        k = _white_run(a, b, NULL, x, kmax if kmax < w - x else w - x)
                        if k > 1:
                            d.a -= <uint32_t>k * lsz0
                            memset(c + x, 0, k)
                            x += k
                            r2 = (a[x - 1] << 2) | (a[x] << 1) | a[x + 1]
                            r1 = (b[x - 3] << 5) | (b[x - 2] << 4) | (b[x - 1] << 3) \
                                | (b[x] << 2) | (b[x + 1] << 1) | b[x + 2]
                            r0 = 0
                            continue
            pix = _decode(&d, st, cx)
            c[x] = pix
            r2 = ((r2 << 1) | a[x + 2]) & 0x7
            r1 = ((r1 << 1) | b[x + 3]) & 0x3F
            r0 = ((r0 << 1) | pix) & 0xF
            x += 1
    dp[0] = d


def line_context(Model m, int x) -> int:
    """The context of pixel ``x`` of the current line (for tests of the fast loops)."""
    if not 0 <= x < m.width:
        raise IndexError(x)
    return m._line_ctx(x)


def encode_stripe(Model m, const uint8_t[:, ::1] rows, Py_ssize_t first, Py_ssize_t count,
                  dict at_moves, bint trim_zeros=False) -> bytes:
    """Code lines ``first .. first + count`` of ``rows`` as one stripe data entity (SDE)
    without its SDNORM marker. ``at_moves`` maps a line number to the new ``tx``
    (ATMOVE marker segments are written by the caller before this stripe).
    ``trim_zeros``: drop every 0x00 byte at the end of the SCD (jbigkit's full T.82
    encoder does; its T.85 encoder keeps those the flush wrote: both decode alike)."""
    cdef Enc e
    cdef Out o
    cdef Py_ssize_t i, y
    cdef int width = m.width, ltp, tpcx
    cdef size_t rowbytes = (width + 7) >> 3
    cdef size_t nline = <size_t>width
    if rows.shape[1] != <Py_ssize_t>rowbytes:
        raise ValueError("rows do not match the width")
    if first < 0 or count < 0 or first + count > rows.shape[0]:
        raise ValueError("stripe out of range")
    o.cap = 256
    o.n = 0
    o.failed = 0
    o.buf = <uint8_t *> malloc(o.cap)
    if o.buf == NULL:
        raise MemoryError()
    _enc_init(&e)
    tpcx = TP2CX if m.two_line else TP3CX
    try:
        for i in range(count):
            y = first + i
            if at_moves and y in at_moves:
                m.set_tx(at_moves[y])
            with nogil:
                m._rotate()
                _unpack_row(&rows[y, 0], m.l0, width)
                if m.tpbon:
                    ltp = memcmp(m.l0 + LEFT, m.l1 + LEFT, nline) == 0
                    _encode(&e, &o, m.st, tpcx, ltp == m.ltp_old)
                    m.ltp_old = ltp
                    if not ltp:
                        _encode_line(m, &e, &o)
                else:
                    _encode_line(m, &e, &o)
            m.y += 1
            if o.failed:
                raise MemoryError()
        _enc_flush(&e, &o, 0, trim_zeros)
        if o.failed:
            raise MemoryError()
        return PyBytes_FromStringAndSize(<char *> o.buf, o.n)
    finally:
        free(o.buf)


def decode_stripe(Model m, const uint8_t[::1] data, Py_ssize_t start, Py_ssize_t end,
                  uint8_t[:, ::1] out, Py_ssize_t first, Py_ssize_t count,
                  dict at_moves):
    """Decode ``count`` lines of the SDE ``data[start:end]`` (stuffed, no marker inside)
    into ``out[first:first + count]``. Returns ``(lines, pad)``: ``pad[i]`` is how many
    zero bytes past ``end`` the decoder had fed when line ``i`` was complete."""
    cdef Dec d
    cdef Py_ssize_t i, y
    cdef int width = m.width, ltp, tpcx
    cdef size_t rowbytes = (width + 7) >> 3
    if out.shape[1] != <Py_ssize_t>rowbytes:
        raise ValueError("output does not match the width")
    if first < 0 or count < 0 or first + count > out.shape[0]:
        raise ValueError("stripe out of range")
    if start < 0 or end > data.shape[0] or start > end:
        raise ValueError("segment out of range")
    pads = _np.zeros(count, dtype=_np.int64)
    cdef int64_t[::1] pad = pads
    with nogil:
        _dec_init(&d, &data[0] if data.shape[0] else NULL, start, end)
    tpcx = TP2CX if m.two_line else TP3CX
    for i in range(count):
        y = first + i
        if at_moves and m.y in at_moves:
            m.set_tx(at_moves[m.y])
        with nogil:
            m._rotate()
            if m.tpbon:
                if _decode(&d, m.st, tpcx) == 0:
                    m.ltp_old = 1 - m.ltp_old
                ltp = m.ltp_old
                if ltp:
                    memcpy(m.l0 + LEFT, m.l1 + LEFT, width)
                else:
                    _decode_line(m, &d)
            else:
                _decode_line(m, &d)
            _pack_row(m.l0, &out[y, 0], width)
        pad[i] = d.pad
        m.y += 1
    return pads


# ---------------------------------------------------------------------------------------
# Encoder-side statistics for the adaptive template choice (T.82 6.7.3 / T.85 ATMOVE)



cdef inline uint64_t _or16(const uint8_t *p) noexcept nogil:
    # the OR of 16 pixel bytes p[0..15], as two 8-byte loads (memcpy: no alignment needs)
    cdef uint64_t u, v
    memcpy(&u, p, 8)
    memcpy(&v, p + 8, 8)
    return u | v


def at_counts(const uint8_t[:, ::1] rows, int width, Py_ssize_t first, Py_ssize_t count,
              Py_ssize_t top, bint two_line, bint tpbon, int mx):
    """How the AT pixel would condition the lines ``first .. first + count`` of ``rows``,
    for every AT offset ``t`` in 0 (the default pixel, above right) and 3..``mx`` (``t``
    pixels to the left on the current line).

    Returns an int64 array ``n[t, ctx9, at, pix]`` (shape ``(mx + 1, 512, 2, 2)``; rows 1
    and 2 stay 0): over the lines the encoder codes pixel by pixel (with ``tpbon``, a line
    equal to the one above is skipped: typical prediction codes it in one decision),
    ``ctx9`` is the context made of the nine template pixels other than the AT pixel, ``at``
    the AT pixel's value at offset ``t`` and ``pix`` the pixel. Lines above ``top`` (or
    above the page) are white, as the coder sees them after an SDRST.

    Cost: pixels whose nine template pixels and own value are all white (most of a text
    page) are not visited once per ``t``: their count with a black AT pixel is found from
    the black pixels ``t`` to the left of them, so the work is about (pixels near ink +
    black pixels) x candidates. :func:`faxcore.codecs.jbig_reference.at_counts` is the
    plain reading this must equal."""
    cdef size_t rowbytes = (width + 7) >> 3
    cdef size_t n = LEFT + <size_t>width + RIGHT
    cdef Py_ssize_t i, y
    cdef int x, t, u, w = width, ctx9, pix, at0
    cdef uint32_t r2, r1, r0
    cdef int64_t quiet = 0
    cdef uint8_t *lines
    cdef uint8_t *qline
    cdef uint8_t *l2
    cdef uint8_t *l1
    cdef uint8_t *l0
    cdef uint8_t *tmp
    cdef const uint8_t *a
    cdef const uint8_t *b
    cdef const uint8_t *c
    cdef int64_t *cnt
    cdef int64_t *white_at
    if width < 1 or rows.shape[1] != <Py_ssize_t>rowbytes:
        raise ValueError("rows do not match the width")
    if first < 0 or count < 0 or first + count > rows.shape[0] or not 0 <= top <= first:
        raise ValueError("stripe out of range")
    if not 0 <= mx <= MAX_TX:
        raise ValueError(f"mx must be 0..{MAX_TX}")
    # counted as n[ctx9, pix, t, at] (index ((ctx9 * 2 + pix) * (mx + 1) + t) * 2 + at):
    # a pixel's increments for all t are then next to each other; transposed on return
    counts = _np.zeros((512, 2, mx + 1, 2), dtype=_np.int64)
    cdef int64_t[:, :, :, ::1] cv = counts
    white = _np.zeros(mx + 1, dtype=_np.int64)
    cdef int64_t[::1] wv = white
    cdef int64_t *row
    cdef int stride = 2 * (mx + 1)
    cdef int64_t *tot                # non-quiet pixels per (ctx9, pix), for the bit path
    cdef uint64_t hist, black, cand = 0
    # the bit path (mx <= 63): ``hist`` bit k holds c[x - 1 - k]; for each pixel only the
    # black pixels among c[x - 3 .. x - mx] are counted (n[.., t, at=1]); the at=0 counts
    # are the pixel's total minus those, filled in at the end
    cdef bint bits = mx <= 63
    if bits and mx >= 3:
        cand = ((<uint64_t>1 << mx) - 1) & ~(<uint64_t>3)
    cnt = &cv[0, 0, 0, 0]
    white_at = &wv[0]
    tot_arr = _np.zeros(1024, dtype=_np.int64)
    cdef int64_t[::1] totv = tot_arr
    tot = &totv[0]
    lines = <uint8_t *> malloc(4 * n)
    if lines == NULL:
        raise MemoryError()
    memset(lines, 0, 4 * n)
    l2, l1, l0, qline = lines, lines + n, lines + 2 * n, lines + 3 * n
    try:
        with nogil:
            # the two lines above the first one (white above ``top``)
            if first - 2 >= top:
                _unpack_row(&rows[first - 2, 0], l1, w)
            if first - 1 >= top:
                _unpack_row(&rows[first - 1, 0], l0, w)
            for i in range(count):
                y = first + i
                tmp = l2
                l2 = l1
                l1 = l0
                l0 = tmp
                _unpack_row(&rows[y, 0], l0, w)
                if tpbon and memcmp(l0 + LEFT, l1 + LEFT, <size_t>w) == 0:
                    continue                # typical: not coded pixel by pixel
                a = l2 + LEFT
                b = l1 + LEFT
                c = l0 + LEFT
                # sliding windows as in _encode_line: r2 = a[x-1..x+1], r1 = b[x-3..x+2],
                # r0 = c[x-4..x-1]; reads stay inside the margins (x - 3 >= -LEFT,
                # x + 3 < width + RIGHT, x - t >= -MAX_TX > -LEFT)
                r2 = (l2[LEFT - 1] << 2) | (a[0] << 1) | a[1]
                r1 = (l1[LEFT - 3] << 5) | (l1[LEFT - 2] << 4) | (l1[LEFT - 1] << 3) \
                    | (b[0] << 2) | (b[1] << 1) | b[2]
                r0 = 0
                hist = 0
                x = 0
                while x < w:
                    # eight quiet pixels at once: where lines y-2, y-1 and y are white over
                    # x-4..x+11 (more than the windows of x..x+7 read: a[x-1..x+9],
                    # b[x-3..x+10], c[x-4..x+7]), every pixel x..x+7 has ctx9 = 0, pix = 0
                    # and a white default AT pixel, and the windows at x+8 are white. Reads
                    # x-4 >= -LEFT and x+11 <= width+3 < width+RIGHT: inside the margins.
                    if (x & 7) == 0 and x + 8 <= w and \
                            (_or16(a + x - 4) | _or16(b + x - 4) | _or16(c + x - 4)) == 0:
                        memset(qline + LEFT + x, 1, 8)
                        quiet += 8
                        cnt[0] += 8                 # n[ctx9 0, pix 0, t 0, at 0]
                        r2 = 0
                        r1 = 0
                        r0 = 0
                        hist <<= 8                  # eight white pixels
                        x += 8
                        continue
                    pix = c[x]
                    if two_line:
                        ctx9 = (((r1 >> 1) & 0x1F) << 4) | r0
                    else:
                        ctx9 = (r2 << 6) | (((r1 >> 1) & 0xF) << 2) | (r0 & 3)
                    at0 = r1 & 1
                    row = cnt + ((ctx9 << 1) | pix) * stride
                    row[at0] += 1                                      # t = 0
                    if ctx9 == 0 and pix == 0:
                        qline[LEFT + x] = 1
                        quiet += 1
                    else:
                        qline[LEFT + x] = 0
                        if bits:
                            tot[(ctx9 << 1) | pix] += 1
                            black = hist & cand
                            while black:
                                row[2 * (fc_ctz64(black) + 1) + 1] += 1
                                black &= black - 1
                        else:
                            for t in range(3, mx + 1):
                                row[2 * t + c[x - t]] += 1
                    r2 = ((r2 << 1) | a[x + 2]) & 0x7
                    r1 = ((r1 << 1) | b[x + 3]) & 0x3F
                    r0 = ((r0 << 1) | pix) & 0xF
                    hist = (hist << 1) | <uint64_t>pix
                    x += 1
                # quiet pixels with a black AT pixel: seen from that black pixel
                u = 0
                while u < w:
                    if (u & 7) == 0 and u + 16 <= w and _or16(c + u) == 0:
                        u += 16                     # 16 white pixels: no AT pixel here
                        continue
                    if c[u]:
                        for t in range(3, mx + 1):
                            if u + t >= w:
                                break
                            white_at[t] += qline[LEFT + u + t]
                    u += 1
        if bits:
            for ctx9 in range(1024):        # (ctx9 << 1) | pix
                for t in range(3, mx + 1):
                    cnt[ctx9 * stride + 2 * t] = tot[ctx9] - cnt[ctx9 * stride + 2 * t + 1]
        for t in range(3, mx + 1):
            cv[0, 0, t, 1] += wv[t]
            cv[0, 0, t, 0] += quiet - wv[t]
        # n[ctx9, pix, t, at] -> n[t, ctx9, at, pix]
        return _np.ascontiguousarray(counts.transpose(2, 0, 3, 1))
    finally:
        free(lines)


cdef inline double _klogk(double v) noexcept nogil:
    return v * log2(v) if v > 0 else 0.0


def at_cost_bits(const int64_t[:, :, :, ::1] counts):
    """Estimated bits per AT offset from :func:`at_counts` (``inf`` for offsets 1 and 2):
    over the (ctx9, at) cells, ``n H(pix | cell) + log2(n + 1) / 2``, the empirical entropy
    and the price of learning each cell (Krichevsky-Trofimov). The plain reading is
    :func:`faxcore.codecs.jbig_reference.at_cost_bits`."""
    cdef Py_ssize_t t, cell, nt = counts.shape[0]
    cdef double k0, k1, n, h
    if counts.shape[1] != 512 or counts.shape[2] != 2 or counts.shape[3] != 2:
        raise ValueError("counts must be (mx + 1, 512, 2, 2)")
    cost = _np.empty(nt, dtype=_np.float64)
    cdef double[::1] cv = cost
    with nogil:
        for t in range(nt):
            if t == 1 or t == 2:
                cv[t] = INFINITY
                continue
            h = 0.0
            for cell in range(1024):
                k0 = <double>counts[t, cell >> 1, cell & 1, 0]
                k1 = <double>counts[t, cell >> 1, cell & 1, 1]
                n = k0 + k1
                if n > 0:
                    h += _klogk(n) - _klogk(k0) - _klogk(k1) + 0.5 * log2(n + 1)
            cv[t] = h
    return cost
