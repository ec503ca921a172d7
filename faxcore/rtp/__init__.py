"""faxcore.rtp: RTP (RFC 3550) for fax over G.711 (PCMU/PCMA, RFC 3551): packets, the
G.711 codec, a fixed jitter buffer (no time-stretching: fax modems need sample-exact
timing) and a sans-IO media stream. No sockets here; the asyncio transport is in
:mod:`faxcore.sipfax.rtp_media`.

* :mod:`faxcore.rtp.packet`: :class:`RtpPacket` (parse/build), :class:`RtpError`
* :mod:`faxcore.rtp.g711`: ``encode``/``decode``, ``PCMU`` (0), ``PCMA`` (8)
* :mod:`faxcore.rtp.jitter`: :class:`JitterBuffer`, :class:`JitterStats`
* :mod:`faxcore.rtp.stream`: :class:`RtpAudioStream` (what a call uses), :class:`StreamStats`
"""

from faxcore.rtp.g711 import PCMA, PCMU
from faxcore.rtp.jitter import JitterBuffer, JitterStats
from faxcore.rtp.packet import RtpError, RtpPacket
from faxcore.rtp.stream import FRAME, PTIME_MS, RtpAudioStream, StreamStats

__all__ = ["FRAME", "PCMA", "PCMU", "PTIME_MS", "JitterBuffer", "JitterStats", "RtpAudioStream",
           "RtpError", "RtpPacket", "StreamStats"]
