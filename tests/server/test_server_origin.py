"""The job table records the way in (``origin``: website, email, printer, api)."""

from __future__ import annotations


def test_api_jobs_record_their_origin_and_printer_says_so(harness) -> None:
    acct = harness.account()
    plain = harness.submit(acct, "+15551234")
    printer = harness.submit(acct, "+15551234", origin="printer")
    assert plain.status_code == 202 and printer.status_code == 202, printer.text
    assert plain.json()["origin"] == "api" and printer.json()["origin"] == "printer"
    rows = harness.rows("SELECT id, origin FROM fax_jobs ORDER BY id")
    assert rows == [(plain.json()["id"], "api"), (printer.json()["id"], "printer")]


def test_an_origin_the_api_does_not_take_is_refused_and_nothing_is_made(harness) -> None:
    acct = harness.account()
    r = harness.submit(acct, "+15551234", origin="email")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_origin"
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(0,)]
