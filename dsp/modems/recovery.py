"""Synchronisation pieces of the PSK/QAM receivers: levels, carrier detect, carrier and timing.

What and why:

- **Levels** (`dbm0_mean_square`): carrier detect works on the mean square of the raw
  int16 input over fixed 40-sample (5 ms) windows counted from the receiver's start, so
  decisions fall on the same samples whatever the block sizes.  0 dBm0 is RMS 16141
  (project convention, `dsp.g711`).
- **Carrier detect with hysteresis that survives line noise**: "on" needs an absolute
  level (about -48 dBm0, below the weakest signal we must take: -14 dBm0 sent, 30 dB
  loss) *and* the training's alternation pattern, so steady noise never raises it.
  "Off" is relative: the level falls 9 dB below what training measured (or under an
  absolute floor) for two windows in a row.  Continuing noise after the carrier stops is
  then still "off", unlike a fixed threshold under which noise keeps a carrier "up".
- **Symbol timing from the alternation** (`alternation_timing`): a segment of alternating
  symbols makes |y(t)|^2 after the matched filter a tone at the symbol rate whose phase
  marks the symbol instants; one correlation over ~10 ms gives the timing outright.
- **Gardner timing error** (`gardner`): Re{conj(y(k-1/2)) (y(k) - y(k-1))} is positive
  when sampling late; a first order loop plus a small integrator (clock offset) tracks it.
- **Carrier PLL** (`pll_step`): second order loop on the decision (or training) phase
  error, applied as a rotation after the equalizer, so ±10 Hz offsets and drift are
  followed symbol by symbol.

All compiled helpers are `numba.njit`; ``fn.py_func`` is the plain-Python reference.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp import g711

WINDOW = 40  # samples per carrier-detect window (5 ms)


def dbm0_mean_square(dbm0: float) -> float:
    """Mean square on the int16 scale of a signal at `dbm0`."""
    return g711.dbm0_to_rms(dbm0) ** 2


@njit(cache=True, inline="always")
def gardner(y_prev, y_mid, y_cur):
    """Gardner timing error: > 0 when the symbol samples are late."""
    d = y_cur - y_prev
    return y_mid.real * d.real + y_mid.imag * d.imag


@njit(cache=True, inline="always")
def phase_error(r, ref):
    """Angle of r relative to ref, in radians (-pi..pi)."""
    z = r * ref.conjugate()
    return math.atan2(z.imag, z.real)


@njit(cache=True, inline="always")
def pll_step(phase, freq, err, k1, k2):
    """One symbol of the second order carrier loop; returns (phase, freq) for the next
    symbol.  `phase` and `freq` in radians and radians per symbol."""
    freq += k2 * err
    phase += freq + k1 * err
    if phase > math.pi:
        phase -= 2.0 * math.pi
    elif phase < -math.pi:
        phase += 2.0 * math.pi
    return phase, freq


def alternation_timing(power_tone: complex) -> float:
    """Symbol-instant phase (fraction of a symbol, 0..1) from the symbol-rate component
    sum |y(t)|^2 exp(-j 2 pi t / T) of an alternation: |y|^2 peaks at the symbol instants."""
    return (-np.angle(power_tone) / (2.0 * np.pi)) % 1.0
