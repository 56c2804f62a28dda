"""ITU-T V.27 ter: 4800 bit/s (1600 baud 8-DPSK) and 2400 bit/s (1200 baud 4-DPSK), 1800 Hz.

How it works (clause numbers of V.27 ter):

- **Modulation** (§2.3): differential phase shift keying.  At 4800 bit/s each tribit is a
  phase change (Gray code: 001 -> 0, 000 -> 45, 010 -> 90, 011 -> 135, 111 -> 180,
  110 -> 225, 100 -> 270, 101 -> 315 degrees); at 2400 bit/s each dibit (00 -> 0,
  01 -> 90, 11 -> 180, 10 -> 270 degrees).  All elements have the same amplitude.  As
  in spandsp, the 2400 bit/s elements stay on the axes (the phase reference starts at 0
  degrees and training only moves it by 180).
- **Scrambler** (§2.5): 1 + x^-6 + x^-7 with the 33-bit guard, see `scrambler`.
- **Training** (§2.6, table 3, the long sequence T.30 uses): optional echo protection
  tone (TEP, 320 symbols of unmodulated carrier); segment 2, 32 symbols of silence;
  segment 3, 50 symbols of continuous 180 degree reversals; segment 4, 1074 symbols of
  0/180 degree changes taken from every third bit of the scrambler fed with ones from
  state 0111100; segment 5, 8 symbols of scrambled ones at the data rate.  Then data,
  then (as spandsp does) 32 symbols of scrambled ones before the carrier stops.
- **Level**: -14 dBm0.

The receiver is the shared `psk_rx` engine configured with this modem's points and
training; see that module for AGC, carrier detect, timing, carrier and equalizer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import psk_rx, scrambler, shaping
from .psk_tx import PskTransmitter, all_symbols

CARRIER_HZ = 1800.0
ALPHA = 0.5
RATES = (2400, 4800)
BAUD = {2400: 1200, 4800: 1600}

#: Element index = absolute phase / 45 degrees; amplitude sqrt(2).
CONSTELLATION = np.sqrt(2.0) * np.exp(1j * np.pi / 4 * np.arange(8))
CONSTELLATION = np.round(CONSTELLATION.real, 12) + 1j * np.round(CONSTELLATION.imag, 12)
PHASE_STEPS_3 = np.array([1, 0, 2, 3, 6, 7, 5, 4], dtype=np.int64)
PHASE_STEPS_2 = np.array([0, 2, 6, 4], dtype=np.int64)

TEP_SYMBOLS = 320
SEG2_SYMBOLS = 32
SEG3_SYMBOLS = 50
SEG4_SYMBOLS = 1074
SEG5_SYMBOLS = 8
CLOSING_SYMBOLS = 32
SCRAMBLER_START = 0x3C
TX_TAPS = 9

# Generator state layout.
_STEP, _PHASE, _DATA_DONE, _CLOSE, _TEP = range(5)


def segment4_states() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute phase indices (0 or 4) of segments 3 and 4, and the scrambler state after
    segment 4 (what a receiver's descrambler can start from)."""
    seg3 = np.array([4 if i % 2 == 0 else 0 for i in range(SEG3_SYMBOLS)], np.int64)
    state = scrambler.v27ter_state(SCRAMBLER_START)
    line = scrambler.v27ter_scramble(np.ones(3 * SEG4_SYMBOLS, np.uint8), state)
    seg4 = (np.cumsum(4 * line[0::3].astype(np.int64)) & 7)
    return seg3, seg4, state


@njit(cache=True)
def _generate(count, state, scr, bits, bitpos, rate, constellation, steps3, steps2):
    """Next `count` V.27 ter symbols (see psk_tx for the contract)."""
    out = np.zeros(count, np.complex128)
    tep = TEP_SYMBOLS if state[_TEP] else 0
    s3 = tep + SEG2_SYMBOLS
    s4 = s3 + SEG3_SYMBOLS
    s5 = s4 + SEG4_SYMBOLS
    data = s5 + SEG5_SYMBOLS
    for k in range(count):
        step = state[_STEP]
        if step < s5:
            state[_STEP] = step + 1
            if step < tep:
                out[k] = constellation[0]
            elif step < s3:
                pass  # silence
            elif step < s4:
                state[_PHASE] = (state[_PHASE] + 4) & 7
                out[k] = constellation[state[_PHASE]]
            else:
                b = scrambler.v27ter_scramble_bit(scr, np.int64(1))
                scrambler.v27ter_scramble_bit(scr, np.int64(1))
                scrambler.v27ter_scramble_bit(scr, np.int64(1))
                state[_PHASE] = (state[_PHASE] + 4 * b) & 7
                out[k] = constellation[state[_PHASE]]
            continue
        if step < data:
            state[_STEP] = step + 1
            ones = True
        else:
            ones = state[_DATA_DONE] == 1
            if ones:
                if state[_CLOSE] >= CLOSING_SYMBOLS + TX_TAPS:
                    return out[:k], bitpos, True
                state[_CLOSE] += 1
                if state[_CLOSE] > CLOSING_SYMBOLS:
                    continue  # zero symbols: let the pulse tail die away
        nbits = 3 if rate == 4800 else 2
        b = 0
        for _ in range(nbits):
            data_bit = 1
            if not ones:
                if bitpos < len(bits):
                    data_bit = np.int64(bits[bitpos])
                    bitpos += 1
                else:
                    # The data has ended: ones fill this symbol, then the closing.
                    state[_DATA_DONE] = 1
                    ones = True
            b = (b << 1) | scrambler.v27ter_scramble_bit(scr, data_bit)
        step_ = steps3[b] if rate == 4800 else steps2[b]
        state[_PHASE] = (state[_PHASE] + step_) & 7
        out[k] = constellation[state[_PHASE]]
    return out, bitpos, False


@njit(cache=True)
def _step(n, state, scr, bits, bitpos, tx_state, ring, coef, num, den, carrier, gain,
          rate, constellation, steps3, steps2):
    """One transmit block: symbols for n samples, shaped (see psk_tx)."""
    symbols, bitpos, finished = _generate(shaping.symbols_due(tx_state, n, num, den), state, scr,
                                          bits, bitpos, rate, constellation, steps3, steps2)
    n = shaping.samples_until_starved(tx_state, n, len(symbols), num, den)
    return shaping.modulate(symbols, n, tx_state, ring, coef, num, den, carrier, gain), bitpos, finished


def _generator_setup(rate: int, tep: bool) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(generator state, scrambler state, generator arguments) at the start of a transmission."""
    state = np.zeros(5, np.int64)
    state[_TEP] = int(tep)
    return state, scrambler.v27ter_state(SCRAMBLER_START), (rate, CONSTELLATION, PHASE_STEPS_3,
                                                             PHASE_STEPS_2)


def symbols(rate: int, bits: np.ndarray, *, tep: bool = False, reference: bool = False) -> np.ndarray:
    """Every symbol of a whole transmission of `bits` (training, data, closing, tail);
    ``reference=True`` runs the plain-Python generator.  For tests and inspection."""
    state, scr, args = _generator_setup(rate, tep)
    return all_symbols(_generate.py_func if reference else _generate, state, scr, bits, args)


class V27terTransmitter(PskTransmitter):
    """V.27 ter transmitter (long training): training, the fed bits, closing ones."""

    def __init__(self, rate: int = 4800, *, tep: bool = False) -> None:
        if rate not in RATES:
            raise ValueError(f"V.27 ter rate must be one of {RATES}, not {rate}")
        self.rate = rate
        state, scr, args = _generator_setup(rate, tep)
        super().__init__(
            step=_step,
            gen_args=args,
            state=state,
            scrambler=scr,
            shaper=shaping.TxShaper.design(BAUD[rate], ALPHA, TX_TAPS),
            carrier_hz=CARRIER_HZ,
            symbol_power=2.0,
        )


#: Training acceptance: equalizer SNR (dB) over the last 256 symbols of segment 4, where
#: 8-PSK / 4-PSK reach a bit error rate (after the descrambler) of about 1e-4.
SNR_MIN_DB = {4800: 17.0, 2400: 12.0}


def rx_config(rate: int) -> psk_rx.PskConfig:
    """The receive engine's settings for V.27 ter at `rate`."""
    if rate not in RATES:
        raise ValueError(f"V.27 ter rate must be one of {RATES}, not {rate}")
    _seg3, seg4, scr_after = segment4_states()
    sel = np.arange(8) if rate == 4800 else np.array([0, 2, 4, 6])
    return psk_rx.PskConfig(
        baud=BAUD[rate], carrier_hz=CARRIER_HZ, alpha=ALPHA,
        alternation=CONSTELLATION[[4, 0]].astype(np.complex128),
        training=CONSTELLATION[seg4].astype(np.complex128),
        training_phase=seg4.astype(np.int64),
        points=CONSTELLATION[sel].astype(np.complex128),
        point_phase=sel.astype(np.int64),
        point_amp=np.zeros(len(sel), np.int64),
        step_bits=psk_rx.inverse_steps(PHASE_STEPS_3 if rate == 4800 else PHASE_STEPS_2),
        n_step_bits=3 if rate == 4800 else 2,
        amp_bits=False,
        scrambler_kind=1,
        scrambler_start=scr_after,
        data_prev=-1,
        snr_min_db=SNR_MIN_DB[rate],
        allow_flip=True,
        alt_max=100,
        quality_window=256,
        ones_symbols=SEG5_SYMBOLS,
    )


class V27terReceiver(psk_rx.PskReceiver):
    """V.27 ter receiver at one rate (T.30 tells it which); see `psk_rx` for how it works."""

    def __init__(self, rate: int = 4800, *, reference: bool = False) -> None:
        self.rate = rate
        super().__init__(rx_config(rate), reference=reference)
