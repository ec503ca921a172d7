"""The server's configuration: built-in defaults, overridden by a TOML file.

Every key is optional; an unknown key is an error (a typo must not be ignored)::

    [server]
    bind = "127.0.0.1:8025"          # host:port of the HTTP API
    db = "sqlite:////var/lib/faxcore/faxcore.db"   # or postgresql://...
    data_dir = "/var/lib/faxcore"    # documents/ and received/ go here
    max_upload_mb = 20               # larger requests get HTTP 413
    max_pages = 200                  # more pages in one fax: HTTP 422
    admin_token = "change-me"        # enables /v1/admin/* (Bearer token); none: disabled
    workers = 4                      # scheduler threads (default: the channels' lines, <= 16)
    lease_seconds = 120

    [retry]                          # HylaFAX's defaults
    busy = 180                       # seconds before calling again after busy
    no_answer = 300
    protocol_error = 60
    max_dials = 12
    max_tries = 3
    kill_after = 10800               # a job expires this long after it was due

    [limits]
    per_destination = 1              # simultaneous calls to one number

    [[channel]]
    type = "loopback"
    name = "loopback"
    capacity = 4                     # lines
    answer_unknown = true            # numbers no account owns answer as plain stations
    ecm = true
    pace = 0.0                       # real seconds per virtual second of a call (0: flat out)
    faults = { "+15550001" = { kind = "busy", times = 1 },
               "+15550002" = { kind = "drop", after_page = 2, times = 1 } }

    [[channel]]                      # Class 1 fax modems, one line each
    kind = "class1"                  # (``type`` is the same key)
    name = "modems"
    devices = ["/dev/ttyUSB0",       # pyserial URLs: devices, socket://, rfc2217://,
               { url = "socket://10.0.0.5:4001", number = "+15550002" }]  # faxemu://
    number = "+15550001"             # the lines' number (routing inbound, caller id)
    answer = true                    # answer RINGs (inbound)
    quirks = "auto"                  # the modems' quirk profile (faxcore.class1.quirks)
    dial_prefix = ""                 # put before the number dialled (+ is dropped)
    baudrate = 115200
    rtscts = true
    max_call_seconds = 1800

    [[channel]]                      # a SIP trunk: G.711 or T.38
    kind = "sip"
    name = "trunk"
    bind = "0.0.0.0:5060"            # our SIP socket (media ports: any free ones)
    proxy = "sip.example.net:5060"   # every INVITE goes through it
    domain = "sip.example.net"       # host of the To URIs (default: the proxy)
    registrar = "sip.example.net"    # REGISTER there as user (needs password)
    user = "15550001"
    password = "secret"              # digest (401/407); From is then sip:user@...
    capacity = 8                     # simultaneous calls
    t38 = "prefer"                   # prefer | only | never

    [[route]]                        # which channel a destination goes to (longest prefix)
    prefix = "+1"
    channel = "loopback"

    [inbound]
    default_account = 1              # calls to numbers nobody owns (SUB routes first)
    smtp = "mail.example.net:25"     # received faxes mailed (PDF) via this relay
    mail_from = "fax@example.net"
    smtp_user = "fax"                # optional log-in, STARTTLS
    smtp_password = "secret"
    smtp_starttls = true

Defaults: SQLite (WAL) in the user data directory, one loopback channel of 4 lines,
bound to 127.0.0.1:8025.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from faxcore.server.model import Limits, RetryPolicy

DEFAULT_BIND = "127.0.0.1:8025"


class ConfigError(ValueError):
    pass


CHANNEL_KINDS = ("loopback", "class1", "sip")


@dataclass
class ChannelConfig:
    type: str = "loopback"          # the kind of channel; ``kind`` in the TOML file
    name: str = "loopback"
    capacity: int = 4
    answer_unknown: bool = True
    ecm: bool = True
    pace: float = 0.0
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    # class1: the modems (pyserial URLs, or {url = ..., number = ...} tables), the number
    # of lines that give none, answering, and the serial settings
    devices: list[Any] = field(default_factory=list)
    number: str = ""
    answer: bool = True
    quirks: str | None = None
    baudrate: int = 115200
    rtscts: bool = True
    dial_prefix: str = ""
    max_call_seconds: float = 1800.0
    # sip: the trunk
    proxy: str | None = None        # host[:port] every INVITE goes through (outbound proxy)
    registrar: str | None = None    # host[:port] to REGISTER with (needs user/password)
    user: str = "faxcore"
    password: str | None = None
    domain: str | None = None       # the host part of To URIs (default: the proxy's host)
    bind: str = "127.0.0.1:5060"
    t38: str = "prefer"             # prefer | only | never

    def modem_lines(self) -> list[tuple[str, str]]:
        """(url, number) of each modem of a class1 channel."""
        out = []
        for d in self.devices:
            if isinstance(d, str):
                out.append((d, self.number))
            elif isinstance(d, dict) and isinstance(d.get("url"), str) \
                    and set(d) <= {"url", "number"}:
                out.append((d["url"], str(d.get("number", self.number))))
            else:
                raise ConfigError(f"channel {self.name}: a device is a pyserial URL or a "
                                  f"table {{url = ..., number = ...}}, not {d!r}")
        return out


@dataclass
class ServerConfig:
    bind: str = DEFAULT_BIND
    db: str | None = None
    data_dir: str | None = None
    max_upload_mb: float = 20.0
    max_pages: int = 200
    admin_token: str | None = None
    workers: int | None = None
    lease_seconds: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: Limits = field(default_factory=Limits)
    channels: list[ChannelConfig] = field(default_factory=lambda: [ChannelConfig()])
    routes: list[tuple[str, str]] = field(default_factory=list)
    # [inbound]: routing of calls to numbers nobody owns, and mail of received faxes
    default_account: int | None = None
    smtp: str | None = None                # HOST[:PORT] of the relay; none: no mail
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "faxcore@localhost"
    # [mail]: the email-to-fax gateway's table, checked by faxcore.mailgate (a layer above)
    mail: dict[str, Any] = field(default_factory=dict)

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.bind.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"bind must be HOST:PORT, got {self.bind!r}")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        return Path(platformdirs.user_data_dir("faxcore", appauthor=False))

    def db_url(self) -> str:
        if self.db:
            return self.db
        env = os.environ.get("FAXCORE_DB")
        if env:
            return env
        return f"sqlite:///{self.data_path() / 'faxcore.db'}"

    def channel_for(self, destination: str) -> str:
        best = ("", self.channels[0].name)
        for prefix, channel in self.routes:
            if destination.startswith(prefix) and len(prefix) > len(best[0]):
                best = (prefix, channel)
        return best[1]


def _take(cls: type, table: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(names))})")
    try:
        return cls(**table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> ServerConfig:
    """The defaults, then ``path`` (TOML), then ``overrides`` that are not None."""
    cfg = ServerConfig()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        apply_toml(cfg, data, str(path))
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    check(cfg)
    return cfg


def apply_toml(cfg: ServerConfig, data: dict[str, Any], where: str = "config") -> None:
    unknown = set(data) - {"server", "retry", "limits", "channel", "route", "mail",
                           "inbound"}
    if unknown:
        raise ConfigError(f"unknown table(s) in {where}: {', '.join(sorted(unknown))}")
    server = dict(data.get("server", {}))
    allowed = {"bind", "db", "data_dir", "max_upload_mb", "max_pages", "admin_token",
               "workers", "lease_seconds"}
    bad = set(server) - allowed
    if bad:
        raise ConfigError(f"unknown key(s) in [server] of {where}: {', '.join(sorted(bad))}")
    for k, v in server.items():
        setattr(cfg, k, v)
    if "retry" in data:
        cfg.retry = _take(RetryPolicy, data["retry"], f"[retry] of {where}")
    if "limits" in data:
        cfg.limits = _take(Limits, data["limits"], f"[limits] of {where}")
    if "channel" in data:
        cfg.channels = []
        for c in data["channel"]:
            c = dict(c)
            if "kind" in c:
                kind = c.pop("kind")
                if c.setdefault("type", kind) != kind:
                    raise ConfigError(f"[[channel]] of {where}: kind and type differ")
            cfg.channels.append(_take(ChannelConfig, c, f"[[channel]] of {where}"))
    if "inbound" in data:
        known = {"default_account", "smtp", "smtp_user", "smtp_password", "smtp_starttls",
                 "mail_from"}
        bad = set(data["inbound"]) - known
        if bad:
            raise ConfigError(f"unknown key(s) in [inbound] of {where}: "
                              f"{', '.join(sorted(bad))} (known: {', '.join(sorted(known))})")
        for k, v in data["inbound"].items():
            setattr(cfg, k, v)
    if "mail" in data:
        cfg.mail = dict(data["mail"])
    if "route" in data:
        cfg.routes = []
        for r in data["route"]:
            if set(r) != {"prefix", "channel"}:
                raise ConfigError(f"[[route]] of {where} needs exactly prefix and channel")
            cfg.routes.append((str(r["prefix"]), str(r["channel"])))


def check(cfg: ServerConfig) -> None:
    cfg.host_port  # noqa: B018 - validates
    if not cfg.channels:
        raise ConfigError("at least one [[channel]] is needed")
    names = [c.name for c in cfg.channels]
    if len(set(names)) != len(names):
        raise ConfigError(f"channel names must differ: {names}")
    for c in cfg.channels:
        if c.type not in CHANNEL_KINDS:
            raise ConfigError(f"channel {c.name}: unknown kind {c.type!r} (one of "
                              f"{', '.join(CHANNEL_KINDS)})")
        if not isinstance(c.capacity, int) or c.capacity < 1:
            raise ConfigError(f"channel {c.name}: capacity must be >= 1")
        if c.type == "class1":
            if not c.devices:
                raise ConfigError(f"channel {c.name}: a class1 channel needs devices "
                                  "(pyserial URLs of its modems)")
            c.modem_lines()
        if c.type == "sip":
            if c.t38 not in ("prefer", "only", "never"):
                raise ConfigError(f"channel {c.name}: t38 must be prefer, only or never")
            if c.registrar and not c.password:
                raise ConfigError(f"channel {c.name}: registering needs a password")
            if not c.proxy and not c.domain:
                raise ConfigError(f"channel {c.name}: a sip channel needs a proxy (or a "
                                  "domain to call directly)")
    for _prefix, ch in cfg.routes:
        if ch not in names:
            raise ConfigError(f"route to unknown channel {ch!r}")
    if cfg.workers is not None and (not isinstance(cfg.workers, int) or cfg.workers < 1):
        raise ConfigError(f"workers must be a whole number >= 1, got {cfg.workers!r}")
    if cfg.default_account is not None and (not isinstance(cfg.default_account, int)
                                            or cfg.default_account < 1):
        raise ConfigError("default_account must be an account id (a whole number >= 1)")
    if cfg.smtp is not None:
        host, sep, port = cfg.smtp.rpartition(":")
        if not cfg.smtp or (sep and not port.isdigit()):
            raise ConfigError(f"smtp must be HOST[:PORT], got {cfg.smtp!r}")
    if not cfg.lease_seconds > 0:
        raise ConfigError("lease_seconds must be positive")
    if cfg.max_upload_mb <= 0 or cfg.max_pages < 1:
        raise ConfigError("max_upload_mb and max_pages must be positive")
