"""Decompression bombs: the per-read budget of pixels and pages of read_tiff/iter_tiff and
read_raw/iter_raw, and lazy decoding by the iterators.

Each bomb runs in a child process with a 4 GiB address-space limit (so a regression
fails with MemoryError instead of taking the machine) and reports the peak of
tracemalloc (numpy reports its buffers to it, so this is the memory the reader asked
for, touched or not) and of ru_maxrss. No timing is measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from faxcore.codecs.raw import iter_raw, read_raw
from faxcore.codecs.t4 import (
    MAX_DOCUMENT_PAGES,
    MAX_DOCUMENT_PIXELS,
    PAGE_OVERHEAD_PIXELS,
    DocumentError,
    DocumentTooLarge,
)
from faxcore.codecs.tiff import (  # the child processes use them as t.iter_tiff, ...
    Page,
    TiffError,
    TiffTooLarge,
    iter_tiff,  # noqa: F401
    read_tiff,
    tiff_bytes,
)
from faxcore.testing.hostile_files import (  # and t.tiff_bomb, ...
    SMALL_BOMBS,
    g3_rows_bomb,
    raw_mmr_bomb,  # noqa: F401
    raw_rows_bomb,  # noqa: F401
    tiff_bomb,
)
from faxcore.testing.paths import CORPUS, ROOT

MiB = 1 << 20
BIG = 8192 * 8192          # one bomb page: the reader's per-page limit (2**26 pixels)


# --------------------------------------------------------------------------- child


def run_child(body: str, limit: int = 4 << 30) -> dict:
    """Run ``body`` (which sets ``out``) in a fresh interpreter; return ``out`` with
    ``peak`` (tracemalloc) and ``maxrss`` (bytes), or ``raised``/``message``/``pages``."""
    script = textwrap.dedent("""
        import json, resource, sys, tracemalloc
        resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
        sys.path.insert(0, {tests!r})
        import test_tiff_budget as t
        out = {{}}
        tracemalloc.start()
        try:
        {body}
        except Exception as exc:
            out["raised"] = type(exc).__name__
            out["message"] = str(exc)
            out["pages"] = len(getattr(exc, "pages", []))
            out["complete_pages"] = getattr(exc, "complete_pages", None)
        out["peak"] = tracemalloc.get_traced_memory()[1]
        out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(out))
    """).format(limit=limit, tests=str(Path(__file__).parent),
                body=textwrap.indent(textwrap.dedent(body), "    "))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- TIFF


def test_tiff_bomb_stops_at_default_budget():
    # 100 pages of 64 Mpixel in 11 KB: the old reader went past 6 GiB
    res = run_child("""
        data = t.tiff_bomb()
        pages = t.read_tiff(data)
        out["ok"] = len(pages)
    """)
    assert res.get("raised") == "TiffTooLarge", res
    fit = MAX_DOCUMENT_PIXELS // (BIG + PAGE_OVERHEAD_PIXELS)       # 15 pages
    assert res["pages"] == res["complete_pages"] == fit
    assert "document too large" in res["message"] and f"page {fit + 1}" in res["message"]
    assert res["peak"] <= MAX_DOCUMENT_PIXELS + 64 * MiB
    assert res["maxrss"] <= MAX_DOCUMENT_PIXELS + 256 * MiB


def test_tiff_budget_keyword_bounds_memory():
    limit = 3 * (BIG + PAGE_OVERHEAD_PIXELS)
    res = run_child(f"""
        try:
            t.read_tiff(t.tiff_bomb(), max_document_pixels={limit})
        except t.TiffTooLarge as exc:
            out["pages"] = len(exc.pages)
            out["sizes"] = sorted({{p.bitmap.shape for p in exc.pages}})
            out["white"] = all(not p.bitmap.any() for p in exc.pages)
            out["isa"] = [isinstance(exc, c) for c in (t.TiffError, t.DocumentTooLarge,
                                                       ValueError)]
    """)
    assert res["pages"] == 3 and res["sizes"] == [[8192, 8192]] and res["white"]
    assert res["isa"] == [True, True, True]
    assert res["peak"] <= limit + 64 * MiB


def test_iter_tiff_decodes_one_page_at_a_time():
    # the caller drops each page: memory stays at about one page, and the budget still
    # ends the iteration after the same 15 pages
    res = run_child("""
        it = t.iter_tiff(t.tiff_bomb())
        out["first"] = list(next(it).bitmap.shape)
        out["after_first"] = tracemalloc.get_traced_memory()[1]
        n = 1
        try:
            for page in it:
                n += 1
        except t.TiffTooLarge as exc:
            out["caught"] = exc.complete_pages
        out["n"] = n
    """)
    assert res["first"] == [8192, 8192]
    assert res["after_first"] <= BIG + 32 * MiB
    assert res["n"] == res["caught"] == MAX_DOCUMENT_PIXELS // (BIG + PAGE_OVERHEAD_PIXELS)
    assert res["peak"] <= 2 * BIG + 32 * MiB


def test_tiff_page_cap():
    data = tiff_bomb(pages=30, width=16, height=4)
    with pytest.raises(TiffTooLarge, match="more than 10 pages") as info:
        read_tiff(data, max_pages=10)
    assert len(info.value.pages) == 10
    assert len(read_tiff(data)) == 30


def test_tiff_budget_accounting_is_pixels_plus_overhead():
    pages = [Page(np.eye(40, 64, dtype=np.uint8)), Page(np.ones((30, 64), np.uint8))]
    data = tiff_bytes(pages)
    need = 40 * 64 + 30 * 64 + 2 * PAGE_OVERHEAD_PIXELS
    got = read_tiff(data, max_document_pixels=need)
    assert [p.bitmap.tolist() for p in got] == [p.bitmap.tolist() for p in pages]
    with pytest.raises(TiffTooLarge) as info:
        read_tiff(data, max_document_pixels=need - 1)
    assert [p.bitmap.tolist() for p in info.value.pages] == [pages[0].bitmap.tolist()]
    with pytest.raises(ValueError, match="positive"):
        read_tiff(data, max_document_pixels=0)


def test_tiff_budget_applies_whatever_strict_says():
    with pytest.raises(TiffTooLarge):
        read_tiff(tiff_bomb(pages=5), strict=False, max_document_pixels=2 * BIG)


# --------------------------------------------------------------------------- raw


def test_raw_mmr_bomb_stops_at_default_budget():
    # 320 KB: 40 pages of 65535 x 1728 white rows; the old reader went past 3 GiB
    res = run_child("""
        out["input"] = len(t.raw_mmr_bomb())
        t.read_raw(t.raw_mmr_bomb(), "mmr")
    """)
    assert res["input"] < 330_000
    assert res.get("raised") == "DocumentTooLarge", res
    fit = MAX_DOCUMENT_PIXELS // (65535 * 1728 + PAGE_OVERHEAD_PIXELS)     # 9 pages
    assert res["pages"] == res["complete_pages"] == fit
    # the pages kept, plus the packed rows of the page being decoded (1/8 byte a pixel)
    assert res["peak"] <= MAX_DOCUMENT_PIXELS + 64 * MiB
    assert res["maxrss"] <= MAX_DOCUMENT_PIXELS + 256 * MiB


def test_iter_raw_decodes_one_page_at_a_time():
    res = run_child("""
        n = 0
        try:
            for page in t.iter_raw(t.raw_mmr_bomb(), "mmr", max_document_pixels=1 << 29):
                assert page.bitmap.shape == (65535, 1728) and not page.bitmap.any()
                n += 1
        except t.DocumentTooLarge as exc:
            out["caught"] = exc.complete_pages
        out["n"] = n
    """)
    page = 65535 * 1728
    assert res["n"] == res["caught"] == (1 << 29) // (page + PAGE_OVERHEAD_PIXELS)
    # the caller's previous page is alive while the next one is decoded: two pages and
    # one page's packed rows, where a list of the pages would hold four
    assert res["peak"] <= 2 * page + page // 8 + 32 * MiB


def test_raw_budget_stops_the_decoder_inside_a_page():
    # one undivided page larger than the budget: the decoder is told the rows left and
    # stops there, nothing larger is allocated
    res = run_child("""
        t.read_raw(t.raw_mmr_bomb(pages=1), "mmr", max_document_pixels=1 << 24)
    """)
    assert res.get("raised") == "DocumentTooLarge" and res["pages"] == 0
    assert "page 1 needs" in res["message"]
    assert res["peak"] <= (1 << 24) + 16 * MiB


def test_raw_page_rows_one_is_capped_by_page_count():
    # 200 KB of one-bit rows with page_rows=1: 200 000 pages of one row before (8 s,
    # 650 MB); now the 10 000-page cap ends the read
    res = run_child("""
        t.read_raw(t.raw_rows_bomb(), "mmr", page_rows=1)
    """)
    assert res.get("raised") == "DocumentTooLarge", res
    assert res["pages"] == MAX_DOCUMENT_PAGES
    assert f"more than {MAX_DOCUMENT_PAGES} pages" in res["message"]
    assert res["peak"] <= MAX_DOCUMENT_PAGES * (1728 + PAGE_OVERHEAD_PIXELS) + 16 * MiB


@pytest.mark.parametrize("scheme", ["mh", "mr"])
def test_raw_g3_page_rows_one_is_capped_by_page_count(scheme):
    data = g3_rows_bomb(mr=scheme == "mr")
    with pytest.raises(DocumentTooLarge, match="more than 500 pages") as info:
        read_raw(data, scheme, page_rows=3, max_pages=500)
    assert len(info.value.pages) == 500
    assert all(p.bitmap.shape == (3, 1728) and not p.bitmap.any() for p in info.value.pages)


def test_raw_mmr_page_rows_pages_decode_from_offsets():
    # the same pages as before the change: each page restarts at the byte after the
    # previous page's last row
    rng = np.random.default_rng(5)
    from faxcore.codecs import encode
    pages = [(rng.random((4, 64)) < 0.3).astype(np.uint8) for _ in range(50)]
    data = b"".join(encode(p, "mmr", end_marker=False) for p in pages)
    got = read_raw(data, "mmr", 64, page_rows=4)
    assert [p.bitmap.tolist() for p in got] == [p.tolist() for p in pages]
    assert [p.page_number for p in got] == list(range(50))
    assert list(iter_raw(data, "mmr", 64, page_rows=4))[7].bitmap.tolist() == pages[7].tolist()


def test_raw_errors_are_document_errors():
    with pytest.raises(DocumentError, match="no decodable"):
        read_raw(b"\0" * 100, "mmr")
    assert issubclass(DocumentTooLarge, DocumentError) and issubclass(DocumentError, ValueError)
    assert issubclass(TiffError, DocumentError)


# --------------------------------------------------------------------------- corpus



def test_bombs_in_small_form_are_in_the_corpus():
    """The corpus holds the bombs scaled down (ASan replay: same code paths, small)."""
    for (target, name), make in SMALL_BOMBS.items():
        assert (CORPUS / target / name).read_bytes() == make(), name
    pages = read_tiff(CORPUS / "tiff" / "bomb-shared-empty-strip.bin")
    assert len(pages) == 20 and all(p.bitmap.shape == (512, 512) for p in pages)
    pages = read_raw(CORPUS / "raw_mmr" / "bomb-white-pages.bin", "mmr")
    assert [p.bitmap.shape for p in pages] == [(2000, 1728)] * 8
