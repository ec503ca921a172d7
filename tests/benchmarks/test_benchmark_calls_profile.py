"""``benchmarks/calls.py --profile`` routes the compiled cores' Python entry points
through its timer: every name it wraps must still exist (the V.21 transmitter became a
compiled class and ``--profile`` failed with AttributeError on ``v21.V21Modulator``).
Run in a child process: the routing replaces module attributes for good."""

from __future__ import annotations

import subprocess
import sys

from faxcore.testing.paths import ROOT

CHILD = """
import runpy, sys
sys.path.insert(0, {bench!r})          # calls.py imports its sibling _common
ns = runpy.run_path({bench!r} + "/calls.py")
ns["route_dsp_calls"]()
from faxcore.modem import qam
assert type(qam.qam_core).__name__ == "SimpleNamespace"   # the proxy is in place
print("routed")
"""


def test_profile_routing_finds_every_entry_point() -> None:
    code = CHILD.format(bench=str(ROOT / "benchmarks"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("routed")
