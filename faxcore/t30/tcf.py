"""When a TCF (training check) ends, and so when the receiver must answer it.

After DCS the transmitter waits 75 ms, sends the long training of the DCS modem and
1.5 s of zeros, then waits T4 (3 s +- 15 %, so at least 2.55 s) for CFR or FTT; with no
answer by then it sends DCS again at the *same* rate. An answer that comes later crosses
that repeated DCS: both stations talk over each other, and on a noisy line every DCS can
be lost that way (the call then dies TX_PHBDEAD without ever trying the slower modems).
The receiver therefore answers as soon as it knows the outcome, and never later than
:data:`ANSWER_AFTER_S` past the TCF's expected end (:func:`tcf_end`), whatever it heard:

* trained: the TCF is judged at its carrier's end; in a noise floor that end may never
  be reported, so also once its 1.5 s of data are in and no more came for
  :data:`DATA_STOPPED_S` (the modem lost the signal), and at the latest
  :data:`TCF_LONGEST_S` after the training;
* the modem tried to train and failed: FTT as soon as that carrier ends (after the
  training could have ended), else at the deadline;
* nothing heard: FTT at the deadline (TSB-85 MRGN13: a DCS without TCF gets FTT).

The long training lengths are the Recommendations' (V.17 Table 3 long sequence, V.29
section 4, V.27ter section 2.5 with the 20 ms silence and no TEP, as T.30 terminals send
them); the answer's own lead time (75 ms + the V.21 preamble's first flags) keeps the
FTT/CFR inside the transmitter's shortest T4 with more than 1.5 s to spare.
"""

from __future__ import annotations

from faxcore.t30.config import GAP_MS, TCF_SECONDS
from faxcore.t30.modem_if import Modulation

#: seconds of long training before the first data bit, by modem (V.27ter: by rate)
LONG_TRAINING_S: dict[tuple[str, int], float] = {
    ("v17", 14400): 3344 / 2400, ("v17", 12000): 3344 / 2400,
    ("v17", 9600): 3344 / 2400, ("v17", 7200): 3344 / 2400,
    ("v29", 9600): 608 / 2400, ("v29", 7200): 608 / 2400,
    ("v27ter", 4800): 0.020 + 1132 / 1600, ("v27ter", 2400): 0.020 + 1132 / 1200,
}

#: how long past the TCF's expected end the receiver waits before it answers anyway: a
#: TCF that starts a little late (T.30 allows 75 +- 20 ms) or a modem slow to report its
#: carrier's end still gets judged; the answer still comes > 1.5 s before T4 runs out
ANSWER_AFTER_S = 0.5

#: a trained TCF is judged at the latest this long after the training: a little over
#: twice the 1.5 s (TSB-85 MTGP02 sends 900 octets at 2400 bit/s, 3 s); the answer then
#: starts 3.3 s after the TCF's data began, still before the shortest T4 ends (1.5 +
#: 2.55 s)
TCF_LONGEST_S = 3.2

#: once a trained TCF's data are all in, data that stop for this long end it
DATA_STOPPED_S = 0.2


def training_seconds(mod: Modulation) -> float:
    """Long training time of ``mod`` (what precedes the TCF's zeros)."""
    return LONG_TRAINING_S[(mod.name, mod.rate)]


def tcf_end(mod: Modulation) -> float:
    """Seconds from the end of the DCS to the expected end of its TCF at ``mod``."""
    return GAP_MS / 1000 + training_seconds(mod) + TCF_SECONDS


def tcf_octets(mod: Modulation) -> int:
    """Octets of zeros in a TCF at ``mod`` (1.5 s of data)."""
    return int(mod.rate * TCF_SECONDS) // 8
