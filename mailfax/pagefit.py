"""Fit a page of any resolution onto a fax geometry (what a sender does before transmitting).

Rendering keeps a fax TIFF's own resolution, but a call sends one resolution and one line
length.  `fit_page` rescales each axis separately (fax pels are not square) and pads or
shrinks to the scan-line length: a 204x98 page sent at fine has each row twice; a 300 dpi
A4 page (2592 pels, 219.5 mm) sent at 204 dpi shrinks slightly to the 1728-pel line.
Downscaling ORs the merged pels so thin lines survive; the page length stays whatever it
is (fax pages need not match the paper length).
"""

from __future__ import annotations

import numpy as np

from dsp.t4.page import Page
from mailfax.pagesize import Geometry


def fit_page(page: Page, geo: Geometry) -> Page:
    """`page` at `geo`'s resolution and line length."""
    if (page.width, page.x_res, page.y_res) == (geo.width, geo.x_res, geo.y_res):
        return page
    width_in = page.width / page.x_res
    shrink = min(1.0, (geo.width / geo.x_res) / width_in)
    new_w = min(geo.width, max(1, round(page.width * geo.x_res / page.x_res * shrink)))
    new_h = max(1, round(page.height * geo.y_res / page.y_res * shrink))
    rows = _resample(_resample(page.rows, new_h, axis=0), new_w, axis=1)
    out = np.zeros((new_h, geo.width), np.uint8)
    left = (geo.width - new_w) // 2
    out[:, left:left + new_w] = rows
    return Page(out, geo.x_res, geo.y_res)


def _resample(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Nearest-neighbour when enlarging, OR over each merged group when reducing."""
    n_in = a.shape[axis]
    if n_out == n_in:
        return a
    starts = (np.arange(n_out) * n_in // n_out).astype(np.intp)
    return np.maximum.reduceat(a, starts, axis=axis)
