# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-packet work of faxcore.rtp in C: the fixed jitter buffer's state machine
(:class:`JitterCore`, the policy documented in :mod:`faxcore.rtp.jitter`) and the G.711
packet builder (:func:`g711_packet`). Python calls each once per 20 ms packet, so the
cost of RTP stays a small fraction of the fax session's own (benchmarks/rtp.py).

Memory safety. Bounds checks are off, so every index below is proven in range:

* ``ring`` and ``have`` (RING, a power of two) are indexed only ``& RING_MASK``;
  ``seen`` (SEQ_WINDOW, a power of two) only ``& SEQ_MASK``.
* ``tables[pt]`` and ``is_audio[pt]`` / ``is_event[pt]``: ``pt`` is checked 0..127 on
  entry (``put_fields``, ``set_decoder``, ``__init__``); ``tables[pt][c]`` has ``c`` an
  octet (0..255).
* Payload octets ``p[0 .. n-1]``: ``put_fields`` checks ``0 <= offset <= end <=
  len(data)`` and sets ``p = data + offset``, ``n = end - offset``; ``put_datagram``
  reads header octets 0..11 only after checking ``len(data) >= 12`` and passes
  ``p = data + 12``, ``n = len(data) - 12``; ``pt = b[1] & 0x7F`` is 0..127; the late-part skip
  moves ``p`` forward by ``-off`` only when ``0 < -off < n`` (``off + n > 0``).
* ``g711_packet`` writes ``12 + n`` octets into a new bytes object of that size;
  ``samples[i]`` for ``i < n = samples.shape[0]``; the encode table is checked to hold
  65536 entries and is indexed by a ``uint16``.
* ``pop`` writes ``n`` samples into a new array of ``n`` (``0 <= n <= RING`` checked).
* Memory is fixed at construction (the arrays are members of the object): no input
  makes anything grow. Extended sequence numbers and timestamps are int64 counters
  that move by at most 2^31 per packet: no overflow in any real lifetime.
* The only recursion (a stray that resynchronises, then is placed) is one level deep:
  after ``_restart`` the packet cannot be a stray again (the sequence state is empty
  and the timeline is set from it, ``depth <= RING // 2``, ``n <= RING // 2``).
"""

import numpy as np

cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport INT64_MIN, int16_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memset

cnp.import_array()

DEF RING = 16384
DEF RING_MASK = RING - 1
DEF SEQ_WINDOW = 1024
DEF SEQ_MASK = SEQ_WINDOW - 1
DEF MAX_DROPOUT = 3000
DEF MAX_MISORDER = 100
DEF LATE_RESYNC = 4
DEF NPT = 128

#: exported for jitter.py (one definition of each limit)
RING_SAMPLES = RING
SEQ_WINDOW_PACKETS = SEQ_WINDOW
MAX_DROPOUT_PACKETS = MAX_DROPOUT
MAX_MISORDER_PACKETS = MAX_MISORDER
LATE_RESYNC_PACKETS = LATE_RESYNC

cdef str AUDIO = "audio"
cdef str LATE = "late"
cdef str DUPLICATE = "duplicate"
cdef str EVENT = "event"
cdef str IGNORED = "ignored"
cdef str STRAY = "stray"


cdef class JitterCore:
    """The jitter buffer's state and per-packet work (see faxcore.rtp.jitter)."""

    cdef int16_t ring[RING]
    cdef uint8_t have[RING]
    cdef int64_t seen[SEQ_WINDOW]
    cdef int16_t tables[NPT][256]
    cdef uint8_t is_audio[NPT]
    cdef uint8_t is_event[NPT]
    cdef readonly int depth
    cdef bint has_ssrc
    cdef uint32_t ssrc_v
    cdef bint seq_started
    cdef int64_t max_seq, base_seq, unique
    cdef bint playing
    cdef int64_t play, lead
    cdef int late_run
    cdef bint stray_set
    cdef uint32_t stray_next
    cdef int64_t received, lost_before, late, duplicates, events, ignored, strays
    cdef int64_t restarts, played, concealed

    def __init__(self, int depth, decoders, event_types):
        if depth < 0 or depth > RING // 2:
            raise ValueError(f"depth {depth} samples is not 0..{RING // 2}")
        self.depth = depth
        memset(self.is_audio, 0, sizeof(self.is_audio))
        memset(self.is_event, 0, sizeof(self.is_event))
        for pt, table in decoders.items():
            self.set_decoder(pt, table)
        for pt in event_types:
            if not 0 <= pt < NPT:
                raise ValueError(f"event payload type {pt} is not 0..127")
            self.is_event[pt] = 1
        self.received = self.lost_before = self.late = self.duplicates = 0
        self.events = self.ignored = self.strays = self.restarts = 0
        self.played = self.concealed = 0
        self.has_ssrc = False
        self.ssrc_v = 0
        self._new_source()

    def set_decoder(self, int pt, table):
        """Payload type ``pt`` decodes with ``table`` (256 int16 samples, one per octet)."""
        cdef const int16_t[:] t = np.ascontiguousarray(table, dtype=np.int16)
        cdef int i
        if not 0 <= pt < NPT:
            raise ValueError(f"payload type {pt} is not 0..127")
        if t.shape[0] != 256:
            raise ValueError(f"a decoding table has 256 entries, not {t.shape[0]}")
        for i in range(256):
            self.tables[pt][i] = t[i]
        self.is_audio[pt] = 1

    # ---- state ----------------------------------------------------------------------

    cdef void _new_source(self) noexcept:
        cdef int i
        self.seq_started = False
        self.max_seq = self.base_seq = self.unique = 0
        for i in range(SEQ_WINDOW):
            self.seen[i] = INT64_MIN         # no extended sequence number is this
        self.playing = False
        self.play = self.lead = 0
        memset(self.ring, 0, sizeof(self.ring))
        memset(self.have, 0, sizeof(self.have))
        self.late_run = 0
        self.stray_set = False
        self.stray_next = 0

    cdef int64_t _epoch_lost(self) noexcept:
        cdef int64_t lost
        if not self.seq_started:
            return 0
        lost = self.max_seq - self.base_seq + 1 - self.unique
        return lost if lost > 0 else 0

    cdef void _restart(self) noexcept:
        self.lost_before += self._epoch_lost()
        self.restarts += 1
        self._new_source()

    cdef void _resync(self, uint32_t ts, bint restart) noexcept:
        if restart:
            self.restarts += 1
        memset(self.ring, 0, sizeof(self.ring))
        memset(self.have, 0, sizeof(self.have))
        self.play = <int64_t>ts - self.depth
        self.lead = self.depth
        self.late_run = 0
        self.playing = True

    cdef bint _extend_seq(self, uint32_t seq, int64_t *ext) noexcept:
        """The extended sequence number (RFC 3550 A.1); False for a stray."""
        cdef int64_t d
        if not self.seq_started:
            self.seq_started = True
            self.max_seq = self.base_seq = seq
            ext[0] = seq
            return True
        d = (<int64_t>seq - self.max_seq) & 0xFFFF
        if d >= 0x8000:
            d -= 0x10000
        if d > MAX_DROPOUT or d < -MAX_MISORDER:
            return False
        ext[0] = self.max_seq + d
        if ext[0] > self.max_seq:
            self.max_seq = ext[0]
        elif ext[0] < self.base_seq:
            if self.max_seq - ext[0] >= SEQ_WINDOW:
                return False
            self.base_seq = ext[0]
        return True

    cdef inline void _mark(self, int64_t ext) noexcept:
        self.seen[ext & SEQ_MASK] = ext
        self.unique += 1

    # ---- input ----------------------------------------------------------------------

    def put_fields(self, uint32_t ssrc, uint32_t seq, uint32_t timestamp, int payload_type,
                   bytes data not None, Py_ssize_t offset=0, end=None):
        """Take one packet given by its header fields and the payload
        ``data[offset:end]``; returns what became of it (see JitterBuffer.put)."""
        cdef Py_ssize_t stop = len(data) if end is None else end
        if seq > 0xFFFF:
            raise ValueError(f"sequence number {seq} is not 0..65535")
        if not 0 <= payload_type < NPT:
            raise ValueError(f"payload type {payload_type} is not 0..127")
        if not 0 <= offset <= stop <= len(data):
            raise ValueError(f"payload [{offset}:{stop}] outside {len(data)} octets")
        return self._put(ssrc, seq, timestamp, payload_type,
                         <const uint8_t *>PyBytes_AS_STRING(data) + offset, stop - offset)

    def put_datagram(self, bytes data not None):
        """A datagram with a plain 12-octet header (first octet 0x80: version 2, no
        padding, extension or CSRC), its payload everything after it: taken as
        ``put_fields`` would, returning what became of it; None for any other datagram
        (the caller parses it in full)."""
        cdef Py_ssize_t n = len(data)
        cdef const uint8_t *b = <const uint8_t *>PyBytes_AS_STRING(data)
        if n < 12 or b[0] != 0x80:
            return None
        return self._put((<uint32_t>b[8] << 24) | (<uint32_t>b[9] << 16)
                         | (<uint32_t>b[10] << 8) | b[11],
                         (<uint32_t>b[2] << 8) | b[3],
                         (<uint32_t>b[4] << 24) | (<uint32_t>b[5] << 16)
                         | (<uint32_t>b[6] << 8) | b[7],
                         b[1] & 0x7F, b + 12, n - 12)

    cdef str _put(self, uint32_t ssrc, uint32_t seq, uint32_t ts, int pt, const uint8_t *p,
                  Py_ssize_t n):
        cdef int64_t ext, off
        cdef uint32_t d
        if not self.has_ssrc or self.ssrc_v != ssrc:
            if self.has_ssrc:
                self._restart()
            self.has_ssrc = True
            self.ssrc_v = ssrc
        if not self._extend_seq(seq, &ext):
            return self._stray(ssrc, seq, ts, pt, p, n)
        if self.seen[ext & SEQ_MASK] == ext:
            self.duplicates += 1
            return DUPLICATE
        if not self.is_audio[pt]:
            self._mark(ext)
            if self.is_event[pt]:
                self.events += 1
                return EVENT
            self.ignored += 1
            return IGNORED
        if n > RING // 2:
            self.strays += 1
            return STRAY
        if not self.playing:
            self._resync(ts, False)
        # the timestamp extended near the playout point (RTP timestamps wrap at 2^32)
        d = ts - <uint32_t>self.play
        off = <int64_t>d if d < 0x80000000u else <int64_t>d - 0x100000000
        if off + n <= 0:
            self._mark(ext)
            self.late += 1
            self.late_run += 1
            if self.late_run < LATE_RESYNC:
                return LATE
            # the sender's timeline is ahead of ours: play from this packet again
            self.late -= 1
            self._resync(ts, True)
            off = self.depth
            self.unique -= 1                 # marked again below
        elif off + n > RING:
            return self._stray(ssrc, seq, ts, pt, p, n)
        self._mark(ext)
        self.late_run = 0
        self.stray_set = False
        if off < 0:
            # partly played already: the rest still plays (0 < -off < n here)
            p += -off
            n += off
            off = 0
        self._place(off, pt, p, n)
        self.received += 1
        return AUDIO

    cdef str _stray(self, uint32_t ssrc, uint32_t seq, uint32_t ts, int pt, const uint8_t *p,
                    Py_ssize_t n):
        if self.stray_set and seq == self.stray_next:
            # the first stray is gone; this one starts the new numbering and timeline
            self._restart()
            return self._put(ssrc, seq, ts, pt, p, n)
        self.stray_set = True
        self.stray_next = (seq + 1) & 0xFFFF
        self.strays += 1
        return STRAY

    cdef void _place(self, int64_t off, int pt, const uint8_t *p, Py_ssize_t n) noexcept:
        cdef Py_ssize_t i
        cdef int64_t j
        cdef int64_t start = self.play + off
        for i in range(n):
            j = (start + i) & RING_MASK
            self.ring[j] = self.tables[pt][p[i]]
            self.have[j] = 1

    # ---- output ---------------------------------------------------------------------

    def pop(self, Py_ssize_t n=160):
        """The next ``n`` samples at the playout clock (a new int16 array)."""
        cdef cnp.npy_intp dims[1]
        cdef cnp.ndarray arr
        cdef Py_ssize_t i, skip, got = 0
        cdef int64_t j
        cdef int16_t *out
        if n < 0 or n > RING:
            raise ValueError(f"pop({n}): 0..{RING} samples")
        dims[0] = n
        arr = cnp.PyArray_ZEROS(1, dims, cnp.NPY_INT16, 0)
        if not self.playing:
            return arr
        out = <int16_t *>cnp.PyArray_DATA(arr)
        skip = n if self.lead > n else self.lead
        self.lead -= skip
        for i in range(n):
            j = (self.play + i) & RING_MASK
            out[i] = self.ring[j]
            if i >= skip:
                got += self.have[j]
            self.ring[j] = 0
            self.have[j] = 0
        self.play += n
        self.played += n - skip
        self.concealed += n - skip - got
        return arr

    # ---- what it did ----------------------------------------------------------------

    def counts(self):
        """(received, lost, late, duplicates, events, ignored, strays, restarts, played,
        concealed); ``lost`` includes the current source's."""
        return (self.received, self.lost_before + self._epoch_lost(), self.late,
                self.duplicates, self.events, self.ignored, self.strays, self.restarts,
                self.played, self.concealed)

    @property
    def ssrc(self):
        """The SSRC of the source being played (None before the first packet)."""
        return self.ssrc_v if self.has_ssrc else None

    @property
    def started(self):
        """True once an audio packet has set the timeline."""
        return bool(self.playing)

    @property
    def buffered(self):
        """Samples held ahead of the playout point (the filled ones)."""
        cdef Py_ssize_t i, k = 0
        for i in range(RING):
            k += self.have[i]
        return k


def g711_packet(int b1, uint32_t seq, uint32_t timestamp, uint32_t ssrc,
                const int16_t[:] samples, const uint8_t[::1] table):
    """An RTP packet (fixed 12-octet header: version 2, no padding, extension or CSRC;
    second octet ``b1`` = marker and payload type) carrying ``samples`` encoded through
    ``table`` (65536 codes: the code of sample x at x + 32768)."""
    cdef Py_ssize_t i, n = samples.shape[0]
    cdef uint8_t *o
    if table.shape[0] != 65536:
        raise ValueError("the encoding table has 65536 entries")
    if not 0 <= b1 <= 0xFF or seq > 0xFFFF:
        raise ValueError("marker/payload type octet or sequence number out of range")
    out = PyBytes_FromStringAndSize(NULL, 12 + n)
    o = <uint8_t *>PyBytes_AS_STRING(out)
    o[0] = 0x80
    o[1] = <uint8_t>b1
    o[2] = <uint8_t>(seq >> 8)
    o[3] = <uint8_t>seq
    o[4] = <uint8_t>(timestamp >> 24)
    o[5] = <uint8_t>(timestamp >> 16)
    o[6] = <uint8_t>(timestamp >> 8)
    o[7] = <uint8_t>timestamp
    o[8] = <uint8_t>(ssrc >> 24)
    o[9] = <uint8_t>(ssrc >> 16)
    o[10] = <uint8_t>(ssrc >> 8)
    o[11] = <uint8_t>ssrc
    for i in range(n):
        o[12 + i] = table[<uint16_t>samples[i] ^ 0x8000]
    return out
