"""The block-API shell every PSK/QAM transmitter shares (V.27 ter, V.29, and V.17 if it likes).

What: `PskTransmitter` owns the bit queue, the pulse shaper and the carrier, and asks a
modem-specific compiled *symbol generator* for the next symbols.  Each `transmit(n)` is
two compiled calls: symbols for the n samples, then `shaping.modulate`.

The generator contract (a numba function the modem module provides)::

    gen(count, state, scrambler, bits, bitpos) -> (symbols, bitpos, finished)

It fills up to `count` complex symbols (the training sequence, then data from
``bits[bitpos:]``, then the modem's closing symbols) and keeps its own position in the
int64 ``state`` array.  When ``bits`` runs out during data the data has ended (as when
spandsp's get_bit returns end-of-data): the generator pads the symbol with ones, sends
the closing ones, then a few zero symbols so the pulse tail dies away, and reports
``finished`` with fewer symbols than asked.  Feed all the bits you have before the
training ends; feeding more later only helps while the data has not ended.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import shaping

SAMPLE_RATE = 8000
#: spandsp's fax modems (and ours) send at -14 dBm0: RMS ~3220 on the int16 scale.
NOMINAL_RMS = 3220.0


class PskTransmitter:
    """Bits in, 8000 Hz int16 samples out (DESIGN.md §3 Transmitter)."""

    def __init__(self, *, gen: Callable, gen_args: tuple, state: np.ndarray, scrambler: np.ndarray,
                 shaper: shaping.TxShaper, carrier_hz: float, symbol_power: float) -> None:
        self._gen = gen
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
        acc = int(self._tx_state[shaping.TX_ACC])
        need = sh.symbols_needed(acc, n)
        symbols, self._bitpos, finished = self._gen(
            need, self._state, self._scrambler, self._bits, self._bitpos, *self._gen_args)
        if finished:
            self._finished = True
            # The last sample before a further symbol would be needed.
            n = -(-((len(symbols) + 1) * sh.den - acc) // sh.num) - 1
            n = max(0, n)
        return shaping.modulate(symbols, n, self._tx_state, self._ring, sh.coef, sh.num, sh.den,
                                self._carrier, self._gain)

    @property
    def finished(self) -> bool:
        return self._finished
