"""``faxcore cups install``: put the CUPS backend in place (and optionally a queue).

``faxcore cups install [--prefix /usr | --backend-dir DIR] [--queue fax --uri
faxcore://HOST:PORT/?key=... [--cups-server HOST:PORT] [--raw]]``; ``faxcore cups ppd``
prints the queue's PPD (its ``phone`` option lets a print dialog ask for the number).
"""

from __future__ import annotations

import argparse

from faxcore.cli import CliError
from faxcore.cli.output import out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cups", help="the CUPS printer driver (print to fax)",
                       description="Print to fax through CUPS.")
    cs = p.add_subparsers(dest="cups_command", metavar="ACTION")
    cs.required = True
    i = cs.add_parser("install", help="install the faxcore CUPS backend (and a queue)",
                      description="Install the faxcore backend into CUPS's backend directory "
                                  "and, with --queue and --uri, add a fax queue using it "
                                  "(the faxcore PPD: a Fax Number field in print dialogs).")
    i.add_argument("--prefix", default="/usr", help="CUPS's prefix: the backend goes to "
                                                    "PREFIX/lib/cups/backend (default /usr)")
    i.add_argument("--backend-dir", metavar="DIR", help="the backend directory itself "
                                                        "(overrides --prefix)")
    i.add_argument("--queue", metavar="NAME", help="also add this print queue (lpadmin)")
    i.add_argument("--uri", metavar="URI", help="the queue's device URI: "
                                                "faxcore://HOST:PORT/?key=fxk_... or "
                                                "?keyfile=PATH")
    i.add_argument("--cups-server", metavar="HOST:PORT", help="the cupsd to add the queue to "
                                                              "(default: the local one)")
    i.add_argument("--raw", action="store_true", help="add the queue raw, without the "
                                                      "PPD (no Fax Number option: lp -o "
                                                      "phone=NUMBER or the title only)")
    i.set_defaults(func=run_install)
    pp = cs.add_parser("ppd", help="print the fax queue's PPD",
                       description="Print the PPD that `faxcore cups install --queue` gives "
                                   "the queue (for lpadmin -P or a printer tool).")
    pp.set_defaults(func=run_ppd)


def run_ppd(args: argparse.Namespace) -> int:
    from faxcore.cups.install import PPD  # the CLI starts fast

    out(PPD.rstrip("\n"))
    return 0


def run_install(args: argparse.Namespace) -> int:
    # not at the top: the CLI starts fast (and the backend module pulls in httpx)
    from faxcore.cups.backend import BackendError, parse_uri
    from faxcore.cups.install import (  # the CLI starts fast
        InstallError,
        add_queue,
        backend_dir,
        install_backend,
    )

    if bool(args.queue) != bool(args.uri):
        raise CliError("--queue and --uri go together")
    if args.uri:
        try:
            parse_uri(args.uri)
        except BackendError as exc:
            raise CliError(exc.message) from None
    directory = args.backend_dir or backend_dir(args.prefix)
    try:
        path = install_backend(directory)
    except OSError as exc:
        raise CliError(f"cannot install into {directory}: {exc.strerror or exc}") from None
    out(f"installed the CUPS backend {path}")
    if args.queue:
        try:
            add_queue(args.queue, args.uri, server=args.cups_server, raw=args.raw)
        except InstallError as exc:
            raise CliError(str(exc)) from None
        out(f"added the print queue {args.queue}: lp -d {args.queue} -o phone=NUMBER FILE")
        if not args.raw:
            out(f"its option phone (Fax Number) is asked by print dialogs: lpoptions -p "
                f"{args.queue} -l")
    return 0
