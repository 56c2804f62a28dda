"""Fax page geometry: paper sizes and resolutions to pixel dimensions.

A fax scan line has a fixed number of pels that depends on the paper width class and the
horizontal resolution, not on the exact paper width (T.4 §2.2): A4, Letter and Legal all use
the 215 mm line (1728 pels at 204 dpi, 2592 at 300 dpi); B4 uses the 255 mm line (2048 at
204 dpi, 3072 at 300 dpi).  The page height is the paper's own height at the vertical
resolution, so a Letter page is shorter than an A4 page but just as wide.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsp.t4.page import RESOLUTIONS

#: paper name -> (width, height) in millimetres.
PAPERS: dict[str, tuple[float, float]] = {
    "a4": (210.0, 297.0),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
    "b4": (250.0, 353.0),
}

#: (paper width class, x dpi) -> pels per scan line (T.4 §2.2, T.30 Table 2).
_LINE_PELS: dict[tuple[str, int], int] = {
    ("a4", 204): 1728,
    ("b4", 204): 2048,
    ("a4", 300): 2592,
    ("b4", 300): 3072,
}


@dataclass(frozen=True)
class Geometry:
    """Pixel size and resolution of one fax page for a paper and a resolution."""

    paper: str
    resolution: str
    width: int
    height: int
    x_res: int
    y_res: int

    @property
    def size_inches(self) -> tuple[float, float]:
        return self.width / self.x_res, self.height / self.y_res


def geometry(paper: str = "a4", resolution: str = "fine") -> Geometry:
    """Geometry of a page of `paper` at `resolution` (names as in PAPERS / RESOLUTIONS).

    Raises ValueError for an unknown name: callers validate user input before this.
    """
    paper = paper.lower()
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {', '.join(PAPERS)}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {', '.join(RESOLUTIONS)}")
    x_res, y_res = RESOLUTIONS[resolution]
    width_class = "b4" if paper == "b4" else "a4"
    width = _LINE_PELS[(width_class, x_res)]
    height = round(PAPERS[paper][1] / 25.4 * y_res)
    return Geometry(paper, resolution, width, height, x_res, y_res)
