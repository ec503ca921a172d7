"""faxcore.conformance: the TSB-85 conformance harness. It plays the tester's side of
the TSB-85 fax test procedures (``../shared/conformance/tsb85.xml``) against faxcore and
reports, per procedure, whether faxcore did what the procedure expects.

It is a test tool built on top of the fax stack, so it may use FaxSession, the T.30
engine and the modems; none of them may import it. Modules, each with one job:

    model   the procedures as data: reading the XML file; the Outcome of one procedure
    pages   the test pages: reading the PBM images and coding them as the tester sends
    runner  the tester at the modem interface, played against a T30Engine in virtual
            time (frames, TCF, pages, timers); holds the step logic both modes share
    ear     the tester's ear in audio mode: cuts the DUT's audio into tones, V.21 frames
            and fast-modem bursts, with their times
    audio   the tester over 8 kHz audio against a FaxSession, with timing checks
    suite   run(): load a file and play its procedures in either mode

Besides TSB-85's procedures, ``exceptions.xml`` here holds faxcore's own exception
procedures (repeats, final statuses, unusual frames, unexpected answers), written after
the themes of TSB-85's Annexes D and I.

Use::

    from faxcore import conformance
    for outcome in conformance.run("../shared/conformance/tsb85.xml", audio=True):
        print(outcome.name, outcome.passed, outcome.failure)
"""

from faxcore.conformance.model import Outcome, Procedure, load
from faxcore.conformance.suite import PagesNotFound, run

__all__ = ["Outcome", "PagesNotFound", "Procedure", "load", "run"]
