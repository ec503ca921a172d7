"""Webhooks: the events of a job's life and of a received fax, signed as Standard
Webhooks (checked with the ``standardwebhooks`` package's verifier), delivered from the
outbox, and tried again with the same ``webhook-id`` after a failure. Also the
Prometheus metrics the same run produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

OTHER = "+15557770000"


@pytest.mark.server_options(faults={OTHER: {"kind": "busy", "times": 1}})
def test_job_events_are_signed_delivered_and_retried_with_the_same_id(harness):
    got: list[tuple[dict, dict]] = []
    fail_first = {"left": 1}

    def receiver(request: httpx.Request) -> httpx.Response:
        if fail_first["left"]:
            fail_first["left"] -= 1
            got.append((dict(request.headers), {"failed": True}))
            return httpx.Response(500)
        got.append((dict(request.headers), json.loads(request.content)))
        return httpx.Response(204)

    harness.service.webhooks.client = httpx.Client(transport=httpx.MockTransport(receiver))
    # the verifier wants a webhook-timestamp within 5 minutes of the real time
    harness.clock.now = datetime.now(UTC)
    a = harness.account()
    r = harness.client.put("/v1/account/webhook", json={"url": "https://hooks.example/fax"},
                           headers=a.auth)
    assert r.status_code == 200
    secret = r.json()["secret"]
    assert secret.startswith("whsec_")
    job = harness.submit(a, OTHER, 1).json()
    harness.run()                      # busy: attempt_failed, will retry
    harness.run(180)                   # delivered
    harness.run(5)                     # the failed delivery's retry
    delivered = [(h, b) for h, b in got if "failed" not in b]
    types = [b["type"] for _h, b in delivered]
    assert sorted(types) == ["fax.attempt_failed", "fax.delivered", "fax.queued"]
    wh = Webhook(secret)
    for headers, body in delivered:
        assert body["data"]["id"] == job["id"]
        wh.verify(json.dumps(body, separators=(",", ":")), headers)  # raises if forged
    failed_id = got[0][0]["webhook-id"]
    assert [h["webhook-id"] for h, b in got].count(failed_id) == 2   # retried, same id
    (attempt,) = [b for _h, b in delivered if b["type"] == "fax.attempt_failed"]
    assert attempt["data"]["will_retry"] is True and attempt["data"]["result"] == "busy"
    assert harness.rows("SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL") \
        == [(0,)]
    with pytest.raises(Exception, match="signature"):
        wh.verify(json.dumps({"type": "fax.delivered"}), delivered[0][0])

    metrics = harness.client.get("/metrics").text
    assert 'faxcore_attempts_total{result="busy",transport="virtual"} 1.0' in metrics
    assert 'faxcore_attempts_total{result="delivered",transport="virtual"} 1.0' in metrics
    assert 'faxcore_jobs{state="delivered"} 1.0' in metrics
    assert "faxcore_pages_confirmed_total 1.0" in metrics


def test_a_received_fax_is_announced(harness):
    got = []
    harness.service.webhooks.client = httpx.Client(transport=httpx.MockTransport(
        lambda req: got.append(json.loads(req.content)) or httpx.Response(200)))
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"])
    assert harness.client.put("/v1/account/webhook", json={"url": "http://b.example/in"},
                              headers=b.auth).status_code == 200
    harness.submit(a, "+15550200", 2)
    harness.run()
    assert [(e["type"], e["data"]["from"], e["data"]["pages"]) for e in got] == \
        [("fax.received", "+15550100", 2)]


def test_an_event_is_replayed_by_id_with_the_same_webhook_id(harness):
    got: list[tuple[str, dict]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        got.append((request.headers["webhook-id"], json.loads(request.content)))
        return httpx.Response(204)

    harness.service.webhooks.client = httpx.Client(transport=httpx.MockTransport(receiver))
    a = harness.account()
    b = harness.account()
    harness.client.put("/v1/account/webhook", json={"url": "https://hooks.example/fax"},
                       headers=a.auth)
    job = harness.submit(a, OTHER, 1).json()
    harness.run()
    assert sorted(body["type"] for _i, body in got) == ["fax.delivered", "fax.queued"]
    events = harness.client.get("/v1/webhooks/events", headers=a.auth).json()["events"]
    delivered = next(e for e in events if e["type"] == "fax.delivered")
    assert delivered["delivered_at"] is not None and delivered["tries"] == 1
    # another account cannot replay it; an unknown id is 404
    assert harness.client.post(f"/v1/webhooks/events/{delivered['id']}/replay",
                               headers=b.auth).status_code == 404
    assert harness.client.post("/v1/webhooks/events/msg_nope/replay",
                               headers=a.auth).status_code == 404
    r = harness.client.post(f"/v1/webhooks/events/{delivered['id']}/replay", headers=a.auth)
    assert r.status_code == 202
    n = len(got)
    harness.run()
    assert len(got) == n + 1
    wid, body = got[-1]
    assert wid == delivered["id"] and body["type"] == "fax.delivered"
    assert body["data"]["id"] == job["id"]
    harness.run(3600)
    assert len(got) == n + 1  # once, not again
