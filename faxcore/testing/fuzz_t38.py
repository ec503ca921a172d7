"""Fuzz targets for faxcore.t38, registered by :mod:`faxcore.testing.fuzz`.

``FUZZ`` lists ``(name, run, max_len)``: ``run(data, opts) -> signature`` feeds hostile
bytes to the parser and raises only when a promise broke (see faxcore.testing.fuzz);
``name`` is also the corpus directory tests/corpus/<name>/.

* ``ifp``: one IFP packet's octets, decoded at T.38 version 0 and 1. Promises: only
  ``IfpError`` escapes; a decoded packet's field octets total no more than the input;
  re-encoded (at version 1 when a 2002 value was read at version 0) it is no longer than
  the input, decodes to the same packet, and ``coded_length`` agrees with the decoder.
* ``udptl``: a sequence of datagrams, each a 2-octet big-endian length then that many
  octets (the last one cut to what is left). Each is decoded (only ``UdptlError``
  escapes; a decoded packet re-encodes no longer and decodes the same), then all are fed
  in turn to two :class:`~faxcore.t38.udptl.UdptlReceiver` (small windows, one cutting
  FEC-rebuilt IFPs at version 0) with a clock stepping 10 ms, and finally polled long
  after. Promises: ``feed``/``poll`` never raise; deliveries are consecutive sequence
  numbers (a jump only after a lost delivery or where a restart was counted); held and remembered
  packets stay within the window; everything is released by the final poll; every
  delivered IFP decodes or raises ``IfpError`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

from faxcore.t38.ifp import IfpError, coded_length, decode, encode
from faxcore.t38.packets import DataPacket
from faxcore.t38.udptl import (
    Delivery,
    UdptlError,
    UdptlReceiver,
    decode_udptl,
    encode_udptl,
)

__all__ = ["FUZZ", "split_datagrams"]

WINDOW = 32


def _kind(exc: Exception) -> str:
    """An error message without its numbers: the kind of error, for signatures."""
    return "".join("#" if c.isdigit() else c for c in str(exc))[:60]


def _ifp_once(data: bytes, version: int) -> Hashable:
    try:
        pkt = decode(data, version)
    except IfpError as exc:
        return _kind(exc)
    fields = pkt.fields if isinstance(pkt, DataPacket) else ()
    assert sum(len(f.data) for f in fields) <= len(data), "field octets beyond the input"
    end = coded_length(data, version)
    assert 0 < end <= len(data) and not data[end:].strip(b"\0"), (end, len(data))
    v = version
    try:
        again = encode(pkt, v)
    except ValueError:
        assert v == 0, "a decoded packet could not be encoded at version 1+"
        v = 1
        again = encode(pkt, v)
    # canonical form is never longer (at version 1 a field takes 5 bits, not 4)
    assert v != version or len(again) <= len(data), (len(again), len(data))
    assert decode(again, v) == pkt, "re-encoded packet decodes differently"
    assert coded_length(again, v) == len(again)
    if v == version and end == len(data) and again != data:
        # same packet, different octets: only non-zero padding or an empty data-field
        assert len(again) <= end
    return (type(pkt).__name__, len(fields), v != version)


def _ifp(data: bytes, opts: Mapping[str, int]) -> Hashable:
    return (_ifp_once(data, 0), _ifp_once(data, 1))


def split_datagrams(data: bytes) -> list[bytes]:
    """The ``udptl`` target's input format: 2-octet length, datagram, repeated."""
    out = []
    pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 2], "big")
        out.append(data[pos + 2:pos + 2 + n])
        pos += 2 + n
    return out


def _check_deliveries(got: list[Delivery], last: Delivery | None,
                      restarted: bool) -> Delivery | None:
    """Consecutive sequence numbers (so none twice), except after a lost delivery (a gap
    wider than the window) or, once, where this feed restarted the stream."""
    jumps = 0
    for d in got:
        assert 0 <= d.seq <= 0xFFFF
        assert (d.ifp is None) == (d.source == "lost"), d
        if last is not None and d.seq != (last.seq + 1) & 0xFFFF:
            if last.source != "lost":
                jumps += 1
        last = d
    assert jumps <= (1 if restarted else 0), f"{jumps} unexplained jumps in the deliveries"
    return last


def _udptl(data: bytes, opts: Mapping[str, int]) -> Hashable:
    dgs = split_datagrams(data)
    errors: set[str] = set()
    for dg in dgs:
        try:
            pkt = decode_udptl(dg)
        except UdptlError as exc:
            errors.add(_kind(exc))
            continue
        again = encode_udptl(pkt)
        assert len(again) <= len(dg) and decode_udptl(again) == pkt
    sources: set[str] = set()
    for rx in (UdptlReceiver(window=WINDOW, hold_packets=8),
               UdptlReceiver(window=WINDOW, hold_packets=20, ifp_version=0)):
        last: Delivery | None = None
        now = 0.0
        for dg in dgs:
            before = rx.stats.restarts
            got = rx.feed(dg, now)
            now += 0.01
            last = _check_deliveries(got, last, rx.stats.restarts != before)
            assert rx.held <= WINDOW and rx.remembered <= 2 * WINDOW
            for d in got:
                sources.add(d.source)
                if d.ifp is not None:
                    for v in (0, 1):
                        try:
                            decode(d.ifp, v)
                        except IfpError:
                            pass
            got = rx.poll(now)
            last = _check_deliveries(got, last, False)
        got = rx.poll(now + 3600.0)
        _check_deliveries(got, last, False)
        assert rx.held == 0, "the final poll left packets held"
        s = rx.stats
        assert s.datagrams == len(dgs) and s.malformed <= len(dgs)
    return (min(len(dgs), 4), tuple(sorted(errors))[:3], tuple(sorted(sources)),
            rx.stats.restarts > 0)


FUZZ: tuple[tuple[str, Callable[[bytes, Mapping[str, int]], Hashable], int], ...] = (
    ("ifp", _ifp, 2048),
    ("udptl", _udptl, 8192),
)
"""Fuzz targets: hostile bytes in, every public parser and receiver exercised, every
promise it makes checked. Shared by ``make fuzz`` (fuzz/run.py), the AddressSanitizer
replay in ``make test`` (scripts/asan-replay.sh) and tests/fuzz/test_fuzz_targets.py.
"""
