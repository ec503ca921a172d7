"""The ``[mail]`` table of the server's configuration::

    [mail]
    listen = "127.0.0.1:2525"        # where the SMTP listener listens
    domain = "fax.example"           # mail to <number>@fax.example is a fax (or a list)
    relay = "127.0.0.1:25"           # where result mails go (host:port); none: not sent
    result_from = "fax@fax.example"  # the From of result mails (default fax@<domain>)
    max_message_mb = 50              # larger mail: 552 (SIZE and DATA)
    max_recipients = 20              # more RCPTs in one mail: 452
    allow_networks = ["127.0.0.0/8", "::1/128"]  # who may use allow-listed senders
    auth_without_tls = false         # AUTH over plain TCP (default: only on loopback)
    tls_cert = "/etc/faxcore/smtp.pem"   # STARTTLS (both or neither)
    tls_key = "/etc/faxcore/smtp.key"
    result_interval = 1.0            # seconds between looks for finished jobs

Unknown keys are errors, as in the rest of the configuration.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from typing import Any


class MailConfigError(ValueError):
    pass


def host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MailConfigError(f"[mail] {what} must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class MailConfig:
    listen: str = "127.0.0.1:2525"
    domain: str | list[str] = "fax.example"
    relay: str | None = None
    result_from: str | None = None
    max_message_mb: float = 50.0
    max_recipients: int = 20
    allow_networks: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    auth_without_tls: bool | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    result_interval: float = 1.0

    @property
    def domains(self) -> set[str]:
        d = [self.domain] if isinstance(self.domain, str) else list(self.domain)
        return {x.lower().strip() for x in d}

    @property
    def listen_addr(self) -> tuple[str, int]:
        return host_port(self.listen, "listen")

    @property
    def relay_addr(self) -> tuple[str, int] | None:
        return None if not self.relay else host_port(self.relay, "relay")

    @property
    def max_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)

    @property
    def sender(self) -> str:
        return self.result_from or f"fax@{sorted(self.domains)[0]}"

    @property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.allow_networks]

    @property
    def plain_auth_ok(self) -> bool:
        """AUTH without TLS: as configured; by default only on a loopback listener."""
        if self.auth_without_tls is not None:
            return bool(self.auth_without_tls)
        host = self.listen_addr[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"


def parse_mail_config(table: dict[str, Any]) -> MailConfig:
    names = {f.name for f in fields(MailConfig)}
    unknown = set(table) - names
    if unknown:
        raise MailConfigError(f"unknown key(s) in [mail]: {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(sorted(names))})")
    cfg = MailConfig(**table)
    cfg.listen_addr  # noqa: B018 - validates
    cfg.relay_addr  # noqa: B018 - validates
    if not cfg.domains or not all(cfg.domains):
        raise MailConfigError("[mail] domain must name the fax domain")
    if not cfg.max_message_mb > 0 or cfg.max_recipients < 1 or not cfg.result_interval > 0:
        raise MailConfigError("[mail] max_message_mb, max_recipients and result_interval "
                              "must be positive")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise MailConfigError("[mail] tls_cert and tls_key go together")
    try:
        cfg.networks  # noqa: B018 - validates
    except ValueError as exc:
        raise MailConfigError(f"[mail] allow_networks: {exc}") from None
    return cfg
