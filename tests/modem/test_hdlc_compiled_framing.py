"""The compiled HDLC framing (hdlc_core: ``frames_bits``, ``Deframer``) against plain
Python readings of T.30 §5.3 / ISO 3309 written out bit by bit here: the encoder's bits
and the deframer's events must be the very same on random frames full of 0xFF/0x7E
runs, corrupt FCS, aborts, noise, over-long and odd-length frames, fed in any pieces."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.modem import hdlc_core
from faxcore.modem.hdlc import FLAG_BITS, HdlcDecoder, HdlcEncoder, HdlcEvent

FLAG = [0, 1, 1, 1, 1, 1, 1, 0]


def _crc(data: bytes) -> int:
    """CRC-16/X.25 bit by bit (reflected 0x1021 = 0x8408, preset and complement)."""
    c = 0xFFFF
    for octet in data:
        for j in range(8):
            bit = (octet >> j) & 1
            c = (c >> 1) ^ 0x8408 if (c ^ bit) & 1 else c >> 1
    return c ^ 0xFFFF


def _stuff(octets: bytes, ones: int) -> tuple[list[int], int]:
    out = []
    for octet in octets:
        for j in range(8):
            b = (octet >> j) & 1
            out.append(b)
            ones = ones + 1 if b else 0
            if ones == 5:
                out.append(0)
                ones = 0
    return out, ones


def _ref_frame_bits(frames, corrupt: bool) -> list[int]:
    """Opening flag, then each frame's data + FCS (low octet first) stuffed + a flag."""
    out = list(FLAG)
    for f in frames:
        c = _crc(f)
        tail = bytes(((c & 0xFF) ^ (1 if corrupt else 0), c >> 8))
        bits, _ = _stuff(f + tail, 0)
        out += bits + FLAG
    return out


class _RefDeframer:
    """The deframer's rules in plain Python (see hdlc_core.Deframer's docstring)."""

    MAX_BITS = 4100 * 8 + 16

    def __init__(self, flags_needed: int = 5, min_bytes: int = 3) -> None:
        self.flags_needed, self.min_bytes = flags_needed, min_bytes
        self.buf: list[int] = []
        self.ones = self.flag_run = 0
        self.in_frame = self.overflow = self.reported = False
        self.good = self.bad = self.aborts = 0

    def _end(self, ev: list) -> None:
        n = len(self.buf) - 7
        if self.overflow:
            ev.append(("bad", b"", False))
            self.bad += 1
            return
        if n < 16:
            return
        data = bytes(sum(self.buf[8 * i + j] << j for j in range(8)) for i in range(n >> 3))
        if n & 7 or len(data) < self.min_bytes + 2:
            ev.append(("bad", data, False))
            self.bad += 1
            return
        good = _crc(data[:-2]) == data[-2] | data[-1] << 8
        ev.append(("frame", data[:-2], good))
        if good:
            self.good += 1
        else:
            self.bad += 1

    def put_bits(self, bits) -> list:
        ev: list = []
        for b in bits:
            if b:
                self.ones = min(8, self.ones + 1)
                if self.ones == 7:
                    if self.in_frame and len(self.buf) > 15:
                        ev.append(("abort", b"", False))
                        self.aborts += 1
                    self.in_frame, self.buf, self.flag_run, self.reported = False, [], 0, False
                elif self.ones < 7 and self.in_frame:
                    self._keep(1)
                continue
            if self.ones == 6:
                if self.in_frame:
                    self._end(ev)
                    if len(self.buf) - 7 > 0:
                        self.flag_run = 0
                self.flag_run += 1
                if not self.reported and self.flags_needed > 0 \
                        and self.flag_run >= self.flags_needed:
                    self.reported = True
                    ev.append(("flags", b"", True))
                self.in_frame, self.buf, self.overflow = True, [], False
            elif self.ones < 5 and self.in_frame:
                self._keep(0)
            self.ones = 0
        return ev

    def _keep(self, b: int) -> None:
        if len(self.buf) < self.MAX_BITS:
            self.buf.append(b)
        else:
            self.overflow = True


def _random_frames(rng, k: int) -> list[bytes]:
    out = []
    for _ in range(k):
        n = int(rng.choice([1, 2, 3, 5, 64, 256, 300]))
        pool = np.array([0xFF, 0x7E, 0x00, 0x3F, 0xFC], np.uint8)
        data = np.where(rng.random(n) < 0.5, rng.choice(pool, n), rng.integers(0, 256, n))
        out.append(bytes(data.astype(np.uint8)))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_encoder_bits_are_the_plain_reading(seed):
    rng = np.random.default_rng(seed)
    frames = _random_frames(rng, int(rng.integers(1, 10)))
    corrupt = bool(seed % 3 == 0)
    enc = HdlcEncoder()
    if seed % 2:
        enc.frames(frames, corrupt=corrupt)  # the batch form the lazy burst uses
    else:
        for f in frames:
            enc.frame(f, corrupt=corrupt)
    assert enc.take().tolist() == _ref_frame_bits(frames, corrupt)


def test_frames_bits_checks_its_input():
    assert hdlc_core.frames_bits([], 0, False).size == 0
    with pytest.raises(ValueError):
        hdlc_core.frames_bits([b"\x01"], 5, False)
    with pytest.raises(TypeError):
        hdlc_core.frames_bits([bytearray(b"\x01\x02")], 0, False)


def test_take_never_hands_out_the_shared_flag():
    enc = HdlcEncoder()
    enc.flags(1)
    bits = enc.take()
    bits[:] = 1  # the caller owns what take() gives
    assert FLAG_BITS.tolist() == FLAG
    enc.flags(1)
    assert enc.take().tolist() == FLAG


def _stream(rng) -> np.ndarray:
    """Flags, good and corrupt frames, aborts, noise, over-long and odd-length frames."""
    parts: list[list[int]] = [FLAG * int(rng.integers(0, 8))]
    for _ in range(int(rng.integers(3, 12))):
        kind = rng.integers(0, 7)
        if kind <= 2:
            parts.append(_ref_frame_bits(_random_frames(rng, int(rng.integers(1, 4))),
                                         bool(kind == 2)))
        elif kind == 3:
            parts.append(FLAG + _stuff(bytes(rng.integers(0, 256, 40, dtype=np.uint8)), 0)[0]
                         + [1] * int(rng.integers(7, 20)))
        elif kind == 4:
            parts.append(rng.integers(0, 2, int(rng.integers(1, 400))).tolist())
        elif kind == 5:
            parts.append(FLAG + _stuff(bytes(4200), 0)[0] + FLAG)  # too long
        else:
            parts.append(FLAG + _stuff(b"\x12\x34\x56\x78", 0)[0][:-3] + FLAG)  # odd length
    parts.append(_ref_frame_bits([b"\xff\x13\x80\x00"], False))  # one good frame, at least
    return np.array([b for p in parts for b in p], np.uint8)


@pytest.mark.parametrize("seed", range(16))
def test_deframer_events_are_the_plain_reading(seed):
    rng = np.random.default_rng(100 + seed)
    bits = _stream(rng)
    ref = _RefDeframer(flags_needed=int(rng.integers(0, 6)))
    want = ref.put_bits(bits.tolist())
    dec = HdlcDecoder(flags_needed=ref.flags_needed)
    got: list[HdlcEvent] = []
    i = 0
    while i < len(bits):  # in random pieces: the state carries over between calls
        k = int(rng.integers(1, 3000))
        got += dec.put_bits(bits[i:i + k])
        i += k
    assert [(e.kind, e.data, e.ok) for e in got] == want
    assert dec.stats == {"good": ref.good, "bad": ref.bad, "aborts": ref.aborts}
    assert any(k == "frame" and ok for k, _d, ok in want)
