"""dsp.t4 against the real references: Ghostscript and libtiff (through tiffcp and Pillow).

- Every G3-1D, G3-2D and G4 TIFF that ``gs`` (tiffg3, tiffg32d, tiffg4) and ``tiffcp``
  (-c g3, g3:2d, g3:2d:fill, g4, in one strip and in many) write decodes with our
  decoder to exactly the pixels Pillow decodes.
- Every stream our encoder writes, wrapped in a TIFF, decodes in libtiff to our pixels,
  for MH, MR (K=2, 4), MMR, with and without byte-aligned EOLs and RTC, at every width.
- With the options libtiff uses, our encoder writes the very same bytes as libtiff.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from dsp.t4 import WIDTHS, Page, decode_page, encode_page
from tests.dsp.t4.helpers import (
    TIFFCP, decode_tiff_with_ours, need, pillow_pages, render, synthetic, tiffcp, wrap,
)
from tests.dsp.t4.tiffio import read_tiff

FINE, STANDARD = (204, 196), (204, 98)
A4_FINE, A4_STANDARD = (1728, 2292), (1728, 1146)

GS_DEVICES = ["tiffg3", "tiffg32d", "tiffg4"]
TIFFCP_MODES = ["g3", "g3:2d", "g3:2d:fill", "g3:fill", "g4"]


@pytest.fixture(scope="module")
def gs_files(tmp_path_factory):
    """The two-page test document from every gs fax device, fine and standard, plus a wide render."""
    tmp = tmp_path_factory.mktemp("gs")
    files = {}
    for dev in GS_DEVICES:
        files[(dev, "fine")] = render(tmp, dev, A4_FINE, FINE, f"{dev}-fine.tif")
        files[(dev, "standard")] = render(tmp, dev, A4_STANDARD, STANDARD, f"{dev}-std.tif")
        files[(dev, "wide")] = render(tmp, dev, (4864, 900), (408, 391), f"{dev}-wide.tif")
    return files


def _assert_ours_equals_pillow(blob: bytes, pages: int | None = None):
    ref = pillow_pages(blob)
    ours = decode_tiff_with_ours(blob)
    assert len(ours) == len(ref) == (pages or len(ref))
    for (rows, bad, complete), want in zip(ours, ref):
        assert bad == 0 and complete
        assert rows.shape == want.shape
        assert np.array_equal(rows, want), f"{np.count_nonzero(rows != want)} pixels differ"


@pytest.mark.parametrize("dev", GS_DEVICES)
@pytest.mark.parametrize("variant", ["fine", "standard", "wide"])
def test_ghostscript_tiffs_decode_like_libtiff(gs_files, dev, variant):
    blob = gs_files[(dev, variant)].read_bytes()
    _assert_ours_equals_pillow(blob, pages=2)
    assert pillow_pages(blob)[0].sum() > 10_000  # the page really has text on it


@pytest.mark.parametrize("mode", TIFFCP_MODES)
@pytest.mark.parametrize("rows_per_strip", [None, 37])
def test_tiffcp_tiffs_decode_like_libtiff(gs_files, tmp_path, mode, rows_per_strip):
    src = gs_files[("tiffg4", "fine")]
    out = tiffcp(src, tmp_path / "out.tif", mode, rows_per_strip)
    if rows_per_strip:
        assert len(read_tiff(out.read_bytes())[0].strips) > 1
    _assert_ours_equals_pillow(out.read_bytes(), pages=2)


def _text_page(gs_files) -> Page:
    return Page(pillow_pages(gs_files[("tiffg4", "fine")].read_bytes())[0])


CODINGS = [("mh", 2), ("mr", 2), ("mr", 4), ("mmr", 2)]


@pytest.mark.parametrize("coding,k", CODINGS)
@pytest.mark.parametrize("align_eol", [False, True])
@pytest.mark.parametrize("rtc", [False, True])
def test_libtiff_decodes_our_text_page(gs_files, coding, k, align_eol, rtc):
    page = _text_page(gs_files)
    data = encode_page(page, coding, k=k, rtc=rtc, align_eol=align_eol)
    blob = wrap([(data, page.width, page.height)], coding, align_eol=align_eol)
    (got,) = pillow_pages(blob)
    assert np.array_equal(got, page.rows)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("coding,k", CODINGS)
def test_libtiff_decodes_our_synthetic_pages_at_every_width(width, coding, k):
    pages = [synthetic(width, 160, seed) for seed in (1, 2)]
    blob = wrap([(encode_page(p, coding, k=k, rtc=False), width, p.height) for p in pages], coding)
    got = pillow_pages(blob)
    assert all(np.array_equal(g, p.rows) for g, p in zip(got, pages))


def test_tiffcp_rewrites_our_file_to_our_pixels(tmp_path, gs_files):
    """tiffcp (libtiff's own decoder, then an uncompressed writer) agrees too; tiffinfo -D reads it clean."""
    page = _text_page(gs_files)
    src = tmp_path / "ours.tif"
    src.write_bytes(wrap([(encode_page(page, "mr", k=4, rtc=False), page.width, page.height)], "mr"))
    out = tiffcp(src, tmp_path / "none.tif", "none")
    assert np.array_equal(pillow_pages(out.read_bytes())[0], page.rows)
    info = subprocess.run(["tiffinfo", "-D", str(src)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "error" not in info.stderr.lower() and "warning" not in info.stderr.lower()


@pytest.mark.parametrize(
    "mode,coding,kwargs",
    [("g3", "mh", {}), ("g3:fill", "mh", {"align_eol": True}), ("g3:2d", "mr", {"k": 4}),
     ("g3:2d:fill", "mr", {"k": 4, "align_eol": True}), ("g4", "mmr", {"rtc": True})],
)
def test_same_bytes_as_libtiff(gs_files, tmp_path, mode, coding, kwargs):
    """libtiff: EOL before every row, no RTC, K=4 above 150 dpi vertical, EOFB for G4."""
    need(TIFFCP, "libtiff-tools")
    out = tiffcp(gs_files[("tiffg4", "fine")], tmp_path / "x.tif", mode)
    theirs = read_tiff(out.read_bytes())
    for tp, rows in zip(theirs, pillow_pages(out.read_bytes())):
        kw = {"rtc": False, **kwargs}
        assert encode_page(Page(rows), coding, **kw) == tp.data


@pytest.mark.parametrize("dev,coding", [("faxg3", "mh"), ("faxg32d", "mr"), ("faxg4", "mmr")])
def test_ghostscript_raw_fax_streams(gs_files, tmp_path, dev, coding):
    """gs's raw fax devices (no TIFF around the coded bits): page 1 decodes to the TIFF's pixels."""
    raw = render(tmp_path, dev, A4_FINE, FINE, f"{dev}.raw").read_bytes()
    want = pillow_pages(gs_files[("tiffg4", "fine")].read_bytes())[0]
    res = decode_page(raw, A4_FINE[0], coding, height=A4_FINE[1])
    assert res.complete and res.bad_rows == 0
    assert np.array_equal(res.page.rows, want)


@pytest.mark.parametrize("mode", ["g3", "g3:2d", "g3:fill", "g4"])
def test_tiffcp_coded_synthetic_pages_at_every_width(tmp_path, mode):
    """Synthetic patterns (every code, long runs, near-copies) coded by libtiff decode like Pillow."""
    from PIL import Image

    src = tmp_path / "plain.tif"
    frames = [Image.fromarray((synthetic(w, 120, w).rows == 0)) for w in WIDTHS]  # mode "1", True = white
    frames[0].save(src, save_all=True, append_images=frames[1:], compression="raw")
    out = tiffcp(src, tmp_path / "coded.tif", mode)
    _assert_ours_equals_pillow(out.read_bytes(), pages=len(WIDTHS))


@pytest.mark.parametrize("coding,k", CODINGS[:3])
def test_libtiff_accepts_our_fill(gs_files, coding, k):
    page = _text_page(gs_files)
    data = encode_page(page, coding, k=k, rtc=False, min_row_bits=1000)
    (got,) = pillow_pages(wrap([(data, page.width, page.height)], coding))
    assert np.array_equal(got, page.rows)
