"""faxcore's SIP user agent against SIPp (sip-tester 3.6) over real UDP on 127.0.0.1.

Each case runs one SIPp scenario (tests/interop/sipp/scenarios/) against the faxcore
driver :mod:`faxcore.testing.sip_peer` (the UA on the asyncio UDP adapter, dummy media
ports), faxcore as UAS (SIPp calls) and as UAC (SIPp answers). A case passes when SIPp
exits 0 (every expected message arrived, every regexp check held) *and* the faxcore side
printed the expected events and reached its expected end. Some cases check more from
SIPp's message log: the digest answer to a 407 recomputed with hashlib, the SDP of the
session refresh during T.38, the glare retry delay, the REGISTER refresh's credentials.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from faxcore.sip.digest import parse_credentials
from faxcore.testing.peers import require_tool

SCENARIOS = Path(__file__).parent / "scenarios"
HOST = "127.0.0.1"


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Run:
    def __init__(self, sipp_rc: int, driver_rc: int, driver_out: str, log: str, err: str):
        self.sipp_rc, self.driver_rc = sipp_rc, driver_rc
        self.driver_out, self.log, self.err = driver_out, log, err

    @property
    def events(self) -> list[str]:
        return [ln for ln in self.driver_out.splitlines() if ln.startswith("EVENT ")]

    def messages(self) -> list[tuple[datetime, str, str]]:
        """(time, 'sent'|'received', text) of every message in SIPp's log."""
        out = []
        for block in self.log.split("----------------------------------------------- ")[1:]:
            stamp, _, rest = block.partition("\n")
            kind = "sent" if rest.startswith("UDP message sent") else "received"
            text = rest.split("\n", 1)[1].lstrip("\n") if "\n" in rest else ""
            out.append((datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f"), kind, text))
        return out

    def explain(self) -> str:
        return (f"sipp rc={self.sipp_rc} driver rc={self.driver_rc}\n--- driver:\n"
                f"{self.driver_out}\n--- sipp errors:\n{self.err}")


def run_pair(tmp_path: Path, scenario: str, faxcore_role: str, args: list[str],
             timeout: float = 20.0) -> Run:
    sipp = require_tool("sipp")
    sipp_port, media_port, fax_port = _free_ports(3)
    err, log = tmp_path / "err.log", tmp_path / "msg.log"
    sipp_cmd = [sipp, "-sf", str(SCENARIOS / scenario), "-i", HOST, "-p", str(sipp_port),
                "-mp", str(media_port), "-m", "1", "-timeout", f"{int(timeout)}s",
                "-timeout_error", "-trace_err", "-error_file", str(err), "-trace_msg",
                "-message_file", str(log), "-nostdin"]
    # "reg": faxcore registers with SIPp (SIPp starts first, as for a call to it)
    driver_cmd = [sys.executable, "-m", "faxcore.testing.sip_peer",
                  "uas" if faxcore_role == "reg" else faxcore_role,
                  "--bind", f"{HOST}:{fax_port}", "--timeout", str(timeout), *args]
    if faxcore_role == "uas":
        sipp_cmd.append(f"{HOST}:{fax_port}")
    elif faxcore_role == "reg":
        driver_cmd += ["--register", f"sip:{HOST}:{sipp_port}"]
    else:
        driver_cmd += ["--target", f"sip:service@{HOST}:{sipp_port}"]
    first, second = (driver_cmd, sipp_cmd) if faxcore_role == "uas" else (sipp_cmd, driver_cmd)
    p1 = subprocess.Popen(first, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=tmp_path)
    try:
        if faxcore_role == "uas":
            assert p1.stdout is not None
            line = p1.stdout.readline()          # READY: the socket is bound
            assert line.startswith("READY"), line
            ready = line
        else:
            # SIPp binds at once; the INVITE's retransmissions cover a slow start anyway
            time.sleep(0.3)
            ready = ""
        p2 = subprocess.run(second, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=tmp_path, timeout=timeout + 15)
        out1, _ = p1.communicate(timeout=timeout + 15)
    finally:
        if p1.poll() is None:
            p1.kill()
            p1.wait()
    if faxcore_role == "uas":
        driver_out, driver_rc, sipp_rc = ready + out1, p1.returncode, p2.returncode
    else:
        driver_out, driver_rc, sipp_rc = p2.stdout, p2.returncode, p1.returncode
    return Run(sipp_rc, driver_rc, driver_out,
               log.read_text(errors="replace") if log.exists() else "",
               err.read_text(errors="replace") if err.exists() else "")


CASES = [
    # (id, scenario, faxcore role, driver args, events that must appear, in order)
    ("uas-basic-bye-from-sipp", "uac_basic.xml", "uas", ["--expect-reason", "remote-bye"],
     ["IncomingCall", "CallConfirmed", "CallEnded remote-bye 200"]),
    ("uas-bye-from-faxcore", "uac_wait_bye.xml", "uas",
     ["--bye-after", "0.3", "--expect-reason", "local-bye"],
     ["IncomingCall", "CallConfirmed", "CallEnded local-bye 200"]),
    ("uas-cancel", "uac_cancel.xml", "uas",
     ["--answer-delay", "10", "--expect-reason", "cancelled"],
     ["IncomingCall", "CallEnded cancelled 487"]),
    ("uas-t38-reinvite-200", "uac_t38_200.xml", "uas", ["--expect-reason", "remote-bye"],
     ["CallConfirmed", "ReInviteOffer", "MediaChanged image", "CallEnded remote-bye 200"]),
    ("uas-t38-reinvite-488", "uac_t38_488.xml", "uas",
     ["--refuse-t38", "--expect-reason", "remote-bye"],
     ["CallConfirmed", "ReInviteOffer", "CallEnded remote-bye 200"]),
    ("uas-session-refresh-during-t38", "uac_session_timer_t38.xml", "uas",
     ["--min-se", "2", "--expect-reason", "remote-bye"],
     ["MediaChanged image", "SessionRefreshed", "CallEnded remote-bye 200"]),
    ("uas-reinvite-glare", "uac_glare.xml", "uas",
     ["--t38-after", "0.3", "--expect-reason", "remote-bye"],
     ["CallConfirmed", "MediaChanged image", "CallEnded remote-bye 200"]),
    ("uas-unknown-options-malformed", "uac_unknown.xml", "uas",
     ["--expect", "idle", "--timeout", "4"], []),
    ("uac-basic-bye-from-faxcore", "uas_basic.xml", "uac",
     ["--bye-after", "0.3", "--expect-reason", "local-bye"],
     ["CallRinging", "CallAnswered", "CallEnded local-bye 200"]),
    ("uac-bye-from-sipp", "uas_bye.xml", "uac", ["--expect-reason", "remote-bye"],
     ["CallAnswered", "CallEnded remote-bye 200"]),
    ("uac-cancel", "uas_cancel.xml", "uac", ["--cancel-after", "0.5", "--expect-reason",
                                             "cancelled"],
     ["CallRinging", "CallEnded cancelled 487"]),
    ("uac-digest-401", "uas_auth_401.xml", "uac",
     ["--user", "fax", "--password", "secret", "--bye-after", "0.3", "--expect-reason",
      "local-bye"], ["CallAnswered", "CallEnded local-bye 200"]),
    ("uac-digest-407", "uas_auth_407.xml", "uac",
     ["--user", "fax", "--password", "secret", "--bye-after", "0.3", "--expect-reason",
      "local-bye"], ["CallAnswered", "CallEnded local-bye 200"]),
    ("uac-t38-reinvite-200", "uas_t38_200.xml", "uac",
     ["--t38-after", "0.3", "--bye-after", "1.0", "--expect-reason", "local-bye"],
     ["CallAnswered", "MediaChanged image", "CallEnded local-bye 200"]),
    ("uac-t38-reinvite-488", "uas_t38_488.xml", "uac",
     ["--t38-after", "0.3", "--bye-after", "1.0", "--expect-reason", "local-bye"],
     ["CallAnswered", "ReInviteFailed 488", "CallEnded local-bye 200"]),
    ("register-digest-refresh", "uas_register.xml", "reg",
     ["--user", "fax", "--password", "secret", "--expect", "Registered", "--linger", "3"],
     ["Registered 4", "Registered 4"]),
    ("uac-reinvite-glare", "uas_glare.xml", "uac",
     ["--t38-after", "0.3", "--bye-after", "6", "--expect-reason", "local-bye"],
     ["CallAnswered", "MediaChanged image", "CallEnded local-bye 200"]),
]


def _in_order(events: list[str], wanted: list[str]) -> bool:
    it = iter(events)
    return all(any(e == f"EVENT {w}" for e in it) for w in wanted)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sipp_scenario(case, tmp_path):
    _, scenario, role, args, wanted = case
    run = run_pair(tmp_path, scenario, role, args)
    assert run.sipp_rc == 0, run.explain()
    assert run.driver_rc == 0, run.explain()
    assert _in_order(run.events, wanted), run.explain()
    if scenario == "uas_auth_407.xml":
        _check_proxy_digest(run)
    if scenario == "uac_session_timer_t38.xml":
        _check_refresh_sdp(run)
    if scenario == "uas_glare.xml":
        _check_glare(run, owner=True)
    if scenario == "uac_glare.xml":
        _check_glare(run, owner=False)
    if scenario == "uas_register.xml":
        regs = [t for _, k, t in run.messages() if k == "received" and t.startswith("REGISTER")]
        assert len(regs) == 3
        # the refresh carries credentials for the last challenge, nonce count 2
        assert "nc=00000002" in regs[2] and 'nonce="71d2c3e4f5a60718"' in regs[2]
    if scenario == "uac_unknown.xml":
        statuses = [t.split("\n", 1)[0] for _, k, t in run.messages() if k == "received"]
        assert [s.split()[1] for s in statuses] == ["501", "200", "400"], statuses


def test_sipp_digest_wrong_password_fails(tmp_path):
    """The 401 scenario's verifyauth bites: with a wrong password SIPp answers 403 and
    fails, and faxcore reports the call rejected."""
    run = run_pair(tmp_path, "uas_auth_401.xml", "uac",
                   ["--user", "fax", "--password", "wrong", "--bye-after", "0.3",
                    "--expect-reason", "local-bye"], timeout=6)
    assert run.sipp_rc != 0
    assert "EVENT CallEnded rejected 403" in run.events, run.explain()


def _check_proxy_digest(run: Run) -> None:
    """The Proxy-Authorization faxcore sent, recomputed here with hashlib (MD5, qop=auth)."""
    invites = [t for _, k, t in run.messages() if k == "received" and t.startswith("INVITE")]
    header = next(ln.split(":", 1)[1].strip() for ln in invites[1].splitlines()
                  if ln.lower().startswith("proxy-authorization:"))
    p = parse_credentials(header)

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5("fax:faxcore-test:secret")
    ha2 = md5(f"INVITE:{p['uri']}")
    want = md5(f"{ha1}:4b1c7e0d9a2f5e61:{p['nc']}:{p['cnonce']}:auth:{ha2}")
    assert p["response"] == want
    assert p["opaque"] == "0a1b" and p["realm"] == "faxcore-test"


def _sdp_of(text: str) -> str:
    return text.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in text else text.split("\n\n", 1)[1]


def _check_refresh_sdp(run: Run) -> None:
    """faxcore's refresh re-INVITE offers exactly the SDP of its 200 to the T.38
    re-INVITE: the image stream, the same o= version (a no-op for the peer)."""
    msgs = [(k, t) for _, k, t in run.messages()]
    oks = [t for k, t in msgs if k == "received" and t.startswith("SIP/2.0 200")
           and "m=image" in t]
    refresh = [t for k, t in msgs if k == "received" and t.startswith("INVITE")]
    assert oks and refresh, [t.split("\n", 1)[0] for _, t in msgs]
    assert _sdp_of(refresh[0]) == _sdp_of(oks[0])
    assert re.search(r"Session-Expires: 6;refresher=uac", refresh[0])


def _check_glare(run: Run, owner: bool) -> None:
    """faxcore answered SIPp's crossing re-INVITE with 491 and retried its own after
    SIPp's 491: 2.1-4 s later when it owns the Call-ID (it called), else 0-2 s
    (RFC 3261 §14.1)."""
    msgs = run.messages()
    got_491 = [t for t, k, x in msgs if k == "received" and x.startswith("SIP/2.0 491")]
    sent_491 = [t for t, k, x in msgs if k == "sent" and x.startswith("SIP/2.0 491")]
    invites = [t for t, k, x in msgs if k == "received" and x.startswith("INVITE")]
    # received by SIPp: (the call's INVITE when faxcore called), the re-INVITE, the retry
    assert got_491 and sent_491 and len(invites) == (3 if owner else 2)
    delay = (invites[-1] - sent_491[0]).total_seconds()
    lo, hi = (2.1, 4.0) if owner else (0.0, 2.0)
    assert lo <= delay <= hi + 0.2, delay
