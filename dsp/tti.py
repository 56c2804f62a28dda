"""The transmitting terminal identification line (TTI) drawn across the top of sent pages.

What: a line like ``2026-11-26 09:00  ACME  +49 30 1234  Page 1 of 3`` (date, sender
information, our identity, page number and count), as fax machines print at the head of
every page they send.  The date is passed in: the fax engine reads no clock.

How: Pillow draws the text with its built-in font (no font file is read) at the page's
horizontal resolution, the rows are then stretched to the vertical resolution (fax
pels are not square: 204 dpi across, 98/196/391 dpi down), thresholded, and written
over the top rows of the page (which fax pages keep blank as their margin), so the page
keeps its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.t4.page import Page

#: Header cap height in millimetres, and the gap above it.
_TEXT_MM = 2.6
_TOP_MM = 1.0


@dataclass(frozen=True)
class Header:
    """What the header says besides the page numbers."""

    date: str
    info: str = ""
    ident: str = ""

    def text(self, number: int, count: int) -> str:
        parts = [self.date, self.info, self.ident, f"Page {number} of {count}"]
        return "  ".join(p for p in parts if p)


def _render_line(text: str, height_px: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=max(8, height_px))
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (max(1, right + 2), max(1, bottom + 2)), 255)
    ImageDraw.Draw(img).text((0, 0), text, font=font, fill=0)
    return (np.asarray(img) < 128).astype(np.uint8)


def draw_header(page: Page, text: str) -> Page:
    """`page` with `text` written over its top rows (left-aligned, ~2.6 mm high)."""
    px_per_mm_x = page.x_res / 25.4
    square = _render_line(text, int(round(_TEXT_MM * px_per_mm_x * 1.4)))
    rows_wanted = max(1, int(round(square.shape[0] * page.y_res / page.x_res)))
    pick = np.minimum((np.arange(rows_wanted) * square.shape[0] / rows_wanted).astype(int), square.shape[0] - 1)
    glyphs = square[pick]
    top = int(round(_TOP_MM * page.y_res / 25.4))
    left = int(round(5 * px_per_mm_x))
    out = page.rows.copy()
    h = min(glyphs.shape[0], max(0, out.shape[0] - top))
    w = min(glyphs.shape[1], max(0, out.shape[1] - left))
    if h and w:
        out[top:top + h, :] = 0
        out[top:top + h, left:left + w] = glyphs[:h, :w]
    return Page(out, page.x_res, page.y_res)
