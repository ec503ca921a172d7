"""``faxcore account`` / ``faxcore jobs`` defects found by a new user (field issue).

* ``--db /mistyped/dir/x.db`` made folders and an empty database, even for commands that
  only read: now only ``account create`` makes a database, in an existing folder (the
  default data directory excepted); every other command refuses a missing one.
* ``jobs submit`` took ``--to 'not a number!'``, a ``--document`` that does not exist
  and a page count unrelated to the document.
* a prepayment showed as ``balance: -$11.20``; a zero payment said "cents must be
  positive" for an amount given in dollars.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import faxcore
from faxcore.accounts import open_store
from faxcore.cli import main
from faxcore.codecs.tiff import Page, tiff_bytes

PKG_ROOT = Path(faxcore.__file__).resolve().parent.parent
NOW = "2026-03-02T10:00"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def no_env_db(monkeypatch):
    monkeypatch.delenv("FAXCORE_DB", raising=False)


@pytest.fixture
def db(tmp_path, capsys) -> str:
    """A database with account 1 (plus plan, $50 limit)."""
    path = str(tmp_path / "acc.db")
    code, _, _ = cli(capsys, "account", "create", "--db", path, "--now", NOW)
    assert code == 0
    return path


def only_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


READERS = [["account", "show", "1"], ["account", "list"], ["account", "statement", "1"],
           ["jobs", "list"], ["jobs", "show", "1"]]
WRITERS = [["account", "pay", "1", "5.00", "--reference", "R"],
           ["account", "charge", "1", "--pages", "2"],
           ["account", "reactivate", "1", "--operator", "dana"], ["account", "bill"],
           ["jobs", "submit", "1", "--to", "+15550100", "--pages", "1"],
           ["jobs", "cancel", "1"]]


@pytest.mark.parametrize("argv", READERS + WRITERS, ids=lambda a: "-".join(a[:2]))
@pytest.mark.parametrize("where", ["missing-folder", "missing-file"])
def test_commands_other_than_create_refuse_a_missing_database(tmp_path, capsys, argv, where):
    path = tmp_path / "mistyped" / "dir" / "x.db" if where == "missing-folder" \
        else tmp_path / "x.db"
    code, out, err = cli(capsys, *argv, "--db", str(path), "--now", NOW)
    assert code == 1 and out == ""
    line = only_line(err)
    assert line.startswith(f"faxcore {argv[0]} {argv[1]}: error: ")
    assert f"no such database: {path} (check --db)" in line
    assert "faxcore account create" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []      # nothing created


def test_missing_database_named_by_faxcore_db(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAXCORE_DB", str(tmp_path / "nope.db"))
    code, _, err = cli(capsys, "account", "show", "3")
    assert code == 1
    assert f"no account 3: no such database: {tmp_path / 'nope.db'} (check $FAXCORE_DB)" \
        in only_line(err)
    assert not (tmp_path / "nope.db").exists()


def test_create_refuses_a_missing_folder_and_makes_nothing(tmp_path, capsys):
    path = tmp_path / "mistyped" / "dir" / "x.db"
    code, out, err = cli(capsys, "account", "create", "--db", str(path))
    assert code == 1 and out == ""
    assert only_line(err) == (f"faxcore account create: error: cannot create database "
                              f"{path}: no such folder {path.parent} (check --db)")
    assert not (tmp_path / "mistyped").exists()
    code, _, err = cli(capsys, "account", "create", "--db", f"sqlite:///{path}")
    assert code == 1 and not (tmp_path / "mistyped").exists()


def test_create_in_an_existing_folder_then_read(tmp_path, capsys):
    path = tmp_path / "new.db"
    code, out, _ = cli(capsys, "account", "create", "--db", str(path), "--json")
    assert code == 0 and json.loads(out)["id"] == 1 and path.exists()
    code, out, _ = cli(capsys, "account", "show", "1", "--db", str(path))
    assert code == 0 and out.startswith("account 1: plan plus")


def test_default_database_read_before_any_account(tmp_path):
    """The default data directory: a read says there is no database yet (and makes
    none); ``account create`` makes the folder and the database."""
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PKG_ROOT)}
    run = subprocess.run([sys.executable, "-m", "faxcore", "account", "list"],
                         capture_output=True, text=True, env=env, timeout=120)
    db = tmp_path / "data" / "faxcore" / "faxcore.db"
    assert run.returncode == 1 and run.stdout == ""
    assert only_line(run.stderr) == (
        f"faxcore account list: error: there is no database yet: {db}; "
        "`faxcore account create` makes a new one")
    assert not (tmp_path / "data").exists()
    run = subprocess.run([sys.executable, "-m", "faxcore", "account", "create"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and db.exists()


# ---- jobs submit: --to, --document, --pages --------------------------------------------

@pytest.mark.parametrize("number", ["not a number!", "", "+", "12345678901234567",
                                    "+1 555 0100 x12", "555/0100", "++5550100", "٥٥٥٠١٠٠",
                                    "1"])
def test_submit_refuses_what_is_not_a_fax_number(db, capsys, number):
    code, out, err = cli(capsys, "jobs", "submit", "1", "--to", number, "--pages", "1",
                         "--db", db, "--now", NOW)
    assert code == 1 and out == ""
    line = only_line(err)
    assert line.startswith("faxcore jobs submit: error: ")
    assert "optional leading +" in line or "needs a destination" in line
    assert open_store(db).list_jobs() == []


@pytest.mark.parametrize("number,stored", [
    ("+15550100", "+15550100"), ("+1 (555) 010-0199", "+15550100199"),
    ("555-0100", "5550100"), (" 0049 30.1234 567 ", "0049301234567"), ("12", "12"),
    ("+123456789012345", "+123456789012345")])
def test_submit_stores_the_number_without_separators(db, capsys, number, stored):
    code, out, _ = cli(capsys, "jobs", "submit", "1", "--to", number, "--pages", "1",
                       "--db", db, "--now", NOW, "--json")
    assert code == 0 and json.loads(out)["remote"] == stored
    (job,) = open_store(db).list_jobs()
    assert job.remote == stored


def test_store_api_checks_the_number_too(db):
    from faxcore.accounts.jobs import normalize_number

    store = open_store(db)
    with pytest.raises(ValueError, match="bad fax number"):
        store.submit_job(1, "call me", 1, datetime(2026, 3, 2, tzinfo=UTC))
    assert store.list_jobs() == [] and normalize_number("+1 555-0100") == "+15550100"


def two_page_tiff(path: Path) -> Path:
    bm = np.zeros((40, 1728), np.uint8)
    bm[10:30, 100:900] = 1
    path.write_bytes(tiff_bytes([Page(bm, 204, 196), Page(bm[::-1], 204, 196)], "mmr"))
    return path


def test_submit_counts_the_documents_pages(db, tmp_path, capsys, monkeypatch):
    doc = two_page_tiff(tmp_path / "letter.tif")
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "jobs", "submit", "1", "--to", "+15550100", "--document",
                       "letter.tif", "--db", db, "--now", NOW, "--json")
    job = json.loads(out)
    assert code == 0 and job["pages"] == 2 and job["document"] == str(doc.resolve())
    code, out, _ = cli(capsys, "jobs", "submit", "1", "--to", "+15550100", "--document",
                       str(doc), "--pages", "2", "--db", db, "--now", NOW, "--json")
    assert code == 0 and json.loads(out)["pages"] == 2
    assert [j.pages for j in open_store(db).list_jobs()] == [2, 2]


def test_submit_refuses_a_page_count_unlike_the_documents(db, tmp_path, capsys):
    doc = two_page_tiff(tmp_path / "letter.tif")
    code, out, err = cli(capsys, "jobs", "submit", "1", "--to", "+15550100", "--document",
                         str(doc), "--pages", "5", "--db", db, "--now", NOW)
    assert code == 1 and out == ""
    assert only_line(err) == (f"faxcore jobs submit: error: --pages 5 does not match "
                              f"--document {doc}: it has 2 page(s) (leave out --pages to "
                              "take the document's count)")
    assert open_store(db).list_jobs() == []


@pytest.mark.parametrize("case", ["missing", "not-a-document", "neither"])
def test_submit_refuses_a_document_it_cannot_read(db, tmp_path, capsys, case):
    (tmp_path / "notes.txt").write_text("just some words\n")
    extra = {"missing": ["--document", str(tmp_path / "nope.pdf")],
             "not-a-document": ["--document", str(tmp_path / "notes.txt")],
             "neither": []}[case]
    code, out, err = cli(capsys, "jobs", "submit", "1", "--to", "+15550100", *extra,
                         "--db", db, "--now", NOW)
    assert code == 1 and out == ""
    line = only_line(err)
    assert line.startswith("faxcore jobs submit: error: ")
    assert {"missing": "cannot use --document: cannot read",
            "not-a-document": "cannot use --document: ",
            "neither": "give --document PATH (its pages are counted) or --pages N"}[case] \
        in line
    assert open_store(db).list_jobs() == []


# ---- money in dollars, a prepayment as a credit -----------------------------------------

@pytest.mark.parametrize("amount", ["0", "0.00", "$0"])
def test_zero_payment_is_refused_in_dollars(db, capsys, amount):
    code, out, err = cli(capsys, "account", "pay", "1", amount, "--reference", "Z", "--db", db,
                         "--now", NOW)
    line = only_line(err)
    assert code == 1 and out == ""
    assert line == (f"faxcore account pay: error: bad amount {amount!r}: it must be more "
                    "than $0.00 (dollars, like 12.50)")
    assert "cents" not in line


def test_prepayment_is_shown_as_credit(db, capsys):
    code, out, _ = cli(capsys, "account", "pay", "1", "11.20", "--reference", "PRE", "--db", db,
                       "--now", NOW)
    assert code == 0
    assert "  credit:  $11.20; next billing 2026-04-01" in out.splitlines()
    assert "-$" not in out and "balance" not in out
    assert "sending: allowed: account 1 is active (credit $11.20)" in out
    code, out, _ = cli(capsys, "account", "list", "--db", db, "--now", NOW)
    assert out.splitlines()[1].split()[3:5] == ["credit", "$11.20"] and "-$" not in out
    code, out, _ = cli(capsys, "account", "statement", "1", "--db", db, "--now", NOW)
    assert "credit $11.20  ref PRE" in out and "-$11.20  credit $11.20" in out
    # JSON keeps the signed number for programs
    code, out, _ = cli(capsys, "account", "show", "1", "--db", db, "--now", NOW, "--json")
    assert json.loads(out)["balance_cents"] == -1120
    # an amount owed is still a balance
    cli(capsys, "account", "charge", "1", "--pages", "200", "--db", db, "--now", NOW)
    code, out, _ = cli(capsys, "account", "show", "1", "--db", db, "--now", NOW)
    assert "  balance: $8.80; next billing 2026-04-01" in out.splitlines()

