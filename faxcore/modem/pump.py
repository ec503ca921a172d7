"""The receive pump of a fax session: one call per block of received audio that runs
the modem receiver, the HDLC deframer (or the byte assembly of page data) and, while a
fast carrier is expected, a V.21 "watch" receiver, and returns only what changed.

    pump = rx_pump("v17", 14400, hdlc=True, short_train=True, watch=True)
    for code, payload in pump.rx(block):     # int16 samples, contiguous
        ...                                  # UP, DOWN, FRAME, DATA, TRAINING_FAILED, WRONG_CARRIER

What the pump does with each block, in order (this is :class:`ReferenceRxPump`, the
readable description; :class:`faxcore.modem._pump.RxPump` does the same in Cython with
no Python frame per block and is what :func:`rx_pump` returns):

1. The modem receiver demodulates the block: bits, and its events (carrier up/down,
   training succeeded/failed, signal lost).
2. HDLC (V.21, or a fast modem carrying ECM frames): the modem's events other than
   carrier down come first: ``training_succeeded`` on a fast modem is ``UP``. Then the
   bits go through the deframer: a frame is ``FRAME`` with ``(octets without the FCS,
   FCS good)``, a bad frame (not whole octets, too long) ``FRAME`` with ``(what came,
   False)``; on V.21, the preamble's flags are ``UP`` (the carrier is ours: ``up``
   becomes True). Then each ``carrier_down`` is ``DOWN`` (``up`` False) and the
   deframer starts afresh (the tail of a burst is noise).
3. Page data (a fast modem without ECM): ``TRAINING_FAILED`` if the training failed;
   ``UP`` once if it succeeded; the bits, packed LSB first into whole octets, as one
   ``DATA`` (the odd bits wait for the next block); ``DOWN`` once at carrier down (odd
   bits dropped).
4. The watch (V.21 flags heard while a fast carrier is expected: the far end is sending
   commands): ``WRONG_CARRIER`` for each preamble its own deframer sees, after the rest.

Sans-IO: samples in, codes out; the caller (:class:`faxcore.session.FaxSession`, through
its session pump :mod:`faxcore.modem.sessionpump`) turns the codes into T.30 events. The
modem package knows nothing of T.30. The compiled pump also has ``step(block)`` (for the
compiled session pump, from C): the same codes, or None for a block without any.
"""

from __future__ import annotations

import numpy as np

from faxcore import modem
from faxcore.modem.base import CARRIER_DOWN, TRAINING_FAILED, TRAINING_SUCCEEDED

UP, DOWN, FRAME, DATA, TRAINING_FAILED_CODE, WRONG_CARRIER = 1, 2, 3, 4, 5, 6
CODE_NAMES = {UP: "UP", DOWN: "DOWN", FRAME: "FRAME", DATA: "DATA",
              TRAINING_FAILED_CODE: "TRAINING_FAILED", WRONG_CARRIER: "WRONG_CARRIER"}
#: consecutive flags that make a preamble (as :class:`faxcore.modem.hdlc.HdlcReceiver`)
FLAGS_NEEDED = 5
MIN_FRAME = 3


def _receiver(name: str, rate: int, short_train: bool):
    opts = {"short_train": short_train} if name == "v17" else {}
    return modem.receiver(name, rate, **opts)


def rx_pump(name: str, rate: int, *, hdlc: bool, short_train: bool = False,
            watch: bool = False):
    """The receive pump for modem ``name`` at ``rate``: HDLC frames (``hdlc``) or page
    data, with a V.21 watch receiver (``watch``). The compiled one
    (:class:`faxcore.modem._pump.RxPump`)."""
    # Imported here: the pump needs its compiled core and the HDLC one, and a session
    # whose modems are not built says so in FaxSession() (ModemNotAvailable), not on import.
    from faxcore.modem._pump import RxPump

    return RxPump(_receiver(name, rate, short_train), name, hdlc,
                  _receiver("v21", 300, False) if watch else None)


class ReferenceRxPump:
    """The pump in plain Python (see the module docstring): the description the
    compiled :class:`faxcore.modem._pump.RxPump` follows, and the reference its tests
    compare it with. Same constructor arguments as :func:`rx_pump`."""

    def __init__(self, name: str, rate: int, *, hdlc: bool, short_train: bool = False,
                 watch: bool = False):
        # the deframer lives in a compiled core too (imported on use, as in rx_pump)
        from faxcore.modem.hdlc import HdlcDecoder

        self.m = _receiver(name, rate, short_train)
        self.fast = name != "v21"
        self.hdlc = hdlc
        self.up = False
        self._dec = HdlcDecoder(FLAGS_NEEDED, MIN_FRAME) if hdlc else None
        self._bits = np.zeros(0, np.uint8)
        self._watch = _receiver("v21", 300, False) if watch else None
        self._wdec = HdlcDecoder(FLAGS_NEEDED, MIN_FRAME) if watch else None

    def rx(self, block: np.ndarray) -> list[tuple[int, object]]:
        out: list[tuple[int, object]] = []
        self.m.rx(block)
        evs = self.m.events()
        bits = self.m.bits()
        if self.hdlc:
            for e in evs:
                if e.kind == TRAINING_SUCCEEDED and self.fast:
                    out.append((UP, None))
            for e in (self._dec.put_bits(bits) if bits.size else []):
                if e.kind == "flags" and not self.fast:
                    self.up = True
                    out.append((UP, None))
                elif e.kind in ("frame", "bad"):
                    out.append((FRAME, (bytes(e.data), e.kind == "frame" and e.ok)))
            downs = sum(e.kind == CARRIER_DOWN for e in evs)
            if downs:
                self._dec.reset()
                self.up = False
                out.extend([(DOWN, None)] * downs)
        else:
            if any(e.kind == TRAINING_FAILED for e in evs):
                out.append((TRAINING_FAILED_CODE, None))
            if any(e.kind == TRAINING_SUCCEEDED for e in evs):
                out.append((UP, None))
            self._bits = np.concatenate([self._bits, bits])
            whole = len(self._bits) // 8 * 8
            if whole:
                out.append((DATA, np.packbits(self._bits[:whole], bitorder="little").tobytes()))
                self._bits = self._bits[whole:]
            if any(e.kind == CARRIER_DOWN for e in evs):
                self._bits = np.zeros(0, np.uint8)
                out.append((DOWN, None))
        if self._watch is not None:
            self._watch.rx(block)
            wev = self._watch.events()
            wbits = self._watch.bits()
            for e in (self._wdec.put_bits(wbits) if wbits.size else []):
                if e.kind == "flags":
                    out.append((WRONG_CARRIER, None))
            if any(e.kind == CARRIER_DOWN for e in wev):
                self._wdec.reset()
        return out
