"""A real cupsd for tests, on a temporary directory and a free TCP port (no system cupsd,
no domain socket): its own cupsd.conf and cups-files.conf (cupsd(8), cups-files.conf(5)),
ServerBin a directory whose backend/ holds only the backends we install (filter/, daemon/
and the rest are links to the system's), no authentication (DefaultAuthType None, a
default policy that allows everything) so ``lpadmin``/``lp -h`` work without root's
local certificate. cupsd runs as root in the foreground (``-f``) and drops to ``User lp``
for backends of mode 0755 (0700 ones run as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CUPSD = "/usr/sbin/cupsd"
SYSTEM_SERVERBIN = Path("/usr/lib/cups")


class CupsDaemon:
    def __init__(self, port: int) -> None:
        self.port = port
        # not under pytest's tmp_path: that is 0700, and backends run as lp must reach
        # TempDir and RequestRoot
        self.root = Path(tempfile.mkdtemp(prefix="faxcore-cupsd-"))
        os.chmod(self.root, 0o755)
        r = self.root
        for d in ("etc/ppd", "serverbin/backend", "spool/tmp", "state", "cache", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        for d in ("filter", "daemon", "cgi-bin", "notifier", "monitor", "driver"):
            if (SYSTEM_SERVERBIN / d).exists():
                (r / "serverbin" / d).symlink_to(SYSTEM_SERVERBIN / d)
        for d in r.rglob("*"):
            if d.is_dir() and not d.is_symlink():
                os.chmod(d, 0o755)
        (r / "etc/cupsd.conf").write_text(f"""\
Listen 127.0.0.1:{port}
LogLevel debug
WebInterface No
Browsing No
BrowseLocalProtocols none
DefaultAuthType None
DefaultEncryption Never
JobRetryInterval 5
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
""")
        (r / "etc/cups-files.conf").write_text(f"""\
ServerRoot {r}/etc
ServerBin {r}/serverbin
StateDir {r}/state
CacheDir {r}/cache
RequestRoot {r}/spool
TempDir {r}/spool/tmp
AccessLog {r}/log/access_log
ErrorLog {r}/log/error_log
PageLog {r}/log/page_log
User lp
Group lp
""")
        self.proc: subprocess.Popen | None = None

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def backend_dir(self) -> Path:
        return self.root / "serverbin" / "backend"

    @property
    def error_log(self) -> str:
        p = self.root / "log" / "error_log"
        return p.read_text(errors="replace") if p.exists() else ""

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(
            [CUPSD, "-f", "-c", str(self.root / "etc/cupsd.conf"),
             "-s", str(self.root / "etc/cups-files.conf")],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "log/stderr", "wb"))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cupsd exited {self.proc.returncode}: "
                                   f"{(self.root / 'log/stderr').read_text()}"
                                   f"{self.error_log[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("cupsd did not listen in time")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A CUPS client command (lp, lpstat, lpadmin...) against this cupsd."""
        r = subprocess.run([args[0], "-h", self.server, *args[1:]], capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {r.returncode} {r.stdout} {r.stderr}")
        return r

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
