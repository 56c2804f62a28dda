"""The session's one door to the T.4 codec: pages to line bits or ECM octets, and back.

Coded data on the line travels least significant bit first in each octet; `dsp.t4`
works on MSB-first octets (TIFF FillOrder=1), so this module converts at the edge.  For
MR, k (rows per 1-D row) is 2 at standard and 4 at fine resolution (T.4 §4.2.1.2.3),
8 at superfine; the decoder does not need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.t30.dis import Dcs, Resolution, Width
from dsp.t4.bits import bytes_to_bits, reverse_bits_in_bytes
from dsp.t4.page import Page

_K = {Resolution.STANDARD: 2, Resolution.FINE: 4, Resolution.SUPERFINE: 8}


def page_resolution(page: Page) -> Resolution:
    return Resolution.from_dpi(page.y_res) or Resolution.FINE


def page_width(page: Page) -> Width:
    for w in Width:
        if page.width <= w.value:
            return w
    return Width.A3


def fit_width(page: Page, width: Width) -> Page:
    """The page cropped or white-padded to a T.4 scan line width."""
    rows = page.rows
    if rows.shape[1] == width.value:
        return page
    out = np.zeros((rows.shape[0], width.value), np.uint8)
    n = min(width.value, rows.shape[1])
    out[:, :n] = rows[:, :n]
    return Page(out, page.x_res, page.y_res)


def _encode(page: Page, dcs: Dcs) -> bytes:
    from dsp.t4.encode import encode_page

    return encode_page(fit_width(page, dcs.width), dcs.coding.value, k=_K[dcs.resolution],
                       rtc=True, min_row_bits=dcs.min_row_bits)


def encode_line_bits(page: Page, dcs: Dcs) -> np.ndarray:
    """Non-ECM phase C: the page's T.4 stream as line-order bits, RTC included."""
    return bytes_to_bits(_encode(page, dcs), lsb_first=False)


def encode_ecm_octets(page: Page, dcs: Dcs) -> bytes:
    """ECM phase C: the page's coded data as line-order (LSB-first) octets."""
    return reverse_bits_in_bytes(_encode(page, dcs))


@dataclass(frozen=True)
class Decoded:
    page: Page | None
    rows: int
    bad_rows: int


class LineReceiver:
    """Non-ECM reception: bits go to the T.4 stream decoder as they arrive, so the page
    is ready (and its bad rows counted) the moment the carrier drops."""

    def __init__(self, dcs: Dcs) -> None:
        from dsp.t4.stream import StreamDecoder

        self._dec = StreamDecoder(dcs.width.value, dcs.coding.value, y_res=dcs.resolution.value)
        self.bits = 0

    def feed(self, bits: np.ndarray) -> None:
        self.bits += len(bits)
        self._dec.feed(bits)

    @property
    def complete(self) -> bool:
        """RTC has been seen."""
        return self._dec.finished

    def result(self) -> Decoded:
        if self.bits == 0:
            return Decoded(None, 0, 0)
        page = self._dec.page()
        return Decoded(page if page.height else None, page.height, int(self._dec.bad_rows))


def decode_line_bits(bits: np.ndarray, dcs: Dcs) -> Decoded:
    """A whole non-ECM page from its line bits."""
    rx = LineReceiver(dcs)
    rx.feed(bits)
    return rx.result()


def decode_ecm_octets(data: bytes, dcs: Dcs) -> Decoded:
    """An ECM page from its line-order octets (all blocks joined)."""
    from dsp.t4.decode import decode_page

    res = decode_page(reverse_bits_in_bytes(data), dcs.width.value, dcs.coding.value,
                      y_res=dcs.resolution.value)
    page = res.page if res.page.height else None
    return Decoded(page, res.page.height, int(res.bad_rows) + (0 if res.complete else 0))
