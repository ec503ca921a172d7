"""``faxcore modem``: Class 1 fax modems, real and emulated.

* ``faxcore modem emulate`` serves an emulated Class 1 modem on a pseudo-terminal and
  prints its path: point efax, HylaFAX or ``faxcore modem send/receive`` at it. Its line
  goes to a faxcore station: a number dialled there is answered by faxcore, which
  receives (``--out``); with ``--send FILE`` the emulator rings and faxcore calls and
  sends FILE to the program once it answers.
* ``faxcore modem send --device /dev/ttyUSB0 --dial NUMBER FILE...`` sends a fax through
  a real Class 1 modem (or an emulator); ``faxcore modem receive --device ...`` waits for
  RING, answers and writes the pages to a TIFF-F file. ``--device`` also takes pyserial
  URLs: ``socket://host:port`` (ser2net), ``rfc2217://host:port``, ``spy://DEVICE``, and
  ``faxemu://?out=FILE`` / ``faxemu://?send=FILE`` (faxcore's emulator, in process).

faxcore modules are imported in the functions that run a command: ``faxcore --help`` and
the other commands do not pay for numpy, the T.30 engine and the modems, and the pty
emulator (POSIX only) is not imported on a platform without ptys unless asked for.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from faxcore.cli import CliError


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _speed(text: str) -> float:
    """``--speed``: a finite number >= 0 (0: as fast as possible)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more (0: as fast as possible), "
                                         f"not {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("modem", help="Class 1 fax modems: drive a real one, or emulate one",
                       description="Drive a Class 1 (T.31) fax modem on a serial port, or "
                                   "emulate one on a pseudo-terminal for efax/HylaFAX.")
    msub = p.add_subparsers(dest="modem_command", metavar="ACTION")
    msub.required = True

    e = msub.add_parser("emulate", help="serve an emulated Class 1 modem on a pty",
                        description="Open a pseudo-terminal with an emulated Class 1 fax "
                                    "modem and print its path. Calls go to a faxcore station "
                                    "over simulated audio.")
    e.add_argument("--out", default="received-%d.tif",
                   help="where faxcore writes what a program sends it (%%d = call number; "
                        "default received-%%d.tif)")
    e.add_argument("--scheme", choices=("mh-rtc", "mmr"), default="mh-rtc",
                   help="coding of the received TIFF-F: mh-rtc (default: MH with RTC ending "
                        "each page, which efax's efix and libtiff both read) or mmr "
                        "(smaller; libtiff only)")
    e.add_argument("--send", nargs="+", metavar="FILE", default=[],
                   help="ring, and once answered send these files to the program")
    e.add_argument("--no-ecm", dest="ecm", action="store_false", default=True,
                   help="the faxcore station offers no ECM")
    e.add_argument("--jbig", action="store_true",
                   help="the faxcore station also offers T.85 JBIG and uses it when the "
                        "program offers it (ECM only; HylaFAX: Class1JBIGSupport)")
    e.add_argument("--calls", type=int, default=0,
                   help="stop after this many calls (default: run until interrupted)")
    e.add_argument("--speed", type=_speed, default=1.0,
                   help="pace of high-speed data, either way, relative to real time "
                        "(default 1.0; 0 = as fast as possible)")
    e.add_argument("--link", help="also write the pty path to this file (for scripts)")
    e.add_argument("--pair", action="store_true",
                   help="two emulated modems on one line instead (two paths printed): "
                        "a program dialling on the first rings the second")
    e.add_argument("--sip", metavar="URI",
                   help="the line is a SIP call (G.711): a number the program dials calls "
                        "this URI, {number} replaced by the digits dialled, e.g. "
                        "sip:{number}@pbx.example (outgoing calls only)")
    e.add_argument("--sip-proxy", metavar="HOST[:PORT]",
                   help="with --sip: send the INVITE through this proxy or trunk")
    e.add_argument("--sip-user", help="with --sip: digest user name")
    e.add_argument("--sip-password", help="with --sip: digest password")
    e.add_argument("--sip-bind", default="0.0.0.0", metavar="ADDR",
                   help="with --sip: local address for SIP and RTP (default 0.0.0.0)")
    e.add_argument("--sip-listen", metavar="ADDR:PORT",
                   help="incoming SIP calls on this address ring the program (RING); it "
                        "answers (ATA) and receives over G.711")
    e.add_argument("--sip-register", metavar="URI",
                   help="with --sip-listen: register sip:USER@REGISTRAR[:PORT] "
                        "(--sip-password)")
    e.set_defaults(func=run_emulate)

    for name, helptext in (("send", "send files through a Class 1 modem"),
                           ("receive", "answer a call on a Class 1 modem and receive")):
        s = msub.add_parser(name, help=helptext, description=helptext + ".")
        s.add_argument("--device", required=True,
                       help="serial port, e.g. /dev/ttyUSB0, or a pyserial URL: "
                            "socket://HOST:PORT, rfc2217://HOST:PORT, spy://DEVICE, "
                            "faxemu://?out=FILE")
        s.add_argument("--baud", type=int, default=115200, help="DTE speed (default 115200)")
        s.add_argument("--no-rtscts", dest="rtscts", action="store_false", default=True,
                       help="no hardware flow control")
        s.add_argument("--no-ecm", dest="ecm", action="store_false", default=True,
                       help="no error correction mode (default: ECM offered and accepted)")
        s.add_argument("--ident", default="", help="our fax number (TSI/CSI)")
        s.add_argument("--max-seconds", type=float, default=1800.0,
                       help="give up after this long (default 1800 s)")
        s.add_argument("--quirks", default="auto", metavar="PROFILE",
                       help="the modem's quirk profile: auto (default: ask the modem who "
                            "it is, ATI and AT+FMI?/FMM?/FMR?), generic, spandsp-t31 "
                            "(iaxmodem, FreeSWITCH/Asterisk softmodems) or tolerant; "
                            "flags may follow, e.g. generic,stray_connect or "
                            "spandsp-t31,no-reissue_empty_ok")
        if name == "send":
            s.add_argument("--dial", required=True, help="number to dial (ATD...)")
            s.add_argument("--resolution", choices=("standard", "fine", "superfine"),
                           help="send at this resolution (default: each file's own, or fine)")
            s.add_argument("files", nargs="+", metavar="FILE",
                           help="documents to send: PDF, images, TIFF-F, PBM, raw .g3/.g4")
            s.set_defaults(func=run_send)
        else:
            s.add_argument("--out", default="received.tif",
                           help="received TIFF-F (default received.tif)")
            s.add_argument("--answer-now", action="store_true",
                           help="answer at once (ATA) instead of waiting for RING")
            s.set_defaults(func=run_receive)


# ---- emulate ---------------------------------------------------------------------------

def run_pair(args: argparse.Namespace) -> int:
    from faxcore.class1.pty import PtyPair  # lazy: see the module docstring

    pair = PtyPair(data_speed=args.speed or None)
    a, b = pair.paths
    _say(f"{a} {b}")
    if args.link:
        Path(args.link).write_text(f"{a}\n{b}\n")
    _say(f"two emulated Class 1 modems on one line: dial on {a}, answer on {b} "
         f"(e.g. efax -d {b} -r rx & efax -d {a} -t 1 page.tif); Ctrl-C to stop")
    state = {"calls": 0, "up": False}

    def until() -> bool:
        now_up = pair.a.dce.offhook or pair.b.dce.offhook
        if state["up"] and not now_up:
            state["calls"] += 1
            _say(f"call {state['calls']} ended")
        state["up"] = now_up
        return bool(args.calls) and state["calls"] >= args.calls

    try:
        pair.run(until)
        pair.linger()  # as for one modem (run_emulate): answer the programs to the end
    finally:
        pair.close()
    return 0


def run_emulate(args: argparse.Namespace) -> int:
    from faxcore.class1.pty import PtyModem  # lazy: see the module docstring
    from faxcore.pagestore import TiffPageWriter  # lazy: see the module docstring
    from faxcore.session import FaxSession  # lazy: see the module docstring

    if args.pair:
        return run_pair(args)
    if args.sip or args.sip_listen:
        return run_emulate_sip(args)

    pages = None
    if args.send:
        from faxcore.cli.call import load_inputs  # lazy: see the module docstring

        pages = load_inputs(args.send, None)
    state = {"n": 0}

    def far_end(dialled: bool):
        state["n"] += 1
        n = state["n"]
        if dialled:
            out = args.out % n if "%d" in args.out else args.out
            _say(f"call {n}: the program dialled; faxcore answers and receives into {out}")
            writer = (TiffPageWriter(out, scheme="mh", rtc=True) if args.scheme == "mh-rtc"
                      else TiffPageWriter(out))
            return FaxSession(calling=False, receive=writer, ecm=args.ecm, jbig=args.jbig)
        if pages is None:
            raise CliError("the program answered, but there is nothing to send (--send)")
        _say(f"call {n}: the program answered; faxcore sends {len(pages)} page(s)")
        return FaxSession(calling=True, send=pages, ecm=args.ecm, jbig=args.jbig)

    modem = PtyModem(far_end, ring=bool(pages), data_speed=args.speed or None)
    _say(modem.path)
    if args.link:
        Path(args.link).write_text(modem.path + "\n")
    _say(f"Class 1 modem emulator on {modem.path} (e.g. efax -d {modem.path} -t 123 "
         "page.tif); Ctrl-C to stop")
    last = {"calls": 0, "offhook": False}

    def until() -> bool:
        if last["offhook"] and not modem.in_call:
            last["calls"] += 1
            far = modem.far_ends[-1] if modem.far_ends else None
            res = getattr(far, "result", None)
            if res is not None:
                _say(f"call {last['calls']} ended: {res.summary()}")
        last["offhook"] = modem.in_call
        return bool(args.calls) and last["calls"] >= args.calls

    try:
        modem.run(until)
        # the program may still be hanging up or resetting the modem: answer it until it
        # closes the pty (or goes quiet) rather than leave it I/O errors
        modem.linger()
    finally:
        modem.close()
    return 0


def run_emulate_sip(args: argparse.Namespace) -> int:
    """``modem emulate --sip URI`` / ``--sip-listen ADDR``: the emulated modem's line is
    a SIP G.711 call, outgoing (the program dials) or incoming (the program is rung)."""
    from faxcore.class1.pty import PtyModem  # lazy: see the module docstring
    from faxcore.cli.sip import host_port, sip_uri  # lazy: see the module docstring
    from faxcore.sipfax.line import SipAudioLine, SipLineListener  # lazy: see the docstring

    if args.send:
        raise CliError("--sip/--sip-listen carry the program's own calls: drop --send")
    try:
        proxy = host_port(args.sip_proxy) if args.sip_proxy else None
        if args.sip:
            sip_uri(args.sip.replace("{number}", "0"))
        listen = host_port(args.sip_listen) if args.sip_listen else None
        register = sip_uri(args.sip_register) if args.sip_register else None
    except argparse.ArgumentTypeError as exc:
        raise CliError(str(exc)) from None
    if register and not (listen and args.sip_password and "@" in register):
        raise CliError("--sip-register needs --sip-listen, --sip-password and a user "
                       "(sip:USER@REGISTRAR)")
    listener = None
    if listen is not None:
        reg = None
        if register:
            user, host = register[4:].split("@", 1)
            reg = (f"sip:{host}", user, args.sip_password)
        try:
            listener = SipLineListener(listen, register=reg)
        except (OSError, RuntimeError) as exc:
            raise CliError(f"--sip-listen {args.sip_listen}: {exc}") from None
        _say(f"incoming SIP calls to {listener.contact} ring the emulated modem")
    if proxy is not None:
        proxy = (proxy[0], proxy[1] or 5060)
    creds = (args.sip_user, args.sip_password or "") if args.sip_user else None
    state = {"n": 0, "lines": []}
    modem: PtyModem

    def far_end(dialled: bool):
        state["n"] += 1
        if not dialled:
            if listener is None:
                raise CliError("the program answered, but there is no --sip-listen")
            _say(f"call {state['n']}: the program answered: taking the SIP call")
            line = listener.answer(lambda: not modem.dce.offhook)
            state["lines"].append(line)
            return line
        if not args.sip:
            raise CliError("the program dialled, but there is no --sip URI to call")
        number = "".join(c for c in modem.dce.dial_string if c.isalnum() or c in "+*#")
        to = sip_uri(args.sip.replace("{number}", number))
        _say(f"call {state['n']}: the program dialled {number!r}: calling {to}")
        line = SipAudioLine(to, hung_up=lambda: not modem.dce.offhook,
                            bind=(args.sip_bind, 0), proxy=proxy, credentials=creds,
                            from_uri=f"sip:{args.sip_user}@{proxy[0] if proxy else to.split('@')[-1]}"
                            if args.sip_user else None)
        state["lines"].append(line)
        return line

    # the line is real time: high-speed data at real-time pace too
    modem = PtyModem(far_end, data_speed=1.0)
    _say(modem.path)
    if args.link:
        Path(args.link).write_text(modem.path + "\n")
    _say(f"Class 1 modem emulator on {modem.path}, its line a SIP call"
         + (f" to {args.sip}" if args.sip else "")
         + (f" from {listener.contact}" if listener else "")
         + f" (e.g. efax -d {modem.path} -t 123 page.tif); Ctrl-C to stop")
    last = {"calls": 0, "offhook": False}

    def until() -> bool:
        if listener is not None:
            modem.ring = listener.ringing and not modem.in_call
        if last["offhook"] and not modem.in_call:
            last["calls"] += 1
            line = state["lines"][-1] if state["lines"] else None
            what = line.error or (line.outcome.summary() if line and line.outcome else "")
            _say(f"call {last['calls']} ended" + (f": {what}" if what else ""))
        last["offhook"] = modem.in_call
        return bool(args.calls) and last["calls"] >= args.calls

    try:
        modem.run(until)
        modem.linger()
    finally:
        modem.close()
        for line in state["lines"]:
            line.close(2.0)
        if listener is not None:
            listener.close()
    return 0


# ---- send / receive on a serial port ---------------------------------------------------

def _progress(total: int | None, sending: bool):
    """A ``progress(call)`` callback for :meth:`Class1Serial.run` that shows a
    :func:`faxcore.cli.output.progress_line` on standard error (as ``faxcore call`` does)
    each time the phase, page count or modulation changes; seconds from the call's start."""
    from faxcore.cli import output  # lazy: see the module docstring

    start = time.monotonic()
    line = output.call_progress(output.err, total, sending=sending)
    shown = None

    def show(call) -> None:
        nonlocal shown
        e = call.engine
        if e is None:
            return
        state = (e.phase, e.result.pages_sent, len(e.received_pages), e.result.modulation)
        if state != shown:
            shown = state
            line(time.monotonic() - start, e)
    return show


def _run_call(args: argparse.Namespace, call, total: int | None, sending: bool) -> int:
    from faxcore.class1 import Class1Error, Class1Serial  # lazy: see the module docstring

    try:
        port = Class1Serial(args.device, baudrate=args.baud, rtscts=args.rtscts,
                            quirks=args.quirks)
    except (Class1Error, ValueError) as exc:  # ValueError: an unknown --quirks profile
        raise CliError(str(exc)) from None
    try:
        port.run(call, max_seconds=args.max_seconds, progress=_progress(total, sending))
    finally:
        port.close()
    d = call.driver
    if d.ready:
        used = ", ".join(f"{k} x{n}" for k, n in sorted(d.workarounds.items()))
        _say(f"modem quirk profile: {d.quirks.name}" + (f" (used: {used})" if used else ""))
    r = call.result
    if r is None:
        raise CliError(f"modem: {call.error or 'the call did not start'}")
    _say(r.summary())
    if call.error:
        _say(f"modem: {call.error}")
    return 0 if int(r.status) == 0 else 1


def run_send(args: argparse.Namespace) -> int:
    from faxcore.class1 import Class1Call  # lazy: see the module docstring
    from faxcore.cli.call import load_inputs  # lazy: see the module docstring

    pages = load_inputs(args.files, args.resolution)
    _say(f"sending {len(pages)} page(s) to {args.dial} through {args.device}")
    call = Class1Call(True, dial=args.dial, send=pages, ecm=args.ecm, ident=args.ident)
    return _run_call(args, call, len(pages), True)


def run_receive(args: argparse.Namespace) -> int:
    from faxcore.class1 import Class1Call, Class1Driver  # lazy: see the module docstring

    driver = Class1Driver(dial=None, wait_ring=not args.answer_now)
    call = Class1Call(False, receive=args.out, ecm=args.ecm, ident=args.ident, driver=driver)
    _say(f"waiting for a call on {args.device}" + ("" if args.answer_now else " (RING)"))
    t = time.monotonic()
    code = _run_call(args, call, None, False)
    if call.engine is not None and call.engine.received_pages:
        _say(f"{len(call.engine.received_pages)} page(s) written to {args.out} "
             f"({time.monotonic() - t:.1f} s)")
    return code
