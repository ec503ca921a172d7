"""Where a receiver's pages go before it confirms them: the page store hook.

A page the receiver answers with MCF (or RTP; with ECM, a block answered MCF after PPS or
ERR after EOR) is one the sender counts as delivered and will not send again. So it must
be somewhere durable *before* the answer goes out: the engine hands it to the
:class:`PageStore` given in ``T30Config.page_store`` and queues the answer only when
that call has returned. The engine itself does no I/O (sans-IO): the store is supplied by
the layer that owns the files (:class:`faxcore.pagestore.TiffPageWriter` writes a TIFF-F
with fsync); its calls are synchronous, as a disk write followed by fsync is (a few
milliseconds, well inside the 3 s T4 the sender waits for the answer).

A store that raises refuses the page: the engine answers nothing, disconnects (DCN) and
ends with ``T30Status.FILEERROR``; the sender, left without its MCF, does not count the
page as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from faxcore.t30.pages import RxPage


@dataclass(frozen=True)
class ReceivedBlock:
    """One ECM block (partial page) that the receiver is about to confirm, while more
    blocks of the same page are still to come (PPS or EOR with FCF2 = NULL).

    ``page`` is the page's 0-based index among the pages received in the call (the
    index it will have once complete), ``block`` the block's 0-based number within its
    page. ``data`` is the block's coded page data (frames 0..n-1 in order, octets as on
    the line: LSB first), which follows the data of the page's earlier blocks; with
    ``scheme`` (mh, mr, mmr), ``width`` (pixels) and ``resolution`` it can be decoded."""

    page: int
    block: int
    data: bytes = field(repr=False)
    scheme: str
    width: int
    resolution: str


class PageStore(Protocol):
    """What a receiving engine needs to store pages durably (see the module docstring).

    Both methods must return only once what they were given is durable (written and
    fsync'ed, or the equivalent), and raise if it cannot be made so."""

    def store_block(self, block: ReceivedBlock) -> None:
        """An ECM block of a page still in progress, about to be confirmed."""

    def store_page(self, page: RxPage) -> None:
        """A complete page about to be confirmed (MCF or RTP; with ECM, the MCF or ERR
        to its last block), or, as the call ends, a page kept though it never was
        confirmed (``page.unconfirmed``; see :class:`~faxcore.t30.pages.RxPage`)."""
