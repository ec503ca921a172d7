"""Quirk profiles: what faxcore's Class 1 driver does differently for a modem that bends
T.31, the way HylaFAX keeps a ``config.<modem>`` file per modem type.

A profile is a name, a description and a set of flags (:data:`FLAGS`, each documented
there). The driver picks one:

* ``quirks="auto"`` (the default): during initialisation it asks the modem who it is
  (``ATI``, ``AT+FMI?``, ``AT+FMM?``, ``AT+FMR?``: :data:`IDENTIFY`; a modem answering
  ``ERROR`` is fine) and takes the first profile whose patterns match one of the answers,
  else :data:`GENERIC` (no quirks);
* a profile name (``"spandsp-t31"``), optionally followed by flags to set or clear,
  comma-separated: ``"generic,stray_connect"``, ``"spandsp-t31,no-reissue_empty_ok"``
  (``-`` and ``_`` are the same in flag names): no identification is asked;
* a :class:`Quirks` object.

Profiles (:data:`PROFILES`):

``generic``
    No quirks: the driver expects T.31 as written.
``spandsp-t31``
    spandsp's T.31 modem (iaxmodem, FreeSWITCH and Asterisk softmodems; ``ATI`` and
    ``AT+FMM?`` answer ``spandsp``, ``AT+FMI?`` ``www.soft-switch.org``). When the DTE
    re-issues ``AT+FRH=3`` after the next frame of a burst has already arrived, it answers
    ``CONNECT`` twice before the frame, and then takes the DTE's next command for an abort
    of a receive: it answers ``OK`` (``<DLE><ETX>OK`` while the carrier is still on)
    without running it. Flags: ``stray_connect``, ``reissue_empty_ok``.
``tolerant``
    Every workaround, for a modem not (yet) known to need them: try it when a modem
    fails the way ``spandsp-t31`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

__all__ = ["FLAGS", "GENERIC", "IDENTIFY", "PROFILES", "Quirks", "detect", "resolve"]

#: The identification commands the driver sends when ``quirks="auto"``.
IDENTIFY = ("ATI", "AT+FMI?", "AT+FMM?", "AT+FMR?")

#: Flag name -> what it makes the driver do.
FLAGS: dict[str, str] = {
    "stray_connect":
        "drop CONNECT lines that come after the CONNECT of +FRH=3 and before the frame "
        "(without it they are taken for frame data: a bad frame)",
    "reissue_empty_ok":
        "send a command again when the modem answers it with OK alone (or <DLE><ETX> "
        "and OK) where it means 'I took your command for an abort': an OK in place of "
        "CONNECT to +FTH/+FTM, and an OK to the first command (+FTS, ATH too) after a "
        "frame that came with a stray CONNECT; at most twice per command",
}


@dataclass(frozen=True)
class Quirks:
    """One quirk profile: ``name``, ``description``, the flags set (names in
    :data:`FLAGS`) and ``match``: regular expressions (case-insensitive) searched in the
    modem's answers to :data:`IDENTIFY` by :func:`detect`."""

    name: str
    description: str = ""
    flags: frozenset[str] = field(default_factory=frozenset)
    match: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.flags) - set(FLAGS)
        if unknown:
            raise ValueError(f"unknown quirk flag(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(FLAGS)}")

    @property
    def stray_connect(self) -> bool:
        return "stray_connect" in self.flags

    @property
    def reissue_empty_ok(self) -> bool:
        return "reissue_empty_ok" in self.flags

    def with_flags(self, on: Iterable[str] = (), off: Iterable[str] = ()) -> Quirks:
        flags = (set(self.flags) | set(on)) - set(off)
        if flags == set(self.flags):
            return self
        changes = [*(f"+{f}" for f in sorted(set(on) - set(self.flags))),
                   *(f"-{f}" for f in sorted(set(off) & set(self.flags)))]
        return replace(self, name=f"{self.name}{''.join(changes)}", flags=frozenset(flags))


GENERIC = Quirks("generic", "T.31 as written: no workarounds")

PROFILES: dict[str, Quirks] = {q.name: q for q in (
    GENERIC,
    Quirks("spandsp-t31",
           "spandsp's T.31 modem (iaxmodem, FreeSWITCH/Asterisk softmodems): a frame that "
           "arrived before +FRH=3 comes after two CONNECTs, and the next command is "
           "answered OK without being run",
           frozenset({"stray_connect", "reissue_empty_ok"}),
           (r"\bspandsp\b", r"soft-switch\.org")),
    Quirks("tolerant", "every workaround faxcore has", frozenset(FLAGS)),
)}


def _flag(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve(spec: str | Quirks | None) -> Quirks | None:
    """The profile ``spec`` names (see the module docstring); ``None`` for ``"auto"`` (or
    ``None``): the driver identifies the modem. ``ValueError`` for an unknown name/flag."""
    if spec is None or isinstance(spec, Quirks):
        return spec
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if not parts or parts[0].lower() == "auto":
        if len(parts) > 1:
            raise ValueError("'auto' takes no flags: name a profile to add flags to")
        return None
    head = parts[0].lower()
    if head not in PROFILES:
        raise ValueError(f"unknown quirk profile {parts[0]!r}; known: "
                         f"{', '.join(PROFILES)}, auto")
    on, off = [], []
    for p in parts[1:]:
        if p.startswith(("no-", "no_", "-")):
            off.append(_flag(p[1:] if p.startswith("-") else p[3:]))
        else:
            on.append(_flag(p.lstrip("+")))
    for f in on + off:
        if f not in FLAGS:
            raise ValueError(f"unknown quirk flag {f!r}; known: {', '.join(FLAGS)}")
    return PROFILES[head].with_flags(on, off)


def detect(answers: Mapping[str, Iterable[str]]) -> Quirks:
    """The profile for a modem that answered the :data:`IDENTIFY` commands with
    ``answers`` (command -> its information lines): the first of :data:`PROFILES` with a
    pattern found in an answer, else :data:`GENERIC`."""
    text = "\n".join(line for lines in answers.values() for line in lines)
    for q in PROFILES.values():
        if any(re.search(p, text, re.IGNORECASE) for p in q.match):
            return q
    return GENERIC
