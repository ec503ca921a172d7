"""The service: one object that owns the database connections, the channels, inbound
routing, the scheduler and the HTTP app, built from a :class:`ServerConfig`.

``Service(config, clock=...)`` builds everything without starting threads: tests drive
it through the ASGI app and :meth:`Service.run_due` with a fake clock. :meth:`serve`
starts the scheduler threads and uvicorn (``faxcore serve``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from faxcore.accounts import Store, open_store
from faxcore.server import schema
from faxcore.server.channels import Channel
from faxcore.server.class1_channel import Class1Channel, ModemLine
from faxcore.server.config import ServerConfig
from faxcore.server.inbound import InboundRouter
from faxcore.server.loopback import LineFault, LoopbackChannel
from faxcore.server.maildelivery import MailDelivery, SmtpRelay
from faxcore.server.metrics import Metrics
from faxcore.server.queue import JobQueue
from faxcore.server.scheduler import Scheduler
from faxcore.server.sip_channel import SipChannel, SipTrunk, host_port
from faxcore.server.webhooks import Webhooks

log = logging.getLogger("faxcore.server")


def utc_now() -> datetime:
    return datetime.now(UTC)


class StorePool:
    """One :class:`Store` (database connection) per thread, all closed together.

    SQLite: the pool's connections take their write transactions in turn through one
    in-process lock. Without it, connections that find the database locked retry in
    SQLite's busy handler, which sleeps (up to 100 ms a time) with no queue, so under
    16 concurrent clients and 4 workers an unlucky request waited seconds (p99 1.7 s
    in benchmarks/service.py --load). Other processes on the same file still meet the
    busy handler, as before."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def __call__(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.url)
            if store.db.dialect == "sqlite":
                _serialise_writes(store.db, self._write_lock)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for s in stores:
            try:
                s.close()
            except Exception:  # closing from another thread may fail on some drivers
                log.debug("closing a store", exc_info=True)
        self._local = threading.local()


def _serialise_writes(db, lock: threading.Lock) -> None:
    """Make ``db.write()`` (outermost use only; nested ones join it) hold ``lock``."""
    write = db.write

    @contextmanager
    def locked_write() -> Iterator[None]:
        if db.in_transaction:
            with write():
                yield
            return
        with lock, write():
            yield

    db.write = locked_write


def _relay(config: ServerConfig) -> SmtpRelay | None:
    if not config.smtp:
        return None
    host, sep, port = config.smtp.rpartition(":")
    if not sep:
        host, port = config.smtp, "25"
    return SmtpRelay(host.strip("[]"), int(port), sender=config.mail_from,
                     user=config.smtp_user, password=config.smtp_password,
                     starttls=config.smtp_starttls)


class Service:
    def __init__(self, config: ServerConfig, *, clock: Callable[[], datetime] = utc_now,
                 channels: dict[str, Channel] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.data_dir = config.data_path()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.documents_dir = self.data_dir / "documents"
        self.received_dir = self.data_dir / "received"
        self.stores = StorePool(config.db_url())
        schema.migrate(self.stores().db)
        self.metrics = Metrics()
        self.webhooks = Webhooks(self.stores, clock)
        self.mail = MailDelivery(self.stores, clock, _relay(config))
        self.inbound = InboundRouter(self.stores, self.received_dir, clock,
                                     on_received=self._received,
                                     default_account=config.default_account)
        self.channels: dict[str, Channel] = channels if channels is not None else \
            self._build_channels()
        self.scheduler = Scheduler(self.stores, self.channels, clock, policy=config.retry,
                                   limits=config.limits, lease_seconds=config.lease_seconds,
                                   listeners=[self.metrics.job_event],
                                   tx_listeners=[self.webhooks.job_event])
        self._server = None
        # services of the layers above (faxcore.mailgate's SMTP listener), each with
        # start() and stop(): started and stopped with the scheduler
        self.extras: list = []

    def _build_channels(self) -> dict[str, Channel]:
        out: dict[str, Channel] = {}
        for c in self.config.channels:
            if c.type == "class1":
                out[c.name] = Class1Channel(
                    c.name, [ModemLine(url, number) for url, number in c.modem_lines()],
                    inbound=self.inbound, answer=c.answer, ecm=c.ecm, quirks=c.quirks,
                    baudrate=c.baudrate, rtscts=c.rtscts, dial_prefix=c.dial_prefix,
                    max_call_seconds=c.max_call_seconds)
                continue
            if c.type == "sip":
                trunk = SipTrunk(bind=host_port(c.bind),
                                 proxy=host_port(c.proxy) if c.proxy else None,
                                 domain=c.domain, registrar=c.registrar, user=c.user,
                                 password=c.password, t38=c.t38, ecm=c.ecm,
                                 max_seconds=c.max_call_seconds)
                out[c.name] = SipChannel(c.name, trunk, capacity=c.capacity,
                                         inbound=self.inbound)
                continue
            faults = {n: LineFault(**f) for n, f in c.faults.items()}
            out[c.name] = LoopbackChannel(c.name, c.capacity, faults=faults,
                                          answer_unknown=c.answer_unknown, ecm=c.ecm, pace=c.pace,
                                          inbound=self.inbound)
        return out

    def _received(self, fax) -> None:
        self.metrics.received(fax)
        self.webhooks.fax_received(fax)
        self.mail.fax_received(fax)

    # ---- helpers ----------------------------------------------------------------------

    def store(self) -> Store:
        return self.stores()

    def queue(self) -> JobQueue:
        return self.scheduler.queue()

    def run_due(self) -> int:
        """Everything due now (tests): housekeeping, due jobs, due webhook deliveries."""
        n = self.scheduler.run_due()
        self.webhooks.deliver_due()
        self.mail.deliver_due()
        return n

    @property
    def documents(self) -> Path:
        return self.documents_dir

    # ---- running ------------------------------------------------------------------------

    def app(self):
        # not at the top: faxcore.server.api imports this module (for the type)
        from faxcore.server.api import create_app

        return create_app(self)

    def start_channels(self) -> None:
        """Channels that take calls by themselves (modems listening for RING, SIP
        agents) start here; the loopback has nothing to start."""
        for ch in self.channels.values():
            start = getattr(ch, "start", None)
            if start is not None:
                start()

    def stop_channels(self) -> None:
        for ch in self.channels.values():
            stop = getattr(ch, "stop", None)
            if stop is not None:
                try:
                    stop()
                except Exception:  # one channel's failure must not keep the others up
                    log.exception("stopping channel %s", getattr(ch, "name", "?"))

    def start_background(self) -> None:
        self.start_channels()
        self.scheduler.start(self.config.workers)
        self.webhooks.start()
        self.mail.start()
        for extra in self.extras:
            extra.start()

    def stop_background(self) -> None:
        for extra in reversed(self.extras):
            extra.stop()
        self.scheduler.stop()
        self.webhooks.stop()
        self.mail.stop()

    def close(self) -> None:
        self.stop_background()
        self.stop_channels()
        self.stores.close()
