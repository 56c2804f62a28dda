"""V.17 transmitter: bits in, 8 kHz int16 samples out.

What it does: sends the V.17 training sequence (optional TEP, segments 1-4; long or short
train, §7 and Table 2/V.17), then the data, then the turn-off sequence (32 symbols of
scrambled ones and 48 of silence, as spandsp sends), and stops.
How: per block, a compiled loop makes the symbols the block needs (`_symbols`: the
scrambler 1 + x^-18 + x^-23 of §3, the differential and convolutional encoders of
trellis.py), then a compiled per-sample loop shapes them: a root-raised-cosine pulse
(25 % excess bandwidth, a polyphase bank of 10 phases since a baud is exactly 10/3
samples) on an 1800 Hz carrier whose phase repeats every 40 samples.  Both loops keep
their state in locals (see `_symbols`).  `_tx_block_py` and `_symbols` are the
plain-Python references of the compiled loops; `_next_symbol`, one symbol at a time on
the state vector, is the reference sequence (the receiver uses it for its training
targets) that `_symbols` must reproduce.
Level: about -14 dBm0 (RMS ~3220), like every spandsp fax modem.
"""

from __future__ import annotations

import enum
import types

import numpy as np
from numba import njit

from dsp.modems import trellis

CARRIER_HZ = 1800.0
SAMPLE_RATE = 8000
BAUD = 2400
#: RMS of a -14 dBm0 signal on the int16 scale (0 dBm0 = 16138 RMS, G.711's +3.14 dBm0 sine).
NOMINAL_RMS = 16138.0 * 10 ** (-14 / 20)

# Training sequence lengths in symbols (Table 2/V.17; TEP per §7.3).
TEP_TONE = 480
TEP_SILENCE = 48
SEG1 = 256
SEG2_LONG = 2976
SEG2_SHORT = 38
SEG3 = 64
SEG4 = 48
SHUTDOWN_ONES = 32
SHUTDOWN_SILENCE = 48
#: Segment 3 carries this 16-bit pattern, two bits per symbol, through the scrambler.
BRIDGE_WORD = 0x8880
#: Scrambler preset at the start of segment 2 (what spandsp and V.17 modems expect).
SCRAMBLER_PRESET = 0x2ECDD5
#: Segment 2 dibit (first scrambled bit << 1 | second) -> training point C, D, B, A.
SEG2_POINT = np.array([2, 3, 1, 0], dtype=np.int64)
#: Segment 3 dibit -> step of the training point index (modulo 4).
BRIDGE_STEP = np.array([1, 0, 2, 3], dtype=np.int64)

FILTER_SYMBOLS = 10          # pulse shaper span
PHASES = 10                  # sample instants per 3 bauds -> 10 distinct pulse phases
ALPHA = 0.25


class Part(enum.IntEnum):
    """Where the transmitter is in its sequence (a value of the int state slot PART)."""

    TEP_TONE = 0
    TEP_SILENCE = 1
    SEG1 = 2
    SEG2 = 3
    SEG3 = 4
    SEG4 = 5
    DATA = 6
    SHUTDOWN_ONES = 7
    SHUTDOWN_SILENCE = 8
    DONE = 9


# Slots of the int64 state vector (FPOS is no longer used: the symbol history is a
# straight array, see `_tx_block_py`; the slot stays so the others keep their numbers).
PART, COUNT, SCR, DIFF, CONV, ABCD, BAUD_PHASE, FPOS, CPHASE, BITPOS, NBITS, SHORT = range(12)
N_STATE = 12


def rrc(t: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Root-raised-cosine impulse response at t (in symbols), unit energy per symbol."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    eps = 1e-9
    zero = np.abs(t) < eps
    edge = np.abs(np.abs(4 * alpha * t) - 1) < eps
    rest = ~(zero | edge)
    out[zero] = 1 - alpha + 4 * alpha / np.pi
    out[edge] = alpha / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * alpha))
                                      + (1 - 2 / np.pi) * np.cos(np.pi / (4 * alpha)))
    tr = t[rest]
    out[rest] = (np.sin(np.pi * tr * (1 - alpha)) + 4 * alpha * tr * np.cos(np.pi * tr * (1 + alpha))) / (
        np.pi * tr * (1 - (4 * alpha * tr) ** 2))
    return out


def _pulse_bank() -> np.ndarray:
    """bank[phase, k]: weight of the k-th newest symbol when the sample lies phase/10 of a
    baud after the newest symbol; centred so the whole span is causal."""
    k = np.arange(FILTER_SYMBOLS)
    frac = np.arange(PHASES)[:, None] / PHASES
    return rrc(k[None, :] + frac - FILTER_SYMBOLS / 2)


PULSE_BANK = _pulse_bank()
CARRIER = np.exp(2j * np.pi * CARRIER_HZ / SAMPLE_RATE * np.arange(40))


def _sample_table() -> np.ndarray:
    """[sample mod 40, 2 * FILTER_SYMBOLS]: pulse weights times the carrier's cosine, then
    times its sine, for every place in the 40-sample cycle after a restart (sample i uses
    pulse phase 3 (i + 1) mod 10 and carrier phase i mod 40)."""
    c = np.arange(40)
    h = PULSE_BANK[(3 * (c + 1)) % 10]
    return np.concatenate([h * CARRIER.real[:, None], h * CARRIER.imag[:, None]], axis=1)


SAMPLE_TABLE = _sample_table()
GAIN = NOMINAL_RMS / np.sqrt(40.0 / 2)
# Constants the compiled loop reads as globals (frozen into it) rather than as arguments:
# every array argument costs the dispatcher a step on every call.
TRAINING_POINTS = trellis.TRAINING_POINTS
NEXT_STATE = trellis.NEXT_STATE


def _scramble(st, bit):
    out = (bit ^ (st[SCR] >> 17) ^ (st[SCR] >> 22)) & 1
    st[SCR] = ((st[SCR] << 1) | out) & 0x7FFFFF
    return out


def _next_symbol(st, bits, points, abcd, next_state):
    """The next baseband symbol; advances the sequence state."""
    part = st[PART]
    st[COUNT] += 1
    n = st[COUNT]
    if part == Part.TEP_TONE:           # unmodulated carrier
        if n >= TEP_TONE:
            st[PART] = Part.TEP_SILENCE
            st[COUNT] = 0
        return abcd[0]
    if part == Part.TEP_SILENCE:
        if n >= TEP_SILENCE:
            st[PART] = Part.SEG1
            st[COUNT] = 0
        return 0j
    if part == Part.SEG1:               # ABAB...
        if n >= SEG1:
            st[PART] = Part.SEG2
            st[COUNT] = 0
        return abcd[(n - 1) & 1]
    if part == Part.SEG2:               # scrambled ones as C, D, B, A
        b = _scramble(st, 1) << 1
        b |= _scramble(st, 1)
        st[ABCD] = SEG2_POINT[b]
        if n >= (SEG2_SHORT if st[SHORT] else SEG2_LONG):
            st[PART] = Part.SEG4 if st[SHORT] else Part.SEG3
            st[COUNT] = 0
        return abcd[st[ABCD]]
    if part == Part.SEG3:               # the bridge word, differentially
        shift = ((n - 1) & 7) << 1
        b = _scramble(st, (BRIDGE_WORD >> shift) & 1) << 1
        b |= _scramble(st, (BRIDGE_WORD >> (shift + 1)) & 1)
        st[ABCD] = (st[ABCD] + BRIDGE_STEP[b]) & 3
        if n >= SEG3:
            st[PART] = Part.SEG4
            st[COUNT] = 0
        return abcd[st[ABCD]]
    if part == Part.SHUTDOWN_SILENCE:
        if n >= SHUTDOWN_SILENCE:
            st[PART] = Part.DONE
        return 0j
    # Segment 4, data and the turn-off ones all go through the data path.
    q = 0
    for i in range(st[NBITS]):
        bit = 1
        if part == Part.DATA:
            if st[BITPOS] < bits.shape[0]:
                bit = bits[st[BITPOS]]
                st[BITPOS] += 1
            else:
                part = Part.SHUTDOWN_ONES   # end of data: the rest of this symbol is ones
                st[PART] = Part.SHUTDOWN_ONES
                st[COUNT] = 1
        q |= _scramble(st, bit) << i
    y = (st[DIFF] + q) & 3
    code = ((q >> 2) << 3) | (y << 1) | (st[CONV] & 1)
    st[DIFF] = y
    st[CONV] = next_state[st[CONV], y]
    if part == Part.SEG4 and n >= SEG4:
        st[PART] = Part.DATA
        st[COUNT] = 0
    elif part == Part.SHUTDOWN_ONES and st[COUNT] >= SHUTDOWN_ONES:
        st[PART] = Part.SHUTDOWN_SILENCE
        st[COUNT] = 0
    return points[code]


def _symbols(st, bits, points, syms):
    """Fill syms with the next symbols, as many `_next_symbol` calls would; returns the
    number made (fewer than asked once the transmission is over).

    The same sequence as `_next_symbol` (its reference), with the whole state in locals
    stored back once: as array slots every bit paid loads and stores the compiler could
    not keep in registers, about 5x the cost of the work itself."""
    part = st[PART]
    count = st[COUNT]
    scr = st[SCR]
    diff = st[DIFF]
    conv = st[CONV]
    abcd = st[ABCD]
    pos = st[BITPOS]
    nbits = st[NBITS]
    short = st[SHORT]
    made = 0
    for j in range(syms.shape[0]):
        if part == Part.DONE:
            break
        count += 1
        if part == Part.TEP_TONE:
            v = TRAINING_POINTS[0]
            if count >= TEP_TONE:
                part = Part.TEP_SILENCE
                count = 0
        elif part == Part.TEP_SILENCE:
            v = 0j
            if count >= TEP_SILENCE:
                part = Part.SEG1
                count = 0
        elif part == Part.SEG1:
            v = TRAINING_POINTS[(count - 1) & 1]
            if count >= SEG1:
                part = Part.SEG2
                count = 0
        elif part == Part.SEG2 or part == Part.SEG3:
            b = 0
            for i in range(2):
                bit = 1
                if part == Part.SEG3:
                    bit = (BRIDGE_WORD >> ((((count - 1) & 7) << 1) + i)) & 1
                s = (bit ^ (scr >> 17) ^ (scr >> 22)) & 1
                scr = ((scr << 1) | s) & 0x7FFFFF
                b = (b << 1) | s
            if part == Part.SEG2:
                abcd = SEG2_POINT[b]
                if count >= (SEG2_SHORT if short else SEG2_LONG):
                    part = Part.SEG4 if short else Part.SEG3
                    count = 0
            else:
                abcd = (abcd + BRIDGE_STEP[b]) & 3
                if count >= SEG3:
                    part = Part.SEG4
                    count = 0
            v = TRAINING_POINTS[abcd]
        elif part == Part.SHUTDOWN_SILENCE:
            v = 0j
            if count >= SHUTDOWN_SILENCE:
                part = Part.DONE
        else:                           # segment 4, data, turn-off ones
            q = 0
            for i in range(nbits):
                bit = 1
                if part == Part.DATA:
                    if pos < bits.shape[0]:
                        bit = bits[pos]
                        pos += 1
                    else:
                        part = Part.SHUTDOWN_ONES
                        count = 1
                s = (bit ^ (scr >> 17) ^ (scr >> 22)) & 1
                scr = ((scr << 1) | s) & 0x7FFFFF
                q |= s << i
            y = (diff + q) & 3
            code = ((q >> 2) << 3) | (y << 1) | (conv & 1)
            diff = y
            conv = NEXT_STATE[conv, y]
            if part == Part.SEG4 and count >= SEG4:
                part = Part.DATA
                count = 0
            elif part == Part.SHUTDOWN_ONES and count >= SHUTDOWN_ONES:
                part = Part.SHUTDOWN_SILENCE
                count = 0
            v = points[code]
        syms[j] = v
        made += 1
    st[PART] = part
    st[COUNT] = count
    st[SCR] = scr
    st[DIFF] = diff
    st[CONV] = conv
    st[ABCD] = abcd
    st[BITPOS] = pos
    return made


def _tx_block_py(out, st, bits, hist, points):
    """Fill `out`; returns the number of samples made (fewer means finished).

    First the symbols the block needs (one per wrap of the baud phase, which steps 3/10
    of a baud per sample), laid after `hist` (the last FILTER_SYMBOLS symbols, oldest
    first) in one straight array; then each sample is a dot product of the newest
    FILTER_SYMBOLS of them, newest first, with the row of SAMPLE_TABLE for its place in
    the 40-sample cycle (pulse phase and carrier phase folded together).  Per-sample
    state lives in locals; `hist` is refreshed once at the end."""
    n = out.shape[0]
    if st[PART] == Part.DONE:
        return 0
    nsym = hist.shape[0]
    baud_phase = st[BAUD_PHASE]
    line = np.empty(nsym + (baud_phase + 3 * n) // 10, dtype=np.complex128)
    line[:nsym] = hist
    k = _symbols(st, bits, points, line[nsym:])
    last = k if st[PART] == Part.DONE else -1   # after symbol `last` the sequence is over
    re = line.real.copy()
    im = line.imag.copy()
    c = st[CPHASE]
    top = nsym - 1                              # index of the newest symbol in `line`
    made = n
    for i in range(n):
        if top - nsym + 1 == last:
            made = i
            break
        baud_phase += 3
        if baud_phase >= 10:
            baud_phase -= 10
            top += 1
        acc = 0.0
        for m in range(nsym):
            acc += re[top - m] * SAMPLE_TABLE[c, m] - im[top - m] * SAMPLE_TABLE[c, nsym + m]
        c = c + 1 if c < 39 else 0
        out[i] = int(round(acc * GAIN))
    hist[:] = line[top - nsym + 1:top + 1]
    st[BAUD_PHASE] = baud_phase
    st[CPHASE] = c
    return made


def _compiled():
    g = dict(_tx_block_py.__globals__)
    g["_symbols"] = njit(cache=True)(types.FunctionType(_symbols.__code__, g, "_symbols"))
    return njit(cache=True)(types.FunctionType(_tx_block_py.__code__, g, "_tx_block"))


_tx_block = _compiled()


class V17Transmitter:
    """V.17 transmitter (7200, 9600, 12000, 14400 bit/s) behind the Transmitter protocol.

    `feed` queues data bits; when the queue runs dry after training the transmitter sends
    its turn-off sequence and `transmit` then returns fewer samples than asked, like
    spandsp's get_bit returning end-of-data. Keep the queue ahead of the modem.
    """

    def __init__(self, rate: int = 14400, *, tep: bool = False, short_train: bool = False,
                 compiled: bool = True) -> None:
        self._fn = _tx_block if compiled else _tx_block_py
        self.restart(rate, tep=tep, short_train=short_train)

    def restart(self, rate: int | None = None, *, tep: bool = False, short_train: bool = False) -> None:
        """Start a new transmission: long train for the first in a call, short after."""
        if rate is not None:
            if rate not in trellis.BITS_PER_SYMBOL:
                raise ValueError(f"V.17 has no rate {rate}")
            self.rate = rate
        self._points = trellis.CONSTELLATIONS[self.rate]
        st = np.zeros(N_STATE, dtype=np.int64)
        st[PART] = Part.TEP_TONE if tep else Part.SEG1
        st[SCR] = SCRAMBLER_PRESET
        st[DIFF] = 0 if short_train else 1
        st[NBITS] = trellis.BITS_PER_SYMBOL[self.rate]
        st[SHORT] = int(short_train)
        self._st = st
        self._hist = np.zeros(FILTER_SYMBOLS, dtype=np.complex128)
        self._bits = np.zeros(0, dtype=np.uint8)

    def feed(self, bits: np.ndarray) -> None:
        b = np.asarray(bits, dtype=np.uint8)
        self._bits = np.concatenate([self._bits[self._st[BITPOS]:], b])
        self._st[BITPOS] = 0

    def transmit(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int16)
        made = self._fn(out, self._st, self._bits, self._hist, self._points)
        return out if made == n else out[:made]

    @property
    def finished(self) -> bool:
        return self._st[PART] == Part.DONE
