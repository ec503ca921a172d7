"""``faxcore mail allow|deny|list`` on the service's database: the rows the gateway reads."""

from __future__ import annotations

import os
import subprocess
import sys

from faxcore.mailgate.store import account_of_sender
from faxcore.testing.paths import ROOT
from faxcore.testing.served import served


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faxcore", "mail", *args], text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_allow_list_and_deny_a_sender(tmp_path) -> None:
    with served(tmp_path / "data") as svc:
        a = svc.account()
        url = svc.service.config.db_url()
        r = cli("allow", "Alice@Corp.Example", "--account", str(a.id), "--db", url)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"alice@corp.example may send faxes by mail for account {a.id}"
        assert account_of_sender(svc.service.store(), "alice@corp.example") == a.id
        assert cli("list", "--db", url).stdout == f"{a.id}\talice@corp.example\n"
        r = cli("allow", "x@corp.example", "--account", "999", "--db", url)
        assert r.returncode == 1 and "no account 999" in r.stderr
        assert cli("deny", "alice@corp.example", "--db", url).returncode == 0
        assert account_of_sender(svc.service.store(), "alice@corp.example") is None
        r = cli("deny", "alice@corp.example", "--db", url)
        assert r.returncode == 1 and "is not allow-listed" in r.stderr
