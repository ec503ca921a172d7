"""A fax received through a Class 1 modem carries the call's metadata in its TIFF-F tags
(sender, signal rate, data format, ECM), as one received by a FaxSession does."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.class1 import Class1Call, Class1Dce
from faxcore.codecs import read_tiff
from faxcore.session import FaxSession
from faxcore.t30.engine import TxPage
from faxcore.testing.class1_memory import run_in_memory
from faxcore.testing.pages import letter_page


@pytest.mark.parametrize("ecm", [False, True], ids=["t4", "ecm"])
def test_class1_received_tiff_has_fax_metadata(tmp_path, ecm):
    bm = letter_page(seed=5)
    out = tmp_path / "rx.tif"
    far = FaxSession(True, send=[TxPage(bm, "fine")], ecm=ecm, ident="+1 555 0142")
    call = run_in_memory(Class1Call(False, receive=str(out), ecm=ecm), Class1Dce(), far,
                         ring=True)
    assert call.error is None and int(call.result.status) == 0, call.result.summary()
    pages = read_tiff(out)
    assert len(pages) == 1 and np.array_equal(pages[0].bitmap, bm)
    info = dict(pages[0].fax_info.describe())
    assert info["Sender"] == "+1 555 0142"
    assert info["ErrCorrect"] == ("Yes" if ecm else "No")
    assert info["SignalRate"].endswith("bit/s") and int(info["SignalRate"].split()[0]) >= 2400
