"""faxcore.sip: a SIP user agent (RFC 3261 subset) and SDP offer/answer (RFC 3264) as a
sans-IO core: datagrams and ``now`` in, datagrams and events out. No sockets here; the
asyncio transport is in :mod:`faxcore.sipfax`. Knows nothing about fax pages or T.30.
"""
