"""Byte identity of our raw codec output with libtiff's, and our decoder on libtiff strips.

References are made by real tools on the eight ITU charts: netpbm's pnmtotiff (PBM to an
uncompressed min-is-white TIFF at 204x196 dpi, so libtiff's MR uses K=4), then tiffcp
(libtiff) compresses it to one strip per page; Pillow (also libtiff) writes its own
multi-strip files. The strip bytes are pulled out with Pillow's tag reader (no decoding).
The TIFF engineer's tests cover whole TIFF files; these cover the raw code streams.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faxcore.codecs import decode, encode, encode_tiff_strip
from faxcore.testing.peers import require_shared, require_tool

CHARTS = [f"itu{i}.pbm" for i in range(1, 9)]
# tiffcp -c option -> (scheme, encode options)
MODES = {
    "g3:1d": ("mh", {}),
    "g3:1d:fill": ("mh", {"eol_align": True}),
    "g3:2d": ("mr", {"k": 4}),
    "g3:2d:fill": ("mr", {"k": 4, "eol_align": True}),
    "g4": ("mmr", {}),
}


def strips(path: Path) -> tuple[list[bytes], dict]:
    """Raw strip bytes and tags of the first page of a TIFF file."""
    with Image.open(path) as im:
        tags = dict(im.tag_v2)
    raw = path.read_bytes()
    return [raw[o : o + n] for o, n in zip(tags[273], tags[279], strict=True)], tags


def load_pbm(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    require_tool("tiffcp")
    require_tool("pnmtotiff")
    out = {}
    tmp = tmp_path_factory.mktemp("itu")
    for name in CHARTS:
        pbm = require_shared(f"testdata/itu/{name}")
        tif = tmp / (name + ".tif")
        with open(tif, "wb") as f:
            subprocess.run(["pnmtotiff", "-miniswhite", "-xresolution", "204",
                            "-yresolution", "196", str(pbm)], stdout=f, check=True,
                           stderr=subprocess.DEVNULL)
        out[name] = (load_pbm(pbm), tif)
    return out


@pytest.mark.parametrize("fill", ["msb2lsb", "lsb2msb"])
@pytest.mark.parametrize("mode", list(MODES))
def test_itu_charts_byte_identical_to_libtiff(charts, tmp_path, mode, fill):
    scheme, opts = MODES[mode]
    for name, (bm, src) in charts.items():
        dst = tmp_path / f"{name}-{mode.replace(':', '_')}.tif"
        subprocess.run(["tiffcp", "-f", fill, "-r", str(bm.shape[0]), "-c", mode, str(src),
                        str(dst)], check=True)
        (ref,), tags = strips(dst)
        lsb = fill == "lsb2msb"
        assert tags[266] == (2 if lsb else 1)
        assert tags[262] == 0  # min-is-white: 1 bits are black, as in our bitmaps
        ours = encode_tiff_strip(bm, scheme, lsb_first=lsb, **opts)
        assert ours == ref, f"{name} {mode}: {len(ours)} vs {len(ref)} bytes"
        assert ours == encode(bm, scheme, end_marker=scheme == "mmr", lsb_first=lsb, **opts)
        page = decode(ref, scheme, bm.shape[1], rows=bm.shape[0], lsb_first=lsb)
        assert page.error is None and page.bad_rows == 0
        np.testing.assert_array_equal(page.bitmap, bm)


@pytest.mark.parametrize("compression,scheme", [("group3", "mh"), ("group4", "mmr")])
def test_pillow_multistrip_files(charts, tmp_path, compression, scheme):
    """Pillow writes min-is-black, several strips: each strip is coded on its own."""
    for name, (bm, _src) in list(charts.items())[:4]:
        path = tmp_path / f"{name}.tif"
        Image.fromarray((1 - bm) * 255).convert("1").save(path, compression=compression)
        refs, tags = strips(path)
        assert tags[262] == 1 and len(refs) > 1
        per = tags[278]
        inverted = 1 - bm  # what libtiff codes as "black" in a min-is-black file
        for i, ref in enumerate(refs):
            part = inverted[i * per : (i + 1) * per]
            assert encode_tiff_strip(part, scheme) == ref, f"{name} strip {i}"
            page = decode(ref, scheme, bm.shape[1], rows=part.shape[0])
            assert page.error is None
            np.testing.assert_array_equal(page.bitmap, part)


def test_every_run_length_matches_libtiff(tmp_path):
    """Every white and black run 0..2700 coded by libtiff equals ours: checks every code
    of Tables 1-3/T.4 against an implementation we did not write."""
    require_tool("tiffcp")
    require_tool("pnmtotiff")
    width = 2 * 2700 + 2
    runs = np.arange(2701)
    bm = np.zeros((len(runs), width), np.uint8)
    for r in runs:  # white run r, black run r + 1 (>= 1: a black run of 0 is not codable
        bm[r, r : 2 * r + 1] = 1  # as a row), then white to the end
    bm[0, :] = 1  # black row: white run 0 then a black run of the whole width
    pbm = tmp_path / "runs.pbm"
    pbm.write_bytes(b"P4\n%d %d\n" % (width, bm.shape[0]) + np.packbits(bm, axis=1).tobytes())
    tif = tmp_path / "runs.tif"
    with open(tif, "wb") as f:
        subprocess.run(["pnmtotiff", "-miniswhite", str(pbm)], stdout=f, check=True,
                       stderr=subprocess.DEVNULL)
    for mode, (scheme, opts) in MODES.items():
        dst = tmp_path / f"runs-{mode.replace(':', '_')}.tif"
        subprocess.run(["tiffcp", "-r", str(bm.shape[0]), "-c", mode, str(tif), str(dst)],
                       check=True)
        (ref,), _ = strips(dst)
        # no YResolution here: libtiff uses K=2
        opts = {**opts, "k": 2} if scheme == "mr" else opts
        assert encode_tiff_strip(bm, scheme, **opts) == ref, mode
        page = decode(ref, scheme, width)
        np.testing.assert_array_equal(page.bitmap, bm)


def test_netpbm_pbmtog3_stream(tmp_path):
    """pbmtog3 (netpbm's own T.4 coder): EOL before every row, RTC at the end; it writes
    one EOL more than our RTC (seven after the last row). Our decoder reads it exactly and
    our MH stream is a prefix of it."""
    require_tool("pbmtog3")
    pbm = require_shared("testdata/itu/itu1.pbm")
    bm = load_pbm(pbm)
    for args, opts in (([], {}), (["-reversebits"], {"lsb_first": True}),
                       (["-align8"], {"eol_align": True})):
        ref = subprocess.run(["pbmtog3", *args, str(pbm)], check=True,
                             capture_output=True).stdout
        ours = encode(bm, "mh", **opts)
        assert ref.startswith(ours[:-1]) and len(ref) - len(ours) in (1, 2)
        page = decode(ref, "mh", bm.shape[1], lsb_first=opts.get("lsb_first", False))
        assert page.error is None and page.end_marker_seen
        np.testing.assert_array_equal(page.bitmap, bm)


@pytest.mark.parametrize("device,scheme,opts", [
    ("faxg3", "mh", {}), ("faxg32d", "mr", {"k": 4}), ("faxg4", "mmr", {})])
def test_ghostscript_fax_devices(tmp_path, device, scheme, opts):
    """Ghostscript's raw fax devices write EOL-first streams without RTC/EOFB (MR with
    K=4 at 196 dpi): decoding them and coding the page again with end_marker=False gives
    Ghostscript's bytes exactly."""
    require_tool("gs")
    require_tool("pnmtops")
    pbm = require_shared("testdata/itu/itu1.pbm")
    ps = tmp_path / "page.ps"
    with open(ps, "wb") as f:
        subprocess.run(["pnmtops", "-noturn", "-imagewidth", "8.47", str(pbm)], stdout=f,
                       check=True, stderr=subprocess.DEVNULL)
    out = tmp_path / f"page.{device}"
    subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"-sDEVICE={device}",
                    "-r204x196", "-g1728x2376", f"-sOutputFile={out}", str(ps)], check=True,
                   capture_output=True)
    ref = out.read_bytes()
    page = decode(ref, scheme, 1728)
    assert page.error is None and page.bad_rows == 0 and page.rows == 2376
    assert 0 < page.bitmap.sum() < page.bitmap.size // 4  # a real page, not blank
    assert encode(page.bitmap, scheme, end_marker=False, **opts) == ref
