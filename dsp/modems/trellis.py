"""V.17 trellis coding: constellations, differential + convolutional encoder, Viterbi decoder.

What it does: maps each group of scrambled data bits to a V.17 signal point and back.
How (ITU-T V.17 §2.3-2.4, the same code as V.32 bis): the first two bits of a group,
Q1 Q2, are differentially encoded into Y1 Y2 (a modulo-4 sum with the previous Y1 Y2,
Table 1/V.17), fed to the 8-state systematic convolutional encoder (Figure 2/V.17)
which adds the redundant bit Y0, and Y0 Y1 Y2 Q3 ... Qn select the point in the signal
space diagram of the rate (Figures 3-6/V.17). The code of a point is the integer
Y0 | Y1 << 1 | Y2 << 2 | Q3 << 3 | ...; its three low bits name one of 8 subsets.

The receiver's Viterbi decoder keeps, for each of the 8 encoder states, the best
accumulated squared distance and the survivor path; from state s the encoder can
only emit subsets (y << 1) | (s & 1), y = 0..3, so each symbol costs: the nearest point
of every subset (a brute-force pass over the constellation), 32 add-compare-selects,
and one traceback of `TRACEBACK` symbols. The loop carries state from symbol to symbol,
so it is compiled with numba; `viterbi_block_py` is the same loop in plain Python,
kept as the reference the tests compare against.
"""

from __future__ import annotations

import enum
import functools

import numpy as np
from numba import njit

class Kind(enum.IntEnum):
    """What a symbol handed to the decoder is."""

    DATA = 0
    START = 1       # a data symbol that starts a new transmission: reset the trellis first
    FLUSH = 2       # no symbol: the carrier went, emit what the trellis still holds
    ERASURE = 3     # a symbol lost (fill-in) or unreliable: branch metric 0, no information
    START_ERASURE = 4   # START, but the symbol itself was lost


#: Bits of data per symbol at each V.17 rate (the redundant bit not counted).
BITS_PER_SYMBOL = {7200: 3, 9600: 4, 12000: 5, 14400: 6}

#: Symbols of traceback: ~5x the code memory of 3 is the textbook figure; 24 costs
#: nothing measurable and gains over 16 at low SNR.
TRACEBACK = 24

# Signal space diagrams, Figures 3-6/V.17 (also V.32 bis), listed by point code.
_POINTS_14400 = """
-8 -3 9 2 2 -9 -3 8 8 3 -9 -2 -2 9 3 -8 -8 1 9 -2 -2 -9 1 8 8 -1 -9 2 2 9 -1 -8
-4 -3 5 2 2 -5 -3 4 4 3 -5 -2 -2 5 3 -4 -4 1 5 -2 -2 -5 1 4 4 -1 -5 2 2 5 -1 -4
4 -3 -3 2 2 3 -3 -4 -4 3 3 -2 -2 -3 3 4 4 1 -3 -2 -2 3 1 -4 -4 -1 3 2 2 -3 -1 4
0 -3 1 2 2 -1 -3 0 0 3 -1 -2 -2 1 3 0 0 1 1 -2 -2 -1 1 0 0 -1 -1 2 2 1 -1 0
8 -3 -7 2 2 7 -3 -8 -8 3 7 -2 -2 -7 3 8 8 1 -7 -2 -2 7 1 -8 -8 -1 7 2 2 -7 -1 8
-4 -7 5 6 6 -5 -7 4 4 7 -5 -6 -6 5 7 -4 -4 5 5 -6 -6 -5 5 4 4 -5 -5 6 6 5 -5 -4
4 -7 -3 6 6 3 -7 -4 -4 7 3 -6 -6 -3 7 4 4 5 -3 -6 -6 3 5 -4 -4 -5 3 6 6 -3 -5 4
0 -7 1 6 6 -1 -7 0 0 7 -1 -6 -6 1 7 0 0 5 1 -6 -6 -1 5 0 0 -5 -1 6 6 1 -5 0
"""
_POINTS_12000 = """
7 1 -5 -1 -1 5 1 -7 -7 -1 5 1 1 -5 -1 7 3 -3 -1 3 3 1 -3 -3 -3 3 1 -3 -3 -1 3 3
7 -7 -5 7 7 5 -7 -7 -7 7 5 -7 -7 -5 7 7 -1 -7 3 7 7 -3 -7 1 1 7 -3 -7 -7 3 7 -1
3 5 -1 -5 -5 1 5 -3 -3 -5 1 5 5 -1 -5 3 -1 1 3 -1 -1 -3 1 1 1 -1 -3 1 1 3 -1 -1
-5 5 7 -5 -5 -7 5 5 5 -5 -7 5 5 7 -5 -5 -5 -3 7 3 3 -7 -3 5 5 3 -7 -3 -3 7 3 -5
"""
_POINTS_9600 = """
-8 2 -6 -4 -4 6 2 8 8 -2 6 4 4 -6 -2 -8 0 2 -6 4 4 6 2 0 0 -2 6 -4 -4 -6 -2 0
0 -6 2 -4 -4 -2 -6 0 0 6 -2 4 4 2 6 0 8 2 2 4 4 -2 2 -8 -8 -2 -2 -4 -4 2 -2 8
"""
_POINTS_7200 = """
6 -6 -2 6 6 2 -6 -6 -6 6 2 -6 -6 -2 6 6 -2 2 6 -2 -2 -6 2 2 2 -2 -6 2 2 6 -2 -2
"""


def _points(text: str) -> np.ndarray:
    v = np.array(text.split(), dtype=np.float64)
    return v[0::2] + 1j * v[1::2]


#: Constellation points by rate, indexed by point code.
CONSTELLATIONS = {
    14400: _points(_POINTS_14400),
    12000: _points(_POINTS_12000),
    9600: _points(_POINTS_9600),
    7200: _points(_POINTS_7200),
}

#: The four training points A, B, C, D (Figure 7/V.17 segment 1-3 points).
TRAINING_POINTS = np.array([-6 - 2j, 2 - 6j, 6 + 2j, -2 + 6j])


def _next_state_table() -> np.ndarray:
    """Next-state table of the convolutional encoder of Figure 2/V.17, [state][Y2 Y1].

    State bits (a, b, c) = (bit0, bit1, bit2); the redundant bit emitted from state s
    is its bit a, whatever the input (the encoder is systematic with feedback).
    """
    table = np.zeros((8, 4), dtype=np.int64)
    for s in range(8):
        a, b, c = s & 1, (s >> 1) & 1, (s >> 2) & 1
        for y in range(4):
            y1, y2 = y & 1, y >> 1
            n0 = y2 ^ b ^ (y1 & a)
            n1 = y2 ^ y1 ^ c ^ ((y2 ^ b) & a)
            table[s, y] = n0 | (n1 << 1) | (a << 2)
    return table


NEXT_STATE = _next_state_table()


# The space map: the plane cut into cells of 1/GRID_RES; per cell, the code of the point
# of each subset nearest the cell centre (what spandsp calls space maps, built here).
GRID_RES = 2.0
GRID_HALF = 11.0
GRID_N = int(2 * GRID_HALF * GRID_RES)


@functools.cache
def space_map(rate: int) -> np.ndarray:
    """uint8[GRID_N, GRID_N, 8]: per cell and subset, the nearest point code."""
    points = CONSTELLATIONS[rate]
    centres = (np.arange(GRID_N) + 0.5) / GRID_RES - GRID_HALF
    z = centres[:, None] + 1j * centres[None, :]
    dist = np.abs(z[:, :, None] - points[None, None, :]) ** 2
    out = np.empty((GRID_N, GRID_N, 8), dtype=np.uint8)
    codes = np.arange(len(points))
    for c in range(8):
        members = codes[(codes & 7) == c]
        out[:, :, c] = members[np.argmin(dist[:, :, members], axis=2)]
    return out


def encode_symbol(q: int, diff: int, conv: int) -> tuple[int, int, int]:
    """One group of data bits q (Q1 = bit 0) -> (point code, new diff, new conv state).

    Table 1/V.17: Y1 Y2 = (Q1 Q2 + previous Y1 Y2) mod 4, read as 2-bit numbers.
    """
    y = (diff + q) & 3
    code = ((q >> 2) << 3) | (y << 1) | (conv & 1)
    return code, y, int(NEXT_STATE[conv, y])


def nearest_codes(z: complex, points: np.ndarray) -> int:
    """Code of the constellation point nearest z (the hard decision, for the tests)."""
    return int(np.argmin(np.abs(points - z)))


# ---------------------------------------------------------------------------------
# Viterbi decoder.  State arrays (kept by the caller, one set per receiver):
#   metric  float64[8]                accumulated distance per encoder state
#   paths   int64[TRACEBACK, 8]       survivor point code per (time slot, state)
#   prev    int64[TRACEBACK, 8]       survivor predecessor state
#   ctr     int64[3]                  [slot pointer, symbols since reset, diff state]
# kinds: Kind values.
# For every decoded symbol the differentially decoded group is written to out_bits
# (bits_per_symbol bits, Q1 first), the index of the input symbol that released it to
# out_at, and to out_keep 0 for the first skip_first groups after a reset (the V.17
# segment 4 ones, which the descrambler still needs to see), 1 after.
# ---------------------------------------------------------------------------------


def _emit(code: int, ctr: np.ndarray, nbits: int, skip_first: int, out_bits: np.ndarray,
          out_at: np.ndarray, out_keep: np.ndarray, n_out: int, at: int) -> int:
    y = (code >> 1) & 3
    q = ((code >> 3) << 2) | ((y - ctr[2]) & 3)
    ctr[2] = y
    ctr[1] += 1
    keep = 1 if ctr[1] > skip_first else 0
    for i in range(nbits):
        out_bits[n_out] = (q >> i) & 1
        out_at[n_out] = at
        out_keep[n_out] = keep
        n_out += 1
    return n_out


def viterbi_block_py(symbols, kinds, points, space_map, nbits, skip_first, metric, paths, prev, ctr,
                     next_state, out_bits, out_at, out_keep):
    """Decode a block of equalized symbols; returns the number of bits written."""
    depth = paths.shape[0]
    d = np.empty(8)
    best = np.empty(8, dtype=np.int64)
    new_metric = np.empty(8)
    n_out = 0
    for k in range(symbols.shape[0]):
        kind = kinds[k]
        if kind == Kind.START or kind == Kind.START_ERASURE:
            for s in range(8):
                metric[s] = 1e9
                for t in range(depth):
                    paths[t, s] = 0
                    prev[t, s] = 0
            metric[0] = 0.0
            ctr[0] = 0
            ctr[1] = -(depth - 1)       # the first depth-1 outputs precede the transmission
            ctr[2] = 0
        if kind == Kind.FLUSH:
            # Flush: trace back from the best state and emit the pending symbols, oldest first.
            pending = depth - 1
            if ctr[1] < 0:
                pending = depth - 1 + ctr[1]
            if pending <= 0:
                continue
            s_best = 0
            for s in range(1, 8):
                if metric[s] < metric[s_best]:
                    s_best = s
            codes = np.empty(pending, dtype=np.int64)
            slot = ctr[0]
            s = s_best
            for i in range(pending):
                codes[pending - 1 - i] = paths[slot, s]
                s = prev[slot, s]
                slot = (slot - 1) % depth
            ctr[1] = max(ctr[1], 0)
            for i in range(pending):
                n_out = _emit(codes[i], ctr, nbits, skip_first, out_bits, out_at, out_keep, n_out, k)
            ctr[1] = -(depth - 1)       # nothing more until the next reset
            continue
        z = symbols[k]
        # Nearest point of each of the 8 subsets, from the space map cell of z.
        gx = int((z.real + GRID_HALF) * GRID_RES)
        gy = int((z.imag + GRID_HALF) * GRID_RES)
        if gx < 0:
            gx = 0
        elif gx >= GRID_N:
            gx = GRID_N - 1
        if gy < 0:
            gy = 0
        elif gy >= GRID_N:
            gy = GRID_N - 1
        erased = kind == Kind.ERASURE or kind == Kind.START_ERASURE
        for c in range(8):
            p = space_map[gx, gy, c]
            dr = z.real - points[p].real
            di = z.imag - points[p].imag
            d[c] = 0.0 if erased else dr * dr + di * di
            best[c] = p
        # Add-compare-select over the 32 branches.
        slot = ctr[0] + 1
        if slot == depth:
            slot = 0
        for s in range(8):
            new_metric[s] = 1e18
        for s in range(8):
            a = s & 1
            for y in range(4):
                c = (y << 1) | a
                m = metric[s] + d[c]
                ns = next_state[s, y]
                if m < new_metric[ns]:
                    new_metric[ns] = m
                    paths[slot, ns] = best[c]
                    prev[slot, ns] = s
        lo = new_metric[0]
        s_best = 0
        for s in range(1, 8):
            if new_metric[s] < lo:
                lo = new_metric[s]
                s_best = s
        for s in range(8):
            metric[s] = new_metric[s] - lo
        ctr[0] = slot
        # Trace back depth-1 steps from the best state; emit the oldest symbol.
        s = s_best
        t = slot
        for i in range(depth - 1):
            s = prev[t, s]
            t -= 1
            if t < 0:
                t = depth - 1
        code = paths[t, s]
        if ctr[1] < 0:
            ctr[1] += 1
            continue
        n_out = _emit(code, ctr, nbits, skip_first, out_bits, out_at, out_keep, n_out, k)
    return n_out


_emit_jit = njit(cache=True)(_emit)


def _make_jit():
    # The compiled twin: the same source, with _emit resolved to its compiled version.
    import types
    g = dict(viterbi_block_py.__globals__)
    g["_emit"] = _emit_jit
    fn = types.FunctionType(viterbi_block_py.__code__, g, "viterbi_block")
    return njit(cache=True)(fn)


viterbi_block = _make_jit()


class ViterbiDecoder:
    """Trellis decoder state for one receiver; `decode` takes blocks of symbols."""

    def __init__(self, rate: int, compiled: bool = True) -> None:
        self.points = CONSTELLATIONS[rate]
        self.nbits = BITS_PER_SYMBOL[rate]
        self.space_map = space_map(rate)
        self.metric = np.zeros(8)
        self.paths = np.zeros((TRACEBACK, 8), dtype=np.int64)
        self.prev = np.zeros((TRACEBACK, 8), dtype=np.int64)
        self.ctr = np.array([0, -(TRACEBACK - 1), 0], dtype=np.int64)
        self._fn = viterbi_block if compiled else viterbi_block_py

    def decode(self, symbols: np.ndarray, kinds: np.ndarray, skip_first: int = 0):
        """(bits, at, keep): decoded bits, per bit the index of the symbol that released
        it, and whether it comes after the first skip_first groups of its transmission."""
        n = len(symbols)
        out_bits = np.empty((n + TRACEBACK) * self.nbits, dtype=np.uint8)
        out_at = np.empty(len(out_bits), dtype=np.int64)
        out_keep = np.empty(len(out_bits), dtype=np.uint8)
        m = self._fn(np.asarray(symbols, dtype=np.complex128), np.asarray(kinds, dtype=np.int8), self.points,
                     self.space_map,
                     self.nbits, skip_first, self.metric, self.paths, self.prev, self.ctr,
                     NEXT_STATE, out_bits, out_at, out_keep)
        return out_bits[:m], out_at[:m], out_keep[:m]
