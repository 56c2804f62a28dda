"""Pulse shaping, matched filtering and carrier mixing for the PSK/QAM modems.

What: the pieces between symbols and audio that V.27ter, V.29 and V.17 share.

- `rrc(t, alpha)`: the root-raised-cosine pulse (time in symbols).  Transmitter and
  receiver each apply one, so together they form a raised-cosine (Nyquist) channel: no
  intersymbol interference at the symbol instants.  V.29 uses alpha 0.25 (its band is
  1700 +- 1500 Hz), V.27 ter 0.5, V.17 0.5 (spandsp's choices; the recommendations only
  bound the spectrum).
- `TxShaper`: a polyphase interpolator from symbols to 8000 Hz.  The symbol rate is a
  ratio ``num/den`` of the sample rate (V.29: 2400/8000 = 3/10, V.27 ter 4800: 1/5,
  2400: 3/20, V.17: 3/10), so every output sample falls on one of ``den`` exact phases
  of the pulse: one coefficient row per phase, no drift, integer state.
- `carrier_table(hz)`: exp(j 2 pi hz n / 8000) over one exact period (80 samples for 1700
  Hz, 40 for 1800 Hz).  Indexing it by the sample count modulo the period gives the same
  carrier whatever the block sizes — no accumulated phase rounding.
- `modulate`: the compiled transmit loop — symbols in, int16 passband samples out, state
  (phase accumulator, filter ring, carrier index) carried across calls.
- `RxBank` / `rx_filter_at`: the receiver's matched filter as a bank of ``P`` fractional
  phases, evaluated directly at any time ``m + p/P`` on the complex baseband history
  (the input already mixed down by the carrier table).  This merges matched filtering
  and timing interpolation: the symbol loop asks for the T/2 samples it needs, and the
  filter is only computed there.

All compiled functions are `numba.njit`; ``fn.py_func`` is the plain-Python reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

SAMPLE_RATE = 8000


def rrc(t: np.ndarray, alpha: float) -> np.ndarray:
    """Root-raised-cosine impulse response at times `t` (in symbol periods), peak 1-a+4a/pi."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    a = alpha
    sing = 1.0 / (4.0 * a)
    for i, x in np.ndenumerate(t):
        if abs(x) < 1e-9:
            out[i] = 1.0 - a + 4.0 * a / math.pi
        elif abs(abs(x) - sing) < 1e-9:
            out[i] = (a / math.sqrt(2.0)) * ((1 + 2 / math.pi) * math.sin(math.pi / (4 * a))
                                             + (1 - 2 / math.pi) * math.cos(math.pi / (4 * a)))
        else:
            out[i] = (math.sin(math.pi * x * (1 - a)) + 4 * a * x * math.cos(math.pi * x * (1 + a))) / (
                math.pi * x * (1 - (4 * a * x) ** 2))
    return out


def carrier_table(hz: float) -> np.ndarray:
    """exp(j 2 pi hz n / 8000) for n over one exact period of the carrier."""
    period = SAMPLE_RATE // math.gcd(SAMPLE_RATE, int(round(hz)))
    n = np.arange(period)
    return np.exp(2j * np.pi * hz * n / SAMPLE_RATE)


@dataclass(frozen=True)
class TxShaper:
    """Polyphase RRC interpolator for symbol rate ``num/den`` x 8000 Hz.

    ``coef[p, j]`` weighs the j-th newest symbol when the output sample sits ``p/den`` of
    a symbol after the newest one; ``taps`` symbols are in the ring.
    """

    num: int
    den: int
    coef: np.ndarray  # (den, taps)
    power: float      # mean output power per unit symbol power (for level setting)

    @staticmethod
    def design(baud: int, alpha: float, taps: int) -> "TxShaper":
        g = math.gcd(baud, SAMPLE_RATE)
        num, den = baud // g, SAMPLE_RATE // g
        centre = (taps - 1) / 2.0
        p = np.arange(den)[:, None] / den
        j = np.arange(taps)[None, :]
        t = p + j - centre
        win = np.cos(np.pi * t / (taps + 1)) ** 2  # gentle taper over the span
        coef = rrc(t, alpha) * win
        # Average over phases of sum_j coef^2 = mean baseband power per unit symbol power.
        power = float(np.mean(np.sum(coef**2, axis=1)))
        return TxShaper(num, den, coef, power)

    def symbols_needed(self, acc: int, n: int) -> int:
        """New symbols the next n samples consume, from phase accumulator `acc`."""
        return (acc + n * self.num) // self.den


@njit(cache=True)
def symbols_due(state, n, num, den):
    """New symbols the next n samples consume (compiled twin of `TxShaper.symbols_needed`)."""
    return (state[TX_ACC] + n * num) // den


@njit(cache=True)
def samples_until_starved(state, n, available, num, den):
    """How many of the next n samples `available` new symbols can feed: all n, or (when a
    transmission has run out of symbols) the samples before another symbol is due."""
    if (state[TX_ACC] + n * num) // den <= available:
        return n
    m = ((available + 1) * den - state[TX_ACC] + num - 1) // num - 1
    return max(0, min(n, m))


# Transmit state layout (int64): phase accumulator, ring write position, carrier index.
TX_ACC = 0
TX_RING = 1
TX_CARRIER = 2
TX_STATE_LEN = 3


@njit(cache=True)
def modulate(symbols, n, state, ring, coef, num, den, carrier, gain):
    """n passband int16 samples from the new `symbols` (exactly `symbols_needed` of them).

    ``ring`` (complex, length 2*taps) holds the last symbols twice over so the filter reads
    one contiguous slice; ``state`` is the TX_* layout above.
    """
    taps = coef.shape[1]
    out = np.empty(n, np.int16)
    acc = state[TX_ACC]
    pos = state[TX_RING]
    ci = state[TX_CARRIER]
    period = len(carrier)
    k = 0
    for i in range(n):
        acc += num
        if acc >= den:
            acc -= den
            pos -= 1
            if pos < 0:
                pos += taps
            ring[pos] = symbols[k]
            ring[pos + taps] = symbols[k]
            k += 1
        re = 0.0
        im = 0.0
        row = coef[acc]
        for j in range(taps):
            c = row[j]
            v = ring[pos + j]
            re += c * v.real
            im += c * v.imag
        z = carrier[ci]
        x = (re * z.real - im * z.imag) * gain
        ci += 1
        if ci == period:
            ci = 0
        x = math.floor(x + 0.5)
        if x > 32767.0:
            x = 32767.0
        elif x < -32768.0:
            x = -32768.0
        out[i] = np.int16(x)
    state[TX_ACC] = acc
    state[TX_RING] = pos
    state[TX_CARRIER] = ci
    return out


@dataclass(frozen=True)
class RxBank:
    """Matched RRC filter at 8000 Hz as ``phases`` fractional-delay rows.

    ``bank[p, k]`` multiplies baseband sample ``m + half - k`` to give the filter output at
    time ``m + p/phases``; rows span ``2*half`` samples, unit gain at DC.  ``rev`` is the
    same rows reversed (oldest sample first), the order `rx_filter_at` reads them in.
    """

    bank: np.ndarray  # (phases, 2*half)
    rev: np.ndarray   # bank[:, ::-1], contiguous
    half: int
    phases: int
    sps: float        # samples per symbol

    @staticmethod
    def design(baud: float, alpha: float, span_symbols: float, phases: int = 64) -> "RxBank":
        sps = SAMPLE_RATE / baud
        half = int(math.ceil(span_symbols * sps / 2.0))
        p = np.arange(phases)[:, None] / phases
        k = np.arange(2 * half)[None, :]
        tau = p + k - half  # sample offset of the tap from the evaluation time
        win = np.cos(np.pi * tau / (2 * half + 2)) ** 2
        bank = rrc(tau / sps, alpha) * win
        bank /= np.sum(bank[0])  # unit gain at DC; the receiver's AGC sets the level
        return RxBank(bank, np.ascontiguousarray(bank[:, ::-1]), half, phases, sps)


@njit(cache=True, inline="always")
def rx_filter_at(hist, newest, offset, frac_phase, rev, half):
    """Matched-filter output at time ``newest + offset + frac_phase/P``.

    `hist` is a doubled complex ring of baseband samples (length 2L: sample i of the ring
    is stored at i and i+L) so the 2*half taps are one contiguous forward read;
    ``newest`` is the ring index (< L) of the newest sample, ``offset`` (<= -half) how far
    back the evaluation time's integer part lies, `rev` the reversed bank (`RxBank.rev`).
    """
    L = len(hist) // 2
    s0 = newest + offset - half + 1  # ring index of the oldest tap sample
    while s0 < 0:
        s0 += L
    row = rev[frac_phase]
    re = 0.0
    im = 0.0
    for k in range(2 * half):
        v = hist[s0 + k]
        c = row[k]
        re += c * v.real
        im += c * v.imag
    return complex(re, im)
