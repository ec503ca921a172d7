"""Kamailio as a real SIP registrar and proxy for the tests (Debian ``kamailio`` 5.6).

:func:`kamailio` writes a small configuration into a temporary directory and starts
``kamailio`` in the foreground on a free loopback UDP port; it stops it again on exit.

What the configuration does (a registrar and proxy with digest authentication, the way a
small PBX or a SIP trunk provider is set up):

* ``REGISTER``: challenged with 401 (``WWW-Authenticate``) unless the Authorization
  header holds the right password for the To user, then saved in memory (usrloc,
  ``db_mode`` 0).
* a new ``INVITE`` (and other out-of-dialog requests) from a caller: challenged with 407
  (``Proxy-Authenticate``) unless ``Proxy-Authorization`` is right for the From user;
  then the request URI is looked up in the location table (404 if nobody registered)
  and relayed statefully (``t_relay``), with Record-Route so in-dialog requests (ACK,
  re-INVITE, BYE) pass through the proxy too.
* in-dialog requests follow their Route headers (``loose_route``).

Passwords are plain text in the configuration (``users``); the realm is the To/From
domain, which is ``127.0.0.1`` in the tests.

With ``dispatch=[(host, port), ...]`` (the dispatcher module, set 1) a new INVITE, once
authenticated, is not looked up in the location table but sent to one of those
destinations: the ``faxcore serve`` workers that take inbound calls. The Request-URI is
kept (its user is the DID the worker routes by); ``algorithm`` is the dispatcher's
(4: round robin, the default; 0: hash of the Call-ID; ...). A destination that answers
408, 500 or 503, or not at all, is replaced by the next one (failure route). With
``ping`` the dispatcher sends OPTIONS to each destination every ``ping`` seconds and
takes the ones that do not answer out of the set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Kamailio", "KamailioMissing", "free_udp_port", "kamailio"]

MODULES = ("tm", "sl", "rr", "pv", "maxfwd", "siputils", "textops", "sanity", "usrloc",
           "registrar", "auth", "xlog")


class KamailioMissing(RuntimeError):
    """``kamailio`` is not installed (Debian package ``kamailio``)."""


@dataclass
class Kamailio:
    """A running Kamailio: where it listens and what it logged so far."""

    host: str
    port: int
    workdir: Path
    proc: subprocess.Popen

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def log(self) -> str:
        return (self.workdir / "kamailio.log").read_text(errors="replace")


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _module_dir() -> str:
    for d in ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
              "/usr/lib64/kamailio/modules"):
        if Path(d, "tm.so").exists():
            return d
    found = sorted(Path("/usr/lib").glob("*/kamailio/modules/tm.so"))
    if not found:
        raise KamailioMissing("kamailio modules (tm.so) not found")
    return str(found[0].parent)


def _dispatch_parts(dispatch: Sequence[tuple[str, int]], algorithm: int, ping: float | None,
                    workdir: Path) -> tuple[str, str, str]:
    """(module parameters, the INVITE routing, the failure route) of dispatcher mode;
    writes the destination list into ``workdir``."""
    lst = workdir / "dispatcher.list"
    lst.write_text("".join(f"1 sip:{h}:{p}\n" for h, p in dispatch))
    params = (f'loadmodule "dispatcher.so"\n'
              f'modparam("dispatcher", "list_file", "{lst}")\n'
              'modparam("dispatcher", "flags", 2)\n')
    if ping:
        params += (f'modparam("dispatcher", "ds_ping_interval", {int(ping)})\n'
                   'modparam("dispatcher", "ds_probing_mode", 1)\n'
                   'modparam("dispatcher", "ds_ping_reply_codes", "class=2;class=4")\n')
    route = f"""    if (is_method("INVITE")) {{
        if (!ds_select_dst("1", "{algorithm}")) {{ sl_send_reply("503", "No worker"); exit; }}
        xlog("L_INFO", "dispatching $rm $ru to $du\\n");
        record_route();
        t_on_failure("DS_NEXT");
        if (!t_relay()) {{ sl_reply_error(); }}
        exit;
    }}
"""
    failure = """failure_route[DS_NEXT] {
    if (t_is_canceled()) { exit; }
    if (t_check_status("408|500|503") || t_branch_timeout()) {
        if (ds_next_dst()) { t_on_failure("DS_NEXT"); t_relay(); exit; }
    }
}
"""
    return params, route, failure


def _config(host: str, port: int, users: Mapping[str, str],
            dispatch: tuple[str, str, str] = ("", "", "")) -> str:
    # The passwords go in as a switch on the authenticated user name: no database needed.
    pw_cases = "\n".join(f'        case "{u}": $var(pw) = "{p}"; break;'
                         for u, p in users.items())
    loads = "\n".join(f'loadmodule "{m}.so"' for m in MODULES)
    return f"""#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
listen=udp:{host}:{port}
alias="{host}:{port}"
auto_aliases=no
mpath="{_module_dir()}/"
{loads}
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("rr", "append_fromtag", 1)
{dispatch[0]}
route[PASSWORD] {{
    $var(pw) = "";
    switch($var(user)) {{
{pw_cases}
        default: $var(pw) = "";
    }}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("1511", "7")) {{ xlog("L_WARN", "malformed request dropped\\n"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        $var(user) = $tU; route(PASSWORD);
        if ($var(pw) == "" || !pv_www_authenticate("$td", "$var(pw)", "0")) {{
            www_challenge("$td", "1"); exit;
        }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE|MESSAGE|OPTIONS")) {{
        $var(user) = $fU; route(PASSWORD);
        if ($var(pw) == "" || !pv_proxy_authenticate("$fd", "$var(pw)", "0")) {{
            proxy_challenge("$fd", "1"); exit;
        }}
        consume_credentials();
    }}
{dispatch[1]}    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!t_relay()) {{ sl_reply_error(); }}
}}
{dispatch[2]}"""


@contextlib.contextmanager
def kamailio(users: Mapping[str, str], *, host: str = "127.0.0.1",
             port: int | None = None, timeout: float = 10.0,
             dispatch: Sequence[tuple[str, int]] | None = None, algorithm: int = 4,
             ping: float | None = None) -> Iterator[Kamailio]:
    """Start Kamailio with these ``{user: password}`` accounts; yields a :class:`Kamailio`.
    ``dispatch``: INVITEs go to these workers (see the module docstring)."""
    exe = shutil.which("kamailio") or next(
        (p for p in ("/usr/sbin/kamailio",) if Path(p).exists()), None)
    if exe is None:
        raise KamailioMissing("kamailio is not installed (Debian package kamailio)")
    port = port or free_udp_port(host)
    with tempfile.TemporaryDirectory(prefix="faxcore-kam-") as tmp:
        work = Path(tmp)
        cfg = work / "kamailio.cfg"
        parts = _dispatch_parts(dispatch, algorithm, ping, work) if dispatch else ("", "", "")
        cfg.write_text(_config(host, port, users, parts))
        check = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"kamailio rejected its configuration: {check.stderr[-2000:]}")
        log = open(work / "kamailio.log", "wb")
        proc = subprocess.Popen(
            [exe, "-f", str(cfg), "-DD", "-E", "-Y", str(work), "-m", "32", "-M", "8"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        k = Kamailio(host, port, work, proc)
        try:
            _wait_ready(k, timeout)
            yield k
        finally:
            _stop_group(proc)
            log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """End Kamailio and every process it forked. Its workers are its children: a
    SIGTERM to the main process alone left some of them running (orphans seen after a
    CI run), so the whole process group (its own session) gets the signal, and SIGKILL
    if any member is left after 5 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        proc.poll()                      # reap the main process: a zombie stays in the group
        if not _group_alive(proc.pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_ready(k: Kamailio, timeout: float) -> None:
    """Until Kamailio answers an OPTIONS (with 407: it challenges unknown callers)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((k.host, 0))
        s.settimeout(0.2)
        me = s.getsockname()[1]
        n = 0
        while time.monotonic() < deadline:
            if k.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited ({k.proc.returncode}): {k.log()[-2000:]}")
            n += 1
            msg = (f"OPTIONS sip:{k.host}:{k.port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {k.host}:{me};branch=z9hG4bKprobe{n}\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:probe@{k.host}>;tag=p{n}\r\n"
                   f"To: <sip:probe@{k.host}>\r\nCall-ID: probe{n}@{k.host}\r\n"
                   f"CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n")
            s.sendto(msg.encode(), (k.host, k.port))
            try:
                data, _ = s.recvfrom(65535)
            except TimeoutError:
                continue
            if data.startswith(b"SIP/2.0 "):
                return
    raise RuntimeError(f"kamailio did not answer within {timeout} s: {k.log()[-2000:]}")
