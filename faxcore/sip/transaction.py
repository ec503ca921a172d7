"""SIP transactions over UDP (RFC 3261 §17), sans-IO.

Four state machines; each is a table ``(state, input) -> next state`` below, and the
classes only carry out the actions (send, arm or stop timers) a transition implies:

=============  ==============================================================
client INVITE  CALLING -1xx-> PROCEEDING; CALLING/PROCEEDING -2xx-> TERMINATED
               (the dialog ACKs a 2xx); -300..699-> COMPLETED (we ACK, Timer D
               absorbs retransmissions) -D-> TERMINATED; Timer A resends the
               INVITE (T1 doubling) while CALLING, Timer B (64*T1) times out.
client other   TRYING -1xx-> PROCEEDING -final-> COMPLETED -K-> TERMINATED;
               Timer E resends (T1 doubling, capped at T2), Timer F times out.
server INVITE  PROCEEDING (100 Trying sent at once) -2xx-> ACCEPTED (RFC 6026:
               the dialog resends the 2xx until the ACK; copies of the INVITE are
               absorbed) -L (64*T1)-> TERMINATED; -300..699-> COMPLETED
               (Timer G resends, Timer H gives up) -ACK-> CONFIRMED -I-> TERMINATED.
server other   TRYING -final-> COMPLETED -J-> TERMINATED; a retransmitted
               request gets the last response again.
=============  ==============================================================

Sends go into the ``out`` list the user agent gives (``(bytes, addr)``); timers are
absolute deadlines in the same clock as ``now``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from faxcore.sip.message import Request, Response

__all__ = ["T1", "T2", "T4", "ClientInviteTx", "ClientTx", "ServerInviteTx", "ServerTx",
           "TxState"]

#: RFC 3261 §17.1.1.1: round-trip estimate, the longest retransmit interval, the
#: longest a message stays in the network (seconds)
T1 = 0.5
T2 = 4.0
T4 = 5.0

Addr = tuple[str, int]
Out = list[tuple[bytes, Addr]]


class TxState(enum.Enum):
    CALLING = "calling"          # client INVITE: sent, no response yet
    TRYING = "trying"            # client/server non-INVITE: no response yet
    PROCEEDING = "proceeding"    # a provisional response seen/sent
    COMPLETED = "completed"      # final response seen/sent, absorbing retransmissions
    CONFIRMED = "confirmed"      # server INVITE: ACK for the non-2xx received
    ACCEPTED = "accepted"        # server INVITE: 2xx sent; copies of the INVITE absorbed
    TERMINATED = "terminated"


S = TxState
#: what a response of class 1 (1xx), 2 (2xx) or 3 (300-699) does to a client transaction
CLIENT_INVITE_ON_RESPONSE: dict[tuple[TxState, int], TxState] = {
    (S.CALLING, 1): S.PROCEEDING, (S.PROCEEDING, 1): S.PROCEEDING,
    (S.CALLING, 2): S.TERMINATED, (S.PROCEEDING, 2): S.TERMINATED,
    (S.CALLING, 3): S.COMPLETED, (S.PROCEEDING, 3): S.COMPLETED,
    (S.COMPLETED, 3): S.COMPLETED,          # retransmitted final: ACK again
}
CLIENT_ON_RESPONSE: dict[tuple[TxState, int], TxState] = {
    (S.TRYING, 1): S.PROCEEDING, (S.PROCEEDING, 1): S.PROCEEDING,
    (S.TRYING, 2): S.COMPLETED, (S.PROCEEDING, 2): S.COMPLETED,
    (S.TRYING, 3): S.COMPLETED, (S.PROCEEDING, 3): S.COMPLETED,
}
#: what sending a response of class 1/2/3 does to a server transaction
SERVER_INVITE_ON_SEND: dict[tuple[TxState, int], TxState] = {
    (S.PROCEEDING, 1): S.PROCEEDING, (S.PROCEEDING, 2): S.ACCEPTED,
    (S.PROCEEDING, 3): S.COMPLETED,
}
SERVER_ON_SEND: dict[tuple[TxState, int], TxState] = {
    (S.TRYING, 1): S.PROCEEDING, (S.PROCEEDING, 1): S.PROCEEDING,
    (S.TRYING, 2): S.COMPLETED, (S.PROCEEDING, 2): S.COMPLETED,
    (S.TRYING, 3): S.COMPLETED, (S.PROCEEDING, 3): S.COMPLETED,
}


def status_class(status: int) -> int:
    """1 for 1xx, 2 for 2xx, 3 for every final non-2xx (300-699)."""
    return 1 if status < 200 else 2 if status < 300 else 3


@dataclass
class _Tx:
    request: Request
    addr: Addr
    out: Out
    state: TxState
    timers: dict[str, float] = field(default_factory=dict)

    @property
    def next_deadline(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED


class ClientTx(_Tx):
    """A non-INVITE client transaction (BYE, CANCEL, OPTIONS, REGISTER)."""

    table = CLIENT_ON_RESPONSE

    def __init__(self, request: Request, addr: Addr, now: float, out: Out) -> None:
        super().__init__(request, addr, out, self._first_state())
        self.data = request.to_bytes()
        self.interval = T1
        self.response: Response | None = None
        self.timed_out = False
        out.append((self.data, addr))
        self._start(now)

    def _first_state(self) -> TxState:
        return TxState.TRYING

    def _start(self, now: float) -> None:
        self.timers = {"E": now + T1, "F": now + 64 * T1}

    def on_response(self, resp: Response, now: float) -> bool:
        """Feed a matching response; True when the transaction user should see it
        (a retransmitted final response is absorbed)."""
        new = self.table.get((self.state, status_class(resp.status)))
        if new is None:
            return False
        old, self.state = self.state, new
        if new is TxState.PROCEEDING:
            # Timer E keeps running at T2 (RFC 3261 §17.1.2.2)
            if "E" in self.timers:
                self.interval = T2
        elif new is TxState.COMPLETED:
            self.timers = {"K": now + T4}
        self.response = resp
        return old is not TxState.COMPLETED

    def on_timer(self, now: float) -> bool:
        """Run due timers; True when the transaction timed out (408 for the user)."""
        t = self.timers
        if "F" in t and now >= t["F"]:
            self.state, self.timers, self.timed_out = TxState.TERMINATED, {}, True
            return True
        if "K" in t and now >= t["K"]:
            self.state, self.timers = TxState.TERMINATED, {}
        if "E" in t and now >= t["E"]:
            self.out.append((self.data, self.addr))
            self.interval = min(self.interval * 2, T2)
            t["E"] = now + self.interval
        return False


class ClientInviteTx(ClientTx):
    """An INVITE client transaction. Builds and sends the ACK for a non-2xx itself."""

    table = CLIENT_INVITE_ON_RESPONSE

    def _first_state(self) -> TxState:
        return TxState.CALLING

    def _start(self, now: float) -> None:
        self.timers = {"A": now + T1, "B": now + 64 * T1}
        self.ack: bytes | None = None

    def on_response(self, resp: Response, now: float) -> bool:
        new = self.table.get((self.state, status_class(resp.status)))
        if new is None:
            return False
        old, self.state = self.state, new
        if new is TxState.PROCEEDING:
            self.timers.pop("A", None)
        elif new is TxState.TERMINATED:
            self.timers = {}
        elif new is TxState.COMPLETED:
            if self.ack is None:
                self.ack = self._ack_for(resp).to_bytes()
            self.out.append((self.ack, self.addr))
            self.timers = {"D": now + 32.0}
        self.response = resp
        return old is not TxState.COMPLETED

    def _ack_for(self, resp: Response) -> Request:
        """RFC 3261 §17.1.1.3: the ACK of a non-2xx final response."""
        inv = self.request
        ack = Request(method="ACK", uri=inv.uri)
        ack.add("Via", inv.get_all("Via")[0])
        for name in ("Route",):
            for v in inv.get_lines(name):
                ack.add(name, v)
        ack.add("Max-Forwards", "70")
        ack.add("From", inv.get("From") or "")
        ack.add("To", resp.get("To") or "")
        ack.add("Call-ID", inv.call_id)
        ack.add("CSeq", f"{inv.cseq[0]} ACK")
        return ack

    def on_timer(self, now: float) -> bool:
        t = self.timers
        if "B" in t and now >= t["B"]:
            self.state, self.timers, self.timed_out = TxState.TERMINATED, {}, True
            return True
        if "D" in t and now >= t["D"]:
            self.state, self.timers = TxState.TERMINATED, {}
        if "A" in t and now >= t["A"]:
            self.out.append((self.data, self.addr))
            self.interval *= 2
            t["A"] = now + self.interval
        return False


class ServerTx(_Tx):
    """A non-INVITE server transaction."""

    table = SERVER_ON_SEND

    def __init__(self, request: Request, addr: Addr, now: float, out: Out) -> None:
        super().__init__(request, addr, out, self._first_state())
        self.last: bytes | None = None
        self.final: Response | None = None
        self.interval = T1

    def _first_state(self) -> TxState:
        return TxState.TRYING

    def send(self, resp: Response, now: float) -> None:
        new = self.table.get((self.state, status_class(resp.status)))
        if new is None:
            return                      # a final response was sent already
        self.state = new
        self.last = resp.to_bytes()
        self.out.append((self.last, self.addr))
        if resp.status >= 200:
            self.final = resp
            self._on_final(resp, now)

    def _on_final(self, resp: Response, now: float) -> None:
        self.timers = {"J": now + 64 * T1}

    def on_retransmission(self, now: float) -> None:
        """The same request again: resend the last response (RFC 3261 §17.2.2); in
        ACCEPTED the dialog's own 2xx retransmission covers it (RFC 6026)."""
        if self.last is not None and self.state not in (TxState.TERMINATED,
                                                        TxState.ACCEPTED):
            self.out.append((self.last, self.addr))

    def on_timer(self, now: float) -> bool:
        if "J" in self.timers and now >= self.timers["J"]:
            self.state, self.timers = TxState.TERMINATED, {}
        return False


class ServerInviteTx(ServerTx):
    """An INVITE server transaction: 100 Trying at once, retransmits a non-2xx final
    until the ACK (Timer G), gives up after Timer H."""

    table = SERVER_INVITE_ON_SEND

    def _first_state(self) -> TxState:
        return TxState.PROCEEDING

    def _on_final(self, resp: Response, now: float) -> None:
        if resp.status >= 300:
            self.interval = T1
            self.timers = {"G": now + T1, "H": now + 64 * T1}
        else:
            self.timers = {"L": now + 64 * T1}

    def on_ack(self, now: float) -> None:
        if self.state is TxState.COMPLETED:
            self.state = TxState.CONFIRMED
            self.timers = {"I": now + T4}

    def on_timer(self, now: float) -> bool:
        """True when Timer H fired: the ACK never came."""
        t = self.timers
        if "H" in t and now >= t["H"]:
            self.state, self.timers = TxState.TERMINATED, {}
            return True
        if ("I" in t and now >= t["I"]) or ("L" in t and now >= t["L"]):
            self.state, self.timers = TxState.TERMINATED, {}
        if "G" in t and now >= t["G"]:
            if self.last is not None:
                self.out.append((self.last, self.addr))
            self.interval = min(self.interval * 2, T2)
            t["G"] = now + self.interval
        return False
