"""Inbound faxes: routed to an account, received into
a TIFF-F page by page (each page durable before it is confirmed: :class:`TiffPageWriter`),
turned into a PDF, metered at no charge (``record_inbound``: a ``jobs`` row with direction
``receive``, ``received`` or ``held``) and listed in ``inbound_faxes``.

A terminated account's number is not answered (the refusal is recorded by
``record_inbound`` as a ``refused`` row, not metered). A suspended or closed account's
faxes are received and held: the inbox lists them once the account is active again.
A call that drops mid-document keeps every page that arrived whole (``partial``).

Routing, in this order: the called number (a SIP DID, a modem line's number, the
loopback's number) if an account owns it; otherwise, when a default account is
configured, the call is answered for it and, once the sender's SUB (T.30 subaddress,
sent with DCS) is known, the fax goes to the account owning the number SUB names (as
given, or with a leading ``+``; not a terminated account) or, failing that, to the
default account. Without a default account a number nobody owns is not answered.
``inbound_faxes.routed_by`` says which rule routed each fax (number, sub, default).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from faxcore.accounts import Status, Store
from faxcore.accounts.rules import from_us, to_us
from faxcore.pagestore import TiffPageWriter, write_durably
from faxcore.server.channels import InboundSession
from faxcore.server.documents import pdf_from_tiff, remove_quietly
from faxcore.t30 import CallResult, RxPage

log = logging.getLogger("faxcore.server.inbound")


@dataclass(frozen=True)
class InboundFax:
    id: int
    account_id: int
    accounts_job_id: int
    called: str
    caller: str | None
    pages: int
    partial: bool
    t30_status: str | None
    tif_path: str | None
    pdf_path: str | None
    received_at: datetime
    state: str  # the accounts job's state: received, held
    routed_by: str | None = None  # number, sub or default


_COLS = ("f.id, f.account_id, f.accounts_job_id, f.called, f.caller, f.pages, f.partial, "
         "f.t30_status, f.tif_path, f.pdf_path, f.received_at, j.state, f.routed_by")


def _fax(row) -> InboundFax:
    r = list(row)
    r[6] = bool(r[6])
    r[10] = from_us(r[10])
    return InboundFax(*r)


def number_owner(store: Store, number: str) -> int | None:
    row = store.db.one("SELECT account_id FROM numbers WHERE number = ?", (number,))
    return None if row is None else int(row[0])


def add_number(store: Store, account_id: int, number: str) -> None:
    store.account(account_id)  # UnknownAccount
    with store.db.write():
        store.db.execute("INSERT INTO numbers (number, account_id) VALUES (?, ?)",
                         (number, account_id))


def numbers_of(store: Store, account_id: int) -> list[str]:
    return [r[0] for r in store.db.all("SELECT number FROM numbers WHERE account_id = ? "
                                       "ORDER BY number", (account_id,))]


class InboundRouter:
    """The server's :class:`~faxcore.server.channels.InboundHandler`. ``stores()`` gives
    the calling thread's store; ``clock()`` the time."""

    def __init__(self, stores: Callable[[], Store], directory: Path,
                 clock: Callable[[], datetime],
                 on_received: Callable[[InboundFax], None] | None = None, *,
                 default_account: int | None = None) -> None:
        self.stores = stores
        self.directory = Path(directory)
        self.clock = clock
        self.on_received = on_received
        self.default_account = default_account

    def owns(self, number: str) -> bool:
        return number_owner(self.stores(), number) is not None

    def _sub_owner(self, store: Store, sub: str) -> int | None:
        sub = sub.strip()
        if not sub:
            return None
        for candidate in (sub, "+" + sub.lstrip("+")):
            account = number_owner(store, candidate)
            if account is not None and \
                    store.status(account, self.clock()).status is not Status.terminated:
                return account
        return None

    def offer(self, called: str, caller: str) -> InboundSession | None:
        store = self.stores()
        account = number_owner(store, called)
        routed_by = "number"
        if account is None:
            if self.default_account is None:
                return None
            account, routed_by = self.default_account, "default"
        now = self.clock()
        if store.status(account, now).status is Status.terminated:
            got = store.record_inbound(account, 0, now, caller=caller or None)
            log.info("inbound call from %s to %s (account %d) not answered: %s",
                     caller or "unknown", called, account, got.reason)
            return None
        folder = self.directory / str(account)
        folder.mkdir(parents=True, exist_ok=True)
        tif = folder / f"fax-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.tif"
        writer = TiffPageWriter(tif)

        def finish(result: CallResult, pages: list[RxPage]) -> None:
            acct, how = account, routed_by
            if how == "default":
                sub_owner = self._sub_owner(self.stores(), result.remote_sub_address)
                if sub_owner is not None:
                    acct, how = sub_owner, "sub"
            self._finish(acct, called, caller, writer, result, pages, how)

        return InboundSession(ident=called[:20], page_store=writer, finish=finish)

    def _finish(self, account: int, called: str, caller: str, writer: TiffPageWriter,
                result: CallResult, pages: list[RxPage], routed_by: str = "number") -> None:
        store = self.stores()
        now = self.clock()
        tif = pdf = None
        if writer.pages_written:
            writer.close()
            tif = writer.path
            pdf = tif.with_suffix(".pdf")
            write_durably(pdf, pdf_from_tiff(tif.read_bytes()))
        partial = not result.ok or any(p.unconfirmed for p in pages)
        try:
            with store.db.write():
                got = store.record_inbound(account, writer.pages_written, now,
                                           caller=caller or None, duration_s=result.duration)
                fax_id = store.db.insert(
                    "INSERT INTO inbound_faxes (account_id, accounts_job_id, called, caller, "
                    "pages, partial, t30_status, tif_path, pdf_path, received_at, routed_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (account, got.job_id, called, caller or None, writer.pages_written,
                     int(partial), result.status.name, str(tif) if tif else None,
                     str(pdf) if pdf else None, to_us(now), routed_by))
                if self.on_received is not None:
                    # in the transaction: the webhook outbox row commits with the fax
                    self.on_received(get_inbound(store, fax_id))
        except BaseException:
            remove_quietly(tif, pdf)
            raise
        log.info("fax %d received from %s for %s (account %d, by %s): %d page(s)%s, %s",
                 fax_id, caller or "unknown", called, account, routed_by,
                 writer.pages_written, " (partial)" if partial else "", got.state)


def get_inbound(store: Store, fax_id: int, account_id: int | None = None) -> InboundFax | None:
    row = store.db.one(f"SELECT {_COLS} FROM inbound_faxes f JOIN jobs j ON "
                       "j.id = f.accounts_job_id WHERE f.id = ?", (fax_id,))
    if row is None:
        return None
    fax = _fax(row)
    if account_id is not None and fax.account_id != account_id:
        return None
    return fax


def inbox(store: Store, account_id: int, now: datetime) -> list[InboundFax]:
    """The account's received faxes it may see now (held ones are released by
    ``received_faxes`` once the account is active)."""
    store.received_faxes(account_id, now)
    return [_fax(r) for r in store.db.all(
        f"SELECT {_COLS} FROM inbound_faxes f JOIN jobs j ON j.id = f.accounts_job_id "
        "WHERE f.account_id = ? AND j.state = 'received' ORDER BY f.id DESC",
        (account_id,))]
