"""faxcore.server: ``faxcore serve``, the fax server: HTTP API, job scheduler with retries
over channels (loopback, SIP trunk, Class 1 modem), inbound routing, the account gate,
webhooks and metrics.
"""
