"""Print to fax: a CUPS backend (``faxcore://host:port/?key=...``) that sends the print job
to the fax server's HTTP API (:mod:`faxcore.cups.backend`), and its installation
(:mod:`faxcore.cups.install`). It talks HTTP only: it imports no server module."""
