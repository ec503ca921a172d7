""":class:`MailGate`: the SMTP listener and the result mailer, started and stopped with the
service (``Service.extras``; ``faxcore serve`` adds one when the configuration has a
``[mail]`` table)."""

from __future__ import annotations

import logging
import ssl

from aiosmtpd.controller import Controller

from faxcore.mailgate import store as mailstore
from faxcore.mailgate.config import MailConfig
from faxcore.mailgate.handler import FaxMailHandler
from faxcore.mailgate.results import ResultMailer
from faxcore.server.service import Service
from faxcore.web import users as panel_users

log = logging.getLogger("faxcore.mailgate")


class MailGate:
    def __init__(self, service: Service, cfg: MailConfig) -> None:
        self.service, self.cfg = service, cfg
        mailstore.migrate(service.store().db)
        panel_users.migrate(service.store())  # AUTH with panel passwords (IF NOT EXISTS)
        self.handler = FaxMailHandler(service, cfg)
        self.results = ResultMailer(service, cfg)
        host, port = cfg.listen_addr
        tls = None
        if cfg.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        self.controller = Controller(
            self.handler, hostname=host, port=port, ident="faxcore mail-to-fax",
            data_size_limit=cfg.max_bytes, authenticator=self.handler.authenticator,
            auth_required=False, auth_require_tls=not cfg.plain_auth_ok, tls_context=tls,
            decode_data=False)

    @property
    def address(self) -> tuple[str, int]:
        return self.cfg.listen_addr

    def start(self) -> None:
        self.controller.start()
        self.results.start()
        log.info("mail gateway listening on smtp://%s:%d for %s", *self.address,
                 ", ".join(sorted(self.cfg.domains)))

    def stop(self) -> None:
        self.results.stop()
        try:
            self.controller.stop()
        except AssertionError:  # never started
            pass
