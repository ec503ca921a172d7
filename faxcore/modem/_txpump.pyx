# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The session's transmit pump, compiled: see :mod:`faxcore.modem.txpump` for what it does
(:class:`faxcore.modem.txpump.ReferenceTxPump` is the same in plain Python, and the tests
check that whole calls give the same audio, sample for sample, with either).

One ``fill(out, pos, quiet)`` call per block: when the samples held cover the block (the
usual case) it is one copy and a scan for the trailing zeros, with no Python; the
transmitter (Python and its compiled modulator) is asked for up to ``ahead`` samples at
a time (200 ms), and piece by piece only near the burst's end.

Memory safety. Bounds checks are off, so every index below is proven in range:

* ``fill`` first checks ``out`` is 1-D C-contiguous int16 (a typed ``int16_t[::1]``
  memoryview) and ``0 <= pos <= n`` where ``n = out.shape[0]``; every write is
  ``o[pos + i]`` with ``0 <= i < k`` and ``pos + k <= n`` (``k`` is ``need = n - pos``
  or ``min(CHUNK, need)``).
* ``held`` is a C-contiguous int16 array of ``hlen`` samples (set only in ``_take``,
  from ``np.ascontiguousarray(..., np.int16)``), and ``0 <= hpos <= hlen``; reads are
  ``h[hpos + i]`` with ``i < take <= hlen - hpos``.
* What the transmitter returns is checked to be exactly the length asked for (else
  ``RuntimeError``) before it is copied with bounds-checked numpy slicing.
* ``_quiet`` scans ``o[a..b)`` with ``0 <= a < b <= n``.
* Memory: at most ``ahead`` (+ what was held, under one block) samples are held.
"""

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int16_t
from libc.string cimport memcpy

cnp.import_array()

DEF CHUNK = 40


cdef inline Py_ssize_t _quiet(const int16_t[::1] o, Py_ssize_t a, Py_ssize_t b,
                              Py_ssize_t quiet):
    """Zero samples at the end of the stream after ``o[a:b]`` (``quiet`` before it)."""
    cdef Py_ssize_t i = b - 1
    while i >= a:
        if o[i] != 0:
            return b - 1 - i
        i -= 1
    return quiet + (b - a)


cdef class TxPump:
    """Plays one transmitter ``src`` into the session's output blocks: see
    :class:`faxcore.modem.txpump.ReferenceTxPump` (same arguments, same results)."""

    cdef readonly object src
    cdef readonly Py_ssize_t ahead
    cdef public bint done
    cdef object _held
    cdef Py_ssize_t hpos, hlen

    def __init__(self, src, Py_ssize_t ahead=1600):
        if ahead < 1:
            raise ValueError("ahead must be at least one sample")
        self.src = src
        self.ahead = ahead
        self.done = False
        self._held = np.zeros(0, np.int16)
        self.hpos = 0
        self.hlen = 0

    @property
    def held(self):
        """Samples taken from the transmitter and not yet played."""
        return self.hlen - self.hpos

    cdef object _tx(self, Py_ssize_t k):
        got = np.ascontiguousarray(self.src.tx(k), dtype=np.int16)
        if got.ndim != 1 or got.shape[0] != k:
            raise RuntimeError(f"the transmitter gave {got.shape} samples for tx({k})")
        return got

    cdef void _take(self, Py_ssize_t k) except *:
        """Hold ``k`` more samples from the transmitter (after those still held)."""
        new = self._tx(k)
        if self.hpos < self.hlen:
            new = np.concatenate((self._held[self.hpos:self.hlen], new))
        self._held = new
        self.hpos = 0
        self.hlen = new.shape[0]

    def fill(self, out, Py_ssize_t pos, Py_ssize_t quiet):
        """Write the burst into ``out[pos:]``: returns (the position after the last
        sample written, the zero samples at the end of the stream so far); ``done`` when
        the burst ended there."""
        cdef int16_t[::1] o = out
        cdef const int16_t[::1] h
        cdef Py_ssize_t n = o.shape[0], need, k, take, sure
        if not 0 <= pos <= n:
            raise ValueError("pos outside the block")
        while pos < n:
            need = n - pos
            if self.hlen - self.hpos < need:
                sure = self.src.sure_samples()
                k = sure if sure < self.ahead else self.ahead
                if k > 0:
                    self._take(k)
            h = self._held
            if self.hlen - self.hpos >= need:  # the usual case: held samples cover it
                memcpy(&o[pos], &h[self.hpos], need * sizeof(int16_t))
                self.hpos += need
                return n, _quiet(o, pos, n, quiet)
            # the burst may end in this block: 40 samples at a time, held ones first
            k = CHUNK if need > CHUNK else need
            take = self.hlen - self.hpos
            if take > k:
                take = k
            if take > 0:
                memcpy(&o[pos], &h[self.hpos], take * sizeof(int16_t))
                self.hpos += take
            if take < k:
                out[pos + take:pos + k] = self._tx(k - take)
            quiet = _quiet(o, pos, pos + k, quiet)
            pos += k
            if take < k and self.src.done:
                self.done = True
                return pos, quiet
        return pos, quiet
