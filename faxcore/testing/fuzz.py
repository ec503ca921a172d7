"""Fuzz targets: hostile bytes in, every public parser and receiver exercised, every
promise it makes checked. Shared by ``make fuzz`` (fuzz/run.py), the AddressSanitizer
replay in ``make test`` (scripts/asan-replay.sh) and tests/fuzz/test_fuzz_targets.py.

A target is a function ``run(data, opts) -> signature``: it feeds ``data`` to the code
under test, returns quietly when everything held, and raises when something did not:
an exception the API does not document (a crash in waiting), or an ``AssertionError``
from a broken invariant (below). The small hashable *signature* describes what the input
did (events seen, error kind, ...); ``make fuzz`` keeps inputs with new signatures to
mutate further, a cheap stand-in for coverage feedback, which Cython code does not give.

Input formats (the files of ``tests/corpus/<target>/`` use the same):

* ``mh``, ``mr``, ``mmr``: the coded stream, width 1728 unless the file name says
  ``-w<width>``. Decoded as is, bit-reversed with ``lsb_first`` (must give the same page)
  and with a row count (the TIFF strip path; MR with K=2, or ``-k<K>`` from the name).
* ``raw_mh``, ``raw_mr``, ``raw_mmr``: a raw ``.g3`` / ``.g4`` stream for ``read_raw``
  (same width rule).
* ``jbig``: a T.85 BIE (its width is in its header), decoded as is, bit-reversed with
  ``lsb_first`` and with a row count; a clean page must re-encode to the same pixels.
* ``tiff``: a TIFF file for ``read_tiff`` (strict and lenient).
* ``v21``, ``v27ter``, ``v29``, ``v17``: int16 little-endian 8 kHz samples, fed to a
  receiver at every bit rate of the modem (or only ``-r<rate>`` when the name says so;
  ``-short``: a V.17 receiver for short training), once whole and once in blocks of odd
  sizes: the two runs must agree exactly.
* ``hdlc``: line octets, unpacked LSB first into the bits fed to the HDLC deframer (whole
  and in odd blocks: the two must agree).
* ``t30``: frames, each a length octet then that many octets (address, control, FCF,
  FIF; no FCS), parsed (:meth:`Frame.parse` and the FIF decoders) and given in turn to
  an answering and a calling :class:`~faxcore.t30.engine.T30Engine`.
* ``class1_dte``, ``class1_dce``: bytes the peer writes on the serial line, replayed by
  :mod:`faxcore.testing.class1_fuzz` (``replay_dte_bytes`` / ``replay_dce_bytes``).

"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faxcore import codecs, modem
from faxcore.codecs import MAX_PIXELS as CODEC_MAX_PIXELS
from faxcore.codecs import MAX_ROWS, _t4
from faxcore.codecs import jbig as jb
from faxcore.codecs.raw import read_raw
from faxcore.codecs.t4 import SCHEMES as T4_SCHEMES
from faxcore.codecs.tiff import Page, read_tiff
from faxcore.modem import MODEMS
from faxcore.modem.base import CARRIER_DOWN, CARRIER_UP, EVENT_KINDS
from faxcore.modem.hdlc import MAX_FRAME, HdlcDecoder
from faxcore.t30 import T30Config, T30Engine, TxPage
from faxcore.t30.dis import Capabilities, DCSParams, modulation_from_ctc
from faxcore.t30.ecm import parse_ppr
from faxcore.t30.frames import Frame, FrameError
from faxcore.t30.idents import decode_ident
from faxcore.t30.modem_if import FrameReceived
from faxcore.t30.nsf import parse_nsf
from faxcore.testing import fuzz_rtp, fuzz_sip, fuzz_t38
from faxcore.testing.class1_fuzz import replay_dce_bytes, replay_dte_bytes

__all__ = ["HIDDEN_TARGETS", "TARGETS", "Case", "Target", "corpus_cases", "opts_from_name",
           "run_case"]

#: ``read_tiff`` / ``read_raw`` pixel and row caps: keep one case small and fast (the caps
#: themselves are tested in tests/codecs/test_tiff*.py).
MAX_PIXELS = 1 << 20
RAW_MAX_ROWS = 2048
#: rows asked for in the decoder's "rows given" run (TIFF strips)
STRIP_ROWS = 100
#: block sizes for the chunked run of receivers and the deframer (cycled)
CHUNKS = (1, 160, 7, 1000, 77, 8000, 2)
BIT_CHUNKS = (1, 9, 300, 3, 4096, 62)


@dataclass(frozen=True)
class Case:
    """One input: ``data`` with options taken from its file name, and where it came from."""

    data: bytes
    opts: Mapping[str, int] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Target:
    name: str                           # also the corpus directory
    run: Callable[[bytes, Mapping[str, int]], Hashable]
    kind: str                           # "codec", "audio" or "bytes": how to mutate
    max_len: int = 1 << 16              # generated inputs are cut to this many bytes
    #: options a corpus file name may carry: letter -> (option, min, max)
    name_opts: Mapping[str, tuple[str, int, int]] = field(default_factory=dict)
    #: flags a corpus file name may carry: word -> option set to 1 (``-short``)
    name_flags: Mapping[str, str] = field(default_factory=dict)
    #: share of the replay's generated inputs (pure-Python targets need fewer under ASan)
    replay_share: float = 1.0


def _norm(msg: str | None) -> str | None:
    """An error message without its numbers: the kind of error, for signatures."""
    return None if msg is None else re.sub(r"\d+", "#", msg)[:80]


# ---- codecs ---------------------------------------------------------------------------

_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _check_page(p, data: bytes, width: int, limit: int, scheme: str) -> None:
    rowbytes = (width + 7) // 8
    arr = p.packed.data
    assert arr.dtype == np.uint8 and arr.shape == (p.rows, rowbytes), (arr.shape, p.rows)
    assert 0 <= p.rows <= min(limit, MAX_ROWS, CODEC_MAX_PIXELS // width), p.rows
    if width % 8 and p.rows:
        pad = (1 << (8 - width % 8)) - 1   # bits past the width: 0 from the decoder
        assert not (arr[:, -1] & pad).any(), "bits set past the width"
    bad = p.bad_row_indices
    assert p.bad_rows == len(bad) and bad == sorted(set(bad)), bad[:10]
    assert all(0 <= i < p.rows for i in bad), bad[:10]
    assert 0 <= p.max_consecutive_bad_rows <= p.bad_rows
    assert 0 <= p.skipped_bits <= p.consumed_bits <= 8 * len(data), \
        (p.skipped_bits, p.consumed_bits, len(data))
    assert scheme != "mmr" or p.skipped_bits == 0
    assert p.error is None or isinstance(p.error, str)


def _same_page(a, b) -> bool:
    return (a.rows == b.rows and a.bad_row_indices == b.bad_row_indices
            and a.error == b.error and a.consumed_bits == b.consumed_bits
            and a.end_marker_seen == b.end_marker_seen and a.skipped_bits == b.skipped_bits
            and np.array_equal(a.packed.data, b.packed.data))


def _codec(scheme: str) -> Callable[[bytes, Mapping[str, int]], Hashable]:
    def run(data: bytes, opts: Mapping[str, int]) -> Hashable:
        width = opts.get("width", 1728)
        # codecs.decode and modem.receiver are looked up on each call, so that the
        # driver's tests can wrap them with a broken decoder or receiver
        decode = codecs.decode
        p = decode(data, scheme, width)
        _check_page(p, data, width, min(MAX_ROWS, CODEC_MAX_PIXELS // width), scheme)
        # FillOrder 2 is a byte translation in front of the same core: same page
        q = decode(data.translate(_REVERSED), scheme, width, lsb_first=True)
        assert _same_page(p, q), "lsb_first decode differs from the plain one"
        s = decode(data, scheme, width, rows=STRIP_ROWS,
                   k=opts.get("k", 2) if scheme == "mr" else None)
        _check_page(s, data, width, STRIP_ROWS, scheme)
        # the decoder's fast paths against its plain reading of the algorithm: the same
        # rows, damage, error and bit counts for any input (the fast forms index packed
        # rows directly, so this is where a hostile stream would tell them apart)
        limit = max(0, min(MAX_ROWS, CODEC_MAX_PIXELS // width))
        fast = _t4.decode_packed(data, width, T4_SCHEMES[scheme], limit, 0, False)
        plain = _t4.decode_packed(data, width, T4_SCHEMES[scheme], limit, 0, False, plain=True)
        assert np.array_equal(fast[0], plain[0]) and fast[1:] == plain[1:], \
            "fast decode differs from the plain one"
        return (_norm(p.error), p.end_marker_seen, p.bad_rows > 0, p.skipped_bits > 0,
                min(p.rows, 4), _norm(s.error))
    return run


#: pixels one fuzz input may decode to: a 20-byte JBIG header can declare 2**28 pixels
#: that cost no input (zero padding is valid T.85 data); the unit tests cover that cap
JBIG_FUZZ_PIXELS = 1 << 22


def _jbig(data: bytes, opts: Mapping[str, int]) -> Hashable:
    """A T.85 BIE (width from its header): decoded whole, bit-reversed with ``lsb_first``
    (same page), with a row count; a clean page re-encodes to the same pixels."""
    try:
        width = jb.parse_bih(data)["xd"]
    except jb.JbigHeaderError:
        width = 1                         # what decode() reports without a header
    limit = max(1, JBIG_FUZZ_PIXELS // width)
    p = jb.decode(data, max_rows=limit)
    _check_page(p, data, width, limit, "jbig")
    assert p.error is not None or p.end_marker_seen, "no error and no end"
    q = codecs.decode(data.translate(_REVERSED), "jbig", width, lsb_first=True,
                      max_rows=limit)
    assert _same_page(p, q), "lsb_first decode differs from the plain one"
    s = jb.decode(data, rows=STRIP_ROWS)
    _check_page(s, data, width, STRIP_ROWS, "jbig")
    assert np.array_equal(s.packed.data, p.packed.data[:s.rows]) or p.rows < s.rows
    if p.error is None and p.rows:
        again = jb.decode(jb.encode(p.packed))
        assert np.array_equal(again.packed.data, p.packed.data), "re-encoded page differs"
    return (_norm(p.error), p.end_marker_seen, min(p.rows, 4), _norm(s.error))


def _raw(scheme: str) -> Callable[[bytes, Mapping[str, int]], Hashable]:
    def run(data: bytes, opts: Mapping[str, int]) -> Hashable:
        width = opts.get("width", 1728)
        try:
            pages = read_raw(data, scheme, width, max_rows=RAW_MAX_ROWS)
        except ValueError as exc:          # documented: no decodable row at all
            return ("ValueError", _norm(str(exc).split(" in ")[0]))
        assert pages, "read_raw returned no page and raised nothing"
        for i, pg in enumerate(pages):
            assert isinstance(pg, Page) and pg.page_number == i
            bm = pg.bitmap
            assert bm.dtype == np.uint8 and bm.ndim == 2 and bm.shape[1] == width, bm.shape
            assert 1 <= bm.shape[0] <= RAW_MAX_ROWS and int(bm.max(initial=0)) <= 1
            assert 0 <= pg.consecutive_bad_rows <= pg.bad_rows <= bm.shape[0]
        return (min(len(pages), 3), tuple(sorted({_norm(p.error) for p in pages}, key=str)))
    return run


def _tiff(data: bytes, opts: Mapping[str, int]) -> Hashable:
    sig = []
    for strict in (True, False):
        try:
            pages = read_tiff(data, strict=strict, max_pixels=MAX_PIXELS)
        except ValueError as exc:          # TiffError and friends: documented
            sig.append((type(exc).__name__, _norm(str(exc))[:40]))
            continue
        assert pages, "read_tiff returned no page and raised nothing"
        for p in pages:
            assert isinstance(p, Page)
            bm = p.bitmap
            assert bm.dtype == np.uint8 and bm.ndim == 2, (bm.dtype, bm.shape)
            assert bm.shape[0] >= 1 and bm.shape[1] >= 1 and bm.size <= MAX_PIXELS
            assert int(bm.max(initial=0)) <= 1
            # BadFaxLines may count rows a page lost after its last one (not <= rows)
            assert 0 <= p.consecutive_bad_rows <= p.bad_rows
        sig.append((len(pages), tuple(sorted({p.scheme for p in pages}))))
    return tuple(sig)


# ---- modems ---------------------------------------------------------------------------

def _receive(name: str, rate: int, samples: np.ndarray, chunks, short: bool) -> tuple:
    """Feed ``samples`` in blocks of the sizes ``chunks`` (cycled); check each output."""
    rx = modem.receiver(name, rate, **({"short_train": True} if short else {}))
    bits: list[np.ndarray] = []
    events: list[tuple[str, int]] = []
    fed = 0
    k = 0
    carrier = False
    while fed < len(samples) or k == 0:
        n = chunks[k % len(chunks)]
        k += 1
        block = samples[fed:fed + n]
        rx.rx(block)
        fed += len(block)
        b = rx.bits()
        assert isinstance(b, np.ndarray) and b.dtype == np.uint8 and b.ndim == 1, b.dtype
        assert not (b > 1).any(), "bit values other than 0/1"
        bits.append(b)
        for ev in rx.events():
            assert ev.kind in EVENT_KINDS, ev
            assert 0 <= ev.sample < max(fed, 1), (ev, fed)
            # Events in time order. V.21 reports estimated burst edges rather than
            # detection times, each searched for after the previous edge, so this holds
            # for it too (a burst cut short once reported its end before its start).
            assert not events or events[-1][1] <= ev.sample, (events[-1], ev)
            if ev.kind == CARRIER_UP:
                assert not carrier, "carrier_up twice"
                carrier = True
            elif ev.kind == CARRIER_DOWN:
                assert carrier, "carrier_down without carrier_up"
                carrier = False
            else:
                assert carrier, f"{ev.kind} while the carrier is down"
            events.append((ev.kind, ev.sample))
        assert rx.trained in (True, False, 0, 1)
        assert not rx.trained or carrier, "trained without a carrier"
    return np.concatenate(bits).tobytes(), tuple(events)


def _modem(name: str) -> Callable[[bytes, Mapping[str, int]], Hashable]:
    def run(data: bytes, opts: Mapping[str, int]) -> Hashable:
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
        rates = [opts["rate"]] if opts.get("rate") in MODEMS[name] else MODEMS[name]
        short = bool(opts.get("short_train"))
        sig = []
        for rate in rates:
            whole = _receive(name, rate, samples, (max(len(samples), 1),), short)
            chunked = _receive(name, rate, samples, CHUNKS, short)
            assert whole == chunked, f"{name} {rate}: output depends on the block sizes"
            sig.append(tuple(dict.fromkeys(kind for kind, _ in whole[1]))
                       + (len(whole[0]) > 0,))
        return tuple(sig)
    return run


# ---- HDLC, T.30 -------------------------------------------------------------------------

def _deframe(bits: np.ndarray, chunks) -> tuple:
    dec = HdlcDecoder()
    out = []
    pos = k = 0
    while pos < len(bits) or k == 0:
        n = chunks[k % len(chunks)]
        k += 1
        for ev in dec.put_bits(bits[pos:pos + n]):
            assert ev.kind in ("frame", "bad", "abort", "flags"), ev
            assert isinstance(ev.data, bytes) and len(ev.data) <= MAX_FRAME + 4, len(ev.data)
            assert ev.kind not in ("bad", "abort") or not ev.ok, ev
            out.append((ev.kind, ev.data, ev.ok))
        pos += n
    st = dec.stats
    assert st["good"] == sum(1 for e in out if e[0] == "frame" and e[2]), (st, len(out))
    return tuple(out)


def _hdlc(data: bytes, opts: Mapping[str, int]) -> Hashable:
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    whole = _deframe(bits, (max(len(bits), 1),))
    chunked = _deframe(bits, BIT_CHUNKS)
    assert whole == chunked, "deframer output depends on the block sizes"
    return tuple(dict.fromkeys((kind, ok) for kind, _, ok in whole))


def t30_frames(data: bytes) -> list[bytes]:
    """Split a ``t30`` input into frames (length octet, then the frame)."""
    frames, pos = [], 0
    while pos < len(data):
        n = data[pos]
        frames.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    return frames


def _t30(data: bytes, opts: Mapping[str, int]) -> Hashable:
    frames = t30_frames(data)
    names = []
    for raw in frames:
        try:
            f = Frame.parse(raw)
        except FrameError:
            names.append("!")
            continue
        name = f.name
        names.append(name)
        if name in ("DIS", "DTC"):
            Capabilities.from_fif(f.fif)
        elif name == "DCS":
            try:
                DCSParams.from_fif(f.fif)
            except ValueError:             # documented: a code that names nothing
                pass
        elif name == "CTC":
            try:
                modulation_from_ctc(f.fif)
            except ValueError:
                pass
        elif name in ("CSI", "TSI", "CIG", "SUB", "SID", "PWD", "SEP", "PSA", "CIA", "ISP",
                      "TSA", "IRA"):
            decode_ident(f.fif)
        elif name == "PPR":
            assert parse_ppr(f.fif) <= set(range(256))
        elif name in ("NSF", "NSC", "NSS"):
            parse_nsf(f.fif)
    page = TxPage(np.zeros((8, 1728), np.uint8), "standard")
    for cfg in (T30Config(calling=False), T30Config(calling=True, pages=[page])):
        eng = T30Engine(cfg)
        now = 0.0
        eng.start(now)
        eng.commands()
        for i, raw in enumerate(frames[:64]):
            now += 0.5
            eng.handle_timer(now)
            eng.handle_event(FrameReceived(raw, crc_ok=bool(i % 7)), now)
            eng.commands()
    return tuple(names[:6])


# ---- registry ---------------------------------------------------------------------------

_WIDTH = {"w": ("width", 1, 65535)}


def _targets() -> dict[str, Target]:
    t: list[Target] = []
    for s in ("mh", "mr", "mmr"):
        t.append(Target(s, _codec(s), "codec",
                        name_opts={**_WIDTH, "k": ("k", 1, 255)} if s == "mr" else _WIDTH))
    for s in ("mh", "mr", "mmr"):
        t.append(Target(f"raw_{s}", _raw(s), "codec", name_opts=_WIDTH))
    t.append(Target("tiff", _tiff, "bytes"))
    t.append(Target("jbig", _jbig, "bytes"))
    for m in ("v21", "v27ter", "v29", "v17"):
        t.append(Target(m, _modem(m), "audio", max_len=1 << 17,
                        name_opts={"r": ("rate", 300, 14400)},
                        name_flags={"short": "short_train"} if m == "v17" else {}))
    t.append(Target("hdlc", _hdlc, "hdlc"))
    t.append(Target("t30", _t30, "t30", max_len=4096))
    t.extend(_class1_targets())
    # the network parsers (pure Python: fewer generated inputs under ASan)
    for module in (fuzz_sip, fuzz_t38, fuzz_rtp):
        t.extend(Target(name, run, "bytes", max_len=max_len, replay_share=1 / 3)
                 for name, run, max_len in module.FUZZ)
    return {x.name: x for x in t}


def _class1_targets() -> list[Target]:
    """The Class 1 driver (DTE side) and emulator (DCE side), replayed by
    :mod:`faxcore.testing.class1_fuzz`, which owns those checks."""
    return [Target(name, _class1(fn), "bytes", max_len=8192, replay_share=1 / 3)
            for name, fn in (("class1_dte", replay_dte_bytes), ("class1_dce", replay_dce_bytes))]


def _class1(replay: Callable[[bytes], object]) -> Callable[[bytes, Mapping[str, int]], Hashable]:
    def run(data: bytes, opts: Mapping[str, int]) -> Hashable:
        result = replay(data)
        return result if isinstance(result, Hashable) else None
    return run


TARGETS: dict[str, Target] = _targets()


def _selftest(data: bytes, opts: Mapping[str, int]) -> Hashable:
    """Fails on purpose, so that tests can prove the driver catches each kind of failure:
    ``ABORT...`` kills the process (as an ASan report does), and so does ``ABOR...``
    longer than 1000 bytes (mutations of a short one get there: a *generated* crash),
    ``RAISE...`` raises, ``HANG...`` never returns; anything else passes."""
    if data.startswith(b"ABORT") or (data.startswith(b"ABOR") and len(data) > 1000):
        os.abort()
    if data.startswith(b"RAISE"):
        raise RuntimeError("selftest finding")
    if data.startswith(b"HANG"):
        time.sleep(3600)
    return data[:1]


#: not run by default (``make fuzz``, the replay); named explicitly by the driver's tests
HIDDEN_TARGETS: dict[str, Target] = {"_selftest": Target("_selftest", _selftest, "bytes")}


def run_case(target: Target, case: Case) -> Hashable:
    """Run one case; raises on a finding (see module docstring)."""
    return target.run(case.data, case.opts)


# ---- corpus -----------------------------------------------------------------------------

def opts_from_name(target: Target, name: str) -> dict[str, int]:
    """Options a corpus file name carries, e.g. ``vl1-run-w8.bin`` -> ``{"width": 8}``,
    ``seed-r14400-short.bin`` -> ``{"rate": 14400, "short_train": 1}``. Values out of
    range are ignored (the file then runs with the defaults)."""
    opts: dict[str, int] = {}
    stem = Path(name).stem
    for letter, (opt, lo, hi) in target.name_opts.items():
        m = re.search(rf"(?:^|[-_.]){letter}(\d+)(?=[-_.]|$)", stem)
        if m and lo <= int(m.group(1)) <= hi:
            opts[opt] = int(m.group(1))
    for word, opt in target.name_flags.items():
        if re.search(rf"(?:^|[-_.]){word}(?=[-_.]|$)", stem):
            opts[opt] = 1
    return opts


def corpus_cases(target: Target, corpus: Path) -> Iterator[Case]:
    """Every committed input of ``target`` under ``corpus`` (tests/corpus), sorted."""
    d = corpus / target.name
    if not d.is_dir():
        return
    for path in sorted(d.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix != ".bin" or not path.is_file():
            # never skip an input silently: a new kind of corpus file needs support here
            raise ValueError(f"{path}: corpus inputs are .bin files")
        yield Case(path.read_bytes(), opts_from_name(target, path.name), f"corpus:{path}")
