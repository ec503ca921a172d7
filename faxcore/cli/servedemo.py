"""``faxcore serve --demo`` (what ``make demo`` runs): the fax service end to end.

1. starts ``faxcore serve`` as a separate process on embedded defaults (a temporary data
   directory with its SQLite database, the loopback channel, a free port, a random admin
   token), and shows its log lines (one per job state change) prefixed ``server |``;
2. creates two accounts through the admin API, each with a number and an API key;
3. submits ITU-T chart 1 (the built-in page when ``../shared`` is absent) and any files
   named, from the first account to the second account's number, through ``POST
   /v1/faxes``;
4. follows the job (``GET /v1/faxes/{id}``) until it is delivered or fails;
5. fetches the received fax from the second account's inbox as PDF, TIFF-F and PNG
   into ``out/demo/`` and checks the chart arrived pixel for pixel (below the header
   line the server stamps);
6. stops the server.

Not a subcommand module (``faxcore serve --demo`` calls it).
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from faxcore.cli import CliError
from faxcore.cli.demo import load_chart
from faxcore.cli.output import check_writable, out
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.server.documents import HEADER_ROWS

SENDER, RECIPIENT = "+15550100", "+15550200"
START_TIMEOUT = 60.0
JOB_TIMEOUT = 300.0


def _say(line: str) -> None:
    out(line, flush=True)


class _Server:
    """``faxcore serve`` in a child process; its log lines are shown as they come."""

    def __init__(self, data_dir: Path, token: str) -> None:
        env = dict(os.environ, FAXCORE_ADMIN_TOKEN=token)
        env.pop("FAXCORE_DB", None)  # the demo's database is its own, in data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faxcore", "serve", "--bind", "127.0.0.1:0",
             "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url: str | None = None
        self._ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip()
            if "listening on " in line and self.url is None:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self._ready.set()
            _say(f"      server | {line}")
        self._ready.set()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            line = line.rstrip()
            self.lines.append(line)
            _say(f"      server | {line.removeprefix('INFO ')}")

    def wait_ready(self) -> str:
        self._ready.wait(START_TIMEOUT)
        if self.url is None:
            self.stop()
            tail = "; ".join(self.lines[-3:]) or "no output"
            raise CliError(f"the server did not start ({tail})")
        return self.url

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn shuts down cleanly
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _check(r: httpx.Response, what: str) -> dict:
    if r.status_code >= 400:
        try:
            err = r.json()["error"]
            msg = f"{err['code']}: {err['message']}"
        except (ValueError, KeyError, TypeError):
            msg = r.text[:200]
        raise CliError(f"{what}: HTTP {r.status_code} {msg}")
    return r.json()


def run_service_demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    check_writable(out_dir / "received.pdf", "--out")
    name, chart = load_chart()
    uploads = [("chart.tif", tiff_bytes([Page(chart)], "mmr"))]
    for f in args.files:
        try:
            uploads.append((Path(f).name, Path(f).read_bytes()))
        except OSError as exc:
            raise CliError(f"cannot read {f}: {exc.strerror or exc}") from None
    with tempfile.TemporaryDirectory(prefix="faxcore-demo-") as tmp:
        token = secrets.token_urlsafe(16)
        _say(f"[1/6] starting faxcore serve (data and SQLite database in {tmp}, "
             "loopback channel)")
        server = _Server(Path(tmp), token)
        try:
            url = server.wait_ready()
            with httpx.Client(base_url=url, timeout=60.0) as http:
                code = _demo(http, token, name, chart, uploads, out_dir)
        finally:
            _say("[6/6] stopping the server")
            server.stop()
    return code


def _demo(http: httpx.Client, token: str, name: str, chart: np.ndarray,
          uploads: list[tuple[str, bytes]], out_dir: Path) -> int:
    admin = {"authorization": f"Bearer {token}"}
    _say("[2/6] creating two accounts through the admin API")
    alice = _check(http.post("/v1/admin/accounts", headers=admin,
                             json={"name": "Alice (sender)", "numbers": [SENDER]}),
                   "creating the sending account")
    bob = _check(http.post("/v1/admin/accounts", headers=admin,
                           json={"name": "Bob (recipient)", "numbers": [RECIPIENT]}),
                 "creating the receiving account")
    for who, acct in (("sender", alice), ("recipient", bob)):
        _say(f"      account {acct['id']} ({who}): number {acct['numbers'][0]}, API key "
             f"{acct['api_key'][:13]}...")
    a_auth = {"authorization": f"Bearer {alice['api_key']}"}
    b_auth = {"authorization": f"Bearer {bob['api_key']}"}

    _say(f"[3/6] POST /v1/faxes: {name}"
         + "".join(f" + {n}" for n, _ in uploads[1:]) + f", to {RECIPIENT}")
    job = _check(http.post("/v1/faxes", headers={**a_auth, "Idempotency-Key": "demo-1"},
                           data={"to": RECIPIENT, "header": "faxcore demo"},
                           files=[("files", (n, d, "application/octet-stream"))
                                  for n, d in uploads]),
                 "submitting the fax")
    _say(f"      fax {job['id']}: {job['pages']} page(s), state {job['state']}")

    _say(f"[4/6] following fax {job['id']}")
    seen = job["state"]
    deadline = time.monotonic() + JOB_TIMEOUT
    while job["state"] not in ("delivered", "failed", "canceled", "expired"):
        if time.monotonic() > deadline:
            raise CliError(f"fax {job['id']} still {job['state']} after {JOB_TIMEOUT:.0f} s")
        time.sleep(0.2)
        job = _check(http.get(f"/v1/faxes/{job['id']}", headers=a_auth), "reading the fax")
        if job["state"] != seen:
            seen = job["state"]
            _say(f"      fax {job['id']}: {seen}")
    for a in job["attempts"]:
        _say(f"      attempt {a['n']}: {a['result']}, {a['modulation'] or '-'} "
             f"{'ECM' if a['ecm'] else 'no ECM'}, pages confirmed {a['pages_confirmed']}, "
             f"T.30 {a['t30_status'] or '-'}, {a['duration_s']:.1f} s on the line "
             f"({a['transport']})")
    if job["state"] != "delivered":
        raise CliError(f"fax {job['id']} {job['state']}: {job['reason']}")

    _say(f"[5/6] GET /v1/inbox of account {bob['id']}, the fax as PDF, TIFF-F and PNG")
    inbox = _check(http.get("/v1/inbox", headers=b_auth), "reading the inbox")["faxes"]
    if not inbox:
        raise CliError("the recipient's inbox is empty")
    fax = inbox[0]
    _say(f"      received fax {fax['id']} from {fax['from']}: {fax['pages']} page(s)")
    files = {"received.pdf": fax["links"]["pdf"], "received.tif": fax["links"]["tif"]}
    written = []
    for fname, link in files.items():
        r = http.get(link, headers=b_auth)
        _check_binary(r, fname)
        (out_dir / fname).write_bytes(r.content)
        written.append(out_dir / fname)
    for n in range(1, fax["pages"] + 1):
        r = http.get(f"{fax['links']['png']}?page={n}", headers=b_auth)
        _check_binary(r, f"page {n} as PNG")
        (out_dir / f"page-{n}.png").write_bytes(r.content)
        written.append(out_dir / f"page-{n}.png")
    for p in written:
        _say(f"      {p} ({p.stat().st_size} bytes)")
    got = read_tiff(io.BytesIO((out_dir / "received.tif").read_bytes()))[0].bitmap
    h = HEADER_ROWS["fine"]
    if got.shape != chart.shape or not np.array_equal(got[h:], chart[h:]):
        raise CliError("the received chart differs from the one sent")
    _say(f"      checked: page 1 equals the chart sent, pixel for pixel below the "
         f"{h}-row header line")
    _say(f"demo output is in {out_dir.resolve()}")
    return 0


def _check_binary(r: httpx.Response, what: str) -> None:
    if r.status_code != 200:
        _check(r, f"fetching {what}")
        raise CliError(f"fetching {what}: HTTP {r.status_code}")
