"""The HTTP API (FastAPI): faxes out, faxes in, the account; admin calls; metrics.

Every error is JSON ``{"error": {"code": "...", "message": "a sentence"}}`` with its
HTTP status: 400/422 bad input, 401 no or bad API key, 402 the account may not do this
until paid (the gate's reason in the message), 403 terminated account or no admin
token, 404 unknown (or another account's) fax, 409 Idempotency-Key reused for another
request or a state that forbids the action, 413 upload too large.

Authentication: ``Authorization: Bearer fxk_...`` (:mod:`faxcore.server.keys`). What
an account may do follows its log-in scope (:mod:`faxcore.accounts.rules`): active
accounts everything; suspended or closed ("limited") only ``GET /v1/account`` and
``GET /v1/account/statement`` (and submissions get 402 with the reason); terminated nothing (403).

The handlers that touch the database are plain ``def`` functions: FastAPI runs them in
its thread pool, and each thread has its own connection (:class:`StorePool`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from faxcore import __version__
from faxcore.accounts import AccountsError, Status, UnknownAccount
from faxcore.accounts.jobs import normalize_number
from faxcore.accounts.rules import PANEL_ACTIONS
from faxcore.codecs.tiff import read_tiff
from faxcore.server import keys
from faxcore.server.documents import (
    COVER_FIELD_MAX,
    COVER_NOTE_MAX,
    Cover,
    DocumentRejected,
    ensure_pdf,
    load_upload,
    png_bytes,
    remove_quietly,
    render_cover,
    store_pages,
)
from faxcore.server.inbound import add_number, get_inbound, inbox, numbers_of
from faxcore.server.maildelivery import set_fax_email
from faxcore.server.queue import FaxJob, IdempotencyConflict, NotFound, QueueError
from faxcore.server.statement import usage_statement
from faxcore.server.webhooks import replay_event, set_webhook, webhook_events

if TYPE_CHECKING:
    from faxcore.server.service import Service

log = logging.getLogger("faxcore.server.api")

MAX_FIELD = 1000
MAX_COVER = 4 * COVER_FIELD_MAX + COVER_NOTE_MAX + 200  # the cover field's JSON


class BodyTooLarge(Exception):
    """The request body went over the upload limit while it was being read."""


class LimitBody:
    """ASGI middleware: a request whose Content-Length is over ``limit`` bytes gets 413 at
    once; one whose body (chunked, or with a Content-Length that lied) grows past it is
    stopped as it is read (:class:`BodyTooLarge`, answered 413), before the multipart
    parser spools the rest to disk."""

    def __init__(self, app, limit: int, label: str) -> None:
        self.app, self.limit, self.label = app, limit, label

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _error(400, "bad_content_length",
                                    "Content-Length is not a number")(scope, receive, send)
            if int(length) > self.limit:
                return await _error(413, "too_large", "the request is larger than the "
                                    f"server's limit of {self.label}")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        return await self.app(scope, limited, send)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _parse_time(text: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_time", f"{what} must be an ISO 8601 time, like "
                                            "2026-12-07T15:30:00Z; got {text!r}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="faxcore", version=__version__,
                  description="The faxcore fax server: send and receive faxes.")
    cfg = service.config

    # ---- errors ---------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _too_large()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        msg = "no such resource" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, code, msg)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}"
                 for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    def _too_large() -> JSONResponse:
        return _error(413, "too_large", f"the request is larger than the server's limit of "
                                        f"{cfg.max_upload_mb:g} MB")

    # ---- authentication ---------------------------------------------------------------

    def _key(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "send your API key as Authorization: Bearer "
                                                "fxk_...", {"WWW-Authenticate": "Bearer"})
        return token.strip()

    def account(request: Request) -> int:
        """The caller's account; terminated accounts cannot log in at all."""
        store = service.store()
        acct = keys.account_for_key(store, _key(request))
        if acct is None:
            raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)",
                           {"WWW-Authenticate": "Bearer"})
        st = store.status(acct, service.clock())
        if st.status is Status.terminated:
            raise ApiError(403, "account_terminated", store.check_send(acct,
                                                                       service.clock()).reason)
        return acct

    def full_access(acct: int = Depends(account)) -> int:
        """Only an active account may see and manage its faxes ("limited" log-in: 402)."""
        store = service.store()
        now = service.clock()
        if store.login_scope(acct, now) != "full":
            raise ApiError(402, "payment_required", store.check_send(acct, now).reason)
        return acct

    def admin(request: Request) -> None:
        if not cfg.admin_token:
            raise ApiError(403, "admin_disabled", "the admin API is off: set admin_token in "
                                                  "the [server] table of the config")
        if _key(request) != cfg.admin_token:
            raise ApiError(401, "unauthorized", "wrong admin token")

    # ---- sending ----------------------------------------------------------------------

    def job_json(job: FaxJob, detail: bool = True) -> dict[str, Any]:
        q = service.queue()
        out: dict[str, Any] = {
            "id": job.id, "to": job.destination, "state": job.state, "pages": job.pages,
            "channel": job.channel, "origin": job.origin, "header": job.header,
            "send_at": _iso(job.send_at),
            "kill_at": _iso(job.kill_at), "next_attempt_at": _iso(job.next_attempt_at),
            "dials": job.dials, "max_dials": job.max_dials, "tries": job.tries,
            "max_tries": job.max_tries, "reason": job.reason,
            "cancel_requested": job.cancel_requested, "created_at": _iso(job.created_at),
            "updated_at": _iso(job.updated_at)}
        if detail:
            out["pages_confirmed"] = q.confirmed_pages(job.id)
            out["attempts"] = [{
                "n": a.n, "channel": a.channel, "transport": a.transport,
                "started_at": _iso(a.started_at), "ended_at": _iso(a.ended_at),
                "result": a.result, "bit_rate": a.bit_rate, "modulation": a.modulation,
                "ecm": a.ecm, "pages_confirmed": a.pages_confirmed,
                "t30_status": a.t30_status, "hangup_cause": a.hangup_cause,
                "duration_s": a.duration_s} for a in q.attempts(job.id)]
        return out

    async def _form(request: Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type",
                           "send the fax as multipart/form-data (fields to, files, header, "
                           "send_at)")
        try:
            form = await request.form(max_files=100, max_fields=100)
        except BodyTooLarge:
            raise
        except Exception as exc:  # a malformed body: a client error, whatever the parser says
            raise ApiError(400, "bad_multipart", f"the multipart body cannot be read: "
                                                 f"{exc}") from None
        fields: dict[str, str] = {}
        files: list[tuple[str, bytes]] = []
        total = 0
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    total += len(data)
                    if total > cfg.max_upload_bytes:
                        raise ApiError(413, "too_large", "the files are larger than the "
                                       f"server's limit of {cfg.max_upload_mb:g} MB")
                    if name not in ("file", "files"):
                        raise ApiError(422, "unknown_field", f"unknown file field {name!r} "
                                                             "(use files)")
                    files.append((value.filename or name, data))
                else:
                    if name not in ("to", "header", "send_at", "ident", "origin", "cover"):
                        raise ApiError(422, "unknown_field", f"unknown field {name!r} (known: "
                                                             "to, files, header, send_at, ident, "
                                                             "origin, cover)")
                    if len(value) > (MAX_COVER if name == "cover" else MAX_FIELD):
                        raise ApiError(422, "field_too_long", f"field {name} is too long")
                    fields[name] = value
        finally:
            await form.close()
        return fields, files

    upload_schema = {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["to", "files"], "properties": {
            "to": {"type": "string", "description": "fax number: optional + and 2-15 digits"},
            "origin": {"type": "string", "enum": ["api", "printer"],
                       "description": "the way in recorded on the job (default api)"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "PDF, TIFF or image files, sent in order"},
            "header": {"type": "string", "description": "sender text in the header line"},
            "ident": {"type": "string", "description": "station id (TSI), digits and +"},
            "send_at": {"type": "string", "format": "date-time"},
            "cover": {"type": "string", "description": "a cover page first: true, or a JSON "
                      "object with to, from, subject, note (strings)"}}}}}},
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": 255}}]}

    @app.post("/v1/faxes", status_code=202, openapi_extra=upload_schema)
    async def submit_fax(request: Request) -> JSONResponse:
        acct = await run_in_threadpool(account, request)
        fields, files = await _form(request)
        idem = request.headers.get("idempotency-key")
        if idem is not None and not 1 <= len(idem) <= 255:
            raise ApiError(422, "invalid_idempotency_key",
                           "Idempotency-Key must be 1 to 255 characters")
        return await run_in_threadpool(_submit, acct, fields, files, idem)

    def _submit(acct: int, fields: dict[str, str], files: list[tuple[str, bytes]],
                idem: str | None) -> JSONResponse:
        store = service.store()
        q = service.queue()
        now = service.clock()
        if "to" not in fields:
            raise ApiError(422, "missing_to", "the field to (the fax number to send to) is "
                                              "missing")
        try:
            to = normalize_number(fields["to"])
        except ValueError as exc:
            raise ApiError(422, "invalid_number", str(exc)) from None
        send_at = _parse_time(fields["send_at"], "send_at") if fields.get("send_at") else None
        # the way in, recorded on the job: the API itself, or a client of it that says it is
        # the printer driver (faxcore.cups); email and website submit in process
        origin = fields.get("origin", "api")
        if origin not in ("api", "printer"):
            raise ApiError(422, "invalid_origin", "origin must be api or printer")
        header = fields.get("header", "").strip()
        ident = fields.get("ident", "").strip()
        if len(header) > 60:
            raise ApiError(422, "invalid_header", "header must be at most 60 characters")
        if len(ident) > 20 or not all(c.isdigit() or c in "+ " for c in ident):
            raise ApiError(422, "invalid_ident", "ident (the station id sent as TSI) must be "
                                                 "at most 20 digits, + and spaces")
        decision = store.check_send(acct, now)
        if not decision.allowed:
            service.metrics.refusals.labels("submit").inc()
            raise ApiError(402, decision.status.name, decision.reason)
        cover = _cover(fields.get("cover"), to, header, acct) if fields.get("cover") else None
        h = hashlib.sha256()
        for part in (to, header, ident, fields.get("send_at", ""), fields.get("cover", "")):
            h.update(part.encode() + b"\0")
        for name, data in files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        digest = h.hexdigest()
        if idem is not None:
            existing = q.find_idempotent(acct, idem)
            if existing is not None:
                return _replayed(q, existing, idem, digest)
        try:
            pages = load_upload(files, max_pages=cfg.max_pages - (cover is not None))
        except DocumentRejected as exc:
            raise ApiError(422, "invalid_document", str(exc)) from None
        if cover is not None:
            pages = [render_cover(cover, when=now, pages=len(pages)), *pages]
        doc = store_pages(service.documents, f"acct{acct}", pages)
        try:
            job, created = q.submit(acct, to, channel=cfg.channel_for(to), pages=doc.pages,
                                    document=str(doc.tif), now=now, header=header, ident=ident,
                                    send_at=send_at, idempotency_key=idem,
                                    request_sha256=digest, origin=origin)
        except IdempotencyConflict as exc:
            remove_quietly(doc.tif, doc.pdf)
            raise ApiError(409, "idempotency_conflict", str(exc)) from None
        except BaseException:
            remove_quietly(doc.tif, doc.pdf)
            raise
        if not created:  # a concurrent request with the same key won the race
            remove_quietly(doc.tif, doc.pdf)
            return _replayed(q, job, idem or "", digest)
        service.scheduler.wake()
        return JSONResponse(job_json(job), status_code=202,
                            headers={"Location": f"/v1/faxes/{job.id}"})

    def _cover(text: str, to: str, header: str, acct: int) -> Cover:
        """The ``cover`` field: ``true`` (To the number, From the header text or the
        account's name) or a JSON object with to, from, subject, note."""
        if text.strip().lower() in ("true", "1", "yes"):
            data: dict[str, Any] = {}
        else:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if not isinstance(data, dict) or set(data) - {"to", "from", "subject", "note"} \
                    or not all(isinstance(v, str) for v in data.values()):
                raise ApiError(422, "invalid_cover", "cover must be true or a JSON object "
                                                     "with strings to, from, subject, note")
        for k, v in data.items():
            limit = COVER_NOTE_MAX if k == "note" else COVER_FIELD_MAX
            if len(v) > limit:
                raise ApiError(422, "invalid_cover", f"cover {k} must be at most {limit} "
                                                     "characters")
        sender = data.get("from") or header or service.store().account(acct)["name"] or ""
        return Cover(to=data.get("to") or to, sender=sender, subject=data.get("subject", ""),
                     note=data.get("note", ""))

    def _replayed(q, job: FaxJob, idem: str, digest: str) -> JSONResponse:
        if q.request_hash(job.id) != digest:
            raise ApiError(409, "idempotency_conflict",
                           f"Idempotency-Key {idem!r} was used for another request "
                           f"(fax {job.id})")
        return JSONResponse(job_json(job), status_code=200,
                            headers={"Idempotent-Replayed": "true",
                                     "Location": f"/v1/faxes/{job.id}"})

    def _job(fax_id: int, acct: int) -> FaxJob:
        if not 1 <= fax_id < 2**63:  # no row has it; the database must not see it
            raise ApiError(404, "not_found", f"no fax {fax_id}")
        try:
            return service.queue().get(fax_id, acct)
        except NotFound:
            raise ApiError(404, "not_found", f"no fax {fax_id}") from None

    @app.get("/v1/faxes")
    def list_faxes(acct: int = Depends(full_access)) -> dict[str, Any]:
        return {"faxes": [job_json(j, detail=False) for j in service.queue().list(acct)]}

    @app.get("/v1/faxes/{fax_id}")
    def get_fax(fax_id: int, acct: int = Depends(full_access)) -> dict[str, Any]:
        return job_json(_job(fax_id, acct))

    @app.get("/v1/faxes/{fax_id}/document.pdf")
    def fax_document(fax_id: int, acct: int = Depends(full_access)) -> FileResponse:
        job = _job(fax_id, acct)
        return FileResponse(ensure_pdf(job.document), media_type="application/pdf",
                            filename=f"fax-{fax_id}.pdf")

    @app.post("/v1/faxes/{fax_id}/cancel")
    def cancel_fax(fax_id: int, acct: int = Depends(full_access)) -> dict[str, Any]:
        _job(fax_id, acct)
        try:
            job = service.queue().cancel(fax_id, acct, service.clock())
        except QueueError as exc:
            raise ApiError(409, "not_cancelable", str(exc)) from None
        return job_json(job)

    # ---- receiving --------------------------------------------------------------------

    def fax_in_json(f) -> dict[str, Any]:
        return {"id": f.id, "from": f.caller, "to": f.called, "pages": f.pages,
                "partial": f.partial, "t30_status": f.t30_status,
                "received_at": _iso(f.received_at),
                "links": {"pdf": f"/v1/received/{f.id}.pdf", "tif": f"/v1/received/{f.id}.tif",
                          "png": f"/v1/received/{f.id}.png"}}

    @app.get("/v1/inbox")
    def get_inbox(acct: int = Depends(full_access)) -> dict[str, Any]:
        return {"faxes": [fax_in_json(f) for f in inbox(service.store(), acct,
                                                        service.clock())]}

    def _received(fax_id: int, acct: int):
        store = service.store()
        if not 1 <= fax_id < 2**63:
            raise ApiError(404, "not_found", f"no received fax {fax_id}")
        inbox(store, acct, service.clock())  # releases held faxes of an active account
        f = get_inbound(store, fax_id, acct)
        if f is None or f.state != "received":
            raise ApiError(404, "not_found", f"no received fax {fax_id}")
        if not f.tif_path:
            raise ApiError(404, "no_pages", f"received fax {fax_id} has no pages")
        return f

    @app.get("/v1/received/{fax_id}.pdf")
    def received_pdf(fax_id: int, acct: int = Depends(full_access)) -> FileResponse:
        f = _received(fax_id, acct)
        return FileResponse(f.pdf_path, media_type="application/pdf",
                            filename=f"received-{fax_id}.pdf")

    @app.get("/v1/received/{fax_id}.tif")
    def received_tif(fax_id: int, acct: int = Depends(full_access)) -> FileResponse:
        f = _received(fax_id, acct)
        return FileResponse(f.tif_path, media_type="image/tiff",
                            filename=f"received-{fax_id}.tif")

    @app.get("/v1/received/{fax_id}.png")
    def received_png(fax_id: int, page: int = 1, acct: int = Depends(full_access)) -> Response:
        f = _received(fax_id, acct)
        pages = read_tiff(f.tif_path)
        if not 1 <= page <= len(pages):
            raise ApiError(404, "no_page", f"received fax {fax_id} has pages 1 to {len(pages)}")
        return Response(png_bytes(pages[page - 1]), media_type="image/png")

    # ---- the account ------------------------------------------------------------------

    @app.get("/v1/account")
    def get_account(acct: int = Depends(account)) -> dict[str, Any]:
        store = service.store()
        now = service.clock()
        st = store.status(acct, now)
        decision = store.check_send(acct, now)
        a = store.account(acct)
        return {"id": acct, "name": a["name"], "plan": a["plan"], "status": st.name,
                "since": _iso(st.since), "balance_cents": st.balance_cents,
                "credit_limit_cents": a["credit_limit_cents"], "may_send": decision.allowed,
                "reason": decision.reason, "login_scope": st.login_scope,
                "allowed": sorted(PANEL_ACTIONS[st.login_scope]),
                "numbers": numbers_of(store, acct)}

    @app.get("/v1/account/statement")
    def get_statement(month: str | None = None, acct: int = Depends(account)
                      ) -> dict[str, Any]:
        # account information: a limited (suspended/closed) account may read it too
        try:
            return usage_statement(service.store(), acct, service.clock(), month)
        except ValueError as exc:
            raise ApiError(422, "invalid_month", str(exc)) from None

    @app.put("/v1/account/webhook")
    async def put_webhook(request: Request) -> dict[str, Any]:
        acct = await run_in_threadpool(full_access, await run_in_threadpool(account, request))
        body = await _json(request)
        url = body.get("url")
        if not isinstance(url, str):
            raise ApiError(422, "invalid_url", "give the webhook's url")
        try:
            secret = await run_in_threadpool(set_webhook, service.store(), acct, url)
        except ValueError as exc:
            raise ApiError(422, "invalid_url", str(exc)) from None
        return {"url": url, "secret": secret}

    @app.get("/v1/webhooks/events")
    def list_events(acct: int = Depends(full_access)) -> dict[str, Any]:
        return {"events": webhook_events(service.store(), acct)}

    @app.post("/v1/webhooks/events/{event_id}/replay", status_code=202)
    def replay(event_id: str, acct: int = Depends(full_access)) -> dict[str, Any]:
        if len(event_id) > 100 or not replay_event(service.store(), acct, event_id,
                                                   service.clock()):
            raise ApiError(404, "not_found", f"no webhook event {event_id[:100]!r}")
        return {"id": event_id, "replay": "queued"}

    @app.get("/v1/account/keys")
    def list_keys(acct: int = Depends(account)) -> dict[str, Any]:
        return {"keys": [{**k, "created_at": _iso(k["created_at"]),
                          "revoked_at": _iso(k["revoked_at"])}
                         for k in keys.keys_of(service.store(), acct)]}

    @app.post("/v1/account/keys", status_code=201)
    def new_key(acct: int = Depends(full_access)) -> dict[str, Any]:
        key = keys.issue_key(service.store(), acct, service.clock())
        return {"key_id": keys.key_id_of(key), "api_key": key}

    @app.delete("/v1/account/keys/{key_id}")
    def revoke_own_key(key_id: str, acct: int = Depends(account)) -> dict[str, Any]:
        """Revoke one of the account's own keys (the one in use too: a leaked key is
        revoked with itself). Allowed in any log-in scope but terminated."""
        if not keys.revoke_key(service.store(), key_id, service.clock(), acct):
            raise ApiError(404, "not_found", f"no active key {key_id[:20]!r} of this account")
        return {"key_id": key_id, "revoked": True}

    @app.put("/v1/account/email")
    async def put_email(request: Request) -> dict[str, Any]:
        """Where received faxes are mailed (their PDF attached); null: not mailed."""
        acct = await run_in_threadpool(full_access, await run_in_threadpool(account, request))
        body = await _json(request)
        address = body.get("address")
        if address is not None and not isinstance(address, str):
            raise ApiError(422, "invalid_email", "give the address (or null)")
        try:
            await run_in_threadpool(set_fax_email, service.store(), acct, address)
        except ValueError as exc:
            raise ApiError(422, "invalid_email", str(exc)) from None
        return {"address": address, "mailed": service.mail.relay is not None}

    # ---- admin ------------------------------------------------------------------------

    async def _json(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json", "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return body

    @app.post("/v1/admin/accounts", status_code=201)
    async def admin_create_account(request: Request) -> dict[str, Any]:
        await run_in_threadpool(admin, request)
        body = await _json(request)
        return await run_in_threadpool(_create_account, body)

    def _create_account(body: dict[str, Any]) -> dict[str, Any]:
        store = service.store()
        now = service.clock()
        numbers = body.get("numbers", [])
        if not isinstance(numbers, list):
            raise ApiError(422, "invalid_numbers", "numbers must be a list of fax numbers")
        try:
            numbers = [normalize_number(n) for n in numbers]
            with store.db.write():
                acct = store.create_account(
                    plan=body.get("plan", "plus"),
                    credit_limit_cents=body.get("credit_limit_cents", 5000),
                    billing_day=body.get("billing_day", 1), now=now, name=body.get("name"))
                for n in numbers:
                    add_number(store, acct, n)
                key = keys.issue_key(store, acct, now)
                if body.get("email") is not None:
                    set_fax_email(store, acct, body["email"])
        except store.db.integrity_errors:
            raise ApiError(409, "number_taken", "one of the numbers belongs to another "
                                                "account") from None
        except (AccountsError, ValueError, TypeError) as exc:
            raise ApiError(422, "invalid_account", str(exc)) from None
        return {"id": acct, "api_key": key, "numbers": numbers}

    @app.post("/v1/admin/accounts/{acct}/payments")
    async def admin_payment(acct: int, request: Request) -> dict[str, Any]:
        await run_in_threadpool(admin, request)
        body = await _json(request)

        def pay() -> dict[str, Any]:
            store = service.store()
            try:
                p = store.post_payment(acct, body.get("cents"), body.get("reference"),
                                       service.clock())
            except UnknownAccount:
                raise ApiError(404, "not_found", f"no account {acct}") from None
            except (AccountsError, ValueError, TypeError) as exc:
                raise ApiError(422, "invalid_payment", str(exc)) from None
            service.scheduler.wake()  # held jobs may go now
            st = store.status(acct, service.clock())
            return {"account": acct, "cents": p.cents, "duplicate": p.duplicate,
                    "status": st.name, "balance_cents": st.balance_cents}
        return await run_in_threadpool(pay)

    @app.post("/v1/admin/accounts/{acct}/keys", status_code=201)
    async def admin_key(acct: int, request: Request) -> dict[str, Any]:
        await run_in_threadpool(admin, request)

        def issue() -> dict[str, Any]:
            try:
                return {"account": acct, "api_key": keys.issue_key(service.store(), acct,
                                                                   service.clock())}
            except UnknownAccount:
                raise ApiError(404, "not_found", f"no account {acct}") from None
        return await run_in_threadpool(issue)

    @app.delete("/v1/admin/keys/{key_id}")
    async def admin_revoke_key(key_id: str, request: Request) -> dict[str, Any]:
        await run_in_threadpool(admin, request)

        def revoke() -> dict[str, Any]:
            if not keys.revoke_key(service.store(), key_id, service.clock()):
                raise ApiError(404, "not_found", f"no active key {key_id[:20]!r}")
            return {"key_id": key_id, "revoked": True}
        return await run_in_threadpool(revoke)

    # ---- operations -------------------------------------------------------------------

    @app.get("/metrics")
    def metrics() -> Response:
        q = service.queue()
        body = service.metrics.render(q.count_by_state, q.busy_lines, list(service.channels))
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        service.store().db.one("SELECT 1")
        return {"ok": True, "version": __version__}

    app.add_middleware(LimitBody, limit=cfg.max_upload_bytes, label=f"{cfg.max_upload_mb:g} MB")
    return app
