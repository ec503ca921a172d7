"""The SMTP dialogue (an aiosmtpd handler) and the submission of the jobs.

Who may spend an account:

* a client that authenticated (``AUTH PLAIN``/``LOGIN``) with one of the account's API
  keys as the password (the user name is then not checked), or with a control-panel
  log-in and its password (:mod:`faxcore.web.users`, client log-ins): that account;
* otherwise the envelope sender must be allow-listed for an account
  (:func:`faxcore.mailgate.store.allow_sender`), the client must come from
  ``allow_networks`` (the front mail server that checked SPF/DKIM: a stranger on the
  internet cannot just claim an address), and the mail's From header must be that same
  address.

Replies: 550 5.7.1 for a sender who may not send or an account the gate refuses (its
reason in the reply), 550 5.7.1 for another domain (no relaying), 550 5.1.1 for a local
part that is not a fax number, 452 for too many recipients, 552 for a mail over the size
limit (aiosmtpd: SIZE and DATA), 554 5.6.0 for malformed MIME, no document, a document
that cannot be read (the gate's refusals and these also by a reply mail to a sender we
know, :mod:`faxcore.mailgate.results`); 451 4.3.0 for our own failure (the sender's server keeps the mail and
tries again). A mail becomes its jobs in one transaction, with the record of where the
result goes: all its jobs or none.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from faxcore.accounts.jobs import normalize_number
from faxcore.mailgate.config import MailConfig
from faxcore.mailgate.message import FaxMail, MailRejected, parse_mail
from faxcore.mailgate.results import queue_refusal
from faxcore.mailgate.store import account_of_sender, normalize_address
from faxcore.server import keys
from faxcore.server.documents import DocumentRejected, load_upload, remove_quietly, store_pages
from faxcore.server.queue import IdempotencyConflict
from faxcore.server.service import Service
from faxcore.web import users as panel_users

log = logging.getLogger("faxcore.mailgate")


class FaxMailHandler:
    def __init__(self, service: Service, cfg: MailConfig) -> None:
        self.service = service
        self.cfg = cfg
        self.networks = cfg.networks

    # ---- authentication ----------------------------------------------------------------

    def authenticator(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        secret = auth_data.password.decode("utf-8", errors="replace")
        store = self.service.store()
        if secret.strip().startswith(keys.PREFIX):
            acct = keys.account_for_key(store, secret.strip())
        else:  # the control panel's log-in name and password (argon2)
            login = auth_data.login.decode("utf-8", errors="replace")
            user = panel_users.authenticate(store, login, secret)
            acct = user.account_id if user is not None and user.role == "client" else None
        if acct is None:
            log.info("AUTH %s refused from %s", mechanism, session.peer)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=acct)

    # ---- the envelope ------------------------------------------------------------------

    async def _run(self, fn, *args):
        # database work off the event loop: each executor thread has its own connection
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _trusted_peer(self, session: Session) -> bool:
        try:
            ip = ipaddress.ip_address(session.peer[0])
        except (ValueError, TypeError, IndexError):
            return False
        return any(ip in n for n in self.networks)

    def _sender_account(self, session: Session, address: str) -> int:
        if session.authenticated and isinstance(session.auth_data, int):
            return session.auth_data
        acct = account_of_sender(self.service.store(), address) if address else None
        if acct is None or not self._trusted_peer(session):
            raise MailRejected(550, f"5.7.1 <{address}> may not send faxes here: authenticate "
                                    "(AUTH PLAIN or LOGIN with your API key) or have the "
                                    "address allow-listed for your account")
        return acct

    def _gate(self, acct: int) -> None:
        store = self.service.store()
        decision = store.check_send(acct, self.service.clock())
        if not decision.allowed:
            raise MailRejected(550, f"5.7.1 fax account may not send: {decision.reason}")

    def _reply(self, acct: int, reply_to: str, exc: MailRejected, subject: str = "",
               in_reply_to: str | None = None) -> None:
        """A reply mail with the refusal's reason, to a sender we know (see results.py).
        Only recorded here; the result mailer's thread hands it to the relay."""
        if self.cfg.relay_addr is None:
            return
        reason = exc.text.split(" ", 1)[1] if exc.text[:1].isdigit() else exc.text
        try:
            queue_refusal(self.service.store(), acct, reply_to, f"{exc.code} {reason}",
                          subject, in_reply_to, self.service.clock())
        except Exception:  # the SMTP reply still says why: never fail the dialogue for it
            log.exception("refusal reply to %s", reply_to)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        def check() -> int:
            acct = self._sender_account(session, address)
            try:
                self._gate(acct)
            except MailRejected as exc:  # a known sender: tell them by mail too
                self._reply(acct, address, exc)
                raise
            return acct
        try:
            acct = await self._run(check)
        except MailRejected as exc:
            return exc.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.fax_account = acct  # type: ignore[attr-defined]
        envelope.fax_numbers = []  # type: ignore[attr-defined]
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        local, at, domain = address.rpartition("@")
        if not at or domain.lower() not in self.cfg.domains:
            return (f"550 5.7.1 <{address}>: relaying denied: this server takes mail only "
                    f"for NUMBER@{sorted(self.cfg.domains)[0]}")
        try:
            number = normalize_number(local)
        except ValueError:
            return (f"550 5.1.1 <{address}>: not a fax number: the part before @ must be the "
                    "number, digits with an optional + (like +15551234@"
                    f"{domain.lower()})")
        numbers = envelope.fax_numbers  # type: ignore[attr-defined]
        if len(numbers) >= self.cfg.max_recipients:
            return f"452 4.5.3 too many recipients (at most {self.cfg.max_recipients} a mail)"
        if number not in numbers:
            numbers.append(number)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    # ---- the message -------------------------------------------------------------------

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            ids = await self._run(self._accept, session, envelope, raw)
        except MailRejected as exc:
            log.info("mail from %s refused: %s", envelope.mail_from, exc.reply)
            return exc.reply
        except Exception:
            log.exception("mail from %s: internal error", envelope.mail_from)
            return "451 4.3.0 temporary failure in the fax server: try again later"
        numbers = envelope.fax_numbers  # type: ignore[attr-defined]
        return (f"250 2.0.0 OK: fax job{'s' if len(ids) > 1 else ''} "
                f"{', '.join(map(str, ids))} queued to {', '.join(numbers)}")

    def _accept(self, session: Session, envelope: Envelope, raw: bytes) -> list[int]:
        acct: int = envelope.fax_account  # type: ignore[attr-defined]
        sender = normalize_address(envelope.mail_from or "")
        try:
            fax = parse_mail(raw)
        except MailRejected as exc:  # the sender passed MAIL FROM: one of ours
            self._reply(acct, sender, exc, exc.subject, exc.message_id)
            raise
        if not session.authenticated and fax.from_addresses != [sender]:
            # possibly forged: no reply mail (it would go to whoever was impersonated)
            shown = ", ".join(fax.from_addresses) or "none"
            raise MailRejected(550, f"5.7.1 the From header ({shown}) is not the sender "
                                    f"<{sender}>")
        reply_to = sender or (fax.from_addresses[0] if fax.from_addresses else "")
        try:
            return submit_mail(self.service, acct,
                               envelope.fax_numbers,  # type: ignore[attr-defined]
                               fax, reply_to, fax.digest())
        except MailRejected as exc:
            self._reply(acct, reply_to, exc, fax.subject, fax.message_id)
            raise


def submit_mail(service: Service, acct: int, numbers: list[str], fax: FaxMail,
                reply_to: str, digest: str) -> list[int]:
    """Jobs (origin email) for ``numbers``, each with its own copy of the document, and
    their ``mail_jobs`` rows, in one transaction. The gate is asked again (the account may
    have changed since MAIL FROM). Re-sent mail (same Message-ID and content, e.g. after a
    connection lost before our 250) finds its jobs instead of making new ones."""
    store = service.store()
    now = service.clock()
    cfg = service.config
    decision = store.check_send(acct, now)
    if not decision.allowed:
        raise MailRejected(550, f"5.7.1 fax account may not send: {decision.reason}")
    try:
        pages = list(fax.cover) + (load_upload(fax.files, max_pages=cfg.max_pages)
                                   if fax.files else [])
    except DocumentRejected as exc:
        raise MailRejected(554, f"5.6.0 {exc}; nothing was sent") from None
    if len(pages) > cfg.max_pages:
        raise MailRejected(554, f"5.6.0 more than {cfg.max_pages} pages (the server's limit)")
    docs = [store_pages(service.documents, f"acct{acct}", pages) for _ in numbers]
    q = service.queue()
    ids: list[int] = []
    made: list[bool] = []
    try:
        with store.db.write():
            for number, doc in zip(numbers, docs, strict=True):
                idem = f"mail:{fax.message_id}:{number}"[:255] if fax.message_id else None
                existing = q.find_idempotent(acct, idem) if idem else None
                if existing is not None:  # asked first: a failed INSERT aborts a PG transaction
                    if q.request_hash(existing.id) != digest:
                        raise IdempotencyConflict(idem)
                    ids.append(existing.id)
                    made.append(False)
                    continue
                job, created = q.submit(acct, number, channel=cfg.channel_for(number),
                                        pages=doc.pages, document=str(doc.tif), now=now,
                                        idempotency_key=idem, request_sha256=digest,
                                        origin="email")
                ids.append(job.id)
                made.append(created)
                if created:
                    store.db.execute(
                        "INSERT INTO mail_jobs (job_id, account_id, reply_to, message_id, "
                        "subject) VALUES (?, ?, ?, ?, ?)",
                        (job.id, acct, reply_to, fax.message_id, fax.subject[:200]))
    except IdempotencyConflict:
        for d in docs:
            remove_quietly(d.tif, d.pdf)
        raise MailRejected(554, "5.7.0 a different mail with this Message-ID was already "
                                "faxed") from None
    except BaseException:
        for d in docs:
            remove_quietly(d.tif, d.pdf)
        raise
    for d, created in zip(docs, made, strict=True):
        if not created:
            remove_quietly(d.tif, d.pdf)
    service.scheduler.wake()
    log.info("mail from %s: jobs %s (account %d)", reply_to, ids, acct)
    return ids
