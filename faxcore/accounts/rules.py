"""The service's account rules as a pure, storage-free state machine.

Everything here is plain Python on integers: money in cents, times in integer
microseconds since the Unix epoch (UTC). The store (:mod:`faxcore.accounts.store`)
keeps one :class:`AccountState` per account as a summary row and feeds it the
account's ledger events in time order; a status check is then one row read plus
the arithmetic in :meth:`AccountState.status_at`.

Rules from the product requirements, and the decisions taken where they are silent
------------------------------------------------------------------------------------

Balance
    ``balance = charges - payments`` over every ledger event with a time <= ``now``.
    Charges are outbound pages (plan's per-page price), the monthly fee and the
    reactivation fee. Inbound faxes are ledger events of 0 cents. A negative
    balance is a credit and pays future invoices.

Billing dates
    The billing instant of a cycle is 00:00 UTC on the account's ``billing_day`` of
    the month; a ``billing_day`` of 29-31 in a shorter month falls on that month's
    last day (31 -> Feb 28/29, Apr 30, ...), and goes back to the 31st in long
    months. The first billing instant is the first one strictly after the account's
    creation. ``run_billing(now)`` issues, for each billing instant <= ``now`` not yet
    billed (late runs catch up, one invoice per cycle), an *invoice event* dated at
    the billing instant, not at the time billing ran: the plan's monthly fee is
    charged at that instant and the invoice covers the whole balance then owed
    (fee included). An invoice for a balance <= 0 is issued for 0 and is never due.
    Only issued invoices count: if billing has not run, nothing is overdue.
    Suspended and closed accounts keep being billed (they keep their number and
    their inbound faxes are held); a billing instant at which the account is
    terminated issues no invoice and no fee (the service has ended); billing
    resumes with the first billing instant after a reactivation. Whether an
    account is terminated at a billing instant is decided when billing runs, on
    the record as it stands then.

Invoice settled
    Payments are applied oldest-first, so an invoice issued when the account's
    charges-to-date were ``T`` is settled as soon as payments-to-date reach ``T``
    (equivalently: payments made after the billing instant cover the invoiced
    amount). Partial payments count towards it but do not settle it.

Deadlines (boundaries)
    "No payment made 2 days after the billing date" means: the oldest unsettled
    invoice's billing instant ``B`` is at least 2 days old. The grace period is the
    half-open interval ``[B, B + 2 days)``: at ``B + 2 days - 1 us`` the account is
    still active, at exactly ``B + 2 days`` it is suspended. Likewise closed from
    exactly ``B + 7 days`` and terminated from exactly ``B + 14 days``.

Credit limit
    The credit limit counts the whole current balance, billed or not: as soon as
    ``balance >= credit_limit_cents`` (and the balance is positive, so a limit of 0
    means "any unpaid charge") the account is suspended until paid. Reaching the
    limit exactly suspends. The gate checks status only; the send that crosses the
    limit is allowed (it was checked before it was sent) and the next one is refused.

"Until paid" (sticky statuses)
    Once suspended or closed, the account stays at least at that status until a
    payment settles the *complete* balance (balance <= 0, everything billed and
    unbilled), at which instant it is active again (immediately, not within
    minutes). A payment that settles the overdue invoice but not the rest keeps the
    status; it no longer escalates, though, because escalation follows the age of
    the oldest *unsettled* invoice only. Statuses only escalate with time:
    suspended -> closed -> terminated.

Terminated
    Terminated is final until an operator reactivates: payments are accepted and
    reduce the balance, but the account stays terminated even when the balance is
    0. ``reactivate(now, operator)`` is only valid on a terminated account; it
    charges the $10.00 reactivation fee and puts the account in "suspended until
    paid" (limited log-in, so the client can pay) with the whole balance, fee
    included, treated as one invoice dated at the reactivation: it is closed again
    from reactivation + 7 days and terminated from + 14 days if still unpaid. When
    that balance is paid in full the account is active at once. A credit covering
    the fee makes it active immediately.

Log-in scope
    active -> "full"; suspended or closed -> "limited" (view account, pay);
    terminated -> "none".

Inbound faxes
    Metered (pages, duration, caller) at 0 cents on every account; to a suspended or
    closed account they are received and held (shown once active again); a call to
    a terminated account's number is refused and not metered.

Time
    Every event carries the caller's ``now``; the status "at" a time ``t`` is a
    function of the events with time <= ``t`` (events at the same time apply in the
    order they were recorded). Asking about a past time therefore gives the status
    as the record shows it then, ignoring later events. Recording an event dated
    earlier than the latest one is allowed (not earlier than the account's creation);
    the summary is then rebuilt by replaying the account's ledger in time order. A
    reactivation must find the account terminated both at its own time and at the
    latest recorded event, so a back-dated second reactivation cannot charge a
    second fee.

Not gated
    ``record_outbound`` meters a transmission that has happened and always charges;
    the gate is ``check_send`` (and the job store, which calls it when a job is
    submitted and again when a scheduler claims it). The gate looks at the status
    only, not at whether this job's pages would cross the credit limit.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

US_PER_DAY = 86_400 * 1_000_000
SUSPEND_AFTER_US = 2 * US_PER_DAY
CLOSE_AFTER_US = 7 * US_PER_DAY
TERMINATE_AFTER_US = 14 * US_PER_DAY
REACTIVATION_FEE_CENTS = 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Status(str, Enum):  # noqa: UP042 (kept as it is; StrEnum would be a change of its own)
    """Account status; ``Status.active.name == "active"`` and it compares equal to the string."""

    active = "active"
    suspended_until_paid = "suspended_until_paid"
    closed_until_paid = "closed_until_paid"
    terminated = "terminated"

    def __str__(self) -> str:
        return self.value


LEVELS = (Status.active, Status.suspended_until_paid, Status.closed_until_paid,
          Status.terminated)
LOGIN_SCOPE = {Status.active: "full", Status.suspended_until_paid: "limited",
               Status.closed_until_paid: "limited", Status.terminated: "none"}
# What the client may do in the control panel with each log-in scope.
PANEL_ACTIONS = {
    "full": frozenset({"view_account", "make_payment", "send_fax", "view_faxes",
                       "change_settings"}),
    "limited": frozenset({"view_account", "make_payment"}),
    "none": frozenset(),
}

# Ledger event kinds. Amounts are signed deltas to the balance.
PAGE_CHARGE = "page_charge"
INVOICE = "invoice"          # the monthly fee charged at a billing instant + the invoice
PAYMENT = "payment"          # negative amount
REACTIVATION = "reactivation"  # the reactivation fee, operator action
INBOUND = "inbound"          # 0 cents, metering only
CHARGE_KINDS = (PAGE_CHARGE, INVOICE, REACTIVATION)


class RuleError(ValueError):
    """An operation the rules do not allow (e.g. reactivating an account that is not terminated)."""


def to_us(t: datetime) -> int:
    """Timezone-aware datetime -> integer microseconds since the epoch (UTC)."""
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def billing_instant(year: int, month: int, billing_day: int) -> datetime:
    """00:00 UTC on ``billing_day`` of the month, clamped to the month's last day."""
    day = min(billing_day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, tzinfo=UTC)


def next_billing_after(t: datetime, billing_day: int) -> datetime:
    """The first billing instant strictly after ``t``."""
    t = t.astimezone(UTC)
    year, month = t.year, t.month
    while True:
        b = billing_instant(year, month, billing_day)
        if b > t:
            return b
        month += 1
        if month == 13:
            year, month = year + 1, 1


def period_of(b: datetime) -> str:
    return f"{b.year:04d}-{b.month:02d}"


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100}.{cents % 100:02d}"


@dataclass
class AccountState:
    """Summary of an account's ledger as of ``last_at``; see the module docstring for the rules.

    ``level`` is the sticky status level (index into :data:`LEVELS`) reached by the
    last event; deadlines that pass later are added by :meth:`status_at`.
    ``open_invoices`` lists the unsettled invoices, oldest first, as
    ``(billing_instant_us, charges_to_date_at_billing)``.
    """

    credit_limit: int
    charges: int = 0
    payments: int = 0
    level: int = 0
    since: int = 0
    open_invoices: list[tuple[int, int]] = field(default_factory=list)
    last_at: int = 0

    @property
    def balance(self) -> int:
        return self.charges - self.payments

    def _invoice_level(self, t: int) -> tuple[int, int]:
        if not self.open_invoices:
            return 0, 0
        b = self.open_invoices[0][0]
        age = t - b
        if age >= TERMINATE_AFTER_US:
            return 3, b + TERMINATE_AFTER_US
        if age >= CLOSE_AFTER_US:
            return 2, b + CLOSE_AFTER_US
        if age >= SUSPEND_AFTER_US:
            return 1, b + SUSPEND_AFTER_US
        return 0, 0

    def status_at(self, t: int) -> tuple[int, int]:
        """(level, since_us) at time ``t`` >= ``last_at`` with no further events."""
        lvl, since = self._invoice_level(t)
        if lvl > self.level:
            return lvl, since
        return self.level, self.since

    def _raise_to(self, lvl: int, since: int) -> None:
        if lvl > self.level:
            self.level, self.since = lvl, since

    def _check_limit(self, t: int) -> None:
        bal = self.balance
        if bal > 0 and bal >= self.credit_limit:
            self._raise_to(1, t)

    def apply(self, kind: str, t: int, amount: int) -> None:
        """Apply one ledger event at time ``t`` (>= ``last_at``); ``amount`` is the balance delta."""
        if t < self.last_at:
            raise ValueError("events must be applied in time order")
        lvl, since = self._invoice_level(t)
        self._raise_to(lvl, since)
        if kind == PAGE_CHARGE:
            self.charges += amount
            self._check_limit(t)
        elif kind == INVOICE:
            self.charges += amount
            if self.balance > 0:
                self.open_invoices.append((t, self.charges))
            self._check_limit(t)
        elif kind == PAYMENT:
            self.payments -= amount  # payments are stored as negative deltas
            while self.open_invoices and self.open_invoices[0][1] <= self.payments:
                self.open_invoices.pop(0)
            if self.balance <= 0 and 0 < self.level < 3:
                self.level, self.since = 0, t
        elif kind == REACTIVATION:
            if self.level != 3:
                raise RuleError("only a terminated account can be reactivated")
            self.charges += amount
            if self.balance > 0:
                self.open_invoices = [(t, self.charges)]
                self.level, self.since = 1, t
            else:
                self.open_invoices = []
                self.level, self.since = 0, t
        elif kind == INBOUND:
            pass
        else:
            raise ValueError(f"unknown ledger event kind {kind!r}")
        self.last_at = t

    # -- serialisation into the summary row
    def invoices_json(self) -> str:
        return json.dumps(self.open_invoices, separators=(",", ":"))

    @staticmethod
    def parse_invoices(text: str) -> list[tuple[int, int]]:
        return [(int(b), int(th)) for b, th in json.loads(text)]
