# The compiled receive pump's declaration, so the session pump (_sessionpump.pyx) calls
# its step directly (no Python call, no list for a block that changed nothing).

cdef class RxPump:
    cdef object m          # the modem receiver (wrapper)
    cdef object core       # what demodulates: the QAM or V.27ter core, the V.21 demodulator, or m
    cdef int kind
    cdef readonly bint hdlc
    cdef readonly bint fast
    cdef public bint up
    cdef object dec        # Deframer (HDLC) or None
    cdef object watch      # V.21 demodulator or None
    cdef object wdec
    cdef int acc, nacc     # page data: bits of the octet being assembled (LSB first)
    cdef int n_ok, n_failed, n_down   # the last block's events, counted

    cdef object _demod(self, block)
    cdef void _count(self, int c) noexcept
    cdef bytes _pack(self, bits)
    cdef list step(self, block)
