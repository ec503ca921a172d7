"""``faxcore jobs submit|list|show|cancel``: the send-job store, guarded by the account gate.

A job submitted for an account that may not send is recorded as ``refused`` with
the reason and never dialled; ``submit`` then exits with status 3 so scripts notice.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from faxcore.cli.account import add_common, store_command
from faxcore.cli.output import emit

EXIT_REFUSED = 3


def _job_lines(j: Any) -> list[str]:
    who = "to" if j.direction == "send" else "from"
    lines = [f"job {j.id}: {j.direction} {who} {j.remote or '-'} for account {j.account_id} via "
             f"{j.channel}: {j.state}",
             f"  pages {j.pages}, attempts {j.attempts}/{j.max_attempts}, "
             f"created {j.created_at:%Y-%m-%d %H:%M:%S UTC}, "
             f"updated {j.updated_at:%Y-%m-%d %H:%M:%S UTC}"]
    for label, value in (("document", j.document), ("result", j.result), ("reason", j.reason)):
        if value:
            lines.append(f"  {label}: {value}")
    return lines


@store_command
def cmd_submit(args: argparse.Namespace, store: Any, now: datetime) -> int:
    j = store.submit_job(args.account, args.to, args.pages, now, channel=args.channel,
                         document=args.document)
    emit(args, j.as_dict(), lambda: _job_lines(j))
    return EXIT_REFUSED if j.state == "refused" else 0


@store_command
def cmd_list(args: argparse.Namespace, store: Any, now: datetime) -> None:
    jobs = store.list_jobs(args.account, direction=args.direction, state=args.state,
                           limit=args.limit)

    def text() -> Iterator[str]:
        yield (f"{'id':>6} {'account':>7} {'dir':<7} {'channel':<8} {'state':<9} {'pages':>5} "
               f"{'att':>3}  remote")
        for j in jobs:
            yield (f"{j.id:>6} {j.account_id:>7} {j.direction:<7} {j.channel:<8} {j.state:<9} "
                   f"{j.pages:>5} {j.attempts:>3}  {j.remote or '-'}")
    emit(args, [j.as_dict() for j in jobs], text)


@store_command
def cmd_show(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.get_job(args.job)
    emit(args, j.as_dict(), lambda: _job_lines(j))


@store_command
def cmd_cancel(args: argparse.Namespace, store: Any, now: datetime) -> None:
    j = store.cancel_job(args.job, now)
    emit(args, j.as_dict(), lambda: [f"job {j.id} cancelled"])


def register(sub: Any) -> None:
    from faxcore.accounts.jobs import RECEIVE_STATES, SEND_CHANNELS, SEND_STATES

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
