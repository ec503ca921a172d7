"""Sending through the HTTP API on the loopback channel (virtual-time engines): delivery,
the retry policy per dial result, exactly-once page by page, Idempotency-Key, cancel,
send-at, and a worker that dies mid-call. Pages are counted and compared pixel for pixel
at the receiving station (below the header band the sender stamps)."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.server.documents import HEADER_ROWS
from faxcore.server.loopback import BUSY_SECONDS
from faxcore.server.model import RetryPolicy

OTHER = "+15557770000"  # a number no account owns: a plain faxcore station answers


def same_below_header(got: np.ndarray, want: np.ndarray) -> bool:
    h = HEADER_ROWS["fine"]
    return got.shape == want.shape and np.array_equal(got[h:], want[h:])


def test_a_fax_is_delivered_to_another_accounts_inbox_as_tiff_pdf_and_png(harness):
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"])
    r = harness.submit(a, "+1 555 0200", 2, header="ACME Corp")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["to"] == "+15550200" and job["pages"] == 2
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "delivered"
    assert got["pages_confirmed"] == [1, 2]
    (att,) = got["attempts"]
    assert att["result"] == "delivered" and att["pages_confirmed"] == 2
    assert att["t30_status"] == "OK" and att["ecm"] is True and att["bit_rate"] == 14400
    assert att["transport"] == "virtual" and att["duration_s"] > 10
    # the sender is charged 2 pages at the plus plan's price, once
    assert harness.rows("SELECT kind, amount_cents, pages FROM ledger WHERE account_id = ? "
                        "AND kind = 'page_charge'", (a.id,)) == [("page_charge", 10, 1)] * 2
    inbox = harness.client.get("/v1/inbox", headers=b.auth).json()["faxes"]
    assert [(f["from"], f["to"], f["pages"], f["partial"]) for f in inbox] == \
        [("+15550100", "+15550200", 2, False)]
    fid = inbox[0]["id"]
    tif = harness.client.get(f"/v1/received/{fid}.tif", headers=b.auth)
    pages = read_tiff(tif.content)
    sent = harness.pages[job["id"]]
    assert len(pages) == 2
    for p, s in zip(pages, sent, strict=True):
        assert same_below_header(p.bitmap, s.bitmap)
        assert p.bitmap[:HEADER_ROWS["fine"]].any()  # the header line is there
    pdf = harness.client.get(f"/v1/received/{fid}.pdf", headers=b.auth)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"/CCITTFaxDecode" in pdf.content
    png = harness.client.get(f"/v1/received/{fid}.png?page=2", headers=b.auth)
    assert png.content.startswith(b"\x89PNG")
    # the sent document is kept as PDF too
    doc = harness.client.get(f"/v1/faxes/{job['id']}/document.pdf", headers=a.auth)
    assert doc.content.startswith(b"%PDF") and b"/CCITTFaxDecode" in doc.content
    # inbound is metered free for the receiver
    assert harness.rows("SELECT kind, amount_cents, pages FROM ledger WHERE account_id = ?",
                        (b.id,)) == [("inbound", 0, 2)]


@pytest.mark.server_options(faults={OTHER: {"kind": "busy", "times": 1}})
def test_busy_then_delivered_on_the_retry_three_minutes_later(harness):
    a = harness.account()
    job = harness.submit(a, OTHER, 1).json()
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "retry_wait" and got["dials"] == 1 and got["tries"] == 0
    assert got["attempts"][0]["result"] == "busy"
    assert got["attempts"][0]["duration_s"] == BUSY_SECONDS
    assert harness.run(179) == 0                      # not due yet: 180 s after busy
    assert harness.run(1) == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "delivered" and got["dials"] == 2
    assert [x["result"] for x in got["attempts"]] == ["busy", "delivered"]
    assert len(harness.channel.stations[OTHER].pages) == 1


@pytest.mark.server_options(faults={OTHER: {"kind": "no_answer"}},
                            retry=RetryPolicy(max_dials=3))
def test_no_answer_until_max_dials_fails_the_job(harness):
    a = harness.account()
    job = harness.submit(a, OTHER, 1).json()
    assert harness.run() == 1
    assert harness.run(299) == 0                      # 300 s after no answer
    assert harness.run(1) == 1
    assert harness.run(300) == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "failed" and got["dials"] == 3
    assert [x["result"] for x in got["attempts"]] == ["no_answer"] * 3
    assert "3 dials (max 3)" in got["reason"]
    assert harness.run(3600) == 0
    assert OTHER not in harness.channel.stations     # nothing ever answered
    assert harness.rows("SELECT count(*) FROM ledger WHERE account_id = ? AND "
                        "kind = 'page_charge'", (a.id,)) == [(0,)]


@pytest.mark.server_options(faults={OTHER: {"kind": "drop", "after_page": 2, "times": 1}})
def test_a_drop_after_page_2_of_4_resends_pages_3_and_4_only(harness):
    a = harness.account()
    job = harness.submit(a, OTHER, 4).json()
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "retry_wait" and got["tries"] == 1
    assert got["pages_confirmed"] == [1, 2]
    first = got["attempts"][0]
    assert first["result"] == "protocol_error" and first["pages_confirmed"] == 2
    assert "dropped" in first["hangup_cause"]
    assert harness.run(60) == 1                       # protocol error: 60 s
    got = harness.fax(a, job["id"])
    assert got["state"] == "delivered" and got["pages_confirmed"] == [1, 2, 3, 4]
    assert [x["pages_confirmed"] for x in got["attempts"]] == [2, 2]
    station = harness.channel.stations[OTHER]
    assert [len(c) for c in station.calls] == [2, 2]  # the receiving station's count
    sent = harness.pages[job["id"]]
    for got_page, want in zip(station.pages, sent, strict=True):
        assert same_below_header(got_page.bitmap, want.bitmap)
    # four pages charged, not six
    assert harness.rows("SELECT sum(pages) FROM ledger WHERE account_id = ? AND "
                        "kind = 'page_charge'", (a.id,)) == [(4,)]


def test_the_same_idempotency_key_never_makes_a_second_job(harness):
    a = harness.account()
    key = {"Idempotency-Key": "order-4711"}
    r1 = harness.submit(a, OTHER, 2, headers=key)
    r2 = harness.submit(a, OTHER, 2, headers=key)
    assert r1.status_code == 202 and r2.status_code == 200
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r1.json()["id"] == r2.json()["id"]
    r3 = harness.submit(a, "+15550999", 2, headers=key)   # same key, another request
    assert r3.status_code == 409
    assert r3.json()["error"]["code"] == "idempotency_conflict"
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(1,)]
    docs = sorted(p.suffix for p in (harness.data_dir / "documents").iterdir())
    assert docs == [".tif"]                                # no orphan documents
    harness.run()
    assert len(harness.channel.stations[OTHER].calls) == 1


def test_cancel_while_queued(harness):
    a = harness.account()
    job = harness.submit(a, OTHER, 1).json()
    r = harness.client.post(f"/v1/faxes/{job['id']}/cancel", headers=a.auth)
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    assert harness.run() == 0
    assert OTHER not in harness.channel.stations
    again = harness.client.post(f"/v1/faxes/{job['id']}/cancel", headers=a.auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancelable"


def test_cancel_during_the_call_stops_after_the_page_in_flight(harness):
    """The client cancels while page 1 of 3 is being confirmed (a listener does it, as a
    concurrent API request would): the call ends at once, the job is canceled, and only
    the confirmed page is charged."""
    a = harness.account()
    job = harness.submit(a, OTHER, 3).json()
    q = harness.service.queue()

    def cancel_on_first_page(event, j, data):
        if event == "page" and data["page"] == 1:
            q.cancel(j.id, a.id, harness.clock())

    harness.service.scheduler.listeners.append(cancel_on_first_page)
    harness.service.scheduler._local.queue = None  # pick the listener up
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "canceled"
    assert got["pages_confirmed"] == [1]
    assert "1 of 3" in got["reason"]
    assert got["attempts"][0]["hangup_cause"] == "canceled by the client"
    assert [len(c) for c in harness.channel.stations[OTHER].calls] == [1]
    assert harness.run(3600) == 0


def test_send_at_in_the_future_waits_for_its_time(harness):
    a = harness.account()
    job = harness.submit(a, OTHER, 1, send_at="2026-12-07T12:00:00Z").json()
    assert job["state"] == "scheduled"
    assert job["next_attempt_at"] == "2026-12-07T12:00:00+00:00"
    assert harness.run(3600) == 0                     # 11:00
    assert harness.fax(a, job["id"])["state"] == "scheduled"
    assert harness.run(3600) == 1                     # 12:00
    assert harness.fax(a, job["id"])["state"] == "delivered"


def test_a_worker_that_dies_mid_call_loses_its_lease_and_the_retry_sends_the_rest(harness):
    """A worker claims a 3-page job, journals page 1 (MCF), then dies (never finishes).
    After its lease expires the job is taken back and the retry sends pages 2-3 only."""
    a = harness.account()
    job = harness.submit(a, OTHER, 3).json()
    q = harness.service.queue()
    claim = q.claim(harness.clock(), "doomed-worker", {"loopback": 4}, lease_seconds=120)
    assert claim is not None and claim.pages_to_send == [1, 2, 3]
    q.answered(claim, harness.clock())
    q.page_confirmed(claim, 1, harness.clock())
    assert harness.run(60) == 0                       # lease still held: nothing to do
    assert harness.fax(a, job["id"])["state"] == "transmitting"
    assert harness.run(61) == 0                       # lease expired: retry_wait, 30 s
    got = harness.fax(a, job["id"])
    assert got["state"] == "retry_wait"
    assert got["attempts"][0]["hangup_cause"] == "worker lost (lease expired)"
    assert harness.run(30) == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "delivered" and got["pages_confirmed"] == [1, 2, 3]
    assert [len(c) for c in harness.channel.stations[OTHER].calls] == [2]
    assert harness.rows("SELECT sum(pages) FROM ledger WHERE account_id = ? AND "
                        "kind = 'page_charge'", (a.id,)) == [(3,)]
