"""faxcore.rtp: RTP (RFC 3550) for fax over G.711 (PCMU/PCMA, RFC 3551): packets, the
G.711 codec, a fixed jitter buffer (no time-stretching: fax modems need sample-exact
timing) and a sans-IO media stream. No sockets here; the asyncio transport is in
:mod:`faxcore.sipfax`.
"""
