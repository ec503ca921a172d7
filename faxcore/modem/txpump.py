"""The session's transmit pump: the transmit counterpart of :mod:`faxcore.modem.pump`.

:class:`faxcore.FaxSession` hands out audio in blocks (``tx(n)``, typically 160
samples). A burst (V.21 HDLC frames, a V.27ter/V.29/V.17 page or ECM block, with its bit
source: the HDLC encoder or the page's bits) is a stream of samples that does not depend
on how it is cut into pieces; only where it *ends* does: the session tells the T.30
engine a burst is over (``TxComplete``) at the end of the 40-sample piece in which it
ended, and starts the next thing there.

The per-piece way (the session's own loop, for tones and silence, and for every source
before this pump existed): ask the transmitter for the rest of the block when it surely
goes on past it (``continues_past``), else for 40 samples at a time, checking ``done``
after each. That is several Python calls per block per burst.

The pump takes the burst ahead instead: whenever what it holds does not cover the block,
it asks the transmitter how many samples it can *surely* give without ending
(``sure_samples()``, at most ``ahead``: 200 ms) and takes them at once. A block that the
held samples cover is one copy (in :mod:`faxcore.modem._txpump`, one C-level call with
no Python at all). Only near the end, when the transmitter cannot promise the block,
does the pump go 40 samples at a time (held samples first, then the transmitter's),
checking ``done`` after each piece that came from the transmitter: the pieces end where
the per-piece loop's do (its pieces are a coarsening of these, from the same start), so
the burst ends on the same sample, and the samples are the same ones.

Why held samples never hide an end: each was given by ``tx(k)`` with ``k <=
sure_samples()``, after which the transmitter is not done, and whether it is done is a
function of how far into the burst it has been read (the modems end when their last
modulated sample, or their last bit, has been read), so the per-piece loop would not
have seen the end there either.

:class:`ReferenceTxPump` here is the readable description; ``_txpump.TxPump`` is the
same in Cython, and ``tests/modem/test_tx_pump.py`` checks that whole calls sound the
same, sample for sample, with either and with the per-piece loop. The session pump
(:mod:`faxcore.modem.sessionpump`) plays the compiled one from C (``fill_c``, declared in
``_txpump.pxd``), and the per-piece loop is what it hands back to the session for tones
and for sources without a pump.
"""

from __future__ import annotations

import numpy as np

#: the session's transmit granularity (5 ms): how precisely a burst's end is timed
CHUNK = 40
#: the most samples taken ahead from a transmitter (200 ms)
AHEAD = 1600


def supports(src: object) -> bool:
    """True if ``src`` (a transmitter the session is playing) can be pumped: it says how
    much it surely gives (``sure_samples``)."""
    return hasattr(src, "sure_samples")


def trailing_quiet(piece: np.ndarray, quiet: int) -> int:
    """Zero samples at the end of the stream after ``piece`` (``quiet`` before it)."""
    if piece[-1]:
        return 0
    loud = np.flatnonzero(piece)
    return len(piece) - 1 - int(loud[-1]) if loud.size else quiet + len(piece)


def tx_pump(src, ahead: int = AHEAD):
    """The compiled pump (:class:`faxcore.modem._txpump.TxPump`) for transmitter ``src``."""
    # Imported here: the compiled core must not be needed to import this description
    # (and a session whose modems are not built says so in FaxSession(), not on import).
    from faxcore.modem._txpump import TxPump

    return TxPump(src, ahead)


class ReferenceTxPump:
    """Plays one transmitter ``src`` into the session's output blocks (see the module
    docstring). ``done``: the burst has ended (at the position :meth:`fill` returned)."""

    def __init__(self, src, ahead: int = AHEAD) -> None:
        self.src = src
        self.ahead = int(ahead)
        self.done = False
        self._held = np.zeros(0, np.int16)
        self._pos = 0

    @property
    def held(self) -> int:
        """Samples taken from the transmitter and not yet played."""
        return len(self._held) - self._pos

    def fill(self, out: np.ndarray, pos: int, quiet: int) -> tuple[int, int]:
        """Write the burst into ``out[pos:]``: returns (the position after the last
        sample written: ``len(out)``, or where the burst ended, then ``done``; the zero
        samples at the end of the stream so far, ``quiet`` counting those before)."""
        n = len(out)
        src = self.src
        while pos < n:
            need = n - pos
            if self.held < need:
                k = min(int(src.sure_samples()), self.ahead)
                if k > 0:
                    self._held = np.concatenate([self._held[self._pos:], src.tx(k)])
                    self._pos = 0
            avail = self.held
            if avail >= need:  # the usual case: held samples cover the block
                piece = self._held[self._pos:self._pos + need]
                self._pos += need
                out[pos:n] = piece
                return n, trailing_quiet(piece, quiet)
            # The burst may end in this block: 40 samples at a time, as the per-piece
            # loop goes, held ones first.
            k = min(CHUNK, need)
            take = min(k, avail)
            out[pos:pos + take] = self._held[self._pos:self._pos + take]
            self._pos += take
            if take < k:
                out[pos + take:pos + k] = src.tx(k - take)
            quiet = trailing_quiet(out[pos:pos + k], quiet)
            pos += k
            if take < k and src.done:
                self.done = True
                return pos, quiet
        return pos, quiet
