"""Two ``faxcore serve`` workers (child processes on one SQLite database and data
directory, each with a SIP channel) behind Kamailio's dispatcher module on loopback:
two callers (``faxcore sip send`` through Kamailio, digest-authenticated) fax two DIDs
at the same time; Kamailio spreads the INVITEs round robin, one to each worker, keeping
the Request-URI; each worker answers, routes by the DID and stores the fax in the
owning account's inbox, pages identical to what was sent. Then worker 2 is stopped and
a third call to it fails over to worker 1 (the dispatcher's failure route)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from faxcore.codecs import Page, read_tiff, write_tiff
from faxcore.testing.kamailio import KamailioMissing, free_udp_port, kamailio
from faxcore.testing.pages import small_page
from faxcore.testing.peers import missing

FAXCORE = [sys.executable, "-m", "faxcore"]
HOST = "127.0.0.1"
ADMIN = {"authorization": "Bearer dispatcher-admin"}
USERS = {"sender": "s3nder"}


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_worker(tmp: Path, n: int, sip_port: int, kam_port: int, env) -> tuple:
    http = free_tcp_port()
    cfg = tmp / f"worker{n}.toml"
    cfg.write_text(f"""
[server]
bind = "{HOST}:{http}"
db = "sqlite:///{tmp}/faxcore.db"
data_dir = "{tmp}/data"
admin_token = "dispatcher-admin"

[[channel]]
kind = "sip"
name = "trunk"
bind = "{HOST}:{sip_port}"
proxy = "{HOST}:{kam_port}"
capacity = 2
t38 = "prefer"
""")
    log = open(tmp / f"worker{n}.log", "wb")
    proc = subprocess.Popen([*FAXCORE, "serve", "--config", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    url = f"http://{HOST}:{http}"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError((tmp / f"worker{n}.log").read_text())
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("worker did not start: " + (tmp / f"worker{n}.log").read_text())


def send(tmp: Path, kam_port: int, did: str, env) -> subprocess.Popen:
    return subprocess.Popen(
        [*FAXCORE, "sip", "send", "--to", f"sip:{did}@{HOST}:{kam_port}", "--proxy",
         f"{HOST}:{kam_port}", "--user", "sender", "--password", USERS["sender"], "--bind",
         HOST, "--t38", "prefer", str(tmp / "doc.tif")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_serve_workers_behind_a_kamailio_dispatcher(tmp_path: Path):
    sip = [free_udp_port(), free_udp_port()]
    bitmaps = [small_page(5, rows=150)]
    write_tiff(tmp_path / "doc.tif", [Page(b, 204, 196) for b in bitmaps], "mh")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        kam_cm = kamailio(USERS, dispatch=[(HOST, p) for p in sip])
        k = kam_cm.__enter__()
    except KamailioMissing as exc:
        missing(str(exc))
        return
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        w1, url1, log1 = start_worker(tmp_path, 1, sip[0], k.port, env)
        procs.append(w1)
        logs.append(log1)
        w2, url2, log2 = start_worker(tmp_path, 2, sip[1], k.port, env)
        procs.append(w2)
        logs.append(log2)
        keys = {}
        for did in ("+15550200", "+15550300"):
            r = httpx.post(url1 + "/v1/admin/accounts", json={"numbers": [did]},
                           headers=ADMIN, timeout=30)
            assert r.status_code == 201, r.text
            keys[did] = {"authorization": f"Bearer {r.json()['api_key']}"}
        calls = [send(tmp_path, k.port, did, env) for did in keys]
        procs += calls
        for c in calls:
            out, err = c.communicate(timeout=150)
            assert c.returncode == 0, (out, err, k.log()[-3000:])
        # round robin: one INVITE to each worker, the Request-URI kept (the DID)
        dispatched = re.findall(r"dispatching INVITE sip:(\+\d+)@\S+ to sip:[\d.]+:(\d+)",
                                k.log())
        assert sorted(int(p) for _d, p in dispatched) == sorted(sip), k.log()[-3000:]
        for did, auth in keys.items():
            # either worker's API sees the other's faxes: one database
            for url in (url1, url2):
                faxes = wait_inbox(url, auth)
                assert [(f["to"], f["pages"]) for f in faxes] == [(did, 1)]
            tif = httpx.get(f"{url2}/v1/received/{faxes[0]['id']}.tif", headers=auth,
                            timeout=30)
            got = read_tiff(tif.content)
            for want, page in zip(bitmaps, got, strict=True):
                assert np.array_equal(want, page.bitmap)
        # worker 2 goes away: its share of the calls fails over to worker 1
        w2.terminate()
        w2.wait(30)
        calls = [send(tmp_path, k.port, did, env) for did in keys]
        procs += calls
        for c in calls:
            out, err = c.communicate(timeout=150)
            assert c.returncode == 0, (out, err, k.log()[-3000:])
        dispatched = re.findall(r"dispatching INVITE sip:(\+\d+)@\S+ to sip:[\d.]+:(\d+)",
                                k.log())
        # one of the two was first sent to the stopped worker, and delivered all the same
        assert len(dispatched) == 4 and sorted(int(p) for _d, p in dispatched[2:]) == \
            sorted(sip), dispatched
        for _did, auth in keys.items():
            assert len(wait_inbox(url1, auth, 2)) == 2
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in logs:
            log.close()
        kam_cm.__exit__(None, None, None)


def wait_inbox(url: str, auth: dict, n: int = 1, seconds: float = 30) -> list[dict]:
    end = time.monotonic() + seconds
    faxes: list[dict] = []
    while time.monotonic() < end:
        faxes = httpx.get(url + "/v1/inbox", headers=auth, timeout=30).json()["faxes"]
        if len(faxes) >= n:
            return faxes
        time.sleep(0.3)
    pytest.fail(f"inbox has {len(faxes)} fax(es), not {n}")
