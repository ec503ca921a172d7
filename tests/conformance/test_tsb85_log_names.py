"""Log records emitted while a TSB-85 procedure plays name that procedure: MRGN03 sends a
scan line over 5 s, and the engine's warning about it must say it came from MRGN03."""

import logging
import subprocess
import sys

from faxcore import conformance
from faxcore.testing.peers import require_shared


def test_engine_warning_names_its_procedure_in_the_cli():
    path = require_shared("conformance/tsb85.xml")
    p = subprocess.run([sys.executable, "-m", "faxcore", "conformance", "tsb85", str(path),
                        "--test", "MRGN03"], capture_output=True, text=True, timeout=300)
    warnings = [line for line in p.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings, p.stderr
    assert all("[MRGN03]" in line for line in warnings), warnings
    assert any("faxcore.t30: [MRGN03] coded scan line" in line for line in warnings), warnings


def test_records_carry_procedure_attribute_and_filter_is_removed(caplog):
    path = require_shared("conformance/tsb85.xml")
    with caplog.at_level(logging.WARNING):
        conformance.run(path, ["MRGN03"])
        logging.getLogger("faxcore.t30").warning("after the run")
    during = [r for r in caplog.records if "scan line" in r.getMessage()]
    assert during and all(r.procedure == "MRGN03" for r in during)
    assert during[0].getMessage().count("[MRGN03]") == 1
    after = [r for r in caplog.records if "after the run" in r.getMessage()]
    assert after[0].getMessage() == "after the run"
    assert not hasattr(after[0], "procedure")
