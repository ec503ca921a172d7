"""A cover page when asked (the ``cover`` form field): rendered from to/from/subject/note
and sent first; the receiving station gets it as page 1, pixel for pixel the rendered
page below the header band, then the document."""

from __future__ import annotations

import json

import numpy as np

from faxcore.server.documents import HEADER_ROWS, Cover, render_cover

OTHER = "+15557770000"


def below_header(bm: np.ndarray) -> np.ndarray:
    return bm[HEADER_ROWS["fine"]:]


def test_a_cover_page_is_rendered_and_sent_first(harness):
    a = harness.account(["+15550100"], name="Alice Ltd")
    cover = {"to": "Bob", "subject": "Quarterly figures", "note": "Two pages follow.\nCall me."}
    r = harness.submit(a, OTHER, 2, cover=json.dumps(cover))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["pages"] == 3
    harness.run()
    assert harness.fax(a, job["id"])["state"] == "delivered"
    got = harness.channel.stations[OTHER].pages
    assert len(got) == 3
    want = render_cover(Cover("Bob", "Alice Ltd", "Quarterly figures",
                              "Two pages follow.\nCall me."), when=harness.clock(), pages=2)
    assert np.array_equal(below_header(got[0].bitmap), below_header(want.bitmap))
    # the words are drawn: ink where the title and the note are, on an otherwise white page
    assert got[0].bitmap[120:260, 100:400].sum() > 1000
    assert 0.005 < got[0].bitmap.mean() < 0.1
    # then the document, as uploaded
    for p, s in zip(got[1:], harness.pages[job["id"]], strict=True):
        assert np.array_equal(below_header(p.bitmap), below_header(s.bitmap))


def test_cover_true_takes_the_number_and_the_header_and_bad_covers_are_refused(harness):
    a = harness.account(["+15550100"])
    job = harness.submit(a, OTHER, 1, cover="true", header="ACME").json()
    harness.run()
    first = harness.channel.stations[OTHER].pages[0]
    want = render_cover(Cover(OTHER, "ACME"), when=harness.clock(), pages=1)
    assert job["pages"] == 2
    assert np.array_equal(below_header(first.bitmap), below_header(want.bitmap))
    for bad in ("maybe", json.dumps({"fax": "x"}), json.dumps({"note": 5}),
                json.dumps({"subject": "x" * 101})):
        r = harness.submit(a, OTHER, 1, cover=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cover", bad
    assert harness.rows("SELECT count(*) FROM fax_jobs") == [(1,)]
