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
  on entry) into an array of ``8n + 8n // 5 + 2``. ``frames_bits`` writes, per frame of
  ``m`` octets, at most ``8(m+2) + (8(m+2) + 4) // 5`` stuffed bits (its FCS included)
  and 8 flag bits; its array holds ``sum(8(m+2) + 8(m+2) // 5 + 2 + 8)`` over the frames,
  computed before any write from the same list (a tuple copy of it: the caller cannot
  change it meanwhile), so every write is in range.
* ``_end_frame`` packs ``nbytes = (nbits - 7) >> 3 <= MAX_BITS / 8`` octets into
  ``pack[PACK_BYTES]`` (MAX_BYTES + 3 = MAX_BITS / 8 + 1).
"""

import numpy as np

cimport numpy as cnp
from cpython.bytes cimport PyBytes_FromStringAndSize

cnp.import_array()

DEF MAX_BYTES = 4100        # longest frame accepted, FCS included
DEF MAX_BITS = MAX_BYTES * 8 + 16
DEF PACK_BYTES = MAX_BYTES + 3  # >= MAX_BITS / 8 + 1: octets _end_frame can pack
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


cdef inline Py_ssize_t _stuff(const unsigned char* data, Py_ssize_t n, unsigned char* o,
                              Py_ssize_t k, int* ones_p) noexcept:
    """Stuff ``n`` octets LSB first into ``o[k:]``; returns the new ``k``."""
    cdef Py_ssize_t i
    cdef int j, b, ones = ones_p[0]
    cdef unsigned int c
    for i in range(n):
        c = data[i]
        for j in range(8):
            b = c & 1
            c >>= 1
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
    ones_p[0] = ones
    return k


def stuff_bytes(const unsigned char[::1] data, int ones):
    """Bits (LSB first) of ``data`` with a 0 inserted after five consecutive 1s.
    ``ones`` is the run of 1s already sent; returns (bits ndarray, ones)."""
    cdef Py_ssize_t n = data.shape[0], k
    if ones < 0 or ones > 4:
        raise ValueError("ones (the run of 1s already sent) must be 0..4")
    out = np.empty(n * 8 + n * 8 // 5 + 2, dtype=np.uint8)
    cdef unsigned char[::1] o = out
    if n == 0:
        return out[:0], ones
    k = _stuff(&data[0], n, &o[0], 0, &ones)
    return out[:k], ones


def frames_bits(frames, int ones, bint corrupt):
    """The bits of HDLC frames sent one after another, each ``data`` (``bytes``) then
    its FCS (low octet first; ``corrupt``: the low bit of its first octet flipped, for
    tests), stuffed, then one closing flag 0x7E. ``ones`` is the run of 1s already sent
    (0..4). The same bits as ``stuff_bytes(data + fcs, ones)`` and FLAG per frame; the
    run of 1s after the closing flag is 0."""
    cdef tuple fr = tuple(frames)
    cdef Py_ssize_t total = 0, k = 0, m, i
    cdef bytes f
    cdef const unsigned char* p
    cdef unsigned int crc
    cdef unsigned char tail[2]
    cdef int j
    if ones < 0 or ones > 4:
        raise ValueError("ones (the run of 1s already sent) must be 0..4")
    for x in fr:
        if type(x) is not bytes:
            raise TypeError("frames_bits takes bytes frames")
        m = len(<bytes> x) + 2
        total += m * 8 + m * 8 // 5 + 2 + 8
    out = np.empty(total, dtype=np.uint8)
    cdef unsigned char[::1] ov = out
    cdef unsigned char* o = &ov[0] if total else NULL
    for x in fr:
        f = <bytes> x
        p = f
        m = len(f)
        crc = 0xFFFF
        for i in range(m):
            crc = (crc >> 8) ^ CRC_TABLE[(crc ^ p[i]) & 0xFF]
        crc ^= 0xFFFF
        tail[0] = crc & 0xFF
        tail[1] = (crc >> 8) & 0xFF
        if corrupt:
            tail[0] ^= 0x01
        k = _stuff(p, m, o, k, &ones)
        k = _stuff(tail, 2, o, k, &ones)
        # the closing flag 0x7E, LSB first
        o[k] = 0
        for j in range(1, 7):
            o[k + j] = 1
        o[k + 7] = 0
        k += 8
        ones = 0
    return out[:k]


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
        cdef unsigned char pack[PACK_BYTES]
        cdef const unsigned char* q = self.buf
        if self.overflow:
            self._events.append(("bad", b"", False))
            self.bad += 1
            return
        if n <= 0:
            return
        if n < 16:
            return   # a few stray bits between flags: noise, not a frame
        nbytes = n >> 3
        for i in range(nbytes):
            byte = 0
            for j in range(8):
                byte |= q[j] << j
            q += 8
            pack[i] = byte
        if (n & 7) or nbytes < self.min_bytes + 2:
            self._events.append(("bad", PyBytes_FromStringAndSize(<char*> pack, nbytes),
                                 False))
            self.bad += 1
            return
        crc = 0xFFFF
        for i in range(nbytes):
            crc = (crc >> 8) ^ CRC_TABLE[(crc ^ pack[i]) & 0xFF]
        data = PyBytes_FromStringAndSize(<char*> pack, nbytes - 2)
        if crc == 0xF0B8:
            self._events.append(("frame", data, True))
            self.good += 1
        else:
            self._events.append(("frame", data, False))
            self.bad += 1

    def put_bits(self, const unsigned char[::1] bits):
        """Feed bits (0/1); returns the list of events they completed."""
        cdef Py_ssize_t i, n = bits.shape[0]
        cdef int b
        # The bit state lives in locals over the loop (written back before _end_frame,
        # which reads nbits and overflow, and at the end): one load per bit, not five.
        cdef int ones = self.ones, nbits = self.nbits, in_frame = self.in_frame
        cdef int overflow = self.overflow
        cdef unsigned char* buf = self.buf
        for i in range(n):
            b = bits[i] & 1
            if b:
                if ones < 8:  # saturate: an endless idle line must not overflow it
                    ones += 1
                if ones == 7:
                    # abort (or idle line): drop the frame in progress
                    if in_frame and nbits > 7 + 8:
                        self._events.append(("abort", b"", False))
                        self.aborts += 1
                    in_frame = 0
                    nbits = 0
                    self.flag_run = 0
                    self.flags_reported = 0
                    continue
                if ones > 7:
                    continue
                if in_frame:
                    if nbits < MAX_BITS:
                        buf[nbits] = 1
                        nbits += 1
                    else:
                        overflow = 1
            else:
                if ones == 6:
                    # flag
                    if in_frame:
                        self.nbits = nbits
                        self.overflow = overflow
                        self._end_frame()
                        if nbits - 7 > 0:
                            self.flag_run = 0
                    if self.flag_run < FLAG_RUN_MAX:
                        self.flag_run += 1
                    if (not self.flags_reported and self.flags_needed > 0
                            and self.flag_run >= self.flags_needed):
                        self.flags_reported = 1
                        self._events.append(("flags", b"", True))
                    in_frame = 1
                    nbits = 0
                    overflow = 0
                elif ones == 5:
                    pass  # inserted zero
                elif ones >= 7:
                    pass  # end of an abort/idle run: still hunting for a flag
                elif in_frame:
                    if nbits < MAX_BITS:
                        buf[nbits] = 0
                        nbits += 1
                    else:
                        overflow = 1
                ones = 0
        self.ones = ones
        self.nbits = nbits
        self.in_frame = in_frame
        self.overflow = overflow
        ev, self._events = self._events, []
        return ev
