# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-sample and per-symbol loops shared by the V.29 and V.17 modems.

Transmit side: the 23-bit scramblers, the V.17 differential + trellis encoder and a
polyphase pulse shaper / modulator (10/3 samples per symbol at 2400 baud): the plain
double-precision ``Modulator`` (the reference) and the fast ``QamTxCore`` the V.17/V.29
transmitters use (bits -> symbols -> float32 folded-carrier shaper in one C pass, into
``BlockTx``'s buffer; within one LSB of the reference, tests/modem/test_qam_tx_fast.py).

Receive side (:class:`QamReceiver`): carrier detect (power meter with on/off
thresholds), a bank of complex band-pass root-raised-cosine filters at P fractional
delays (matched filter, down-conversion and interpolation in one step), Gardner symbol
timing recovery on the T/2 samples, a T/2-spaced adaptive equaliser (LMS, trained on the
known training sequence, then decision directed), a second-order carrier phase/frequency
loop, the training state machine and the slicer (V.29) or the 8-state Viterbi decoder
(V.17), and a data-mode lock monitor (see ``_monitor``) that ends a burst whose signal
was lost while the carrier stayed up, but rides out a hit (a click, a burst of noise on
the line: ``_hit_check`` keeps the equaliser and loops still during it, and the bits
flow again, none missing, once the signal is back). Everything the modem modules
configure comes in as numpy arrays, so this file holds no V.29/V.17 tables itself.

Memory safety. Bounds checks are off, so every index below is proven in range, by an
explicit check or by one of these invariants (``__init__`` validates every array it is
given and raises ``ValueError`` otherwise):

* Rings: ``xbuf`` (2 x XBUF) is read forward over ``[xpos + XBUF - NP + 1, xpos + XBUF]``
  with ``0 <= xpos < XBUF`` and ``N <= NP <= XBUF`` (NP: N rounded up to a multiple of 4,
  XBUF one too); the equaliser line (2 x EQ_MAX) over ``[eqpos + 1, eqpos + L]`` with
  ``0 <= eqpos < L <= EQ_MAX`` (its running energy reads the entry at ``eqpos`` before it
  is overwritten, and re-sums ``eqpos + i``, ``i < L``); the ring of equaliser outputs
  for the Viterbi decoder is indexed with ``& (TB_MAX - 1)``; ``Modulator``'s symbol ring
  (2 x L) over ``[spos + 1, spos + L]``, ``0 <= spos < L``, and ``0 <= baud_phase <= 9``
  (row of ``coef``); it writes at most ``(10 ns + 9) / 3`` samples for ns symbols (3 per
  sample, 10 per symbol, ending with baud_phase >= 7) into ``10 ns // 3 + 4``. The inner
  products (``_vec.pxd``) read exactly those ranges.
* Filter bank row ``p = int(mu P + 0.5)`` with ``0 <= mu <= 1`` (checked, NaN mapped to 0).
  NCO table index: the top NCO_BITS bits of a uint32.
* Decision tables: ``_grid_index`` clamps to ``[0, gsize)`` comparing as double *before*
  the cast (NaN gives 0: casting NaN or an out-of-range double to int is undefined
  behaviour in C); the tables are ``[G][gsize][gsize]`` with G = 1 (V.29) or 9 (V.17) and
  every entry a valid label (``< len(points)``).
* Viterbi: ``nprev``/``nlab`` start at 0 for every state and are only ever assigned a
  state 0..7 (``pv_s``, built from the checked trellis table, at most 32 transitions per
  state) and a label read from a decision table, whatever the metrics are. The survivor
  rows ``path[2][8][PATH_LEN]``: entry 0 gets ``nlab``, entries 1.. are copied from row
  ``nprev`` (0..7) of the other half; the output reads entry ``tb_depth < PATH_LEN``
  (checked in ``__init__``), so every access stays in range even if a metric were NaN. Metrics stay finite and bounded
  anyway: the equaliser output reaching the decoders is finite with ``|z|^2 <= z2_max``
  (``_half`` checks it; a receiver whose equaliser blew up fails the training or loses
  the signal instead), the branch metrics are distances to table points, and the path
  metrics are renormalised to a minimum of 0 every symbol.
* ``BlockTx``: ``0 <= bpos <= blen <= len(buf)`` (``buf`` is a contiguous int16 array it
  made; ``_room(k)`` moves the ``blen - bpos`` live samples to the front, into a larger
  array if needed, so that ``blen + k <= len(buf)`` before anything writes ``k`` samples
  at ``blen``); ``tx``'s copy of ``k = min(n, blen - bpos)`` samples from ``buf[bpos]``
  into a fresh ``n``-sample block stays in both arrays.
* ``QamTxCore`` (fast transmitter): the shaper writes at most ``(10 ns + 9) // 3`` samples
  for ``ns`` symbols (see ``Modulator``) after ``_room(10 ns // 3 + 4)``; it reads
  ``sym[2 k], sym[2 k + 1]`` for ``k < ns`` from the scratch of ``>= 2 ns`` floats;
  the symbol ring (4 LP floats, ``LP <= TX_LP_MAX``) is written at pairs ``spos`` and
  ``spos + LP`` (``0 <= spos < LP``) and read over the ``2 LP`` floats from pair
  ``spos + 1`` (the usual pulse, ``2 LP = 28``, keeps that window in registers: loaded
  from there, shifted by the pair ``sym[2 k], sym[2 k + 1]``, one 8-byte load, the
  same ``k < ns`` as the ring write); table row ``pos < P`` of ``2 LP`` floats in ``P * 2 LP`` (plus up to 3
  floats skipped to align it to 16 bytes, of the 4 allocated extra). The coder reads
  ``bits[k]``, ``k < ns * bps = n`` (checked whole symbols); a V.17 label has ``bps + 1``
  bits and a V.29 one is ``amp * 8 + phase`` (< 16, or < 8 with 3 bits), and
  ``_init_v17`` / ``_init_v29`` check ``points`` (at most 128, finite) holds them all and
  ``step`` has 8 entries 0..7. ``_modulate_*`` refuse to run before ``_init_shaper``
  (and a coder). The coder gathers a symbol's bits with one 8-byte read only where
  ``k + 8 <= n``, else byte by byte (``k + bps <= n``).
* ``QamTxCore``'s bit queue: ``qlist[qidx:]`` are 1-D C-contiguous uint8 arrays (checked
  by ``_put_bits``), ``0 <= qpos < len(qlist[qidx])`` while bits are queued, and
  ``qcount`` is the number of unread bits in them; ``_take(m)`` refuses ``m > qcount``,
  reads ``k <= len - qpos`` bytes of an array at a time (into ``tbuf``, grown to ``m``
  first) and so never passes the last array. ``_fast_refill`` takes at most ``qcount``
  bits, and writes ``total`` bytes into ``ebuf`` (grown to ``total`` first).
* Training: ``tr_idx < tr_len`` (the state changes when it reaches tr_len).
  ``v29_bits`` has 8 entries, indexed with ``& 7``; ``v17_next`` entries are 0..7.
* Float to int: every double cast to an integer (NCO phase steps, the frequency
  accumulator, grid and filter rows, transmitted samples) is clamped (NaN-proof) into
  the target range first.
* Divergence cannot start: the AGC gain is clamped to [AGC_MIN, AGC_MAX], and the LMS
  step is normalised by the actual energy in the equaliser line whenever that is well
  above the nominal level (a signal much louder than the AGC expected), so the
  equaliser cannot blow up into inf/NaN.
* Transmit mappers: ``v17_symbols``/``v29_symbols`` read ``bits[k]`` for
  ``k < (n // bps) * bps = n`` (n checked to be whole symbols); a V.17 label has
  ``bps + 1`` bits (``(q << 1) & 0x78`` keeps bits 3..bps of a ``bps``-bit word) and
  ``points`` is checked to hold ``1 << (bps + 1)``; V.29 reads ``step[tri]`` with
  ``tri < 8`` from a checked 8-entry table of values 0..7, ``sb[j]`` for ``j < bps <= 4``
  and ``points[amp * 8 + phase] < 16`` (``8`` when ``bps`` is 3), checked. ``take_bits``
  copies ``c = ocommit <= onb <= len(obits)`` octets out and moves the ``onb - c`` after
  them to the front, both inside ``obits``.
* Output and events: ``rx`` first makes room in ``obits`` for every bit the call can
  demodulate (``_reserve``: at most one T/2 output per sample, one symbol per two, at
  most 7 bits a symbol), and ``_put_bit`` writes through ``obuf`` only below ``ocap``
  regardless. Events go into a C buffer of EV_MAX that ``rx`` flushes to ``events``
  whenever it holds more than EV_MAX - 16 at the start of a sample (a sample raises at
  most 6), and ``_event`` only writes below EV_MAX regardless.
* Memory: ``obits`` holds at most the bits not yet taken; ``take_bits`` (called by the
  Python wrapper after every ``rx`` block that committed bits) empties it. Uncommitted
  bits are at most ``hold_symbols`` plus ``lost_grace`` symbols' worth plus one block's,
  or, while the training SNR is still judged, ``snr_symbols`` plus the Viterbi delay.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport atan2, cos, floor, sin, sqrt
from libc.string cimport memcpy, memmove, memset
from libc.stdint cimport int16_t, int32_t, uint8_t, uint32_t

cnp.import_array()

# the matched filter, equaliser output and LMS update, vectorisable (see _vec.pxd)
from faxcore.modem._vec cimport fc_cdot, fc_fir2, fc_fir2f, fc_lms

# Viterbi add-compare-select, written so that the compiler selects without branching
# (the comparisons are data: a branch on them mispredicts half the time). For each
# destination state ns its pv_n[ns] transitions in (s, y) order; strict < keeps the
# first best, as in a sweep over s and y; 1e30 / predecessor 0 / label 0 if none.
cdef extern from *:
    """
    static inline void fc_acs8(const double *pm, const double *bm, const int *blab,
                               const int *pv_n, const unsigned char (*pv_s)[32],
                               const unsigned char (*pv_sub)[32],
                               double *npm, int *nprev, int *nlab)
    {
        int ns, k, s, sub, mask, sp, sl;
        double d, m;
        for (ns = 0; ns < 8; ns++) {
            d = 1e30;
            sp = 0;
            sl = 0;
            for (k = 0; k < pv_n[ns]; k++) {
                s = pv_s[ns][k];
                sub = pv_sub[ns][k];
                m = pm[s] + bm[sub];
                /* selects as masks, the metric as a min (minsd): no branch to merge */
                mask = -(m < d);
                sp ^= (sp ^ s) & mask;
                sl ^= (sl ^ blab[sub]) & mask;
                d = m < d ? m : d;
            }
            npm[ns] = d;
            nprev[ns] = sp;
            nlab[ns] = sl;
        }
    }
    """
    void fc_acs8(const double *pm, const double *bm, const int *blab, const int *pv_n,
                 const uint8_t (*pv_s)[32], const uint8_t (*pv_sub)[32],
                 double *npm, int *nprev, int *nlab) noexcept nogil

DEF NCO_BITS = 12          # sine table of 4096 entries
DEF EQ_MAX = 64
DEF TB_MAX = 64            # Viterbi: ring of the equaliser outputs (power of two)
DEF PATH_LEN = 64          # Viterbi survivor length (> traceback <= TB_MAX - 2)
DEF XBUF = 64              # input ring (power of two, >= filter length)
DEF AGC_MIN = 1e-4         # AGC gain range: a -10 dBm0 V.17 burst gets ~0.005, one at the
DEF AGC_MAX = 10.0         # -45 dBm0 carrier threshold ~0.3; full scale 0.001
DEF EQ_HEADROOM = 4.0      # LMS step normalised by the line energy above 4x nominal
DEF EV_MAX = 64             # events buffered in C per rx() (flushed to the list)
DEF I32_LIM = 2147483000.0 # doubles cast to int32 are clamped inside this

# events (codes handed back to Python)
EV_CARRIER_UP = 1
EV_CARRIER_DOWN = 2
EV_TRAINING_SUCCEEDED = 3
EV_TRAINING_FAILED = 4
EV_SIGNAL_LOST = 5

# receiver states
DEF ST_IDLE = 0
DEF ST_ACQUIRE = 1         # ABAB: timing, AGC, frequency, parity, phase
DEF ST_WAIT_TRANSITION = 2 # ABAB phase-locked, looking for the 180-degree reversal
DEF ST_TRAIN = 3           # known training symbols
DEF ST_CHECK = 4           # scrambled ones, full data decoding, checked
DEF ST_DATA = 5
DEF ST_FAILED = 6          # training failed or signal lost: silent until carrier down


cdef inline int32_t _i32(double v) noexcept nogil:
    """``v`` rounded toward zero into int32; NaN gives 0 and out-of-range values are
    clamped (a plain C cast of those is undefined behaviour)."""
    if not (v == v):
        return 0
    if v > I32_LIM:
        return <int32_t>I32_LIM
    if v < -I32_LIM:
        return <int32_t>(-I32_LIM)
    return <int32_t>v


# --------------------------------------------------------------------------- transmit


cdef inline int _v17_label(int q, int *diff, int *conv) noexcept nogil:
    """One symbol of V.17's differential + 8-state trellis encoder: the label of data
    word ``q`` (bit 0 = Q1, the first bit in time; label bit 0 the redundant bit Y0,
    bits 1-2 the differentially coded Y1 Y2, bits 3.. Q3 Q4 ...); ``diff`` and ``conv``
    are the coder's state, updated. Every V.17 coder here calls this."""
    cdef int y = (diff[0] + (q & 3)) & 3
    cdef int y1 = y & 1, y2 = (y >> 1) & 1
    cdef int c = conv[0]
    cdef int s0 = c & 1, s1 = (c >> 1) & 1, s2 = (c >> 2) & 1
    cdef int ns0 = s1 ^ y2 ^ (s0 & y1)
    cdef int ns1 = s2 ^ y1 ^ y2 ^ (s0 & (s1 ^ y2))
    diff[0] = y
    conv[0] = ns0 | (ns1 << 1) | (s0 << 2)
    return ((q << 1) & 0x78) | (y << 1) | s0


def scramble23(const uint8_t[::1] bits, uint32_t reg, int tap=18):
    """Self-synchronising scrambler 1 + x^-tap + x^-23 (V.29, V.17).

    ``reg`` holds the previous outputs, newest in bit 0. Returns (scrambled bits, reg)."""
    if tap < 1 or tap > 22:
        raise ValueError("scrambler tap must be 1..22")   # shifts stay < 32
    cdef Py_ssize_t i, n = bits.shape[0]
    out = np.empty(n, np.uint8)
    cdef uint8_t[::1] o = out
    cdef uint32_t b
    cdef int t1 = tap - 1
    for i in range(n):
        b = (bits[i] ^ (reg >> t1) ^ (reg >> 22)) & 1
        reg = ((reg << 1) | b) & 0x7FFFFF
        o[i] = <uint8_t>b
    return out, reg


def v17_encode(const uint8_t[::1] q, int diff, int conv):
    """V.17 differential + 8-state trellis encoding of the per-symbol data words ``q``
    (bit 0 = Q1, the first bit in time). Returns (labels, diff, conv): label bit 0 is
    the redundant bit Y0, bits 1-2 the differentially coded Y1 Y2, bits 3.. Q3 Q4 ..."""
    cdef Py_ssize_t i, n = q.shape[0]
    out = np.empty(n, np.uint8)
    cdef uint8_t[::1] o = out
    for i in range(n):
        o[i] = <uint8_t>_v17_label(q[i], &diff, &conv)
    return out, diff, conv


def v17_symbols(const uint8_t[::1] bits, uint32_t reg, int diff, int conv, int bps,
                const double complex[::1] points, int tap=18):
    """V.17 data symbols of ``bits`` in one pass: the scrambler, ``bps`` bits per symbol
    (the first in time is bit 0 of the word Q), the differential + trellis encoder and
    the constellation (label -> point): exactly ``scramble23``, the packing,
    ``v17_encode`` and ``points[labels]`` one after the other, with no array between.
    ``len(bits)`` must be a multiple of ``bps`` (3..6), ``points`` hold every label of
    ``bps + 1`` bits. Returns (symbols, reg, diff, conv)."""
    cdef Py_ssize_t n = bits.shape[0], ns, i, k
    cdef int j, q, lab
    cdef uint32_t b
    cdef int t1 = tap - 1
    if tap < 1 or tap > 22:
        raise ValueError("scrambler tap must be 1..22")   # shifts stay < 32
    if bps < 3 or bps > 6 or n % bps:
        raise ValueError("bits must be whole symbols of 3..6 bits")
    if points.shape[0] < (1 << (bps + 1)):
        raise ValueError("too few constellation points for the labels")
    ns = n // bps
    out = np.empty(ns, np.complex128)
    cdef double complex[::1] o = out
    k = 0
    for i in range(ns):
        q = 0
        for j in range(bps):
            b = (bits[k] ^ (reg >> t1) ^ (reg >> 22)) & 1
            reg = ((reg << 1) | b) & 0x7FFFFF
            q |= <int>b << j
            k += 1
        # < 1 << (bps + 1): q has bps bits, (q << 1) & 0x78 keeps bits 3..bps
        lab = _v17_label(q, &diff, &conv)
        o[i] = points[lab]
    return out, reg, diff, conv


def v29_symbols(const uint8_t[::1] bits, uint32_t reg, int abs_phase, int bps,
                const uint8_t[::1] step, const double complex[::1] points, int tap=18):
    """V.29 data symbols of ``bits`` in one pass: the scrambler, then per symbol (the
    first bit in time first) the amplitude bit (9600 only: ``bps`` 4) and the tribit,
    whose phase change ``step[tribit]`` (in 45-degree units, 0..7) turns the absolute
    phase; the point is ``points[amplitude * 8 + phase]``. Returns (symbols, reg,
    abs_phase)."""
    cdef Py_ssize_t n = bits.shape[0], ns, i, k
    cdef int j, amp, tri, ph = abs_phase & 7
    cdef uint32_t b
    cdef int t1 = tap - 1
    cdef int sb[4]
    if tap < 1 or tap > 22:
        raise ValueError("scrambler tap must be 1..22")
    if (bps != 3 and bps != 4) or n % bps:
        raise ValueError("bits must be whole symbols of 3 or 4 bits")
    if step.shape[0] != 8:
        raise ValueError("step must have 8 entries")
    for j in range(8):
        if step[j] > 7:
            raise ValueError("phase steps are 0..7")
    if points.shape[0] < (16 if bps == 4 else 8):
        raise ValueError("too few constellation points")
    ns = n // bps
    out = np.empty(ns, np.complex128)
    cdef double complex[::1] o = out
    k = 0
    for i in range(ns):
        for j in range(bps):
            b = (bits[k] ^ (reg >> t1) ^ (reg >> 22)) & 1
            reg = ((reg << 1) | b) & 0x7FFFFF
            sb[j] = <int>b
            k += 1
        if bps == 4:
            amp = sb[0]
            tri = sb[1] * 4 + sb[2] * 2 + sb[3]
        else:
            amp = 0
            tri = sb[0] * 4 + sb[1] * 2 + sb[2]
        ph = (ph + step[tri]) & 7
        o[i] = points[amp * 8 + ph]
    return out, reg, (ph if ns else abs_phase)


#: the buffer every BlockTx starts with (never written: _room replaces a 0-capacity buffer)
_EMPTY16 = np.zeros(0, np.int16)


cdef class BlockTx:
    """The per-block transmit path in C (issue 14): a buffer of modulated samples that
    ``tx(n)`` hands out in fresh int16 blocks with one call (no Python per block).

    Subclasses define ``_next_samples()``: the next modulated piece (int16), or ``True``
    when it appended the piece itself (:class:`QamTxCore`'s ``_modulate_*``), or None
    when nothing follows (the block is then padded with zeros); they set ``ended`` when
    the piece they return is the last. ``done`` turns True once that last piece is all
    out. The buffer is one array that grows (doubling) and is compacted in place: no
    concatenation per refill."""

    cdef cnp.ndarray buf           # int16, C-contiguous; capacity buf.shape[0]
    cdef Py_ssize_t bpos           # next sample to give out
    cdef Py_ssize_t blen           # end of the modulated samples (bpos <= blen <= capacity)
    cdef public bint ended
    cdef public bint done

    def __cinit__(self, *args, **kwargs):
        self.buf = _EMPTY16
        self.bpos = 0
        self.blen = 0
        self.ended = False
        self.done = False

    @property
    def buffered(self):
        """Samples modulated and not yet given out."""
        return self.blen - self.bpos

    def _next_samples(self):  # pragma: no cover - abstract
        return None

    cdef object _refill(self):
        """The next piece (see ``_next_samples``); subclasses may do it in C."""
        return self._next_samples()

    cdef int16_t* _room(self, Py_ssize_t k) except NULL:
        """Room for ``k`` more samples at ``blen``: moves the live samples to the front
        or into a larger array when needed; returns where to write."""
        cdef Py_ssize_t live = self.blen - self.bpos, cap = self.buf.shape[0], newcap
        cdef int16_t* data = <int16_t*> cnp.PyArray_DATA(self.buf)
        cdef cnp.ndarray bigger
        if k < 0:
            raise ValueError("negative room")
        if self.blen + k > cap:
            if live + k <= cap:
                if live > 0:
                    memmove(data, data + self.bpos, live * sizeof(int16_t))
            else:
                newcap = 2 * cap
                if newcap < live + k:
                    newcap = live + k
                if newcap < 4096:
                    newcap = 4096
                bigger = np.empty(newcap, np.int16)
                if live > 0:
                    memcpy(cnp.PyArray_DATA(bigger), data + self.bpos, live * sizeof(int16_t))
                self.buf = bigger
                data = <int16_t*> cnp.PyArray_DATA(bigger)
            self.bpos = 0
            self.blen = live
        return data + self.blen

    cdef int _append(self, cnp.ndarray piece) except -1:
        """Append a 1-D C-contiguous int16 array."""
        cdef Py_ssize_t k = piece.shape[0]
        cdef int16_t* dst = self._room(k)
        if k > 0:
            memcpy(dst, cnp.PyArray_DATA(piece), k * sizeof(int16_t))
            self.blen += k
        return 0

    def tx(self, Py_ssize_t n):
        """The next ``n`` samples (zeros after the end of the burst)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        cdef Py_ssize_t avail = self.blen - self.bpos, k
        while avail < n:
            # refill (once per modulated piece, not per block)
            got = self._refill()
            if got is None:
                break
            if got is not True:
                self._append(np.ascontiguousarray(got, np.int16).reshape(-1))
            avail = self.blen - self.bpos
        cdef cnp.npy_intp dim = n
        k = n if avail >= n else avail
        cdef cnp.ndarray out
        if k == n:
            out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_INT16, 0)
        else:
            out = cnp.PyArray_ZEROS(1, &dim, cnp.NPY_INT16, 0)
        if k > 0:
            memcpy(cnp.PyArray_DATA(out), <int16_t*> cnp.PyArray_DATA(self.buf) + self.bpos,
                   k * sizeof(int16_t))
            self.bpos += k
        if self.ended and self.bpos >= self.blen:
            self.done = True
        return out


# The fast transmit shaper's sample loop (QamTxCore._shape), in C so that its inner
# product is four floats wide (SSE on x86-64; GCC/Clang vector extension as in _vec.pxd,
# other targets get what they have, or scalars) and fully unrolled for the usual pulse
# (fc_txshape_7: 14 symbols = 28 floats = 7 vectors; fc_txshape_any: any n4, a loop).
# Two partial sums in a fixed order: the result does not depend on the data's alignment.
# ``ring`` holds LP (re, im) pairs twice over (4 LP floats): symbol ``spos`` is written at
# pairs spos and spos + LP, and the window read is the 2 LP = 4 n4 floats from pair
# spos + 1 (oldest first), so it never leaves the ring; ``tab`` is P rows of 4 n4 floats,
# row ``pos < P``; ``o`` has room for (10 ns + 9) / 3 samples (see the module header).
cdef extern from *:
    """
    typedef float fc_tx4 __attribute__((vector_size(16)));
    static inline fc_tx4 fc_tx_ld(const float *p)
    {
        fc_tx4 v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define FC_TX_GROUPS 1
    #else
    #define FC_TX_GROUPS 0
    #endif
    /* symbols the next four samples take, by baud phase (bp >= 7 takes one, then -7;
       else +3): at most one in three steps, so 1 or 2 */
    static const int fc_tx_need4[10] = {1, 1, 1, 1, 1, 1, 1, 1, 2, 2};
    /* the dot product of one sample, not yet summed across its four lanes */
    #define FC_TX_DOT(acc)                                                          \
        do {                                                                        \
            const float *x_ = ring + 2 * (spos + 1);                                \
            fc_tx4 a0_ = *(const fc_tx4 *)row * fc_tx_ld(x_);                       \
            fc_tx4 a1_ = *(const fc_tx4 *)(row + 4) * fc_tx_ld(x_ + 4);             \
            for (m = 2; m + 2 <= n4; m += 2) {                                      \
                a0_ += *(const fc_tx4 *)(row + 4 * m) * fc_tx_ld(x_ + 4 * m);       \
                a1_ += *(const fc_tx4 *)(row + 4 * m + 4) * fc_tx_ld(x_ + 4 * m + 4); \
            }                                                                       \
            if (m < n4)                                                             \
                a0_ += *(const fc_tx4 *)(row + 4 * m) * fc_tx_ld(x_ + 4 * m);       \
            (acc) = a0_ + a1_;                                                      \
            if (++pos >= P) {                                                       \
                pos = 0;                                                            \
                row = tab;                                                          \
            } else {                                                                \
                row += NT;                                                          \
            }                                                                       \
        } while (0)
    /* symbol k into the ring (twice: the window is read forward without wrapping) */
    #define FC_TX_PUSH()                                                            \
        do {                                                                        \
            bp -= 7;                                                                \
            if (++spos >= LP)                                                       \
                spos = 0;                                                           \
            ring[2 * spos] = sym[2 * k];                                            \
            ring[2 * spos + 1] = sym[2 * k + 1];                                    \
            ring[2 * (spos + LP)] = sym[2 * k];                                     \
            ring[2 * (spos + LP) + 1] = sym[2 * k + 1];                             \
        } while (0)
    #define FC_TX_STEP()                                                            \
        do {                                                                        \
            if (bp >= 7) {                                                          \
                FC_TX_PUSH();                                                       \
                k++;                                                                \
            } else {                                                                \
                bp += 3;                                                            \
            }                                                                       \
        } while (0)
    #if FC_TX_GROUPS
    /* The 28-float window (7 vectors) of the usual pulse kept in registers across the
       samples of a symbol (3 or 4 of them) instead of reloaded from the ring for each:
       a new symbol shifts it by one (re, im) pair (each vector takes the top half of
       itself and the bottom half of the next; the last takes the new pair), the very
       floats the ring holds at pairs spos + 1 .. spos + LP after the push, so every
       product and sum is the one FC_TX_DOT forms from the ring (same order). */
    static inline __attribute__((always_inline)) void fc_tx_win_load(__m128 *win, const float *x)
    {
        int i;
        for (i = 0; i < 7; i++)
            win[i] = _mm_loadu_ps(x + 4 * i);
    }
    #define FC_TX_SHUF(a, b) _mm_shuffle_ps((a), (b), _MM_SHUFFLE(1, 0, 3, 2))
    /* one sample's dot product from the register window, as FC_TX_DOT with n4 = 7:
       a0 = r0 x0 + r2 x2 + r4 x4 + r6 x6, a1 = r1 x1 + r3 x3 + r5 x5, in that order */
    #define FC_TX_DOT7(acc)                                                         \
        do {                                                                        \
            __m128 a0_ = _mm_mul_ps(_mm_load_ps(row), w0);                          \
            __m128 a1_ = _mm_mul_ps(_mm_load_ps(row + 4), w1);                      \
            a0_ = _mm_add_ps(a0_, _mm_mul_ps(_mm_load_ps(row + 8), w2));            \
            a1_ = _mm_add_ps(a1_, _mm_mul_ps(_mm_load_ps(row + 12), w3));           \
            a0_ = _mm_add_ps(a0_, _mm_mul_ps(_mm_load_ps(row + 16), w4));           \
            a1_ = _mm_add_ps(a1_, _mm_mul_ps(_mm_load_ps(row + 20), w5));           \
            a0_ = _mm_add_ps(a0_, _mm_mul_ps(_mm_load_ps(row + 24), w6));           \
            (acc) = _mm_add_ps(a0_, a1_);                                           \
            if (++pos >= P) {                                                       \
                pos = 0;                                                            \
                row = tab;                                                          \
            } else {                                                                \
                row += 28;                                                          \
            }                                                                       \
        } while (0)
    /* FC_TX_STEP, and the window shifted in registers when a symbol comes in */
    #define FC_TX_STEP7()                                                           \
        do {                                                                        \
            if (bp >= 7) {                                                          \
                FC_TX_PUSH();                                                       \
                __m128 nw_ = _mm_castpd_ps(_mm_load_sd((const double *)(sym + 2 * k))); \
                w0 = FC_TX_SHUF(w0, w1);                                            \
                w1 = FC_TX_SHUF(w1, w2);                                            \
                w2 = FC_TX_SHUF(w2, w3);                                            \
                w3 = FC_TX_SHUF(w3, w4);                                            \
                w4 = FC_TX_SHUF(w4, w5);                                            \
                w5 = FC_TX_SHUF(w5, w6);                                            \
                w6 = FC_TX_SHUF(w6, nw_);                                           \
                k++;                                                                \
            } else {                                                                \
                bp += 3;                                                            \
            }                                                                       \
        } while (0)
    /* four samples (k + fc_tx_need4[bp] <= ns symbols available), written at o[0..3];
       lane sums, clamps and roundings as the generic group path */
    static inline __attribute__((always_inline)) void fc_txshape_group7(
        int *pbp, int *pspos, int *ppos, const float **prow, long *pk, int LP, int P,
        const float *restrict tab, float *restrict ring, const float *restrict sym,
        short *restrict o, __m128 *win)
    {
        int bp = *pbp, spos = *pspos, pos = *ppos;
        long k = *pk;
        const float *row = *prow;
        __m128 w0 = win[0], w1 = win[1], w2 = win[2], w3 = win[3], w4 = win[4],
               w5 = win[5], w6 = win[6];
        __m128 v0, v1, v2, v3;
        FC_TX_STEP7();
        FC_TX_DOT7(v0);
        FC_TX_STEP7();
        FC_TX_DOT7(v1);
        FC_TX_STEP7();
        FC_TX_DOT7(v2);
        FC_TX_STEP7();
        FC_TX_DOT7(v3);
        __m128 s01 = _mm_add_ps(_mm_unpacklo_ps(v0, v1), _mm_unpackhi_ps(v0, v1));
        __m128 s23 = _mm_add_ps(_mm_unpacklo_ps(v2, v3), _mm_unpackhi_ps(v2, v3));
        __m128 r = _mm_add_ps(_mm_movelh_ps(s01, s23), _mm_movehl_ps(s23, s01));
        r = _mm_min_ps(r, _mm_set1_ps(32767.0f));
        r = _mm_max_ps(r, _mm_set1_ps(-32768.0f));
        const __m128d off = _mm_set1_pd(32768.5);
        __m128i lo = _mm_cvttpd_epi32(_mm_add_pd(_mm_cvtps_pd(r), off));
        __m128i hi = _mm_cvttpd_epi32(_mm_add_pd(_mm_cvtps_pd(_mm_movehl_ps(r, r)), off));
        __m128i q = _mm_sub_epi32(_mm_unpacklo_epi64(lo, hi), _mm_set1_epi32(32768));
        _mm_storel_epi64((__m128i *)o, _mm_packs_epi32(q, q));
        win[0] = w0; win[1] = w1; win[2] = w2; win[3] = w3; win[4] = w4; win[5] = w5;
        win[6] = w6;
        *pbp = bp; *pspos = spos; *ppos = pos; *pk = k; *prow = row;
    }
    #endif
    static inline __attribute__((always_inline)) long fc_txshape_body(int *pbp, int *pspos, int *ppos, int LP, int P,
                                       const int n4, const float *restrict tab,
                                       float *restrict ring, const float *restrict sym,
                                       long ns, short *restrict o)
    {
        int bp = *pbp, spos = *pspos, pos = *ppos, m, t;
        const int NT = 4 * n4;
        long n = 0, k = 0;
        const float *row = tab + (long)pos * NT;
        fc_tx4 acc;
    #if FC_TX_GROUPS
        __m128 win[7];      /* n4 == 7: the window ring[2 (spos + 1) ..][0..27] */
        if (n4 == 7)
            fc_tx_win_load(win, ring + 2 * (spos + 1));
    #endif
        for (;;) {
    #if FC_TX_GROUPS
            if (n4 == 7 && k + fc_tx_need4[bp] <= ns) {
                /* the usual pulse (28 floats): the four samples of fc_txshape_group7,
                   the window in registers (same values, same arithmetic) */
                fc_txshape_group7(&bp, &spos, &pos, &row, &k, LP, P, tab, ring, sym, o + n, win);
                n += 4;
                continue;
            }
            if (n4 != 7 && k + fc_tx_need4[bp] <= ns) {
                /* four samples, each its own dot product as below; their lane sums,
                   clamps and roundings four at once: the same arithmetic, in the same
                   order ((l0 + l2) + (l1 + l3), then as the single-sample path) */
                fc_tx4 c0, c1, c2, c3;
                FC_TX_STEP();
                FC_TX_DOT(c0);
                FC_TX_STEP();
                FC_TX_DOT(c1);
                FC_TX_STEP();
                FC_TX_DOT(c2);
                FC_TX_STEP();
                FC_TX_DOT(c3);
                __m128 v0, v1, v2, v3;
                memcpy(&v0, &c0, 16);
                memcpy(&v1, &c1, 16);
                memcpy(&v2, &c2, 16);
                memcpy(&v3, &c3, 16);
                __m128 s01 = _mm_add_ps(_mm_unpacklo_ps(v0, v1), _mm_unpackhi_ps(v0, v1));
                __m128 s23 = _mm_add_ps(_mm_unpacklo_ps(v2, v3), _mm_unpackhi_ps(v2, v3));
                __m128 r = _mm_add_ps(_mm_movelh_ps(s01, s23), _mm_movehl_ps(s23, s01));
                r = _mm_min_ps(r, _mm_set1_ps(32767.0f));    /* r < hi ? r : hi */
                r = _mm_max_ps(r, _mm_set1_ps(-32768.0f));   /* r > lo ? r : lo */
                const __m128d off = _mm_set1_pd(32768.5);
                __m128i lo = _mm_cvttpd_epi32(_mm_add_pd(_mm_cvtps_pd(r), off));
                __m128i hi = _mm_cvttpd_epi32(_mm_add_pd(_mm_cvtps_pd(_mm_movehl_ps(r, r)), off));
                __m128i q = _mm_sub_epi32(_mm_unpacklo_epi64(lo, hi), _mm_set1_epi32(32768));
                _mm_storel_epi64((__m128i *)(o + n), _mm_packs_epi32(q, q));
                n += 4;
                continue;
            }
    #endif
            if (bp >= 7 && k >= ns)
                break;
            FC_TX_STEP();
            FC_TX_DOT(acc);
            float v = (acc[0] + acc[2]) + (acc[1] + acc[3]);
            /* clamp, as selects (minss/maxss; NaN, which finite symbols and tables
               cannot give, ends at 32767: no undefined cast), then floor(v + 0.5) as
               the reference (Modulator.modulate): v + 32768.5 >= 0.5 here, so the
               truncation is the floor; exact in double for a float v of this range */
            v = v < 32767.0f ? v : 32767.0f;
            v = v > -32768.0f ? v : -32768.0f;
            t = (int)((double)v + 32768.5) - 32768;
            o[n++] = (short)t;
    #if FC_TX_GROUPS
            if (n4 == 7)
                fc_tx_win_load(win, ring + 2 * (spos + 1));
    #endif
        }
        *pbp = bp;
        *pspos = spos;
        *ppos = pos;
        return n;
    }
    static long fc_txshape_7(int *pbp, int *pspos, int *ppos, int LP, int P,
                             const float *tab, float *ring, const float *sym, long ns,
                             short *o)
    {
        return fc_txshape_body(pbp, pspos, ppos, LP, P, 7, tab, ring, sym, ns, o);
    }
    static long fc_txshape_any(int *pbp, int *pspos, int *ppos, int LP, int P, int n4,
                               const float *tab, float *ring, const float *sym, long ns,
                               short *o)
    {
        return fc_txshape_body(pbp, pspos, ppos, LP, P, n4, tab, ring, sym, ns, o);
    }
    """
    long fc_txshape_7(int *pbp, int *pspos, int *ppos, int LP, int P, const float *tab,
                      float *ring, const float *sym, long ns, int16_t *o) noexcept nogil
    long fc_txshape_any(int *pbp, int *pspos, int *ppos, int LP, int P, int n4,
                        const float *tab, float *ring, const float *sym, long ns,
                        int16_t *o) noexcept nogil


cdef extern from *:
    """
    #include <stdint.h>
    /* nb (<= 8) data bits, one per byte (bit 0 of each), packed with the first in bit 0;
       fast: eight bytes may be read (p[0..7]): one load and a multiply that gathers bit
       0 of each byte into the top byte (byte i to bit 56 + i; the partial products
       below it land on distinct bits, so nothing carries into it) */
    static inline uint32_t fc_bits_lsb(const uint8_t *p, int nb, int fast)
    {
        uint32_t v = 0;
        int j;
        if (fast) {
            uint64_t x;
            memcpy(&x, p, 8);
            x &= 0x0101010101010101ULL;
            v = (uint32_t)((x * 0x0102040810204080ULL) >> 56);
            return v & ((1u << nb) - 1u);
        }
        for (j = 0; j < nb; j++)
            v |= (uint32_t)(p[j] & 1u) << j;
        return v;
    }
    """
    uint32_t fc_bits_lsb(const uint8_t *p, int nb, int fast) noexcept nogil


cdef inline uint32_t _rev23(uint32_t r) noexcept nogil:
    """The 23-bit scrambler register bit-reversed (bit i to bit 22 - i)."""
    cdef uint32_t o = 0
    cdef int i
    for i in range(23):
        o |= ((r >> i) & 1) << (22 - i)
    return o


DEF TX_LP_MAX = 32     # fast shaper: at most 32 symbols under the pulse (320 taps at 24 kHz)
DEF TX_P_MAX = 800     # ... and a carrier/baud pattern of at most 800 samples


cdef class QamTxCore(BlockTx):
    """The fast V.17/V.29 transmitter core (issue 14): bits -> symbols -> int16 samples
    in one C pass, appended straight into :class:`BlockTx`'s buffer.

    The shaper computes what :class:`Modulator` computes (the plain reading, kept as the
    reference), folded: output sample n is
    ``gain * Re(sum_i h[3(n+1) mod 10 + 10 i] sym[k - i] e^{j w n})``, and both the baud
    phase (period 10) and the carrier (``w = 2 pi f / 8000``: period 40 samples at
    1800 Hz, 80 at 1700 Hz) repeat every P samples, so each of the P positions gets a
    table of real coefficients ``gain h cos(w n)`` (for Re sym) and ``-gain h sin(w n)``
    (for Im sym), and a sample is one real inner product over the symbol history
    (float32, four wide; the sum rounded as the reference's, ``floor(v + 0.5)``, clamped).
    No phasor recurrence: the carrier phase is exact at every sample. The float32
    coefficients and sums put the value within ~1e-3 of the double-precision one, so a
    sample differs from the reference by at most one LSB, and only where the reference
    sits within that distance of a rounding boundary (tests/modem/test_qam_tx_fast.py).

    Encoders (``_init_v17`` / ``_init_v29``): exactly :func:`v17_symbols` /
    :func:`v29_symbols` (the scrambler, packing, trellis or phase coding, the point),
    with their state kept here (``_set_v17_state`` / ``_set_v29_state`` / ``_enc_state``).
    """

    cdef cnp.ndarray tab_arr        # float32 [P][NT]: folded coefficients per position
    cdef const float *tab
    cdef float ring[4 * TX_LP_MAX]  # symbol history (re, im) pairs, LP of them, twice
    cdef int P, NT, LP, pos, bp, spos
    cdef bint ready
    cdef int mode                   # 0 none, 1 V.17, 2 V.29
    cdef int bps, t1
    cdef uint32_t reg
    cdef int diff, conv, phase
    cdef float pre[128]
    cdef float pim[128]
    cdef uint8_t step[8]
    cdef uint8_t rev[64]            # V.17: bps-bit words bit-reversed
    # the data path in C (fast_path): the bit queue, the burst's phase, its shape
    cdef list qlist                 # the queued bit arrays (uint8, C-contiguous), as sent:
    cdef Py_ssize_t qidx            # qlist[qidx] is being read, from qpos; those before
    cdef Py_ssize_t qpos            # it are spent (set to None); no copy of the caller's
    cdef Py_ssize_t qcount          # bits (as BitQueue kept them); qcount: bits queued
    cdef cnp.ndarray tbuf           # uint8 scratch: a chunk that spans two arrays
    cdef object qhold               # the array the last _take pointed into
    cdef cnp.ndarray ebuf           # uint8 scratch: the last bits + padding + closing ones
    cdef uint8_t ones[64]           # the fill: 8 symbols of ones (bps <= 6)
    cdef public int _phase          # 0 not started, 1 data, 2 ending, 3 done
    cdef public bint _final         # no more send() after the data queued
    cdef public bint fast_path      # _refill in C (else the Python _next_samples)
    cdef int chunk, end_ones        # data symbols per refill; closing symbols of ones
    cdef cnp.ndarray sbuf           # float32 scratch: (re, im) of the symbols of one call

    def __cinit__(self, *args, **kwargs):
        # (after BlockTx's): nothing set up yet; the scratch exists from the start
        self.ready = False
        self.mode = 0
        # the scratch arrays are made when first needed (a new transmitter per burst
        # allocates nothing it does not use)
        self.sbuf = None
        self.qlist = []
        self.qidx = 0
        self.qpos = 0
        self.qcount = 0
        self.tbuf = None
        self.ebuf = None
        self._phase = 0
        self._final = False
        self.fast_path = False
        self.chunk = 240
        self.end_ones = 32
        cdef int i
        for i in range(64):
            self.ones[i] = 1

    def _init_shaper(self, double[::1] taps, double carrier_hz, double gain):
        """Build the folded tables for pulse ``taps`` (24 kHz), ``carrier_hz``, ``gain``
        (the arguments of :class:`Modulator`); the state starts as a new Modulator's."""
        cdef Py_ssize_t nt = taps.shape[0]
        cdef int L, LP, P, p, j, i, r, bp
        cdef double w, c, s, h
        cdef double[:, ::1] tv
        cdef Py_ssize_t off
        if nt < 1 or nt > 10 * TX_LP_MAX or not np.all(np.isfinite(taps)):
            raise ValueError(f"pulse must have 1..{10 * TX_LP_MAX} finite taps")
        if not np.isfinite(gain) or not np.isfinite(carrier_hz):
            raise ValueError("gain and carrier must be finite")
        L = <int>((nt + 9) // 10)
        LP = (L + 1) & ~1               # 2 LP floats: a whole number of 4-float groups
        P = 0
        for p in range(10, TX_P_MAX + 1, 10):
            if abs(carrier_hz * p / 8000.0 - round(carrier_hz * p / 8000.0)) < 1e-9:
                P = p
                break
        if P == 0:
            raise ValueError("the carrier does not repeat within 800 samples")
        w = 2.0 * np.pi * carrier_hz / 8000.0
        t = np.zeros((P, 2 * LP), np.float64)
        tv = t
        for p in range(P):
            bp = (3 * (p + 1)) % 10     # the row the reference uses for sample p
            c = gain * cos(w * p)
            s = gain * sin(w * p)
            for i in range(L):          # i: age of the symbol (0 newest)
                r = bp + 10 * i
                if r < nt:
                    h = taps[r]
                    j = LP - 1 - i      # window slot, oldest first
                    tv[p, 2 * j] = h * c       # j < LP: inside the row of 2 LP
                    tv[p, 2 * j + 1] = -h * s
        # rows of 2 LP floats (a multiple of 4: 16 bytes) from a 16-byte aligned start
        # (fc_txshape loads them as vectors): up to 3 floats skipped at the front
        self.tab_arr = np.zeros(P * 2 * LP + 4, np.float32)
        off = <Py_ssize_t>(((-<size_t> cnp.PyArray_DATA(self.tab_arr)) & 15) // 4)
        self.tab_arr[off:off + P * 2 * LP] = t.reshape(-1)
        self.tab = (<const float*> cnp.PyArray_DATA(self.tab_arr)) + off
        self.P = P
        self.LP = LP
        self.NT = 2 * LP
        self.pos = 0
        self.bp = 0
        self.spos = 0
        for i in range(4 * TX_LP_MAX):
            self.ring[i] = 0.0
        self.ready = True

    def _init_v17(self, const double complex[::1] points, int bps, int tap=18):
        """V.17 data coding (as :func:`v17_symbols`), state reset to 0."""
        if bps < 3 or bps > 6:
            raise ValueError("V.17 carries 3..6 bits per symbol")
        self._init_coder(points, bps, tap, 1 << (bps + 1),
                         "points must hold every label of bps + 1 bits (at most 128)")
        self.mode = 1
        self.diff = 0
        self.conv = 0

    def _init_v29(self, const uint8_t[::1] step, const double complex[::1] points, int bps,
                  int tap=18):
        """V.29 data coding (as :func:`v29_symbols`), state reset to 0."""
        cdef int i
        if bps != 3 and bps != 4:
            raise ValueError("V.29 carries 3 or 4 bits per symbol")
        if step.shape[0] != 8:
            raise ValueError("step must have 8 entries")
        for i in range(8):
            if step[i] > 7:
                raise ValueError("phase steps are 0..7")
        self._init_coder(points, bps, tap, 16 if bps == 4 else 8,
                         "too few (or over 128) constellation points")
        for i in range(8):
            self.step[i] = step[i]
        self.mode = 2
        self.phase = 0

    cdef int _init_coder(self, const double complex[::1] points, int bps, int tap,
                         Py_ssize_t need, str too_few) except -1:
        """What both coders check and set: the scrambler tap, the points (``need`` to
        128 of them, finite; ``too_few`` is the error otherwise), the bit-reversal
        table; the scrambler register at 0."""
        cdef Py_ssize_t i
        if tap < 1 or tap > 22:
            raise ValueError("scrambler tap must be 1..22")
        if tap < bps:
            raise ValueError("the scrambler tap must be at least bps")  # see _modulate_bits
        if points.shape[0] < need or points.shape[0] > 128:
            raise ValueError(too_few)
        if not np.all(np.isfinite(np.asarray(points))):
            raise ValueError("points must be finite")
        for i in range(points.shape[0]):
            self.pre[i] = <float>points[i].real
            self.pim[i] = <float>points[i].imag
        self._init_rev(bps)
        self.bps = bps
        self.t1 = tap - 1
        self.reg = 0
        return 0

    cdef void _init_rev(self, int bps) noexcept:
        """rev[w]: the bps-bit word w bit-reversed (w < 64)."""
        cdef int i, j
        for i in range(64):
            self.rev[i] = 0
            for j in range(bps):
                if (i >> j) & 1:
                    self.rev[i] |= <uint8_t>(1 << (bps - 1 - j))

    def _set_v17_state(self, uint32_t reg, int diff, int conv):
        self.reg = reg & 0x7FFFFF
        self.diff = diff & 3
        self.conv = conv & 7

    def _set_v29_state(self, uint32_t reg, int abs_phase):
        self.reg = reg & 0x7FFFFF
        self.phase = abs_phase & 7

    def _enc_state(self):
        """(scrambler register, diff, conv) for V.17; (register, absolute phase) for V.29."""
        if self.mode == 1:
            return int(self.reg), self.diff, self.conv
        return int(self.reg), self.phase

    def _set_shape(self, int chunk, int end_ones, bint fast_path):
        """Data symbols per refill, closing symbols of ones, and whether ``_refill`` runs
        in C (``_fast_refill``) or calls the Python ``_next_samples``."""
        if chunk < 1 or chunk > 1 << 20 or end_ones < 0 or end_ones > 1 << 20:
            raise ValueError("chunk 1..2**20, end_ones 0..2**20")
        self.chunk = chunk
        self.end_ones = end_ones
        self.fast_path = fast_path

    @property
    def queued_bits(self):
        """Data bits given to ``send`` and not yet modulated."""
        return self.qcount

    def _put_bits(self, bits):
        """Queue data bits (a 1-D C-contiguous uint8 array of 0/1, kept, not copied)."""
        cdef cnp.ndarray a = bits
        if a.ndim != 1 or a.dtype != np.uint8 or not a.flags.c_contiguous:
            raise ValueError("bits must be a 1-D C-contiguous uint8 array")
        if a.shape[0]:
            self.qlist.append(a)
            self.qcount += a.shape[0]

    cdef const uint8_t* _take(self, Py_ssize_t m) except NULL:
        """Take ``m <= qcount`` queued bits: a pointer to them, in the current array if
        they are all there (that array held in ``qhold``: valid until the next call),
        else gathered into ``tbuf``."""
        cdef cnp.ndarray cur
        cdef Py_ssize_t k, got = 0, left
        cdef uint8_t *t
        cdef const uint8_t *p
        if m < 0 or m > self.qcount:
            raise ValueError("not that many bits queued")
        if m == 0:
            return self.ones
        cur = <cnp.ndarray> self.qlist[self.qidx]
        left = cur.shape[0] - self.qpos
        if m <= left:
            # qpos + m <= len(cur); kept alive (qhold) while the pointer is in use,
            # though _spent lets go of it in the list
            p = <const uint8_t*> cnp.PyArray_DATA(cur) + self.qpos
            self.qhold = cur
            self.qpos += m
            self.qcount -= m
            self._spent()
            return p
        if self.tbuf is None or self.tbuf.shape[0] < m:
            self.tbuf = np.empty(m, np.uint8)
        t = <uint8_t*> cnp.PyArray_DATA(self.tbuf)
        while got < m:
            # the arrays from qidx on hold qcount >= m - got bits: qidx stays in range
            cur = <cnp.ndarray> self.qlist[self.qidx]
            left = cur.shape[0] - self.qpos
            k = m - got if m - got < left else left
            memcpy(t + got, <const uint8_t*> cnp.PyArray_DATA(cur) + self.qpos, k)
            got += k
            self.qpos += k
            self.qcount -= k
            self._spent()
        return t

    cdef void _spent(self) noexcept:
        """Step past the current array once it is read to its end (let go of it)."""
        cdef cnp.ndarray cur
        while self.qidx < len(self.qlist):
            cur = <cnp.ndarray> self.qlist[self.qidx]
            if self.qpos < cur.shape[0]:
                return
            self.qlist[self.qidx] = None
            self.qidx += 1
            self.qpos = 0
        # all read: start the list afresh (it does not grow without bound)
        self.qlist = []
        self.qidx = 0

    def _take_bits(self, Py_ssize_t n):
        """The next ``min(n, queued_bits)`` queued bits (a copy), taken off the queue."""
        cdef Py_ssize_t k = self.qcount
        cdef const uint8_t *p
        if n < k:
            k = n if n > 0 else 0
        out = np.empty(k, np.uint8)
        if k:
            p = self._take(k)
            memcpy(cnp.PyArray_DATA(out), p, k)
        return out

    cdef object _refill(self):
        if not self.fast_path:
            return self._next_samples()
        return self._fast_refill()

    cdef object _fast_refill(self):
        """What the reference ``QamTransmitter._next_samples`` does, with the data
        chunks coded and shaped straight from the queue (no Python per chunk)."""
        cdef Py_ssize_t avail, m, pad, total
        cdef int bps = self.bps
        cdef uint8_t *e
        if self._phase == 0:
            self._phase = 1
            self._start_burst()
            return True
        if self._phase == 1:
            avail = self.qcount
            if self._final and avail < <Py_ssize_t>self.chunk * bps:
                # the end: the last bits, the last symbol padded with ones, the closing
                # ones (total <= chunk * bps + bps + end_ones * bps bytes of ebuf)
                pad = (bps - avail % bps) % bps     # (cdivision: no negative operand)
                total = avail + pad + <Py_ssize_t>self.end_ones * bps
                if self.ebuf is None or self.ebuf.shape[0] < total:
                    self.ebuf = np.empty(total, np.uint8)
                e = <uint8_t*> cnp.PyArray_DATA(self.ebuf)
                if avail > 0:
                    memcpy(e, self._take(avail), avail)
                memset(e + avail, 1, total - avail)
                self._phase = 2
                self._code(e, total)
            elif avail >= bps:
                m = avail // bps
                if m > self.chunk:
                    m = self.chunk
                m *= bps
                self._code(self._take(m), m)      # m <= qcount
            else:
                # queue dry but more data announced: a little fill (8 symbols of ones)
                self._code(self.ones, 8 * bps)
            return True
        if self._phase == 2:
            self._phase = 3
            self.ended = True
            self._modulate_symbols(np.ascontiguousarray(self._tail_symbols(), np.complex128))
            return True
        return None

    def _init_like(self, QamTxCore other):
        """Set up as ``other`` was (shaper tables, shared; coder tables and settings),
        with the state at rest: a new transmitter of a kind met before, without
        rebuilding anything."""
        if not other.ready or other.mode == 0:
            raise ValueError("other is not set up")
        self.tab_arr = other.tab_arr
        self.tab = other.tab
        self.P = other.P
        self.LP = other.LP
        self.NT = other.NT
        self.pos = 0
        self.bp = 0
        self.spos = 0
        memset(self.ring, 0, sizeof(self.ring))
        self.ready = True
        self.mode = other.mode
        self.bps = other.bps
        self.t1 = other.t1
        memcpy(self.pre, other.pre, sizeof(self.pre))
        memcpy(self.pim, other.pim, sizeof(self.pim))
        memcpy(self.step, other.step, sizeof(self.step))
        memcpy(self.rev, other.rev, sizeof(self.rev))
        self.reg = 0
        self.diff = 0
        self.conv = 0
        self.phase = 0

    def _copy_state(self, QamTxCore other):
        """The shaper's and coder's state of ``other`` (set up alike: ``_init_like``)."""
        if not (self.ready and other.ready and self.LP == other.LP and self.P == other.P
                and self.mode == other.mode and self.bps == other.bps):
            raise ValueError("not set up alike")
        self.bp = other.bp
        self.spos = other.spos
        self.pos = other.pos
        memcpy(self.ring, other.ring, sizeof(self.ring))
        self.reg = other.reg
        self.diff = other.diff
        self.conv = other.conv
        self.phase = other.phase

    def _append_buffered(self, QamTxCore other):
        """Append a copy of the samples ``other`` holds (it keeps them)."""
        cdef Py_ssize_t k = other.blen - other.bpos
        cdef int16_t *dst = self._room(k)
        if k > 0:
            memcpy(dst, <int16_t*> cnp.PyArray_DATA(other.buf) + other.bpos,
                   k * sizeof(int16_t))
            self.blen += k

    def _send_array(self, bits):
        """Queue ``bits`` if it is a 1-D C-contiguous uint8 array of 0/1 (True; ValueError
        if a byte is over 1); False for anything else (the caller converts it)."""
        cdef cnp.ndarray a
        cdef const uint8_t *p
        cdef Py_ssize_t i, n
        cdef uint8_t acc = 0
        if type(bits) is not np.ndarray:
            return False
        a = bits
        if a.ndim != 1 or a.descr.type_num != cnp.NPY_UINT8 or not cnp.PyArray_IS_C_CONTIGUOUS(a):
            return False
        n = a.shape[0]
        p = <const uint8_t*> cnp.PyArray_DATA(a)
        for i in range(n):
            acc |= p[i]
        if acc > 1:
            raise ValueError("bits must be 0 or 1 (one bit per element/byte)")
        if n:
            self.qlist.append(a)
            self.qcount += n
        return True

    def _set_enc_state(self, tuple state):
        """Set the coder state as ``_enc_state`` gave it."""
        if self.mode == 1:
            self._set_v17_state(*state)
        elif self.mode == 2:
            self._set_v29_state(*state)
        else:
            raise RuntimeError("no coder set up")

    def _shaper_state(self):
        """(baud phase, ring position, table row, ring floats): all the shaper's memory."""
        if not self.ready:
            raise RuntimeError("_init_shaper first")
        ring = np.empty(4 * self.LP, np.float32)
        cdef float[::1] rv = ring
        cdef int i
        for i in range(4 * self.LP):
            rv[i] = self.ring[i]
        return self.bp, self.spos, self.pos, ring

    def _set_shaper_state(self, int bp, int spos, int pos, const float[::1] ring):
        """Restore what ``_shaper_state`` gave (for the same pulse and carrier)."""
        cdef int i
        if not self.ready:
            raise RuntimeError("_init_shaper first")
        if not (0 <= bp <= 9 and 0 <= spos < self.LP and 0 <= pos < self.P
                and ring.shape[0] == 4 * self.LP):
            raise ValueError("shaper state out of range")
        self.bp = bp
        self.spos = spos
        self.pos = pos
        for i in range(4 * self.LP):
            self.ring[i] = ring[i]

    def _last_samples(self, Py_ssize_t n):
        """A copy of the last ``n`` samples appended (still buffered)."""
        if not 0 <= n <= self.blen - self.bpos:
            raise ValueError("not that many samples buffered")
        return self.buf[self.blen - n:self.blen].copy()

    def _append_samples(self, piece):
        """Append int16 samples to the buffer (as a ``_next_samples`` piece would be)."""
        self._append(np.ascontiguousarray(piece, np.int16).reshape(-1))

    cdef float* _scratch(self, Py_ssize_t ns) except NULL:
        if self.sbuf is None or self.sbuf.shape[0] < 2 * ns:
            self.sbuf = np.empty(2 * ns + 512, np.float32)
        return <float*> cnp.PyArray_DATA(self.sbuf)

    cdef Py_ssize_t _shape(self, const float *sym, Py_ssize_t ns) except -1:
        """Append the samples of ``ns`` symbols ((re, im) pairs at ``sym``): all up to
        (not including) the one that needs the symbol after the last (as
        :meth:`Modulator.modulate`)."""
        if not self.ready:
            raise RuntimeError("_init_shaper first")
        # at most (10 ns + 9) / 3 samples (see the header): room for 10 ns // 3 + 4
        cdef int16_t *o = self._room((ns * 10) // 3 + 4)
        cdef long n
        if self.NT == 28:
            n = fc_txshape_7(&self.bp, &self.spos, &self.pos, self.LP, self.P, self.tab,
                             self.ring, sym, ns, o)
        else:
            n = fc_txshape_any(&self.bp, &self.spos, &self.pos, self.LP, self.P,
                               self.NT // 4, self.tab, self.ring, sym, ns, o)
        self.blen += n
        return n

    def _modulate_symbols(self, const double complex[::1] symbols):
        """Append the samples of ``symbols`` (finite complex points, e.g. the training)."""
        cdef Py_ssize_t ns = symbols.shape[0], i
        if not self.ready:
            raise RuntimeError("_init_shaper first")
        cdef float *sb = self._scratch(ns)
        if ns and not np.all(np.isfinite(np.asarray(symbols))):
            raise ValueError("symbols must be finite")
        for i in range(ns):
            sb[2 * i] = <float>symbols[i].real
            sb[2 * i + 1] = <float>symbols[i].imag
        return self._shape(sb, ns)

    def _modulate_bits(self, const uint8_t[::1] bits):
        """Append the samples of data ``bits`` (whole symbols) coded by the encoder set
        with ``_init_v17`` / ``_init_v29``, continuing its state."""
        if bits.shape[0] == 0:
            return self._code(self.ones, 0)
        return self._code(&bits[0], bits.shape[0])

    cdef Py_ssize_t _code(self, const uint8_t *bits, Py_ssize_t n) except -1:
        """``_modulate_bits`` on the ``n`` bytes at ``bits``."""
        cdef Py_ssize_t ns, i, k
        cdef int j, q, lab, amp, tri
        cdef int bps = self.bps, t1 = self.t1
        cdef int diff = self.diff, conv = self.conv, ph = self.phase
        cdef uint32_t d, w, reg = _rev23(self.reg)
        # a symbol's bps scrambled bits at once, the first in time in bit 0 of d and w,
        # with the register kept bit-reversed here (reg bit i = the scramble23 register's
        # bit 22 - i, the oldest output in bit 0): bit j of w is d_j ^ r(t1 - j) ^ r(22 - j)
        # of scramble23's register before the symbol, = bit 22 - t1 + j and bit j of this
        # one, since j < bps <= tap = t1 + 1 puts every tap before the symbol; the new
        # outputs go in at the top. Exactly the one-bit recurrence (tested equal).
        cdef int sh1 = 22 - t1, top = 23 - bps
        cdef uint32_t wmask = (1u << bps) - 1
        cdef const uint8_t *rev = self.rev
        # the coder state in locals (written back below): the stores to the scratch
        # would otherwise make the compiler reload it from the object every symbol
        cdef const float *pre = self.pre
        cdef const float *pim = self.pim
        cdef const uint8_t *step = self.step
        if self.mode == 0 or not self.ready:
            raise RuntimeError("_init_shaper and _init_v17 or _init_v29 first")
        if n % bps:
            raise ValueError("bits must be whole symbols")
        ns = n // bps
        cdef float *sb = self._scratch(ns)
        k = 0
        if self.mode == 1:
            for i in range(ns):
                # k + bps <= n; eight bytes read only where k + 8 <= n
                d = fc_bits_lsb(&bits[k], bps, k + 8 <= n)
                k += bps
                w = (d ^ (reg >> sh1) ^ reg) & wmask
                reg = (reg >> bps) | (w << top)
                q = <int>w      # the word Q, first bit in time in bit 0
                # < 1 << (bps + 1) <= len(points), checked in _init_v17
                lab = _v17_label(q, &diff, &conv)
                sb[2 * i] = pre[lab]
                sb[2 * i + 1] = pim[lab]
        else:
            for i in range(ns):
                d = fc_bits_lsb(&bits[k], bps, k + 8 <= n)
                k += bps
                w = (d ^ (reg >> sh1) ^ reg) & wmask
                reg = (reg >> bps) | (w << top)
                q = rev[w]      # w < 16: the first bit in time as the MSB
                amp = (q >> 3) & 1 if bps == 4 else 0
                tri = q & 7
                ph = (ph + step[tri]) & 7
                # amp * 8 + ph < 16 (bps 4) or < 8 (bps 3) <= len(points): _init_v29
                lab = amp * 8 + ph
                sb[2 * i] = pre[lab]
                sb[2 * i + 1] = pim[lab]
        self.diff = diff
        self.conv = conv
        self.phase = ph
        self.reg = _rev23(reg)
        return self._shape(sb, ns)


cdef class Modulator:
    """Polyphase pulse shaper + carrier modulator: complex symbols in, int16 out.

    ``taps`` is the pulse at 24 kHz (10 samples per symbol); output sample n uses the
    symbols k with 3n - 10k inside the pulse."""

    cdef double[:, ::1] coef       # [10][L], each row reversed (oldest symbol's tap first)
    cdef int L
    cdef double[::1] sre, sim      # symbol history ring (2*L, duplicated)
    cdef int spos
    cdef int baud_phase
    cdef double gain, cre, cim, stc, sts

    def __init__(self, double[::1] taps, double carrier_hz, double gain):
        if taps.shape[0] < 1 or taps.shape[0] > 10000 or not np.all(np.isfinite(taps)):
            raise ValueError("pulse must have 1..10000 finite taps")
        if not np.isfinite(gain) or not np.isfinite(carrier_hz):
            raise ValueError("gain and carrier must be finite")
        cdef int L = (taps.shape[0] + 9) // 10
        cdef int r, i
        self.L = L
        c = np.zeros((10, L))
        for r in range(10):
            for i in range(L):
                if r + 10 * i < taps.shape[0]:
                    c[r, L - 1 - i] = taps[r + 10 * i]
        self.coef = c
        self.sre = np.zeros(2 * L)
        self.sim = np.zeros(2 * L)
        self.spos = 0
        self.baud_phase = 0
        self.cre = 1.0
        self.cim = 0.0
        self.stc = cos(2.0 * np.pi * carrier_hz / 8000.0)
        self.sts = sin(2.0 * np.pi * carrier_hz / 8000.0)
        self.gain = gain

    def modulate(self, const double complex[::1] symbols):
        """All samples up to (not including) the one that needs the symbol after the
        last one given. Returns int16 array (about 10/3 samples per symbol)."""
        cdef Py_ssize_t ns = symbols.shape[0], k = 0
        cdef Py_ssize_t cap = (ns * 10) // 3 + 4
        out = np.empty(cap, np.int16)
        cdef int16_t[::1] o = out
        cdef Py_ssize_t n = 0
        cdef int L = self.L
        cdef double xr, xi, v, cr, mag, w
        cdef int t
        # rows of coef and the rings through plain pointers: a memoryview slice per
        # sample costs a reference count and a struct copy (same arithmetic either way);
        # the running state in locals (written back below), not reloaded from the object
        # after every store to the rings
        cdef double *sre = &self.sre[0]
        cdef double *sim = &self.sim[0]
        cdef const double *coef = &self.coef[0, 0]
        cdef int bp = self.baud_phase, spos = self.spos
        cdef double cre, cim, stc = self.stc, sts = self.sts, gain = self.gain
        mag = sqrt(self.cre * self.cre + self.cim * self.cim)
        cre = self.cre / mag
        cim = self.cim / mag
        while True:
            if bp + 3 >= 10:
                if k >= ns:
                    break
                bp -= 7
                spos += 1         # (spos + 1) % L without a division per symbol
                if spos >= L:
                    spos = 0
                sre[spos] = symbols[k].real
                sre[spos + L] = symbols[k].real
                sim[spos] = symbols[k].imag
                sim[spos + L] = symbols[k].imag
                k += 1
            else:
                bp += 3
            # newest symbol at spos + L, i-th older at spos + L - i (tap i, stored at
            # L - 1 - i): the ring read forward from spos + 1 (spos + L <= 2 L - 1);
            # row bp (0..9) of the [10][L] table
            fc_fir2(coef + bp * L, &sre[spos + 1], &sim[spos + 1], L, &xr, &xi)
            v = gain * (xr * cre - xi * cim)
            # carrier phasor: rotate by the per-sample step (renormalised per call)
            cr = cre * stc - cim * sts
            cim = cre * sts + cim * stc
            cre = cr
            if v > 32767.0:
                v = 32767.0
            elif v < -32768.0:
                v = -32768.0
            elif not (v == v):
                v = 0.0   # NaN symbols given: a NaN cast to int16 is undefined behaviour
            # floor(v + 0.5) without the libm call (no SSE4.1 at -O3): v is in
            # [-32768, 32767] here, so the truncation fits an int and is floor's result
            # or one above it (negative non-integers)
            w = v + 0.5
            t = <int>w
            if t > w:
                t -= 1
            o[n] = <int16_t>t
            n += 1
        self.baud_phase = bp
        self.spos = spos
        self.cre = cre
        self.cim = cim
        return out[:n]


# --------------------------------------------------------------------------- receive


cdef class QamReceiver:
    """Configured by :mod:`faxcore.modem.v29` / :mod:`faxcore.modem.v17`; see module doc."""

    # --- configuration
    cdef int mode                 # 0 = V.29 slicer, 1 = V.17 Viterbi
    cdef int bps                  # data bits per symbol
    cdef float[:, ::1] hre, him   # filter bank [P+1][NP], each row reversed, zeros first,
                                  # float32 (see _vec.pxd)
    cdef int N, P, NP             # taps, phases, taps padded to a multiple of 4
    cdef double on_thresh, off_thresh, pw_alpha
    cdef uint32_t dphase_nom
    cdef double[::1] cos_t, sin_t
    cdef double abab_re[2]
    cdef double abab_im[2]
    cdef double abab_power
    cdef double[::1] tr_re, tr_im  # known training symbols after ABAB
    cdef int tr_len
    cdef int check_len            # symbols of scrambled ones after the known sequence
    cdef uint32_t desc_reg0       # descrambler register at the start of the ones
    cdef int tap
    cdef int diff0                # V.17 differential state / V.29 phase at ones start
    # constellation: points by label, grid lookup tables
    cdef double[::1] pt_re, pt_im
    cdef uint8_t[:, :, ::1] grid  # [G][grid][grid]: G=1 (V.29) or 9 (V.17 all + 8 subsets)
    cdef int gsize
    cdef double gscale, goff
    cdef double const_power
    cdef uint8_t[::1] v29_bits    # V.29: phase step -> tribit
    cdef int v29_outer            # 1 if the amplitude bit is used
    cdef int v17_next[8][4]
    # the same trellis by destination: state ns is reached from pv_s[ns][k] on subset
    # pv_sub[ns][k], k < pv_n[ns] (<= 32), in the order (s, y) ascending
    cdef int pv_n[8]
    cdef uint8_t pv_s[8][32]
    cdef uint8_t pv_sub[8][32]
    # --- gains
    cdef double tim_kp_fast, tim_kp, tim_ki, tim_ki_fast
    cdef double pll_a_train, pll_b_train, pll_a, pll_b
    cdef double eq_mu_train, eq_mu
    cdef double fail_ratio
    cdef double min_snr           # training fails below this measured SNR (linear)
    cdef double tr_err, tr_pow    # error / reference power over the end of the training
    cdef double train_snr
    cdef int snr_check            # 1: the SNR also counts the decisions after the training
    cdef int snr_end              # ... judged once this many symbols after it are decoded
    cdef int snr_symbols          # (the check segment's and this many more)
    cdef int snr_end_late         # below the gate then: judged again here (0: no second look)
    cdef double min_snr_late      # ... against this gate
    # lock monitor (data mode): running mean of the per-symbol decision metric (V.29: the
    # slicer's error energy; V.17: the growth of the best Viterbi path metric)
    cdef double lk_alpha          # EMA weight per symbol
    cdef double lk_thresh         # metric above which the signal is lost (0 = off)
    cdef double lk_ema
    cdef public double lk_peak    # worst (largest) lk_ema seen in data this burst
    cdef int hold_bits            # bits held back until hold_bits newer ones exist
    cdef int lk_grace             # symbols of suspicion before the loss is declared
    cdef int lk_end_grace         # ... or, at carrier down, before the bits held are dropped
    cdef int lk_suspect           # symbols since the suspicion began (-1: none)
    cdef double lk_base           # lk_ema when bits were last committed (the locked level)
    cdef double lk_rec            # this suspicion ends when lk_ema stays under this ...
    cdef double lk_rec_ratio      # (recover_ratio x the line, or a little over lk_base)
    cdef int lk_below             # symbols in a row under lk_rec so far
    cdef int lk_recover           # ... for this many symbols
    cdef double lk_clip           # per-symbol metric clipped here before the slow mean
    cdef double lk_fast           # fast running mean (8 symbols): is a hit going on?
    cdef double lk_freeze         # lk_fast above this freezes every adaptation (0 = off)
    cdef double lk_pfast          # fast running mean (16 symbols) of the symbol power
    cdef double lk_ploud          # lk_pfast above this with lk_fast over the line: a hit
    cdef int frozen               # 1 while a hit is going on: no LMS, no loop updates
    cdef public long long hits    # hits survived this burst (suspicion that went away)
    cdef public long long frozen_symbols  # data symbols demodulated with adaptation frozen
    cdef public double tim_total      # sum of timing corrections this burst (samples)
    # --- run state
    cdef public long long nsamples
    cdef int state
    cdef double pw
    cdef int carrier
    cdef double p_ref             # settled power at the start of this training attempt
    cdef double p_floor           # lowest power since the carrier went off
    cdef double p_acq             # highest power since this acquisition (re)started
    cdef int p_cnt
    cdef float xbuf[2 * XBUF]     # the input (int16 values: exact in float32)
    cdef int xpos
    cdef uint32_t phase, dphase
    cdef double freq_acc          # carrier frequency correction (NCO units per sample)
    cdef double t_next
    cdef double half_step
    cdef double tim_acc
    cdef int on_time
    cdef double mid_re, mid_im, prev_re, prev_im
    cdef double pnorm
    cdef double agc
    cdef int L, center
    cdef double eqc_re[EQ_MAX]
    cdef double eqc_im[EQ_MAX]
    cdef double eql_re[2 * EQ_MAX]
    cdef double eql_im[2 * EQ_MAX]
    cdef int eqpos
    cdef double eq_energy         # sum |u|^2 over the equaliser line (kept running)
    cdef int eq_energy_n          # updates since it was last summed afresh
    cdef double eq_nominal        # L x const_power: its level with the AGC right
    cdef double z2_max            # |z|^2 above this: the equaliser has blown up
    cdef long long sym
    cdef double z1_re, z1_im, z2_re, z2_im   # previous two equaliser outputs
    cdef double f_re, f_im, v_par, pz_acc, v_abs
    cdef double pz_first          # pz_acc over the first half of the ABAB window
    cdef int pz_n
    cdef double ph_re, ph_im
    cdef int parity                # which parity of sym is symbol A
    cdef double win_re[8]
    cdef int win_n
    cdef int tr_idx
    cdef long long sidx            # symbol index from the start of the ones
    cdef uint32_t desc_reg
    cdef int diff
    cdef int check_bits, check_zeros
    cdef double mse_acc
    cdef int mse_n
    cdef double last_err
    # Viterbi
    cdef double pm[8]
    cdef uint8_t path[2][8][PATH_LEN]   # survivor labels per state, newest first (pcur: now)
    cdef int pcur
    cdef double tb_zre[TB_MAX]
    cdef double tb_zim[TB_MAX]
    cdef int pll_viterbi           # V.17: carrier loop driven by the Viterbi decisions
    cdef int tb_pos, tb_fill, tb_depth
    # output
    cdef uint8_t[::1] obits
    cdef uint8_t *obuf            # &obits[0], capacity ocap: set whenever obits is made
    cdef Py_ssize_t ocap
    cdef int ev_code[EV_MAX]      # events of this rx() call not yet in ``events``
    cdef long long ev_t[EV_MAX]
    cdef int ev_n
    cdef readonly Py_ssize_t onb
    cdef readonly Py_ssize_t ocommit   # obits[:ocommit] may be handed out
    cdef readonly list events

    def __init__(self, dict cfg):
        cdef int i, j, k
        self.mode = cfg["mode"]
        self.bps = cfg["bits_per_symbol"]
        h = np.ascontiguousarray(cfg["filter"], dtype=np.complex128)
        if h.ndim != 2 or h.shape[0] < 2 or h.shape[1] < 1 or not np.all(np.isfinite(h)):
            raise ValueError("filter bank must be a finite [P+1][N] array, P >= 1")
        self.P = h.shape[0] - 1
        self.N = h.shape[1]
        if self.N > XBUF:
            raise ValueError("filter too long")
        # rows reversed (oldest sample's tap first: the input ring is read forward) and
        # padded with leading zero taps to a multiple of 4 (NP <= XBUF, XBUF a multiple of 4)
        self.NP = (self.N + 3) & ~3
        hrev = np.zeros((self.P + 1, self.NP), np.complex128)
        hrev[:, self.NP - self.N:] = h[:, ::-1]
        self.hre = np.ascontiguousarray(hrev.real, dtype=np.float32)
        self.him = np.ascontiguousarray(hrev.imag, dtype=np.float32)
        self.on_thresh = cfg["on_power"]
        self.off_thresh = cfg["off_power"]
        self.pw_alpha = 1.0 / 32.0
        self.dphase_nom = <uint32_t>int(round(cfg["carrier_hz"] / 8000.0 * 4294967296.0))
        ang = 2.0 * np.pi * np.arange(1 << NCO_BITS) / (1 << NCO_BITS)
        self.cos_t = np.cos(ang)
        self.sin_t = np.sin(ang)
        ab = cfg["abab"]
        for i in range(2):
            self.abab_re[i] = ab[i].real
            self.abab_im[i] = ab[i].imag
        self.abab_power = (abs(ab[0]) ** 2 + abs(ab[1]) ** 2) / 2.0
        tr = np.ascontiguousarray(cfg["training"], dtype=np.complex128).reshape(-1)
        self.tr_re = np.ascontiguousarray(tr.real)
        self.tr_im = np.ascontiguousarray(tr.imag)
        self.tr_len = tr.shape[0]
        if self.tr_len < 8:
            raise ValueError("training sequence too short")
        self.check_len = cfg["check_len"]
        if self.check_len < 1:
            raise ValueError("check_len must be >= 1")
        self.desc_reg0 = cfg["descrambler_reg"]
        self.tap = cfg.get("tap", 18)
        if self.tap < 1 or self.tap > 22:
            raise ValueError("scrambler tap must be 1..22")   # shifts stay < 32
        self.diff0 = cfg["diff0"]
        pts = np.ascontiguousarray(cfg["points"], dtype=np.complex128).reshape(-1)
        if pts.shape[0] < 1 or pts.shape[0] > 256 or not np.all(np.isfinite(pts)):
            raise ValueError("constellation must have 1..256 finite points")
        self.pt_re = np.ascontiguousarray(pts.real)
        self.pt_im = np.ascontiguousarray(pts.imag)
        self.const_power = float(cfg.get("const_power", np.mean(np.abs(pts) ** 2)))
        g = np.ascontiguousarray(cfg["grid"], dtype=np.uint8)
        if g.ndim != 3 or g.shape[0] < 1 or g.shape[1] < 1 or g.shape[2] != g.shape[1]:
            raise ValueError("decision grids must be [G][n][n]")
        if int(g.max()) >= pts.shape[0]:
            raise ValueError("grid label out of range")
        self.grid = g
        self.gsize = g.shape[1]
        self.gscale = cfg["grid_scale"]
        self.goff = cfg["grid_offset"]
        self.v29_bits = np.ascontiguousarray(cfg.get("v29_bits", np.zeros(8, np.uint8)),
                                             dtype=np.uint8)
        if self.v29_bits.shape[0] != 8 or int(np.max(self.v29_bits)) > 7:
            raise ValueError("v29_bits must map 8 phase steps to tribits")
        self.v29_outer = cfg.get("v29_outer", 0)
        if self.mode == 0 and pts.shape[0] < (16 if self.v29_outer else 8):
            raise ValueError("V.29 needs 8 (or 16) points")
        nxt = cfg.get("v17_next")
        if nxt is not None:
            nxt = np.asarray(nxt)
            if nxt.shape != (8, 4) or np.min(nxt) < 0 or np.max(nxt) > 7:
                raise ValueError("trellis next-state table out of range")
        if self.mode == 1 and (nxt is None or g.shape[0] != 9):
            raise ValueError("V.17 needs the trellis table and 9 decision grids")
        if self.bps < 2 or self.bps > 6:
            raise ValueError("bits per symbol out of range")
        for i in range(8):
            for j in range(4):
                self.v17_next[i][j] = int(nxt[i][j]) if nxt is not None else 0
        for i in range(8):
            self.pv_n[i] = 0
        for i in range(8):
            for j in range(4):
                k = self.v17_next[i][j]         # 0..7 (checked above); at most 32 in all
                self.pv_s[k][self.pv_n[k]] = <uint8_t>i
                self.pv_sub[k][self.pv_n[k]] = <uint8_t>((j << 1) | (i & 1))
                self.pv_n[k] += 1
        self.tim_kp_fast = cfg.get("tim_kp_fast", 0.25)
        self.tim_kp = cfg.get("tim_kp", 0.016)
        self.tim_ki = cfg.get("tim_ki", 0.00008)
        self.tim_ki_fast = cfg.get("tim_ki_fast", 0.00008)
        self.pll_a_train = cfg.get("pll_a_train", 0.1)
        self.pll_b_train = cfg.get("pll_b_train", 0.004)
        self.pll_a = cfg.get("pll_a", 0.02)
        self.pll_b = cfg.get("pll_b", 0.0002)
        self.eq_mu_train = cfg.get("eq_mu_train", 0.1)
        self.eq_mu = cfg.get("eq_mu", 0.002)
        self.fail_ratio = cfg.get("fail_ratio", 0.03)
        self.pll_viterbi = cfg.get("pll_viterbi", 1)
        self.min_snr = 10.0 ** (cfg.get("min_snr_db", 0.0) / 10.0)
        self.snr_check = 1 if cfg.get("snr_with_check", False) else 0
        self.snr_symbols = int(cfg.get("snr_symbols", 0))
        if self.snr_symbols < 0 or self.snr_symbols > 100000:
            raise ValueError("snr_symbols out of range")
        self.snr_end = self.check_len + self.snr_symbols
        late = int(cfg.get("snr_symbols_late", 0))
        if late != 0 and (late <= self.snr_symbols or late > 100000):
            raise ValueError("snr_symbols_late must be 0 or above snr_symbols")
        self.snr_end_late = self.check_len + late if late else 0
        self.min_snr_late = 10.0 ** (cfg.get("min_snr_late_db", cfg.get("min_snr_db", 0.0)) / 10.0)
        lost_db = cfg.get("lost_snr_db", None)
        self.lk_thresh = (self.const_power / 10.0 ** (lost_db / 10.0)) if lost_db is not None else 0.0
        self.lk_alpha = 1.0 / cfg.get("lock_window", 32)
        self.hold_bits = cfg.get("hold_symbols", 64) * self.bps
        self.lk_grace = cfg.get("lost_grace", 600)
        if self.lk_grace < 1 or self.lk_grace > 100000:
            raise ValueError("lost_grace out of range")
        self.lk_end_grace = cfg.get("end_grace", 64)
        if self.lk_end_grace < 1 or self.lk_end_grace > 100000:
            raise ValueError("end_grace out of range")
        self.lk_recover = cfg.get("recover_symbols", 32)
        if self.lk_recover < 1 or self.lk_recover > 100000:
            raise ValueError("recover_symbols out of range")
        self.lk_rec_ratio = cfg.get("recover_ratio", 0.5)
        self.lk_clip = self.lk_thresh * cfg.get("lock_clip", 16.0)
        self.lk_freeze = self.lk_thresh * cfg.get("freeze_ratio", 2.0)
        self.lk_ploud = self.const_power * cfg.get("hit_power_ratio", 1.4)
        if self.hold_bits < 0 or self.hold_bits > 100000:
            raise ValueError("hold_symbols out of range")
        self.L = cfg.get("eq_len", 17)
        if self.L > EQ_MAX or self.L < 3:
            raise ValueError("bad equaliser length")
        self.center = (self.L // 2) & ~1
        self.tb_depth = cfg.get("traceback", 24)
        if self.tb_depth < 1 or self.tb_depth >= TB_MAX - 1 or self.tb_depth >= PATH_LEN:
            raise ValueError("traceback must be 1..%d" % (TB_MAX - 2))
        self.pcur = 0
        self.eq_nominal = self.L * self.const_power
        if not (self.const_power > 0.0) or not np.isfinite(self.const_power):
            raise ValueError("const_power must be > 0")
        # The largest equaliser input: full-scale input through the largest filter row,
        # at the largest AGC gain. Taps summing to 16 times the identity's on such input
        # are far past any equaliser that converged: it has blown up.
        self.z2_max = (16.0 * AGC_MAX * 32768.0 * float(np.max(np.sum(np.abs(h), axis=1)))) ** 2
        self.half_step = 8000.0 / 4800.0
        self.nsamples = 0
        self.obits = np.zeros(4096, np.uint8)
        self.obuf = &self.obits[0]
        self.ocap = self.obits.shape[0]
        self.ev_n = 0
        self.onb = 0
        self.ocommit = 0
        self.events = []
        self.pw = 0.0
        self.p_floor = 0.0
        self.carrier = 0
        self.xpos = 0
        for i in range(2 * XBUF):
            self.xbuf[i] = 0.0
        self.phase = 0
        self._reset_burst()

    cdef void _reset_burst(self) noexcept:
        cdef int i
        self.state = ST_IDLE
        self.p_acq = 0.0
        self.dphase = self.dphase_nom
        self.freq_acc = 0.0
        self.t_next = self.half_step
        self.tim_acc = 0.0
        self.on_time = 0
        self.mid_re = self.mid_im = self.prev_re = self.prev_im = 0.0
        self.pnorm = 0.0
        self.agc = 1.0
        for i in range(EQ_MAX):
            self.eqc_re[i] = 0.0
            self.eqc_im[i] = 0.0
        for i in range(2 * EQ_MAX):
            self.eql_re[i] = 0.0
            self.eql_im[i] = 0.0
        # coefficients stored oldest-sample first: entry L - 1 - i is tap i (see _half)
        self.eqc_re[self.L - 1 - self.center] = 1.0
        self.eqpos = 0
        self.eq_energy = 0.0
        self.eq_energy_n = 0
        self.sym = 0
        self.z1_re = self.z1_im = self.z2_re = self.z2_im = 0.0
        self.f_re = self.f_im = self.v_par = self.pz_acc = self.v_abs = 0.0
        self.pz_first = 0.0
        self.pz_n = 0
        self.ph_re = self.ph_im = 0.0
        self.parity = 0
        self.win_n = 0
        self.tr_idx = 0
        self.sidx = 0
        self.check_bits = self.check_zeros = 0
        self.mse_acc = 0.0
        self.mse_n = 0
        self.tr_err = 0.0
        self.tr_pow = 0.0
        self.train_snr = 0.0
        self.tim_total = 0.0
        self.lk_ema = 0.0
        self.lk_peak = 0.0
        self.lk_suspect = -1
        self.lk_fast = 0.0
        self.lk_pfast = 0.0
        self.frozen = 0
        self.lk_base = 0.0
        self.lk_rec = 0.0
        self.lk_below = 0
        self.hits = 0
        self.frozen_symbols = 0

    # ------------------------------------------------------------------ python API

    def restart(self):
        """Forget the current burst (keeps the equaliser saved from the last training)."""
        self.ocommit = self.onb
        self._reset_burst()
        self.carrier = 0

    def take_bits(self):
        """The committed bits (those with hold_symbols newer symbols behind them, or all
        of them once the burst has ended); the rest stay until they are committed or
        dropped because the signal was lost."""
        cdef Py_ssize_t c = self.ocommit, r = self.onb - self.ocommit
        cdef cnp.npy_intp dim = c
        # made through the C API (no np.empty lookup, no memoryview): called every block
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_UINT8, 0)
        # 0 <= c <= onb <= len(obits): the copies stay inside both buffers (out holds c)
        if c > 0:
            memcpy(cnp.PyArray_DATA(out), self.obuf, c)
            if r > 0:
                memmove(self.obuf, self.obuf + c, r)
        self.onb = r
        self.ocommit = 0
        return out

    def take_events(self):
        ev = self.events
        self.events = []
        return ev

    @property
    def trained(self):
        return self.state == ST_DATA

    @property
    def state_code(self):
        return self.state

    @property
    def carrier_on(self):
        return bool(self.carrier)

    def diagnostics(self):
        return {
            "state": self.state,
            "freq_offset_hz": (<double>(<int32_t>(self.dphase - self.dphase_nom)))
            / 4294967296.0 * 8000.0,
            "timing_acc": self.tim_acc,
            "agc": self.agc,
            "mse": self.mse_acc / self.mse_n if self.mse_n else -1.0,
            "check": (self.check_zeros, self.check_bits),
            "train_snr_db": 10.0 * np.log10(self.train_snr) if self.train_snr > 0 else -99.0,
            "lock_snr_db": 10.0 * np.log10(self.const_power / self.lk_ema) if self.lk_ema > 0 else 99.0,
            "lock_worst_db": 10.0 * np.log10(self.const_power / self.lk_peak) if self.lk_peak > 0 else 99.0,
            "hit": {"fast_metric": self.lk_fast / self.lk_thresh if self.lk_thresh > 0 else 0.0,
                    "fast_power": self.lk_pfast / self.const_power, "frozen": self.frozen,
                    "below": self.lk_below, "hits": self.hits,
                    "suspect": self.lk_suspect},
            "parity": self.parity, "v_par": self.v_par, "pz": self.pz_acc / max(self.pz_n, 1),
            "ph": atan2(self.ph_im, self.ph_re), "win_n": self.win_n, "sym": self.sym,
        }

    def rx(self, const int16_t[::1] samples):
        cdef Py_ssize_t i, n = samples.shape[0]
        cdef double x, mu, yr, yi, c, s, br, bi
        cdef int p, NP = self.NP
        cdef float *hr
        cdef float *hi
        cdef uint32_t idx, ph, dph
        cdef double pw, npw, tn, off, pcut, alpha = self.pw_alpha
        cdef int xp
        self._reserve(n)
        i = -1
        while True:
            i += 1
            if i >= n:
                break
            if self.carrier and self.state == ST_DATA:
                # Data, the usual case: the samples that neither drop the carrier nor
                # complete a T/2 output only update the power meter, the input ring,
                # the NCO and the timing countdown, kept in registers here (the same
                # arithmetic as below). The sample that does one of those goes on below.
                pw = self.pw
                tn = self.t_next
                xp = self.xpos
                ph = self.phase
                dph = self.dphase
                off = self.off_thresh
                pcut = 0.05 * self.p_ref if self.p_cnt >= 96 else -1.0
                while i < n:
                    x = samples[i]
                    npw = pw + (x * x - pw) * alpha
                    if npw < off or npw < pcut or not (tn - 1.0 > 0.0):
                        break
                    pw = npw
                    xp = (xp + 1) & (XBUF - 1)
                    self.xbuf[xp] = x
                    self.xbuf[xp + XBUF] = x
                    ph += dph
                    tn -= 1.0
                    i += 1
                self.pw = pw
                self.t_next = tn
                self.xpos = xp
                self.phase = ph
                if i >= n:
                    break
            # a sample raises at most 6 events (carrier down with a training judged,
            # failed or a signal lost; then one symbol's): flushed well before EV_MAX
            if self.ev_n > EV_MAX - 16:
                self._flush_events()
            x = samples[i]
            self.pw += (x * x - self.pw) * self.pw_alpha
            if self.carrier:
                # off below the absolute threshold, or 13 dB under the burst's level
                # (a burst that ends into a noise floor above the off threshold)
                if self.pw < self.off_thresh or (self.p_cnt >= 96 and self.pw < 0.05 * self.p_ref):
                    self.carrier = 0
                    # a carrier that drops while the known sequence was being trained on
                    # is a failed training; one that drops before that (a TEP tone, a
                    # noise burst) was never a training attempt
                    if self.state == ST_CHECK and self.sidx >= self.check_len:
                        # a burst that ends while its SNR is still being judged (its check
                        # segment passed): judged on what there was
                        self._end_snr(self.nsamples + i)
                    if self.state == ST_TRAIN or self.state == ST_CHECK:
                        self.onb = self.ocommit   # nothing of a burst never judged
                        self._event(EV_TRAINING_FAILED, self.nsamples + i)
                    if (self.state == ST_DATA and self.lk_suspect >= self.lk_end_grace
                            and self.lk_fast > 0.7 * self.lk_thresh):
                        # a suspicion that had lasted a while when the carrier dropped,
                        # with no sign of the signal coming back: the signal was gone
                        # before the carrier (not just the burst's end fading out):
                        # as a loss with the carrier up, the bits held are dropped
                        self.onb = self.ocommit
                        self._event(EV_SIGNAL_LOST, self.nsamples + i)
                    self.ocommit = self.onb   # the burst ended normally: release every bit
                    self._event(EV_CARRIER_DOWN, self.nsamples + i)
                    self._reset_burst()
                    self.p_floor = self.pw
            elif self.pw < self.p_floor:
                self.p_floor = self.pw
            elif self.pw > self.on_thresh and self.pw > 8.0 * self.p_floor:
                self.carrier = 1
                self._reset_burst()
                self.state = ST_ACQUIRE
                self.p_ref = self.pw
                self.p_cnt = 0
                self._event(EV_CARRIER_UP, self.nsamples + i)
            if self.carrier and self.state != ST_DATA:
                # A burst that starts on top of a noise floor above the carrier-on
                # threshold: a jump of 9 dB over the settled level restarts training.
                if self.p_cnt < 96:
                    self.p_cnt += 1
                    if self.pw > self.p_ref:
                        self.p_ref = self.pw
                elif self.pw > 8.0 * self.p_ref:
                    self._reset_burst()
                    self.state = ST_ACQUIRE
                    self.p_ref = self.pw
                    self.p_cnt = 0
                # And a fall of 9 dB before the training proper: the acquisition was
                # made on a louder signal (or its transient) that has ended, maybe
                # straight into the training of this one (no gap for the carrier
                # detector): start it over, quietly, on what follows.
                if self.state == ST_ACQUIRE or self.state == ST_WAIT_TRANSITION:
                    if self.pw > self.p_acq:
                        self.p_acq = self.pw
                    elif self.pw < 0.125 * self.p_acq:
                        self._restart_acquire()
            self.xpos = (self.xpos + 1) & (XBUF - 1)
            self.xbuf[self.xpos] = x
            self.xbuf[self.xpos + XBUF] = x
            self.phase += self.dphase
            if not self.carrier or self.state == ST_FAILED:
                continue
            self.t_next -= 1.0
            if self.t_next > 0.0:
                continue
            # output at fractional position mu samples before the newest sample
            mu = -self.t_next
            if not (mu >= 0.0):
                # cannot happen with finite timing corrections; the check keeps p a row
                # of the filter bank even if a NaN ever got in (bounds checks are off)
                mu = 0.0
                self.t_next = 0.0
            elif mu > 1.0:
                mu = 1.0
            p = <int>(mu * self.P + 0.5)
            hr = &self.hre[p, 0]
            hi = &self.him[p, 0]
            # the NP newest samples, oldest first: xbuf[xpos + XBUF - NP + 1 ..
            # xpos + XBUF], inside the ring as NP <= XBUF and 0 <= xpos < XBUF
            fc_fir2f(&self.xbuf[self.xpos + XBUF - NP + 1], hr, hi, NP, &yr, &yi)
            idx = self.phase >> (32 - NCO_BITS)
            c = self.cos_t[idx]
            s = self.sin_t[idx]
            br = (yr * c + yi * s) * self.agc
            bi = (yi * c - yr * s) * self.agc
            self.t_next += self.half_step
            self._half(br, bi, self.nsamples + i)
        self.nsamples += n
        if self.ev_n:
            self._flush_events()

    # ------------------------------------------------------------------ internals

    cdef inline void _put_bit(self, int b) noexcept:
        # rx() made room for every bit one call can demodulate (see _reserve); the check
        # keeps the write inside the buffer regardless
        if self.onb < self.ocap:
            self.obuf[self.onb] = <uint8_t>b
            self.onb += 1

    cdef int _reserve(self, Py_ssize_t n) except -1:
        """Room in ``obits`` for the bits of ``n`` more samples: each sample gives at most
        one T/2 output (``t_next`` drops by 1 per sample and only an output at
        ``t_next <= 0`` raises it), two of them one symbol, and a symbol at most 7 bits
        (V.17 bps <= 6, V.29 at most 4)."""
        cdef Py_ssize_t need = self.onb + (n // 2 + 2) * 8
        cdef Py_ssize_t cap = self.obits.shape[0]
        if need <= cap:
            return 0
        while cap < need:
            cap *= 2
        new = np.zeros(cap, np.uint8)
        new[:self.onb] = self.obits[:self.onb]
        self.obits = new
        self.obuf = &self.obits[0]
        self.ocap = cap
        return 0

    cdef inline void _event(self, int code, long long t) noexcept:
        # rx() flushes the buffer to ``events`` before it can fill (at most 6 events
        # per sample: see rx); the check keeps the write inside regardless
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

    cdef void _half(self, double ur, double ui, long long t) noexcept:
        cdef int i, k
        cdef double e, zr, zi, kp, en
        self.eqpos = (self.eqpos + 1) % self.L
        # running line energy: the new sample in, the one it overwrites (the oldest) out;
        # summed afresh now and then so that rounding cannot pile up
        self.eq_energy_n += 1
        if self.eq_energy_n >= 1024:
            self.eq_energy_n = 0
            en = ur * ur + ui * ui
            for i in range(1, self.L):
                k = self.eqpos + i
                en += self.eql_re[k] * self.eql_re[k] + self.eql_im[k] * self.eql_im[k]
            self.eq_energy = en
        else:
            self.eq_energy += (ur * ur + ui * ui - self.eql_re[self.eqpos] * self.eql_re[self.eqpos]
                               - self.eql_im[self.eqpos] * self.eql_im[self.eqpos])
        self.eql_re[self.eqpos] = ur
        self.eql_im[self.eqpos] = ui
        self.eql_re[self.eqpos + self.L] = ur
        self.eql_im[self.eqpos + self.L] = ui
        self.on_time ^= 1
        if not self.on_time:
            self.mid_re = ur
            self.mid_im = ui
            return
        # Gardner timing error, normalised by the running signal power
        self.pnorm += ((ur * ur + ui * ui) - self.pnorm) * (0.25 if self.sym < 8 else 0.03)
        if self.pnorm > 0.0:
            e = (self.mid_re * (self.prev_re - ur) + self.mid_im * (self.prev_im - ui)) / self.pnorm
            if e > 1.0:
                e = 1.0
            elif e < -1.0:
                e = -1.0
            elif not (e == e):
                e = 0.0   # keeps t_next (and so the filter row) finite
            kp = self.tim_kp_fast if self.state == ST_ACQUIRE else self.tim_kp
            if self.frozen:
                # a hit: the timing error is noise; coast on the clock-offset estimate
                kp = 0.0
                e = 0.0
            if self.state != ST_ACQUIRE:
                # clock-offset integrator: fast while training and for the first data
                # symbols (a short train leaves it little time), then slow (less jitter)
                if self.state == ST_DATA and self.sidx > 800:
                    self.tim_acc += self.tim_ki * e
                else:
                    self.tim_acc += self.tim_ki_fast * e
                # the clock offsets we follow are far below 0.2 % (6.7e-3 samples/symbol)
                if self.tim_acc > 0.0067:
                    self.tim_acc = 0.0067
                elif self.tim_acc < -0.0067:
                    self.tim_acc = -0.0067
            self.t_next += kp * e + self.tim_acc
            self.tim_total += kp * e + self.tim_acc
        self.prev_re = ur
        self.prev_im = ui
        # equaliser output: newest sample at eqpos + L, tap i applies to the i-th newest;
        # read forward from the oldest (eqpos + 1) with the coefficients stored reversed
        fc_cdot(&self.eqc_re[0], &self.eqc_im[0], &self.eql_re[self.eqpos + 1],
                &self.eql_im[self.eqpos + 1], self.L, &zr, &zi)
        if not (zr * zr + zi * zi <= self.z2_max):
            # NaN/inf or a blown-up equaliser (the LMS normalisation and the AGC clamp
            # are there so that this does not happen): nothing below may see it
            self._diverged(t)
            return
        self._symbol(zr, zi, t)
        self.sym += 1

    cdef void _diverged(self, long long t) noexcept:
        """The equaliser output is not finite or absurdly large: whatever got it there
        (hostile input), the burst cannot be demodulated. Before a training was attempted
        start over quietly; during the training it failed; in data the signal is lost."""
        if self.state == ST_ACQUIRE or self.state == ST_WAIT_TRANSITION:
            self._restart_acquire()
        elif self.state == ST_TRAIN or self.state == ST_CHECK:
            self._fail(t)
        elif self.state == ST_DATA:
            self._lost(t)

    cdef void _eq_update(self, double er, double ei, double mu) noexcept:
        """LMS: c += mu * err * conj(u), normalised by taps x constellation power (the
        line energy with the AGC right), or by a quarter of the actual line energy when
        that is larger: with the AGC right it never is (measured: at most 2x nominal), but
        a signal far louder than the AGC expected would otherwise make the LMS unstable
        and blow the taps up to inf/NaN (an NLMS step of at most 4 mu instead)."""
        cdef double nrm = self.eq_nominal
        if self.eq_energy > EQ_HEADROOM * nrm:
            nrm = self.eq_energy / EQ_HEADROOM
        cdef double g = mu / nrm
        er *= g
        ei *= g
        # coefficient L - 1 - i (tap i) against the i-th newest sample, eqpos + L - i
        fc_lms(&self.eqc_re[0], &self.eqc_im[0], &self.eql_re[self.eqpos + 1],
               &self.eql_im[self.eqpos + 1], self.L, er, ei)

    cdef void _pll(self, double zr, double zi, double dr, double di, double a, double b) noexcept:
        """Carrier loop: phase error = angle(z conj(d)); rotate the NCO."""
        cdef double d2 = dr * dr + di * di
        cdef double err
        if d2 <= 0.0:
            return
        err = (zi * dr - zr * di) / d2
        if err > 0.5:
            err = 0.5
        elif err < -0.5:
            err = -0.5
        elif not (err == err):
            return
        self.freq_acc += b * err * (4294967296.0 / 6.283185307179586) / (10.0 / 3.0)
        # keep the carrier search within +-40 Hz (the Recommendations ask for +-7 Hz)
        if self.freq_acc > 21474836.48:
            self.freq_acc = 21474836.48
        elif self.freq_acc < -21474836.48:
            self.freq_acc = -21474836.48
        self.phase += <uint32_t>_i32(a * err * (4294967296.0 / 6.283185307179586))
        self.dphase = self.dphase_nom + <uint32_t>_i32(self.freq_acc)

    cdef void _rotate(self, double ang) noexcept:
        """Turn the NCO by ``ang`` and the samples already in the equaliser with it, so
        the correction shows at once instead of after the equaliser's delay."""
        cdef int i
        cdef double c = cos(ang), s = sin(ang), r, m
        self.phase += <uint32_t>_i32(ang * (4294967296.0 / 6.283185307179586))
        for i in range(2 * self.L):
            r = self.eql_re[i]
            m = self.eql_im[i]
            self.eql_re[i] = r * c + m * s
            self.eql_im[i] = m * c - r * s
        r = self.mid_re
        m = self.mid_im
        self.mid_re = r * c + m * s
        self.mid_im = m * c - r * s
        r = self.prev_re
        m = self.prev_im
        self.prev_re = r * c + m * s
        self.prev_im = m * c - r * s

    cdef inline int _grid_index(self, double v) noexcept:
        # compared as a double before the cast (NaN or a huge value cast to int is
        # undefined behaviour in C); NaN goes to cell 0
        cdef double f = floor((v + self.goff) * self.gscale)
        if not (f >= 0.0):
            return 0
        if f >= self.gsize:
            return self.gsize - 1
        return <int>f

    cdef void _symbol(self, double zr, double zi, long long t) noexcept:
        cdef int k, j, lab
        cdef double er, ei, r
        cdef int par
        if self.state == ST_ACQUIRE:
            self._acquire(zr, zi)
        elif self.state == ST_WAIT_TRANSITION:
            # expected ABAB symbol for this symbol's parity
            par = <int>((self.sym + self.parity) & 1)
            # Every training sequence here starts with at least 8 symbols of -A -B -A -B:
            # a 180 degree reversal of the ABAB pattern. r = Re(z conj(expected)) / |expected|^2
            # is +1 in ABAB and -1 once the sequence starts; two reversed symbols in a row
            # mark the start (the first of them is training symbol 0).
            r = (zr * self.abab_re[par] + zi * self.abab_im[par]) / (
                self.abab_re[par] * self.abab_re[par] + self.abab_im[par] * self.abab_im[par])
            self.win_n += 1
            if self.win_n >= 2 and r < 0.0 and self.win_re[0] < 0.0 and r + self.win_re[0] < -1.0:
                self.state = ST_TRAIN
                self.tr_idx = 2
                if self.tr_idx >= self.tr_len:
                    self._start_check()
                return
            self.win_re[0] = r
            if r > 0.0:
                self._pll(zr, zi, self.abab_re[par], self.abab_im[par],
                          self.pll_a_train, self.pll_b_train)
            if self.win_n > 600:
                self._fail(t)
        elif self.state == ST_TRAIN:
            er = self.tr_re[self.tr_idx] - zr
            ei = self.tr_im[self.tr_idx] - zi
            # signal-to-noise measured on the last part of the known sequence
            if self.tr_idx >= self.tr_len - 256 and self.tr_idx >= 14:
                self.tr_err += er * er + ei * ei
                self.tr_pow += (self.tr_re[self.tr_idx] * self.tr_re[self.tr_idx]
                                + self.tr_im[self.tr_idx] * self.tr_im[self.tr_idx])
            self._eq_update(er, ei, self.eq_mu_train)
            self._pll(zr, zi, self.tr_re[self.tr_idx], self.tr_im[self.tr_idx],
                      self.pll_a_train, self.pll_b_train)
            self.tr_idx += 1
            if self.tr_idx >= self.tr_len:
                self._start_check()
        elif self.state == ST_CHECK or self.state == ST_DATA:
            self._data_symbol(zr, zi, t)

    cdef void _fail(self, long long t) noexcept:
        self.state = ST_FAILED
        self.onb = self.ocommit   # data decoded while the SNR was still being judged
        self._event(EV_TRAINING_FAILED, t)

    cdef void _acquire(self, double zr, double zi) noexcept:
        """ABAB segment: let timing settle, then estimate frequency, parity, level, phase."""
        cdef double cr, ci, rr, ri, v, fr, fi, a, pw
        cdef int par
        cdef long long s = self.sym
        if s >= 16 and s < 48:
            # frequency: z_k conj(z_k-2) (same point)
            self.f_re += zr * self.z2_re + zi * self.z2_im
            self.f_im += zi * self.z2_re - zr * self.z2_im
            # parity: c = z_k conj(z_k-1) compared with B conj(A) (A->B) and A conj(B)
            cr = zr * self.z1_re + zi * self.z1_im
            ci = zi * self.z1_re - zr * self.z1_im
            rr = self.abab_re[1] * self.abab_re[0] + self.abab_im[1] * self.abab_im[0]
            ri = self.abab_im[1] * self.abab_re[0] - self.abab_re[1] * self.abab_im[0]
            # Re(c conj(rho)) - Re(c rho) = 2 ci ri ... keep it general
            v = (cr * rr + ci * ri) - (cr * rr - ci * ri)
            if s & 1:
                self.v_par += v
            else:
                self.v_par -= v
            # |v| <= 2 |c| |Im rho|: the bound, to judge how ABAB-like the signal is
            self.v_abs += 2.0 * sqrt(cr * cr + ci * ci) * (ri if ri > 0.0 else -ri)
            self.pz_acc += zr * zr + zi * zi
            self.pz_n += 1
            if s < 32:
                self.pz_first = self.pz_acc
        elif s == 48:
            # Not the alternation of a training (a V.21 burst, a tone, noise, a TEP
            # carrier)? Start over quietly: no training was attempted.
            if self.v_abs <= 0.0 or (self.v_par if self.v_par > 0.0 else -self.v_par) < 0.35 * self.v_abs:
                self._restart_acquire()
                return
            # Nor if the level changed by 3 dB between the halves of the window: the ABAB
            # segment has a steady level (a louder signal ending into this one, a step
            # transient, would set the AGC and the timing on something else)
            if (self.pz_first > 2.0 * (self.pz_acc - self.pz_first)
                    or self.pz_acc - self.pz_first > 2.0 * self.pz_first):
                self._restart_acquire()
                return
            # frequency correction: angle over two symbols
            a = atan2(self.f_im, self.f_re) / 2.0
            self.freq_acc += a * (4294967296.0 / 6.283185307179586) / (10.0 / 3.0)
            self.dphase = self.dphase_nom + <uint32_t>_i32(self.freq_acc)
            # v_par > 0: odd symbols are B (preceded by A) -> A has even index
            self.parity = 0 if self.v_par > 0 else 1
            pw = self.pz_acc / self.pz_n if self.pz_n else 0.0
            if pw > 0.0:
                self.agc *= sqrt(self.abab_power / pw)
            # NaN-proof clamp: anything outside is not a signal the carrier detector
            # passes, and a huge gain on a weak stretch would make a later loud one
            # overflow
            if not (self.agc >= AGC_MIN):
                self.agc = AGC_MIN
            elif self.agc > AGC_MAX:
                self.agc = AGC_MAX
        if s >= 49 and s < 57:
            # phase against the expected ABAB point (level now corrected)
            par = <int>((s + self.parity) & 1)
            self.ph_re += zr * self.abab_re[par] + zi * self.abab_im[par]
            self.ph_im += zi * self.abab_re[par] - zr * self.abab_im[par]
        elif s == 57:
            self._rotate(atan2(self.ph_im, self.ph_re))
            self.state = ST_WAIT_TRANSITION
            self.win_n = 0
        self.z2_re = self.z1_re
        self.z2_im = self.z1_im
        self.z1_re = zr
        self.z1_im = zi

    cdef void _restart_acquire(self) noexcept:
        cdef double p_ref = self.p_ref
        cdef int p_cnt = self.p_cnt
        self._reset_burst()
        self.state = ST_ACQUIRE
        self.p_ref = p_ref
        self.p_cnt = p_cnt

    cdef void _start_check(self) noexcept:
        self.state = ST_CHECK
        self.train_snr = self.tr_pow / self.tr_err if self.tr_err > 0.0 else 1e9
        self.sidx = 0
        self.desc_reg = self.desc_reg0
        self.diff = self.diff0
        self.check_bits = 0
        self.check_zeros = 0
        self.mse_acc = 0.0
        self.mse_n = 0
        cdef int i
        for i in range(8):
            self.pm[i] = 1e9
        self.pm[0] = 0.0
        self.tb_pos = 0
        self.tb_fill = 0

    cdef inline int _nearest(self, int g, double zr, double zi) noexcept:
        return self.grid[g, self._grid_index(zr), self._grid_index(zi)]

    cdef void _data_symbol(self, double zr, double zi, long long t) noexcept:
        cdef int lab, gi, gj, s, y, ns, sub, best, j, b, q, i, k, sp, sl, src, dst
        cdef double dr, di, er, ei, d, m
        cdef double bm[8]
        cdef int blab[8]
        cdef double npm[8]
        cdef int nprev[8]
        cdef int nlab[8]
        # the tables through plain pointers (grid is C-contiguous [G][gsize][gsize],
        # made so in __init__; the indices are the ones the memoryviews took)
        cdef const uint8_t *gp = &self.grid[0, 0, 0]
        cdef const double *pre = &self.pt_re[0]
        cdef const double *pim = &self.pt_im[0]
        cdef Py_ssize_t plane = <Py_ssize_t>self.gsize * self.gsize, cell
        gi = self._grid_index(zr)
        gj = self._grid_index(zi)
        cell = <Py_ssize_t>gi * self.gsize + gj
        lab = gp[cell]
        dr = pre[lab]
        di = pim[lab]
        er = dr - zr
        ei = di - zi
        self.mse_acc += er * er + ei * ei
        self.mse_n += 1
        if self.mode == 0:
            if self.state == ST_CHECK and self.snr_check:
                # the known sequence's last symbols alone measure the SNR roughly; the
                # decisions after it (the check segment and snr_symbols of data) add to it
                self.tr_err += er * er + ei * ei
                self.tr_pow += dr * dr + di * di
            self._hit_check(er * er + ei * ei, zr * zr + zi * zi)
            if not self.frozen:
                self._eq_update(er, ei, self.eq_mu)
                self._pll(zr, zi, dr, di, self.pll_a, self.pll_b)
            self._v29_bits(lab, t)
            self.sidx += 1
            self._monitor(er * er + ei * ei, t)
            return
        # V.17: branch metrics per subset (label bits Y2 Y1 Y0)
        for sub in range(8):
            j = gp[(1 + sub) * plane + cell]
            d = pre[j] - zr
            m = pim[j] - zi
            bm[sub] = d * d + m * m
            blab[sub] = j
        # add-compare-select per destination state (predecessors 0..7 and labels from
        # the tables whatever the metrics: see the module doc)
        fc_acs8(&self.pm[0], &bm[0], &blab[0], &self.pv_n[0], self.pv_s, self.pv_sub,
                &npm[0], &nprev[0], &nlab[0])
        m = npm[0]
        best = 0
        for ns in range(1, 8):
            if npm[ns] < m:
                m = npm[ns]
                best = ns
        # m: growth of the best path metric this symbol (all metrics were normalised to
        # a minimum of 0 after the previous symbol). It decides, before anything adapts
        # on this symbol, whether a hit is going on.
        self._hit_check(m, zr * zr + zi * zi)
        if not self.frozen:
            self._eq_update(er, ei, self.eq_mu)
            if not self.pll_viterbi:
                self._pll(zr, zi, dr, di, self.pll_a, self.pll_b)
        if self.tb_fill >= self.tb_depth:
            self._monitor(m, t)
            if self.state == ST_FAILED:
                # signal lost: not one more (noisy) symbol after the bits it dropped
                return
        self.tb_pos = (self.tb_pos + 1) & (TB_MAX - 1)
        # survivors by register exchange: each state's row is its path's labels, newest
        # first; the new row is the predecessor's shifted by one behind the new label
        # (what a trace back through the predecessors would read, with no chain of
        # dependent loads per symbol). Rows of PATH_LEN: entry 0 written, 1..PATH_LEN-1
        # copied from 0..PATH_LEN-2 of row nprev (0..7)
        src = self.pcur
        dst = src ^ 1
        for ns in range(8):
            self.pm[ns] = npm[ns] - m
            self.path[dst][ns][0] = <uint8_t>nlab[ns]
            memcpy(&self.path[dst][ns][1], &self.path[src][nprev[ns]][0], PATH_LEN - 1)
        self.pcur = dst
        self.tb_zre[self.tb_pos] = zr
        self.tb_zim[self.tb_pos] = zi
        self.tb_fill += 1
        if self.tb_fill <= self.tb_depth:
            return
        # the best path's symbol tb_depth back (tb_depth < PATH_LEN; entries up to
        # tb_fill - 1 > tb_depth belong to this burst), its z from the ring
        lab = self.path[dst][best][self.tb_depth]
        j = (self.tb_pos - self.tb_depth) & (TB_MAX - 1)
        if self.state == ST_CHECK and self.snr_check:
            # V.17: the error against the decoded (trellis-corrected) point, not the
            # sliced one: slicing errors near the gate would read the SNR too high.
            # A short training's 24 known symbols alone measure it +-0.9 dB (and 0.3 dB
            # low); with the check segment and snr_symbols of data, +-0.3 dB
            dr = self.tb_zre[j] - pre[lab]
            di = self.tb_zim[j] - pim[lab]
            self.tr_err += dr * dr + di * di
            self.tr_pow += pre[lab] * pre[lab] + pim[lab] * pim[lab]
        if self.pll_viterbi and not self.frozen:
            # carrier loop on the decoded (delayed, far more reliable) decision
            self._pll(self.tb_zre[j], self.tb_zim[j], pre[lab], pim[lab],
                      self.pll_a, self.pll_b)
        self._v17_bits(lab, t)
        self.sidx += 1

    cdef inline void _hit_check(self, double x, double p) noexcept:
        """Data mode: a fast running mean (8 symbols) of the decision metric, and one
        (16 symbols) of the symbol power. With the metric far above the lock line
        (``freeze_ratio`` times it), or over the line while the power is up
        (``hit_power_ratio`` times the constellation's: noise added on top of the
        signal; the sparse V.17 constellations keep the metric of noise low), the
        symbols are not the signal: a click or a burst of noise on the line. The
        equaliser, the carrier loop and the timing loop then stand still (the timing
        coasts on its clock-offset estimate), so that they are where they were when
        the signal comes back. Only adaptation is frozen: the monitor still sees every
        symbol (leaving the frozen ones out would hide noise that freezes now and then)."""
        if self.state != ST_DATA or self.lk_freeze <= 0.0:
            self.frozen = 0
            return
        self.lk_fast += (x - self.lk_fast) * 0.125
        self.lk_pfast += (p - self.lk_pfast) * 0.0625
        self.frozen = 1 if (self.lk_fast > self.lk_freeze or (
            self.lk_fast > self.lk_thresh and self.lk_pfast > self.lk_ploud)) else 0
        self.frozen_symbols += self.frozen

    cdef void _monitor(self, double x, long long t) noexcept:
        """Data-mode lock monitor: a running mean (``lk_ema``, over ``lock_window``
        symbols) of the per-symbol decision metric. Locked, it is the noise power per
        symbol; when the signal is hit or gone it climbs several dB.

        Over the line ``lk_thresh`` a suspicion begins: nothing more is committed
        (bits stay held) until it ends one way or the other.

        * It was a hit (a click, a burst of noise; ``_hit_check`` kept the loops
          still meanwhile): the mean comes back down, to half the line (or, for a
          burst that was already near the line, a little over where it was before),
          and stays there for ``recover_symbols`` symbols. Committing resumes and
          every bit held is delivered, those demodulated during the hit included.
          They may be wrong, but none is missing or extra: page data stays aligned
          (the damaged rows are resynchronised at the next EOL); HDLC frames hit fail
          their CRC.
        * The signal is gone: ``lost_grace`` symbols (250 ms) pass without that.
          ``signal_lost``, the bits held are dropped (those demodulated while the
          metric was climbing, ``hold_symbols`` before the suspicion began, and since),
          silence until carrier down. If the carrier drops first, ``rx`` does the same
          once the suspicion is ``end_grace`` symbols old and the fast mean shows no
          signal coming back; a younger one is only the burst's end fading out, and
          everything is released."""
        if self.state == ST_CHECK:
            self.lk_ema += (x - self.lk_ema) * 0.125   # settle on the check segment
            return
        if self.state != ST_DATA:
            return
        if self.lk_clip > 0.0 and x > self.lk_clip:
            x = self.lk_clip
        self.lk_ema += (x - self.lk_ema) * self.lk_alpha
        if self.lk_ema > self.lk_peak:
            self.lk_peak = self.lk_ema
        if self.lk_suspect < 0:
            if self.lk_thresh > 0.0 and self.lk_ema > self.lk_thresh:
                self.lk_suspect = 0
                self.lk_below = 0
                self.lk_rec = self.lk_rec_ratio * self.lk_thresh
                if self.lk_rec < 1.26 * self.lk_base:
                    self.lk_rec = 1.26 * self.lk_base
                if self.lk_rec > 0.85 * self.lk_thresh:
                    self.lk_rec = 0.85 * self.lk_thresh
                return
            if self.onb - self.hold_bits > self.ocommit:
                self.ocommit = self.onb - self.hold_bits
            self.lk_base = self.lk_ema
            return
        self.lk_suspect += 1
        if self.lk_ema < self.lk_rec:
            self.lk_below += 1
            if self.lk_below >= self.lk_recover:
                self.lk_suspect = -1
                self.hits += 1
                return
        else:
            self.lk_below = 0
        if self.lk_suspect >= self.lk_grace:
            self._lost(t)

    cdef void _lost(self, long long t) noexcept:
        self.onb = self.ocommit
        self.state = ST_FAILED
        self.frozen = 0
        self._event(EV_SIGNAL_LOST, t)

    cdef inline int _descramble(self, int b) noexcept:
        cdef int o = (b ^ (self.desc_reg >> (self.tap - 1)) ^ (self.desc_reg >> 22)) & 1
        self.desc_reg = ((self.desc_reg << 1) | b) & 0x7FFFFF
        return o

    cdef void _deliver(self, int b, long long t) noexcept:
        if self.sidx < self.check_len:
            self.check_bits += 1
            if b == 0:
                self.check_zeros += 1
        else:
            self._put_bit(b)

    cdef void _end_check(self, long long t) noexcept:
        """Called when the last scrambled-ones symbol has been decoded."""
        if self.check_zeros > self.fail_ratio * self.check_bits:
            self._fail(t)
        elif self.snr_end <= self.check_len:
            self._end_snr(t)
        # else the SNR is judged snr_symbols later (the data meanwhile held back)

    cdef void _end_snr(self, long long t) noexcept:
        """The training SNR is measured: below the gate the training failed (and the
        data decoded meanwhile is dropped), else the data flows. With a second look
        (snr_symbols_late), a burst below the gate at the first is measured on until
        then (its equaliser still converging: a short training) and judged again."""
        cdef double gate = self.min_snr
        cdef int late = self.snr_end_late > 0 and self.sidx >= self.snr_end_late - 1
        if self.snr_check:
            self.train_snr = self.tr_pow / self.tr_err if self.tr_err > 0.0 else 1e9
        if late:
            gate = self.min_snr_late
        if self.train_snr < gate:
            if self.snr_end_late > 0 and not late:
                return   # measured on; judged again at snr_end_late (or carrier down)
            self._fail(t)
            return
        self.state = ST_DATA
        self.lk_peak = 0.0
        self.lk_suspect = -1
        self.lk_fast = self.lk_ema
        self.lk_pfast = self.const_power
        self._event(EV_TRAINING_SUCCEEDED, t)

    cdef void _v29_bits(self, int lab, long long t) noexcept:
        cdef int p = lab & 7
        cdef int step = (p - self.diff) & 7
        cdef int tri = self.v29_bits[step]
        self.diff = p
        if self.v29_outer:
            self._deliver(self._descramble((lab >> 3) & 1), t)
        self._deliver(self._descramble((tri >> 2) & 1), t)
        self._deliver(self._descramble((tri >> 1) & 1), t)
        self._deliver(self._descramble(tri & 1), t)
        if self.sidx == self.check_len - 1:
            self._end_check(t)
        elif self.state == ST_CHECK and (self.sidx == self.snr_end - 1
                                         or self.sidx == self.snr_end_late - 1):
            self._end_snr(t)

    cdef void _v17_bits(self, int lab, long long t) noexcept:
        cdef int y = (lab >> 1) & 3
        cdef int q = (y - self.diff) & 3
        cdef int i
        self.diff = y
        self._deliver(self._descramble(q & 1), t)
        self._deliver(self._descramble((q >> 1) & 1), t)
        for i in range(self.bps - 2):
            self._deliver(self._descramble((lab >> (3 + i)) & 1), t)
        if self.sidx == self.check_len - 1:
            self._end_check(t)
        elif self.state == ST_CHECK and (self.sidx == self.snr_end - 1
                                         or self.sidx == self.snr_end_late - 1):
            self._end_snr(t)
