"""The one image type that crosses between the fax engine and the application.

A `Page` is a bilevel raster: ``rows`` is a 2-D ``uint8`` numpy array of shape
(height, width) holding 1 for black and 0 for white, plus the resolution in dots per
inch.  Fax resolutions are not square: standard is 204x98, fine 204x196, superfine
204x391 (T.4 §2.1 gives them in pels/mm: 8 x 3.85, 8 x 7.7, 8 x 15.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (x_dpi, y_dpi) of the named fax resolutions.
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "standard": (204, 98),
    "fine": (204, 196),
    "superfine": (204, 391),
    "300": (300, 300),
}


@dataclass(frozen=True, eq=False)
class Page:
    """A bilevel page: rows[y, x] is 1 for black; resolution in dpi."""

    rows: np.ndarray
    x_res: int = 204
    y_res: int = 196

    def __post_init__(self) -> None:
        if self.rows.ndim != 2:
            raise ValueError(f"Page.rows must be 2-D, got shape {self.rows.shape}")
        if self.rows.dtype != np.uint8:
            object.__setattr__(self, "rows", self.rows.astype(np.uint8))

    @property
    def width(self) -> int:
        return int(self.rows.shape[1])

    @property
    def height(self) -> int:
        return int(self.rows.shape[0])

    @property
    def size_inches(self) -> tuple[float, float]:
        """Physical size (width, height) in inches, from pixels and resolution."""
        return self.width / self.x_res, self.height / self.y_res

    def same_pixels(self, other: "Page") -> bool:
        return self.rows.shape == other.rows.shape and bool(np.array_equal(self.rows, other.rows))

    @classmethod
    def blank(cls, width: int = 1728, height: int = 2292, x_res: int = 204, y_res: int = 196) -> "Page":
        return cls(np.zeros((height, width), dtype=np.uint8), x_res, y_res)
