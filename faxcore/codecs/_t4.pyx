# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Hot loops of the T.4 (MH, MR) and T.6 (MMR) codecs.

Everything here works on *packed* rows: bytes, most significant bit first, 1 = black, as in
PBM P4 and as libtiff stores fax images. The public API is in :mod:`faxcore.codecs.t4`.

Memory safety: bounds checking is off for this module, so every pointer access below is
guarded by an explicit check or by an invariant stated next to it:

* input rows are copied into a buffer with 8 spare bytes after the last row, so the 64-bit
  loads of ``_find`` may read up to 7 bytes past the row (the bits past the width are
  clamped away);
* changing-element arrays hold at most ``width`` strictly increasing positions in
  ``[0, width)`` (``_push`` keeps them strictly increasing, every position is checked
  against ``width`` before it is pushed) plus ``SENTINELS`` copies of ``width``; they are
  allocated ``width + SENTINELS + 2`` long;
* the 2-D decoder's reference index stays within those sentinels because every V mode
  must move a1 right of a0 (T.4 4.2.1.3; a1 <= a0 is an invalid row): the proof, with the
  loop invariants it rests on, is at ``_decode_2d_body``; the fast 2-D decoder
  (``_decode_2d_fast`` and its hot loop ``_decode_2d_hot``) takes the same steps under the
  same checks, and only the cases that neither end the row nor fail (the rest go to the
  general step, which is ``_decode_2d_body``'s); the encoder's indices walk its own
  changing elements, which end in the same sentinels (``_encode_2d``);
* rows are rendered only from such arrays (``_render``), or written by the fast decoders
  as they decode through the emitter (``_emit``), which is handed exactly the row's runs:
  non-negative lengths adding up to at most ``width`` (stated at each fast decoder). So
  no bit at or past the width is ever set in a decoded row (the pad bits of the last
  byte are 0), and both store at most ``ceil(width / 64)`` 64-bit words from the row's
  start;
* table look-ups index with the top bits of the 64-bit bit buffer: ``acc >> 57`` (< 128,
  ``MODE_DEC``), ``acc >> 52`` (< 4096: ``WHITE_DEC``, ``PAIR_DEC[0 or 1]``),
  ``acc >> 51`` (< 8192, ``BLACK_DEC``); colours index as ``n & 1``;
* the bit reader never reads past ``n`` bytes of input: it pads with zero bits and reports
  how many real bits are left, and a code longer than the real bits left is "truncated";
* output rows are written only after checking the row count against the allocated rows;
  the decoder's output buffer has 8 spare bytes after the last row for the 64-bit stores
  of ``_render`` and ``_emit`` (which may spill up to 7 bytes into the next, not yet
  decoded, row); a row that fails is then overwritten whole (MH/MR: the previous row) or
  is not returned (MMR);
* the encoder checks the output capacity for a worst-case row (at most 16 bits per pixel
  plus EOL, fill and alignment) before each row;
* every loop of the decoder consumes at least one input bit or ends, and the row count is
  capped, so hostile input cannot make it hang.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

import numpy as _np

from faxcore.codecs import tables as _tables

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static inline uint64_t fc_load_be64(const uint8_t *p) {
        uint64_t w; memcpy(&w, p, 8); return __builtin_bswap64(w);
    }
    static inline void fc_store_be32(uint8_t *p, uint32_t v) {
        v = __builtin_bswap32(v); memcpy(p, &v, 4);
    }
    static inline int fc_clz64(uint64_t w) { return __builtin_clzll(w); }
    static inline int fc_ctz64(uint64_t w) { return __builtin_ctzll(w); }
    static inline void fc_store_be64(uint8_t *p, uint64_t v) {
        v = __builtin_bswap64(v); memcpy(p, &v, 8);
    }
    """
    uint64_t fc_load_be64(const uint8_t *p) nogil
    void fc_store_be32(uint8_t *p, uint32_t v) nogil
    void fc_store_be64(uint8_t *p, uint64_t v) nogil
    int fc_clz64(uint64_t w) nogil   # w must be non-zero
    int fc_ctz64(uint64_t w) nogil   # w must be non-zero


DEF SENTINELS = 4
# Decoder results of one row
DEF ROW_OK = 0
DEF ROW_INVALID = 1      # invalid code: resynchronise at the next EOL
DEF ROW_EOL = 2          # an EOL (or 11+ zero bits) where a code was expected
DEF ROW_TRUNCATED = 3    # the data ended inside the row
DEF ROW_LENGTH = 4       # runs add up to more than the width
DEF ROW_EXTENSION = 5    # 2-D extension code (uncompressed mode), not supported

MAX_WIDTH = 65535
MAX_ROWS = 65535

# ---------------------------------------------------------------------------------------
# Tables, built once at import from faxcore.codecs.tables
# ---------------------------------------------------------------------------------------

# Encoder: code and length for terminating codes 0..63 and make-up codes (index 64 + n for
# the make-up of n*64, n = 1..40), per colour.
cdef uint32_t ENC_CODE[2][105]
cdef uint8_t ENC_LEN[2][105]
# Vertical mode codes VL3..VR3 (index a1 - b1 + 3)
# Whole runs 0..2623 as one code word: make-up (if any) followed by the terminating code,
# at most 13 + 12 = 25 bits, so a run is one table look-up and one _put
# entry = code | length << 25
cdef uint32_t SPAN[2][2624]
cdef uint32_t V_CODE[7]
cdef uint8_t V_LEN[7]
# Decoder: entry = run << 4 | length for a code (length 1..13), or, with length 0,
# 0 = invalid code, DEC_EOL = EOL ahead
# (11 or more zero bits). White codes are at most 12 bits, black codes 13.
cdef uint16_t WHITE_DEC[4096]
cdef uint16_t BLACK_DEC[8192]
# 2-D mode from the next 7 bits: low 4 bits = length, high bits = mode
DEF DEC_EOL = 16     # length 0, 'run' 1: 11 or more zero bits (fill / EOL) ahead
DEF M_P = 1
DEF M_H = 2
DEF M_V = 3          # offset in bits 8..10 (0..6 = VL3..VR3), and V_FLAG set
DEF V_FLAG = 0x800   # tested as a bit so the mode dispatch stays an if chain
DEF M_EXT = 4
DEF M_ZERO = 5       # 0000000: EOL / EOFB ahead, or garbage
cdef uint16_t MODE_DEC[128]
cdef uint8_t REVERSE[256]
# Run pairs: a terminating code of colour c (run 1..63) directly followed by a terminating
# code of the other colour (run 1..63), both within the next PAIR_BITS bits, as one
# look-up: PAIR_DEC[c] (c = 0: white first, as every MH row pair; in H mode c is a0's
# colour). Dithered and halftone rows are mostly such pairs of short codes.
# entry = code bits (2..12) | first run << 4 | second run << 10; 0 = the next bits do not
# start such a pair.
DEF PAIR_BITS = 12
cdef uint16_t PAIR_DEC[2][1 << PAIR_BITS]


cdef int _fill_dec(uint16_t *table, int bits, str code, int run) except -1:
    cdef int n = len(code)
    cdef int value = int(code, 2)
    cdef int lo = value << (bits - n)
    cdef int i
    for i in range(lo, lo + (1 << (bits - n))):
        if table[i] != 0:
            raise RuntimeError("T.4 code tables are not prefix-free")
        table[i] = <uint16_t>((run << 4) | n)
    return 0


cdef int _build_tables() except -1:
    cdef int colour, run, i, bits, j
    cdef uint16_t *dec
    memset(WHITE_DEC, 0, sizeof(WHITE_DEC))
    memset(BLACK_DEC, 0, sizeof(BLACK_DEC))
    memset(MODE_DEC, 0, sizeof(MODE_DEC))
    for colour in range(2):
        codes = _tables.run_codes(bool(colour))
        dec = &BLACK_DEC[0] if colour else &WHITE_DEC[0]
        bits = 13 if colour else 12
        for run, code in codes.items():
            idx = run if run < 64 else 64 + run // 64
            ENC_CODE[colour][idx] = int(code, 2)
            ENC_LEN[colour][idx] = len(code)
            _fill_dec(dec, bits, code, run)
        # 11 leading zeros: EOL (or fill before it) ahead
        for i in range(1 << (bits - 11)):
            if dec[i] != 0:
                raise RuntimeError("code table clashes with EOL")
            dec[i] = DEC_EOL
    memset(PAIR_DEC, 0, sizeof(PAIR_DEC))
    for colour in range(2):
        first = _tables.run_codes(bool(colour))
        second = _tables.run_codes(not colour)
        for r1 in range(1, 64):
            for r2 in range(1, 64):
                code = first[r1] + second[r2]
                if len(code) > PAIR_BITS:
                    continue
                j = int(code, 2) << (PAIR_BITS - len(code))
                for i in range(j, j + (1 << (PAIR_BITS - len(code)))):
                    if PAIR_DEC[colour][i] != 0:    # each colour's codes are prefix-free
                        raise RuntimeError("T.4 pair table is not prefix-free")
                    PAIR_DEC[colour][i] = <uint16_t>(len(code) | (r1 << 4) | (r2 << 10))
    for colour in range(2):
        for run in range(2624):
            seq = _tables.run_code_sequence(run, bool(colour))
            code = "".join(seq)
            if len(code) > 25:
                raise RuntimeError("span code longer than 25 bits")
            SPAN[colour][run] = int(code, 2) | (len(code) << 25)
    for i, code in enumerate(_tables.VERTICAL_BY_OFFSET):
        V_CODE[i] = int(code, 2)
        V_LEN[i] = len(code)
    mode_entries = [("P", M_P), ("H", M_H), ("EXT2D", M_EXT)]
    for name, mode in mode_entries:
        code = _tables.MODE_CODES[name]
        j = int(code, 2) << (7 - len(code))
        for i in range(j, j + (1 << (7 - len(code)))):
            MODE_DEC[i] = <uint16_t>((mode << 4) | len(code))
    for off, code in enumerate(_tables.VERTICAL_BY_OFFSET):
        j = int(code, 2) << (7 - len(code))
        for i in range(j, j + (1 << (7 - len(code)))):
            MODE_DEC[i] = <uint16_t>(V_FLAG | (off << 8) | (M_V << 4) | len(code))
    MODE_DEC[0] = (M_ZERO << 4)
    for i in range(256):
        j = 0
        for bits in range(8):
            if i & (1 << bits):
                j |= 0x80 >> bits
        REVERSE[i] = j
    return 0


_build_tables()

REVERSE_TABLE = bytes([REVERSE[i] for i in range(256)])


# ---------------------------------------------------------------------------------------
# Changing elements of packed rows
# ---------------------------------------------------------------------------------------

cdef inline int _find(const uint8_t *row, int pos, int width, uint64_t mask) noexcept nogil:
    """First position >= pos whose pixel differs from the colour given by mask, or width.

    mask = 0 looks for a black pixel (1 bit), mask = ~0 for a white one. Reads whole
    64-bit words; needs 7 readable bytes past the row (see module docstring).
    """
    cdef uint64_t w
    cdef int p
    if pos >= width:
        return width
    w = (fc_load_be64(row + (pos >> 3)) ^ mask) << (pos & 7)
    if w:
        p = pos + fc_clz64(w)
        return p if p < width else width
    pos = (pos & ~7) + 64
    while pos < width:
        w = fc_load_be64(row + (pos >> 3)) ^ mask
        if w:
            p = pos + fc_clz64(w)
            return p if p < width else width
        pos += 64
    return width


cdef inline int _row_changes(const uint8_t *row, int width, int32_t *out) noexcept nogil:
    """Fill out[] with the changing elements of a row, then SENTINELS copies of width.

    out[0] is the first black pixel, out[1] the first white pixel after it, and so on.
    Returns the number of changing elements (at most width).
    """
    cdef int n = 0, pos = 0
    cdef uint64_t mask = 0
    while True:
        pos = _find(row, pos, width, mask)
        if pos >= width:
            break
        out[n] = pos
        n += 1
        mask = ~mask
    out[n] = width
    out[n + 1] = width
    out[n + 2] = width
    out[n + 3] = width
    return n


# ---------------------------------------------------------------------------------------
# Bit writer
# ---------------------------------------------------------------------------------------

cdef struct Writer:
    uint8_t *buf
    Py_ssize_t cap        # bytes allocated
    Py_ssize_t pos        # bytes written
    uint64_t acc          # pending bits in the low `nb` bits
    int nb                # 0 <= nb < 32 between calls


cdef inline void _put(Writer *w, uint32_t code, int n) noexcept nogil:
    # n <= 25; the caller guarantees 4 free bytes (capacity is checked per row)
    w.acc = (w.acc << n) | code
    w.nb += n
    if w.nb >= 32:
        w.nb -= 32
        fc_store_be32(w.buf + w.pos, <uint32_t>(w.acc >> w.nb))
        w.pos += 4


cdef inline void _put_zeros(Writer *w, int64_t n) noexcept nogil:
    while n > 24:
        _put(w, 0, 24)
        n -= 24
    if n > 0:
        _put(w, 0, <int>n)


cdef inline int64_t _bitpos(Writer *w) noexcept nogil:
    return w.pos * 8 + w.nb


cdef int _reserve(Writer *w, Py_ssize_t need) noexcept nogil:
    """Make sure `need` more bytes fit. Returns -1 when out of memory."""
    cdef Py_ssize_t cap
    cdef uint8_t *nbuf
    if w.pos + need + 8 <= w.cap:
        return 0
    cap = w.cap * 2
    if cap < w.pos + need + 8:
        cap = w.pos + need + 8
    nbuf = <uint8_t *>realloc(w.buf, cap)
    if nbuf == NULL:
        return -1
    w.buf = nbuf
    w.cap = cap
    return 0


cdef inline void _flush(Writer *w) noexcept nogil:
    """Pad with zero bits to a byte boundary and write out everything pending."""
    if w.nb & 7:
        _put(w, 0, 8 - (w.nb & 7))
    while w.nb > 0:
        w.nb -= 8
        w.buf[w.pos] = <uint8_t>(w.acc >> w.nb)
        w.pos += 1


cdef inline void _put_span(Writer *w, int run, int colour) noexcept nogil:
    # Same make-up choice as libtiff (and T.4): 2560 repeated while the rest is >= 2624
    while run >= 2624:
        _put(w, ENC_CODE[colour][64 + 40], ENC_LEN[colour][64 + 40])
        run -= 2560
    cdef uint32_t e = SPAN[colour][run]
    _put(w, e & 0x1FFFFFF, e >> 25)


cdef void _encode_1d(Writer *wp, const int32_t *cur, int n, int width) noexcept nogil:
    # the writer is copied to a local so the compiler can keep it in registers (stores
    # through the uint8_t output pointer could otherwise alias it)
    cdef Writer w = wp[0]
    cdef int i, prev = 0
    for i in range(n):
        _put_span(&w, cur[i] - prev, i & 1)
        prev = cur[i]
    _put_span(&w, width - prev, n & 1)
    wp[0] = w


cdef void _encode_1d_direct(Writer *wp, const uint8_t *row, int width) noexcept nogil:
    """MH-code one packed row straight from the pixels (no changing-element array)."""
    cdef Writer w = wp[0]
    cdef int pos = 0, nxt
    cdef uint64_t mask = 0
    while True:
        nxt = _find(row, pos, width, 0)             # end of a white run
        _put_span(&w, nxt - pos, 0)
        if nxt >= width:
            break
        pos = _find(row, nxt, width, mask - 1)      # end of the black run (mask - 1 = ~0)
        _put_span(&w, pos - nxt, 1)
        if pos >= width:
            break
    wp[0] = w


cdef void _encode_2d(Writer *wp, const int32_t *cur, const int32_t *ref,
                     int width) noexcept nogil:
    # a0 = -1 is the imaginary white element before the row (T.4 4.2.1.3.4)
    # Indices: cur and ref come from _row_changes (strictly increasing, then width
    # sentinels). a0 < width at the top of the loop, so the jlow loop stops at the first
    # ref element > a0, at most index nref; bi <= nref + 1, bi + 1 <= nref + 2. a0 is
    # cur[ia - 1] (V, H) or a ref element (P), so ia <= n while a0 < width, and H reads
    # cur[ia + 1] <= n + 1: all within the sentinels.
    cdef Writer wl = wp[0]
    cdef Writer *w = &wl
    cdef int a0 = -1, a1, a2, b1, b2, ia = 0, jlow = 0, bi, d, start
    while True:
        while ref[jlow] <= a0:      # ref ends with width sentinels and a0 < width here
            jlow += 1
        bi = jlow + ((jlow ^ ia) & 1)   # b1 is a change to the colour opposite a0's
        b1 = ref[bi]
        b2 = ref[bi + 1]
        a1 = cur[ia]
        if b2 < a1:
            _put(w, 1, 4)           # pass mode 0001
            a0 = b2
        else:
            d = a1 - b1
            if -3 <= d <= 3:
                _put(w, V_CODE[d + 3], V_LEN[d + 3])
                a0 = a1
                ia += 1
            else:
                a2 = cur[ia + 1]
                start = a0 if a0 > 0 else 0
                _put(w, 1, 3)       # horizontal mode 001
                _put_span(w, a1 - start, ia & 1)
                _put_span(w, a2 - a1, (ia & 1) ^ 1)
                a0 = a2
                ia += 2
        if a0 >= width:
            break
    wp[0] = wl


cdef inline void _put_eol(Writer *w, int align, int tag) noexcept nogil:
    """EOL, optionally preceded by fill so it ends on a byte boundary; tag: -1 none, 0/1."""
    if align:
        _put(w, 0, (4 - (w.nb & 7)) & 7)
    if tag < 0:
        _put(w, 1, 12)
    else:
        _put(w, 2 | tag, 13)


def encode_packed(const uint8_t[:, ::1] rows, int width, int scheme, int k=4,
                  bint eol_align=False, Py_ssize_t min_row_bits=0, bint end_marker=True):
    """Encode packed rows. scheme: 0 = MH, 1 = MR, 2 = MMR. Returns bytes (MSB first).

    MH/MR: EOL before every row (with its tag bit in MR), optional fill, then RTC when
    end_marker. MMR: rows, then EOFB when end_marker. Always padded to a whole byte.
    """
    cdef Py_ssize_t nrows = rows.shape[0], rowbytes = rows.shape[1]
    cdef Py_ssize_t r, worst
    cdef uint8_t *src = NULL
    cdef int32_t *cur = NULL
    cdef int32_t *ref = NULL
    cdef int32_t *tmp
    cdef int n, i, kleft = 0, tag = -1, oom = 0
    cdef Writer w
    cdef int64_t row_start
    if width < 1 or width > MAX_WIDTH:
        raise ValueError(f"width must be 1..{MAX_WIDTH}, got {width}")
    if rowbytes < (width + 7) // 8:
        raise ValueError("packed rows are shorter than the width")
    if scheme not in (0, 1, 2):
        raise ValueError("scheme must be 0 (MH), 1 (MR) or 2 (MMR)")
    if scheme == 1 and k < 1:
        raise ValueError("k must be >= 1")
    if min_row_bits < 0:
        raise ValueError("min_row_bits must be >= 0")
    # worst case per row: every pixel a change; H mode codes <= 3 + 2 * 13 bits per two
    # changes plus make-ups (<= 14 bits per 2560 pixels); fill; EOL+tag+align
    worst = ((width + 2) * 16 + (width // 2560 + 2) * 28 + min_row_bits + 64) // 8 + 16
    w.cap = worst * 2 + 64
    w.pos = 0
    w.acc = 0
    w.nb = 0
    w.buf = <uint8_t *>malloc(w.cap)
    src = <uint8_t *>malloc(nrows * rowbytes + 8)
    cur = <int32_t *>malloc((width + SENTINELS + 2) * sizeof(int32_t))
    ref = <int32_t *>malloc((width + SENTINELS + 2) * sizeof(int32_t))
    try:
        if w.buf == NULL or src == NULL or cur == NULL or ref == NULL:
            raise MemoryError()
        if nrows:
            memcpy(src, &rows[0, 0], nrows * rowbytes)
        memset(src + nrows * rowbytes, 0, 8)
        for i in range(SENTINELS):          # all-white reference row for the first 2-D row
            ref[i] = width
        with nogil:
            for r in range(nrows):
                if _reserve(&w, worst) < 0:
                    oom = 1
                    break
                if scheme == 0:
                    # MH needs no changing-element array: code runs as they are found
                    row_start = _bitpos(&w)
                    _put_eol(&w, eol_align, -1)
                    _encode_1d_direct(&w, src + r * rowbytes, width)
                    if min_row_bits > 0 and _bitpos(&w) - row_start < min_row_bits:
                        _put_zeros(&w, min_row_bits - (_bitpos(&w) - row_start))
                    continue
                n = _row_changes(src + r * rowbytes, width, cur)
                if scheme == 2:
                    _encode_2d(&w, cur, ref, width)
                    tmp = ref; ref = cur; cur = tmp
                    continue
                row_start = _bitpos(&w)
                if scheme == 1:
                    tag = 1 if kleft == 0 else 0
                _put_eol(&w, eol_align, tag)
                if tag == 0:
                    _encode_2d(&w, cur, ref, width)
                    kleft -= 1
                else:
                    _encode_1d(&w, cur, n, width)
                    kleft = k - 1
                if scheme == 1:
                    tmp = ref; ref = cur; cur = tmp
                if min_row_bits > 0 and _bitpos(&w) - row_start < min_row_bits:
                    _put_zeros(&w, min_row_bits - (_bitpos(&w) - row_start))
        if oom or _reserve(&w, 128) < 0:
            raise MemoryError()
        if end_marker:
            if scheme == 2:
                _put(&w, 1, 12)
                _put(&w, 1, 12)
            else:
                for i in range(6):
                    _put_eol(&w, eol_align, 1 if scheme == 1 else -1)
        _flush(&w)
        return PyBytes_FromStringAndSize(<char *>w.buf, w.pos)
    finally:
        free(w.buf)
        free(src)
        free(cur)
        free(ref)


# ---------------------------------------------------------------------------------------
# Bit reader
# ---------------------------------------------------------------------------------------

cdef struct Reader:
    const uint8_t *data
    Py_ssize_t n          # input bytes
    Py_ssize_t pos        # next byte to load into acc
    uint64_t acc          # the next `nb` bits, left-aligned; all bits below them are 0
    int nb


cdef inline void _refill(Reader *r) noexcept nogil:
    """Top up acc to at least 56 bits, or to whatever is left of the input. Keeps
    nb <= 63, so that shifting by nb stays defined."""
    cdef int take
    if r.nb > 55:
        return
    if r.pos + 8 <= r.n:
        take = (63 - r.nb) >> 3              # whole bytes that fit: 1..7
        r.acc |= (fc_load_be64(r.data + r.pos) >> r.nb) & ~((<uint64_t>1 << (64 - r.nb - take * 8)) - 1)
        r.pos += take
        r.nb += take * 8
    else:
        while r.nb <= 55 and r.pos < r.n:
            r.acc |= (<uint64_t>r.data[r.pos]) << (56 - r.nb)
            r.pos += 1
            r.nb += 8


cdef inline void _skip(Reader *r, int n) noexcept nogil:
    # 0 <= n <= nb
    if n >= 64:
        r.acc = 0
    else:
        r.acc <<= n
    r.nb -= n


cdef inline int64_t _consumed_bits(Reader *r) noexcept nogil:
    return r.pos * 8 - r.nb


cdef int _rest_is_zero(Reader *r) noexcept nogil:
    """True if every bit still unread (in acc and after it) is 0."""
    cdef Py_ssize_t i
    if r.acc != 0:
        return 0
    for i in range(r.pos, r.n):
        if r.data[i] != 0:
            return 0
    return 1


cdef int _eol(Reader *r) noexcept nogil:
    """At a row boundary: consume fill bits and an EOL if there is one.

    Returns 1 when an EOL (11 or more zero bits, then a 1) was consumed, 0 when the next
    bits are not an EOL (nothing consumed), -1 when only zero bits (or nothing) remain.
    """
    cdef int64_t zeros = 0
    cdef int z
    while True:
        _refill(r)
        if r.nb == 0:
            return -1
        if r.acc == 0:
            zeros += r.nb
            _skip(r, r.nb)
            continue
        z = fc_clz64(r.acc)
        if zeros + z >= 11:
            _skip(r, z + 1)
            return 1
        # fewer than 11 zeros: only possible before any bits were skipped here, as a
        # refill leaves >= 56 bits unless the input is exhausted
        return 0


cdef int _resync(Reader *r) noexcept nogil:
    """After a damaged row: skip to just after the next EOL. 1 = found, -1 = end of data."""
    cdef int64_t zeros = 0
    cdef int z
    while True:
        _refill(r)
        if r.nb == 0:
            return -1
        if r.acc == 0:
            zeros += r.nb
            _skip(r, r.nb)
            continue
        z = fc_clz64(r.acc)
        _skip(r, z + 1)
        if zeros + z >= 11:
            return 1
        zeros = 0


cdef int _skip_to_first_eol(Reader *r, int64_t *skipped) noexcept nogil:
    """Before the first MH/MR row, when the data does not start with an EOL: skip to just
    after the first EOL (T.4: a receiver synchronises on it; whatever comes before, such as
    a modem's mark-state preamble of 1 bits, is not page data).

    Returns 1 when an EOL was found; `skipped` is then the number of bits before the
    EOL's run of zeros (its fill bits are not counted). Returns -1 when the data holds no
    EOL; the reader is then at the end of the data, so callers scan a copy.
    """
    cdef int64_t zeros = 0, start = _consumed_bits(r), last = start
    cdef int z, v
    cdef uint64_t nz, a, d
    while True:
        _refill(r)
        if r.nb == 0:
            return -1
        if r.acc == 0:
            zeros += r.nb
            _skip(r, r.nb)
            continue
        z = fc_clz64(r.acc)
        if zeros + z >= 11:
            _skip(r, z + 1)
            skipped[0] = last - start
            return 1
        # The first 1 bit ends no EOL. Look at the v bits after it at once: unless they
        # hold 11 zeros followed by a 1, skip to just past the last 1 bit in acc (the zeros
        # after it stay, for the next round). Bit p of d (from the top) is set when bits
        # p..p+10 are all 0; d is limited to the p with p + 11 < v (the 1 after the zeros
        # must be real data too). Shifts bring in 1s as far as nz is concerned (nz = ~bits),
        # so they never fake a run of zeros.
        v = r.nb - z - 1
        d = 0
        if v >= 12:
            nz = ~(r.acc << (z + 1))            # z + 1 <= nb - 12 < 64
            a = nz & (nz << 1)                  # 2 zeros from p
            d = a & (a << 2)                    # 4
            d = d & (d << 4)                    # 8
            d = d & (a << 8) & (nz << 10)       # 11
            d &= ~<uint64_t>0 << (75 - v)       # p <= v - 12; 75 - v is 12..63
        if d == 0:
            _skip(r, 64 - fc_ctz64(r.acc))      # through the last 1 bit (<= nb bits)
        else:
            _skip(r, z + 1)                     # an EOL may be near: bit by bit
        zeros = 0
        last = _consumed_bits(r)        # just past a 1 bit that does not end an EOL


cdef inline int _run(Reader *r, int colour, int limit) noexcept nogil:
    """Decode one run (make-up codes then a terminating code). Returns the run length, or
    -ROW_* on error. The run may not exceed `limit` pixels."""
    cdef int total = 0, e, n, v
    while True:
        if r.nb < 13:
            _refill(r)
            if r.nb < 13:
                return _run_tail(r, colour, limit, total)
        if colour:
            e = BLACK_DEC[r.acc >> 51]
        else:
            e = WHITE_DEC[r.acc >> 52]
        n = e & 15
        if n == 0:
            return -ROW_EOL if e == DEC_EOL else -ROW_INVALID
        r.acc <<= n             # n <= 13 <= nb
        r.nb -= n
        v = e >> 4
        total += v
        if v < 64:
            return total if total <= limit else -ROW_LENGTH
        if total > limit:       # make-ups: also keeps total far from overflow
            return -ROW_LENGTH


cdef int _run_tail(Reader *r, int colour, int limit, int total) noexcept nogil:
    """_run at the end of the input, where fewer than 13 real bits are left."""
    cdef int e, n, v
    while True:
        if colour:
            e = BLACK_DEC[r.acc >> 51]
        else:
            e = WHITE_DEC[r.acc >> 52]
        n = e & 15
        if n == 0 or n > r.nb:
            return -ROW_TRUNCATED
        r.acc <<= n
        r.nb -= n
        v = e >> 4
        total += v
        if total > limit:
            return -ROW_LENGTH
        if v < 64:
            return total


cdef inline int _push(int32_t *cur, int n, int x) noexcept nogil:
    """Append changing element x (a0 <= x < width); an element equal to the last one
    cancels it (a zero-length run), which keeps the array strictly increasing."""
    if n > 0 and cur[n - 1] == x:
        return n - 1
    cur[n] = x
    return n + 1


cdef inline void _terminate(int32_t *cur, int n, int width) noexcept nogil:
    cur[n] = width
    cur[n + 1] = width
    cur[n + 2] = width
    cur[n + 3] = width


cdef int _decode_1d(Reader *rp, int32_t *cur, int *ncur, int width) noexcept nogil:
    # local copy of the reader: lets the compiler keep it in registers (the int32_t
    # stores into cur could otherwise alias its fields)
    # Memory safety: each run is at most width - pos (_run's limit), so 0 <= pos <= width
    # and pos never decreases; only pos < width is pushed, and _push cancels an equal
    # element (zero-length run), so cur stays strictly increasing in [0, width): n <= width
    # and _terminate writes cur[n..n+3] <= width + 3 < width + SENTINELS + 2.
    cdef Reader rl = rp[0]
    cdef Reader *r = &rl
    cdef int pos = 0, n = 0, run, st = ROW_OK
    while True:
        run = _run(r, 0, width - pos)
        if run < 0:
            st = -run
            break
        pos += run
        if pos >= width:
            break
        n = _push(cur, n, pos)
        run = _run(r, 1, width - pos)
        if run < 0:
            st = -run
            break
        pos += run
        if pos >= width:
            break
        n = _push(cur, n, pos)
    _terminate(cur, n, width)
    ncur[0] = n
    rp[0] = rl
    return st


# ---------------------------------------------------------------------------------------
# Pixel emitter: decoders write their runs straight into the packed output row
# ---------------------------------------------------------------------------------------

cdef struct Emit:
    uint8_t *p            # where the next whole 64-pixel word of the row is stored
    uint64_t acc          # pending pixels in the low `nb` bits; the bits above are 0
    int nb                # 0 <= nb < 64


cdef inline void _emit_start(Emit *o, uint8_t *row) noexcept nogil:
    o.p = row
    o.acc = 0
    o.nb = 0


cdef inline void _emit(Emit *o, int n, uint64_t ones) noexcept nogil:
    """Append n >= 0 pixels of one colour (ones = 0: white, ~0: black).

    Plain reading: set pixels pos .. pos + n - 1 of the row to the colour, pos += n.
    Whole words are stored big-endian as they fill (the run's middle words in one store
    each), so a row of `total` pixels stores total // 64 words here and _emit_end the
    partial last one: 8 * ceil(total / 64) bytes from the row start.
    """
    cdef int k
    if o.nb + n < 64:
        o.acc = (o.acc << n) | (ones & ((<uint64_t>1 << n) - 1))
        o.nb += n
        return
    k = 64 - o.nb                       # 1..64 pixels complete the pending word
    fc_store_be64(o.p, ((o.acc << 1) << (k - 1)) | (ones >> (64 - k)))
    o.p += 8
    n -= k
    while n >= 64:
        fc_store_be64(o.p, ones)
        o.p += 8
        n -= 64
    o.acc = ones & ((<uint64_t>1 << n) - 1)
    o.nb = n


cdef inline void _emit_end(Emit *o) noexcept nogil:
    """Store the partial last word (its pixels past the row's end are 0: the pad bits of
    the row's last byte, then up to 7 bytes past the row, see the module docstring)."""
    if o.nb > 0:
        fc_store_be64(o.p, o.acc << (64 - o.nb))


cdef int _decode_1d_fast(Reader *rp, int32_t *cur, int *ncur, int width,
                         uint8_t *row) noexcept nogil:
    """_decode_1d, writing the pixels into `row` as it goes (no _render), and taking a
    white and a black terminating code in one look-up (PAIR_DEC) where it can.

    Same result as _decode_1d followed by _render on success (cur, ncur, bits consumed,
    status); on failure cur/ncur/status/bits are the same and `row` holds a partial row
    (the caller replaces it). Memory safety: as _decode_1d for pos, n and cur; the pair
    step is taken only when pos + w + b < width, so it pushes pos + w and pos + w + b, both
    in (pos, width), after cur[n - 1] <= pos: strictly increasing, as _push would leave
    them (neither run is zero-length). The emitter receives exactly pos pixels <= width,
    so it stores at most ceil(width / 64) words from `row`.
    """
    cdef Reader rl = rp[0]
    cdef Reader *r = &rl
    cdef Emit o
    cdef int pos = 0, n = 0, run, st = ROW_OK, e, w, b, ln
    cdef uint64_t ALL = 0xFFFFFFFFFFFFFFFF
    _emit_start(&o, row)
    while True:
        # plain reading of this loop: the white run then the black run below, when both
        # are single terminating codes and the row goes on after them
        while True:
            if r.nb < PAIR_BITS:
                _refill(r)
                if r.nb < PAIR_BITS:    # at the end of the data: codes one by one
                    break
            e = PAIR_DEC[0][r.acc >> (64 - PAIR_BITS)]
            w = (e >> 4) & 63
            b = e >> 10
            if e == 0 or pos + w + b >= width:
                break
            ln = e & 15                 # <= PAIR_BITS <= nb: real bits
            r.acc <<= ln
            r.nb -= ln
            pos += w
            cur[n] = pos
            pos += b
            cur[n + 1] = pos
            n += 2
            w += b
            if o.nb + w < 64:           # _emit(w white) then _emit(b black), inline
                o.acc = (o.acc << w) | ((<uint64_t>1 << b) - 1)
                o.nb += w
            else:
                _emit(&o, w - b, 0)
                _emit(&o, b, ALL)
        run = _run(r, 0, width - pos)
        if run < 0:
            st = -run
            break
        _emit(&o, run, 0)
        pos += run
        if pos >= width:
            break
        n = _push(cur, n, pos)
        run = _run(r, 1, width - pos)
        if run < 0:
            st = -run
            break
        _emit(&o, run, ALL)
        pos += run
        if pos >= width:
            break
        n = _push(cur, n, pos)
    _emit_end(&o)
    _terminate(cur, n, width)
    ncur[0] = n
    rp[0] = rl
    return st


cdef int _decode_2d(Reader *rp, int32_t *cur, int *ncur, const int32_t *ref,
                    int width) noexcept nogil:
    """Decode one 2-D row against the reference row `ref` (changing elements + sentinels)."""
    cdef Reader rl = rp[0]
    cdef Reader *r = &rl
    cdef int st = _decode_2d_body(r, cur, ncur, ref, width)
    rp[0] = rl
    return st


cdef inline int _decode_2d_body(Reader *r, int32_t *cur, int *ncur, const int32_t *ref,
                                int width) noexcept nogil:
    # Memory-safety proof (bounds checking is off). N = number of changing elements in
    # ref: ref[0..N-1] strictly increasing in [0, width), ref[N..N+3] = width (SENTINELS).
    # T.4 4.2.1.3 / T.6 2.2: a1 is the changing element *to the right of* a0, so every
    # V mode must give a0 < a1 (at the start of the line a0 = -1, the imaginary white
    # element before pixel 0, so a1 = 0 is allowed); a1 <= a0 is an invalid row. Without
    # that check a run of VL1 codes on the width sentinels kept a1 = a0 = width - 1 while
    # bi moved one element right per code, off the end of ref (heap read), and a later
    # pass mode could move a0 back and make cur non-increasing.
    #
    # Invariants at the top of the loop (I0..I4), proved by induction over the modes:
    #   I0  -1 <= a0 < width
    #   I1  0 <= bi <= N + 2, and bi == N + 2 only when a0 == width - 1
    #   I2  ref[bi] > a0
    #   I3  cur[0..n-1] strictly increasing in [0, width), every cur[i] <= a0, so n <= width
    #   I4  (bi ^ n) & 1 == 0: b1 = ref[bi] has the parity of the colour of a0 (the colour
    #       is n & 1); correctness only, no index depends on it
    # Initially a0 = -1, bi = n = 0 and ref[0] >= 0: all hold. Reads: ref[bi], ref[bi + 1]
    # <= N + 3 (I1); ref[bi - 1] only when bi > 0; the skip loops read <= N + 2 (below).
    # V (a1 = b1 + d, checked a0 < a1 <= width; a1 == width ends the row):
    #   cur[n - 1] <= a0 < a1 < width, so a1 is appended (a zero-length run, which _push
    #   would cancel, cannot occur): I3 with a0 = a1.
    #   bi - 1 branch (taken only when bi > 0 and ref[bi - 1] > a1): I1 (bi - 1 <= N + 1),
    #   I2 by the test. bi + 1 branch: the skip loop visits one parity and stops at the
    #   first ref[j] > a1; one of N, N + 1 has that parity and ref there is width > a1, so it
    #   stops at <= N + 1, unless it starts at N + 2: then bi was N + 1 (bi = N + 2 would
    #   mean a0 = width - 1 < a1 < width, impossible), b1 = width, the bi - 1 branch was
    #   refused with ref[N] = width > a1, so a1 + 1 >= b1, i.e. a1 = width - 1: I1. I2 from
    #   the loop. n and bi both change parity: I4.
    # H (runs r1 <= width - start, r2 <= width - a1, start = max(a0, 0)): a0 <= a1 <= a2
    #   <= width, pushes are >= cur[n - 1] (equal cancels), so I3 with a0 = a2; a2 == width
    #   ends the row. n changes by 0 or +-2 (r1 == 0 at a0 == cur[n - 1] cancels, a zero
    #   r2 cancels a1), so I4 with bi += 2k. The skip loop stops at <= N + 1 as above, or
    #   stays at N + 2, where a2 >= a0 = width - 1: I1. I2 from the loop.
    # P (a0 = b2 = ref[bi + 1]): b2 == width ends the row; else bi + 1 < N, so
    #   b2 > ref[bi] > a0 (I2, strictly increasing): I3 (a0 grows, nothing pushed); bi + 2
    #   <= N: I1; ref[bi + 2] > b2 (or is width): I2; bi and n parity kept: I4.
    # Every mode consumes >= 1 bit or returns, so the loop ends.
    cdef int a0 = -1, a1, a2, b1, b2, n = 0, bi = 0, e, m, ln, r1, r2, start
    while True:
        b1 = ref[bi]
        b2 = ref[bi + 1]
        if r.nb < 13:
            _refill(r)
        e = MODE_DEC[r.acc >> 57]
        m = (e >> 4) & 15
        ln = e & 15
        if m == M_ZERO:
            if r.nb < 12:
                return ROW_TRUNCATED
            if (r.acc >> 53) == 0:
                return ROW_EOL
            return ROW_INVALID
        if ln > r.nb:
            return ROW_TRUNCATED
        r.acc <<= ln
        r.nb -= ln
        if e & V_FLAG:                  # the common case first, as an if (not a switch)
            a1 = b1 + ((e >> 8) & 7) - 3
            # one unsigned compare for a0 < a1 <= width (a0 >= -1, so no overflow)
            if <unsigned int>(a1 - a0 - 1) >= <unsigned int>(width - a0):
                return ROW_INVALID if a1 <= a0 else ROW_LENGTH
            if a1 == width:
                break
            cur[n] = a1                 # a1 > a0 >= cur[n - 1]: a plain append (I3)
            n += 1
            a0 = a1
            # colour flipped: b1 is ref[bi - 1] (only possible for VL2/VL3, as ref[bi - 1]
            # < b1) or from ref[bi + 1] on; testing a1 + 1 < b1 first keeps the common V0,
            # VR and VL1 cases on one well-predicted path
            if a1 + 1 < b1 and bi > 0 and ref[bi - 1] > a0:
                bi -= 1
            else:
                bi += 1
                while ref[bi] <= a0:
                    bi += 2
        elif m == M_H:
            start = a0 if a0 > 0 else 0
            r1 = _run(r, n & 1, width - start)
            if r1 < 0:
                return -r1
            a1 = start + r1
            r2 = _run(r, (n & 1) ^ 1, width - a1)
            if r2 < 0:
                return -r2
            a2 = a1 + r2
            if a1 < width:
                n = _push(cur, n, a1)
            if a2 < width:
                n = _push(cur, n, a2)
            a0 = a2
            if a0 >= width:
                break
            while ref[bi] <= a0:       # same colour: b1 moves right in steps of 2
                bi += 2
        elif m == M_P:
            a0 = b2                     # b2 > b1 > a0, b2 <= width
            if a0 >= width:
                break
            bi += 2                     # same colour: the next element of b1's parity
        else:
            return ROW_EXTENSION
    _terminate(cur, n, width)
    ncur[0] = n
    return ROW_OK


cdef struct Hot:
    int a0                # >= 0
    int bi
    int n


cdef void _decode_2d_hot(Reader *rp, Emit *op, Hot *h, int32_t *cur, const int32_t *ref,
                         int width) noexcept nogil:
    """The hot loop of _decode_2d_fast, a function of its own (called through a pointer,
    so that the C compiler does not merge it into its caller) so that its few variables
    stay in registers. Indices: as the general step's V, P and H steps (the proof at
    _decode_2d_body), which it repeats for the cases that neither end the row nor fail;
    emitter: at most the pixels up to a0 < width are emitted.
    """
    cdef Reader rl = rp[0]
    cdef Reader *r = &rl
    cdef Emit o = op[0]
    cdef int a0 = h.a0, bi = h.bi, n = h.n, a1, a2, b1, b2, e, ln, r1, r2, onb
    cdef uint64_t ones, t
    # V modes that do not end the row, P modes, and H modes with two short terminating
    # codes, while at least 15 bits are buffered (so a mode code, <= 7 bits, or H and a
    # pair, 3 + 12, is real data). Anything else (H with other codes, a V or P mode
    # reaching the width or invalid, the end of the data) ends it with the mode code
    # unread, for the general step of _decode_2d_fast.
    # Here the pixels up to a0 are emitted (P emits at once), and the emitter's pending
    # pixels are kept as t = acc ^ ones, ones = a0's colour (0 or ~0; the bits above
    # onb are garbage): appending L pixels of a0's colour is then t <<= L, and
    # appending L pixels of it followed by the colour flip of a V mode is
    # t = ~(t << L), with no colour at hand. acc = (t ^ ones) & (2**onb - 1) converts
    # back.
    ones = -<uint64_t>(n & 1)
    t = o.acc ^ ones
    onb = o.nb
    while True:
        if r.nb < 15:
            _refill(r)
            if r.nb < 15:
                break
        b1 = ref[bi]
        if <int64_t>r.acc < 0 and a0 < b1 < width:
            # V0 (code 1), tested on the top bit before the look-up (halftones: ~70 % of
            # the modes are V0, decoded 1.3x faster so; dithered photos: 27 %, same speed):
            # the V step below with a1 = b1 (a0 < b1 is I2, checked anyway); the next b1
            # is ref[bi + 1]: > b1 (strictly increasing, or the width sentinel), so
            # neither the bi - 1 case nor a skip applies
            r.acc <<= 1
            r.nb -= 1
            cur[n] = b1
            n += 1
            ln = b1 - a0
            if onb + ln < 64:
                t = ~(t << ln)
                onb += ln
            else:
                ones = -<uint64_t>((n - 1) & 1)
                o.acc = (t ^ ones) & ((<uint64_t>1 << onb) - 1)
                o.nb = onb
                _emit(&o, ln, ones)
                t = o.acc ^ ~ones
                onb = o.nb
            a0 = b1
            bi += 1
            continue
        e = MODE_DEC[r.acc >> 57]
        if e & V_FLAG:
            a1 = b1 + ((e >> 8) & 7) - 3
            if a1 <= a0 or a1 >= width:     # invalid, or the row's end: general step
                break
            ln = e & 15
            r.acc <<= ln
            r.nb -= ln
            cur[n] = a1
            n += 1
            ln = a1 - a0                # a1 - epos pixels of a0's colour, then flip
            if onb + ln < 64:
                t = ~(t << ln)
                onb += ln
            else:
                ones = -<uint64_t>((n - 1) & 1)
                o.acc = (t ^ ones) & ((<uint64_t>1 << onb) - 1)
                o.nb = onb
                _emit(&o, ln, ones)
                t = o.acc ^ ~ones
                onb = o.nb
            a0 = a1
            # b1 for the flipped colour: ref[bi - 1] (only when a1 < b1 - 1, i.e.
            # VL2/VL3, and it is right of a1), else from ref[bi + 1] on. (Branches:
            # a branch-free form was slower on halftones, where these predict well.)
            if a1 + 1 < b1 and bi > 0 and ref[bi - 1] > a1:
                bi -= 1
            else:
                bi += 1
                while ref[bi] <= a1:
                    bi += 2
        elif (e & 0xF0) == (M_P << 4):
            b2 = ref[bi + 1]
            if b2 >= width:
                break
            ln = e & 15
            r.acc <<= ln
            r.nb -= ln
            ln = b2 - a0                # b2 - epos pixels of a0's colour
            if onb + ln < 64:
                t <<= ln
                onb += ln
            else:
                ones = -<uint64_t>(n & 1)
                o.acc = (t ^ ones) & ((<uint64_t>1 << onb) - 1)
                o.nb = onb
                _emit(&o, ln, ones)
                t = o.acc ^ ones
                onb = o.nb
            a0 = b2
            bi += 2
        elif (e & 0xF0) == (M_H << 4):
            # two short terminating codes that keep the row going: one look-up
            # (the general step's pair step); the mode code is 3 bits and
            # 3 + PAIR_BITS <= 15 <= nb
            ln = e & 15
            e = PAIR_DEC[n & 1][(r.acc << ln) >> (64 - PAIR_BITS)]
            r1 = (e >> 4) & 63
            r2 = e >> 10
            if e == 0 or a0 + r1 + r2 >= width:
                break
            ln += e & 15
            r.acc <<= ln
            r.nb -= ln
            a1 = a0 + r1
            a2 = a1 + r2
            cur[n] = a1
            cur[n + 1] = a2
            n += 2
            if onb + r1 + r2 < 64:      # r1 of a0's colour, flip, r2, flip back
                t = ~(~(t << r1) << r2)
                onb += r1 + r2
            else:
                ones = -<uint64_t>(n & 1)
                o.acc = (t ^ ones) & ((<uint64_t>1 << onb) - 1)
                o.nb = onb
                _emit(&o, r1, ones)
                _emit(&o, r2, ~ones)
                t = o.acc ^ ones
                onb = o.nb
            a0 = a2
            while ref[bi] <= a0:
                bi += 2
        else:
            break
    ones = -<uint64_t>(n & 1)
    o.acc = (t ^ ones) & ((<uint64_t>1 << onb) - 1)
    o.nb = onb
    h.a0 = a0
    h.bi = bi
    h.n = n
    rp[0] = rl
    op[0] = o


ctypedef void (*hot_fn)(Reader *, Emit *, Hot *, int32_t *, const int32_t *, int) noexcept nogil
cdef hot_fn _HOT_2D = _decode_2d_hot


cdef int _decode_2d_fast(Reader *rp, int32_t *cur, int *ncur, const int32_t *ref,
                         int width, uint8_t *row) noexcept nogil:
    """_decode_2d, writing the pixels into `row` as it goes (no _render), with an H mode's
    two runs taken in one look-up (PAIR_DEC) where they are short terminating codes.

    The mode handling, the indices and their proof are those of _decode_2d_body (read that
    first); what is added:
    * epos = pixels emitted so far, all final. epos <= max(a0, 0) at the top of the loop
      (epos = 0 at the start, a0 = -1; V and H set epos = a0 = a1 resp. a2; P raises a0
      only). The pixels from epos up to the next changing element all have a0's colour
      (n & 1), so V emits a1 - epos >= 0 of that colour (a1 > a0), H emits a1 - epos >= 0
      then a2 - a1 >= 0 of the other, P emits nothing, and the row's end emits
      width - epos. Every length is >= 0 and the total is width, so the emitter stores at
      most ceil(width / 64) words from `row`; a failed row stops with fewer.
    * the H pair step is taken only when start + r1 + r2 < width, r1, r2 >= 1: a1 and a2
      are in (start, width), start >= a0 >= cur[n - 1], so they are appended as _push
      would (no zero-length run); a2 < width, so the row goes on, as in the plain step.
    Same cur, ncur, status and bits consumed as _decode_2d; the same pixels as _render.
    """
    cdef Reader rl = rp[0]
    cdef Reader *r = &rl
    cdef Emit o
    cdef int a0 = -1, a1, a2, b1, b2, n = 0, bi = 0, e, m, ln, r1, r2, start, epos = 0
    cdef uint64_t ones, pat
    cdef Hot h
    _emit_start(&o, row)
    while True:
        # Hot loop (_decode_2d_hot): V, P and short H modes that do not end the row, while
        # a0 >= 0 (after the row's first mode); it stops before anything else, for the
        # general step below. It wants epos == a0: a P of the general step defers its
        # pixels, emitted here.
        if r.nb < 15:
            _refill(r)
        # (entered at a V mode only: text rows leave it again at once, at their H modes)
        if a0 >= 0 and r.nb >= 15 and MODE_DEC[r.acc >> 57] & V_FLAG:
            if epos < a0:
                _emit(&o, a0 - epos, -<uint64_t>(n & 1))
            h.a0 = a0
            h.bi = bi
            h.n = n
            _HOT_2D(r, &o, &h, cur, ref, width)
            a0 = h.a0
            bi = h.bi
            n = h.n
            epos = a0
        # General step: one mode of any kind, exactly as in _decode_2d_body
        b1 = ref[bi]
        b2 = ref[bi + 1]
        if r.nb < 13:
            _refill(r)
        e = MODE_DEC[r.acc >> 57]
        m = (e >> 4) & 15
        ln = e & 15
        if m == M_ZERO:
            if r.nb < 12:
                return _2d_out(rp, &rl, ROW_TRUNCATED)
            if (r.acc >> 53) == 0:
                return _2d_out(rp, &rl, ROW_EOL)
            return _2d_out(rp, &rl, ROW_INVALID)
        if ln > r.nb:
            return _2d_out(rp, &rl, ROW_TRUNCATED)
        r.acc <<= ln
        r.nb -= ln
        ones = -<uint64_t>(n & 1)       # a0's colour: 0 white, all ones black
        if e & V_FLAG:
            a1 = b1 + ((e >> 8) & 7) - 3
            if <unsigned int>(a1 - a0 - 1) >= <unsigned int>(width - a0):
                return _2d_out(rp, &rl, ROW_INVALID if a1 <= a0 else ROW_LENGTH)
            if a1 == width:
                break
            cur[n] = a1
            n += 1
            _emit(&o, a1 - epos, ones)
            epos = a1
            a0 = a1
            if a1 + 1 < b1 and bi > 0 and ref[bi - 1] > a0:
                bi -= 1
            else:
                bi += 1
                while ref[bi] <= a0:
                    bi += 2
        elif m == M_H:
            start = a0 if a0 > 0 else 0
            if r.nb < PAIR_BITS:
                _refill(r)
            e = PAIR_DEC[n & 1][r.acc >> (64 - PAIR_BITS)] if r.nb >= PAIR_BITS else 0
            r1 = (e >> 4) & 63
            r2 = e >> 10
            if e != 0 and start + r1 + r2 < width:
                ln = e & 15             # <= PAIR_BITS <= nb
                r.acc <<= ln
                r.nb -= ln
                a1 = start + r1
                a2 = a1 + r2
                cur[n] = a1
                cur[n + 1] = a2
                n += 2
                ln = a2 - epos          # a1 - epos of a0's colour, then r2 of the other
                if o.nb + ln < 64:
                    pat = (<uint64_t>1 << ln) - 1
                    o.acc = (o.acc << ln) | ((ones & pat) ^ ((<uint64_t>1 << r2) - 1))
                    o.nb += ln
                else:
                    _emit(&o, a1 - epos, ones)
                    _emit(&o, r2, ~ones)
                epos = a2
                a0 = a2
            else:
                r1 = _run(r, n & 1, width - start)
                if r1 < 0:
                    return _2d_out(rp, &rl, -r1)
                a1 = start + r1
                r2 = _run(r, (n & 1) ^ 1, width - a1)
                if r2 < 0:
                    return _2d_out(rp, &rl, -r2)
                a2 = a1 + r2
                _emit(&o, a1 - epos, ones)
                _emit(&o, r2, ~ones)
                epos = a2
                if a1 < width:
                    n = _push(cur, n, a1)
                if a2 < width:
                    n = _push(cur, n, a2)
                a0 = a2
                if a0 >= width:
                    break
            while ref[bi] <= a0:
                bi += 2
        elif m == M_P:
            a0 = b2
            if a0 >= width:
                break
            bi += 2
        else:
            return _2d_out(rp, &rl, ROW_EXTENSION)
    _emit(&o, width - epos, -<uint64_t>(n & 1))
    _emit_end(&o)
    _terminate(cur, n, width)
    ncur[0] = n
    rp[0] = rl
    return ROW_OK


cdef inline int _2d_out(Reader *rp, Reader *rl, int st) noexcept nogil:
    rp[0] = rl[0]
    return st


cdef inline void _render(uint8_t *row, Py_ssize_t rowbytes, const int32_t *cur, int n,
                         int width, uint64_t *scratch) noexcept nogil:
    """Packed row from its changing elements: black from cur[0] to cur[1], cur[2] to
    cur[3], ... (cur[n] is the width sentinel, ending an odd last span).

    The spans are ORed into `scratch`, (width + 63) // 64 words of 64 pixels, most
    significant bit first, without data-dependent branches for the usual span of at most
    one word boundary; then the words are stored big-endian. The stores cover
    8 * words >= rowbytes bytes, i.e. up to 7 bytes past the row (into the next row,
    rendered later, or into the 8 spare bytes of the buffer). No bit past the width is
    set, as every span ends at or before it.
    """
    cdef int i, s, e, ws, we, w, words = (width + 63) >> 6
    cdef uint64_t m1, m2, ALL = 0xFFFFFFFFFFFFFFFF
    if n == 0:
        memset(row, 0, rowbytes)
        return
    memset(scratch, 0, words * 8)
    i = 0
    while i < n:
        s = cur[i]
        e = cur[i + 1] - 1          # last black pixel; s <= e < width
        i += 2
        ws = s >> 6
        we = e >> 6
        m1 = ALL >> (s & 63)
        m2 = ALL << (63 - (e & 63))
        # same word: both lines OR m1 & m2; else the first and the last word of the span
        scratch[ws] |= m1 & (m2 if ws == we else ALL)
        scratch[we] |= m2 & (m1 if ws == we else ALL)
        for w in range(ws + 1, we):
            scratch[w] = ALL
    for w in range(words):
        fc_store_be64(row + w * 8, scratch[w])


_ROW_MESSAGES = {
    ROW_INVALID: "invalid code",
    ROW_EOL: "EOL inside the row (row too short)",
    ROW_TRUNCATED: "data ended inside the row",
    ROW_LENGTH: "runs do not add up to the width",
    ROW_EXTENSION: "2-D extension code (uncompressed mode) is not supported",
}


cdef class _Out:
    """Growable packed output rows in a numpy buffer (returned without a copy), never
    more than max_rows rows; 8 spare bytes at the end for _render's word stores."""
    cdef object arr
    cdef uint8_t *buf
    cdef Py_ssize_t rowbytes, cap, max_rows

    def __cinit__(self, Py_ssize_t rowbytes, Py_ssize_t max_rows, Py_ssize_t first):
        self.rowbytes = rowbytes
        self.max_rows = max_rows
        self.cap = max(1, min(first, max_rows))
        self._alloc(self.cap, 0)

    cdef int _alloc(self, Py_ssize_t cap, Py_ssize_t keep_rows) except -1:
        cdef uint8_t[::1] mv
        arr = _np.empty(cap * self.rowbytes + 8, dtype=_np.uint8)
        mv = arr
        if keep_rows:
            memcpy(&mv[0], self.buf, keep_rows * self.rowbytes)
        self.arr = arr
        self.buf = &mv[0]
        self.cap = cap
        return 0

    cdef uint8_t *row(self, Py_ssize_t i) except NULL:
        # i < max_rows is checked by the caller before every row
        if i >= self.cap:
            self._alloc(min(max(self.cap * 2, i + 1), self.max_rows), i)
        return self.buf + i * self.rowbytes

    cdef object take(self, Py_ssize_t rows):
        """The first `rows` rows as a (rows, rowbytes) array; compacted if much smaller
        than the buffer, so a short page does not pin a large allocation."""
        flat = self.arr[: rows * self.rowbytes]
        if rows * 4 < self.cap * 3:
            flat = flat.copy()
        return flat.reshape(rows, self.rowbytes)


def decode_packed(const uint8_t[::1] data, int width, int scheme, Py_ssize_t max_rows,
                  int k=0, bint rows_given=False, bint plain=False):
    """Decode a T.4/T.6 stream (MSB first) into packed rows.

    Returns (packed rows as a (rows, (width + 7) // 8) uint8 array, rows, bad row
    indices, end marker seen, error or None, consumed bits, bits skipped before the first
    EOL). See faxcore.codecs.t4.decode for the behaviour on damaged data.

    plain=True decodes with the plain reading of the algorithm (_decode_1d, _decode_2d:
    one code per look-up, changing elements rendered afterwards by _render) instead of
    the fast paths (_decode_1d_fast for every 1-D row; _decode_2d_fast for 2-D rows whose
    reference row has at least width / 8 changing elements, where it pays off); the
    result is the same (tests/codecs/test_codec_fastpath.py compares the two).
    """
    cdef Reader r, row_start, probe
    cdef int64_t skipped = 0
    cdef Py_ssize_t rowbytes = (width + 7) // 8, row = 0
    cdef int32_t *cur = NULL
    cdef int32_t *ref = NULL
    cdef int32_t *tmp
    cdef int ncur = 0, st, res, tag = 1, neol = 0, i, mr = scheme == 1, two_d
    cdef int since_1d = 0, uses_eol = 0, after = 0, rendered, slow, nref = 0
    cdef uint8_t *orow
    cdef uint64_t *scratch = NULL
    cdef bint end_seen = False
    if width < 1 or width > MAX_WIDTH:
        raise ValueError(f"width must be 1..{MAX_WIDTH}, got {width}")
    if scheme not in (0, 1, 2):
        raise ValueError("scheme must be 0 (MH), 1 (MR) or 2 (MMR)")
    r.n = data.shape[0]
    r.data = &data[0] if r.n > 0 else NULL
    r.pos = 0
    r.acc = 0
    r.nb = 0
    # every row costs at least one bit, so a stream cannot hold more than 8 * n + 1 rows
    max_rows = max(0, min(max_rows, 8 * r.n + 1))
    bad = []
    error = None
    # rows given: allocate them at once; else start with an A4 fine page (about 2300 rows)
    out = _Out(rowbytes, max(max_rows, 1), max_rows if rows_given else 2400)
    cur = <int32_t *>malloc((width + SENTINELS + 2) * sizeof(int32_t))
    ref = <int32_t *>malloc((width + SENTINELS + 2) * sizeof(int32_t))
    scratch = <uint64_t *>malloc(((width + 63) // 64) * sizeof(uint64_t))
    try:
        if cur == NULL or ref == NULL or scratch == NULL:
            raise MemoryError()
        _terminate(ref, 0, width)           # the row before the first is white
        if scheme == 2:
            while True:
                _refill(&r)
                if r.nb >= 24 and (r.acc >> 40) == 0x001001:
                    _skip(&r, 24)
                    end_seen = True
                    break
                if row >= max_rows:
                    if not rows_given and not _rest_is_zero(&r):
                        error = f"row limit of {max_rows} rows reached"
                    break
                if r.acc == 0 and _rest_is_zero(&r):
                    break
                orow = out.row(row)
                # the fast 2-D path pays off on busy rows (halftones, dithered photos);
                # on sparse ones (text, line art) the plain one is as fast or faster:
                # chosen by the reference row's changing elements (the same pixels either
                # way)
                slow = plain or nref < (width >> 3)
                if slow:
                    st = _decode_2d(&r, cur, &ncur, ref, width)
                else:
                    st = _decode_2d_fast(&r, cur, &ncur, ref, width, orow)
                if st == ROW_EOL and _rest_is_zero(&r):
                    st = ROW_TRUNCATED
                if st != ROW_OK:
                    if st == ROW_EOL:
                        error = f"row {row}: EOL inside an MMR stream (only EOFB is allowed)"
                    else:
                        error = f"row {row}: {_ROW_MESSAGES[st]}"
                    break
                if slow:
                    _render(orow, rowbytes, cur, ncur, width, scratch)
                tmp = ref; ref = cur; cur = tmp
                nref = ncur
                row += 1
            return (out.take(row), row, bad, end_seen, error, _consumed_bits(&r), 0)

        # MH / MR: after = 0 a row follows, 1 = RTC seen, -1 = end of data
        res = _eol(&r)
        if res == 0:
            # not an EOL first: if there is an EOL anywhere, the page starts there and the
            # bits before it are skipped (a mark preamble, or junk); a stream without any
            # EOL (rows back to back) decodes from its first bit
            probe = r
            if _skip_to_first_eol(&probe, &skipped) == 1:
                r = probe
                res = 1
        if res == 1:
            uses_eol = 1
            after = _after_eol(&r, mr, &tag, &neol)
        elif res == -1:
            after = -1
        while after == 0:
            if row >= max_rows:
                if not rows_given:
                    error = f"row limit of {max_rows} rows reached"
                break
            if not mr:
                two_d = 0
            elif uses_eol and neol > 0:
                two_d = tag == 0
            else:                          # MR without EOL before this row: K decides
                two_d = row > 0 and k > 0 and since_1d < k
            neol = 0
            row_start = r           # resynchronisation searches from here
            orow = out.row(row)
            rendered = not plain
            if plain or (two_d and nref < (width >> 3)):   # as for MMR above
                rendered = 0
                if two_d:
                    st = _decode_2d(&r, cur, &ncur, ref, width)
                else:
                    st = _decode_1d(&r, cur, &ncur, width)
            elif two_d:
                st = _decode_2d_fast(&r, cur, &ncur, ref, width, orow)
            else:
                st = _decode_1d_fast(&r, cur, &ncur, width, orow)
            if st == ROW_OK:
                if r.nb < 25:
                    _refill(&r)
                if (r.nb >= 25 and (r.acc >> 52) == 1
                        and ((r.acc << (12 + mr)) >> 53) != 0):
                    # the common case, inline: an EOL (+ tag) right after the row and
                    # no second EOL after it, so another row follows
                    if mr:
                        tag = <int>((r.acc >> 51) & 1)
                    _skip(&r, 12 + mr)
                    uses_eol = 1
                    neol = 1
                    after = 0
                    res = 2
                else:
                    res = _eol(&r)
                if res == 2:
                    pass
                elif res == 1:
                    uses_eol = 1
                    after = _after_eol(&r, mr, &tag, &neol)
                elif res == -1:
                    after = -1
                elif uses_eol:
                    # more data where the EOL should be: the row is longer than the width
                    st = ROW_LENGTH
                    r = row_start
                    res = _resync(&r)
                    after = _after_eol(&r, mr, &tag, &neol) if res == 1 else -1
            else:
                if st == ROW_EOL and _rest_is_zero(&r):
                    st = ROW_TRUNCATED      # only zero bits left: the data ended
                if st == ROW_EOL:
                    res = _eol(&r)
                elif st == ROW_TRUNCATED:
                    res = -1
                else:
                    # a damaged code may have swallowed part of the next EOL: look for
                    # it from the start of the row (valid row data never contains one)
                    r = row_start
                    res = _resync(&r)
                if res == 1:
                    uses_eol = 1
                    after = _after_eol(&r, mr, &tag, &neol)
                else:
                    after = -1
            if st == ROW_OK:
                if not rendered:
                    _render(orow, rowbytes, cur, ncur, width, scratch)
                tmp = ref; ref = cur; cur = tmp
                nref = ncur
                since_1d = since_1d + 1 if two_d else 1
            else:
                # a damaged row is replaced by the previous row, as fax receivers do;
                # ref keeps the previous row's changing elements, matching the copy
                if row > 0:
                    memcpy(orow, orow - rowbytes, rowbytes)
                else:
                    memset(orow, 0, rowbytes)
                bad.append(row)
                if error is None:
                    error = f"row {row}: {_ROW_MESSAGES[st]}"
            row += 1
        if after == 1 or (after == -1 and neol >= 2):
            end_seen = True
        return (out.take(row), row, bad, end_seen, error, _consumed_bits(&r), skipped)
    finally:
        free(cur)
        free(ref)
        free(scratch)


cdef int _after_eol(Reader *r, int mr, int *tag, int *neol) noexcept nogil:
    """Right after an EOL: read the MR tag bit, then count further EOLs (RTC).

    Returns 0 when a row follows, 1 after six consecutive EOLs (RTC), -1 at end of data.
    """
    cdef int res
    neol[0] = 1
    while True:
        if mr:
            _refill(r)
            if r.nb == 0:
                return -1
            tag[0] = <int>(r.acc >> 63)
            _skip(r, 1)
        if neol[0] >= 6:
            return 1
        res = _eol(r)
        if res == 1:
            neol[0] += 1
            continue
        return res
