"""T.4 1-D (MH), T.4 2-D (MR) and T.6 (MMR) encoder.

What: `encode_page` turns a `Page` into the coded bit stream, MSB-first bytes (TIFF
FillOrder=1).

How: one compiled loop (`_encode_kernel`, numba) walks the page row by row.  For each
row it lists the changing elements (T.4 §4.2.1.3.1: pixels whose colour differs from
the one before, the line starting on an imaginary white pixel), eight pixels at a time
through a uint64 view: a stretch of one colour costs one compare per 8 pixels, and in
other words a shift, an xor and count-trailing-zeros find each change.  MH
codes the runs between changes (§4.1.2); MR and MMR code each row against the one
above with pass / vertical / horizontal modes (§4.2.1.3.2, T.6 §2.2).  The same
source run by the interpreter (`dsp.t4._jit.plain_reference`) is the plain-Python
reference the tests compare against.

Stream layout (MH and MR) - one convention for the line and for TIFF:

    EOL row1 [fill] EOL row2 ... [fill] EOL rowN [fill] RTC

Every row is preceded by its EOL (MR: EOL + tag bit, 1 = next row 1-D, 0 = 2-D,
§4.2.1.3.1), and RTC is six EOLs (§4.1.4; MR: six EOL+1).  Without RTC this is exactly
what TIFF Compression=3 strips hold as libtiff writes them (EOL before each row, first
one included, no RTC).  ``min_row_bits`` pads each row's data + fill + following EOL
(with its MR tag bit) to the minimum scan-line length with zero fill placed before the
EOL (§4.1.3); ``align_eol`` adds fill so every EOL ends on an octet boundary (TIFF
T4Options bit 2; RTC's first EOL too, the other five follow unpadded).  MMR has no
EOLs; ``rtc`` adds EOFB (T.6 §2.4.1.1: EOL EOL).  The last octet is zero-padded.
"""

from __future__ import annotations

import sys

import numpy as np

from dsp.t4.codes import (
    HORIZONTAL_CODE,
    MAKEUP_CODE,
    MAKEUP_LEN,
    MAX_MAKEUP,
    PASS_CODE,
    RUN_CODE,
    RUN_CODE_LEN,
    VERTICAL_CODE,
    VERTICAL_LEN,
)
from dsp.t4._jit import jit, trailing_zeros
from dsp.t4.page import Page

CODINGS = {"mh": 0, "mr": 1, "mmr": 2}
WIDTHS = (1728, 2048, 2432, 3456, 4096, 4864)  # T.4 §2.2 (and the wider R8/R16 sizes)

_PASS = int(PASS_CODE, 2)
_HORIZ = int(HORIZONTAL_CODE, 2)
_ALL_BLACK = np.uint64(0x0101010101010101)
_NOT_LSB = np.uint64(0xFEFEFEFEFEFEFEFE)
_U1, _U8, _U56 = np.uint64(1), np.uint64(8), np.uint64(56)
_LONG_RUN = MAX_MAKEUP + 64  # runs from here on start with a 2560 make-up code
_MK_2560 = MAX_MAKEUP // 64
_jit = jit(__name__)
_ctz = trailing_zeros(__name__)


@_jit
def _put(buf, acc, nacc, op, code, length):
    """Append ``length`` (<= 32) bits of ``code``, MSB first; returns the writer state.

    ``acc`` holds the ``nacc`` (< 32) bits not yet stored; 32 bits are stored at a time.
    """
    acc = (acc << length) | code
    nacc += length
    if nacc >= 32:
        nacc -= 32
        v = acc >> nacc
        buf[op] = (v >> 24) & 0xFF
        buf[op + 1] = (v >> 16) & 0xFF
        buf[op + 2] = (v >> 8) & 0xFF
        buf[op + 3] = v & 0xFF
        op += 4
        acc &= (1 << nacc) - 1
    return acc, nacc, op


@_jit
def _put_zeros(buf, acc, nacc, op, n):
    while n > 0:
        k = min(n, 24)
        acc, nacc, op = _put(buf, acc, nacc, op, 0, k)
        n -= k
    return acc, nacc, op


@_jit
def _normalised(w):
    """A word of 8 pixels with every non-zero byte made 1 (Page rows should be 0/1 already)."""
    out = np.uint64(0)
    for j in range(8):
        if (w >> np.uint64(8 * j)) & np.uint64(0xFF):
            out |= np.uint64(1) << np.uint64(8 * j)
    return out


@_jit
def _row_changes(row64, width, out):
    """Changing elements of one row into ``out`` followed by three ``width`` sentinels.

    ``row64`` is the row as little-endian uint64 words, 8 pixels (bytes) each, zero
    padded past ``width``.  Words equal to the current colour repeated are skipped; in
    the others, ``w ^ (w << 8 | previous pixel)`` has bit 8j set where pixel j differs
    from the pixel before it.  Returns the number of changes.
    """
    n = 0
    prev = np.uint64(0)
    same = np.uint64(0)
    for i in range(row64.shape[0]):
        w = row64[i]
        if w == same:
            continue
        if w & _NOT_LSB:
            w = _normalised(w)
        t = w ^ ((w << _U8) | prev)
        base = i * 8
        while t:
            out[n] = base + (np.int64(_ctz(t)) >> 3)
            n += 1
            t &= t - _U1
        prev = w >> _U56
        same = prev * _ALL_BLACK
    while n > 0 and out[n - 1] >= width:
        n -= 1
    out[n] = width
    out[n + 1] = width
    out[n + 2] = width
    return n


@_jit
def _put_long_run(buf, acc, nacc, op, colour, run):
    """A run of any length; those from 2624 on start with 2560 make-up codes (T.4 §4.1.2 note)."""
    while run >= _LONG_RUN:
        acc, nacc, op = _put(buf, acc, nacc, op, MAKEUP_CODE[colour, _MK_2560], MAKEUP_LEN[colour, _MK_2560])
        run -= MAX_MAKEUP
    return _put(buf, acc, nacc, op, RUN_CODE[colour, run], RUN_CODE_LEN[colour, run])


# The hot loops below write their codes with the body of `_put` inlined by hand: a numba
# call per code costs about four times the work it does.  (Re-measured in the clean-up:
# calling `_put`, even with numba's inline="always", made MH encoding of an A4 text page
# 2.5 times slower, 404 -> 158 pages/s in benchmarks/t4.py.)


@_jit
def _encode_row_1d(buf, acc, nacc, op, cur, n, width):
    """T.4 §4.1: alternating white/black runs, starting with white (possibly 0 long).

    Each run is one joined make-up + terminating code from RUN_CODE.
    """
    prev = 0
    colour = 0
    for i in range(n + 1):
        x = cur[i] if i < n else width
        run = x - prev
        prev = x
        if run >= _LONG_RUN:
            acc, nacc, op = _put_long_run(buf, acc, nacc, op, colour, run)
        else:
            length = RUN_CODE_LEN[colour, run]
            acc = (acc << length) | RUN_CODE[colour, run]
            nacc += length
            if nacc >= 32:
                nacc -= 32
                v = acc >> nacc
                buf[op] = (v >> 24) & 0xFF
                buf[op + 1] = (v >> 16) & 0xFF
                buf[op + 2] = (v >> 8) & 0xFF
                buf[op + 3] = v & 0xFF
                op += 4
                acc &= (1 << nacc) - 1
        colour ^= 1
    return acc, nacc, op


@_jit
def _encode_row_2d(buf, acc, nacc, op, cur, ref, width):
    """T.4 §4.2.1.3.2 / T.6 §2.2.3: code ``cur`` against reference changes ``ref``.

    Both lists end with ``width`` sentinels; even entries are changes to black.
    """
    a0 = -1
    colour = 0
    ai = 0
    bi = 0
    while a0 < width:
        while cur[ai] <= a0:
            ai += 1
        a1 = cur[ai]
        # b1: first changing element on the reference line right of a0, of the colour
        # opposite to a0's (index parity == colour); b2 the next one.
        while bi > 0 and ref[bi - 1] > a0:
            bi -= 1
        while ref[bi] <= a0:
            bi += 1
        if (bi & 1) != colour:
            bi += 1
        b1 = ref[bi]
        b2 = ref[bi + 1]
        code2 = 0
        len2 = 0
        if b2 < a1:
            code = _PASS
            length = 4
            a0 = b2
        elif -3 <= a1 - b1 <= 3:
            code = VERTICAL_CODE[a1 - b1 + 3]
            length = VERTICAL_LEN[a1 - b1 + 3]
            a0 = a1
            colour ^= 1
        else:
            a2 = cur[ai + 1]
            run1 = a1 - (a0 if a0 > 0 else 0)
            run2 = a2 - a1
            a0 = a2
            if run1 >= _LONG_RUN or run2 >= _LONG_RUN:
                acc, nacc, op = _put(buf, acc, nacc, op, _HORIZ, 3)
                acc, nacc, op = _put_long_run(buf, acc, nacc, op, colour, run1)
                acc, nacc, op = _put_long_run(buf, acc, nacc, op, colour ^ 1, run2)
                continue
            length = 3 + RUN_CODE_LEN[colour, run1]  # at most 28 bits: H + a0a1
            code = (_HORIZ << RUN_CODE_LEN[colour, run1]) | RUN_CODE[colour, run1]
            code2 = RUN_CODE[colour ^ 1, run2]
            len2 = RUN_CODE_LEN[colour ^ 1, run2]
        acc = (acc << length) | code
        nacc += length
        if nacc >= 32:
            nacc -= 32
            v = acc >> nacc
            buf[op] = (v >> 24) & 0xFF
            buf[op + 1] = (v >> 16) & 0xFF
            buf[op + 2] = (v >> 8) & 0xFF
            buf[op + 3] = v & 0xFF
            op += 4
            acc &= (1 << nacc) - 1
        if len2:
            acc = (acc << len2) | code2
            nacc += len2
            if nacc >= 32:
                nacc -= 32
                v = acc >> nacc
                buf[op] = (v >> 24) & 0xFF
                buf[op + 1] = (v >> 16) & 0xFF
                buf[op + 2] = (v >> 8) & 0xFF
                buf[op + 3] = v & 0xFF
                op += 4
                acc &= (1 << nacc) - 1
    return acc, nacc, op


@_jit
def _put_eol(buf, acc, nacc, op, row_start, coding, tag, align, min_bits):
    """Fill (to the minimum row length, then to octet alignment) and an EOL (+ MR tag).

    The minimum counts a row's data, fill and the EOL (with tag) that ends it.
    """
    eol_len = 13 if coding == 1 else 12
    pos = op * 8 + nacc
    if row_start >= 0 and pos - row_start + eol_len < min_bits:
        acc, nacc, op = _put_zeros(buf, acc, nacc, op, min_bits - (pos - row_start + eol_len))
    if align:
        pos = op * 8 + nacc
        acc, nacc, op = _put_zeros(buf, acc, nacc, op, (4 - pos) % 8)  # EOL then ends on a boundary
    if coding == 1:
        return _put(buf, acc, nacc, op, 2 | tag, 13)
    return _put(buf, acc, nacc, op, 1, 12)


@_jit
def _encode_kernel(rows64, width, coding, k, rtc, align, min_bits, buf):
    """Encode every row (as uint64 words) into ``buf``; returns the number of bytes written."""
    height = rows64.shape[0]
    cur = np.empty(width + 4, np.int64)
    ref = np.empty(width + 4, np.int64)
    ref[0] = width
    ref[1] = width
    ref[2] = width
    acc = 0
    nacc = 0
    op = 0
    row_start = -1
    for y in range(height):
        n = _row_changes(rows64[y], width, cur)
        if coding == 0:
            acc, nacc, op = _put_eol(buf, acc, nacc, op, row_start, coding, 0, align, min_bits)
            row_start = op * 8 + nacc
            acc, nacc, op = _encode_row_1d(buf, acc, nacc, op, cur, n, width)
        elif coding == 1:
            one_d = 1 if y % k == 0 else 0
            acc, nacc, op = _put_eol(buf, acc, nacc, op, row_start, coding, one_d, align, min_bits)
            row_start = op * 8 + nacc
            if one_d:
                acc, nacc, op = _encode_row_1d(buf, acc, nacc, op, cur, n, width)
            else:
                acc, nacc, op = _encode_row_2d(buf, acc, nacc, op, cur, ref, width)
        else:
            acc, nacc, op = _encode_row_2d(buf, acc, nacc, op, cur, ref, width)
        cur, ref = ref, cur
    if rtc:
        if coding == 2:
            acc, nacc, op = _put(buf, acc, nacc, op, 1, 12)
            acc, nacc, op = _put(buf, acc, nacc, op, 1, 12)
        else:
            acc, nacc, op = _put_eol(buf, acc, nacc, op, row_start, coding, 1, align, min_bits)
            for _ in range(5):
                acc, nacc, op = _put_eol(buf, acc, nacc, op, -1, coding, 1, False, 0)
    acc, nacc, op = _put(buf, acc, nacc, op, 0, (8 - nacc % 8) % 8)  # zero-pad the last octet
    while nacc > 0:
        nacc -= 8
        buf[op] = (acc >> nacc) & 0xFF
        op += 1
    return op


def _word_view(rows: np.ndarray) -> np.ndarray:
    """The page as uint64 words per row (zero-padded to a multiple of 8 pixels)."""
    height, width = rows.shape
    padded_w = (width + 7) // 8 * 8
    if padded_w != width or not rows.flags.c_contiguous:
        padded = np.zeros((height, padded_w), np.uint8)
        padded[:, :width] = rows
        rows = padded
    words = rows.view(np.uint64)
    return words if sys.byteorder == "little" else words.byteswap()  # pixel j at bits 8j


def _capacity(height: int, width: int, min_bits: int) -> int:
    # Safe bound per row: no mode spends more than 7 bits per pixel; + EOL, fill, flush.
    return height * ((max(min_bits + 16, 8 * width + 64) + 7) // 8 + 4) + 64


def encode_page(
    page: Page,
    coding: str,
    *,
    k: int = 2,
    rtc: bool = True,
    align_eol: bool = False,
    min_row_bits: int = 0,
) -> bytes:
    """Encode ``page`` as "mh", "mr" (every ``k``-th row 1-D) or "mmr"; MSB-first bytes.

    ``rtc``: end with RTC (MH/MR) or EOFB (MMR).  ``align_eol``: fill so each EOL ends on
    an octet boundary (MH/MR).  ``min_row_bits``: pad every MH/MR row (data + fill + the
    EOL after it) to at least this many bits, see `dsp.t4.bits.min_row_bits`; MMR is only
    sent with ECM and ignores it.  Rows should hold 0/1; any non-zero pixel is black.
    See the module docstring for the layout.
    """
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {sorted(CODINGS)}, got {coding!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if page.width < 1:
        raise ValueError("a page to encode needs at least one pixel per row")
    words = _word_view(page.rows)  # any non-zero pixel counts as black
    buf = np.empty(_capacity(page.height, page.width, min_row_bits), np.uint8)
    n = _encode_kernel(words, page.width, CODINGS[coding], k, rtc, align_eol, min_row_bits, buf)
    return buf[:n].tobytes()
