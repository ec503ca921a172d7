"""spandsp's T.4 page decoder (``t4_rx``, Debian's libspandsp2 0.0.6 through ctypes): a
fax receiver's decoder we did not write, as a reference for faxcore's MH/MR decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faxcore.testing.spandsp.library import lib

# t4_rx_set_rx_encoding: T4_COMPRESSION_ITU_T4_1D / _2D
_ENCODING = {"mh": 1, "mr": 2}
R8_X_RESOLUTION = 8031       # T4_X_RESOLUTION_R8 (pixels per metre, 204 dpi)
FINE_Y_RESOLUTION = 7700     # T4_Y_RESOLUTION_FINE (196 lpi)


def decode_page(data: bytes, scheme: str, width: int, tiff_path: str | Path) -> np.ndarray:
    """One page of T.4 ``data`` (``scheme`` "mh" or "mr", bytes in line order: LSB
    first, ending in RTC) through spandsp's t4_rx, which writes it to ``tiff_path``;
    the bitmap (1 = black) as Pillow reads that file back. RuntimeError if spandsp does
    not take the page (or sees no RTC)."""
    from PIL import Image  # only this reference decoder needs Pillow

    L = lib()
    s = L.t4_rx_init(None, str(tiff_path).encode(), 1)
    if not s:
        raise RuntimeError("t4_rx_init failed")
    try:
        L.t4_rx_set_rx_encoding(s, _ENCODING[scheme])
        L.t4_rx_set_image_width(s, width)
        L.t4_rx_set_x_resolution(s, R8_X_RESOLUTION)
        L.t4_rx_set_y_resolution(s, FINE_Y_RESOLUTION)
        if L.t4_rx_start_page(s) != 0:
            raise RuntimeError("t4_rx_start_page failed")
        if not L.t4_rx_put_chunk(s, data, len(data)):
            raise RuntimeError("spandsp saw no RTC at the end of the page")
        if L.t4_rx_end_page(s) != 0:
            raise RuntimeError("t4_rx_end_page failed")
    finally:
        L.t4_rx_release(s)
        L.t4_rx_free(s)
    with Image.open(tiff_path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)
