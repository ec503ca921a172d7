"""``faxcore call``: one fax call for engineers.

``faxcore call INPUT...`` sends the pages of INPUT (TIFF-F, PDF, PBM, any image,
raw .g3/.g4: whatever :func:`faxcore.codecs.load_pages` reads, refitted to a T.30 width)
from one faxcore station to another over simulated audio (the software modems at both
ends, optional AWGN and G.711), shows progress on standard error as it goes (one
:func:`faxcore.cli.output.progress_line` per change of phase, page or bit rate), writes the
received TIFF-F and prints the call report with the T.30 frame trace. Both stations
simulated here is the only mode (``--loopback``, which says so, is accepted and changes
nothing).

With ``--peer spandsp`` the answering, receiving station is spandsp's fax terminal
(Debian's libspandsp2 through :mod:`faxcore.testing.spandsp`) instead: an
interoperability check from the command line. spandsp writes the received TIFF-F.
``--peer-sends`` turns the call round: spandsp calls and sends INPUT, faxcore answers
and receives.

Output files are checked before the call (their directory must exist and take a new
file): a bad ``--out`` or ``--wav`` is a one-line error and no call is made. A faxcore
receiver writes each page to ``--out`` as it arrives, before confirming it; if that
fails during the call (disk full, directory gone), the pages move to a rescue directory
(:func:`faxcore.cli.output.rescue_dirs`) and the call goes on; a WAV that cannot be
written after the call goes there too. Either way the command says where, in one line,
and exits with status 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import wave
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from faxcore.cli import CliError, output
from faxcore.cli.output import TRACE_COLUMNS, call_progress, check_writable, rescue, rescue_dirs
from faxcore.codecs import LoadError, SourceUnreadable, write_tiff
from faxcore.modem import PAGE_MODEMS, SAMPLE_RATE
from faxcore.session import FaxSession, load_pages, page_from_tx
from faxcore.t30 import T30Status, TxPage
from faxcore.t30.idents import encode_ident
from faxcore.testing import line as simulated
from faxcore.testing.line import G711, CallDidNotEnd, Impairment, Noise

BLOCK = 160  # 20 ms of audio per step, as an RTP or sound-card stream would give it


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "call", help="one fax call over a simulated line, with the call report",
        description="Send INPUT files (TIFF-F, PDF, images, PBM, raw .g3/.g4) from one "
                    "faxcore station to "
                    "another over simulated 8 kHz audio and print the call report.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files to send")
    p.add_argument("--loopback", action="store_true",
                   help="both stations are simulated here: the default and only mode "
                        "(accepted for old scripts; changes nothing)")
    p.add_argument("--ecm", dest="ecm", action="store_true", default=True,
                   help="offer error correction mode (default)")
    p.add_argument("--no-ecm", dest="ecm", action="store_false", help="no ECM")
    p.add_argument("--modem", choices=PAGE_MODEMS, default=PAGE_MODEMS[0],
                   help="fastest modem offered (default v17; slower ones stay as fallback)")
    p.add_argument("--snr", type=float, metavar="DB",
                   help="add white noise this many dB below the signal (faxcore's -10 dBm0) "
                        "(default: no noise)")
    p.add_argument("--g711", choices=("alaw", "ulaw"),
                   help="pass the audio through G.711 (default: linear audio)")
    p.add_argument("--resolution", choices=("standard", "fine", "superfine"),
                   help="send at this resolution (default: the file's, or fine)")
    p.add_argument("--wav", metavar="FILE",
                   help="record the line (left: caller, right: answerer) as WAV "
                        "(default: no recording)")
    p.add_argument("--out", default="received.tif", help="received TIFF-F (default received.tif)")
    p.add_argument("--peer", choices=("faxcore", "spandsp"), default="faxcore",
                   help="the answering (receiving) station: faxcore (default) or spandsp "
                        "(Debian libspandsp2)")
    p.add_argument("--peer-sends", action="store_true",
                   help="with --peer spandsp: spandsp calls and sends, faxcore receives")
    p.add_argument("--sub", default="", metavar="ADDRESS",
                   help="send this subaddress (SUB) with DCS, up to 20 characters")
    p.add_argument("--sid", default="", metavar="TEXT",
                   help="send this sender identification / password (SID) with DCS")
    p.add_argument("--max-seconds", type=float, default=1800.0,
                   help="give up after this much line time (default 1800 s)")
    p.set_defaults(func=run_call)


def load_inputs(paths: list[str], resolution: str | None) -> list[TxPage]:
    """The pages of the files to send (:func:`faxcore.session.load_pages`: the one loader,
    every page at a T.30 width), at ``resolution`` (default: each file's own, or fine)."""
    pages: list[TxPage] = []
    for name in paths:
        try:
            pages += load_pages([Path(name)], resolution=resolution)
        except SourceUnreadable as exc:
            raise CliError(str(exc)) from None
        except LoadError as exc:
            raise CliError(f"cannot use {exc}") from None
    if not pages:
        raise CliError("nothing to send")
    return pages


TX_LEVEL_DBM0 = -10.0  # both stations' transmit level (FaxSession's default)


def simulated_line(snr: float | None, law: str | None,
                   rng: np.random.Generator) -> list[Impairment]:
    """The line of ``faxcore call`` (both directions): G.711 ``law`` if given, then white
    noise ``snr`` dB below the stations' transmit level (:data:`TX_LEVEL_DBM0`) if given."""
    line: list[Impairment] = []
    if law:
        line.append(G711(law))
    if snr is not None:
        line.append(Noise.below_dbm0(snr, TX_LEVEL_DBM0, rng))
    return line


class CallRun(NamedTuple):
    """What :func:`simulate_call` returns. ``problems``: outputs that are not where they
    were asked to go, one line each saying where they are instead (or that they are
    lost)."""

    caller: Any
    answerer: Any
    line_seconds: float
    cpu_seconds: float
    problems: list[str]


def simulate_call(pages, *, ecm: bool = True, modems=PAGE_MODEMS,
                  snr: float | None = None, g711: str | None = None, out=None, wav=None,
                  progress=None, max_seconds: float = 1800.0, seed: int = 1,
                  peer: str = "faxcore", peer_sends: bool = False,
                  caller_options: dict | None = None, answerer_options: dict | None = None):
    """One call over simulated audio from a faxcore station to a faxcore (or, with
    ``peer="spandsp"``, a spandsp) station; also what ``make demo`` runs.

    ``pages``: TxPage list; ``out``: path of the received TIFF-F (required for spandsp);
    ``wav``: path to record the line (left: caller, right: answerer);
    ``progress(seconds, engine)`` is called when the faxcore station's phase, page count
    or modulation changes (the caller's, with two faxcore stations); ``peer_sends``: with
    spandsp, spandsp calls and sends, faxcore answers and receives;
    ``caller_options``/``answerer_options``: more keyword arguments for the stations
    (FaxSession, or SpandspFax for spandsp). Returns a :class:`CallRun`; each station is a
    FaxSession or a SpandspFax.

    Nothing received is lost to a failed write: a faxcore receiver writes each page to
    ``out`` before confirming it and moves to a rescue directory if it cannot (unless
    ``answerer_options`` gives other ``fallback_dirs``); a WAV that cannot be written
    goes to a rescue directory. ``CallRun.problems`` says so."""
    aopts = dict(answerer_options or {})
    if peer == "faxcore" or peer_sends:
        aopts.setdefault("fallback_dirs", rescue_dirs())
    with tempfile.TemporaryDirectory(prefix="faxcore-call-") as tmp:
        caller, answerer = _stations(pages, ecm, modems, out, peer, peer_sends, Path(tmp),
                                     caller_options or {}, aopts)
        line, cpu, rec = play_call(caller, answerer,
                                   simulated_line(snr, g711, np.random.default_rng(seed)),
                                   wav is not None, progress, max_seconds)
    problems = []
    for station in (caller, answerer):
        problems += _store_problems(station)
    if wav is not None:
        problems += _save_wav(Path(wav), rec)
    return CallRun(caller, answerer, line, cpu, problems)


def _store_problems(station) -> list[str]:
    """A faxcore receiver whose pages are not where they were asked to go."""
    if not hasattr(station, "store_error"):
        return []
    if station.store_error and station.received_path is not None:
        return [f"{station.store_error}; the received fax was kept in {station.received_path}"]
    if station.result.status == T30Status.FILEERROR:
        return [f"received pages could not be written anywhere: {station.result.message}"]
    return []


def _save_wav(path: Path, rec: list) -> list[str]:
    """Write the line recording; on failure keep it in a rescue directory instead."""
    audio = np.concatenate(rec) if rec else np.zeros((0, 2), np.int16)

    def write(p: Path) -> None:
        try:
            with open(p, "wb") as f, wave.open(f, "wb") as w:
                w.setnchannels(2)
                w.setsampwidth(2)
                w.setframerate(SAMPLE_RATE)
                w.writeframes(audio.astype("<i2").tobytes())
        except OSError:
            p.unlink(missing_ok=True)  # not a truncated recording left behind
            raise

    try:
        write(path)
        return []
    except OSError as exc:
        why = f"cannot write {path}: {exc.strerror or exc}"
    try:
        where = rescue(path, write)
    except OSError as exc:
        return [f"{why}; the line recording is lost: {exc}"]
    return [f"{why}; the line recording was kept in {where}"]


def _stations(pages, ecm, modems, out, peer, peer_sends, tmp: Path, copts, aopts):
    if peer == "faxcore":
        if peer_sends:
            raise CliError("--peer-sends needs --peer spandsp")
        return (FaxSession(True, send=pages, ecm=ecm, modems=modems,
                                   ident="+1 555 0100", **copts),
                FaxSession(False, receive=out, ecm=ecm, modems=modems,
                                   ident="+1 555 0199", **aopts))
    if peer != "spandsp":
        raise ValueError(f"unknown peer {peer!r}")
    # Test tooling, loaded only for this peer: it opens Debian's libspandsp through ctypes.
    from faxcore.testing.spandsp import SpandspFax, SpandspMissing

    try:
        if peer_sends:
            src = tmp / "send.tif"  # spandsp reads the pages from a TIFF-F as it goes
            write_tiff(src, [page_from_tx(p) for p in pages], "mh")
            return (SpandspFax(True, send_tiff=str(src), ecm=ecm, modems=tuple(modems),
                               ident="+1 555 0100", **copts),
                    FaxSession(False, receive=out, ecm=ecm, modems=modems,
                                       ident="+1 555 0199", **aopts))
        if out is None:
            raise ValueError("spandsp writes the received pages: give out=PATH")
        return (FaxSession(True, send=pages, ecm=ecm, modems=modems,
                                   ident="+1 555 0100", **copts),
                SpandspFax(False, receive_tiff=str(out), ecm=ecm, modems=tuple(modems),
                           ident="+1 555 0199", rx_mmr=ecm, **aopts))
    except SpandspMissing as exc:
        raise CliError(str(exc)) from None


def play_call(caller, answerer, line: list[Impairment], record: bool, progress,
              max_seconds: float):
    """Run the two stations to the end over ``line``; returns (line_seconds,
    cpu_seconds, recording: blocks of [caller, answerer] samples if ``record``)."""
    ours = caller if hasattr(caller, "engine") else answerer
    heard: tuple[list, list] = ([], [])

    def keep(blocks: list) -> Impairment:
        def record_block(x: np.ndarray, start: int) -> np.ndarray:
            blocks.append(x)
            return x

        return record_block

    shown = None

    def watch(n: int) -> None:
        nonlocal shown
        e = ours.engine
        state = (e.phase, e.result.pages_sent, len(e.received_pages), e.result.modulation)
        if state != shown:
            shown = state
            if progress is not None:
                progress(n / SAMPLE_RATE, e)

    t0 = time.process_time()
    try:
        seconds = simulated.run_call(caller, answerer, impairments=line,
                                     to_answerer=[keep(heard[0])] if record else [],
                                     to_caller=[keep(heard[1])] if record else [],
                                     max_seconds=max_seconds, block=BLOCK, watch=watch)
    except CallDidNotEnd:
        raise CliError(f"call still running after {max_seconds:.0f} s of line time") from None
    cpu = time.process_time() - t0
    rec = None
    if record:
        rec = [np.stack([np.concatenate(heard[0]), np.concatenate(heard[1])], axis=1)] \
            if heard[0] else []
    return seconds, cpu, rec


def run_call(args: argparse.Namespace) -> int:
    # Before anything else: a call that cannot keep what it receives is not made.
    check_writable(args.out, "--out")
    if args.wav:
        check_writable(args.wav, "--wav")
    pages = load_inputs(args.inputs, args.resolution)
    modems = PAGE_MODEMS[PAGE_MODEMS.index(args.modem):]
    progress = call_progress(output.err, len(pages), sending=not args.peer_sends)

    copts = {"sub_address": args.sub, "sender_ident": args.sid}
    try:
        for text in copts.values():
            encode_ident(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    # spandsp offers SUB/SID in its DIS only when asked to.
    aopts = {"features": ("identification", "sub_addressing", "command_repeat")} \
        if args.peer == "spandsp" and not args.peer_sends and (args.sub or args.sid) else {}
    caller, answerer, line, cpu, problems = simulate_call(
        pages, ecm=args.ecm, modems=modems, snr=args.snr, g711=args.g711, out=args.out,
        wav=args.wav, progress=progress, max_seconds=args.max_seconds, peer=args.peer,
        peer_sends=args.peer_sends, caller_options=copts, answerer_options=aopts)
    say = output.out
    say(f"line time {line:.1f} s, CPU {cpu:.2f} s")
    c_ok, _, _, _ = _report("caller:   ", caller, say)
    a_ok, received, got_sub, got_sid = _report("answerer: ", answerer, say)
    if args.sub or args.sid:
        say(f"answerer received SUB '{got_sub}', SID '{got_sid}'")
    ours = caller if hasattr(caller, "engine") else answerer
    say(f"frame trace ({'caller' if ours is caller else 'answerer'}'s view, faxcore; "
        f"{TRACE_COLUMNS}):")
    say(ours.result.trace_text())
    where = getattr(answerer, "received_path", None) or args.out
    if received:
        say(f"received pages written to {where}")
    if problems:
        raise CliError("; ".join(problems))
    return 0 if c_ok and a_ok else 1


def _report(label: str, station, say) -> tuple[bool, int, str, str]:
    """Print a station's result line; returns (ok, pages received, SUB, SID it got)."""
    if hasattr(station, "engine"):
        r = station.result
        say(f"{label}{r.summary()}")
        return r.ok, r.pages_received, r.remote_sub_address, r.remote_sender_ident
    say(f"{label}{spandsp_summary(station)}")
    return (station.status_name == "OK", station.stats.pages_rx, station.remote_sub_address,
            station.remote_sender_ident)


def spandsp_summary(peer) -> str:
    """A spandsp station's phase-E result in the words of CallResult.summary()."""
    from faxcore.testing.spandsp import ENCODINGS  # test tooling: see _stations

    st = peer.stats
    return (f"status {peer.status_name} (spandsp); pages sent {st.pages_tx}, received "
            f"{st.pages_rx}; {st.bit_rate} bit/s {'ECM' if st.error_correcting_mode else 'no ECM'}"
            f" {ENCODINGS.get(st.encoding, '-')}; remote '{peer.remote_ident}'; "
            f"bad rows {st.bad_rows}")
