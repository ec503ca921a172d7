"""``faxcore serve``: the fax server (HTTP API, scheduler, channels, inbound), and
``faxcore serve --demo``, what ``make demo`` runs: the service end to end.

``faxcore serve [--config faxcore.toml] [--bind HOST:PORT] [--db URL] [--data-dir DIR]``
runs until Ctrl-C or SIGTERM. Defaults are built in (:mod:`faxcore.server.config`):
SQLite (WAL) in the user data directory, one loopback channel, 127.0.0.1:8025. A port of
0 takes a free one. The first line on standard output says where it listens
(``faxcore serve: listening on http://127.0.0.1:8025``); the log (standard error) has
one line per job state change. The admin API is on when an admin token is given
(``admin_token`` in the config, ``--admin-token`` or ``$FAXCORE_ADMIN_TOKEN``).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket

from faxcore.cli import CliError
from faxcore.cli.output import out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the fax server (HTTP API, scheduler, channels)",
                       description="Run the fax server: the HTTP API, the job scheduler with "
                                   "retries, the channels (loopback by default) and inbound "
                                   "reception. With --demo: start one on a temporary "
                                   "directory, fax ITU chart 1 between two accounts through "
                                   "the API, fetch it back, and stop.")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: built-in "
                                                    "defaults)")
    p.add_argument("--bind", metavar="HOST:PORT", help="where the API listens (default "
                                                       "127.0.0.1:8025; port 0: a free one)")
    p.add_argument("--db", metavar="URL", help="sqlite:///path or postgresql://... (default: "
                                               "$FAXCORE_DB, else faxcore.db in the data "
                                               "directory)")
    p.add_argument("--data-dir", metavar="DIR", help="documents and received faxes (default: "
                                                     "the user data directory)")
    p.add_argument("--admin-token", metavar="TOKEN", default=None,
                   help="enables /v1/admin/* with this Bearer token (default: "
                        "$FAXCORE_ADMIN_TOKEN; none: the admin API is off)")
    p.add_argument("--workers", type=int, metavar="N", help="scheduler threads (default: "
                                                            "the channels' lines, at most 16)")
    p.add_argument("--demo", action="store_true",
                   help="the demo: a server on a temporary directory, two accounts, ITU chart 1 "
                        "(and FILEs) faxed through the API and fetched back as PDF and PNG")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="with --demo: more documents to send after the chart")
    p.add_argument("--out", default="out/demo", help="with --demo: where the received fax "
                                                     "goes (default out/demo)")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if args.demo:
        # not at the top: the demo client is only needed with --demo
        from faxcore.cli.servedemo import run_service_demo

        return run_service_demo(args)
    if args.files:
        raise CliError("FILE arguments are for --demo only")
    # not at the top (here and below): the CLI starts fast; the server pulls in FastAPI,
    # uvicorn and img2pdf
    import uvicorn

    from faxcore.server.config import ConfigError, load_config  # the CLI starts fast
    from faxcore.server.service import Service  # the CLI starts fast

    token = args.admin_token or os.environ.get("FAXCORE_ADMIN_TOKEN") or None
    try:
        cfg = load_config(args.config, bind=args.bind, db=args.db, data_dir=args.data_dir,
                          admin_token=token, workers=args.workers)
        host, port = cfg.host_port
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if logging.getLogger().level > logging.INFO:
        # the service's log: one line per job state change, readable
        for name in ("faxcore.server", "faxcore.server.jobs"):
            logging.getLogger(name).setLevel(logging.INFO)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # listen now, not when uvicorn starts: a client told "listening" below is queued
        # in the backlog instead of refused while the service starts up
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    port = sock.getsockname()[1]
    try:
        service = Service(cfg)
    except Exception as exc:
        sock.close()
        raise CliError(f"cannot start: {exc}") from None
    if cfg.mail:  # [mail]: the email-to-fax gateway runs in this process
        # not at the top: the CLI starts fast; aiosmtpd only when mail is configured
        from faxcore.mailgate import MailConfigError, MailGate, parse_mail_config

        try:
            service.extras.append(MailGate(service, parse_mail_config(cfg.mail)))
        except (MailConfigError, TypeError, OSError) as exc:
            service.close()
            sock.close()
            raise CliError(f"[mail]: {exc}") from None
    # not at the top: the CLI starts fast (the control panel pulls in Jinja2 and argon2)
    from faxcore.web import install_panel

    app = service.app()
    install_panel(app, service)  # the control panel at /panel/, same process and database
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           access_log=False, lifespan="off"))
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    out(f"faxcore serve: listening on {url} (database {_safe(cfg.db_url())}, data "
        f"{service.data_dir}, channels {', '.join(service.channels)})", flush=True)
    out(f"faxcore serve: control panel on {url}/panel/", flush=True)
    try:
        service.start_background()
    except Exception as exc:  # the SMTP listener's port taken, say
        service.close()
        sock.close()
        raise CliError(f"cannot start: {exc}") from None
    for extra in service.extras:
        if hasattr(extra, "address"):
            mhost, mport = extra.address
            out(f"faxcore serve: mail to fax on smtp://{mhost}:{mport}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        service.close()
        sock.close()
    out("faxcore serve: stopped", flush=True)
    return 0


def _safe(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}"
    return url
