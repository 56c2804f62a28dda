"""What every rendering step shares: the error type and the limits that bound the work.

Kept apart from `mailfax.render` so the per-format modules (gs, images, tiff, text) can
raise `RenderError` and read `Limits` without importing the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailfax import MailfaxError


class RenderError(MailfaxError):
    """A document could not be turned into fax pages; `reason` is one precise line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Bounds on one rendering job, so bad input fails fast instead of hanging or eating memory.

    max_pages: a document with more pages is refused (not truncated).
    timeout: wall-clock seconds for each helper process (Ghostscript, paps).
    memory: address-space limit in bytes for each helper process.
    max_page_inches: longest page side accepted (PDF allows 200 in; fax paper is ~14 in).
    max_pixels: largest image accepted, checked from the header before decoding.
    """

    max_pages: int = 100
    timeout: float = 60.0
    memory: int = 1 << 30
    max_page_inches: float = 50.0
    max_pixels: int = 100_000_000
