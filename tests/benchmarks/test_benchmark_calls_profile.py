"""``benchmarks/calls.py --profile`` routes the compiled cores' Python entry points
through its timer: every name it wraps must still exist (the V.21 transmitter became a
compiled class and ``--profile`` failed with AttributeError on ``v21.V21Modulator``).
Run in a child process: the routing replaces module attributes for good."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("modem_name", ["v17", "v29", "v27ter"])
def test_profile_runs_a_call_for_every_modem(modem_name: str) -> None:
    """The whole ``--profile`` run, per modem: ``--modem v27ter`` failed with TypeError
    once the V.27ter transmitter's core checked its tables' type (the routing handed it a
    timing proxy of ``PskShaper``)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calls.py"), "--modem",
                          modem_name, "--profile"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    # the layer table with the compiled cores' share, then the top functions
    assert "Cython DSP" in out.stdout and "top 15 functions by own time" in out.stdout
