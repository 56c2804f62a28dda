"""The block-API shell every PSK/QAM transmitter shares (V.27 ter, V.29, and V.17 if it likes).

What: `PskTransmitter` owns the bit queue, the pulse shaper and the carrier; each
`transmit(n)` is one compiled call of the modem's *step* function, which asks the
modem's symbol generator for the symbols the n samples need and shapes them
(`shaping.modulate`).  One call per 20 ms block keeps the per-call cost small.

The generator contract (a numba function the modem module provides)::

    gen(count, state, scrambler, bits, bitpos, *gen_args) -> (symbols, bitpos, finished)

It fills up to `count` complex symbols (the training sequence, then data from
``bits[bitpos:]``, then the modem's closing symbols) and keeps its own position in the
int64 ``state`` array.  When ``bits`` runs out during data the data has ended (as when
spandsp's get_bit returns end-of-data): the generator pads the symbol with ones, sends
the closing ones, then a few zero symbols so the pulse tail dies away, and reports
``finished`` with fewer symbols than asked.  Feed all the bits you have before the
training ends; feeding more later only helps while the data has not ended.

The step function joins them (numba cannot cache a function taking another as argument,
so each modem spells out these three lines)::

    @njit(cache=True)
    def step(n, state, scr, bits, bitpos, tx_state, ring, coef, num, den, carrier, gain, *gen_args):
        symbols, bitpos, finished = gen(shaping.symbols_due(tx_state, n, num, den), state, scr,
                                        bits, bitpos, *gen_args)
        n = shaping.samples_until_starved(tx_state, n, len(symbols), num, den)
        return shaping.modulate(symbols, n, tx_state, ring, coef, num, den, carrier, gain), bitpos, finished
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import shaping

SAMPLE_RATE = 8000
#: spandsp's fax modems (and ours) send at -14 dBm0: RMS ~3220 on the int16 scale.
NOMINAL_RMS = 3220.0


def all_symbols(gen: Callable, state: np.ndarray, scrambler: np.ndarray, bits: np.ndarray,
                gen_args: tuple) -> np.ndarray:
    """Every symbol `gen` makes for a whole transmission of `bits` (training, data, closing,
    tail), asked for 256 at a time.  For tests and inspection."""
    bits = np.asarray(bits, np.uint8)
    out, pos = [], 0
    while True:
        s, pos, finished = gen(256, state, scrambler, bits, pos, *gen_args)
        out.append(s)
        if finished:
            return np.concatenate(out)


class PskTransmitter:
    """Bits in, 8000 Hz int16 samples out (DESIGN.md §3 Transmitter)."""

    def __init__(self, *, step: Callable, gen_args: tuple, state: np.ndarray, scrambler: np.ndarray,
                 shaper: shaping.TxShaper, carrier_hz: float, symbol_power: float) -> None:
        self._step = step
        self._gen_args = gen_args
        self._state = state
        self._scrambler = scrambler
        self._shaper = shaper
        self._carrier = shaping.carrier_table(carrier_hz)
        # Passband power = baseband power / 2; aim the data signal at NOMINAL_RMS.
        self._gain = NOMINAL_RMS / np.sqrt(symbol_power * shaper.power / 2.0)
        self._tx_state = np.zeros(shaping.TX_STATE_LEN, np.int64)
        self._ring = np.zeros(2 * shaper.coef.shape[1], np.complex128)
        self._bits = np.zeros(0, np.uint8)
        self._bitpos = 0
        self._finished = False

    def feed(self, bits: np.ndarray) -> None:
        """Queue data bits (uint8 0/1, first bit first)."""
        rest = self._bits[self._bitpos:]
        self._bits = np.concatenate((rest, np.asarray(bits, dtype=np.uint8)))
        self._bitpos = 0

    def transmit(self, n: int) -> np.ndarray:
        """Up to n samples; fewer than n means the transmission has finished."""
        if self._finished or n <= 0:
            return np.zeros(0, np.int16)
        sh = self._shaper
        out, self._bitpos, finished = self._step(
            n, self._state, self._scrambler, self._bits, self._bitpos, self._tx_state, self._ring,
            sh.coef, sh.num, sh.den, self._carrier, self._gain, *self._gen_args)
        self._finished = finished
        return out

    @property
    def finished(self) -> bool:
        return self._finished
