"""The faxcore CUPS backend run as cupsd runs it (argv, $DEVICE_URI, the document as a file
or on stdin) against a real fax service over HTTP: the exit codes CUPS defines and the
STATE:/ERROR: lines it shows, the job row with origin printer."""

from __future__ import annotations

import io

import pytest

from faxcore.cups import backend
from faxcore.testing.docs import letter_pdf
from faxcore.testing.served import free_port, served


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    with served(tmp_path_factory.mktemp("cupsbe")) as s:
        yield s


def run(uri: str, options: str = "", title: str = "doc", doc: bytes | None = None,
        file: str | None = None) -> tuple[int, str]:
    err = io.StringIO()
    argv = ["faxcore", "7", "alice", title, "1", options] + ([file] if file else [])
    code = backend.main(argv, {"DEVICE_URI": uri}, stdin=io.BytesIO(doc or b""), stderr=err)
    return code, err.getvalue()


def test_discovery_without_arguments_lists_the_scheme() -> None:
    out = io.StringIO()
    assert backend.main(["faxcore"], {}, stdout=out) == backend.CUPS_BACKEND_OK
    assert out.getvalue().startswith('network faxcore "Unknown"')


def test_a_job_from_stdin_is_submitted_with_origin_printer(svc, tmp_path) -> None:
    a = svc.account()
    code, err = run(f"faxcore://127.0.0.1:{svc.base_url.rsplit(':', 1)[1]}/?key={a.key}",
                    "media=A4 phone='555 1234'", doc=letter_pdf())
    assert code == backend.CUPS_BACKEND_OK, err
    rows = svc.rows("SELECT destination, origin, pages FROM fax_jobs WHERE account_id = ?",
                    (a.id,))
    assert rows == [("5551234", "printer", 1)]
    assert "INFO: fax" in err and "queued to 5551234" in err


def test_the_number_can_be_the_title_and_the_document_a_file(svc, tmp_path) -> None:
    a = svc.account()
    keyfile = tmp_path / "k"
    keyfile.write_text(a.key + "\n")
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(letter_pdf(2))
    port = svc.base_url.rsplit(":", 1)[1]
    code, err = run(f"faxcore://127.0.0.1:{port}/?keyfile={keyfile}", "", title="+4930 1234567",
                    file=str(pdf))
    assert code == backend.CUPS_BACKEND_OK, err
    assert svc.rows("SELECT destination FROM fax_jobs WHERE account_id = ?", (a.id,)) == [
        ("+49301234567",)]


def test_exit_codes_say_what_cups_should_do(svc) -> None:
    port = svc.base_url.rsplit(":", 1)[1]
    good = svc.account()
    uri = f"faxcore://127.0.0.1:{port}/?key={good.key}"
    # no number: held, with the way to fix it
    code, err = run(uri, "media=A4", title="report.pdf", doc=letter_pdf())
    assert code == backend.CUPS_BACKEND_HOLD and "ERROR: no fax number" in err
    # a document the server cannot read: cancelled, with the server's reason
    code, err = run(uri, "phone=5551234", doc=b"%!PS-Adobe-3.0\nshowpage\n")
    assert code == backend.CUPS_BACKEND_CANCEL and "cannot be read as a fax document" in err
    # a bad key: authentication required
    code, err = run(f"faxcore://127.0.0.1:{port}/?key=fxk_00000000_nope", "phone=5551234",
                    doc=letter_pdf())
    assert code == backend.CUPS_BACKEND_AUTH_REQUIRED and "refused the API key" in err
    # the service is down: retry later
    code, err = run(f"faxcore://127.0.0.1:{free_port()}/?key={good.key}", "phone=5551234",
                    doc=letter_pdf())
    assert code == backend.CUPS_BACKEND_RETRY and "cannot be reached" in err
    # a suspended account: held, with the gate's reason as the ERROR line
    poor = svc.account(credit_limit_cents=0)
    reason = svc.suspend(poor)
    code, err = run(f"faxcore://127.0.0.1:{port}/?key={poor.key}", "phone=5551234",
                    doc=letter_pdf())
    assert code == backend.CUPS_BACKEND_HOLD
    assert "STATE: +account-authorization-failed" in err and reason in err
    # none of the refused jobs made a row
    assert svc.rows("SELECT count(*) FROM fax_jobs WHERE account_id IN (?, ?)",
                    (good.id, poor.id)) == [(0,)]


def test_a_bad_uri_stops_the_queue() -> None:
    code, err = run("ipp://printer/", "phone=5551234", doc=b"%PDF")
    assert code == backend.CUPS_BACKEND_STOP and "bad device URI" in err


def test_a_print_dialogs_custom_value_is_the_number() -> None:
    """The PPD's custom ``phone`` option as dialogs send it; its default ``None`` is no
    number (the title is used then)."""
    assert backend.fax_number(backend.job_options("phone=Custom.5551234"), "x") == "5551234"
    assert backend.fax_number(backend.job_options("phone={Number=+4930123}"), "x") == \
        "+4930123"
    assert backend.fax_number(backend.job_options("phone=None"), "+1 555 1234") == \
        "+1 555 1234"
    assert backend.fax_number(backend.job_options("phone=None media=A4"), "report") is None
