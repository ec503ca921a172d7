"""The one loader of Debian's libspandsp2 (0.0.6) for faxcore's test peers.

:func:`lib` loads ``libspandsp.so.2`` once, sets the prototype of every C function the
wrappers in this package call (from /usr/include/spandsp/*.h; see
``../shared/docs/spandsp-ctypes-notes.md``), and returns it. When the library cannot be
loaded (from :data:`NAMES`), or is not the spandsp ABI these prototypes describe, it
raises :class:`SpandspMissing` naming the Debian package, every time it is called: callers
decide what a missing peer means (the test suite skips locally and fails in CI, the CLI
prints one line and exits 1).

No spandsp code lives in faxcore: this only drives the installed shared library.
"""

from __future__ import annotations

import ctypes
import functools
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_float,
    c_int,
    c_int16,
    c_size_t,
    c_uint8,
    c_uint16,
    c_void_p,
)
from ctypes.util import find_library

import numpy as np

DEBIAN_PACKAGE = "libspandsp2"


class SpandspMissing(RuntimeError):
    """libspandsp could not be loaded (install the Debian package libspandsp2)."""


class T30Stats(Structure):
    """``t30_stats_t`` (spandsp/t30_api.h): what ``t30_get_transfer_statistics`` fills."""

    _fields_ = [(n, c_int) for n in (
        "bit_rate", "error_correcting_mode", "pages_tx", "pages_rx", "pages_in_file",
        "x_resolution", "y_resolution", "width", "length", "image_size", "encoding",
        "bad_rows", "longest_bad_row_run", "error_correcting_mode_retries", "current_status")]


class T38Stats(Structure):
    """``t38_stats_t`` (spandsp/t38_gateway.h): what ``t38_gateway_get_transfer_statistics``
    fills."""

    _fields_ = [(n, c_int) for n in ("bit_rate", "error_correcting_mode", "pages_transferred")]


P = c_void_p

# the calls every spandsp modem (fsk, v27ter, v29, v17) has, with the same prototypes
_MODEM_CALLS = {
    "tx_free": (c_int, [P]),
    "tx_power": (None, [P, c_float]),
    "tx_set_modem_status_handler": (None, [P, P, P]),
    "tx": (c_int, [P, P, c_int]),
    "rx_free": (c_int, [P]),
    "rx_signal_cutoff": (None, [P, c_float]),
    "rx_set_modem_status_handler": (None, [P, P, P]),
    "rx": (c_int, [P, P, c_int]),
}
#: spandsp's names of the high-speed modems (the fax image modems)
HIGH_SPEED = ("v27ter", "v29", "v17")


def _prototypes() -> dict[str, tuple]:
    """Every C function the wrappers call: name -> (restype, argtypes)."""
    protos = {f"{m}_{call}": proto for m in ("fsk", *HIGH_SPEED)
              for call, proto in _MODEM_CALLS.items()}
    for m in HIGH_SPEED:
        protos[f"{m}_tx_init"] = (P, [P, c_int, c_int, P, P])  # bit_rate, tep, get_bit, user
        protos[f"{m}_rx_init"] = (P, [P, c_int, P, P])  # bit_rate, put_bit, user
        protos[f"{m}_rx_restart"] = (c_int, [P, c_int, c_int])  # bit_rate, old_train
    protos.update({
        "fsk_tx_init": (P, [P, P, P, P]),
        "fsk_rx_init": (P, [P, P, c_int, P, P]),
        "v17_tx_restart": (c_int, [P, c_int, c_int, c_int]),  # bit_rate, tep, short_train
        # HDLC
        "hdlc_tx_init": (P, [P, c_int, c_int, c_int, P, P]),
        "hdlc_tx_free": (c_int, [P]),
        "hdlc_tx_frame": (c_int, [P, P, c_size_t]),
        "hdlc_tx_flags": (c_int, [P, c_int]),
        "hdlc_tx_abort": (c_int, [P]),
        "hdlc_tx_corrupt_frame": (c_int, [P]),
        "hdlc_tx_get_bit": (c_int, [P]),
        "hdlc_rx_init": (P, [P, c_int, c_int, c_int, P, P]),
        "hdlc_rx_free": (c_int, [P]),
        "hdlc_rx_put_bit": (None, [P, c_int]),
        # tones
        "modem_connect_tones_tx_init": (P, [P, c_int]),
        "modem_connect_tones_tx_free": (c_int, [P]),
        "modem_connect_tones_tx": (c_int, [P, P, c_int]),
        "modem_connect_tones_rx_init": (P, [P, c_int, P, P]),
        "modem_connect_tones_rx_free": (c_int, [P]),
        "modem_connect_tones_rx": (c_int, [P, P, c_int]),
        "modem_connect_tones_rx_get": (c_int, [P]),
        # G.711
        "g711_init": (P, [P, c_int]),
        "g711_free": (c_int, [P]),
        "g711_encode": (c_int, [P, P, P, c_int]),
        "g711_decode": (c_int, [P, P, P, c_int]),
        # BERT (C-level bit source/sink for benchmarks)
        "bert_init": (P, [P, c_int, c_int, c_int, c_int]),
        "bert_free": (c_int, [P]),
        "bert_get_bit": (c_int, [P]),
        "bert_put_bit": (None, [P, c_int]),
        # the fax terminal (fax.h, t30_api.h)
        "fax_init": (P, [P, c_int]), "fax_free": (c_int, [P]),
        "fax_rx": (c_int, [P, POINTER(c_int16), c_int]),
        "fax_tx": (c_int, [P, POINTER(c_int16), c_int]),
        "fax_set_transmit_on_idle": (None, [P, c_int]),
        "fax_get_t30_state": (P, [P]),
        "t30_set_tx_ident": (c_int, [P, c_char_p]),
        "t30_get_rx_ident": (c_char_p, [P]),
        "t30_set_tx_sub_address": (c_int, [P, c_char_p]),
        "t30_get_rx_sub_address": (c_char_p, [P]),
        "t30_set_tx_sender_ident": (c_int, [P, c_char_p]),
        "t30_get_rx_sender_ident": (c_char_p, [P]),
        "t30_set_tx_password": (c_int, [P, c_char_p]),
        "t30_get_rx_password": (c_char_p, [P]),
        "t30_set_tx_file": (None, [P, c_char_p, c_int, c_int]),
        "t30_set_rx_file": (None, [P, c_char_p, c_int]),
        "t30_set_ecm_capability": (c_int, [P, c_int]),
        "t30_set_supported_modems": (c_int, [P, c_int]),
        "t30_set_supported_compressions": (c_int, [P, c_int]),
        "t30_set_supported_resolutions": (c_int, [P, c_int]),
        "t30_set_supported_t30_features": (c_int, [P, c_int]),
        "t30_set_rx_encoding": (c_int, [P, c_int]),
        "t30_set_phase_e_handler": (None, [P, P, P]),
        "t30_set_real_time_frame_handler": (None, [P, P, P]),
        "t30_get_transfer_statistics": (None, [P, POINTER(T30Stats)]),
        "t30_set_tx_nsf": (c_int, [P, POINTER(c_uint8), c_int]),
        "t30_get_rx_nsf": (c_size_t, [P, POINTER(POINTER(c_uint8))]),
        # the T.31 Class 1 modem (t31.h) and its logging (logging.h)
        "t31_init": (P, [P, P, P, P, P, P, P]),
        "t31_free": (c_int, [P]),
        "t31_at_rx": (c_int, [P, c_char_p, c_int]),
        "t31_rx": (c_int, [P, POINTER(c_int16), c_int]),
        "t31_tx": (c_int, [P, POINTER(c_int16), c_int]),
        "t31_call_event": (None, [P, c_int]),
        "t31_set_transmit_on_idle": (None, [P, c_int]),
        "t31_get_logging_state": (P, [P]),
        "span_log_set_level": (c_int, [P, c_int]),
        "span_log_set_tag": (c_int, [P, c_char_p]),
        "span_log_set_message_handler": (None, [P, P]),
        # a T.4 receiver writing TIFF (t4_rx.h)
        "t4_rx_init": (P, [P, c_char_p, c_int]),
        "t4_rx_start_page": (c_int, [P]),
        "t4_rx_end_page": (c_int, [P]),
        "t4_rx_release": (c_int, [P]),
        "t4_rx_free": (c_int, [P]),
        "t4_rx_put_chunk": (c_int, [P, c_char_p, c_int]),
        "t4_rx_set_rx_encoding": (c_int, [P, c_int]),
        "t4_rx_set_image_width": (c_int, [P, c_int]),
        "t4_rx_set_x_resolution": (c_int, [P, c_int]),
        "t4_rx_set_y_resolution": (c_int, [P, c_int]),
        # T.38 (t38_core.h, t38_terminal.h, t38_gateway.h): the wrappers in t38.py
        "t38_terminal_init": (P, [P, c_int, P, P]),  # calling, tx_packet_handler, user
        "t38_terminal_free": (c_int, [P]),
        "t38_terminal_send_timeout": (c_int, [P, c_int]),  # samples of 8 kHz time
        "t38_terminal_set_config": (None, [P, c_int]),
        "t38_terminal_set_tep_mode": (None, [P, c_int]),
        "t38_terminal_set_fill_bit_removal": (None, [P, c_int]),
        "t38_terminal_get_t30_state": (P, [P]),
        "t38_terminal_get_t38_core_state": (P, [P]),
        "t38_terminal_get_logging_state": (P, [P]),
        "t38_core_rx_ifp_packet": (c_int, [P, P, c_int, c_uint16]),  # buf, len, seq_no
        "t38_core_get_logging_state": (P, [P]),
        "t38_set_t38_version": (None, [P, c_int]),
        "t38_set_redundancy_control": (None, [P, c_int, c_int]),  # category, count
        "t38_set_data_rate_management_method": (None, [P, c_int]),
        "t38_set_max_datagram_size": (None, [P, c_int]),
        "t38_set_fill_bit_removal": (None, [P, c_int]),
        "t38_set_pace_transmission": (None, [P, c_int]),
        "t38_set_sequence_number_handling": (None, [P, c_int]),
        "t38_set_fastest_image_data_rate": (None, [P, c_int]),
        "t38_gateway_init": (P, [P, P, P]),  # tx_packet_handler, user
        "t38_gateway_free": (c_int, [P]),
        "t38_gateway_rx": (c_int, [P, POINTER(c_int16), c_int]),
        "t38_gateway_tx": (c_int, [P, POINTER(c_int16), c_int]),
        "t38_gateway_rx_fillin": (c_int, [P, c_int]),
        "t38_gateway_set_ecm_capability": (None, [P, c_int]),
        "t38_gateway_set_transmit_on_idle": (None, [P, c_int]),
        "t38_gateway_set_supported_modems": (None, [P, c_int]),
        "t38_gateway_set_tep_mode": (None, [P, c_int]),
        "t38_gateway_set_fill_bit_removal": (None, [P, c_int]),
        "t38_gateway_get_transfer_statistics": (None, [P, POINTER(T38Stats)]),
        "t38_gateway_get_t38_core_state": (P, [P]),
        "t38_gateway_get_logging_state": (P, [P]),
        "t38_gateway_set_real_time_frame_handler": (None, [P, P, P]),
        "t30_get_logging_state": (P, [P]),
    })
    return protos


#: The library names (or paths) tried, in order.
NAMES: tuple[str, ...] = ("libspandsp.so.2", find_library("spandsp") or "")


@functools.cache
def _load(names: tuple[str, ...]) -> tuple[ctypes.CDLL | None, str]:
    """(the library with its prototypes set, or None and why); once per ``names``."""
    error = "libspandsp not found"
    for name in names:
        if not name:
            continue
        try:
            found = ctypes.CDLL(name)
        except OSError as exc:
            error = str(exc)
            continue
        try:
            for fn, (res, args) in _prototypes().items():
                f = getattr(found, fn)
                f.restype, f.argtypes = res, args
        except AttributeError as exc:
            error = f"{name} is not spandsp 0.0.6 ({exc})"
            continue
        return found, ""
    return None, error


def lib() -> ctypes.CDLL:
    """The loaded library with every prototype set; :class:`SpandspMissing` if absent."""
    found, error = _load(NAMES)
    if found is None:
        raise SpandspMissing(f"libspandsp could not be loaded ({error}); install the Debian "
                             f"package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE})")
    return found


def available() -> bool:
    """Whether :func:`lib` will succeed."""
    return _load(NAMES)[0] is not None


class AudioState:
    """A spandsp object on 8 kHz audio whose C state is ``self._s`` (made with
    ``self._lib``): ``tx(n)`` through ``<_prefix>_tx`` (exactly ``n`` samples, zero
    padded), freed once through ``<_prefix>_free``."""

    _prefix = ""  # "fax", "t31": the C function names start with it
    _lib: ctypes.CDLL
    _s: int | None = None

    def _after_tx(self) -> None:
        """What a subclass does after each block it sends (nothing here)."""

    def tx(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        got = getattr(self._lib, f"{self._prefix}_tx")(
            self._s, out.ctypes.data_as(POINTER(c_int16)), n)
        if got < n:
            out[got:] = 0
        self._after_tx()
        return out

    def close(self) -> None:
        if self._s:
            getattr(self._lib, f"{self._prefix}_free")(self._s)
            self._s = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
