# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""V.21 channel 2 FSK (300 bit/s; mark 1 = 1650 Hz, space 0 = 1850 Hz) per-sample loops.

Two receivers with the same algorithm: ``V21ReferenceDemodulator``, the plain reading
(double-precision running correlators, every sample), and ``V21Demodulator``, what the
modem uses (issue 14): exact integer correlators, and an idle mode behind a cheap
per-frame gate while no V.21 is near (see its docstring), which is what keeps the V.21
watch receiver cheap beside the fast receivers during page data. The tests hold the two
to the same bits and events on V.21 audio.

Demodulator: two sliding one-bit (26-sample) quadrature correlators at 1650 and 1850 Hz
(non-coherent matched filters); decision variable d = |C1|^2 - |C0|^2. Carrier detect
compares the in-band power (from the correlators) with an absolute threshold and with the
total power (white noise and out-of-band tones have a low in-band share). Bit timing: the
start of the burst is estimated from where the correlator magnitude passed half its steady
value, then a DPLL follows the zero crossings of d. The decoder runs DELAY samples behind
the carrier detector, so the first and last bits of a burst are known exactly.

Burst edges are in order: each search for an edge looks only at the history of its own
burst (a start not before the previous burst's end, an end not before its start), and
the times are clamped to that too, so the events go up, down, up, ... with
non-decreasing sample numbers. When the carrier is judged off because the in-band share
fell (noise or a click on top of the tone) the amplitude has not fallen, so there is no
edge to find: the end is then where the off condition started to hold, and a burst
detected next with no rise of its own since then starts at that very sample (the tone
went on): if the decoder is still on the cut burst, it goes on with the same bit timing
(``_finish``). A burst shorter than the decoder lag that is followed by
another before the decoder reaches it is not reported (as before); the next one's start
is then searched for back to the burst before it.

Memory safety. Bounds checks are off, so every index below is proven in range:

* Rings: ``hist_a``/``hist_d`` (HIST, a power of two) are indexed ``& HMASK`` (also for
  negative sample numbers at the very start: two's complement); the correlator delay
  lines (NWIN) at ``widx`` in ``[0, NWIN)`` and the carrier tables (TABLE) at ``tidx`` in
  ``[0, TABLE)``, each wrapped by an explicit compare.
* ``_find_edge`` and the carrier-on maximum only walk back at most ``HIST - 2 NWIN``
  samples, inside the ring (``_search_floor`` never returns less than
  ``t - (HIST - 2 NWIN)``).
* Floats: the input is int16, so every correlator sum is finite (at most NWIN x 32768)
  and re-summed from the delay lines every 8192 samples; the burst edges interpolate
  between a sample below and one at or above half the level, so the denominators are
  positive and the times cast with ``floor`` are finite.
* ``V21Demodulator`` (the fast receiver; ``V21ReferenceDemodulator`` is the plain loop
  above): the sample ring ``hx`` (HIST) is indexed ``& HMASK``; the idle path copies a
  chunk of ``m <= TABLE - tidx`` samples into it at ``h = t & HMASK`` in one piece when
  ``h + m <= HIST``, else in two (``HIST - h`` and ``m - (HIST - h) < HIST``); the gate
  sums read ``x[i:i + m]`` (``i + m <= n``) and the tables at ``tidx .. tidx + m - 1 <
  TABLE``. The correlator tables are read at ``tidx`` and ``tob`` in ``[0, TABLE)``, each
  wrapped by a compare. ``_wake`` replays ``m = t - start <= HIST - NWIN`` samples
  (``start`` is clamped to that) from the ring into ``rbuf`` (HIST), after summing the
  windows over ``start - NWIN .. start - 1``: all inside the last HIST samples, and its
  table phase ``k mod TABLE`` is made non-negative. Integers: Q40 tables (|c| <= 2^40)
  times int16 samples are < 2^55, a window sum of 27 < 2^60, an update adds two more
  (< 2^61): no int64 overflow; the gate's Q8 sums are < 160 x 2^23 < 2^31.
* The modulator's samples are ``tbl[ph]`` with ``ph`` in ``[0, TABLE)`` (it grows by 33 or
  37 < TABLE and is wrapped by a compare each sample); the table entries are
  ``round(amp x sin)`` with ``0 <= amp <= 32767`` (checked), so the int16 cast is in
  range. ``tx`` writes ``o[i + j]`` for ``j < m <= n - i``.
* The modulator's run tables ``seq1``/``seq0`` (TABLE + SEQX) are read from ``pos[ph] <
  TABLE`` for ``m <= 27 <= SEQX`` samples (``m`` is the rest of one bit: 80 clock units
  at 3 a sample), into ``o[i:i + m]`` with ``i + m <= n``; at the burst's end the rest,
  ``o[i:n]``, is zeroed (``i < n`` in the loop).
* ``V21TxCore``: the queued bits are ``qbuf[qpos:]`` with ``0 <= qpos <= len(qbuf)``
  (``qpos`` only grows by one after a ``qpos < qlen`` compare; ``put`` rebuilds
  ``qbuf`` and resets ``qpos``); ``tx(n)`` writes ``out[0:n]`` of an array it made with
  ``n`` elements (``n >= 0`` checked).
* Memory: the bits decoded are held until ``take_bits`` (one bit per 26.7 samples of
  carrier at most); events until the Python wrapper's ``events()``; both only grow
  when the caller does not collect them.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport M_PI, ceil, cos, floor, sin, sqrt
from libc.string cimport memcpy, memset

cnp.import_array()

DEF NWIN = 27          # correlator window (samples), ~1 bit
DEF TABLE = 160        # 1650 and 1850 Hz are both periodic in 160 samples at 8 kHz
DEF HIST = 1024        # history ring (samples), power of two
DEF HMASK = 1023
DEF DELAY = 256        # decoder lag behind the carrier detector (samples)
DEF HOLD_ON = 24
DEF HOLD_OFF = 32
DEF SEQX = 32          # the modulator's run tables reach this far past TABLE (>= 27)

cdef double BIT_LEN = 8000.0 / 300.0
# a random-data FSK burst at mean square P gives (|C1|^2+|C0|^2) ~ 1.17 * NWIN^2 * P / 2
cdef double PIN_SCALE = 2.0 / (1.17 * NWIN * NWIN)
cdef double DBM0_MS = 16141.0 * 16141.0   # mean square of a 0 dBm0 signal


cdef inline double _dbm0_ms(double dbm0):
    return DBM0_MS * 10.0 ** (dbm0 / 10.0)


cdef class V21ReferenceDemodulator:
    """Samples in, bits and (kind, sample) events out. See module docstring. The plain
    reading: double-precision correlators updated every sample, no gate; the reference
    :class:`V21Demodulator` (the fast form) is tested against."""

    cdef double c1r[TABLE]
    cdef double c1i[TABLE]
    cdef double c0r[TABLE]
    cdef double c0i[TABLE]
    cdef double r1r[NWIN]
    cdef double r1i[NWIN]
    cdef double r0r[NWIN]
    cdef double r0i[NWIN]
    cdef double s1r, s1i, s0r, s0i
    cdef int widx, tidx
    cdef double hist_a[HIST]
    cdef double hist_d[HIST]
    cdef long long t
    # carrier detector
    cdef double pin_s, ptot_s, a_s, pin_l, ptot_l, alpha, on_thr, off_thr, level
    cdef int carrier, hold
    # decoder
    cdef int dec_active, dec_ending, ncross, pending, pending_has_end
    cdef double b_m, t_end, gain, dprev, pending_on, pending_end
    # start of the burst being received and end of the previous one (signal time; the
    # edges of the next burst are searched for after these); last_end before the
    # pending burst, restored if that burst is dropped; *_cut: that end was not a fall
    # of the amplitude (noise on top ended the burst, the tone may go on)
    cdef double burst_on, last_end, pending_prev_end
    cdef int last_cut, pending_prev_cut
    cdef long long recompute
    cdef object _bits
    cdef public list event_list
    cdef public int in_burst

    def __init__(self, double on_dbm0=-45.0, double off_dbm0=-48.0):
        cdef int k
        for k in range(TABLE):
            self.c1r[k] = cos(2.0 * M_PI * 1650.0 * k / 8000.0)
            self.c1i[k] = -sin(2.0 * M_PI * 1650.0 * k / 8000.0)
            self.c0r[k] = cos(2.0 * M_PI * 1850.0 * k / 8000.0)
            self.c0i[k] = -sin(2.0 * M_PI * 1850.0 * k / 8000.0)
        self.on_thr = _dbm0_ms(on_dbm0)
        self.off_thr = _dbm0_ms(off_dbm0)
        self.alpha = 1.0 / 16.0
        self.reset()

    def reset(self):
        cdef int k
        for k in range(NWIN):
            self.r1r[k] = 0.0
            self.r1i[k] = 0.0
            self.r0r[k] = 0.0
            self.r0i[k] = 0.0
        for k in range(HIST):
            self.hist_a[k] = 0.0
            self.hist_d[k] = 0.0
        self.s1r = self.s1i = self.s0r = self.s0i = 0.0
        self.widx = 0
        self.tidx = 0
        self.t = 0
        self.pin_s = 0.0
        self.ptot_s = 0.0
        self.a_s = 0.0
        self.pin_l = 0.0
        self.ptot_l = 0.0
        self.level = 0.0
        self.carrier = 0
        self.hold = 0
        self.dec_active = 0
        self.dec_ending = 0
        self.pending = 0
        self.pending_has_end = 0
        self.burst_on = -1.0e9
        self.last_end = -1.0e9
        self.pending_prev_end = -1.0e9
        self.last_cut = 0
        self.pending_prev_cut = 0
        self.in_burst = 0
        self.ncross = 0
        self.dprev = 0.0
        self.recompute = 0
        self._bits = bytearray()
        self.event_list = []

    @property
    def samples(self):
        return self.t

    def take_bits(self):
        out = np.frombuffer(bytes(self._bits), dtype=np.uint8).copy()
        self._bits = bytearray()
        return out

    def take_bit_buffer(self):
        """The bits decoded since the last take (0/1 octets), without a copy: the
        bytearray itself (b"" when there are none); the caller must not change it."""
        if not self._bits:
            return b""
        out = self._bits
        self._bits = bytearray()
        return out

    cdef long long _search_floor(self, long long t, double edge):
        """Earliest hist_a time an edge search from ``t`` may look at: inside the ring,
        and not before ``edge`` (a signal time, so NWIN/2 - 1 later in hist_a time)."""
        cdef long long lo = t - (HIST - 2 * NWIN)
        cdef double e = edge + 0.5 * NWIN - 1.0
        if e > lo:
            lo = <long long> ceil(e) if e < t else t
        return lo

    cdef double _find_edge(self, double ref, int rising, long long tnow, long long stop):
        """Time where hist_a crossed ref/2 at the burst edge, searching back no further
        than ``stop`` (from ``_search_floor``). Rising: search back for the last quiet
        sample (< ref/4), then forward for the first crossing of ref/2 (robust to dips at
        bit transitions). Falling: the last crossing from above. None found: -1; the
        others are in ``[max(stop, 0), tnow]``."""
        cdef long long tau = tnow
        cdef double half = 0.5 * ref
        cdef double a0, a1
        if stop < 0:
            stop = 0
        if rising:
            while tau > stop and self.hist_a[tau & HMASK] >= 0.25 * ref:
                tau -= 1
            while tau < tnow:
                a0 = self.hist_a[tau & HMASK]
                a1 = self.hist_a[(tau + 1) & HMASK]
                if a0 < half <= a1:
                    return tau + (half - a0) / (a1 - a0)
                tau += 1
            return -1.0
        while tau > stop:
            a1 = self.hist_a[tau & HMASK]
            a0 = self.hist_a[(tau - 1) & HMASK]
            if a0 >= half > a1:
                return (tau - 1) + (a0 - half) / (a0 - a1)
            tau -= 1
        return -1.0

    cdef void _carrier_on(self, long long t) noexcept:
        """The carrier-on decision at sample ``t`` (rare: once per burst): the burst's
        level and its start, searched back in ``hist_a``; the decoder is armed."""
        cdef double ref = 0.0, t_on
        cdef long long lo
        cdef int k
        self.carrier = 1
        self.hold = 0
        for k in range(NWIN):
            if self.hist_a[(t - k) & HMASK] > ref:
                ref = self.hist_a[(t - k) & HMASK]
        self.level = ref
        if self.pending:
            # the burst still waiting for the decoder (shorter than the
            # lag) is replaced by this one and never reported: the start
            # may be searched for back to the end of the burst before it
            self.last_end = self.pending_prev_end
            self.last_cut = self.pending_prev_cut
        self.pending_prev_end = self.last_end
        self.pending_prev_cut = self.last_cut
        lo = self._search_floor(t, self.last_end)
        t_on = self._find_edge(ref, 1, t, lo)
        if t_on >= 0.0:
            t_on = t_on - 0.5 * NWIN + 1.0
        elif self.last_cut and lo > t - (HIST - 2 * NWIN):
            # no rise since the previous burst was cut (by noise on top,
            # not by the tone stopping): this one goes on from there
            t_on = self.last_end
        else:
            # no rise to time: from now
            t_on = t - 0.5 * NWIN + 1.0
        if t_on < t - DELAY:
            t_on = t - DELAY
        if t_on < self.last_end:
            t_on = self.last_end
        self.burst_on = t_on
        # the decoder (DELAY behind) starts when it reaches t_on, or
        # after it has flushed the previous burst
        self.pending = 1
        self.pending_has_end = 0
        self.pending_on = t_on

    cdef void _carrier_off(self, long long t) noexcept:
        """The carrier-off decision at sample ``t`` (rare: once per burst): the burst's
        end, searched back in ``hist_a``, for the decoder."""
        cdef double ref, t_end
        self.carrier = 0
        self.hold = 0
        ref = self._find_edge(self.level, 0, t,
                              self._search_floor(t, self.burst_on))
        if ref < 0.0:
            # the in-band share fell, not the amplitude: the end is
            # where the off condition started to hold
            t_end = <double> (t - HOLD_OFF + 1)
        else:
            t_end = ref - 0.5 * NWIN + 1.0
        if t_end < self.burst_on:
            t_end = self.burst_on
        self.last_end = t_end
        self.last_cut = ref < 0.0
        if self.pending:
            # burst shorter than the decoder lag: end known before start
            self.pending_has_end = 1
            self.pending_end = t_end
        else:
            self.dec_ending = 1
            self.t_end = t_end

    cdef void _start_decoder(self, double t_on) noexcept:
        self.dec_active = 1
        self.dec_ending = 0
        self.b_m = t_on
        self.t_end = -1.0
        self.ncross = 0
        self.gain = 0.6

    cdef int _decoder_step(self, long long td) except -1:
        # (an int with an error value: the caller tests the result, not PyErr_Occurred)
        cdef double d = self.hist_d[td & HMASK]
        cdef double dp = self.dprev
        cdef double tz, b_est, err, n_dec
        self.dprev = d
        if not self.dec_active:
            if self.pending and td >= <long long> floor(self.pending_on) - 1:
                self.pending = 0
                self._start_decoder(self.pending_on)
                self.in_burst = 1
                self.event_list.append(("carrier_up", <long long> floor(self.pending_on + 0.5)))
                if self.pending_has_end:
                    self.dec_ending = 1
                    self.t_end = self.pending_end
            return 0
        # zero crossing of d: a bit boundary N/2 samples earlier
        if (dp != 0.0 and d != 0.0 and ((dp < 0.0) != (d < 0.0)) and td > self.b_m
                and self.hist_a[td & HMASK] > 0.5 * self.level):
            # (crossings while the window slides into or out of the burst are not
            # bit boundaries: the amplitude check skips them)
            tz = (td - 1) + dp / (dp - d)
            b_est = tz - 0.5 * NWIN + 1.0
            err = b_est - self.b_m
            if err > 0.5 * BIT_LEN:
                err -= BIT_LEN
            elif err < -0.5 * BIT_LEN:
                err += BIT_LEN
            if -0.4 * BIT_LEN < err < 0.4 * BIT_LEN:
                self.b_m += self.gain * err
                self.ncross += 1
                if self.gain > 0.05:
                    self.gain *= 0.7
        n_dec = self.b_m + 0.5 * (BIT_LEN + NWIN) - 1.0
        if td + 0.5 >= n_dec:
            if self.dec_ending and self.b_m + 0.5 * BIT_LEN > self.t_end:
                if not self._finish():
                    return 0
            self._bits.append(1 if d > 0.0 else 0)
            self.b_m += BIT_LEN
        if self.dec_ending and td > self.t_end + BIT_LEN + NWIN:
            self._finish()
        return 0

    cdef int _finish(self) except -1:
        """End the burst being decoded (only called with dec_ending set, so t_end is its
        end, >= its start). If the next burst starts at that very sample (the tone went
        on under the noise that cut this one), it goes straight on with the bit timing
        kept (a fresh DPLL started off a bit boundary may never lock): returns 1."""
        self.dec_ending = 0
        self.event_list.append(("carrier_down", <long long> floor(self.t_end + 0.5)))
        if self.pending and self.pending_on == self.t_end:
            self.pending = 0
            self.event_list.append(("carrier_up", <long long> floor(self.pending_on + 0.5)))
            if self.pending_has_end:
                self.dec_ending = 1
                self.t_end = self.pending_end
            return 1
        self.dec_active = 0
        self.in_burst = 0
        return 0

    def process(self, const short[::1] x):
        cdef Py_ssize_t i, n = x.shape[0]
        cdef double v, p1r, p1i, p0r, p0i, a2, a, pin
        cdef int k, w, ti
        cdef long long t
        cdef double alpha = self.alpha
        # the running sums and power averages in locals (registers) for the loop, written
        # back at its end: nothing called from it reads them (the same arithmetic)
        cdef double l_s1r = self.s1r, l_s1i = self.s1i, l_s0r = self.s0r, l_s0i = self.s0i
        cdef double l_pin_s = self.pin_s, l_ptot_s = self.ptot_s, l_a_s = self.a_s
        cdef double l_pin_l = self.pin_l, l_ptot_l = self.ptot_l
        cdef long long l_recompute = self.recompute
        for i in range(n):
            v = x[i]
            ti = self.tidx
            w = self.widx
            p1r = v * self.c1r[ti]
            p1i = v * self.c1i[ti]
            p0r = v * self.c0r[ti]
            p0i = v * self.c0i[ti]
            l_s1r += p1r - self.r1r[w]
            l_s1i += p1i - self.r1i[w]
            l_s0r += p0r - self.r0r[w]
            l_s0i += p0i - self.r0i[w]
            self.r1r[w] = p1r
            self.r1i[w] = p1i
            self.r0r[w] = p0r
            self.r0i[w] = p0i
            w += 1
            if w == NWIN:
                w = 0
            self.widx = w
            ti += 1
            if ti == TABLE:
                ti = 0
            self.tidx = ti
            l_recompute += 1
            if l_recompute >= 8192:
                # stop rounding errors of the running sums from accumulating
                l_recompute = 0
                l_s1r = l_s1i = l_s0r = l_s0i = 0.0
                for k in range(NWIN):
                    l_s1r += self.r1r[k]
                    l_s1i += self.r1i[k]
                    l_s0r += self.r0r[k]
                    l_s0i += self.r0i[k]
            a2 = l_s1r * l_s1r + l_s1i * l_s1i
            pin = l_s0r * l_s0r + l_s0i * l_s0i
            t = self.t
            self.hist_d[t & HMASK] = a2 - pin
            a2 = a2 + pin
            a = sqrt(a2)
            self.hist_a[t & HMASK] = a
            pin = a2 * PIN_SCALE
            l_pin_s += alpha * (pin - l_pin_s)
            l_ptot_s += alpha * (v * v - l_ptot_s)
            # slow averages decide carrier off (robust at low SNR)
            l_a_s += (1.0 / 64.0) * (a - l_a_s)
            l_pin_l += (1.0 / 64.0) * (pin - l_pin_l)
            l_ptot_l += (1.0 / 64.0) * (v * v - l_ptot_l)
            if not self.carrier:
                if (l_pin_s > self.on_thr and pin > self.on_thr
                        and l_pin_s > 0.4 * l_ptot_s):
                    self.hold += 1
                    if self.hold >= HOLD_ON:
                        self._carrier_on(t)
                else:
                    self.hold = 0
            else:
                if (l_pin_l < self.off_thr or l_pin_l < 0.2 * l_ptot_l
                        or l_a_s < 0.25 * self.level):
                    self.hold += 1
                    if self.hold >= HOLD_OFF:
                        self._carrier_off(t)
                else:
                    self.hold = 0
                    self.level += (a - self.level) * (1.0 / 256.0)
            self.t = t + 1
            if t >= DELAY:
                if self.dec_active or self.pending:
                    self._decoder_step(t - DELAY)
                else:
                    # idle (what _decoder_step does then): only the previous d moves on
                    self.dprev = self.hist_d[(t - DELAY) & HMASK]
        self.s1r = l_s1r
        self.s1i = l_s1i
        self.s0r = l_s0r
        self.s0i = l_s0i
        self.pin_s = l_pin_s
        self.ptot_s = l_ptot_s
        self.a_s = l_a_s
        self.pin_l = l_pin_l
        self.ptot_l = l_ptot_l
        self.recompute = l_recompute



# -- the fast receiver (issue 14) ------------------------------------------------------
# Q40 correlator tables: the products v x c (|v| <= 32768, |c| <= 2^40) are exact in
# int64, and so are the window sums (27 products: < 2^60), so a correlator value is a
# pure function of the last NWIN samples (no drift, no re-summing, and it can be rebuilt
# from the sample ring exactly). Units: the correlators are 2^40 times the reference's
# (so hist_a and level are too, and only their ratios are used); pin is scaled back.
DEF QBITS = 40
cdef long long Q1R[TABLE]
cdef long long Q1I[TABLE]
cdef long long Q0R[TABLE]
cdef long long Q0I[TABLE]
cdef double QSCALE = 2.0 ** QBITS
cdef double PIN_SCALE_Q = PIN_SCALE / (QSCALE * QSCALE)


cdef void _init_qtables():
    cdef int k
    for k in range(TABLE):
        Q1R[k] = <long long> floor(QSCALE * cos(2.0 * M_PI * 1650.0 * k / 8000.0) + 0.5)
        Q1I[k] = <long long> floor(-QSCALE * sin(2.0 * M_PI * 1650.0 * k / 8000.0) + 0.5)
        Q0R[k] = <long long> floor(QSCALE * cos(2.0 * M_PI * 1850.0 * k / 8000.0) + 0.5)
        Q0I[k] = <long long> floor(-QSCALE * sin(2.0 * M_PI * 1850.0 * k / 8000.0) + 0.5)


_init_qtables()

# the gate's tables: the same tones in Q8 int16, so that a frame's sums are int32 dot
# products of int16s (|v x c| <= 2^23, 160 of them < 2^31) that the compiler vectorises;
# the gate only compares ratios with wide margins, 8 bits are plenty
cdef short G1R[TABLE]
cdef short G1I[TABLE]
cdef short G0R[TABLE]
cdef short G0I[TABLE]


cdef void _init_gtables():
    cdef int k
    for k in range(TABLE):
        G1R[k] = <short> floor(256.0 * cos(2.0 * M_PI * 33.0 * k / TABLE) + 0.5)
        G1I[k] = <short> floor(-256.0 * sin(2.0 * M_PI * 33.0 * k / TABLE) + 0.5)
        G0R[k] = <short> floor(256.0 * cos(2.0 * M_PI * 37.0 * k / TABLE) + 0.5)
        G0I[k] = <short> floor(-256.0 * sin(2.0 * M_PI * 37.0 * k / TABLE) + 0.5)


_init_gtables()


cdef inline void _gate_sums(const short* x, const short* c1r, const short* c1i,
                            const short* c0r, const short* c0i, Py_ssize_t m,
                            int* out) noexcept nogil:
    """out[0:5] = the dot products of x[0:m] with the four tables, and sum (x^2 >> 8);
    m <= TABLE, so each sum fits an int32 (see above)."""
    cdef Py_ssize_t j
    cdef int a1r = 0, a1i = 0, a0r = 0, a0i = 0, ae = 0
    cdef int v
    for j in range(m):
        v = x[j]
        a1r += v * c1r[j]
        a1i += v * c1i[j]
        a0r += v * c0r[j]
        a0i += v * c0i[j]
        ae += (v * v) >> 8
    out[0] = a1r
    out[1] = a1i
    out[2] = a0r
    out[3] = a0i
    out[4] = ae

# the gate (while no V.21 carrier is near): per 160-sample frame (aligned to the sample
# count, so the block size does not matter), the DFT at 1650 and 1850 Hz (bins 33 and 37
# of 160: the same tables) against the frame's energy. It wakes the full receiver when
# the frame is loud enough (mean square >= GATE_FLOOR x the carrier-on threshold) and
# either narrow-band (share >= GATE_SHARE; white noise ~0.02, V.17/V.29 ~0.04 median,
# 0.2 at most; V.21 flags and tones ~1) or at least GATE_RISE times the frame before.
cdef double GATE_FLOOR = 0.25
cdef double GATE_SHARE = 0.3
cdef double GATE_RISE = 4.0


cdef class V21Demodulator(V21ReferenceDemodulator):
    """The fast form of :class:`V21ReferenceDemodulator` (the same bits and events):

    * exact integer correlators (Q40 tables, a ring of the input samples, no drift);
    * an idle mode while no burst is near (no carrier, none starting, pending or being
      decoded, the last burst's end out of the history ring; checked at the end of each
      160-sample frame): per sample only the sample is stored and a cheap gate (two DFT
      bins and the energy of each 160-sample frame) is summed. When a frame opens the
      gate, the full receiver is run over the samples it skipped (up to the ring,
      HIST - NWIN samples back) from the sample ring, so a burst that starts anywhere in
      a skipped frame is timed and decoded from its start as if nothing was skipped.
      After a short idle (less than the ring) that replay continues the saved state
      exactly; after a longer one the power averages start from zero ``HIST - NWIN``
      samples back (as at the start of a stream) and the history before that is quiet.
    """

    cdef short hx[HIST]           # the input samples, by sample number & HMASK
    cdef long long q1r, q1i, q0r, q0i
    cdef int tob                  # (t - NWIN) mod TABLE
    cdef int idle
    cdef long long stale_from     # first sample not run through the full receiver
    cdef long long g33r, g33i, g37r, g37i, ge
    cdef double e_prev
    cdef short rbuf[HIST]         # the replayed samples, unwrapped
    cdef public long long wakes   # gate openings (for the tests and benchmarks)
    cdef public long long full_samples   # samples run through the full receiver

    def reset(self):
        V21ReferenceDemodulator.reset(self)
        cdef int k
        for k in range(HIST):
            self.hx[k] = 0
        self.q1r = self.q1i = self.q0r = self.q0i = 0
        self.tob = TABLE - NWIN
        self.idle = 0
        self.stale_from = 0
        self.g33r = self.g33i = self.g37r = self.g37i = self.ge = 0
        self.e_prev = 0.0
        self.wakes = 0
        self.full_samples = 0

    cdef int _run_full(self, const short* src, Py_ssize_t m) except -1:
        """The full receiver over ``src[0:m]`` (samples t .. t + m - 1): what the
        reference's loop does per sample, with the integer correlators."""
        cdef Py_ssize_t i
        cdef long long v, xo, t = self.t
        cdef double f1r, f1i, f0r, f0i, vv, a2, a, pin, d, dp
        cdef long long td
        cdef int ti = self.tidx, to = self.tob
        cdef double alpha = self.alpha
        cdef long long s1r = self.q1r, s1i = self.q1i, s0r = self.q0r, s0i = self.q0i
        cdef double l_pin_s = self.pin_s, l_ptot_s = self.ptot_s, l_a_s = self.a_s
        cdef double l_pin_l = self.pin_l, l_ptot_l = self.ptot_l
        for i in range(m):
            v = src[i]
            self.hx[t & HMASK] = <short> v
            xo = self.hx[(t - NWIN) & HMASK]
            s1r += v * Q1R[ti] - xo * Q1R[to]
            s1i += v * Q1I[ti] - xo * Q1I[to]
            s0r += v * Q0R[ti] - xo * Q0R[to]
            s0i += v * Q0I[ti] - xo * Q0I[to]
            ti += 1
            if ti == TABLE:
                ti = 0
            to += 1
            if to == TABLE:
                to = 0
            f1r = <double> s1r
            f1i = <double> s1i
            f0r = <double> s0r
            f0i = <double> s0i
            a2 = f1r * f1r + f1i * f1i
            pin = f0r * f0r + f0i * f0i
            self.hist_d[t & HMASK] = a2 - pin
            a2 = a2 + pin
            a = sqrt(a2)
            self.hist_a[t & HMASK] = a
            pin = a2 * PIN_SCALE_Q
            vv = <double> (v * v)
            l_pin_s += alpha * (pin - l_pin_s)
            l_ptot_s += alpha * (vv - l_ptot_s)
            l_a_s += (1.0 / 64.0) * (a - l_a_s)
            l_pin_l += (1.0 / 64.0) * (pin - l_pin_l)
            l_ptot_l += (1.0 / 64.0) * (vv - l_ptot_l)
            if not self.carrier:
                if (l_pin_s > self.on_thr and pin > self.on_thr
                        and l_pin_s > 0.4 * l_ptot_s):
                    self.hold += 1
                    if self.hold >= HOLD_ON:
                        self._carrier_on(t)
                else:
                    self.hold = 0
            else:
                if (l_pin_l < self.off_thr or l_pin_l < 0.2 * l_ptot_l
                        or l_a_s < 0.25 * self.level):
                    self.hold += 1
                    if self.hold >= HOLD_OFF:
                        self._carrier_off(t)
                else:
                    self.hold = 0
                    self.level += (a - self.level) * (1.0 / 256.0)
            t += 1
            if (self.dec_active or self.pending) and t > DELAY:
                td = t - 1 - DELAY
                dp = self.hist_d[(td - 1) & HMASK]
                d = self.hist_d[td & HMASK]
                # _decoder_step does nothing but move dprev on unless d changes sign
                # (a possible bit boundary), a bit is due, the burst is ending, or the
                # decoder waits for a pending burst: only then is it called (dprev, the
                # d of the sample before, is that ring entry)
                if (not self.dec_active or self.dec_ending
                        or ((dp < 0.0) != (d < 0.0))
                        or td + 0.5 >= self.b_m + 0.5 * (BIT_LEN + NWIN) - 1.0):
                    self.dprev = dp
                    self._decoder_step(td)
        self.t = t
        self.tidx = ti
        self.tob = to
        self.q1r = s1r
        self.q1i = s1i
        self.q0r = s0r
        self.q0i = s0i
        self.pin_s = l_pin_s
        self.ptot_s = l_ptot_s
        self.a_s = l_a_s
        self.pin_l = l_pin_l
        self.ptot_l = l_ptot_l
        return 0

    cdef int _quiet(self) noexcept:
        """Nothing near that the full receiver must follow sample by sample."""
        return (not self.carrier and self.hold == 0 and not self.pending
                and not self.dec_active and self.t - self.last_end >= HIST)

    cdef int _wake(self) except -1:
        """Run the full receiver over the skipped samples ``stale_from .. t - 1`` (at
        most the last HIST - NWIN: the ring holds their correlator windows too)."""
        cdef long long tnow = self.t, start = self.stale_from, k
        cdef Py_ssize_t j, m
        cdef int ph
        self.wakes += 1
        self.idle = 0
        if start < tnow - (HIST - NWIN):
            # a long idle: begin afresh HIST - NWIN samples back (the power averages
            # from zero, as at the start of a stream; the history before it quiet)
            start = tnow - (HIST - NWIN)
            for k in range(tnow - HIST, start):
                self.hist_a[k & HMASK] = 0.0
                self.hist_d[k & HMASK] = 0.0
            self.pin_s = self.ptot_s = self.a_s = self.pin_l = self.ptot_l = 0.0
        # the correlator windows ending at start - 1, summed afresh (exact integers)
        self.q1r = self.q1i = self.q0r = self.q0i = 0
        for k in range(start - NWIN, start):
            ph = <int> (k % TABLE)
            if ph < 0:
                ph += TABLE
            self.q1r += self.hx[k & HMASK] * Q1R[ph]
            self.q1i += self.hx[k & HMASK] * Q1I[ph]
            self.q0r += self.hx[k & HMASK] * Q0R[ph]
            self.q0i += self.hx[k & HMASK] * Q0I[ph]
        m = <Py_ssize_t> (tnow - start)
        for j in range(m):
            self.rbuf[j] = self.hx[(start + j) & HMASK]
        self.t = start
        ph = <int> (start % TABLE)
        self.tidx = ph
        self.tob = ph - NWIN if ph >= NWIN else ph + TABLE - NWIN
        self.full_samples += m
        self._run_full(self.rbuf, m)
        return 0

    def process(self, x):
        """Feed samples: an int16, 1-D, contiguous array (or any buffer of C shorts);
        TypeError / ValueError otherwise, before anything is processed."""
        cdef const short[::1] mv
        cdef const short* p
        cdef Py_ssize_t n
        if (cnp.PyArray_CheckExact(x) and cnp.PyArray_TYPE(<cnp.ndarray> x) == cnp.NPY_INT16
                and cnp.PyArray_NDIM(<cnp.ndarray> x) == 1
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> x)):
            # the usual block: its data in place, without making a memoryview (~500
            # instructions a call)
            n = cnp.PyArray_DIM(<cnp.ndarray> x, 0)
            p = <const short*> cnp.PyArray_DATA(<cnp.ndarray> x)
        else:
            mv = x
            n = mv.shape[0]
            p = &mv[0] if n else NULL
        if n:
            self._process(p, n)

    cdef int _process(self, const short* x, Py_ssize_t n) except -1:
        """``x[0:n]``, n >= 1 (x points at n readable samples: the caller's array or
        memoryview, alive for the call)."""
        cdef Py_ssize_t i = 0, m, h
        cdef long long t, g33r, g33i, g37r, g37i, ge
        cdef int ti
        cdef int sums[5]
        cdef double e, b
        while i < n:
            m = TABLE - self.tidx
            if m > n - i:
                m = n - i
            if self.idle:
                t = self.t
                ti = self.tidx
                # the samples into the ring (one or two pieces: the ring may wrap)
                h = <Py_ssize_t> (t & HMASK)
                if h + m <= HIST:
                    memcpy(&self.hx[h], x + i, m * sizeof(short))
                else:
                    memcpy(&self.hx[h], x + i, (HIST - h) * sizeof(short))
                    memcpy(&self.hx[0], x + i + (HIST - h), (m - (HIST - h)) * sizeof(short))
                _gate_sums(x + i, &G1R[ti], &G1I[ti], &G0R[ti], &G0I[ti], m, sums)
                self.g33r += sums[0]
                self.g33i += sums[1]
                self.g37r += sums[2]
                self.g37i += sums[3]
                self.ge += sums[4]
                self.t = t + m
                ti += m
                i += m
                if ti < TABLE:
                    self.tidx = ti
                    continue
                g33r = self.g33r
                g33i = self.g33i
                g37r = self.g37r
                g37i = self.g37i
                ge = self.ge
                self.tidx = 0
                self.tob = TABLE - NWIN
                self.g33r = self.g33i = self.g37r = self.g37i = self.ge = 0
                # (the sums are in Q8: b is 2^16 x |X|^2, e 2^-8 x the energy)
                e = 256.0 * ge
                b = ((<double> g33r) * g33r + (<double> g33i) * g33i
                     + (<double> g37r) * g37r + (<double> g37i) * g37i) / 65536.0
                if (e >= GATE_FLOOR * self.on_thr * TABLE
                        and (b >= GATE_SHARE * 0.5 * TABLE * e or e >= GATE_RISE * self.e_prev)):
                    self._wake()
                else:
                    self.e_prev = e
                continue
            self.full_samples += m
            self._run_full(x + i, m)
            i += m
            if self.tidx == 0 and self._quiet():
                self.idle = 1
                self.stale_from = self.t
                self.e_prev = self.ptot_s * TABLE
        return 0


cdef class V21Modulator:
    """Phase-continuous FSK modulator, table driven (issue 14). Both tones are whole
    numbers of cycles in TABLE = 160 samples (1650 Hz: 33, 1850 Hz: 37), so the phase in
    units of 1/160 cycle is an integer ``ph`` in ``[0, TABLE)`` that steps by 33 (mark)
    or 37 (space) per sample, and a sample is ``tbl[ph]`` = round(amp x sin(2 pi ph/160)),
    rounded half away from zero. That is the plain phasor (``v21.reference_samples``, the
    numpy reading the tests compare with) without its per-sample multiply chain and per-bit
    renormalisation: the same samples (the phasor's rounding error, ~1e-15, never moves a
    sample across a rounding boundary on the tested bursts; the test bounds it by 0 LSB).
    Bit clock 300/8000 kept with integers (80 units per bit, 3 per sample)."""

    cdef double amp
    cdef short tbl[TABLE]
    # the tone's samples in the order a tone visits them: seq1[k] = tbl[33 k mod TABLE]
    # (mark), seq0[k] = tbl[37 k mod TABLE] (space), k < TABLE + SEQX, so a bit's run of
    # samples (at most 27) is one copy from seq at pos[ph] (k with step x k = ph mod TABLE)
    cdef short seq1[TABLE + SEQX]
    cdef short seq0[TABLE + SEQX]
    cdef unsigned char pos1[TABLE]
    cdef unsigned char pos0[TABLE]
    cdef int ph, step, clk, cur

    def __init__(self, double amplitude):
        cdef int k
        cdef double v
        if not (0.0 <= amplitude <= 32767.0):
            # |amp * sin| <= amp must fit the int16 table entries
            raise ValueError("amplitude must be 0..32767")
        self.amp = amplitude
        for k in range(TABLE):
            v = amplitude * sin(2.0 * M_PI * k / TABLE)
            self.tbl[k] = <short> (v + 0.5 if v >= 0 else v - 0.5)
        for k in range(TABLE + SEQX):
            self.seq1[k] = self.tbl[(33 * k) % TABLE]
            self.seq0[k] = self.tbl[(37 * k) % TABLE]
        for k in range(TABLE):
            self.pos1[(33 * k) % TABLE] = k
            self.pos0[(37 * k) % TABLE] = k
        self.ph = 0
        self.clk = 80
        self.cur = 1
        self.step = 33

    def bits_needed(self, int n):
        """How many new bits the next ``n`` samples start."""
        if n <= 0:
            return 0
        return (self.clk + 3 * (n - 1)) // 80

    def samples_for(self, long long bits):
        """The most samples the next ``bits`` bits fill: the largest ``n`` with
        ``bits_needed(n) <= bits`` (the inverse of :meth:`bits_needed`)."""
        cdef long long room = 80 * bits + 79 - self.clk
        if bits < 0 or room < 0:
            return 0
        return room // 3 + 1

    def run(self, short[::1] out, const unsigned char[::1] bits):
        """Fill ``out`` from ``bits``; stops early (at a bit boundary) when bits run out.
        Returns (samples written, bits consumed)."""
        cdef Py_ssize_t i, n = out.shape[0], nb = bits.shape[0], used = 0
        cdef int ph = self.ph, step = self.step, clk = self.clk
        for i in range(n):
            if clk >= 80:
                if used >= nb:
                    self.ph = ph
                    self.clk = clk
                    return i, used
                self.cur = bits[used]
                used += 1
                clk -= 80
                step = 33 if self.cur else 37
            out[i] = self.tbl[ph]
            ph += step
            if ph >= TABLE:
                ph -= TABLE
            clk += 3
        self.ph = ph
        self.step = step
        self.clk = clk
        return n, used


cdef class V21TxCore(V21Modulator):
    """The whole per-block transmit path in C (issue 14): the bit queue is a uint8 array
    read in place, and ``tx(n)`` makes its int16 block and fills it in one call (no
    Python per block). Bits after the queue are ones (the fill) until ``final``; with
    ``final`` the burst ends at the bit boundary where the queue runs out (``done``)."""

    cdef cnp.ndarray qbuf
    cdef Py_ssize_t qpos
    cdef public bint final
    cdef public bint done

    def __init__(self, double amplitude):
        V21Modulator.__init__(self, amplitude)
        cdef cnp.npy_intp zero = 0
        # (the C API, not np.zeros: a transmitter is made per burst, and the Python-level
        # numpy calls cost more than the burst's first blocks)
        self.qbuf = cnp.PyArray_EMPTY(1, &zero, cnp.NPY_UINT8, 0)
        self.qpos = 0
        self.final = False
        self.done = False

    cdef void _append(self, const unsigned char* b, Py_ssize_t nb):
        """The queue becomes its unsent bits then ``b[0:nb]`` (a new array: the caller's
        buffer is not kept)."""
        cdef Py_ssize_t rest = self.qbuf.shape[0] - self.qpos
        cdef cnp.npy_intp dim = rest + nb
        cdef cnp.ndarray q = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_UINT8, 0)
        cdef unsigned char* d = <unsigned char*> cnp.PyArray_DATA(q)
        if rest:
            memcpy(d, <const unsigned char*> cnp.PyArray_DATA(self.qbuf) + self.qpos, rest)
        memcpy(d + rest, b, nb)
        self.qbuf = q
        self.qpos = 0

    def _put(self, cnp.ndarray bits):
        """Queue ``bits`` (uint8 0/1, 1-D, contiguous, as ``base.as_bits`` makes them)."""
        if (cnp.PyArray_TYPE(bits) != cnp.NPY_UINT8 or cnp.PyArray_NDIM(bits) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(bits)):
            raise ValueError("bits must be a 1-D contiguous uint8 array")
        if bits.shape[0]:
            self._append(<const unsigned char*> cnp.PyArray_DATA(bits), bits.shape[0])

    def _put_plain(self, bits):
        """Queue ``bits`` if it is a 1-D contiguous uint8 ndarray (what callers usually
        pass), checking the values are 0/1 in C: True. Anything else: False, nothing
        queued (the caller converts it with ``base.as_bits`` and calls ``_put``). A value
        above 1: ValueError (as ``as_bits``), nothing queued."""
        cdef Py_ssize_t i, nb
        cdef const unsigned char* b
        if not (cnp.PyArray_CheckExact(bits)
                and cnp.PyArray_TYPE(<cnp.ndarray> bits) == cnp.NPY_UINT8
                and cnp.PyArray_NDIM(<cnp.ndarray> bits) == 1
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> bits)):
            return False
        nb = cnp.PyArray_DIM(<cnp.ndarray> bits, 0)
        b = <const unsigned char*> cnp.PyArray_DATA(<cnp.ndarray> bits)
        for i in range(nb):
            if b[i] > 1:
                raise ValueError("bits must be 0 or 1 (one bit per element/byte)")
        if nb:
            self._append(b, nb)
        return True

    @property
    def queued(self):
        return self.qbuf.shape[0] - self.qpos

    def continues_past(self, Py_ssize_t n):
        """True if ``tx(n)`` now surely leaves ``done`` False (enough bits are queued
        for all ``n`` samples, or more are announced)."""
        if self.done:
            return False
        return not self.final or self.qbuf.shape[0] - self.qpos >= self.bits_needed(n)

    def sure_samples(self):
        """The most samples ``tx`` surely gives now without ending the burst: the largest
        ``n`` for which :meth:`continues_past` is True (what the transmit pump,
        :mod:`faxcore.modem.txpump`, may take ahead)."""
        if self.done:
            return 0
        if not self.final:
            return 1 << 30  # fill follows the data: the burst cannot end
        return self.samples_for(self.qbuf.shape[0] - self.qpos)

    def tx(self, Py_ssize_t n):
        """The next ``n`` samples (zeros after the end of the burst)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        cdef cnp.npy_intp dim = n
        cdef cnp.ndarray out
        if self.done or n == 0:
            return cnp.PyArray_ZEROS(1, &dim, cnp.NPY_INT16, 0)
        # (not zeroed: every sample is written below, the tail after the burst's end too)
        out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_INT16, 0)
        cdef short* o = <short*> cnp.PyArray_DATA(out)
        cdef const unsigned char* q = <const unsigned char*> cnp.PyArray_DATA(self.qbuf)
        cdef Py_ssize_t i = 0, m, qpos = self.qpos, qlen = self.qbuf.shape[0]
        cdef int ph = self.ph, step = self.step, clk = self.clk
        while i < n:
            if clk >= 80:
                if qpos < qlen:
                    self.cur = q[qpos]
                    qpos += 1
                elif self.final:
                    # out of bits at a bit boundary: the burst ends here, the rest of
                    # out is zeros
                    self.done = True
                    memset(o + i, 0, (n - i) * sizeof(short))
                    break
                else:
                    self.cur = 1
                clk -= 80
                step = 33 if self.cur else 37
            # the samples up to the next bit boundary (clk < 80 here, so m >= 1) or the
            # end of the block: i + m <= n
            m = (79 - clk) // 3 + 1
            if m > n - i:
                m = n - i
            # the run: m <= 27 samples of one tone from its phase on (pos < TABLE, so
            # pos + m <= TABLE + SEQX), the same samples as tbl[ph], tbl[ph + step], ...
            if step == 33:
                memcpy(o + i, &self.seq1[self.pos1[ph]], m * sizeof(short))
            else:
                memcpy(o + i, &self.seq0[self.pos0[ph]], m * sizeof(short))
            ph = (ph + step * m) % TABLE
            clk += 3 * m
            i += m
        self.ph = ph
        self.step = step
        self.clk = clk
        self.qpos = qpos
        return out
