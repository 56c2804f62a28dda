"""Rendering every input type with the real Ghostscript, paps and Pillow: page geometry,
resolution, and that ink lands where the document put it."""

from __future__ import annotations

import numpy as np
import pytest

from mailfax.pagesize import geometry
from mailfax.render import render
from mailfax.sniff import Kind, sniff
from tests.mailfax.fixtures.docs import (
    PAPER_POINTS, box_image, box_postscript, image_bytes, ink_box, pdf_from_postscript,
)

PAPERS = ["a4", "letter", "legal", "b4"]
RESOLUTIONS = ["standard", "fine", "superfine", "300"]
BOX_PT = (72, 72, 144, 72)  # one inch in from the top-left, two inches wide, one tall


def expected_box(paper: str, resolution: str, box_pt=BOX_PT) -> tuple[int, int, int, int]:
    """Where a box on a document of `paper` must land once fitted onto the fax page."""
    g = geometry(paper, resolution)
    pw, ph = PAPER_POINTS[paper]
    fw, fh = g.width / g.x_res * 72, g.height / g.y_res * 72
    s = min(fw / pw, fh / ph)
    ox, oy = (fw - pw * s) / 2, (fh - ph * s) / 2
    x, y, w, h = box_pt
    return (round((ox + x * s) * g.x_res / 72), round((oy + y * s) * g.y_res / 72),
            round((ox + (x + w) * s) * g.x_res / 72), round((oy + (y + h) * s) * g.y_res / 72))


def assert_box_near(found, expected, x_res, y_res, points=2.0):
    """Boxes agree within `points` (Ghostscript's fit-page rounding differs a little by path)."""
    assert found is not None, "page is blank"
    tx, ty = points * x_res / 72 + 1, points * y_res / 72 + 1
    for i, (f, e) in enumerate(zip(found, expected)):
        assert abs(f - e) <= (tx if i % 2 == 0 else ty), f"ink box {found} != expected {expected}"


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_pdf_every_paper_and_resolution(paper, resolution):
    pdf = pdf_from_postscript(box_postscript(PAPER_POINTS[paper], [BOX_PT]))
    pages = render(pdf, resolution=resolution, paper=paper)
    g = geometry(paper, resolution)
    assert len(pages) == 1
    page = pages[0]
    assert (page.width, page.height, page.x_res, page.y_res) == (g.width, g.height, g.x_res, g.y_res)
    assert_box_near(ink_box(page.rows), expected_box(paper, resolution), g.x_res, g.y_res)


def test_fax_widths_and_heights():
    """T.4 line lengths: 1728/2048 pels at 204 dpi, 2592/3072 at 300 dpi; height = paper length."""
    assert [geometry(p, "fine").width for p in PAPERS] == [1728, 1728, 1728, 2048]
    assert [geometry(p, "300").width for p in PAPERS] == [2592, 2592, 2592, 3072]
    assert [geometry("a4", r).height for r in RESOLUTIONS] == [1146, 2292, 4572, 3508]
    assert geometry("letter", "fine").height == 2156 and geometry("legal", "fine").height == 2744


@pytest.mark.parametrize("paper,resolution", [("a4", "fine"), ("letter", "standard"), ("b4", "superfine"), ("legal", "300")])
def test_postscript(paper, resolution):
    ps = box_postscript(PAPER_POINTS[paper], [BOX_PT], pages=2)
    pages = render(ps, resolution=resolution, paper=paper)
    g = geometry(paper, resolution)
    assert len(pages) == 2
    for page in pages:
        assert (page.width, page.height, page.y_res) == (g.width, g.height, g.y_res)
        assert_box_near(ink_box(page.rows), expected_box(paper, resolution), g.x_res, g.y_res, points=4)


def test_multi_page_pdf_keeps_order():
    ps = b"%!PS\n" + b"".join(
        f"newpath {72 * n} 700 36 36 rectfill showpage\n".encode() for n in range(1, 5))
    pages = render(pdf_from_postscript(ps), resolution="standard")
    lefts = [ink_box(p.rows)[0] for p in pages]
    assert len(pages) == 4 and lefts == sorted(lefts) and lefts[1] - lefts[0] == pytest.approx(204, abs=3)


@pytest.mark.parametrize("fmt,mode", [("PNG", "L"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "1")])
def test_images_fit_and_keep_aspect(fmt, mode):
    # 2000 x 1000 px at 100 dpi = 20 x 10 in: must shrink to the printable width, keep 2:1.
    im = box_image((2000, 1000), (0, 0, 1000, 1000), mode)
    data = image_bytes(im, fmt, **({"dpi": (100, 100)} if fmt in ("PNG", "JPEG") else {}))
    assert sniff(data) is Kind[fmt]
    page = render(data, resolution="fine")[0]
    g = geometry("a4", "fine")
    assert (page.width, page.height) == (g.width, g.height)
    x0, y0, x1, y1 = ink_box(page.rows)
    printable_px = round((g.width / g.x_res - 0.4) * g.x_res)
    # The black half of the image spans half the printable width; its height (inches) equals its width.
    assert abs((x1 - x0) - printable_px / 2) <= 4
    assert abs((y1 - y0) / g.y_res - (x1 - x0) / g.x_res) < 0.03
    assert x0 == pytest.approx((g.width - printable_px) / 2, abs=3)


def test_small_image_not_enlarged_past_its_size():
    im = box_image((100, 50), (0, 0, 100, 50))
    page = render(image_bytes(im, "PNG", dpi=(100, 100)), resolution="standard")[0]
    x0, y0, x1, y1 = ink_box(page.rows)
    assert (x1 - x0, y1 - y0) == (204, 49)  # one inch by half an inch at 204x98


def test_greyscale_is_dithered_and_alpha_flattened_on_white():
    grey = np.tile(np.linspace(0, 255, 400).astype(np.uint8), (200, 1))
    from PIL import Image

    page = render(image_bytes(Image.fromarray(grey, "L"), "PNG"), resolution="fine")[0]
    x0, y0, x1, y1 = ink_box(page.rows)
    ink = page.rows[y0:y1, x0:x1].mean(axis=0)
    left, right = ink[: len(ink) // 4].mean(), ink[-len(ink) // 4:].mean()
    assert left > 0.7 and right < 0.3 and 0.3 < ink.mean() < 0.7  # a ramp, not a threshold
    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent black except an opaque square
    rgba[40:60, 40:60, 3] = 255
    page = render(image_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), resolution="fine")[0]
    x0, y0, x1, y1 = ink_box(page.rows)
    # Only the opaque 20 px square (at 96 dpi) is inked; the transparent black is white.
    assert abs((x1 - x0) - 20 * 204 / 96) <= 4 and abs((y1 - y0) - 20 * 196 / 96) <= 6
    assert page.rows.sum() > 0.8 * (20 * 204 / 96) * (20 * 196 / 96)


def test_text_pages_with_margins_and_utf8():
    text = "\n".join(f"line {n:03d} " + "x" * 60 for n in range(150))
    pages = render(text.encode(), resolution="fine")
    assert len(pages) >= 2
    g = geometry("a4", "fine")
    for page in pages:
        x0, y0, x1, y1 = ink_box(page.rows)
        assert x0 > 0.5 * g.x_res and y0 > 0.5 * g.y_res and page.height - y1 > 0.5 * g.y_res


@pytest.mark.parametrize("paper", PAPERS)
def test_text_on_every_paper(paper):
    g = geometry(paper, "standard")
    page, = render("Grüße — 1.234,56 €\n".encode(), resolution="standard", paper=paper)
    assert (page.width, page.height, page.y_res) == (g.width, g.height, 98)
    x0, y0, _, _ = ink_box(page.rows)
    assert 0.5 * 204 < x0 < 1.2 * 204 and 0.5 * 98 < y0 < 1.2 * 98  # top-left margin about 3/4 inch


def _line_width(text: str) -> int:
    page = render(text.encode("utf-8"), resolution="fine")[0]
    x0, _, x1, _ = ink_box(page.rows)
    return x1 - x0


def test_utf8_text_not_garbled():
    cell = _line_width("aaaaaaaaaa") / 10
    # ß and € are one character cell each (mojibake would be two or three cells each).
    assert abs(_line_width("ß€ß€ß€ß€ß€") - 10 * cell) < cell
    # CJK: three double-width glyphs, not nine mojibake cells, and not missing-glyph boxes.
    cjk = _line_width("日本語")
    assert 4 * cell < cjk < 7 * cell
    boxes = render("\u0378\u0378\u0378".encode(), resolution="fine")[0].rows
    assert not np.array_equal(render("日本語".encode(), resolution="fine")[0].rows, boxes)


def test_type_comes_from_content_not_name():
    ps = box_postscript(PAPER_POINTS["a4"], [BOX_PT])
    assert sniff(ps) is Kind.POSTSCRIPT
    assert len(render(ps, name="invoice.pdf")) == 1
    assert sniff(b"BMW invoice\n") is Kind.TEXT
    assert sniff(b"\xef\xbb\xbfhello") is Kind.TEXT
    assert sniff(b"%PDF-1.4 ...") is Kind.PDF
    assert sniff(b"   \n") is Kind.EMPTY
    assert sniff(bytes(range(256))) is Kind.UNKNOWN
