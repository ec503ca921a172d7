"""Inbound routing and mail delivery on the loopback channel: a call is routed by the
called number; to a number nobody owns, by the sender's SUB (T.30 subaddress) to the
account owning the number it names, else to the configured default account, else not
answered. A received fax is mailed (SMTP to the configured relay, an aiosmtpd sink here)
to the account's address with its PDF attached, the very PDF the API serves; a relay
that is down is tried again later. Asserts on the rows, the inboxes and the mails read
back from the sink."""

from __future__ import annotations

import socket

import numpy as np

from faxcore.codecs.tiff import read_tiff
from faxcore.server.maildelivery import BACKOFF, HELD_RECHECK
from faxcore.t30 import TxPage
from faxcore.testing.mailsink import MailSink
from faxcore.testing.pages import letter_page

OUTSIDE = "+15557770000"


def pages(n: int = 1) -> list[TxPage]:
    return [TxPage(letter_page(300, 40 + i), "fine") for i in range(n)]


def inbox(h, acct) -> list[dict]:
    r = h.client.get("/v1/inbox", headers=acct.auth)
    assert r.status_code == 200, r.text
    return r.json()["faxes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_routing_by_number_then_sub_then_default_account(harness_with):
    h = harness_with(default_account=1)
    default = h.account(["+15550001"])
    assert default.id == 1
    sales = h.account(["+15550300"])
    other = h.account(["+15550400"])
    ch = h.channel
    assert ch.call_in(OUTSIDE, "+15550400", pages(), sub_address="+15550300") is not None
    assert ch.call_in(OUTSIDE, "+15559999", pages(2), sub_address="+15550300") is not None
    assert ch.call_in(OUTSIDE, "+15559999", pages(3), sub_address="15550300") is not None
    assert ch.call_in(OUTSIDE, "+15559999", pages(4), sub_address="777") is not None
    assert ch.call_in(OUTSIDE, "+15559999", pages(5)) is not None
    # the called number wins over SUB; SUB (with or without +) over the default
    assert [f["pages"] for f in inbox(h, other)] == [1]
    assert sorted(f["pages"] for f in inbox(h, sales)) == [2, 3]
    assert sorted(f["pages"] for f in inbox(h, default)) == [4, 5]
    assert h.rows("SELECT pages, account_id, routed_by, called FROM inbound_faxes "
                  "ORDER BY id") == [(1, other.id, "number", "+15550400"),
                                     (2, sales.id, "sub", "+15559999"),
                                     (3, sales.id, "sub", "+15559999"),
                                     (4, default.id, "default", "+15559999"),
                                     (5, default.id, "default", "+15559999")]
    # each is metered free to the account it went to
    assert h.rows("SELECT account_id, sum(pages) FROM ledger WHERE kind = 'inbound' "
                  "GROUP BY account_id ORDER BY account_id") == \
        [(default.id, 9), (sales.id, 5), (other.id, 1)]


def test_without_a_default_account_a_number_nobody_owns_is_not_answered(harness):
    harness.account(["+15550300"])
    assert harness.channel.call_in(OUTSIDE, "+15559999", pages(),
                                   sub_address="+15550300") is None
    assert harness.rows("SELECT count(*) FROM inbound_faxes") == [(0,)]


def test_a_received_fax_is_mailed_with_its_pdf_and_a_relay_down_is_retried(harness_with):
    port = free_port()
    h = harness_with(smtp=f"127.0.0.1:{port}", mail_from="fax@faxcore.test")
    a = h.account(["+15550500"], email="alice@example.test")
    b = h.account(["+15550600"])  # no address: not mailed
    sent = pages(2)
    assert h.channel.call_in(OUTSIDE, "+15550500", sent) is not None
    assert h.channel.call_in(OUTSIDE, "+15550600", pages(1)) is not None
    h.run()  # the relay is not there yet: the mail waits in the outbox
    (row,) = h.rows("SELECT address, tries, delivered_at IS NULL, last_error FROM mail_outbox")
    assert row[:3] == ("alice@example.test", 1, True) and "Connection" in row[3]
    with MailSink(port) as sink:
        h.run(BACKOFF[0] - 1)
        assert sink.mails == []            # not due again yet
        h.run(1)
        (mail,) = sink.wait(1)
    assert mail.rcpt_tos == ["alice@example.test"] and mail.mail_from == "fax@faxcore.test"
    msg = mail.message
    assert msg["Subject"] == f"Fax from {OUTSIDE}: 2 page(s)"
    (att,) = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf"
    (f,) = inbox(h, a)
    pdf = h.client.get(f"/v1/received/{f['id']}.pdf", headers=a.auth).content
    assert att.get_content() == pdf
    tif = read_tiff(h.client.get(f"/v1/received/{f['id']}.tif", headers=a.auth).content)
    assert all(np.array_equal(p.bitmap, s.bitmap) for p, s in zip(tif, sent, strict=True))
    assert h.rows("SELECT tries, delivered_at IS NOT NULL FROM mail_outbox") == [(2, True)]
    assert inbox(h, b)  # received, and no mail row for it


def test_the_mail_address_is_set_over_the_api(harness):
    a = harness.account(["+15550700"])
    r = harness.client.put("/v1/account/email", json={"address": "not-an-address"},
                           headers=a.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_email"
    r = harness.client.put("/v1/account/email", json={"address": "a@example.test"},
                           headers=a.auth)
    assert r.status_code == 200 and r.json() == {"address": "a@example.test", "mailed": False}
    assert harness.rows("SELECT account_id, address FROM fax_email") == \
        [(a.id, "a@example.test")]
    r = harness.client.put("/v1/account/email", json={"address": None}, headers=a.auth)
    assert r.status_code == 200
    assert harness.rows("SELECT count(*) FROM fax_email") == [(0,)]


def test_a_fax_held_while_suspended_is_mailed_once_the_account_is_paid_up(harness_with):
    port = free_port()
    h = harness_with(smtp=f"127.0.0.1:{port}")
    a = h.account(["+15550800"], email="held@example.test", credit_limit_cents=10)
    h.store.record_outbound(a.id, 1, h.clock())           # over its limit: suspended
    assert h.store.status(a.id, h.clock()).name == "suspended_until_paid"
    assert h.channel.call_in(OUTSIDE, "+15550800", pages(1)) is not None
    assert h.rows("SELECT j.state FROM inbound_faxes f JOIN jobs j ON "
                  "j.id = f.accounts_job_id") == [("held",)]
    with MailSink(port) as sink:
        h.run()
        h.run(HELD_RECHECK)
        assert sink.mails == []                           # held: not mailed
        assert h.rows("SELECT tries FROM mail_outbox") == [(0,)]
        r = h.client.post(f"/v1/admin/accounts/{a.id}/payments",
                          json={"cents": 1000, "reference": "p1"},
                          headers={"authorization": "Bearer test-admin-token"})
        assert r.status_code == 200
        h.run(HELD_RECHECK)
        (mail,) = sink.wait(1)
    assert mail.rcpt_tos == ["held@example.test"]
    assert h.rows("SELECT j.state FROM inbound_faxes f JOIN jobs j ON "
                  "j.id = f.accounts_job_id") == [("received",)]
