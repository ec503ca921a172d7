"""The engine does what faxcore/t30/rules.py says: every entry of its tables is walked here.

Receiver: an engine is started in each listening state (T30Engine.start with a state:
the receiving procedure is entered there, with a mode and what it has received), given one command (or nothing until
its timer runs out), and its reaction is checked against RX_ON_COMMAND, RX_ON_DCN,
RX_ON_T2, RX_WAIT, RX_POST_PAGE, RX_AFTER_PPS/EOR, RX_AFTER_TCF and RX_AFTER_IMAGE.
Transmitter: a caller is driven through its public API by a scripted far end up to each
command, and every response in TX_ON_RESPONSE, a DCN (TX_ON_DCN), an unexpected response
(TX_UNEXPECTED) and silence (TX_NO_RESPONSE) are checked, with TX_AFTER_POST for the
post-page answers. Change a table entry and the test follows it; change the engine
alone and the test fails."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import encode
from faxcore.t30 import T30Config, T30Engine, T30Status, TxPage
from faxcore.t30 import ecm as ecm_mod
from faxcore.t30.dis import Capabilities, DCSParams, ctc_fif, fallback_order
from faxcore.t30.frames import Frame, fcf_value, pps_fif
from faxcore.t30.loopback import Faults, Loopback
from faxcore.t30.modem_if import (
    V27_2400,
    V27_4800,
    CarrierDown,
    CarrierUp,
    FrameReceived,
    LineDropped,
    ReceiveData,
    ReceiveHDLC,
    SendData,
    SendHDLC,
    WrongCarrier,
)
from faxcore.t30.pages import judge_page
from faxcore.t30.receiver import RxContext
from faxcore.t30.rules import (
    LISTENING,
    ON_LINE_DROPPED,
    PHASE,
    RX_AFTER_EOR,
    RX_AFTER_IMAGE,
    RX_AFTER_PPS,
    RX_AFTER_TCF,
    RX_COLUMNS,
    RX_DIS_TRIES_END,
    RX_DIS_TRIES_RESET,
    RX_INVALID,
    RX_NO_IMAGE,
    RX_ON_COMMAND,
    RX_ON_DCN,
    RX_ON_T2,
    RX_POST_PAGE,
    RX_T1_RESTARTS,
    RX_WAIT,
    TX_AFTER_POST,
    TX_DCS_TRIES_END,
    TX_NO_RESPONSE,
    TX_NOT_READY,
    TX_ON_DCN,
    TX_ON_RESPONSE,
    TX_UNEXPECTED,
    CallState,
    Cmd,
    Do,
    RxState,
    Then,
    TxGot,
    TxState,
    classify,
)
from faxcore.testing.engines import NOTHING, Played, frame, play
from faxcore.testing.pages import mh_with_bad_rows

PAGE = np.zeros((60, 1728), np.uint8)
PAGE[10:30, 200:900] = 1
PAGE[35:50, 1000:1500] = 1
BUSY = PAGE.copy()   # compresses badly: an ECM block of several frames
BUSY[:, :300] = np.random.default_rng(5).integers(0, 2, (60, 300))

# ---- the receiver -----------------------------------------------------------------------

T4_DCS = DCSParams(modulation=V27_4800, scheme="mh", ecm=False, resolution="standard")
ECM_DCS = DCSParams(modulation=V27_4800, scheme="mr", ecm=True, resolution="standard")


def rx_engine(state: RxState, ecm: bool | None, calling: bool = False,
              **ctx) -> tuple[T30Engine, RxContext]:
    """An engine whose receiving procedure starts in ``state`` (T30Engine.start with a
    state), in T.4 (``ecm`` False) or ECM mode, or before any DCS (None), T1 far off;
    ``ctx``: what it has received and remembers (start's page_data, ecm_frames and
    RxContext fields). An answering station has a page to offer for polling; a calling
    one polls. Returns the engine and the receiver's memory (T30Engine.receiving)."""
    if calling:
        cfg = T30Config(calling=True, poll=True, modems=("v27ter",))
    else:
        cfg = T30Config(calling=False, pages=[TxPage(PAGE, "standard")], modems=("v27ter",))
    eng = T30Engine(cfg)
    mode = None if ecm is None else ECM_DCS if ecm else T4_DCS
    eng.start(0.0, state, mode=mode, **{"t1": 500.0, **ctx})
    return eng, eng.receiving


def test_start_in_a_state_refuses_what_the_receiver_cannot_be_in():
    """T30Engine.start with a state: only SEND_PHASE_B, RECEIVING_PAGE and the listening
    states, with what they need (a mode to receive a page in, page data of that mode),
    and TxState.TRAINING with the far end's capabilities."""
    def start(state, **kw):
        T30Engine(T30Config(calling=False)).start(0.0, state, **kw)

    for state, kw in [(RxState.RECEIVING_TCF, {}), (TxState.TRAINING, {}),
                      (TxState.POST_PAGE, {"remote": Capabilities()}),
                      (RxState.AFTER_EOP, {"remote": Capabilities()}),
                      (TxState.TRAINING, {"remote": Capabilities(), "mode": T4_DCS}),
                      (RxState.RECEIVING_PAGE, {}),
                      (RxState.AWAIT_POST_PAGE, {"page_data": b"x", "mode": ECM_DCS}),
                      (RxState.AWAIT_PPS, {"ecm_frames": ecm_block(), "mode": T4_DCS}),
                      (None, {"mode": T4_DCS})]:
        with pytest.raises(ValueError):
            start(state, **kw)
    with pytest.raises(TypeError):
        start(RxState.AFTER_EOP, no_such_field=1)


# One command frame per column, and the mode it is sent in (Rule 3).
def column_frame(col: Cmd) -> bytes:
    return {
        Cmd.DCS: frame("DCS", T4_DCS.to_fif(), x=True),
        Cmd.DIS_DTC_FROM_CALLER: frame("DIS", Capabilities(modems=frozenset({"v27ter"}))
                                       .to_fif()),
        Cmd.DIS_DTC_FROM_CALLED: frame("DIS", Capabilities(modems=frozenset({"v27ter"}))
                                       .to_fif()),
        Cmd.DCN: frame("DCN"),
        Cmd.POST_PAGE: frame("MPS"),
        Cmd.PPS: frame("PPS", pps_fif(0, 0, 0, 1)),
        Cmd.RR: frame("RR"),
        Cmd.EOR: frame("EOR", bytes((0,))),
        Cmd.CTC: frame("CTC", ctc_fif(ECM_DCS.with_modulation(V27_2400))),
        Cmd.CRP: frame("CRP"),
        Cmd.BEFORE_DCS: frame("MPS"),
        Cmd.OTHER: frame("FTT"),
    }[col]


MODES: dict[Cmd, tuple[bool | None, ...]] = {
    Cmd.DCS: (False, True), Cmd.DIS_DTC_FROM_CALLER: (False, True),
    Cmd.DIS_DTC_FROM_CALLED: (False, True), Cmd.DCN: (False, True),
    Cmd.POST_PAGE: (False,), Cmd.PPS: (True,), Cmd.RR: (True,), Cmd.EOR: (True,),
    Cmd.CTC: (True,), Cmd.CRP: (False, True), Cmd.BEFORE_DCS: (None,),
    Cmd.OTHER: (False, True),
}

PAIRS = [(s, c, m) for s in LISTENING for c in RX_COLUMNS for m in MODES[c]]


def test_tables_cover_every_state_and_command():
    assert set(RX_ON_COMMAND) == set(LISTENING) == set(RX_ON_DCN) == set(RX_ON_T2)
    assert set(RX_WAIT) == set(LISTENING)
    assert set(LISTENING) | {RxState.SEND_PHASE_B, RxState.RECEIVING_TCF,
                             RxState.RECEIVING_PAGE} == set(RxState)
    for row in RX_ON_COMMAND.values():
        assert set(row) == set(Cmd)
    assert set(PHASE) == set(RxState) | set(TxState) | set(CallState)
    assert {(p, a) for p in ("MPS", "EOM", "EOP") for a in ("MCF", "RTP", "RTN")} \
        == set(RX_POST_PAGE)
    assert set(TX_ON_DCN) == set(TX_UNEXPECTED) == set(TX_ON_RESPONSE)  # Rule 4: no gap
    assert set(TX_NO_RESPONSE) == set(TX_ON_RESPONSE) | {TX_NOT_READY.command}
    for command, row in TX_ON_RESPONSE.items():
        assert row[None] is row["CRP"] is TxGot.AGAIN   # Rule 5
        assert (row.get("RNR") is TxGot.NOT_READY) == (command in ("PPS", "CTC", "EOR"))
    assert set(TX_AFTER_POST) == {(p, g) for p in ("MPS", "EOM", "EOP")
                                  for g in (TxGot.MCF, TxGot.RTP, TxGot.RTN)}


@pytest.mark.parametrize("state,col,ecm", PAIRS,
                         ids=[f"{s.name}-{c.name}-{m}" for s, c, m in PAIRS])
def test_receiver_does_what_rx_on_command_says(state, col, ecm):
    calling = col is Cmd.DIS_DTC_FROM_CALLED
    ctx = {"last_post": ("EOM", "RTP")}   # CRP (T.4) repeats RTP; MPS gets RTN (no page)
    if ecm:
        ctx["last_resp"] = Frame.build("PPR", ecm_mod.ppr_map({7}), x=False)
    eng, rx = rx_engine(state, ecm, calling=calling, **ctx)
    assert eng.state is state
    assert eng.next_deadline == getattr(eng.cfg.timers, RX_WAIT[state])
    data = column_frame(col)
    assert classify(Frame.parse(data).name, ecm, calling) is col
    got = play(eng, [[data]])
    do = RX_ON_COMMAND[state][col]
    if do is Do.TRAIN:
        assert got.names == [] and eng.state is RxState.RECEIVING_TCF
        assert isinstance(got.waiting, ReceiveData) and not got.waiting.hdlc
    elif do is Do.TRANSMIT:
        assert eng.state is TxState.TRAINING and got.names[-1] == "DCS"
    elif do is Do.DIS_AGAIN:
        assert got.names == [f.name for f in rx.pb_frames]
        assert eng.state is RxState.SEND_PHASE_B
    elif do is Do.DCN:
        assert eng.done and eng.result.status == RX_ON_DCN[state]
        assert got.names == []   # a DCN is never answered with DCN
    elif do is Do.ANSWER_PAGE:
        assert got.names == ["RTN"] and eng.state is RX_POST_PAGE[("MPS", "RTN")]
    elif do is Do.ANSWER_PPS:
        assert got.names == ["PPR"] and eng.state is RxState.RECEIVING_PAGE
    elif do is Do.ANSWER_RR:
        assert [f.to_bytes() for f in got.sent] == [rx.last_resp.to_bytes()]
        assert eng.state is state
    elif do is Do.ANSWER_EOR:
        assert got.names == ["ERR"] and eng.state is RX_AFTER_EOR["NULL"]
    elif do is Do.ANSWER_CTC:
        assert got.names == ["CTR"] and eng.state is RxState.RECEIVING_PAGE
        assert eng.result.bit_rate == 2400
        assert isinstance(got.waiting, ReceiveData) and not got.waiting.short_train
    elif do is Do.REPEAT:
        assert got.names == (["PPR"] if ecm else ["RTP"]) and eng.state is state
    elif do is Do.IGNORE:
        assert got.names == [] and eng.state is state
        assert isinstance(got.waiting, ReceiveHDLC)
    elif do is Do.INVALID:
        assert eng.done and eng.result.status == RX_INVALID[ecm]
        assert got.names == ["DCN"]
    else:  # pragma: no cover - a new reaction needs its check here
        raise AssertionError(do)


@pytest.mark.parametrize("state", LISTENING, ids=[s.name for s in LISTENING])
@pytest.mark.parametrize("t1_over", [False, True])
def test_receiver_does_what_rx_on_t2_says(state, t1_over):
    eng, rx = rx_engine(state, False, **({"t1": 0.0} if t1_over else {}))
    got = play(eng, [NOTHING])
    then = RX_ON_T2[state]
    if isinstance(then, T30Status):
        assert eng.done and eng.result.status == then and got.names == ["DCN"]
    elif t1_over and state not in RX_T1_RESTARTS:
        assert eng.done and eng.result.status == T30Status.T1_EXPIRED and got.names == []
    else:
        assert then is RxState.SEND_PHASE_B and eng.state is then
        assert got.names == [f.name for f in rx.pb_frames]
        timers = eng.cfg.timers
        expired = getattr(timers, RX_WAIT[state])   # T2 ran out at this time
        assert rx.t1 == (expired + timers.t1 if state in RX_T1_RESTARTS else 500.0)


@pytest.mark.parametrize("calling", [False, True], ids=["DIS", "DTC"])
def test_receiver_gives_up_as_rx_dis_tries_end_says(calling):
    """Nothing answers our DIS (or the DTC of a polling caller): it goes out max_tries
    times, then our DCN and RX_DIS_TRIES_END (Decision 3)."""
    eng, rx = rx_engine(RxState.SEND_PHASE_B, None, calling=calling)
    got = play(eng, [], to_end=True)
    pb = rx.pb_frames[-1].name
    assert got.names == [pb] * eng.cfg.max_tries + ["DCN"]
    assert eng.result.status == RX_DIS_TRIES_END


@pytest.mark.parametrize("do", sorted(RX_DIS_TRIES_RESET, key=lambda d: d.name))
def test_rx_dis_tries_reset_starts_the_count_again(do):
    """max_tries - 1 DIS unanswered, the last one answered by a command whose reaction is
    in RX_DIS_TRIES_RESET; back in phase B (V.21 where the TCF was due, then T2) the DIS
    has max_tries tries again."""
    assert do is Do.TRAIN   # a new entry needs its own way back to phase B here
    eng, rx = rx_engine(RxState.SEND_PHASE_B, None)
    tries = eng.cfg.max_tries
    got = play(eng, [NOTHING] * (tries - 1) + [[column_frame(Cmd.DCS)], WrongCarrier],
               to_end=True)
    assert got.names == ["DIS"] * (2 * tries) + ["DCN"]
    assert eng.result.status == RX_DIS_TRIES_END


@pytest.mark.parametrize("state", LISTENING, ids=[s.name for s in LISTENING])
def test_receiver_line_dropped_as_on_line_dropped_says(state):
    """The line drops in a listening state: ON_LINE_DROPPED's status (CALLDROPPED if
    the state is not listed), never a DCN of ours."""
    eng, rx = rx_engine(state, False)
    eng.commands()
    eng.handle_event(LineDropped(), 1.0)
    assert eng.done and eng.result.status == ON_LINE_DROPPED.get(state, T30Status.CALLDROPPED)
    assert not any(isinstance(c, SendHDLC) for c in eng.commands())


def test_transmitter_line_dropped_in_release_as_on_line_dropped_says():
    """MCF to EOP, then the line drops while our DCN goes out: ON_LINE_DROPPED[RELEASE]."""
    eng = tx_engine([TxPage(PAGE, "standard")], ecm=False, modems=("v27ter",))
    play(eng, [[dis()], [frame("CFR")]])
    for ev in (CarrierUp(), FrameReceived(frame("MCF")), CarrierDown()):
        eng.handle_event(ev, eng.now + 0.05)
    assert eng.state is CallState.RELEASE and not eng.done
    eng.handle_event(LineDropped(), eng.now + 0.05)
    assert eng.done and eng.result.status == ON_LINE_DROPPED[CallState.RELEASE]


PAGES_BY_QUALITY = {"MCF": set(), "RTP": {5, 15, 25, 40, 50}, "RTN": set(range(10, 30))}


@pytest.mark.parametrize("post,answer", sorted(RX_POST_PAGE))
def test_receiver_does_what_rx_post_page_says(post, answer):
    data = mh_with_bad_rows(PAGE, PAGES_BY_QUALITY[answer])
    eng, rx = rx_engine(RxState.AWAIT_POST_PAGE, False, page_data=data)
    assert judge_page(data, T4_DCS, eng.cfg).quality == answer
    got = play(eng, [[frame(post)]])
    assert got.names == [answer] and eng.state is RX_POST_PAGE[(post, answer)]
    assert len(eng.received_pages) == (answer != "RTN")


def ecm_block() -> tuple[bytes, ...]:
    data = bytes(encode(PAGE, "mr", k=2, end_marker=True, lsb_first=True))
    (block,) = ecm_mod.split_page(data, 256)
    return ecm_mod.block_burst(block, range(len(block)))


@pytest.mark.parametrize("table,command", [(RX_AFTER_PPS, "PPS"), (RX_AFTER_EOR, "EOR")])
def test_receiver_does_what_rx_after_pps_and_eor_say(table, command):
    for post, then in table.items():
        burst = ecm_block()
        n = sum(f[2] == 0x06 for f in burst)
        eng, rx = rx_engine(RxState.AWAIT_PPS, True, ecm_frames=burst, last_count=n)
        fcf2 = 0 if post == "NULL" else fcf_value(post, False)
        fif = pps_fif(fcf2, 0, 0, n) if command == "PPS" else bytes((fcf2,))
        got = play(eng, [[frame(command, fif)]])
        assert got.names == ["MCF" if command == "PPS" else "ERR"], post
        assert eng.state is then, post
        assert len(eng.received_pages) == (post != "NULL")


@pytest.mark.parametrize("tcf", ["good", "bad", "v21"])
def test_receiver_does_what_rx_after_tcf_says(tcf):
    eng, rx = rx_engine(RxState.AWAIT_COMMAND_B, None)
    item = {"good": bytes(1000), "bad": b"\x55" * 1000, "v21": WrongCarrier}[tcf]
    got = play(eng, [[frame("DCS", T4_DCS.to_fif(), x=True)], item])
    if tcf == "v21":
        assert got.names == [] and eng.state is RxState.AWAIT_COMMAND_B
    else:
        answer, then = RX_AFTER_TCF[tcf == "good"]
        assert got.names == [answer] and eng.state is then


@pytest.mark.parametrize("what", ["t4", "ecm", "v21"])
def test_receiver_does_what_rx_after_image_says(what):
    eng, rx = rx_engine(RxState.RECEIVING_PAGE, what == "ecm")
    item = {"t4": bytes(encode(PAGE, "mh", lsb_first=True)), "ecm": ecm_block(),
            "v21": WrongCarrier}[what]
    got = play(eng, [item])
    assert eng.state is RX_AFTER_IMAGE[None if what == "v21" else what == "ecm"]
    assert got.names == [] and isinstance(got.waiting, ReceiveHDLC)


@pytest.mark.parametrize("first", [True, False])
def test_receiver_does_what_rx_no_image_says(first):
    eng, rx = rx_engine(RxState.RECEIVING_PAGE, False, first_page=first)
    got = play(eng, [NOTHING])
    assert eng.result.status == RX_NO_IMAGE[first] and got.names == ["DCN"]


# ---- the transmitter --------------------------------------------------------------------

def dis(ecm: bool = False, modems=("v27ter",)) -> bytes:
    return frame("DIS", Capabilities(modems=frozenset(modems), ecm=ecm).to_fif())


def tx_engine(pages, **cfg) -> T30Engine:
    eng = T30Engine(T30Config(calling=True, pages=pages, **cfg))
    eng.start(0.0)
    return eng


def last_dcs(got: Played) -> DCSParams:
    return DCSParams.from_fif([f for f in got.sent if f.name == "DCS"][-1].fif)


OTHER_RESPONSE = "CSI"   # no command's response table lists it


def answer(resp: str | None, fif: bytes = b""):
    """The far end's answer ``resp`` as a script item: None is silence (T4 runs out)."""
    return NOTHING if resp is None else [frame(resp, fif)]


def test_transmitter_started_in_training_does_what_a_caller_does_after_dis():
    """T30Engine.start(now, TxState.TRAINING, remote=caps): no phase A; the DCS and TCF
    go out at once, and from there the call is the one a caller has after that DIS."""
    caps = Capabilities(modems=frozenset({"v29", "v27ter"}))
    eng = T30Engine(T30Config(calling=True, pages=[TxPage(PAGE, "standard")],
                              modems=("v29", "v27ter"), ecm=False))
    eng.start(0.0, TxState.TRAINING, remote=caps)
    assert eng.state is TxState.TRAINING and eng.receiving is None
    got = play(eng, [[frame("FTT")], [frame("CFR")], [frame("MCF")]], to_end=True)
    whole = play(tx_engine([TxPage(PAGE, "standard")], modems=("v29", "v27ter"), ecm=False),
                 [[frame("DIS", caps.to_fif())], [frame("FTT")], [frame("CFR")],
                  [frame("MCF")]], to_end=True)
    assert got.names == whole.names == ["DCS", "DCS", "EOP", "DCN"]
    assert [f.to_bytes() for f in got.sent] == [f.to_bytes() for f in whole.sent]
    assert eng.result.ok and eng.result.pages_sent == 1


@pytest.mark.parametrize("resp", [*TX_ON_RESPONSE["DCS"], "DCN", OTHER_RESPONSE])
def test_transmitter_answers_to_dcs(resp):
    eng = tx_engine([TxPage(PAGE, "standard")], modems=("v29", "v27ter"))
    item = NOTHING if resp is None else [frame(resp)]
    got = play(eng, [[dis(modems=("v29", "v27ter"))], item])
    first = DCSParams.from_fif(got.sent[0].fif).modulation
    mods = fallback_order(("v29", "v27ter"))
    if resp == "DCN":
        assert eng.result.status == TX_ON_DCN["DCS"] and got.names == ["DCS"]
        return
    if resp == OTHER_RESPONSE:
        assert eng.result.status == TX_UNEXPECTED["DCS"] and got.names == ["DCS", "DCN"]
        return
    what = TX_ON_RESPONSE["DCS"][resp]
    if what is TxGot.TRAINED:
        assert eng.state is TxState.POST_PAGE and got.names == ["DCS", "EOP"]
        assert any(isinstance(c, SendData) and not c.long_training for c in got.log)
    else:
        assert eng.state is TxState.TRAINING and got.names == ["DCS", "DCS"]
        step = 1 if what is TxGot.FALL_BACK else 0
        assert last_dcs(got).modulation == mods[mods.index(first) + step]


POST_PAGES = {
    "MPS": [TxPage(PAGE, "standard"), TxPage(PAGE, "standard")],
    "EOM": [TxPage(PAGE, "standard"), TxPage(PAGE, "standard", new_document=True)],
    "EOP": [TxPage(PAGE, "standard")],
}


@pytest.mark.parametrize("post,resp", [(p, r) for p in POST_PAGES
                                       for r in [*TX_ON_RESPONSE[p], "DCN", OTHER_RESPONSE]])
def test_transmitter_answers_to_post_page_commands(post, resp):
    modems = ("v29", "v27ter")
    eng = tx_engine(POST_PAGES[post], modems=modems, ecm=False)
    script = [[dis(modems=modems)], [frame("CFR")], answer(resp)]
    if resp == "DCN":
        got = play(eng, script)
        assert eng.result.status == TX_ON_DCN[post] and got.names == ["DCS", post]
        return
    if resp == OTHER_RESPONSE:
        got = play(eng, script)
        assert eng.result.status == TX_UNEXPECTED[post]
        assert got.names == ["DCS", post, "DCN"]
        return
    if TX_ON_RESPONSE[post][resp] is TxGot.AGAIN:   # the command again, nothing else
        got = play(eng, script)
        assert got.names == ["DCS", post, post] and eng.state is TxState.POST_PAGE
        assert eng.result.pages_sent == 0
        return
    after = TX_AFTER_POST[(post, TX_ON_RESPONSE[post][resp])]
    got = play(eng, script)
    r = eng.result
    assert (r.pages_sent, r.pages_rejected) == {"sent": (1, 0), "rejected": (0, 1),
                                                None: (0, 0)}[after.counts_as]
    first = DCSParams.from_fif(got.sent[0].fif).modulation
    if after.then is Then.RELEASE:
        assert eng.done and r.status == T30Status.OK and got.names[-1] == "DCN"
        return
    if after.then is Then.AWAIT_DIS:
        assert eng.state is TxState.AWAIT_DIS and got.names == ["DCS", post]
        got = play(eng, [[dis(modems=modems)]], waiting=got.waiting)
        assert got.names == ["DCS"] and last_dcs(got).modulation == first  # renegotiated
        return
    # The next page, or the same one again: after a DCS one speed lower if fall_back.
    if after.fall_back:
        mods = fallback_order(modems)
        assert got.names == ["DCS", post, "DCS"] and eng.state is TxState.TRAINING
        assert last_dcs(got).modulation == mods[mods.index(first) + 1]
        got = play(eng, [[frame("CFR")]], waiting=got.waiting)
    # The page that follows ends with MPS if it is the same page again, else EOP.
    assert got.names[-1] == ("MPS" if after.then is Then.SAME_PAGE else "EOP")
    assert eng.state is TxState.POST_PAGE


ECM_CFG = dict(ecm=True, modems=("v27ter",), ecm_frame_size=64)


def fcd_count(cmd: SendData) -> int:
    return sum(f[2] == 0x06 for f in cmd.frames)


def bursts(got: Played) -> list[SendData]:
    return [c for c in got.log if isinstance(c, SendData) and c.frames]


@pytest.mark.parametrize("resp", [*TX_ON_RESPONSE["PPS"], "DCN", OTHER_RESPONSE])
def test_transmitter_answers_to_pps(resp):
    eng = tx_engine([TxPage(BUSY, "standard")], **ECM_CFG)
    fif = ecm_mod.ppr_map({1}) if resp == "PPR" else b""
    got = play(eng, [[dis(True)], [frame("CFR")], answer(resp, fif)])
    n = fcd_count(bursts(got)[0])
    assert 2 < n < 256
    if resp == "DCN":
        assert eng.result.status == TX_ON_DCN["PPS"] and got.names == ["DCS", "PPS"]
        return
    if resp == OTHER_RESPONSE:
        assert eng.result.status == TX_UNEXPECTED["PPS"] and got.names[-1] == "DCN"
        return
    what = TX_ON_RESPONSE["PPS"][resp]
    if what in (TxGot.AGAIN, TxGot.NOT_READY):   # the PPS again, or RR: no new burst
        assert got.names == ["DCS", "PPS", "PPS" if what is TxGot.AGAIN else "RR"]
        assert len(bursts(got)) == 1 and eng.state is TxState.POST_PAGE
        return
    if what is TxGot.CONFIRMED:   # the one block was the page: EOP follows
        assert got.names == ["DCS", "PPS", "DCN"] and eng.result.status == T30Status.OK
        return
    assert eng.state is TxState.POST_PAGE and got.names == ["DCS", "PPS", "PPS"]
    resent = fcd_count(bursts(got)[1])
    assert resent == (1 if what is TxGot.RESEND_ASKED else n)


def to_ctc():
    """Up to the CTC: PPR after the first burst, with ppr_limit 1."""
    eng = tx_engine([TxPage(PAGE, "standard")], ppr_limit=1, **ECM_CFG)
    return eng, [[dis(True)], [frame("CFR")], [frame("PPR", ecm_mod.ppr_map({0}))]]


def to_eor():
    """Up to the EOR: CTC to 2400 bit/s (there is nothing lower), then PPR again."""
    eng, script = to_ctc()
    return eng, script + [[frame("CTR")], [frame("PPR", ecm_mod.ppr_map({0}))]]


@pytest.mark.parametrize("command,resp", [(c, r) for c in ("CTC", "EOR")
                                          for r in [*TX_ON_RESPONSE[c], "DCN",
                                                    OTHER_RESPONSE]])
def test_transmitter_answers_to_ctc_and_eor(command, resp):
    eng, script = to_ctc() if command == "CTC" else to_eor()
    got = play(eng, script + [answer(resp)])
    assert command in got.names
    if resp == "DCN":
        assert eng.result.status == TX_ON_DCN[command] and got.names[-1] == command
        return
    if resp not in TX_ON_RESPONSE[command]:
        assert eng.result.status == TX_UNEXPECTED[command] and got.names[-1] == "DCN"
        return
    what = TX_ON_RESPONSE[command][resp]
    if what in (TxGot.AGAIN, TxGot.NOT_READY):   # the command again, or RR
        assert got.names[-2:] == [command, command if what is TxGot.AGAIN else "RR"]
        assert eng.state is TxState.POST_PAGE and not eng.done
        return
    if what is TxGot.CONTINUE:
        assert eng.state is TxState.POST_PAGE and eng.result.bit_rate == 2400
        assert bursts(got)[-1].long_training and got.names[-1] == "PPS"
    else:
        assert what is TxGot.CLOSED_WITH_ERRORS
        assert eng.result.status == T30Status.RETRYDCN and got.names[-1] == "DCN"


@pytest.mark.parametrize("command", sorted(TX_NO_RESPONSE))
def test_transmitter_gives_up_as_tx_no_response_says(command):
    if command in ("DCS", "MPS", "EOM", "EOP"):
        eng = tx_engine(POST_PAGES["EOP" if command == "DCS" else command], ecm=False,
                        modems=("v27ter",))
        script = [[dis()]] + ([] if command == "DCS" else [[frame("CFR")]])
    elif command == "PPS":
        eng, script = tx_engine([TxPage(PAGE, "standard")], **ECM_CFG), [[dis(True)],
                                                                         [frame("CFR")]]
    elif command == "RR":
        eng = tx_engine([TxPage(PAGE, "standard")], **ECM_CFG)
        script = [[dis(True)], [frame("CFR")], [frame("RNR")]]
    else:
        eng, script = to_ctc() if command == "CTC" else to_eor()
    got = play(eng, script, to_end=True)
    assert eng.result.status == TX_NO_RESPONSE[command]
    assert got.names[-eng.cfg.max_tries - 1:] == [command] * eng.cfg.max_tries + ["DCN"]


@pytest.mark.parametrize("got", sorted(TX_DCS_TRIES_END, key=lambda g: g.name))
def test_transmitter_gives_up_training_as_tx_dcs_tries_end_says(got):
    """Every DCS/TCF answered the way that means ``got`` (a response TX_ON_RESPONSE
    lists for it, or silence for None): max_tries of them, then our DCN and the status
    TX_DCS_TRIES_END gives."""
    resp = next(r for r, g in TX_ON_RESPONSE["DCS"].items() if g is got)
    eng = tx_engine([TxPage(PAGE, "standard")], ecm=False, modems=("v27ter",))
    answer = NOTHING if resp is None else [frame(resp)]
    played = play(eng, [[dis()]] + [answer] * eng.cfg.max_tries, to_end=True)
    assert played.names == ["DCS"] * eng.cfg.max_tries + ["DCN"]
    assert eng.result.status == TX_DCS_TRIES_END[got]


@pytest.mark.parametrize("command", ["PPS", "CTC", "EOR"])
def test_transmitter_polls_a_busy_receiver_until_t5(command):
    """RNR in answer to an ECM command, and to every RR after it: the transmitter polls
    as TX_NOT_READY says (RR until T5 from the first RNR, then TX_T5EXP with our DCN)."""
    if command == "PPS":
        eng = tx_engine([TxPage(PAGE, "standard")], **ECM_CFG)
        script = [[dis(True)], [frame("CFR")]]
    else:
        eng, script = to_ctc() if command == "CTC" else to_eor()
    got = play(eng, script + [[frame("RNR")]] * 2000, to_end=True)
    assert TX_ON_RESPONSE[command]["RNR"] is TxGot.NOT_READY
    assert eng.result.status == TX_NOT_READY.status
    last = len(got.names) - 1 - got.names[::-1].index(command)
    polls = got.names[last + 1:]
    assert polls[-1] == "DCN" and set(polls[:-1]) == {TX_NOT_READY.command}
    # polled for T5 (an RR round takes 0.2 s in play), not given up after max_tries
    assert len(polls) - 1 > getattr(eng.cfg.timers, TX_NOT_READY.timer) / 0.25


def test_rr_stands_for_the_command_it_polls_for():
    """RNR to PPS, then RR: the response to RR is taken as the PPS's (MCF: done)."""
    eng = tx_engine([TxPage(PAGE, "standard")], **ECM_CFG)
    got = play(eng, [[dis(True)], [frame("CFR")], [frame("RNR")], [frame("MCF")]])
    assert got.names == ["DCS", "PPS", "RR", "DCN"] and eng.result.status == T30Status.OK


# ---- the two settled asymmetries (rules.py, Decisions 1 and 2) ---------------------------

@pytest.mark.parametrize("command", ["CTC", "EOR"])
def test_dcn_answering_ctc_or_eor_is_a_dcn_after_a_page(command):
    """Decision 1: a DCN in answer to CTC or EOR ends the call as a DCN after PPS does,
    TX_BADPG, and is not answered with a DCN of ours."""
    eng, script = to_ctc() if command == "CTC" else to_eor()
    got = play(eng, script + [[frame("DCN")]])
    assert eng.result.status == T30Status.TX_BADPG
    assert got.names[-1] == command and "DCN" not in got.names


def test_rtp_to_eom_returns_to_phase_b():
    """Decision 2: RTP in answer to EOM takes the receiver back to phase B, as MCF and
    RTN do: the transmitter waits for a DIS after any answer to EOM, gets it after T2,
    and sends the next document. faxcore to faxcore over the simulated line, the first
    page damaged (5 of 60 rows) so that it gets RTP."""
    damaged = mh_with_bad_rows(PAGE, PAGES_BY_QUALITY["RTP"])   # PAGE, 5 rows damaged
    hit = []

    def data(sender, cmd, d):
        if sender == "caller" and not cmd.long_training and not hit:  # page 1, not TCF
            hit.append(1)
            assert len(d) >= len(damaged)   # the line carries as many octets as were sent
            return damaged + bytes(len(d) - len(damaged))   # fill after RTC
        return d

    pages = [TxPage(BUSY, "standard"), TxPage(PAGE, "standard", new_document=True)]
    a = T30Engine(T30Config(calling=True, pages=pages, ecm=False, schemes=("mh",)))
    b = T30Engine(T30Config(calling=False))
    Loopback(a, b, Faults(data=data)).run(600.0)
    assert a.result.ok and b.result.ok, (a.result.summary(), b.result.summary())
    tx_b = [t.name for t in b.result.trace if t.direction == "tx"]
    assert tx_b == ["DIS", "CFR", "RTP", "DIS", "CFR", "MCF"]
    assert a.result.pages_sent == 2 and [p.quality for p in b.received_pages] == ["RTP",
                                                                                  "MCF"]
    assert np.array_equal(b.received_pages[1].bitmap, PAGE)
