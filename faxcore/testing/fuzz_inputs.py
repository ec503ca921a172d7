"""Inputs for the fuzz targets of :mod:`faxcore.testing.fuzz`: built-in seeds (valid
inputs made with faxcore's own encoders and transmitters), mutations, and the
deterministic case streams of the AddressSanitizer replay.

Every generated case is a pure function of ``(seed, target, index)`` and of the pool it
mutates (the committed corpus and the seeds): the replay under ``CI=true`` runs the same
inputs for a given commit, and any one of them can be made again from its label
(``gen:<target>#<index>@<seed>``) with :func:`generated_case`.

Mutations know the input formats: byte edits for everything; bit-level insertion of
T.4/T.6 code words, repeated (runs of one mode are what walks a 2-D decoder's indices
off its arrays), for the codecs; gain, noise, clipping, silence, dropped samples and
spliced bursts on int16 samples for the modems; flags and aborts for HDLC; length-framed
frame edits for T.30.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence

import numpy as np

from faxcore import modem
from faxcore.codecs import encode
from faxcore.codecs.raw import raw_bytes
from faxcore.codecs.tiff import tiff_bytes
from faxcore.modem import MODEMS
from faxcore.modem.hdlc import HdlcEncoder
from faxcore.t30.dis import Capabilities, DCSParams
from faxcore.t30.ecm import fcd_frame, ppr_map
from faxcore.t30.frames import Frame, pps_fif
from faxcore.t30.idents import encode_ident
from faxcore.t30.nsf import nsf_fif
from faxcore.testing.fuzz import Case, Target, t30_frames

__all__ = ["generated_case", "generated_cases", "mutate", "random_input", "seeds", "with_rate"]

# T.4 / T.6 code words as bit strings: modes, EOL, EOFB half, a few run codes,
# the 2-D extension (uncompressed mode) prefix
CODE_WORDS = (
    "1", "011", "010", "000011", "000010", "0000011", "0000010", "0001", "001",
    "000000000001", "0000000000011", "0000000000010", "0000001111", "00110101",
    "0000110111", "11011", "000000001111", "0000001000", "00000001", "0" * 24,
)
INTERESTING = (0x00, 0xFF, 0x7F, 0x80, 0x01, 0x7E, 0x10, 0xFE)
HDLC_TOKENS = (b"\x7e", b"\x7e\x7e\x7e", b"\xff", b"\xff\x03", b"\xff\x13", b"\x00",
               b"\x1f", b"\xf8")


# ---- seeds ------------------------------------------------------------------------------

def _page(rows: int, width: int, seed: int) -> np.ndarray:
    """Text-like rows (a few black runs each), a ruled line, a checkered band."""
    rng = np.random.default_rng(seed)
    bm = np.zeros((rows, width), np.uint8)
    for y in range(rows):
        cuts = np.sort(rng.integers(0, width, size=2 * int(rng.integers(0, 6))))
        for a, b in zip(cuts[::2], cuts[1::2], strict=True):
            bm[y, a:b] = 1
    if rows > 4:
        bm[rows // 2] = 1
        bm[1, ::2] = 1
        bm[2, 1::2] = 1
    return bm


@functools.cache
def _codec_seeds(target: str) -> tuple[Case, ...]:
    scheme = target.removeprefix("raw_")
    out = []
    for width, rows, seed in ((1728, 12, 1), (64, 20, 2), (8, 16, 3), (215, 9, 4), (1, 5, 5)):
        pg = _page(rows, width, seed)
        if target.startswith("raw_"):
            data = raw_bytes([pg, _page(rows, width, seed + 10)], scheme)
            out.append(Case(data, {"width": width}, f"seed:{target}-w{width}"))
            continue
        out.append(Case(encode(pg, scheme), {"width": width}, f"seed:{target}-w{width}"))
        if scheme != "mmr":
            out.append(Case(encode(pg, scheme, end_marker=False, eol_align=True),
                            {"width": width}, f"seed:{target}-w{width}-aligned"))
    return tuple(out)


@functools.cache
def _tiff_seeds() -> tuple[Case, ...]:
    pages = [_page(24, 50, 1), _page(17, 50, 2)]
    files = [
        tiff_bytes(pages, "none", rows_per_strip=7),
        tiff_bytes(pages[:1], "none", fill_order=2, byteorder=">"),
        tiff_bytes(pages, "mh", eol_align=True, fill_order=2, rows_per_strip=5),
        tiff_bytes(pages, "mr", k=2),
        tiff_bytes(pages, "mmr", rows_per_strip=9),
        tiff_bytes(pages[1:], "mmr", byteorder=">", fill_order=2),
    ]
    return tuple(Case(f, {}, f"seed:tiff-{i}") for i, f in enumerate(files))


def _burst(name: str, rate: int, nbits: int, seed: int, **opts) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tx = modem.transmitter(name, rate, **opts)
    tx.send(rng.integers(0, 2, nbits).astype(np.uint8))
    parts = []
    while not tx.done:
        parts.append(tx.tx(800))
    return np.concatenate(parts)


@functools.cache
def _audio_seeds(name: str) -> tuple[Case, ...]:
    gap = np.zeros(600, np.int16)       # 75 ms of silence, as between T.30 bursts
    out = []
    for i, rate in enumerate(MODEMS[name]):
        audio = np.concatenate([gap[:320], _burst(name, rate, 240, i), gap])
        out.append(Case(audio.astype("<i2").tobytes(), {}, f"seed:{name}-{rate}"))
    rate = MODEMS[name][-1]
    two = np.concatenate([_burst(name, rate, 96, 7), gap, _burst(name, rate, 96, 8), gap])
    out.append(Case(two.astype("<i2").tobytes(), {}, f"seed:{name}-{rate}-two-bursts"))
    return tuple(out)


def _frames() -> list[list[bytes]]:

    def f(name: str, fif: bytes = b"", final: bool = True) -> bytes:
        return Frame.build(name, fif, final=final).to_bytes()

    dis = Capabilities().to_fif()
    dcs = DCSParams().to_fif()
    return [
        [f("NSF", nsf_fif(b"\xad\x00\x44faxcore"), False), f("CSI", encode_ident("+1 555"),
                                                             False), f("DIS", dis)],
        [f("TSI", encode_ident("sender"), False), f("DCS", dcs)],
        [f("CFR")], [f("FTT")], [f("MCF")], [f("RTN")], [f("DCN")],
        [f("MPS")], [f("EOP")], [f("PPS", pps_fif(0x2F, 0, 0, 3))],
        [f("PPR", ppr_map({0, 7, 200}))], [f("CTC", b"\x00\x08")],
        [fcd_frame(0, bytes(range(64))), fcd_frame(1, b"\x00" * 16)],
    ]


@functools.cache
def _hdlc_seeds() -> tuple[Case, ...]:
    out = []
    for i, frames in enumerate(_frames()):
        enc = HdlcEncoder()
        enc.flags(4)
        for j, fr in enumerate(frames):
            enc.frame(fr, corrupt=(i % 5 == 4 and j == 0))
        if i % 6 == 5:
            enc.abort()
        enc.flags(2)
        bits = enc.take()
        data = np.packbits(bits, bitorder="little").tobytes()
        out.append(Case(data, {}, f"seed:hdlc-{i}"))
    return tuple(out)


@functools.cache
def _t30_seeds() -> tuple[Case, ...]:
    out = []
    for i, frames in enumerate(_frames()):
        data = b"".join(bytes([len(fr)]) + fr for fr in frames if len(fr) < 256)
        out.append(Case(data, {}, f"seed:t30-{i}"))
    return tuple(out)


def seeds(target: Target) -> tuple[Case, ...]:
    """Valid inputs for ``target``, made by faxcore's own encoders and transmitters."""
    if target.kind == "codec":
        return _codec_seeds(target.name)
    if target.kind == "audio":
        return _audio_seeds(target.name)
    if target.name == "tiff":
        return _tiff_seeds()
    if target.name == "hdlc":
        return _hdlc_seeds()
    if target.name == "t30":
        return _t30_seeds()
    return ()


# ---- mutations --------------------------------------------------------------------------

def _span(rng: random.Random, n: int) -> tuple[int, int]:
    """A random [a, b) inside n, short more often than long."""
    if n == 0:
        return 0, 0
    a = rng.randrange(n)
    return a, min(n, a + 1 + int(rng.expovariate(1 / 16)))


def _bytes_op(d: bytearray, rng: random.Random, pool: Sequence[bytes], tokens) -> bytearray:
    n = len(d)
    op = rng.randrange(11)
    if op == 0 and n:                                   # flip one bit
        i = rng.randrange(n)
        d[i] ^= 1 << rng.randrange(8)
    elif op == 1 and n:                                 # random byte
        d[rng.randrange(n)] = rng.randrange(256)
    elif op == 2 and n:                                 # interesting byte
        d[rng.randrange(n)] = rng.choice(INTERESTING)
    elif op == 3 and n:                                 # truncate
        del d[rng.randrange(n):]
    elif op == 4 and n:                                 # delete a span
        a, b = _span(rng, n)
        del d[a:b]
    elif op == 5 and n:                                 # copy a span elsewhere
        a, b = _span(rng, n)
        i = rng.randrange(n + 1)
        d[i:i] = d[a:b]
    elif op == 6 and n:                                 # repeat a short span many times
        a = rng.randrange(n)
        chunk = d[a:a + rng.randint(1, 8)]
        d[a:a] = chunk * int(2 ** rng.uniform(1, 11))
    elif op == 7:                                       # insert random bytes
        i = rng.randrange(n + 1)
        d[i:i] = rng.randbytes(int(rng.expovariate(1 / 8)) + 1)
    elif op == 8 and pool:                              # splice with another input
        other = rng.choice(pool)
        i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
        d = d[:i] + bytearray(other[j:])
    elif op == 9 and tokens:                            # insert a format token
        i = rng.randrange(n + 1)
        d[i:i] = rng.choice(tokens) * rng.choice((1, 1, 2, 8))
    elif n:                                             # overwrite a span with 00 or FF
        a, b = _span(rng, n)
        d[a:b] = bytes([rng.choice((0, 0xFF))]) * (b - a)
    return d


def _codec_op(d: bytearray, rng: random.Random) -> bytearray:
    """Bit-level edits: code words inserted (often repeated) at any bit position."""
    bits = np.unpackbits(np.frombuffer(bytes(d), np.uint8))
    pos = rng.randrange(len(bits) + 1)
    op = rng.randrange(4)
    if op <= 1:
        word = np.array([int(c) for c in rng.choice(CODE_WORDS)], np.uint8)
        reps = 1 if op == 0 else int(2 ** rng.uniform(1, 13))
        bits = np.concatenate([bits[:pos], np.tile(word, reps), bits[pos:]])
    elif op == 2 and len(bits):                          # flip a few bits near pos
        for _ in range(rng.randint(1, 4)):
            bits[min(len(bits) - 1, pos + rng.randrange(24))] ^= 1
    else:                                                # delete a few bits (shift)
        bits = np.concatenate([bits[:pos], bits[pos + rng.randint(1, 7):]])
    return bytearray(np.packbits(bits).tobytes())


def _audio_op(d: bytearray, rng: random.Random, pool: Sequence[bytes]) -> bytearray:
    """Edits on the int16 samples: what a phone line does to a burst, and worse."""
    x = np.frombuffer(bytes(d[: len(d) // 2 * 2]), "<i2").astype(np.float64)
    n = len(x)
    nrng = np.random.default_rng(rng.getrandbits(64))
    a = rng.randrange(n) if n else 0
    b = min(n, a + int(2 ** rng.uniform(0, 14)))
    op = rng.randrange(8)
    if op == 0:
        x[a:b] *= 2 ** rng.uniform(-8, 6)                # gain change (fade or overload)
    elif op == 1:
        x[a:b] += nrng.normal(0, 2 ** rng.uniform(0, 14), b - a)   # noise burst
    elif op == 2:
        x[a:b] = 0                                       # dropout
    elif op == 3:
        x[a:b] = np.sign(x[a:b]) * 32768                 # hard clipping
    elif op == 4:
        x = np.delete(x, np.s_[a:min(n, a + rng.randint(1, 9))])    # slip samples
    elif op == 5:
        t = np.arange(b - a)
        x[a:b] += 2 ** rng.uniform(6, 15) * np.sin(2 * np.pi * rng.uniform(0, 4000) / 8000 * t)
    elif op == 6 and pool:                               # splice another burst in
        src = rng.choice(pool)
        other = np.frombuffer(src[: len(src) // 2 * 2], "<i2")
        j = rng.randrange(len(other) + 1)
        x = np.concatenate([x[:a], other[j:j + int(2 ** rng.uniform(4, 14))], x[a:]])
    else:
        x[a:b] = x[a:b][::-1]                            # time-reversed span
    return bytearray(np.clip(x, -32768, 32767).astype("<i2").tobytes())


def _t30_op(d: bytearray, rng: random.Random, pool: Sequence[bytes]) -> bytearray:
    """Frame-level edits that keep the length framing: drop, repeat, swap, join."""
    frames = t30_frames(bytes(d))
    op = rng.randrange(4)
    if op == 0 and frames:
        del frames[rng.randrange(len(frames))]
    elif op == 1 and frames:
        i = rng.randrange(len(frames))
        frames[i:i] = [frames[i]] * rng.randint(1, 5)
    elif op == 2 and len(frames) > 1:
        i, j = rng.randrange(len(frames)), rng.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    elif pool:
        frames += t30_frames(rng.choice(pool))
    return bytearray(b"".join(bytes([len(f)]) + f for f in frames if len(f) < 256))


def mutate(data: bytes, rng: random.Random, target: Target,
           pool: Sequence[bytes] = ()) -> bytes:
    """1 to 8 stacked edits of ``data`` suited to the target's input format."""
    d = bytearray(data)
    tokens = HDLC_TOKENS if target.kind == "hdlc" else ()
    for _ in range(1 + min(7, int(rng.expovariate(0.6)))):
        r = rng.random()
        if target.kind == "codec" and r < 0.5:
            d = _codec_op(d, rng)
        elif target.kind == "audio" and r < 0.7:
            d = _audio_op(d, rng, pool)
        elif target.kind == "t30" and r < 0.3:
            d = _t30_op(d, rng, pool)
        else:
            d = _bytes_op(d, rng, pool, tokens)
        if len(d) > target.max_len:
            del d[target.max_len:]
    return bytes(d)


def random_input(rng: random.Random, target: Target) -> bytes:
    """Data from nothing: random bytes, sparse bits, low-entropy bytes, or for the
    modems noise, tones and clicks."""
    n = min(target.max_len, int(2 ** rng.uniform(0, 13)))
    nrng = np.random.default_rng(rng.getrandbits(64))
    if target.kind == "audio":
        n = min(target.max_len // 2, int(2 ** rng.uniform(0, 15)))
        style = rng.randrange(4)
        t = np.arange(n)
        if style == 0:
            x = nrng.normal(0, 2 ** rng.uniform(0, 15), n)
        elif style == 1:
            x = sum(2 ** rng.uniform(8, 14) * np.sin(2 * np.pi * rng.uniform(0, 4000) / 8000 * t
                                                      + rng.uniform(0, 6.3))
                    for _ in range(rng.randint(1, 3)))
        elif style == 2:
            x = np.where(nrng.random(n) < rng.uniform(0, 0.05), 32767.0, 0.0)
        else:
            x = np.repeat(nrng.choice([-32768.0, 32767.0, 0.0], max(1, n // 7 + 1)), 7)[:n]
        return np.clip(np.asarray(x, np.float64), -32768, 32767).astype("<i2").tobytes()
    style = rng.randrange(3)
    if style == 0:
        return rng.randbytes(n)
    if style == 1:                              # mostly 0 bits: EOL-like zero runs
        bits = (nrng.random(8 * n) < rng.uniform(0.02, 0.5)).astype(np.uint8)
        return np.packbits(bits).tobytes()
    alphabet = [rng.randrange(256) for _ in range(rng.randint(1, 4))]
    return bytes(rng.choice(alphabet) for _ in range(n))


# ---- case streams -----------------------------------------------------------------------

def generated_case(target: Target, pool: Sequence[Case], seed: int, index: int) -> Case:
    """Generated case number ``index`` of ``target`` for ``seed``: a mutation of one of
    ``pool`` (the corpus and the seeds; 3 in 4 cases) or random data."""
    rng = random.Random(f"{seed}/{target.name}/{index}")
    if pool and rng.random() < 0.75:
        base = rng.choice(pool)
        data = mutate(base.data, rng, target, [c.data for c in pool])
        opts = dict(base.opts)
    else:
        data = random_input(rng, target)
        opts = {}
        if "width" in {o for o, _, _ in target.name_opts.values()} and rng.random() < 0.5:
            opts = {"width": rng.choice((1, 7, 8, 9, 64, 215, 1728, 2432, 4864))}
    return Case(data, with_rate(target, opts, index), f"gen:{target.name}#{index}@{seed}")


def with_rate(target: Target, opts: dict, index: int) -> dict:
    """Generated audio runs at one bit rate of the modem, in turn (a corpus file without
    ``-r<rate>`` runs at every rate): the same coverage of the receivers for a quarter of
    the V.17 time. V.17 receivers alternate long and short training too."""
    if target.kind != "audio" or "rate" in opts:
        return opts
    rates = MODEMS[target.name]
    out = {**opts, "rate": rates[index % len(rates)]}
    if "short_train" in target.name_flags.values() and (index // len(rates)) % 2:
        out["short_train"] = 1
    return out


def generated_cases(target: Target, pool: Sequence[Case], seed: int, count: int,
                    start: int = 0) -> Iterator[tuple[int, Case]]:
    for i in range(start, count):
        yield i, generated_case(target, pool, seed, i)
