"""The control panel's access rules over HTTP: every panel route for each account status
(active: everything; suspended/closed until paid: account and payment only, 403 with the
reason elsewhere; terminated: log-in refused, an older session refused and dropped),
anonymous visitors, operators, and the table itself covering every route of the app."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from faxcore.accounts import Status
from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.testing.pages import letter_page
from faxcore.testing.panel import csrf_of

# (method, path, allowed for a limited log-in). {out}/{in}/{key} are filled per test.
ROUTES = [
    ("GET", "/panel/", True),
    ("GET", "/panel/dashboard", False),
    ("GET", "/panel/account", True),
    ("GET", "/panel/pay", True),
    ("POST", "/panel/pay", True),
    ("GET", "/panel/send", False),
    ("POST", "/panel/send/preview", False),
    ("POST", "/panel/send", False),
    ("GET", "/panel/outbox", False),
    ("GET", "/panel/outbox.json", False),
    ("GET", "/panel/outbox/{out}", False),
    ("GET", "/panel/outbox/{out}/progress.json", False),
    ("GET", "/panel/outbox/{out}/document.pdf", False),
    ("GET", "/panel/outbox/{out}/page1.png", False),
    ("GET", "/panel/inbox", False),
    ("GET", "/panel/inbox/{in}", False),
    ("GET", "/panel/inbox/{in}/thumb.png", False),
    ("GET", "/panel/inbox/{in}/page.png", False),
    ("GET", "/panel/inbox/{in}/fax.pdf", False),
    ("GET", "/panel/keys", False),
    ("POST", "/panel/keys", False),
    ("POST", "/panel/keys/{key}/revoke", False),
    ("POST", "/panel/webhook", False),
]
ADMIN_ROUTES = [("GET", "/panel/admin"), ("POST", "/panel/admin/reactivate"),
                ("POST", "/panel/admin/password")]
OPEN_ROUTES = [("GET", "/panel"), ("GET", "/panel/login"), ("POST", "/panel/login"), ("POST", "/panel/logout"),
               ("POST", "/panel/payments/webhook")]


def _template(path: str) -> str:
    return (path.replace("{out}", "{fax_id}").replace("{in}", "{fax_id}")
            .replace("{key}", "{key_id}"))


def test_every_panel_route_is_in_the_access_table(ph):
    """A new panel route must be added to this table (and so be checked per status)."""
    table = {(m, _template(p)) for m, p, _ in ROUTES} | set(ADMIN_ROUTES) | set(OPEN_ROUTES)
    app_routes = set()
    for route in ph.panel.router.routes:
        path = getattr(route, "path", "")
        if path.startswith("/panel") and not path.startswith("/panel/static"):
            for m in getattr(route, "methods", ()) or ():
                if m != "HEAD":
                    app_routes.add((m, path))
    assert app_routes == table


def _tiff() -> bytes:
    return tiff_bytes([Page(letter_page(400, 3))])


def _fill(path: str, ids: dict[str, object]) -> str:
    return path.format(**{"out": ids["out"], "in": ids["in"], "key": ids["key"]}) \
        if "{" in path else path


def _request(c, method: str, path: str, csrf: str):
    if method == "GET":
        return c.get(path)
    data = {"csrf": csrf}
    if path == "/panel/pay":
        data["amount"] = "1.00"
    if path == "/panel/webhook":
        data["url"] = "https://example.com/hook"
    files = None
    if path == "/panel/send/preview":
        data["to"] = "5550999"
        files = {"file": ("doc.tif", _tiff(), "image/tiff")}
    return c.post(path, data=data, files=files)


def _active_fixture(ph):
    """An active account with a delivered fax, a received fax and a key; returns ids."""
    a = ph.account(Status.active, "alice", numbers=("5550100",))
    c = ph.login("alice")
    page = c.get("/panel/send")
    r = c.post("/panel/send/preview", data={"to": "5550100", "csrf": csrf_of(page.text)},
               files={"file": ("doc.tif", _tiff(), "image/tiff")})
    assert r.status_code == 200, r.text
    token = r.text.split('name="staged" value="')[1].split('"')[0]
    r = c.post("/panel/send", data={"csrf": csrf_of(r.text), "staged": token})
    assert r.status_code == 303
    out = int(r.headers["location"].rsplit("/", 1)[1])
    ph.service.run_due()
    (inb,) = ph.store.db.one("SELECT id FROM inbound_faxes WHERE account_id = ?", (a,))
    (key,) = ph.store.db.one("SELECT key_id FROM api_keys WHERE account_id = ?", (a,))
    return a, c, {"out": out, "in": inb, "key": key}


def test_an_active_account_reaches_every_client_route(ph):
    a, c, ids = _active_fixture(ph)
    csrf = ph.csrf(c)
    for method, path, _ in ROUTES:
        url = _fill(path, ids)
        r = _request(c, method, url, csrf)
        if (method, path) == ("POST", "/panel/send"):  # no staged document in this request: refused as input
            assert r.status_code == 422, (method, url, r.status_code)
        elif method == "GET":
            assert r.status_code in (200, 303), (method, url, r.status_code, r.text[:300])
        else:
            assert r.status_code in (200, 201, 303), (method, url, r.status_code, r.text[:300])
    assert ph.store.db.all("SELECT url FROM webhooks WHERE account_id = ?", (a,)) == \
        [("https://example.com/hook",)]
    # and the admin screen is not a client's
    for method, path in ADMIN_ROUTES:
        r = c.request(method, path, data={"csrf": csrf, "account": str(a)})
        assert r.status_code == 403, (method, path)


@pytest.mark.parametrize("status", [Status.suspended_until_paid, Status.closed_until_paid])
def test_a_limited_account_sees_only_account_and_payment(ph, status):
    _a_active, _c, ids = _active_fixture(ph)
    acct = ph.account(status, "lim", numbers=("5550200",))
    # ids of another account are fine: the refusal comes before the fax is looked up;
    # the limited account's own fax ids are checked too
    c = ph.login("lim")
    csrf = ph.csrf(c)
    reason = ph.store.check_send(acct, ph.clock()).reason
    for method, path, allowed in ROUTES:
        url = _fill(path, ids)
        r = _request(c, method, url, csrf)
        if allowed:
            assert r.status_code in (200, 303), (method, url, r.status_code)
        else:
            assert r.status_code == 403, (method, url, r.status_code)
            body = r.json()["error"]["message"] if url.endswith(".json") else r.text
            assert reason.split(";")[0] in body.replace("&#39;", "'"), (url, body[:400])
    # nothing was created by the refused POSTs: no job, no new key
    assert ph.store.db.one("SELECT count(*) FROM fax_jobs WHERE account_id = ?",
                           (acct,))[0] == 0
    assert ph.store.db.one("SELECT count(*) FROM api_keys WHERE account_id = ?",
                           (acct,))[0] == 1
    assert ph.store.db.one("SELECT count(*) FROM webhooks WHERE account_id = ?",
                           (acct,))[0] == 0
    # the account page says why, how much, when it escalates
    page = c.get("/panel/account").text
    assert status.value.replace("_", " ") in page and "$5.00" in page
    assert "Becomes terminated on" in page


def test_a_terminated_account_cannot_log_in_and_its_old_session_is_dropped(ph):
    acct = ph.account(Status.suspended_until_paid, "tom")
    c = ph.login("tom")                      # limited log-in while suspended
    csrf = ph.csrf(c)
    ph.clock.advance(14 * 86400)             # unpaid: now terminated
    assert ph.store.status(acct, ph.clock()).status is Status.terminated
    # the same session as if issued an hour ago (sessions last 12 h; the account went
    # from suspended to terminated in between)
    data = ph.panel.cookies.loads(c.cookies.get("fxpanel"))
    data["t"] = ph.clock().timestamp() - 3600
    cookie = ph.panel.cookies.dumps(data)
    for method, path, _ in ROUTES:
        c.cookies.clear()
        c.cookies.set("fxpanel", cookie)     # the old session every time (each is dropped)
        r = _request(c, method, _fill(path, {"out": 1, "in": 1, "key": "x"}), csrf)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "terminated" in r.text
    c.cookies.clear()
    c.cookies.set("fxpanel", cookie)
    r = c.get("/panel/account")
    assert r.status_code == 403 and 'fxpanel=""' in r.headers.get("set-cookie", "")
    # a fresh log-in with the right password: refused with support contacts and the fee
    fresh = ph.client()
    page = fresh.get("/panel/login")
    r = fresh.post("/panel/login", data={"login": "tom", "password": "correct horse battery",
                                         "csrf": csrf_of(page.text)})
    assert r.status_code == 403
    for text in ("terminated", "+1 800 555 0199", "support@faxmicro.example", "Live chat",
                 "$10.00"):
        assert text in r.text, text
    assert "fxpanel" not in (r.headers.get("set-cookie") or "") or \
        '"u":' not in r.headers.get("set-cookie", "")


def test_anonymous_visitors_are_sent_to_log_in(ph):
    c = ph.client()
    ids = {"out": 1, "in": 1, "key": "x"}
    for method, path, _ in ROUTES:
        url = _fill(path, ids)
        r = c.request(method, url, data={"csrf": "x"} if method == "POST" else None)
        if url.endswith(".json"):
            assert r.status_code == 401, url
        elif method == "GET":
            assert r.status_code == 303 and r.headers["location"] == "/panel/login", url
        else:  # a POST without a session fails the CSRF check or the log-in check
            assert r.status_code in (303, 403), (url, r.status_code)
    for method, path in ADMIN_ROUTES:
        r = c.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        assert r.status_code in (303, 403)


def test_the_operator_reactivates_a_terminated_account_with_the_fee(ph):
    acct = ph.account(Status.terminated, "tina")
    before = ph.store.status(acct, ph.clock()).balance_cents
    c = ph.login("admin", "test-admin-token")
    page = c.get("/panel/admin")
    assert page.status_code == 200 and "Reactivate" in page.text
    r = c.post("/panel/admin/reactivate", data={"csrf": csrf_of(page.text),
                                                "account": str(acct)})
    assert r.status_code == 303
    st = ph.store.status(acct, ph.clock())
    assert st.status is Status.suspended_until_paid and st.balance_cents == before + 1000
    assert ph.store.db.all("SELECT kind, amount_cents FROM ledger WHERE account_id = ? AND "
                           "kind = 'reactivation'", (acct,)) == [("reactivation", 1000)]
    # twice: refused, no second fee
    r = c.post("/panel/admin/reactivate", data={"csrf": csrf_of(page.text),
                                                "account": str(acct)})
    assert r.status_code == 409
    # the client now logs in with the limited panel and pays everything: active
    cl = ph.login("tina")
    assert cl.get("/panel/send").status_code == 403
    r = cl.post("/panel/pay", data={"csrf": ph.csrf(cl), "amount": f"{st.balance_cents / 100:.2f}"})
    assert r.status_code == 303
    assert ph.store.status(acct, ph.clock()).status is Status.active
    assert cl.get("/panel/send").status_code == 200


def test_send_preview_shows_the_header_line_on_the_first_page(ph):
    ph.account(Status.active, "alice", numbers=("5550100",))
    c = ph.login("alice")
    page = c.get("/panel/send")
    r = c.post("/panel/send/preview", data={"to": "5550100", "header": "ACME LTD",
                                            "cover": "1", "note": "hello",
                                            "csrf": csrf_of(page.text)},
               files={"file": ("doc.tif", _tiff(), "image/tiff")})
    assert r.status_code == 200
    assert "ACME LTD" in r.text and "PAGE 1/2" in r.text  # cover + 1 page
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'self'
    assert "style=" not in r.text and "<script>" not in r.text
    data = r.text.split('src="data:image/png;base64,')[1].split('"')[0]
    img = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
    assert img.width == 1728
    px = img.load()
    band = sum(px[x, y] < 128 for x in range(0, 1728) for y in range(0, 32))
    assert band > 200  # the header text is drawn in the top band


def test_inbox_thumbnails_are_the_received_page_scaled_and_kept(ph):
    a, c, ids = _active_fixture(ph)
    f = ph.store.db.one("SELECT tif_path FROM inbound_faxes WHERE id = ?", (ids["in"],))[0]
    page = read_tiff(f)[0]
    r = c.get(f"/panel/inbox/{ids['in']}/thumb.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content)).convert("L")
    assert img.width == 240
    # square pixels: a fine page (204 x 196 dpi) keeps its proportions within a row
    assert abs(img.height - round(page.height * 240 / page.width)) <= 1
    # as dark overall as the page (box filter: ink is averaged, not lost)
    ink_page = page.bitmap.mean()
    ink_thumb = 1 - np.asarray(img, dtype=float).mean() / 255
    assert abs(ink_page - ink_thumb) < 0.01, (ink_page, ink_thumb)
    again = c.get(f"/panel/inbox/{ids['in']}/thumb.png")
    assert again.content == r.content
    assert (ph.service.data_dir / "panel-thumbs" / f"in{ids['in']}-p1.png").is_file()
    assert c.get(f"/panel/inbox/{ids['in']}/thumb.png?page=9").status_code == 404
