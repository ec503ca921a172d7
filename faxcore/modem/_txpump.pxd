# The compiled transmit pump's declaration, so the session pump (_sessionpump.pyx) calls
# its fill directly (no Python call, no memoryview per block).
cimport numpy as cnp
from libc.stdint cimport int16_t


cdef class TxPump:
    cdef readonly object src
    cdef readonly Py_ssize_t ahead
    cdef public bint done
    cdef object _held           # the held samples: a C-contiguous int16 ndarray
    cdef const int16_t* hp      # its data (kept alive by _held)
    cdef Py_ssize_t hpos, hlen

    cdef cnp.ndarray _tx(self, Py_ssize_t k)
    cdef void _take(self, Py_ssize_t k) except *
    cdef Py_ssize_t fill_c(self, int16_t* o, Py_ssize_t n, Py_ssize_t pos,
                           Py_ssize_t* quiet) except -1
