"""``faxcore account ...`` and ``faxcore jobs ...`` end to end (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from faxcore.cli import main


def cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "cli.db")  # a bare path means SQLite
    return request.getfixturevalue("pg_url")


def test_account_lifecycle(capsys, db):
    code, out, _ = cli(capsys, "account", "create", "--db", db, "--now", "2026-01-10T09:00",
                       "--plan", "tollfree", "--credit-limit", "25.00", "--billing-day", "15",
                       "--name", "Acme", "--json")
    assert code == 0
    acc = json.loads(out)
    aid = acc["id"]
    assert (acc["plan"], acc["credit_limit_cents"], acc["status"], acc["login_scope"]) == \
        ("tollfree", 2500, "active", "full")

    code, out, _ = cli(capsys, "account", "charge", str(aid), "--pages", "10", "--db", db,
                       "--now", "2026-01-11")
    assert code == 0 and "$1.20" in out
    code, out, _ = cli(capsys, "account", "bill", "--db", db, "--now", "2026-01-15")
    assert out.strip() == "issued 1 invoice(s)"

    # 3 days after billing: suspended, and a job is refused (exit status 3) with the reason
    code, out, _ = cli(capsys, "jobs", "submit", str(aid), "--to", "+15551234", "--pages", "2",
                       "--channel", "printer", "--db", db, "--now", "2026-01-18", "--json")
    job = json.loads(out)
    assert code == 3 and job["state"] == "refused" and job["channel"] == "printer"
    assert "suspended until paid since 2026-01-17" in job["reason"] and "$11.20" in job["reason"]

    code, out, _ = cli(capsys, "account", "show", str(aid), "--db", db, "--now", "2026-01-18")
    assert "suspended_until_paid" in out and "log-in: limited" in out and "refused" in out

    code, out, _ = cli(capsys, "account", "pay", str(aid), "11.20", "--reference", "TX-1",
                       "--db", db, "--now", "2026-01-18T12:00", "--json")
    paid = json.loads(out)
    assert paid["payment"]["cents"] == 1120 and not paid["payment"]["duplicate"]
    assert paid["account"]["status"] == "active" and paid["account"]["balance_cents"] == 0
    code, out, _ = cli(capsys, "account", "pay", str(aid), "11.20", "--reference", "TX-1",
                       "--db", db, "--now", "2026-01-18T12:05")
    assert code == 0 and "already posted" in out

    code, out, _ = cli(capsys, "jobs", "submit", str(aid), "--to", "+15550000", "--pages", "1",
                       "--db", db, "--now", "2026-01-19")
    assert code == 0 and "queued" in out
    code, out, _ = cli(capsys, "jobs", "list", "--account", str(aid), "--db", db, "--json")
    assert [j["state"] for j in json.loads(out)] == ["refused", "queued"]
    queued = json.loads(out)[1]["id"]
    code, out, _ = cli(capsys, "jobs", "cancel", str(queued), "--db", db, "--now", "2026-01-19")
    assert code == 0 and f"job {queued} cancelled" in out
    code, out, _ = cli(capsys, "jobs", "show", str(queued), "--db", db)
    assert "cancelled" in out and "+15550000" in out

    code, out, _ = cli(capsys, "account", "statement", str(aid), "--db", db, "--now",
                       "2026-01-20", "--json")
    st = json.loads(out)
    assert [e["kind"] for e in st["entries"]] == ["page_charge", "invoice", "payment"]
    assert [e["balance_cents"] for e in st["entries"]] == [120, 1120, 0]
    code, out, _ = cli(capsys, "account", "statement", str(aid), "--db", db, "--now",
                       "2026-01-20")
    assert "invoice 2026-01: $11.20 due" in out and "ref TX-1" in out

    code, out, _ = cli(capsys, "account", "list", "--db", db, "--now", "2026-01-20")
    assert "tollfree" in out and "active" in out


def test_reactivation_via_cli(capsys, db):
    code, out, _ = cli(capsys, "account", "create", "--db", db, "--now", "2026-01-10",
                       "--billing-day", "15", "--json")
    aid = json.loads(out)["id"]
    cli(capsys, "account", "bill", "--db", db, "--now", "2026-02-01")
    code, out, _ = cli(capsys, "account", "show", str(aid), "--db", db, "--now", "2026-02-01",
                       "--json")
    shown = json.loads(out)
    assert shown["status"] == "terminated" and shown["login_scope"] == "none"
    assert "support" in shown["reason"]
    code, out, _ = cli(capsys, "account", "reactivate", str(aid), "--operator", "dana",
                       "--db", db, "--now", "2026-02-02", "--json")
    r = json.loads(out)
    assert code == 0 and r["status"] == "suspended_until_paid" and r["balance_cents"] == 1500
    # reactivating again is refused with a one-line error
    code, out, err = cli(capsys, "account", "reactivate", str(aid), "--operator", "dana",
                         "--db", db, "--now", "2026-02-02")
    assert code == 1 and "not terminated" in err


def test_errors_are_one_line(capsys, tmp_path):
    db = str(tmp_path / "e.db")
    code, _, err = cli(capsys, "account", "show", "42", "--db", db)
    assert code == 1 and "no account 42" in err
    code, _, err = cli(capsys, "account", "create", "--db", db, "--credit-limit", "ten")
    assert code == 1 and "bad amount" in err
    code, _, err = cli(capsys, "account", "create", "--db", db, "--now", "yesterday")
    assert code == 1 and "bad --now" in err
    code, _, err = cli(capsys, "jobs", "show", "7", "--db", db)
    assert code == 1 and "no job 7" in err
    code, _, err = cli(capsys, "account", "list", "--db", "mysql://x/y")
    assert code == 1 and "unsupported database URL" in err


def test_default_database_under_user_data_dir(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin"}
    run = subprocess.run([sys.executable, "-m", "faxcore", "account", "create", "--json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "data" / "faxcore" / "faxcore.db").exists()
