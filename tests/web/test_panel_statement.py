"""Usage and inbound metering in the account statement: the panel's account page and
``GET /v1/account/statement`` show the month's outbound usage per job (pages charged,
charge, the way in) and the inbound faxes metered at no charge, read back as rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from faxcore.accounts import Status
from faxcore.codecs.tiff import Page, tiff_bytes
from faxcore.server import keys
from faxcore.testing.pages import letter_page
from faxcore.testing.panel import csrf_of

OWN = "5550100"


def _tiff(n: int) -> bytes:
    return tiff_bytes([Page(letter_page(400, i)) for i in range(n)])


def _panel_send(c, pages: int) -> int:
    page = c.get("/panel/send")
    r = c.post("/panel/send/preview", data={"to": OWN, "csrf": csrf_of(page.text)},
               files={"file": ("doc.tif", _tiff(pages), "image/tiff")})
    assert r.status_code == 200, r.text
    token = r.text.split('name="staged" value="')[1].split('"')[0]
    r = c.post("/panel/send", data={"csrf": csrf_of(r.text), "staged": token})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_statement_shows_usage_per_job_and_inbound_at_no_charge(ph) -> None:
    """Two faxes to the account's own number (panel: 2 pages, API: 1 page) on the loopback
    channel: two jobs charged per page at the plan's price, two inbound faxes at $0.00,
    on the account page and in the API's statement."""
    a = ph.account(Status.active, "alice", numbers=(OWN,))
    price = ph.store.plan(ph.store.account(a)["plan"]).page_price_cents
    assert price > 0
    c = ph.login("alice")
    web_job = _panel_send(c, 2)
    key = keys.issue_key(ph.store, a, ph.clock())
    api = ph.client()
    r = api.post("/v1/faxes", data={"to": OWN}, headers={"authorization": f"Bearer {key}"},
                 files={"files": ("doc.tif", _tiff(1), "image/tiff")})
    assert r.status_code == 202, r.text
    api_job = r.json()["id"]
    ph.service.run_due()
    ph.service.run_due()
    assert ph.store.db.all("SELECT state FROM fax_jobs ORDER BY id") == [("delivered",)] * 2

    r = api.get("/v1/account/statement", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["month"] == "2026-12"
    assert [(o["job"], o["origin"], o["to"], o["state"], o["pages_charged"], o["charge_cents"])
            for o in st["outbound"]] == [
        (web_job, "website", OWN, "delivered", 2, 2 * price),
        (api_job, "api", OWN, "delivered", 1, price)]
    assert sorted((i["pages"], i["charge_cents"]) for i in st["inbound"]) == [(1, 0), (2, 0)]
    assert st["totals"] == {"outbound_faxes": 2, "outbound_pages": 3,
                            "outbound_cents": 3 * price, "inbound_faxes": 2,
                            "inbound_pages": 3, "inbound_cents": 0}
    # the ledger's page charges carry their job: the statement adds up to the ledger
    (ledger_cents,) = ph.store.db.one("SELECT sum(amount_cents) FROM ledger WHERE "
                                      "account_id = ? AND kind = 'page_charge'", (a,))
    assert ledger_cents == 3 * price

    html = c.get("/panel/account").text
    cents = f"${price / 100:.2f}"
    two = f"${2 * price / 100:.2f}"
    assert _rows(html, "usage-out") == [
        [str(web_job), OWN, "website", "delivered", "2 of 2", two],
        [str(api_job), OWN, "api", "delivered", "1 of 1", cents]]
    inbound = _rows(html, "usage-in")
    assert sorted((row[2], row[3]) for row in inbound) == [("1", "$0.00"), ("2", "$0.00")]


def test_a_suspended_account_reads_its_statement_and_other_months_are_empty(ph) -> None:
    a = ph.account(Status.suspended_until_paid, "sue")
    key = keys.issue_key(ph.store, a, ph.clock())
    auth = {"authorization": f"Bearer {key}"}
    c = ph.client()
    r = c.get("/v1/account/statement", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["outbound"] == [] and r.json()["inbound"] == []
    assert c.get("/v1/account/statement?month=2026-13", headers=auth).status_code == 422
    assert c.get("/v1/account/statement?month=2025-01", headers=auth).json()["month"] == \
        "2025-01"
    page = ph.login("sue").get("/panel/account")
    assert page.status_code == 200 and "No faxes sent this month." in page.text
    assert datetime(2026, 12, 7, tzinfo=UTC).strftime("%Y-%m") in page.text
