# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The session's receive pump, compiled: see :mod:`faxcore.modem.pump` for what it does
(:class:`faxcore.modem.pump.ReferenceRxPump` is the same in plain Python, and the tests
check the two give the same codes on the same audio).

One ``rx(block)`` call per block runs the modem core, the HDLC deframer or the octet
assembly, and the V.21 watch, calling the compiled cores (QAM receiver, V.21
demodulator, deframer) directly, with no Python frame in between; it returns a list of
``(code, payload)`` (empty in the usual case). The session pump
(:mod:`faxcore.modem._sessionpump`) calls ``step(block)`` instead (declared in
``_pump.pxd``): the same codes, or None when there are none, with nothing allocated by
the pump for a block that changed nothing (the events are counted, not listed).

Memory safety. Bounds checks are off, so every index below is proven in range:

* ``_pack`` reads ``b[i]`` for ``0 <= i < n`` only, ``b`` the data of a 1-D C-contiguous
  array of ``n`` one-octet elements (checked, else made by ``np.ascontiguousarray``),
  and writes ``o[k]`` for ``k < nbytes``, where ``nbytes = (nacc + n) // 8`` is the exact
  number of octets completed (each write follows eight accumulated bits, and ``o`` is a
  new bytes object of ``nbytes`` octets; with ``nbytes == 0`` no eighth bit comes, so
  the NULL ``o`` is never written).
* ``nacc`` stays in ``0..7`` and ``acc`` below ``1 << 8`` (reset after each octet).
* No other indexing; everything else is Python objects (lists, tuples, bytes).
* ``step``'s counters (events of one block) are C ints; the event lists they count come
  from the cores and are read, not indexed.
* Memory: the pump holds at most 7 bits of a page's data between calls; the codes of a
  block are handed out and not kept; the cores bound their own buffers.
"""

import logging

import numpy as np

cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from faxcore.modem import qam_core, v27ter_core
from faxcore.modem.hdlc_core import Deframer

cnp.import_array()

log = logging.getLogger("faxcore.modem.pump")

DEF K_V21 = 0
DEF K_QAM = 1
DEF K_GENERIC = 2
DEF K_V27 = 3

# codes (the same numbers as faxcore.modem.pump)
DEF UP = 1
DEF DOWN = 2
DEF FRAME = 3
DEF DATA = 4
DEF TRAINING_FAILED = 5
DEF WRONG_CARRIER = 6

DEF FLAGS_NEEDED = 5
DEF MIN_FRAME = 3

cdef int EV_DOWN = qam_core.EV_CARRIER_DOWN
cdef int EV_OK = qam_core.EV_TRAINING_SUCCEEDED
cdef int EV_FAILED = qam_core.EV_TRAINING_FAILED
# the V.27ter core's codes are the same numbers (checked on import)
if (v27ter_core.EV_CARRIER_DOWN, v27ter_core.EV_TRAINING_SUCCEEDED,
        v27ter_core.EV_TRAINING_FAILED) != (EV_DOWN, EV_OK, EV_FAILED):
    raise ImportError("V.27ter and QAM event codes differ")

cdef tuple T_UP = (UP, None)
cdef tuple T_DOWN = (DOWN, None)
cdef tuple T_FAILED = (TRAINING_FAILED, None)
cdef tuple T_WRONG = (WRONG_CARRIER, None)


cdef inline int _code(int code) noexcept:
    """A core's event code as the pump counts it: 1 training succeeded, 2 training
    failed, 3 carrier down, 0 another."""
    return 1 if code == EV_OK else 2 if code == EV_FAILED else 3 if code == EV_DOWN else 0


cdef class RxPump:
    """RxPump(receiver, name, hdlc, watch_receiver=None): ``receiver`` a modem receiver
    made by :func:`faxcore.modem.receiver` for ``name``; ``watch_receiver`` a V.21 one or
    None. Use :func:`faxcore.modem.pump.rx_pump`."""

    # fields: see _pump.pxd

    def __init__(self, receiver, str name, bint hdlc, watch_receiver=None):
        self.m = receiver
        self.fast = name != "v21"
        self.hdlc = hdlc
        self.up = False
        if name == "v21":
            self.kind = K_V21
            self.core = receiver
        elif name in ("v29", "v17"):
            self.kind = K_QAM
            self.core = receiver._core
        elif name == "v27ter":
            self.kind = K_V27
            self.core = receiver._core
        else:
            self.kind = K_GENERIC
            self.core = receiver
        self.dec = Deframer(FLAGS_NEEDED, MIN_FRAME) if hdlc else None
        self.watch = watch_receiver
        self.wdec = Deframer(FLAGS_NEEDED, MIN_FRAME) if watch_receiver is not None else None
        self.acc = 0
        self.nacc = 0

    cdef object _demod(self, block):
        """Run the modem on ``block``: returns its bits (None if none); its events are
        counted in ``n_ok`` (training succeeded), ``n_failed`` (training failed) and
        ``n_down`` (carrier down), others ignored. The QAM core is driven directly, so
        its Python wrapper's ``trained``/``sample_count`` are not kept up to date (the
        pump owns it)."""
        cdef list raw
        cdef bint debug
        self.n_ok = 0
        self.n_failed = 0
        self.n_down = 0
        bits = None
        core = self.core
        if self.kind == K_QAM:
            core.rx(block)
            if core.events:
                raw = core.take_events()
                debug = log.isEnabledFor(logging.DEBUG)
                for code, t in raw:
                    self._count(_code(code))
                    if debug:
                        log.debug("event %d at sample %d", code, t)
            if core.ocommit:
                bits = core.take_bits()
        elif self.kind == K_V27:
            # the V.27ter core hands its bits back and keeps its events (the same codes
            # as the QAM core's) until cleared
            bits = core.process(block)
            raw = core.events
            if raw:
                debug = log.isEnabledFor(logging.DEBUG)
                for code, t in raw:
                    self._count(_code(code))
                    if debug:
                        log.debug("event %d at sample %d", code, t)
                raw.clear()
            if not bits.shape[0]:
                bits = None
        elif self.kind == K_V21:
            core.process(block)
            raw = core.event_list
            if raw:
                core.event_list = []
                for k, _t in raw:
                    if k == "carrier_down":
                        self.n_down += 1
            bits = core.take_bit_buffer()
            if not len(bits):
                bits = None
        else:
            core.rx(block)
            for e in core.events():
                self._count(1 if e.kind == "training_succeeded" else 2
                            if e.kind == "training_failed" else 3
                            if e.kind == "carrier_down" else 0)
            bits = core.bits()
            if not bits.shape[0]:
                bits = None
        return bits

    cdef void _count(self, int c) noexcept:
        if c == 1:
            self.n_ok += 1
        elif c == 2:
            self.n_failed += 1
        elif c == 3:
            self.n_down += 1

    cdef bytes _pack(self, bits):
        """The octets the bits complete, LSB first (the rest wait in acc/nacc). ``bits``:
        0/1 per element; a C-contiguous 1-D uint8 (or bool) ndarray, what the cores give,
        is read in place, anything else is converted first."""
        if type(bits) is not np.ndarray or cnp.PyArray_ITEMSIZE(<cnp.ndarray> bits) != 1 \
                or cnp.PyArray_NDIM(<cnp.ndarray> bits) != 1 \
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> bits) \
                or cnp.PyArray_TYPE(<cnp.ndarray> bits) not in (cnp.NPY_UINT8, cnp.NPY_BOOL):
            bits = np.frombuffer(bits, np.uint8) if isinstance(bits, (bytes, bytearray)) \
                else np.ascontiguousarray(bits, dtype=np.uint8).reshape(-1)
        cdef cnp.ndarray arr = <cnp.ndarray> bits
        cdef const unsigned char* b = <const unsigned char*> cnp.PyArray_DATA(arr)
        cdef Py_ssize_t i, n = cnp.PyArray_DIM(arr, 0), k = 0
        cdef Py_ssize_t nbytes = (self.nacc + n) // 8
        cdef int acc = self.acc, nacc = self.nacc
        cdef bytes out = None
        cdef unsigned char* o = NULL
        if nbytes:
            out = PyBytes_FromStringAndSize(NULL, nbytes)
            o = <unsigned char*> PyBytes_AS_STRING(out)
        for i in range(n):
            acc |= (b[i] & 1) << nacc
            nacc += 1
            if nacc == 8:
                o[k] = <unsigned char> acc
                k += 1
                acc = 0
                nacc = 0
        self.acc = acc
        self.nacc = nacc
        return out

    def rx(self, block):
        """Feed one block (int16, 1-D, contiguous, at least one sample); returns the list
        of (code, payload) it produced (see :mod:`faxcore.modem.pump`)."""
        out = self.step(block)
        return [] if out is None else out

    cdef list step(self, block):
        """``rx``, but None when the block produced no code."""
        cdef list out = None
        cdef int e
        bits = self._demod(block)
        if self.hdlc:
            if self.n_ok and self.fast:
                out = [T_UP] * self.n_ok
            if bits is not None:
                for kind, data, good in self.dec.put_bits(bits):
                    if out is None:
                        out = []
                    if kind == "frame":
                        out.append((FRAME, (data, good)))
                    elif kind == "bad":
                        out.append((FRAME, (data, False)))
                    elif kind == "flags" and not self.fast:
                        self.up = True
                        out.append(T_UP)
            if self.n_down:
                self.dec.reset()
                self.up = False
                if out is None:
                    out = []
                for e in range(self.n_down):
                    out.append(T_DOWN)
        else:
            if self.n_failed:
                out = [T_FAILED]
            if self.n_ok:
                if out is None:
                    out = []
                out.append(T_UP)
            if bits is not None:
                data = self._pack(bits)
                if data is not None:
                    if out is None:
                        out = []
                    out.append((DATA, data))
            if self.n_down:
                self.acc = 0
                self.nacc = 0
                if out is None:
                    out = []
                out.append(T_DOWN)
        if self.watch is not None:
            w = self.watch
            w.process(block)
            raw = w.event_list
            wdown = False
            if raw:
                w.event_list = []
                for k, _t in raw:
                    if k == "carrier_down":
                        wdown = True
            wbits = w.take_bit_buffer()
            if len(wbits):
                for kind, _d, _g in self.wdec.put_bits(wbits):
                    if kind == "flags":
                        if out is None:
                            out = []
                        out.append(T_WRONG)
            if wdown:
                self.wdec.reset()
        return out
