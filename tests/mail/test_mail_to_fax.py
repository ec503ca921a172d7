"""Email to fax over real SMTP sessions (smtplib, and Debian's swaks) against the gateway
of a running service; result mails read back from a local SMTP sink acting as the relay.
Every refusal is checked to leave no job row and no document file behind."""

from __future__ import annotations

import base64
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.mailgate import MailGate, parse_mail_config
from faxcore.mailgate.store import allow_sender
from faxcore.server.documents import HEADER_ROWS
from faxcore.testing.docs import letter_pdf
from faxcore.testing.mailsink import MailSink
from faxcore.testing.paths import ROOT
from faxcore.testing.peers import require_tool
from faxcore.testing.served import Served, ServedAccount, free_port, served
from faxcore.web.users import set_password

DOMAIN = "fax.example"
RECEIVER = "5551234"


class Rig:
    def __init__(self, svc: Served, gate: MailGate, sink: MailSink) -> None:
        self.svc, self.gate, self.sink = svc, gate, sink
        self.port = gate.address[1]

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=60)

    def allowed(self, address: str, **kw) -> ServedAccount:
        a = self.svc.account(**kw)
        allow_sender(self.svc.service.store(), a.id, address, self.svc.service.clock())
        return a

    def jobs(self, acct: ServedAccount) -> list[tuple]:
        return self.svc.rows("SELECT id, destination, origin, pages FROM fax_jobs WHERE "
                             "account_id = ? ORDER BY id", (acct.id,))

    def documents(self) -> set[str]:
        d = self.svc.service.documents
        return {p.name for p in d.iterdir()} if d.exists() else set()


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[Rig]:
    with MailSink(free_port()) as sink, served(tmp_path_factory.mktemp("mail")) as svc:
        svc.account(numbers=[RECEIVER])
        cfg = parse_mail_config({"listen": f"127.0.0.1:{free_port()}", "domain": DOMAIN,
                                 "relay": sink.address, "result_interval": 0.2,
                                 "max_message_mb": 2})
        gate = MailGate(svc.service, cfg)
        gate.start()
        try:
            yield Rig(svc, gate, sink)
        finally:
            gate.stop()


def fax_mail(sender: str, to: str, *, pdf: bytes | None = None, subject: str = "a fax",
             body: str = "hello", message_id: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    if message_id:
        m["Message-ID"] = message_id
    m.set_content(body)
    if pdf is not None:
        m.add_attachment(pdf, maintype="application", subtype="pdf", filename="letter.pdf")
    return m


def results_for(rig: Rig, address: str, n: int = 1, timeout: float = 60) -> list:
    end = time.monotonic() + timeout
    while True:
        got = [m for m in rig.sink.mails if address in m.rcpt_tos]
        if len(got) >= n or time.monotonic() > end:
            return got
        time.sleep(0.1)


def received_pages(rig: Rig, fax_job: int) -> list:
    (doc,) = rig.svc.rows("SELECT document FROM fax_jobs WHERE id = ?", (fax_job,))[0]
    return read_tiff(doc)


def test_authenticated_mail_with_a_pdf_is_delivered_and_the_result_mailed(rig) -> None:
    a = rig.svc.account()
    with rig.smtp() as s:
        s.login("anyone", a.key)   # AUTH PLAIN with the API key
        refused = s.send_message(fax_mail("alice@corp.example", f"+{RECEIVER}@{DOMAIN}",
                                          pdf=letter_pdf(5)))
    assert refused == {}
    ((job_id, dest, origin, pages),) = rig.jobs(a)
    assert (dest, origin, pages) == (f"+{RECEIVER}", "email", 1)
    assert rig.svc.wait_state(job_id, {"delivered", "failed"}) == "delivered"
    (mail,) = results_for(rig, "alice@corp.example")
    msg = mail.message
    assert msg["Subject"].startswith(f"Fax to +{RECEIVER} delivered (job {job_id})")
    assert msg["X-Faxcore-State"] == "delivered"
    text = msg.get_content()
    assert f"Fax job {job_id} to +{RECEIVER}: DELIVERED" in text
    assert "Pages: 1 of 1 confirmed" in text and "1. " in text and "bit/s" in text
    for _ in range(100):  # the row is marked just after the relay said 250
        if rig.svc.rows("SELECT notified_at IS NOT NULL FROM mail_jobs WHERE job_id = ?",
                        (job_id,)) == [(1,)]:
            break
        time.sleep(0.1)
    assert rig.svc.rows("SELECT notified_at IS NOT NULL, tries FROM mail_jobs WHERE "
                        "job_id = ?", (job_id,)) == [(1, 1)]


def test_swaks_from_an_allow_listed_sender_is_delivered_to_the_inbox(rig, tmp_path) -> None:
    swaks = require_tool("swaks")
    a = rig.allowed("bob@corp.example")
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(letter_pdf(6))
    r = subprocess.run([swaks, "--server", f"127.0.0.1:{rig.port}", "--from",
                        "bob@corp.example", "--to", f"{RECEIVER}@{DOMAIN}",
                        "--header", "Subject: quarterly report", "--body", "see attached",
                        "--attach-type", "application/pdf", "--attach", f"@{pdf}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<-  250 2.0.0 OK: fax job" in r.stdout
    ((job_id, _dest, origin, _pages),) = rig.jobs(a)
    assert origin == "email"
    assert rig.svc.wait_state(job_id, {"delivered", "failed"}) == "delivered"
    (mail,) = results_for(rig, "bob@corp.example")
    assert "quarterly report" in mail.message["Subject"]
    # the page reached the receiving account, pixel for pixel below the stamped header
    recv = rig.svc.rows("SELECT tif_path FROM inbound_faxes ORDER BY id DESC LIMIT 1")[0][0]
    (got,), (sent,) = read_tiff(recv), received_pages(rig, job_id)
    h = HEADER_ROWS["fine"]
    assert np.array_equal(got.bitmap[h:], sent.bitmap[h:]) and got.bitmap[:h].any()


def test_swaks_auth_login_with_the_api_key(rig, tmp_path) -> None:
    swaks = require_tool("swaks")
    a = rig.svc.account()
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(letter_pdf(7))
    r = subprocess.run([swaks, "--server", f"127.0.0.1:{rig.port}", "--auth", "LOGIN",
                        "--auth-user", "carol", "--auth-password", a.key,
                        "--from", "carol@elsewhere.example", "--to", f"{RECEIVER}@{DOMAIN}",
                        "--attach-type", "application/pdf", "--attach", f"@{pdf}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<-  235 2.7.0 Authentication successful" in r.stdout
    assert [row[2] for row in rig.jobs(a)] == ["email"]


def test_a_cover_page_from_the_text_when_the_subject_asks(rig) -> None:
    a = rig.allowed("dave@corp.example")
    with rig.smtp() as s:
        s.send_message(fax_mail("dave@corp.example", f"{RECEIVER}@{DOMAIN}",
                                pdf=letter_pdf(8), subject="cover: Contract",
                                body="Dear Sir,\nplease find the contract attached.\n"))
        s.send_message(fax_mail("dave@corp.example", f"{RECEIVER}@{DOMAIN}",
                                subject="Cover: just a note", body="Call me back."))
    (j1, _, _, pages1), (j2, _, _, pages2) = rig.jobs(a)
    assert (pages1, pages2) == (2, 1)          # cover + the PDF; the cover alone
    cover, letter = received_pages(rig, j1)
    assert cover.bitmap.shape[1] == 1728 and cover.bitmap.any()
    (note,) = received_pages(rig, j2)
    assert note.bitmap.any() and not np.array_equal(note.bitmap, cover.bitmap)


def test_a_mail_sent_twice_with_one_message_id_is_one_job(rig) -> None:
    a = rig.allowed("erin@corp.example")
    m = fax_mail("erin@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf(9),
                 message_id="<twice-1@corp.example>")
    for _ in range(2):
        with rig.smtp() as s:
            s.send_message(m)
    assert len(rig.jobs(a)) == 1


def refused(rig: Rig, step, expect_code: int, expect_text: str) -> None:
    """Run ``step(smtp)``; it must raise with the code and text; nothing is left behind."""
    before_jobs = rig.svc.rows("SELECT count(*) FROM fax_jobs")
    before_docs = rig.documents()
    with rig.smtp() as s:
        with pytest.raises(smtplib.SMTPException) as info:
            step(s)
    exc = info.value
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        ((code, text),) = exc.recipients.values()
    elif isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError |
                    smtplib.SMTPAuthenticationError | smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:
        raise AssertionError(f"unexpected {exc!r}")
    assert code == expect_code, (code, text)
    assert expect_text in text.decode(), text
    assert rig.svc.rows("SELECT count(*) FROM fax_jobs") == before_jobs
    assert rig.documents() == before_docs


def test_mail_for_another_domain_is_not_relayed(rig) -> None:
    rig.allowed("f1@corp.example")
    refused(rig, lambda s: s.sendmail("f1@corp.example", [f"{RECEIVER}@gmail.example"],
                                      b"Subject: x\r\n\r\nx\r\n"),
            550, "relaying denied")


def test_a_local_part_that_is_not_a_number_is_refused(rig) -> None:
    rig.allowed("f2@corp.example")
    refused(rig, lambda s: s.sendmail("f2@corp.example", [f"sales@{DOMAIN}"],
                                      b"Subject: x\r\n\r\nx\r\n"),
            550, "not a fax number")
    refused(rig, lambda s: s.sendmail("f2@corp.example", [f"12@{DOMAIN}x"],
                                      b"Subject: x\r\n\r\nx\r\n"),
            550, "relaying denied")


def test_an_unknown_sender_without_auth_is_refused(rig) -> None:
    m = fax_mail("mallory@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m), 550, "may not send faxes here")


def test_a_forged_from_header_cannot_spend_an_allow_listed_account(rig) -> None:
    rig.allowed("ceo@corp.example")
    # envelope from an address nobody allow-listed: refused at MAIL FROM
    m = fax_mail("ceo@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m, from_addr="mallory@evil.example"), 550,
            "may not send faxes here")
    # the allow-listed envelope, but a From header that is someone else: refused at DATA
    m2 = fax_mail("mallory@evil.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m2, from_addr="ceo@corp.example"), 550,
            "is not the sender")


def test_a_bad_api_key_is_535(rig) -> None:
    refused(rig, lambda s: s.login("x", "fxk_00000000_wrong"), 535,
            "Authentication credentials invalid")


def test_a_suspended_account_is_refused_with_the_reason_in_the_dialogue(rig) -> None:
    a = rig.allowed("poor@corp.example", credit_limit_cents=0)
    reason = rig.svc.suspend(a)
    m = fax_mail("poor@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m), 550, f"fax account may not send: {reason}")

    def with_auth(s: smtplib.SMTP) -> None:
        s.login("poor", a.key)
        s.send_message(m)
    refused(rig, with_auth, 550, "suspended until paid")


def test_no_attachment_is_refused(rig) -> None:
    rig.allowed("g@corp.example")
    m = fax_mail("g@corp.example", f"{RECEIVER}@{DOMAIN}", body="forgot the file")
    refused(rig, lambda s: s.send_message(m), 554, "no fax document in the mail")


def test_an_attachment_that_is_no_document_is_refused(rig) -> None:
    rig.allowed("h@corp.example")
    m = fax_mail("h@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=b"%PDF-1.4 not really\n" * 20)
    refused(rig, lambda s: s.send_message(m), 554, "cannot be read as a fax document")


def test_malformed_mime_is_refused(rig) -> None:
    rig.allowed("i@corp.example")
    no_boundary = (b"From: i@corp.example\r\nTo: 5551234@fax.example\r\nSubject: x\r\n"
                   b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
                   b"--zz\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--zz--\r\n")
    refused(rig, lambda s: s.sendmail("i@corp.example", [f"{RECEIVER}@{DOMAIN}"],
                                      no_boundary), 554, "malformed MIME")
    bad_base64 = (b"From: i@corp.example\r\nTo: 5551234@fax.example\r\nSubject: x\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
                  b"--zz\r\nContent-Type: application/pdf; name=a.pdf\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLj*!!QKJ\r\n--zz--\r\n")
    refused(rig, lambda s: s.sendmail("i@corp.example", [f"{RECEIVER}@{DOMAIN}"],
                                      bad_base64), 554, "malformed MIME")
    unterminated = (b"From: i@corp.example\r\nTo: 5551234@fax.example\r\nSubject: x\r\n"
                    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
                    b"--zz\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n")
    refused(rig, lambda s: s.sendmail("i@corp.example", [f"{RECEIVER}@{DOMAIN}"],
                                      unterminated), 554, "malformed MIME")


def test_a_mail_over_the_size_limit_is_552(rig) -> None:
    rig.allowed("j@corp.example")
    big = fax_mail("j@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=b"%PDF-1.4\n" + bytes(
        np.random.default_rng(1).integers(0, 256, 3 * 1024 * 1024, dtype=np.uint8)))
    # declared in advance (smtplib sends ESMTP SIZE=): refused at MAIL FROM
    refused(rig, lambda s: s.send_message(big), 552, "exceeds fixed maximum message size")

    def undeclared(s: smtplib.SMTP) -> None:
        s.ehlo()
        del s.esmtp_features["size"]   # a client that does not say: refused after DATA
        s.send_message(big)
    refused(rig, undeclared, 552, "Too much mail data")


def test_a_51_mb_mail_is_552_under_the_default_50_mb_limit(tmp_path) -> None:
    cfg = parse_mail_config({"listen": f"127.0.0.1:{free_port()}", "domain": DOMAIN})
    assert cfg.max_bytes == 50 * 1024 * 1024
    with served(tmp_path / "data") as svc:
        gate = MailGate(svc.service, cfg)
        gate.start()
        try:
            a = svc.account()
            allow_sender(svc.service.store(), a.id, "big@corp.example", svc.service.clock())
            body = (b"From: big@corp.example\r\nTo: 5551234@fax.example\r\nSubject: big\r\n"
                    b"\r\n" + (b"A" * 76 + b"\r\n") * (51 * 1024 * 1024 // 78))
            with smtplib.SMTP("127.0.0.1", cfg.listen_addr[1], timeout=120) as s:
                s.ehlo()
                del s.esmtp_features["size"]   # undeclared: read, counted, refused
                with pytest.raises(smtplib.SMTPDataError) as info:
                    s.sendmail("big@corp.example", [f"{RECEIVER}@{DOMAIN}"], body)
            assert info.value.smtp_code == 552
            assert svc.rows("SELECT count(*) FROM fax_jobs") == [(0,)]
        finally:
            gate.stop()


def test_a_relay_that_is_down_delays_the_result_mail_but_keeps_it(tmp_path) -> None:
    with served(tmp_path / "data") as svc:
        svc.account(numbers=[RECEIVER])
        sink_port = free_port()
        cfg = parse_mail_config({"listen": f"127.0.0.1:{free_port()}", "domain": DOMAIN,
                                 "relay": f"127.0.0.1:{sink_port}", "result_interval": 600})
        gate = MailGate(svc.service, cfg)
        gate.start()
        try:
            a = svc.account()
            allow_sender(svc.service.store(), a.id, "k@corp.example", svc.service.clock())
            with smtplib.SMTP("127.0.0.1", cfg.listen_addr[1], timeout=60) as s:
                s.send_message(fax_mail("k@corp.example", f"{RECEIVER}@{DOMAIN}",
                                        pdf=letter_pdf(3)))
            ((job_id,),) = svc.rows("SELECT id FROM fax_jobs WHERE account_id = ?", (a.id,))
            assert svc.wait_state(job_id, {"delivered", "failed"}) == "delivered"
            assert gate.results.send_due() == 0        # relay down: not sent, kept
            (tries, err, notified), = svc.rows("SELECT tries, last_error, notified_at FROM "
                                               "mail_jobs WHERE job_id = ?", (job_id,))
            assert tries == 1 and err and notified is None
            svc.service.store().db.execute("UPDATE mail_jobs SET next_try_at = 0")
            with MailSink(sink_port) as sink:
                assert gate.results.send_due() == 1
                (mail,) = sink.mails
                assert mail.rcpt_tos == ["k@corp.example"]
        finally:
            gate.stop()


def test_faxcore_serve_starts_the_mail_gateway_from_the_config(tmp_path) -> None:
    """``faxcore serve`` with a [mail] table listens for SMTP and takes a fax by mail."""
    mport = free_port()
    cfg = tmp_path / "faxcore.toml"
    cfg.write_text(f'[server]\nbind = "127.0.0.1:0"\ndata_dir = "{tmp_path}/data"\n'
                   f'admin_token = "t"\n[mail]\nlisten = "127.0.0.1:{mport}"\n'
                   f'domain = "{DOMAIN}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "faxcore", "serve", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + proc.stderr.read()
        lines = [proc.stdout.readline().strip() for _ in range(2)]  # (and the panel's)
        assert f"faxcore serve: mail to fax on smtp://127.0.0.1:{mport}" in lines
        base = first.split("listening on ")[1].split()[0]
        for _ in range(300):  # the port is bound at once, listened on once uvicorn runs
            try:
                r = httpx.post(base + "/v1/admin/accounts", json={}, timeout=30,
                               headers={"authorization": "Bearer t"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        key = r.json()["api_key"]
        with smtplib.SMTP("127.0.0.1", mport, timeout=60) as s:
            s.login("me", key)
            s.send_message(fax_mail("me@corp.example", f"{RECEIVER}@{DOMAIN}",
                                    pdf=letter_pdf(2)))
        for _ in range(300):
            faxes = httpx.get(base + "/v1/faxes", timeout=30,
                              headers={"authorization": f"Bearer {key}"}).json()["faxes"]
            if faxes and faxes[0]["state"] == "delivered":
                break
            time.sleep(0.1)
        assert [(f["origin"], f["state"]) for f in faxes] == [("email", "delivered")]
    finally:
        proc.terminate()
        proc.wait(30)


def test_auth_with_the_control_panel_password(rig) -> None:
    a = rig.svc.account()
    store, now = rig.svc.service.store(), rig.svc.service.clock()
    set_password(store, "Frank", "correct horse battery", now, account_id=a.id)
    m = fax_mail("frank@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf(11))
    with rig.smtp() as s:
        s.login("frank", "correct horse battery")
        s.send_message(m)
    assert [row[2] for row in rig.jobs(a)] == ["email"]
    refused(rig, lambda s: s.login("frank", "wrong password!"), 535,
            "Authentication credentials invalid")


def test_auth_needs_tls_on_a_listener_that_is_not_loopback(tmp_path) -> None:
    cfg = parse_mail_config({"listen": f"0.0.0.0:{free_port()}", "domain": DOMAIN})
    assert not cfg.plain_auth_ok
    with served(tmp_path / "data") as svc:
        a = svc.account()
        gate = MailGate(svc.service, cfg)
        gate.start()
        try:
            with smtplib.SMTP("127.0.0.1", cfg.listen_addr[1], timeout=60) as s:
                s.ehlo()
                assert "auth" not in s.esmtp_features   # not even offered
                token = base64.b64encode(f"\0x\0{a.key}".encode()).decode()
                code, text = s.docmd("AUTH", "PLAIN " + token)
            assert code == 538 and b"Encryption required" in text
        finally:
            gate.stop()


def replies_sent(rig: Rig, address: str, timeout: float = 60) -> list:
    """The refusal replies to ``address`` once the mailer has handed every recorded one to
    the sink (rows in mail_replies with sent_at set), read back from the sink."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pending = rig.svc.rows("SELECT count(*) FROM mail_replies WHERE reply_to = ? AND "
                               "sent_at IS NULL", (address,))
        if pending == [(0,)]:
            break
        time.sleep(0.1)
    return [m.message for m in rig.sink.mails if address in m.rcpt_tos]


def test_a_suspended_account_gets_a_reply_mail_with_the_reason_once(rig) -> None:
    """The gate's refusal also comes back by mail through the relay, with the reason; the
    same refusal again within the hour makes no second mail (no mail loop)."""
    a = rig.allowed("poor2@corp.example", credit_limit_cents=0)
    reason = rig.svc.suspend(a)
    m = fax_mail("poor2@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m), 550, reason)
    refused(rig, lambda s: s.send_message(m), 550, reason)
    (reply,) = replies_sent(rig, "poor2@corp.example")
    assert reply["Subject"] == "Fax not sent"
    assert reply["Auto-Submitted"] == "auto-replied" and reply["X-Faxcore-State"] == "refused"
    text = reply.get_content()
    assert f"Reason: 550 fax account may not send: {reason}" in text, text
    assert rig.svc.rows("SELECT count(*), account_id FROM mail_replies WHERE reply_to = ? "
                        "GROUP BY account_id", ("poor2@corp.example",)) == [(1, a.id)]


def test_a_document_refused_after_data_gets_a_reply_saying_why(rig) -> None:
    rig.allowed("h2@corp.example")
    m = fax_mail("h2@corp.example", f"{RECEIVER}@{DOMAIN}", subject="quarterly report",
                 pdf=b"%PDF-1.4 not really\n" * 20, message_id="<q4@corp.example>")
    refused(rig, lambda s: s.send_message(m), 554, "cannot be read as a fax document")
    m2 = fax_mail("h2@corp.example", f"{RECEIVER}@{DOMAIN}", subject="forgot it",
                  body="no file here")
    refused(rig, lambda s: s.send_message(m2), 554, "no fax document in the mail")
    got = {r["Subject"]: r for r in replies_sent(rig, "h2@corp.example")}
    assert set(got) == {"Fax not sent: quarterly report", "Fax not sent: forgot it"}
    bad = got["Fax not sent: quarterly report"]
    assert bad["In-Reply-To"] == "<q4@corp.example>"
    assert "cannot be read as a fax document" in bad.get_content()
    assert "Reason: 554 no fax document in the mail" in got["Fax not sent: forgot it"]\
        .get_content()


def test_a_stranger_or_a_forged_from_gets_no_reply_mail(rig) -> None:
    """No backscatter: refusals of senders the gateway does not know are not mailed."""
    rig.allowed("cfo@corp.example")
    m = fax_mail("cfo@corp.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m, from_addr="eve@evil.example"), 550,
            "may not send faxes here")
    m2 = fax_mail("eve@evil.example", f"{RECEIVER}@{DOMAIN}", pdf=letter_pdf())
    refused(rig, lambda s: s.send_message(m2, from_addr="cfo@corp.example"), 550,
            "is not the sender")
    assert rig.svc.rows("SELECT count(*) FROM mail_replies WHERE reply_to IN (?, ?)",
                        ("eve@evil.example", "cfo@corp.example")) == [(0,)]


def test_refusal_replies_on_postgresql_are_kept_while_the_relay_is_down(tmp_path,
                                                                         pg_url) -> None:
    """The mail_replies table on PostgreSQL: a gate refusal is recorded once, kept (tries,
    last error) while the relay is down, and mailed when it is back."""
    sink_port = free_port()
    with served(tmp_path / "data", db=pg_url) as svc:
        cfg = parse_mail_config({"listen": f"127.0.0.1:{free_port()}", "domain": DOMAIN,
                                 "relay": f"127.0.0.1:{sink_port}", "result_interval": 600})
        gate = MailGate(svc.service, cfg)
        gate.start()
        try:
            a = svc.account(credit_limit_cents=0)
            allow_sender(svc.service.store(), a.id, "pg@corp.example", svc.service.clock())
            reason = svc.suspend(a)
            for _ in range(2):
                with smtplib.SMTP(*cfg.listen_addr, timeout=60) as s, \
                        pytest.raises(smtplib.SMTPSenderRefused):
                    s.send_message(fax_mail("pg@corp.example", f"{RECEIVER}@{DOMAIN}",
                                            pdf=letter_pdf()))
            assert gate.results.send_due() == 0        # relay down: kept
            (tries, err, sent), = svc.rows("SELECT tries, last_error, sent_at FROM "
                                           "mail_replies WHERE account_id = ?", (a.id,))
            assert tries == 1 and err and sent is None
            svc.service.store().db.execute("UPDATE mail_replies SET next_try_at = 0")
            with MailSink(sink_port) as sink:
                assert gate.results.send_due() == 1
                (mail,) = sink.mails
                assert mail.rcpt_tos == ["pg@corp.example"]
                assert reason in mail.message.get_content()
        finally:
            gate.stop()
