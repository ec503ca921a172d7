"""``faxcore jobs submit|list|show|cancel``: the send-job store, guarded by the account gate.

A job submitted for an account that may not send is recorded as ``refused`` with
the reason and never dialled; ``submit`` then exits with status 3 so scripts notice.
``submit`` checks what it is given first: ``--to`` a fax number (an optional ``+`` and 2
to 15 digits; spaces, dashes, dots and parentheses are dropped), ``--document`` a file
faxcore can read (:func:`faxcore.codecs.load_pages`: PDF, image, TIFF, raw .g3/.g4), whose
pages are counted: ``--pages`` may then be left out, and must match when given.
``show`` and ``list`` print the lease of a job being sent (worker, expiry, ``EXPIRED``
once it may be taken back) and how many of its claims were lost.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from faxcore.accounts.jobs import (
    DEFAULT_MAX_ATTEMPTS,
    RECEIVE_STATES,
    SEND_CHANNELS,
    SEND_STATES,
    normalize_number,
)
from faxcore.cli import CliError
from faxcore.cli.account import add_common, store_command
from faxcore.cli.argtypes import action_group, whole_number
from faxcore.cli.output import emit
from faxcore.codecs import LoadError, load_pages

EXIT_REFUSED = 3


def _lease_text(j: Any, now: datetime) -> str:
    """The lease of a job being sent: ``W until T`` (``EXPIRED`` once claimable again)."""
    if j.state != "sending" or j.lease_expires_at is None:
        return ""
    expired = " EXPIRED" if j.lease_expires_at <= now else ""
    return f"{j.lease_owner or '(unknown)'} until {j.lease_expires_at:%Y-%m-%d %H:%M:%S UTC}" \
        + expired


def _job_lines(j: Any, now: datetime) -> list[str]:
    who = "to" if j.direction == "send" else "from"
    lines = [f"job {j.id}: {j.direction} {who} {j.remote or '-'} for account {j.account_id} via "
             f"{j.channel}: {j.state}",
             f"  pages {j.pages}, attempts {j.attempts}/{j.max_attempts}, "
             f"created {j.created_at:%Y-%m-%d %H:%M:%S UTC}, "
             f"updated {j.updated_at:%Y-%m-%d %H:%M:%S UTC}"]
    lease = _lease_text(j, now)
    if lease:
        lines.append(f"  lease: {lease}")
    elif j.lease_owner:
        lines.append(f"  last worker: {j.lease_owner}")
    if j.leases_lost:
        lines.append(f"  lost claims: {j.leases_lost} (lease expired, job taken back)")
    for label, value in (("document", j.document), ("result", j.result), ("reason", j.reason)):
        if value:
            lines.append(f"  {label}: {value}")
    return lines


def document_pages(path: str, pages: int | None) -> tuple[str, int]:
    """The document of a send job, as stored (its absolute path: a worker may run
    elsewhere), and its page count, checked against ``pages`` when that is given."""
    try:
        n = len(load_pages(Path(path)))
    except LoadError as exc:
        raise CliError(f"cannot use --document: {exc}") from None
    if pages is not None and pages != n:
        raise CliError(f"--pages {pages} does not match --document {path}: it has {n} "
                       "page(s) (leave out --pages to take the document's count)")
    return str(Path(path).resolve()), n


@store_command(subject=lambda args: f"no account {args.account}")
def cmd_submit(args: argparse.Namespace, store: Any, now: datetime) -> int:
    number = normalize_number(args.to)     # before reading a document: the cheap check
    document, pages = None, args.pages
    if args.document is not None:
        document, pages = document_pages(args.document, args.pages)
    elif pages is None:
        raise CliError("give --document PATH (its pages are counted) or --pages N")
    j = store.submit_job(args.account, number, pages, now, channel=args.channel,
                         document=document, max_attempts=args.max_attempts)
    emit(args, j.as_dict(), lambda: _job_lines(j, now))
    return EXIT_REFUSED if j.state == "refused" else 0


@store_command
def cmd_list(args: argparse.Namespace, store: Any, now: datetime) -> None:
    jobs = store.list_jobs(args.account, direction=args.direction, state=args.state,
                           limit=args.limit)

    def text() -> Iterator[str]:
        yield (f"{'id':>6} {'account':>7} {'dir':<7} {'channel':<8} {'state':<9} {'pages':>5} "
               f"{'att':>3}  {'remote':<16} lease")
        for j in jobs:
            yield (f"{j.id:>6} {j.account_id:>7} {j.direction:<7} {j.channel:<8} {j.state:<9} "
                   f"{j.pages:>5} {j.attempts:>3}  {j.remote or '-':<16} "
                   f"{_lease_text(j, now) or '-'}").rstrip()
    emit(args, [j.as_dict() for j in jobs], text)


@store_command(subject=lambda args: f"no job {args.job}")
def cmd_show(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.get_job(args.job)
    emit(args, j.as_dict(), lambda: _job_lines(j, now))


@store_command(subject=lambda args: f"no job {args.job}")
def cmd_cancel(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.cancel_job(args.job, now)
    emit(args, j.as_dict(), lambda: [f"job {j.id} cancelled"])


def register(sub: Any) -> None:
    jsub = action_group(sub, "jobs", "send jobs and received faxes", "jobs_command")

    s = jsub.add_parser("submit", help="queue a send job (refused if the account may not send)",
                        description="Queue a send job for ACCOUNT. If the account may not "
                                    "send, the job is recorded as refused with the reason "
                                    "and the exit status is 3.")
    s.add_argument("account", type=int, help="the account number")
    s.add_argument("--to", required=True, metavar="NUMBER",
                   help="destination fax number: optional + and 2 to 15 digits; spaces, "
                        "dashes, dots and parentheses are dropped (required)")
    s.add_argument("--pages", type=int, default=None, metavar="N",
                   help="number of pages (default: counted from --document, which it must "
                        "match; required without --document)")
    s.add_argument("--channel", choices=SEND_CHANNELS, default="api",
                   help="where the job came from (default: api)")
    s.add_argument("--document", default=None, metavar="PATH",
                   help="the document to send (PDF, image, TIFF, raw .g3/.g4); it must be "
                        "readable, and its absolute path is stored (default: none)")
    s.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                   help="give up after N claims, failed calls and lost workers alike "
                        f"(default: {DEFAULT_MAX_ATTEMPTS})")
    s.set_defaults(func=cmd_submit)

    lst = jsub.add_parser("list", help="list jobs")
    lst.add_argument("--account", type=int, default=None, help="only this account's jobs "
                                                               "(default: all accounts)")
    lst.add_argument("--direction", choices=("send", "receive"), default=None,
                     help="only send jobs or only received faxes (default: both)")
    lst.add_argument("--state", choices=sorted(set(SEND_STATES + RECEIVE_STATES)), default=None,
                     help="only jobs in this state (default: any)")
    lst.add_argument("--limit", type=whole_number, default=1000, metavar="N",
                     help="show at most N jobs, oldest first (default: 1000)")
    lst.set_defaults(func=cmd_list)

    sh = jsub.add_parser("show", help="one job in detail")
    sh.add_argument("job", type=int, help="the job number")
    sh.set_defaults(func=cmd_show)

    c = jsub.add_parser("cancel", help="cancel a queued send job")
    c.add_argument("job", type=int, help="the job number")
    c.set_defaults(func=cmd_cancel)

    for q in (s, lst, sh, c):
        add_common(q)
