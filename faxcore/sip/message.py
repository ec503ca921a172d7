"""SIP messages (RFC 3261 §7, §20, §25): parse and serialize requests and responses.

Strict where the RFC is (the start line, the header-name token, Content-Length against
the bytes present, the five headers a request cannot do without), tolerant where the
field is (compact header names, any case, folded lines, bare LF line ends, comma-joined
Via/Contact lists, a missing Content-Length on UDP, unknown headers kept as they came).

Every failure is one exception, :class:`SipParseError`. When the start line and the
header section were readable but a check failed, the exception carries the partly parsed
message in ``.message``, so a user agent can still answer ``400 Bad Request`` to it
(:mod:`faxcore.sip.ua` does; it drops what it cannot answer).

Size limits (:data:`MAX_MESSAGE`, :data:`MAX_HEADERS`, :data:`MAX_HEADER_LINE`) bound
the work a hostile datagram can cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MAX_HEADERS", "MAX_HEADER_LINE", "MAX_MESSAGE", "NameAddr", "Request", "Response",
           "SipMessage", "SipParseError", "Uri", "Via", "canonical_name", "is_number", "parse_message",
           "parse_name_addr", "parse_params", "parse_uri", "parse_via", "split_list"]

#: largest datagram accepted (a UDP datagram cannot be larger)
MAX_MESSAGE = 65536
#: most header fields in one message (a real INVITE has 10-20)
MAX_HEADERS = 128
#: longest header field after unfolding
MAX_HEADER_LINE = 8192

SIP_VERSION = "SIP/2.0"


class SipParseError(ValueError):
    """A message that does not parse. ``message`` is the partly parsed message when the
    start line and headers were readable (enough to answer 400), else ``None``."""

    def __init__(self, reason: str, message: SipMessage | None = None) -> None:
        super().__init__(reason)
        self.message = message


# RFC 3261 §7.3.3 and the IANA registry: the compact forms
COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via", "o": "event", "r": "refer-to", "x": "session-expires",
           "u": "allow-events", "b": "referred-by", "a": "accept-contact",
           "j": "reject-contact", "d": "request-disposition"}

_SPELLING = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
    "Content-Type", "Content-Encoding", "Allow", "Accept", "Supported", "Require",
    "Unsupported", "Expires", "Min-Expires", "Route", "Record-Route", "User-Agent",
    "Server", "WWW-Authenticate", "Authorization", "Proxy-Authenticate",
    "Proxy-Authorization", "Session-Expires", "Min-SE", "Retry-After", "Subject",
    "Event", "Allow-Events", "Refer-To", "Referred-By", "Date", "Timestamp", "Warning",
    "Reason", "Accept-Encoding", "Accept-Language", "Organization", "Priority")}
_SPELLING["call-id"] = "Call-ID"
_SPELLING["cseq"] = "CSeq"
_SPELLING["www-authenticate"] = "WWW-Authenticate"
_SPELLING["min-se"] = "Min-SE"

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?\Z", re.IGNORECASE)


def is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes '²' and other scripts' digits,
    which ``int`` then refuses or reads differently)."""
    return text.isascii() and text.isdigit()


def canonical_name(name: str) -> str:
    """The usual spelling of a header name given in any case or compact form."""
    low = name.lower()
    low = COMPACT.get(low, low)
    spelled = _SPELLING.get(low)
    if spelled is not None:
        return spelled
    return "-".join(p[:1].upper() + p[1:] for p in low.split("-"))


@dataclass
class SipMessage:
    """Headers as (canonical name, value) pairs in their order, and the body."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any spelling), or None."""
        name = canonical_name(name)
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, comma-joined lists split (Via, Contact, Allow,
        Route, ...; never use this for the authentication headers)."""
        name = canonical_name(name)
        out: list[str] = []
        for n, v in self.headers:
            if n == name:
                out.extend(split_list(v))
        return out

    def get_lines(self, name: str) -> list[str]:
        """Every header line of ``name``, unsplit (WWW-Authenticate and friends)."""
        name = canonical_name(name)
        return [v for n, v in self.headers if n == name]

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header with one (in the first one's place)."""
        name = canonical_name(name)
        for i, (n, _) in enumerate(self.headers):
            if n == name:
                self.headers[i] = (name, value)
                self.headers[i + 1:] = [(a, b) for a, b in self.headers[i + 1:] if a != name]
                return
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self.headers = [(n, v) for n, v in self.headers if n != name]

    # ---- the fields every message has ----------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of CSeq; raises SipParseError when malformed."""
        return parse_cseq(self.get("CSeq") or "")

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.get("From") or "")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.get("To") or "")

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.get_all("Via")]

    def _header_bytes(self, start: str) -> bytes:
        lines = [start]
        lines.extend(f"{n}: {v}" for n, v in self.headers if n != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


@dataclass
class Request(SipMessage):
    method: str = "OPTIONS"
    uri: str = ""

    def to_bytes(self) -> bytes:
        return self._header_bytes(f"{self.method} {self.uri} {SIP_VERSION}") + self.body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} {self.get('CSeq')!r}>"


@dataclass
class Response(SipMessage):
    status: int = 200
    reason: str = "OK"

    def to_bytes(self) -> bytes:
        return self._header_bytes(f"{SIP_VERSION} {self.status} {self.reason}") + self.body

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} {self.get('CSeq')!r}>"


# ---- parsing --------------------------------------------------------------------------

_BLANK_LINES = (b"\r\n\r\n", b"\n\n", b"\r\n\n", b"\n\r\n")


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header section and the rest, split at the first blank line (CRLF or bare LF)."""
    best: tuple[int, bytes] | None = None
    for sep in _BLANK_LINES:
        j = data.find(sep)
        if j >= 0 and (best is None or j < best[0]):
            best = (j, sep)
    if best is None:
        # no blank line: a message with headers only and no body is tolerated
        return data, b""
    return data[:best[0]], data[best[0] + len(best[1]):]


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message from a datagram. Raises :class:`SipParseError`."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    # keepalives (RFC 5626 CRLF) and leading blank lines are allowed before the start line
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    head, rest = _split_head(data)
    text = head.decode("utf-8", "surrogateescape")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    msg: Request | Response
    m = _STATUS_LINE.match(start)
    if m:
        msg = Response(status=int(m.group(1)), reason=(m.group(2) or "").strip())
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2].upper() != SIP_VERSION:
            raise SipParseError(f"bad start line {start[:80]!r}")
        if not _TOKEN.match(parts[0]) or not parts[1]:
            raise SipParseError(f"bad request line {start[:80]!r}")
        msg = Request(method=parts[0], uri=parts[1])
    # unfold: a line starting with SP/HT continues the previous one (RFC 3261 §7.3.1)
    fields: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = fields[-1].rstrip() + " " + line.strip()
            if len(fields[-1]) > MAX_HEADER_LINE:
                raise SipParseError("header line too long")
            continue
        if len(line) > MAX_HEADER_LINE:
            raise SipParseError("header line too long")
        fields.append(line)
        if len(fields) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header fields")
    for f in fields:
        name, colon, value = f.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {f[:80]!r}")
        msg.headers.append((canonical_name(name), value.strip()))
    # body: Content-Length rules (RFC 3261 §18.3, §20.14)
    cl = msg.get("Content-Length")
    if cl is None:
        msg.body = rest
    else:
        if not is_number(cl) or len(cl) > 9:
            raise SipParseError(f"bad Content-Length {cl[:20]!r}", msg)
        n = int(cl)
        if n > len(rest):
            raise SipParseError(f"Content-Length {n} but {len(rest)} body bytes", msg)
        msg.body = rest[:n]
    _check(msg)
    return msg


def _check(msg: Request | Response) -> None:
    """The fields a transaction needs, each well-formed (RFC 3261 §8.1.1)."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if msg.get(name) is None:
            raise SipParseError(f"missing {name}", msg)
    try:
        num, method = msg.cseq
        vias = msg.vias
        msg.from_  # noqa: B018  (parsed for the check)
        msg.to  # noqa: B018
    except SipParseError as exc:
        raise SipParseError(str(exc), msg) from None
    if not vias or any(not v.strip(" \t,") for v in msg.get_lines("Via")):
        raise SipParseError("empty Via", msg)
    if isinstance(msg, Request):
        if method != msg.method and not (msg.method == "ACK" and method == "ACK"):
            raise SipParseError(f"CSeq method {method} differs from {msg.method}", msg)
        try:
            parse_uri(msg.uri)
        except SipParseError as exc:
            raise SipParseError(str(exc), msg) from None
    mf = msg.get("Max-Forwards")
    if mf is not None and (not is_number(mf) or len(mf) > 3 or int(mf) > 255):
        raise SipParseError(f"bad Max-Forwards {mf[:20]!r}", msg)


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not is_number(parts[0]) or len(parts[0]) > 10:
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    num = int(parts[0])
    if num >= 2 ** 31 or not _TOKEN.match(parts[1]):
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    return num, parts[1]


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>."""
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            part = value[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=1;b;c="x y"`` (leading ; optional) -> {"a": "1", "b": None, "c": "x y"};
    names lowercased."""
    params: dict[str, str | None] = {}
    for part in _split_semis(text):
        part = part.strip()
        if not part:
            continue
        name, eq, val = part.partition("=")
        name = name.strip().lower()
        if not _TOKEN.match(name):
            raise SipParseError(f"bad parameter {part[:40]!r}")
        v: str | None = val.strip() if eq else None
        if v is not None and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        params[name] = v
    return params


def _split_semis(text: str) -> list[str]:
    out: list[str] = []
    quoted = False
    start = 0
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# ---- URIs, name-addr, Via --------------------------------------------------------------

@dataclass
class Uri:
    """A sip:/sips: URI: ``sip:user:password@host:port;params?headers``."""

    scheme: str = "sip"
    user: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""
    password: str | None = None

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{host}{port}{_format_params(self.params)}{hdrs}"

    def address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where to send a request for this URI: maddr if given, host and port (no DNS)."""
        host = self.params.get("maddr") or self.host
        return host, self.port if self.port is not None else default_port


#: RFC 3261 §25.1 user / password characters (unreserved, escaped, user-unreserved)
_USERINFO = re.compile(r"[A-Za-z0-9\-_.!~*'()%&=+$,;?/:#]+\Z")
_URI_TEXT = re.compile(r"[^\s<>\"]*\Z")
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?\Z")


def _hostport(text: str) -> tuple[str, int | None]:
    m = _HOSTPORT.match(text)
    if not m:
        raise SipParseError(f"bad host {text[:60]!r}")
    host = m.group(1)
    if host.startswith("["):
        host = host[1:-1]
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise SipParseError(f"bad port {port}")
    return host, port


def parse_uri(text: str) -> Uri:
    """Parse a sip:/sips: URI (other schemes, e.g. tel:, raise SipParseError)."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips"):
        raise SipParseError(f"not a SIP URI: {text[:60]!r}")
    rest, _, headers = rest.partition("?")
    userinfo, at, hostpart = rest.rpartition("@")
    user = password = None
    if at:
        user, pcolon, pw = userinfo.partition(":")
        if pcolon:
            password = pw
        if not user or not _USERINFO.match(userinfo):
            raise SipParseError(f"bad user part in {text[:60]!r}")
    hostport, _, params = hostpart.partition(";")
    host, port = _hostport(hostport)
    parsed = parse_params(params)
    # what we parse we may write back (a Contact becomes our Request-URI): no spaces,
    # quotes or angle brackets anywhere in it
    if any(v is not None and not _URI_TEXT.match(v) for v in parsed.values()) or \
            (headers and not _URI_TEXT.match(headers)):
        raise SipParseError(f"bad URI parameter or header in {text[:60]!r}")
    return Uri(scheme, user, host, port, parsed, headers, password)


@dataclass
class NameAddr:
    """From/To/Contact/Route: optional display name, URI, header parameters (tag, ...)."""

    uri: Uri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        disp = f'"{self.display}" ' if self.display else ""
        return f"{disp}<{self.uri}>{_format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    """``"Name" <sip:u@h;uparam>;tag=x`` or ``sip:u@h;tag=x`` (where params are the
    header's, RFC 3261 §20.10)."""
    text = text.strip()
    display: str | None = None
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unclosed < in {text[:60]!r}")
        disp = text[:lt].strip()
        if disp.startswith('"') and disp.endswith('"') and len(disp) >= 2:
            disp = disp[1:-1]
        display = disp or None
        uri = parse_uri(text[lt + 1:gt])
        params = parse_params(text[gt + 1:].strip())
        return NameAddr(uri, display, params)
    # addr-spec: no display name; ; starts the header's parameters
    spec, _, params_text = text.partition(";")
    if "?" in spec or "," in spec:
        raise SipParseError(f"addr-spec with ? or , needs <>: {text[:60]!r}")
    return NameAddr(parse_uri(spec), None, parse_params(params_text))


@dataclass
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def sent_by(self) -> tuple[str, int]:
        return self.host, self.port if self.port is not None else 5060

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {host}{port}{_format_params(self.params)}"


_VIA = re.compile(r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?\Z",
                  re.IGNORECASE | re.DOTALL)


def parse_via(text: str) -> Via:
    m = _VIA.match(text.strip())
    if not m:
        raise SipParseError(f"bad Via {text[:60]!r}")
    host, port = _hostport(m.group(2))
    return Via(m.group(1).upper(), host, port, parse_params(m.group(3) or ""))
