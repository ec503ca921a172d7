"""A real, throw-away PostgreSQL server for the tests and the accounts/jobs benchmarks.

Uses Debian's server binaries (``/usr/lib/postgresql/<ver>/bin``). PostgreSQL refuses
to run as root, so as root the server runs as an unprivileged system user
(``faxcore-pg``, created if needed) through ``runuser``. Each caller gets its own
temporary data directory, a free loopback port and its unix socket inside the data
directory, so two pytest-xdist workers each start their own server safely.

:func:`start_server` raises :class:`PostgresMissing` when PostgreSQL is not installed.
The tests get a server through the ``postgres_server`` / ``pg_url`` fixtures of
tests/conftest.py (a missing PostgreSQL skips locally and fails in CI).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PG_USER = "faxcore-pg"


class PostgresMissing(FileNotFoundError):
    """The PostgreSQL server binaries (Debian: postgresql) are not installed."""


def find_bindir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()])
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_user() -> str:
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        # Two workers may race here: a failed useradd is fine if the user now exists.
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_USER], capture_output=True, check=False)
        pwd.getpwnam(PG_USER)
    return PG_USER


@dataclass
class PgServer:
    bindir: str
    datadir: str
    port: int
    user: str | None  # OS user running the server (None: ourselves)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        if self.user:
            return ["runuser", "-u", self.user, "--", *args]
        return list(args)

    def stop(self) -> None:
        subprocess.run(self._cmd(os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                                 "-m", "immediate", "-w", "stop"),
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)


def start_server() -> PgServer:
    """Start a private PostgreSQL; raises RuntimeError (or PostgresMissing if not installed)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresMissing("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    user = _ensure_user() if os.geteuid() == 0 else None
    # the server's user must reach its directory: $TMPDIR may be private to root
    top = tempfile.mkdtemp(prefix="faxcore-pg-",
                           dir="/tmp" if user and os.path.isdir("/tmp") else None)
    os.chmod(top, 0o755)
    datadir = os.path.join(top, "data")
    os.mkdir(datadir, 0o700)
    if user:
        pw = pwd.getpwnam(user)
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
    server = PgServer(bindir, datadir, 0, user)
    init = subprocess.run(server._cmd(os.path.join(bindir, "initdb"), "-D", datadir, "-U",
                                      "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"),
                          capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        shutil.rmtree(top, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
    last_err = ""
    for _attempt in range(5):
        server.port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {datadir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=50 -c shared_buffers=32MB")
        start = subprocess.run(server._cmd(os.path.join(bindir, "pg_ctl"), "-D", datadir,
                                           "-o", opts, "-l", os.path.join(datadir, "server.log"),
                                           "-w", "-t", "60", "start"),
                               capture_output=True, text=True, timeout=90)
        if start.returncode == 0:
            return server
        try:
            with open(os.path.join(datadir, "server.log")) as f:
                last_err = f.read()[-2000:]
        except OSError:
            last_err = start.stderr
        time.sleep(0.2)  # port taken between probing and binding: try another one
    shutil.rmtree(top, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last_err}")


@contextmanager
def server_url(url: str | None = None) -> Iterator[str]:
    """``url`` if given, else the URL of a private server started here and stopped on exit
    (the benchmarks' ``--pg-url`` option: measure a given server or a throw-away one)."""
    if url is not None:
        yield url
        return
    server = start_server()
    try:
        yield server.url
    finally:
        server.stop()


def new_schema_url(server_url: str) -> str:
    """A URL whose connections use a fresh, empty schema (a fresh database, cheaply)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{server_url}?options=-csearch_path%3D{name}"
