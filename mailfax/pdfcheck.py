"""Check a PDF with pypdf before (and while) Ghostscript renders it.

Ghostscript exits 0 with no pages on an encrypted PDF, a garbage file or an empty file,
and renders a blank page for a truncated one (REFERENCE §2).  pypdf catches all of these
cheaply, and tells the page count and page sizes, so limits are enforced before any pixel
is drawn and the rendered page count can be compared afterwards.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from mailfax.render_common import Limits, RenderError

# pypdf logs repairs ("EOF marker not found") as warnings; they belong in the application's
# log if it configures one, never on a command's stderr through logging's last resort.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class PdfInfo:
    pages: int
    sizes_inches: tuple[tuple[float, float], ...]


def inspect_pdf(data: bytes, limits: Limits) -> PdfInfo:
    """Page count and sizes of a PDF, or RenderError saying why it cannot be rendered."""
    import pypdf
    from pypdf.errors import DependencyError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise RenderError("PDF is encrypted with a method this system cannot open") from None
            if not opened:
                raise RenderError("PDF is encrypted and needs a password")
        count = len(reader.pages)
        if count == 0:
            raise RenderError("PDF has no pages")
        if count > limits.max_pages:
            raise RenderError(f"PDF has {count} pages, more than the limit of {limits.max_pages}")
        sizes = tuple(_size_inches(page) for page in reader.pages)
    except RenderError:
        raise
    except Exception as exc:  # pypdf raises many types (and RecursionError) on damaged files
        raise RenderError(f"PDF is damaged or truncated ({_short(exc)})") from None
    for number, (w, h) in enumerate(sizes, 1):
        if max(w, h) > limits.max_page_inches:
            raise RenderError(
                f"page {number} is {w:.1f} x {h:.1f} inches, larger than the limit of {limits.max_page_inches:g} inches"
            )
        if min(w, h) <= 0:
            raise RenderError(f"page {number} has an empty page box")
    return PdfInfo(count, sizes)


def _size_inches(page) -> tuple[float, float]:
    """Displayed size of a page: MediaBox times UserUnit (PDF 1.7 §14.11.2), rotation applied."""
    box = page.mediabox
    unit = float(page.get("/UserUnit", 1) or 1)
    w = abs(float(box.width)) * unit / 72
    h = abs(float(box.height)) * unit / 72
    if int(page.get("/Rotate", 0) or 0) % 180:
        w, h = h, w
    return w, h


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
