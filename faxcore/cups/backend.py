"""The ``faxcore`` CUPS backend: the print job's document goes to ``POST /v1/faxes``.

cupsd runs a backend as ``faxcore JOB-ID USER TITLE COPIES OPTIONS [FILE]`` with the
queue's URI in ``$DEVICE_URI`` (backend(7)); without arguments it lists the devices it
can find (one line: ``network faxcore "Unknown" "Fax via faxcore"``). The document is
FILE, or standard input; a raw (driverless) queue hands over the application's PDF as is.

The URI is ``faxcore://HOST:PORT/?key=fxk_...`` (the account's API key) or
``faxcore://HOST:PORT/?keyfile=/etc/faxcore/printer.key`` (the key read from a file, so
``lpstat -v`` does not show it); ``&tls=1`` uses https. The fax number is the job's
``phone=`` option (``lp -o phone=5551234``, or ``phone=Custom.5551234`` from a print
dialog through the queue's PPD, :data:`faxcore.cups.install.PPD`), else the job title when
it is a number (as fax4CUPS does: ``lp -t 5551234``).

Exit codes as CUPS defines them (cups/backend.h), and messages on standard error in the
``STATE:``/``ERROR:``/``INFO:`` form cupsd shows in ``lpstat -l``:

* 0 OK: the fax server accepted the job (it is queued there; the fax result is the
  server's business: webhooks, the control panel);
* 2 AUTH_REQUIRED: the key is missing, unknown or revoked (HTTP 401);
* 3 HOLD: the account may not send now (HTTP 402/403 with the gate's reason), or the
  job has no fax number: fix it (pay; ``lp -i JOB -o phone=...``) and release the job
  (``lp -i JOB -H resume``);
* 5 CANCEL: the server refuses the job for good (a document it cannot read, a number
  that is not one, too large);
* 6 RETRY: the server is down, unreachable or failed (5xx): cupsd tries again later.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx

CUPS_BACKEND_OK = 0
CUPS_BACKEND_FAILED = 1
CUPS_BACKEND_AUTH_REQUIRED = 2
CUPS_BACKEND_HOLD = 3
CUPS_BACKEND_STOP = 4
CUPS_BACKEND_CANCEL = 5
CUPS_BACKEND_RETRY = 6
CUPS_BACKEND_RETRY_CURRENT = 7

SCHEME = "faxcore"
TIMEOUT = 60.0
_NUMBER = re.compile(r"^\+?[0-9][0-9 ()./-]{1,30}$")


class BackendError(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


@dataclass(frozen=True)
class Target:
    base_url: str
    key: str


def parse_uri(uri: str) -> Target:
    """``faxcore://host:port/?key=...|keyfile=...[&tls=1]`` -> where to send, with which key."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME or not parts.hostname:
        raise BackendError(CUPS_BACKEND_STOP, f"bad device URI {_redact(uri)!r}: want "
                           "faxcore://HOST:PORT/?key=fxk_...")
    query = parse_qs(parts.query)
    key = (query.get("key") or [""])[0]
    if not key and query.get("keyfile"):
        path = query["keyfile"][0]
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise BackendError(CUPS_BACKEND_STOP, f"cannot read the key file {path}: "
                               f"{exc.strerror or exc}") from None
    if not key:
        raise BackendError(CUPS_BACKEND_AUTH_REQUIRED, "the device URI has no API key "
                           "(?key=... or ?keyfile=...)", "cups-missing-key")
    scheme = "https" if (query.get("tls") or ["0"])[0] in ("1", "yes", "true") else "http"
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return Target(f"{scheme}://{host}{port}", key)


def _redact(uri: str) -> str:
    return re.sub(r"key=[^&]*", "key=***", uri)


def job_options(text: str) -> dict[str, str]:
    """CUPS's option string (``name=value name2='a b' flag``) as a dict."""
    out: dict[str, str] = {}
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    for w in words:
        name, sep, value = w.partition("=")
        out[name.lower()] = value if sep else "true"
    return out


def _option_value(value: str) -> str:
    """A PPD custom option's value as the number: a print dialog sends
    ``Custom.5551234`` (one parameter) or ``{Number=5551234}``; ``None`` is the PPD's
    default choice, no number."""
    v = value.strip()
    if v.startswith("{") and v.endswith("}"):
        v = v[1:-1].partition("=")[2] if "=" in v else v[1:-1]
    if v.lower().startswith("custom."):
        v = v[7:]
    v = v.strip()
    return "" if v.lower() == "none" else v


def fax_number(options: dict[str, str], title: str) -> str | None:
    """The ``phone`` (or ``fax-number``/``faxnumber``) option, else a title that is a number."""
    for name in ("phone", "fax-number", "faxnumber"):
        v = _option_value(options.get(name, ""))
        if v:
            return v
    t = title.strip()
    return t if _NUMBER.match(t) else None


def submit(target: Target, number: str, document: bytes, filename: str, title: str,
           *, transport: httpx.BaseTransport | None = None) -> dict:
    """POST the document; returns the job JSON or raises :class:`BackendError`."""
    try:
        with httpx.Client(base_url=target.base_url, timeout=TIMEOUT,
                          transport=transport) as client:
            r = client.post("/v1/faxes", headers={"authorization": f"Bearer {target.key}"},
                            data={"to": number, "origin": "printer"},
                            files={"files": (filename, document, "application/octet-stream")})
    except httpx.HTTPError as exc:
        raise BackendError(CUPS_BACKEND_RETRY, f"the fax server at {target.base_url} cannot "
                           f"be reached ({exc.__class__.__name__}: {exc}); will retry",
                           "connecting-to-device") from None
    try:
        body = r.json()
    except ValueError:
        body = {}
    msg = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    msg = msg or f"HTTP {r.status_code}"
    if r.status_code in (200, 202):
        return body
    if r.status_code == 401:
        raise BackendError(CUPS_BACKEND_AUTH_REQUIRED, f"the fax server refused the API key: "
                           f"{msg}", "cups-missing-key")
    if r.status_code in (402, 403):
        raise BackendError(CUPS_BACKEND_HOLD, f"fax account may not send: {msg}",
                           "account-authorization-failed")
    if r.status_code >= 500 or r.status_code in (408, 429):
        raise BackendError(CUPS_BACKEND_RETRY, f"the fax server failed ({msg}); will retry",
                           "connecting-to-device")
    raise BackendError(CUPS_BACKEND_CANCEL, f"the fax server refused the job: {msg}",
                       "document-unprintable-error")


def _say(err: IO[str], line: str) -> None:
    err.write(line.replace("\n", " ") + "\n")
    err.flush()


def main(argv: list[str] | None = None, env: dict[str, str] | None = None,
         stdin: IO[bytes] | None = None, stderr: IO[str] | None = None,
         stdout: IO[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    env = dict(os.environ if env is None else env)
    err = stderr or sys.stderr
    if len(argv) == 1:  # device discovery (lpinfo -v)
        (stdout or sys.stdout).write(f'network {SCHEME} "Unknown" "Fax via faxcore"\n')
        return CUPS_BACKEND_OK
    if len(argv) not in (6, 7):
        _say(err, f"Usage: {SCHEME} job-id user title copies options [file]")
        return CUPS_BACKEND_FAILED
    job_id, _user, title, _copies, options = argv[1:6]
    try:
        target = parse_uri(env.get("DEVICE_URI", ""))
        number = fax_number(job_options(options), title)
        if number is None:
            raise BackendError(CUPS_BACKEND_HOLD, "no fax number: print with -o phone=NUMBER "
                               "(or a title that is the number); then lp -i JOB -o "
                               "phone=NUMBER -H resume", "job-hold-until-specified")
        if len(argv) == 7:
            document = Path(argv[6]).read_bytes()
        else:
            document = _read_stdin(stdin)
        if not document:
            raise BackendError(CUPS_BACKEND_CANCEL, "the print job is empty")
        _say(err, f"INFO: sending job {job_id} to fax {number}")
        job = submit(target, number, document, f"job-{job_id}", title)
    except BackendError as exc:
        if exc.reason:
            _say(err, f"STATE: +{exc.reason}")
        _say(err, f"ERROR: {exc.message}")
        return exc.code
    except OSError as exc:
        _say(err, f"ERROR: cannot read the print job: {exc.strerror or exc}")
        return CUPS_BACKEND_FAILED
    _say(err, "STATE: -account-authorization-failed,connecting-to-device,"
              "job-hold-until-specified,cups-missing-key")
    _say(err, f"INFO: fax {job.get('id')} queued to {job.get('to')} "
              f"({job.get('pages')} page(s))")
    return CUPS_BACKEND_OK


def _read_stdin(stdin: IO[bytes] | None) -> bytes:
    return (stdin if stdin is not None else sys.stdin.buffer).read()


if __name__ == "__main__":  # pragma: no cover - the installed script calls main()
    sys.exit(main())
