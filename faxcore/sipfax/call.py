"""A fax call over SIP: one SIP dialog and its media, G.711 audio over RTP or T.38 over
UDPTL, switched by the policy of :mod:`faxcore.sipfax.switch`.

    agent = await SipFaxAgent.create(("0.0.0.0", 0))
    call = agent.call("sip:1000@192.0.2.20", send=["page.tif"], options=FaxOptions())
    outcome = await call.wait()            # CallOutcome: ok, result, media, pages...
    agent.close()

    agent = await SipFaxAgent.create(("0.0.0.0", 5060), on_call=lambda c: ...)
    await agent.register("sip:fax@registrar.example", "fax", "secret")
    # each incoming call is answered and received into receive_path(call_number)

:class:`SipFaxAgent` owns one :class:`~faxcore.sip.ua.UserAgent` on one UDP socket
(:class:`~faxcore.sipfax.sip_udp.SipUdpEndpoint`) and hands each dialog's events to its
:class:`SipFaxCall`.

How the T.30 procedure crosses the switch (decided here; switch.py Rule 3): it does not.
The switch is made before T.30 phase B, and the T.38 terminal starts the procedure
afresh. The receiving side re-INVITEs the moment it answers (its CED starts): while the
offer is out it plays CED on the audio stream and runs no T.30 engine; on 200 a
:class:`~faxcore.t38.terminal.T38Terminal` starts the call (CED indicator, DIS); on a
refusal a :class:`~faxcore.session.FaxSession` starts on audio (CED again, DIS). The
sending side runs its FaxSession on audio from the answer (CNG, waiting for DIS) and
drops it for a fresh T.38 terminal when the far end's T.38 offer comes before any frame
went either way; after the first frame it answers T.38 offers with 488 and stays on
audio. So an engine never sees its media change under it, and a call that falls back
loses only the seconds of the offer. What a real gateway would do differently: carry a
T.30 procedure already in phase B across (a T.38 gateway's job, not a terminal's).

After phase E the call sends BYE at once (it does not wait for the far end's BYE or for
UDPTL to stop: the field's 600 s hang). Received pages are stored as FaxSession stores
them: ``receive`` is a path, each page written and fsync'ed before its MCF.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faxcore.modem.tones import CedGenerator, CngGenerator
from faxcore.pcap import PcapWriter
from faxcore.rtp import PCMA, PCMU, RtpAudioStream, StreamStats
from faxcore.session import FaxSession
from faxcore.sip.sdp import (
    UDP_FEC,
    AudioParams,
    LocalMedia,
    MediaDescription,
    SdpOriginator,
    SessionDescription,
    T38Params,
    answer,
    audio_media,
    image_media,
    peer_max_datagram,
)
from faxcore.sip.ua import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallRinging,
    EndReason,
    IncomingCall,
    MediaChanged,
    Registered,
    RegistrationFailed,
    ReInviteFailed,
    ReInviteOffer,
    UserAgent,
)
from faxcore.sipfax import switch as sw
from faxcore.sipfax.rtp_media import RtpFaxEndpoint, RtpMedia
from faxcore.sipfax.sip_udp import SipUdpEndpoint
from faxcore.sipfax.t38_media import UdptlMedia, UdptlMediaStats
from faxcore.t30.result import CallResult
from faxcore.t38.terminal import T38Terminal

__all__ = ["CallOutcome", "FaxOptions", "SipFaxAgent", "SipFaxCall", "local_address_for"]

log = logging.getLogger(__name__)

Address = tuple[str, int]
BYE_WAIT = 2.0          # s: how long a finished call waits for the 200 to its BYE
WATCH = 0.05            # s: how often the call looks at its T.30 engine


@dataclass
class FaxOptions:
    """How a call is made. ``t38``: prefer, only or never (switch.py); ``offer_at``: when
    a receiving station offers T.38 (``ced`` or ``dis``); ``offer_after``: seconds after
    which a sending station offers T.38 itself (None: it waits; with ``t38="only"`` the
    default is 5 s); ``offer_timeout``: how long our offer may wait for its answer;
    ``t38_version``: the T38FaxVersion we offer (0 is what most peers do);
    ``redundancy``: UDPTL redundancy depth; ``payload_type``: PCMU (0) or PCMA (8)
    preferred; ``jitter_ms``: the RTP jitter buffer's fixed depth; ``max_seconds``:
    the call is given up (BYE) after this long; ``fax``: more keyword options for the
    FaxSession/T38Terminal (T30Config fields). ``rtp_port``/``udptl_port``: bind the media
    sockets to these ports (0: any free one); ``advertise``: ports to put in the SDP
    instead of the bound ones, ``{"audio": port, "image": port}`` (a port forwarded to
    us by a NAT, or a relay that the tests put in the media path)."""

    t38: str = "prefer"
    ecm: bool = True
    ident: str = ""
    offer_at: str = "ced"
    offer_after: float | None = None
    offer_timeout: float = sw.OFFER_TIMEOUT
    t38_version: int = 0
    redundancy: int = 3
    payload_type: int = PCMU
    jitter_ms: float = 60.0
    max_seconds: float = 600.0
    fax: dict = field(default_factory=dict)
    rtp_port: int = 0
    udptl_port: int = 0
    advertise: dict[str, int] = field(default_factory=dict)


@dataclass
class CallOutcome:
    """How a call ended. ``ok``: the fax went through (T.30 status OK); ``result``: the
    T.30 result of the engine that ran the call (None if none started); ``media``:
    ``G.711`` or ``T.38``, what carried it; ``error``: why it failed, in words, when
    the failure was not T.30's (rejected INVITE, T.38 required and refused...);
    ``sip_status``: the final status of a failed INVITE; ``switch``: the media-switch
    history (seconds from the start, state, event)."""

    ok: bool
    result: CallResult | None
    media: str
    error: str | None
    seconds: float
    sip_status: int | None = None
    received_path: Path | None = None
    pages: list[np.ndarray] = field(default_factory=list)
    switch: list[tuple[float, str, str]] = field(default_factory=list)
    rtp: StreamStats | None = None
    udptl: UdptlMediaStats | None = None

    def summary(self) -> str:
        """One result line."""
        what = self.result.summary() if self.result is not None else "no fax"
        line = f"{'OK' if self.ok else 'FAILED'}: {what}; media {self.media}"
        if self.error:
            line += f"; {self.error}"
        return line


def local_address_for(remote_host: str) -> str:
    """The local address packets to ``remote_host`` leave from (a connected UDP socket
    sends nothing): what goes into Contact and SDP when we listen on 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote_host, 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class _Idle:
    """What the audio stream carries while no T.30 engine runs on it: CED (a receiving
    station whose T.38 offer is out), CNG (a sending station waiting for T.38) or
    silence (the switch is made; RTP is only read until UDPTL arrives)."""

    done = False

    def __init__(self, tone: str | None):
        if tone == "CED":
            self._gen = CedGenerator()          # 3.3 s, then silence (T.30: 2.6-4 s)
        elif tone == "CNG":
            self._gen = CngGenerator()
        else:
            self._gen = None

    def tx(self, n: int) -> np.ndarray:
        return self._gen.tx(n) if self._gen is not None else np.zeros(n, np.int16)

    def rx(self, samples) -> None:
        pass


class _AudioSwitch:
    """The one "session" the RTP cadence drives for the whole call: it hands each 20 ms
    block to whatever carries the call's audio now (a tone, silence, the FaxSession),
    so the source can change while the stream keeps its cadence and sequence numbers."""

    def __init__(self, source) -> None:
        self.source = source

    @property
    def done(self) -> bool:
        return self.source.done

    def tx(self, n: int) -> np.ndarray:
        return self.source.tx(n)

    def rx(self, samples) -> None:
        self.source.rx(samples)


class SipFaxCall:
    """One fax call over one SIP dialog (see the module docstring). Made by
    :meth:`SipFaxAgent.call` (we call and send ``send``) or by the agent for an incoming
    call (we answer and receive into ``receive``). ``progress(call, kind)`` is called
    with ``kind`` ``"sip"`` (:attr:`sip_state` changed), ``"media"`` (:attr:`media`
    changed) or ``"t30"`` (phase, page count or modulation of :attr:`engine` changed)."""

    def __init__(self, agent: SipFaxAgent, *, send: Sequence | None = None,
                 receive: str | os.PathLike | None = None,
                 options: FaxOptions | None = None,
                 progress: Callable[[SipFaxCall, str], None] | None = None,
                 audio_station=None):
        self.agent = agent
        self.options = options or FaxOptions()
        # audio_station: something else makes the call's audio (the Class 1 emulator's
        # line side: tx(n), rx(samples), done); no T.30 here, so no T.38 either
        self._external = audio_station
        if audio_station is not None:
            self.options = replace(self.options, t38="never")
        self.sending = send is not None or audio_station is not None
        self.pages_to_send = send
        self.receive = receive
        self.progress = progress
        self.ua_call: Call | None = None
        o = self.options
        offer_after = o.offer_after
        if offer_after is None and o.t38 == "only" and self.sending:
            offer_after = 5.0
        self.policy = sw.MediaSwitch(o.t38, receiving=not self.sending, offer_at=o.offer_at,
                                     offer_after=offer_after, offer_timeout=o.offer_timeout)
        self.sip_state = "starting"
        self.station: FaxSession | T38Terminal | None = None
        self.error: str | None = None
        self.sip_status: int | None = None
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._done = asyncio.Event()
        self._origin = SdpOriginator(agent.host, random.getrandbits(31) | 1)
        self._t38_ours = T38Params(version=o.t38_version)
        self.rtp: RtpMedia | None = None
        self._audio = _AudioSwitch(_Idle(None))
        self.udptl: UdptlMedia | None = None
        self._rtp_task: asyncio.Task | None = None
        self._udptl_task: asyncio.Task | None = None
        self._policy_timer: asyncio.TimerHandle | None = None
        self._watch_task: asyncio.Task | None = None
        self._remote_audio: Address | None = None
        self._our_offer = False           # our T.38 (or audio) re-INVITE is out
        self._finishing = False
        self._shown: tuple | None = None
        self._outcome: CallOutcome | None = None
        self._last_result: CallResult | None = None
        self._pending_offer: SessionDescription | None = None   # the far end's offer
        self._t38_remote: SessionDescription | None = None      # their SDP with m=image
        self._t38_answer: SessionDescription | None = None      # our answer to their offer

    # ---- public ------------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Seconds since the call object was made."""
        return self._loop.time() - self._t0

    @property
    def over(self) -> bool:
        """The call has ended (:meth:`wait` returns at once)."""
        return self._done.is_set()

    @property
    def media(self) -> str:
        """``G.711`` or ``T.38``: what the call is on now."""
        return "T.38" if self.policy.media == "t38" else "G.711"

    @property
    def engine(self):
        """The T.30 engine running the call now (None before one starts)."""
        return getattr(self.station, "engine", None)

    async def wait(self) -> CallOutcome:
        """Until the call is over (BYE sent or received); its outcome."""
        try:
            await asyncio.wait_for(self._done.wait(), self.options.max_seconds + 40.0)
        except TimeoutError:
            self._fail(f"call not over after {self.options.max_seconds:.0f} s")
            self._close_media()
            self._settle()
        assert self._outcome is not None
        return self._outcome

    def hang_up(self, reason: str = "hung up locally") -> None:
        """End the call now: the fax is aborted (DCN) and BYE sent."""
        e = self.engine
        if e is not None and not e.done:
            e.abort(self._now(), reason)
        self._fail(reason)

    # ---- start -------------------------------------------------------------------------

    async def _open_media(self) -> None:
        host = self.agent.bind_host
        self._audio = _AudioSwitch(_Idle(None))
        self.rtp = RtpMedia(self._audio, RtpAudioStream(self.options.payload_type,
                                                        depth_ms=self.options.jitter_ms),
                            pcap=self.agent.pcap)
        await self.rtp.open((host, self.options.rtp_port))
        self.udptl = UdptlMedia(pcap=self.agent.pcap, on_datagram=self._udptl_arrived)
        await self.udptl.open((host, self.options.udptl_port))
        self._watch_task = self._loop.create_task(self._watch())

    async def _start_outgoing(self, to: str, proxy: Address | None, from_uri: str | None,
                              credentials: tuple[str, str] | None) -> None:
        try:
            await self._open_media()
        except OSError as exc:
            self._fail(f"cannot open the media sockets: {exc}")
            self._settle()
            return
        ua = self.agent.ua
        self.ua_call = ua.invite(to, self._audio_offer(), self._now(), proxy=proxy,
                                 from_=from_uri, credentials=credentials)
        self.agent._calls[id(self.ua_call)] = self
        self._sip("calling")
        self.agent.kick()

    async def _start_incoming(self, ev: IncomingCall) -> None:
        self.ua_call = ev.call
        self._sip("incoming")
        try:
            await self._open_media()
        except OSError as exc:
            self.agent.ua.reject(ev.call, 500, self._now())
            self.agent.kick()
            self._fail(f"cannot open the media sockets: {exc}")
            self._settle()
            return
        offer = ev.sdp
        if offer is None:
            # an offer-less INVITE: offer audio in the 200, the answer comes in the ACK
            self.agent.ua.answer(ev.call, self._audio_offer(), self._now())
        elif any(m.is_audio and m.port for m in offer.media):
            ans = answer(offer, LocalMedia(self.agent.host, audio_port=self._audio_port),
                         self._origin)
            if not self._take_audio(offer, ans):
                self.agent.ua.reject(ev.call, 488, self._now())
                self._sip_failed("no G.711 audio in common with the caller's offer", 488)
                self.agent.kick()
                return
            self.agent.ua.answer(ev.call, ans, self._now())
        elif any(m.is_t38 and m.port for m in offer.media):
            # T.38 straight away (no audio to switch from): the policy decides
            self._pending_offer = offer
            self._policy(sw.PeerOffersT38())
            if self.policy.state is sw.State.FAILED:
                self.agent.ua.reject(ev.call, 488, self._now())
                self._sip_failed("T.38 offered, and --t38 never", 488)
            self.agent.kick()
            return
        else:
            self.agent.ua.reject(ev.call, 488, self._now())
            self._sip_failed("the caller offered neither G.711 nor T.38", 488)
            self.agent.kick()
            return
        self._sip("answered")
        self.agent.kick()

    # ---- SDP ---------------------------------------------------------------------------

    @property
    def _audio_port(self) -> int:
        return self.options.advertise.get("audio", self.rtp.local[1])

    @property
    def _image_port(self) -> int:
        return self.options.advertise.get("image", self.udptl.local[1])

    def _audio_offer(self) -> SessionDescription:
        pts = (self.options.payload_type, PCMA if self.options.payload_type == PCMU else PCMU)
        return self._origin.describe([audio_media(self._audio_port, AudioParams(pts))])

    def _t38_offer(self) -> SessionDescription:
        return self._origin.describe([image_media(self._image_port, self._t38_ours)])

    def _take_audio(self, remote: SessionDescription | None,
                    ours: SessionDescription | None = None) -> bool:
        """Point RTP at the audio stream of ``remote`` (its payload type agreed in the
        answer, ``ours`` when we answered); False when there is none."""
        if remote is None:
            return False
        m = next((m for m in remote.media if m.is_audio and m.port), None)
        if m is None:
            return False
        addr = remote.connection_address(m)
        if addr is None:
            return False
        agreed = ours if ours is not None else remote
        am = next((x for x in agreed.media if x.is_audio and x.port), m)
        pts = AudioParams.from_media(am).payload_types
        if not pts:
            return False
        self._remote_audio = (addr, m.port)
        if self.rtp.stream.payload_type != pts[0]:
            # what the answer put first is what goes on the wire (RFC 3264 6.1)
            self.rtp.endpoint = RtpFaxEndpoint(
                self._audio, RtpAudioStream(pts[0], depth_ms=self.options.jitter_ms))
        self.rtp.set_remote(self._remote_audio)
        return True

    @staticmethod
    def _image(sd: SessionDescription | None) -> MediaDescription | None:
        if sd is None:
            return None
        return next((m for m in sd.media if m.is_t38 and m.port), None)

    # ---- SIP events (from the agent) -----------------------------------------------

    def on_event(self, ev) -> None:
        if isinstance(ev, CallRinging):
            self._sip("ringing")
        elif isinstance(ev, CallAnswered):
            self._sip("answered")
            if not self._take_audio(ev.sdp):
                self._fail("the far end's answer has no G.711 audio stream")
                return
            self._call_up()
        elif isinstance(ev, CallConfirmed):
            if ev.sdp is not None:         # our offer went in the 200: the answer is here
                self._take_audio(ev.sdp)
            if self.policy.state is sw.State.IDLE:
                self._call_up()
            else:
                self._sip("confirmed")
        elif isinstance(ev, ReInviteOffer):
            self._pending_offer = ev.sdp
            if self._image(ev.sdp) is not None:
                self._policy(sw.PeerOffersT38())
            else:
                self._policy(sw.PeerOffersAudio())
        elif isinstance(ev, MediaChanged):
            if self._our_offer:
                self._our_offer = False
                if self._image(ev.remote) is not None:
                    self._t38_remote = ev.remote
                    self._policy(sw.OfferAccepted())
                elif self.policy.state is sw.State.OFFERING:
                    # a 2xx that rejected the image stream: a refusal (the audio stays)
                    self._take_audio(ev.remote)
                    self._policy(sw.OfferRefused(488))
                else:
                    self._take_audio(ev.remote)
        elif isinstance(ev, ReInviteFailed):
            if self._our_offer:
                self._our_offer = False
                self._sip(f"re-INVITE refused ({ev.status})")
                self._policy(sw.OfferGlare() if ev.status == 491
                             else sw.OfferRefused(ev.status))
        elif isinstance(ev, CallEnded):
            self._ended(ev)

    def _call_up(self) -> None:
        self._sip("confirmed")
        if self.rtp is not None and self.rtp.remote is not None and self._rtp_task is None:
            self._rtp_task = self._loop.create_task(self._run_rtp())
        self._policy(sw.CallUp())
        if self.sending and self.station is None and self.policy.state is sw.State.AUDIO:
            self._audio_source(_Idle("CNG"))   # t38=only: call tones, no T.30 on audio

    def _ended(self, ev: CallEnded) -> None:
        if ev.reason in (EndReason.REJECTED, EndReason.TIMEOUT, EndReason.CANCELLED,
                         EndReason.DECLINED) and self.policy.state is sw.State.IDLE:
            self.sip_status = ev.status
            self._sip(f"ended ({ev.reason.value}"
                      + (f", {ev.status})" if ev.status else ")"))
            if self.error is None:
                what = {EndReason.REJECTED: "the call was refused",
                        EndReason.TIMEOUT: "no answer to the INVITE",
                        EndReason.CANCELLED: "the call was cancelled",
                        EndReason.DECLINED: "the call was declined"}[ev.reason]
                self.error = f"{what}" + (f" (SIP {ev.status})" if ev.status else "")
        else:
            self._sip(f"ended ({ev.reason.value})")
            st = self.station
            if ev.reason is not EndReason.LOCAL_BYE and st is not None \
                    and not getattr(st, "done", True):
                if isinstance(st, T38Terminal):
                    st.line_dropped(self._now())
                else:
                    st.line_dropped()
                if self.error is None and not getattr(st.result, "ok", False):
                    self.error = f"the far end ended the call ({ev.reason.value})"
        self._close_media()
        self._settle()

    # ---- the policy ------------------------------------------------------------------

    def _now(self) -> float:
        return self._loop.time()

    def _policy(self, event: sw.Event) -> None:
        before = self.policy.media
        actions = self.policy.handle(event, self._now())
        for a in actions:
            self._do(a)
        self._arm_policy_timer()
        if self.policy.media != before:
            self._report("media")
        self.agent.kick()

    def _arm_policy_timer(self) -> None:
        if self._policy_timer is not None:
            self._policy_timer.cancel()
            self._policy_timer = None
        d = self.policy.next_deadline
        if d is not None:
            self._policy_timer = self._loop.call_at(d, self._policy_fired)

    def _policy_fired(self) -> None:
        self._policy_timer = None
        before = self.policy.media
        for a in self.policy.handle_timer(self._now()):
            self._do(a)
        self._arm_policy_timer()
        if self.policy.media != before:
            self._report("media")
        self.agent.kick()

    def _do(self, a: sw.Action) -> None:
        ua, call, now = self.agent.ua, self.ua_call, self._now()
        log.debug("call %s: %s", call.call_id if call else "-", a)
        if isinstance(a, sw.SendT38Offer):
            self._our_offer = True
            self._sip("re-INVITE to T.38")
            ua.reinvite(call, self._t38_offer(), now)
            self._audio_source(_Idle("CED" if not self.sending else "CNG"))
        elif isinstance(a, sw.SendAudioOffer):
            self._our_offer = True
            ua.reinvite(call, self._audio_offer(), now)
        elif isinstance(a, sw.AcceptOffer):
            self._accept_offer()
        elif isinstance(a, sw.RefuseOffer):
            self._sip(f"refused the far end's offer ({a.code})")
            ua.reject_reinvite(call, a.code, now)
        elif isinstance(a, sw.StartAudioFax):
            self._start_audio_fax()
        elif isinstance(a, sw.StopAudioFax):
            self._audio_source(_Idle(None))
            self.station = None
        elif isinstance(a, sw.StartT38Fax):
            self._start_t38_fax()
        elif isinstance(a, sw.CloseRtp):
            if self.rtp is not None:
                self.rtp.stop()
        elif isinstance(a, sw.Fail):
            self._fail(a.reason)

    def _accept_offer(self) -> None:
        ua, call, now = self.agent.ua, self.ua_call, self._now()
        offer = self._pending_offer
        if self._image(offer) is not None:
            local = LocalMedia(self.agent.host, image_port=self._image_port,
                               t38=self._t38_ours)
            ans = answer(offer, local, self._origin)
            self._t38_remote, self._t38_answer = offer, ans
        else:
            local = LocalMedia(self.agent.host, audio_port=self._audio_port)
            ans = answer(offer, local, self._origin)
            self._take_audio(offer, ans)
        if call.state.value == "incoming":
            ua.answer(call, ans, now)           # an initial INVITE offering T.38
            self._sip("answered")
        else:
            ua.accept_reinvite(call, ans, now)
            self._sip("accepted the far end's re-INVITE")

    # ---- media -------------------------------------------------------------------------

    def _fax_kwargs(self) -> dict:
        o = self.options
        kw = dict(ecm=o.ecm, ident=o.ident, **o.fax)
        if self.sending:
            kw["send"] = self.pages_to_send
        else:
            kw["receive"] = self.receive
        return kw

    def _audio_source(self, source) -> None:
        self._audio.source = source

    def _start_audio_fax(self) -> None:
        self.station = self._external if self._external is not None else \
            FaxSession(self.sending, **self._fax_kwargs())
        self._audio_source(self.station)
        self._report("t30")

    def _start_t38_fax(self) -> None:
        remote = self._t38_remote
        m = self._image(remote)
        if m is None or remote.connection_address(m) is None:
            self._fail("the T.38 stream has no address")
            return
        theirs = T38Params.from_media(m)
        # the version in force: our answer's (min of theirs and ours), or the far end's
        # answer to our offer (never above what we offered)
        ours = self._image(self._t38_answer)
        version = min(T38Params.from_media(ours).version if ours is not None
                      else theirs.version, self._t38_ours.version)
        fec = (3, 3) if (theirs.udp_ec or "").lower() == UDP_FEC.lower() else None
        self.station = T38Terminal(self.sending, version=version, **self._fax_kwargs())
        self._audio_source(_Idle(None))       # RTP: read only, until UDPTL comes (Rule 6)
        self.udptl.start(self.station, (remote.connection_address(m), m.port),
                         version=version, redundancy=self.options.redundancy, fec=fec,
                         max_datagram=peer_max_datagram(theirs))
        self._udptl_task = self._loop.create_task(self._run_udptl())
        self._report("t30")

    def _udptl_arrived(self) -> None:
        if self.policy.state is sw.State.SWITCHING:
            self._policy(sw.UdptlArrived())

    async def _run_rtp(self) -> None:
        try:
            await self.rtp.run(until=lambda: self._finishing)
        except Exception as exc:  # the cadence must not die silently
            log.exception("RTP media failed")
            self._fail(f"RTP media failed: {exc}")
            return
        st = self.station
        if st is not None and st is self._audio.source and st.done:
            self._fax_done()

    async def _run_udptl(self) -> None:
        try:
            await self.udptl.run()
        except Exception as exc:
            log.exception("UDPTL media failed")
            self._fail(f"UDPTL media failed: {exc}")
            return
        if isinstance(self.station, T38Terminal) and self.station.done:
            self._fax_done()

    async def _watch(self) -> None:
        """Report T.30 progress and tell the policy when T.30 began on audio."""
        while not self._done.is_set():
            st = self.station
            e = getattr(st, "engine", None)
            if isinstance(st, FaxSession) and e.result.trace \
                    and self.policy.state is sw.State.AUDIO:
                first = e.result.trace[0]
                if not self.sending and getattr(first, "direction", "") == "tx" \
                        and self.options.offer_at == "dis":
                    self._policy(sw.DisPreamble())
                else:
                    self._policy(sw.AudioPhaseB())
            if e is not None:
                r = e.result
                state = (id(e), e.phase, r.pages_sent, len(e.received_pages), r.modulation)
                if state != self._shown:
                    self._shown = state
                    self._report("t30")
            if self.station is not None and self.options.max_seconds \
                    and self.seconds > self.options.max_seconds and not self._finishing:
                self.hang_up(f"call still running after {self.options.max_seconds:.0f} s")
            await asyncio.sleep(WATCH)

    def _fax_done(self) -> None:
        """Phase E is over: BYE now (never wait for the far end)."""
        if self._finishing:
            return
        self._finishing = True
        self._last_result = getattr(self.station, "result", None)
        self._report("t30")
        call = self.ua_call
        self._end(call if call is not None and call.state.value in ("confirmed", "answered")
                  else None)

    def _end(self, call: Call | None) -> None:
        """BYE on ``call`` and settle on its answer (or after :data:`BYE_WAIT`); with no
        call to hang up (None), close the media and settle now."""
        if call is not None:
            self._sip("BYE")
            self.agent.ua.bye(call, self._now())
            self.agent.kick()
            self._loop.call_later(BYE_WAIT, self._bye_timeout)
        else:
            self._close_media()
            self._settle()

    def _bye_timeout(self) -> None:
        if not self._done.is_set():
            self._close_media()
            self._settle()

    def _fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
        log.info("call: %s", reason)
        if self._finishing:
            return
        self._finishing = True
        call = self.ua_call
        self._end(call if call is not None and call.state.value not in ("ended", "ending")
                  else None)

    def _sip_failed(self, reason: str, status: int) -> None:
        self.error = reason
        self.sip_status = status
        self._finishing = True
        self._close_media()
        self._settle()

    def _close_media(self) -> None:
        self._finishing = True
        for m in (self.rtp, self.udptl):
            if m is not None:
                m.stop()
        if self._policy_timer is not None:
            self._policy_timer.cancel()
            self._policy_timer = None

    def _settle(self) -> None:
        """The call is over: its outcome; sockets closed once the tasks have ended."""
        if self._done.is_set():
            return
        st = self.station
        result = getattr(st, "result", None) if st is not None else self._last_result
        ok = result is not None and result.ok and self.error is None
        self._outcome = CallOutcome(
            ok=ok, result=result, media=self.media if st is not None else "G.711",
            error=self.error, seconds=self.seconds, sip_status=self.sip_status,
            received_path=getattr(st, "received_path", None),
            pages=list(getattr(st, "pages", [])),
            switch=[(t - self._t0, s.value, why) for t, s, why in self.policy.history],
            rtp=self.rtp.stream.stats if self.rtp is not None else None,
            udptl=self.udptl.stats if self.udptl is not None and self.udptl.endpoint
            else None)
        self._done.set()
        self._loop.call_later(0.3, self._close_sockets)
        if self.ua_call is not None:
            self.agent._calls.pop(id(self.ua_call), None)

    def _close_sockets(self) -> None:
        for m in (self.rtp, self.udptl):
            if m is not None:
                m.close()

    # ---- progress ------------------------------------------------------------------

    def _sip(self, state: str) -> None:
        self.sip_state = state
        log.info("SIP: %s", state)
        self._report("sip")

    def _report(self, kind: str) -> None:
        if self.progress is not None:
            try:
                self.progress(self, kind)
            except Exception:  # a display problem must not end the call
                log.exception("progress callback failed")


class SipFaxAgent:
    """One SIP user agent on one UDP socket and its fax calls (see the module docstring).
    Make it with :meth:`create`. ``on_call(agent, ev) -> SipFaxCall | None``: for each
    incoming call, the call object that takes it (None: refused with 486).
    ``host``: the address put in Contact and SDP (default: the bound one, or the
    address towards ``towards`` when bound to 0.0.0.0)."""

    def __init__(self) -> None:
        self.ua: UserAgent
        self.endpoint: SipUdpEndpoint
        self.host = "127.0.0.1"
        self.bind_host = "0.0.0.0"
        self.port = 0
        self.pcap: PcapWriter | None = None
        self.on_call: Callable[[SipFaxAgent, IncomingCall], SipFaxCall | None] | None = None
        self.on_registration: Callable[[object], None] | None = None
        self._calls: dict[int, SipFaxCall] = {}
        self._reg_waiters: list[asyncio.Future] = []
        self.registrations: list = []

    @classmethod
    async def create(cls, bind: Address = ("0.0.0.0", 0), *, user: str = "faxcore",
                     host: str | None = None, towards: str | None = None,
                     credentials: tuple[str, str] | None = None,
                     pcap: str | os.PathLike | PcapWriter | None = None,
                     on_call: Callable[[SipFaxAgent, IncomingCall], SipFaxCall | None]
                     | None = None) -> SipFaxAgent:
        self = cls()
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(bind)
        except OSError:
            sock.close()
            raise
        self.bind_host, self.port = sock.getsockname()[:2]
        if host is None:
            host = self.bind_host if self.bind_host != "0.0.0.0" else \
                local_address_for(towards or "192.0.2.1")
        self.host = host
        self.pcap = pcap if isinstance(pcap, PcapWriter) or pcap is None else PcapWriter(pcap)
        self.on_call = on_call
        contact = f"sip:{user}@{host}:{self.port}"
        self.ua = UserAgent(contact, contact, credentials=credentials)
        _, self.endpoint = await loop.create_datagram_endpoint(
            lambda: _TracingEndpoint(self.ua, self._event, self), sock=sock)
        return self

    @property
    def calls(self) -> list[SipFaxCall]:
        """The calls not over yet."""
        return [c for c in self._calls.values() if not c.over]

    @property
    def contact(self) -> str:
        return str(self.ua.contact)

    def kick(self) -> None:
        self.endpoint.kick()

    def call(self, to: str, send: Sequence | None, *, options: FaxOptions | None = None,
             proxy: Address | None = None, from_uri: str | None = None,
             credentials: tuple[str, str] | None = None,
             progress: Callable[[SipFaxCall, str], None] | None = None,
             audio_station=None) -> SipFaxCall:
        """Call ``to`` and send the pages ``send`` (or carry ``audio_station``'s audio:
        :mod:`faxcore.sipfax.line`); returns the call (await its
        :meth:`SipFaxCall.wait`)."""
        c = SipFaxCall(self, send=send, options=options, progress=progress,
                       audio_station=audio_station)
        asyncio.get_running_loop().create_task(
            c._start_outgoing(to, proxy, from_uri, credentials))
        return c

    def take(self, ev: IncomingCall, *, receive: str | os.PathLike | None,
             options: FaxOptions | None = None,
             progress: Callable[[SipFaxCall, str], None] | None = None,
             audio_station=None) -> SipFaxCall:
        """Answer the incoming call ``ev`` and receive into ``receive`` (or carry
        ``audio_station``'s audio: :mod:`faxcore.sipfax.line`)."""
        c = SipFaxCall(self, receive=receive, options=options, progress=progress,
                       audio_station=audio_station)
        self._calls[id(ev.call)] = c
        asyncio.get_running_loop().create_task(c._start_incoming(ev))
        return c

    async def register(self, registrar: str, user: str, password: str, *,
                       expires: int = 3600, timeout: float = 10.0) -> int:
        """Register at ``registrar`` (a sip: URI) as ``user``; returns the granted
        expiry in seconds. Raises ``RuntimeError`` when refused or unanswered."""
        fut = asyncio.get_running_loop().create_future()
        self._reg_waiters.append(fut)
        self.registrations.append(self.ua.register(registrar, user, password, expires,
                                                   asyncio.get_running_loop().time()))
        self.kick()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise RuntimeError(f"no answer to REGISTER from {registrar} within "
                               f"{timeout:.0f} s") from None

    async def unregister(self, timeout: float = 2.0) -> None:
        """Remove our registrations (REGISTER with Expires 0), waiting at most
        ``timeout`` seconds for the answers."""
        regs = [r for r in self.registrations if r.active]
        self.registrations = []
        if not regs:
            return
        loop = asyncio.get_running_loop()
        for r in regs:
            self.ua.unregister(r, loop.time())
        self.kick()
        end = loop.time() + timeout
        while loop.time() < end and any(r.active for r in regs):
            await asyncio.sleep(0.05)

    def _event(self, ev) -> None:
        if isinstance(ev, IncomingCall):
            taker = self.on_call(self, ev) if self.on_call is not None else None
            if taker is None:
                self.ua.reject(ev.call, 486, asyncio.get_running_loop().time())
            return
        if isinstance(ev, Registered | RegistrationFailed):
            if self.on_registration is not None:
                self.on_registration(ev)
            while self._reg_waiters:
                fut = self._reg_waiters.pop(0)
                if fut.done():
                    continue
                if isinstance(ev, Registered):
                    fut.set_result(ev.expires)
                else:
                    fut.set_exception(RuntimeError(
                        f"registration refused (SIP {ev.status})"))
                break
            return
        call = getattr(ev, "call", None)
        c = self._calls.get(id(call)) if call is not None else None
        if c is not None:
            try:
                c.on_event(ev)
            except Exception as exc:  # a bug must end the call, not leave it hanging
                log.exception("call %s: handling %s failed", call.call_id, type(ev).__name__)
                c.hang_up(f"internal error: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.endpoint.close()
        if self.pcap is not None:
            self.pcap.flush()


class _TracingEndpoint(SipUdpEndpoint):
    """The SIP socket, with each datagram logged (``-v``: the faxcore.sipfax.sip logger
    at INFO, whole messages at DEBUG) and written to the agent's pcap."""

    def __init__(self, ua: UserAgent, on_event, agent: SipFaxAgent) -> None:
        super().__init__(ua, on_event)
        self.agent = agent

    def connection_made(self, transport) -> None:
        super().connection_made(_TracingTransport(transport, self.agent))

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        _trace(self.agent, "rx", data, (addr[0], addr[1]))
        super().datagram_received(data, addr)


class _TracingTransport:
    """A datagram transport that traces what is sent through it."""

    def __init__(self, transport, agent: SipFaxAgent) -> None:
        self._t = transport
        self._agent = agent

    def sendto(self, data: bytes, addr=None) -> None:
        _trace(self._agent, "tx", data, addr)
        self._t.sendto(data, addr)

    def __getattr__(self, name: str):
        return getattr(self._t, name)


def _trace(agent: SipFaxAgent, direction: str, data: bytes, addr: Address) -> None:
    me = (agent.host, agent.port)
    if agent.pcap is not None:
        src, dst = (addr, me) if direction == "rx" else (me, addr)
        agent.pcap.datagram(time.time(), src, dst, data)
    if sip_log.isEnabledFor(logging.INFO):
        head = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        sip_log.info("%s %s:%d  %s", "<-" if direction == "rx" else "->", addr[0], addr[1],
                     head)
        sip_log.debug("%s", data.decode("utf-8", "replace"))


sip_log = logging.getLogger("faxcore.sipfax.sip")
