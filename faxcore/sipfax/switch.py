"""When a fax call over SIP moves from G.711 audio to T.38, as a small sans-IO state
machine: events in (the call is up, our re-INVITE was answered, the far end offered
T.38, UDPTL arrived, a timer ran out), actions out (send a T.38 re-INVITE, answer an
offer, start or stop the fax on audio or on T.38, hang up). Nothing here does I/O or
reads a clock: :class:`~faxcore.sipfax.call.SipFaxCall` feeds it and carries the
actions out; ``now`` comes in with each call.

    sw = MediaSwitch(mode="prefer", receiving=True)
    actions = sw.handle(CallUp(), now)           # [SendT38Offer()]
    ...
    if sw.next_deadline is not None and now >= sw.next_deadline:
        actions = sw.handle_timer(now)

Rules
=====

Rule 1: the call starts on G.711 audio (the INVITE offers ``m=audio``). The T.38 modes:
``never`` (stay on audio; a T.38 offer is refused with 488, RFC 3261 21.4.26),
``prefer`` (try T.38, fall back to audio), ``only`` (T.38 or nothing: the call fails
when T.38 is refused).

Rule 2: the receiving station asks for T.38 (fact sheet 4: whoever detects fax, usually
the receiver, offers it; Asterisk's ReceiveFAX and terminating gateways do). With
``offer_at="ced"`` (the default) it re-INVITEs as its CED starts, which is the moment
the call is answered; with ``offer_at="dis"``, T.30 starts on audio and the re-INVITE
goes out at the V.21 preamble of its first DIS. The sending station waits for the far
end's offer and accepts it; with ``offer_after`` seconds it also offers T.38 itself
when none came by then (t38modem's force-fax-mode-delay, FreeSWITCH's
fax_enable_t38_request).

Rule 3: a switch happens only before T.30 phase B: the audio T.30 engine, if one runs,
has exchanged no frame yet, so the T.38 terminal starts the T.30 procedure afresh and no
T.30 state crosses media. Once a frame went either way on audio (:class:`AudioPhaseB`)
the call stays on audio for good (``prefer``) and later offers get 488. While our own
offer is out the audio engine is stopped (``StopAudioFax``); if the offer fails a fresh
one starts (``StartAudioFax``), so no engine ever sees a half-made switch.

Rule 4: our offer falls back to audio (``prefer``) or fails the call (``only``) on any
non-2xx final answer (488 refused, 4xx-6xx) and when no final answer came within
``offer_timeout`` seconds (Asterisk waits 5 s, t38timeout). A 2xx that arrives after we
fell back cannot be refused (the ACK is due): we offer audio again (``SendAudioOffer``)
so the SDP matches the media in use. A 491 (:class:`OfferGlare`: both ends offered at
once, and the user agent's retries did not settle it, or the far end's offer came while
ours waited to be retried) is not a refusal of T.38: the call goes back to AUDIO, where
the far end's T.38 offer is still accepted (Rule 3 permitting); ``prefer`` starts the
fax on audio meanwhile, ``only`` waits ``offer_timeout`` for that offer and then fails.

Rule 5: the switch is made once. After T.38 is agreed, an offer of audio is refused
with 488 and an offer of the unchanged image stream (a session refresh) is accepted
without a switch; on audio for good, a T.38 offer gets 488 and an audio offer (a
refresh) is accepted. An offer arriving while ours is pending gets 491 (glare, RFC 3261
14.2; a UA that answers 491 itself never passes it here).

Rule 6: during the switch RTP and UDPTL are both accepted (RFC 3264 8.3.3: the offerer
takes old and new media until the new arrives): the T.38 terminal starts at once on the
agreed UDPTL, and RTP is read (and dropped) until the first UDPTL datagram arrives
(``CloseRtp``).

Rule 7: every (state, event) pair has an entry in :data:`RULES`, even where the event
is ignored: the network delivers events in any order (a late 200, a stray UDPTL
datagram) and none of them may raise. tests/sipfax/test_switch_rules.py walks them all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ANY", "RULES", "AcceptOffer", "Action", "AudioPhaseB", "CallUp", "CloseRtp",
    "DisPreamble", "Event", "Fail", "MediaSwitch", "OfferAccepted", "OfferGlare",
    "OfferRefused",
    "OfferTimedOut", "OfferTimer", "PeerOffersAudio", "PeerOffersT38", "RefuseOffer",
    "SendAudioOffer", "SendT38Offer", "StartAudioFax", "StartT38Fax", "State",
    "StopAudioFax", "SwitchError", "UdptlArrived", "EVENTS", "MODES", "lookup",
]

log = logging.getLogger("faxcore.sipfax.switch")

MODES = ("prefer", "only", "never")
OFFER_TIMEOUT = 5.0   # s: our T.38 re-INVITE's final answer (Asterisk's t38timeout)


class SwitchError(ValueError):
    """A bad policy setting (unknown mode, negative time)."""


class State(Enum):
    """Where the call's media stands."""

    IDLE = "idle"                  # the call is not up yet
    AUDIO = "audio"                # on G.711; T.38 still possible (no T.30 frame yet)
    OFFERING = "offering"          # our T.38 re-INVITE is out, no final answer yet
    SWITCHING = "switching"        # T.38 agreed: UDPTL running, RTP still accepted
    T38 = "t38"                    # UDPTL arrived; RTP closed
    AUDIO_LOCKED = "audio-locked"  # on G.711 for good (never, fallback, T.30 began)
    FAILED = "failed"              # t38=only and T.38 was refused: the call ends


# ---- events (in) --------------------------------------------------------------------

class Event:
    """Something that happened to the call."""


@dataclass(frozen=True)
class CallUp(Event):
    """The call is established (200/ACK on the INVITE), on audio."""


@dataclass(frozen=True)
class DisPreamble(Event):
    """The receiving station's audio T.30 engine starts its first DIS (V.21 preamble)."""


@dataclass(frozen=True)
class OfferTimer(Event):
    """``offer_after`` seconds into the call (the sender's own T.38 offer is due)."""


@dataclass(frozen=True)
class AudioPhaseB(Event):
    """The audio T.30 engine sent or received its first frame: phase B has begun."""


@dataclass(frozen=True)
class OfferAccepted(Event):
    """A 2xx with an image answer to our T.38 re-INVITE."""


@dataclass(frozen=True)
class OfferRefused(Event):
    """A non-2xx final answer to our T.38 re-INVITE (or a 2xx without the image stream)."""

    code: int = 488


@dataclass(frozen=True)
class OfferGlare(Event):
    """Our T.38 re-INVITE ended in 491 (glare: the far end offered at the same time)."""


@dataclass(frozen=True)
class OfferTimedOut(Event):
    """No final answer to our T.38 re-INVITE within ``offer_timeout`` seconds."""


@dataclass(frozen=True)
class PeerOffersT38(Event):
    """The far end sent an (re-)INVITE whose offer has the T.38 image stream."""


@dataclass(frozen=True)
class PeerOffersAudio(Event):
    """The far end sent a re-INVITE offering audio only."""


@dataclass(frozen=True)
class UdptlArrived(Event):
    """A UDPTL datagram came in from the far end."""


EVENTS: tuple[type[Event], ...] = (CallUp, DisPreamble, OfferTimer, AudioPhaseB,
                                   OfferAccepted, OfferRefused, OfferGlare, OfferTimedOut,
                                   PeerOffersT38, PeerOffersAudio, UdptlArrived)


# ---- actions (out) ------------------------------------------------------------------

class Action:
    """Something the call must do."""


@dataclass(frozen=True)
class SendT38Offer(Action):
    """Send a re-INVITE offering the T.38 image stream in place of audio."""


@dataclass(frozen=True)
class SendAudioOffer(Action):
    """Send a re-INVITE offering audio (a late 2xx made the SDP say T.38; Rule 4)."""


@dataclass(frozen=True)
class AcceptOffer(Action):
    """Answer the far end's offer with 200 (and our SDP for it)."""


@dataclass(frozen=True)
class RefuseOffer(Action):
    """Answer the far end's offer with this status (488, or 491 for glare)."""

    code: int


@dataclass(frozen=True)
class StartAudioFax(Action):
    """Start a fresh T.30 engine on G.711 (FaxSession over RTP)."""


@dataclass(frozen=True)
class StopAudioFax(Action):
    """Drop the audio T.30 engine (it has exchanged no frame: Rule 3)."""


@dataclass(frozen=True)
class StartT38Fax(Action):
    """Start UDPTL and a fresh T.38 terminal; keep reading RTP (Rule 6)."""


@dataclass(frozen=True)
class CloseRtp(Action):
    """UDPTL has arrived: stop reading RTP."""


@dataclass(frozen=True)
class Fail(Action):
    """End the call (BYE): T.38 was required and could not be had."""

    reason: str


# ---- the rules ------------------------------------------------------------------------

ANY = None
#: A pattern (mode, role, offer_at), ``ANY`` matching every value; role is "sending" or
#: "receiving". The first pattern of a (state, event) entry that matches decides.
Pattern = tuple[str | None, str | None, str | None]
Outcome = tuple[State | None, tuple[Action, ...]]   # next state (None: unchanged)
_ALL: Pattern = (ANY, ANY, ANY)
_IGNORE: Outcome = (None, ())

S = State
RULES: dict[tuple[State, type[Event]], tuple[tuple[Pattern, Outcome], ...]] = {
    # -- the call comes up (Rule 1, 2)
    (S.IDLE, CallUp): (
        (("never", ANY, ANY), (S.AUDIO_LOCKED, (StartAudioFax(),))),
        ((ANY, "receiving", "ced"), (S.OFFERING, (SendT38Offer(),))),
        ((ANY, "receiving", "dis"), (S.AUDIO, (StartAudioFax(),))),
        (("prefer", "sending", ANY), (S.AUDIO, (StartAudioFax(),))),
        (("only", "sending", ANY), (S.AUDIO, ())),         # no fax on audio: wait
    ),
    # an initial INVITE that offers T.38 straight away (no audio to switch from)
    (S.IDLE, PeerOffersT38): (
        (("never", ANY, ANY), (S.FAILED, (RefuseOffer(488),))),
        (_ALL, (S.SWITCHING, (AcceptOffer(), StartT38Fax()))),
    ),
    (S.IDLE, PeerOffersAudio): ((_ALL, (None, (AcceptOffer(),))),),
    # -- on audio, T.38 still possible (Rule 2, 3)
    (S.AUDIO, DisPreamble): (
        ((ANY, "receiving", "dis"), (S.OFFERING, (StopAudioFax(), SendT38Offer()))),
        (_ALL, _IGNORE),
    ),
    (S.AUDIO, OfferTimer): (
        ((ANY, "sending", ANY), (S.OFFERING, (StopAudioFax(), SendT38Offer()))),
        (_ALL, _IGNORE),
    ),
    (S.AUDIO, AudioPhaseB): (
        (("only", ANY, ANY), (S.FAILED, (Fail("T.30 began on G.711 audio, but T.38 is "
                                              "required (t38=only)"),))),
        (_ALL, (S.AUDIO_LOCKED, ())),
    ),
    (S.AUDIO, PeerOffersT38): (
        (_ALL, (S.SWITCHING, (StopAudioFax(), AcceptOffer(), StartT38Fax()))),
    ),
    (S.AUDIO, PeerOffersAudio): ((_ALL, (None, (AcceptOffer(),))),),
    # after a glare (Rule 4), t38=only waits for the far end's offer this long
    (S.AUDIO, OfferTimedOut): (
        (("only", ANY, ANY), (S.FAILED, (Fail("no T.38 after a re-INVITE glare "
                                              "(t38=only)"),))),
        (_ALL, _IGNORE),
    ),
    # -- our offer is out (Rule 4, 5)
    (S.OFFERING, OfferAccepted): ((_ALL, (S.SWITCHING, (StartT38Fax(),))),),
    (S.OFFERING, OfferRefused): (
        (("only", ANY, ANY), (S.FAILED, (Fail("the far end refused T.38 (t38=only)"),))),
        (_ALL, (S.AUDIO_LOCKED, (StartAudioFax(),))),
    ),
    (S.OFFERING, OfferGlare): (
        (("only", ANY, ANY), (S.AUDIO, ())),
        (_ALL, (S.AUDIO, (StartAudioFax(),))),
    ),
    (S.OFFERING, OfferTimedOut): (
        (("only", ANY, ANY), (S.FAILED, (Fail("no answer to the T.38 re-INVITE "
                                              "(t38=only)"),))),
        (_ALL, (S.AUDIO_LOCKED, (StartAudioFax(),))),
    ),
    (S.OFFERING, PeerOffersT38): ((_ALL, (None, (RefuseOffer(491),))),),
    (S.OFFERING, PeerOffersAudio): ((_ALL, (None, (RefuseOffer(491),))),),
    # -- T.38 agreed (Rule 5, 6)
    (S.SWITCHING, UdptlArrived): ((_ALL, (S.T38, (CloseRtp(),))),),
    (S.SWITCHING, PeerOffersT38): ((_ALL, (None, (AcceptOffer(),))),),
    (S.SWITCHING, PeerOffersAudio): ((_ALL, (None, (RefuseOffer(488),))),),
    (S.T38, PeerOffersT38): ((_ALL, (None, (AcceptOffer(),))),),
    (S.T38, PeerOffersAudio): ((_ALL, (None, (RefuseOffer(488),))),),
    # -- on audio for good (Rule 4, 5)
    (S.AUDIO_LOCKED, PeerOffersT38): ((_ALL, (None, (RefuseOffer(488),))),),
    (S.AUDIO_LOCKED, PeerOffersAudio): ((_ALL, (None, (AcceptOffer(),))),),
    (S.AUDIO_LOCKED, OfferAccepted): ((_ALL, (None, (SendAudioOffer(),))),),
    # -- the call is failing: it is being hung up
    (S.FAILED, PeerOffersT38): ((_ALL, (None, (RefuseOffer(488),))),),
    (S.FAILED, PeerOffersAudio): ((_ALL, (None, (RefuseOffer(488),))),),
}
# Rule 7: every other (state, event) pair is explicitly ignored.
for _state in State:
    for _ev in EVENTS:
        RULES.setdefault((_state, _ev), ((_ALL, _IGNORE),))
del _state, _ev


def _matches(pattern: Pattern, key: tuple[str, str, str]) -> bool:
    return all(p is ANY or p == k for p, k in zip(pattern, key, strict=True))


def lookup(state: State, event: type[Event], mode: str, role: str,
           offer_at: str) -> Outcome:
    """The outcome of ``event`` in ``state`` for this policy (the first matching rule)."""
    key = (mode, role, offer_at)
    for pattern, outcome in RULES[(state, event)]:
        if _matches(pattern, key):
            return outcome
    raise KeyError(f"no rule for {event.__name__} in {state.value} with {key}")


class MediaSwitch:
    """The media-switch policy of one call (see the module docstring's Rules).

    ``mode``: ``prefer``, ``only`` or ``never``; ``receiving``: this station receives the
    fax (it offers T.38); ``offer_at``: ``ced`` or ``dis`` (Rule 2); ``offer_after``:
    seconds after the call is up at which a *sending* station offers T.38 itself (None:
    never, it waits for the far end); ``offer_timeout``: how long our offer may go
    without a final answer (Rule 4)."""

    def __init__(self, mode: str = "prefer", *, receiving: bool,
                 offer_at: str = "ced", offer_after: float | None = None,
                 offer_timeout: float = OFFER_TIMEOUT):
        if mode not in MODES:
            raise SwitchError(f"unknown T.38 mode {mode!r}; expected one of "
                              f"{', '.join(MODES)}")
        if offer_at not in ("ced", "dis"):
            raise SwitchError(f"offer_at must be 'ced' or 'dis', not {offer_at!r}")
        if offer_after is not None and offer_after < 0:
            raise SwitchError("offer_after must be >= 0")
        if not offer_timeout > 0:
            raise SwitchError("offer_timeout must be > 0")
        self.mode = mode
        self.role = "receiving" if receiving else "sending"
        self.offer_at = offer_at
        self.offer_after = offer_after
        self.offer_timeout = offer_timeout
        self.state = State.IDLE
        self.audio_fax = False        # a T.30 engine runs on audio
        self.t38_fax = False          # the T.38 terminal runs
        self.history: list[tuple[float, State, str]] = []   # (now, new state, why)
        self._offer_deadline: float | None = None
        self._timer_deadline: float | None = None

    @property
    def media(self) -> str:
        """``"t38"`` once T.38 is agreed, else ``"g711"``."""
        return "t38" if self.state in (State.SWITCHING, State.T38) else "g711"

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must be called next (None: no timer running)."""
        ds = [d for d in (self._offer_deadline, self._timer_deadline) if d is not None]
        return min(ds) if ds else None

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply the rules to ``event``; returns the actions to carry out, in order."""
        nxt, actions = lookup(self.state, type(event), self.mode, self.role, self.offer_at)
        out: list[Action] = []
        for a in actions:
            if isinstance(a, StopAudioFax):
                if not self.audio_fax:
                    continue            # no audio engine runs (t38=only, sending)
                self.audio_fax = False
            elif isinstance(a, StartAudioFax):
                self.audio_fax = True
            elif isinstance(a, StartT38Fax):
                self.t38_fax = True
            out.append(a)
        if isinstance(event, CallUp) and self.role == "sending" \
                and self.offer_after is not None and self.mode != "never":
            self._timer_deadline = now + self.offer_after
        if any(isinstance(a, SendT38Offer) for a in out):
            self._offer_deadline = now + self.offer_timeout
            self._timer_deadline = None
        if isinstance(event, OfferAccepted | OfferRefused | OfferTimedOut):
            self._offer_deadline = None
        elif isinstance(event, OfferGlare) and self.mode == "only" \
                and self.state is State.OFFERING:
            self._offer_deadline = now + self.offer_timeout   # for the far end's offer
        elif isinstance(event, OfferGlare):
            self._offer_deadline = None
        if nxt is not None and nxt != self.state:
            if nxt not in (State.IDLE, State.AUDIO):
                self._timer_deadline = None   # no own offer once the question is settled
            if nxt not in (State.AUDIO, State.OFFERING):
                self._offer_deadline = None   # the question is settled
            log.info("media switch: %s -> %s on %s", self.state.value, nxt.value,
                     type(event).__name__)
            self.history.append((now, nxt, type(event).__name__))
            self.state = nxt
        return out

    def handle_timer(self, now: float) -> list[Action]:
        """The timers that are due: our offer's timeout, the sender's own offer."""
        out: list[Action] = []
        if self._offer_deadline is not None and now >= self._offer_deadline:
            self._offer_deadline = None
            out += self.handle(OfferTimedOut(), now)
        if self._timer_deadline is not None and now >= self._timer_deadline:
            self._timer_deadline = None
            out += self.handle(OfferTimer(), now)
        return out
