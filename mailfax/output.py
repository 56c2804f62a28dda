"""Pages to documents: PDF, TIFF-F, PostScript and a PNG thumbnail of page 1.

- PDF: each page is coded as T.6 (G4) by dsp.t4 and embedded as is (`mailfax.pdfg4`,
  lossless and small); the page size in points comes from the pixel count and each axis's
  own resolution, so 204x98 pages are not double height.
- TIFF: TIFF Class F written by `mailfax.tiff` with our T.4/T.6 encoder.
- PostScript: Level 2, each page an `image` fed through ASCII85 and CCITTFaxDecode (G4).
- PNG: a greyscale thumbnail of page 1 at the page's true aspect ratio.
"""

from __future__ import annotations

import base64
import enum
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from dsp.t4.page import Page
from mailfax import tiff


class OutputFormat(enum.Enum):
    PDF = "pdf"
    TIFF = "tiff"
    POSTSCRIPT = "ps"
    PNG = "png"


_SUFFIXES = {".pdf": OutputFormat.PDF, ".tif": OutputFormat.TIFF, ".tiff": OutputFormat.TIFF,
             ".ps": OutputFormat.POSTSCRIPT, ".png": OutputFormat.PNG}

THUMBNAIL_WIDTH = 256


def format_for_path(path: str) -> OutputFormat | None:
    """The output format named by a path's suffix (.pdf .tif .tiff .ps .png), or None."""
    suffix = path[path.rfind("."):].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _SUFFIXES.get(suffix)


def write_document(pages: Sequence[Page], fmt: OutputFormat, *, compression: str = "mh") -> bytes:
    """The bytes of a document in `fmt` holding `pages` (`compression` applies to TIFF)."""
    if not pages:
        raise ValueError("no pages to write")
    if fmt is OutputFormat.PDF:
        return to_pdf(pages)
    if fmt is OutputFormat.TIFF:
        return tiff.write_tiff_f(pages, compression)
    if fmt is OutputFormat.POSTSCRIPT:
        return to_postscript(pages)
    return thumbnail_png(pages[0])


def to_pdf(pages: Sequence[Page]) -> bytes:
    """A PDF with each page embedded as a G4 image at its physical size."""
    from dsp.t4 import encode_page
    from mailfax.pdfg4 import G4Page, pdf_from_g4

    return pdf_from_g4([G4Page(encode_page(p, "mmr"), p.width, p.height, p.x_res, p.y_res) for p in pages])


def to_postscript(pages: Sequence[Page]) -> bytes:
    """Level 2 PostScript with each page as a G4-coded image at its physical size."""
    from dsp.t4 import encode_page

    w_max = max(p.width / p.x_res for p in pages) * 72
    h_max = max(p.height / p.y_res for p in pages) * 72
    out = [
        "%!PS-Adobe-3.0",
        "%%Creator: mailfax",
        "%%LanguageLevel: 2",
        f"%%Pages: {len(pages)}",
        f"%%BoundingBox: 0 0 {int(np.ceil(w_max))} {int(np.ceil(h_max))}",
        "%%EndComments",
    ]
    for number, page in enumerate(pages, 1):
        wpt, hpt = page.width / page.x_res * 72, page.height / page.y_res * 72
        coded = encode_page(page, "mmr")
        out += [
            f"%%Page: {number} {number}",
            f"%%PageBoundingBox: 0 0 {int(np.ceil(wpt))} {int(np.ceil(hpt))}",
            f"<< /PageSize [{wpt:.3f} {hpt:.3f}] >> setpagedevice",
            f"gsave {wpt:.3f} {hpt:.3f} scale",
            f"<< /ImageType 1 /Width {page.width} /Height {page.height} /BitsPerComponent 1",
            "   /Decode [1 0] /ImageMatrix [" f"{page.width} 0 0 -{page.height} 0 {page.height}]",
            "   /DataSource currentfile /ASCII85Decode filter",
            f"   << /K -1 /Columns {page.width} /Rows {page.height} /BlackIs1 true >> /CCITTFaxDecode filter",
            ">> image",
            base64.a85encode(coded, wrapcol=76).decode("ascii") + "~>",
            "grestore showpage",
        ]
    out += ["%%Trailer", "%%EOF", ""]
    return "\n".join(out).encode("ascii")


def thumbnail_png(page: Page, width: int = THUMBNAIL_WIDTH) -> bytes:
    """A greyscale PNG of `page`, `width` pixels wide, with the page's physical aspect ratio."""
    w_in, h_in = page.size_inches
    height = max(1, round(width * h_in / w_in))
    im = Image.fromarray(((1 - page.rows) * 255).astype(np.uint8), "L")
    im = im.resize((width, height), Image.Resampling.BOX)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()
