"""``faxcore serve`` throughput: API latency of submissions and jobs/s submit -> delivered
on the loopback channel, whose calls are two T.30 engines in virtual time (no DSP), so
the scheduler, the database and the page journal are what is measured.

For each back end (SQLite WAL with synchronous=FULL, the default; PostgreSQL when
installed: a private throw-away server, fsync off, or ``--pg-url``):

1. a real uvicorn on a free port; ``--jobs`` one-page faxes submitted one after another
   over HTTP (httpx), each to its own number: p50/p99/max latency of ``POST /v1/faxes``
   (which reads the upload, writes its TIFF-F and PDF durably and inserts the job);
2. the same jobs delivered by the scheduler: one worker, then (a second batch) four
   worker threads; jobs/s (wall) and CPU ms per job.

3. ``--load N``: the issue's load test: N jobs submitted at once by 16 concurrent
   clients against a loopback channel of 16 lines with 4 workers running; all must be
   delivered once (one attempt and one journal row per page each); API p99 printed.

    python benchmarks/service.py [--jobs 200] [--no-pg] [--pg-url URL] [--load 1000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from _common import print_header

from faxcore.codecs.tiff import Page, tiff_bytes
from faxcore.server.config import ChannelConfig, ServerConfig
from faxcore.server.service import Service
from faxcore.testing import pg
from faxcore.testing.pages import letter_page

ADMIN = "bench-admin"


class RunningServer:
    def __init__(self, service: Service) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(service.app(), log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def submit_batch(http: httpx.Client, key: str, n: int, doc: bytes, first: int) -> list[float]:
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        r = http.post("/v1/faxes", headers={"authorization": f"Bearer {key}"},
                      data={"to": f"+1555{first + i:07d}"},
                      files={"files": ("p.tif", doc, "image/tiff")})
        lat.append(time.perf_counter() - t0)
        if r.status_code != 202:
            raise SystemExit(f"submission failed: {r.status_code} {r.text}")
    return lat


def wait_delivered(service: Service, total: int, timeout: float = 600) -> None:
    q = service.queue()
    deadline = time.monotonic() + timeout
    while q.count_by_state().get("delivered", 0) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"not delivered in {timeout} s: {q.count_by_state()}")
        time.sleep(0.02)


def run_backend(label: str, db: str | None, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = ServerConfig(data_dir=tmp, db=db or f"sqlite:///{Path(tmp) / 'faxcore.db'}",
                           admin_token=ADMIN)
        service = Service(cfg)
        server = RunningServer(service)
        doc = tiff_bytes([Page(letter_page(600, 5))])
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                acct = http.post("/v1/admin/accounts", json={"credit_limit_cents": 10**9},
                                 headers={"authorization": f"Bearer {ADMIN}"}).json()
                lat = submit_batch(http, acct["api_key"], jobs, doc, 0)
                c0, w0 = time.process_time(), time.perf_counter()
                done = service.scheduler.run_due()
                one_wall, one_cpu = time.perf_counter() - w0, time.process_time() - c0
                assert done == jobs, done
                lat += submit_batch(http, acct["api_key"], jobs, doc, jobs)
                c0, w0 = time.process_time(), time.perf_counter()
                service.scheduler.start(4)
                wait_delivered(service, 2 * jobs)
                four_wall, four_cpu = time.perf_counter() - w0, time.process_time() - c0
                service.scheduler.stop()
        finally:
            server.stop()
            service.close()
    lat_ms = sorted(x * 1000 for x in lat)
    p99 = lat_ms[min(len(lat_ms) - 1, int(round(0.99 * len(lat_ms))) - 1)]
    res = {"p50": statistics.median(lat_ms), "p99": p99, "max": lat_ms[-1],
           "jps1": jobs / one_wall, "cpu1": one_cpu / jobs * 1000,
           "jps4": jobs / four_wall, "cpu4": four_cpu / jobs * 1000}
    print(f"{label:<10} POST /v1/faxes ({2 * jobs} sequential): p50 {res['p50']:6.1f} ms, "
          f"p99 {res['p99']:6.1f} ms, max {res['max']:6.1f} ms")
    print(f"{'':<10} submit->delivered: 1 worker {res['jps1']:6.1f} jobs/s "
          f"({res['cpu1']:.1f} ms CPU/job); 4 workers {res['jps4']:6.1f} jobs/s "
          f"({res['cpu4']:.1f} ms CPU/job, all threads)", flush=True)
    return res


def run_load(label: str, db: str | None, jobs: int, clients: int = 16) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = ServerConfig(data_dir=tmp, db=db or f"sqlite:///{Path(tmp) / 'faxcore.db'}",
                           admin_token=ADMIN, channels=[ChannelConfig(capacity=16)])
        service = Service(cfg)
        server = RunningServer(service)
        doc = tiff_bytes([Page(letter_page(600, 5))])
        try:
            with httpx.Client(base_url=server.url, timeout=120,
                              limits=httpx.Limits(max_connections=clients)) as http:
                acct = http.post("/v1/admin/accounts", json={"credit_limit_cents": 10**9},
                                 headers={"authorization": f"Bearer {ADMIN}"}).json()
                service.scheduler.start(4)
                w0 = time.perf_counter()
                shares = [jobs // clients + (k < jobs % clients) for k in range(clients)]
                starts = [sum(shares[:k]) for k in range(clients)]
                with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                    parts = list(pool.map(lambda k: submit_batch(http, acct["api_key"],
                                                                 shares[k], doc, starts[k]),
                                          range(clients)))
                submit_wall = time.perf_counter() - w0
                wait_delivered(service, jobs)
                wall = time.perf_counter() - w0
                service.scheduler.stop()
            db_ = service.store().db
            attempts, distinct = db_.one("SELECT count(*), count(DISTINCT job_id) "
                                         "FROM fax_attempts")
            pages = db_.one("SELECT count(*) FROM fax_pages")[0]
        finally:
            server.stop()
            service.close()
    lat = sorted(x * 1000 for part in parts for x in part)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)]
    n = jobs
    print(f"{label:<10} load: {n} jobs from {clients} concurrent clients, 16 lines, 4 workers: "
          f"submitted in {submit_wall:.1f} s, all delivered in {wall:.1f} s "
          f"({n / wall:.1f} jobs/s); API p50 {statistics.median(lat):.0f} ms, p99 {p99:.0f} ms; "
          f"attempts {attempts} for {distinct} jobs, {pages} pages journaled", flush=True)
    assert attempts == distinct == n and pages == n, "a job was tried or journaled twice"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--pg-url", default=None)
    ap.add_argument("--load", type=int, default=0, metavar="N",
                    help="also the load test: N jobs from 16 concurrent clients")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print_header(f"faxcore serve, loopback channel (virtual-time engines), {args.jobs} "
                 "one-page jobs per batch")
    lite = run_backend("SQLite", None, args.jobs)
    if args.load:
        run_load("SQLite", None, args.load)
    if args.no_pg:
        return
    try:
        with pg.server_url(args.pg_url) as url:
            post = run_backend("PostgreSQL", pg.new_schema_url(url), args.jobs)
            if args.load:
                run_load("PostgreSQL", pg.new_schema_url(url), args.load)
    except (pg.PostgresMissing, RuntimeError) as exc:
        print(f"PostgreSQL not measured: {exc}")
        return
    print(f"ratios SQLite/PostgreSQL: API p99 {lite['p99'] / post['p99']:.2f}, jobs/s 1 worker "
          f"{lite['jps1'] / post['jps1']:.2f}, 4 workers {lite['jps4'] / post['jps4']:.2f}")


if __name__ == "__main__":
    main()
