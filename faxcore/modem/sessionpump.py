"""The session pump: the per-block work of a fax session (:class:`faxcore.FaxSession`) in
one step per block per direction, which hands back to the session (and its T.30 engine)
only when something happened.

    sp = session_pump(tx_pump=txpump.tx_pump)
    r = sp.rx(samples, 0)        # None: every sample handled, nothing for the engine
    r = sp.tx(out, 0, True)      # None: ``out`` filled, nothing for the engine

The session owns the T.30 engine and everything that talks to it; the pump owns the
state a block touches: the two sample clocks, the receive pump (:mod:`faxcore.modem.pump`)
and the held V.21 receiver, the source being transmitted and its transmit pump
(:mod:`faxcore.modem.txpump`), the trailing quiet of what was sent and where the last
loud received sample was. The engine's next deadline is given to the pump as a sample
count (:func:`deadline_samples`) whenever the engine has run, so a block never asks the
engine anything: the engine is consulted only on an event or a due timer.

What ``rx(samples, pos)`` does with ``samples[pos:]``, in blocks of at most ``RX_BLOCK``
(160) samples, each in this order (exactly the session's loop before this pump):

1. While listening (a receive pump or a held receiver): where the last sample louder
   than ``RX_LOUD`` is (``rx_loud_end``, for the gap before our answer). The receive
   clock advances by the block.
2. A held V.21 receiver (the far end's closing flags, see the session's
   ``wait_carrier_end``) hears the block; when its carrier has gone or ``hold_until``
   has come, the step stops with ``RELEASE``: the session starts the held answer, then
   goes on with step 3 of this block itself.
3. The engine's deadline (the later of the two clocks): if due, the step stops with
   ``TIMER``: the session runs the engine's timer, then does step 4 of this block itself.
4. The receive pump (unless none, or the engine is done) hears the block; codes stop
   the step with ``CODES``.

Audio that is not a contiguous int16 array stops the step at once with ``CONVERT`` (the
session converts it, with a clear error for what cannot be audio, and calls again).
A stop returns ``(start, end, stop, codes)``: the block is ``samples[start:end]``, and
the session continues with ``rx(samples, end)`` once it has done the rest.

What ``tx(out, pos, first)`` does, filling ``out[pos:]`` (``first``: the block's first
call, when a held answer whose time has come stops the step with ``RELEASE``):

* a source with a transmit pump: the pump fills the block, or up to where the burst
  ended: then ``SRC_DONE`` at that position (the session tells the engine ``TxComplete``
  and goes on with ``tx(out, pos, False)``);
* silence (:class:`Silence`): zeros, to the sample; ``SRC_DONE`` where it ends;
* nothing to send (and no CNG): zeros to the block's end;
* anything else (tones, CNG, a source without a pump): ``SLOW`` at ``pos``: the session
  plays one piece the per-piece way and calls again.

At the block's end, a due deadline gives ``TIMER`` (the session runs the timer). Stops
return ``(pos, stop)``; ``None`` means the block is full and nothing is due.
``tx_new(n)`` is ``tx`` on a new array of ``n`` samples from position 0 (the session's
``tx(n)``): it returns the array and leaves what ``tx`` returned in ``stop`` (the
compiled pump makes the array in C, with no ``np.empty`` call through Python per block).

:class:`ReferenceSessionPump` is this in plain Python, the readable description;
:class:`faxcore.modem._sessionpump.SessionPump` is the same in Cython (what
:func:`session_pump` returns), with no Python frame per block, calling the compiled
receive and transmit pumps from C, and allocating nothing itself for a block without
news (the modem cores still hand back their bits as new arrays).
``tests/session/test_session_pump.py`` checks whole calls sound the same, sample for
sample, with either, and give the engine the same events.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from faxcore.modem import txpump
from faxcore.modem.base import SAMPLE_RATE

RX_BLOCK = 160  # received audio is handled in blocks of at most this (20 ms)
# |sample| above this is the far end's signal (about -50 dBm0; modems send ~ -10 dBm0):
# where a received signal ended, for the gap before our answer
RX_LOUD = 64
#: no deadline (larger than any sample clock)
NEVER = 1 << 62

# why a step stopped (None: it did everything)
RELEASE, TIMER, CODES, SRC_DONE, SLOW, CONVERT = 1, 2, 3, 4, 5, 6
STOP_NAMES = {RELEASE: "RELEASE", TIMER: "TIMER", CODES: "CODES", SRC_DONE: "SRC_DONE",
              SLOW: "SLOW", CONVERT: "CONVERT"}


def is_samples(a: object, write: bool = False) -> bool:
    """``a`` is a 1-D, C-contiguous, native-order int16 array (writeable if ``write``):
    what the steps take as they are."""
    return (type(a) is np.ndarray and a.dtype == np.int16 and a.ndim == 1
            and a.flags.c_contiguous and (a.flags.writeable or not write))


def deadline_samples(seconds: float | None) -> int:
    """The first sample clock ``c`` with ``c / SAMPLE_RATE >= seconds`` (the comparison
    the session makes, in the same floating point), ``NEVER`` for None. The compiled
    pump's ``set_deadline`` uses its twin, ``_sessionpump.deadline_samples`` (the same
    steps in C; ``NEVER`` also for a deadline at or beyond ``NEVER`` samples)."""
    if seconds is None:
        return NEVER
    if seconds != seconds or seconds == math.inf:  # NaN / inf never come due
        return NEVER
    if seconds <= 0:
        return 0
    c = math.ceil(seconds * SAMPLE_RATE)
    while c > 0 and (c - 1) / SAMPLE_RATE >= seconds:
        c -= 1
    while c / SAMPLE_RATE < seconds:
        c += 1
    return c


class Silence:
    """``left`` samples of silence (the gap before an answer): a source the pump plays
    itself. ``left`` may be changed before it is played (a held answer's gap)."""

    def __init__(self, n: int):
        self.left = n

    @property
    def done(self) -> bool:
        return self.left <= 0

    def tx(self, n: int) -> np.ndarray:
        self.left -= n
        return np.zeros(n, np.int16)


class ReferenceSessionPump:
    """The session pump in plain Python (see the module docstring). ``tx_pump``: makes
    the transmit pump of a source (:func:`faxcore.modem.txpump.tx_pump`, its reference,
    or None: every source per piece)."""

    def __init__(self, tx_pump: Callable | None = txpump.tx_pump) -> None:
        self.tx_pump = tx_pump
        self.rx_clock = 0
        self.tx_clock = 0
        self.rx_loud_end = 0
        self.quiet = 0
        self.rxm = None
        self.hold = None
        self.hold_until = NEVER
        self.src = None
        self.txp = None
        self.txp_src = None
        self.cng = None
        self.deadline = NEVER
        self.engine_done = False
        self.stop = None   # what the last tx_new's step returned

    def rx(self, samples: np.ndarray, pos: int):
        if not is_samples(samples):
            return 0, 0, CONVERT, None
        if pos < 0:
            raise ValueError("pos outside the samples")
        total = len(samples)
        while pos < total:
            start = pos
            n = min(RX_BLOCK, total - pos)
            pos += n
            block = samples[start:pos]
            if self.rxm is not None or self.hold is not None:  # listening
                loud = np.flatnonzero((block > RX_LOUD) | (block < -RX_LOUD))
                if loud.size:
                    self.rx_loud_end = self.rx_clock + int(loud[-1]) + 1
            self.rx_clock += n
            now = max(self.rx_clock, self.tx_clock)
            if self.hold is not None:
                self.hold.rx(block)
                if not self.hold.up or now >= self.hold_until:
                    return start, pos, RELEASE, None
            if now >= self.deadline:
                return start, pos, TIMER, None
            if self.rxm is None or self.engine_done:
                continue
            codes = self.rxm.rx(block)
            if codes:
                return start, pos, CODES, codes
        return None

    def set_deadline(self, seconds: float | None) -> None:
        """The engine's next deadline (None: none) as a sample clock."""
        self.deadline = deadline_samples(seconds)

    def tx_new(self, n: int) -> np.ndarray:
        if n < 0:
            raise ValueError("sample count must be >= 0")
        out = np.empty(n, np.int16)
        self.stop = self.tx(out, 0, True)
        return out

    def tx(self, out: np.ndarray, pos: int, first: bool):
        if not is_samples(out, write=True):
            raise ValueError("out must be a writeable 1-D contiguous int16 array")
        if not 0 <= pos <= len(out):
            raise ValueError("pos outside the block")
        if first and self.hold is not None and \
                max(self.rx_clock, self.tx_clock) >= self.hold_until:
            return pos, RELEASE
        n = len(out)
        while pos < n:
            src = self.src
            if src is not self.txp_src:  # a new source: a modem burst gets a pump
                self.txp_src = src
                self.txp = self.tx_pump(src) if self.tx_pump is not None and \
                    txpump.supports(src) else None
            if self.txp is not None:
                end, self.quiet = self.txp.fill(out, pos, self.quiet)
                self.tx_clock += end - pos
                pos = end
                if self.txp.done:
                    return pos, SRC_DONE
                continue
            if src is None:
                if self.cng is not None:
                    return pos, SLOW
                out[pos:] = 0
                self.tx_clock += n - pos
                pos = n
                continue
            if type(src) is Silence:
                k = max(1, min(n - pos, src.left))
                out[pos:pos + k] = 0
                src.left -= k
                self.quiet += k
                self.tx_clock += k
                pos += k
                if src.left <= 0:
                    return pos, SRC_DONE
                continue
            return pos, SLOW
        if max(self.rx_clock, self.tx_clock) >= self.deadline:
            return pos, TIMER
        return None


def session_pump(tx_pump: Callable | None = txpump.tx_pump):
    """The compiled session pump (:class:`faxcore.modem._sessionpump.SessionPump`)."""
    # Imported here: the compiled core must not be needed to import this description
    # (and a session whose modems are not built says so in FaxSession(), not on import).
    from faxcore.modem._sessionpump import SessionPump

    return SessionPump(tx_pump)
