"""``faxcore sip``: fax over SIP, G.711 audio or T.38.

* ``faxcore sip send --to sip:1000@host[:port] FILE...`` calls and sends the pages;
  through a proxy or trunk with ``--proxy HOST[:PORT]`` and digest credentials
  ``--user``/``--password`` (401 and 407 are answered).
* ``faxcore sip listen --bind ADDR [--register sip:user@registrar --password P]`` answers
  calls and writes each call's pages to a TIFF-F in ``--out DIR``; ``--once`` stops
  after the first call.

``--t38 prefer`` (default) starts on G.711 and switches to T.38 when both ends agree
(the receiving side asks), ``only`` insists on T.38, ``never`` stays on G.711 and answers
a T.38 offer with 488 (:mod:`faxcore.sipfax.switch`). ``--pcap FILE`` writes every SIP,
RTP and UDPTL datagram sent and received, for Wireshark/tshark.

Progress goes to standard error as the call goes: the SIP state, the media (G.711 or
T.38) and the T.30 progress in :func:`faxcore.cli.output.progress_line`'s format; the
result goes to standard output. ``-v`` adds the SIP messages and the T.30 frame trace.

faxcore modules are imported in the functions that run a command (``faxcore --help``
does not pay for numpy, asyncio and the fax stack).
"""

from __future__ import annotations

import argparse
import re

from faxcore.cli import CliError

T38_MODES = ("prefer", "only", "never")


def host_port(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (port 0 when not given: the caller picks a default)."""
    m = re.fullmatch(r"\[?([^\[\]]+?)\]?(?::(\d{1,5}))?", text.strip())
    if not m or not m.group(1):
        raise argparse.ArgumentTypeError(f"not HOST[:PORT]: {text!r}")
    port = int(m.group(2) or 0)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return m.group(1), port


def sip_uri(text: str) -> str:
    """A ``sip:`` URI (``user@host[:port]`` gets ``sip:`` put in front)."""
    t = text.strip()
    if not t.lower().startswith("sip:"):
        t = "sip:" + t
    if not re.fullmatch(r"sip:(?:[^@\s]+@)?[^@\s:;]+(?::\d{1,5})?(?:;[^\s]*)?", t, re.I):
        raise argparse.ArgumentTypeError(f"not a SIP URI (sip:user@host[:port]): {text!r}")
    return t


def seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return v


def _common(p: argparse.ArgumentParser, bind_default: str | None) -> None:
    p.add_argument("--bind", type=host_port, default=host_port(bind_default)
                   if bind_default else None, metavar="ADDR[:PORT]",
                   required=bind_default is None,
                   help="local address (and SIP port) to use" +
                        (f" (default {bind_default}: any address, a free port)"
                         if bind_default else ""))
    p.add_argument("--t38", choices=T38_MODES, default="prefer",
                   help="prefer (default): start on G.711, switch to T.38 when both ends "
                        "agree; only: T.38 or fail; never: G.711 only (a T.38 offer gets 488)")
    p.add_argument("--ecm", dest="ecm", action="store_true", default=True,
                   help="offer error correction mode (default)")
    p.add_argument("--no-ecm", dest="ecm", action="store_false", help="no ECM")
    p.add_argument("--ident", default="", help="our fax number (TSI/CSI)")
    p.add_argument("--pcap", metavar="FILE",
                   help="write every SIP, RTP and UDPTL datagram to this pcap file")
    p.add_argument("--max-seconds", type=seconds, default=600.0,
                   help="give up on a call after this long (default 600 s)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sip", help="fax over SIP (G.711 audio or T.38)",
                       description="Send or receive faxes over SIP: G.711 audio over RTP, "
                                   "or T.38 over UDPTL after a re-INVITE.")
    ssub = p.add_subparsers(dest="sip_command", metavar="ACTION")
    ssub.required = True

    s = ssub.add_parser("send", help="call a SIP URI and send files",
                        description="Call a SIP URI and send FILEs as a fax.")
    s.add_argument("--to", required=True, type=sip_uri, metavar="URI",
                   help="who to call: sip:USER@HOST[:PORT]")
    s.add_argument("--from", dest="from_uri", type=sip_uri, metavar="URI",
                   help="our address of record (default sip:USER@HOST of --user and the "
                        "proxy, else sip:faxcore@our address)")
    s.add_argument("--proxy", type=host_port, metavar="HOST[:PORT]",
                   help="send the INVITE to this proxy or trunk (default: the --to host)")
    s.add_argument("--user", help="digest user name (401/407 challenges)")
    s.add_argument("--password", help="digest password")
    s.add_argument("--offer-t38-after", type=seconds, metavar="SECONDS",
                   help="offer T.38 ourselves when the far end has not after this long "
                        "(default: wait for the far end's re-INVITE; with --t38 only: 5 s)")
    s.add_argument("--resolution", choices=("standard", "fine", "superfine"),
                   help="send at this resolution (default: the file's, or fine)")
    s.add_argument("files", nargs="+", metavar="FILE",
                   help="documents to send: PDF, images, TIFF-F, PBM, raw .g3/.g4")
    _common(s, "0.0.0.0")
    s.set_defaults(func=run_send)

    r = ssub.add_parser("listen", help="answer SIP calls and receive faxes",
                        description="Answer SIP calls on --bind and write each call's "
                                    "pages to a TIFF-F in --out.")
    r.add_argument("--register", type=sip_uri, metavar="URI",
                   help="register this address of record (sip:USER@REGISTRAR[:PORT]) "
                        "and keep the registration fresh")
    r.add_argument("--user", help="digest user name (default: the --register user)")
    r.add_argument("--password", help="digest password for --register")
    r.add_argument("--out", default=".", metavar="DIR",
                   help="directory for the received TIFF-F files (default: here)")
    r.add_argument("--once", action="store_true",
                   help="stop after the first call (exit status: that call's)")
    _common(r, None)
    r.set_defaults(func=run_listen)


# ---- running ---------------------------------------------------------------------------

def _options(args: argparse.Namespace, *, offer_after: float | None = None):
    from faxcore.sipfax.call import FaxOptions  # lazy: see the module docstring

    return FaxOptions(t38=args.t38, ecm=args.ecm, ident=args.ident,
                      offer_after=offer_after, max_seconds=args.max_seconds)


def _progress(total: int | None, sending: bool):
    """A ``progress(call, kind)`` callback: one line on standard error per change of the
    SIP state, the media, or the T.30 phase, page count or modulation."""
    from faxcore.cli import output  # lazy: see the module docstring

    def show(call, kind: str) -> None:
        t = call.seconds
        if kind == "sip":
            output.err(f"{t:7.1f} s  SIP {call.sip_state}")
        elif kind == "media":
            output.err(f"{t:7.1f} s  media {call.media}")
        elif kind == "t30":
            e = call.engine
            if e is None:
                return
            r = e.result
            done = r.pages_sent if sending else len(e.received_pages)
            mod = f"{r.modulation}, {call.media}" if r.modulation else call.media
            line = output.progress_line(t, e.phase, done=done, total=total,
                                        sending=sending, bit_rate=r.bit_rate, modulation=mod)
            if line[9:] != shown[0]:          # the same state again: no new line
                shown[0] = line[9:]
                output.err(line)

    shown = [""]
    return show


def _report(args: argparse.Namespace, outcome, sending: bool) -> int:
    from faxcore.cli import output  # lazy: see the module docstring

    output.out(outcome.summary())
    if outcome.rtp is not None and outcome.rtp.sent:
        output.out(outcome.rtp.summary())
    if outcome.udptl is not None:
        output.out(outcome.udptl.summary())
    if args.verbose and outcome.result is not None and outcome.result.trace:
        output.out(f"frame trace ({output.TRACE_COLUMNS}):")
        output.out(outcome.result.trace_text())
    return 0 if outcome.ok else 1


def _pcap(args: argparse.Namespace):
    from faxcore.cli.output import check_writable  # lazy: see the module docstring
    from faxcore.pcap import PcapWriter  # lazy: see the module docstring

    if not args.pcap:
        return None
    check_writable(args.pcap, "--pcap")
    return PcapWriter(args.pcap)


def _uri_host(uri: str) -> tuple[str, int]:
    from faxcore.sip.message import SipParseError, parse_uri  # lazy: see the docstring

    try:
        u = parse_uri(uri)
    except SipParseError as exc:
        raise CliError(f"bad SIP URI {uri}: {exc}") from None
    return u.host, u.port or 5060


def run_send(args: argparse.Namespace) -> int:
    import asyncio  # lazy: see the module docstring

    from faxcore.cli.call import load_inputs  # lazy: see the module docstring
    from faxcore.cli.output import out  # lazy: see the module docstring
    from faxcore.sipfax.call import SipFaxAgent  # lazy: see the module docstring

    if args.password and not args.user:
        raise CliError("--password needs --user")
    pages = load_inputs(args.files, args.resolution)
    to_host, to_port = _uri_host(args.to)
    proxy = None
    if args.proxy:
        proxy = (args.proxy[0], args.proxy[1] or 5060)
    towards = proxy[0] if proxy else to_host
    from_uri = args.from_uri
    if from_uri is None and args.user:
        from_uri = f"sip:{args.user}@{towards}"
    creds = (args.user, args.password or "") if args.user else None
    pcap = _pcap(args)
    progress = _progress(len(pages), True)

    async def main():
        try:
            agent = await SipFaxAgent.create(args.bind, user=args.user or "faxcore",
                                             towards=towards, credentials=creds, pcap=pcap)
        except OSError as exc:
            raise CliError(f"cannot use --bind {args.bind[0]}:{args.bind[1]}: "
                           f"{exc.strerror or exc}") from None
        try:
            out(f"calling {args.to} from {agent.contact}"
                + (f" through {proxy[0]}:{proxy[1]}" if proxy else "")
                + f", {len(pages)} page(s), T.38 {args.t38}", flush=True)
            call = agent.call(args.to, pages, options=_options(
                args, offer_after=args.offer_t38_after), proxy=proxy, from_uri=from_uri,
                credentials=creds, progress=progress)
            return await call.wait()
        finally:
            agent.close()

    try:
        outcome = asyncio.run(main())
    finally:
        if pcap is not None:
            pcap.close()
    if outcome.result is None and outcome.error:
        raise CliError(outcome.error)           # no fax at all: the one error line
    return _report(args, outcome, True)


def run_listen(args: argparse.Namespace) -> int:
    import asyncio  # lazy: see the module docstring
    import time
    from pathlib import Path

    from faxcore.cli import output  # lazy: see the module docstring
    from faxcore.sipfax.call import SipFaxAgent  # lazy: see the module docstring

    if args.register and not args.password:
        raise CliError("--register needs --password")
    out_dir = Path(args.out)
    if not out_dir.is_dir():
        raise CliError(f"--out {out_dir}: no such directory")
    output.check_writable(out_dir / "probe.tif", "--out")
    reg = None
    if args.register:
        host, port = _uri_host(args.register)
        user = args.user or args.register.split(":", 1)[1].split("@", 1)[0]
        if "@" not in args.register:
            raise CliError("--register needs a user: sip:USER@REGISTRAR[:PORT]")
        reg = (f"sip:{host}:{port}", user)
    pcap = _pcap(args)
    options = _options(args)
    # pages that cannot be written to --out during a call go to a rescue directory (as
    # faxcore call does) rather than being refused to the sender
    options.fax["fallback_dirs"] = output.rescue_dirs()

    async def main() -> int:
        done: asyncio.Queue = asyncio.Queue()
        count = {"n": 0}

        def on_call(agent, ev):
            if agent.calls:
                return None                        # one call at a time: 486 Busy
            count["n"] += 1
            n = count["n"]
            path = out_dir / f"fax-{time.strftime('%Y%m%d-%H%M%S')}-{n}.tif"
            output.err(f"call {n} from {ev.request.get('From') or '?'}: answering, "
                       f"pages to {path}")
            call = agent.take(ev, receive=path, options=options,
                              progress=_progress(None, False))
            asyncio.get_running_loop().create_task(_finish(call, n, path))
            return call

        async def _finish(call, n, path):
            outcome = await call.wait()
            output.out(f"call {n}: {outcome.summary()}", flush=True)
            if outcome.received_path is not None:
                output.out(f"call {n}: {len(outcome.pages)} page(s) written to "
                           f"{outcome.received_path}", flush=True)
                if outcome.received_path != path:
                    output.err(f"call {n}: could not write {path}; the pages were kept "
                               f"in {outcome.received_path}")
            await done.put(outcome)

        try:
            agent = await SipFaxAgent.create(args.bind, user=reg[1] if reg else "fax",
                                             towards=reg and host, pcap=pcap,
                                             on_call=on_call)
        except OSError as exc:
            raise CliError(f"cannot use --bind {args.bind[0]}:{args.bind[1]}: "
                           f"{exc.strerror or exc}") from None
        try:
            output.out(f"listening on {agent.contact}, T.38 {args.t38}", flush=True)
            if reg is not None:
                try:
                    granted = await agent.register(reg[0], reg[1], args.password)
                except RuntimeError as exc:
                    raise CliError(f"register at {reg[0]} as {reg[1]}: {exc}") from None
                output.out(f"registered sip:{reg[1]}@{host}:{port} -> {agent.contact} "
                           f"(expires {granted} s)", flush=True)
            while True:
                outcome = await done.get()
                if args.once:
                    await asyncio.sleep(0.3)       # let the BYE's answer go out
                    if pcap is not None:
                        pcap.flush()
                    if args.verbose and outcome.result is not None:
                        output.out(f"frame trace ({output.TRACE_COLUMNS}):")
                        output.out(outcome.result.trace_text())
                    return 0 if outcome.ok else 1
        finally:
            await agent.unregister()
            agent.close()

    try:
        return asyncio.run(main())
    finally:
        if pcap is not None:
            pcap.close()
