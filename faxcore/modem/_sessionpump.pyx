# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The session pump, compiled: see :mod:`faxcore.modem.sessionpump` for what it does
(:class:`faxcore.modem.sessionpump.ReferenceSessionPump` is the same in plain Python, and
the tests check whole calls give the same audio and the same engine events with either).

One ``rx(samples, pos)`` / ``tx(out, pos, first)`` call per block per direction runs the
receive pump, the held receiver, the transmit pump, silence and the deadline check, and
returns None (no allocation) unless the session has something to do.

Memory safety. Bounds checks are off, so every index below is proven in range:

* ``rx`` reads samples only after checking ``samples`` is a 1-D, C-contiguous,
  native-order int16 ``ndarray`` (else it returns the ``CONVERT`` stop at once);
  ``total`` is its length and each block is ``[start, start + n)`` with ``n >= 1``,
  ``start + n <= total``; the loud scan reads ``x[start + i]`` for ``0 <= i < n``.
* ``tx`` writes only after checking ``out`` is a writeable 1-D, C-contiguous,
  native-order int16 ``ndarray`` and ``0 <= pos <= n`` (``n`` its length); ``tx_new``
  makes such an array itself (``PyArray_EMPTY``, ``n >= 0`` checked) and fills it
  through the same ``_fill`` from ``pos = 0``; ``memset``
  clears ``[pos, pos + k)`` with ``1 <= k <= n - pos``. The transmit pump writes its own
  part: the compiled ``TxPump`` through ``fill_c`` with that pointer, ``n`` and ``pos``
  (its contract, see _txpump.pyx), any other through its checked ``fill``; the end it
  returns is checked to be in ``[pos, n]``.
* Allocation: the step itself allocates nothing for a block without news (a stop is a
  tuple; a block handed to a receiver is a view when it is not the whole array); what
  it calls may (the modem cores hand back their bits as new arrays, the transmit pump
  refills its 200 ms of samples every ten 20 ms blocks). Nothing is kept from one call
  to the next but the state fields below.
"""

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int16_t
from libc.math cimport INFINITY, ceil
from libc.string cimport memset

from faxcore.modem._pump cimport RxPump
from faxcore.modem._txpump cimport TxPump

from faxcore.modem import txpump
from faxcore.modem.base import SAMPLE_RATE as _SAMPLE_RATE
from faxcore.modem.sessionpump import NEVER as _NEVER
from faxcore.modem.sessionpump import RX_BLOCK as _RX_BLOCK
from faxcore.modem.sessionpump import RX_LOUD as _RX_LOUD
from faxcore.modem.sessionpump import Silence

cnp.import_array()

# stops (the same numbers as faxcore.modem.sessionpump)
DEF RELEASE = 1
DEF TIMER = 2
DEF CODES = 3
DEF SRC_DONE = 4
DEF SLOW = 5
DEF CONVERT = 6

cdef Py_ssize_t RX_BLOCK = _RX_BLOCK
cdef double SAMPLE_RATE = _SAMPLE_RATE
cdef double C_NEVER = _NEVER
cdef int RX_LOUD = _RX_LOUD
cdef object SilenceType = Silence
cdef object supports = txpump.supports
cdef object ndarray = np.ndarray
cdef tuple T_CONVERT = (0, 0, CONVERT, None)


def deadline_samples(seconds) -> int:
    """:func:`faxcore.modem.sessionpump.deadline_samples` compiled (the session's
    ``set_deadline`` after every engine step): the same floating-point steps on C
    doubles (``c`` stays below 2**62, so ``c`` and ``c - 1`` convert exactly when below
    2**53, the deadlines of any call, and ``x / 8000.0`` is then the same correctly
    rounded division as Python's ``int / int``); a deadline at or beyond ``NEVER``
    samples is ``NEVER``."""
    return _deadline(seconds)


cdef long long _deadline(object seconds) except? -1:
    if seconds is None:
        return _NEVER
    cdef double s = seconds
    cdef double x
    cdef long long c
    if s != s or s == INFINITY:  # NaN / inf never come due
        return _NEVER
    if s <= 0:
        return 0
    x = ceil(s * SAMPLE_RATE)
    if x >= C_NEVER:
        return _NEVER
    c = <long long> x
    while c > 0 and (c - 1) / SAMPLE_RATE >= s:
        c -= 1
    while c / SAMPLE_RATE < s:
        c += 1
    return c


cdef inline bint _good(object a, bint write):
    """``a`` is a 1-D, C-contiguous, native-order int16 ndarray (writeable if ``write``)."""
    if type(a) is not ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray> a
    if cnp.PyArray_TYPE(arr) != cnp.NPY_INT16 or cnp.PyArray_NDIM(arr) != 1:
        return False
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISNOTSWAPPED(arr):
        return False
    if write and not cnp.PyArray_ISWRITEABLE(arr):
        return False
    return True


cdef class SessionPump:
    """SessionPump(tx_pump): see :class:`faxcore.modem.sessionpump.ReferenceSessionPump`
    (same arguments, fields and results). Use :func:`faxcore.modem.sessionpump.session_pump`."""

    cdef public object tx_pump
    cdef public long long rx_clock, tx_clock, rx_loud_end, quiet, hold_until, deadline
    cdef public object rxm, hold, src, txp, txp_src, cng
    cdef public bint engine_done
    cdef public object stop

    def __init__(self, tx_pump=txpump.tx_pump):
        self.tx_pump = tx_pump
        self.rx_clock = 0
        self.tx_clock = 0
        self.rx_loud_end = 0
        self.quiet = 0
        self.rxm = None
        self.hold = None
        self.hold_until = _NEVER
        self.src = None
        self.txp = None
        self.txp_src = None
        self.cng = None
        self.deadline = _NEVER
        self.engine_done = False
        self.stop = None

    def set_deadline(self, seconds):
        """``deadline = deadline_samples(seconds)``: the engine's next deadline (None:
        none) as a sample clock."""
        self.deadline = _deadline(seconds)

    def rx(self, samples, Py_ssize_t pos):
        """Hear ``samples[pos:]``: None, or (start, end, stop, codes): see the module
        :mod:`faxcore.modem.sessionpump`. ``CONVERT``: ``samples`` is not contiguous
        int16 audio (the caller converts it and calls again)."""
        if not _good(samples, False):
            return T_CONVERT
        cdef cnp.ndarray arr = <cnp.ndarray> samples
        cdef const int16_t* x = <const int16_t*> cnp.PyArray_DATA(arr)
        cdef Py_ssize_t total = cnp.PyArray_DIM(arr, 0)
        cdef Py_ssize_t start, n, i
        cdef long long now
        cdef int v
        if pos < 0:
            raise ValueError("pos outside the samples")
        while pos < total:
            start = pos
            n = total - pos
            if n > RX_BLOCK:
                n = RX_BLOCK
            pos += n
            block = None
            if self.rxm is not None or self.hold is not None:  # listening
                i = n - 1
                while i >= 0:
                    v = x[start + i]
                    if v > RX_LOUD or v < -RX_LOUD:
                        self.rx_loud_end = self.rx_clock + i + 1
                        break
                    i -= 1
            self.rx_clock += n
            now = self.rx_clock if self.rx_clock > self.tx_clock else self.tx_clock
            if self.hold is not None:
                block = samples if n == total else samples[start:pos]
                self.hold.rx(block)
                if not self.hold.up or now >= self.hold_until:
                    return start, pos, RELEASE, None
            if now >= self.deadline:
                return start, pos, TIMER, None
            if self.rxm is None or self.engine_done:
                continue
            if block is None:
                block = samples if n == total else samples[start:pos]
            if type(self.rxm) is RxPump:  # the compiled one: None when nothing happened
                codes = (<RxPump> self.rxm).step(block)
            else:
                codes = self.rxm.rx(block)
            if codes:
                return start, pos, CODES, codes
        return None

    def tx(self, out, Py_ssize_t pos, bint first):
        """Fill ``out[pos:]``: None, or (pos, stop): see :mod:`faxcore.modem.sessionpump`."""
        if not _good(out, True):
            raise ValueError("out must be a writeable 1-D contiguous int16 array")
        cdef cnp.ndarray arr = <cnp.ndarray> out
        cdef Py_ssize_t n = cnp.PyArray_DIM(arr, 0)
        if not 0 <= pos <= n:
            raise ValueError("pos outside the block")
        return self._fill(arr, <int16_t*> cnp.PyArray_DATA(arr), n, pos, first)

    def tx_new(self, Py_ssize_t n):
        """A new array of ``n`` samples, filled as ``tx(out, 0, True)`` fills it; what
        that returned is in ``stop``."""
        if n < 0:
            raise ValueError("sample count must be >= 0")
        cdef cnp.npy_intp dims[1]
        dims[0] = n
        cdef cnp.ndarray arr = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INT16, 0)
        self.stop = self._fill(arr, <int16_t*> cnp.PyArray_DATA(arr), n, 0, True)
        return arr

    cdef object _fill(self, cnp.ndarray out, int16_t* o, Py_ssize_t n, Py_ssize_t pos,
                      bint first):
        """``tx`` on ``out`` (checked: writeable 1-D C-contiguous native int16, ``n``
        samples at ``o``, ``0 <= pos <= n``)."""
        cdef Py_ssize_t k, end, q
        cdef TxPump ctp
        cdef long long left
        if first and self.hold is not None and \
                (self.rx_clock if self.rx_clock > self.tx_clock else self.tx_clock) \
                >= self.hold_until:
            return pos, RELEASE
        while pos < n:
            src = self.src
            if src is not self.txp_src:  # a new source: a modem burst gets a pump
                self.txp_src = src
                self.txp = self.tx_pump(src) if self.tx_pump is not None and \
                    supports(src) else None
            if self.txp is not None:
                if type(self.txp) is TxPump:  # the compiled one: no Python call
                    ctp = <TxPump> self.txp
                    q = self.quiet
                    end = ctp.fill_c(o, n, pos, &q)
                    self.quiet = q
                else:
                    end, self.quiet = self.txp.fill(out, pos, self.quiet)
                if not pos <= end <= n:
                    raise RuntimeError("the transmit pump went outside the block")
                self.tx_clock += end - pos
                pos = end
                if self.txp.done:
                    return pos, SRC_DONE
                continue
            if src is None:
                if self.cng is not None:
                    return pos, SLOW
                memset(&o[pos], 0, (n - pos) * sizeof(int16_t))
                self.tx_clock += n - pos
                pos = n
                continue
            if type(src) is SilenceType:
                left = src.left
                k = n - pos
                if left < k:
                    k = left if left > 1 else 1
                memset(&o[pos], 0, k * sizeof(int16_t))
                left -= k
                src.left = left
                self.quiet += k
                self.tx_clock += k
                pos += k
                if left <= 0:
                    return pos, SRC_DONE
                continue
            return pos, SLOW
        if (self.rx_clock if self.rx_clock > self.tx_clock else self.tx_clock) >= self.deadline:
            return pos, TIMER
        return None
