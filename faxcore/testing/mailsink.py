"""A local SMTP sink (aiosmtpd) that keeps every mail it is given: the relay of the mail
gateway's tests, read back by the tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class SunkMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class _Keep:
    def __init__(self) -> None:
        self.mails: list[SunkMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.mails.append(SunkMail(envelope.mail_from, list(envelope.rcpt_tos),
                                       bytes(envelope.original_content or envelope.content)))
        return "250 OK kept"


class MailSink:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._keep = _Keep()
        self.controller = Controller(self._keep, hostname=host, port=port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mails(self) -> list[SunkMail]:
        with self._keep.lock:
            return list(self._keep.mails)

    def wait(self, n: int = 1, timeout: float = 60) -> list[SunkMail]:
        end = time.monotonic() + timeout
        while len(self.mails) < n and time.monotonic() < end:
            time.sleep(0.1)
        return self.mails

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
