"""Received pages on disk as they arrive, durable before the receiver confirms them.

:class:`TiffPageWriter` is a :class:`~faxcore.t30.store.PageStore`: the T.30 engine hands
it each received page before it answers MCF, and each ECM block before it answers the
PPS of a page still in progress. What is on disk, and when:

* **the TIFF-F** (``path``) grows by one page at a time. The first page creates it (a
  temporary file in the same directory, fsync'ed, renamed over ``path``, the directory
  fsync'ed); each later page is appended (its strip, tags and IFD after the end of the
  file, fsync, then the 4-octet link from the previous IFD, fsync). When
  :meth:`TiffPageWriter.store_page` returns, the page is in the file, so after a crash or
  ``kill -9`` at any moment the file holds every page that was confirmed, and is a valid
  TIFF-F that libtiff and :func:`faxcore.codecs.tiff.read_tiff` read. (An append cut
  short leaves unlinked octets at the end, which readers never reach.) Pages carry
  PageNumber (n, 0), "total unknown", until :meth:`TiffPageWriter.close` at the end of the
  call writes the total. Nothing is written for a call without pages: a file already at
  ``path`` is then left as it was.
* **the partial page** (``path`` + ``.partial``): the confirmed blocks of an ECM page
  whose later blocks have not arrived yet, appended and fsync'ed block by block. It is
  removed once its page is in the TIFF-F. After a crash mid-page it holds the blocks
  that were confirmed; :func:`read_partial` decodes them.

**What is known about the call** goes into each page's tags as the page is written
(:func:`fax_info`, once the writer is attached to the engine with
:meth:`TiffPageWriter.attach`, as :class:`faxcore.FaxSession` does): the sender's TSI
(ImageDescription), when the page was written (DateTime), how long it took to receive
(FaxRecvTime: since the previous page, or since the call began for the first), the session
parameters (FaxRecvParams: resolution, signal rate, width, declared length, data format on
the line, ECM, scan time), the subaddress (FaxSubAddress) and the DCS as received
(FaxDcs): HylaFAX's tags, so that its ``faxinfo`` and ``faxcore info`` show them
(:mod:`faxcore.codecs.faxinfo`). A page far longer than the length its DCS declared
(over ``LONG_PAGE_RATIO`` times A4 or B4; "unlimited" declares none) is logged as a
warning and noted in the page's FaxcoreNotes tag.

A write that fails (disk full, the directory removed or made read-only) raises
``OSError``, and the engine then does not confirm the page (DCN, FILEERROR). With
``fallback_dirs`` the writer moves instead: it writes every page so far (and the partial
page) to a new file in the first of those directories that works, named after the
requested one with the date and time, carries on there, and says so in ``error``; the
call is not disturbed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faxcore.codecs import decode
from faxcore.codecs.faxinfo import DATE_TIME_FORMAT, FaxInfo, RecvParams, dcs_hex
from faxcore.codecs.tiff import (
    PAGE_NUMBER,
    REGENERATED,
    RESOLUTIONS,
    STRIP_OFFSETS,
    UNCLEAN,
    Page,
    read_tiff,
    tiff_bytes,
)
from faxcore.t30.dis import DCSParams
from faxcore.t30.engine import RxPage, T30Engine
from faxcore.t30.frames import Frame, FrameError
from faxcore.t30.pages import LINES_PER_MM, line_lsb_first, nominal_rows
from faxcore.t30.result import CallResult
from faxcore.t30.store import ReceivedBlock

log = logging.getLogger("faxcore.pagestore")

PARTIAL_SUFFIX = ".partial"
_PARTIAL_MAGIC = b"FAXCORE-PARTIAL-PAGE 1\n"
_RECORD = struct.Struct("<4sII")  # b"BLK\n", block number, data length
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

#: A page longer than this many times the A4 or B4 length its DCS declared is flagged.
LONG_PAGE_RATIO = 1.5


def tiff_page(p: RxPage, info: FaxInfo | None = None) -> Page:
    """A received page as a TIFF-F page: its resolution and its damage in the tags
    (BadFaxLines, ConsecutiveBadFaxLines, CleanFaxData 1 when bad rows were
    regenerated, 2 when the page lost its end), and ``info``, its call's metadata
    (:func:`fax_info`), if given."""
    bitmap = p.bitmap  # unpacked once, here: the page itself stays packed
    if bitmap is None:
        raise ValueError("a page that could not be decoded has no bitmap to write")
    x, y = RESOLUTIONS[p.resolution]
    clean = UNCLEAN if p.end_lost else (REGENERATED if p.bad_rows else None)
    return Page(bitmap, xres=x, yres=y, bad_rows=p.bad_rows,
                consecutive_bad_rows=p.consecutive_bad_rows, clean=clean, fax_info=info)


def received_dcs(result: CallResult) -> bytes | None:
    """The FIF of the DCS that set the current mode: the last one received with a good
    FCS, from the call's trace (None if there is none)."""
    for t in reversed(result.trace):
        if t.direction == "rx" and t.name == "DCS" and t.crc_ok:
            try:
                return Frame.parse(bytes.fromhex(t.hex)).fif
            except (ValueError, FrameError):
                return None
    return None


def long_page_note(page: RxPage, length: str, number: int) -> str | None:
    """A warning when ``page`` (page ``number``, from 1) is more than
    ``LONG_PAGE_RATIO`` times the ``length`` (a4, b4) its DCS declared; None if it is
    not, or if the length declared is "unlimited"."""
    if length not in ("a4", "b4"):
        return None
    nominal = nominal_rows(page.resolution, length)
    if page.rows <= LONG_PAGE_RATIO * nominal:
        return None
    mm = page.rows / LINES_PER_MM[page.resolution]
    return (f"page {number} is {mm:.0f} mm long ({page.rows} rows), "
            f"{page.rows / nominal:.1f} times the {length.upper()} length its DCS declared")


def fax_info(page: RxPage, result: CallResult, *, number: int,
             received: float | None = None, recv_time: float | None = None) -> FaxInfo:
    """The metadata of received ``page`` (page ``number`` of the call, from 1) for its
    TIFF tags (:mod:`faxcore.codecs.faxinfo`), from the call's ``result`` as it stands:
    the sender's TSI and SUB, the signal rate now in use (a CTC may have lowered it
    since the DCS), the last DCS received (declared length, scan time) and the page's
    own resolution, width, data format (as on the line) and ECM. ``received``: when
    (seconds since the epoch; DateTime, local time); ``recv_time``: seconds it took
    (FaxRecvTime, rounded). A page far longer than declared gets a note
    (:func:`long_page_note`)."""
    fif = received_dcs(result)
    dcs: DCSParams | None = None
    if fif is not None:
        try:
            dcs = DCSParams.from_fif(fif)
        except ValueError:       # a DCS the engine refused: its fields say nothing
            dcs = None
    params: int | None = None
    rate = result.bit_rate or (dcs.modulation.rate if dcs is not None else 0)
    try:
        params = RecvParams(
            resolution=page.resolution, bit_rate=rate, width=page.width,
            length=dcs.length if dcs is not None else "a4", data_format=page.scheme,
            ecm=page.ecm, scan_ms=dcs.min_scan_ms if dcs is not None else 0).encode()
    except ValueError as e:      # nothing HylaFAX's 32 bits can say (no rate yet...)
        log.debug("no FaxRecvParams for page %d: %s", number, e)
    note = long_page_note(page, dcs.length, number) if dcs is not None else None
    return FaxInfo(
        sender=result.remote_ident, sub_address=result.remote_sub_address,
        received="" if received is None else time.strftime(DATE_TIME_FORMAT,
                                                             time.localtime(received)),
        recv_time=None if recv_time is None else max(0, round(recv_time)),
        recv_params=params, dcs=dcs_hex(fif) if fif is not None else "",
        notes=(note,) if note else ())


def fallback_name(requested: str | os.PathLike, directory: str | os.PathLike) -> Path:
    """Where a file meant for ``requested`` goes in a fallback ``directory``: the same
    name with the date, time and process id added (``received-20250131-142502-4242.tif``)."""
    requested = Path(requested)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(directory) / f"{requested.stem}-{stamp}-{os.getpid()}{requested.suffix}"


def partial_path(path: str | os.PathLike) -> Path:
    """Where the writer of ``path`` keeps the blocks of an ECM page in progress."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def fsync_dir(directory: Path) -> None:
    """Make a directory entry (a created, renamed or removed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # some file systems cannot fsync a directory
            raise
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: a temporary file beside it, fsync,
    rename, fsync of the directory. A crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data, 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def write_all(fd: int, data: bytes, offset: int) -> None:
    """``data`` to the open file ``fd`` at ``offset`` (every byte: pwrite may write less)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


@dataclass
class _Layout:
    """Where a page's IFD sits once written: for linking the next page and for the
    PageNumber total written at the end."""

    next_ptr: int      # file offset of the IFD's next-IFD link
    page_number: int   # file offset of the PageNumber tag's two SHORT values


def _relocated(page: Page, index: int, base: int, scheme: str = "mmr",
               rtc: bool = False) -> tuple[bytes, int, _Layout]:
    """One page as TIFF-F data to be written at file offset ``base`` (after the 8-octet
    header): returns (data, IFD offset in the file, layout). The single-page file
    :func:`tiff_bytes` writes is taken apart and its offsets moved by ``base - 8``;
    ``base`` is moved forward (by 0-3 octets of padding, included in the data) so that
    the IFD is on a word boundary (TIFF) and its next-IFD link, written later to add a
    page, on a 4-octet boundary (so that it never straddles a disk sector)."""
    data = bytearray(tiff_bytes([page], scheme, rtc=rtc))
    if data[:4] != b"II*\x00":
        raise ValueError("expected a little-endian TIFF from tiff_bytes")
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    link = ifd + 2 + 12 * n
    pad = 0
    while (base + pad) % 2 or (link + base + pad - 8) % 4:
        pad += 1
    delta = base + pad - 8
    page_number = None
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag, typ, count = struct.unpack_from("<HHI", data, e)
        size = _TYPE_SIZE.get(typ, 1) * count
        if tag == PAGE_NUMBER:
            struct.pack_into("<HH", data, e + 8, index, 0)  # total: unknown until close
            page_number = e + 8 + delta
        if tag == STRIP_OFFSETS:
            if count == 1:
                struct.pack_into("<I", data, e + 8,
                                 struct.unpack_from("<I", data, e + 8)[0] + delta)
            else:
                at = struct.unpack_from("<I", data, e + 8)[0]
                for j in range(count):
                    v = struct.unpack_from("<I", data, at + 4 * j)[0]
                    struct.pack_into("<I", data, at + 4 * j, v + delta)
        if size > 4:
            struct.pack_into("<I", data, e + 8, struct.unpack_from("<I", data, e + 8)[0] + delta)
    if page_number is None:
        raise ValueError("tiff_bytes wrote no PageNumber tag")
    return bytes(pad) + bytes(data[8:]), ifd + delta, _Layout(link + delta, page_number)


@dataclass
class TiffPageWriter:
    """Writes received pages to a TIFF-F as they arrive, each durable before the call
    confirms it (see the module docstring). Give it to the engine as
    ``T30Config.page_store`` (:class:`faxcore.FaxSession` does, for ``receive=PATH``)
    and call :meth:`close` when the call is over.

    ``fallback_dirs``: where to go on when ``path`` cannot be written (tried in order;
    none: the error goes to the engine, which refuses the page). ``path`` is where the
    pages are now; ``requested`` where they were meant to go; ``error`` says why they
    are not there (None: they are). ``pages_written`` counts the pages in ``path``.

    ``scheme``: how the pages are coded in the file (mmr, the default and the smallest;
    mh for readers that take nothing else, as efax); ``rtc``: MH and MR pages end with
    RTC (for efax: see :func:`faxcore.codecs.tiff.write_tiff`). :meth:`attach` the
    writer to the engine for the call's metadata in every page (the module docstring);
    ``notes`` collects the warnings written in the pages' FaxcoreNotes tags."""

    requested: Path
    fallback_dirs: Sequence[str | os.PathLike] = ()
    scheme: str = "mmr"
    rtc: bool = False
    path: Path = field(init=False)
    error: str | None = field(default=None, init=False)
    pages_written: int = field(default=0, init=False)
    notes: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.scheme not in ("mh", "mr", "mmr"):
            raise ValueError(f"scheme must be mh, mr or mmr, not {self.scheme!r}")
        self._engine: T30Engine | None = None
        self._since = 0.0                  # engine time the current page's time counts from
        self.requested = Path(self.requested)
        self.path = self.requested
        # Kept for a move to a fallback directory: the received page (packed) and its
        # metadata, not the TIFF page, whose bitmap is one octet per pixel (3.8 MB for
        # a fine A4 page, held for the whole call).
        self._pages: list[tuple[RxPage, FaxInfo | None]] = []
        self._layouts: list[_Layout] = []
        self._end = 0                      # file size after our last write
        self._created = False              # we created the file at ``requested``
        self._blocks: list[ReceivedBlock] = []  # the partial page's stored blocks

    def attach(self, engine: T30Engine) -> None:
        """Take each page's metadata from ``engine`` (its result and clock), from now on.
        Call it when the call begins (after ``engine.start``): the first page's receive
        time counts from this moment."""
        self._engine = engine
        self._since = engine.now

    # ---- PageStore -----------------------------------------------------------------

    def store_page(self, page: RxPage) -> None:
        if page.packed is None:
            # Nothing decodable: there are no pixels to write (the engine confirms such
            # a page only under ECM, where the answer goes per block).
            log.warning("page %d could not be decoded: not written", len(self._pages) + 1)
            return
        info = None
        if self._engine is not None:
            now = self._engine.now
            info = fax_info(page, self._engine.result, number=len(self._pages) + 1,
                            received=time.time(), recv_time=now - self._since)
            for note in info.notes:
                log.warning("%s (%s)", note, self.path)
        self._guarded(lambda: self._append(tiff_page(page, info)))
        if info is not None:
            self._since = now
            self.notes += info.notes
        self._pages.append((page, info))
        self.pages_written = len(self._pages)
        if self._blocks:
            # The page's blocks are in the TIFF-F now: the partial file has done its job.
            self._blocks = []
            try:
                partial_path(self.path).unlink()
                fsync_dir(self.path.parent)
            except OSError as e:  # stale, and read_partial knows it: not worth failing
                log.warning("could not remove %s: %s", partial_path(self.path), e)

    def store_block(self, block: ReceivedBlock) -> None:
        if self._blocks and self._blocks[0].page != block.page:
            self._blocks = []  # an older page's blocks (it was never completed)
        self._guarded(lambda: self._append_block(block, not self._blocks))
        self._blocks.append(block)

    # ---- the end of the call ---------------------------------------------------------

    def close(self) -> None:
        """The call is over: write the page total into every PageNumber tag. If the file
        vanished or shrank since the last page (its directory removed...), the pages go
        to a fallback directory as for a failed write."""
        if not self._pages:
            return
        self._guarded(self._finish)

    # ---- internals -------------------------------------------------------------------

    def _guarded(self, write) -> None:
        try:
            write()
        except OSError as e:
            if not self.fallback_dirs or self.path != self.requested:
                raise
            self.error = f"cannot write {self.requested}: {e.strerror or e}"
            log.error("%s; moving the received pages to a fallback directory", self.error)
            self._move()
            write()

    def _move(self) -> None:
        """Rewrite everything written so far in a fallback directory and carry on there."""
        tried = []
        for d in self.fallback_dirs:
            d = Path(d)
            target = fallback_name(self.requested, d)
            try:
                d.mkdir(parents=True, exist_ok=True)
                pages, blocks = self._pages, self._blocks
                self.path, self._layouts, self._end = target, [], 0
                for page, info in pages:
                    self._append(tiff_page(page, info))
                for i, b in enumerate(blocks):
                    self._append_block(b, i == 0)
            except OSError as e:
                tried.append(f"{d}: {e.strerror or e}")
                continue
            log.warning("received pages now go to %s", target)
            if self._created:
                _unlink_quietly(self.requested)  # a partial copy: the whole fax is in target
            return
        self.path = self.requested
        raise OSError(errno.EIO, f"{self.error}; no fallback directory could be written "
                                 f"({'; '.join(tried)})")

    def _append(self, tp: Page) -> None:
        index = len(self._layouts)
        if index == 0:
            body, ifd, layout = _relocated(tp, 0, 8, self.scheme, self.rtc)
            data = b"II*\x00" + struct.pack("<I", ifd) + body
            write_durably(self.path, data)
            self._created = self._created or self.path == self.requested
            self._end = len(data)
        else:
            body, ifd, layout = _relocated(tp, index, self._end, self.scheme, self.rtc)
            fd = os.open(self.path, os.O_RDWR)  # by name: a removed file is an error
            try:
                if os.fstat(fd).st_size < self._end:
                    raise OSError(errno.EIO, f"{self.path} is shorter than what was written")
                write_all(fd, body, self._end)
                os.fsync(fd)
                # Only now link the page in: before this a crash leaves the file as it was
                # (plus unlinked octets at its end).
                write_all(fd, struct.pack("<I", ifd), self._layouts[-1].next_ptr)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._end += len(body)
        self._layouts.append(layout)

    def _finish(self) -> None:
        fd = os.open(self.path, os.O_RDWR)
        try:
            if os.fstat(fd).st_size < self._end:
                raise OSError(errno.EIO, f"{self.path} is shorter than what was written")
            total = struct.pack("<H", len(self._layouts))
            for lay in self._layouts:
                write_all(fd, total, lay.page_number + 2)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _append_block(self, block: ReceivedBlock, first: bool) -> None:
        path = partial_path(self.path)
        record = _RECORD.pack(b"BLK\n", block.block, len(block.data)) + block.data
        if first:
            head = json.dumps({"page": block.page, "scheme": block.scheme,
                               "width": block.width, "resolution": block.resolution})
            write_durably(path, _PARTIAL_MAGIC + head.encode() + b"\n" + record)
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class PartialPage:
    """The confirmed blocks of an ECM page that was never completed (from
    :func:`read_partial`): ``page`` its 0-based index in the fax, ``blocks`` how many,
    ``data`` their coded data, and what it decodes to: ``bitmap`` (``rows`` rows; the
    page's end is missing) and the decoder's ``error``, if any."""

    page: int
    blocks: int
    scheme: str
    width: int
    resolution: str
    data: bytes = field(repr=False)
    bitmap: np.ndarray = field(repr=False)
    rows: int = 0
    error: str | None = None


def read_partial(path: str | os.PathLike) -> PartialPage | None:
    """The partial page left beside the TIFF-F ``path`` by a receiver that stopped
    mid-page (crash, kill), decoded; None if there is none, or if it is stale (its page
    is in the TIFF-F: the receiver stopped between storing the page and removing it). A
    record cut short at the end (a block never confirmed) is left out."""
    try:
        raw = partial_path(path).read_bytes()
    except FileNotFoundError:
        return None
    if not raw.startswith(_PARTIAL_MAGIC):
        raise ValueError(f"{partial_path(path)} is not a faxcore partial page")
    head_end = raw.index(b"\n", len(_PARTIAL_MAGIC))
    head = json.loads(raw[len(_PARTIAL_MAGIC):head_end])
    pos, chunks = head_end + 1, []
    while pos + _RECORD.size <= len(raw):
        tag, _number, n = _RECORD.unpack_from(raw, pos)
        if tag != b"BLK\n" or pos + _RECORD.size + n > len(raw):
            break
        chunks.append(raw[pos + _RECORD.size:pos + _RECORD.size + n])
        pos += _RECORD.size + n
    try:
        have = len(read_tiff(path, strict=False))
    except (OSError, ValueError):
        have = 0
    if have > head["page"]:
        return None
    data = b"".join(chunks)
    got = decode(data, head["scheme"], head["width"],
                 lsb_first=line_lsb_first(head["scheme"]))  # the blocks are line octets
    return PartialPage(head["page"], len(chunks), head["scheme"], head["width"],
                       head["resolution"], data, got.bitmap[:int(got.rows)], int(got.rows),
                       got.error)
