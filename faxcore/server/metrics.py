"""Prometheus metrics (``GET /metrics``): attempts by result and transport, pages
confirmed, jobs by state, busy lines per channel, billing refusals, faxes received.

Counters count what this process did; the gauges (jobs by state, busy lines) are read
from the database at each scrape, so every worker reports the same totals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from faxcore.server import model


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter("faxcore_attempts", "Call attempts by result and transport",
                                ["result", "transport"], registry=r)
        self.pages = Counter("faxcore_pages_confirmed", "Pages confirmed by the far end (MCF)",
                             registry=r)
        self.refusals = Counter("faxcore_billing_refusals",
                                "Submissions or dials refused by the account gate",
                                ["where"], registry=r)
        self.received_faxes = Counter("faxcore_received_faxes", "Faxes received",
                                      ["state"], registry=r)
        self.received_pages = Counter("faxcore_received_pages", "Pages received", registry=r)
        self.jobs = Gauge("faxcore_jobs", "Send jobs by state", ["state"], registry=r)
        self.busy = Gauge("faxcore_busy_lines", "Lines in use by channel", ["channel"],
                          registry=r)

    def job_event(self, event: str, job: Any, data: Mapping[str, Any]) -> None:
        if event == "attempt":
            att = data["attempt"]
            self.attempts.labels(att.result or "", att.transport or "").inc()
        elif event == "page":
            self.pages.inc()
        elif event == "state" and data["new"] == model.HELD_BILLING:
            self.refusals.labels("dial").inc()

    def received(self, fax: Any) -> None:
        self.received_faxes.labels(fax.state).inc()
        self.received_pages.inc(fax.pages)

    def render(self, by_state: Callable[[], dict[str, int]],
               busy: Callable[[], dict[str, int]], channels: list[str]) -> bytes:
        counts = by_state()
        for s in model.STATES:
            self.jobs.labels(s).set(counts.get(s, 0))
        lines = busy()
        for c in channels:
            self.busy.labels(c).set(lines.get(c, 0))
        return generate_latest(self.registry)
