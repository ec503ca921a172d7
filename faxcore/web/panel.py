"""The control panel's routes (server-rendered, Jinja2) under ``/panel``.

Access is decided on the server for every route by a dependency (:meth:`Panel.client`),
from the account's status *now* (:mod:`faxcore.accounts.rules`, ``PANEL_ACTIONS``):

* ``full`` (active): every client page;
* ``limited`` (suspended or closed until paid): ``view_account`` and ``make_payment``
  only: the account page and the payment page; every other page, download and JSON
  route answers 403 with the gate's reason (HTML for pages, JSON for ``.json`` routes);
* ``none`` (terminated): log-in refused with how to reach support; a session made
  before the account was terminated is refused (403) and dropped.

Every POST form carries the session's CSRF token (403 without it). Log-in failures are
rate-limited per log-in name and per client address (429 with Retry-After).
"""

from __future__ import annotations

import base64
import hmac
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from PIL import Image, ImageDraw, ImageFont

from faxcore.accounts import AccountsError, InvalidOperation, PaymentConflict, Status
from faxcore.accounts.jobs import normalize_number
from faxcore.accounts.rules import (
    CLOSE_AFTER_US,
    PANEL_ACTIONS,
    REACTIVATION_FEE_CENTS,
    SUSPEND_AFTER_US,
    TERMINATE_AFTER_US,
    format_cents,
    from_us,
    to_us,
)
from faxcore.codecs.tiff import Page, read_tiff
from faxcore.pagestore import write_durably
from faxcore.server import keys
from faxcore.server.documents import (
    DocumentRejected,
    ensure_pdf,
    header_text,
    load_upload,
    png_bytes,
    stamp_header,
    store_pages,
)
from faxcore.server.inbound import get_inbound, inbox, numbers_of
from faxcore.server.model import ACTIVE, FINAL
from faxcore.server.queue import NotFound
from faxcore.server.service import Service
from faxcore.server.statement import usage_statement
from faxcore.server.webhooks import set_webhook, webhook_of
from faxcore.web import users
from faxcore.web.payments import (
    NotificationRejected,
    PaymentProvider,
    TestProvider,
    apply_payment,
    verify_notification,
)
from faxcore.web.security import (
    COOKIE,
    SESSION_SECONDS,
    RateLimiter,
    Session,
    Signer,
    csrf_ok,
    load_secret,
)

log = logging.getLogger("faxcore.web")

HERE = Path(__file__).parent
LOGIN_LIMIT = (5, 900.0)    # failures per log-in name in 15 minutes
IP_LIMIT = (20, 900.0)      # failures per client address in 15 minutes
THUMB_WIDTH = 240
_NO_FILE = File(None)


@dataclass(frozen=True)
class Support:
    phone: str = "+1 800 555 0199"
    email: str = "support@faxmicro.example"
    chat_url: str = "https://faxmicro.example/chat"


class Denied(Exception):
    """A panel request refused: rendered as HTML (pages) or JSON (``.json`` routes)."""

    def __init__(self, status: int, code: str, reason: str, *, login: bool = False,
                 drop_session: bool = False) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason
        self.login, self.drop_session = login, drop_session


@dataclass
class Ctx:
    """Who is asking: the session, and for clients the account and its status now."""

    session: Session
    account: int | None = None
    status: Any = None
    scope: str = "none"
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _now_s(service: Service) -> float:
    return service.clock().timestamp()


class Panel:
    def __init__(self, service: Service, *, provider: PaymentProvider | None = None,
                 webhook_secret: bytes | None = None, support: Support | None = None) -> None:
        self.service = service
        secret = load_secret(service.data_dir / "panel-secret")
        self.cookies = Signer(secret, "session")
        self.staging = Signer(secret, "staged-upload")
        self.webhook_secret = webhook_secret or load_secret(
            service.data_dir / "payment-webhook-secret")
        self.provider = provider or TestProvider()
        self.support = support or Support()
        self.login_limit = RateLimiter(*LOGIN_LIMIT)
        self.ip_limit = RateLimiter(*IP_LIMIT)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(cents=format_cents, support=self.support,
                                          fee=format_cents(REACTIVATION_FEE_CENTS))
        users.migrate(service.store())

    # ---- sessions ---------------------------------------------------------------------

    def session_of(self, request: Request) -> Session | None:
        data = self.cookies.loads(request.cookies.get(COOKIE))
        s = Session.from_json(data) if data else None
        if s is None or _now_s(self.service) - s.issued > SESSION_SECONDS:
            return None
        return s

    def set_session(self, response: Response, s: Session) -> None:
        response.set_cookie(COOKIE, self.cookies.dumps(s.to_json()), max_age=SESSION_SECONDS,
                            path="/panel", httponly=True, samesite="lax")

    def visitor(self, request: Request) -> Session:
        """The session, or a new anonymous one (set on the response by :meth:`render`)."""
        s = self.session_of(request)
        if s is None:
            s = Session.anonymous(_now_s(self.service))
            request.state.new_session = s
        return s

    def render(self, request: Request, name: str, ctx: Ctx | None, status: int = 200,
               **values: Any) -> HTMLResponse:
        session = ctx.session if ctx else self.visitor(request)
        scope = ctx.scope if ctx else "none"
        allowed = PANEL_ACTIONS.get(scope, frozenset())
        resp = self.templates.TemplateResponse(request, name, {
            "session": session, "csrf": session.csrf, "ctx": ctx, "scope": scope,
            "allowed": allowed, **values}, status_code=status)
        new = getattr(request.state, "new_session", None)
        if new is not None:
            self.set_session(resp, new)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Frame-Options"] = "DENY"
        # our own files only (no inline script or style); data: for the send preview image
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    # ---- access -----------------------------------------------------------------------

    def client(self, action: str, *, json: bool = False) -> Callable[[Request], Ctx]:
        """A route dependency: a logged-in client whose status allows ``action`` now."""

        def dep(request: Request) -> Ctx:
            request.state.json = json
            s = self.session_of(request)
            if s is None or s.user is None:
                raise Denied(401, "not_logged_in", "log in first", login=not json)
            if s.role != "client" or s.account is None:
                raise Denied(403, "not_a_client", "this page is for customers; operators use "
                                                  "the admin screen")
            store = self.service.store()
            if not users.session_valid(store, s.user, datetime.fromtimestamp(s.issued, UTC)):
                raise Denied(401, "logged_out", "log in again", login=not json)
            now = self.service.clock()
            decision = store.check_send(s.account, now)
            st = decision.status
            ctx = Ctx(s, s.account, st, st.login_scope, decision.reason)
            if st.status is Status.terminated:
                raise Denied(403, "account_terminated", self.terminated_text(decision.reason),
                             drop_session=True)
            if action not in PANEL_ACTIONS[st.login_scope]:
                raise Denied(403, st.name, decision.reason)
            return ctx

        return dep

    def admin(self, request: Request) -> Ctx:
        s = self.session_of(request)
        if s is None or s.user is None:
            raise Denied(401, "not_logged_in", "log in first", login=True)
        if s.role != "admin":
            raise Denied(403, "not_admin", "the operator screen needs an operator log-in")
        return Ctx(s, scope="admin")

    def csrf(self, request: Request, csrf: str = Form("")) -> None:
        if not csrf_ok(self.session_of(request), csrf):
            raise Denied(403, "csrf", "the form's security token is missing or stale: "
                                      "reload the page and try again")

    def terminated_text(self, reason: str) -> str:
        sp = self.support
        return (f"{reason} You can no longer log in to the control panel. To reactivate the "
                f"account contact support: phone {sp.phone}, email {sp.email}, or live chat "
                f"at {sp.chat_url}. Reactivation carries a fee of "
                f"{format_cents(REACTIVATION_FEE_CENTS)}.")


def install_panel(app: FastAPI, service: Service, **options: Any) -> Panel:
    """Add the control panel (``/panel``) and the payment notification endpoint to the
    server's app. ``options``: ``provider``, ``webhook_secret``, ``support``."""
    panel = Panel(service, **options)
    panel.router = _router(panel)
    app.include_router(panel.router)
    app.mount("/panel/static", StaticFiles(directory=str(HERE / "static")),
              name="panel-static")

    async def denied(request: Request, exc: Denied) -> Response:
        if exc.login:
            return RedirectResponse("/panel/login", status_code=303)
        if getattr(request.state, "json", False):
            resp: Response = JSONResponse({"error": {"code": exc.code, "message": exc.reason}},
                                          status_code=exc.status)
        else:
            ctx = None
            s = panel.session_of(request)
            if s is not None and not exc.drop_session:
                ctx = Ctx(s, s.account, scope=_scope_of(service, s))
            resp = panel.render(request, "denied.html", ctx, exc.status, code=exc.code,
                                reason=exc.reason)
        if exc.drop_session:
            resp.delete_cookie(COOKIE, path="/panel")
        return resp

    app.add_exception_handler(Denied, denied)
    return panel


def _scope_of(service: Service, s: Session) -> str:
    if s.role == "admin":
        return "admin"
    if s.account is None:
        return "none"
    return service.store().login_scope(s.account, service.clock())


# ---- the pages' data -------------------------------------------------------------------

def _month_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def account_view(service: Service, acct: int) -> dict[str, Any]:
    """Everything the account page shows."""
    store = service.store()
    now = service.clock()
    decision = store.check_send(acct, now)
    st = decision.status
    a = store.account(acct)
    plan = store.plan(a["plan"])
    statement = store.statement(acct, now)
    month = to_us(_month_start(now))
    usage = {"pages_sent": 0, "charges_cents": 0, "faxes_received": 0}
    for e in statement["entries"]:
        if to_us(e["at"]) < month:
            continue
        if e["kind"] == "page_charge":
            usage["pages_sent"] += e.get("pages", 0)
        if e["amount_cents"] > 0:
            usage["charges_cents"] += e["amount_cents"]
        if e["kind"] == "inbound":
            usage["faxes_received"] += 1
    deadlines = []
    if st.overdue_since is not None:
        b = to_us(st.overdue_since)
        for label, after in (("suspended", SUSPEND_AFTER_US), ("closed", CLOSE_AFTER_US),
                             ("terminated", TERMINATE_AFTER_US)):
            deadlines.append((label, from_us(b + after), b + after <= to_us(now)))
    held_in = store.db.one("SELECT count(*) FROM jobs WHERE account_id = ? AND "
                           "direction = 'receive' AND state = 'held'", (acct,))[0]
    held_out = store.db.one("SELECT count(*) FROM fax_jobs WHERE account_id = ? AND "
                            "state = 'held_billing'", (acct,))[0]
    invoices = [e for e in statement["entries"] if e["kind"] == "invoice"]
    return {"id": acct, "name": a.get("name"), "plan": plan, "status": st,
            "reason": decision.reason, "balance": st.balance_cents,
            "credit_limit": a["credit_limit_cents"], "numbers": numbers_of(store, acct),
            "usage": usage, "deadlines": deadlines, "held_inbound": int(held_in),
            "held_outbound": int(held_out), "entries": statement["entries"][-50:][::-1],
            "invoices": invoices[::-1], "logins": users.logins_of(store, acct),
            "statement": usage_statement(store, acct, now), "now": now}


def job_progress(service: Service, job) -> dict[str, Any]:
    q = service.queue()
    attempts = q.attempts(job.id)
    return {"id": job.id, "to": job.destination, "state": job.state, "pages": job.pages,
            "pages_done": len(q.confirmed_pages(job.id)), "attempts": len(attempts),
            "dials": job.dials, "tries": job.tries, "reason": job.reason or "",
            "final": job.state in FINAL, "active": job.state in ACTIVE,
            "created_at": job.created_at.strftime("%Y-%m-%d %H:%M:%S")}


def thumbnail(page: Page, width: int = THUMB_WIDTH) -> bytes:
    full = Image.open(io.BytesIO(png_bytes(page))).convert("L")
    h = max(1, round(full.height * width / full.width))
    img = full.resize((width, h), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def cover_page(to: str, sender: str, note: str, pages: int, now: datetime) -> Page:
    """A fine-resolution A4 cover sheet: title, to, from, date, page count, the note."""
    w, h = 1728, 2292
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    big = ImageFont.load_default(size=96)
    mid = ImageFont.load_default(size=44)
    d.text((120, 120), "FAX", fill=0, font=big)
    d.rectangle((120, 260, w - 120, 266), fill=0)
    y = 320
    for label, value in (("To", to), ("From", sender), ("Date", f"{now:%Y-%m-%d %H:%M} UTC"),
                         ("Pages", f"{pages} + this cover")):
        d.text((120, y), f"{label}:", fill=0, font=mid)
        d.text((420, y), value, fill=0, font=mid)
        y += 80
    y += 40
    for line in _wrap(note, 60)[:30]:
        d.text((120, y), line, fill=0, font=mid)
        y += 60
    # drawn with square pixels at 204 x 196 dpi (fine): close enough to square for text
    bm = (np.asarray(img) < 128).astype(np.uint8)
    return Page(bm)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for word in para.split():
            if len(line) + len(word) + 1 > width and line:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        out.append(line)
    return out


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# ---- routes ----------------------------------------------------------------------------

def _router(p: Panel) -> APIRouter:  # noqa: C901 - one place lists every panel route
    svc = p.service
    r = APIRouter(prefix="/panel", include_in_schema=False)
    view = Depends(p.client("view_account"))
    pay = Depends(p.client("make_payment"))
    faxes = Depends(p.client("view_faxes"))
    faxes_json = Depends(p.client("view_faxes", json=True))
    send = Depends(p.client("send_fax"))
    settings = Depends(p.client("change_settings"))
    csrf = Depends(p.csrf)
    admin = Depends(p.admin)

    # -- log-in / log-out

    @r.get("/login")
    def login_form(request: Request) -> Response:
        s = p.session_of(request)
        if s is not None and s.user is not None:
            return RedirectResponse("/panel/", status_code=303)
        return p.render(request, "login.html", None)

    @r.post("/login", dependencies=[csrf])
    def login(request: Request, login: str = Form(""), password: str = Form("")) -> Response:
        now = _now_s(svc)
        ip = request.client.host if request.client else "unknown"
        name = users.normalize_login(login)[:200]
        wait = max(p.login_limit.blocked("login:" + name, now),
                   p.ip_limit.blocked("ip:" + ip, now))
        if wait:
            resp = p.render(request, "login.html", None, 429, login=login,
                            error=f"Too many failed log-ins. Try again in {int(wait) + 1} "
                                  "seconds.")
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        user = None
        if name == "admin" and svc.config.admin_token:
            if password and _consteq(password, svc.config.admin_token):
                user = users.PanelUser(0, "admin", "admin", None)
        else:
            user = users.authenticate(svc.store(), name, password)
        if user is None:
            p.login_limit.failed("login:" + name, now)
            p.ip_limit.failed("ip:" + ip, now)
            return p.render(request, "login.html", None, 401, login=login,
                            error="Wrong log-in name or password.")
        if user.role == "client":
            decision = svc.store().check_send(user.account_id, svc.clock())
            if decision.status.status is Status.terminated:
                # the password was right: not a guess, so it does not count as a failure
                return p.render(request, "login.html", None, 403, login=login,
                                terminated=decision.reason.rstrip(".") + ".")
        p.login_limit.succeeded("login:" + name)
        s = Session.anonymous(now)  # a new CSRF token at log-in (no session fixation)
        s.user, s.login, s.account, s.role = user.id, user.login, user.account_id, user.role
        resp = RedirectResponse("/panel/admin" if user.role == "admin" else "/panel/",
                                status_code=303)
        p.set_session(resp, s)
        log.info("panel log-in %s (%s)", user.login, user.role)
        return resp

    @r.post("/logout", dependencies=[csrf])
    def logout(request: Request) -> Response:
        s = p.session_of(request)
        if s is not None and s.role == "client" and s.user:
            users.end_sessions(svc.store(), s.user, svc.clock())
        resp = RedirectResponse("/panel/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/panel")
        return resp

    # -- the start page: dashboard (full) or account (limited)

    @r.get("")
    def bare() -> Response:
        return RedirectResponse("/panel/", status_code=307)

    @r.get("/")
    def home(request: Request, ctx: Ctx = view) -> Response:
        if ctx.scope != "full":
            return RedirectResponse("/panel/account", status_code=303)
        return RedirectResponse("/panel/dashboard", status_code=303)

    @r.get("/dashboard")
    def dashboard(request: Request, ctx: Ctx = faxes) -> Response:
        store = svc.store()
        recent_in = inbox(store, ctx.account, svc.clock())[:5]
        recent_out = [job_progress(svc, j) for j in svc.queue().list(ctx.account, limit=5)]
        return p.render(request, "dashboard.html", ctx, a=account_view(svc, ctx.account),
                        recent_in=recent_in, recent_out=recent_out)

    # -- account information and payment (also for limited log-ins)

    @r.get("/account")
    def account(request: Request, ctx: Ctx = view, paid: str = "") -> Response:
        return p.render(request, "account.html", ctx, a=account_view(svc, ctx.account),
                        paid=paid)

    @r.get("/pay")
    def pay_form(request: Request, ctx: Ctx = pay) -> Response:
        return p.render(request, "pay.html", ctx, a=account_view(svc, ctx.account))

    @r.post("/pay", dependencies=[csrf])
    def pay_now(request: Request, ctx: Ctx = pay, amount: str = Form("")) -> Response:
        a = account_view(svc, ctx.account)
        cents = _parse_amount(amount)
        if cents is None:
            return p.render(request, "pay.html", ctx, 422, a=a,
                            error="Give the amount in dollars, like 15.00 (at most 10000.00).")
        checkout = p.provider.checkout(ctx.account, cents, svc.clock())
        if checkout.redirect_url:
            return RedirectResponse(checkout.redirect_url, status_code=303)
        apply_payment(svc, ctx.account, cents, checkout.reference)
        return RedirectResponse(f"/panel/account?paid={checkout.reference}", status_code=303)

    # -- sending

    @r.get("/send")
    def send_form(request: Request, ctx: Ctx = send) -> Response:
        return p.render(request, "send.html", ctx, form={})

    @r.post("/send/preview", dependencies=[csrf])
    def send_preview(request: Request, ctx: Ctx = send, to: str = Form(""),
                     header: str = Form(""), cover: str = Form(""), note: str = Form(""),
                     file: UploadFile | None = _NO_FILE) -> Response:
        form = {"to": to, "header": header, "cover": cover, "note": note}
        err = None
        try:
            number = normalize_number(to)
        except ValueError as exc:
            number, err = "", f"Fax number: {exc}"
        header = header.strip()
        if err is None and len(header) > 60:
            err = "The header text is at most 60 characters."
        data = file.file.read(svc.config.max_upload_bytes + 1) if file is not None else b""
        if err is None and len(data) > svc.config.max_upload_bytes:
            err = f"The file is larger than {svc.config.max_upload_mb:g} MB."
        pages: list[Page] = []
        if err is None:
            try:
                pages = load_upload([(file.filename or "upload", data)] if data else [],
                                    max_pages=svc.config.max_pages)
            except DocumentRejected as exc:
                err = str(exc)
        if err is not None:
            return p.render(request, "send.html", ctx, 422, form=form, error=err)
        now = svc.clock()
        if cover:
            name = svc.store().account(ctx.account).get("name") or f"account {ctx.account}"
            pages = [cover_page(number, name, note, len(pages), now), *pages]
        doc = store_pages(svc.documents, f"acct{ctx.account}-panel", pages)
        first = pages[0]
        text = header_text(now, "", header, 1, len(pages), False)
        stamped = Page(stamp_header(first, text), first.xres, first.yres)
        token = p.staging.dumps({"a": ctx.account, "f": str(doc.tif), "n": len(pages),
                                 "t": now.timestamp(), "to": number, "h": header})
        return p.render(request, "preview.html", ctx, form=form, number=number,
                        pages=len(pages), preview=_png_data_uri(png_bytes(stamped)),
                        token=token, header_line=text)

    @r.post("/send", dependencies=[csrf])
    def send_confirm(request: Request, ctx: Ctx = send, staged: str = Form("")) -> Response:
        st = p.staging.loads(staged)
        now = svc.clock()
        if (st is None or st.get("a") != ctx.account or not Path(st.get("f", "")).is_file()
                or now.timestamp() - float(st.get("t", 0)) > 3600):
            return p.render(request, "send.html", ctx, 422, form={},
                            error="The previewed document has expired: upload it again.")
        store = svc.store()
        decision = store.check_send(ctx.account, now)
        if not decision.allowed:  # the status changed since the page was loaded
            raise Denied(403, decision.status.name, decision.reason)
        q = svc.queue()
        job, _ = q.submit(ctx.account, st["to"], channel=svc.config.channel_for(st["to"]),
                          pages=int(st["n"]), document=st["f"], now=now, header=st["h"],
                          idempotency_key=f"panel-{Path(st['f']).name}",
                          request_sha256=Path(st["f"]).name, origin="website")
        svc.scheduler.wake()
        return RedirectResponse(f"/panel/outbox/{job.id}", status_code=303)

    # -- outbox

    def _job(ctx: Ctx, fax_id: int):
        if not 1 <= fax_id < 2**63:
            raise Denied(404, "not_found", f"no fax {fax_id}")
        try:
            return svc.queue().get(fax_id, ctx.account)
        except NotFound:
            raise Denied(404, "not_found", f"no fax {fax_id}") from None

    @r.get("/outbox")
    def outbox(request: Request, ctx: Ctx = faxes) -> Response:
        jobs = [job_progress(svc, j) for j in svc.queue().list(ctx.account)]
        return p.render(request, "outbox.html", ctx, jobs=jobs)

    @r.get("/outbox.json")
    def outbox_json(ctx: Ctx = faxes_json) -> dict[str, Any]:
        return {"faxes": [job_progress(svc, j) for j in svc.queue().list(ctx.account)]}

    @r.get("/outbox/{fax_id}")
    def outbox_fax(request: Request, fax_id: int, ctx: Ctx = faxes) -> Response:
        job = _job(ctx, fax_id)
        return p.render(request, "outbox_fax.html", ctx, job=job_progress(svc, job),
                        attempts=svc.queue().attempts(job.id))

    @r.get("/outbox/{fax_id}/progress.json")
    def outbox_fax_json(fax_id: int, ctx: Ctx = faxes_json) -> dict[str, Any]:
        return job_progress(svc, _job(ctx, fax_id))

    @r.get("/outbox/{fax_id}/document.pdf")
    def outbox_pdf(fax_id: int, ctx: Ctx = faxes) -> Response:
        job = _job(ctx, fax_id)
        return FileResponse(ensure_pdf(job.document), media_type="application/pdf",
                            filename=f"fax-{fax_id}.pdf")

    @r.get("/outbox/{fax_id}/page1.png")
    def outbox_png(fax_id: int, ctx: Ctx = faxes) -> Response:
        job = _job(ctx, fax_id)
        return Response(thumbnail(read_tiff(job.document)[0], 600), media_type="image/png")

    # -- inbox

    def _received(ctx: Ctx, fax_id: int):
        if not 1 <= fax_id < 2**63:
            raise Denied(404, "not_found", f"no received fax {fax_id}")
        store = svc.store()
        inbox(store, ctx.account, svc.clock())  # releases held faxes of an active account
        f = get_inbound(store, fax_id, ctx.account)
        if f is None or f.state != "received" or not f.tif_path:
            raise Denied(404, "not_found", f"no received fax {fax_id}")
        return f

    @r.get("/inbox")
    def inbox_page(request: Request, ctx: Ctx = faxes) -> Response:
        return p.render(request, "inbox.html", ctx,
                        faxes=inbox(svc.store(), ctx.account, svc.clock()))

    @r.get("/inbox/{fax_id}")
    def inbox_fax(request: Request, fax_id: int, ctx: Ctx = faxes) -> Response:
        f = _received(ctx, fax_id)
        return p.render(request, "inbox_fax.html", ctx, f=f)

    thumbs = svc.data_dir / "panel-thumbs"

    @r.get("/inbox/{fax_id}/thumb.png")
    def inbox_thumb(fax_id: int, ctx: Ctx = faxes, page: int = 1) -> Response:
        f = _received(ctx, fax_id)
        # a received fax never changes: its thumbnails are made once and kept on disk
        # (decoding the TIFF and scaling costs ~0.1 s a page; an inbox shows many)
        cached = thumbs / f"in{fax_id}-p{page}.png"
        if page >= 1 and cached.is_file():
            data = cached.read_bytes()
        else:
            pages = read_tiff(f.tif_path)
            if not 1 <= page <= len(pages):
                raise Denied(404, "no_page", f"received fax {fax_id} has pages 1 to "
                                             f"{len(pages)}")
            data = thumbnail(pages[page - 1])
            try:
                thumbs.mkdir(exist_ok=True)
                write_durably(cached, data)
            except OSError:  # a full disk or a concurrent writer: serve it uncached
                log.warning("cannot cache thumbnail %s", cached, exc_info=True)
        return Response(data, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400"})

    @r.get("/inbox/{fax_id}/page.png")
    def inbox_png(fax_id: int, ctx: Ctx = faxes, page: int = 1) -> Response:
        f = _received(ctx, fax_id)
        pages = read_tiff(f.tif_path)
        if not 1 <= page <= len(pages):
            raise Denied(404, "no_page", f"received fax {fax_id} has pages 1 to {len(pages)}")
        return Response(png_bytes(pages[page - 1]), media_type="image/png")

    @r.get("/inbox/{fax_id}/fax.pdf")
    def inbox_pdf(fax_id: int, ctx: Ctx = faxes) -> Response:
        f = _received(ctx, fax_id)
        return FileResponse(f.pdf_path, media_type="application/pdf",
                            filename=f"received-{fax_id}.pdf")

    # -- API keys

    def _keys(acct: int) -> list[dict[str, Any]]:
        return [{"key_id": k, "created": from_us(c), "revoked": None if v is None else
                 from_us(v)} for k, c, v in svc.store().db.all(
                     "SELECT key_id, created_at, revoked_at FROM api_keys WHERE account_id = ? "
                     "ORDER BY id", (acct,))]

    def _keys_page(request: Request, ctx: Ctx, status: int = 200, **values: Any) -> Response:
        hook = webhook_of(svc.store(), ctx.account)
        return p.render(request, "keys.html", ctx, status, keys=_keys(ctx.account),
                        webhook_url=hook[0] if hook else "", **values)

    @r.get("/keys")
    def keys_page(request: Request, ctx: Ctx = settings) -> Response:
        return _keys_page(request, ctx)

    @r.post("/keys", dependencies=[csrf])
    def keys_new(request: Request, ctx: Ctx = settings) -> Response:
        key = keys.issue_key(svc.store(), ctx.account, svc.clock())
        return _keys_page(request, ctx, 201, new_key=key)

    @r.post("/webhook", dependencies=[csrf])
    def webhook_set(request: Request, ctx: Ctx = settings, url: str = Form("")) -> Response:
        url = url.strip()
        if len(url) > 2000:
            return _keys_page(request, ctx, 422, webhook_error="The URL is too long.")
        try:
            secret = set_webhook(svc.store(), ctx.account, url)
        except ValueError as exc:
            return _keys_page(request, ctx, 422, webhook_error=str(exc))
        return _keys_page(request, ctx, new_webhook_secret=secret)

    @r.post("/keys/{key_id}/revoke", dependencies=[csrf])
    def keys_revoke(key_id: str, ctx: Ctx = settings) -> Response:
        if key_id not in {k["key_id"] for k in _keys(ctx.account)}:
            raise Denied(404, "not_found", f"no key {key_id}")
        keys.revoke_key(svc.store(), key_id, svc.clock())
        return RedirectResponse("/panel/keys", status_code=303)

    # -- operators

    @r.get("/admin")
    def admin_page(request: Request, ctx: Ctx = admin, done: str = "") -> Response:
        store = svc.store()
        now = svc.clock()
        rows = []
        for a in store.list_accounts():
            st = store.status(a["id"], now)
            rows.append({"id": a["id"], "name": a.get("name"), "plan": a["plan"],
                         "status": st, "balance": st.balance_cents,
                         "logins": users.logins_of(store, a["id"])})
        return p.render(request, "admin.html", ctx, accounts=rows, done=done)

    @r.post("/admin/reactivate", dependencies=[csrf])
    def admin_reactivate(request: Request, ctx: Ctx = admin, account: int = Form(...)
                         ) -> Response:
        try:
            st = svc.store().reactivate(account, svc.clock(), operator=ctx.session.login or "")
        except (InvalidOperation, AccountsError) as exc:
            raise Denied(409, "not_terminated", str(exc)) from None
        return RedirectResponse(f"/panel/admin?done=account+{account}+reactivated+({st.name},"
                                f"+balance+{format_cents(st.balance_cents)})",
                                status_code=303)

    @r.post("/admin/password", dependencies=[csrf])
    def admin_password(request: Request, ctx: Ctx = admin, account: int = Form(...),
                       login: str = Form(""), password: str = Form("")) -> Response:
        try:
            users.set_password(svc.store(), login, password, svc.clock(), account_id=account)
        except (ValueError, AccountsError) as exc:
            raise Denied(422, "invalid", str(exc)) from None
        return RedirectResponse(f"/panel/admin?done=log-in+{users.normalize_login(login)}+set",
                                status_code=303)

    # -- payment notifications from a provider (no session: signed)

    @r.post("/payments/webhook")
    async def payment_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > 16 * 1024:
            return JSONResponse({"error": {"code": "too_large", "message": "body too large"}},
                                status_code=413)
        try:
            n = verify_notification(p.webhook_secret, body,
                                    request.headers.get("x-faxcore-timestamp"),
                                    request.headers.get("x-faxcore-signature"), svc.clock())
        except NotificationRejected as exc:
            return JSONResponse({"error": {"code": "rejected", "message": str(exc)}},
                                status_code=exc.status)
        if n.status != "complete":
            return JSONResponse({"ok": True, "applied": False, "status": n.status})

        def post() -> JSONResponse:
            try:
                pay = apply_payment(svc, n.account, n.cents, n.reference)
            except PaymentConflict as exc:
                return JSONResponse({"error": {"code": "conflict", "message": str(exc)}},
                                    status_code=409)
            except (AccountsError, ValueError) as exc:
                return JSONResponse({"error": {"code": "invalid", "message": str(exc)}},
                                    status_code=422)
            st = svc.store().status(n.account, svc.clock())
            return JSONResponse({"ok": True, "applied": not pay.duplicate,
                                 "duplicate": pay.duplicate, "status": st.name,
                                 "balance_cents": st.balance_cents})

        return await run_in_threadpool(post)

    return r


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _parse_amount(text: str) -> int | None:
    text = text.strip().lstrip("$")
    whole, _, frac = text.partition(".")
    if not whole.isascii() or not whole.isdigit() or len(whole) > 5:
        return None
    if frac and (not frac.isascii() or not frac.isdigit() or len(frac) > 2):
        return None
    cents = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
    return cents if 0 < cents <= 1_000_000 else None


