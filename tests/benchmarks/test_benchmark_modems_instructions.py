"""``benchmarks/modems.py --instructions`` printed nonsense (V.21 tx -568,980 instructions
per audio second; V.17/9600 rx 9.2 M beside 5.3 M at 7200 and 12000). It took one pass as
(3-pass run - 1-pass run) / 2, but the child's start-up was not the same from run to run:
numpy's OpenBLAS worker thread spins under valgrind (474.6-485.1 M instructions for the
same V.21 child), and even with one BLAS thread start-up varies by ~0.1 M (id-hashed
dicts, import order), as much as a short run's passes. Now each pass is counted on its
own, start-up excluded, one BLAS thread. Here: ``instructions`` itself, twice on a short
V.21 case: every figure (ours and spandsp-C's, rx and tx) is positive and the two runs
agree within 1 %."""

from __future__ import annotations

import runpy

import pytest

from faxcore.testing.paths import ROOT
from faxcore.testing.peers import require_tool


@pytest.fixture(scope="module")
def bench() -> dict:
    require_tool("valgrind")   # missing() fails under CI=true
    return runpy.run_path(str(ROOT / "benchmarks" / "modems.py"), run_name="modems_bench")


def test_instructions_are_positive_and_repeat(bench: dict, tmp_path) -> None:
    exe = bench["build_c_driver"](tmp_path)
    assert exe, "the spandsp-C driver did not build (libspandsp-dev)"
    bench["C_DRIVER"][:] = [exe]
    runs = [bench["instructions"]("v21", 300, 0.5, tmp_path) for _ in range(2)]
    for key in ("our_rx_ins", "our_tx_ins", "spc_rx_ins", "spc_tx_ins"):
        a, b = runs[0][key], runs[1][key]
        assert a > 0 and b > 0, (key, runs)
        assert abs(a - b) <= 0.01 * min(a, b), (key, a, b)


def test_per_pass_refuses_passes_without_cost(bench: dict) -> None:
    per_pass = bench["per_pass"]
    assert per_pass([(800, 8000), (1000, 8000)]) == (900.0, 200 / 900)
    with pytest.raises(RuntimeError):
        per_pass([(1000, 8000), (-5, 8000)])
