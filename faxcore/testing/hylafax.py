"""HylaFAX (Debian ``hylafax-server``, 6.0.x) in a private spool, for interop tests.

:class:`HylaFax` lays out a spool area in a new directory (what ``faxsetup`` and the
Debian init script make of ``/var/spool/hylafax``: the queue directories, ``etc/config``,
``etc/config.<modem>``, ``etc/hosts.hfaxd``, ``etc/setup.cache`` and the ``bin/`` scripts)
and runs the daemons on it, each with ``-q SPOOL``: ``faxq`` (the scheduler, which runs
``faxsend`` to dial), ``hfaxd`` (the client protocol, on a loopback port, which
``sendfax`` talks to) and ``faxgetty`` (answers calls on a modem's tty). Nothing outside
the spool is touched: no system configuration, no ``/var/lock`` (UUCP locks go to
``SPOOL/lock``), no mail (the notify and received-fax scripts are replaced by no-ops
that leave a line in ``SPOOL/log/events``), and the ``/usr/sbin`` wrappers that bind-mount
``/etc/hylafax`` are bypassed (``faxsend`` and ``tiffcheck`` are run from
``/usr/lib/hylafax/bin``).

The daemons must run with real uid root (they switch their effective uid to ``uucp``,
which owns the spool): :func:`missing` says what stops them here. :meth:`HylaFax.stop`
ends exactly the processes it started (``faxsend``, forked by ``faxq``, ends with its
call). ``SessionTracing`` is on: each call's protocol log is in ``SPOOL/log/c*``
(:meth:`HylaFax.session_logs`), which the tests print when a call fails.

    with HylaFax(tmpdir) as hf:
        dev = hf.add_modem("/dev/pts/5")
        hf.start_faxq(); hf.start_hfaxd(); hf.start_faxgetty(dev)
        job = hf.sendfax(["page.tif"], "5551234", extra=["-1"])
        done = hf.wait_job(job, timeout=300)       # the job's q file, as a dict
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from faxcore.class1.pty import PtyModem

log = logging.getLogger(__name__)

FAXQ = "/usr/sbin/faxq"
HFAXD = "/usr/sbin/hfaxd"
FAXGETTY = "/usr/sbin/faxgetty"
SENDFAX = "/usr/bin/sendfax"
# the programs themselves; /usr/sbin/faxsend, tiffcheck... are wrappers that bind-mount
# /etc/hylafax onto /var/spool/hylafax/etc first
LIBBIN = "/usr/lib/hylafax/bin"
FAXSEND = f"{LIBBIN}/faxsend"
SYSTEM_SPOOL = Path("/var/spool/hylafax")
SYSTEM_ETC = Path("/etc/hylafax")
FAX_USER = "uucp"  # HylaFAX's compiled-in fax user (owns the spool)

QUEUE_DIRS = ("archive", "bin", "client", "config", "dev", "docq", "doneq", "etc", "info",
              "log", "pollq", "recvq", "sendq", "status", "tmp", "lock")

# job states in a q file (FaxRequest.h): done and failed end a job
JOB_DONE, JOB_FAILED = 7, 8

# Class 1 settings from HylaFAX's own config/class1 prototype, then ours: no modem
# set-up strings a pty modem has no use for, no tagline (the pages are compared pixel
# for pixel), answer on the first RING.
MODEM_CONFIG = {
    "ModemType": "Class1",
    # a pty modem needs no time to reset (the defaults wait 2.6 s and 3 s)
    "ModemResetDelay": "200",
    "ModemSoftResetCmdDelay": "200",
    # faxgetty looks for faxsend's lock to go every PollLockWait seconds (default 30)
    # before it takes the modem back; tests make one call after another
    "PollLockWait": "1",
    "PollModemWait": "2",
    "ModemRate": "38400",
    "ModemFlowControl": "rtscts",
    "ModemResetCmds": '""',
    "ModemReadyCmds": '""',
    "ModemSetupDTRCmd": '""',
    "ModemSetupDCDCmd": '""',
    "ModemSetupAACmd": '""',
    "ModemNoFlowCmd": '""',
    "ModemHardFlowCmd": '""',
    "ModemSoftFlowCmd": '""',
    "ModemSetVolumeCmd": '""',
    "ModemDialCmd": "ATD%s",
    "Class1Cmd": "AT+FCLASS=1",
    "Class1PPMWaitCmd": "AT+FTS=7",
    "Class1TCFWaitCmd": "AT+FTS=7",
    "Class1EOPWaitCmd": "AT+FTS=9",
    "Class1SwitchingCmd": "AT+FRS=7",
    "Class1RecvAbortOK": "200",
    "Class1FrameOverhead": "4",
    "Class1RecvIdentTimer": "40000",
    "Class1TCFMaxNonZero": "10",
    "Class1TCFMinRun": "1000",
    "Class1ECMSupport": "yes",
    "RingsBeforeAnswer": "1",
    "SpeakerVolume": "off",
    "GettyArgs": '""',
    "LocalIdentifier": '"HylaFAX"',
    "TagLineFont": '""',
    "TagLineFormat": '""',
}


def missing() -> str | None:
    """Why HylaFAX cannot run here (``None``: it can)."""
    for path in (FAXQ, HFAXD, FAXGETTY, SENDFAX, FAXSEND, f"{LIBBIN}/tiffcheck"):
        if not os.access(path, os.X_OK):
            return f"{path} (Debian package hylafax-server, hylafax-client)"
    if not (SYSTEM_SPOOL / "bin").is_dir():
        return f"{SYSTEM_SPOOL}/bin (Debian package hylafax-server)"
    try:
        pwd.getpwnam(FAX_USER)
    except KeyError:
        return f"the fax user {FAX_USER!r}"
    if os.getuid() != 0:
        return "root (HylaFAX's daemons need real uid root)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device_id(tty: str) -> str:
    """HylaFAX's name for a modem on ``tty`` (``/dev/pts/5`` -> ``pts_5``)."""
    dev = tty[len("/dev/"):] if tty.startswith("/dev/") else tty
    return dev.replace("/", "_")


def _config_text(values: Mapping[str, str]) -> str:
    return "".join(f"{k}:\t{v}\n" for k, v in values.items())


def read_qfile(path: Path) -> dict[str, str]:
    """A HylaFAX q file (``name:value`` lines) as a dict; repeated names keep the last."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value
    return out


class HylaFaxError(RuntimeError):
    pass


class HylaFax:
    """A HylaFAX server on a private spool under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, *, number: str = "+1.555.0100") -> None:
        self.spool = Path(root)
        self.number = number
        self.port: int | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        user = pwd.getpwnam(FAX_USER)
        self.uid, self.gid = user.pw_uid, user.pw_gid
        self._setup()

    # ---- the spool -----------------------------------------------------------------------

    def _setup(self) -> None:
        sp = self.spool
        sp.mkdir(parents=True, exist_ok=True)
        for d in QUEUE_DIRS:
            (sp / d).mkdir(exist_ok=True)
        for script in (SYSTEM_SPOOL / "bin").iterdir():
            shutil.copy2(script, sp / "bin" / script.name)
        # no mail, no external programs: a line in log/events is enough for the tests
        for name in ("notify", "faxrcvd", "pollrcvd", "wedged"):
            p = sp / "bin" / name
            p.write_text(f'#!/bin/sh\necho "{name} $*" >> log/events\nexit 0\n')
            p.chmod(0o755)
        for name in ("dialrules", "pagesizes", "typerules", "cover.templ", "faxcover.ps",
                     "faxmail.ps", "lutRS18.pcf"):
            src = SYSTEM_ETC / name
            if src.exists():
                shutil.copy2(src, sp / "etc" / name)
        # the scripts source etc/setup.cache: our spool, and the real programs (not the
        # /usr/sbin wrappers that bind-mount /etc/hylafax)
        cache = (SYSTEM_ETC / "setup.cache").read_text()
        cache = re.sub(r"^SPOOL=.*$", f"SPOOL='{sp}'", cache, flags=re.M)
        cache = re.sub(r"^SBIN=.*$", f"SBIN='{LIBBIN}'", cache, flags=re.M)
        (sp / "etc" / "setup.cache").write_text(cache)
        (sp / "etc" / "config").write_text(_config_text({
            "LogFacility": "daemon",
            "CountryCode": "1",
            "AreaCode": "555",
            "LongDistancePrefix": "1",
            "InternationalPrefix": "011",
            "ServerTracing": "0x1",
            "SendFaxCmd": FAXSEND,
            "NotifyCmd": "bin/notify",
            "UUCPLockDir": str(sp / "lock"),
            # one try, no waiting between tries: a test wants the first call's outcome
            "MaxTries": "1",
            "MaxDials": "1",
            "JobReqBusy": "1",
            "JobReqNoAnswer": "1",
            "JobReqNoCarrier": "1",
            "JobReqProto": "1",
            "JobReqOther": "1",
        }))
        # hfaxd: connections from this host need no password
        hosts = sp / "etc" / "hosts.hfaxd"
        hosts.write_text("127.0.0.1\nlocalhost\n")
        hosts.chmod(0o600)
        (sp / "etc" / "xferfaxlog").touch()
        for dirpath, _dirs, filenames in os.walk(sp):
            os.chown(dirpath, self.uid, self.gid)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), self.uid, self.gid)
        (sp / "tmp").chmod(0o1777)

    def add_modem(self, tty: str, **settings: str) -> str:
        """Write ``etc/config.<id>`` for a Class 1 modem on ``tty`` (``settings`` add to
        or override :data:`MODEM_CONFIG`); the tty is given to the fax user. Returns the
        device id."""
        dev = device_id(tty)
        values = {
            "CountryCode": "1",
            "AreaCode": "555",
            "LongDistancePrefix": "1",
            "InternationalPrefix": "011",
            "FAXNumber": self.number,
            "ServerTracing": "0x1",
            "SessionTracing": "0xFFF",
            "RecvFileMode": "0644",
            "LogFileMode": "0644",
            "DeviceMode": "0600",
            "UUCPLockDir": str(self.spool / "lock"),
            "FaxRcvdCmd": "bin/faxrcvd",
            **MODEM_CONFIG,
            **settings,
        }
        path = self.spool / "etc" / f"config.{dev}"
        path.write_text(_config_text(values))
        os.chown(path, self.uid, self.gid)
        os.chown(tty, self.uid, self.gid)
        return dev

    # ---- daemons -------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        if name in self.procs and self.procs[name].poll() is None:
            raise HylaFaxError(f"{name} is already running")
        out = open(self.spool / "log" / f"{name}.out", "ab")  # noqa: SIM115 (kept by Popen)
        try:
            proc = subprocess.Popen(argv, cwd=self.spool, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            out.close()
        self.procs[name] = proc
        log.info("started %s (pid %d)", " ".join(argv), proc.pid)
        return proc

    def start_faxq(self) -> None:
        # -D: stay in the foreground (else faxq forks and its pid is not ours to stop)
        self._start("faxq", [FAXQ, "-D", "-q", str(self.spool)])
        self._wait_for(lambda: (self.spool / "FIFO").exists(), 10, "faxq's FIFO")

    def start_hfaxd(self) -> int:
        self.port = free_port()
        # -d: in the foreground, as faxq; loopback only
        self._start("hfaxd", [HFAXD, "-d", "-q", str(self.spool), "-l", "127.0.0.1",
                              "-i", str(self.port)])

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        self._wait_for(listening, 10, f"hfaxd on port {self.port}")
        return self.port

    def start_faxgetty(self, dev: str) -> None:
        """faxgetty on the modem ``dev`` (a device id from :meth:`add_modem`); returns
        once it has initialised the modem (its status file says so)."""
        tty = "/dev/" + dev.replace("_", "/")
        self._start(f"faxgetty.{dev}", [FAXGETTY, "-q", str(self.spool), tty])
        self.wait_idle(dev)

    def wait_idle(self, dev: str, timeout: float = 60.0) -> None:
        """Wait until faxgetty has the modem ``dev`` initialised and idle (after start,
        or after a call, when it resets the modem)."""
        status = self.spool / "status" / dev

        def idle() -> bool:
            try:
                return "Running and idle" in status.read_text(errors="replace")
            except OSError:
                return False

        self._wait_for(idle, timeout, f"faxgetty on {dev} to be idle")

    def _wait_for(self, cond, seconds: float, what: str) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cond():
                return
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise HylaFaxError(f"{name} exited with {p.returncode} while waiting "
                                       f"for {what}: {self.daemon_output(name)[-2000:]}")
            time.sleep(0.1)
        raise HylaFaxError(f"timed out waiting for {what}")

    def daemon_output(self, name: str) -> str:
        p = self.spool / "log" / f"{name}.out"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """End the daemons this object started, with what they started (faxq's
        ``faxsend`` is in faxq's process group): SIGTERM to each daemon's group, then,
        once the daemon has exited (not yet reaped, so its pid, the group's id, cannot
        have been reused) or after ``timeout``, SIGKILL to what is left of the group."""
        for p in self.procs.values():
            self._signal_group(p, signal.SIGTERM)
        end = time.monotonic() + timeout
        for p in self.procs.values():
            while p.returncode is None and time.monotonic() < end:
                try:
                    info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    break
                if info is not None:
                    break
                time.sleep(0.05)
            if p.returncode is None:
                self._signal_group(p, signal.SIGKILL)
            p.wait(5)
        self.procs.clear()

    @staticmethod
    def _signal_group(p: subprocess.Popen, sig: int) -> None:
        # start_new_session: the daemon leads its own process group, id = its pid
        if p.returncode is not None:
            return  # reaped: that id may belong to someone else now
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass

    def __enter__(self) -> HylaFax:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- jobs and received faxes ---------------------------------------------------------

    def sendfax(self, files: Iterable[str | os.PathLike], number: str, *,
                extra: Iterable[str] = ()) -> str:
        """Submit a job with ``sendfax`` through hfaxd (no cover page); its job id."""
        if self.port is None:
            raise HylaFaxError("start_hfaxd() first")
        argv = [SENDFAX, "-h", f"127.0.0.1:{self.port}", "-n", "-N", "-t", "1", "-T", "1",
                *extra, "-d", number, *map(str, files)]
        env = dict(os.environ, FAXUSER="faxcore")
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        m = re.search(r"request id is (\d+)", run.stdout + run.stderr)
        if run.returncode != 0 or not m:
            raise HylaFaxError(f"sendfax failed ({run.returncode}): "
                               f"{(run.stdout + run.stderr)[-2000:]}")
        return m.group(1)

    def job(self, job: str) -> dict[str, str] | None:
        """The job's q file (in sendq or doneq) as a dict, or None."""
        for d in ("doneq", "sendq"):
            p = self.spool / d / f"q{job}"
            if p.exists():
                try:
                    return read_qfile(p)
                except OSError:
                    continue
        return None

    def wait_job(self, job: str, timeout: float) -> dict[str, str]:
        """Wait until the job is done or failed; its q file. HylaFaxError on time-out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            q = self.job(job)
            if q and q.get("state", "").strip().isdigit() and \
                    int(q["state"]) in (JOB_DONE, JOB_FAILED) and \
                    (self.spool / "doneq" / f"q{job}").exists():
                return q
            time.sleep(0.25)
        raise HylaFaxError(f"job {job} not finished after {timeout:.0f} s: {self.job(job)}")

    def received(self) -> list[Path]:
        """The faxes faxgetty has received (``recvq/fax*.tif``), oldest first."""
        return sorted((self.spool / "recvq").glob("fax*.tif"))

    def wait_received(self, count: int, timeout: float) -> list[Path]:
        """Wait until ``count`` faxes are in recvq and faxgetty has finished with them
        (the received-fax script has run for each); HylaFaxError on time-out."""
        events = self.spool / "log" / "events"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done = events.read_text().count("faxrcvd ") if events.exists() else 0
            if done >= count:
                return self.received()
            time.sleep(0.25)
        raise HylaFaxError(f"{count} fax(es) not received after {timeout:.0f} s "
                           f"(recvq: {[p.name for p in self.received()]})")

    def session_log_names(self) -> set[str]:
        """The calls' protocol logs there are now (``log/c*``, one per call)."""
        return {p.name for p in (self.spool / "log").glob("c*")}

    def session_logs(self, exclude: set[str] = frozenset()) -> str:
        """The calls' protocol logs (``log/c*``) but those named in ``exclude`` (what
        :meth:`session_log_names` gave before a call: then only that call's)."""
        parts = []
        for p in sorted((self.spool / "log").glob("c*")):
            if p.name not in exclude:
                parts.append(f"==== {p.name}\n{p.read_text(errors='replace')}")
        return "\n".join(parts)


class _Silence:
    """A far end for a call nobody expected: silence (the call fails, visibly)."""

    done = True

    def tx(self, n: int):
        import numpy as np

        return np.zeros(n, np.int16)

    def rx(self, samples) -> None:
        pass


class Rig:
    """HylaFAX on faxcore's emulated Class 1 modem: a :class:`~faxcore.class1.pty.PtyModem`
    whose line goes to a faxcore station, and faxq, hfaxd and faxgetty on its pty, in a
    new spool under ``/tmp`` (the fax user must be able to reach it). Several calls can
    share one rig: before each, set :attr:`far_end` (``far_end(dialled)`` makes the
    faxcore station for the call, as ``PtyModem``'s), :attr:`PtyModem.data_speed` on
    :attr:`emu`, and :meth:`ring` for a call into faxgetty. :meth:`close` stops the
    daemons and the emulator and removes the spool. ``modem_settings`` add to or override
    :data:`MODEM_CONFIG` in the modem's config file (e.g. ``Class1JBIGSupport``)."""

    def __init__(self, *, data_speed: float | None = None,
                 modem_settings: Mapping[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="faxcore-hylafax-"))
        self.root.chmod(0o755)  # the daemons run as the fax user
        self.far_end = None
        self.stations: list[object] = []
        self.emu = PtyModem(self._far, data_speed=data_speed)
        self.hf = HylaFax(self.root / "spool")
        try:
            self.dev = self.hf.add_modem(self.emu.path, **(modem_settings or {}))
            self.emu.start()
            self.hf.start_faxq()
            self.hf.start_hfaxd()
            self.hf.start_faxgetty(self.dev)
        except BaseException:
            self.close()
            raise

    def _far(self, dialled: bool):
        self.emu.ring = False  # one call per ring()
        make, self.far_end = self.far_end, None
        station = make(dialled) if make is not None else _Silence()
        self.stations.append(station)
        return station

    def ring(self) -> None:
        """Ring faxgetty (the emulator says RING until it answers); :attr:`far_end`
        must be set."""
        self.emu.ring = True

    def close(self) -> None:
        try:
            self.hf.stop()
        finally:
            self.emu.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
