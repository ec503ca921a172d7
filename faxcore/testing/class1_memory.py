"""faxcore's Class 1 driver (:class:`~faxcore.class1.call.Class1Call`, the DTE) and its
emulator (:class:`~faxcore.class1.dce.Class1Dce`, the modem) joined directly, in virtual
time and in one process: no pty, no threads. The emulator's line side talks to a far
end on 8 kHz audio (a :class:`~faxcore.session.FaxSession`, or anything with
``tx(n)``/``rx(samples)``).
"""

from __future__ import annotations

from collections.abc import Callable

from faxcore.class1 import Class1Call, Class1Dce
from faxcore.modem import SAMPLE_RATE

BLOCK = 160  # 20 ms of line audio a turn


def trade_bytes(call: Class1Call, dce: Class1Dce, now: Callable[[], float],
                rounds: int = 100) -> None:
    """The driver and the emulator trade bytes until neither has any (at most ``rounds``
    turns); ``now()`` is the time given to the driver."""
    for _ in range(rounds):
        out = call.outgoing()
        if out:
            dce.from_dte(out)
        back = dce.to_dte()
        if back:
            call.receive(back, now())
        if not out and not back:
            break


def run_in_memory(call: Class1Call, dce: Class1Dce, far, *, ring: bool = False,
                  max_seconds: float = 200.0) -> Class1Call:
    """Play ``call`` to its end (or ``max_seconds`` of line time): each turn the driver
    and the emulator trade bytes, then the line advances 20 ms (the emulator and ``far``
    hear each other while the emulator is off hook). ``ring``: the emulator rings once
    the driver is ready (an answering driver). The driver's clock is the emulator's."""
    def now() -> float:
        return dce.clock / SAMPLE_RATE

    call.start(now())
    rang = False
    while not call.done and dce.clock < SAMPLE_RATE * max_seconds:
        trade_bytes(call, dce, now)
        if ring and call.driver.ready and not rang and not dce.offhook:
            dce.ring()
            rang = True
            continue
        if dce.offhook and far is not None:
            a, b = dce.tx_audio(BLOCK), far.tx(BLOCK)
            dce.rx_audio(b)
            far.rx(a)
        else:
            dce.tx_audio(BLOCK)
        call.tick(now())
    return call
