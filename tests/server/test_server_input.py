"""Bad input to the HTTP API gets a clear JSON error (code and sentence) with the right
status, and leaves nothing behind: no job row, no document file."""

from __future__ import annotations

import asyncio

import pytest

from faxcore.codecs.tiff import tiff_bytes
from faxcore.testing.pages import letter_page


def nothing_created(harness) -> None:
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(0,)]
    docs = harness.data_dir / "documents"
    assert not docs.exists() or not any(docs.iterdir())


def post(harness, acct, files, **data):
    return harness.client.post("/v1/faxes", data=data, files=files, headers=acct.auth)


@pytest.mark.parametrize("name,content,words", [
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrailer garbage", "cannot be read"),
    ("empty.pdf", b"", "empty (0 bytes)"),
    ("notes.txt", b"just some text, not a document", "cannot be read"),
])
def test_an_unreadable_document_is_refused_with_422(harness, name, content, words):
    a = harness.account()
    r = post(harness, a, {"files": (name, content, "application/octet-stream")},
             to="+15557770000")
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_document" and words in err["message"]
    assert name in err["message"]
    nothing_created(harness)


@pytest.mark.parametrize("number", ["+1555CALLME", "1", "", "+1234567890123456"])
def test_a_number_with_letters_or_the_wrong_length_is_refused(harness, number):
    a = harness.account()
    doc = tiff_bytes([letter_page(300, 1)])
    r = post(harness, a, {"files": ("a.tif", doc, "image/tiff")}, to=number)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_number"
    assert "digits" in r.json()["error"]["message"]
    nothing_created(harness)


@pytest.mark.server_options(max_upload_mb=0.05)
def test_an_upload_over_the_limit_gets_413(harness):
    a = harness.account()
    big = b"\0" * 80_000
    r = post(harness, a, {"files": ("big.pdf", big, "application/pdf")}, to="+15557770000")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large" and "0.05 MB" in r.json()["error"]["message"]
    nothing_created(harness)


@pytest.mark.server_options(max_pages=2)
def test_too_many_pages_is_refused(harness):
    a = harness.account()
    doc = tiff_bytes([letter_page(300, i) for i in range(3)])
    r = post(harness, a, {"files": ("a.tif", doc, "image/tiff")}, to="+15557770000")
    assert r.status_code == 422 and "more than 2 pages" in r.json()["error"]["message"]
    nothing_created(harness)


def test_no_file_missing_to_unknown_field_and_bad_send_at(harness):
    a = harness.account()
    doc = tiff_bytes([letter_page(300, 1)])
    f = {"files": ("a.tif", doc, "image/tiff")}
    cases = [
        (post(harness, a, {"other": ("a.tif", doc, "image/tiff")}, to="+15557770000"),
         "unknown_field"),
        (post(harness, a, f), "missing_to"),
        (post(harness, a, f, to="+15557770000", send_at="tomorrow"), "invalid_time"),
        (harness.client.post("/v1/faxes", json={"to": "+15557770000"}, headers=a.auth),
         "unsupported_media_type"),
    ]
    for r, code in cases:
        assert r.status_code in (415, 422), r.text
        assert r.json()["error"]["code"] == code
    nothing_created(harness)


def test_api_keys_are_required_checked_and_stored_hashed(harness):
    a = harness.account()
    r = harness.client.get("/v1/account")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    bad = harness.client.get("/v1/account", headers={"authorization": a.auth["authorization"]
                                                      + "x"})
    assert bad.status_code == 401
    assert harness.client.get("/v1/account", headers=a.auth).json()["id"] == a.id
    (stored,) = harness.rows("SELECT key_id, secret_sha256 FROM api_keys")
    assert a.key.split("_", 2)[2] not in str(stored)      # the secret is not stored
    assert len(stored[1]) == 64


def test_another_accounts_fax_does_not_exist(harness):
    a = harness.account()
    b = harness.account()
    job = harness.submit(a, "+15557770000", 1).json()
    r = harness.client.get(f"/v1/faxes/{job['id']}", headers=b.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = harness.client.post(f"/v1/faxes/{job['id']}/cancel", headers=b.auth)
    assert r.status_code == 404


@pytest.mark.server_options(max_upload_mb=0.05)
def test_a_chunked_upload_over_the_limit_is_stopped_while_it_is_read(harness):
    """No Content-Length (chunked): the body is counted as it arrives."""
    a = harness.account()
    boundary = "xyzzy"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n+15557770000"
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(40):
            yield b"%" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    r = harness.client.post("/v1/faxes", content=body(), headers={
        **a.auth, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    nothing_created(harness)

    # At the ASGI level: the app stops asking for the body soon after the limit.
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": head, "more_body": True}
        return {"type": "http.request", "body": b"%" * 4096, "more_body": pulled < 400}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/faxes", "raw_path": b"/v1/faxes",
             "query_string": b"", "root_path": "", "server": ("test", 80),
             "client": ("127.0.0.1", 1),
             "headers": [(b"authorization", a.auth["authorization"].encode()),
                         (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
                         (b"transfer-encoding", b"chunked")]}
    asyncio.run(harness.service.app()(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled < 20                 # 50 KB in 4 KB chunks: stopped, not 400 chunks read


@pytest.mark.parametrize("path", ["/v1/faxes/99999999999999999999", "/v1/faxes/0",
                                  "/v1/received/99999999999999999999.pdf",
                                  "/v1/faxes/-3/document.pdf"])
def test_ids_no_row_can_have_are_404_not_a_database_error(harness, path):
    a = harness.account()
    r = harness.client.get(path, headers=a.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
