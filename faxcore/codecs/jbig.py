"""ITU-T T.85 JBIG (the facsimile profile of T.82 JBIG1): encode and decode one page.

A T.85 stream is a BIE (bi-level image entity): a 20-byte BIH (header) then stripe data
entities (SDE: arithmetic-coded lines, SCD, ended by an SDNORM ``FF 02`` or SDRST ``FF 03``
marker), with floating marker segments between them: ATMOVE ``FF 06`` (moves the adaptive
template pixel from a given line on), NEWLEN ``FF 05`` (the real page length, when the BIH
has VLENGTH), COMMENT ``FF 07``. T.85 restricts the BIH to one layer (DL=0, D=0, P=1),
sequential order, MY=0, no deterministic prediction and no TPDON; the options left are
LRLTWO (2-line template), VLENGTH and TPBON (typical prediction).

The arithmetic coder and the context models are in :mod:`faxcore.codecs._jbig`; the
marker parsing is here, linear in the input. :func:`decode` has the MMR contract: never
raises on damaged data, returns the lines decoded so far with ``error`` set.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Mapping

import numpy as np

from faxcore.codecs import _jbig
from faxcore.codecs.t4 import MAX_PIXELS, MAX_ROWS, MAX_WIDTH, DecodedPage, PackedBitmap, pack

log = logging.getLogger(__name__)

BIH_LEN = 20
#: BIH option bits (T.82 6.2.3.7) that T.85 allows
LRLTWO, VLENGTH, TPBON = 0x40, 0x20, 0x08
_ALLOWED_OPTIONS = LRLTWO | VLENGTH | TPBON
ESC, STUFF, SDNORM, SDRST, ABORT, NEWLEN, ATMOVE, COMMENT = 0xFF, 0, 2, 3, 4, 5, 6, 7
YD_UNKNOWN = 0xFFFFFFFF
_MARKER = re.compile(b"\xff[\x01-\xff]")


class JbigHeaderError(ValueError):
    """The BIH is not a T.85 one (raised by :func:`parse_bih`)."""


#: BIH bits that mean nothing for one layer of one plane (T.82 6.2.3: the order bits
#: HITOLO/SEQ/ILEAVE/SMID choose among layers, planes and stripes; TPDON and DPON apply
#: to differential layers): accepted by ``strict=False``, as written by full T.82
#: encoders for a single layer (jbigkit's ``pbmtojbg -q``, libtiff's JBIG codec)
TPDON, DPON, DPPRIV, DPLAST = 0x10, 0x04, 0x02, 0x01
DP_TABLE_LEN = 1728


def parse_bih(data: bytes | memoryview, *, strict: bool = True) -> dict[str, int]:
    """The BIH fields, checked against T.85's restrictions (``strict=False``: any
    single-layer, single-plane T.82 BIH whose extra bits have no effect on it). The
    result's ``start`` is where the stripes begin (after a private DP table)."""
    if len(data) < BIH_LEN:
        raise JbigHeaderError(f"BIH needs {BIH_LEN} bytes, got {len(data)}")
    dl, d, p, fill, xd, yd, l0, mx, my, order, options = struct.unpack(
        ">BBBBIIIBBBB", bytes(data[:BIH_LEN]))
    if (dl, d, p) != (0, 0, 1):
        raise JbigHeaderError(f"not T.85: DL={dl} D={d} P={p} (T.85: one layer, one plane)")
    start = BIH_LEN
    if strict and (fill or my or order):
        raise JbigHeaderError(f"not T.85: fill={fill} MY={my} order={order:#x} (must be 0)")
    if fill or order & ~0x0F:
        raise JbigHeaderError(f"fill={fill} order={order:#x}: reserved bits set")
    allowed = _ALLOWED_OPTIONS | (0 if strict else TPDON | DPON | DPPRIV | DPLAST)
    if options & ~allowed:
        raise JbigHeaderError(f"not T.85: options {options:#04x} (allowed: LRLTWO, VLENGTH, "
                              "TPBON)")
    if options & (DPPRIV | DPLAST) == DPPRIV:
        start += DP_TABLE_LEN            # a private DP table follows (unused by one layer)
    if mx > 127:
        raise JbigHeaderError(f"MX={mx} > 127")
    if not 1 <= xd <= MAX_WIDTH:
        raise JbigHeaderError(f"XD={xd}: width must be 1..{MAX_WIDTH}")
    if l0 < 1:
        raise JbigHeaderError("L0=0")
    return {"xd": xd, "yd": yd, "l0": l0, "mx": mx, "options": options, "start": start}


#: the largest AT offset the encoder's own choice considers by default (the BIH MX): the
#: periods of ordered-dither halftones (4, 8, 16) and dense text pitches; the statistics
#: cost grows with it (see :func:`choose_at`)
AT_MAX = 16
#: a move must save this many bits (by the estimate) on the stripe: the ATMOVE segment
#: (8 bytes) plus what the contexts that learnt the old AT pixel pay to relearn
AT_MARGIN_BITS = 64 * 8
#: ... and this share of the stripe's estimated bits: on text the estimate promises a few
#: per cent that the coder does not deliver (a trial would reject the move, at the cost
#: of coding the stripe twice), on halftones it promises tens of per cent and is right
AT_MARGIN_SHARE = 0.05


def at_costs(counts: np.ndarray) -> np.ndarray:
    """Estimated bits to code the counted pixels with each AT offset (``inf`` for the
    offsets 1 and 2, which T.85 does not allow): over the 1024 contexts, the adaptive
    (Krichevsky-Trofimov) code length, approximated as the empirical entropy plus half a
    bit per doubling of a context's count, the price of learning it
    (:func:`faxcore.codecs._jbig.at_cost_bits`)."""
    return _jbig.at_cost_bits(np.ascontiguousarray(counts, dtype=np.int64))


#: how many of the offsets the statistics rank best are tried by coding the stripe
AT_TRIALS = 1


def choose_at(packed: PackedBitmap, first: int, count: int, current: int, *,
              two_line: bool = False, tpbon: bool = True, mx: int = AT_MAX,
              top: int = 0, margin_bits: float | None = None,
              trials: int | None = None) -> list[int]:
    """AT offsets worth trying for the stripe ``first .. first + count`` instead of
    ``current`` (our own rule, in the spirit of T.82 6.7.3's suggestion), best first: the
    offsets among 0 and 3..``mx`` whose estimated code length over this stripe's coded
    lines (:func:`at_costs` of :func:`faxcore.codecs._jbig.at_counts`) beats the current
    one's by more than ``margin_bits`` (default :data:`AT_MARGIN_BITS`) and
    :data:`AT_MARGIN_SHARE` of it, at most ``trials`` (default :data:`AT_TRIALS`) of them.
    ``top``: lines above it are white (SDRST)."""
    margin_bits = AT_MARGIN_BITS if margin_bits is None else margin_bits
    trials = AT_TRIALS if trials is None else trials
    # a pixel ``width`` or more to the left is always outside the page (white): useless
    mx = min(mx, packed.width - 1)
    if mx < 3 or count <= 0 or trials < 1:
        return []
    counts = _jbig.at_counts(packed.data, packed.width, first, count, top, two_line,
                             tpbon, mx)
    cost = at_costs(counts)
    # an offset beyond the page's width is as good as a white pixel: no estimate of it
    bar = (cost[current] - max(margin_bits, AT_MARGIN_SHARE * cost[current])
           if current <= mx else np.inf)
    order = [int(t) for t in np.argsort(cost, kind="stable") if cost[t] < bar]
    return [t for t in order if t != current][:trials]


def encode(
    bitmap: np.ndarray | PackedBitmap,
    *,
    l0: int = 128,
    two_line: bool = False,
    tpbon: bool = True,
    at_moves: Mapping[int, int] | None = None,
    mx: int | None = None,
    yd: int | None = None,
    comment: bytes | None = None,
    sdrst: bool = False,
    trim_zeros: bool = False,
    auto_at: bool = False,
    chosen: dict[int, int] | None = None,
) -> bytes:
    """Encode a page as a T.85 BIE.

    Args:
        l0: lines per stripe (T.85: 128 is the basic value; any 1..2**32-1 is allowed).
        two_line: the 2-line template (LRLTWO) instead of the 3-line one.
        tpbon: typical prediction.
        at_moves: line -> AT offset ``tx`` (0..127, 0 = the default pixel): an ATMOVE
            marker segment before the stripe that holds the line (its YAT counts from the
            stripe's first line).
        mx: the BIH MX (largest tx allowed); default: the largest tx in ``at_moves``, or
            :data:`AT_MAX` with ``auto_at``.
        yd: announce this length in the BIH (VLENGTH set; ``YD_UNKNOWN`` allowed) and send
            the real one in a NEWLEN after the last stripe (T.85 variable length). It must
            be at least the page's rows.
        comment: a COMMENT marker segment after the BIH.
        sdrst: end the stripes with SDRST instead of SDNORM: each stripe is then coded as
            if it were the first (fresh statistics and TPBON state, default AT pixel, white
            lines above it), so it decodes on its own.
        trim_zeros: drop all 0x00 bytes at the end of each stripe's data, as jbigkit's
            full T.82 encoder (libjbig ``jbg_enc``, ``pbmtojbg``) does; by default the
            stripe ends as jbigkit's T.85 encoder (``jbg85_enc``, ``pbmtojbg85``) ends it,
            which may keep one or two. A decoder pads with zeros: the pixels are the same.
        auto_at: the encoder chooses the AT pixel itself (:func:`choose_at`), stripe by
            stripe from that stripe's statistics, among 0 and 3..MX; a move is an ATMOVE
            at the stripe's first line (at most one per stripe, as jbigkit's T.85
            decoder requires). Not with ``at_moves``.
        chosen: with ``auto_at``, filled with the moves made (line -> tx), which
            ``at_moves`` takes to code the page again with the same moves.
    """
    packed = bitmap if isinstance(bitmap, PackedBitmap) else pack(bitmap)
    rows = packed.rows
    moves = {int(k): int(v) for k, v in (at_moves or {}).items()}
    if any(not 0 <= v <= 127 for v in moves.values()):
        raise ValueError("AT offsets must be 0..127")
    if any(not 0 <= k < max(rows, 1) for k in moves):
        raise ValueError("AT moves must name lines of the page")
    if auto_at and moves:
        raise ValueError("auto_at chooses the AT moves: give no at_moves")
    if mx is None:
        mx = AT_MAX if auto_at else max(moves.values(), default=0)
    if not 0 <= mx <= 127 or any(v > mx for v in moves.values()):
        raise ValueError("MX must be 0..127 and cover every AT offset")
    if not 1 <= l0 <= 0xFFFFFFFF:
        raise ValueError("l0 must be 1..2**32-1")
    options = (LRLTWO if two_line else 0) | (TPBON if tpbon else 0)
    if yd is not None:
        if not rows <= yd <= YD_UNKNOWN:
            raise ValueError(f"announced yd {yd} must be >= the page's {rows} rows")
        options |= VLENGTH
    out = [struct.pack(">BBBBIIIBBBB", 0, 0, 1, 0, packed.width,
                       rows if yd is None else yd, l0, mx, 0, 0, options)]
    if comment is not None:
        out.append(struct.pack(">BBI", ESC, COMMENT, len(comment)) + bytes(comment))
    model = _jbig.Model(packed.width, two_line, tpbon)
    current = 0
    for first in range(0, rows, l0):
        count = min(l0, rows - first)
        if auto_at:
            model, sde, tx = _stripe_with_at_choice(model, packed, first, count, current,
                                                    two_line, tpbon, mx, sdrst, trim_zeros)
            if tx != current:
                current = tx
                out.append(struct.pack(">BBIBB", ESC, ATMOVE, 0, tx, 0))
                if chosen is not None:
                    chosen[first] = tx
            out.append(sde)
        else:
            stripe_moves = {y: tx for y, tx in moves.items() if first <= y < first + count}
            for y in sorted(stripe_moves):
                out.append(struct.pack(">BBIBB", ESC, ATMOVE, y - first, stripe_moves[y], 0))
            out.append(_jbig.encode_stripe(model, packed.data, first, count, stripe_moves,
                                           trim_zeros))
        out.append(bytes((ESC, SDRST if sdrst else SDNORM)))
        if sdrst:
            model.reset()
            current = 0
    if yd is not None and yd != rows:
        # as jbigkit's encoder ends such a page: NEWLEN, then an empty stripe's SDNORM
        # (jbigkit's decoder waits for that SDNORM; ours needs none)
        out.append(struct.pack(">BBIBB", ESC, NEWLEN, rows, ESC, SDNORM))
    return b"".join(out)


def encode_for_line(bitmap: np.ndarray | PackedBitmap, *, optional_l0: bool = False) -> bytes:
    """The smallest BIE we make that every T.85 receiver must take, for a fax page: the
    3-line template, our own AT choice (``auto_at``, MX = :data:`AT_MAX`), TPBON on or off
    (both coded, the shorter kept: a page without repeated lines is shorter without it;
    the AT moves are chosen once, with TPBON, and used for both).
    L0 is T.85's basic 128 lines, or with ``optional_l0`` (T.30 DCS bit 79, which the
    receiver offered in DIS bit 79) the whole page in one stripe: each stripe ends its
    arithmetic code (flush) and adds an SDNORM, a few bytes a stripe."""
    packed = bitmap if isinstance(bitmap, PackedBitmap) else pack(bitmap)
    l0 = max(packed.rows, 1) if optional_l0 else 128
    moves: dict[int, int] = {}
    with_tp = encode(packed, l0=l0, tpbon=True, auto_at=True, chosen=moves)
    without = encode(packed, l0=l0, tpbon=False, at_moves=moves, mx=AT_MAX)
    return without if len(without) < len(with_tp) else with_tp


def _stripe_with_at_choice(model: _jbig.Model, packed: PackedBitmap, first: int,
                           count: int, current: int, two_line: bool, tpbon: bool, mx: int,
                           sdrst: bool, trim_zeros: bool) -> tuple[_jbig.Model, bytes, int]:
    """One stripe coded with the AT offset the statistics suggest, if that is shorter.

    :func:`choose_at`'s estimate ranks the offsets well on halftones but can be wrong on
    text (the QM-coder's adaptation is not the static entropy it measures), so the moves
    it proposes are tried: the stripe is coded each way from copies of the same coder
    state and the best move is kept only if its data plus the 8-byte ATMOVE segment is
    shorter than staying.
    Returns the model to go on with, the stripe's data and its AT offset."""
    tries = choose_at(packed, first, count, current, two_line=two_line, tpbon=tpbon,
                      mx=mx, top=first if sdrst else 0)
    best = (model, b"", current, -1)
    for tx in tries:
        moved = model.copy()
        sde = _jbig.encode_stripe(moved, packed.data, first, count, {first: tx}, trim_zeros)
        if best[3] < 0 or len(sde) < best[3]:
            best = (moved, sde, tx, len(sde))
    stay = _jbig.encode_stripe(model, packed.data, first, count, {}, trim_zeros)
    if best[3] >= 0 and best[3] + 8 < len(stay):
        return best[0], best[1], best[2]
    return model, stay, current


class _Floating:
    """Floating marker segments read between two SDEs."""

    def __init__(self) -> None:
        self.at_moves: dict[int, int] = {}
        self.newlen: int | None = None
        self.abort = False
        self.error: str | None = None


def _floating(buf: bytes, pos: int) -> tuple[int, _Floating]:
    """Read the floating marker segments at ``pos``; returns where the next SDE starts."""
    f = _Floating()
    n = len(buf)
    while pos + 1 < n and buf[pos] == ESC and buf[pos + 1] not in (STUFF, SDNORM, SDRST):
        kind = buf[pos + 1]
        if kind == ABORT:
            f.abort = True
            return pos + 2, f
        size = {NEWLEN: 6, ATMOVE: 8, COMMENT: 6}.get(kind)
        if size is None:
            f.error = f"invalid marker FF {kind:02X} at byte {pos}"
            return pos, f
        if pos + size > n:
            f.error = f"marker FF {kind:02X} cut short at byte {pos}"
            return n, f
        if kind == NEWLEN:
            f.newlen = int.from_bytes(buf[pos + 2:pos + 6], "big")
        elif kind == ATMOVE:
            yat = int.from_bytes(buf[pos + 2:pos + 6], "big")
            tx, ty = buf[pos + 6], buf[pos + 7]
            if ty != 0 or tx > 127:
                f.error = f"ATMOVE tx={tx} ty={ty} at byte {pos}: T.85 needs ty=0, tx<=MX"
                return pos, f
            f.at_moves[yat] = tx
        else:
            size += int.from_bytes(buf[pos + 2:pos + 6], "big")
            if pos + size > n:
                f.error = f"COMMENT of {size - 6} bytes cut short at byte {pos}"
                return n, f
        pos += size
    return pos, f


def decode(data: bytes | bytearray | memoryview, *, width: int | None = None,
           rows: int | None = None, max_rows: int | None = None,
           strict: bool = True) -> DecodedPage:
    """Decode a T.85 BIE. Never raises on damaged data.

    ``strict=False`` also takes single-layer T.82 BIEs with BIH bits that do not apply to
    one layer (see :func:`parse_bih`).

    ``width`` (optional) must match the BIH's XD; ``rows`` stops after that many lines;
    ``max_rows`` caps the lines (default: the BIH's YD, at most 65535 and 2**28 pixels).
    The lines of a stripe whose data is cut short are kept only up to the last one
    decoded from real bytes (not from the zero padding past the end). Memory: the lines
    decoded, so at most the capped page size.
    """
    buf = bytes(data)
    try:
        bih = parse_bih(buf, strict=strict)
    except JbigHeaderError as exc:
        w = width or 1
        return _page(np.zeros((0, (w + 7) // 8), np.uint8), w, str(exc), False, 0)
    xd, yd, l0, mx, options = bih["xd"], bih["yd"], bih["l0"], bih["mx"], bih["options"]
    if width is not None and width != xd:
        return _page(np.zeros((0, (width + 7) // 8), np.uint8), width,
                     f"BIH width XD={xd} is not the expected {width}", False, 0)
    cap = min(MAX_ROWS, MAX_PIXELS // xd)
    if rows is not None:
        cap = min(cap, max(0, rows))
    elif max_rows is not None:
        cap = min(cap, max(0, max_rows))
    model = _jbig.Model(xd, bool(options & LRLTWO), bool(options & TPBON))
    parts: list[np.ndarray] = []
    done = 0
    error: str | None = None
    ended = False
    pos = bih["start"]
    n = len(buf)
    pending_moves: dict[int, int] = {}
    while True:
        pos, f = _floating(buf, pos)
        if f.newlen is not None:
            error = _newlen(options, yd, f.newlen, done)
            if error:
                break
            yd = f.newlen
        if done >= min(yd, cap):
            ended = done >= yd
            if not ended:
                error = f"page of {yd} lines cut at the cap of {cap} lines"
            break
        if f.error or f.abort:
            error = f.error or "ABORT marker"
            break
        if any(tx > mx for tx in f.at_moves.values()):
            error = f"ATMOVE beyond MX={mx}"
            break
        # T.82 6.2.6.1: YAT counts lines from the top of the stripe that follows
        pending_moves.update({done + y: tx for y, tx in f.at_moves.items()})
        if pos >= n:
            error = f"data ended after {done} of {yd} lines"
            break
        m = _MARKER.search(buf, pos)
        end = n if m is None else m.start()
        marker = None if m is None else buf[end + 1]
        after = n if marker is None else end + 2
        inner_newlen = None
        if marker == NEWLEN and buf[end + 6:end + 7] == b"\xff" and \
                buf[end + 7:end + 8] in (b"\x02", b"\x03"):
            # a NEWLEN inside the last SDE, before its SDNORM (jbigkit reads it so)
            inner_newlen = int.from_bytes(buf[end + 2:end + 6], "big")
            marker, after = buf[end + 7], end + 8
        if marker is not None and marker not in (SDNORM, SDRST):
            error = f"stripe at byte {pos} ended by marker FF {marker:02X}, not SDNORM/SDRST"
            break
        # T.85: a NEWLEN right after this SDE may end the page inside this stripe
        _, ahead = _floating(buf, after)
        if inner_newlen is not None:
            error = _newlen(options, yd, inner_newlen, done)
            if error:
                break
            yd = inner_newlen
        yd_now = yd
        if ahead.newlen is not None and not _newlen(options, yd, ahead.newlen, done):
            yd_now = ahead.newlen
        count = min(l0, yd_now - done, cap - done)
        out = np.zeros((count, (xd + 7) // 8), np.uint8)
        moves = {y: tx for y, tx in pending_moves.items() if done <= y < done + count}
        pads = _jbig.decode_stripe(model, buf, pos, end, out, 0, count, moves)
        for y in moves:
            del pending_moves[y]
        if marker is None:
            good = int(np.count_nonzero(pads == 0))
            parts.append(out[:good])
            done += good
            error = (f"data ended inside the stripe at line {done - good}: kept {good} of "
                     f"{count} lines decoded from real bytes")
            break
        parts.append(out)
        done += count
        if marker == SDRST:
            model.reset()
        pos = after
    packed = (np.concatenate(parts) if parts
              else np.zeros((0, (xd + 7) // 8), np.uint8))
    if rows is not None and done < rows and error is None:
        error = f"data ended after {done} of {rows} rows"
    if error:
        log.debug("jbig decode: %s", error)
    return _page(packed, xd, error, ended, min(pos, n) * 8)


def _newlen(options: int, yd: int, new: int, done: int) -> str | None:
    """Why a NEWLEN is invalid here (T.82 6.2.6.2, T.85), or None."""
    if not options & VLENGTH:
        return "NEWLEN without VLENGTH in the BIH"
    if new > yd:
        return f"NEWLEN {new} larger than YD {yd}"
    if new < done:
        return f"NEWLEN {new} after {done} lines were decoded"
    return None


def _page(packed: np.ndarray, width: int, error: str | None, ended: bool,
          consumed_bits: int) -> DecodedPage:
    return DecodedPage(
        packed=PackedBitmap(packed, width),
        rows=int(packed.shape[0]),
        bad_rows=0,
        bad_row_indices=[],
        max_consecutive_bad_rows=0,
        end_marker_seen=ended,
        error=error,
        consumed_bits=consumed_bits,
        scheme="jbig",
    )
