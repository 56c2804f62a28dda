"""The line decoder for non-ECM reception: image bits in as they come off the modem.

What: `StreamDecoder` takes the page's bits in any slices, decodes every row whose
terminating EOL has arrived, counts bad rows (the copy-quality check of a non-ECM
receiver, T.30 §5.3.4 / T.4 §4.1.2 EOL usage), repairs them by repeating the previous
row and resynchronises at the next EOL.  It reports the end of the page at RTC.

How: bits wait in a small buffer until an EOL (eleven 0s then a 1, found with numpy)
closes a row; then the same compiled loop as `decode_page` decodes every complete row
in the buffer, carrying its state (reference line, MR tag, EOLs seen) to the next call.
Rows are therefore decoded the same whatever the slicing of ``feed``.  Bits before the
first EOL (noise, training leftovers) are ignored.

MMR (T.6) is only sent with ECM, where the whole page arrives at once; here its bits
are buffered and decoded when EOFB arrives (or by `page()`).
"""

from __future__ import annotations

import numpy as np

from dsp.t4.bits import bytes_to_bits
from dsp.t4.decode import PAD, LineState, Stop, check_args, run_kernel
from dsp.t4.encode import CODINGS
from dsp.t4.page import Page

_EOL_ZEROS = 11
#: Zeros kept at the end of a row still waiting for its EOL: EOL's 11, the <= 3 a code
#: may end with, and margin.  Longer fill is dropped so waiting costs nothing.
_KEEP_FILL = 32
#: A row with no EOL after this many bits is garbage (a real one is at most ~22 kbit:
#: 4864 pixels at 4.5 bits, plus 40 ms of fill at 14400 bit/s): it is cut short, so each
#: feed stays cheap, and marked to decode as one bad row when its EOL comes.
_MAX_ROW_BITS = 1 << 16
_BAD_CODE = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1], np.uint8)  # no run or mode code starts so


def eol_ends(bits: np.ndarray) -> np.ndarray:
    """Indices of the 1s that end an EOL (preceded by >= 11 zeros within ``bits``)."""
    ones = np.flatnonzero(bits)
    if ones.size == 0:
        return ones
    gaps = np.diff(ones, prepend=-1) - 1
    return ones[gaps >= _EOL_ZEROS]


def _bounded(row: np.ndarray) -> np.ndarray:
    """The bits of a row still waiting for its EOL, with long fill and overlong garbage cut."""
    ones = np.flatnonzero(row[-(_KEEP_FILL + 1) :])
    if ones.size == 0 and row.size > _KEEP_FILL:  # long fill: the EOL's 1 is still to come
        last_one = np.flatnonzero(row)
        row = row[: (last_one[-1] + 1 if last_one.size else 0) + _KEEP_FILL]
    if row.size > _MAX_ROW_BITS:
        row = np.concatenate([_BAD_CODE, row[-_KEEP_FILL:]])
    return row


def _packed(bits: np.ndarray) -> np.ndarray:
    out = np.zeros((bits.size + 7) // 8 + PAD, np.uint8)
    packed = np.packbits(bits, bitorder="big")
    out[: packed.size] = packed
    return out


class StreamDecoder:
    """Decode a T.4 (MH/MR) page from line bits; see the module docstring."""

    def __init__(self, width: int, coding: str, *, x_res: int = 204, y_res: int = 196) -> None:
        check_args(width, coding)
        self.width = width
        self.coding = coding
        self.x_res = x_res
        self.y_res = y_res
        self.rows_so_far = 0
        self.bad_rows = 0
        self.longest_bad_run = 0  # most consecutive bad rows so far
        self.finished = False
        self._code = CODINGS[coding]
        self._pending = np.zeros(0, np.uint8)
        self._mmr_chunks: list[np.ndarray] = []
        self._synced = coding == "mmr"
        self._state = LineState.start(width)
        self._blocks: list[np.ndarray] = []

    def feed_bytes(self, data: bytes, lsb_first: bool) -> None:
        """Feed octets; ``lsb_first`` for line/HDLC order, False for TIFF (FillOrder=1) order."""
        self.feed(bytes_to_bits(data, lsb_first))

    def feed(self, bits: np.ndarray) -> None:
        """Feed bits (0/1, first bit first).  Bits after the end of the page are ignored."""
        if self.finished:
            return
        bits = np.asarray(bits, dtype=np.uint8)
        if self._code == 2:
            self._feed_mmr(bits)
            return
        buf = np.concatenate([self._pending, bits]) if self._pending.size else bits.copy()
        if not self._synced:
            ends = eol_ends(buf)
            if ends.size == 0:
                self._pending = buf[-_EOL_ZEROS:]
                return
            buf = buf[ends[0] - _EOL_ZEROS :]
            self._synced = True
        ends = eol_ends(buf)
        tag = 1 if self._code == 1 else 0
        ends = ends[ends + tag < buf.size]  # MR: the tag bit after the EOL must be here too
        if ends.size == 0:
            self._pending = _bounded(buf)
            return
        limit = int(ends[-1]) + 1 + tag
        run = self._decode(buf, limit, self._state)
        self._commit(run)
        self._pending = buf[run.pos :] if not self.finished else np.zeros(0, np.uint8)

    def _decode(self, bits: np.ndarray, limit: int, state: LineState):
        return run_kernel(_packed(bits[:limit]), limit, 0, self.width, self._code, None, state)

    def _commit(self, run) -> None:
        if run.nrows:
            self._blocks.append(run.paint(self.width))
        self.rows_so_far += run.nrows
        self.bad_rows += run.bad
        self.longest_bad_run = self._state.longest_bad_run
        if run.reason == Stop.PAGE_END:
            self.finished = True

    def _feed_mmr(self, bits: np.ndarray) -> None:
        tail = np.concatenate([self._pending, bits])  # the last 24 bits before these, and these
        self._mmr_chunks.append(bits.copy())
        self._pending = tail[-24:]
        ends = eol_ends(tail)
        if ends.size >= 2 and np.any(np.diff(ends) == 12):  # EOFB: EOL EOL
            run = self._decode_mmr()
            self._blocks = [run.paint(self.width)]
            self.rows_so_far, self.bad_rows = run.nrows, int(run.reason == Stop.FATAL)
            self.longest_bad_run = self.bad_rows
            self.finished = True

    def _decode_mmr(self):
        bits = np.concatenate(self._mmr_chunks) if self._mmr_chunks else np.zeros(0, np.uint8)
        return run_kernel(_packed(bits), bits.size, 0, self.width, 2, None, LineState.start(self.width))

    def page(self) -> Page:
        """The rows decoded so far, plus a last row still waiting for its EOL if it decodes cleanly."""
        blocks = list(self._blocks)
        if not self.finished and self._code == 2:
            blocks = [self._decode_mmr().paint(self.width)]
        elif not self.finished and self._synced and self._pending.size:
            run = self._decode(self._pending, self._pending.size, self._state.copy())
            if run.bad == 0 and run.reason == Stop.DATA_END and run.nrows:
                blocks.append(run.paint(self.width))
        rows = np.concatenate(blocks) if blocks else np.zeros((0, self.width), np.uint8)
        return Page(rows, self.x_res, self.y_res)
