"""HDLC framing as T.30 uses it (ITU-T T.30 §5.3 / ISO 3309), sans-IO.

* :class:`HdlcEncoder`: bytes in -> bits out. Flags (0x7E), zero-bit insertion after five
  1s, FCS = CRC-16 (x^16+x^12+x^5+1, preset 0xFFFF, ones' complement, low octet first),
  aborts (eight 1s), octets sent LSB first.
* :class:`HdlcDecoder`: bits in -> :class:`HdlcEvent` out: ``frame`` (``ok`` tells if the
  FCS checked; a bad frame is *never* reported as good), ``bad`` (a frame whose length is
  not whole octets or too long), ``abort``, ``flags`` (the preamble: enough consecutive
  flags were seen; T.30 uses it to recognise a fax answer without CED).
* :class:`HdlcTransmitter` / :class:`HdlcReceiver`: the same over a modem (V.21 by
  default, any ``faxcore.modem`` name works), with the shape of the modems: ``send``,
  ``tx(n)``, ``done``; ``rx(samples)``, ``events()``, ``frames()``, ``trained``.

Frames are given and returned *without* the FCS (as Class 1 and spandsp do).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from faxcore import modem
from faxcore.modem.base import ModemEvent, as_bits
from faxcore.modem.hdlc_core import Deframer, crc16_update, frames_bits

FLAG = 0x7E
FLAG_BITS = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=np.uint8)  # 0x7E, LSB first
ABORT_BITS = np.ones(8, dtype=np.uint8)
MAX_FRAME = 4096
#: a lazily encoded burst keeps this many symbols queued beyond the next block (two
#: chunks of the fast modems: V.17/V.29 240, V.27ter 256), encoding LAZY_FRAMES at a time
LAZY_AHEAD = 2 * 256
LAZY_FRAMES = 8

__all__ = [
    "FLAG", "HdlcDecoder", "HdlcEncoder", "HdlcEvent", "HdlcReceiver", "HdlcTransmitter",
    "crc16", "fcs", "preamble_flags",
]


def _check_frame(data: bytes) -> None:
    if not data:
        raise ValueError("empty HDLC frame")
    if len(data) > MAX_FRAME:
        raise ValueError(f"HDLC frame longer than {MAX_FRAME} octets")


def crc16(data: bytes) -> int:
    """The FCS value of ``data`` (ITU CRC-16, complemented): 0x906E for b"123456789"."""
    return crc16_update(0xFFFF, bytes(data)) ^ 0xFFFF


def fcs(data: bytes) -> bytes:
    """The two FCS octets as sent after ``data`` (low octet first)."""
    c = crc16(data)
    return bytes((c & 0xFF, c >> 8))


def preamble_flags(bit_rate: int = 300, ms: float = 1000.0) -> int:
    """Number of flags for a preamble of ``ms`` milliseconds (1 s at 300 bit/s = 38)."""
    return max(1, int(round(bit_rate * ms / 1000.0 / 8.0)))


@dataclass(frozen=True)
class HdlcEvent:
    """``kind``: "frame" (``data`` without FCS, ``ok`` = FCS good), "bad" (not whole
    octets / too long; ``data`` = what was received), "abort", "flags" (preamble seen)."""

    kind: str
    data: bytes = b""
    ok: bool = False


class HdlcEncoder:
    """Bytes in, bits out. Call ``flags()``, ``frame()``, ``abort()`` in order, then
    ``take()`` the bits produced so far."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._ones = 0
        self._after_flag = False

    def flags(self, n: int = 1) -> None:
        if n < 0:
            raise ValueError("flag count must be >= 0")
        if n:
            # one flag (the idle fill, the usual case): the shared constant, which take()
            # copies out with the rest (np.concatenate always makes a new array)
            self._parts.append(FLAG_BITS if n == 1 else np.tile(FLAG_BITS, n))
            self._ones = 0
            self._after_flag = True

    def frame(self, data: bytes, *, corrupt: bool = False) -> None:
        """One frame: opening flag if needed, data + FCS (stuffed), closing flag.
        ``corrupt=True`` sends a wrong FCS (for tests)."""
        data = bytes(data)
        _check_frame(data)
        self.frames((data,), corrupt=corrupt)

    def frames(self, frames: tuple[bytes, ...] | list[bytes], *, corrupt: bool = False) -> None:
        """Frames one after another, as ``frame`` on each (``bytes``, already checked
        by the caller): FCS, stuffing and the closing flags in one compiled pass."""
        if not frames:
            return
        if not self._after_flag:
            self.flags(1)
        self._parts.append(frames_bits(frames, self._ones, corrupt))
        self._ones = 0
        self._after_flag = True

    def abort(self) -> None:
        self._parts.append(ABORT_BITS.copy())
        self._ones = 0
        self._after_flag = False

    def take(self) -> np.ndarray:
        parts = self._parts
        if not parts:
            return np.zeros(0, np.uint8)
        if len(parts) == 1 and parts[0] is not FLAG_BITS:
            out = parts[0]  # made for this take alone (frames_bits, np.tile, a copy)
        else:
            out = np.concatenate(parts)
        self._parts = []
        return out


def encode_frames(frames: list[bytes], preamble: int = 38, trailing_flags: int = 1) -> np.ndarray:
    """Bits of a whole HDLC burst: ``preamble`` flags, the frames, ``trailing_flags`` more."""
    enc = HdlcEncoder()
    enc.flags(preamble)
    for f in frames:
        enc.frame(f)
    enc.flags(trailing_flags)
    return enc.take()


class HdlcDecoder:
    """Bits in, :class:`HdlcEvent` out (see module docstring). ``flags_needed``
    consecutive flags make one "flags" event per burst (after an abort/idle it re-arms)."""

    def __init__(self, flags_needed: int = 5, min_length: int = 3) -> None:
        self._d = Deframer(flags_needed, min_length)

    def put_bits(self, bits) -> list[HdlcEvent]:
        b = as_bits(bits)
        if not b.size:
            return []
        return [HdlcEvent(k, d, ok) for k, d, ok in self._d.put_bits(b)]

    @property
    def stats(self) -> dict[str, int]:
        return {"good": self._d.good, "bad": self._d.bad, "aborts": self._d.aborts}

    def reset(self) -> None:
        self._d.reset()


class HdlcTransmitter:
    """HDLC frames over a modem (V.21 ch2 by default): ``preamble_ms`` of flags (default
    1 s), the frames, ``trailing_flags`` closing flags, then the modem's end of signal.

    ``send(frames, final=True)`` takes one ``bytes`` frame or a list of them; with
    ``final=False`` more frames may follow and the line idles with flags meanwhile."""

    def __init__(self, name: str = "v21", bit_rate: int = 300, *, preamble_ms: float = 1000.0,
                 preamble: int | None = None, trailing_flags: int = 2, **modem_options) -> None:
        self._modem = modem.transmitter(name, bit_rate, **modem_options)
        self.bit_rate = bit_rate
        self._enc = HdlcEncoder()
        n = preamble if preamble is not None else preamble_flags(bit_rate, preamble_ms)
        self._enc.flags(n)
        self._trailing = trailing_flags
        self._final = False
        self._given = 0      # bits handed to the modem
        self._samples = 0
        # A whole burst given at once to a fast modem is encoded as the modem needs it
        # (see _feed): an ECM block's bits, one octet per bit, would be ~0.6 MB.
        self._lazy: deque[bytes] = deque()
        self._lazy_open = False     # frames (or the closing flags) still to be encoded
        self._lazy_corrupt = False

    def send(self, frames, final: bool = True, *, corrupt: bool = False) -> None:
        if self._final:
            raise RuntimeError("HDLC burst already finished")
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        if final and self._given == 0 and hasattr(self._modem, "queued_bits"):
            frames = [bytes(f) for f in frames]
            for f in frames:
                _check_frame(f)   # refused now, as the eager path does
            self._lazy.extend(frames)
            self._lazy_open = True
            self._lazy_corrupt = corrupt
            self._final = True
            return
        for f in frames:
            self._enc.frame(f, corrupt=corrupt)
        if final:
            self._enc.flags(self._trailing)
            self._final = True
        bits = self._enc.take()
        self._given += len(bits)
        self._modem.send(bits, final=final)

    def _feed(self, n: int) -> None:
        """Encode waiting frames until the modem holds the bits of the next ``n`` samples
        and two of its chunks more (LAZY_AHEAD symbols), so that it never runs short of
        data before the burst's end: it then modulates the very symbols, in the very
        pieces, it would have with the whole burst queued at once (a fast modem takes
        whole chunks, and judges the end only once ``final`` is given)."""
        m = self._modem
        low = (n // 3 + 2 + LAZY_AHEAD) * m.bits_per_symbol + 1
        have = m.queued_bits
        while self._lazy_open and have < low:
            lazy = self._lazy
            # checked in send: encoded LAZY_FRAMES at a time in one compiled call
            self._enc.frames([lazy.popleft() for _ in range(min(LAZY_FRAMES, len(lazy)))],
                             corrupt=self._lazy_corrupt)
            if not self._lazy:
                self._enc.flags(self._trailing)
                self._lazy_open = False
            bits = self._enc.take()
            self._given += len(bits)
            have += len(bits)
            m.send(bits, final=not self._lazy_open)

    def abort(self) -> None:
        """Abort the frame stream (eight 1s) and end the burst."""
        if self._lazy_open:
            raise RuntimeError("HDLC burst already finished")
        self._enc.abort()
        bits = self._enc.take()
        self._final = True
        self._modem.send(bits, final=True)

    def tx(self, n: int) -> np.ndarray:
        if not self._final:
            # keep the modem fed with idle flags so it never underruns with 1s
            ahead = self._given - (self._samples + n) * self.bit_rate // modem.SAMPLE_RATE
            if ahead < 64:
                k = (64 - ahead) // 8 + 1
                self._enc.flags(k)
                bits = self._enc.take()
                self._given += len(bits)
                self._modem.send(bits, final=False)
        elif self._lazy_open:
            self._feed(n)
        self._samples += n
        return self._modem.tx(n)

    def continues_past(self, n: int) -> bool:
        """True if ``tx(n)`` now surely leaves ``done`` False (see the modems'
        ``continues_past``); False while more frames may come (idle flags are fed by
        block size then)."""
        f = getattr(self._modem, "continues_past", None)
        return self._final and f is not None and f(n)

    def sure_samples(self) -> int:
        """The most samples ``tx`` surely gives now without ending the burst (the modem's
        ``sure_samples``; 0 while more frames may come or the modem does not say).
        Frames still to be encoded only add to what the modem holds."""
        f = getattr(self._modem, "sure_samples", None)
        return int(f()) if self._final and f is not None else 0

    @property
    def done(self) -> bool:
        return self._modem.done

    @property
    def queued_bits(self) -> int | None:
        """Bits the modem holds, not yet modulated (None: a modem that does not say)."""
        return getattr(self._modem, "queued_bits", None)


class HdlcReceiver:
    """A modem receiver (V.21 by default) feeding an :class:`HdlcDecoder`.

    ``events()`` returns, in order, the modem's :class:`~faxcore.modem.base.ModemEvent`
    items and the :class:`HdlcEvent` items; ``frames()`` only the frame events
    (good and bad) since the last call."""

    def __init__(self, name: str = "v21", bit_rate: int = 300, *, flags_needed: int = 5,
                 **modem_options) -> None:
        self._modem = modem.receiver(name, bit_rate, **modem_options)
        self._dec = HdlcDecoder(flags_needed)
        self._events: list[ModemEvent | HdlcEvent] = []
        self._frames: list[HdlcEvent] = []

    def rx(self, samples) -> None:
        self._modem.rx(samples)
        mev = self._modem.events()
        ups = [e for e in mev if e.kind != "carrier_down"]
        downs = [e for e in mev if e.kind == "carrier_down"]
        self._events.extend(ups)
        bits = self._modem.bits()
        if bits.size:
            hev = self._dec.put_bits(bits)
            self._events.extend(hev)
            self._frames.extend(e for e in hev if e.kind in ("frame", "bad"))
        if downs:
            self._events.extend(downs)
            # a new burst starts with a fresh deframer (the tail of this one is noise)
            self._dec.reset()

    def events(self) -> list[ModemEvent | HdlcEvent]:
        ev, self._events = self._events, []
        return ev

    def frames(self) -> list[HdlcEvent]:
        fr, self._frames = self._frames, []
        return fr

    @property
    def trained(self) -> bool:
        return self._modem.trained
