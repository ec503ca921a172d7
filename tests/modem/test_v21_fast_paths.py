"""V.21's fast paths (issue 14) against their plain readings.

Transmitter: the compiled table-driven modulator gives the same samples (0 LSB) as
:func:`faxcore.modem.v21.reference_samples`, the phase-continuous FSK written out in
numpy, at every level and block size, with the mark fill between pieces of data.
"""

from __future__ import annotations

import numpy as np
import pytest

from faxcore import modem
from faxcore.modem import v21
from faxcore.modem.dsp import dbm0_to_peak


@pytest.mark.parametrize("level", [-43.0, -10.0, 0.0, 3.0])
@pytest.mark.parametrize("block", [1, 37, 160, 8000])
def test_tx_equals_numpy_reference(level, block):
    bits = np.random.default_rng(int(block + 100 - level)).integers(0, 2, 700, dtype=np.uint8)
    tx = modem.transmitter("v21", 300, level_dbm0=level)
    tx.send(bits)
    out = []
    while not tx.done:
        out.append(tx.tx(block))
    out = np.concatenate(out)
    ref = v21.reference_samples(bits, dbm0_to_peak(level))
    assert out.shape[0] >= ref.shape[0] and not out[ref.shape[0]:].any()
    assert int(np.abs(out[:ref.shape[0]].astype(np.int32) - ref).max()) == 0


def test_tx_fill_between_pieces_equals_reference():
    a = np.random.default_rng(1).integers(0, 2, 50, dtype=np.uint8)
    b = np.random.default_rng(2).integers(0, 2, 50, dtype=np.uint8)
    tx = modem.transmitter("v21", 300)
    tx.send(a, final=False)
    first = tx.tx(4000)                 # 50 data bits, then 100 bits of mark fill
    tx.send(b)
    rest = np.concatenate([tx.tx(160) for _ in range(20)])
    got = np.concatenate([first, rest])
    ref = v21.reference_samples(np.concatenate([a, np.ones(100, np.uint8), b]),
                                dbm0_to_peak(-10.0))
    np.testing.assert_array_equal(got[:ref.shape[0]], ref)
    assert tx.done and not got[ref.shape[0]:].any()
