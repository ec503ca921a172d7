"""``faxcore jobs submit|list|show|cancel``: the send-job store, guarded by the account gate.

A job submitted for an account that may not send is recorded as ``refused`` with
the reason and never dialled; ``submit`` then exits with status 3 so scripts notice.
``show`` and ``list`` print the lease of a job being sent (worker, expiry, ``EXPIRED``
once it may be taken back) and how many of its claims were lost.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from faxcore.cli.account import add_common, store_command
from faxcore.cli.output import emit

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


@store_command
def cmd_submit(args: argparse.Namespace, store: Any, now: datetime) -> int:
    j = store.submit_job(args.account, args.to, args.pages, now, channel=args.channel,
                         document=args.document, max_attempts=args.max_attempts)
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


@store_command
def cmd_show(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.get_job(args.job)
    emit(args, j.as_dict(), lambda: _job_lines(j, now))


@store_command
def cmd_cancel(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.cancel_job(args.job, now)
    emit(args, j.as_dict(), lambda: [f"job {j.id} cancelled"])


def register(sub: Any) -> None:
    from faxcore.accounts.jobs import (
        DEFAULT_MAX_ATTEMPTS,
        RECEIVE_STATES,
        SEND_CHANNELS,
        SEND_STATES,
    )

    p = sub.add_parser("jobs", help="send jobs and received faxes")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    jsub.required = True

    s = jsub.add_parser("submit", help="queue a send job (refused if the account may not send)")
    s.add_argument("account", type=int)
    s.add_argument("--to", required=True, metavar="NUMBER", help="destination fax number")
    s.add_argument("--pages", type=int, required=True)
    s.add_argument("--channel", choices=SEND_CHANNELS, default="api",
                   help="where the job came from (default: api)")
    s.add_argument("--document", default=None, metavar="PATH", help="the document to send")
    s.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                   help="give up after N claims, failed calls and lost workers alike "
                        f"(default: {DEFAULT_MAX_ATTEMPTS})")
    s.set_defaults(func=cmd_submit)

    lst = jsub.add_parser("list", help="list jobs")
    lst.add_argument("--account", type=int, default=None)
    lst.add_argument("--direction", choices=("send", "receive"), default=None)
    lst.add_argument("--state", choices=sorted(set(SEND_STATES + RECEIVE_STATES)), default=None)
    lst.add_argument("--limit", type=int, default=1000)
    lst.set_defaults(func=cmd_list)

    sh = jsub.add_parser("show", help="one job in detail")
    sh.add_argument("job", type=int)
    sh.set_defaults(func=cmd_show)

    c = jsub.add_parser("cancel", help="cancel a queued send job")
    c.add_argument("job", type=int)
    c.set_defaults(func=cmd_cancel)

    for q in (s, lst, sh, c):
        add_common(q)
