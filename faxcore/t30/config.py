"""How a T.30 station is set up (:class:`T30Config`), and the fixed signal timings the
engine uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faxcore.t30.dis import SCHEMES
from faxcore.t30.idents import encode_ident
from faxcore.t30.nsf import nsf_fif
from faxcore.t30.pages import RxPage, TxPage
from faxcore.t30.store import PageStore
from faxcore.t30.timers import DEFAULT_TIMERS, Timers

GAP_MS = 75  # silence between signals in opposite directions / of different kinds
CED_MS = 2650  # answer tone: T.30 allows 2.6-4.0 s; short, as spandsp's, saves line time
TCF_SECONDS = 1.5
TCF_MIN_ZERO_RUN = 1.0  # seconds of unbroken zeros that make a TCF good (spandsp)
PAGE_MODEMS: tuple[str, ...] = ("v17", "v29", "v27ter")
"""The modems that carry pages, fastest first: what ``T30Config.modems`` takes and offers
by default (and Class 1 calls too). The same names as ``faxcore.modem.PAGE_MODEMS``,
written here because t30 does not import the modems (a test keeps the two equal)."""


@dataclass
class T30Config:
    """How a station behaves. ``pages``: what to send (a caller sends them; an answerer
    offers them for polling). ``poll``: a caller without pages asks to receive (DTC).

    Phase B extras: ``sub_address`` and ``sender_ident`` go out as SUB and SID frames with
    DCS when the far end's DIS offers them (bits 49 and 50); ``accept_sid`` makes a
    receiver refuse (DCN, SID_UNACCEPTABLE) a sender without that SID. ``password`` is
    sent as PWD with DTC when polling; ``poll_password`` is what a polled station
    requires. What the far end sent is in the result (``remote_sub_address``,
    ``remote_sender_ident``, ``remote_password``).

    Receiving: ``page_store`` (:class:`~faxcore.t30.store.PageStore`) is given every page
    (and ECM block) before the answer confirming it is queued, and must make it durable
    before it returns; ``on_page`` is told of every page kept, after the store.

    Coding: ``schemes`` are the codings offered and used. ``jbig`` offers and uses T.85
    (JBIG, DIS bits 78 and 79; it adds "jbig" to ``schemes``, as does naming it there);
    off by default, as in HylaFAX (Class1JBIGSupport). T.85 needs ECM: without ``ecm``
    it is neither offered nor used. ``prefer_jbig``: when both ends offer T.85 and MMR,
    send T.85 (smaller pages); else MMR."""

    calling: bool = True
    pages: Sequence[TxPage] = ()
    receive: bool = True
    poll: bool = False
    ident: str = ""
    ecm: bool = True
    modems: tuple[str, ...] = PAGE_MODEMS
    schemes: tuple[str, ...] = ("mh", "mr", "mmr")
    jbig: bool = False
    prefer_jbig: bool = True
    fine: bool = True
    superfine: bool = True
    max_width: int = 2
    ecm_frame_size: int = 256
    min_scan_ms: int = 0
    timers: Timers = DEFAULT_TIMERS
    max_tries: int = 3
    max_rtn: int = 3
    ppr_limit: int = 4
    rtp_ratio: float = 0.05
    rtn_ratio: float = 0.15
    rnr_count: int = 0
    poll_password: str = ""  # answering: documents are polled only with this PWD
    password: str = ""       # calling to poll: PWD sent with DTC
    sub_address: str = ""    # sending: SUB (subaddress) sent with DCS
    sender_ident: str = ""   # sending: SID (sender identification, a password) with DCS
    accept_sid: str = ""     # receiving: pages only from a sender whose SID is this
    nsf: bytes = b""         # answering: an NSF to send before CSI/DIS (T.35 order;
                             # see faxcore.t30.nsf); none by default
    codec: Any = None
    on_page: Callable[[RxPage], None] | None = None
    page_store: PageStore | None = None

    def __post_init__(self) -> None:
        if self.calling and not self.pages and not self.poll:
            raise ValueError("a calling station needs pages to send or poll=True")
        for s in self.schemes:
            if s not in SCHEMES:
                raise ValueError(f"unknown coding scheme {s!r}")
        self.schemes = tuple(self.schemes)
        if self.jbig and "jbig" not in self.schemes:
            self.schemes = (*self.schemes, "jbig")
        self.jbig = "jbig" in self.schemes
        for m in self.modems:
            if m not in PAGE_MODEMS:
                raise ValueError(f"unknown modem {m!r}")
        if self.ecm_frame_size not in (64, 256):
            raise ValueError("ecm_frame_size must be 64 or 256")
        for text in (self.ident, self.password, self.poll_password, self.sub_address,
                     self.sender_ident, self.accept_sid):
            encode_ident(text)  # validates
        self.nsf = bytes(self.nsf)
        if self.nsf:
            nsf_fif(self.nsf)  # validates
        self.pages = [p if isinstance(p, TxPage) else TxPage(p) for p in self.pages]
