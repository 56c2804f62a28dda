"""The session's one door to the T.4 codec: pages to line bits or ECM octets, and back.

Coded data on the line travels least significant bit first in each octet; `dsp.t4`
works on MSB-first octets (TIFF FillOrder=1), so this module converts at the edge.  For
MR, k (rows per 1-D row) is 2 at standard and 4 at fine resolution (T.4 §4.2.1.2.3),
8 at superfine; the decoder does not need it.

Received pages also keep their coded data as it came off the line (`Decoded.data`), so
the store can wrap it as TIFF-F instead of re-encoding the decoded rows: ECM pages are
the joined frame payloads as they are; a non-ECM page is its bits from the first EOL
through RTC (`line_image`), packed in line order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.t30.dis import Dcs, Resolution, Width
from dsp.t4.bits import bits_to_bytes, bytes_to_bits, reverse_bits_in_bytes
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
    data: bytes = b""   # the page's coded data in line order (LSB first), see the module docstring
    bad_run: int = 0    # most consecutive bad rows


_EOL_ZEROS = 11
#: Empty rows in a row that end the page: RTC is six EOLs, five empty rows between them;
#: one EOL may be lost to a bit error (the stream decoder ends the page on five EOLs too).
_RTC_EMPTY = 4
_RTC_MAX_EMPTY = 5


def line_image(bits: np.ndarray, coding: str) -> np.ndarray:
    """A non-ECM page's line bits, which start at its first EOL, cut after RTC (T.4 §4.1.4).

    A row between two EOLs is empty when it holds only zeros (fill; for MR after the tag
    bit): every MH/MR code has a 1, so a run of empty rows is RTC.  Without RTC (the
    carrier dropped first) the trailing fill after the last 1 is cut.
    """
    from dsp.t4.stream import eol_ends

    bits = np.asarray(bits, np.uint8)
    tag = 1 if coding == "mr" else 0
    ends = eol_ends(bits)
    ends = ends[ends + tag < bits.size]
    if ends.size > _RTC_EMPTY:
        csum = np.concatenate([[0], np.cumsum(bits, dtype=np.int64)])
        empty = (csum[ends[1:]] - csum[ends[:-1] + 1 + tag]) == 0
        runs = np.flatnonzero(np.convolve(empty, np.ones(_RTC_EMPTY, np.int64), "valid") == _RTC_EMPTY)
        if runs.size:
            last = int(runs[0]) + _RTC_EMPTY - 1
            while last + 1 < empty.size and empty[last + 1] and last + 1 - runs[0] < _RTC_MAX_EMPTY:
                last += 1
            return bits[: int(ends[last + 1]) + 1 + tag]
    ones = np.flatnonzero(bits)
    return bits[: int(ones[-1]) + 1] if ones.size else bits[:0]


class LineReceiver:
    """Non-ECM reception: bits go to the T.4 stream decoder as they arrive, so the page
    is ready (and its bad rows counted) the moment the carrier drops.  From the first EOL
    on, the bits are also kept as they came, for `Decoded.data`."""

    def __init__(self, dcs: Dcs) -> None:
        from dsp.t4.stream import StreamDecoder

        self._dec = StreamDecoder(dcs.width.value, dcs.coding.value, y_res=dcs.resolution.value)
        self._coding = dcs.coding.value
        self._head = np.zeros(0, np.uint8)   # bits that may hold the start of the first EOL
        self._kept: list[np.ndarray] = []
        self.bits = 0

    def feed(self, bits: np.ndarray) -> None:
        self.bits += len(bits)
        self._dec.feed(bits)
        self._keep(np.array(bits, np.uint8))

    def _keep(self, bits: np.ndarray) -> None:
        if not self._kept:
            from dsp.t4.stream import eol_ends

            buf = np.concatenate([self._head, bits])
            ends = eol_ends(buf)
            if ends.size == 0:
                self._head = buf[-_EOL_ZEROS:]
                return
            bits = buf[int(ends[0]) - _EOL_ZEROS:]
        self._kept.append(bits)

    @property
    def complete(self) -> bool:
        """RTC has been seen."""
        return self._dec.finished

    def result(self) -> Decoded:
        if self.bits == 0:
            return Decoded(None, 0, 0)
        page = self._dec.page()
        kept = np.concatenate(self._kept) if self._kept else np.zeros(0, np.uint8)
        data = bits_to_bytes(line_image(kept, self._coding), lsb_first=True)
        return Decoded(page if page.height else None, page.height, int(self._dec.bad_rows), data,
                       int(self._dec.longest_bad_run))


def decode_line_bits(bits: np.ndarray, dcs: Dcs) -> Decoded:
    """A whole non-ECM page from its line bits."""
    rx = LineReceiver(dcs)
    rx.feed(bits)
    return rx.result()


def decode_ecm_octets(data: bytes, dcs: Dcs) -> Decoded:
    """An ECM page from its line-order octets (all blocks joined); they are kept as `data`."""
    from dsp.t4.decode import decode_page

    res = decode_page(reverse_bits_in_bytes(data), dcs.width.value, dcs.coding.value,
                      y_res=dcs.resolution.value)
    page = res.page if res.page.height else None
    return Decoded(page, res.page.height, int(res.bad_rows), bytes(data), int(res.longest_bad_run))
