"""The media-switch policy (faxcore.sipfax.switch): every rule of its Rules comment,
driven through its public events, and a walk over the whole table (Rule 7)."""

from __future__ import annotations

import itertools

import pytest

from faxcore.sipfax.switch import (
    EVENTS,
    MODES,
    RULES,
    AcceptOffer,
    AudioPhaseB,
    CallUp,
    CloseRtp,
    DisPreamble,
    Fail,
    MediaSwitch,
    OfferAccepted,
    OfferGlare,
    OfferRefused,
    OfferTimedOut,
    OfferTimer,
    PeerOffersAudio,
    PeerOffersT38,
    RefuseOffer,
    SendAudioOffer,
    SendT38Offer,
    StartAudioFax,
    StartT38Fax,
    State,
    StopAudioFax,
    SwitchError,
    UdptlArrived,
)


def up(mode: str, receiving: bool, **kw) -> tuple[MediaSwitch, list]:
    sw = MediaSwitch(mode, receiving=receiving, **kw)
    return sw, sw.handle(CallUp(), 0.0)


# ---- Rule 1 and 2: how the call starts ------------------------------------------------

def test_never_starts_the_fax_on_audio_and_refuses_t38_with_488():
    for receiving in (True, False):
        sw, acts = up("never", receiving)
        assert acts == [StartAudioFax()]
        assert sw.state is State.AUDIO_LOCKED and sw.media == "g711"
        assert sw.handle(PeerOffersT38(), 1.0) == [RefuseOffer(488)]
        assert sw.state is State.AUDIO_LOCKED
        assert sw.next_deadline is None


@pytest.mark.parametrize("mode", ["prefer", "only"])
def test_a_receiver_offers_t38_as_its_ced_starts(mode):
    sw, acts = up(mode, True)
    assert acts == [SendT38Offer()]
    assert sw.state is State.OFFERING and not sw.audio_fax
    assert sw.next_deadline == pytest.approx(5.0)


@pytest.mark.parametrize("mode", ["prefer", "only"])
def test_a_receiver_with_offer_at_dis_starts_on_audio_and_offers_at_the_dis_preamble(mode):
    sw, acts = up(mode, True, offer_at="dis")
    assert acts == [StartAudioFax()] and sw.state is State.AUDIO
    assert sw.handle(DisPreamble(), 3.2) == [StopAudioFax(), SendT38Offer()]
    assert sw.state is State.OFFERING and not sw.audio_fax
    assert sw.next_deadline == pytest.approx(8.2)


def test_a_sender_with_prefer_starts_on_audio_and_waits():
    sw, acts = up("prefer", False)
    assert acts == [StartAudioFax()] and sw.state is State.AUDIO
    assert sw.next_deadline is None
    assert sw.handle(DisPreamble(), 1.0) == []       # the receiver's trigger, not ours
    assert sw.state is State.AUDIO


def test_a_sender_with_only_runs_no_fax_on_audio():
    sw, acts = up("only", False)
    assert acts == [] and sw.state is State.AUDIO and not sw.audio_fax


def test_a_sender_accepts_the_far_ends_t38_offer():
    sw, _ = up("prefer", False)
    assert sw.handle(PeerOffersT38(), 2.0) == [StopAudioFax(), AcceptOffer(), StartT38Fax()]
    assert sw.state is State.SWITCHING and sw.media == "t38"
    sw2, _ = up("only", False)
    # no audio engine ran: nothing to stop
    assert sw2.handle(PeerOffersT38(), 2.0) == [AcceptOffer(), StartT38Fax()]


@pytest.mark.parametrize("mode", ["prefer", "only"])
def test_a_sender_with_offer_after_offers_t38_itself(mode):
    sw, _ = up(mode, False, offer_after=4.0)
    assert sw.next_deadline == pytest.approx(4.0)
    assert sw.handle_timer(3.9) == []
    acts = sw.handle_timer(4.0)
    assert SendT38Offer() in acts and sw.state is State.OFFERING
    assert (StopAudioFax() in acts) == (mode == "prefer")
    assert sw.next_deadline == pytest.approx(9.0)     # now the offer's timeout


def test_the_senders_own_offer_is_not_made_once_the_far_end_offered():
    sw, _ = up("prefer", False, offer_after=4.0)
    sw.handle(PeerOffersT38(), 1.0)
    assert sw.next_deadline is None
    assert sw.handle_timer(10.0) == []


def test_an_initial_t38_offer_is_taken_without_audio_or_refused_with_never():
    sw = MediaSwitch("prefer", receiving=True)
    assert sw.handle(PeerOffersT38(), 0.0) == [AcceptOffer(), StartT38Fax()]
    assert sw.state is State.SWITCHING
    sw = MediaSwitch("never", receiving=True)
    assert sw.handle(PeerOffersT38(), 0.0) == [RefuseOffer(488)]
    assert sw.state is State.FAILED


# ---- Rule 3: no switch once T.30 has begun on audio -----------------------------------

def test_phase_b_on_audio_locks_the_call_to_audio():
    sw, _ = up("prefer", False, offer_after=4.0)
    assert sw.handle(AudioPhaseB(), 1.5) == []
    assert sw.state is State.AUDIO_LOCKED and sw.audio_fax
    assert sw.next_deadline is None                   # the own offer is off too
    assert sw.handle(PeerOffersT38(), 2.0) == [RefuseOffer(488)]
    assert sw.handle(PeerOffersAudio(), 30.0) == [AcceptOffer()]   # a refresh


def test_phase_b_on_audio_fails_a_call_that_requires_t38():
    sw, _ = up("only", True, offer_at="dis")
    acts = sw.handle(AudioPhaseB(), 1.0)
    assert len(acts) == 1 and isinstance(acts[0], Fail)
    assert sw.state is State.FAILED


# ---- Rule 4: fallback or failure --------------------------------------------------------

@pytest.mark.parametrize("code", [488, 403, 500, 606])
def test_a_refused_offer_falls_back_to_audio_with_prefer(code):
    sw, _ = up("prefer", True)
    assert sw.handle(OfferRefused(code), 0.3) == [StartAudioFax()]
    assert sw.state is State.AUDIO_LOCKED and sw.media == "g711" and sw.audio_fax
    assert sw.next_deadline is None
    assert sw.handle(PeerOffersT38(), 3.0) == [RefuseOffer(488)]   # never twice


@pytest.mark.parametrize("code", [488, 403])
def test_a_refused_offer_fails_the_call_with_only(code):
    sw, _ = up("only", True)
    acts = sw.handle(OfferRefused(code), 0.3)
    assert [type(a) for a in acts] == [Fail] and "refused" in acts[0].reason
    assert sw.state is State.FAILED and not sw.audio_fax


def test_an_unanswered_offer_times_out_to_audio_or_failure():
    sw, _ = up("prefer", True, offer_timeout=2.5)
    assert sw.handle_timer(2.4) == []
    assert sw.handle_timer(2.5) == [StartAudioFax()]
    assert sw.state is State.AUDIO_LOCKED
    sw, _ = up("only", True, offer_timeout=2.5)
    acts = sw.handle_timer(3.0)
    assert [type(a) for a in acts] == [Fail] and sw.state is State.FAILED


def test_a_2xx_after_the_fallback_gets_an_audio_offer():
    sw, _ = up("prefer", True)
    sw.handle_timer(5.0)
    assert sw.handle(OfferAccepted(), 6.0) == [SendAudioOffer()]
    assert sw.state is State.AUDIO_LOCKED


def test_an_answered_offer_cancels_its_timeout():
    sw, _ = up("prefer", True)
    assert sw.handle(OfferAccepted(), 0.2) == [StartT38Fax()]
    assert sw.next_deadline is None and sw.handle_timer(100.0) == []


# ---- Rule 5: once, glare, refreshes ---------------------------------------------------

def test_an_offer_crossing_ours_gets_491():
    sw, _ = up("prefer", True)
    assert sw.handle(PeerOffersT38(), 0.1) == [RefuseOffer(491)]
    assert sw.handle(PeerOffersAudio(), 0.1) == [RefuseOffer(491)]
    assert sw.state is State.OFFERING


@pytest.mark.parametrize("udptl_first", [False, True])
def test_after_the_switch_audio_is_refused_and_image_refreshes_are_accepted(udptl_first):
    sw, _ = up("prefer", True)
    sw.handle(OfferAccepted(), 0.2)
    if udptl_first:
        sw.handle(UdptlArrived(), 0.3)
    assert sw.handle(PeerOffersAudio(), 40.0) == [RefuseOffer(488)]
    assert sw.handle(PeerOffersT38(), 41.0) == [AcceptOffer()]
    assert sw.media == "t38"
    assert sw.handle(OfferRefused(488), 42.0) == []   # stray: ignored
    assert sw.state in (State.SWITCHING, State.T38)


# ---- Rule 6: both media during the switch ---------------------------------------------

def test_rtp_is_read_until_udptl_arrives():
    sw, _ = up("prefer", True)
    sw.handle(OfferAccepted(), 0.2)
    assert sw.state is State.SWITCHING
    assert sw.handle(UdptlArrived(), 0.4) == [CloseRtp()]
    assert sw.state is State.T38
    assert sw.handle(UdptlArrived(), 0.5) == []       # only once


def test_udptl_before_the_switch_is_ignored():
    sw, _ = up("prefer", False)
    assert sw.handle(UdptlArrived(), 0.5) == [] and sw.state is State.AUDIO


# ---- Rule 7: the whole table --------------------------------------------------------------

def test_every_state_and_event_has_a_rule_for_every_policy():
    combos = list(itertools.product(MODES, (True, False), ("ced", "dis")))
    for (state, ev), (mode, receiving, offer_at) in itertools.product(
            itertools.product(State, EVENTS), combos):
        assert (state, ev) in RULES
        sw = MediaSwitch(mode, receiving=receiving, offer_at=offer_at)
        sw.state = state
        acts = sw.handle(ev(), 1.0)      # never raises
        assert all(not isinstance(a, StopAudioFax) for a in acts)  # none was running


def test_history_records_each_change():
    sw, _ = up("prefer", True)
    sw.handle(OfferAccepted(), 0.2)
    sw.handle(UdptlArrived(), 0.4)
    assert [(t, s) for t, s, _ in sw.history] == [
        (0.0, State.OFFERING), (0.2, State.SWITCHING), (0.4, State.T38)]


def test_bad_settings_are_refused():
    with pytest.raises(SwitchError):
        MediaSwitch("sometimes", receiving=True)
    with pytest.raises(SwitchError):
        MediaSwitch("prefer", receiving=True, offer_at="cng")
    with pytest.raises(SwitchError):
        MediaSwitch("prefer", receiving=False, offer_after=-1)
    with pytest.raises(SwitchError):
        MediaSwitch("prefer", receiving=False, offer_timeout=0)


def test_offer_timer_is_only_a_senders():
    sw, _ = up("prefer", True, offer_at="dis", offer_after=1.0)
    assert sw.next_deadline is None
    assert sw.handle(OfferTimer(), 2.0) == [] and sw.state is State.AUDIO


def test_an_offer_never_times_out_after_an_answer():
    sw, _ = up("prefer", True)
    sw.handle(OfferRefused(488), 1.0)
    assert sw.handle(OfferTimedOut(), 6.0) == [] and sw.state is State.AUDIO_LOCKED


# ---- Rule 4: glare (491) --------------------------------------------------------------

def test_glare_with_prefer_starts_audio_and_still_takes_the_far_ends_offer():
    sw, _ = up("prefer", True)
    assert sw.handle(OfferGlare(), 0.3) == [StartAudioFax()]
    assert sw.state is State.AUDIO and sw.next_deadline is None
    # their offer (the one that crossed ours) comes next: T.30 has not begun
    assert sw.handle(PeerOffersT38(), 0.3) == [StopAudioFax(), AcceptOffer(), StartT38Fax()]
    assert sw.state is State.SWITCHING


def test_glare_with_prefer_stays_on_audio_once_t30_began():
    sw, _ = up("prefer", True)
    sw.handle(OfferGlare(), 0.3)
    sw.handle(AudioPhaseB(), 3.0)
    assert sw.handle(PeerOffersT38(), 3.5) == [RefuseOffer(488)]
    assert sw.state is State.AUDIO_LOCKED


def test_glare_with_only_waits_for_the_far_ends_offer_then_fails():
    sw, _ = up("only", False, offer_after=1.0)
    sw.handle_timer(1.0)
    assert sw.state is State.OFFERING
    assert sw.handle(OfferGlare(), 1.2) == [] and sw.state is State.AUDIO
    assert sw.next_deadline == pytest.approx(6.2)
    acts = sw.handle_timer(6.2)
    assert [type(a) for a in acts] == [Fail] and "glare" in acts[0].reason
    assert sw.state is State.FAILED
    sw, _ = up("only", False, offer_after=1.0)
    sw.handle_timer(1.0)
    sw.handle(OfferGlare(), 1.2)
    assert sw.handle(PeerOffersT38(), 1.5) == [AcceptOffer(), StartT38Fax()]
    assert sw.next_deadline is None and sw.handle_timer(10.0) == []
