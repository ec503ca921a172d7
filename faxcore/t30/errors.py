"""How a T.30 procedure ends early, and what a wait gets when its time is up.

The engine's procedures are generators (see :mod:`faxcore.t30.engine`). One that cannot
go on raises :class:`CallFailed` with the completion status; the engine catches it,
goes to phase E (our DCN if ``send_dcn``) and records the status. :class:`CallAborted`
is thrown into the running procedure by :meth:`T30Engine.abort`. A procedure waiting
with a deadline receives :data:`TIMEOUT` instead of an event when the deadline passes.
"""

from __future__ import annotations

from faxcore.t30.result import T30Status


class CallFailed(Exception):
    """The call ends with ``status``; ``send_dcn``: tell the far end with a DCN first.
    The status is OK when the procedure was already complete (the line dropped after
    the last MCF, rules.ON_LINE_DROPPED)."""

    def __init__(self, status: T30Status, message: str = "", send_dcn: bool = True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.send_dcn = send_dcn


class CallAborted(Exception):
    """Stopped locally (:meth:`T30Engine.abort`): DCN, then hang up, CALLDROPPED."""


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT = _Timeout()
"""What a waiting procedure receives instead of an event when its deadline passes."""
