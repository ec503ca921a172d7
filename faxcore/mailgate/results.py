"""Result mails: when a job that came by mail ends (delivered, failed, canceled, expired),
a mail with a short transmission report goes to its sender through the relay.

A thread looks for such jobs every ``result_interval`` seconds (``mail_jobs`` rows with no
``notified_at`` whose job is in a final state). The row is marked only after the relay
accepted the mail, so a relay that is down or a crash delays a result mail, never loses
it; a failed try is tried again after 30 s, 60 s, ... (at most an hour apart).

Refusals get a reply mail the same way (``mail_replies``): a mail the gate refused (the
account may not send) or refused after DATA (a document that cannot be read, malformed
MIME, no document) is answered by a mail to its sender saying why, besides the SMTP reply
(which a sender's own server may turn into an unreadable bounce, or not show at all).
Only senders the gateway knows get one (authenticated, or allow-listed for an account): a
stranger's forged address gets no mail from us (no backscatter). The same refusal to the
same address is mailed at most once an hour (a client retrying in a loop does not make
a mail loop); replies carry ``Auto-Submitted: auto-replied`` (RFC 3834).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from faxcore.accounts import Store
from faxcore.accounts.rules import to_us
from faxcore.mailgate.config import MailConfig
from faxcore.server import model
from faxcore.server.queue import Attempt, FaxJob
from faxcore.server.service import Service

log = logging.getLogger("faxcore.mailgate.results")

FINAL = (model.DELIVERED, model.FAILED, model.CANCELED, model.EXPIRED)


def report_text(job: FaxJob, attempts: list[Attempt], confirmed: list[int]) -> str:
    """The transmission report: outcome, pages, and one line per attempt."""
    lines = [f"Fax job {job.id} to {job.destination}: {job.state.upper()}",
             f"Pages: {len(confirmed)} of {job.pages} confirmed by the receiving machine",
             f"Submitted: {job.created_at:%Y-%m-%d %H:%M:%S} UTC",
             f"Finished:  {job.updated_at:%Y-%m-%d %H:%M:%S} UTC",
             f"Dials: {job.dials}   Tries: {job.tries}"]
    if job.reason:
        lines.append(f"Reason: {job.reason}")
    lines += ["", "Attempts:"]
    for a in attempts:
        speed = f"{a.bit_rate} bit/s {a.modulation or ''}".strip() if a.bit_rate else "-"
        ecm = "ECM" if a.ecm else "no ECM" if a.ecm is not None else ""
        dur = f"{a.duration_s:.1f} s" if a.duration_s is not None else ""
        lines.append(f"  {a.n}. {a.started_at:%H:%M:%S}  {a.result or 'unfinished':<12} "
                     f"{speed} {ecm}  pages {a.pages_confirmed}  "
                     f"T.30 {a.t30_status or '-'}  {a.hangup_cause or ''} {dur}".rstrip())
    if not attempts:
        lines.append("  (none: the job ended before a call)")
    return "\n".join(lines) + "\n"


def result_mail(cfg: MailConfig, job: FaxJob, attempts: list[Attempt], confirmed: list[int],
                reply_to: str, message_id: str | None, subject: str,
                now: datetime) -> EmailMessage:
    m = EmailMessage()
    m["From"] = cfg.sender
    m["To"] = reply_to
    outcome = "delivered" if job.state == model.DELIVERED else job.state
    m["Subject"] = f"Fax to {job.destination} {outcome} (job {job.id})" + (
        f": {subject}" if subject else "")
    m["Date"] = format_datetime(now)
    m["Message-ID"] = make_msgid(domain=cfg.sender.rpartition("@")[2] or None)
    m["X-Faxcore-Job"] = str(job.id)
    m["X-Faxcore-State"] = job.state
    if message_id:
        m["In-Reply-To"] = message_id
        m["References"] = message_id
    m.set_content(report_text(job, attempts, confirmed))
    return m


REPLY_EVERY = timedelta(hours=1)


def queue_refusal(store: Store, account_id: int, reply_to: str, reason: str,
                  subject: str, in_reply_to: str | None, now: datetime) -> bool:
    """Record a reply mail saying why a mail was refused; False when none is due (no
    address, a bounce, or the same refusal went to this address within the hour)."""
    to = reply_to.strip().strip("<>")
    if "@" not in to:
        return False
    title = f"Fax not sent: {subject}" if subject else "Fax not sent"
    body = (f"Your mail to the fax gateway was refused and nothing was faxed.\n\n"
            f"Reason: {reason}\n\n"
            f"Fix what the reason says and send the mail again.\n")
    with store.db.write():
        recent = store.db.one(
            "SELECT 1 FROM mail_replies WHERE reply_to = ? AND subject = ? AND body = ? "
            "AND created_at > ?", (to, title[:200], body, to_us(now - REPLY_EVERY)))
        if recent is not None:
            return False
        store.db.insert(
            "INSERT INTO mail_replies (account_id, reply_to, subject, body, in_reply_to, "
            "created_at, next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account_id, to, title[:200], body, in_reply_to, to_us(now), to_us(now)))
    log.info("refusal reply queued to %s: %s", to, reason)
    return True


def refusal_mail(cfg: MailConfig, reply_to: str, subject: str, body: str,
                 in_reply_to: str | None, now: datetime) -> EmailMessage:
    m = EmailMessage()
    m["From"] = cfg.sender
    m["To"] = reply_to
    m["Subject"] = subject
    m["Date"] = format_datetime(now)
    m["Message-ID"] = make_msgid(domain=cfg.sender.rpartition("@")[2] or None)
    m["Auto-Submitted"] = "auto-replied"
    m["X-Faxcore-State"] = "refused"
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(body)
    return m


class ResultMailer:
    def __init__(self, service: Service, cfg: MailConfig) -> None:
        self.service, self.cfg = service, cfg
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="mailgate-results",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.result_interval):
            try:
                self.send_due()
            except Exception:  # keep going: the next pass tries again
                log.exception("result mails")

    def send_due(self) -> int:
        """Send the result mails and refusal replies that are due; returns how many went."""
        relay = self.cfg.relay_addr
        if relay is None:
            return 0
        return self._send_results(relay) + self._send_replies(relay)

    def _relay(self, relay: tuple[str, int], mail: EmailMessage, to: str) -> str | None:
        """Hand ``mail`` to the relay; the error text, or None when it took it."""
        try:
            with smtplib.SMTP(relay[0], relay[1], timeout=30) as smtp:
                smtp.send_message(mail, from_addr=self.cfg.sender, to_addrs=[to])
        except (OSError, smtplib.SMTPException) as exc:
            return str(exc) or exc.__class__.__name__
        return None

    def _send_results(self, relay: tuple[str, int]) -> int:
        store = self.service.store()
        now = self.service.clock()
        marks = ", ".join("?" for _ in FINAL)
        rows = store.db.all(
            "SELECT m.job_id, m.reply_to, m.message_id, m.subject, m.tries FROM mail_jobs m "
            f"JOIN fax_jobs j ON j.id = m.job_id WHERE m.notified_at IS NULL AND j.state IN "
            f"({marks}) AND m.next_try_at <= ? ORDER BY m.job_id LIMIT 100",
            (*FINAL, to_us(now)))
        q = self.service.queue()
        sent = 0
        for job_id, reply_to, message_id, subject, tries in rows:
            job = q.get(job_id)
            mail = result_mail(self.cfg, job, q.attempts(job_id), q.confirmed_pages(job_id),
                               reply_to, message_id, subject, now)
            error = self._relay(relay, mail, reply_to)
            if error is not None:
                wait = min(3600, 30 * 2 ** min(tries, 7))
                log.warning("result mail for job %d to %s: %s (again in %d s)", job_id,
                            reply_to, error, wait)
                with store.db.write():
                    store.db.execute("UPDATE mail_jobs SET tries = tries + 1, next_try_at = ?, "
                                     "last_error = ? WHERE job_id = ?",
                                     (to_us(now + timedelta(seconds=wait)), error[:500],
                                      job_id))
                continue
            with store.db.write():
                store.db.execute("UPDATE mail_jobs SET notified_at = ?, tries = tries + 1, "
                                 "last_error = NULL WHERE job_id = ?", (to_us(now), job_id))
            sent += 1
        return sent

    def _send_replies(self, relay: tuple[str, int]) -> int:
        store = self.service.store()
        now = self.service.clock()
        rows = store.db.all(
            "SELECT id, reply_to, subject, body, in_reply_to, tries FROM mail_replies "
            "WHERE sent_at IS NULL AND next_try_at <= ? ORDER BY id LIMIT 100", (to_us(now),))
        sent = 0
        for reply_id, reply_to, subject, body, in_reply_to, tries in rows:
            mail = refusal_mail(self.cfg, reply_to, subject, body, in_reply_to, now)
            error = self._relay(relay, mail, reply_to)
            if error is not None:
                wait = min(3600, 30 * 2 ** min(tries, 7))
                log.warning("refusal reply %d to %s: %s (again in %d s)", reply_id, reply_to,
                            error, wait)
                with store.db.write():
                    store.db.execute("UPDATE mail_replies SET tries = tries + 1, "
                                     "next_try_at = ?, last_error = ? WHERE id = ?",
                                     (to_us(now + timedelta(seconds=wait)), error[:500],
                                      reply_id))
                continue
            with store.db.write():
                store.db.execute("UPDATE mail_replies SET sent_at = ?, tries = tries + 1, "
                                 "last_error = NULL WHERE id = ?", (to_us(now), reply_id))
            sent += 1
        return sent
