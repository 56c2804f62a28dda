"""Documents to fax pages: the one entry point `render(data, ...) -> list[Page]`.

What it does: recognises the document type from its bytes (`mailfax.sniff`), then
- PDF: checked with pypdf (encryption, damage, page count and size limits) while
  Ghostscript already renders it; the rendered page count must match;
- PostScript: Ghostscript, at most `max_pages` + 1 pages so an over-long job stops early;
- plain UTF-8 text: laid out by paps, then as PostScript;
- TIFF: T.4/T.6 coded TIFF decoded by dsp.t4; a fax page (fax line length and resolution)
  keeps its own resolution, other CCITT scans are rescaled to the requested geometry;
  bilevel fax pages in other codings through libtiff as they are; any other TIFF, and
  PNG/JPEG/GIF/BMP, through Pillow, fitted to the page and dithered.
Every failure is a `RenderError` with one precise line; helper processes run under
`Limits` (time, memory), so bad input never hangs or exhausts the machine.

Pages to documents live in `mailfax.output`; `fit_page` puts a page of any resolution onto
the geometry a call will send.
"""

from __future__ import annotations

import re
import tempfile
import typing

from dsp.t4.page import RESOLUTIONS, Page
from mailfax import gs, images, pdfcheck, textpage, tiff
from mailfax.pagefit import fit_page
from mailfax.pagesize import PAPERS, Geometry, geometry
from mailfax.render_common import Limits, RenderError
from mailfax.sniff import IMAGE_KINDS, Kind, decode_text, describe_unknown, sniff

__all__ = ["render", "render_document", "fit_page", "geometry", "RenderError", "Limits", "PAPERS",
           "RESOLUTIONS", "Kind", "sniff"]


def render(data: bytes, *, resolution: str = "fine", paper: str = "a4", max_pages: int = 100,
           timeout: float = 60.0, name: str | None = None, limits: Limits | None = None) -> list[Page]:
    """Fax pages for the document in `data`.

    resolution: "standard" | "fine" | "superfine" | "300"; paper: "a4" | "letter" | "legal" | "b4".
    max_pages and timeout (seconds per helper process) bound the work; `limits` overrides both
    with a full `Limits`.  `name` is for the caller's messages only: the type comes from the bytes.
    Fax TIFF input keeps its own resolution and size.  Raises RenderError.
    """
    del name  # never used to guess the type
    if paper.lower() not in PAPERS:
        raise RenderError(f"unknown paper {paper!r} (expected {', '.join(PAPERS)})")
    if resolution not in RESOLUTIONS:
        raise RenderError(f"unknown resolution {resolution!r} (expected {', '.join(RESOLUTIONS)})")
    limits = limits or Limits(max_pages=max_pages, timeout=timeout)
    return render_document(data, geometry(paper, resolution), limits)


def render_document(data: bytes, geo: Geometry, limits: Limits) -> list[Page]:
    """`render` with the geometry and limits already built."""
    kind = sniff(data)
    if kind is Kind.EMPTY:
        raise RenderError("file is empty")
    if kind is Kind.UNKNOWN:
        raise RenderError(describe_unknown(data))
    if kind is Kind.PDF:
        pages = _render_pdf(data, geo, limits)
    elif kind is Kind.POSTSCRIPT:
        pages = _render_postscript(data, geo, limits)
    elif kind is Kind.TEXT:
        ps = textpage.text_to_postscript(decode_text(data) or "", geo.paper, limits)
        pages = _render_postscript(ps, geo, limits)
    elif kind is Kind.TIFF:
        pages = _render_tiff(data, geo, limits)
    elif kind in IMAGE_KINDS:
        pages = images.image_pages(data, geo, limits)
    else:  # pragma: no cover - every Kind is handled above
        raise RenderError(f"unsupported document type {kind.value}")
    if not pages:
        raise RenderError(f"{kind.value} document produced no pages")
    return pages


def _render_pdf(data: bytes, geo: Geometry, limits: Limits) -> list[Page]:
    with _input_file(data) as src:
        job = gs.start(src.name, geo, limits, last_page=limits.max_pages + 1)
        try:
            info = pdfcheck.inspect_pdf(data, limits)  # runs while Ghostscript renders
        except BaseException:
            gs.cancel(job)
            raise
        pages = gs.finish(job)
    if len(pages) != info.pages:
        raise RenderError(f"Ghostscript rendered {len(pages)} of the PDF's {info.pages} pages (damaged PDF?)")
    return pages


def _render_postscript(data: bytes, geo: Geometry, limits: Limits) -> list[Page]:
    _check_postscript_size(data, limits)
    with _input_file(data) as src:
        pages = gs.finish(gs.start(src.name, geo, limits, last_page=limits.max_pages + 1))
    if len(pages) > limits.max_pages:
        raise RenderError(f"document has more than {limits.max_pages} pages, the limit")
    return pages


_PS_BBOX = re.compile(rb"^%%(?:Page)?BoundingBox:\s*(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)", re.M)
_PS_PAGESIZE = re.compile(rb"/PageSize\s*\[\s*([\d.]+)\s+([\d.]+)\s*\]")


def _check_postscript_size(data: bytes, limits: Limits) -> None:
    """Refuse PostScript declaring a page beyond the size limit (DSC bounding boxes, literal
    /PageSize requests).  Ghostscript would scale such a page into the fax page anyway
    (FIXEDMEDIA), but a 200-inch page would come out as an unreadable sliver."""
    limit = limits.max_page_inches * 72
    sizes = [(float(c) - float(a), float(d) - float(b)) for a, b, c, d in _PS_BBOX.findall(data[:1 << 20])]
    sizes += [(float(w), float(h)) for w, h in _PS_PAGESIZE.findall(data[:1 << 20])]
    for w, h in sizes:
        if max(w, h) > limit:
            raise RenderError(f"PostScript page is {w / 72:.1f} x {h / 72:.1f} inches, "
                              f"larger than the limit of {limits.max_page_inches:g} inches")


def _render_tiff(data: bytes, geo: Geometry, limits: Limits) -> list[Page]:
    found = tiff.read_tiff(data, max_images=limits.max_pages + 1)
    if len(found) > limits.max_pages:
        raise RenderError(f"TIFF has more than {limits.max_pages} pages, the limit")
    if not all(image.is_fax_page or image.is_fax for image in found):
        return images.image_pages(data, geo, limits, all_frames=True)  # fitted onto the page
    for number, image in enumerate(found, 1):  # fax pages are kept as they are: bound them
        if image.width * image.height > limits.max_pixels:
            raise RenderError(f"TIFF page {number} is {image.width} x {image.height} pixels, more than the limit")
        y_dpi = image.y_dpi or 196
        if image.height / y_dpi > limits.max_page_inches:
            raise RenderError(f"TIFF page {number} is {image.height / y_dpi:.0f} inches long, "
                              f"more than the limit of {limits.max_page_inches:g} inches")
    if not all(image.is_fax for image in found):  # e.g. CCITT RLE or uncompressed: libtiff decodes
        return images.bilevel_pages(data, [tiff.fax_resolution(i.x_dpi, i.y_dpi) for i in found])
    pages = [tiff.decode_fax_image(image, number)[0] for number, image in enumerate(found, 1)]
    # A fax page keeps its resolution; a G3/G4 scan at, say, 600 dpi is fitted to the request.
    return [page if image.is_fax_page else fit_page(page, geo) for page, image in zip(pages, found)]


def _input_file(data: bytes) -> typing.IO[bytes]:
    """A private temporary file holding `data` (Ghostscript needs a seekable file for PDF).

    A single file rather than a temporary directory: creating and removing a directory
    cost 5 ms per job on this machine's disk, a file 0.5 ms.
    """
    f = tempfile.NamedTemporaryFile(prefix="mailfax-render-")
    f.write(data)
    f.flush()
    return f
