"""The T.30 procedure as data: the states of a fax station, and what it does on every
command, response and timeout. The engine runs these tables (it looks the next state,
the status and the answer up here); nothing in this module does I/O or keeps state.

Rules
=====

Rule 1: every choice the procedure makes on a frame or a timer is a table here. The
engine (receiver and transmitter) does the *work* of a reaction (judge a page, store it,
build and send the answer) but takes the next state, the status and the answer from
these tables. tests/test_t30_rules.py walks every entry and checks the engine does what
the entry says, so this file and the engine cannot drift apart.

Rule 2: states are named for what the station is doing or waiting for, as T.30's flow
charts name them; the phase (A to E) is a property of the state (:data:`PHASE`) and is
never set on its own.

Rule 3: a frame is *classified* before it is looked up (:func:`classify`). The same FCF
means different things in T.4 (non-ECM) and ECM mode, so a command of the other mode is
OTHER whatever the state (an ECM PPS in T.4 mode, a T.4 MPS in ECM mode); before the
first DCS there is no mode, and every command but DCS, DIS/DTC, DCN and CRP is
BEFORE_DCS (CRP means the same in every mode: repeat your last signal).
DIS/DTC means one thing to the station that answered the call (polled: it turns round
and transmits) and another to the one that called (its DTC was not heard).

Rule 4: a DCN is never answered with DCN. DCN is the command that starts phase E and
needs no response; the far end is already hanging up. Every DCN, on either side, ends
the call with the status its table gives and without a DCN of ours (see Decision 1).

Rule 5: a garbled command (bad FCS) gets CRP in every listening state of the receiver
(the state does not change); a garbled answer to our DIS/DTC is not answered (the
sender goes on with its TCF, TSB-85 MRGN11). A command that gets no valid response
is repeated after T4, at most ``max_tries`` times in all, then DCN: the transmitter's
commands (TX_NO_RESPONSE) and the receiver's DIS/DTC alike (RX_DIS_TRIES_END,
Decision 3). For the transmitter "no valid response" is the entry None of
TX_ON_RESPONSE, and CRP means the same (TxGot.AGAIN).

Rule 6: a receiver that answers an ECM command with RNR (not ready) is polled with RR
until it answers otherwise or T5 runs out (TX_NOT_READY). Each RR is a command of its
own (Rule 5), and what it gets means what it would have meant for the command polled for.

The receiver
------------

A receiving station (the answerer, or a caller that polls with DTC) goes::

    SEND_PHASE_B --command--> AWAIT_COMMAND_B --DCS--> RECEIVING_TCF --CFR--> RECEIVING_PAGE
    RECEIVING_PAGE --image--> AWAIT_POST_PAGE (T.4) / AWAIT_PPS (ECM) --command--> ...

Three of its states are *active* (it sends or receives something other than V.21
commands): SEND_PHASE_B sends DIS/DTC and waits T4 for a command, again at most
``max_tries`` times in one phase B (then DCN, RX_DIS_TRIES_END) and until T1 (then
T1_EXPIRED, no DCN); RECEIVING_TCF receives the TCF after a DCS (RX_AFTER_TCF);
RECEIVING_PAGE receives one high-speed burst (page data or an ECM block) and goes to
RX_AFTER_IMAGE; no carrier at all for T2 there is RX_T2EXPFAX before the first page
and RX_T2EXPMPS after it. Every other state *listens* for a command (T2, or
RX_WAIT) and looks the command up in RX_ON_COMMAND, the timeout in RX_ON_T2.

Decisions
---------

Decision 1 (DCN after CTC or EOR, transmitter). It used to end the call with TX_ECMPHD
("invalid ECM response") and send a DCN back, as for any wrong response; every other
DCN path ended without a DCN of ours. Now it is TX_BADPG without a DCN, as a DCN after
PPS or after a T.4 post-page command: T.30 makes DCN the start of phase E, needing no
response (Rule 4), and its ECM flow chart (Annex A) leaves phase D for phase E on a DCN
in answer to any post-message command; CTC and EOR are such commands, and the page is
then cut short, which is what TX_BADPG ("DCN received after sending a page") says.
spandsp disconnects without a DCN on a DCN after PPS (TX_BADPG) the same way. TSB-85
has no procedure with a DCN in answer to CTC or EOR.

Decision 2 (RTP in answer to EOM, receiver). It used to leave the receiver waiting for a
command with plain T2 (the state after RTP to MPS) and end with RX_T2EXP, while MCF or
RTN in answer to EOM return to phase B (DIS again after T2). T.30 (Figure 5-2, the
receiver's flow chart) goes from every answer to EOM to node B, phase B: the
transmitter, after EOM, waits for a DIS whatever the answer was (ours does; so does
spandsp, whose receiver sends DIS on T2 in its RTP state too). So a transmitter that
got RTP to EOM waited for a DIS that never came: the call died (RX_T2EXP here,
TX_GOTDCN there). Now EOM+RTP goes to AFTER_EOM like EOM+MCF and EOM+RTN; a DCS in
answer (a transmitter that retrains at once) is taken there as anywhere else.

Decision 3 (how often the receiver sends DIS/DTC). It used to send them again after
every T4 without a command until T1 ran out (35 s: five or six DIS, then T1_EXPIRED
without a DCN). DIS and DTC are commands: T.30 (5.4, the "command received?" loops of
Figure 5-2) sends a command that gets no valid response at most three times, then
disconnects with DCN, as the transmitter already did for DCS and the post-page
commands. TSB-85's exception procedures expect the same of a receiver (three DIS, then
DCN, RETRYDCN). Now SEND_PHASE_B sends our DIS/DTC at most ``max_tries`` times in one
phase B; the count starts again when a DCS is taken (RX_DIS_TRIES_RESET) and in a new
phase B (after EOM); then DCN and RX_DIS_TRIES_END. T1 still ends a phase B in which
the far end keeps sending frames we cannot use.

Decision 4 (the line drops after the procedure is complete). A dropped line used to be
CALLDROPPED whatever the state. The receiver that has answered EOP with MCF (or RTP)
has every page, each confirmed; the far end then owes only its DCN, and hanging up
without one (or while the DCN is on its way) takes nothing from the call. Likewise the
transmitter whose EOP got its answer is in phase E, sending its DCN: the far end may
well hang up meanwhile. T.30 ends the procedure at that answer (phase E follows, the
DCN needs no response); spandsp reports OK once EOP has been seen and TSB-85's
exception procedures expect OK there. Now ON_LINE_DROPPED gives OK in AFTER_EOP and in
RELEASE (where a failure's own status is already set and stays), CALLDROPPED elsewhere.

Decision 5 (DCN in answer to MPS or EOM, transmitter). It used to be TX_BADPG, as a DCN
after EOP. Our statuses are spandsp's phase-E codes, so that a result compares with
spandsp's (result.py); spandsp's transmitter reports a DCN in answer to MPS or EOM as
RX_DCNPHD ("unexpected DCN after EOM or MPS"): the far end broke off phase D where more
was announced (T.30: MPS and EOM say another page or document follows; EOP that the
call ends, so a DCN there is the far end hanging up on the last page, TX_BADPG). TSB-85's
exception procedures expect the same. Now TX_ON_DCN says RX_DCNPHD for MPS and EOM.
ECM keeps TX_BADPG for a DCN after any PPS (as spandsp does; the table is keyed by the
command, and a PPS-NULL in the middle of a page is one too).

Decision 6 (DIS in answer to DCS, three times). The transmitter sends DCS and TCF again
when the far end answers with its DIS (it did not hear the DCS), at most ``max_tries``
times, as T.30 repeats any command; the status was TX_PHBDEAD ("no response to DCS and
training") as if nothing had been heard. A DIS is a response: the far end is there and
talking, the tries ran out. Now the status follows what the last try got
(TX_DCS_TRIES_END): TX_PHBDEAD after silence, a garbled frame or CRP; RETRYDCN
("disconnected after the permitted retries") after DIS/DTC, as spandsp's transmitter
reports it and TSB-85's exception procedures expect.

Decision 7 (CRP in answer to our DIS/DTC). A CRP before the first DCS was taken as an
unknown command: ignored, and our DIS sent again only when T2 ran out, 7 s later (the
far end, which asked for it at once, waits T4 for it: 3 s). CRP is the response that
asks the other station to repeat its last command now (T.30 5.3.6.1: the previous
command was received in error); in phase B that command is our DIS/DTC. Now CRP is
classified as CRP whatever the mode (Rule 3), and in AWAIT_COMMAND_B it sends our
DIS/DTC again at once (DIS_AGAIN: one of its tries, Decision 3). TSB-85 MRGN12 sends CRP
twice in answer to DIS.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from faxcore.t30.result import T30Status

# ---- states --------------------------------------------------------------------------


class CallState(Enum):
    """Before and after either side's procedure."""

    SETUP = "call set-up: CED, or the caller waiting for the first DIS"
    RELEASE = "phase E: our DCN if any, then hang up"


class RxState(Enum):
    """The receiving station's states (T.30 Figure 5-2)."""

    SEND_PHASE_B = "sending (NSF) (CSI) DIS or (CIG) (PWD) DTC, T4 for a command"
    AWAIT_COMMAND_B = "phase B: our DIS/DTC sent, waiting for DCS (or DTC to be polled)"
    RECEIVING_TCF = "DCS taken, receiving the TCF"
    AFTER_FTT = "FTT sent: waiting for a new DCS"
    RECEIVING_PAGE = "CFR (or MCF to MPS, PPR, CTR) sent: receiving image data"
    IMAGE_DUE = "image data was due but V.21 came instead: waiting for a command"
    AWAIT_POST_PAGE = "T.4 page received: waiting for MPS/EOM/EOP"
    AWAIT_PPS = "ECM block received: waiting for PPS (or EOR, CTC)"
    AFTER_RTP_MPS = "RTP sent to MPS: the transmitter retrains (DCS) for the next page"
    AFTER_RTN = "RTN sent to MPS or EOP: the transmitter retrains and resends, or stops"
    AFTER_EOM = "answer to EOM sent: DIS again after T2 (phase B)"
    AFTER_EOP = "answer to EOP sent: waiting for the DCN"
    AFTER_ERR = "ERR sent to EOR-EOM/EOP: the page is kept with its gaps"
    ECM_RR_WAIT = "RNR sent: waiting for RR"


class TxState(Enum):
    """The transmitting station's states (T.30 Figure 5-2, Annex A)."""

    TRAINING = "sending DCS and TCF until CFR"
    SENDING_IMAGE = "sending page data or an ECM block"
    POST_PAGE = "post-page command (MPS/EOM/EOP, PPS, CTC, EOR, RR) sent: its response"
    AWAIT_DIS = "EOM answered: waiting for the new DIS (phase B)"


State = CallState | RxState | TxState

PHASE: dict[State, str] = {
    CallState.SETUP: "A",
    RxState.SEND_PHASE_B: "B",
    RxState.AWAIT_COMMAND_B: "B",
    RxState.RECEIVING_TCF: "B",
    RxState.AFTER_FTT: "B",
    RxState.RECEIVING_PAGE: "C",
    RxState.IMAGE_DUE: "C",
    RxState.AWAIT_POST_PAGE: "D",
    RxState.AWAIT_PPS: "D",
    RxState.AFTER_RTP_MPS: "D",
    RxState.AFTER_RTN: "D",
    RxState.AFTER_EOM: "D",
    RxState.AFTER_EOP: "D",
    RxState.AFTER_ERR: "D",
    RxState.ECM_RR_WAIT: "D",
    TxState.TRAINING: "B",
    TxState.SENDING_IMAGE: "C",
    TxState.POST_PAGE: "D",
    TxState.AWAIT_DIS: "B",
    CallState.RELEASE: "E",
}

ON_LINE_DROPPED: dict[State, T30Status] = {
    RxState.AFTER_EOP: T30Status.OK,     # every page confirmed; only the DCN was due
    CallState.RELEASE: T30Status.OK,     # phase E: our DCN going out (a failure's DCN
                                         # keeps the failure's status)
}
"""The line drops (LineDropped) in these states: the status (Decision 4); in any other
state it is CALLDROPPED. Never a DCN of ours: there is no line."""

# ---- the receiver: classifying a command ---------------------------------------------


class Cmd(Enum):
    """A command as the receiver's tables see it (see :func:`classify`)."""

    DCS = "DCS"
    DIS_DTC_FROM_CALLER = "DIS/DTC to the answering station (it is polled)"
    DIS_DTC_FROM_CALLED = "DIS/DTC to the calling station (our DTC was not heard)"
    DCN = "DCN"
    POST_PAGE = "MPS, EOM, EOP (and PRI-) in T.4 mode"
    PPS = "PPS-x in ECM mode"
    RR = "RR in ECM mode"
    EOR = "EOR-x in ECM mode"
    CTC = "CTC in ECM mode"
    CRP = "CRP (repeat your last signal: our answer, or our DIS/DTC in phase B)"
    BEFORE_DCS = "any other command before the first DCS"
    OTHER = "anything else: unknown here, or a command of the other mode"


_T4_COMMANDS = {"MPS": Cmd.POST_PAGE, "EOM": Cmd.POST_PAGE, "EOP": Cmd.POST_PAGE,
                "CRP": Cmd.CRP}
_ECM_COMMANDS = {"PPS": Cmd.PPS, "RR": Cmd.RR, "EOR": Cmd.EOR, "CTC": Cmd.CTC,
                 "CRP": Cmd.CRP}


def post_page_name(name: str) -> str:
    """MPS, EOM or EOP for a post-page command or FCF2 name, PRI- (procedure interrupt)
    taken off: without an operator the engine treats PRI-x as x."""
    return name[4:] if name.startswith("PRI-") else name


def classify(name: str, ecm: bool | None, calling: bool) -> Cmd:
    """The column of RX_ON_COMMAND for a command frame named ``name``; ``ecm`` is the
    mode of the last DCS (None before any), ``calling`` our role (Rule 3)."""
    if name == "DCN":
        return Cmd.DCN
    if name in ("DIS", "DTC"):
        return Cmd.DIS_DTC_FROM_CALLED if calling else Cmd.DIS_DTC_FROM_CALLER
    if name == "DCS":
        return Cmd.DCS
    if name == "CRP":
        return Cmd.CRP
    if ecm is None:
        return Cmd.BEFORE_DCS
    table = _ECM_COMMANDS if ecm else _T4_COMMANDS
    return table.get(post_page_name(name), Cmd.OTHER)


# ---- the receiver: what it does on each command in each state -------------------------


class Do(Enum):
    """The receiver's reactions; the engine has one handler for each."""

    TRAIN = "take the DCS (or refuse it), receive TCF, answer RX_AFTER_TCF"
    TRANSMIT = "turn round and transmit (check the polling password first)"
    DIS_AGAIN = "send our DIS/DTC again: SEND_PHASE_B"
    DCN = "end of the call: RX_ON_DCN[state], no DCN of ours"
    ANSWER_PAGE = "judge the page and answer it: RX_POST_PAGE"
    ANSWER_PPS = "answer the PPS: RNR while busy, PPR for missing frames, or MCF"
    ANSWER_RR = "answer RR: RNR while busy, else the answer held for the PPS"
    ANSWER_EOR = "close the block with its gaps, ERR: RX_AFTER_EOR"
    ANSWER_CTC = "new modulation (next burst long-trained), CTR: RECEIVING_PAGE"
    REPEAT = "CRP: send our last answer again (none yet: as INVALID)"
    IGNORE = "keep listening, same state"
    INVALID = "end of the call: RX_INVALID[mode], with our DCN"


RX_COLUMNS = (Cmd.DCS, Cmd.DIS_DTC_FROM_CALLER, Cmd.DIS_DTC_FROM_CALLED, Cmd.DCN,
              Cmd.POST_PAGE, Cmd.PPS, Cmd.RR, Cmd.EOR, Cmd.CTC, Cmd.CRP, Cmd.BEFORE_DCS,
              Cmd.OTHER)
_RX_GRID: dict[RxState, tuple[Do, ...]] = {
    # T.4-only states (AWAIT_POST_PAGE, AFTER_RTP_MPS, AFTER_RTN) never see an ECM
    # command, ECM-only ones (AWAIT_PPS, AFTER_ERR, ECM_RR_WAIT) never a T.4 one, and
    # only the first phase B is without a mode (Rule 3): INVALID there. CRP in phase B
    # asks for our DIS/DTC again (Decision 7).
    # Columns (RX_COLUMNS):  DCS, DIS/DTC (caller), DIS/DTC (called), DCN,
    #                        MPS/EOM/EOP, PPS, RR, EOR,
    #                        CTC, CRP, before DCS, other
    RxState.AWAIT_COMMAND_B: (Do.TRAIN, Do.TRANSMIT, Do.DIS_AGAIN, Do.DCN,
                              Do.ANSWER_PAGE, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                              Do.ANSWER_CTC, Do.DIS_AGAIN, Do.IGNORE, Do.INVALID),
    RxState.AFTER_FTT: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.ANSWER_PAGE, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.IMAGE_DUE: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.ANSWER_PAGE, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AWAIT_POST_PAGE: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                              Do.ANSWER_PAGE, Do.INVALID, Do.INVALID, Do.INVALID,
                              Do.INVALID, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AWAIT_PPS: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.INVALID, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AFTER_RTP_MPS: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                            Do.ANSWER_PAGE, Do.INVALID, Do.INVALID, Do.INVALID,
                            Do.INVALID, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AFTER_RTN: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.ANSWER_PAGE, Do.INVALID, Do.INVALID, Do.INVALID,
                        Do.INVALID, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AFTER_EOM: (Do.TRAIN, Do.TRANSMIT, Do.IGNORE, Do.DCN,
                        Do.ANSWER_PAGE, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AFTER_EOP: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.ANSWER_PAGE, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.AFTER_ERR: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                        Do.INVALID, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                        Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
    RxState.ECM_RR_WAIT: (Do.TRAIN, Do.IGNORE, Do.IGNORE, Do.DCN,
                          Do.INVALID, Do.ANSWER_PPS, Do.ANSWER_RR, Do.ANSWER_EOR,
                          Do.ANSWER_CTC, Do.REPEAT, Do.INVALID, Do.INVALID),
}

RX_ON_COMMAND: dict[RxState, dict[Cmd, Do]] = {
    state: dict(zip(RX_COLUMNS, row, strict=True)) for state, row in _RX_GRID.items()}
"""What the receiver does on a command, by listening state and :class:`Cmd`."""

LISTENING: tuple[RxState, ...] = tuple(_RX_GRID)
"""The receiver's states that wait for a command (all but the three active ones)."""

# ---- the receiver: DCN, timeouts ------------------------------------------------------

RX_ON_DCN: dict[RxState, T30Status] = {
    RxState.AWAIT_COMMAND_B: T30Status.RX_DCNWHY,    # DCN in phase B: the sender gave up
    RxState.AFTER_FTT: T30Status.RX_DCNWHY,          # ... also after our FTT
    RxState.IMAGE_DUE: T30Status.RX_DCNDATA,         # DCN while image data was due
    RxState.AWAIT_POST_PAGE: T30Status.RX_DCNFAX,    # page in, its MPS/EOM/EOP never came
    RxState.AWAIT_PPS: T30Status.RX_DCNFAX,          # block in, its PPS never came
    RxState.AFTER_RTP_MPS: T30Status.RX_DCNPHD,      # the next page was due (after retrain)
    RxState.AFTER_RTN: T30Status.RX_DCNNORTN,        # the sender would not retransmit
    RxState.AFTER_EOM: T30Status.RX_DCNPHD,          # the next document was due
    RxState.AFTER_EOP: T30Status.OK,                 # the normal end of a call
    RxState.AFTER_ERR: T30Status.RX_DCNDATA,         # page closed with gaps (EOR): data due
    RxState.ECM_RR_WAIT: T30Status.RX_DCNRRD,        # DCN instead of RR after our RNR
}
"""The status when a DCN comes in each listening state (no DCN of ours: Rule 4)."""

RX_ON_T2: dict[RxState, T30Status | RxState] = {
    RxState.AWAIT_COMMAND_B: RxState.SEND_PHASE_B,   # DIS/DTC again, until T1 has run out
    RxState.AFTER_FTT: T30Status.RX_T2EXP,
    RxState.IMAGE_DUE: T30Status.RX_T2EXP,
    RxState.AWAIT_POST_PAGE: T30Status.RX_T2EXPD,    # T2 waiting for phase D
    RxState.AWAIT_PPS: T30Status.RX_T2EXPMPS,        # T2 waiting for the PPS
    RxState.AFTER_RTP_MPS: T30Status.RX_T2EXP,
    RxState.AFTER_RTN: T30Status.RX_T2EXP,
    RxState.AFTER_EOM: RxState.SEND_PHASE_B,         # phase B again: DIS, T1 restarts
    RxState.AFTER_EOP: T30Status.RX_T2EXPDCN,        # T2 waiting for the DCN
    RxState.AFTER_ERR: T30Status.RX_T2EXP,
    RxState.ECM_RR_WAIT: T30Status.RX_T2EXPRR,       # T2 waiting for RR
}
"""No command for T2 (RX_WAIT) in a listening state: a status (the call ends, with our
DCN) or the state to go to."""

RX_T1_RESTARTS = frozenset({RxState.AFTER_EOM})
"""Listening states whose T2 expiry starts a new phase B, with a new T1 (a phase B
entered from AWAIT_COMMAND_B goes on under the T1 it has, and ends at T1_EXPIRED)."""

RX_DIS_TRIES_END = T30Status.RETRYDCN
"""Our DIS/DTC sent ``max_tries`` times in one phase B without a DCS in answer: the
status, with our DCN (Decision 3)."""

RX_DIS_TRIES_RESET = frozenset({Do.TRAIN})
"""Reactions that show the far end heard our DIS/DTC: the count of RX_DIS_TRIES_END
starts again (so does a new phase B, RX_T1_RESTARTS)."""

RX_WAIT: dict[RxState, str] = {state: "t2" for state in LISTENING} | {
    # T.30's nominal T2 after EOM (TSB-85 MRGN09 expects the DIS 5 to 7 s after the
    # MCF), not our longer T2 plus the 75 ms gap.
    RxState.AFTER_EOM: "t2_eom",
}
"""The timer (an attribute of Timers) each listening state waits a command for."""

RX_INVALID: dict[bool | None, T30Status] = {
    None: T30Status.RX_INVALCMD,    # before the first DCS
    False: T30Status.RX_INVALCMD,   # T.4 mode
    True: T30Status.RX_ECMPHD,      # ECM mode
}
"""The status of Do.INVALID, by mode (the ``ecm`` of the last DCS)."""

# ---- the receiver: answers and where they lead ----------------------------------------

RX_AFTER_TCF: dict[bool, tuple[str, RxState]] = {
    True: ("CFR", RxState.RECEIVING_PAGE),   # a good TCF (a 1 s run of zeros)
    False: ("FTT", RxState.AFTER_FTT),       # bad or missing: FTT, the sender falls back
}
"""TCF good? -> (answer, next state). V.21 heard instead of the TCF: no answer, and the
receiver goes back to the state the DCS came in."""

RX_AFTER_IMAGE: dict[bool | None, RxState] = {
    False: RxState.AWAIT_POST_PAGE,   # T.4 page data, carrier gone
    True: RxState.AWAIT_PPS,          # an ECM block's frames, carrier gone
    None: RxState.IMAGE_DUE,          # V.21 was heard instead of the high-speed carrier
}
"""After RECEIVING_PAGE, by what arrived (the mode's ``ecm``, or None for V.21)."""

RX_POST_PAGE: dict[tuple[str, str], RxState] = {
    # (command, answer) -> next state; the answer is the page's quality (MCF, RTP or
    # RTN; RTN too when no page arrived), or our last answer again for a repeated command.
    ("MPS", "MCF"): RxState.RECEIVING_PAGE,
    ("MPS", "RTP"): RxState.AFTER_RTP_MPS,
    ("MPS", "RTN"): RxState.AFTER_RTN,
    ("EOM", "MCF"): RxState.AFTER_EOM,
    ("EOM", "RTP"): RxState.AFTER_EOM,       # Decision 2 (it was AFTER_RTP_MPS)
    ("EOM", "RTN"): RxState.AFTER_EOM,       # on to the next document (TSB-85 MTGN26)
    ("EOP", "MCF"): RxState.AFTER_EOP,
    ("EOP", "RTP"): RxState.AFTER_EOP,
    ("EOP", "RTN"): RxState.AFTER_RTN,
}
"""T.4 post-page command x answer sent -> the receiver's next state."""

RX_AFTER_PPS: dict[str, RxState] = {
    # FCF2 of the PPS that completed a block (answered MCF) -> next state
    "NULL": RxState.RECEIVING_PAGE,   # more blocks of this page
    "MPS": RxState.RECEIVING_PAGE,
    "EOM": RxState.AFTER_EOM,
    "EOP": RxState.AFTER_EOP,
}
"""A PPS whose block is complete (MCF sent): its FCF2 -> next state; any other FCF2
ends the call with RX_ECMPHD after the MCF."""

RX_AFTER_EOR: dict[str, RxState] = {
    # FCF2 of the EOR (answered ERR) -> next state
    "NULL": RxState.RECEIVING_PAGE,
    "MPS": RxState.RECEIVING_PAGE,
    "EOM": RxState.AFTER_ERR,
    "EOP": RxState.AFTER_ERR,
}
"""An EOR (ERR sent; the block kept with its gaps): its FCF2 -> next state. A page
ended by EOR is not a good page: after EOM/EOP the receiver does not go on as after
MCF, and a DCN then is a DCN while image data was due (RX_ON_DCN[AFTER_ERR])."""

RX_PPS_OTHER = T30Status.RX_ECMPHD
"""The status for a PPS or EOR whose FCF2 is not in RX_AFTER_PPS / RX_AFTER_EOR."""

RX_NO_IMAGE: dict[bool, T30Status] = {
    True: T30Status.RX_T2EXPFAX,    # no carrier for T2 before the first page
    False: T30Status.RX_T2EXPMPS,   # ... before a later page (or block)
}
"""RECEIVING_PAGE with no high-speed carrier for T2: first page? -> status."""

# ---- the transmitter ------------------------------------------------------------------


class TxGot(Enum):
    """What a response to one of the transmitter's commands means."""

    TRAINED = "CFR: send the page"
    FALL_BACK = "FTT: DCS and TCF again one speed lower"
    AGAIN = ("no valid response (none within T4, garbled, CRP): the command again (DCS "
             "with its TCF), at most max_tries times in all")
    NOT_HEARD = "DIS/DTC again: the far end did not hear our DCS; DCS and TCF again"
    MCF = "page good"
    RTP = "page good, retrain"
    RTN = "page bad, retrain"
    CONFIRMED = "block good (MCF, PIP)"
    RESEND_ASKED = "PPR: send the frames it lists again"
    RESEND_ALL = "PIN: send the whole block again"
    CONTINUE = "CTR: go on at the new speed, long training"
    CLOSED_WITH_ERRORS = "ERR: the block is closed with its gaps; DCN, RETRYDCN"
    NOT_READY = "RNR: the receiver is busy; poll it with RR (TX_NOT_READY)"


_AGAIN = {None: TxGot.AGAIN, "CRP": TxGot.AGAIN}   # Rule 5
_POST_PAGE_RESPONSES = {
    "MCF": TxGot.MCF, "PIP": TxGot.MCF,   # PIP: no operator, taken as MCF
    "RTP": TxGot.RTP,
    "RTN": TxGot.RTN, "PIN": TxGot.RTN,   # PIN: the page was not good
} | _AGAIN

TX_ON_RESPONSE: dict[str, dict[str | None, TxGot]] = {
    "DCS": {"CFR": TxGot.TRAINED, "FTT": TxGot.FALL_BACK,
            "DIS": TxGot.NOT_HEARD, "DTC": TxGot.NOT_HEARD} | _AGAIN,
    "MPS": _POST_PAGE_RESPONSES,
    "EOM": _POST_PAGE_RESPONSES,
    "EOP": _POST_PAGE_RESPONSES,
    "PPS": {"MCF": TxGot.CONFIRMED, "PIP": TxGot.CONFIRMED,
            "PPR": TxGot.RESEND_ASKED, "PIN": TxGot.RESEND_ALL,
            "RNR": TxGot.NOT_READY} | _AGAIN,
    "CTC": {"CTR": TxGot.CONTINUE, "RNR": TxGot.NOT_READY} | _AGAIN,
    "EOR": {"ERR": TxGot.CLOSED_WITH_ERRORS, "RNR": TxGot.NOT_READY} | _AGAIN,
}
"""Command sent -> response -> what it means. None: no valid response within T4 (none,
or garbled); with CRP it is AGAIN for every command (Rule 5). An RR (after RNR) stands
for the command it polls for: its response is that command's (Rule 6). A response not
listed ends the call with TX_UNEXPECTED, a DCN with TX_ON_DCN."""

TX_ON_DCN: dict[str, T30Status] = {
    "DCS": T30Status.TX_BADDCS,   # DCN in answer to DCS/TCF
    "MPS": T30Status.RX_DCNPHD,   # Decision 5: DCN where the next page was due
    "EOM": T30Status.RX_DCNPHD,   # ... where the next document was due
    "EOP": T30Status.TX_BADPG,    # DCN after the last page: the far end hung up on it
    "PPS": T30Status.TX_BADPG,
    "CTC": T30Status.TX_BADPG,    # Decision 1: as after PPS (it was TX_ECMPHD + our DCN)
    "EOR": T30Status.TX_BADPG,    # Decision 1
}
"""Command sent -> the status when a DCN answers it (no DCN of ours: Rule 4)."""

TX_DCN_FOR_DIS = T30Status.TX_GOTDCN
"""A DCN while the transmitter waits for DIS (the caller in phase A, or after EOM)."""

TX_UNEXPECTED: dict[str, T30Status] = {
    "DCS": T30Status.TX_BADDCS,
    "MPS": T30Status.TX_INVALRSP,
    "EOM": T30Status.TX_INVALRSP,
    "EOP": T30Status.TX_INVALRSP,
    "PPS": T30Status.TX_ECMPHD,
    "CTC": T30Status.TX_ECMPHD,
    "EOR": T30Status.TX_ECMPHD,
}
"""Command sent -> the status for a response TX_ON_RESPONSE does not list (our DCN)."""

TX_NO_RESPONSE: dict[str, T30Status] = {
    "DCS": T30Status.TX_PHBDEAD,
    "MPS": T30Status.TX_PHDDEAD,
    "EOM": T30Status.TX_PHDDEAD,
    "EOP": T30Status.TX_PHDDEAD,
    "PPS": T30Status.TX_PHDDEAD,
    "CTC": T30Status.TX_PHDDEAD,
    "EOR": T30Status.TX_PHDDEAD,
    "RR": T30Status.TX_PHDDEAD,
}
"""Command sent -> the status when ``max_tries`` of it got no valid response (AGAIN). RNR
for longer than T5 (the receiver never ready) is TX_NOT_READY's."""


@dataclass(frozen=True)
class Poll:
    command: str        # what polls the receiver
    timer: str          # an attribute of Timers: how long, from the first RNR
    status: T30Status   # the status when it runs out (with our DCN)


TX_NOT_READY = Poll("RR", "t5", T30Status.TX_T5EXP)
"""TxGot.NOT_READY (RNR): poll with RR while the answer is RNR, for at most T5 from the
first RNR, then TX_T5EXP (Rule 6; T.30 Annex A)."""

TX_DCS_TRIES_END: dict[TxGot, T30Status] = {
    TxGot.AGAIN: TX_NO_RESPONSE["DCS"],   # no valid response to the last DCS: TX_PHBDEAD
    TxGot.NOT_HEARD: T30Status.RETRYDCN,  # Decision 6: the far end answered, with DIS
}
"""The ``max_tries``-th DCS/TCF without CFR or FTT: the status, by what the last one got
(our DCN follows)."""


class Then(Enum):
    """Where the transmitter goes after the answer to a post-page command."""

    NEXT_PAGE = "the next page"
    SAME_PAGE = "the same page again (at most max_rtn times, then RETRYDCN)"
    AWAIT_DIS = "wait for DIS: phase B, a fresh negotiation for the next document"
    RELEASE = "DCN, phase E"


@dataclass(frozen=True)
class AfterPost:
    counts_as: str | None   # "sent", "rejected" (not sent again), or None (sent again)
    fall_back: bool         # DCS and TCF one speed lower before the next page
    then: Then


TX_AFTER_POST: dict[tuple[str, TxGot], AfterPost] = {
    ("MPS", TxGot.MCF): AfterPost("sent", False, Then.NEXT_PAGE),
    ("MPS", TxGot.RTP): AfterPost("sent", True, Then.NEXT_PAGE),
    ("MPS", TxGot.RTN): AfterPost(None, True, Then.SAME_PAGE),         # TSB-85 MTGN27
    ("EOM", TxGot.MCF): AfterPost("sent", False, Then.AWAIT_DIS),
    ("EOM", TxGot.RTP): AfterPost("sent", False, Then.AWAIT_DIS),
    ("EOM", TxGot.RTN): AfterPost("rejected", False, Then.AWAIT_DIS),  # TSB-85 MTGN26
    ("EOP", TxGot.MCF): AfterPost("sent", False, Then.RELEASE),
    ("EOP", TxGot.RTP): AfterPost("sent", False, Then.RELEASE),
    ("EOP", TxGot.RTN): AfterPost("rejected", False, Then.RELEASE),    # TSB-85 MTGN28
}
"""(post-page command, its answer) -> what the transmitter does. The retraining after
RTP/RTN to MPS goes one speed lower (as spandsp); after EOM the next DIS starts a new
negotiation, so there is nothing to fall back from. An ECM page's answer is always MCF
(blocks are answered one by one)."""
