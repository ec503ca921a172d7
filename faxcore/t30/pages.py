"""Pages: what a station sends (:class:`TxPage`) and receives (:class:`RxPage`), how a page
is coded for the line (:func:`encode_page`) and how a received one is judged
(:func:`judge_page`: decoded, damaged rows and a lost end counted, copy quality MCF, RTP
or RTN), with the T.4 measures they use (nominal page length, coded scan line time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from faxcore.t30.dis import PIXELS_WIDTH, RESOLUTIONS, DCSParams

if TYPE_CHECKING:  # T30Config holds pages: a type-only import, no cycle at run time
    from faxcore.t30.config import T30Config

log = logging.getLogger("faxcore.t30")

K_FACTOR = {"standard": 2, "fine": 4, "superfine": 8}
"""T.4 MR: at most K-1 2-D coded rows after each 1-D one, by resolution."""


#: coded forms a TxPage keeps (one per scheme, K and minimum row length it was sent in)
CODED_KEPT = 4


def line_lsb_first(scheme: str) -> bool:
    """Whether the codec's bytes for ``scheme`` are bit-reversed (``lsb_first``) to make
    the octets of the line (ECM frames and non-ECM data, each octet sent LSB first).
    MH/MR/MMR are bit streams: the first coded bit goes first, so it is the LSB of the
    first line octet. A T.85 BIE is a sequence of octets (T.82): each BIE octet is a
    line octet, its LSB first like any other; not reversed. HylaFAX (libjbig's BIE
    through its ECM framing, both ways) and spandsp (t85_encode's octets straight into
    ECM frames) do so."""
    return scheme != "jbig"


@dataclass
class TxPage:
    """A page to send: ``bitmap`` rows x width, uint8 0/1 (1 = black). A page with
    ``new_document`` starts another document: the page before it ends with EOM.

    The page keeps what it was coded to for the line (:func:`encode_page`), so a page
    sent in many calls (a broadcast, a retry) is packed and coded once per mode, not
    once per call. Its pixels are therefore taken as fixed once it has been sent:
    assigning ``bitmap`` starts afresh, changing the array in place is not noticed
    (make a new TxPage instead)."""

    bitmap: np.ndarray
    resolution: str = "fine"
    new_document: bool = False  # starts a new document: EOM (not MPS) before it
    _coded: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "bitmap" and "_coded" in self.__dict__:
            self._coded.clear()  # other pixels: other codes

    def __post_init__(self) -> None:
        self.bitmap = np.asarray(self.bitmap, dtype=np.uint8)
        if self.bitmap.ndim != 2 or self.bitmap.shape[0] == 0:
            raise ValueError("a page bitmap must be a non-empty 2-D array")
        if self.bitmap.shape[1] not in PIXELS_WIDTH:
            raise ValueError(f"page width {self.bitmap.shape[1]} is not 1728, 2048 or 2432")
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}")

    @property
    def width(self) -> int:
        return int(self.bitmap.shape[1])


@dataclass(init=False)
class RxPage:
    """A received page. ``bitmap`` is None if the data could not be decoded at all.

    The page is kept packed (``packed``: ``rows`` x ceil(``width`` / 8) octets, MSB
    first, 1 = black, as :class:`faxcore.codecs.PackedBitmap` has it), one eighth of a
    bitmap's memory: a fine A4 page is about 475 KB instead of 3.8 MB, for every page
    of every call in progress. ``bitmap`` unpacks it to rows x width ``uint8`` 0/1 on
    each access (not cached, which would undo the saving): take it once and hold it.
    ``RxPage(bitmap, ...)`` (a bitmap, as before) and ``RxPage(packed=...)`` both work.

    ``rows`` is the number of rows in ``bitmap``. ``bad_rows`` counts the damaged rows
    and, when the page lost its end (``end_lost``: non-ECM data without RTC), the rows
    taken as missing (see :func:`judge_page`); ``consecutive_bad_rows`` is the
    longest run of them (TIFF ConsecutiveBadFaxLines). ``error`` is the decoder's first
    complaint, if any. ``quality`` is the answer it got: MCF, RTP or RTN.

    ``unconfirmed``: the call ended before the page was confirmed to the sender, which
    therefore does not count it as delivered; it is kept because what arrived is worth
    keeping: a non-ECM page that arrived whole (RTC seen, quality MCF or RTP: the
    ``quality`` it would have got) whose post-page command (MPS/EOM/EOP) never came, or
    the blocks of an ECM page received before the call ended (its data from frame 0 on,
    confirmed or not; ``end_lost`` when its end marker is not among them). See
    :meth:`~faxcore.t30.receiver.ReceiverMixin._keep_unconfirmed`."""

    packed: np.ndarray | None = field(repr=False)
    resolution: str
    scheme: str
    width: int
    rows: int
    bad_rows: int
    ecm: bool
    data: bytes = field(repr=False, default=b"")
    quality: str = "MCF"
    consecutive_bad_rows: int = 0
    end_lost: bool = False
    error: str | None = None
    unconfirmed: bool = False

    def __init__(self, bitmap: np.ndarray | None = None, resolution: str = "fine",
                 scheme: str = "mh", width: int = 0, rows: int = 0, bad_rows: int = 0,
                 ecm: bool = False, data: bytes = b"", quality: str = "MCF",
                 consecutive_bad_rows: int = 0, end_lost: bool = False,
                 error: str | None = None, unconfirmed: bool = False, *,
                 packed: np.ndarray | None = None) -> None:
        if bitmap is not None and packed is not None:
            raise ValueError("give a page's bitmap or its packed rows, not both")
        self.packed = None
        self.resolution, self.scheme, self.width = resolution, scheme, int(width)
        self.rows, self.bad_rows, self.ecm = int(rows), int(bad_rows), bool(ecm)
        self.data, self.quality = data, quality
        self.consecutive_bad_rows, self.end_lost = consecutive_bad_rows, end_lost
        self.error, self.unconfirmed = error, unconfirmed
        if bitmap is not None:
            self.bitmap = bitmap
        elif packed is not None:
            packed = np.ascontiguousarray(packed, dtype=np.uint8)
            if packed.ndim != 2 or packed.shape[1] != (self.width + 7) // 8:
                raise ValueError(f"packed rows of width {self.width} must be 2-D with "
                                 f"{(self.width + 7) // 8} octets a row, got {packed.shape}")
            self.packed = packed

    @property
    def bitmap(self) -> np.ndarray | None:
        """The rows as a 2-D ``uint8`` array, 1 = black; None if nothing was decoded.
        Unpacked from ``packed`` on every access."""
        if self.packed is None:
            return None
        return np.unpackbits(self.packed, axis=1, count=self.width)

    @bitmap.setter
    def bitmap(self, bitmap: np.ndarray | None) -> None:
        if bitmap is None:
            self.packed = None
            return
        bitmap = np.asarray(bitmap)
        if bitmap.ndim != 2:
            raise ValueError(f"a page bitmap must be 2-D, got shape {bitmap.shape}")
        self.width = int(bitmap.shape[1])
        self.packed = np.packbits(bitmap != 0, axis=1)


MAX_LINE_SECONDS = 5.0  # T.4: a total coded scan line takes less than 5 s (non-ECM)

# Nominal page lengths (T.4 2.2): A4 297 mm, B4 364 mm, at 3.85 / 7.7 / 15.4 lines per mm.
# A page that lost its end is taken to have been this long ("unlimited": A4).
LINES_PER_MM = {"standard": 3.85, "fine": 7.7, "superfine": 15.4}
PAGE_MM = {"a4": 297, "b4": 364, "unlimited": 297}


def nominal_rows(resolution: str, length: str = "a4") -> int:
    """Rows of a page of the nominal ``length`` ("a4", "b4", "unlimited" = A4)."""
    return int(PAGE_MM.get(length, 297) * LINES_PER_MM[resolution])


def longest_coded_line(data: bytes) -> int:
    """The longest total coded scan line of MH/MR page data (octets LSB first), in bits:
    the longest distance between the ends of two successive EOLs (eleven or more zeros,
    then a one), which covers a row's code, its fill and the EOL that ends it."""
    bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8), bitorder="little")
    ones = np.flatnonzero(bits)
    if len(ones) < 2:
        return 0
    ends = ones[1:][np.diff(ones) > 11]
    if ones[0] >= 11:
        ends = np.concatenate([ones[:1], ends])
    return int(np.diff(ends).max()) if len(ends) >= 2 else 0


def _trailing_run(bad_rows: list[int], rows: int) -> int:
    """How many of the last rows of a page (``rows`` of them) are in ``bad_rows``."""
    n = 0
    for r in reversed(bad_rows):
        if r != rows - 1 - n:
            break
        n += 1
    return n


def page_codec(config: T30Config) -> Any:
    """The page codec: ``config.codec`` if one is given, else :mod:`faxcore.codecs`."""
    if config.codec is not None:
        return config.codec
    # Imported here, not at the top: faxcore.codecs needs the compiled core, and the
    # sans-IO engine (and faxcore.t30 as a whole) must import without it.
    from faxcore import codecs

    return codecs


def encode_page(page: TxPage, dcs: DCSParams, config: T30Config) -> bytes:
    """``page`` coded for the line in the mode of ``dcs``: the scheme, K for MR, the
    minimum scan line time as fill, RTC at the end. Scheme "jbig" (ECM only): the T.85
    BIE (see :func:`_encode_jbig`), its octets as they are (each sent LSB first, as every
    line octet: see :func:`line_lsb_first`)."""
    codec = page_codec(config)
    min_row = dcs.min_row_bits()
    try:  # the codec itself in the key (an id could be reused by another codec)
        key: tuple | None = (codec, dcs.scheme, K_FACTOR[dcs.resolution], min_row,
                             dcs.scheme == "jbig" and dcs.jbig_l0)
        coded = page._coded.get(key)
    except TypeError:  # a codec object that cannot be hashed: nothing kept
        key, coded = None, None
    if coded is not None:
        return coded
    opts = {"min_row_bits": min_row} if min_row else {}
    if dcs.scheme == "jbig" and config.codec is None:
        coded = _encode_jbig(page, dcs)
    else:
        # The line carries octets LSB first (T.4, T.4 Annex A): see line_lsb_first.
        coded = bytes(codec.encode(page.bitmap, dcs.scheme, k=K_FACTOR[dcs.resolution],
                                   end_marker=True, lsb_first=line_lsb_first(dcs.scheme),
                                   **opts))
    if key is None:
        return coded
    if len(page._coded) >= CODED_KEPT:
        page._coded.pop(next(iter(page._coded)))  # the oldest
    page._coded[key] = coded
    return coded


def _encode_jbig(page: TxPage, dcs: DCSParams) -> bytes:
    """The T.85 BIE of our own codec for the line: the smallest it makes within what the
    DCS allows (:func:`faxcore.codecs.jbig.encode_for_line`): its own AT pixel choice
    (ATMOVE, MX 16) and TPBON on or off, which every T.85 decoder takes; L0 = 128 (T.85's
    basic value) unless the DCS has bit 79 (T.85 optional L0, set only when the
    receiver's DIS offered it): then the whole page is one stripe."""
    # Imported here, not at the top: as in page_codec (the compiled core)
    from faxcore.codecs import jbig

    # a BIE's octets go on the line as they are (line_lsb_first("jbig") is False)
    return jbig.encode_for_line(page.bitmap, optional_l0=dcs.jbig_l0)


def judge_page(data: bytes, dcs: DCSParams, config: T30Config,
               truncated: bool = False) -> RxPage:
    """Decode a received page (``data`` in the mode of ``dcs``) and judge its copy
    quality (the answer: MCF/RTP/RTN) with ``config``'s thresholds. Pure: no engine,
    nothing kept.

    The rules, in order:

    * nothing decodable (no rows), or (non-ECM) a coded scan line longer than 5 s
      (T.4 4.1.2: a broken transmitter or line): RTN;
    * a non-ECM page whose data ends without RTC has **lost its end** (the carrier
      dropped or the data was cut): how much is gone cannot be known, so the rows
      from the end of what arrived to the nominal page length of the DCS (A4 or B4
      at the page's resolution; A4 when unlimited), and at least one row, count as
      bad rows, consecutive ones, on top of the rows the decoder found damaged;
    * then, with ``bad`` the bad rows so counted and ``total`` the rows received
      plus the missing ones: ``bad > rtn_ratio * total`` (15 %): RTN;
      ``bad > rtp_ratio * total`` (5 %): RTP; else MCF;
    * a page that lost its end is never MCF: at least RTP, so the transmitter
      retrains and the result and the TIFF-F (BadFaxLines, CleanFaxData = 2,
      "uncorrected errors") record the damage.

    ECM pages: the frame map makes their data complete, so a missing end marker alone
    says nothing (the quality answer is not used either: ECM answers per block). But
    a block closed with EOR/ERR keeps its gaps: when decoding stops with an error
    before the end marker, the page has lost its end as above, and the result and
    the TIFF-F record it. (Rows MMR decoded from the data after a gap before it
    noticed cannot be told from good ones.) ``truncated``: ECM data that is known to
    stop short (the call ended mid-page): without its end marker the page lost its
    end, even when the data stops between two rows."""
    width = dcs.width_pixels
    error: str | None = None
    end_seen = True
    try:
        page = page_codec(config).decode(data, dcs.scheme, width,
                                         lsb_first=line_lsb_first(dcs.scheme))
        packed, rows, bad = _packed_rows(page, width), int(page.rows), int(page.bad_rows)
        run = int(page.max_consecutive_bad_rows)
        error, end_seen = page.error, bool(page.end_marker_seen)
        trailing = _trailing_run(page.bad_row_indices, rows)
    except Exception as e:  # the decoder's errors on hostile data: a bad page
        log.warning("page data could not be decoded: %s", e)
        packed, rows, bad, run, trailing, error = None, 0, 0, 0, 0, str(e)
    end_lost = rows > 0 and not end_seen and (not dcs.ecm or error is not None
                                              or truncated)
    missing = 0
    if end_lost:
        missing = max(nominal_rows(dcs.resolution, dcs.length) - rows, 1)
        bad += missing
        run = max(run, trailing + missing)
        log.warning("page data ended without RTC after %d rows (%s): %d rows taken "
                    "as lost", rows, error or "no decoding error", missing)
    total = rows + missing
    line_bits = 0 if dcs.ecm else longest_coded_line(data)
    if rows == 0:
        quality = "RTN"
    elif line_bits > MAX_LINE_SECONDS * dcs.modulation.rate:
        # A line this long means a broken transmitter or line (T.4 4.1.2): reject.
        log.warning("coded scan line of %.2f s (over %.0f s): page rejected",
                    line_bits / dcs.modulation.rate, MAX_LINE_SECONDS)
        quality = "RTN"
    elif bad > config.rtn_ratio * total:
        quality = "RTN"
    elif bad > config.rtp_ratio * total or end_lost:
        quality = "RTP"
    else:
        quality = "MCF"
    return RxPage(None, dcs.resolution, dcs.scheme, width, rows, bad, dcs.ecm,
                  bytes(data), quality, consecutive_bad_rows=run, end_lost=end_lost,
                  error=error, packed=packed)


def _packed_rows(page: Any, width: int) -> np.ndarray:
    """A decoded page's rows packed: the codec's own packed rows when it has them (no
    bitmap is ever made), else its ``bitmap`` packed (a ``config.codec`` that gives
    bitmaps only)."""
    packed = getattr(page, "packed", None)
    data = getattr(packed, "data", None)
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == (width + 7) // 8:
        return data
    return np.packbits(np.asarray(page.bitmap) != 0, axis=1)
