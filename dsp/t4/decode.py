"""T.4 1-D (MH), T.4 2-D (MR) and T.6 (MMR) decoder.

What: `decode_page` turns coded bytes (MSB-first, TIFF FillOrder=1) into a `Page`,
counting and repairing bad rows; the compiled loop here also drives the line
decoder (`dsp.t4.stream.StreamDecoder`).

How: `_decode_kernel` (numba; `dsp.t4._jit.plain_reference` runs the same source as
plain Python) reads one code at a time through 13-bit (run lengths) and 7-bit (2-D
modes) lookup tables and records, per row, the list of changing elements - the same
representation the 2-D modes use as reference line (T.4 §4.2.1.3.1).  A second loop
paints the black runs into the page.

Error handling (MH/MR): T.4 rows are delimited by EOL, so a row is bad when a code is
invalid, the runs overshoot the width, the row ends short of the next EOL, or anything
but fill sits between the row's end and the next EOL (stricter than spandsp, which
keeps a damaged row that happens to add up to the width).  A bad row is replaced by a copy
of the previous one (white for the first row) and decoding resumes at the next EOL; for
MR the row after is decoded against the repaired row, as a real receiver must.  MMR
(T.6) has no EOLs, so an error ends the page.

End of page: five EOLs in a row (RTC is six, T.4 §4.1.4; one may be lost to a bit
error) or EOFB (T.6 §2.4.1.1).  Fewer will not do on the line: a bit error in a row's
fill makes a false EOL right before the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from dsp.t4._jit import bit_length, jit
from dsp.t4.codes import MODE_HORIZONTAL, MODE_LEN, MODE_PASS, MODE_VAL, RUN_LEN, RUN_VAL
from dsp.t4.encode import CODINGS
from dsp.t4.page import Page

_jit = jit(__name__)
_bit_length = bit_length(__name__)

# One look-up per code: entry = value << 4 | code length, or < 0 (RUN_VAL / MODE_VAL) if invalid.
_RUN = np.where(RUN_VAL >= 0, (RUN_VAL << 4) | RUN_LEN, RUN_VAL).ravel()  # [colour << 13 | window]
_MODE = np.where(MODE_VAL >= 0, (MODE_VAL << 4) | MODE_LEN, MODE_VAL)



class Stop(IntEnum):
    """Why the decode loop returned."""

    DATA_END = 0  # the input ran out (at a row boundary, or inside a row that could not finish)
    PAGE_END = 1  # RTC (two EOLs in a row) or EOFB
    ROWS_FULL = 2  # the requested number of rows was decoded
    NO_SPACE = 3  # the change buffer filled up (the caller retries with more room)
    FATAL = 4  # an MMR error: no EOL to resynchronise on


# The loop itself returns the plain values (compiled code), `run_kernel` the enum.
DATA_END, PAGE_END, ROWS_FULL, NO_SPACE, FATAL = (int(s) for s in Stop)
# Indices into `LineState.vals`.
_REF_N, _ONE_D, _EOLS, _EOL_MODE, _BAD_RUN, _LONGEST = range(6)
END_EOLS = 5  # consecutive EOLs that end a page (see module docstring)
PAD = 8  # zero bytes appended to the input so peeks never run off the end


@dataclass(frozen=True)
class DecodeResult:
    """A decoded page, the number of rows that had to be repaired, and whether the end was seen."""

    page: Page
    bad_rows: int
    complete: bool
    longest_bad_run: int = 0  # most consecutive bad rows (TIFF ConsecutiveBadFaxLines)


@_jit
def _windows(data):
    """win[i]: the 32 bits from octet i on, MSB-first - every code read is then one load."""
    win = np.empty(data.shape[0] - 3, np.int64)
    for i in range(win.shape[0]):
        win[i] = (int(data[i]) << 24) | (int(data[i + 1]) << 16) | (int(data[i + 2]) << 8) | int(data[i + 3])
    return win


@_jit
def _peek(win, pos, n):
    """The ``n`` (<= 25) bits at bit position ``pos``, MSB-first, as an integer."""
    return (win[pos >> 3] >> (32 - (pos & 7) - n)) & ((1 << n) - 1)


@_jit
def _count_zeros(win, pos, nbits):
    """Number of 0 bits from ``pos`` (stopping at ``nbits``), 25 to 32 bits at a time."""
    z = 0
    while pos + z < nbits:
        p = pos + z
        w = win[p >> 3]
        w &= (1 << (32 - (p & 7))) - 1  # the bits from p on
        if w:
            return min(z + (32 - (p & 7)) - np.int64(_bit_length(w)), nbits - pos)
        z += 32 - (p & 7)
    return nbits - pos


@_jit
def _next_eol(win, pos, nbits):
    """Bit position where the next EOL's run of >= 11 zeros starts, or -1."""
    while pos < nbits:
        z = _count_zeros(win, pos, nbits)
        if pos + z >= nbits:
            return -1
        if z >= 11:
            return pos
        pos += z + 1
    return -1


# The per-code loops below read codes with the bit window and table look-up inlined by
# hand: a numba call per code costs several times the work it does.  A window is the 32
# bits from the octet holding ``pos``; ``(w >> (32 - (pos & 7) - n)) & mask`` is the
# next ``n`` (<= 25) bits.


@_jit
def _decode_1d(win, pos, nbits, width, cur):
    """T.4 §4.1: one MH row into ``cur``; returns (number of changes or -1, pos).

    Zero-length runs cancel the change before them (a change at the same place).
    """
    a0 = 0
    colour = 0
    n = 0
    while a0 < width:
        run = 0
        while True:  # make-up codes, then a terminating code
            w = win[pos >> 3]
            e = _RUN[(colour << 13) | ((w >> (19 - (pos & 7))) & 0x1FFF)]
            if e < 0:
                return -1, pos
            pos += e & 15
            v = e >> 4
            run += v
            if v < 64:
                break
        a0 += run
        if a0 > width or pos > nbits:
            return -1, pos
        if a0 < width:
            if n > 0 and cur[n - 1] == a0:
                n -= 1
            else:
                cur[n] = a0
                n += 1
        colour ^= 1
    cur[n] = width
    cur[n + 1] = width
    cur[n + 2] = width
    return n, pos


@_jit
def _decode_2d(win, pos, nbits, width, cur, ref):
    """T.4 §4.2.1.3 / T.6 §2.2: one 2-D row against ``ref`` (with sentinels) into ``cur``."""
    a0 = -1
    colour = 0
    n = 0
    bi = 0
    while a0 < width:
        while bi > 0 and ref[bi - 1] > a0:
            bi -= 1
        while ref[bi] <= a0:
            bi += 1
        if (bi & 1) != colour:
            bi += 1
        w = win[pos >> 3]
        e = _MODE[(w >> (25 - (pos & 7))) & 0x7F]
        if e < 0:
            return -1, pos
        pos += e & 15
        mode = e >> 4
        if mode == MODE_PASS:
            a0 = ref[bi + 1]
        elif mode == MODE_HORIZONTAL:
            start = a0 if a0 > 0 else 0
            c = colour
            for _ in range(2):  # a0a1 in the current colour, then a1a2 in the other
                run = 0
                while True:
                    w = win[pos >> 3]
                    e = _RUN[(c << 13) | ((w >> (19 - (pos & 7))) & 0x1FFF)]
                    if e < 0:
                        return -1, pos
                    pos += e & 15
                    v = e >> 4
                    run += v
                    if v < 64:
                        break
                start += run
                if start > width:
                    return -1, pos
                if start < width:
                    if n > 0 and cur[n - 1] == start:
                        n -= 1
                    else:
                        cur[n] = start
                        n += 1
                c ^= 1
            a0 = start
        else:
            a1 = ref[bi] + mode - 5  # mode == MODE_VERTICAL_BASE + (a1 - b1) + 3
            if a1 > width or a1 < 0 or a1 <= a0:
                return -1, pos
            if a1 < width:
                cur[n] = a1
                n += 1
            a0 = a1
            colour ^= 1
        if pos > nbits:
            return -1, pos
    cur[n] = width
    cur[n + 1] = width
    cur[n + 2] = width
    return n, pos


@_jit
def _decode_kernel(data, nbits, pos, width, coding, max_rows, ref_in, state, changes, row_start):
    """Decode rows from bit ``pos`` until the data, the page or the buffers end.

    Row y's changes, followed by three ``width`` sentinels, are decoded straight into
    changes[row_start[y]:row_start[y+1]], where the next row finds them as its
    reference line.  ``ref_in`` (length width + 4) holds the reference line for the
    first row and receives the last row's at the end; ``state`` (see `LineState`) is
    read at the start and updated at the end.  Returns (reason, rows, bad rows, pos).
    """
    win = _windows(data)
    ref = ref_in[:]
    ref_n, one_d, eols = state[_REF_N], state[_ONE_D], state[_EOLS]
    eol_mode, bad_run, longest = state[_EOL_MODE], state[_BAD_RUN], state[_LONGEST]
    nrows = 0
    bad = 0
    row_start[0] = 0
    reason = ROWS_FULL
    while nrows < max_rows:
        # Row boundary: fill and EOLs (MH/MR), EOFB (MMR), or the end of the data.
        z = _count_zeros(win, pos, nbits)
        if pos + z >= nbits:
            reason = DATA_END
            break
        if z >= 11:
            pos += z + 1
            eols += 1
            eol_mode = 1
            if coding == 2 or eols >= END_EOLS:
                reason = PAGE_END
                break
            if coding == 1:
                if pos >= nbits:
                    reason = DATA_END
                    break
                one_d = _peek(win, pos, 1)
                pos += 1
            continue
        start = row_start[nrows]
        if start + width + 4 > changes.shape[0]:
            reason = NO_SPACE
            break
        cur = changes[start : start + width + 4]
        row_pos = pos
        if coding == 0 or (coding == 1 and one_d):
            n, pos = _decode_1d(win, pos, nbits, width, cur)
        else:
            n, pos = _decode_2d(win, pos, nbits, width, cur, ref)
        if n >= 0 and eol_mode and coding != 2:
            # T.4 rows end at an EOL: only fill may follow the row's last code.
            z = _count_zeros(win, pos, nbits)
            if z < 11 and pos + z < nbits:
                n = -1
        if n < 0:
            if coding == 2:
                pos = row_pos
                reason = FATAL
                break
            n = ref_n
            cur[: n + 3] = ref[: n + 3]  # repeat the previous row
            bad += 1
            bad_run += 1
            longest = max(longest, bad_run)
            pos = _next_eol(win, row_pos, nbits)
            if pos < 0:
                pos = nbits
        else:
            bad_run = 0
        ref = cur
        ref_n = n
        eols = 0
        nrows += 1
        row_start[nrows] = start + n + 3
    ref_in[: ref_n + 3] = ref[: ref_n + 3]
    state[_REF_N], state[_ONE_D], state[_EOLS] = ref_n, one_d, eols
    state[_EOL_MODE], state[_BAD_RUN], state[_LONGEST] = eol_mode, bad_run, longest
    return reason, nrows, bad, pos


@_jit
def _paint(out, changes, row_start, nrows, width):
    """Set the black runs (from each even to the next odd change) of each row to 1."""
    for y in range(nrows):
        s = row_start[y]
        e = row_start[y + 1] - 3  # sentinels: a last black run ends at width
        for i in range(s, e, 2):
            out[y, changes[i] : changes[i + 1]] = 1


def white_reference(width: int) -> np.ndarray:
    """A reference line for the first row: no changes, just the ``width`` sentinels."""
    ref = np.empty(width + 4, np.int32)
    ref[:] = width
    return ref


@dataclass
class LineState:
    """What decoding carries from one row to the next, and across calls of the loop.

    ``ref``: the last row's changing elements and ``width`` sentinels (the next row's
    reference line).  ``vals``: the number of those changes, the MR tag of the last EOL
    (1 = next row 1-D), EOLs seen since the last row, whether the data uses EOLs, the
    current and the longest run of consecutive bad rows.
    """

    ref: np.ndarray
    vals: np.ndarray

    @classmethod
    def start(cls, width: int) -> "LineState":
        vals = np.zeros(6, np.int64)
        vals[_ONE_D] = 1
        return cls(white_reference(width), vals)

    def copy(self) -> "LineState":
        return LineState(self.ref.copy(), self.vals.copy())

    @property
    def longest_bad_run(self) -> int:
        return int(self.vals[_LONGEST])

    @property
    def bad_run(self) -> int:
        return int(self.vals[_BAD_RUN])


@dataclass
class KernelRun:
    """What one call of the decode loop produced (rows as change lists)."""

    reason: Stop
    nrows: int
    bad: int
    pos: int
    changes: np.ndarray
    row_start: np.ndarray

    def paint(self, width: int) -> np.ndarray:
        out = np.zeros((self.nrows, width), np.uint8)
        _paint(out, self.changes, self.row_start, self.nrows, width)
        return out


def run_kernel(data: np.ndarray, nbits: int, pos: int, width: int, coding: int, max_rows: int | None,
               state: LineState) -> KernelRun:
    """Decode from ``data`` (MSB-first, >= PAD zero bytes past ``nbits``), updating ``state``."""
    rows_cap = min(max_rows, nbits + 2) if max_rows is not None else nbits + 2
    room = nbits + 4 * min(rows_cap, 4096) + width + 64
    saved = state.copy()
    while True:
        changes = np.empty(room, np.int32)
        row_start = np.empty(rows_cap + 1, np.int64)
        reason, nrows, bad, pos_out = _decode_kernel(data, nbits, pos, width, coding, rows_cap, state.ref,
                                                     state.vals, changes, row_start)
        if reason != NO_SPACE:
            return KernelRun(Stop(int(reason)), int(nrows), int(bad), int(pos_out), changes, row_start)
        state.ref[:], state.vals[:] = saved.ref, saved.vals
        room *= 4


def check_args(width: int, coding: str) -> None:
    """Misuse is an exception: an unknown coding or a width without pixels."""
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {sorted(CODINGS)}, got {coding!r}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")


def padded(data: bytes | np.ndarray) -> np.ndarray:
    """Input bytes as uint8 with PAD zero bytes appended."""
    arr = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data
    out = np.zeros(arr.size + PAD, np.uint8)
    out[: arr.size] = arr
    return out


def decode_page(data: bytes, width: int, coding: str, *, x_res: int = 204, y_res: int = 196,
                height: int | None = None) -> DecodeResult:
    """Decode one page of ``coding`` ("mh", "mr", "mmr") from MSB-first ``data``.

    With ``height`` the page has exactly that many rows: decoding stops there, and rows
    the data lacks (truncation, an MMR error) are repeats of the last row, counted bad.
    ``complete`` is true when RTC/EOFB was seen or ``height`` rows were decoded.  The page
    is allocated at ``height`` x ``width``: bound both before trusting them from a file.
    """
    check_args(width, coding)
    if height is not None and height < 0:
        raise ValueError(f"height must be >= 0, got {height}")
    arr = padded(data)
    nbits = (arr.size - PAD) * 8
    state = LineState.start(width)
    run = run_kernel(arr, nbits, 0, width, CODINGS[coding], height, state)
    rows = run.paint(width)
    bad, longest = run.bad, state.longest_bad_run
    complete = run.reason in (Stop.PAGE_END, Stop.ROWS_FULL)
    missing = 0
    if height is not None and run.nrows < height:
        missing = height - run.nrows
        filler = rows[-1] if run.nrows else np.zeros(width, np.uint8)
        rows = np.concatenate([rows, np.broadcast_to(filler, (missing, width))])
        complete = False
    elif run.reason == Stop.FATAL:
        missing = 1  # the MMR row that failed and ended the page
    bad += missing
    longest = max(longest, state.bad_run + missing)
    return DecodeResult(Page(np.ascontiguousarray(rows), x_res, y_res), bad, complete, longest)
