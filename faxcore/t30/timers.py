"""T.30 timers. All values in seconds; the engine is given the time, it never sleeps.

T1  35 s   calling and called station identify each other (from the start of phase B)
T2   6 s   a station waits for a command (we use 7 s, as spandsp and HylaFAX do)
T3  10 s   operator alert after a procedure interrupt
T4   3 s   a station waits for a response to its command (spandsp 3.45 s)
T5  60 s   ECM: the transmitter waits for the receiver to become ready (RNR/RR)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timers:
    t0: float = 60.0
    t1: float = 35.0
    t2: float = 7.0
    t3: float = 15.0
    t4: float = 3.45
    t5: float = 65.0
    # After answering EOM with MCF: how long the receiver waits for a command before it
    # sends DIS again (T.30's nominal T2; TSB-85 MRGN09 expects the DIS 5 to 7 s on).
    t2_eom: float = 6.0
    # Once a V.21 carrier is heard, how long to wait for the next frame of the burst: long
    # enough for the longest frame we take, 256 octets (an NSF or NSS at the HDLC
    # maximum) with its FCS, worst-case zero-bit insertion (1 bit in 6) and the 1 s
    # +15 % preamble before the first frame: 9.5 s at 300 bit/s. T4 and T2 stop once
    # flags are heard (T.30); a shorter wait cut such a frame off and the station
    # talked over the rest of it.
    frame_gap: float = 10.0
    # Longest high-speed burst we accept (a page at 2400 bit/s can be long).
    max_burst: float = 600.0


DEFAULT_TIMERS = Timers()
