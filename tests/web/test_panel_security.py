"""The panel's protections over HTTP: CSRF tokens on POST forms, log-in rate limiting
per log-in name and per client address, and the signed payment notification endpoint
(signature, replay window, idempotency by reference), with a payment releasing what a
suspended account had held back."""

from __future__ import annotations

import json

from faxcore.accounts import Status
from faxcore.codecs.tiff import Page, tiff_bytes
from faxcore.testing.pages import letter_page
from faxcore.testing.panel import WEBHOOK_SECRET, csrf_of
from faxcore.web import sign


def _count(ph, sql, params=()):
    return ph.store.db.one(sql, params)[0]


def test_post_forms_without_the_sessions_csrf_token_are_refused(ph):
    acct = ph.account(Status.suspended_until_paid, "sam")
    c = ph.login("sam")
    good = ph.csrf(c)
    other = ph.login("sam")              # another session of the same user: another token
    other_token = ph.csrf(other)
    assert other_token != good
    for data in ({"amount": "5.00"}, {"amount": "5.00", "csrf": ""},
                 {"amount": "5.00", "csrf": "forged"}, {"amount": "5.00", "csrf": other_token}):
        r = c.post("/panel/pay", data=data)
        assert r.status_code == 403 and "security token" in r.text, data
    assert _count(ph, "SELECT count(*) FROM ledger WHERE account_id = ? AND kind = 'payment'",
                  (acct,)) == 0
    # log-out and log-in are forms too
    assert c.post("/panel/logout", data={}).status_code == 403
    fresh = ph.client()
    fresh.get("/panel/login")
    r = fresh.post("/panel/login", data={"login": "sam", "password": "correct horse battery"})
    assert r.status_code == 403
    # with the token: accepted
    r = c.post("/panel/pay", data={"amount": "5.00", "csrf": good})
    assert r.status_code == 303
    assert ph.store.status(acct, ph.clock()).status is Status.active


def _try(c, login, password):
    page = c.get("/panel/login")
    return c.post("/panel/login", data={"login": login, "password": password,
                                        "csrf": csrf_of(page.text)})


def test_log_in_is_rate_limited_per_log_in_name(ph):
    ph.account(Status.active, "alice")
    c = ph.client()
    for _ in range(5):
        assert _try(c, "alice", "wrong password!").status_code == 401
    r = _try(c, "alice", "correct horse battery")   # even the right password: blocked
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many failed log-ins" in r.text
    ph.clock.advance(15 * 60)
    assert _try(c, "alice", "correct horse battery").status_code == 303


def test_log_in_is_rate_limited_per_client_address(ph):
    ph.account(Status.active, "bob")
    c = ph.client()
    for i in range(20):                     # 20 different names from one address
        assert _try(c, f"guess{i}", "nope nope").status_code == 401
    assert _try(c, "bob", "correct horse battery").status_code == 429
    ph.clock.advance(15 * 60)
    assert _try(c, "bob", "correct horse battery").status_code == 303


def _notify(c, body: dict, ts: int, secret: bytes = WEBHOOK_SECRET, sig: str | None = None):
    raw = json.dumps(body).encode()
    return c.post("/panel/payments/webhook", content=raw, headers={
        "content-type": "application/json", "x-faxcore-timestamp": str(ts),
        "x-faxcore-signature": sig or sign(secret, ts, raw)})


def test_payment_notifications_are_signed_fresh_and_idempotent(ph):
    acct = ph.account(Status.suspended_until_paid, "sam")
    c = ph.client()
    now = int(ph.clock().timestamp())
    body = {"reference": "psp-1", "account": acct, "cents": 500, "status": "complete"}
    payments = "SELECT count(*) FROM ledger WHERE account_id = ? AND kind = 'payment'"
    # wrong secret, tampered body, missing headers, stale and future timestamps: refused
    assert _notify(c, body, now, secret=b"not the secret").status_code == 401
    raw_sig = sign(WEBHOOK_SECRET, now, json.dumps({**body, "cents": 1}).encode())
    assert _notify(c, body, now, sig=raw_sig).status_code == 401
    assert c.post("/panel/payments/webhook", content=b"{}").status_code == 401
    assert _notify(c, body, now - 301).status_code == 401      # a replay from 5 min ago
    assert _notify(c, body, now + 301).status_code == 401
    assert _count(ph, payments, (acct,)) == 0
    # a good one: posted, account active
    r = _notify(c, body, now - 299)
    assert r.status_code == 200 and r.json()["applied"] and r.json()["status"] == "active"
    # the same notification again (a provider retry or a replay in the window): no effect
    r = _notify(c, body, now)
    assert r.status_code == 200 and r.json()["duplicate"] and not r.json()["applied"]
    assert _count(ph, payments, (acct,)) == 1
    # the same reference with another amount: a conflict, nothing posted
    r = _notify(c, {**body, "cents": 700}, now)
    assert r.status_code == 409
    assert _count(ph, payments, (acct,)) == 1
    # not complete yet: acknowledged, not posted
    r = _notify(c, {**body, "reference": "psp-2", "status": "pending"}, now)
    assert r.status_code == 200 and not r.json()["applied"]
    assert _count(ph, payments, (acct,)) == 1


def test_paying_in_the_panel_releases_held_faxes_in_and_out(ph):
    """A suspended account's inbound fax is held and counted on its account page; a job
    queued before it was suspended is held_billing; paying in the panel makes the account
    active at once, the inbox shows the fax, and the job is delivered on the next
    scheduler pass."""
    sender = ph.account(Status.active, "alice", numbers=("5550100",))
    acct = ph.account(Status.active, "sam", numbers=("5550200",))
    c_sender = ph.login("alice")
    c = ph.login("sam")
    # sam queues a fax, then goes over the credit limit before it is dialled
    page = c.get("/panel/send")
    tif = tiff_bytes([Page(letter_page(300, 1))])
    r = c.post("/panel/send/preview", data={"to": "5550100", "csrf": csrf_of(page.text)},
               files={"file": ("a.tif", tif, "image/tiff")})
    token = r.text.split('name="staged" value="')[1].split('"')[0]
    assert c.post("/panel/send", data={"csrf": csrf_of(r.text), "staged": token}
                  ).status_code == 303
    ph.store.record_outbound(acct, 500, ph.clock())          # $50.00: the credit limit
    assert ph.store.status(acct, ph.clock()).status is Status.suspended_until_paid
    # alice faxes sam: received and held
    page = c_sender.get("/panel/send")
    r = c_sender.post("/panel/send/preview", data={"to": "5550200", "csrf": csrf_of(page.text)},
                      files={"file": ("b.tif", tif, "image/tiff")})
    token = r.text.split('name="staged" value="')[1].split('"')[0]
    c_sender.post("/panel/send", data={"csrf": csrf_of(r.text), "staged": token})
    ph.service.run_due()
    assert ph.store.db.all("SELECT state FROM fax_jobs WHERE account_id = ?", (acct,)) == \
        [("held_billing",)]
    assert ph.store.db.all("SELECT state FROM jobs WHERE account_id = ? AND direction = "
                           "'receive'", (acct,)) == [("held",)]
    info = c.get("/panel/account").text
    assert "1 received fax(es) are held" in info and "1 fax(es) to send are held" in info
    assert c.get("/panel/inbox").status_code == 403
    # pay the balance in the panel (the test provider settles at once)
    bal = ph.store.status(acct, ph.clock()).balance_cents
    r = c.post("/panel/pay", data={"csrf": ph.csrf(c), "amount": f"{bal / 100:.2f}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/panel/account?paid=")
    assert ph.store.status(acct, ph.clock()).status is Status.active
    assert ph.store.db.all("SELECT state FROM jobs WHERE account_id = ? AND direction = "
                           "'receive'", (acct,)) == [("received",)]
    inbox = c.get("/panel/inbox")
    assert inbox.status_code == 200 and "thumb.png" in inbox.text
    ph.clock.advance(1)
    ph.service.run_due()
    assert ph.store.db.all("SELECT state FROM fax_jobs WHERE account_id = ?", (acct,)) == \
        [("delivered",)]
    assert sender


def test_log_out_ends_the_session_on_the_server(ph):
    """The cookie is signed, not stored: logging out must still make a copy of it useless
    (and so must a new password)."""
    ph.account(Status.active, "alice")
    c = ph.login("alice")
    copied = c.cookies.get("fxpanel")
    assert c.get("/panel/dashboard").status_code == 200
    ph.clock.advance(1)
    assert c.post("/panel/logout", data={"csrf": ph.csrf(c)}).status_code == 303
    thief = ph.client()
    thief.cookies.set("fxpanel", copied)
    r = thief.get("/panel/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/panel/login"
    assert thief.get("/panel/outbox.json").status_code == 401
    # logging in again works; an operator setting a new password ends that session too
    ph.clock.advance(1)
    c2 = ph.login("alice")
    assert c2.get("/panel/dashboard").status_code == 200
    ph.clock.advance(1)
    admin = ph.login("admin", "test-admin-token")
    page = admin.get("/panel/admin")
    acct = ph.store.db.one("SELECT account_id FROM panel_users WHERE login = 'alice'")[0]
    r = admin.post("/panel/admin/password", data={"csrf": csrf_of(page.text),
                                                  "account": str(acct), "login": "alice",
                                                  "password": "a new long password"})
    assert r.status_code == 303
    assert c2.get("/panel/dashboard").status_code == 303
    ph.clock.advance(1)
    assert ph.login("alice", "a new long password").get("/panel/dashboard").status_code == 200
