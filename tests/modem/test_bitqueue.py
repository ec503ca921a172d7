"""BitQueue (the transmitters' bit FIFO): what comes out is what went in, in order, and
its length is kept right through puts and takes of any size (transmitters read it every
block)."""

from __future__ import annotations

import numpy as np

from faxcore.modem.base import BitQueue


def test_bitqueue_is_a_fifo_with_a_right_length():
    rng = np.random.default_rng(4)
    q, ref = BitQueue(), []
    for _ in range(3000):
        if rng.random() < 0.5:
            a = rng.integers(0, 2, int(rng.integers(0, 50)), dtype=np.uint8)
            q.put(a)
            ref += a.tolist()
        else:
            n = int(rng.integers(0, 70))
            assert q.take(n).tolist() == ref[:n]
            ref = ref[n:]
        assert len(q) == len(ref)
