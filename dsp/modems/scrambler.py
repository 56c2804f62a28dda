"""Self-synchronising scramblers of the PSK/QAM fax modems.

What: the two scramblers the fax modems use, transmit and receive side, as small compiled
functions over bit arrays with their state carried in an int64 array between calls.

- **V.29 / V.17** (V.29 §5, V.17 §5): polynomial 1 + x^-18 + x^-23.  The transmitter sends
  ``out = in ^ out[-18] ^ out[-23]``; the receiver recovers ``in = line ^ line[-18] ^
  line[-23]`` from the last 23 line bits, so it synchronises by itself after 23 bits.
- **V.27ter** (V.27 ter §2.5, figure 2): polynomial 1 + x^-6 + x^-7 plus a *guard*: the
  transmitter counts consecutive output bits for which the output equals the bits 8, 9
  and 12 places back (periods 1, 2, 3, 4, 6, 9, 12 ... repeat); when the count reaches 33
  the next output bit is inverted and the count restarts.  The receiver keeps the same
  count over the line bits and undoes the inversion, so both stay in step.

State layout (int64 array of 2): ``[register, guard_count]``; the register holds line
bits, the newest in bit 0.  `v27ter_state(0x3C)` gives the state spandsp (and V.27 ter's
training, segment 4) starts from; `v29_state()` starts from zero.

`apply` is a `numba.njit` dispatcher; ``apply.py_func`` is the plain-Python reference of
the same loop (tests check both agree).  Per-bit helpers (``*_bit``) are what a
modem's own compiled symbol loop calls.
"""

from __future__ import annotations

import numpy as np
from numba import njit

REG = 0
COUNT = 1


def v29_state(register: int = 0) -> np.ndarray:
    """Scrambler state for 1 + x^-18 + x^-23 (V.29, V.17)."""
    return np.array([register, 0], dtype=np.int64)


def v27ter_state(register: int = 0x3C) -> np.ndarray:
    """Scrambler state for V.27 ter (1 + x^-6 + x^-7 with the 33-bit guard)."""
    return np.array([register, 0], dtype=np.int64)


@njit(cache=True, inline="always")
def v29_scramble_bit(state, bit):
    """One bit through the 1 + x^-18 + x^-23 scrambler; returns the line bit."""
    reg = state[REG]
    out = (bit ^ (reg >> 17) ^ (reg >> 22)) & 1
    state[REG] = ((reg << 1) | out) & 0x7FFFFF
    return out


@njit(cache=True, inline="always")
def v29_descramble_bit(state, line_bit):
    """One line bit through the matching descrambler; returns the data bit."""
    reg = state[REG]
    out = (line_bit ^ (reg >> 17) ^ (reg >> 22)) & 1
    state[REG] = ((reg << 1) | line_bit) & 0x7FFFFF
    return out


@njit(cache=True, inline="always")
def _v27ter_guard(state, reg, line_bit):
    """The 33-bit guard (§2.5) over the line bits: 1 when this bit is the one to invert
    (the count reached 33), else 0, with the count restarted whenever the line bit equals
    the bits 8, 9 and 12 places back.  Transmitter and receiver keep the same count."""
    if state[COUNT] >= 33:
        state[COUNT] = 0
        return 1
    if ((reg >> 7) ^ line_bit) & ((reg >> 8) ^ line_bit) & ((reg >> 11) ^ line_bit) & 1:
        state[COUNT] = 0
    else:
        state[COUNT] += 1
    return 0


@njit(cache=True, inline="always")
def v27ter_scramble_bit(state, bit):
    """One bit through the V.27 ter scrambler with its guard (§2.5); returns the line bit."""
    reg = state[REG]
    out = (bit ^ (reg >> 5) ^ (reg >> 6)) & 1
    out ^= _v27ter_guard(state, reg, out)
    state[REG] = ((reg << 1) | out) & 0xFFF
    return out


@njit(cache=True, inline="always")
def v27ter_descramble_bit(state, line_bit):
    """One line bit through the V.27 ter descrambler (mirror of the guard); the data bit."""
    reg = state[REG]
    out = (line_bit ^ (reg >> 5) ^ (reg >> 6)) & 1
    out ^= _v27ter_guard(state, reg, line_bit)
    state[REG] = ((reg << 1) | line_bit) & 0xFFF
    return out


#: What `apply` does to a bit array.
V29_SCRAMBLE, V29_DESCRAMBLE, V27TER_SCRAMBLE, V27TER_DESCRAMBLE = range(4)


@njit(cache=True)
def apply(bits, state, kind):
    """Run a uint8 bit array through one of the four (`kind`); state updated in place."""
    out = np.empty(len(bits), np.uint8)
    for i in range(len(bits)):
        b = np.int64(bits[i])
        if kind == V29_SCRAMBLE:
            out[i] = v29_scramble_bit(state, b)
        elif kind == V29_DESCRAMBLE:
            out[i] = v29_descramble_bit(state, b)
        elif kind == V27TER_SCRAMBLE:
            out[i] = v27ter_scramble_bit(state, b)
        else:
            out[i] = v27ter_descramble_bit(state, b)
    return out


def v29_scramble(bits: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Scramble a uint8 bit array (V.29/V.17 polynomial); state updated in place."""
    return apply(bits, state, V29_SCRAMBLE)


def v29_descramble(bits: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Descramble a uint8 line-bit array (V.29/V.17 polynomial); state updated in place."""
    return apply(bits, state, V29_DESCRAMBLE)


def v27ter_scramble(bits: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Scramble a uint8 bit array the V.27 ter way; state updated in place."""
    return apply(bits, state, V27TER_SCRAMBLE)


def v27ter_descramble(bits: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Descramble a uint8 line-bit array the V.27 ter way; state updated in place."""
    return apply(bits, state, V27TER_DESCRAMBLE)
