"""The send job as data: its states, the transitions between them, and the retry policy.

Send job states (``faxcore serve``)::

    accepted -> queued | scheduled           (submitted; scheduled: send-at in the future)
    queued | scheduled | retry_wait -> dialing         (claimed by a worker: one attempt)
    dialing -> transmitting                  (the far end answered: T.30 runs)
    dialing | transmitting -> delivered | retry_wait | failed | canceled
    queued | scheduled | retry_wait -> held_billing    (the account gate refused at dial)
    held_billing -> queued                   (the account is active again: released)
    any waiting state -> canceled | expired  (cancel; kill time passed)

Rules (the decisions behind :data:`TRANSITIONS` and :class:`RetryPolicy`)
-------------------------------------------------------------------------

* ``accepted`` is the state a job is inserted in; it becomes ``queued`` (or ``scheduled``)
  in the same transaction, once its document is on disk: the API never shows a job whose
  document is missing ("nothing half-created").
* A claim goes straight from a waiting state to ``dialing``: there is no separate
  "queued again" step after ``retry_wait`` (the claim looks at ``next_attempt_at``).
* The account gate is checked at submission (HTTP 402, nothing created) and at every
  claim: a refused claim makes the job ``held_billing``, not ``failed``; a held job goes
  back to ``queued`` as soon as the gate allows (the scheduler looks at held jobs on every
  pass, at most :data:`HELD_RECHECK_SECONDS` apart), and ``expired`` at its kill time.
* A worker whose lease expired (killed, hung) loses its claim: the job goes back to
  ``retry_wait`` due at once (the dial counted); the page journal keeps what was
  confirmed, so at most the page in flight is sent twice.
* Dials and tries are counted as HylaFAX counts them: every call placed is a *dial*
  (``max_dials``), every call that was answered but did not deliver everything is a
  *try* (``max_tries``). Busy and no-answer cost dials only; a protocol error (T.30
  failure, the call dropped) costs a try. The job fails when either count reaches its
  maximum, and expires when the next attempt would fall after its kill time.
* ``canceled`` while ``dialing``/``transmitting`` is a request: the attempt is
  abandoned by its worker and the job ends ``canceled`` (pages already confirmed stay
  delivered and charged).
* Pages are charged when the far end confirms them (MCF), per attempt, once: the
  journal (``fax_pages``) has one row per confirmed page.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# ---- states ---------------------------------------------------------------------------

ACCEPTED = "accepted"
QUEUED = "queued"
SCHEDULED = "scheduled"
DIALING = "dialing"
TRANSMITTING = "transmitting"
RETRY_WAIT = "retry_wait"
DELIVERED = "delivered"
FAILED = "failed"
CANCELED = "canceled"
EXPIRED = "expired"
HELD_BILLING = "held_billing"

STATES = (ACCEPTED, QUEUED, SCHEDULED, DIALING, TRANSMITTING, RETRY_WAIT, DELIVERED, FAILED,
          CANCELED, EXPIRED, HELD_BILLING)
#: States in which a job waits for a worker to claim it (when ``next_attempt_at`` comes).
CLAIMABLE = (QUEUED, SCHEDULED, RETRY_WAIT)
#: States in which a worker holds the job (a lease) and a channel line is busy.
ACTIVE = (DIALING, TRANSMITTING)
FINAL = (DELIVERED, FAILED, CANCELED, EXPIRED)

#: Every allowed state change; the job queue refuses anything else (a bug, not input).
TRANSITIONS: dict[str, frozenset[str]] = {
    ACCEPTED: frozenset({QUEUED, SCHEDULED}),
    QUEUED: frozenset({DIALING, HELD_BILLING, CANCELED, EXPIRED}),
    SCHEDULED: frozenset({DIALING, HELD_BILLING, CANCELED, EXPIRED}),
    RETRY_WAIT: frozenset({DIALING, HELD_BILLING, CANCELED, EXPIRED}),
    HELD_BILLING: frozenset({QUEUED, CANCELED, EXPIRED}),
    DIALING: frozenset({TRANSMITTING, DELIVERED, RETRY_WAIT, FAILED, CANCELED, EXPIRED}),
    TRANSMITTING: frozenset({DELIVERED, RETRY_WAIT, FAILED, CANCELED, EXPIRED}),
    DELIVERED: frozenset(),
    FAILED: frozenset(),
    CANCELED: frozenset(),
    EXPIRED: frozenset(),
}

#: How often at most a held job's account is looked at again (the issue: "released within
#: a minute after payment"; every scheduler pass looks, and passes are far more frequent).
HELD_RECHECK_SECONDS = 30.0


def check_transition(old: str, new: str) -> None:
    if new not in TRANSITIONS.get(old, frozenset()):
        raise ValueError(f"job state {old} -> {new} is not allowed")


# ---- what a call attempt gave ----------------------------------------------------------

class DialResult(enum.StrEnum):
    """How a call attempt ended, as far as the retry policy cares."""

    DELIVERED = "delivered"        # every page confirmed
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    PROTOCOL_ERROR = "protocol_error"  # answered; T.30 failed or the call dropped
    NO_FAX = "no_fax"              # answered, but no fax machine (voice, modem silence)
    CHANNEL_ERROR = "channel_error"  # our side: no line, trunk down, worker lost


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, by dial result (seconds), and the limits; HylaFAX's defaults
    (``JobReqBusy`` 180 s, ``JobReqNoAnswer`` 300 s, ``JobReqProto`` 60 s, ``MaxDials``
    12, ``MaxTries`` 3, kill time 3 hours)."""

    busy: float = 180.0
    no_answer: float = 300.0
    protocol_error: float = 60.0
    no_fax: float = 300.0
    channel_error: float = 30.0
    max_dials: int = 12
    max_tries: int = 3
    kill_after: float = 3 * 3600.0

    def delay(self, result: DialResult) -> float:
        return {DialResult.BUSY: self.busy, DialResult.NO_ANSWER: self.no_answer,
                DialResult.PROTOCOL_ERROR: self.protocol_error, DialResult.NO_FAX: self.no_fax,
                DialResult.CHANNEL_ERROR: self.channel_error}.get(result, 0.0)

    @staticmethod
    def counts_try(result: DialResult) -> bool:
        """A try is a call that was answered by a fax machine and did not deliver."""
        return result is DialResult.PROTOCOL_ERROR


@dataclass(frozen=True)
class Limits:
    """Concurrency limits, counted in the database at every claim."""

    per_destination: int = 1


@dataclass
class AttemptOutcome:
    """What a channel reports about one call (one row of ``fax_attempts``)."""

    result: DialResult
    transport: str = ""            # "virtual" (loopback engines), "g711", "t38", "modem"
    bit_rate: int = 0
    modulation: str = ""
    ecm: bool = False
    t30_status: str = ""           # T30Status name, "" when no T.30 took place
    hangup_cause: str = ""         # a sentence: "busy", "no answer", "far end hung up"...
    duration_s: float = 0.0        # line time of the call (virtual time on the loopback)
    pages_confirmed: list[int] = field(default_factory=list)  # job page numbers, 1-based
