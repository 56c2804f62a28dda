"""The TIFF container: our TIFF-F files decode in libtiff to our pixels; TIFFs libtiff
writes (G3 1-D/2-D, G4, either FillOrder, many strips) decode with dsp.t4 to libtiff's
pixels; received line bytes wrap into a TIFF without re-encoding."""

from __future__ import annotations

import io
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from dsp.t4 import Page, encode_page
from mailfax import tiff
from mailfax.render import RenderError, render
from tests.mailfax.fixtures.docs import document_rows, ink_box

CODINGS = ["mh", "mr", "mmr"]


def libtiff_pages(data: bytes) -> list[tuple[np.ndarray, tuple]]:
    """(rows with 1 = black, dpi) of every page as libtiff (through Pillow) decodes it."""
    im = Image.open(io.BytesIO(data))
    return [(1 - (np.asarray(f.convert("L")) // 255), f.info.get("dpi")) for f in ImageSequence.Iterator(im)]


def sample_pages(width=1728, x_res=204, y_res=196, n=2) -> list[Page]:
    return [Page(document_rows(seed, width=width, height=300 + 50 * seed), x_res, y_res) for seed in range(n)]


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("width,x_res,y_res", [(1728, 204, 98), (1728, 204, 196), (2048, 204, 391), (2592, 300, 300)])
def test_our_tiff_decodes_in_libtiff_to_our_pixels(coding, width, x_res, y_res):
    pages = sample_pages(width, x_res, y_res)
    data = tiff.write_tiff_f(pages, coding)
    decoded = libtiff_pages(data)
    assert len(decoded) == len(pages)
    for page, (rows, dpi) in zip(pages, decoded):
        assert np.array_equal(rows, page.rows)
        assert tuple(round(v) for v in dpi) == (x_res, y_res)


@pytest.mark.parametrize("coding", CODINGS)
def test_tiff_round_trip_through_our_reader(coding):
    pages = sample_pages(y_res=98, n=3)
    back = render(tiff.write_tiff_f(pages, coding), resolution="fine")  # keeps its own 204x98
    assert len(back) == 3
    assert all(a.same_pixels(b) and (b.x_res, b.y_res) == (204, 98) for a, b in zip(pages, back))


def test_tags_are_tiff_class_f(tmp_path):
    path = tmp_path / "f.tif"
    path.write_bytes(tiff.write_tiff_f(sample_pages(n=2), "mr"))
    info = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert info.count("Subfile Type: multi-page document") == 2
    assert info.count("Resolution: 204, 196 pixels/inch") == 2
    assert "Page Number: 0-2" in info and "Page Number: 1-2" in info
    assert info.count("Group 3 Options: 2-d encoding+EOL padding") == 2
    assert info.count("Photometric Interpretation: min-is-white") == 2
    images = tiff.read_tiff(path.read_bytes())
    assert [(i.compression, i.t4_options, i.fill_order) for i in images] == [(3, 5, 1)] * 2
    assert tiff.read_tiff(tiff.write_tiff_f(sample_pages(n=1), "mmr"))[0].compression == 4


@pytest.fixture(scope="module")
def libtiff_variants(tmp_path_factory):
    """The same two-page document re-coded by tiffcp in every CCITT variant."""
    tmp = tmp_path_factory.mktemp("tiffcp")
    pages = sample_pages(y_res=196, n=2)
    src = tmp / "src.tif"
    src.write_bytes(tiff.write_tiff_f(pages, "mh"))
    variants = {}
    for name, args in {
        "g3": ["-c", "g3"], "g3-2d": ["-c", "g3:2d"], "g4": ["-c", "g4"],
        "g3-lsb": ["-c", "g3", "-f", "lsb2msb"], "g4-lsb-strips": ["-c", "g4", "-f", "lsb2msb", "-r", "37"],
        "g3-2d-strips": ["-c", "g3:2d:fill", "-r", "64"],
    }.items():
        out = tmp / f"{name}.tif"
        subprocess.run(["tiffcp", *args, str(src), str(out)], check=True, capture_output=True)
        variants[name] = out.read_bytes()
    return pages, variants


@pytest.mark.parametrize("variant", ["g3", "g3-2d", "g4", "g3-lsb", "g4-lsb-strips", "g3-2d-strips"])
def test_libtiff_written_tiffs_decode_to_libtiffs_pixels(libtiff_variants, variant):
    pages, variants = libtiff_variants
    data = variants[variant]
    ours = render(data)
    reference = libtiff_pages(data)
    assert len(ours) == len(reference) == 2
    for page, (rows, _dpi), original in zip(ours, reference, pages):
        assert np.array_equal(page.rows, rows) and page.same_pixels(original)
        assert (page.x_res, page.y_res) == (204, 196)


def test_wrap_received_line_bytes_without_reencoding():
    page = sample_pages(y_res=98, n=1)[0]
    line = encode_page(page, "mr", k=2, rtc=True)  # as a non-ECM receiver collects it, RTC included
    lsb_first = bytes(int(f"{b:08b}"[::-1], 2) for b in line)
    coded = tiff.wrap_coded_page(lsb_first, page.width, page.height, "mr", 204, 98, lsb_first=True, bad_rows=0)
    data = tiff.write_tiff([coded])
    assert lsb_first in data  # the bytes went in untouched
    (rows, dpi), = libtiff_pages(data)
    assert np.array_equal(rows, page.rows) and tuple(round(v) for v in dpi) == (204, 98)
    image, = tiff.read_tiff(data)
    assert image.fill_order == 2 and image.strips == (lsb_first,)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), st.sampled_from(CODINGS), st.integers(0, 2**32 - 1))
def test_random_pages_round_trip_through_tiff(width, height, coding, seed):
    rows = (np.random.default_rng(seed).random((height, width)) < 0.3).astype(np.uint8)
    page = Page(rows, 204, 98)
    data = tiff.write_tiff_f([page, page], coding)
    back = [tiff.decode_fax_image(image)[0] for image in tiff.read_tiff(data)]
    assert all(b.same_pixels(page) for b in back)
    assert all(np.array_equal(r, rows) for r, _ in libtiff_pages(data))


def test_wrapped_page_records_fax_quality_tags(tmp_path):
    page = sample_pages(n=1)[0]
    coded = tiff.wrap_coded_page(encode_page(page, "mh"), page.width, page.height, "mh", 204, 196,
                                 bad_rows=7, consecutive_bad_rows=3)
    path = tmp_path / "rx.tif"
    path.write_bytes(tiff.write_tiff([coded]))
    done = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True)
    info = done.stdout
    assert done.stderr == ""  # no libtiff warnings (e.g. about tag order)
    assert "Software: mailfax" in info
    assert "Bad Fax Lines: 7" in info and "Consecutive Bad Fax Lines: 3" in info
    assert "Fax Data: uncorrected errors" in info  # CleanFaxData = 2: the raw bytes keep their errors


def test_fax_tiff_page_200_inches_long_is_refused():
    coded = tiff.wrap_coded_page(b"\x00\x01" * 10, 1728, 19600, "mh", 204, 98)
    with pytest.raises(RenderError, match=r"^TIFF page 1 is 200 inches long, more than the limit of 50 inches$"):
        render(tiff.write_tiff([coded]))


def test_blackiszero_and_cm_resolution_are_understood():
    page = sample_pages(n=1)[0]
    data = bytearray(tiff.write_tiff_f([page], "mmr"))
    image, = tiff.read_tiff(bytes(data))
    # Patch Photometric to BlackIsZero and the unit to centimetres with 80 x 77 pels/cm.
    data = _set_short(data, tiff.PHOTOMETRIC, 1)
    data = _set_short(data, tiff.RESOLUTION_UNIT, 3)
    data = _set_rational(data, tiff.X_RESOLUTION, 80)
    data = _set_rational(data, tiff.Y_RESOLUTION, 77)
    back, = render(bytes(data))
    assert np.array_equal(back.rows, 1 - page.rows)
    assert (back.x_res, back.y_res) == (204, 196)  # 8 x 7.7 pels/mm snaps to the fax resolution


def test_ifd_loop_does_not_hang():
    data = bytearray(tiff.write_tiff_f(sample_pages(n=1), "mh"))
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * count, ifd)  # next IFD = itself
    assert len(tiff.read_tiff(bytes(data))) == 1


def test_strip_past_the_end_of_the_file():
    data = bytearray(tiff.write_tiff_f(sample_pages(n=1), "mh"))
    struct.pack_into("<I", data, _entry_offset(data, tiff.STRIP_BYTE_COUNTS) + 8, len(data))
    with pytest.raises(RenderError, match=r"^TIFF is truncated \(page 1 image data runs past the end of the file\)$"):
        render(bytes(data))


def test_garbage_strip_is_an_error_not_a_crash():
    data = bytearray(tiff.write_tiff_f(sample_pages(n=1), "mmr"))
    data[8:2008] = np.random.default_rng(5).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    try:
        pages = render(bytes(data))
    except RenderError as exc:
        assert exc.reason.startswith("TIFF page 1")
    else:
        assert len(pages) == 1 and pages[0].width == 1728


def test_non_fax_tiff_goes_through_pillow():
    rgb = Image.new("RGB", (400, 200), "white")
    rgb.paste((0, 0, 0), (0, 0, 200, 200))
    buf = io.BytesIO()
    rgb.save(buf, "TIFF", compression="tiff_lzw", dpi=(100, 100))
    page, = render(buf.getvalue(), resolution="standard")
    assert (page.width, page.height) == (1728, 1146) and page.rows.sum() > 0


def _entry_offset(data: bytes, tag: int) -> int:
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            return at
    raise KeyError(tag)


def _set_short(data: bytearray, tag: int, value: int) -> bytearray:
    struct.pack_into("<H", data, _entry_offset(data, tag) + 8, value)
    return data


def _set_rational(data: bytearray, tag: int, value: int) -> bytearray:
    where = struct.unpack_from("<I", data, _entry_offset(data, tag) + 8)[0]
    struct.pack_into("<II", data, where, value, 1)
    return data


@pytest.mark.parametrize("compression", ["tiff_ccitt", "packbits", "raw"])
def test_other_bilevel_fax_tiffs_keep_size_and_resolution(compression):
    page = Page(document_rows(3, width=1728, height=500), 204, 98)
    im = Image.fromarray(((1 - page.rows) * 255).astype(np.uint8), "L").convert("1")
    buf = io.BytesIO()
    im.save(buf, "TIFF", compression=compression, dpi=(204, 98))
    back, = render(buf.getvalue(), resolution="fine")
    assert back.same_pixels(page) and (back.x_res, back.y_res) == (204, 98)


def test_g4_scan_at_600_dpi_is_fitted_to_the_requested_geometry():
    rows = np.zeros((1200, 4960), np.uint8)
    rows[100:200, :] = 1  # a full-width bar, 100 rows = 1/6 inch
    data = tiff.write_tiff([tiff.encode_tiff_page(Page(rows, 600, 600), "mmr")])
    page, = render(data, resolution="fine", paper="a4")
    assert (page.width, page.x_res, page.y_res) == (1728, 204, 196)
    x0, y0, x1, y1 = ink_box(page.rows)
    assert x1 - x0 == round(4960 * 204 / 600)  # 8.27 inches fit the 8.47-inch line unscaled
    assert abs((y1 - y0) - 100 * 196 / 600) <= 2 and page.height == 1200 * 196 // 600
