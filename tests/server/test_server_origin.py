"""The job table records the way in (``origin``: website, email, printer, api)."""

from __future__ import annotations

import html
import io
import json
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest

from faxcore.accounts import Status
from faxcore.cups import backend
from faxcore.mailgate import MailGate, parse_mail_config
from faxcore.server import keys
from faxcore.server.config import ChannelConfig, ServerConfig
from faxcore.server.service import Service
from faxcore.testing.docs import letter_pdf
from faxcore.testing.panel import PASSWORD, csrf_of, free_port, make_account, running
from faxcore.web import install_panel

RECEIVER = "5551234"


def test_api_jobs_record_their_origin_and_printer_says_so(harness) -> None:
    acct = harness.account()
    plain = harness.submit(acct, "+15551234")
    printer = harness.submit(acct, "+15551234", origin="printer")
    assert plain.status_code == 202 and printer.status_code == 202, printer.text
    assert plain.json()["origin"] == "api" and printer.json()["origin"] == "printer"
    rows = harness.rows("SELECT id, origin FROM fax_jobs ORDER BY id")
    assert rows == [(plain.json()["id"], "api"), (printer.json()["id"], "printer")]


def test_an_origin_the_api_does_not_take_is_refused_and_nothing_is_made(harness) -> None:
    acct = harness.account()
    r = harness.submit(acct, "+15551234", origin="email")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_origin"
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(0,)]


# ---- the four ways in against one running service -------------------------------------

class FourWays:
    """One running service (uvicorn on a free port, its scheduler threads) with the
    control panel and the mail gateway, and a helper per way in. Each way in sends
    ``letter_pdf()`` to ``RECEIVER`` for an account made by ``make_account`` (a panel
    log-in, an API key)."""

    def __init__(self, service, url: str, gate) -> None:
        self.service, self.url, self.gate = service, url, gate

    def account(self, status):
        login = f"user{len(self.service.store().db.all('SELECT id FROM accounts'))}"
        acct = make_account(self.service.store(), self.service.clock(), status, login=login)
        return acct, login, keys.issue_key(self.service.store(), acct, self.service.clock())

    def jobs(self, acct: int) -> list[tuple]:
        return [tuple(r) for r in self.service.store().db.all(
            "SELECT origin, destination, account_id FROM fax_jobs WHERE account_id = ? "
            "ORDER BY id", (acct,))]

    def panel(self, login: str) -> tuple[int, str]:
        """Log in, upload, preview, confirm: (status of the confirm or of the refusal, text)."""
        with httpx.Client(base_url=self.url, timeout=60, follow_redirects=False) as c:
            page = c.get("/panel/login")
            r = c.post("/panel/login", data={"login": login, "password": PASSWORD,
                                              "csrf": csrf_of(page.text)})
            assert r.status_code == 303, r.text
            page = c.get("/panel/account")
            r = c.post("/panel/send/preview", data={"to": RECEIVER, "csrf": csrf_of(page.text)},
                       files={"file": ("letter.pdf", letter_pdf(), "application/pdf")})
            if r.status_code != 200:
                return r.status_code, r.text
            token = r.text.split('name="staged" value="')[1].split('"')[0]
            r = c.post("/panel/send", data={"csrf": csrf_of(r.text), "staged": token})
            return r.status_code, r.text

    def mail(self, key: str) -> tuple[int, str]:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "bob@corp.example", f"{RECEIVER}@fax.example", "x"
        m.set_content("hello")
        m.add_attachment(letter_pdf(), maintype="application", subtype="pdf",
                         filename="letter.pdf")
        with smtplib.SMTP(*self.gate.address, timeout=60) as s:
            s.login("anyone", key)
            try:
                s.send_message(m)
            except smtplib.SMTPSenderRefused as exc:
                return exc.smtp_code, exc.smtp_error.decode()
            except smtplib.SMTPDataError as exc:
                return exc.smtp_code, exc.smtp_error.decode()
        return 250, ""

    def printer(self, key: str) -> tuple[int, str]:
        err = io.StringIO()
        port = self.url.rsplit(":", 1)[1]
        code = backend.main(["faxcore", "7", "bob", "letter", "1", f"phone={RECEIVER}"],
                            {"DEVICE_URI": f"faxcore://127.0.0.1:{port}/?key={key}"},
                            stdin=io.BytesIO(letter_pdf()), stderr=err)
        return code, err.getvalue()

    def api(self, key: str) -> tuple[int, str]:
        r = httpx.post(self.url + "/v1/faxes", data={"to": RECEIVER}, timeout=60,
                       headers={"authorization": f"Bearer {key}"},
                       files={"files": ("letter.pdf", letter_pdf(), "application/pdf")})
        return r.status_code, r.text


@pytest.fixture(scope="module")
def four_ways(tmp_path_factory) -> Iterator[FourWays]:
    root = tmp_path_factory.mktemp("fourways")
    service = Service(ServerConfig(data_dir=str(root / "data"), admin_token="t", workers=2,
                                   channels=[ChannelConfig()]))
    app = service.app()
    install_panel(app, service)
    gate = MailGate(service, parse_mail_config({"listen": f"127.0.0.1:{free_port()}",
                                                "domain": "fax.example"}))
    gate.start()
    service.start_background()
    try:
        with running(app, free_port()) as url:
            yield FourWays(service, url, gate)
    finally:
        gate.stop()
        service.close()


def test_each_way_in_ends_in_the_job_table_with_its_origin(four_ways) -> None:
    """A fax from the panel, by mail, from the printer backend and by the API: four rows
    of one account in fax_jobs, origin website, email, printer, api, all delivered."""
    acct, login, key = four_ways.account(Status.active)
    assert four_ways.panel(login)[0] == 303
    assert four_ways.mail(key)[0] == 250
    code, err = four_ways.printer(key)
    assert code == backend.CUPS_BACKEND_OK, err
    code, text = four_ways.api(key)
    assert code == 202, text
    rows = four_ways.jobs(acct)
    assert rows == [(o, RECEIVER, acct) for o in ("website", "email", "printer", "api")]
    ids = [r[0] for r in four_ways.service.store().db.all(
        "SELECT id FROM fax_jobs WHERE account_id = ? ORDER BY id", (acct,))]
    end = time.monotonic() + 120
    while time.monotonic() < end:
        states = {s for (s,) in four_ways.service.store().db.all(
            f"SELECT state FROM fax_jobs WHERE id IN ({','.join('?' * len(ids))})",
            tuple(ids))}
        if states <= {"delivered", "failed"}:
            break
        time.sleep(0.2)
    assert states == {"delivered"}


def test_the_gate_refuses_a_suspended_account_equally_on_each_way_in(four_ways) -> None:
    """The same reason (the billing rules' words) on each way in, in that way's terms
    (panel 403, SMTP 550, CUPS hold, API 402), and no job row anywhere."""
    acct, login, key = four_ways.account(Status.suspended_until_paid)
    reason = four_ways.service.store().check_send(acct, four_ways.service.clock()).reason
    assert reason
    code, text = four_ways.panel(login)
    assert code == 403 and html.escape(reason, quote=True) in text, text
    code, text = four_ways.mail(key)
    assert code == 550 and reason in " ".join(text.split()), text
    code, err = four_ways.printer(key)
    assert code == backend.CUPS_BACKEND_HOLD and f"ERROR: fax account may not send: {reason}" \
        in err, err
    code, text = four_ways.api(key)
    assert code == 402 and json.loads(text)["error"]["message"] == reason, text
    assert four_ways.jobs(acct) == []
