"""A SIP user agent (RFC 3261 subset, UDP) as a sans-IO state machine.

The user agent never touches a socket or a clock. A transport (for instance
:mod:`faxcore.sipfax.sip_udp`) drives it::

    ua = UserAgent("sip:fax@192.0.2.10", "sip:fax@192.0.2.10:5060")
    ua.receive_datagram(data, addr, now)     # every datagram that arrives
    for data, addr in ua.datagrams_to_send(): sock.sendto(data, addr)
    ua.next_deadline                         # absolute time of the next timer, or None
    ua.handle_timer(now)                     # call at (or after) that time
    for ev in ua.events(): ...               # what happened, in order

``now`` is any monotonic clock in seconds (tests use virtual time); the actions below
take it too (as their last positional argument), and default to the latest ``now`` the
UA was given. Nothing raises out
of ``receive_datagram`` for hostile bytes: a malformed request that can be answered gets
``400 Bad Request``, anything else malformed is dropped (and logged at DEBUG).

Calls (one dialog each, :class:`Call`)::

    call = ua.invite("sip:1000@192.0.2.20", offer_sdp)      # UAC
    ua.cancel(call)                                           # before the answer
    ua.answer(call, answer_sdp) / ua.reject(call, 486)        # UAS, after IncomingCall
    ua.ringing(call)                                          # 180 Ringing (optional)
    ua.reinvite(call, new_offer)                              # e.g. switch to T.38
    ua.accept_reinvite(call, answer) / ua.reject_reinvite(call, 488)
    ua.bye(call)
    reg = ua.register("sip:registrar.example", "fax", "secret", expires=3600)

Events (dataclasses, each with the ``call`` or ``registration`` it is about):
:class:`IncomingCall` (``sdp`` = the offer), :class:`CallRinging`, :class:`CallAnswered`
(UAC: the 2xx came, ``sdp`` = the answer), :class:`CallConfirmed` (UAS: the ACK came),
:class:`ReInviteOffer` (answer with accept_reinvite/reject_reinvite), :class:`MediaChanged`
(a re-INVITE in either direction succeeded; ``remote``/``local`` SDP now in force),
:class:`ReInviteFailed` (ours was refused: the session is unchanged), :class:`SessionRefreshed`,
:class:`CallEnded` (``reason`` an :class:`EndReason`, ``status`` the SIP status if any),
:class:`Registered`, :class:`RegistrationFailed`, :class:`Unregistered`.

What it does by itself: 100 Trying at once to an INVITE; retransmissions and timeouts
(:mod:`faxcore.sip.transaction`); ACK for 2xx and non-2xx; resending our 2xx until the ACK
(BYE after 32 s without it); 200 + 487 to a CANCEL; 491 to a re-INVITE that crosses ours
and a retry of ours 2.1-4 s later if we own the Call-ID, else 0-2 s (RFC 3261 §14.1);
500 + Retry-After to a re-INVITE while another is unanswered; 481 outside a dialog;
OPTIONS 200 with Allow/Accept; 405/501 for other methods; 420 for an unknown Require;
digest answers to 401/407 (:mod:`faxcore.sip.digest`); REGISTER refresh at half the
granted time; RFC 4028 session timers (the refresher re-INVITEs at half the interval with
the *unchanged* SDP, so a T.38 stream carries on; the other side BYEs min(32 s,
interval/3) before expiry when no refresh came). A re-INVITE whose SDP has the same o=
version as the last one (or none) is a refresh: answered at once with our current SDP.

Call states (:class:`CallState`) and re-INVITE states (:class:`ReInvite`)::

    UAC: CALLING -1xx-> RINGING -2xx-> CONFIRMED -bye()-> ENDING -> ENDED
    UAS: INCOMING -answer()-> ANSWERED -ACK-> CONFIRMED; BYE received -> ENDED
    re-INVITE: IDLE -reinvite()-> SENT -2xx-> IDLE (491 -> RETRY_WAIT -> SENT)
               IDLE -re-INVITE-> RECEIVED -accept/reject-> IDLE
"""

from __future__ import annotations

import enum
import logging
import random
import secrets
from dataclasses import dataclass, field

from faxcore.sip.digest import Challenge, DigestError, authorization, parse_challenge
from faxcore.sip.message import (
    Request,
    Response,
    SipParseError,
    Uri,
    is_number,
    parse_message,
    parse_name_addr,
    parse_params,
    parse_uri,
)
from faxcore.sip.sdp import SdpParseError, SessionDescription, parse_sdp
from faxcore.sip.transaction import (
    T1,
    T2,
    ClientInviteTx,
    ClientTx,
    ServerInviteTx,
    ServerTx,
)

__all__ = ["Call", "CallAnswered", "CallConfirmed", "CallEnded", "CallRinging", "CallState",
           "EndReason", "IncomingCall", "MediaChanged", "ReInvite", "ReInviteFailed",
           "ReInviteOffer", "Registered", "Registration", "RegistrationFailed",
           "SessionRefreshed", "Unregistered", "UserAgent"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Sdp = SessionDescription | bytes
#: who gets a client transaction's outcome: ("invite" | "bye" | "cancel", Call) or
#: ("register", Registration)
TxUser = tuple[str, "Call | Registration"]

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
#: methods we know and do not serve (405); anything else unknown gets 501
KNOWN_NOT_ALLOWED = frozenset({"REGISTER", "UPDATE", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER",
                               "MESSAGE", "INFO", "PUBLISH"})
SUPPORTED = "timer"
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 407: "Proxy Authentication Required",
           408: "Request Timeout", 415: "Unsupported Media Type", 420: "Bad Extension",
           422: "Session Interval Too Small", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here",
           487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
           500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
           603: "Decline"}
#: 64*T1: how long we resend a 2xx waiting for its ACK (RFC 3261 §13.3.1.4)
ACK_WAIT = 64 * T1
GLARE_RETRIES = 3


class CallState(enum.Enum):
    CALLING = "calling"        # UAC: INVITE sent, no provisional yet
    RINGING = "ringing"        # UAC: a provisional response came
    INCOMING = "incoming"      # UAS: INVITE received, not answered yet
    ANSWERED = "answered"      # UAS: 2xx sent, waiting for the ACK
    CONFIRMED = "confirmed"    # the dialog is up
    ENDING = "ending"          # our BYE is out
    ENDED = "ended"


class ReInvite(enum.Enum):
    IDLE = "idle"
    SENT = "sent"              # our re-INVITE is pending
    RETRY_WAIT = "retry-wait"  # ours got 491; retrying after the glare delay
    RECEIVED = "received"      # theirs is waiting for accept_reinvite/reject_reinvite


class EndReason(enum.Enum):
    REMOTE_BYE = "remote-bye"
    LOCAL_BYE = "local-bye"
    REJECTED = "rejected"            # our INVITE got a final non-2xx
    DECLINED = "declined"            # we rejected their INVITE
    CANCELLED = "cancelled"          # CANCEL before the answer (either side)
    TIMEOUT = "timeout"              # no final response (Timer B/F) in or out of a dialog
    NO_ACK = "no-ack"                # our 2xx was never ACKed
    SESSION_EXPIRED = "session-expired"
    DIALOG_GONE = "dialog-gone"      # 481/408 to an in-dialog request


# ---- events ---------------------------------------------------------------------------

@dataclass
class IncomingCall:
    call: Call
    sdp: SessionDescription | None
    request: Request


@dataclass
class CallRinging:
    call: Call
    status: int
    sdp: SessionDescription | None = None


@dataclass
class CallAnswered:
    call: Call
    sdp: SessionDescription | None


@dataclass
class CallConfirmed:
    call: Call
    sdp: SessionDescription | None = None   # an answer in the ACK (offer-less INVITE)


@dataclass
class ReInviteOffer:
    call: Call
    sdp: SessionDescription | None


@dataclass
class MediaChanged:
    call: Call
    remote: SessionDescription | None
    local: SessionDescription | None


@dataclass
class ReInviteFailed:
    call: Call
    status: int


@dataclass
class SessionRefreshed:
    call: Call


@dataclass
class CallEnded:
    call: Call
    reason: EndReason
    status: int | None = None


@dataclass
class Registered:
    registration: Registration
    expires: int


@dataclass
class RegistrationFailed:
    registration: Registration
    status: int


@dataclass
class Unregistered:
    registration: Registration


Event = (IncomingCall | CallRinging | CallAnswered | CallConfirmed | ReInviteOffer
         | MediaChanged | ReInviteFailed | SessionRefreshed | CallEnded | Registered
         | RegistrationFailed | Unregistered)


# ---- dialog and registration records ----------------------------------------------------

@dataclass(eq=False)
class Call:
    """One call: its dialog identity, state, the SDP in force, its timers."""

    call_id: str
    role: str                                  # "uac" or "uas" of the initial INVITE
    local: str                                 # our From/To value (with our tag)
    remote: str                                # theirs (with their tag once known)
    local_tag: str
    remote_tag: str | None
    remote_target: Uri
    addr: Addr                                 # where in-dialog requests go
    state: CallState
    local_cseq: int = 1
    remote_cseq: int | None = None
    route: list[str] = field(default_factory=list)
    reinvite: ReInvite = ReInvite.IDLE
    local_sdp: bytes | None = None             # our SDP in force (offer or answer)
    remote_sdp: SessionDescription | None = None
    session_interval: int | None = None        # RFC 4028 Session-Expires, if in use
    we_refresh: bool = False
    timers: dict[str, float] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None
    # internal bookkeeping
    invite: Request | None = None              # our last INVITE (for CANCEL, auth retry)
    server_tx: ServerInviteTx | None = None    # the INVITE transaction we answer
    pending_offer: bytes | None = None         # the body of our re-INVITE in flight
    pending_is_refresh: bool = False
    ack: bytes | None = None                   # our ACK of the last 2xx (resent on repeats)
    ack_cseq: int = 0
    ok_bytes: bytes | None = None              # our 2xx being resent until ACK
    ok_interval: float = T1
    ok_cseq: int = 0
    cancel_wanted: bool = False
    cancel_sent: bool = False
    provisional_seen: bool = False             # a 1xx came: CANCEL may go (RFC 3261 §9.1)
    pending_remote: SessionDescription | None = None   # their re-INVITE offer
    end_reason: EndReason | None = None
    glare_tries: int = 0
    auth_tries: int = 0
    nonce_count: dict[str, int] = field(default_factory=dict)
    dest: Addr | None = None                   # where the initial INVITE went

    def __repr__(self) -> str:
        return f"<Call {self.call_id} {self.role} {self.state.value} {self.reinvite.value}>"


@dataclass(eq=False)
class Registration:
    registrar: Uri
    aor: str
    user: str
    password: str
    expires: int
    addr: Addr
    call_id: str
    local_tag: str
    cseq: int = 0
    granted: int = 0
    active: bool = False
    timers: dict[str, float] = field(default_factory=dict)
    tries: int = 0
    nonce_count: dict[str, int] = field(default_factory=dict)
    #: the last challenge answered (header name, challenge): refreshes answer it again
    #: at once with the next nonce count, saving the 401 round trip
    challenge: tuple[str, Challenge] | None = None


def _session_expires(value: str | None) -> tuple[int, str | None] | None:
    if value is None:
        return None
    num, _, params = value.partition(";")
    num = num.strip()
    if not is_number(num) or len(num) > 9:
        raise SipParseError(f"bad Session-Expires {value[:30]!r}")
    refresher = parse_params(params).get("refresher")
    return int(num), (refresher.lower() if refresher else None)


class UserAgent:
    """The user agent. See the module docstring for the API.

    ``local_uri``: our address of record (From of our requests); ``contact``: the URI
    others reach us at (its host:port is also our Via sent-by); ``credentials``:
    (user, password) for 401/407 challenges of calls; ``session_expires``: the RFC 4028
    interval we ask for (None: no session timer unless the peer asks); ``min_se``: the
    smallest interval we accept; ``rng``: randomness for tags, branches and glare delays.
    """

    def __init__(self, local_uri: str, contact: str, *,
                 credentials: tuple[str, str] | None = None,
                 session_expires: int | None = 1800, min_se: int = 90,
                 user_agent: str = "faxcore", rng: random.Random | None = None) -> None:
        self.local_uri = parse_uri(local_uri)
        self.contact = parse_uri(contact)
        self.credentials = credentials
        self.session_expires = session_expires
        self.min_se = min_se
        self.user_agent = user_agent
        self.rng = rng or random.Random(secrets.randbits(64))
        host, port = self.contact.address()
        self._sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._out: list[tuple[bytes, Addr]] = []
        self._events: list[Event] = []
        self._client: dict[tuple[str, str], tuple[ClientTx, TxUser]] = {}
        self._server: dict[tuple[str, str], ServerTx] = {}
        self._dialogs: dict[tuple[str, str, str], Call] = {}
        self._early: dict[tuple[str, str], Call] = {}     # (call-id, local tag), UAC only
        self._registrations: list[Registration] = []
        self._seen = 0.0            # the latest ``now`` seen (the actions' default)

    # ---- the transport side ------------------------------------------------------------
    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        # transactions hold this very list: empty it in place
        out = list(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    @property
    def next_deadline(self) -> float | None:
        best: float | None = None
        for tx, _ in self._client.values():
            d = tx.next_deadline
            if d is not None and (best is None or d < best):
                best = d
        for stx in self._server.values():
            d = stx.next_deadline
            if d is not None and (best is None or d < best):
                best = d
        for obj in (*self._calls(), *self._registrations):
            if obj.timers:
                d = min(obj.timers.values())
                if best is None or d < best:
                    best = d
        return best

    def _calls(self) -> list[Call]:
        return list({id(c): c for c in (*self._dialogs.values(), *self._early.values())}
                    .values())

    @property
    def calls(self) -> list[Call]:
        """The calls not yet ended."""
        return [c for c in self._calls() if c.state is not CallState.ENDED]

    def handle_timer(self, now: float) -> None:
        now = self._clock(now)
        for key, (tx, user) in list(self._client.items()):
            d = tx.next_deadline
            if d is not None and d <= now:
                if tx.on_timer(now):
                    self._to_user(user, tx, None, now)
            if tx.terminated:
                self._client.pop(key, None)
        for key, stx in list(self._server.items()):
            d = stx.next_deadline
            if d is not None and d <= now:
                stx.on_timer(now)
            if stx.terminated and not stx.timers and not self._keeps(stx):
                self._server.pop(key, None)
        for call in self._calls():
            for name, when in sorted(call.timers.items(), key=lambda kv: kv[1]):
                if when <= now and call.timers.get(name) == when:
                    del call.timers[name]
                    self._call_timer(call, name, now)
            self._forget_if_done(call)
        for reg in list(self._registrations):
            if reg.timers.get("refresh", now + 1) <= now:
                del reg.timers["refresh"]
                self._send_register(reg, now)

    def _clock(self, now: float | None) -> float:
        """``now`` as given, or the latest time the UA was told (actions default to it)."""
        if now is None:
            return self._seen
        self._seen = max(self._seen, now)
        return now

    def _keeps(self, stx: ServerTx) -> bool:
        """An INVITE server transaction answered 2xx is kept (terminated) until its ACK,
        so a retransmitted INVITE gets the 2xx again."""
        return any(c.server_tx is stx for c in self._calls())

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        now = self._clock(now)
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            log.debug("malformed message from %s: %s", addr, exc)
            if isinstance(exc.message, Request) and exc.message.method != "ACK":
                self._stateless_400(exc.message, str(exc), addr)
            return
        if isinstance(msg, Response):
            try:
                self._on_response(msg, now)
            except (SipParseError, SdpParseError, DigestError) as exc:
                log.debug("dropped response %r: %s", msg, exc)
            return
        try:
            self._on_request(msg, addr, now)
        except (SipParseError, SdpParseError) as exc:
            log.debug("bad request %r: %s", msg, exc)
            if msg.method != "ACK":
                key = self._tx_key(msg)
                stx = self._server.get(key)
                if stx is None or stx.final is None:
                    stx = stx or self._new_server_tx(msg, addr, now)
                    self._respond(stx, msg, 400, now, reason=f"Bad Request ({exc})"[:120])

    # ---- building messages -------------------------------------------------------------
    def _branch(self) -> str:
        return f"z9hG4bK{self.rng.getrandbits(64):016x}"

    def _tag(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"

    def _request(self, method: str, uri: str, from_: str, to: str, call_id: str, cseq: int,
                 route: list[str] | None = None, body: bytes = b"") -> Request:
        req = Request(method=method, uri=uri)
        req.add("Via", f"SIP/2.0/UDP {self._sent_by};branch={self._branch()};rport")
        for r in route or ():
            req.add("Route", r)
        req.add("Max-Forwards", "70")
        req.add("From", from_)
        req.add("To", to)
        req.add("Call-ID", call_id)
        req.add("CSeq", f"{cseq} {method}")
        if method not in ("ACK", "CANCEL", "BYE"):
            req.add("Contact", f"<{self.contact}>")
        req.add("User-Agent", self.user_agent)
        if body:
            req.add("Content-Type", "application/sdp")
            req.body = body
        return req

    def _response(self, req: Request, status: int, addr: Addr | None, to_tag: str | None,
                  reason: str | None = None) -> Response:
        resp = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
        # each Via value on its own line (a comma-joined line is split), the top one
        # marked with where the request came from
        for i, v in enumerate(req.get_all("Via")):
            if i == 0 and addr is not None:
                # RFC 3581 / RFC 3261 §18.2.1: say where the request came from
                v = f"{v};received={addr[0]}"
                if ";rport" in v and ";rport=" not in v:
                    v = v.replace(";rport", f";rport={addr[1]}", 1)
            resp.add("Via", v)
        resp.add("From", req.get("From") or "")
        to = req.get("To") or ""
        if to_tag and status > 100 and "tag=" not in to.lower():
            to = f"{to};tag={to_tag}"
        resp.add("To", to)
        resp.add("Call-ID", req.call_id)
        resp.add("CSeq", req.get("CSeq") or "")
        resp.add("Server", self.user_agent)
        return resp

    def _stateless_400(self, req: Request, why: str, addr: Addr) -> None:
        if not req.get_all("Via") or any(req.get(h) is None for h in
                                           ("From", "To", "Call-ID", "CSeq")):
            return
        resp = self._response(req, 400, None, self._tag(), f"Bad Request ({why})"[:120])
        self._out.append((resp.to_bytes(), addr))

    def _respond(self, stx: ServerTx, req: Request, status: int, now: float,
                 to_tag: str | None = None, extra: list[tuple[str, str]] = (),
                 body: bytes = b"", reason: str | None = None) -> Response:
        resp = self._response(req, status, stx.addr, to_tag or self._tag(), reason)
        for n, v in extra:
            resp.add(n, v)
        if body:
            resp.add("Content-Type", "application/sdp")
            resp.body = body
        stx.send(resp, now)
        return resp

    # ---- transactions ------------------------------------------------------------------
    @staticmethod
    def _tx_key(msg: Request) -> tuple[str, str]:
        via = msg.vias[0]
        method = "INVITE" if msg.method == "ACK" else msg.method
        branch = via.branch or ""
        if not branch.startswith("z9hG4bK"):
            # RFC 2543 peer: no magic cookie, match on what identifies the request
            branch = f"{via}|{msg.call_id}|{msg.cseq[0]}|{msg.get('From')}"
        host, port = via.sent_by()
        return f"{branch}|{host}:{port}", method

    def _new_server_tx(self, req: Request, addr: Addr, now: float) -> ServerTx:
        cls = ServerInviteTx if req.method == "INVITE" else ServerTx
        stx = cls(req, addr, now, self._out)
        self._server[self._tx_key(req)] = stx
        return stx

    def _send_client(self, req: Request, addr: Addr, now: float,
                     user: TxUser) -> ClientTx:
        """Send ``req`` in a new client transaction; its responses and timeout go to
        ``user`` (plain data, not a closure, so a UA can be deep-copied)."""
        cls = ClientInviteTx if req.method == "INVITE" else ClientTx
        tx = cls(req, addr, now, self._out)
        branch = req.vias[0].branch or ""
        self._client[(branch, req.method)] = (tx, user)
        return tx

    def _to_user(self, user: TxUser, tx: ClientTx, resp: Response | None, now: float) -> None:
        """A client transaction's response (None: timeout) to the part that sent it."""
        kind, obj = user
        if kind == "invite":
            assert isinstance(obj, Call)
            self._on_invite_response(obj, resp, now)
        elif kind == "bye":
            assert isinstance(obj, Call)
            self._on_bye_response(obj, resp)
        elif kind == "register":
            assert isinstance(obj, Registration)
            self._on_register_response(obj, tx.request, resp, now)
        # "cancel": its response says nothing the INVITE's 487 will not

    # ---- responses ---------------------------------------------------------------------
    def _on_response(self, resp: Response, now: float) -> None:
        num, method = resp.cseq
        branch = resp.vias[0].branch or ""
        entry = self._client.get((branch, method))
        if entry is not None:
            tx, user = entry
            if tx.on_response(resp, now):
                self._to_user(user, tx, resp, now)
            if tx.terminated:
                self._client.pop((branch, method), None)
            return
        # a 2xx to an INVITE whose transaction has ended: a retransmission; ACK again
        if method == "INVITE" and 200 <= resp.status < 300:
            from_tag, to_tag = resp.from_.tag, resp.to.tag
            call = self._dialogs.get((resp.call_id, from_tag or "", to_tag or ""))
            if call is not None and call.ack is not None and num == call.ack_cseq:
                self._out.append((call.ack, call.addr))

    # ---- requests ----------------------------------------------------------------------
    def _on_request(self, req: Request, addr: Addr, now: float) -> None:
        key = self._tx_key(req)
        stx = self._server.get(key)
        if req.method == "ACK":
            if isinstance(stx, ServerInviteTx) and stx.final is not None \
                    and stx.final.status >= 300:
                stx.on_ack(now)
            else:
                self._on_dialog_ack(req, now)
            return
        if stx is not None:
            stx.on_retransmission(now)
            return
        if req.method == "CANCEL":
            self._on_cancel(req, addr, now)
            return
        to_tag = req.to.tag
        if to_tag:
            call = self._dialogs.get((req.call_id, to_tag, req.from_.tag or ""))
            stx = self._new_server_tx(req, addr, now)
            if call is None or call.state is CallState.ENDED:
                self._respond(stx, req, 481, now)
                return
            self._in_dialog(call, req, stx, now)
            return
        stx = self._new_server_tx(req, addr, now)
        if req.method == "INVITE":
            self._on_invite(req, stx, addr, now)
        elif req.method == "OPTIONS":
            self._respond(stx, req, 200, now, extra=self._capabilities())
        elif req.method == "BYE":
            self._respond(stx, req, 481, now)
        elif req.method in KNOWN_NOT_ALLOWED:
            self._respond(stx, req, 405, now, extra=[("Allow", ALLOW)])
        else:
            self._respond(stx, req, 501, now, extra=[("Allow", ALLOW)])

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED)]

    def _check_invite(self, req: Request, stx: ServerTx, now: float,
                      to_tag: str | None) -> SessionDescription | None | bool:
        """The checks every INVITE passes; False when answered with an error."""
        unknown = [t for t in req.get_all("Require") if t.lower() != "timer"]
        if unknown:
            self._respond(stx, req, 420, now, to_tag,
                          extra=[("Unsupported", ", ".join(unknown))])
            return False
        se = _session_expires(req.get("Session-Expires"))
        if se is not None and se[0] < self.min_se:
            self._respond(stx, req, 422, now, to_tag, extra=[("Min-SE", str(self.min_se))])
            return False
        if req.body:
            ctype = (req.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/sdp":
                self._respond(stx, req, 415, now, to_tag,
                              extra=[("Accept", "application/sdp")])
                return False
            return parse_sdp(req.body)
        return None

    def _on_invite(self, req: Request, stx: ServerTx, addr: Addr, now: float) -> None:
        stx.send(self._response(req, 100, addr, None), now)
        tag = self._tag()
        sdp = self._check_invite(req, stx, now, tag)
        if sdp is False:
            return
        contacts = req.get_all("Contact")
        target = parse_name_addr(contacts[0]).uri if contacts else req.from_.uri
        call = Call(call_id=req.call_id, role="uas", local=f"{req.get('To')};tag={tag}",
                    remote=req.get("From") or "", local_tag=tag, remote_tag=req.from_.tag,
                    remote_target=target, addr=addr, state=CallState.INCOMING,
                    remote_cseq=req.cseq[0], route=req.get_all("Record-Route"),
                    local_cseq=self.rng.randrange(1, 1 << 16))
        assert isinstance(stx, ServerInviteTx)
        call.server_tx = stx
        call.remote_sdp = sdp if isinstance(sdp, SessionDescription) else None
        call.invite = req
        self._dialogs[(call.call_id, tag, call.remote_tag or "")] = call
        self._events.append(IncomingCall(call, call.remote_sdp, req))

    def _on_cancel(self, req: Request, addr: Addr, now: float) -> None:
        stx = self._new_server_tx(req, addr, now)
        inv = self._server.get((self._tx_key(req)[0], "INVITE"))
        if not isinstance(inv, ServerInviteTx):
            self._respond(stx, req, 481, now)
            return
        call = next((c for c in self._calls() if c.server_tx is inv), None)
        tag = call.local_tag if call else None
        self._respond(stx, req, 200, now, tag)
        if inv.final is None:
            self._respond(inv, inv.request, 487, now, tag)
            if call is not None and call.state is CallState.INCOMING:
                self._end(call, EndReason.CANCELLED, 487)
            elif call is not None:
                # a cancelled re-INVITE: the session stays as it was
                call.reinvite = ReInvite.IDLE

    def _in_dialog(self, call: Call, req: Request, stx: ServerTx, now: float) -> None:
        num = req.cseq[0]
        if call.remote_cseq is not None and num <= call.remote_cseq:
            self._respond(stx, req, 500, now, call.local_tag,
                          reason="Server Internal Error (CSeq out of order)")
            return
        call.remote_cseq = num
        if req.method == "BYE":
            self._respond(stx, req, 200, now, call.local_tag)
            if call.reinvite is ReInvite.RECEIVED and call.server_tx is not None \
                    and call.server_tx.final is None:
                self._respond(call.server_tx, call.server_tx.request, 487, now, call.local_tag)
            self._end(call, EndReason.REMOTE_BYE, 200)
        elif req.method == "INVITE":
            self._on_reinvite(call, req, stx, now)
        elif req.method == "OPTIONS":
            self._respond(stx, req, 200, now, call.local_tag, extra=self._capabilities())
        elif req.method in KNOWN_NOT_ALLOWED:
            self._respond(stx, req, 405, now, call.local_tag, extra=[("Allow", ALLOW)])
        else:
            self._respond(stx, req, 501, now, call.local_tag, extra=[("Allow", ALLOW)])

    def _on_reinvite(self, call: Call, req: Request, stx: ServerTx, now: float) -> None:
        assert isinstance(stx, ServerInviteTx)
        stx.send(self._response(req, 100, stx.addr, None), now)
        if call.reinvite is ReInvite.SENT:
            # glare: ours is pending (RFC 3261 §14.2)
            self._respond(stx, req, 491, now, call.local_tag)
            return
        if call.reinvite is ReInvite.RECEIVED or call.state is not CallState.CONFIRMED:
            self._respond(stx, req, 500, now, call.local_tag,
                          extra=[("Retry-After", str(self.rng.randint(0, 10)))])
            return
        sdp = self._check_invite(req, stx, now, call.local_tag)
        if sdp is False:
            return
        if call.reinvite is ReInvite.RETRY_WAIT:
            # their offer wins over our retry after a 491
            call.timers.pop("glare", None)
            call.reinvite = ReInvite.IDLE
            call.pending_offer = None
            self._events.append(ReInviteFailed(call, 491))
        contacts = req.get_all("Contact")
        if contacts:
            call.remote_target = parse_name_addr(contacts[0]).uri
        call.server_tx = stx
        call.invite = req
        prev = call.remote_sdp
        new = sdp if isinstance(sdp, SessionDescription) else None
        if new is None or (prev is not None and new.session_id == prev.session_id
                           and new.version == prev.version):
            # a refresh (RFC 3264 §8: same version, no change): keep the media going
            extra = self._timer_headers_uas(call, req, now)
            self._ok(call, req, stx, call.local_sdp or b"", now, extra)
            self._events.append(SessionRefreshed(call))
            return
        call.reinvite = ReInvite.RECEIVED
        call.pending_remote = new
        self._events.append(ReInviteOffer(call, new))

    def _on_dialog_ack(self, req: Request, now: float) -> None:
        call = self._dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if call is None or call.ok_bytes is None or req.cseq[0] != call.ok_cseq:
            return
        call.ok_bytes = None
        call.timers.pop("2xx", None)
        call.timers.pop("2xx-giveup", None)
        # the server transaction stays ACCEPTED until Timer L (RFC 6026)
        call.server_tx = None
        sdp = None
        if req.body:
            sdp = parse_sdp(req.body)
            call.remote_sdp = sdp
        if call.state is CallState.ANSWERED:
            call.state = CallState.CONFIRMED
            self._events.append(CallConfirmed(call, sdp))

    # ---- UAS actions -------------------------------------------------------------------
    def _ok(self, call: Call, req: Request, stx: ServerTx, body: bytes, now: float,
            extra: list[tuple[str, str]]) -> None:
        """Send our 2xx to an INVITE and resend it until the ACK (RFC 3261 §13.3.1.4)."""
        extra = [("Contact", f"<{self.contact}>"), ("Allow", ALLOW),
                 ("Supported", SUPPORTED), *extra]
        if req.get_lines("Record-Route"):
            extra = [("Record-Route", v) for v in req.get_lines("Record-Route")] + extra
        resp = self._respond(stx, req, 200, now, call.local_tag, extra=extra, body=body)
        call.ok_bytes = resp.to_bytes()
        call.ok_cseq = req.cseq[0]
        call.ok_interval = T1
        call.timers["2xx"] = now + T1
        call.timers["2xx-giveup"] = now + ACK_WAIT

    def ringing(self, call: Call, now: float | None = None) -> None:
        """Send 180 Ringing to an incoming call."""
        now = self._clock(now)
        if call.state is CallState.INCOMING and call.server_tx is not None:
            self._respond(call.server_tx, call.server_tx.request, 180, now, call.local_tag)

    def answer(self, call: Call, sdp: Sdp, now: float | None = None) -> None:
        """Answer an :class:`IncomingCall` with 200 OK and ``sdp``."""
        now = self._clock(now)
        if call.state is not CallState.INCOMING or call.server_tx is None:
            raise RuntimeError(f"answer(): {call!r} is not ringing")
        body = _body(sdp)
        req = call.server_tx.request
        extra = self._timer_headers_uas(call, req, now)
        call.local_sdp = body
        call.state = CallState.ANSWERED
        self._ok(call, req, call.server_tx, body, now, extra)

    def reject(self, call: Call, status: int = 486, now: float | None = None) -> None:
        """Refuse an :class:`IncomingCall` with a final non-2xx ``status``."""
        now = self._clock(now)
        if call.state is not CallState.INCOMING or call.server_tx is None:
            raise RuntimeError(f"reject(): {call!r} is not ringing")
        if not 300 <= status <= 699:
            raise ValueError(f"reject() status {status} is not 300-699")
        self._respond(call.server_tx, call.server_tx.request, status, now, call.local_tag)
        call.server_tx = None
        self._end(call, EndReason.DECLINED, status)

    def accept_reinvite(self, call: Call, sdp: Sdp, now: float | None = None) -> None:
        """Accept a :class:`ReInviteOffer` with our answer ``sdp``."""
        now = self._clock(now)
        if call.reinvite is not ReInvite.RECEIVED or call.server_tx is None:
            raise RuntimeError(f"accept_reinvite(): no re-INVITE pending on {call!r}")
        body = _body(sdp)
        req = call.server_tx.request
        extra = self._timer_headers_uas(call, req, now)
        call.reinvite = ReInvite.IDLE
        call.local_sdp = body
        call.remote_sdp = call.pending_remote or call.remote_sdp
        call.pending_remote = None
        self._ok(call, req, call.server_tx, body, now, extra)
        self._events.append(MediaChanged(call, call.remote_sdp, _parsed(body)))

    def reject_reinvite(self, call: Call, status: int = 488, now: float | None = None) -> None:
        """Refuse a :class:`ReInviteOffer` (488 for a T.38 offer we do not take): the
        session stays as it was."""
        now = self._clock(now)
        if call.reinvite is not ReInvite.RECEIVED or call.server_tx is None:
            raise RuntimeError(f"reject_reinvite(): no re-INVITE pending on {call!r}")
        if not 300 <= status <= 699:
            raise ValueError(f"reject_reinvite() status {status} is not 300-699")
        extra = [("Retry-After", str(self.rng.randint(0, 10)))] if status == 500 else []
        self._respond(call.server_tx, call.server_tx.request, status, now, call.local_tag,
                      extra=extra)
        call.reinvite = ReInvite.IDLE
        call.server_tx = None

    # ---- UAC actions -------------------------------------------------------------------
    def invite(self, to: str, sdp: Sdp | None, now: float | None = None, *,
               proxy: Addr | None = None, from_: str | None = None,
               credentials: tuple[str, str] | None = None) -> Call:
        """Start a call to ``to`` (a sip: URI) offering ``sdp``. The INVITE goes to
        ``proxy`` if given, else to the URI's host and port (no DNS: give an address)."""
        now = self._clock(now)
        to_uri = parse_uri(to)
        tag = self._tag()
        local = f"<{from_ or self.local_uri}>;tag={tag}"
        call = Call(call_id=f"{self.rng.getrandbits(96):024x}@faxcore", role="uac",
                    local=local, remote=f"<{to_uri}>", local_tag=tag, remote_tag=None,
                    remote_target=to_uri, addr=proxy or to_uri.address(),
                    state=CallState.CALLING, local_cseq=self.rng.randrange(1, 1 << 16),
                    credentials=credentials or self.credentials)
        call.dest = call.addr
        call.local_sdp = _body(sdp) if sdp is not None else None
        self._early[(call.call_id, tag)] = call
        self._send_invite(call, now, call.local_sdp or b"", str(to_uri), [], dialog=False)
        return call

    def _send_invite(self, call: Call, now: float, body: bytes, uri: str, route: list[str],
                     dialog: bool, auth: list[tuple[str, str]] = ()) -> None:
        req = self._request("INVITE", uri, call.local, call.remote, call.call_id,
                            call.local_cseq, route, body)
        req.add("Allow", ALLOW)
        req.add("Supported", SUPPORTED)
        interval = call.session_interval or self.session_expires
        if interval is not None:
            if dialog and call.session_interval is not None:
                refresher = "uac" if call.we_refresh else "uas"
                req.add("Session-Expires", f"{interval};refresher={refresher}")
            else:
                req.add("Session-Expires", str(interval))
            req.add("Min-SE", str(self.min_se))
        for n, v in auth:
            req.add(n, v)
        call.invite = req
        dest = call.addr if dialog else (call.dest or call.addr)
        self._send_client(req, dest, now, ("invite", call))

    def _on_invite_response(self, call: Call, resp: Response | None, now: float) -> None:
        in_dialog = call.state not in (CallState.CALLING, CallState.RINGING)
        if call.state in (CallState.ENDING, CallState.ENDED):
            # the dialog is over (a BYE crossed our re-INVITE): ACK a 2xx, nothing else
            if resp is not None and 200 <= resp.status < 300 and call.remote_tag is not None:
                ack = self._request("ACK", str(call.remote_target), call.local, call.remote,
                                    call.call_id, resp.cseq[0], call.route)
                self._out.append((ack.to_bytes(), call.addr))
            return
        if resp is None:                                   # Timer B
            if in_dialog:
                call.reinvite = ReInvite.IDLE
                self._events.append(ReInviteFailed(call, 408))
                self._send_bye(call, now, EndReason.TIMEOUT)
            else:
                self._end(call, EndReason.TIMEOUT, 408)
            return
        st = resp.status
        if st < 200:
            call.provisional_seen = True
            if not in_dialog and st > 100:
                call.state = CallState.RINGING
                self._events.append(CallRinging(call, st, _parsed(resp.body)))
            if call.cancel_wanted and not in_dialog:
                self._send_cancel(call, now)
            return
        if st < 300:
            self._on_invite_2xx(call, resp, now, in_dialog)
            return
        if st in (401, 407) and self._retry_with_auth(call, resp, now, in_dialog):
            return
        if st == 422 and resp.get("Min-SE") and call.auth_tries < 3:
            se = _session_expires(resp.get("Min-SE"))
            if se is not None and se[0] > (call.session_interval or 0):
                call.auth_tries += 1
                call.session_interval = se[0]
                call.local_cseq += 1
                self._resend_invite(call, now, in_dialog)
                return
        if not in_dialog:
            reason = EndReason.CANCELLED if st == 487 else EndReason.REJECTED
            self._end(call, reason, st)
            return
        # a refused re-INVITE leaves the session unchanged (RFC 3261 §14.1)
        if st == 491 and call.glare_tries < GLARE_RETRIES:
            call.glare_tries += 1
            call.reinvite = ReInvite.RETRY_WAIT
            # RFC 3261 §14.1: the Call-ID's owner waits 2.1-4 s, the other 0-2 s
            delay = self.rng.uniform(2.1, 4.0) if call.role == "uac" else \
                self.rng.uniform(0.0, 2.0)
            call.timers["glare"] = now + delay
            return
        call.reinvite = ReInvite.IDLE
        refresh, call.pending_is_refresh = call.pending_is_refresh, False
        call.pending_offer = None
        if st in (481, 408):
            self._end_dialog(call, now, st)
            return
        if not refresh:
            self._events.append(ReInviteFailed(call, st))

    def _resend_invite(self, call: Call, now: float, in_dialog: bool,
                       auth: list[tuple[str, str]] = ()) -> None:
        body = (call.pending_offer or b"") if in_dialog else (call.local_sdp or b"")
        if in_dialog:
            self._send_invite(call, now, body, str(call.remote_target), call.route, True, auth)
        else:
            self._send_invite(call, now, body, call.invite.uri if call.invite else
                              str(call.remote_target), [], False, auth)

    def _retry_with_auth(self, call: Call, resp: Response, now: float, in_dialog: bool) -> bool:
        if call.credentials is None or call.auth_tries >= 2 or call.invite is None:
            return False
        header = self._answer_challenge(resp, "INVITE", call.invite.uri, call.credentials,
                                        call.nonce_count)
        if header is None:
            return False
        call.auth_tries += 1
        call.local_cseq += 1
        self._resend_invite(call, now, in_dialog, [header])
        return True

    def _answer_challenge(self, resp: Response, method: str, uri: str,
                          creds: tuple[str, str], counts: dict[str, int],
                          reg: Registration | None = None) -> tuple[str, str] | None:
        name = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        out = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        for value in resp.get_lines(name):
            try:
                ch = parse_challenge(value)
            except DigestError as exc:
                log.debug("cannot answer challenge %r: %s", value, exc)
                continue
            nc = counts.get(ch.nonce, 0) + 1
            counts[ch.nonce] = nc
            cnonce = f"{self.rng.getrandbits(64):016x}"
            if reg is not None:
                reg.challenge = (out, ch)
            return out, authorization(ch, method, uri, creds[0], creds[1], nc, cnonce)
        return None

    def _on_invite_2xx(self, call: Call, resp: Response, now: float, in_dialog: bool) -> None:
        # the transaction has ended: whatever is malformed here, the 2xx must be ACKed
        # and the call must reach a state (a bad SDP is reported as None)
        num = resp.cseq[0]
        sdp = _parsed(resp.body)
        if not in_dialog:
            call.remote_tag = resp.to.tag or ""
            call.remote = resp.get("To") or call.remote
            contacts = resp.get_all("Contact")
            try:
                if contacts:
                    call.remote_target = parse_name_addr(contacts[0]).uri
            except SipParseError:
                log.debug("2xx with a bad Contact %r: keeping the request URI", contacts[0])
            call.route = list(reversed(resp.get_all("Record-Route")))
            call.addr = self._route_addr(call)
            self._early.pop((call.call_id, call.local_tag), None)
            self._dialogs[(call.call_id, call.local_tag, call.remote_tag)] = call
        ack = self._request("ACK", str(call.remote_target), call.local, call.remote,
                            call.call_id, num, call.route)
        call.ack = ack.to_bytes()
        call.ack_cseq = num
        self._out.append((call.ack, call.addr))
        self._timer_from_2xx(call, resp, now)
        if not in_dialog:
            call.remote_sdp = sdp
            call.state = CallState.CONFIRMED
            if call.cancel_wanted:
                # the answer crossed our CANCEL: end the call properly
                self._events.append(CallAnswered(call, sdp))
                self._send_bye(call, now, EndReason.CANCELLED)
                return
            self._events.append(CallAnswered(call, sdp))
            return
        call.reinvite = ReInvite.IDLE
        call.glare_tries = 0
        refresh, call.pending_is_refresh = call.pending_is_refresh, False
        if call.pending_offer is not None:
            call.local_sdp = call.pending_offer
        call.pending_offer = None
        if refresh:
            self._events.append(SessionRefreshed(call))
            return
        if sdp is not None:
            call.remote_sdp = sdp
        self._events.append(MediaChanged(call, call.remote_sdp, _parsed(call.local_sdp)))

    def _route_addr(self, call: Call) -> Addr:
        """Where in-dialog requests go: the first loose route, else the remote target."""
        if call.route:
            try:
                first = parse_name_addr(call.route[0]).uri
                return first.address()
            except SipParseError:
                pass
        return call.remote_target.address()

    def reinvite(self, call: Call, sdp: Sdp, now: float | None = None) -> None:
        """Offer new media in the dialog (e.g. T.38). The answer comes as
        :class:`MediaChanged`, a refusal as :class:`ReInviteFailed`."""
        now = self._clock(now)
        if call.state is not CallState.CONFIRMED or call.reinvite is not ReInvite.IDLE:
            raise RuntimeError(f"reinvite(): {call!r} cannot re-INVITE now")
        call.glare_tries = 0
        call.auth_tries = 0
        self._send_reinvite(call, _body(sdp), now, refresh=False)

    def _send_reinvite(self, call: Call, body: bytes, now: float, refresh: bool) -> None:
        call.reinvite = ReInvite.SENT
        call.pending_offer = body
        call.pending_is_refresh = refresh
        call.local_cseq += 1
        self._send_invite(call, now, body, str(call.remote_target), call.route, True)

    def cancel(self, call: Call, now: float | None = None) -> None:
        """Cancel our unanswered INVITE (sent once a provisional response came)."""
        now = self._clock(now)
        if call.role != "uac" or call.state not in (CallState.CALLING, CallState.RINGING):
            raise RuntimeError(f"cancel(): {call!r} is not an unanswered outgoing call")
        call.cancel_wanted = True
        if call.provisional_seen:
            self._send_cancel(call, now)

    def _send_cancel(self, call: Call, now: float) -> None:
        inv = call.invite
        if inv is None or call.cancel_sent:
            return
        call.cancel_sent = True
        req = Request(method="CANCEL", uri=inv.uri)
        req.add("Via", inv.get_all("Via")[0])
        for r in inv.get_lines("Route"):
            req.add("Route", r)
        req.add("Max-Forwards", "70")
        req.add("From", inv.get("From") or "")
        req.add("To", inv.get("To") or "")
        req.add("Call-ID", inv.call_id)
        req.add("CSeq", f"{inv.cseq[0]} CANCEL")
        req.add("User-Agent", self.user_agent)
        call.cancel_wanted = False
        self._send_client(req, call.dest or call.addr, now, ("cancel", call))

    def bye(self, call: Call, now: float | None = None) -> None:
        """End a call: BYE in a dialog; CANCEL for our unanswered INVITE; an incoming call
        not yet answered is rejected with 480 instead."""
        now = self._clock(now)
        if call.state in (CallState.CALLING, CallState.RINGING):
            self.cancel(call, now)
        elif call.state is CallState.INCOMING:
            self.reject(call, 480, now)
        elif call.state in (CallState.CONFIRMED, CallState.ANSWERED):
            self._send_bye(call, now, EndReason.LOCAL_BYE)

    def _send_bye(self, call: Call, now: float, reason: EndReason) -> None:
        if call.state in (CallState.ENDING, CallState.ENDED):
            return
        stx = call.server_tx
        if call.reinvite is ReInvite.RECEIVED and stx is not None and stx.final is None:
            # their re-INVITE is still unanswered: it ends with the dialog
            self._respond(stx, stx.request, 487, now, call.local_tag)
        call.state = CallState.ENDING
        call.end_reason = reason
        call.timers.clear()
        call.local_cseq += 1
        req = self._request("BYE", str(call.remote_target), call.local, call.remote,
                            call.call_id, call.local_cseq, call.route)
        self._send_client(req, call.addr, now, ("bye", call))

    def _on_bye_response(self, call: Call, resp: Response | None) -> None:
        if resp is not None and resp.status < 200:
            return
        self._end(call, call.end_reason or EndReason.LOCAL_BYE,
                  resp.status if resp is not None else 408)

    def _end_dialog(self, call: Call, now: float, status: int) -> None:
        """481/408 to an in-dialog request: the dialog is gone (RFC 3261 §12.2.1.2)."""
        self._end(call, EndReason.DIALOG_GONE, status)

    def _end(self, call: Call, reason: EndReason, status: int | None) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.end_reason = reason
        call.timers.clear()
        call.reinvite = ReInvite.IDLE
        self._events.append(CallEnded(call, reason, status))
        self._forget_if_done(call)

    def _forget_if_done(self, call: Call) -> None:
        if call.state is CallState.ENDED and not call.timers:
            self._early.pop((call.call_id, call.local_tag), None)
            self._dialogs.pop((call.call_id, call.local_tag, call.remote_tag or ""), None)
            if call.server_tx is not None and call.server_tx.terminated:
                self._server.pop(self._tx_key(call.server_tx.request), None)
            call.server_tx = None

    # ---- session timers (RFC 4028) -------------------------------------------------------
    def _timer_headers_uas(self, call: Call, req: Request, now: float) -> list[tuple[str, str]]:
        """Session-Expires for our 2xx to an INVITE, and arm the call's timers."""
        se = _session_expires(req.get("Session-Expires"))
        supported = "timer" in [t.lower() for t in req.get_all("Supported")]
        if se is not None:
            interval, refresher = se[0], se[1] or ("uac" if supported else "uas")
        elif self.session_expires is not None and supported:
            interval, refresher = self.session_expires, "uac"
        else:
            self._arm_session(call, None, False, now)
            return []
        minse = _session_expires(req.get("Min-SE"))
        if minse is not None:
            interval = max(interval, minse[0])
        self._arm_session(call, interval, refresher == "uas", now)
        extra = [("Session-Expires", f"{interval};refresher={refresher}")]
        if refresher == "uac":
            extra.append(("Require", "timer"))
        return extra

    def _timer_from_2xx(self, call: Call, resp: Response, now: float) -> None:
        try:
            se = _session_expires(resp.get("Session-Expires"))
        except SipParseError:
            se = None
        if se is None:
            self._arm_session(call, None, False, now)
            return
        self._arm_session(call, se[0], (se[1] or "uac") == "uac", now)

    def _arm_session(self, call: Call, interval: int | None, we_refresh: bool,
                     now: float) -> None:
        call.session_interval = interval
        call.we_refresh = we_refresh
        call.timers.pop("refresh", None)
        call.timers.pop("expire", None)
        if interval is None:
            return
        if we_refresh:
            call.timers["refresh"] = now + interval / 2
        call.timers["expire"] = now + interval - min(32.0, interval / 3)

    # ---- call timers ---------------------------------------------------------------------
    def _call_timer(self, call: Call, name: str, now: float) -> None:
        if name == "2xx" and call.ok_bytes is not None:
            self._out.append((call.ok_bytes, call.server_tx.addr if call.server_tx
                              else call.addr))
            call.ok_interval = min(call.ok_interval * 2, T2)
            call.timers["2xx"] = now + call.ok_interval
        elif name == "2xx-giveup" and call.ok_bytes is not None:
            # RFC 3261 §13.3.1.4: no ACK within 64*T1: end the dialog with a BYE
            call.ok_bytes = None
            call.timers.pop("2xx", None)
            call.state = CallState.CONFIRMED
            self._send_bye(call, now, EndReason.NO_ACK)
        elif name == "glare" and call.reinvite is ReInvite.RETRY_WAIT:
            body = call.pending_offer or call.local_sdp or b""
            self._send_reinvite(call, body, now, call.pending_is_refresh)
        elif name == "refresh" and call.state is CallState.CONFIRMED:
            if call.reinvite is ReInvite.IDLE:
                # the unchanged SDP (same o= version): the media, T.38 included, goes on
                self._send_reinvite(call, call.local_sdp or b"", now, refresh=True)
            else:
                call.timers["refresh"] = now + 1.0
        elif name == "expire" and call.state is CallState.CONFIRMED:
            self._send_bye(call, now, EndReason.SESSION_EXPIRED)

    # ---- REGISTER ------------------------------------------------------------------------
    def register(self, registrar: str, user: str, password: str, expires: int = 3600,
                 now: float | None = None, *, addr: Addr | None = None) -> Registration:
        """Register our contact at ``registrar`` (a sip: URI) as ``user``; answers
        401/407 with digest; refreshes at half the granted time."""
        now = self._clock(now)
        reg_uri = parse_uri(registrar)
        aor = f"sip:{user}@{reg_uri.host}" + (f":{reg_uri.port}" if reg_uri.port else "")
        reg = Registration(reg_uri, aor, user, password, expires, addr or reg_uri.address(),
                           f"{self.rng.getrandbits(96):024x}@faxcore", self._tag(),
                           cseq=self.rng.randrange(1, 1 << 16))
        self._registrations.append(reg)
        self._send_register(reg, now)
        return reg

    def unregister(self, reg: Registration, now: float | None = None) -> None:
        now = self._clock(now)
        reg.expires = 0
        reg.timers.clear()
        self._send_register(reg, now)

    def _send_register(self, reg: Registration, now: float,
                       auth: list[tuple[str, str]] = ()) -> None:
        reg.cseq += 1
        uri = Uri("sip", None, reg.registrar.host, reg.registrar.port)
        req = self._request("REGISTER", str(uri), f"<{reg.aor}>;tag={reg.local_tag}",
                            f"<{reg.aor}>", reg.call_id, reg.cseq)
        req.add("Expires", str(reg.expires))
        if not auth and reg.challenge is not None:
            name, ch = reg.challenge
            nc = reg.nonce_count.get(ch.nonce, 0) + 1
            reg.nonce_count[ch.nonce] = nc
            auth = [(name, authorization(ch, "REGISTER", str(uri), reg.user, reg.password, nc,
                                         f"{self.rng.getrandbits(64):016x}"))]
        for n, v in auth:
            req.add(n, v)
        self._send_client(req, reg.addr, now, ("register", reg))

    def _on_register_response(self, reg: Registration, req: Request, resp: Response | None,
                              now: float) -> None:
        if resp is None:
            self._events.append(RegistrationFailed(reg, 408))
            reg.timers["refresh"] = now + 60.0
            return
        if resp.status < 200:
            return
        if resp.status in (401, 407) and reg.tries < 2:
            header = self._answer_challenge(resp, "REGISTER", req.uri,
                                            (reg.user, reg.password), reg.nonce_count, reg)
            if header is not None:
                reg.tries += 1
                self._send_register(reg, now, [header])
                return
        min_expires = _delta_seconds(resp.get("Min-Expires"))
        if resp.status == 423 and min_expires is not None and reg.tries < 2:
            reg.tries += 1
            reg.expires = min_expires
            self._send_register(reg, now)
            return
        reg.tries = 0
        if resp.status >= 300:
            reg.active = False
            self._events.append(RegistrationFailed(reg, resp.status))
            return
        if reg.expires == 0:
            reg.active = False
            self._registrations = [r for r in self._registrations if r is not reg]
            self._events.append(Unregistered(reg))
            return
        granted = self._granted(resp, reg)
        reg.granted, reg.active = granted, True
        reg.timers["refresh"] = now + max(1.0, granted / 2)
        self._events.append(Registered(reg, granted))

    def _granted(self, resp: Response, reg: Registration) -> int:
        for c in resp.get_all("Contact"):
            try:
                na = parse_name_addr(c)
            except SipParseError:
                continue
            if na.uri.host == self.contact.host and na.uri.user == self.contact.user:
                v = _delta_seconds(na.params.get("expires"))
                if v is not None:
                    return v
        v = _delta_seconds(resp.get("Expires"))
        return v if v is not None else reg.expires


#: the largest delta-seconds we believe (RFC 3261 §25.1 caps it at 2**32-1)
MAX_DELTA = 2 ** 32 - 1


def _delta_seconds(value: str | None) -> int | None:
    """An Expires-style number, clamped to MAX_DELTA; None when absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    if not is_number(value):
        return None
    return MAX_DELTA if len(value) > 10 else min(int(value), MAX_DELTA)


def _body(sdp: Sdp) -> bytes:
    return sdp if isinstance(sdp, bytes) else sdp.to_bytes()


def _parsed(body: bytes | None) -> SessionDescription | None:
    if not body:
        return None
    try:
        return parse_sdp(body)
    except SdpParseError:
        return None

