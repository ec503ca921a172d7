"""``faxcore modem send`` shows its progress in the one format of ``faxcore call``
(:func:`faxcore.cli.output.progress_line`), on standard error, not a format of its own."""

import re
import subprocess
import sys

import numpy as np
from PIL import Image

from faxcore.cli.output import PHASES
from faxcore.testing.pages import small_page

# Derived from progress_line: "   11.3 s  phase C (page transfer), pages sent 0/2, <rate>"
PHASE_NAMES = "|".join(re.escape(f"{k} ({v})") for k, v in PHASES.items())
LINE = re.compile(rf"^ *\d+\.\d s  phase (?:{PHASE_NAMES}), pages (sent|received) "
                  rf"(\d+)(?:/(\d+))?, (?:\d+ bit/s \S+|\S+)$")


def _progress(stderr: str) -> list[re.Match]:
    return [m for m in map(LINE.match, stderr.splitlines()) if m]


def _faxcore(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faxcore", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_modem_send_progress_matches_call(tmp_path):
    page = (small_page(seed=3) == 0).astype(np.uint8) * 255     # 1 = black in faxcore pages
    Image.fromarray(page).convert("1").save(tmp_path / "page.pbm")

    call = _faxcore("call", "--loopback", "page.pbm", "--no-ecm", cwd=tmp_path)
    assert call.returncode == 0, call.stderr
    call_lines = _progress(call.stderr)
    assert call_lines, call.stderr      # the regex does describe faxcore call's lines

    modem = _faxcore("modem", "send", "--device", "faxemu://?out=rx.tif", "--dial", "1",
                     "page.pbm", cwd=tmp_path)
    assert modem.returncode == 0, modem.stdout + modem.stderr
    assert (tmp_path / "rx.tif").stat().st_size > 0
    lines = _progress(modem.stderr)
    assert lines, modem.stderr
    # every progress-looking line is in the shared format, and none in the old one
    assert not re.search(r"phase [A-E]:", modem.stdout + modem.stderr)
    assert all(m.group(1) == "sent" and m.group(3) == "1" for m in lines)
    assert lines[-1].group(2) == "1"            # the page got through: pages sent 1/1
    assert {m.string.split("phase ")[1][0] for m in lines} >= {"B", "C", "D"}
