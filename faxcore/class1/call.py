"""A fax call over a Class 1 modem: the T.30 engine bound to the :mod:`.dte` driver, sans-IO.

:class:`Class1Call` makes the :class:`~faxcore.t30.engine.T30Engine` once the driver has
initialised the modem (with the fast modems both offer), passes the engine's commands to
the driver and the driver's events to the engine, and keeps the time for both. It does no
I/O: :class:`~faxcore.class1.serial.Class1Serial` runs it on a port.
"""

from __future__ import annotations

import numpy as np

from faxcore.class1.dte import Class1Driver
from faxcore.class1.quirks import Quirks
from faxcore.pagestore import TiffPageWriter
from faxcore.session import load_pages
from faxcore.t30.config import PAGE_MODEMS
from faxcore.t30.engine import T30Config, T30Engine
from faxcore.t30.modem_if import HangUp, LineDropped

__all__ = ["Class1Call"]


class Class1Call:
    """One fax call: a :class:`~faxcore.t30.engine.T30Engine` over a Class 1 modem, sans-IO.

        call = Class1Call(calling=True, dial="5551234", send=["page.tif"])
        call.start(now)
        loop: port.write(call.outgoing()); call.receive(port.read(...), now); call.tick(now)
        until call.done; then call.result, call.pages

    The engine is made once the modem is initialised, with the fast modems it offers.
    Other keyword options go to :class:`~faxcore.t30.engine.T30Config` as with
    :class:`faxcore.FaxSession`; ``receive`` is a TIFF path, a callable per page, or a
    :class:`~faxcore.t30.store.PageStore` (an object with ``store_page``: the caller's
    own durable store, attached to the engine and closed by the caller).
    ``quirks``: the modem's quirk profile for the driver made here (see
    :mod:`faxcore.class1.quirks`; default ``"auto"``: asked of the modem)."""

    def __init__(self, calling: bool, *, dial: str | None = None, send=None, receive=None,
                 ecm: bool = True, modems: tuple[str, ...] = PAGE_MODEMS,
                 driver: Class1Driver | None = None, quirks: str | Quirks | None = None,
                 **options) -> None:
        if calling and not dial and driver is None:
            raise ValueError("a calling station needs a number to dial")
        if driver is not None and quirks is not None:
            raise ValueError("quirks go to the driver given (Class1Driver(quirks=...))")
        self.calling = calling
        self.driver = driver or Class1Driver(dial=dial if calling else None,
                                             quirks="auto" if quirks is None else quirks)
        self._send = send
        self._receive = receive
        self._ecm = ecm
        self._want = modems
        self._options = options
        self.engine: T30Engine | None = None
        self._written = False
        self._failed: str | None = None

    def start(self, now: float) -> None:
        self.driver.start(now)
        self._maybe_start_engine(now)

    def receive(self, data: bytes, now: float) -> None:
        self.driver.receive(data, now)
        self._pump(now)

    def outgoing(self) -> bytes:
        return self.driver.outgoing()

    def tick(self, now: float) -> None:
        d = self.driver.next_deadline
        if d is not None and now >= d:
            self.driver.handle_timer(now)
        if self.engine is not None:
            d = self.engine.next_deadline
            if d is not None and now >= d:
                self.engine.handle_timer(now)
                self._commands(now)
        self._pump(now)

    @property
    def next_deadline(self) -> float | None:
        ds = [self.driver.next_deadline]
        if self.engine is not None:
            ds.append(self.engine.next_deadline)
        ds = [d for d in ds if d is not None]
        return min(ds) if ds else None

    @property
    def done(self) -> bool:
        if self._failed is not None:
            return self.driver.hung_up or self.driver.state is None
        return self.engine is not None and self.engine.done and self.driver.hung_up

    def abort(self, now: float, reason: str = "aborted locally") -> None:
        """Stop the call (an operator's stop): the engine sends DCN and hangs up, the
        result says CALLDROPPED with ``reason``. Nothing happens before the engine runs."""
        if self.engine is None:
            return
        self.engine.abort(now, reason)
        self._commands(now)

    def fail(self, message: str, now: float) -> None:
        """End the call at once, as when the modem fails (:meth:`Class1Driver.fail`): the
        engine hears the line drop, :attr:`error` is ``message`` unless an error came
        first. For a transport (a call past its time limit)."""
        self.driver.fail(message, now)
        self._failed = self.driver.error

    @property
    def error(self) -> str | None:
        return self.driver.error or self._failed

    @property
    def result(self):
        if self.engine is None:
            return None
        r = self.engine.result
        if self.driver.error and not r.message.endswith(self.driver.error):
            r.message = (r.message + "; " if r.message else "") + self.driver.error
        return r

    @property
    def pages(self) -> list[np.ndarray]:
        if self.engine is None:
            return []
        return [p.bitmap for p in self.engine.received_pages if p.packed is not None]

    # ---- internals ---------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        self._maybe_start_engine(now)
        evs = self.driver.events()
        if self.engine is None:
            if any(isinstance(e, LineDropped) for e in evs) and self._failed is None:
                self._failed = self.driver.error or "modem failed"
            return
        for ev in evs:
            self.engine.handle_event(ev, now)
            self._commands(now)

    def _maybe_start_engine(self, now: float) -> None:
        if self.engine is not None or self._failed is not None:
            return
        d = self.driver
        if d.error is not None:
            self._failed = d.error
            return
        if not d.ready:
            return
        if not self.calling and d.wait_ring and d.rings == 0:
            return
        modems = tuple(m for m in self._want if m in d.modems) if d.modems else self._want
        if not modems:
            self._failed = (f"the modem offers none of {self._want} (it lists "
                            f"{sorted(d.tx_codes & d.rx_codes)})")
            return
        given = self._receive if hasattr(self._receive, "store_page") else None
        on_page = self._receive if callable(self._receive) and given is None else None
        store = given
        if self._receive is not None and on_page is None and given is None:
            store = TiffPageWriter(self._receive)  # each page on disk before its MCF
        cfg = T30Config(calling=self.calling, pages=load_pages(self._send), ecm=self._ecm,
                        modems=modems, on_page=on_page, page_store=store, **self._options)
        self.engine = T30Engine(cfg)
        self.engine.start(now)
        if store is not None and hasattr(store, "attach"):
            store.attach(self.engine)  # each page's metadata (TSI, DCS, times) in its TIFF tags
        self._commands(now)

    def _commands(self, now: float) -> None:
        for cmd in self.engine.commands():
            self.driver.send_command(cmd, now)
            if isinstance(cmd, HangUp):
                self._finish()
        evs = self.driver.events()
        for ev in evs:
            self.engine.handle_event(ev, now)
            self._commands(now)

    def _finish(self) -> None:
        if self._written or self._receive is None or callable(self._receive) \
                or hasattr(self._receive, "store_page"):
            return  # a store given by the caller is closed by the caller
        self._written = True
        self.engine.cfg.page_store.close()  # the pages are on disk already: their total
