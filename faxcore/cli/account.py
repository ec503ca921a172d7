"""``faxcore account create|show|list|pay|charge|reactivate|statement|bill``.

Every command takes ``--db URL`` (``sqlite:///path``, ``postgresql://...``; default
``$FAXCORE_DB`` or an SQLite file in the user's data directory), ``--now ISO-TIME``
(the clock, default the current time; useful for back-office corrections and tests)
and ``--json`` for machine-readable output. Amounts are given in dollars
(``12.50``, ``$12.50``) and stored in cents. A balance below zero (a prepayment) is
shown as a credit: ``credit: $11.20``.

Only ``account create`` makes a new SQLite database, and only in a folder that exists
(the default data directory excepted, which it creates): every other command refuses a
database file that does not exist, so a mistyped ``--db`` is an error, not a new empty
database. (PostgreSQL databases are made by the server's administrator.)
"""

from __future__ import annotations

import argparse
import functools
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from faxcore.accounts import AccountsError, JobError, open_store
from faxcore.accounts.db import sqlite_path
from faxcore.accounts.rules import format_cents
from faxcore.cli import CliError
from faxcore.cli.argtypes import action_group
from faxcore.cli.output import emit

#: How ``faxcore account create`` is pointed to in errors about a missing database.
CREATE_HINT = "`faxcore account create` makes a new one"


def default_db_url() -> str:
    env = os.environ.get("FAXCORE_DB")
    if env:
        return env
    return f"sqlite:///{default_db_path()}"


def default_db_path() -> str:
    """faxcore.db in the user's data directory (``~/.local/share/faxcore`` on Linux)."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("faxcore", appauthor=False), "faxcore.db")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help="sqlite:///path (or a bare path) or postgresql://... (default: "
                        "$FAXCORE_DB, else faxcore.db in the user data directory); must "
                        "exist, except for 'account create'")
    p.add_argument("--now", metavar="TIME", default=None,
                   help="the time to act at, ISO 8601 (default: now; no zone means UTC)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"bad --now time {text!r}: use ISO 8601, e.g. 2026-03-01T12:00") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_money(text: str, *, positive: bool = False) -> int:
    """Dollars (``12.50``, ``$12.50``, ``12``) as cents; ``positive``: more than $0.00."""
    m = re.fullmatch(r"\$?(\d{1,12})(?:\.(\d{1,2}))?", text.strip())
    if not m:
        raise CliError(f"bad amount {text!r}: use dollars like 12.50")
    cents = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    if positive and cents <= 0:
        raise CliError(f"bad amount {text!r}: it must be more than $0.00 (dollars, "
                       "like 12.50)")
    return cents


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL (or bare path); None for PostgreSQL and ``:memory:``."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    try:
        path = sqlite_path(url.partition("?")[0])
    except ValueError:
        return None         # a bad URL: open_store says what is wrong with it
    return None if path == ":memory:" else path


def open_db(args: argparse.Namespace, *, create: bool = False, subject: str = "") -> Any:
    """The store ``--db`` names. Without ``create`` an SQLite file must exist (a
    mistyped path is an error, not a new empty database); with it, its folder must
    exist unless it is the default data directory. ``subject`` opens the message about
    a missing database (``no account 42``)."""
    url = args.db or default_db_url()
    path = sqlite_file(url)
    if path is not None:
        default = not args.db and not os.environ.get("FAXCORE_DB")
        where = "" if default else " (check --db)" if args.db else " (check $FAXCORE_DB)"
        if not create and not os.path.exists(path):
            what = "there is no database yet" if default else "no such database"
            raise CliError(f"{subject + ': ' if subject else ''}{what}: {path}{where}; "
                           f"{CREATE_HINT}")
        parent = os.path.dirname(os.path.abspath(path))
        if create and not default and not os.path.isdir(parent):
            raise CliError(f"cannot create database {path}: no such folder {parent}{where}")
    try:
        return open_store(url)
    except Exception as exc:  # connection refused, bad URL, unwritable path...
        raise CliError(f"cannot open database {url}: {' '.join(str(exc).split())}") \
            from exc


def money(cents: int) -> str:
    return format_cents(cents)


def balance_text(cents: int) -> str:
    """A balance as a customer reads it: ``$5.00`` owed, or ``credit $11.20`` (paid ahead)."""
    return f"credit {money(-cents)}" if cents < 0 else money(cents)


Command = Callable[[argparse.Namespace, Any, datetime], int | None]


def store_command(fn: Command | None = None, *, create: bool = False,
                  subject: Callable[[argparse.Namespace], str] | None = None) -> Any:
    """A subcommand ``fn(args, store, now)``: opens the store (``--db``; see
    :func:`open_db` for ``create`` and ``subject``) at the time ``--now``, closes it
    after, and maps the store's errors to CliError; the exit status is what ``fn``
    returns (None: 0). Used bare (``@store_command``) or with options."""
    if fn is None:
        return functools.partial(store_command, create=create, subject=subject)

    @functools.wraps(fn)
    def cmd(args: argparse.Namespace) -> int:
        now = parse_now(args.now)      # a bad --now is refused before the database is opened
        store = open_db(args, create=create, subject=subject(args) if subject else "")
        try:
            return int(fn(args, store, now) or 0)
        except (AccountsError, JobError, ValueError, TypeError, OverflowError) as exc:
            raise CliError(str(exc)) from exc
        finally:
            store.close()
    return cmd


def _no_account(args: argparse.Namespace) -> str:
    return f"no account {args.account}"


def _summary(store: Any, account_id: int, now: datetime) -> dict[str, Any]:
    acc = store.account(account_id)
    st = store.status(account_id, now)
    decision = store.check_send(account_id, now)
    return {**acc, "status": st.name, "since": st.since, "balance_cents": st.balance_cents,
            "login_scope": st.login_scope, "may_send": decision.allowed,
            "reason": decision.reason}


def _summary_lines(s: dict[str, Any]) -> list[str]:
    return [
        f"account {s['id']}{' (' + s['name'] + ')' if s.get('name') else ''}: plan {s['plan']}, "
        f"credit limit {money(s['credit_limit_cents'])}, billing day {s['billing_day']}",
        f"  status:  {s['status']} since {s['since']:%Y-%m-%d %H:%M UTC} "
        f"(log-in: {s['login_scope']})",
        f"  {'credit: ' if s['balance_cents'] < 0 else 'balance:'} "
        f"{money(abs(s['balance_cents']))}; next billing {s['next_billing_at']:%Y-%m-%d}",
        f"  sending: {'allowed' if s['may_send'] else 'refused'}: {s['reason']}",
    ]


@store_command(create=True)
def cmd_create(args: argparse.Namespace, store: Any, now: datetime) -> None:
    aid = store.create_account(plan=args.plan, credit_limit_cents=parse_money(args.credit_limit),
                               billing_day=args.billing_day, now=now, name=args.name)
    s = _summary(store, aid, now)
    emit(args, s, lambda: [f"created account {aid}", *_summary_lines(s)])


@store_command(subject=_no_account)
def cmd_show(args: argparse.Namespace, store: Any, now: datetime) -> None:
    s = _summary(store, args.account, now)
    emit(args, s, lambda: _summary_lines(s))


@store_command
def cmd_list(args: argparse.Namespace, store: Any, now: datetime) -> None:
    rows = [_summary(store, a["id"], now) for a in store.list_accounts()]

    def text() -> Iterator[str]:
        yield f"{'id':>6}  {'plan':<9} {'status':<21} {'balance':>14}  login"
        for s in rows:
            yield (f"{s['id']:>6}  {s['plan']:<9} {s['status']:<21} "
                   f"{balance_text(s['balance_cents']):>14}  {s['login_scope']}")
    emit(args, rows, text)


@store_command(subject=_no_account)
def cmd_pay(args: argparse.Namespace, store: Any, now: datetime) -> None:
    p = store.post_payment(args.account, parse_money(args.amount, positive=True),
                           args.reference, now)
    s = _summary(store, args.account, now)

    def text() -> list[str]:
        if p.duplicate:
            done = f"payment {p.reference} was already posted: nothing changed"
        else:
            done = f"posted payment {p.reference} of {money(p.cents)} to account {args.account}"
        return [done, *_summary_lines(s)]
    emit(args, {"payment": {"ledger_id": p.ledger_id, "cents": p.cents,
                            "reference": p.reference, "duplicate": p.duplicate},
                "account": s}, text)


@store_command(subject=_no_account)
def cmd_charge(args: argparse.Namespace, store: Any, now: datetime) -> None:
    cents = store.record_outbound(args.account, args.pages, now)
    s = _summary(store, args.account, now)
    emit(args, {"charged_cents": cents, "pages": args.pages, "account": s},
         lambda: [f"charged {args.pages} sent page(s): {money(cents)}", *_summary_lines(s)])


@store_command(subject=_no_account)
def cmd_reactivate(args: argparse.Namespace, store: Any, now: datetime) -> None:
    store.reactivate(args.account, now, args.operator)
    s = _summary(store, args.account, now)
    emit(args, s, lambda: [f"account {args.account} reactivated by {args.operator}; "
                           f"reactivation fee {money(1000)} charged", *_summary_lines(s)])


def _entry_details(e: dict[str, Any]) -> str:
    details = []
    if "pages" in e:
        details.append(f"{e['pages']} page(s)")
    if "reference" in e:
        details.append(f"ref {e['reference']}")
    if "period" in e:
        details.append(f"invoice {e['period']}: {money(e['invoiced_cents'])} due")
    if "note" in e:
        details.append(e["note"])
    return "; ".join(details)


@store_command(subject=_no_account)
def cmd_statement(args: argparse.Namespace, store: Any, now: datetime) -> None:
    st = store.statement(args.account, now)

    def text() -> Iterator[str]:
        yield from _summary_lines(_summary(store, args.account, now))
        yield f"{'date':<16} {'entry':<13} {'amount':>10} {'balance':>14}  details"
        for e in st["entries"]:
            yield (f"{e['at']:%Y-%m-%d %H:%M} {e['kind']:<13} {money(e['amount_cents']):>10} "
                   f"{balance_text(e['balance_cents']):>14}  {_entry_details(e)}")
    emit(args, st, text)


@store_command
def cmd_bill(args: argparse.Namespace, store: Any, now: datetime) -> None:
    n = store.run_billing(now)
    emit(args, {"invoices_issued": n}, lambda: [f"issued {n} invoice(s)"])


def register(sub: Any) -> None:
    asub = action_group(sub, "account", "accounts: create, show, pay, reactivate, statements",
                        "account_command")

    c = asub.add_parser("create", help="create an account (and the database, if new)",
                        description="Create an account and print its number. The first "
                                    "account also creates the SQLite database (in an "
                                    "existing folder; the default data directory is made).")
    c.add_argument("--plan", choices=("plus", "tollfree"), default="plus",
                   help="price plan: plus ($5.00 a month, $0.10 a sent page) or tollfree "
                        "($10.00 a month, $0.12 a page) (default: plus)")
    c.add_argument("--credit-limit", default="50.00", metavar="DOLLARS",
                   help="the account is suspended until paid once the balance owed reaches "
                        "this; 0: at any unpaid charge (default: 50.00)")
    c.add_argument("--billing-day", type=int, default=1, metavar="1-31",
                   help="day of the month the monthly invoice is issued; 29-31 mean the "
                        "month's last day in shorter months (default: 1)")
    c.add_argument("--name", default=None, help="the customer's name (default: none)")
    c.set_defaults(func=cmd_create)

    s = asub.add_parser("show", help="status, balance and whether the account may send")
    s.add_argument("account", type=int, help="the account number")
    s.set_defaults(func=cmd_show)

    lst = asub.add_parser("list", help="all accounts with status and balance")
    lst.set_defaults(func=cmd_list)

    pay = asub.add_parser("pay", help="post a payment (idempotent per reference)",
                          description="Post a payment to an account. Posting the same "
                                      "--reference again changes nothing.")
    pay.add_argument("account", type=int, help="the account number")
    pay.add_argument("amount", metavar="DOLLARS",
                     help="the amount paid, in dollars: 12.50 or $12.50 (more than 0)")
    pay.add_argument("--reference", required=True,
                     help="the payment's reference, unique across all payments (required)")
    pay.set_defaults(func=cmd_pay)

    ch = asub.add_parser("charge", help="record sent pages (charged at the plan's price)")
    ch.add_argument("account", type=int, help="the account number")
    ch.add_argument("--pages", type=int, required=True,
                    help="number of sent pages to charge (required)")
    ch.set_defaults(func=cmd_charge)

    r = asub.add_parser("reactivate", help="operator: reactivate a terminated account ($10.00 fee)")
    r.add_argument("account", type=int, help="the account number")
    r.add_argument("--operator", required=True, help="the support operator's name (required)")
    r.set_defaults(func=cmd_reactivate)

    st = asub.add_parser("statement", help="ledger with running balance and invoices")
    st.add_argument("account", type=int, help="the account number")
    st.set_defaults(func=cmd_statement)

    b = asub.add_parser("bill", help="issue the invoices whose billing date has come")
    b.set_defaults(func=cmd_bill)

    for q in (c, s, lst, pay, ch, r, st, b):
        add_common(q)
