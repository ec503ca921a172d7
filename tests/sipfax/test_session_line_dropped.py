"""FaxSession.line_dropped(): what a SIP BYE does to a G.711 fax call in progress. The
session goes to phase E at once with the status T.30 gives a dropped line, and the pages
it had confirmed are in its TIFF-F (the page total written, as at any hang-up)."""

from __future__ import annotations

import numpy as np

from faxcore.codecs import read_tiff
from faxcore.session import FaxSession
from faxcore.t30 import T30Status, TxPage
from faxcore.testing.pages import small_page


def test_a_bye_after_the_first_of_two_pages_keeps_that_page(tmp_path):
    pages = [TxPage(small_page(seed, rows=120), "fine") for seed in (1, 2)]
    caller = FaxSession(True, send=pages)
    answerer = FaxSession(False, receive=tmp_path / "rx.tif")
    n = 0
    while len(answerer.engine.received_pages) < 1:     # until page 1 is confirmed
        x, y = caller.tx(160), answerer.tx(160)
        caller.rx(y)
        answerer.rx(x)
        n += 160
        assert n < 120 * 8000, answerer.result.summary()
    answerer.line_dropped()
    assert answerer.engine.done and answerer.done
    assert answerer.result.status == T30Status.CALLDROPPED
    assert answerer.tx(160).tolist() == [0] * 160          # silence from then on
    got = read_tiff(tmp_path / "rx.tif")
    assert len(got) == 1 and np.array_equal(got[0].bitmap, pages[0].bitmap)
    caller.line_dropped()
    assert caller.engine.done and caller.result.status == T30Status.CALLDROPPED
    assert caller.result.pages_sent <= 1
