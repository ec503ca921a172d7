"""faxcore.sipfax: a fax call over SIP. One SIP dialog (:mod:`faxcore.sip`) whose media is
G.711 audio over RTP (:mod:`faxcore.rtp` driving a :class:`~faxcore.session.FaxSession`)
or T.38 over UDPTL (:mod:`faxcore.t38`), with the switch between them, and the thin
asyncio UDP transports that carry it.
"""
