"""spandsp 0.0.6's reference T.38 endpoints through ctypes: a T.38 fax terminal
(``t38_terminal_*``: spandsp's T.30 behind IFP packets) and an audio <-> T.38 gateway
(``t38_gateway_*``), for the T.38 interoperability tests and benchmarks.

How to drive a :class:`SpandspT38Terminal` (byte level, sans-IO, virtual time)::

    a = SpandspT38Terminal(True, send_tiff="doc.tif", ecm=True, version=0)
    b = SpandspT38Terminal(False, receive_tiff="out.tif", ecm=True, version=0)
    seq_a = seq_b = 0
    while not (a.done and b.done):
        a.advance(160); b.advance(160)          # 20 ms of 8 kHz time each
        for ifp, count in a.take():             # IFP packets a sent in those 20 ms
            b.rx_ifp(ifp, seq_a); seq_a = (seq_a + 1) & 0xFFFF
        for ifp, count in b.take():
            a.rx_ifp(ifp, seq_b); seq_b = (seq_b + 1) & 0xFFFF
    a.status_name, b.status_name, b.stats.pages_rx

- **Out:** ``take()`` returns (and clears) the IFP packets the terminal produced, oldest
  first, as ``(ifp_bytes, count)``: the raw IFP (ALIGNED PER, no UDPTL/RTP framing) and
  spandsp's own repeat count (3 for indicators and for the packets that end a signal,
  1 for image data, by default; :meth:`SpandspT38Terminal.set_redundancy` changes them).
  What a transport does with ``count`` is its choice: FreeSWITCH sends the same UDPTL
  datagram (same sequence number) ``count`` times; :func:`run_t38_call` does too when it
  has a lossy link, and delivers a packet once when it has none.
- **In:** ``rx_ifp(ifp_bytes, seq)`` feeds one received IFP with its transport
  sequence number (0..65535, wrapping). spandsp checks the numbers itself: it accepts
  any first one, drops ``seq == expected - 1`` as a repeat and a late packet silently,
  and treats a gap as lost packets. So a transport must hand IFPs over in sequence
  order once each (duplicates of the last one are harmless).
- **Time:** ``advance(samples)`` is the terminal's only clock
  (``t38_terminal_send_timeout``): samples of 8 kHz time; spandsp paces its output
  against it (one image chunk per 30 ms, training and flag delays). It returns True
  once spandsp says the call has finished. Packets are produced only inside
  ``advance`` and ``rx_ifp`` calls.
- **Result:** ``done`` / ``status`` / ``status_name`` once the T.30 phase E callback
  ran; ``stats`` (a :class:`~faxcore.testing.spandsp.library.T30Stats`), ``frames``
  (T.30 frames as spandsp's T.30 logged them, ``("tx"|"rx", octets)``), ``remote_ident``.

:class:`SpandspT38Gateway` is an audio station (``tx(n)``/``rx(samples)``, int16 at
8 kHz, as :class:`~faxcore.testing.spandsp.fax.SpandspFax` and faxcore's ``FaxSession``)
on one side, and the same ``take()``/``rx_ifp()`` packet interface on the other; it has
no clock of its own besides the audio. :func:`run_gateway_call` plays an audio station
through it against a T.38 endpoint.

Anything with ``advance``/``take``/``rx_ifp``/``done`` (faxcore's own T.38 terminal
behind a small adapter, say) can be one side of :func:`run_t38_call`.

Quirks of spandsp 0.0.6 seen through this wrapper (checked in
tests/interop/spandsp/test_spandsp_t38_harness.py):

- It speaks T.38 version 0 unless told (``version``); the version only changes the
  field-type coding (fcs-OK-sig-end is ``C0 01 40`` in v0, ``C0 01 20`` in v1+), and a
  v0 terminal against a v3 one fails the call (no page) instead of negotiating.
- HDLC and non-ECM octets inside IFP data fields are bit-reversed relative to spandsp's
  T.30 frame log: DIS is ``FF 13 80 ...`` in ``frames`` and ``FF C8 01 ...`` in IFP.
- Repeat counts (defaults): indicators 3, a signal's last packet 3 (fcs-OK-sig-end,
  t4-non-ecm-sig-end, which carries the last data), data 1. V.21 HDLC goes one octet
  per packet (every 30 ms); V.17 14400 data 54 octets per packet. The terminal ends a
  frame with a data-less fcs-OK (or fcs-OK-sig-end) packet after the data; the gateway
  ends a burst with fcs-OK then a separate hdlc-sig-end (count 3), and sent no CNG
  indicator for spandsp's audio caller.
- A lost V.21 data packet (count 1) with no UDPTL redundancy can be fatal: at 5 %
  loss and redundancy 0 the seeds tried failed (UNEXPECTED / T1_EXPIRED); with
  redundancy 3 every seed tried passes at 10 %.
- ``t38_core_rx_ifp_packet`` returns -1 for an IFP it cannot decode and drops a
  repeat (``seq == expected - 1``) or a late packet silently.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Sequence
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_uint8, c_void_p
from typing import Protocol

import numpy as np

from faxcore.testing.spandsp.fax import (
    MODEM_BITS,
    T30Outcome,
    set_t30_offer,
    set_t30_texts_and_files,
)
from faxcore.testing.spandsp.library import AudioState, T30Stats, T38Stats, lib
from faxcore.testing.udptl_ref import LossyChannel, UdptlReceiver, UdptlSender

log = logging.getLogger(__name__)

# int (t38_core_state_t *, void *user_data, const uint8_t *buf, int len, int count);
# buf as c_void_p: an int in the callback, the cheapest thing ctypes can hand over
TX_PACKET = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_int, c_int)
PHASE_E = CFUNCTYPE(None, c_void_p, c_void_p, c_int)
FRAME = CFUNCTYPE(None, c_void_p, c_void_p, c_int, POINTER(c_uint8), c_int)
LOG_MESSAGE = CFUNCTYPE(None, c_int, c_char_p)

#: t38_set_redundancy_control() categories (t38_core.h t38_packet_categories_e)
CATEGORIES = {"indicator": 0, "control_data": 1, "control_data_end": 2,
              "image_data": 3, "image_data_end": 4}
#: T38_TERMINAL_OPTION_* (t38_terminal.h)
TERMINAL_OPTIONS = {"no_pacing": 0x01, "regular_indicators": 0x02,
                    "2s_repeating_indicators": 0x04, "no_indicators": 0x08}
TRANSFERRED_TCF, LOCAL_TCF = 2, 1  # t38_set_data_rate_management_method (see below)
SAMPLE_RATE = 8000

Packet = tuple[bytes, int]   # (IFP octets, spandsp's repeat count)


def _text(p) -> str:
    return p.decode(errors="replace") if p else ""


class _PacketSource:
    """The tx packet handler: spandsp calls it with each IFP it sends; it only appends
    ``(bytes, count)`` to ``self.packets`` (the one unavoidable Python call per packet)."""

    packets: list[Packet]
    _lib: ctypes.CDLL
    _core: int

    def _make_tx_handler(self):
        packets = self.packets = []
        append = packets.append
        string_at = ctypes.string_at

        def on_packet(_core, _user, buf, length, count):
            append((string_at(buf, length), count))
            return 0

        self._tx_cb = TX_PACKET(on_packet)   # kept alive as long as the C object
        return ctypes.cast(self._tx_cb, c_void_p)

    def take(self) -> list[Packet]:
        """The IFP packets sent since the last call, oldest first (and forget them)."""
        out = self.packets[:]
        del self.packets[:]
        return out

    def rx_ifp(self, ifp: bytes, seq: int) -> int:
        """Feed one received IFP with its sequence number; spandsp's return (0 = OK,
        -1 = it could not decode the packet)."""
        return self._lib.t38_core_rx_ifp_packet(self._core, ifp, len(ifp), seq & 0xFFFF)

    def _set_core(self, version: int, max_datagram: int | None,
                  redundancy: dict[str, int] | None) -> None:
        L = self._lib
        L.t38_set_t38_version(self._core, version)
        if max_datagram is not None:
            L.t38_set_max_datagram_size(self._core, max_datagram)
        if redundancy:
            self.set_redundancy(**redundancy)

    def set_redundancy(self, **counts: int) -> None:
        """spandsp's repeat count per packet category (:data:`CATEGORIES`), e.g.
        ``set_redundancy(indicator=1, control_data_end=1)``."""
        for name, count in counts.items():
            self._lib.t38_set_redundancy_control(self._core, CATEGORIES[name], count)

    def _log_to_python(self, ctx: int, tag: str, level: int) -> None:
        """Send one spandsp logging context to :data:`log` (debug level)."""
        if not hasattr(self, "_log_keep"):
            self._log_keep = []

        def message(_level, text):
            log.debug("%s: %s", tag, _text(text).rstrip())

        cb = LOG_MESSAGE(message)
        tag_b = tag.encode()
        self._log_keep += [cb, tag_b]   # spandsp keeps both pointers
        L = self._lib
        L.span_log_set_message_handler(ctx, ctypes.cast(cb, c_void_p))
        L.span_log_set_tag(ctx, tag_b)
        L.span_log_set_level(ctx, 0x2000 | 0x0400 | level)   # SHOW_TAG | SHOW_SEVERITY


class SpandspT38Terminal(_PacketSource, T30Outcome):
    """spandsp's T.38 terminal (T.30 over IFP packets): see the module docstring.

    ``calling``: the calling station (it sends CNG and waits for DIS). ``send_tiff`` /
    ``receive_tiff``: TIFF-F files for spandsp's T.30. ``ecm``, ``modems`` (of "v17",
    "v29", "v27ter"), ``compressions`` (of "mh", "mr", "mmr"), ``ident``: what its
    DIS/DCS offers. ``version``: the T.38 version it speaks (0..3; only the coding of
    field types changes). ``tcf``: "transferred" (TCF sent as non-ECM data, the UDP
    way) or "local". ``options``: names from :data:`TERMINAL_OPTIONS`. ``redundancy``:
    repeat counts per category (:meth:`set_redundancy`). ``log_level``: a spandsp
    severity (5 = flow) to send its T.30/T.38 logs to this module's logger; 0 = silent.
    """

    def __init__(self, calling: bool, *, send_tiff: str | None = None,
                 receive_tiff: str | None = None, ecm: bool = True, version: int = 0,
                 modems: Sequence[str] = ("v17", "v29", "v27ter"),
                 compressions: Sequence[str] = ("mh", "mr", "mmr"), ident: str = "",
                 rx_mmr: bool = False, tcf: str = "transferred",
                 options: Sequence[str] = (), max_datagram: int | None = None,
                 redundancy: dict[str, int] | None = None, tep: bool = False,
                 log_level: int = 0):
        L = self._lib = lib()
        self._s = None
        self._keep: list = []
        self.status: int | None = None
        self.frames: list[tuple[str, bytes]] = []
        self.stats = T30Stats()
        self.remote_ident = ""
        self.samples = 0
        handler = self._make_tx_handler()
        self._s = L.t38_terminal_init(None, 1 if calling else 0, handler, None)
        if not self._s:
            raise RuntimeError("t38_terminal_init failed")
        self._core = L.t38_terminal_get_t38_core_state(self._s)
        t = self._t = L.t38_terminal_get_t30_state(self._s)
        self._set_core(version, max_datagram, redundancy)
        if tcf not in ("transferred", "local"):
            raise ValueError(f"tcf: {tcf!r}")
        # spandsp's enum (t38_core.h) says LOCAL_TCF = 1, TRANSFERRED_TCF = 2, but its
        # doc comment on t38_set_data_rate_management_method says "1 for pass TCF
        # across the T.38 link, 2 for handle TCF locally": the enum is what the code
        # compares with, so use it.
        L.t38_set_data_rate_management_method(
            self._core, TRANSFERRED_TCF if tcf == "transferred" else LOCAL_TCF)
        if options:
            L.t38_terminal_set_config(self._s, sum(TERMINAL_OPTIONS[o] for o in options))
        L.t38_terminal_set_tep_mode(self._s, 1 if tep else 0)
        set_t30_texts_and_files(L, t, self._keep, ident=ident, send_tiff=send_tiff,
                                receive_tiff=receive_tiff, rx_mmr=rx_mmr)
        set_t30_offer(L, t, ecm=ecm, modems=modems, compressions=compressions)
        self._phase_e = PHASE_E(self._on_phase_e)
        self._frame_cb = FRAME(self._on_frame)
        L.t30_set_phase_e_handler(t, ctypes.cast(self._phase_e, c_void_p), None)
        L.t30_set_real_time_frame_handler(t, ctypes.cast(self._frame_cb, c_void_p), None)
        if log_level:
            self._log_to_python(L.t38_terminal_get_logging_state(self._s), "t38term", log_level)
            self._log_to_python(self._lib.t38_core_get_logging_state(self._core), "t38core",
                                log_level)
            self._log_to_python(L.t30_get_logging_state(t), "t30", log_level)
        self._timeout = L.t38_terminal_send_timeout
        self.finished = False   # what t38_terminal_send_timeout last said

    @property
    def t30(self) -> int:
        """The ``t30_state_t *`` inside (for any other ``t30_*`` call through
        :func:`~faxcore.testing.spandsp.library.lib`)."""
        return self._t

    @property
    def core(self) -> int:
        """The ``t38_core_state_t *`` inside (for other ``t38_set_*`` calls)."""
        return self._core

    def _on_phase_e(self, _t, _user, code: int) -> None:
        self.status = code
        L = self._lib
        L.t30_get_transfer_statistics(self._t, ctypes.byref(self.stats))
        self.remote_ident = _text(L.t30_get_rx_ident(self._t))

    def _on_frame(self, _t, _user, direction: int, msg, length: int) -> None:
        self.frames.append(("rx" if direction else "tx", ctypes.string_at(msg, length)))

    def advance(self, samples: int) -> bool:
        """Let ``samples`` of 8 kHz time pass; True once spandsp has finished the call."""
        self.samples += samples
        self.finished = bool(self._timeout(self._s, samples))
        return self.finished

    def close(self) -> None:
        if self._s:
            self._lib.t38_terminal_free(self._s)
            self._s = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class SpandspT38Gateway(_PacketSource, AudioState):
    """spandsp's T.38 gateway: 8 kHz int16 audio (``rx(samples)``, ``tx(n)``, transmit
    on idle, so ``tx`` always gives ``n`` samples) on one side, IFP packets
    (``take()``, ``rx_ifp()``) on the other. ``ecm``: whether ECM may pass (the gateway
    edits the DIS otherwise); ``modems``: the fast modems it will relay. ``frames``:
    the T.30 frames it saw, ``("rx"|"tx", octets)`` in spandsp's T.30 order: ``rx`` =
    heard from the audio station, ``tx`` = played to it (they came from the T.38 side).
    The gateway never finishes by itself: the call is over when both terminals are."""

    _prefix = "t38_gateway"

    def __init__(self, *, ecm: bool = True, version: int = 0,
                 modems: Sequence[str] = ("v17", "v29", "v27ter"),
                 tcf: str = "transferred", max_datagram: int | None = None,
                 redundancy: dict[str, int] | None = None, tep: bool = False,
                 log_level: int = 0):
        L = self._lib = lib()
        self._s = None
        self.frames: list[tuple[str, bytes]] = []
        self.samples = 0
        handler = self._make_tx_handler()
        self._s = L.t38_gateway_init(None, handler, None)
        if not self._s:
            raise RuntimeError("t38_gateway_init failed")
        self._core = L.t38_gateway_get_t38_core_state(self._s)
        self._set_core(version, max_datagram, redundancy)
        L.t38_set_data_rate_management_method(
            self._core, TRANSFERRED_TCF if tcf == "transferred" else LOCAL_TCF)
        L.t38_gateway_set_transmit_on_idle(self._s, 1)
        L.t38_gateway_set_ecm_capability(self._s, 1 if ecm else 0)
        L.t38_gateway_set_supported_modems(self._s, sum(MODEM_BITS[m] for m in modems))
        L.t38_gateway_set_tep_mode(self._s, 1 if tep else 0)
        self._frame_cb = FRAME(self._on_frame)
        L.t38_gateway_set_real_time_frame_handler(
            self._s, ctypes.cast(self._frame_cb, c_void_p), None)
        if log_level:
            self._log_to_python(L.t38_gateway_get_logging_state(self._s), "t38gw", log_level)
            self._log_to_python(L.t38_core_get_logging_state(self._core), "t38core", log_level)
        self._rx = L.t38_gateway_rx
        self._int16p = POINTER(ctypes.c_int16)

    def _on_frame(self, _s, _user, direction: int, msg, length: int) -> None:
        self.frames.append(("rx" if direction else "tx", ctypes.string_at(msg, length)))

    def rx(self, samples) -> None:
        """Audio heard from the audio-side station."""
        a = np.ascontiguousarray(samples, dtype=np.int16)
        self.samples += len(a)
        self._rx(self._s, a.ctypes.data_as(self._int16p), len(a))

    @property
    def stats(self) -> T38Stats:
        st = T38Stats()
        self._lib.t38_gateway_get_transfer_statistics(self._s, ctypes.byref(st))
        return st


# --------------------------------------------------------------------------- calls


class T38Endpoint(Protocol):
    """What :func:`run_t38_call` drives (both spandsp wrappers have it; faxcore's own T.38
    terminal gets it from a few lines of adapter): time in 8 kHz samples, raw IFP octets
    out with a repeat count, raw IFP octets in with their sequence number."""

    def advance(self, samples: int) -> object: ...

    def take(self) -> list[Packet]: ...

    def rx_ifp(self, ifp: bytes, seq: int) -> object: ...

    @property
    def done(self) -> bool: ...


class CallDidNotEnd(RuntimeError):
    """A T.38 call was still running after its time limit."""


class UdptlLink:
    """One direction of a T.38 call over UDPTL (:mod:`faxcore.testing.udptl_ref`): packets
    are framed with ``redundancy`` older IFPs (or FEC when ``fec`` is a (span, entries)
    pair), each datagram sent ``count`` times as spandsp asks (same sequence number, as
    FreeSWITCH does), through a :class:`LossyChannel`, and unframed in order at the far
    end. ``first_seq`` lets a test start near the 65535 -> 0 wrap; ``ifp_version``
    (the T.38 version spoken) tells the receiver where an IFP rebuilt by FEC ends."""

    def __init__(self, *, redundancy: int = 3, fec: tuple[int, int] | None = None,
                 loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
                 seed: int = 0, first_seq: int = 0, honour_count: bool = True,
                 ifp_version: int = 0):
        self.sender = UdptlSender(redundancy=redundancy, fec=fec, first_seq=first_seq)
        self.channel = LossyChannel(loss=loss, duplicate=duplicate, reorder=reorder, seed=seed)
        self.receiver = UdptlReceiver(ifp_version=ifp_version)
        self.honour_count = honour_count
        self.datagrams_sent = 0

    def carry(self, packets: list[Packet], step: int) -> list[tuple[bytes, int]]:
        """Send ``packets`` in time step ``step``; what arrives now, as (IFP, seq)."""
        for ifp, count in packets:
            datagram = self.sender.encode(ifp)
            for _ in range(count if self.honour_count else 1):
                self.channel.send(datagram, step)
                self.datagrams_sent += 1
        out = []
        for datagram in self.channel.deliver(step):
            out.extend(self.receiver.receive(datagram))
        return out


class DirectLink:
    """A perfect, zero-latency link: each IFP once, numbered from ``first_seq`` (the
    repeat count is dropped: spandsp would discard the copies as repeats anyway)."""

    def __init__(self, first_seq: int = 0):
        self.seq = first_seq & 0xFFFF

    def carry(self, packets: list[Packet], step: int) -> list[tuple[bytes, int]]:
        out = []
        seq = self.seq
        for ifp, _count in packets:
            out.append((ifp, seq))
            seq = (seq + 1) & 0xFFFF
        self.seq = seq
        return out


def _exchange(a, b, ab, ba, step: int) -> None:
    for ifp, seq in ab.carry(a.take(), step):
        b.rx_ifp(ifp, seq)
    for ifp, seq in ba.carry(b.take(), step):
        a.rx_ifp(ifp, seq)


def run_t38_call(a: T38Endpoint, b: T38Endpoint, *, ab=None, ba=None, block: int = 160,
                 max_seconds: float = 400.0,
                 watch: Callable[[int], None] | None = None) -> float:
    """Play a T.38 call between two packet endpoints (``advance``/``take``/``rx_ifp``/
    ``done``) until both are done; returns its line time in seconds. Each turn both
    advance ``block`` samples, then what each sent goes through its link (``ab`` from
    ``a`` to ``b``, ``ba`` back; :class:`DirectLink` when None, or a
    :class:`UdptlLink`). :class:`CallDidNotEnd` after ``max_seconds``."""
    ab = ab or DirectLink()
    ba = ba or DirectLink()
    n = 0
    step = 0
    limit = max_seconds * SAMPLE_RATE
    while not (a.done and b.done):
        a.advance(block)
        b.advance(block)
        _exchange(a, b, ab, ba, step)
        n += block
        step += 1
        if watch is not None:
            watch(n)
        if n >= limit:
            raise CallDidNotEnd(f"T.38 call still running after {max_seconds:g} s: "
                                f"{getattr(a, 'status_name', a)} / {getattr(b, 'status_name', b)}")
    return n / SAMPLE_RATE


def run_gateway_call(audio, gateway: SpandspT38Gateway, t38: T38Endpoint, *, link_to_t38=None,
                     link_to_gateway=None, block: int = 160, max_seconds: float = 400.0,
                     watch: Callable[[int], None] | None = None) -> float:
    """Play ``audio`` (an 8 kHz station: ``tx(n)``, ``rx(samples)``, ``done``; e.g.
    ``SpandspFax`` or ``faxcore.FaxSession``) through ``gateway`` against the T.38
    endpoint ``t38`` until both stations are done; returns the line time in seconds.
    Audio goes one block late each way (as in ``faxcore.testing.line.run_call``);
    IFP packets go through the links (:class:`DirectLink` when None)."""
    to_t38 = link_to_t38 or DirectLink()
    to_gw = link_to_gateway or DirectLink()
    n = 0
    step = 0
    limit = max_seconds * SAMPLE_RATE
    while not (audio.done and t38.done):
        x = audio.tx(block)
        y = gateway.tx(block)
        gateway.rx(x)
        audio.rx(y)
        t38.advance(block)
        _exchange(gateway, t38, to_t38, to_gw, step)
        n += block
        step += 1
        if watch is not None:
            watch(n)
        if n >= limit:
            raise CallDidNotEnd(f"gateway call still running after {max_seconds:g} s")
    return n / SAMPLE_RATE


