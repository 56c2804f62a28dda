"""Pages to documents: PDF (G4 inside, right size in points, same pixels back through
Ghostscript and pypdf), PostScript (renders back through Ghostscript), PNG thumbnail."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dsp.t4 import Page
from mailfax import output
from mailfax.output import OutputFormat, format_for_path
from mailfax.pagesize import geometry
from mailfax.render import render
from tests.mailfax.fixtures.docs import document_rows


def fax_pages(paper: str, resolution: str, n: int = 2) -> list[Page]:
    """Full-size fax pages of `paper` at `resolution` with seeded document-like content."""
    g = geometry(paper, resolution)
    pages = []
    for seed in range(n):
        rows = np.zeros((g.height, g.width), np.uint8)
        content = document_rows(seed, width=g.width, height=min(600, g.height))
        rows[: content.shape[0]] = content
        pages.append(Page(rows, g.x_res, g.y_res))
    return pages


@pytest.mark.parametrize("paper,resolution", [("a4", "standard"), ("a4", "fine"), ("letter", "superfine"), ("b4", "300")])
def test_pdf_round_trip_and_page_size(paper, resolution):
    import pypdf

    pages = fax_pages(paper, resolution)
    pdf = output.write_document(pages, OutputFormat.PDF)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == len(pages)
    for page, pdf_page in zip(pages, reader.pages):
        w_pt, h_pt = page.width / page.x_res * 72, page.height / page.y_res * 72
        assert float(pdf_page.mediabox.width) == pytest.approx(w_pt, abs=0.01)
        assert float(pdf_page.mediabox.height) == pytest.approx(h_pt, abs=0.01)
        (xobj,) = [o.get_object() for o in pdf_page["/Resources"]["/XObject"].values()]
        assert xobj["/Filter"] in ("/CCITTFaxDecode", ["/CCITTFaxDecode"])
        extracted = np.asarray(pdf_page.images[0].image.convert("L")) // 255
        assert np.array_equal(1 - extracted, page.rows)
    back = render(pdf, paper=paper, resolution=resolution)  # Ghostscript at the same geometry
    assert all(a.same_pixels(b) for a, b in zip(pages, back))


def test_standard_resolution_pdf_is_not_double_height():
    g = geometry("a4", "standard")
    pdf = output.to_pdf([Page.blank(g.width, g.height, 204, 98)])
    import pypdf

    box = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (610, 842)  # A4 height, fax line width


def test_pdf_of_a_text_page_is_small():
    text = "\n".join(f"{n:3d}  The quick brown fox jumps over the lazy dog. 0123456789" for n in range(60))
    pages = render(text.encode(), resolution="fine")
    pdf = output.to_pdf(pages)
    raw = sum(p.width * p.height // 8 for p in pages)
    assert len(pdf) < raw / 15


def test_postscript_renders_back_through_ghostscript():
    pages = fax_pages("a4", "fine")
    ps = output.write_document(pages, OutputFormat.POSTSCRIPT)
    assert ps.startswith(b"%!PS-Adobe-3.0")
    back = render(ps, paper="a4", resolution="fine")
    assert len(back) == 2 and all(a.same_pixels(b) for a, b in zip(pages, back))


@pytest.mark.parametrize("resolution", ["standard", "superfine"])
def test_png_thumbnail_of_page_one(resolution):
    pages = fax_pages("a4", resolution)
    png = output.write_document(pages, OutputFormat.PNG)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.width == output.THUMBNAIL_WIDTH
    assert im.height == round(im.width * (297 / 25.4) / (1728 / 204))  # the page's true aspect
    grey = np.asarray(im)
    assert grey.min() < 128 and grey[-20:].min() == 255  # ink at the top, blank bottom


def test_tiff_output_uses_the_chosen_coding():
    from mailfax import tiff

    pages = fax_pages("a4", "standard", n=1)
    for coding, compression in (("mh", 3), ("mr", 3), ("mmr", 4)):
        data = output.write_document(pages, OutputFormat.TIFF, compression=coding)
        image, = tiff.read_tiff(data)
        assert image.compression == compression and bool(image.t4_options & 1) == (coding == "mr")


def test_format_from_suffix():
    assert format_for_path("out/x.PDF") is OutputFormat.PDF
    assert format_for_path("a.tif") is format_for_path("a.tiff") is OutputFormat.TIFF
    assert format_for_path("a.ps") is OutputFormat.POSTSCRIPT and format_for_path("a.png") is OutputFormat.PNG
    assert format_for_path("a.doc") is None and format_for_path("dir.pdf/file") is None


def test_pdf_structure_is_clean_for_strict_readers():
    """The hand-written PDF (`mailfax.pdfg4`): a strict pypdf and poppler's pdfinfo read it
    with no repair (correct xref offsets, lengths and trailer)."""
    import shutil
    import subprocess

    import pypdf

    pages = fax_pages("a4", "fine", n=3)
    pdf = output.to_pdf(pages)
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 3 and reader.metadata["/Producer"] == "mailfax"
    if shutil.which("pdfinfo"):
        r = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        assert b"Pages:           3" in r.stdout
