"""The SIP channel (``kind = "sip"``): two faxcore services on 127.0.0.1, each with a SIP
channel whose trunk points at the other. A job submitted to service A through its HTTP
API is dialled over SIP (G.711 audio, or T.38) to a number of an account of service B,
which answers the INVITE, routes it by the Request-URI's user (the DID) and stores it
in that account's inbox: pages identical below the sender's header band. A DID no
account owns is refused (486), and the job retries. The called number is read from the
Request-URI, else from To. Through Kamailio: one channel registers (401 digest) as its
DID, the other calls through the proxy (407 digest), and the fax arrives."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.server.config import ChannelConfig
from faxcore.server.documents import HEADER_ROWS
from faxcore.server.sip_channel import SipChannel, SipTrunk
from faxcore.sip.message import parse_message
from faxcore.testing.kamailio import KamailioMissing, free_udp_port, kamailio
from faxcore.testing.peers import missing


def trunk(port: int, peer: int, t38: str) -> list[ChannelConfig]:
    return [ChannelConfig(type="sip", name="trunk", capacity=2, bind=f"127.0.0.1:{port}",
                          proxy=f"127.0.0.1:{peer}", t38=t38)]


def wait_for(cond, seconds: float = 60.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def pair(harness_with, tmp_path, request):
    pa, pb = free_udp_port(), free_udp_port()
    t38 = request.param
    a = harness_with(root=tmp_path / "a", channels=trunk(pa, pb, t38))
    b = harness_with(root=tmp_path / "b", channels=trunk(pb, pa, t38))
    b.service.start_channels()
    yield a, b, t38
    a.service.stop_channels()
    b.service.stop_channels()


@pytest.mark.parametrize("pair", ["never", "prefer"], indirect=True, ids=["g711", "t38"])
def test_a_job_goes_over_sip_to_the_did_of_an_account_of_the_other_server(pair):
    a, b, t38 = pair
    alice = a.account(["+15550100"])
    bob = b.account(["+15550200"])
    b.account(["+15550201"])  # another account on B: the DID must pick bob's
    job = a.submit(alice, "+15550200", 2, header="ACME").json()
    assert a.run() == 1
    got = a.fax(alice, job["id"])
    assert got["state"] == "delivered", got
    (att,) = got["attempts"]
    assert att["transport"] == ("t38" if t38 == "prefer" else "g711")
    assert att["pages_confirmed"] == 2 and att["t30_status"] == "OK"
    faxes = wait_for(lambda: b.client.get("/v1/inbox", headers=bob.auth).json()["faxes"])
    (f,) = faxes
    assert f["to"] == "+15550200" and f["from"] == "+15550100" and f["pages"] == 2
    tif = b.client.get(f"/v1/received/{f['id']}.tif", headers=bob.auth)
    pages = read_tiff(tif.content)
    rows = HEADER_ROWS["fine"]
    for p, s in zip(pages, a.pages[job["id"]], strict=True):
        assert p.bitmap.shape == s.bitmap.shape
        assert np.array_equal(p.bitmap[rows:], s.bitmap[rows:])
        assert p.bitmap[:rows].any()


@pytest.mark.parametrize("pair", ["prefer"], indirect=True)
def test_an_invite_to_a_did_nobody_owns_is_refused_and_the_job_retries(pair):
    a, b, _ = pair
    alice = a.account(["+15550100"])
    job = a.submit(alice, "+15559999", 1).json()
    assert a.run() == 1
    got = a.fax(alice, job["id"])
    assert got["state"] == "retry_wait"
    (att,) = got["attempts"]
    assert att["result"] == "busy" and att["transport"] == "g711", att
    assert b.rows("SELECT count(*) FROM inbound_faxes") == [(0,)]


def invite(uri: str, to: str, from_: str):
    """An INVITE as the agent hands it over (only its request is read here)."""
    raw = (f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n"
           f"Max-Forwards: 70\r\nFrom: <{from_}>;tag=a\r\nTo: <{to}>\r\n"
           "Call-ID: c1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    return SimpleNamespace(request=parse_message(raw.encode()))


def test_the_called_number_is_the_request_uri_user_else_the_to_user(harness):
    harness.account(["+15550200"])
    harness.account(["+15550300"])
    ch = SipChannel("trunk", SipTrunk(), inbound=harness.service.inbound)
    # the DID in the Request-URI, with or without its +
    assert ch._numbers(invite("sip:+15550200@h", "sip:x@h", "sip:+15550100@h")) == \
        ("+15550200", "+15550100")
    assert ch._numbers(invite("sip:15550200@h", "sip:x@h", "sip:100@h")) == \
        ("+15550200", "100")
    # a registrar's lookup put our Contact in the Request-URI: the DID is in To
    assert ch._numbers(invite("sip:faxcore@127.0.0.1:5070", "sip:15550300@h",
                              "sip:a@h")) == ("+15550300", "a")
    # nobody owns either: the Request-URI's user (for the default account)
    assert ch._numbers(invite("sip:999@h", "sip:888@h", "sip:a@h")) == ("999", "a")


def test_a_sip_channel_registers_at_a_registrar_and_receives_through_it(harness_with,
                                                                        tmp_path):
    users = {"+15550200": "b-secret", "sender": "a-secret"}
    try:
        cm = kamailio(users)
        k = cm.__enter__()
    except KamailioMissing as exc:
        missing(str(exc))
        return
    try:
        pa, pb = free_udp_port(), free_udp_port()
        proxy = f"127.0.0.1:{k.port}"
        a = harness_with(root=tmp_path / "a", channels=[ChannelConfig(
            type="sip", name="trunk", bind=f"127.0.0.1:{pa}", proxy=proxy, user="sender",
            password="a-secret", t38="prefer")])
        b = harness_with(root=tmp_path / "b", channels=[ChannelConfig(
            type="sip", name="trunk", bind=f"127.0.0.1:{pb}", proxy=proxy,
            registrar=proxy, user="+15550200", password="b-secret", t38="prefer")])
        b.service.start_channels()    # REGISTER: 401, then 200
        alice = a.account(["+15550100"])
        bob = b.account(["+15550200"])
        job = a.submit(alice, "+15550200", 1).json()
        assert a.run() == 1
        got = a.fax(alice, job["id"])
        assert got["state"] == "delivered", got["attempts"][-1]["hangup_cause"]
        assert got["attempts"][-1]["transport"] == "t38"
        faxes = wait_for(lambda: b.client.get("/v1/inbox", headers=bob.auth).json()["faxes"])
        assert [(f["to"], f["pages"]) for f in faxes] == [("+15550200", 1)]
        a.service.stop_channels()
        b.service.stop_channels()
    finally:
        cm.__exit__(None, None, None)


def test_a_sip_channel_that_cannot_bind_says_which_and_why():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        ch = SipChannel("trunk", SipTrunk(bind=("127.0.0.1", port)))
        with pytest.raises(OSError, match=f"channel trunk: cannot use SIP address "
                                          f"127.0.0.1:{port}: Address already in use"):
            ch.start()
    assert ch.agent is None
