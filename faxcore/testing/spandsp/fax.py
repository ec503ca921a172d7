"""A complete spandsp fax terminal (fax_state_t: T.30 + modems on audio) through ctypes,
as the reference peer for faxcore's calls. Debian's libspandsp2 0.0.6 (package
``libspandsp2``), loaded by :func:`faxcore.testing.spandsp.library.lib`; when it cannot
be loaded, :class:`~faxcore.testing.spandsp.library.SpandspMissing` says so.

    peer = SpandspFax(calling=False, receive_tiff="in.tif", ecm=True)
    while not peer.done:
        peer.rx(samples); out = peer.tx(160)
    peer.status, peer.status_name, peer.stats, peer.frames

Pages go in and out as TIFF-F files (spandsp's own T.4 code reads and writes them).
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, POINTER, c_int, c_int16, c_uint8, c_void_p

import numpy as np

from faxcore.modem import SAMPLE_RATE
from faxcore.t30.frames import bitrev
from faxcore.testing.spandsp.library import AudioState, T30Stats, lib

PHASE_E = CFUNCTYPE(None, c_void_p, c_void_p, c_int)
FRAME = CFUNCTYPE(None, c_void_p, c_void_p, c_int, POINTER(c_uint8), c_int)

T30_SUPPORT_V27TER, T30_SUPPORT_V29, T30_SUPPORT_V17 = 1, 2, 4
COMPRESSION_MH, COMPRESSION_MR, COMPRESSION_MMR = 2, 4, 8
T30_ERR_NAMES = (
    "OK CEDTONE T0_EXPIRED T1_EXPIRED T3_EXPIRED HDLC_CARRIER CANNOT_TRAIN OPER_INT_FAIL "
    "INCOMPATIBLE RX_INCAPABLE TX_INCAPABLE NORESSUPPORT NOSIZESUPPORT UNEXPECTED TX_BADDCS "
    "TX_BADPG TX_ECMPHD TX_GOTDCN TX_INVALRSP TX_NODIS TX_PHBDEAD TX_PHDDEAD TX_T5EXP RX_ECMPHD "
    "RX_GOTDCS RX_INVALCMD RX_NOCARRIER RX_NOEOL RX_NOFAX RX_T2EXPDCN RX_T2EXPD RX_T2EXPFAX "
    "RX_T2EXPMPS RX_T2EXPRR RX_T2EXP RX_DCNWHY RX_DCNDATA RX_DCNFAX RX_DCNPHD RX_DCNRRD "
    "RX_DCNNORTN FILEERROR NOPAGE BADTIFF BADPAGE BADTAG BADTIFFHDR NOMEM RETRYDCN CALLDROPPED "
    "NOPOLL").split()
ENCODINGS = {1: "mh", 2: "mr", 3: "mmr"}
# t30_set_supported_t30_features() bits (spandsp/t30.h): what the DIS/DTC offers.
T30_FEATURES = {"identification": 0x01, "selective_polling": 0x02, "sub_addressing": 0x10,
                "command_repeat": 0x800}

MODEM_BITS = {"v27ter": T30_SUPPORT_V27TER, "v29": T30_SUPPORT_V29, "v17": T30_SUPPORT_V17}
COMPRESSION_BITS = {"mh": COMPRESSION_MH, "mr": COMPRESSION_MR, "mmr": COMPRESSION_MMR}


def set_t30_texts_and_files(L, t, keep: list, *, ident: str = "", sub_address: str = "",
                            sender_ident: str = "", password: str = "",
                            send_tiff: str | None = None, receive_tiff: str | None = None,
                            rx_mmr: bool = False) -> None:
    """The station's identities and its TIFF-F files, on the ``t30_state_t *`` ``t``
    (of the audio terminal or the T.38 one). ``keep`` gets every buffer spandsp points
    at, for the caller to hold as long as the state lives."""
    for text, setter in ((ident, L.t30_set_tx_ident), (sub_address, L.t30_set_tx_sub_address),
                         (sender_ident, L.t30_set_tx_sender_ident),
                         (password, L.t30_set_tx_password)):
        if text:
            b = text.encode()
            keep.append(b)
            if setter(t, b) != 0:
                raise ValueError(f"spandsp refused {text!r} (at most 20 characters)")
    if send_tiff:
        b = str(send_tiff).encode()
        keep.append(b)
        L.t30_set_tx_file(t, b, -1, -1)
    if receive_tiff:
        b = str(receive_tiff).encode()
        keep.append(b)
        L.t30_set_rx_file(t, b, -1)
        if rx_mmr:
            L.t30_set_rx_encoding(t, 3)


def set_t30_offer(L, t, *, ecm: bool, modems, compressions) -> None:
    """What the DIS/DCS of the ``t30_state_t *`` ``t`` offers: ECM, modems (of "v17",
    "v29", "v27ter"), compressions (of "mh", "mr", "mmr")."""
    L.t30_set_ecm_capability(t, 1 if ecm else 0)
    L.t30_set_supported_modems(t, sum(MODEM_BITS[m] for m in modems))
    L.t30_set_supported_compressions(t, sum(COMPRESSION_BITS[c] for c in compressions))


class T30Outcome:
    """``done`` and ``status_name`` of a spandsp T.30 station (the audio terminal, the
    T.38 one) from ``status``, its phase E code (None while the call runs)."""

    status: int | None

    @property
    def done(self) -> bool:
        return self.status is not None

    @property
    def status_name(self) -> str:
        if self.status is None:
            return "RUNNING"
        return T30_ERR_NAMES[self.status] if 0 <= self.status < len(T30_ERR_NAMES) \
            else str(self.status)


def _text(p) -> str:
    return p.decode(errors="replace") if p else ""


class SpandspFax(AudioState, T30Outcome):
    """One spandsp fax terminal on 8 kHz audio."""

    _prefix = "fax"

    def __init__(self, calling: bool, *, send_tiff: str | None = None,
                 receive_tiff: str | None = None, ecm: bool = True,
                 modems: tuple[str, ...] = ("v17", "v29", "v27ter"), ident: str = "",
                 compressions: tuple[str, ...] = ("mh", "mr", "mmr"), rx_mmr: bool = False,
                 sub_address: str = "", sender_ident: str = "", password: str = "",
                 features: tuple[str, ...] | None = None, nsf: bytes = b""):
        L = lib()
        self._lib = L
        self._s = L.fax_init(None, 1 if calling else 0)
        if not self._s:
            raise RuntimeError("fax_init failed")
        L.fax_set_transmit_on_idle(self._s, 1)
        t = L.fax_get_t30_state(self._s)
        self._t = t
        self._keep = []  # keep every pointer ctypes must not free
        set_t30_texts_and_files(L, t, self._keep, ident=ident, sub_address=sub_address,
                                sender_ident=sender_ident, password=password,
                                send_tiff=send_tiff, receive_tiff=receive_tiff, rx_mmr=rx_mmr)
        if nsf:
            # spandsp puts these octets after the FCF as they are (line order); ``nsf``
            # is in T.35 order, as faxcore's T30Config.nsf.
            buf = (c_uint8 * len(nsf)).from_buffer_copy(bitrev(nsf))
            self._keep.append(buf)
            if L.t30_set_tx_nsf(t, buf, len(nsf)) != 0:
                raise ValueError("spandsp refused the NSF")
        if features is not None:
            # e.g. ("identification", "sub_addressing"): DIS bits 50 and 49, so that
            # the far end sends SID and SUB.
            L.t30_set_supported_t30_features(t, sum(T30_FEATURES[f] for f in features))
        set_t30_offer(L, t, ecm=ecm, modems=modems, compressions=compressions)
        self.status: int | None = None
        self.frames: list[tuple[str, bytes]] = []
        self.frame_times: list[float] = []  # line time (s) at which each frame was logged
        self.samples = 0
        self._phase_e = PHASE_E(self._on_phase_e)
        self._frame_cb = FRAME(self._on_frame)
        L.t30_set_phase_e_handler(t, ctypes.cast(self._phase_e, c_void_p), None)
        L.t30_set_real_time_frame_handler(t, ctypes.cast(self._frame_cb, c_void_p), None)
        self.stats = T30Stats()
        self.remote_ident = ""
        self.remote_sub_address = ""     # SUB received (as the receiving station)
        self.remote_sender_ident = ""    # SID received
        self.remote_password = ""        # PWD received
        self.remote_nsf = b""            # NSF received, in T.35 order

    def _on_phase_e(self, _t, _user, code: int) -> None:
        self.status = code
        self._lib.t30_get_transfer_statistics(self._t, ctypes.byref(self.stats))
        L = self._lib
        self.remote_ident = _text(L.t30_get_rx_ident(self._t))
        self.remote_sub_address = _text(L.t30_get_rx_sub_address(self._t))
        self.remote_sender_ident = _text(L.t30_get_rx_sender_ident(self._t))
        self.remote_password = _text(L.t30_get_rx_password(self._t))
        p = POINTER(c_uint8)()
        n = L.t30_get_rx_nsf(self._t, ctypes.byref(p))
        if n and p:
            self.remote_nsf = bitrev(ctypes.string_at(p, n))

    def _on_frame(self, _t, _user, direction: int, msg, length: int) -> None:
        self.frames.append(("rx" if direction else "tx", ctypes.string_at(msg, length)))
        self.frame_times.append(self.samples / SAMPLE_RATE)


    def rx(self, samples) -> None:
        a = np.ascontiguousarray(samples, dtype=np.int16)
        self.samples += len(a)
        self._lib.fax_rx(self._s, a.ctypes.data_as(POINTER(c_int16)), len(a))

