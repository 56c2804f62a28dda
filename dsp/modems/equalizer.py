"""T/2 fractionally spaced adaptive equalizer (complex LMS), for the PSK/QAM receivers.

What: a transversal filter over baseband samples taken twice per symbol.  Its output,
once per symbol, is the equalised signal element; training adapts the taps towards
known symbols, then decisions take over (decision-directed), both with the LMS rule
``taps += mu * error * conj(input)``.  Spacing at T/2 makes the equalizer insensitive
to the sampling phase (it interpolates by itself), so timing recovery only has to hold
the phase steady, not exact.

Layout: ``ring`` is a complex array of length 2*N holding the last N inputs twice, so the
N newest are always the contiguous slice ``ring[pos:pos+N]`` (newest first);
``taps[j]`` weighs the j-th newest input.  The centre tap ``N // 2`` (N odd, (N-1)/2 even)
sits on a symbol-instant sample, so a new equalizer starts as ``taps = unit(N)``.

Use from a compiled symbol loop: `push`, `output`, `adapt`; all `numba.njit`, with
``fn.py_func`` as the plain-Python reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def unit(n_taps: int, gain: float = 1.0) -> np.ndarray:
    """Taps of a pass-through equalizer (centre tap = gain)."""
    if n_taps % 2 == 0 or ((n_taps - 1) // 2) % 2:
        raise ValueError("equalizer length must be odd with an even centre index (4k+1)")
    taps = np.zeros(n_taps, np.complex128)
    taps[n_taps // 2] = gain
    return taps


@njit(cache=True, inline="always")
def push(ring, pos, x):
    """Insert the newest T/2 sample; returns the new position."""
    n = len(ring) // 2
    pos -= 1
    if pos < 0:
        pos += n
    ring[pos] = x
    ring[pos + n] = x
    return pos


@njit(cache=True, inline="always")
def output(taps, ring, pos):
    """The equalised symbol: sum of taps[j] * j-th newest input."""
    acc = 0j
    for j in range(len(taps)):
        acc += taps[j] * ring[pos + j]
    return acc


@njit(cache=True, inline="always")
def adapt(taps, ring, pos, err, mu):
    """LMS step: taps += mu * err * conj(input).  `err` is in the equalizer's own frame
    (target minus output, rotated back by any carrier correction applied after it)."""
    g = mu * err
    for j in range(len(taps)):
        taps[j] += g * ring[pos + j].conjugate()


@njit(cache=True)
def scale(ring, factor):
    """Rescale the stored inputs (when the AGC gain changes mid-stream)."""
    for j in range(len(ring)):
        ring[j] *= factor
