"""ITU-T V.29: 9600/7200/4800 bit/s, 2400 baud QAM on a 1700 Hz carrier (fax image data).

How it works (clause numbers of V.29):

- **Signal elements** (§2): 16 points on 8 phases; the first bit of each quadbit (Q1)
  picks the amplitude ring, Q2 Q3 Q4 the *phase change* from the previous element
  (Gray code, table 1: 001 -> 0, 000 -> 45, 010 -> 90, 011 -> 135, 111 -> 180, 110 -> 225,
  100 -> 270, 101 -> 315 degrees).  Amplitudes: 3 or 5 on the axes, sqrt(2) or 3 sqrt(2)
  on the diagonals.  7200 bit/s sends tribits as Q2 Q3 Q4 with Q1 = 0; 4800 bit/s sends
  dibits as phase changes of 0/90/270/180 on the inner axes ring.
- **Scrambler** (§5): 1 + x^-18 + x^-23, see `scrambler`.
- **Training** (§8): optional echo protection tone (TEP, 480 symbols of 0 degrees);
  segment 1, 48 symbols of silence; segment 2, 128 symbols alternating B A B A ...;
  segment 3, 384 symbols C/D chosen by the 1 + x^-6 + x^-7 generator started at 0101010;
  segment 4, 48 symbols of scrambled ones at the data rate, the phase reference starting at
  0 degrees (the points A B C D depend on the rate, table 3).  Then data, then (our choice,
  as spandsp does) 32 symbols of scrambled ones before the carrier stops.
- **Level**: -14 dBm0 for data, like spandsp.

The receiver is the shared `psk_rx` engine configured with this modem's points and
training; see that module for AGC, carrier detect, timing, carrier and equalizer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import psk_rx, scrambler, shaping
from .psk_tx import PskTransmitter, all_symbols

BAUD = 2400
CARRIER_HZ = 1700.0
ALPHA = 0.25
RATES = (4800, 7200, 9600)

#: Element index = 8 * Q1 + absolute phase / 45 degrees.
CONSTELLATION = np.array([3, 1 + 1j, 3j, -1 + 1j, -3, -1 - 1j, -3j, 1 - 1j,
                          5, 3 + 3j, 5j, -3 + 3j, -5, -3 - 3j, -5j, 3 - 3j], dtype=np.complex128)
#: Phase change (in 45 degree steps) for Q2 Q3 Q4 (table 1) and for 4800's dibits.
PHASE_STEPS_3 = np.array([1, 0, 2, 3, 6, 7, 5, 4], dtype=np.int64)
PHASE_STEPS_2 = np.array([0, 2, 6, 4], dtype=np.int64)
#: Table 3: training points A, B (segment 2) and C, D (segment 3) per rate.
TRAINING_POINTS = {
    9600: (3 - 3j, -3 + 0j, 3 + 0j, -3 + 3j),
    7200: (1 - 1j, -3 + 0j, 3 + 0j, -1 + 1j),
    4800: (-3j, -3 + 0j, 3 + 0j, 3j),
}

TEP_SYMBOLS = 480
SEG1_SYMBOLS = 48
SEG2_SYMBOLS = 128
SEG3_SYMBOLS = 384
SEG4_SYMBOLS = 48
CLOSING_SYMBOLS = 32
TX_TAPS = 11

# Generator state layout.
_STEP, _PHASE, _TRAIN_REG, _DATA_DONE, _CLOSE, _TEP = range(6)


def segment3_bits() -> np.ndarray:
    """The 384 C/D selector bits of segment 3 (1 + x^-6 + x^-7 from 0101010, §8)."""
    reg = 0x2A
    out = np.empty(SEG3_SYMBOLS, np.uint8)
    for i in range(SEG3_SYMBOLS):
        bit = reg & 1
        reg >>= 1
        reg |= ((bit ^ reg) & 1) << 6
        out[i] = bit
    return out


def training_reference(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment 2 as sent, segment 3 as sent) for `rate`: the symbols a receiver trains on."""
    a, b, c, d = TRAINING_POINTS[rate]
    seg2 = np.array([b if i % 2 == 0 else a for i in range(SEG2_SYMBOLS)], np.complex128)
    seg3 = np.where(segment3_bits() == 1, d, c).astype(np.complex128)
    return seg2, seg3


@njit(cache=True)
def _next_data_bit(state, scr, bits, bitpos):
    if state[_DATA_DONE] == 0 and bitpos < len(bits):
        return scrambler.v29_scramble_bit(scr, np.int64(bits[bitpos])), bitpos + 1
    state[_DATA_DONE] = 1
    return scrambler.v29_scramble_bit(scr, np.int64(1)), bitpos


@njit(cache=True)
def _generate(count, state, scr, bits, bitpos, rate, seg2, seg3, constellation, steps3, steps2):
    """Next `count` V.29 symbols (see psk_tx for the contract)."""
    out = np.zeros(count, np.complex128)
    tep = TEP_SYMBOLS if state[_TEP] else 0
    s2 = tep + SEG1_SYMBOLS
    s3 = s2 + SEG2_SYMBOLS
    s4 = s3 + SEG3_SYMBOLS
    data = s4 + SEG4_SYMBOLS
    for k in range(count):
        step = state[_STEP]
        if step < data:
            state[_STEP] = step + 1
            if step < tep:
                out[k] = constellation[0]
                continue
            if step < s2:
                continue  # silence
            if step < s3:
                out[k] = seg2[step - s2]
                continue
            if step < s4:
                out[k] = seg3[step - s3]
                continue
            ones = True
        else:
            ones = state[_DATA_DONE] == 1
            if ones:
                if state[_CLOSE] >= CLOSING_SYMBOLS + TX_TAPS:
                    return out[:k], bitpos, True
                state[_CLOSE] += 1
                if state[_CLOSE] > CLOSING_SYMBOLS:
                    continue  # zero symbols: let the pulse tail die away
        amp = 0
        if ones:
            if rate == 9600:
                amp = 8 * scrambler.v29_scramble_bit(scr, np.int64(1))
            b = scrambler.v29_scramble_bit(scr, np.int64(1))
            b = (b << 1) | scrambler.v29_scramble_bit(scr, np.int64(1))
            if rate != 4800:
                b = (b << 1) | scrambler.v29_scramble_bit(scr, np.int64(1))
        else:
            if rate == 9600:
                bit, bitpos = _next_data_bit(state, scr, bits, bitpos)
                amp = 8 * bit
            b, bitpos = _next_data_bit(state, scr, bits, bitpos)
            bit, bitpos = _next_data_bit(state, scr, bits, bitpos)
            b = (b << 1) | bit
            if rate != 4800:
                bit, bitpos = _next_data_bit(state, scr, bits, bitpos)
                b = (b << 1) | bit
        step_ = steps2[b] if rate == 4800 else steps3[b]
        state[_PHASE] = (state[_PHASE] + step_) & 7
        out[k] = constellation[amp + state[_PHASE]]
    return out, bitpos, False


@njit(cache=True)
def _step(n, state, scr, bits, bitpos, tx_state, ring, coef, num, den, carrier, gain,
          rate, seg2, seg3, constellation, steps3, steps2):
    """One transmit block: symbols for n samples, shaped (see psk_tx)."""
    symbols, bitpos, finished = _generate(shaping.symbols_due(tx_state, n, num, den), state, scr,
                                          bits, bitpos, rate, seg2, seg3, constellation, steps3, steps2)
    n = shaping.samples_until_starved(tx_state, n, len(symbols), num, den)
    return shaping.modulate(symbols, n, tx_state, ring, coef, num, den, carrier, gain), bitpos, finished

def _generator_setup(rate: int, tep: bool) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(generator state, scrambler state, generator arguments) at the start of a transmission."""
    seg2, seg3 = training_reference(rate)
    state = np.zeros(6, np.int64)
    state[_TEP] = int(tep)
    return state, scrambler.v29_state(0), (rate, seg2, seg3, CONSTELLATION, PHASE_STEPS_3,
                                           PHASE_STEPS_2)


def symbols(rate: int, bits: np.ndarray, *, tep: bool = False, reference: bool = False) -> np.ndarray:
    """Every symbol of a whole transmission of `bits` (training, data, closing, tail);
    ``reference=True`` runs the plain-Python generator.  For tests and inspection."""
    state, scr, args = _generator_setup(rate, tep)
    return all_symbols(_generate.py_func if reference else _generate, state, scr, bits, args)


def _symbol_power(rate: int) -> float:
    if rate == 9600:
        return float(np.mean(np.abs(CONSTELLATION) ** 2))
    if rate == 7200:
        return float(np.mean(np.abs(CONSTELLATION[:8]) ** 2))
    return 9.0


class V29Transmitter(PskTransmitter):
    """V.29 transmitter: training, then the fed bits, then closing ones (see psk_tx)."""

    def __init__(self, rate: int = 9600, *, tep: bool = False) -> None:
        if rate not in RATES:
            raise ValueError(f"V.29 rate must be one of {RATES}, not {rate}")
        self.rate = rate
        state, scr, args = _generator_setup(rate, tep)
        super().__init__(
            step=_step,
            gen_args=args,
            state=state,
            scrambler=scr,
            shaper=shaping.TxShaper.design(BAUD, ALPHA, TX_TAPS),
            carrier_hz=CARRIER_HZ,
            symbol_power=_symbol_power(rate),
        )


#: Training acceptance: equalizer SNR (dB) over the last 128 symbols of segment 3, where
#: each constellation's bit error rate (after the descrambler) is about 1e-4 — below it
#: T.30 should rather fall back to a slower rate.
SNR_MIN_DB = {9600: 19.0, 7200: 16.0, 4800: 12.0}


def rx_config(rate: int) -> psk_rx.PskConfig:
    """The receive engine's settings for V.29 at `rate`."""
    if rate not in RATES:
        raise ValueError(f"V.29 rate must be one of {RATES}, not {rate}")
    a, b, _c, _d = TRAINING_POINTS[rate]
    _seg2, seg3 = training_reference(rate)
    if rate == 9600:
        sel = np.arange(16)
    elif rate == 7200:
        sel = np.arange(8)
    else:
        sel = np.array([0, 2, 4, 6])
    return psk_rx.PskConfig(
        baud=BAUD, carrier_hz=CARRIER_HZ, alpha=ALPHA,
        alternation=np.array([b, a], np.complex128),
        training=seg3,
        training_phase=(np.round(np.angle(seg3) / (np.pi / 4)).astype(np.int64) & 7),
        points=CONSTELLATION[sel].copy(),
        point_phase=(sel & 7).astype(np.int64),
        point_amp=(sel >> 3).astype(np.int64),
        step_bits=psk_rx.inverse_steps(PHASE_STEPS_2 if rate == 4800 else PHASE_STEPS_3),
        n_step_bits=2 if rate == 4800 else 3,
        amp_bits=rate == 9600,
        scrambler_kind=0,
        scrambler_start=scrambler.v29_state(0),
        data_prev=0,
        snr_min_db=SNR_MIN_DB[rate],
        allow_flip=False,
        alt_max=200,
        quality_window=128,
        ones_symbols=SEG4_SYMBOLS,
        eq_taps=21,
    )


class V29Receiver(psk_rx.PskReceiver):
    """V.29 receiver at one rate (T.30 tells it which); see `psk_rx` for how it works."""

    def __init__(self, rate: int = 9600, *, reference: bool = False) -> None:
        self.rate = rate
        super().__init__(rx_config(rate), reference=reference)
