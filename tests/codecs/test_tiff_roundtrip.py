"""TIFF-F write/read round trips with generated pages, checked by us and by libtiff (Pillow)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from faxcore.codecs.tiff import Page, read_tiff, tiff_bytes
from faxcore.testing.pages import pillow_pages

bitmaps = st.integers(1, 40).flatmap(
    lambda h: st.integers(1, 300).flatmap(
        lambda w: st.one_of(
            arrays(np.uint8, (h, w), elements=st.integers(0, 1)),
            st.builds(lambda v: np.full((h, w), v, np.uint8), st.integers(0, 1)),
            st.builds(lambda: (np.indices((h, w)).sum(axis=0) % 2).astype(np.uint8)),
        )))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(pages=st.lists(bitmaps, min_size=1, max_size=3),
       scheme=st.sampled_from(["mh", "mr", "mmr", "none"]),
       fill_order=st.sampled_from([1, 2]),
       rows_per_strip=st.sampled_from([None, 1, 7]),
       eol_align=st.booleans(),
       byteorder=st.sampled_from(["<", ">"]),
       res=st.sampled_from([(204, 98), (204, 196), (204, 391), (300, 300), (400, 400)]))
def test_roundtrip_and_libtiff(pages, scheme, fill_order, rows_per_strip, eol_align,
                               byteorder, res):
    data = tiff_bytes([Page(p, *res) for p in pages], scheme, fill_order=fill_order,
                      rows_per_strip=rows_per_strip, eol_align=eol_align and scheme in
                      ("mh", "mr"), byteorder=byteorder)
    back = read_tiff(data)
    assert len(back) == len(pages)
    for i, (page, want) in enumerate(zip(back, pages, strict=True)):
        np.testing.assert_array_equal(page.bitmap, want)
        assert (page.xres, page.yres) == res and page.page_number == i
        assert page.error is None and page.bad_rows == 0
    for got, want in zip(pillow_pages(data), pages, strict=True):
        np.testing.assert_array_equal(got, want)
