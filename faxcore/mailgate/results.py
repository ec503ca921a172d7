"""Result mails: when a job that came by mail ends (delivered, failed, canceled, expired),
a mail with a short transmission report goes to its sender through the relay.

A thread looks for such jobs every ``result_interval`` seconds (``mail_jobs`` rows with no
``notified_at`` whose job is in a final state). The row is marked only after the relay
accepted the mail, so a relay that is down or a crash delays a result mail, never loses
it; a failed try is tried again after 30 s, 60 s, ... (at most an hour apart).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

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
        """Send the result mails that are due; returns how many went."""
        relay = self.cfg.relay_addr
        if relay is None:
            return 0
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
            try:
                with smtplib.SMTP(relay[0], relay[1], timeout=30) as smtp:
                    smtp.send_message(mail, from_addr=self.cfg.sender, to_addrs=[reply_to])
            except (OSError, smtplib.SMTPException) as exc:
                wait = min(3600, 30 * 2 ** min(tries, 7))
                log.warning("result mail for job %d to %s: %s (again in %d s)", job_id,
                            reply_to, exc, wait)
                with store.db.write():
                    store.db.execute("UPDATE mail_jobs SET tries = tries + 1, next_try_at = ?, "
                                     "last_error = ? WHERE job_id = ?",
                                     (to_us(now + timedelta(seconds=wait)), str(exc)[:500],
                                      job_id))
                continue
            with store.db.write():
                store.db.execute("UPDATE mail_jobs SET notified_at = ?, tries = tries + 1, "
                                 "last_error = NULL WHERE job_id = ?", (to_us(now), job_id))
            sent += 1
        return sent
