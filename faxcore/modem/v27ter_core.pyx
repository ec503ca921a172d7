# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-sample loops of the V.27ter modem (see :mod:`faxcore.modem.v27ter`).

* :class:`Scrambler` - the 1 + x^-6 + x^-7 self-synchronising scrambler with the
  V.27ter repeated-pattern guard (outputs 8, 9 and 12 bits back, 33 bits).
* :class:`PskShaper` - root-raised-cosine pulse shaping of differential PSK symbols and
  modulation onto the 1800 Hz carrier (transmitter).
* :class:`V27Demod` - the receiver: carrier detect, AGC, demodulation, matched filter with
  polyphase interpolation, Gardner symbol timing recovery, T/2-spaced LMS equaliser,
  decision-directed carrier phase/frequency tracking, training-sequence acquisition,
  differential decoding and descrambling.

Memory safety. Bounds checks are off, so every index below is proven in range, by an
explicit check or by one of these invariants (``__init__`` validates the tables it is
given and raises ``ValueError`` otherwise):

* Rings: the input ring (2 x NB) is written at ``n & (NB - 1)`` (+ NB) and read at
  ``base - j`` with ``NB <= base < 2 NB`` and ``0 <= j < ntap <= NB - 8``; the equaliser
  line (2 x NEB) at ``epos + j``, ``0 <= epos < NEB``, ``j <= NEQ < NEB`` (``epos +
  NEQ`` is the sample leaving the running energy sum); the carrier
  tables at ``car`` in ``[0, CARRIER_PERIOD)``; ``PskShaper``'s history (64) at
  ``hist_pos + 32 - j`` with ``0 <= hist_pos < 32`` and ``j < ntaps <= 32``, its
  polyphase row ``0 <= baud_phase < num`` (``0 < den <= num`` checked), and its symbol
  reads are exactly the count checked on entry (``run``: the array's length;
  ``PskTxCore.tx``: ``need <= len(pend) - ppos``, checked after any refill, with
  ``0 <= ppos <= len(pend)``: ``ppos`` grows by ``need`` only after that check and is
  reset with every new ``pend``; the output block is made with ``n`` elements).
* The per-period shaper (``_run_fast``): ``tab`` is ``[40, ntaps, 9, 8]`` (built so by
  ``set_gain``, which alone fills its cache), read at ``car`` in ``[0, 40)`` (a modulo, or the running
  carrier index) over taps ``j < ntaps`` and codes ``hcode <= 8`` (``s & 7``, or 8), 8
  lanes; the history codes/signs (64) at ``hist_pos + 32 - j`` as above; the period's
  samples ``sbuf[lane & 7]``. The data path: ``_encode`` reads ``nbits <= qlen`` bits
  from ``qbuf[qpos:]`` (checked) and writes ``total / bps`` symbols into the room
  ``_room`` made for exactly that many; ``_zeros`` likewise; ``_put`` copies into
  ``qbuf`` only after moving or growing it to hold ``qpos + qlen + k`` bytes.
* Filter row ``p = int(f nfrac + 0.5)`` with ``0 <= f < 1`` (checked, NaN mapped to 0),
  so ``p <= nfrac`` (the table has nfrac + 1 rows). The input offset ``off`` is checked
  against the ring (a timing runaway resynchronises).
* Training: ``lut`` has 65536 entries, each -1 or below ``MAX_TRAIN - 300`` (checked),
  indexed with ``hist & 0xFFFF``; ``exp24`` and ``pattern`` have MAX_TRAIN entries and
  ``idx < MAX_TRAIN`` is checked before each read. Decisions (``_octant``,
  ``_quadrant``) return 0..7 for any input, NaN included; ``inv`` is indexed ``& 7``.
* Output: ``obuf`` is sized ``block + 16 + HOLD_MAX`` per call and ``_out_bit`` checks
  it; bits demodulated during a dropout wait in ``hbuf`` (HOLD_MAX), whose writes are
  checked too (the dropout ends the burst after ``low_grace`` <= HOLD_MAX / 3 symbols). The
  transmitter's samples are clamped to int16 before the cast, from finite values (the
  pulse table and the gain are checked finite, the points are unit phasors). Events go
  into a C buffer of EV_MAX that ``process`` flushes to ``events`` whenever it holds
  more than EV_MAX - 8 before a sample or a T/2 step (each raises at most 3), and
  ``_event`` only writes below EV_MAX regardless.
* Inner products (``_vec.pxd``): the matched filter reads the float32 input ring over
  ``[base - ntap + 1, base]`` with ``NB <= base < 2 NB``, ``ntap <= NB - 8``; the
  equaliser line over ``[epos, epos + NEQ)``, ``epos < NEB``, ``NEQ < NEB``.
* Float to int: ``next_n = floor(t_next) + half_len`` needs a finite ``t_next``: every
  step added to it is finite and bounded (the Gardner error is clamped, NaN mapped to
  0; the drift is clamped). The carrier loop steps are clamped (NaN mapped to 0), so the
  rotator stays a finite unit vector.
* Divergence cannot start: the AGC gain is at most 1/sqrt(1e-9), and the LMS step is
  normalised by the actual line energy whenever that is well above its nominal level
  (a signal far louder than the frozen AGC expected); an equaliser output that is not
  finite or past any converged equaliser's (``z2_max``) ends the training (or, in data,
  the burst) instead of reaching the decisions.
"""

import numpy as np

cimport cython
cimport numpy as cnp
from libc.math cimport M_PI, atan2, ceil, cos, floor, sin, sqrt
from libc.string cimport memcpy, memmove

cnp.import_array()

# the matched filter, equaliser output and LMS update, vectorisable (see _vec.pxd)
from faxcore.modem._vec cimport fc_cdot, fc_fir2f

cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    typedef double v27_v2d __attribute__((vector_size(16)));
    static inline v27_v2d v27_ld(const double *p)
    {
        v27_v2d v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    /* The samples of one symbol period, rounded to int16:
       v[l] = sum_j tab[(j 9 + hc[-j]) 8 + l], j = 0..ntaps-1 (hc: phase 0..7, 8 for a
       zero symbol, whose rows are 0), for lanes
       0..2 npairs-1 (npairs 3 or 4; SSE2 pairs); then clamped to
       [-32768, 32767] and rounded half away from zero, as the plain loop does. */
    static inline void v27_period(const double *restrict tab, int ntaps, int npairs,
                                  const unsigned char *hc, short *out)
    {
        /* three partial sums per lane pair (taps j = 0, 1, 2 mod 3), so that the adds
           are three short dependency chains instead of one of ntaps */
        v27_v2d a0 = {0.0, 0.0}, a1 = {0.0, 0.0}, a2 = {0.0, 0.0}, a3 = {0.0, 0.0};
        v27_v2d b0 = {0.0, 0.0}, b1 = {0.0, 0.0}, b2 = {0.0, 0.0}, b3 = {0.0, 0.0};
        v27_v2d c0 = {0.0, 0.0}, c1 = {0.0, 0.0}, c2 = {0.0, 0.0}, c3 = {0.0, 0.0};
        const double *t;
        int j;
    #define V27_TAP(A0, A1, A2, A3, J) \
        t = tab + ((J) * 9 + hc[-(J)]) * 8; \
        A0 += v27_ld(t); \
        A1 += v27_ld(t + 2); \
        A2 += v27_ld(t + 4); \
        if (npairs > 3) A3 += v27_ld(t + 6);
        for (j = 0; j + 3 <= ntaps; j += 3) {
            V27_TAP(a0, a1, a2, a3, j)
            V27_TAP(b0, b1, b2, b3, j + 1)
            V27_TAP(c0, c1, c2, c3, j + 2)
        }
        for (; j < ntaps; j++) {
            V27_TAP(a0, a1, a2, a3, j)
        }
    #undef V27_TAP
        a0 = (a0 + b0) + c0;
        a1 = (a1 + b1) + c1;
        a2 = (a2 + b2) + c2;
        a3 = (a3 + b3) + c3;
    #if defined(__SSE2__)
        {
            const __m128d hi = _mm_set1_pd(32767.0), lo = _mm_set1_pd(-32768.0);
            const __m128d sign = _mm_set1_pd(-0.0), half = _mm_set1_pd(0.5);
            __m128d v0 = (__m128d)a0, v1 = (__m128d)a1, v2 = (__m128d)a2, v3 = (__m128d)a3;
            /* clamp; v >= 0: v + 0.5, else v - 0.5 (-0.0 gives -0.5: truncated to 0 too);
               truncate to int32 (two in the low half of each), pack to int16 */
            v0 = _mm_min_pd(_mm_max_pd(v0, lo), hi);
            v1 = _mm_min_pd(_mm_max_pd(v1, lo), hi);
            v2 = _mm_min_pd(_mm_max_pd(v2, lo), hi);
            v3 = _mm_min_pd(_mm_max_pd(v3, lo), hi);
            v0 = _mm_add_pd(v0, _mm_or_pd(_mm_and_pd(v0, sign), half));
            v1 = _mm_add_pd(v1, _mm_or_pd(_mm_and_pd(v1, sign), half));
            v2 = _mm_add_pd(v2, _mm_or_pd(_mm_and_pd(v2, sign), half));
            v3 = _mm_add_pd(v3, _mm_or_pd(_mm_and_pd(v3, sign), half));
            _mm_storeu_si128((__m128i *)out,
                             _mm_packs_epi32(_mm_unpacklo_epi64(_mm_cvttpd_epi32(v0),
                                                                _mm_cvttpd_epi32(v1)),
                                             _mm_unpacklo_epi64(_mm_cvttpd_epi32(v2),
                                                                _mm_cvttpd_epi32(v3))));
        }
    #else
        {
        v27_v2d a[4] = {a0, a1, a2, a3};
        int l;
        for (l = 0; l < 8; l++) {
            double v = a[l / 2][l % 2];
            if (v > 32767.0)
                v = 32767.0;
            else if (v < -32768.0)
                v = -32768.0;
            out[l] = (short)(v >= 0 ? v + 0.5 : v - 0.5);
        }
        }
    #endif
    }
    /* _vec.pxd's fc_lms written with SSE2 pairs (GCC left it scalar): c[m] += e conj(u[m]),
       each element the same products and sums as the scalar loop (bit-exact) */
    static inline void v27_lms(double *restrict cr, double *restrict ci,
                               const double *restrict ur, const double *restrict ui,
                               int n, double er, double ei)
    {
        v27_v2d vr = {er, er}, vi = {ei, ei}, u, w, c, d;
        long m = 0, nn = n;
        for (; m + 2 <= nn; m += 2) {
            u = v27_ld(ur + m);
            w = v27_ld(ui + m);
            c = v27_ld(cr + m) + (vr * u + vi * w);
            d = v27_ld(ci + m) + (vi * u - vr * w);
            memcpy(cr + m, &c, sizeof c);
            memcpy(ci + m, &d, sizeof d);
        }
        for (; m < nn; m++) {
            cr[m] += er * ur[m] + ei * ui[m];
            ci[m] += ei * ur[m] - er * ui[m];
        }
    }
    """
    void v27_lms(double *cr, double *ci, const double *ur, const double *ui, int n,
                 double er, double ei) noexcept nogil
    void v27_period(const double *tab, int ntaps, int npairs, const unsigned char *hc,
                    cnp.int16_t *out) noexcept nogil

cdef enum:
    NB = 64               # input history ring (complex baseband), power of two >= filter length
    NEQ = 17              # equaliser taps, T/2 spaced
    EQ_CENTRE = 8         # centre tap (an on-time sample: even distance from the newest)
    NEB = 32              # equaliser input ring, power of two >= NEQ
    CARRIER_PERIOD = 40   # 1800 Hz at 8000 samples/s repeats every 40 samples
    MAX_TRAIN = 1074      # segment 4 length in symbols
    EV_MAX = 32           # events buffered in C per process() (flushed to the list)
    HOLD_MAX = 128        # bits held during a dropout (low_grace symbols of <= 3 bits)
    SEG5 = 8              # segment 5 (scrambled ones) in symbols
    SLANES = 8            # samples per symbol period the per-period shaper makes (>= 20/3)
    NCODES = 9            # per-period table rows per tap: phases 0..7, then a zero symbol
    TX_DATA = 0           # transmitter: encoding the data (or the fill before more)
    TX_TAIL = 1           # the data's end is encoded; the ring-down zeros come next
    TX_OFF = 2            # everything encoded: zero symbols only

# The equaliser line holds ~8.4 (at most ~14 with noise, measured) with the AGC right;
# above EQ_CAP the LMS step is normalised by the energy (NLMS step <= EQ_CAP x mu <= 1.02)
cdef double EQ_CAP = 34.0

# event codes handed to Python
EV_CARRIER_UP = 1
EV_CARRIER_DOWN = 2
EV_TRAINING_SUCCEEDED = 3
EV_TRAINING_FAILED = 4

cdef enum:
    ST_IDLE = 0      # no carrier
    ST_HUNT = 1      # carrier, looking for segment 3 (180 degree reversals)
    ST_REV = 2       # in the segment 3 reversals (timing loop narrowed), looking for segment 4
    ST_TRAIN = 3     # segment 4: equaliser and carrier loop trained on the known sequence
    ST_SEG5 = 4      # segment 5: scrambled ones, decoded but not delivered (quality check)
    ST_DATA = 5      # delivering data
    ST_WAIT = 6      # training failed: nothing delivered until the carrier drops


# ---------------------------------------------------------------------------------------
# Scrambler
# ---------------------------------------------------------------------------------------

cdef inline int _guard(int reg, int line_bit, int *count) noexcept nogil:
    """V.27ter guard against repetitive line patterns: count the bits in a row that equal
    the line bit 8, 9 or 12 places back; after 33 of them the next bit is inverted.
    Returns 1 when this bit is the one to invert.

    Plainly: if count >= 33: count = 0, invert; elif line_bit equals one of the three:
    count += 1; else count = 0. Written without branches (on data the comparisons are
    coin flips: mispredicted branches were most of the scrambler's time)."""
    cdef int inv = count[0] >= 33
    # 1 if line_bit equals at least one of the bits 8, 9, 12 back
    cdef int same = (((line_bit ^ (reg >> 7)) & (line_bit ^ (reg >> 8))
                      & (line_bit ^ (reg >> 11))) & 1) ^ 1
    count[0] = (count[0] + 1) & -(same & (inv ^ 1))
    return inv


cdef inline int _scramble_bit(int *reg, int *count, int in_bit) noexcept nogil:
    """``reg`` holds past line bits, newest in bit 0: line = in ^ line[-6] ^ line[-7]."""
    cdef int r = reg[0]
    cdef int line = (in_bit ^ (r >> 5) ^ (r >> 6)) & 1
    line ^= _guard(r, line, count)
    reg[0] = ((r << 1) | line) & 0xFFFF
    return line


cdef inline int _descramble_bit(int *reg, int *count, int line) noexcept nogil:
    cdef int r = reg[0]
    cdef int out = (line ^ (r >> 5) ^ (r >> 6)) & 1
    # the same guard on the received line bits tells which bits the transmitter inverted
    out ^= _guard(r, line, count)
    reg[0] = ((r << 1) | line) & 0xFFFF
    return out


cdef class Scrambler:
    """V.27ter scrambler (``descramble=False``) or descrambler; ``reg`` holds the line bits,
    newest in bit 0. The training sequence starts from register 0x3C (as spandsp)."""

    cdef public int reg
    cdef public int count
    cdef public bint descramble

    def __init__(self, int reg=0x3C, int count=0, bint descramble=False):
        self.reg = reg
        self.count = count
        self.descramble = descramble

    def run(self, bits):
        """Scramble (or descramble) a uint8 array of 0/1 bits; returns a new array."""
        cdef const cnp.uint8_t[::1] src = np.ascontiguousarray(bits, dtype=np.uint8)
        out = np.empty(src.shape[0], dtype=np.uint8)
        cdef cnp.uint8_t[::1] dst = out
        cdef Py_ssize_t i
        cdef int reg = self.reg, count = self.count
        if self.descramble:
            for i in range(src.shape[0]):
                dst[i] = _descramble_bit(&reg, &count, src[i] & 1)
        else:
            for i in range(src.shape[0]):
                dst[i] = _scramble_bit(&reg, &count, src[i] & 1)
        self.reg = reg
        self.count = count
        return out


# ---------------------------------------------------------------------------------------
# Transmit pulse shaping
# ---------------------------------------------------------------------------------------

# the 8 phase points and the 1800 Hz carrier at 8000 samples/s, made once
cdef double _PT_RE[8]
cdef double _PT_IM[8]
cdef double _CAR_RE[CARRIER_PERIOD]
cdef double _CAR_IM[CARRIER_PERIOD]
cdef int _k
for _k in range(8):
    _PT_RE[_k] = cos(_k * M_PI / 4.0)
    _PT_IM[_k] = sin(_k * M_PI / 4.0)
for _k in range(CARRIER_PERIOD):
    _CAR_RE[_k] = cos(2.0 * M_PI * 1800.0 * _k / 8000.0)
    _CAR_IM[_k] = sin(2.0 * M_PI * 1800.0 * _k / 8000.0)

#: (num, den, pulse table bytes, gain) -> per-period tables (read-only) made by
#: ``PskShaper.set_gain``: every burst at one rate and level uses the same
_SHAPER_TABLES = {}
_SHAPER_TABLES_MAX = 32


# final: its cdef methods are called directly (inlinable), not through the vtable
@cython.final
cdef class PskShaper:
    """Pulse-shape unit-amplitude PSK symbols and put them on the 1800 Hz carrier.

    Symbols are 8-phase indices (0..7 = 0..315 degrees) or -1 for a zero symbol (silence,
    filter tail). ``num/den`` is the symbol period in samples (5/1 or 20/3); ``coef`` the
    polyphase table ``[num, ntaps]``: ``coef[p, j]`` weights the symbol ``j`` symbols
    before the newest when the newest entered ``p/num`` of a symbol ago."""

    cdef int num, den, ntaps, baud_phase, hist_pos
    cdef long long sample_no
    cdef double[:, ::1] coef
    cdef double hist_re[64]
    cdef double hist_im[64]
    cdef double pt_re[8]
    cdef double pt_im[8]
    cdef double car_re[CARRIER_PERIOD]
    cdef double car_im[CARRIER_PERIOD]
    # the per-period form (``set_gain``, ``_run_fast``): the history as table codes
    # (the phase 0..7, 8 for a zero symbol), the tables, and the samples of the current
    # symbol period
    cdef unsigned char hcode[64]
    cdef const double[:, :, :, ::1] tab
    cdef object tab_arr
    cdef double fast_gain
    cdef public bint fast_ok
    cdef int npairs                       # lane pairs a period needs (3 at 4800, 4 at 2400)
    cdef int sb_valid
    cdef cnp.int16_t sbuf[SLANES]

    def __init__(self, int num, int den, coef):
        cdef int i, j
        if den < 1 or den > num:
            raise ValueError("symbol period num/den must have 0 < den <= num")
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        if self.coef.ndim != 2 or self.coef.shape[0] != num or not 1 <= self.coef.shape[1] <= 32:
            raise ValueError("bad pulse-shaping table")
        for i in range(num):
            for j in range(self.coef.shape[1]):
                if not (abs(self.coef[i, j]) < 1e300):   # finite (NaN fails too)
                    raise ValueError("bad pulse-shaping table")
        self.num = num
        self.den = den
        self.ntaps = self.coef.shape[1]
        self.baud_phase = num - den   # the first call enters the first symbol at once
        self.hist_pos = 0
        self.sample_no = 0
        for i in range(64):
            self.hist_re[i] = 0.0
            self.hist_im[i] = 0.0
            self.hcode[i] = NCODES - 1
        self.fast_ok = False
        self.npairs = 4
        self.sb_valid = 0
        for i in range(SLANES):
            self.sbuf[i] = 0
        # the points and the carrier: the same values as cos/sin here (computed once)
        memcpy(self.pt_re, _PT_RE, sizeof(self.pt_re))
        memcpy(self.pt_im, _PT_IM, sizeof(self.pt_im))
        memcpy(self.car_re, _CAR_RE, sizeof(self.car_re))
        memcpy(self.car_im, _CAR_IM, sizeof(self.car_im))

    def symbols_needed(self, int n):
        """How many new symbols the next ``n`` output samples consume."""
        return (self.baud_phase + n * self.den) // self.num

    def samples_for(self, long long symbols):
        """The most samples the next ``symbols`` symbols give: the largest ``n`` with
        ``symbols_needed(n) <= symbols`` (the inverse of :meth:`symbols_needed`)."""
        cdef long long room = symbols * self.num + self.num - 1 - self.baud_phase
        if symbols < 0 or room < 0:
            return 0
        return room // self.den

    def run(self, symbols, int n, double gain):
        """Produce ``n`` samples (int16) consuming exactly ``symbols_needed(n)`` symbols."""
        cdef const cnp.int8_t[::1] sym = np.ascontiguousarray(symbols, dtype=np.int8)
        if sym.shape[0] != (self.baud_phase + n * self.den) // self.num:
            raise ValueError("wrong number of symbols for this block")
        if not (abs(gain) < 1e9):
            raise ValueError("gain must be finite")   # the int16 cast below needs it
        out = np.empty(n, dtype=np.int16)
        if n > 0:
            self._run_c(&sym[0] if sym.shape[0] else NULL, n, gain,
                        <cnp.int16_t*> cnp.PyArray_DATA(out))
        return out

    cdef void _run_c(self, const cnp.int8_t* sym, int n, double gain,
                     cnp.int16_t* o) noexcept:
        """``n`` samples into ``o`` consuming exactly ``symbols_needed(n)`` symbols from
        ``sym`` (the caller checked both lengths and that ``gain`` is finite)."""
        # the same arithmetic in the same order as ever; the state in locals (written
        # back below) and the tables through plain pointers, so that the compiler need
        # not reload them from the object after every store into ``o``
        cdef int i, j, k = 0, s, pos, ntaps = self.ntaps
        cdef int bp = self.baud_phase, hp = self.hist_pos, num = self.num, den = self.den
        cdef double xr, xi, v, c
        cdef const double *cp
        cdef const double *coef = &self.coef[0, 0]
        cdef Py_ssize_t row = self.coef.shape[1]
        cdef double *hre = self.hist_re
        cdef double *him = self.hist_im
        cdef const double *cre = self.car_re
        cdef const double *cim = self.car_im
        cdef int car = <int>(self.sample_no % CARRIER_PERIOD)
        self.sample_no += n
        self.sb_valid = 0    # the per-period form recomputes its period (see _run_fast)
        for i in range(n):
            bp += den
            if bp >= num:
                bp -= num
                s = sym[k]
                k += 1
                hp = (hp + 1) & 31
                if s < 0:
                    hre[hp] = 0.0
                    him[hp] = 0.0
                    self.hcode[hp] = NCODES - 1
                else:
                    hre[hp] = self.pt_re[s & 7]
                    him[hp] = self.pt_im[s & 7]
                    self.hcode[hp] = s & 7
                hre[hp + 32] = hre[hp]
                him[hp + 32] = him[hp]
                self.hcode[hp + 32] = self.hcode[hp]
            cp = coef + bp * row
            xr = 0.0
            xi = 0.0
            pos = hp + 32
            for j in range(ntaps):
                c = cp[j]
                xr += c * hre[pos - j]
                xi += c * him[pos - j]
            v = gain * (xr * cre[car] - xi * cim[car])
            car += 1
            if car == CARRIER_PERIOD:
                car = 0
            if v > 32767.0:
                v = 32767.0
            elif v < -32768.0:
                v = -32768.0
            o[i] = <cnp.int16_t>(v + 0.5 if v >= 0 else v - 0.5)
        self.baud_phase = bp
        self.hist_pos = hp

    # -- the per-symbol-period form (issue 14) ---------------------------------------
    # The samples between two symbol entries see the same symbol history, and (with the
    # carrier's 40-sample period a multiple of ``num``) the polyphase rows and carrier
    # positions of those samples depend only on the carrier position ``car`` of the
    # first one. So ``tab[car, j, c, l]`` = gain x coef[row_l, j] x Re(point(c) x
    # carrier(car + l)), row_l = (car den) mod num + l den: the ``l``-th sample of the
    # period is sum_j tab[car, j, code_j, l] (code = the phase 0..7, whose rows 4..7 are
    # the exact negatives of 0..3; 8 for a zero symbol, rows of 0), all lanes at once
    # (SSE2 pairs) when the symbol enters.
    # The same products as the plain loop above in another order: a sample may round
    # the other way only if it lies within ~1e-11 of a half LSB (the tests bound it).

    def set_gain(self, double gain):
        """Build the per-period tables for ``gain`` (then ``run_fast`` may be used); the
        tables of a shaper of the same period, pulse table and gain are reused."""
        cdef int car, j, c, l, row, lanes
        if not (abs(gain) < 1e9):
            raise ValueError("gain must be finite")
        lanes = (self.num + self.den - 1) // self.den
        self.fast_ok = (CARRIER_PERIOD % self.num == 0 and lanes <= SLANES)
        if not self.fast_ok:
            return
        self.npairs = 3 if lanes <= 6 else 4
        self.sb_valid = 0
        key = (self.num, self.den, np.asarray(self.coef).tobytes(), gain)
        tab = _SHAPER_TABLES.get(key)
        if tab is not None:
            self.tab = tab
            self.tab_arr = tab
            self.fast_gain = gain
            return
        tab = np.zeros((CARRIER_PERIOD, self.ntaps, NCODES, SLANES), np.float64)
        cdef double[:, :, :, ::1] t = tab
        for car in range(CARRIER_PERIOD):
            for l in range(lanes):
                row = (car * self.den) % self.num + l * self.den
                if row >= self.num:
                    continue   # this period is shorter: the lane is never emitted
                for j in range(self.ntaps):
                    for c in range(4):
                        t[car, j, c, l] = gain * self.coef[row, j] * (
                            self.pt_re[c] * self.car_re[(car + l) % CARRIER_PERIOD]
                            - self.pt_im[c] * self.car_im[(car + l) % CARRIER_PERIOD])
                        t[car, j, c + 4, l] = -t[car, j, c, l]   # the opposite point
        tab.setflags(write=False)   # shared by the shapers of the same key
        if len(_SHAPER_TABLES) >= _SHAPER_TABLES_MAX:
            _SHAPER_TABLES.clear()
        _SHAPER_TABLES[key] = tab
        self.tab = tab
        self.tab_arr = tab
        self.fast_gain = gain

    @property
    def tables(self):
        """The per-period tables of ``set_gain`` (None before it); not to be written."""
        return self.tab_arr

    cdef void _period(self, int car) noexcept:
        """The int16 samples of the symbol period that starts at carrier position
        ``car`` into ``sbuf`` (from the history as it is now)."""
        v27_period(&self.tab[car, 0, 0, 0], self.ntaps, self.npairs,
                   &self.hcode[self.hist_pos + 32], self.sbuf)
        self.sb_valid = 1

    def run_fast(self, symbols, int n):
        """:meth:`run` through the per-period tables (``set_gain`` first)."""
        cdef const cnp.int8_t[::1] sym = np.ascontiguousarray(symbols, dtype=np.int8)
        if not self.fast_ok:
            raise ValueError("no per-period tables (set_gain) for this shaper")
        if sym.shape[0] != (self.baud_phase + n * self.den) // self.num:
            raise ValueError("wrong number of symbols for this block")
        out = np.empty(n, dtype=np.int16)
        if n > 0:
            self._run_fast(&sym[0] if sym.shape[0] else NULL, n,
                           <cnp.int16_t*> cnp.PyArray_DATA(out))
        return out

    cdef void _run_fast(self, const cnp.int8_t* sym, int n, cnp.int16_t* o) noexcept:
        """As ``_run_c`` with the gain of ``set_gain`` (``fast_ok`` checked by the
        caller): one table sum per symbol period, stored straight into ``o`` when all
        8 lanes fit before ``n`` (the lanes past the period are overwritten by the
        next period's samples, which start right after it), else through ``sbuf``."""
        cdef int i = 0, k = 0, s, m, L, hp = self.hist_pos, num = self.num, den = self.den
        cdef int bp = self.baud_phase
        cdef int car = <int>(self.sample_no % CARRIER_PERIOD)
        # lane of the last sample made (the next one, unless a symbol enters, is lane + 1;
        # bp = row of that sample = first row + lane x den, first row < den)
        cdef int lane = bp // den
        cdef cnp.int16_t *sb = self.sbuf
        self.sample_no += n
        # the rest of the period the last block ended in
        if bp + den < num:
            if not self.sb_valid:
                # its samples are not made yet (after run() or a new gain): make them
                # now, from the period's first position
                self._period((car - lane - 1 + 2 * CARRIER_PERIOD) % CARRIER_PERIOD)
            while i < n and bp + den < num:
                bp += den
                lane += 1
                o[i] = sb[lane & (SLANES - 1)]
                i += 1
                car += 1
                if car == CARRIER_PERIOD:
                    car = 0
        # whole periods: a symbol enters at each
        while i < n:
            bp += den - num     # the entering sample's row: 0 <= bp < den
            s = sym[k]
            k += 1
            hp = (hp + 1) & 31
            if s < 0:
                self.hist_re[hp] = 0.0
                self.hist_im[hp] = 0.0
                self.hcode[hp] = NCODES - 1
            else:
                self.hist_re[hp] = self.pt_re[s & 7]
                self.hist_im[hp] = self.pt_im[s & 7]
                self.hcode[hp] = s & 7
            self.hist_re[hp + 32] = self.hist_re[hp]
            self.hist_im[hp + 32] = self.hist_im[hp]
            self.hcode[hp + 32] = self.hcode[hp]
            self.hist_pos = hp
            L = (num - bp + den - 1) // den     # samples in this period (<= SLANES)
            if i + SLANES <= n:
                v27_period(&self.tab[car, 0, 0, 0], self.ntaps, self.npairs,
                           &self.hcode[hp + 32], o + i)
                self.sb_valid = 0
                m = L
            else:
                self._period(car)
                m = n - i if n - i < L else L
                for lane in range(m):
                    o[i + lane] = sb[lane & (SLANES - 1)]
            i += m
            bp += (m - 1) * den
            lane = m - 1
            car += m
            if car >= CARRIER_PERIOD:
                car -= CARRIER_PERIOD
        self.baud_phase = bp


def psk_diff_map(const cnp.uint8_t[::1] s, int bps, const cnp.int64_t[::1] step, int state):
    """Differential phase mapping of scrambled bits: word ``v`` of each ``bps`` bits
    (first bit most significant) turns the phase by ``step[v]`` (45 degree units).
    Returns (int8 phases, last phase); the same integers as the running sum mod 8."""
    if bps < 1 or bps > 3 or step.shape[0] != (1 << bps) or s.shape[0] % bps:
        raise ValueError("whole symbols of 1..3 bits and a step per word needed")
    cdef Py_ssize_t ns = s.shape[0] // bps, i
    out = np.empty(ns, np.int8)
    cdef cnp.int8_t[::1] o = out
    cdef int b, v, mask = (1 << bps) - 1
    cdef long long st = state
    for i in range(ns):
        v = 0
        for b in range(bps):
            v = v * 2 + s[i * bps + b]
        st = (st + step[v & mask]) & 7       # v & mask: in the table whatever the bits
        o[i] = <cnp.int8_t> st
    return out, int(st)


cdef class PskTxCore:
    """The V.27ter transmitter's per-block path in C (issue 14): the data bits queued
    (``send``), their scrambling and differential encoding, the encoded symbols waiting
    (``pend[ppos:plen]``, int8) and ``tx(n)``, which makes its int16 block in one call
    with no Python code and no temporary arrays.

    ``_refill`` is the transmitter's symbol source: the symbols of the queued data, up to
    ``chunk`` symbols ahead (the look-ahead that ``sure_samples`` reports), the fill of
    scrambled ones while the queue is dry and more is announced, the turn-off (scrambled
    ones) after the last data, then the filter's ring-down (zero symbols); ``off`` turns
    True when that last piece is encoded, ``done`` when all of it has been sent. Its plain
    reading is :class:`Scrambler` followed by :func:`psk_diff_map` (the tests compare)."""

    cdef cnp.ndarray pend
    cdef Py_ssize_t ppos, plen
    cdef PskShaper shaper
    cdef double gain
    cdef public bint off
    cdef public bint done
    # data path
    cdef cnp.ndarray qbuf                 # queued data bits qbuf[qpos:qpos + qlen]
    cdef Py_ssize_t qpos, qlen
    cdef public bint final                # the queued data ends the burst
    cdef int tx_phase                     # TX_DATA, TX_TAIL, TX_OFF
    cdef public bint ended                # the end of the data has been encoded
    cdef int bps, sreg, scount, dstate
    cdef int step[8]
    cdef Py_ssize_t chunk, shutdown, ring

    def __cinit__(self, *args, **kwargs):
        self.pend = np.zeros(0, np.int8)
        self.ppos = 0
        self.plen = 0
        self.qbuf = np.zeros(0, np.uint8)
        self.qpos = 0
        self.qlen = 0
        self.off = False
        self.done = False
        self.final = False
        self.ended = False
        self.tx_phase = TX_DATA
        self.bps = 0

    def _setup(self, PskShaper shaper, double gain, pending, int bps, step, int scr_reg,
               int scr_count, int state, Py_ssize_t chunk, Py_ssize_t shutdown,
               Py_ssize_t ring):
        """The shaper, the gain, the first symbols (the training), and the data path:
        ``bps`` bits per symbol, ``step[word]`` its phase step (45 degree units), the
        scrambler's register and guard count and the phase after the training,
        ``chunk`` symbols encoded ahead, ``shutdown`` symbols of scrambled ones after
        the data, ``ring`` zero symbols after those."""
        cdef int i
        if not (abs(gain) < 1e9):
            raise ValueError("gain must be finite")   # the shaper's int16 cast needs it
        if bps < 1 or bps > 3 or len(step) != (1 << bps) or chunk < 1 or shutdown < 0 \
                or ring < 1:
            raise ValueError("bad transmitter data path")
        self.shaper = shaper
        self.gain = gain
        if not shaper.fast_ok or shaper.fast_gain != gain:
            shaper.set_gain(gain)
        p = np.ascontiguousarray(pending, np.int8)
        self.pend = np.empty(max(p.shape[0], 64), np.int8)
        self.pend[:p.shape[0]] = p
        self.ppos = 0
        self.plen = p.shape[0]
        self.bps = bps
        for i in range(8):
            self.step[i] = 0
        for i in range(1 << bps):
            self.step[i] = int(step[i]) & 7
        self.sreg = scr_reg & 0xFFFF
        self.scount = scr_count
        self.dstate = state & 7
        self.chunk = chunk
        self.shutdown = shutdown
        self.ring = ring

    @property
    def pending(self):
        """Encoded symbols not yet shaped."""
        return self.plen - self.ppos

    @property
    def gain(self):
        """The sample scale of a unit symbol (from the level)."""
        return self.gain

    @property
    def queued_bits(self):
        """Data bits given to :meth:`send` and not yet modulated."""
        return self.qlen

    @property
    def in_data(self):
        """True while the data (or the fill before more data) is being encoded."""
        return self.tx_phase == TX_DATA

    def _put(self, bits, bint final):
        """Queue data bits (uint8 0/1, checked by the caller) and set ``final``."""
        cdef const cnp.uint8_t[::1] b = np.ascontiguousarray(bits, np.uint8)
        cdef Py_ssize_t k = b.shape[0], cap = self.qbuf.shape[0]
        cdef cnp.uint8_t *q
        if k:
            if self.qpos + self.qlen + k > cap:
                if self.qlen + k <= cap and self.qpos >= self.qlen:
                    # enough room once what is left moves to the front
                    q = <cnp.uint8_t*> cnp.PyArray_DATA(self.qbuf)
                    memmove(q, q + self.qpos, self.qlen)
                else:
                    nb = np.empty(max(2 * cap, self.qlen + k, 1024), np.uint8)
                    if self.qlen:
                        memcpy(cnp.PyArray_DATA(nb),
                               <cnp.uint8_t*> cnp.PyArray_DATA(self.qbuf) + self.qpos, self.qlen)
                    self.qbuf = nb
                self.qpos = 0
            q = <cnp.uint8_t*> cnp.PyArray_DATA(self.qbuf)
            memcpy(q + self.qpos + self.qlen, &b[0], k)
            self.qlen += k
        self.final = final

    cdef cnp.int8_t* _room(self, Py_ssize_t m) except NULL:
        """Room for ``m`` more symbols after ``plen`` (the waiting ones kept)."""
        cdef Py_ssize_t cap = self.pend.shape[0], left = self.plen - self.ppos
        cdef cnp.int8_t *p = <cnp.int8_t*> cnp.PyArray_DATA(self.pend)
        if self.plen + m > cap:
            if left + m <= cap:
                memmove(p, p + self.ppos, left)
            else:
                nb = np.empty(max(2 * cap, left + m), np.int8)
                memcpy(cnp.PyArray_DATA(nb), p + self.ppos, left)
                self.pend = nb
                p = <cnp.int8_t*> cnp.PyArray_DATA(self.pend)
            self.ppos = 0
            self.plen = left
        return p + self.plen

    cdef Py_ssize_t _encode(self, Py_ssize_t nbits, Py_ssize_t nones) except -1:
        """Scramble ``nbits`` queued bits then ``nones`` ones (a whole number of symbols
        in all), encode them differentially after ``plen``; returns the symbol count.
        Word = ``bps`` scrambled bits, first most significant, as :func:`psk_diff_map`."""
        cdef Py_ssize_t total = nbits + nones, ns = total // self.bps, i
        cdef int reg = self.sreg, count = self.scount, st = self.dstate, v = 0, nb = 0
        cdef int bps = self.bps, mask = (1 << self.bps) - 1
        cdef cnp.int8_t *o = self._room(ns)
        cdef const cnp.uint8_t *q = <const cnp.uint8_t*> cnp.PyArray_DATA(self.qbuf) + self.qpos
        if nbits > self.qlen or total % bps:
            raise RuntimeError("encoder: bad bit count")   # cannot happen (see _refill)
        for i in range(total):
            v = v * 2 + _scramble_bit(&reg, &count, (q[i] & 1) if i < nbits else 1)
            nb += 1
            if nb == bps:
                st = (st + self.step[v & mask]) & 7
                o[0] = <cnp.int8_t> st
                o += 1
                v = 0
                nb = 0
        self.sreg = reg
        self.scount = count
        self.dstate = st
        self.qpos += nbits
        self.qlen -= nbits
        self.plen += ns
        return ns

    cdef int _zeros(self, Py_ssize_t m) except -1:
        cdef cnp.int8_t *o = self._room(m)
        cdef Py_ssize_t i
        for i in range(m):
            o[i] = -1
        self.plen += m
        return 0

    cdef int _refill(self, Py_ssize_t k) except -1:
        """At least ``k`` more symbols (the old ``Transmitter._more``, same decisions):
        queued data is encoded up to ``chunk`` symbols ahead; fill ones only as needed."""
        cdef Py_ssize_t made = 0, avail, want, bps = self.bps, take, pad
        while made < k:
            if self.tx_phase == TX_DATA:
                avail = self.qlen
                want = k - made if k - made > self.chunk else self.chunk
                if self.final and avail <= want * bps:
                    pad = (bps - avail % bps) % bps
                    made += self._encode(avail, pad + self.shutdown * bps)
                    self.tx_phase = TX_TAIL
                    self.ended = True
                elif avail >= bps:
                    take = avail // bps
                    if take > want:
                        take = want
                    made += self._encode(take * bps, 0)
                else:   # queue dry, more data to come: fill with binary ones
                    made += self._encode(0, (k - made) * bps)
            elif self.tx_phase == TX_TAIL:
                # zero symbols until the pulse-shaping filter has rung down
                self._zeros(self.ring)
                made += self.ring
                self.tx_phase = TX_OFF
                self.off = True
            else:
                self._zeros(k - made)
                made = k
        return 0

    def tx(self, Py_ssize_t n):
        """Exactly ``n`` int16 samples of the burst (zeros once it is over)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        cdef cnp.npy_intp dim = n
        if self.done or n == 0 or self.shaper is None:
            return cnp.PyArray_ZEROS(1, &dim, cnp.NPY_INT16, 0)
        if n > 0x7fffffff // (self.shaper.den + 1):
            raise ValueError("block too long")   # keeps symbols_needed's int arithmetic exact
        cdef Py_ssize_t need = (self.shaper.baud_phase + n * self.shaper.den) // self.shaper.num
        if self.plen - self.ppos < need:
            self._refill(need - (self.plen - self.ppos))
            if self.plen - self.ppos < need:
                raise RuntimeError("_refill gave too few symbols")
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_INT16, 0)
        cdef const cnp.int8_t *sy = <const cnp.int8_t*> cnp.PyArray_DATA(self.pend) + self.ppos
        if self.shaper.fast_ok:
            self.shaper._run_fast(sy, <int> n, <cnp.int16_t*> cnp.PyArray_DATA(out))
        else:
            self.shaper._run_c(sy, <int> n, self.gain, <cnp.int16_t*> cnp.PyArray_DATA(out))
        self.ppos += need
        if self.off and self.ppos >= self.plen:
            self.done = True
        return out

    def continues_past(self, long long n):
        """True if ``tx(n)`` now surely leaves ``done`` False: the burst is in its data
        and the symbols for ``n`` samples come from data (queued beyond what the end
        test looks at, or more announced), not from its end."""
        if self.tx_phase != TX_DATA or n < 0 or self.shaper is None:
            return False
        cdef long long need = self.shaper.symbols_needed(n) + self.chunk + 2
        return not self.final or self.qlen > need * self.bps

    def sure_samples(self):
        """The most samples ``tx`` surely gives now without ending the burst (what the
        transmit pump, :mod:`faxcore.modem.txpump`, may take ahead): in the data, those
        of the symbols already encoded or, with enough data queued, as many as
        :meth:`continues_past` allows; after it, those of the encoded symbols but the
        last (the burst ends when its last symbol has been taken, the tail included)."""
        if self.done or self.shaper is None:
            return 0
        cdef long long pending = self.plen - self.ppos, m
        if self.tx_phase == TX_DATA:
            if not self.final:
                return 1 << 30  # fill follows the data: the burst cannot end
            # continues_past(n): queued > (symbols_needed(n) + chunk + 2) * bps; floor
            # division as Python's (qlen may be 0)
            m = (self.qlen - 1) // self.bps if self.qlen >= 1 else -1
            m -= self.chunk + 2
            return int(max(self.shaper.samples_for(pending), self.shaper.samples_for(m)))
        if self.tx_phase == TX_TAIL:   # the tail is still to come: every encoded symbol
            return int(self.shaper.samples_for(pending))
        return int(self.shaper.samples_for(pending - 1))


# ---------------------------------------------------------------------------------------
# Receiver
# ---------------------------------------------------------------------------------------

_NO_BITS = np.zeros(0, dtype=np.uint8)
_NO_BITS.setflags(write=False)

cdef double COS_PI_8 = cos(M_PI / 8.0)
cdef double SIN_PI_8 = sin(M_PI / 8.0)


cdef inline double _floor(double t) noexcept nogil:
    """floor(t) without the libm call for the usual sample times (0 <= t < 2^53, where
    truncation is exact and equal to floor); anything else (negative, huge, NaN) by
    floor() itself."""
    if t >= 0.0 and t < 9007199254740992.0:
        return <double>(<long long>t)
    return floor(t)


cdef inline int _octant(double x, double y) noexcept nogil:
    """Index 0..7 of the 45 degree sector [k*45, (k+1)*45) holding (x, y)."""
    if y >= 0.0:
        if x > 0.0:
            return 0 if x > y else 1
        return 2 if -x < y else 3
    if x < 0.0:
        return 4 if x < y else 5
    return 6 if x < -y else 7


cdef inline int _quadrant(double x, double y) noexcept nogil:
    """Index 0..3 of the 90 degree sector [k*90, (k+1)*90) holding (x, y)."""
    if y >= 0.0:
        return 0 if x > 0.0 else 1
    return 2 if x < 0.0 else 3

#: the receiver's tables by the identity of what it was given (a receiver is made per
#: burst): the given objects (so that their ids stay theirs) and private copies, checked
#: once, read-only, that the receivers read (a table changed after its first use is not
#: seen: v27ter's are made once and never changed)
_RX_TABLES = {}
_RX_TABLES_MAX = 16


def _rx_tables(coef, int nfrac, pattern, lut, exp24):
    """((given objects), coef, crev, z2_max, pattern, lut, exp24), checked."""
    c = np.array(coef, dtype=np.float64, order="C", copy=True)
    if c.ndim != 2 or nfrac < 1 or not np.all(np.isfinite(c)):
        raise ValueError("bad matched-filter table")
    ntap = c.shape[1]
    if c.shape[0] != nfrac + 1 or ntap % 2 != 0 or not 2 <= ntap <= NB - 8:
        raise ValueError("bad matched-filter table")
    # the largest equaliser input (full scale, mixed x2, largest row, largest AGC
    # gain); taps summing to 16 times the identity's on it: blown up
    z2_max = (16.0 * 31623.0 * 65536.0 * float(np.max(np.sum(np.abs(c), axis=1)))) ** 2
    crev = np.ascontiguousarray(c[:, ::-1], dtype=np.float32)
    pat = np.array(pattern, dtype=np.uint8, order="C", copy=True)
    if pat.ndim != 1 or pat.shape[0] != MAX_TRAIN:
        raise ValueError("segment 4 pattern must have 1074 entries")
    lt = np.array(lut, dtype=np.int16, order="C", copy=True)
    e24 = np.array(exp24, dtype=np.uint32, order="C", copy=True)
    if lt.ndim != 1 or e24.ndim != 1 or lt.shape[0] != 65536 or e24.shape[0] != MAX_TRAIN:
        raise ValueError("bad segment 4 tables")
    if int(lt.max()) >= MAX_TRAIN - 300 or int(lt.min()) < -1:
        raise ValueError("bad segment 4 tables")
    for a in (c, crev, pat, lt, e24):
        a.setflags(write=False)
    return (coef, pattern, lut, exp24), c, crev, z2_max, pat, lt, e24


@cython.final   # cdef methods called directly (inlinable), not through the vtable
cdef class V27Demod:
    """The V.27ter receiver's signal processing. ``process(samples)`` returns the data bits
    (uint8 array); events accumulate in ``self.events`` as ``(code, sample_index)``."""

    # configuration
    cdef int bit_rate, bps, ntap, half_len, nphase
    cdef double sps, half_sps
    cdef const double[:, ::1] coef        # [nfrac + 1, ntap] matched-filter polyphase table
    cdef const float[:, ::1] crev   # the same in float32, each row reversed (oldest sample's
                                    # tap first)
    cdef int nfrac
    cdef double on_power, off_power
    cdef const cnp.uint8_t[::1] pattern   # segment 4: 1 = 180 degree step
    cdef int seg4_reg, seg4_count         # scrambler state at the end of segment 4
    cdef double mse_limit
    # carrier detect
    cdef double power
    cdef double floor                     # slowly tracked power while no carrier
    cdef int low_run                      # symbols in a row far below the trained level
    cdef int low_grace                    # ... that end the burst (a shorter run: a dropout)
    cdef unsigned char hbuf[HOLD_MAX]     # bits of the symbols of the current low run
    cdef int hlen
    cdef public long long dropouts        # dropouts ridden out (diagnostics)
    cdef public bint carrier
    cdef int state
    # input
    cdef long long n                      # index of the next input sample
    cdef float bre[2 * NB]                # mixed-down input, float32 (see _vec.pxd)
    cdef float bim[2 * NB]
    cdef double mix_re[CARRIER_PERIOD]
    cdef double mix_im[CARRIER_PERIOD]
    # timing
    cdef double t_next                    # time (sample index) of the next T/2 output
    cdef int on_time                      # the next T/2 output is a symbol instant
    cdef double gardner_gain, timing_drift, drift_gain
    # AGC
    cdef double agc_power, gain
    cdef int agc_frozen
    # carrier loop
    cdef double phase, freq, pll_p, pll_i
    cdef double rot_re, rot_im            # exp(-j phase)
    # equaliser
    cdef double ebr[2 * NEB]
    cdef double ebi[2 * NEB]
    cdef int epos
    cdef double cre[NEQ]
    cdef double cim[NEQ]
    cdef double eq_mu
    cdef double eq_energy                 # sum |u|^2 over the equaliser line (running)
    cdef int eq_energy_n                  # updates since it was last summed afresh
    cdef double z2_max                    # |z|^2 above this: the equaliser blew up
    # training
    cdef int sym_count, rev_run, idx, mismatches, prev_state
    cdef double dsum_re, dsum_im, zp_re, zp_im, tgt
    cdef int seg5_errors, failed_reported, start_idx
    cdef int shadow, shadow_mis, sh_err, sh_prev, sh_reg, sh_count
    cdef double mse_avg, sq4, sq5
    cdef unsigned int hist
    cdef const cnp.int16_t[::1] lut        # 16 newest pattern decisions -> segment 4 index
    cdef const cnp.uint32_t[::1] exp24     # segment 4 index -> 24 newest decisions
    cdef int dreg, dcount
    # output
    cdef cnp.uint8_t[::1] obuf
    cdef object obuf_arr
    cdef long long next_n                 # first input sample index that completes t_next
    cdef int olen
    cdef public list events
    cdef int ev_code[EV_MAX]              # events of this process() call not yet in ``events``
    cdef long long ev_t[EV_MAX]
    cdef int ev_n
    cdef int inv[8]
    cdef double pt_re[8]
    cdef double pt_im[8]
    cdef public double last_mse

    def __init__(self, int bit_rate, coef, int nfrac, pattern, lut, exp24, int seg4_reg,
                 int seg4_count, double on_power, double off_power):
        cdef int i
        if bit_rate not in (2400, 4800):
            raise ValueError("V.27ter runs at 2400 or 4800 bit/s")
        self.bit_rate = bit_rate
        self.bps = 3 if bit_rate == 4800 else 2
        self.sps = 5.0 if bit_rate == 4800 else 20.0 / 3.0
        self.half_sps = self.sps / 2.0
        key = (id(coef), id(pattern), id(lut), id(exp24), nfrac)
        hit = _RX_TABLES.get(key)
        if (hit is None or hit[0][0] is not coef or hit[0][1] is not pattern
                or hit[0][2] is not lut or hit[0][3] is not exp24):
            hit = _rx_tables(coef, nfrac, pattern, lut, exp24)
            if len(_RX_TABLES) >= _RX_TABLES_MAX:
                _RX_TABLES.clear()
            _RX_TABLES[key] = hit
        # private, checked, read-only copies (see _rx_tables)
        self.coef = hit[1]
        self.crev = hit[2]
        self.z2_max = hit[3]
        self.pattern = hit[4]
        self.lut = hit[5]
        self.exp24 = hit[6]
        self.nfrac = nfrac
        self.ntap = self.coef.shape[1]
        self.half_len = self.ntap // 2 - 1
        self.seg4_reg = seg4_reg
        self.seg4_count = seg4_count
        self.on_power = on_power
        self.off_power = off_power
        # error power at the end of segment 4 beyond which data would be mostly errors
        # (8-phase: BER ~6 % at 0.06; 4-phase: BER ~1.5 % at 0.12)
        self.mse_limit = 0.06 if bit_rate == 4800 else 0.12
        # step (in 45 degree units) -> bits, inverse of the transmitter's tables
        inv = (1, 0, 2, 3, 7, 6, 4, 5) if bit_rate == 4800 else (0, 0, 1, 0, 3, 0, 2, 0)
        for i in range(8):
            self.inv[i] = inv[i]
            self.pt_re[i] = _PT_RE[i]
            self.pt_im[i] = _PT_IM[i]
        for i in range(CARRIER_PERIOD):
            # exp(-j w n): mixing down; the factor 2 restores the amplitude of the real carrier
            self.mix_re[i] = 2.0 * _CAR_RE[i]
            self.mix_im[i] = -2.0 * _CAR_IM[i]
        for i in range(2 * NB):
            self.bre[i] = 0.0
            self.bim[i] = 0.0
        self.events = []
        self.ev_n = 0
        # a dropout of the signal (to under -12 dB of the trained level) shorter than
        # 15 ms is ridden out (the next burst's training starts after at least 20 ms of
        # silence, segment 2): the bits of the symbols meanwhile are held, delivered in
        # place if the signal comes back, dropped if the burst ends
        self.low_grace = <int>ceil(0.015 * 8000.0 / self.sps)
        if self.low_grace * 3 > HOLD_MAX:
            raise ValueError("dropout grace too long")
        self.dropouts = 0
        self.n = 0
        self.power = 0.0
        self.floor = 0.0
        self.carrier = False
        self.state = ST_IDLE
        self.last_mse = -1.0
        self.obuf_arr = np.zeros(1024, dtype=np.uint8)
        self.obuf = self.obuf_arr
        self._reset_burst()

    cdef void _reset_burst(self) noexcept:
        cdef int i
        self.t_next = <double>(self.n - self.half_len)
        self.next_n = self.n
        self.on_time = 1
        self.gardner_gain = 0.25
        self.timing_drift = 0.0
        self.drift_gain = 0.0
        self.agc_power = -1.0
        self.gain = 1.0
        self.agc_frozen = 0
        self.low_run = 0
        self.hlen = 0
        self.phase = 0.0
        self.freq = 0.0
        self.rot_re = 1.0
        self.rot_im = 0.0
        self.pll_p = 0.0
        self.pll_i = 0.0
        for i in range(2 * NEB):
            self.ebr[i] = 0.0
            self.ebi[i] = 0.0
        self.epos = 0
        self.eq_energy = 0.0
        self.eq_energy_n = 0
        for i in range(NEQ):
            self.cre[i] = 0.0
            self.cim[i] = 0.0
        self.cre[EQ_CENTRE] = 1.0
        self.eq_mu = 0.0
        self.sym_count = 0
        self.rev_run = 0
        self.idx = 0
        self.mismatches = 0
        self.prev_state = 0
        self.dsum_re = 0.0
        self.dsum_im = 0.0
        self.zp_re = 0.0
        self.zp_im = 0.0
        self.tgt = 1.0
        self.seg5_errors = 0
        self.failed_reported = 0
        self.start_idx = 0
        self.shadow = 0
        self.mse_avg = 0.0
        self.hist = 0
        self.dreg = 0
        self.dcount = 0

    @property
    def state_name(self):
        return ("idle", "hunt", "reversals", "train", "seg5", "data", "failed")[self.state]

    @property
    def training_info(self):
        """Diagnostics: training position and quality."""
        return {"state": self.state_name, "index": self.idx, "start": self.start_idx,
                "mse": self.mse_avg, "mismatches": self.mismatches, "gain": self.gain,
                "symbols": self.sym_count, "shadow": (self.shadow, self.shadow_mis, self.sh_err)}

    @property
    def carrier_frequency_offset(self):
        """Tracked carrier offset in Hz (from the carrier loop)."""
        return self.freq * (self.bit_rate / self.bps) / (2.0 * M_PI)

    cdef inline int _mix_in(self, long long n, double v, int car) noexcept:
        """Sample ``v`` (time ``n``) mixed down into the input ring, twice (the filter
        reads the ring forward without wrapping); returns the next carrier phase index
        (``0 <= car < CARRIER_PERIOD`` in and out)."""
        cdef int w = <int>(n & (NB - 1))
        self.bre[w] = <float>(v * self.mix_re[car])
        self.bim[w] = <float>(v * self.mix_im[car])
        self.bre[w + NB] = self.bre[w]
        self.bim[w + NB] = self.bim[w]
        car += 1
        return 0 if car == CARRIER_PERIOD else car

    cdef inline void _event(self, int code, long long t) noexcept:
        # process() flushes the buffer to ``events`` before it can fill (at most 3
        # events per half-baud step, 1 more per sample: see process); checked regardless
        if self.ev_n < EV_MAX:
            self.ev_code[self.ev_n] = code
            self.ev_t[self.ev_n] = t
            self.ev_n += 1

    cdef int _flush_events(self) except -1:
        cdef int i
        for i in range(self.ev_n):
            self.events.append((self.ev_code[i], self.ev_t[i]))
        self.ev_n = 0
        return 0

    cdef inline void _out_bit(self, int b) noexcept:
        if self.low_run:
            # a dropout: held until it is known to be one (see _symbol)
            if self.hlen < HOLD_MAX:
                self.hbuf[self.hlen] = <unsigned char>b
                self.hlen += 1
            return
        self._put_bit(b)

    cdef inline void _put_bit(self, int b) noexcept:
        if self.olen >= self.obuf.shape[0]:
            return  # cannot happen: process() sizes the buffer for the block
        self.obuf[self.olen] = b
        self.olen += 1

    cdef void _carrier_down(self, double pw) noexcept:
        # a burst of more than half a second that never trained is reported as such
        if (self.state == ST_HUNT or self.state == ST_REV or self.state == ST_TRAIN) \
                and not self.failed_reported and self.sym_count * self.sps > 4000.0:
            self._event(EV_TRAINING_FAILED, self.n)
            self.failed_reported = 1
        self.hlen = 0     # bits of a low run: the signal had ended, they were noise
        self.carrier = False
        self._event(EV_CARRIER_DOWN, self.n)
        self.state = ST_IDLE
        self.floor = pw

    cdef void _diverged(self) noexcept:
        """Equaliser output not finite or absurd: before training hunt again, in training
        it failed, in data the burst is over (as when the signal fades, see low_run)."""
        if self.state == ST_HUNT or self.state == ST_REV:
            self._rehunt()
        elif self.state == ST_TRAIN:
            self._fail()
        elif self.state == ST_SEG5 or self.state == ST_DATA:
            self._carrier_down(self.power)

    cdef void _fail(self) noexcept:
        if not self.failed_reported:
            self._event(EV_TRAINING_FAILED, self.n)
            self.failed_reported = 1
        self.state = ST_WAIT

    def process(self, samples):
        # a 1-D, C-contiguous, native int16 ndarray, read through its data pointer (a
        # typed memoryview's set-up cost more than a block's worth of samples); anything
        # else is refused before any state changes (the caller converts and retries)
        if not cnp.PyArray_Check(samples):
            raise TypeError("samples must be a numpy int16 array")
        cdef cnp.ndarray arr = <cnp.ndarray> samples
        if (cnp.PyArray_TYPE(arr) != cnp.NPY_INT16 or cnp.PyArray_NDIM(arr) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISNOTSWAPPED(arr)):
            raise ValueError("samples must be 1-D contiguous native int16")
        cdef const cnp.int16_t *x = <const cnp.int16_t*> cnp.PyArray_DATA(arr)
        cdef Py_ssize_t m = cnp.PyArray_DIM(arr, 0), i
        cdef double v, pw, npw, offp, fl, onp
        cdef int car
        cdef int off
        cdef long long nn, nxt
        need = m + 16 + HOLD_MAX
        if self.obuf.shape[0] < need:
            self.obuf_arr = np.zeros(need, dtype=np.uint8)
            self.obuf = self.obuf_arr
        self.olen = 0
        car = <int>(self.n % CARRIER_PERIOD)
        i = -1
        while True:
            i += 1
            if i >= m:
                break
            if self.carrier and self.state != ST_IDLE:
                # A burst, the usual case: the samples that neither drop the carrier nor
                # are due for a T/2 output only update the power meter and the mixed-down
                # input ring, with the running values in registers here (the same
                # arithmetic as below). The sample that does one of those goes on below.
                pw = self.power
                nn = self.n
                nxt = self.next_n
                offp = self.off_power
                while i < m:
                    v = <double>x[i]
                    npw = pw + (v * v - pw) * 0.03125
                    if npw < offp or nn >= nxt:
                        break
                    pw = npw
                    car = self._mix_in(nn, v, car)
                    nn += 1
                    i += 1
                self.power = pw
                self.n = nn
                if i >= m:
                    break
            elif not self.carrier and self.state == ST_IDLE:
                # No carrier (most of a call): the power meter, the noise floor and the
                # input ring (the filter reads back into it when a burst starts), with
                # the running values in registers (the same arithmetic as below). The
                # sample that raises the carrier goes on below.
                pw = self.power
                fl = self.floor
                nn = self.n
                onp = self.on_power
                while i < m:
                    v = <double>x[i]
                    npw = pw + (v * v - pw) * 0.03125
                    if not (npw < fl) and npw > onp and npw > 4.0 * fl:
                        break
                    pw = npw
                    car = self._mix_in(nn, v, car)
                    if pw < fl:
                        fl = pw
                    else:
                        fl += (pw - fl) * 0.00025
                    nn += 1
                    i += 1
                self.power = pw
                self.floor = fl
                self.n = nn
                if i >= m:
                    break
            if self.ev_n > EV_MAX - 8:
                self._flush_events()
            v = <double>x[i]
            # carrier detect: ~4 ms power meter with hysteresis
            pw = self.power + (v * v - self.power) * 0.03125
            self.power = pw
            car = self._mix_in(self.n, v, car)
            if self.carrier:
                if pw < self.off_power:
                    self._carrier_down(pw)
            elif pw < self.floor:
                self.floor = pw
            elif pw > self.on_power and pw > 4.0 * self.floor:
                # above the threshold, and 6 dB above the floor seen since the last burst
                # (a noise floor above the threshold does not hold the detector up)
                self.carrier = True
                self._event(EV_CARRIER_UP, self.n)
                self._reset_burst()
                self.state = ST_HUNT
            else:
                self.floor += (pw - self.floor) * 0.00025
            if self.state != ST_IDLE:
                while self.n >= self.next_n:
                    # compared as 64-bit before the cast: off is 0..NB - ntap - 1
                    if self.n - self.next_n > NB - self.ntap - 1:
                        # timing ran away (cannot happen with the clamps below): resync
                        self.t_next = <double>(self.n - self.half_len)
                        off = 0
                    else:
                        off = <int>(self.n - self.next_n)
                    if self.ev_n > EV_MAX - 8:
                        self._flush_events()
                    self._half_baud(off)
            self.n += 1
        if self.ev_n:
            self._flush_events()
        if self.olen == 0:
            return _NO_BITS
        # a new array of the olen bits (<= len(obuf)), made through the C API: every block
        cdef cnp.npy_intp dim = self.olen
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_UINT8, 0)
        memcpy(cnp.PyArray_DATA(out), &self.obuf[0], self.olen)
        return out

    cdef void _half_baud(self, int off) noexcept:
        """Compute the matched-filter output at t_next (T/2 grid) and feed the equaliser."""
        cdef double f = self.t_next - _floor(self.t_next)
        cdef int p
        cdef int base, j
        if not (0.0 <= f < 1.0):
            f = 0.0  # NaN-proof (bounds checks are off): p must be a row of coef
        p = <int>(f * self.nfrac + 0.5)
        cdef double yr, yi, zr, zi, en
        base = <int>((self.n - off) & (NB - 1)) + NB
        # tap j on sample base - j: the reversed row read forward from base - ntap + 1
        # (>= NB - ntap + 1 > 0; base <= 2 NB - 1)
        fc_fir2f(&self.crev[p, 0], &self.bre[base - self.ntap + 1], &self.bim[base - self.ntap + 1],
                self.ntap, &yr, &yi)
        # AGC then derotate by the carrier loop phase
        yr *= self.gain
        yi *= self.gain
        zr = yr * self.rot_re - yi * self.rot_im
        zi = yr * self.rot_im + yi * self.rot_re
        self.epos = (self.epos - 1) & (NEB - 1)
        # running energy of the equaliser window [epos, epos + NEQ): zr in, the sample at
        # epos + NEQ out (< 2 NEB); summed afresh now and then (rounding)
        self.eq_energy_n += 1
        if self.eq_energy_n >= 1024:
            self.eq_energy_n = 0
            en = zr * zr + zi * zi
            for j in range(1, NEQ):
                en += self.ebr[self.epos + j] * self.ebr[self.epos + j] \
                    + self.ebi[self.epos + j] * self.ebi[self.epos + j]
            self.eq_energy = en
        else:
            self.eq_energy += (zr * zr + zi * zi
                               - self.ebr[self.epos + NEQ] * self.ebr[self.epos + NEQ]
                               - self.ebi[self.epos + NEQ] * self.ebi[self.epos + NEQ])
        self.ebr[self.epos] = zr
        self.ebi[self.epos] = zi
        self.ebr[self.epos + NEB] = zr
        self.ebi[self.epos + NEB] = zi
        self.t_next += self.half_sps
        if self.on_time:
            self.on_time = 0
            self._symbol()
        else:
            self.on_time = 1
        self.next_n = <long long>_floor(self.t_next) + self.half_len

    cdef void _symbol(self) noexcept:
        """One symbol instant: AGC, timing, equaliser, then the state machine."""
        cdef int e = self.epos, j, nearest, diff, bits, b
        cdef double cur_re = self.ebr[e], cur_im = self.ebi[e]
        cdef double mid_re = self.ebr[e + 1], mid_im = self.ebi[e + 1]
        cdef double prv_re = self.ebr[e + 2], prv_im = self.ebi[e + 2]
        cdef double ted, zr = 0.0, zi = 0.0, a, tr, ti
        self.sym_count += 1
        # --- end of signal: once the gain is fixed, the signal is ~1; low_grace symbols
        # (15 ms) in a row below -12 dB mean the burst is over (well before the power
        # meter notices). A shorter run is a dropout (the line lost the signal for a
        # moment): the loops coast meanwhile (no adaptation on noise), and the bits of
        # those symbols, held, are delivered in place when the signal is back ---
        if self.agc_frozen:
            if cur_re * cur_re + cur_im * cur_im + mid_re * mid_re + mid_im * mid_im < 0.0625:
                self.low_run += 1
                if self.low_run >= self.low_grace:
                    self._carrier_down(self.power)
                    return
            elif self.low_run:
                self.low_run = 0
                if self.hlen:
                    self.dropouts += 1
                for j in range(self.hlen):
                    self._put_bit(self.hbuf[j])
                self.hlen = 0
        # --- AGC: |on-time|^2 + |mid|^2 hardly depends on the timing phase ---
        if not self.agc_frozen:
            a = (cur_re * cur_re + cur_im * cur_im + mid_re * mid_re + mid_im * mid_im) \
                / (self.gain * self.gain)
            if self.agc_power < 0.0:
                self.agc_power = a
            else:
                self.agc_power += (a - self.agc_power) * 0.125
            if self.agc_power > 1e-9:
                self.gain = 1.0 / sqrt(self.agc_power)
        # --- Gardner symbol timing (before the equaliser, phase independent) ---
        ted = mid_re * (prv_re - cur_re) + mid_im * (prv_im - cur_im)
        if ted > 1.0:
            ted = 1.0
        elif ted < -1.0:
            ted = -1.0
        elif not (ted == ted):
            ted = 0.0   # t_next must stay finite (it is cast to an integer)
        if self.low_run:
            ted = 0.0     # a dropout: the timing coasts on its drift estimate
        self.timing_drift += self.drift_gain * ted
        if self.timing_drift > 0.01:
            self.timing_drift = 0.01
        elif self.timing_drift < -0.01:
            self.timing_drift = -0.01
        self.t_next += self.gardner_gain * ted + self.timing_drift
        # --- equaliser output (line [e, e + NEQ), e + NEQ < 2 NEB) ---
        fc_cdot(&self.cre[0], &self.cim[0], &self.ebr[e], &self.ebi[e], NEQ, &zr, &zi)
        if not (zr * zr + zi * zi <= self.z2_max):
            # NaN/inf or a blown-up equaliser (cannot happen with the normalised LMS
            # step; checked so that nothing below ever sees it)
            self._diverged()
            return
        # --- training state machine ---
        if self.state == ST_HUNT or self.state == ST_REV:
            self._hunt(zr, zi)
            return
        if self.state == ST_WAIT:
            return
        if self.state == ST_TRAIN:
            self._train(zr, zi)
            return
        # ST_SEG5 / ST_DATA: decide, decode differentially, descramble
        nearest = self._decide(zr, zi)
        diff = (nearest - self.prev_state) & 7
        bits = self.inv[diff]
        self.prev_state = nearest
        tr = self.pt_re[nearest]
        ti = self.pt_im[nearest]
        if self.low_run:
            self._rotate(self.freq)   # a dropout: no adaptation on noise, the carrier coasts
        else:
            self._adapt(zr, zi, tr, ti, self.eq_mu)
        for j in range(self.bps - 1, -1, -1):
            b = _descramble_bit(&self.dreg, &self.dcount, (bits >> j) & 1)
            if self.state == ST_DATA:
                self._out_bit(b)
            elif b != 1:
                self.seg5_errors += 1
        if self.state == ST_SEG5:
            self.idx += 1
            if self.idx == SEG5:
                if self.seg5_errors > self.bps * 2:
                    self._fail()
                    return
                self.state = ST_DATA
                self._event(EV_TRAINING_SUCCEEDED, self.n)

    cdef void _hunt(self, double zr, double zi) noexcept:
        """Before training: watch the differential decisions for the 180 degree reversals
        (segment 3, to narrow the timing loop) and for the known segment 4 pattern, which
        fixes the symbol index inside segment 4 even when the reversals were missed."""
        cdef double dr, di, ar, ai, mag
        cdef int j
        dr = zr * self.zp_re + zi * self.zp_im       # z * conj(z_prev)
        di = zi * self.zp_re - zr * self.zp_im
        self.zp_re = zr
        self.zp_im = zi
        if self.sym_count < 4:
            return
        # frequency offset estimate: d^2 removes the 0/180 degree modulation
        mag = sqrt(dr * dr + di * di) + 1e-12
        ar = (dr * dr - di * di) / mag
        ai = 2.0 * dr * di / mag
        self.dsum_re += (ar - self.dsum_re) * 0.0625
        self.dsum_im += (ai - self.dsum_im) * 0.0625
        self.hist = ((self.hist << 1) | (1 if dr < 0.0 else 0)) & 0xFFFFFF
        if dr < 0.0 and (di if di > 0 else -di) < -dr and mag > 0.25:
            self.rev_run += 1
            if self.rev_run >= 12 and self.state == ST_HUNT:
                self.state = ST_REV
                self.gardner_gain = 0.1
        else:
            self.rev_run = 0
        if self.sym_count >= 28:
            j = self.lut[self.hist & 0xFFFF]
            if j >= 0 and self.exp24[j] == self.hist:
                self._start_training(zr, zi, j)
                return
        if self.sym_count * self.sps > 24000.0 and not self.failed_reported:
            # 3 s of carrier without a training sequence
            self._event(EV_TRAINING_FAILED, self.n)
            self.failed_reported = 1

    cdef inline int _decide(self, double zr, double zi) noexcept:
        """Nearest constellation point, in 45 degree units."""
        if self.bps == 3:
            return _octant(zr * COS_PI_8 - zi * SIN_PI_8, zr * SIN_PI_8 + zi * COS_PI_8)
        return 2 * _quadrant(zr - zi, zr + zi)

    cdef void _data_gains(self) noexcept:
        self.eq_mu = 0.002
        self.pll_p = 0.02
        self.pll_i = 0.0002
        self.gardner_gain = 0.01
        self.drift_gain = 0.0002

    cdef void _train(self, double zr, double zi) noexcept:
        """Segment 4: train on the known 0/180 degree pattern.

        The pattern repeats every 127 symbols, so a receiver that joined late (no
        reversals seen) knows its index only modulo 127. Every point where segment 4 may
        end (index = 1073 mod 127) is therefore tested once training has converged: the
        next 8 symbols are decoded both as more segment 4 and as segment 5 (scrambled
        ones); whichever fits decides."""
        cdef double tr, er, ei
        cdef int n_tr, mism, nearest, bits, j
        self.idx += 1
        if self.idx >= MAX_TRAIN:
            # segment 4 always ends at MAX_TRAIN - 1 below; the explicit check keeps the
            # pattern read in range whatever path got here (bounds checks are off)
            self._fail()
            return
        if self.pattern[self.idx]:
            self.tgt = -self.tgt
        tr = self.tgt
        mism = (zr > 0.0) != (tr > 0.0)
        n_tr = self.idx - self.start_idx
        if self.shadow:
            # hold the loops still (carrier keeps its frequency) while the two hypotheses
            # are compared
            self._rotate(self.freq)
            self.shadow_mis += mism
            nearest = self._decide(zr, zi)
            self.sq4 += (zr - tr) * (zr - tr) + zi * zi
            self.sq5 += (zr - self.pt_re[nearest]) * (zr - self.pt_re[nearest]) \
                + (zi - self.pt_im[nearest]) * (zi - self.pt_im[nearest])
            bits = self.inv[(nearest - self.sh_prev) & 7]
            self.sh_prev = nearest
            for j in range(self.bps - 1, -1, -1):
                if _descramble_bit(&self.sh_reg, &self.sh_count, (bits >> j) & 1) != 1:
                    self.sh_err += 1
            self.shadow += 1
            if self.shadow > SEG5:
                self.shadow = 0
                if self.sh_err <= 2 * self.bps and self.sq5 < 0.5 * self.sq4:
                    # segment 4 had ended: those were segment 5's ones; data follows
                    self.prev_state = self.sh_prev
                    self.dreg = self.sh_reg
                    self.dcount = self.sh_count
                    self._data_gains()
                    self.state = ST_DATA
                    self._event(EV_TRAINING_SUCCEEDED, self.n)
                elif self.shadow_mis > 2 and self.sh_err > 2 * self.bps:
                    self._fail()
            return
        if mism:
            self.mismatches += 1
            if n_tr < 48 and self.mismatches > 6:
                self._rehunt()
                return
        er = tr - zr
        ei = -zi
        if n_tr == 64:
            self.mse_avg = er * er + ei * ei
        elif n_tr > 64:
            self.mse_avg += (er * er + ei * ei - self.mse_avg) * 0.015625
        if n_tr == 144:
            self.eq_mu = 0.01
            self.pll_p = 0.05
            self.pll_i = 0.001
            self.gardner_gain = 0.02
            self.drift_gain = 0.0005
        elif n_tr == 584:
            self.eq_mu = 0.005
            self.pll_p = 0.03
            self.pll_i = 0.0004
        self._adapt(zr, zi, tr, 0.0, self.eq_mu)
        if self.idx == MAX_TRAIN - 1:
            self.last_mse = self.mse_avg
            if n_tr < 300 or self.mse_avg > self.mse_limit or self.mismatches > 100:
                self._fail()
                return
            self.state = ST_SEG5
            self.idx = 0
            self.prev_state = 0 if self.tgt > 0 else 4
            self.dreg = self.seg4_reg
            self.dcount = self.seg4_count
            self._data_gains()
        elif self.idx % 127 == (MAX_TRAIN - 1) % 127 and n_tr > 300:
            self.last_mse = self.mse_avg
            if self.mse_avg <= self.mse_limit:
                self.shadow = 1
                self.shadow_mis = 0
                self.sh_err = 0
                self.sq4 = 0.0
                self.sq5 = 0.0
                self.sh_prev = 0 if self.tgt > 0 else 4
                self.sh_reg = self.seg4_reg
                self.sh_count = self.seg4_count

    cdef void _rehunt(self) noexcept:
        """A false segment 4 start (noise, or timing not settled): hunt again."""
        cdef int i
        self.state = ST_HUNT
        self.agc_frozen = 0
        self.gardner_gain = 0.25
        self.drift_gain = 0.0
        self.timing_drift = 0.0
        self.eq_mu = 0.0
        self.pll_p = 0.0
        self.pll_i = 0.0
        self.freq = 0.0
        for i in range(NEQ):
            self.cre[i] = 0.0
            self.cim[i] = 0.0
        self.cre[EQ_CENTRE] = 1.0
        self.rev_run = 0
        self.hist = 0

    cdef void _start_training(self, double zr, double zi, int j) noexcept:
        """Segment 4 found: align the phase reference on the current symbol, seed the
        carrier loop frequency from the d^2 average, start adapting."""
        cdef double ang = atan2(zi, zr), br, bi
        cdef int k
        cdef double rr = cos(ang), ri = -sin(ang)
        # rotate what is already in the equaliser line, then the loop phase itself
        for k in range(2 * NEB):
            br = self.ebr[k]
            bi = self.ebi[k]
            self.ebr[k] = br * rr - bi * ri
            self.ebi[k] = br * ri + bi * rr
        self.phase += ang
        self.freq = 0.5 * atan2(self.dsum_im, self.dsum_re)
        if self.freq > 0.5:       # as in _adapt (only a garbage estimate gets there)
            self.freq = 0.5
        elif self.freq < -0.5:
            self.freq = -0.5
        self.rot_re = cos(self.phase)
        self.rot_im = -sin(self.phase)
        self.state = ST_TRAIN
        self.idx = j
        self.tgt = 1.0
        self.mismatches = 0
        self.shadow = 0
        self.start_idx = j
        self.agc_frozen = 1
        self.eq_mu = 0.03
        self.pll_p = 0.1
        self.pll_i = 0.004
        self.gardner_gain = 0.05
        self.drift_gain = 0.001

    cdef inline void _adapt(self, double zr, double zi, double tr, double ti, double mu) noexcept:
        """LMS equaliser update and carrier loop step towards target (tr, ti)."""
        cdef double er = tr - zr, ei = ti - zi, pe
        cdef int e = self.epos
        if mu > 0.0:
            if self.eq_energy > EQ_CAP:
                # far louder than the AGC expected: normalised step (stays stable)
                mu *= EQ_CAP / self.eq_energy
            er *= mu
            ei *= mu
            # c += mu * err * conj(x), x the line [e, e + NEQ)
            v27_lms(&self.cre[0], &self.cim[0], &self.ebr[e], &self.ebi[e], NEQ, er, ei)
        # phase error ~ Im(z * conj(target)) for unit-amplitude targets
        pe = zi * tr - zr * ti
        if pe > 0.5:
            pe = 0.5
        elif pe < -0.5:
            pe = -0.5
        elif not (pe == pe):
            pe = 0.0
        self.freq += self.pll_i * pe
        # 0.5 rad/symbol is 95-127 Hz: far past any real offset (the Recommendation
        # asks for 7 Hz); keeps _rotate's small-angle rotator a unit vector
        if self.freq > 0.5:
            self.freq = 0.5
        elif self.freq < -0.5:
            self.freq = -0.5
        self._rotate(self.freq + self.pll_p * pe)

    cdef inline void _rotate(self, double a) noexcept:
        """Advance the carrier phase by a small angle ``a`` (exp(-j phase) without
        sin/cos, its length renormalised)."""
        cdef double c, sn, rr, ri, g
        # the cubic sin/cos below keep |rot| = 1 (with the renormalisation) only for
        # small angles; steps are far below 1 rad (freq <= 0.5, pll_p x 0.5 <= 0.05)
        if not (a >= -1.0):
            a = -1.0 if a < 0.0 else 0.0   # NaN gives 0
        elif a > 1.0:
            a = 1.0
        self.phase += a
        c = 1.0 - 0.5 * a * a
        sn = a - a * a * a * (1.0 / 6.0)
        rr = self.rot_re * c + self.rot_im * sn
        ri = self.rot_im * c - self.rot_re * sn
        g = 1.5 - 0.5 * (rr * rr + ri * ri)
        self.rot_re = rr * g
        self.rot_im = ri * g
