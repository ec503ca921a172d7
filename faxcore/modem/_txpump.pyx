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
* ``fill_c`` (the session pump's entry, and ``fill``'s) is given a pointer to ``n``
  writeable int16 samples and ``0 <= pos <= n``: ``fill`` gets them from a typed
  ``int16_t[::1]`` memoryview of ``out``; the session pump from an ndarray it checked to
  be writeable, 1-D, C-contiguous, native int16, of ``n`` samples.
* ``_held`` is a C-contiguous int16 ndarray of ``hlen`` samples (set only in ``__init__``
  and ``_take``: what ``_tx`` checked, or a new ``PyArray_EMPTY`` of ``left + k``
  samples filled by two copies, the ``left = hlen - hpos > 0`` held ones from
  ``hp[hpos]`` and the ``k`` new ones), ``hp`` its data (set with it; the array is kept
  by ``_held``), and ``0 <= hpos <= hlen``; reads are ``hp[hpos + i]`` with ``i < take
  <= hlen - hpos``.
* What the transmitter returns is checked to be a 1-D C-contiguous native int16 array
  (converted with ``np.ascontiguousarray`` if it is not) of exactly the length asked for
  (else ``RuntimeError``) before it is copied.
* ``_quiet`` scans ``o[a..b)`` with ``0 <= a < b <= n``.
* Memory: at most ``ahead`` (+ what was held, under one block) samples are held.
"""

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int16_t
from libc.string cimport memcpy

cnp.import_array()

DEF CHUNK = 40

ctypedef const int16_t* cptr


cdef inline bint _is_samples(object a):
    """``a`` is a 1-D, C-contiguous, native-order int16 ndarray."""
    if type(a) is not np.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray> a
    return (cnp.PyArray_TYPE(arr) == cnp.NPY_INT16 and cnp.PyArray_NDIM(arr) == 1
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISNOTSWAPPED(arr))


cdef inline Py_ssize_t _quiet(const int16_t* o, Py_ssize_t a, Py_ssize_t b,
                              Py_ssize_t quiet) noexcept:
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

    # fields: see _txpump.pxd

    def __init__(self, src, Py_ssize_t ahead=1600):
        if ahead < 1:
            raise ValueError("ahead must be at least one sample")
        self.src = src
        self.ahead = ahead
        self.done = False
        self._held = np.zeros(1, np.int16)[:0]
        self.hp = <cptr> cnp.PyArray_DATA(self._held)
        self.hpos = 0
        self.hlen = 0

    @property
    def held(self):
        """Samples taken from the transmitter and not yet played."""
        return self.hlen - self.hpos

    cdef cnp.ndarray _tx(self, Py_ssize_t k):
        """``src.tx(k)`` as a C-contiguous native int16 array of ``k`` samples (what the
        modems give already: then no conversion call through numpy's Python layer)."""
        got = self.src.tx(k)
        if not _is_samples(got):
            got = np.ascontiguousarray(got, dtype=np.int16)
            if not _is_samples(got):
                raise RuntimeError(f"the transmitter gave {got.shape} samples for tx({k})")
        cdef cnp.ndarray a = <cnp.ndarray> got
        if cnp.PyArray_DIM(a, 0) != k:
            raise RuntimeError(f"the transmitter gave {got.shape} samples for tx({k})")
        return a

    cdef void _take(self, Py_ssize_t k) except *:
        """Hold ``k`` more samples from the transmitter (after those still held)."""
        cdef cnp.ndarray new = self._tx(k)
        cdef Py_ssize_t left = self.hlen - self.hpos
        cdef cnp.npy_intp dims[1]
        cdef int16_t* d
        if left > 0:
            # the held rest, then the new samples, in one new array (np.concatenate
            # without its Python call)
            dims[0] = left + k
            merged = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INT16, 0)
            d = <int16_t*> cnp.PyArray_DATA(merged)
            memcpy(d, &self.hp[self.hpos], left * sizeof(int16_t))
            memcpy(&d[left], cnp.PyArray_DATA(new), k * sizeof(int16_t))
            new = merged
        self._held = new
        self.hp = <cptr> cnp.PyArray_DATA(new)
        self.hpos = 0
        self.hlen = cnp.PyArray_DIM(new, 0)

    def fill(self, out, Py_ssize_t pos, Py_ssize_t quiet):
        """Write the burst into ``out[pos:]``: returns (the position after the last
        sample written, the zero samples at the end of the stream so far); ``done`` when
        the burst ended there."""
        cdef int16_t[::1] o = out
        cdef Py_ssize_t n = o.shape[0], end
        if not 0 <= pos <= n:
            raise ValueError("pos outside the block")
        if pos == n:
            return pos, quiet
        end = self.fill_c(&o[0], n, pos, &quiet)
        return end, quiet

    cdef Py_ssize_t fill_c(self, int16_t* o, Py_ssize_t n, Py_ssize_t pos,
                           Py_ssize_t* quiet) except -1:
        """``fill`` on ``n`` samples at ``o`` (``0 <= pos <= n``): returns the end position;
        ``quiet[0]`` is updated."""
        cdef Py_ssize_t need, k, take, sure
        cdef cnp.ndarray got
        while pos < n:
            need = n - pos
            if self.hlen - self.hpos < need:
                sure = self.src.sure_samples()
                k = sure if sure < self.ahead else self.ahead
                if k > 0:
                    self._take(k)
            if self.hlen - self.hpos >= need:  # the usual case: held samples cover it
                memcpy(&o[pos], &self.hp[self.hpos], need * sizeof(int16_t))
                self.hpos += need
                quiet[0] = _quiet(o, pos, n, quiet[0])
                return n
            # the burst may end in this block: 40 samples at a time, held ones first
            k = CHUNK if need > CHUNK else need
            take = self.hlen - self.hpos
            if take > k:
                take = k
            if take > 0:
                memcpy(&o[pos], &self.hp[self.hpos], take * sizeof(int16_t))
                self.hpos += take
            if take < k:
                got = self._tx(k - take)
                memcpy(&o[pos + take], cnp.PyArray_DATA(got), (k - take) * sizeof(int16_t))
            quiet[0] = _quiet(o, pos, pos + k, quiet[0])
            pos += k
            if take < k and self.src.done:
                self.done = True
                return pos
        return pos
