"""faxcore.sip: a SIP user agent (RFC 3261 subset) and SDP offer/answer (RFC 3264) as a
sans-IO core: datagrams and ``now`` in, datagrams and events out. No sockets here; the
asyncio transport is in :mod:`faxcore.sipfax`. Knows nothing about fax pages or T.30.

Modules (each documents its own API):

* :mod:`faxcore.sip.message`: parse/serialize SIP messages; :class:`SipParseError` is
  the one exception for malformed bytes.
* :mod:`faxcore.sip.sdp`: SDP, :class:`T38Params` (every T.38 attribute),
  :func:`answer` (RFC 3264), :class:`SdpOriginator` (o= versions),
  :func:`audio_media` / :func:`image_media` (our m-lines).
* :mod:`faxcore.sip.digest`: 401/407 digest answers (MD5, SHA-256, qop=auth).
* :mod:`faxcore.sip.transaction`: the four UDP transaction state machines.
* :mod:`faxcore.sip.ua`: :class:`UserAgent`, its :class:`Call` and event classes.

A fax call on top of it (what :mod:`faxcore.sipfax` does)::

    ua = UserAgent("sip:fax@192.0.2.10", "sip:fax@192.0.2.10:5060")
    origin = SdpOriginator("192.0.2.10", session_id)
    local = LocalMedia("192.0.2.10", audio_port=4000, image_port=4002, t38=T38Params())
    # outgoing: ua.invite("sip:1000@192.0.2.20", origin.describe([audio_media(4000)]), now)
    # incoming: on IncomingCall(call, offer): ua.answer(call, answer(offer, local, origin), now)
    # switch to T.38 (same m-line slot, RFC 3264 §8.3.3):
    #     ua.reinvite(call, origin.describe([image_media(4002, T38Params())]), now)
    #     -> MediaChanged(call, remote, local) or ReInviteFailed(call, 488/491/...)
    # their T.38 offer: on ReInviteOffer(call, offer):
    #     ua.accept_reinvite(call, answer(offer, local, origin), now) or
    #     ua.reject_reinvite(call, 488, now)
    # end: ua.bye(call, now) -> CallEnded(call, EndReason.LOCAL_BYE, 200)

Session timers are handled inside the UA: a refresh re-offers the SDP in force byte for
byte (same o= version), so a T.38 stream is not disturbed and the application sees only
:class:`SessionRefreshed`.
"""
