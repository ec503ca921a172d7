"""Page preparation: geometry, resolution, grey to bilevel, splitting, PDF rendering."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs import prep
from faxcore.testing.peers import require_shared, require_tool

# T.4 scan widths (ITU-T T.4 / T.30 DIS bits 17-18 with the 300 and 400 dpi options).
T4_WIDTHS = {
    ("a4", "fine"): 1728, ("b4", "fine"): 2048, ("a3", "fine"): 2432,
    ("a4", "300"): 2592, ("b4", "300"): 3072, ("a3", "300"): 3648,
    ("a4", "400"): 3456, ("b4", "400"): 4096, ("a3", "400"): 4864,
    ("letter", "standard"): 1728, ("a4", "superfine"): 1728, ("b4", "standard"): 2048,
}


@pytest.mark.parametrize("key", sorted(T4_WIDTHS))
def test_fax_widths(key):
    assert prep.fax_width(*key) == T4_WIDTHS[key]


def test_page_rows_and_bad_names():
    assert prep.page_rows("a4", "fine") == round(297 / 25.4 * 196)
    assert prep.page_rows("a4", "standard") == round(297 / 25.4 * 98)
    assert prep.page_rows("letter", "fine") == 11 * 196
    with pytest.raises(ValueError, match="resolution"):
        prep.fax_width("a4", "ultra")
    with pytest.raises(ValueError, match="page size"):
        prep.fax_width("a5", "fine")


def _ramp(w=1000, h=200):
    """Grey ramp: column x has grey level round(255 * x / (w - 1))."""
    row = np.round(np.linspace(0, 255, w)).astype(np.uint8)
    return np.tile(row, (h, 1))


def test_threshold_vs_dither_on_grey_ramp():
    grey = _ramp()
    thr = prep.to_bilevel(grey)
    np.testing.assert_array_equal(thr, (grey < 128).astype(np.uint8))
    dit = prep.to_bilevel(grey, dither=True)
    assert set(np.unique(dit)) <= {0, 1}
    # Error diffusion keeps the mean darkness of every band of 100 columns.
    for x in range(0, 1000, 100):
        want = 1 - grey[:, x:x + 100].mean() / 255
        assert abs(dit[:, x:x + 100].mean() - want) < 0.03
        # while the threshold gives all-or-nothing outside the middle band
        if x + 100 <= 450 or x >= 550:
            assert thr[:, x:x + 100].mean() in (0.0, 1.0)
    assert prep.to_bilevel(grey, threshold=64).sum() < thr.sum()


def _png(arr, **save):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **save)
    return buf.getvalue()


@pytest.mark.parametrize("resolution, xdpi, ydpi",
                         [("standard", 204, 98), ("fine", 204, 196), ("superfine", 204, 391),
                          ("300", 300, 300), ("400", 400, 400)])
def test_image_with_dpi_is_placed_at_physical_size(resolution, xdpi, ydpi):
    # 4 x 2 inch black box at 100 dpi on white: lands centred at its physical size.
    arr = np.zeros((200, 400), np.uint8)
    (page,) = prep.prepare_image(_png(arr, dpi=(100, 100)), resolution=resolution)
    assert (page.xres, page.yres) == (xdpi, ydpi)
    assert page.width == prep.fax_width("a4", resolution)
    assert page.height == round(2 * ydpi)
    cols = np.flatnonzero(page.bitmap.any(axis=0))
    assert abs(len(cols) - 4 * xdpi) <= 1
    assert abs(cols[0] - (page.width - 4 * xdpi) / 2) <= 1
    assert page.bitmap[:, cols[0]:cols[-1] + 1].all()


def test_image_without_dpi_fills_the_width_with_square_pixels():
    arr = np.full((100, 500), 255, np.uint8)
    arr[:, :250] = 0                                          # left half black
    (page,) = prep.prepare_image(_png(arr), resolution="fine")
    assert page.width == 1728
    assert page.height == round(100 * 1728 / 500 * 196 / 204)
    assert abs(page.bitmap.mean() - 0.5) < 0.01
    assert page.bitmap[:, :860].all() and not page.bitmap[:, 868:].any()


def test_wide_image_is_scaled_down_to_fit():
    arr = np.zeros((100, 3000), np.uint8)                      # 30 inches at 100 dpi
    (page,) = prep.prepare_image(_png(arr, dpi=(100, 100)), resolution="standard",
                                 page_size="b4")
    assert page.width == 2048 and page.bitmap.all()
    assert page.height == round(100 * 2048 / 3000 * 98 / 204)


def test_fax_width_bitmap_is_not_resampled():
    path = require_shared("testdata/itu/itu1.pbm")
    ref = (np.asarray(Image.open(path)) == 0).astype(np.uint8)
    pages = prep.prepare_image(path, resolution="fine", split="none")
    assert len(pages) == 1
    np.testing.assert_array_equal(pages[0].bitmap, ref)
    # ITU charts (2376 rows) are a little longer than A4: still one page with splitting on
    assert len(prep.prepare(str(path))) == 1
    # Without a dpi tag its rows are taken at the requested resolution: not resampled.
    (std,) = prep.prepare_image(path, resolution="standard", split="none")
    np.testing.assert_array_equal(std.bitmap, ref)
    assert (std.xres, std.yres) == (204, 98)


def test_splitting_long_images():
    rows = prep.page_rows("a4", "fine")
    arr = np.full((3 * rows + 500, 1728), 255, np.uint8)
    arr[::50] = 0                                              # a rule every 50 rows
    img = Image.fromarray(arr)
    pages = prep.prepare_bitmap(img, resolution="fine")
    assert [p.height for p in pages] == [rows, rows, rows, 500]
    np.testing.assert_array_equal(np.vstack([p.bitmap for p in pages]),
                                  (arr < 128).astype(np.uint8))
    letter = prep.prepare_bitmap(img, resolution="fine", split="letter")
    assert [p.height for p in letter[:-1]] == [11 * 196] * (len(letter) - 1)
    assert sum(p.height for p in letter) == arr.shape[0]
    (whole,) = prep.prepare_bitmap(img, resolution="fine", split="none")
    assert whole.height == arr.shape[0]
    # a sliver under 5 % of a page stays on the last page
    short = prep.split_bitmap(np.zeros((rows + rows // 25, 8), np.uint8), rows)
    assert len(short) == 1


@pytest.mark.parametrize("fmt, mode", [("JPEG", "L"), ("GIF", "P"), ("PPM", "L"),
                                        ("TIFF", "RGB"), ("PNG", "1")])
def test_other_image_formats(fmt, mode):
    arr = np.full((300, 600), 255, np.uint8)
    arr[100:200, 150:450] = 0
    img = Image.fromarray(arr)
    if mode != "L":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    (page,) = prep.prepare_image(buf.getvalue(), resolution="fine")
    assert page.width == 1728
    s = 1728 / 600
    ys, xs = np.nonzero(page.bitmap)
    assert abs(xs.min() - 150 * s) <= 3 and abs(xs.max() - 450 * s) <= 3
    assert abs(ys.min() - 100 * s * 196 / 204) <= 3


def test_transparency_is_white():
    rgba = np.zeros((50, 100, 4), np.uint8)                    # black, fully transparent
    rgba[:, :50, 3] = 255                                      # left half opaque
    (page,) = prep.prepare_image(Image.fromarray(rgba, "RGBA"), resolution="fine")
    assert page.bitmap[:, :860].all() and not page.bitmap[:, 868:].any()


def test_multiframe_gif_gives_pages():
    frames = [Image.fromarray(np.full((40, 80), v, np.uint8)) for v in (0, 255, 0)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pages = prep.prepare_image(buf.getvalue(), resolution="standard")
    assert [int(p.bitmap.all()) for p in pages] == [1, 0, 1]


def _check_pdf_page(page, box_mm):
    """A black box at (x0, y0, x1, y1) mm from the top left of an A4 page."""
    assert page.width == 1728 and (page.xres, page.yres) == (204, 196)
    assert abs(page.height - round(297 / 25.4 * 196)) <= 1
    off = (1728 - round(210 / 25.4 * 204)) // 2
    ys, xs = np.nonzero(page.bitmap)
    x0, y0, x1, y1 = box_mm
    assert abs(xs.min() - (off + x0 / 25.4 * 204)) <= 2
    assert abs(xs.max() - (off + x1 / 25.4 * 204)) <= 2
    assert abs(ys.min() - y0 / 25.4 * 196) <= 2
    assert abs(ys.max() - y1 / 25.4 * 196) <= 2


def test_pdf_from_ghostscript(tmp_path):
    gs = require_tool("gs")
    ps = tmp_path / "box.ps"
    # A4 page; box from x 50..150 mm, y 60..100 mm from the top (PostScript: from bottom)
    mm = 72 / 25.4
    ps.write_text(f"%!PS\n<< /PageSize [595.276 841.89] >> setpagedevice\n"
                  f"newpath {50 * mm} {(297 - 100) * mm} moveto {100 * mm} 0 rlineto "
                  f"0 {40 * mm} rlineto {-100 * mm} 0 rlineto closepath fill\nshowpage\n"
                  f"newpath 0 0 moveto showpage\n")
    pdf = tmp_path / "box.pdf"
    subprocess.run([gs, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite",
                    f"-sOutputFile={pdf}", str(ps)], check=True)
    pages = prep.prepare(str(pdf), resolution="fine")
    assert len(pages) == 2
    _check_pdf_page(pages[0], (50, 60, 150, 100))
    assert not pages[1].bitmap.any()


def test_pdf_from_pillow_and_resolutions(tmp_path):
    # A4 at 100 dpi: 827 x 1169 pixels, a box 20..60 mm across, 30..50 mm down.
    px = 100 / 25.4
    arr = np.full((1169, 827), 255, np.uint8)
    arr[round(30 * px):round(50 * px), round(20 * px):round(60 * px)] = 0
    pdf = tmp_path / "p.pdf"
    Image.fromarray(arr).save(pdf, resolution=100)
    (page,) = prep.prepare_pdf(pdf, resolution="fine")
    _check_pdf_page(page, (20, 30, 60, 50))
    (std,) = prep.prepare_pdf(pdf.read_bytes(), resolution="standard")
    assert abs(std.height - round(297 / 25.4 * 98)) <= 1
    (p400,) = prep.prepare_pdf(pdf, resolution="400")
    assert p400.width == 3456 and abs(p400.height - round(297 / 25.4 * 400)) <= 1


def test_pdf_landscape_is_turned_and_bad_pdf_is_value_error(tmp_path):
    pdf = tmp_path / "land.pdf"
    Image.new("L", (1169, 827), 0).save(pdf, resolution=100)
    (page,) = prep.prepare_pdf(pdf, resolution="fine")
    assert abs(page.height - round(297 / 25.4 * 196)) <= 1 and page.width == 1728
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(ValueError, match="PDF"):
        prep.prepare(str(bad))


def test_sample_page_is_deterministic_and_letter_like():
    a = prep.sample_page()
    b = prep.sample_page()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (prep.page_rows("a4", "fine"), 1728) and a.dtype == np.uint8
    assert 0.02 < a.mean() < 0.12                    # mostly white paper, some ink
    rows_with_ink = np.count_nonzero(a.any(axis=1))
    assert rows_with_ink > 0.3 * a.shape[0]          # text spread down the page
    assert a[:, :100].sum() == 0 and a[:, -100:].sum() == 0   # margins
    std = prep.sample_page("standard")
    assert std.shape == (prep.page_rows("a4", "standard"), 1728)
    assert abs(std.mean() - a.mean()) < 0.01
    assert prep.sample_page("300", "b4").shape[1] == 3072


def test_refit_page():
    from faxcore.codecs.tiff import Page

    bm = np.zeros((400, 1728), np.uint8)
    bm[100:300, 500:1000] = 1
    page = Page(bitmap=bm, xres=204, yres=196)
    assert prep.refit_page(page, resolution="fine") is page
    std = prep.refit_page(page, resolution="standard")
    assert std.bitmap.shape == (200, 1728)
    assert std.bitmap[50:150, 500:1000].all() and std.bitmap.sum() == 100 * 500
    hi = prep.refit_page(page, resolution="400")
    assert hi.bitmap.shape == (round(400 * 400 / 196), 3456)


def test_oversized_requests_are_value_errors(tmp_path):
    # A 1-pixel-wide strip with no dpi would be scaled to the full scan width.
    with pytest.raises(ValueError, match="pixel limit"):
        prep.prepare_image(Image.new("L", (1, 100_000), 0), resolution="fine")
    # A 200-inch-long PDF page at 400 dpi (80000 rows of 3456 pixels).
    ps = tmp_path / "long.ps"
    ps.write_text("%!PS\n<< /PageSize [595 14400] >> setpagedevice\nshowpage\n")
    pdf = tmp_path / "long.pdf"
    subprocess.run([require_tool("gs"), "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE",
                    "-sDEVICE=pdfwrite", f"-sOutputFile={pdf}", str(ps)], check=True)
    with pytest.raises(ValueError, match="pixel limit"):
        prep.prepare_pdf(pdf, resolution="400")
    pages = prep.prepare_pdf(pdf, resolution="standard")    # 200 in at 98 lpi is fine
    assert sum(p.height for p in pages) == round(14400 / 72 * 98)
    assert len(pages) == -(-round(14400 / 72 * 98) // prep.page_rows("a4", "standard"))
