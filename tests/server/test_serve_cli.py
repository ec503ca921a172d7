"""``faxcore serve`` as a user runs it: a real uvicorn in a child process (the demo: two
accounts, ITU chart 1 or the built-in page through the API, fetched back), the TOML
configuration and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs.tiff import read_tiff
from faxcore.server.config import ConfigError, load_config
from faxcore.server.model import RetryPolicy
from faxcore.testing.paths import ROOT


def run_faxcore(*args: str, cwd: Path, env: dict | None = None, timeout: float = 180):
    return subprocess.run([sys.executable, "-m", "faxcore", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_the_service_demo_faxes_through_the_api_and_stops_the_server(tmp_path):
    out = tmp_path / "out"
    r = run_faxcore("serve", "--demo", "--out", str(out), cwd=tmp_path,
                    env={"FAXCORE_SHARED": str(tmp_path / "no-shared")})
    assert r.returncode == 0, r.stdout + r.stderr
    text = r.stdout
    for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"):
        assert step in text
    assert "built-in sample page" in text
    assert "listening on http://127.0.0.1:" in text
    assert "job 1: transmitting -> delivered" in text      # the server's state log
    assert "attempt 1: delivered" in text and "checked: page 1 equals" in text
    assert (out / "received.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "page-1.png").read_bytes().startswith(b"\x89PNG")
    (page,) = read_tiff(out / "received.tif")
    assert page.bitmap.shape[1] == 1728 and np.count_nonzero(page.bitmap) > 1000


def test_serve_refuses_a_config_with_an_unknown_key_in_one_line(tmp_path):
    cfg = tmp_path / "faxcore.toml"
    cfg.write_text('[server]\nbind = "127.0.0.1:0"\nbnid = "typo"\n')
    r = run_faxcore("serve", "--config", str(cfg), cwd=tmp_path, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"faxcore serve: error: unknown key(s) in [server] of {cfg}: bnid"]


def test_the_toml_config_sets_retry_limits_channels_and_routes(tmp_path):
    cfg = tmp_path / "faxcore.toml"
    cfg.write_text("""
[server]
bind = "0.0.0.0:9000"
data_dir = "/srv/fax"
max_upload_mb = 5
[retry]
busy = 120
max_dials = 5
[limits]
per_destination = 2
[[channel]]
name = "lab"
capacity = 8
faults = { "+15550001" = { kind = "drop", after_page = 1, times = 2 } }
[[channel]]
name = "spare"
[[route]]
prefix = "+44"
channel = "spare"
""")
    c = load_config(cfg, db="sqlite:////tmp/x.db")
    assert c.host_port == ("0.0.0.0", 9000) and c.max_upload_bytes == 5 * 1024 * 1024
    assert c.retry == RetryPolicy(busy=120, max_dials=5)
    assert c.limits.per_destination == 2
    assert [(ch.name, ch.capacity) for ch in c.channels] == [("lab", 8), ("spare", 4)]
    assert c.channels[0].faults["+15550001"] == {"kind": "drop", "after_page": 1, "times": 2}
    assert c.channel_for("+4420") == "spare" and c.channel_for("+1555") == "lab"
    assert c.db_url() == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("text,words", [
    ("[retry]\nbusy_delay = 3\n", "unknown key(s) in [retry]"),
    ("[[channel]]\ntype = \"sip\"\n", "needs a proxy"),
    ("[[channel]]\nkind = \"fax\"\n", "unknown kind"),
    ("[[route]]\nprefix = \"+1\"\nchannel = \"nowhere\"\n", "unknown channel"),
    ("[server]\nbind = \"nohost\"\n", "HOST:PORT"),
    ("[server\n", "faxcore.toml"),
    ("[server]\nworkers = 0\n", "workers must be a whole number >= 1"),
])
def test_config_errors_say_what_is_wrong(tmp_path, text, words):
    cfg = tmp_path / "faxcore.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=None) as exc:
        load_config(cfg)
    assert words in str(exc.value)


def test_the_toml_config_sets_sip_channels_and_inbound_delivery(tmp_path):
    cfg = tmp_path / "faxcore.toml"
    cfg.write_text("""
[[channel]]
kind = "sip"
name = "trunk"
bind = "127.0.0.1:5070"
proxy = "sip.example.net:5080"
registrar = "sip.example.net"
user = "15550001"
password = "pw"
capacity = 8
t38 = "only"

[inbound]
default_account = 3
smtp = "127.0.0.1:2525"
mail_from = "fax@example.net"
""")
    c = load_config(cfg)
    (ch,) = c.channels
    assert (ch.type, ch.bind, ch.proxy, ch.registrar, ch.user, ch.password, ch.capacity,
            ch.t38) == ("sip", "127.0.0.1:5070", "sip.example.net:5080", "sip.example.net",
                        "15550001", "pw", 8, "only")
    assert (c.default_account, c.smtp, c.mail_from) == (3, "127.0.0.1:2525",
                                                        "fax@example.net")
    for text, words in (('[[channel]]\nkind = "sip"\nproxy = "p"\nt38 = "maybe"\n', "t38"),
                        ('[[channel]]\nkind = "sip"\nproxy = "p"\nregistrar = "r"\n',
                         "needs a password"),
                        ('[inbound]\ndefault_acount = 1\n', "unknown key(s) in [inbound]"),
                        ('[inbound]\ndefault_account = 0\n', "default_account")):
        cfg.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_config(cfg)
        assert words in str(exc.value), (text, str(exc.value))
