"""``faxcore mail allow|deny|list``: the sender addresses allow-listed for email to fax.

A mail whose envelope sender (and From header) is allow-listed for an account, coming from
the gateway's ``allow_networks``, may send faxes for that account without SMTP AUTH.
``--db URL`` or ``--config FILE`` (the server's TOML) says which database; default as
``faxcore serve``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from faxcore.cli import CliError
from faxcore.cli.output import out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mail", help="email to fax: allow-listed sender addresses",
                       description="Manage the sender addresses allowed to send faxes by mail "
                                   "for an account (without SMTP AUTH).")
    ms = p.add_subparsers(dest="mail_command", metavar="ACTION")
    ms.required = True
    for name, helptext in (("allow", "allow ADDRESS to send for --account"),
                           ("deny", "remove ADDRESS from the allow-list"),
                           ("list", "list the allow-listed addresses")):
        c = ms.add_parser(name, help=helptext, description=helptext)
        if name != "list":
            c.add_argument("address", metavar="ADDRESS", help="the sender's mail address")
        c.add_argument("--account", type=int, metavar="ID", required=name == "allow",
                       help="the account (list: only its addresses)")
        c.add_argument("--config", metavar="FILE", help="the server's TOML configuration")
        c.add_argument("--db", metavar="URL", help="sqlite:///path or postgresql://...")
        c.set_defaults(func=run_mail)


def run_mail(args: argparse.Namespace) -> int:
    # not at the top (all four): the CLI starts fast; these pull in the server and aiosmtpd
    from faxcore.accounts import UnknownAccount, open_store
    from faxcore.mailgate import store as mailstore  # the CLI starts fast
    from faxcore.server import schema  # the CLI starts fast
    from faxcore.server.config import ConfigError, load_config  # the CLI starts fast

    try:
        url = load_config(args.config, db=args.db).db_url()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    store = open_store(url)
    try:
        schema.migrate(store.db)
        mailstore.migrate(store.db)
        if args.mail_command == "allow":
            try:
                mailstore.allow_sender(store, args.account, args.address, datetime.now(UTC))
            except UnknownAccount:
                raise CliError(f"no account {args.account}") from None
            except ValueError as exc:
                raise CliError(str(exc)) from None
            out(f"{mailstore.normalize_address(args.address)} may send faxes by mail for "
                f"account {args.account}")
        elif args.mail_command == "deny":
            if not mailstore.deny_sender(store, args.address):
                raise CliError(f"{args.address} is not allow-listed")
            out(f"{mailstore.normalize_address(args.address)} removed")
        else:
            rows = store.db.all("SELECT address, account_id FROM mail_senders ORDER BY "
                                "account_id, address")
            for address, acct in rows:
                if args.account is None or int(acct) == args.account:
                    out(f"{acct}\t{address}")
    finally:
        store.close()
    return 0
