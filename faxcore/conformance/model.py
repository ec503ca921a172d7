"""The TSB-85 procedures as data: what :func:`load` reads from a TSB-85 style XML file
(``../shared/conformance/tsb85.xml``) and the :class:`Outcome` of playing one procedure.

The file holds ``<test-group>``s of ``<test>``s. Each test is a list of ``<step>``s,
some wrapped in ``<repeat min= max=>``. A step's ``dir`` says who acts: ``T`` is the
tester (send a preamble, a frame, TCF, a page), ``R`` is what the device under test (DUT)
must do, and ``SET`` steps of either direction configure the DUT. Steps without one
(``CALL``, ``ANSWER``, ``WAIT``, ``STATUS``) set up the call, pause, or name the expected
final status. A step's attributes stay strings (``tag``, ``value``, ``modem``,
``timeout``...); the ``desc`` of its ``<check>`` children ("CED is 2.6s to 4s") go in
``attrs["_checks"]``. A ``<config><path type="IMAGE" value=.../>`` names where the pages
are, relative to the file (:func:`image_dir`).
This module only reads the file; :mod:`faxcore.conformance.runner` gives the steps meaning.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from faxcore.t30.modem_if import V21, Modulation


def parse_modem(text: str | None) -> Modulation | None:
    """A step's ``modem`` attribute ("V.17/14400", "V.21") as a modulation, or None."""
    if not text:
        return None
    name, _, rate = text.partition("/")
    name = name.lower().replace(".", "")
    if name == "v21":
        return V21
    return Modulation(int(rate), name)


@dataclass
class Step:
    """One ``<step>``: ``dir`` "T", "R" or None, ``type`` e.g. "HDLC", the attributes."""

    dir: str | None
    type: str
    attrs: dict

    def describe(self) -> str:
        a = self.attrs
        bits = [self.dir or "-", self.type]
        for k in ("tag", "modem", "value"):
            if k in a:
                bits.append(f"{k}={a[k]}")
        return " ".join(bits)


@dataclass
class Repeat:
    """A ``<repeat>``: its steps, played ``min`` to ``max`` (None: no limit) times."""

    min: int
    max: int | None
    steps: list


@dataclass
class Procedure:
    """One ``<test>`` (e.g. MRGN01) of a ``<test-group>`` (e.g. "Annex A - ...")."""

    name: str
    group: str
    steps: list


@dataclass
class Outcome:
    """The verdict on one procedure: ``failure`` says why it did not pass; ``checked`` /
    ``unchecked`` count the steps verified / not verifiable; ``trace`` lists the steps
    played with their (virtual) times."""

    name: str
    group: str
    passed: bool
    status: str = ""
    expected_status: str = ""
    failure: str = ""
    checked: int = 0
    unchecked: int = 0
    trace: list[str] = field(default_factory=list)
    mode: str = "interface"
    # audio mode: the timing checks made, each {"step", "check", "measured", "low", "high",
    # "unit", "ok"} (seconds); a failed one ends the procedure
    timings: list[dict] = field(default_factory=list)


def image_dir(path: str | Path) -> Path | None:
    """The directory a file's ``<config><path type="IMAGE" value=.../></config>`` names,
    relative to the file (None if it names none)."""
    root = ET.parse(path).getroot()
    for el in root.iter("path"):
        if el.get("type") == "IMAGE" and el.get("value"):
            return Path(path).parent / el.get("value")
    return None


def load(path: str | Path) -> list[Procedure]:
    """All procedures of a TSB-85 XML file, in file order."""
    root = ET.parse(path).getroot()
    procs = []

    def steps_of(el) -> list:
        out = []
        for child in el:
            if child.tag == "step":
                attrs = dict(child.attrib)
                checks = [c.get("desc", "") for c in child if c.tag == "check"]
                if checks:
                    attrs["_checks"] = checks
                out.append(Step(child.get("dir"), child.get("type", ""), attrs))
            elif child.tag == "repeat":
                mx = child.get("max")
                out.append(Repeat(int(child.get("min", "0")), int(mx) if mx else None,
                                  steps_of(child)))
        return out

    for group in root.iter("test-group"):
        for test in group.iter("test"):
            procs.append(Procedure(test.get("name", "?"), group.get("name", ""), steps_of(test)))
    return procs
