"""SIP call set-ups per second through the sans-IO user agent, one core.

Two :class:`~faxcore.sip.ua.UserAgent` objects pass datagrams to each other in memory
(no sockets, no loss): A sends INVITE, B answers 100 + 200 (SDP offer/answer with
:func:`faxcore.sip.sdp.answer`), A ACKs, then BYE / 200. One such call is 6 datagrams
(3 transactions: INVITE, ACK's dialog part, BYE). Between calls the virtual clock jumps 40 s so the
transactions' end timers fire and the UAs hold no state. CPU time (process_time),
median of the repeats. For scale, the same run times parsing alone (the INVITE, as
``parse_message``) and reports what share of a call it is.

There is no other SIP stack in this environment to run in-process for a ratio; SIPp
(the interop peer) is a load generator over real UDP and is not comparable here.

    python benchmarks/sip.py [--calls 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import pin_one_core, print_header

from faxcore.sip import sdp as S
from faxcore.sip.message import parse_message
from faxcore.sip.ua import CallAnswered, IncomingCall, UserAgent

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)


def run_calls(n: int) -> tuple[float, int]:
    """CPU seconds for ``n`` call set-ups and tear-downs, and datagrams exchanged."""
    a = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(1),
                  session_expires=None)
    b = UserAgent("sip:b@10.0.0.2", "sip:b@10.0.0.2:5060", rng=random.Random(2),
                  session_expires=None)
    oa, ob = S.SdpOriginator("10.0.0.1", 1), S.SdpOriginator("10.0.0.2", 2)
    offer = oa.describe([S.audio_media(4000)])
    local = S.LocalMedia("10.0.0.2", 5000, 5002)
    uas = {A: a, B: b}
    datagrams = 0
    now = 0.0
    t0 = time.process_time()
    for _ in range(n):
        call = a.invite("sip:b@10.0.0.2:5060", offer, now)
        answered = False
        moving = True
        while moving:
            moving = False
            for src, ua in uas.items():
                for data, dst in ua.datagrams_to_send():
                    datagrams += 1
                    moving = True
                    uas[dst].receive_datagram(data, src, now)
                for ev in ua.events():
                    if isinstance(ev, IncomingCall):
                        ua.answer(ev.call, S.answer(ev.sdp, local, ob), now)
                        moving = True
                    elif isinstance(ev, CallAnswered) and not answered:
                        answered = True
                        a.bye(call, now)
                        moving = True
        now += 40.0
        a.handle_timer(now)
        b.handle_timer(now)
    return time.process_time() - t0, datagrams


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    pin_one_core()
    print_header("SIP user agent (sans-IO), call set-ups per second")
    run_calls(50)                                    # warm-up
    times, dgrams = [], 0
    for _ in range(args.repeats):
        t, dgrams = run_calls(args.calls)
        times.append(t)
    med = statistics.median(times)
    rate = args.calls / med
    print(f"calls (INVITE/100/200/ACK/BYE/200): {rate:8.0f} /s   "
          f"({dgrams / args.calls:.1f} datagrams a call, {dgrams / med:8.0f} datagrams/s; "
          f"median of {args.repeats} x {args.calls}, CPU {min(times):.3f}-{max(times):.3f} s)")
    # the parser alone, for scale
    a = UserAgent("sip:a@10.0.0.1", "sip:a@10.0.0.1:5060", rng=random.Random(1))
    a.invite("sip:b@10.0.0.2:5060", S.SdpOriginator("10.0.0.1", 1).describe(
        [S.audio_media(4000)]), 0.0)
    ((invite, _),) = a.datagrams_to_send()
    k = 20000
    t0 = time.process_time()
    for _ in range(k):
        parse_message(invite)
    tp = (time.process_time() - t0) / k
    per_call = dgrams / args.calls
    print(f"parse_message(INVITE, {len(invite)} bytes): {1 / tp:8.0f} /s; "
          f"{per_call:.0f} INVITE-sized parses would be {per_call * tp * rate:.0%} of a call's "
          "CPU time")


if __name__ == "__main__":
    main()
