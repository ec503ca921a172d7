"""The account gate in the server: at submission (HTTP 402 with the reason, nothing
created), before every dial (held_billing, released once paid), and on inbound calls
(terminated: not answered; suspended: received, held, free). Asserts on the rows in the
database and on what the receiving side got."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.server.documents import HEADER_ROWS
from faxcore.t30 import TxPage
from faxcore.testing.pages import letter_page

ADMIN = {"authorization": "Bearer test-admin-token"}
OTHER = "+15557770000"


def suspend(harness, acct) -> None:
    """Put the account over its credit limit (10 cents): suspended until paid."""
    harness.store.record_outbound(acct.id, 1, harness.clock())
    assert harness.store.status(acct.id, harness.clock()).name == "suspended_until_paid"


def pay(harness, acct, cents: int, ref: str) -> None:
    r = harness.client.post(f"/v1/admin/accounts/{acct.id}/payments",
                            json={"cents": cents, "reference": ref}, headers=ADMIN)
    assert r.status_code == 200, r.text


def test_a_suspended_account_gets_402_with_the_reason_and_nothing_is_created(harness):
    a = harness.account(credit_limit_cents=10)
    suspend(harness, a)
    r = harness.submit(a, OTHER, 1)
    assert r.status_code == 402
    err = r.json()["error"]
    assert err["code"] == "suspended_until_paid"
    assert "suspended until paid" in err["message"] and "amount due $0.10" in err["message"]
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(0,)]
    assert not (harness.data_dir / "documents").exists() or \
        not any((harness.data_dir / "documents").iterdir())
    acct = harness.client.get("/v1/account", headers=a.auth).json()
    assert acct["status"] == "suspended_until_paid" and acct["may_send"] is False
    assert acct["allowed"] == ["make_payment", "view_account"]


def test_a_job_queued_then_account_suspended_is_held_and_released_after_payment(harness):
    a = harness.account(credit_limit_cents=10)
    job = harness.submit(a, OTHER, 2).json()
    assert job["state"] == "queued"
    suspend(harness, a)
    assert harness.run() == 0
    row = harness.rows("SELECT state, reason, dials FROM fax_jobs WHERE id = ?", (job["id"],))
    assert row[0][0] == "held_billing" and "suspended until paid" in row[0][1]
    assert row[0][2] == 0                                  # never dialled
    assert harness.run(600) == 0
    assert harness.rows("SELECT state FROM fax_jobs") == [("held_billing",)]
    pay(harness, a, 1000, "psp-1")                       # leaves a credit for the pages
    assert harness.run(1) == 1                             # the next pass releases it
    got = harness.fax(a, job["id"])
    assert got["state"] == "delivered" and got["dials"] == 1
    assert len(harness.channel.stations[OTHER].pages) == 2


def test_a_held_job_expires_at_its_kill_time(harness):
    a = harness.account(credit_limit_cents=10)
    job = harness.submit(a, OTHER, 1).json()
    suspend(harness, a)
    harness.run()
    assert harness.run(3 * 3600) == 0
    got = harness.rows("SELECT state, reason FROM fax_jobs WHERE id = ?", (job["id"],))
    assert got[0][0] == "expired" and "kill time" in got[0][1]
    assert OTHER not in harness.channel.stations


def terminate(harness, acct) -> None:
    """Bill the account and let the invoice go unpaid 14 days: terminated."""
    harness.clock.advance(0)
    first = harness.store.account(acct.id)["next_billing_at"]
    harness.clock.now = first + timedelta(days=14, seconds=1)
    harness.store.run_billing(harness.clock())
    assert harness.store.status(acct.id, harness.clock()).name == "terminated"


def test_a_terminated_accounts_inbound_call_is_not_answered(harness):
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"])
    harness.store.post_payment(a.id, 100_000, "prepaid-a", harness.clock())
    terminate(harness, b)
    assert harness.store.status(a.id, harness.clock()).name == "active"
    job = harness.submit(a, "+15550200", 1).json()
    assert harness.run() == 1
    got = harness.fax(a, job["id"])
    assert got["state"] == "retry_wait"
    assert got["attempts"][0]["result"] == "no_answer"
    # the refusal is recorded (not metered), and nothing was received
    assert harness.rows("SELECT direction, state, pages FROM jobs WHERE account_id = ?",
                        (b.id,)) == [("receive", "refused", 0)]
    assert harness.rows("SELECT count(*) FROM ledger WHERE account_id = ? AND kind = "
                        "'inbound'", (b.id,)) == [(0,)]
    assert harness.rows("SELECT count(*) FROM inbound_faxes") == [(0,)]
    assert harness.client.get("/v1/inbox", headers=b.auth).status_code == 403


def test_inbound_to_a_suspended_account_is_received_held_and_free(harness):
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"], credit_limit_cents=10)
    suspend(harness, b)
    job = harness.submit(a, "+15550200", 2).json()
    harness.run()
    assert harness.fax(a, job["id"])["state"] == "delivered"
    assert harness.rows("SELECT direction, state, pages FROM jobs WHERE account_id = ?",
                        (b.id,)) == [("receive", "held", 2)]
    assert harness.rows("SELECT kind, amount_cents, pages FROM ledger WHERE account_id = ? "
                        "AND kind = 'inbound'", (b.id,)) == [("inbound", 0, 2)]
    (tif,) = harness.rows("SELECT tif_path FROM inbound_faxes WHERE account_id = ?", (b.id,))
    assert tif[0] and tif[0].endswith(".tif")
    r = harness.client.get("/v1/inbox", headers=b.auth)
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_required"
    pay(harness, b, 10, "psp-b")
    inbox = harness.client.get("/v1/inbox", headers=b.auth).json()["faxes"]
    assert [f["pages"] for f in inbox] == [2]
    assert harness.rows("SELECT state FROM jobs WHERE account_id = ?", (b.id,)) == \
        [("received",)]


def test_inbound_from_outside_to_an_account_number(harness):
    """An outside station calls an account's number on the loopback (no send job)."""
    b = harness.account(["+15550200"])
    pages = [TxPage(letter_page(300, seed), "fine") for seed in (31, 32)]
    sender = harness.channel.call_in("+4420790000", "+15550200", pages)
    assert sender is not None and sender.result.ok
    inbox = harness.client.get("/v1/inbox", headers=b.auth).json()["faxes"]
    assert [(f["from"], f["pages"]) for f in inbox] == [("+4420790000", 2)]


@pytest.mark.server_options(faults={"+15550200": {"kind": "drop", "after_page": 1,
                                                  "times": 1}})
def test_an_inbound_fax_that_drops_mid_document_keeps_its_whole_pages_marked_partial(harness):
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"])
    job = harness.submit(a, "+15550200", 3).json()
    harness.run()
    harness.run(60)
    assert harness.fax(a, job["id"])["state"] == "delivered"
    inbox = harness.client.get("/v1/inbox", headers=b.auth).json()["faxes"]
    assert sorted((f["pages"], f["partial"]) for f in inbox) == [(1, True), (2, False)]
    sent = harness.pages[job["id"]]
    (first,) = [f for f in inbox if f["partial"]]
    tif = harness.client.get(first["links"]["tif"], headers=b.auth).content
    (page,) = read_tiff(tif)
    assert np.array_equal(page.bitmap[HEADER_ROWS["fine"]:], sent[0].bitmap[HEADER_ROWS["fine"]:])
