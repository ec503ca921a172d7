"""What the T.85 transmitter puts on the line: our encoder's own AT choice and TPBON
choice always, and L0 beyond T.85's basic 128 only when the DCS carries bit 79 (optional
L0), which the transmitter sets only when the receiver's DIS offered it. Calls faxcore <->
faxcore deliver the pages pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import jbig
from faxcore.t30 import T30Config, T30Status, TxPage
from faxcore.t30.dis import B_T85, B_T85_L0, Capabilities, DCSParams, bits_from_fif, negotiate
from faxcore.t30.modem_if import V17_14400
from faxcore.t30.pages import encode_page, judge_page
from faxcore.testing.engines import assert_pages_equal, loopback_call
from faxcore.testing.pages import text_page


def _halftone(rows: int) -> np.ndarray:
    """A smooth picture through a 4x4 Bayer matrix: the AT pixel 4 to the left helps."""
    b4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]])
    y, x = np.mgrid[0:rows, 0:1728]
    grey = 8 + 6 * np.sin(x / 90.0) * np.cos(y / 50.0)
    return (grey > b4[y % 4, x % 4]).astype(np.uint8)


@pytest.mark.parametrize("offer_l0", [False, True])
def test_dcs_bit_79_only_when_the_receiver_offers_it(offer_l0):
    remote = Capabilities.from_fif(Capabilities(jbig=True, jbig_l0=offer_l0).to_fif())
    dcs, _ = negotiate(("v17",), remote, resolution="fine", width_pixels=1728, ecm=True,
                       schemes=("mh", "mr", "mmr", "jbig"))
    assert dcs.scheme == "jbig" and dcs.jbig_l0 == offer_l0
    assert (B_T85_L0 in bits_from_fif(dcs.to_fif())) == offer_l0
    mmr, _ = negotiate(("v17",), remote, resolution="fine", width_pixels=1728, ecm=True,
                       schemes=("mh", "mr", "mmr"))
    assert mmr.scheme == "mmr" and not mmr.jbig_l0


@pytest.mark.parametrize("l0", [False, True])
def test_the_page_on_the_line(l0):
    bitmap = np.vstack([text_page(400, 5), _halftone(500)])
    page = TxPage(bitmap, "fine")
    dcs = DCSParams(modulation=V17_14400, resolution="fine", scheme="jbig", ecm=True,
                    jbig_l0=l0)
    cfg = T30Config(calling=False, jbig=True)
    data = encode_page(page, dcs, cfg)
    bih = jbig.parse_bih(data)
    assert bih["l0"] == (bitmap.shape[0] if l0 else 128)
    assert bih["mx"] == jbig.AT_MAX and b"\xff\x06" in data     # the AT pixel moved
    assert len(data) < 0.8 * len(jbig.encode(bitmap))             # the basic coding
    rx = judge_page(data, dcs, cfg)
    assert rx.quality == "MCF" and np.array_equal(rx.bitmap, bitmap)
    # the page keeps one coding per DCS: with and without bit 79 both kept, both right
    other = DCSParams(modulation=V17_14400, resolution="fine", scheme="jbig", ecm=True,
                      jbig_l0=not l0)
    assert jbig.parse_bih(encode_page(page, other, cfg))["l0"] != bih["l0"]
    assert encode_page(page, dcs, cfg) == data


def test_call_with_optional_l0_and_moves():
    pages = [TxPage(np.vstack([text_page(300, 2), _halftone(300)]), "fine"),
             TxPage(text_page(250, 4), "standard")]
    a, b, _ = loopback_call(pages, caller=dict(jbig=True), answerer=dict(jbig=True))
    for e in (a, b):
        assert e.result.status == T30Status.OK, e.result.summary()
        assert e.result.scheme == "jbig"
    assert_pages_equal(pages, b)
    dcs = next(f for f in a.result.trace if f.direction == "tx" and f.name == "DCS")
    assert {B_T85, B_T85_L0} <= bits_from_fif(bytes.fromhex(dcs.hex)[3:])
