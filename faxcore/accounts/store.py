"""The account store: accounts, plans, ledger, billing, payments, the send gate.

The rules live in :mod:`faxcore.accounts.rules`; this module keeps them in the
database. Each account row carries a summary of its ledger (charges, payments,
sticky status level and since when, unsettled invoices, time of the last event),
updated in the same transaction as every ledger insert while the row is locked.
So a gate check is one primary-key read and a few comparisons, with no cache to
go stale: several processes and hosts may write concurrently.

Statuses asked for a time *before* the account's last event are computed by
replaying the ledger up to that time (correct, slower; rare in practice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faxcore.accounts import rules
from faxcore.accounts.db import Database
from faxcore.accounts.jobs import JobStoreMixin
from faxcore.accounts.rules import (
    INBOUND,
    INVOICE,
    LEVELS,
    LOGIN_SCOPE,
    PAGE_CHARGE,
    PAYMENT,
    REACTIVATION,
    REACTIVATION_FEE_CENTS,
    AccountState,
    RuleError,
    Status,
    format_cents,
    from_us,
    to_us,
)

log = logging.getLogger(__name__)


class AccountsError(Exception):
    """Base class of the store's errors."""


class UnknownAccount(AccountsError, LookupError):
    pass


class PaymentConflict(AccountsError):
    """A payment reference already used for a different account or amount."""


class InvalidOperation(AccountsError, ValueError):
    """An operation the rules forbid now (e.g. reactivating an active account)."""


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_fee_cents: int
    page_price_cents: int


@dataclass(frozen=True)
class AccountStatus:
    """An account's status at a time. ``name`` is one of the four status strings."""

    status: Status
    since: datetime
    balance_cents: int
    overdue_since: datetime | None  # billing instant of the oldest unsettled invoice

    @property
    def name(self) -> str:
        return self.status.value

    @property
    def login_scope(self) -> str:
        return LOGIN_SCOPE[self.status]

    def __str__(self) -> str:
        return self.status.value


@dataclass(frozen=True)
class SendDecision:
    allowed: bool
    reason: str
    status: AccountStatus

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Payment:
    ledger_id: int
    account_id: int
    cents: int
    reference: str
    duplicate: bool  # True when the reference had been posted before (nothing changed)


_ACCOUNT_COLS = ("id, plan, credit_limit_cents, billing_day, created_at, next_billing_at, "
                 "charges_cents, payments_cents, level, level_since, open_invoices, "
                 "last_event_at, name")


def _state_from_row(row: Any) -> AccountState:
    return AccountState(credit_limit=row[2], charges=row[6], payments=row[7], level=row[8],
                        since=row[9], open_invoices=AccountState.parse_invoices(row[10]),
                        last_at=row[11])


# Upper bounds on what one call may post: far beyond any real fax or payment, and low
# enough that sums of them can never overflow a BIGINT (a clear ValueError instead of a
# database overflow error, or a wrapped balance).
MAX_PAGES = 100_000
MAX_CENTS = 10**12  # $10 000 000 000.00


def _positive_int(value: int, what: str, limit: int = MAX_CENTS) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    if value > limit:
        raise ValueError(f"{what} must be at most {limit}, got {value}")
    return value


_MAX_ID = 2**63 - 1  # BIGINT / SQLite INTEGER primary keys


def _account_id(value: Any) -> int:
    """An account id as given by a caller: a positive int (not a bool, not "1"); an int
    no row can have is an unknown account, anything else a TypeError (never a raw
    database error, never silent coercion by SQLite)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"account id must be an integer, got {type(value).__name__}")
    if not 1 <= value <= _MAX_ID:
        raise UnknownAccount(f"no account {value!r}")
    return value


def _cents_or_none(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer number of cents, got {type(value).__name__}")
    if not 0 <= value <= MAX_CENTS:
        raise ValueError(f"{what} must be 0..{MAX_CENTS} cents, got {value}")
    return value


class Store(JobStoreMixin):
    """Accounts and jobs in SQLite or PostgreSQL. Use :func:`open_store`.

    One Store holds one connection: use one per thread or process (several
    processes and hosts may share the database).
    """

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.url = url

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plans
    def plans(self) -> list[Plan]:
        return [Plan(*r) for r in self.db.all(
            "SELECT code, name, monthly_fee_cents, page_price_cents FROM plans ORDER BY code")]

    def plan(self, code: str) -> Plan:
        row = self.db.one("SELECT code, name, monthly_fee_cents, page_price_cents FROM plans "
                          "WHERE code = ?", (code,))
        if row is None:
            raise ValueError(f"unknown plan {code!r} (known: "
                             f"{', '.join(p.code for p in self.plans())})")
        return Plan(*row)

    def set_plan(self, code: str, *, name: str | None = None, monthly_fee_cents: int | None = None,
                 page_price_cents: int | None = None) -> Plan:
        """Add or change a plan's prices; applies to charges posted from now on."""
        if not isinstance(code, str) or not code.strip():
            raise ValueError("a plan needs a non-empty code")
        monthly_fee_cents = _cents_or_none(monthly_fee_cents, "monthly_fee_cents")
        page_price_cents = _cents_or_none(page_price_cents, "page_price_cents")
        with self.db.write():
            row = self.db.one("SELECT code, name, monthly_fee_cents, page_price_cents FROM plans "
                              "WHERE code = ?", (code,))
            if row is None:
                if monthly_fee_cents is None or page_price_cents is None:
                    raise ValueError("a new plan needs monthly_fee_cents and page_price_cents")
                self.db.execute("INSERT INTO plans VALUES (?, ?, ?, ?)",
                                (code, name or code, monthly_fee_cents, page_price_cents))
            else:
                old = Plan(*row)
                self.db.execute(
                    "UPDATE plans SET name = ?, monthly_fee_cents = ?, page_price_cents = ? "
                    "WHERE code = ?",
                    (name or old.name,
                     old.monthly_fee_cents if monthly_fee_cents is None else monthly_fee_cents,
                     old.page_price_cents if page_price_cents is None else page_price_cents,
                     code))
        return self.plan(code)

    # --------------------------------------------------------------- accounts
    def create_account(self, plan: str = "plus", credit_limit_cents: int = 5000,
                       billing_day: int = 1, now: datetime | None = None, *,
                       name: str | None = None) -> int:
        if now is None:
            raise TypeError("create_account needs now= (a timezone-aware datetime)")
        t = to_us(now)
        if isinstance(credit_limit_cents, bool) or not isinstance(credit_limit_cents, int) \
                or not 0 <= credit_limit_cents <= MAX_CENTS:
            raise ValueError(f"credit_limit_cents must be an integer >= 0, got "
                             f"{credit_limit_cents!r}")
        if isinstance(billing_day, bool) or not isinstance(billing_day, int) \
                or not 1 <= billing_day <= 31:
            raise ValueError(f"billing_day must be 1..31, got {billing_day!r}")
        self.plan(plan)
        nxt = to_us(rules.next_billing_after(now, billing_day))
        with self.db.write():
            return self.db.insert(
                "INSERT INTO accounts (plan, credit_limit_cents, billing_day, created_at, "
                "next_billing_at, level_since, last_event_at, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (plan, credit_limit_cents, billing_day, t, nxt, t, t, name))

    def _row(self, account_id: int, lock: bool = False) -> Any:
        account_id = _account_id(account_id)
        sql = f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE id = ?"
        if lock:
            sql += " {for_update}"
        row = self.db.one(sql, (account_id,))
        if row is None:
            raise UnknownAccount(f"no account {account_id!r}")
        return row

    def account(self, account_id: int) -> dict[str, Any]:
        row = self._row(account_id)
        return {"id": row[0], "plan": row[1], "credit_limit_cents": row[2],
                "billing_day": row[3], "created_at": from_us(row[4]),
                "next_billing_at": from_us(row[5]), "name": row[12]}

    def list_accounts(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.db.all("SELECT id FROM accounts ORDER BY id")]
        return [self.account(i) for i in ids]

    # ----------------------------------------------------------- ledger events
    def _event(self, account_id: int, t: int, kind: str, amount: int, *,
               pages: int | None = None, reference: str | None = None,
               period: str | None = None, note: str | None = None) -> int:
        """Insert a ledger event and update the summary. Must run inside ``db.write()``."""
        row = self._row(account_id, lock=True)
        if t < row[4]:
            raise ValueError(f"{from_us(t)} is before account {account_id} was created "
                             f"({from_us(row[4])})")
        state = _state_from_row(row)
        replay = t < state.last_at
        if not replay:
            state.apply(kind, t, amount)  # raises RuleError before anything is written
        ledger_id = self.db.insert(
            "INSERT INTO ledger (account_id, at, kind, amount_cents, pages, reference, period, "
            "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, t, kind, amount, pages, reference, period, note))
        if replay:
            state = self._replay(row, None)
        self._save(account_id, state)
        return ledger_id

    def _save(self, account_id: int, state: AccountState) -> None:
        self.db.execute(
            "UPDATE accounts SET charges_cents = ?, payments_cents = ?, level = ?, "
            "level_since = ?, open_invoices = ?, last_event_at = ? WHERE id = ?",
            (state.charges, state.payments, state.level, state.since, state.invoices_json(),
             state.last_at, account_id))

    def summary_totals(self, account_id: int) -> tuple[int, int]:
        """(charges, payments) in cents as the account's summary row holds them."""
        row = self._row(account_id)
        return row[6], row[7]

    def ledger_totals(self, account_id: int) -> tuple[int, int]:
        """(charges, payments) in cents replayed from the account's whole ledger: equal to
        :meth:`summary_totals` unless the summary drifted from the ledger."""
        state = self._replay(self._row(account_id), None)
        return state.charges, state.payments

    def _replay(self, row: Any, until: int | None) -> AccountState:
        """Rebuild the summary from the ledger (events with time <= ``until``)."""
        state = AccountState(credit_limit=row[2], since=row[4], last_at=row[4])
        sql = "SELECT kind, at, amount_cents FROM ledger WHERE account_id = ?"
        params: tuple[Any, ...] = (row[0],)
        if until is not None:
            sql += " AND at <= ?"
            params += (until,)
        for kind, at, amount in self.db.all(sql + " ORDER BY at, id", params):
            try:
                state.apply(kind, max(at, state.last_at), amount)
            except RuleError:
                # A reactivation that a back-dated event made invalid: keep the fee,
                # the operator's action stands as a charge.
                log.warning("account %s: reactivation at %s no longer valid after a "
                            "back-dated event", row[0], from_us(at))
                state.charges += amount
        return state

    def _state_at(self, account_id: int, t: int) -> tuple[Any, AccountState]:
        row = self._row(account_id)
        if t >= row[11]:
            return row, _state_from_row(row)
        return row, self._replay(row, t)

    def record_outbound(self, account_id: int, pages: int, now: datetime, *,
                        note: str | None = None) -> int:
        """Charge a sent fax of ``pages`` pages at the plan's per-page price; returns the
        charge. ``note``: what was sent (the server's "fax job N", for per-job usage)."""
        account_id = _account_id(account_id)
        _positive_int(pages, "pages", MAX_PAGES)
        t = to_us(now)
        with self.db.write():
            price = self.db.one("SELECT p.page_price_cents FROM accounts a JOIN plans p "
                                "ON p.code = a.plan WHERE a.id = ?", (account_id,))
            if price is None:
                raise UnknownAccount(f"no account {account_id!r}")
            cents = pages * int(price[0])
            self._event(account_id, t, PAGE_CHARGE, cents, pages=pages, note=note)
        return cents

    def record_inbound(self, account_id: int, pages: int, now: datetime, *,
                       caller: str | None = None, duration_s: float | None = None
                       ) -> InboundResult:
        """Meter a received fax at 0 cents; held if suspended/closed, refused if terminated."""
        if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= MAX_PAGES:
            raise ValueError(f"pages must be an integer 0..{MAX_PAGES}, got {pages!r}")
        t = to_us(now)
        with self.db.write():
            self._row(account_id, lock=True)  # decide on the status under the lock
            st = self.status(account_id, now)
            if st.status is Status.terminated:
                state = "refused"
                reason = "account terminated: inbound calls are refused"
            else:
                state = "received" if st.status is Status.active else "held"
                reason = None if state == "received" else \
                    f"held while the account is {st.name}"
                self._event(account_id, t, INBOUND, 0, pages=pages, note=caller)
            job_id = self._insert_job(account_id, "receive", "inbound", caller, pages, state,
                                      t, reason=reason, duration_s=duration_s)
        return InboundResult(job_id=job_id, state=state, accepted=state != "refused",
                             reason=reason)

    def run_billing(self, now: datetime) -> int:
        """Issue every invoice whose billing date is <= now; returns how many were issued."""
        t = to_us(now)
        due = [r[0] for r in self.db.all(
            "SELECT id FROM accounts WHERE next_billing_at <= ? ORDER BY id", (t,))]
        issued = 0
        for account_id in due:
            with self.db.write():
                row = self._row(account_id, lock=True)  # re-check under the lock
                nxt = row[5]
                while nxt <= t:
                    b = from_us(nxt)
                    if self.status(account_id, b).status is Status.terminated:
                        # no monthly fee for a terminated account: its service has ended
                        log.debug("account %s terminated at %s: not billed", account_id, b)
                    else:
                        fee = self.db.one("SELECT monthly_fee_cents FROM plans WHERE code = ?",
                                          (row[1],))[0]
                        self._event(account_id, nxt, INVOICE, int(fee),
                                    period=rules.period_of(b))
                        issued += 1
                    nxt = to_us(rules.next_billing_after(b, row[3]))
                self.db.execute("UPDATE accounts SET next_billing_at = ? WHERE id = ?",
                                (nxt, account_id))
        return issued

    def post_payment(self, account_id: int, cents: int, reference: str,
                     now: datetime) -> Payment:
        """Record a payment; posting the same reference again changes nothing (idempotent)."""
        account_id = _account_id(account_id)
        _positive_int(cents, "cents")
        if not isinstance(reference, str) or not reference.strip():
            raise ValueError("a payment needs a non-empty reference")
        t = to_us(now)
        for _attempt in range(3):
            try:
                with self.db.write():
                    self._row(account_id, lock=True)
                    dup = self._find_payment(reference, account_id, cents)
                    if dup is not None:
                        return dup
                    ledger_id = self._event(account_id, t, PAYMENT, -cents, reference=reference)
                    return Payment(ledger_id, account_id, cents, reference, False)
            except self.db.integrity_errors:
                # The same reference committed concurrently for another account: look again.
                continue
        dup = self._find_payment(reference, account_id, cents)
        if dup is None:  # pragma: no cover - defensive
            raise PaymentConflict(f"payment reference {reference!r} could not be posted")
        return dup

    def _find_payment(self, reference: str, account_id: int, cents: int) -> Payment | None:
        row = self.db.one("SELECT id, account_id, amount_cents FROM ledger WHERE reference = ?",
                          (reference,))
        if row is None:
            return None
        if row[1] != account_id or -row[2] != cents:
            raise PaymentConflict(
                f"payment reference {reference!r} was already used for account {row[1]} "
                f"({format_cents(-row[2])})")
        return Payment(row[0], account_id, cents, reference, True)

    def reactivate(self, account_id: int, now: datetime, operator: str) -> AccountStatus:
        """Support action on a terminated account: charges the $10.00 fee."""
        if not isinstance(operator, str) or not operator.strip():
            raise ValueError("reactivation needs the operator's name")
        t = to_us(now)
        with self.db.write():
            row = self._row(account_id, lock=True)  # two operators at once: one fee only
            # terminated now, and still terminated at the latest recorded event (a
            # back-dated reactivation must not charge a second fee)
            for when in (t, max(t, row[11])):
                st = self.status(account_id, from_us(when))
                if st.status is not Status.terminated:
                    raise InvalidOperation(f"account {account_id} is {st.name}, not "
                                           "terminated: nothing to reactivate")
            try:
                self._event(account_id, t, REACTIVATION, REACTIVATION_FEE_CENTS,
                            note=f"reactivated by {operator}")
            except RuleError as exc:  # pragma: no cover - status checked above
                raise InvalidOperation(str(exc)) from exc
        log.info("account %s reactivated by %s", account_id, operator)
        return self.status(account_id, now)

    # ------------------------------------------------------------------ reads
    def status(self, account_id: int, now: datetime) -> AccountStatus:
        t = to_us(now)
        _row, state = self._state_at(account_id, t)
        lvl, since = state.status_at(t)
        overdue = from_us(state.open_invoices[0][0]) if state.open_invoices else None
        return AccountStatus(LEVELS[lvl], from_us(since), state.balance, overdue)

    def balance_cents(self, account_id: int, now: datetime) -> int:
        t = to_us(now)
        row = self._row(account_id)
        if t >= row[11]:
            return int(row[6] - row[7])
        total = self.db.one("SELECT coalesce(sum(amount_cents), 0) FROM ledger "
                            "WHERE account_id = ? AND at <= ?", (account_id, t))[0]
        return int(total)

    def login_scope(self, account_id: int, now: datetime) -> str:
        return self.status(account_id, now).login_scope

    def panel_actions(self, account_id: int, now: datetime) -> frozenset[str]:
        """Control-panel actions the client may use now (``rules.PANEL_ACTIONS``)."""
        return rules.PANEL_ACTIONS[self.login_scope(account_id, now)]

    def check_send(self, account_id: int, now: datetime) -> SendDecision:
        """The gate: may this account send a fax now? ``reason`` says why (not)."""
        st = self.status(account_id, now)
        return SendDecision(st.status is Status.active, describe(account_id, st), st)

    def statement(self, account_id: int, now: datetime) -> dict[str, Any]:
        """Account, status and every ledger event up to ``now`` with the running balance."""
        t = to_us(now)
        row = self._row(account_id)
        entries = []
        bal = 0
        for lid, at, kind, amount, pages, ref, period, note in self.db.all(
                "SELECT id, at, kind, amount_cents, pages, reference, period, note FROM ledger "
                "WHERE account_id = ? AND at <= ? ORDER BY at, id", (account_id, t)):
            bal += amount
            entry = {"id": lid, "at": from_us(at), "kind": kind, "amount_cents": amount,
                     "balance_cents": bal}
            if pages is not None:
                entry["pages"] = pages
            if ref is not None:
                entry["reference"] = ref
            if period is not None:
                entry["period"] = period
                entry["invoiced_cents"] = max(bal, 0)
            if note is not None:
                entry["note"] = note
            entries.append(entry)
        st = self.status(account_id, now)
        return {"account": self.account(row[0]), "status": st.name, "since": st.since,
                "balance_cents": st.balance_cents, "login_scope": st.login_scope,
                "entries": entries}


@dataclass(frozen=True)
class InboundResult:
    job_id: int
    state: str  # "received", "held" or "refused"
    accepted: bool
    reason: str | None

    def __bool__(self) -> bool:
        return self.accepted


def describe(account_id: int, st: AccountStatus) -> str:
    """Human-readable gate reason: status, since when, amount due, how to get active again."""
    since = st.since.strftime("%Y-%m-%d %H:%M UTC")
    due = format_cents(max(st.balance_cents, 0))
    if st.status is Status.active:
        b = st.balance_cents  # a prepayment is a credit, not a negative balance
        return (f"account {account_id} is active ("
                + (f"credit {format_cents(-b)})" if b < 0 else f"balance {format_cents(b)})"))
    label = st.status.value.replace("_", " ")
    text = f"account {account_id} is {label} since {since}; amount due {due}"
    if st.overdue_since is not None:
        text += f" (invoice of {st.overdue_since:%Y-%m-%d} unpaid)"
    if st.status is Status.terminated:
        text += ("; log-in is disabled: contact support (phone, email or live chat) to "
                 f"reactivate, a {format_cents(REACTIVATION_FEE_CENTS)} reactivation fee "
                 "applies, service returns when the balance including the fee is paid")
    else:
        text += ("; pay the full balance in the control panel (limited access) and "
                 "sending is re-enabled immediately")
    return text


def open_store(url: str) -> Store:
    """Open (and create/migrate) a store: ``sqlite:///path``, ``postgresql://...``."""
    return Store(url)


__all__ = ["AccountStatus", "AccountsError", "InboundResult", "InvalidOperation", "Payment",
           "PaymentConflict", "Plan", "SendDecision", "Store", "UnknownAccount", "describe",
           "open_store"]
