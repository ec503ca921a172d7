"""The server's queue, journal, gate and inbound routing on PostgreSQL (the same
scenarios as on SQLite, through the HTTP API): claims under the advisory lock, the page
journal and its charges in one transaction, held_billing and release."""

from __future__ import annotations

import pytest

OTHER = "+15557770000"


@pytest.mark.server_options(faults={OTHER: {"kind": "drop", "after_page": 2, "times": 1}})
def test_postgres_drop_after_page_2_of_4_resends_pages_3_and_4_only(pg_harness):
    h = pg_harness
    a = h.account()
    job = h.submit(a, OTHER, 4, headers={"Idempotency-Key": "k1"}).json()
    assert h.submit(a, OTHER, 4, headers={"Idempotency-Key": "k1"}).status_code == 200
    assert h.run() == 1
    assert h.fax(a, job["id"])["pages_confirmed"] == [1, 2]
    assert h.run(60) == 1
    got = h.fax(a, job["id"])
    assert got["state"] == "delivered"
    assert [x["pages_confirmed"] for x in got["attempts"]] == [2, 2]
    assert [len(c) for c in h.channel.stations[OTHER].calls] == [2, 2]
    assert h.rows("SELECT sum(pages) FROM ledger WHERE account_id = ? AND "
                  "kind = 'page_charge'", (a.id,)) == [(4,)]


def test_postgres_held_billing_released_after_payment_and_inbound_held(pg_harness):
    h = pg_harness
    a = h.account(["+15550100"], credit_limit_cents=10)
    b = h.account(["+15550200"], credit_limit_cents=10)
    job = h.submit(a, "+15550200", 1).json()
    h.store.record_outbound(a.id, 1, h.clock())
    h.store.record_outbound(b.id, 1, h.clock())
    assert h.run() == 0
    assert h.rows("SELECT state FROM fax_jobs") == [("held_billing",)]
    h.store.post_payment(a.id, 1000, "psp-a", h.clock())
    assert h.run(1) == 1
    assert h.fax(a, job["id"])["state"] == "delivered"
    assert h.rows("SELECT direction, state, pages FROM jobs WHERE account_id = ?",
                  (b.id,)) == [("receive", "held", 1)]
