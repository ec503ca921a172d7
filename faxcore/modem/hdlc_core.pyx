# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""HDLC bit-level loops: zero-bit insertion/removal, flag and abort detection, CRC-16.

Memory safety. Bounds checks are off, so every index below is proven in range:

* ``Deframer.buf`` (MAX_BITS): every write is preceded by ``nbits < MAX_BITS``; a longer
  frame sets ``overflow`` and is reported as "bad" and dropped. ``_end_frame`` reads
  ``buf[i * 8 + j]`` for ``i < (nbits - 7) >> 3``, i.e. below ``nbits``.
* Counters fed by the line saturate instead of overflowing (signed overflow is undefined
  behaviour in C): ``ones`` stops at 8, ``flag_run`` at FLAG_RUN_MAX, so an endless
  flood of 1s, flags or aborts changes nothing.
* Memory per call is bounded by the input: events are returned (and cleared) by every
  ``put_bits`` call, at most one per 8 input bits (a frame or an abort needs a flag or 7
  ones before it), and a frame in progress never holds more than MAX_BITS.
* ``CRC_TABLE`` is indexed ``& 0xFF``. ``stuff_bytes`` writes at most
  ``8n + (8n + 4) // 5`` bits (a zero after every five 1s, ``ones`` checked to be 0..4
  on entry) into an array of ``8n + 8n // 5 + 2``.
"""

import numpy as np

cimport numpy as cnp

cnp.import_array()

DEF MAX_BYTES = 4100        # longest frame accepted, FCS included
DEF MAX_BITS = MAX_BYTES * 8 + 16
DEF FLAG_RUN_MAX = 1000000  # consecutive flags counted up to here (only >= flags_needed matters)

cdef unsigned short CRC_TABLE[256]


cdef void _init_table():
    cdef unsigned int i, j, c
    for i in range(256):
        c = i
        for j in range(8):
            if c & 1:
                c = (c >> 1) ^ 0x8408
            else:
                c >>= 1
        CRC_TABLE[i] = <unsigned short> c


_init_table()


cpdef unsigned int crc16_update(unsigned int crc, const unsigned char[::1] data):
    """ITU CRC-16 (x^16+x^12+x^5+1, reflected) register update, no final complement."""
    cdef Py_ssize_t i
    for i in range(data.shape[0]):
        crc = (crc >> 8) ^ CRC_TABLE[(crc ^ data[i]) & 0xFF]
    return crc & 0xFFFF


def stuff_bytes(const unsigned char[::1] data, int ones):
    """Bits (LSB first) of ``data`` with a 0 inserted after five consecutive 1s.
    ``ones`` is the run of 1s already sent; returns (bits ndarray, ones)."""
    cdef Py_ssize_t n = data.shape[0], i, k = 0
    cdef int j, b
    if ones < 0 or ones > 4:
        raise ValueError("ones (the run of 1s already sent) must be 0..4")
    out = np.empty(n * 8 + n * 8 // 5 + 2, dtype=np.uint8)
    cdef unsigned char[::1] o = out
    for i in range(n):
        for j in range(8):
            b = (data[i] >> j) & 1
            o[k] = b
            k += 1
            if b:
                ones += 1
                if ones == 5:
                    o[k] = 0
                    k += 1
                    ones = 0
            else:
                ones = 0
    return out[:k], ones


cdef class Deframer:
    """Bits in, HDLC events out: ("frame", bytes_without_fcs, crc_ok),
    ("abort", b"", False), ("flags", b"", True) once ``flags_needed`` consecutive flags
    have been seen (the preamble), ("bad", partial_bytes, False) for a frame whose bit
    count is not a multiple of 8 or that is too long."""

    cdef unsigned char buf[MAX_BITS]
    cdef int nbits, ones, in_frame, overflow, flag_run, flags_needed, flags_reported
    cdef int min_bytes
    cdef public unsigned long good, bad, aborts
    cdef list _events

    def __init__(self, int flags_needed=5, int min_bytes=3):
        if flags_needed > FLAG_RUN_MAX:
            raise ValueError("flags_needed too large")
        self.flags_needed = flags_needed
        self.min_bytes = min_bytes
        self.reset()

    def reset(self):
        self.nbits = 0
        self.ones = 0
        self.in_frame = 0
        self.overflow = 0
        self.flag_run = 0
        self.flags_reported = 0
        self.good = self.bad = self.aborts = 0
        self._events = []

    cdef void _end_frame(self):
        cdef int n = self.nbits - 7       # drop the 0111111 of the closing flag
        cdef int nbytes, i, j, byte
        cdef unsigned int crc
        if self.overflow:
            self._events.append(("bad", b"", False))
            self.bad += 1
            return
        if n <= 0:
            return
        if n < 16:
            return   # a few stray bits between flags: noise, not a frame
        nbytes = n >> 3
        data = bytearray(nbytes)
        for i in range(nbytes):
            byte = 0
            for j in range(8):
                byte |= self.buf[i * 8 + j] << j
            data[i] = byte
        if (n & 7) or nbytes < self.min_bytes + 2:
            self._events.append(("bad", bytes(data), False))
            self.bad += 1
            return
        crc = 0xFFFF
        for i in range(nbytes):
            crc = (crc >> 8) ^ CRC_TABLE[(crc ^ data[i]) & 0xFF]
        if crc == 0xF0B8:
            self._events.append(("frame", bytes(data[:nbytes - 2]), True))
            self.good += 1
        else:
            self._events.append(("frame", bytes(data[:nbytes - 2]), False))
            self.bad += 1

    def put_bits(self, const unsigned char[::1] bits):
        """Feed bits (0/1); returns the list of events they completed."""
        cdef Py_ssize_t i, n = bits.shape[0]
        cdef int b
        for i in range(n):
            b = bits[i] & 1
            if b:
                if self.ones < 8:  # saturate: an endless idle line must not overflow it
                    self.ones += 1
                if self.ones == 7:
                    # abort (or idle line): drop the frame in progress
                    if self.in_frame and self.nbits > 7 + 8:
                        self._events.append(("abort", b"", False))
                        self.aborts += 1
                    self.in_frame = 0
                    self.nbits = 0
                    self.flag_run = 0
                    self.flags_reported = 0
                    continue
                if self.ones > 7:
                    continue
                if self.in_frame:
                    if self.nbits < MAX_BITS:
                        self.buf[self.nbits] = 1
                        self.nbits += 1
                    else:
                        self.overflow = 1
            else:
                if self.ones == 6:
                    # flag
                    if self.in_frame:
                        self._end_frame()
                        if self.nbits - 7 > 0:
                            self.flag_run = 0
                    if self.flag_run < FLAG_RUN_MAX:
                        self.flag_run += 1
                    if (not self.flags_reported and self.flags_needed > 0
                            and self.flag_run >= self.flags_needed):
                        self.flags_reported = 1
                        self._events.append(("flags", b"", True))
                    self.in_frame = 1
                    self.nbits = 0
                    self.overflow = 0
                elif self.ones == 5:
                    pass  # inserted zero
                elif self.ones >= 7:
                    pass  # end of an abort/idle run: still hunting for a flag
                elif self.in_frame:
                    if self.nbits < MAX_BITS:
                        self.buf[self.nbits] = 0
                        self.nbits += 1
                    else:
                        self.overflow = 1
                self.ones = 0
        ev, self._events = self._events, []
        return ev
