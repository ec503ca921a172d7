"""What the outboxes (webhooks, received faxes by mail) share: the row update after a
try (delivered, or due again after a back-off) and the thread that sends what is due."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any


def record_try(db: Any, table: str, oid: int, tries: int, t: int, error: str | None,
               backoff: Sequence[int], later: int) -> int | None:
    """In the caller's write transaction: row ``oid`` of ``table`` (a module constant,
    never user input) delivered at ``t`` (µs) when ``error`` is None, else due again after
    ``backoff[tries]`` seconds (``later`` once the list is spent). Returns that delay, or
    None when delivered."""
    if error is None:
        db.execute(f"UPDATE {table} SET delivered_at = ?, tries = ?, "
                   "last_error = NULL WHERE id = ?", (t, tries + 1, oid))
        return None
    delay = backoff[tries] if tries < len(backoff) else later
    db.execute(f"UPDATE {table} SET tries = ?, next_try_at = ?, "
               "last_error = ? WHERE id = ?",
               (tries + 1, t + delay * 1_000_000, error[:500], oid))
    return delay


class Poller:
    """A daemon thread that calls ``step`` every ``interval`` seconds until :meth:`stop`;
    an exception is logged (as ``what``) and the thread goes on."""

    def __init__(self, step: Callable[[], object], name: str, log: logging.Logger,
                 what: str, join_timeout: float, interval: float = 1.0) -> None:
        self.step, self.name, self.log, self.what = step, name, log, what
        self.join_timeout, self.interval = join_timeout, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                self.log.exception(self.what)
            self._stop.wait(self.interval)
