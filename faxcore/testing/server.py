"""A :class:`~faxcore.server.service.Service` for in-process tests (the server's and the
control panel's): a temporary SQLite database and data directory, and a clock the test
moves instead of the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faxcore.server.config import ChannelConfig, ServerConfig
from faxcore.server.service import Service

ADMIN = "test-admin-token"
START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The service's clock: stands still until the test calls :meth:`advance`."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_service(root: Path, clock: Clock, *, channels: list[ChannelConfig] | None = None,
                 **cfg: Any) -> Service:
    """A service with its data under ``root / "data"``, admin token :data:`ADMIN`, one
    loopback channel unless ``channels`` says otherwise; ``cfg``: more
    :class:`ServerConfig` fields (``db=`` a PostgreSQL URL, ``retry=``, ...)."""
    config = ServerConfig(data_dir=str(root / "data"), admin_token=ADMIN,
                          channels=channels or [ChannelConfig()], **cfg)
    return Service(config, clock=clock)
