"""The panel on PostgreSQL (the server's other database): its users table is made there,
log-in works, a suspended account is limited and paying in the panel makes it active."""

from __future__ import annotations

from faxcore.accounts import Status


def test_panel_on_postgres_login_limits_and_payment(pg_ph):
    h = pg_ph
    acct = h.account(Status.suspended_until_paid, "sam")
    c = h.login("sam")
    assert c.get("/panel/send").status_code == 403
    assert c.get("/panel/outbox.json").json()["error"]["code"] == "suspended_until_paid"
    assert c.get("/panel/account").status_code == 200
    r = c.post("/panel/pay", data={"csrf": h.csrf(c), "amount": "5.00"})
    assert r.status_code == 303
    assert h.store.status(acct, h.clock()).status is Status.active
    assert c.get("/panel/send").status_code == 200
    assert h.store.db.one("SELECT count(*) FROM panel_users")[0] == 1
