"""Set-up shared by the benchmark scripts (run as ``python benchmarks/<name>.py``, so this
module is imported from the script's own folder)."""

from __future__ import annotations

import ctypes
import os
import platform
import time
from ctypes import c_void_p
from datetime import UTC, datetime
from pathlib import Path

from faxcore.testing.spandsp.library import lib
from faxcore.testing.spandsp.t38 import SpandspT38Terminal


def pin_one_core() -> None:
    """Run on one core, so a figure is per-core and not spread over the machine's others."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):  # no affinity API (macOS) or not allowed: run unpinned
        pass


def print_header(title: str) -> None:
    """The first line of a benchmark's output: what, when and on which machine/Python."""
    print(f"{title}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()} {platform.processor() or ''} Python {platform.python_version()}")


class RecordingT38Terminal(SpandspT38Terminal):
    """A spandsp T.38 terminal that remembers the C entry calls it was given, in order
    (``(0, samples, 0)`` for a timeout, ``(1, ifp, seq)`` for a packet), for
    :func:`replay_t38_ops`."""

    def __init__(self, *args, **kw):
        self.ops: list[tuple[int, object, int]] = []
        super().__init__(*args, **kw)

    def advance(self, samples: int) -> bool:
        self.ops.append((0, samples, 0))
        return super().advance(samples)

    def rx_ifp(self, data: bytes, seq: int) -> int:
        self.ops.append((1, data, seq))
        return super().rx_ifp(data, seq)


def bare_t38_terminal(calling: bool, src: Path, out: Path, ecm: bool) -> int:
    """A ``t38_terminal_state_t *`` whose packets go to a C no-op (getpid: returns > 0,
    "sent"), sending ``src`` or receiving into ``out``, V.17, MH/MR/MMR. The caller frees
    it (``t38_terminal_free``)."""
    L = lib()
    noop = ctypes.cast(ctypes.CDLL(None).getpid, c_void_p)
    s = L.t38_terminal_init(None, int(calling), noop, None)
    t30 = L.t38_terminal_get_t30_state(s)
    if calling:
        L.t30_set_tx_file(t30, str(src).encode(), -1, -1)
    else:
        L.t30_set_rx_file(t30, str(out).encode(), -1)
    L.t30_set_ecm_capability(t30, int(ecm))
    L.t30_set_supported_modems(t30, 4)                 # V.17
    L.t30_set_supported_compressions(t30, 2 | 4 | 8)   # MH, MR, MMR
    return s


def replay_t38_ops(s: int, ops: list[tuple[int, object, int]]) -> float:
    """CPU seconds of the terminal ``s`` doing the recorded ``ops`` (of a
    :class:`RecordingT38Terminal`), the bare loop only."""
    L = lib()
    core = L.t38_terminal_get_t38_core_state(s)
    timeout, rx = L.t38_terminal_send_timeout, L.t38_core_rx_ifp_packet
    t0 = time.process_time()
    for kind, x, seq in ops:
        if kind:
            rx(core, x, len(x), seq)
        else:
            timeout(s, x)
    return time.process_time() - t0
