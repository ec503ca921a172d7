"""faxcore.conformance: the TSB-85 conformance harness (moved here from faxcore.t30.tsb85).

It plays the tester's side of the TSB-85 procedures against faxcore, so it sits above the
T.30 engine, the modems and FaxSession, never inside them.
"""

from faxcore.conformance.runner import Outcome, Procedure, load, run

__all__ = ["Outcome", "Procedure", "load", "run"]
