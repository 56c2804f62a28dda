"""V.21 channel 2: the 300 bit/s FSK modem T.30 uses for all its control frames.

What: ITU-T V.21 channel 2 — mark (binary 1) at 1650 Hz, space (0) at 1850 Hz, 300
bit/s (ITU-T V.21; T.30 §5 sends its binary signalling on it synchronously, in HDLC
frames).  The `V21Transmitter` and `V21Receiver` follow `dsp.modems.base`'s block API.

How the transmitter works: a continuous-phase FSK oscillator whose phase is an integer
in 1/8000 cycle (each sample adds the frequency in Hz, exactly) indexing one cycle of
the sine at the output level, so the waveform does not depend on how the caller slices
its `transmit` calls (a small compiled loop, `_tx_kernel`, with its Python original).
Bit k occupies samples ceil(k * 80/3) onwards (300 bit/s at 8000 samples/s).

How the receiver works, per sample (one compiled loop, `_rx_kernel`; its plain-Python
original is `_rx_kernel.py_func` and the tests check both agree):

- two complex correlators, one per tone, over a sliding window of 27 samples (one bit);
  samples and the tone tables are integers, so the window sums are exact and the
  output is the same whatever the block sizes;
- the bit is the sign of (mark energy - space energy), sampled once per bit by an
  integer-phase timing loop that pulls its phase so that zero crossings of that
  difference fall midway between two samplings (hard sync on the first crossing, a
  strong pull for the next 15, then a gentle one so noise cannot make it slip);
- carrier detection with hysteresis on two figures: the in-band energy (smoothed over
  ~1 ms), and its share of the window's total energy (per window, smoothed over ~4 ms).
  The share is what spandsp's detector lacks: white line noise spreads over 0–4 kHz
  and puts only ~15 % of its energy into the two tone bands, while a V.21 signal puts
  ~50–115 % there, so when the signal ends the carrier drops even though noise (at
  −44 dBm0 or louder) goes on.  Carrier-up comes ~7 ms after the signal starts;
  carrier-down ~35–60 ms after it ends (30 ms of hold-off, so a 20 ms gap of silence
  inside a signal does not end it).

Levels follow the project's dBm0 convention (`dsp.g711`): the transmitter sends at
−14 dBm0 like spandsp's; the receiver takes signals down to about −47 dBm0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp import g711
from dsp.modems.base import Bits, ModemStatus, RxItem, Samples, Status

SAMPLE_RATE = 8000
BAUD = 300
MARK_HZ = 1650  # binary 1 (V.21 channel 2)
SPACE_HZ = 1850  # binary 0
TX_LEVEL_DBM0 = -14.0

_TABLE_SCALE = 1 << 14
_K = np.arange(SAMPLE_RATE)
_SIN = np.sin(2 * np.pi * _K / SAMPLE_RATE)
_COS_I = np.rint(np.cos(2 * np.pi * _K / SAMPLE_RATE) * _TABLE_SCALE).astype(np.int64)
_SIN_I = np.rint(_SIN * _TABLE_SCALE).astype(np.int64)


@njit(cache=True)
def _tx_kernel(queue, n0, bits_done, phase, wave, out):
    """Fill `out` with the samples n0, n0+1, ... of this transmission: each sample
    advances the phase by the current bit's frequency.  Returns the final phase."""
    for i in range(out.shape[0]):
        bit = queue[(n0 + i) * BAUD // SAMPLE_RATE - bits_done]
        phase += MARK_HZ if bit else SPACE_HZ
        if phase >= SAMPLE_RATE:
            phase -= SAMPLE_RATE
        out[i] = wave[phase]
    return phase


class V21Transmitter:
    """V.21 channel 2 transmitter.

    `feed` queues bits; `transmit(n)` returns up to n samples and fewer once the queue
    runs dry (the transmission has finished; bits fed later start a new one, on a new
    bit clock, with the oscillator phase carried on)."""

    def __init__(self, *, level_dbm0: float = TX_LEVEL_DBM0) -> None:
        # One cycle of the sine at the output level, indexed by phase in 1/8000 cycle.
        self._wave = np.rint(g711.dbm0_to_amplitude(level_dbm0) * _SIN).astype(np.int16)
        self._queue = np.zeros(0, np.uint8)  # bits fed and not yet fully sent
        self._phase = 0  # oscillator phase, 1/8000 cycle
        self._n = 0  # samples sent in this transmission
        self._bits_done = 0  # bits of the queue whose samples are all out

    def feed(self, bits: Bits) -> None:
        self._queue = np.concatenate([self._queue, np.asarray(bits, np.uint8)])

    def transmit(self, n: int) -> Samples:
        # Bit b of this transmission covers samples [ceil(80 b / 3), ceil(80 (b+1) / 3)).
        total = self._bits_done + len(self._queue)
        end = -(-total * SAMPLE_RATE // BAUD)  # ceil
        m = max(0, min(n, end - self._n))
        if m == 0:
            self._restart_clock()
            return np.zeros(0, np.int16)
        out = np.empty(m, np.int16)
        self._phase = _tx_kernel(self._queue, self._n, self._bits_done, self._phase, self._wave, out)
        self._n += m
        done = self._n * BAUD // SAMPLE_RATE - self._bits_done  # bits fully sent
        self._queue = self._queue[done:]
        self._bits_done += done
        if m < n:
            self._restart_clock()
        return out

    def _restart_clock(self) -> None:
        self._queue = np.zeros(0, np.uint8)
        self._n = 0
        self._bits_done = 0


# --- Receiver ---------------------------------------------------------------------

_W = 27  # correlator window, samples (one bit is 26.67)
_BAUD_PERIOD = SAMPLE_RATE  # timing phase wraps at this; each sample adds BAUD
_HALF = _BAUD_PERIOD // 2

# Integer state slots.
_MIX_MARK, _MIX_SPACE, _RING_POS, _CARRIER, _COUNT, _BAUD_PHASE, _LAST_SIGN, _HOLD, _SYNCED = range(9)
_N_INT = 9
# Float state slots.
_IN_BAND, _SHARE = range(2)
_N_FLOAT = 2
# Parameter slots (float).
_ON_RATIO, _OFF_RATIO, _ON_LEVEL, _OFF_LEVEL, _ALPHA, _ON_COUNT, _OFF_COUNT, _SHARE_ALPHA = range(8)

_EV_UP, _EV_DOWN = 1, 2


@njit(cache=True)
def _rx_kernel(x, lost, si, sf, ring, sums, cos_t, sin_t, prm, out_bits, ev_code, ev_pos):
    """Run `x` (int64 samples; all treated as missing if `lost`) through the receiver
    state; returns (bits written to out_bits, events written to ev_code/ev_pos)."""
    nb = 0
    ne = 0
    w = ring.shape[1]
    norm = 0.5 * w * float(_TABLE_SCALE) * float(_TABLE_SCALE)
    for i in range(x.shape[0]):
        s = x[i]
        km = si[_MIX_MARK]
        ks = si[_MIX_SPACE]
        p = si[_RING_POS]
        v0 = s * cos_t[km]
        v1 = s * sin_t[km]
        v2 = s * cos_t[ks]
        v3 = s * sin_t[ks]
        v4 = s * s
        sums[0] += v0 - ring[0, p]
        sums[1] += v1 - ring[1, p]
        sums[2] += v2 - ring[2, p]
        sums[3] += v3 - ring[3, p]
        sums[4] += v4 - ring[4, p]
        ring[0, p] = v0
        ring[1, p] = v1
        ring[2, p] = v2
        ring[3, p] = v3
        ring[4, p] = v4
        si[_RING_POS] = p + 1 if p + 1 < w else 0
        si[_MIX_MARK] = (km + MARK_HZ) % SAMPLE_RATE
        si[_MIX_SPACE] = (ks + SPACE_HZ) % SAMPLE_RATE
        phase = si[_BAUD_PHASE] + BAUD
        if phase >= _BAUD_PERIOD:
            phase -= _BAUD_PERIOD
            strobe = True
        else:
            strobe = False
        si[_BAUD_PHASE] = phase
        if lost:
            si[_HOLD] = w  # the window refills with real samples before we judge again
            if strobe and si[_CARRIER] == 1:
                out_bits[nb] = 0  # a bit slot that passed unheard (see `fillin`)
                nb += 1
            continue
        em = float(sums[0]) * float(sums[0]) + float(sums[1]) * float(sums[1])
        es = float(sums[2]) * float(sums[2]) + float(sums[3]) * float(sums[3])
        if si[_HOLD] > 0:
            si[_HOLD] -= 1
        else:
            # Carrier detection: in-band energy, and its share of all energy.
            # The share is taken per window and then smoothed, so it falls as soon as
            # the window holds only noise, however loud the signal was before.
            sf[_IN_BAND] += (em + es - sf[_IN_BAND]) * prm[_ALPHA]
            inst = (em + es) / (float(sums[4]) * norm) if sums[4] > 0 else 0.0
            sf[_SHARE] += (inst - sf[_SHARE]) * prm[_SHARE_ALPHA]
            level = sf[_IN_BAND] / (norm * 0.5 * w)  # mean square, int16 units
            share = sf[_SHARE]
            if si[_CARRIER] == 0:
                ok = share >= prm[_ON_RATIO] and level >= prm[_ON_LEVEL]
                si[_COUNT] = si[_COUNT] + 1 if ok else 0
                if si[_COUNT] >= prm[_ON_COUNT]:
                    si[_CARRIER] = 1
                    si[_COUNT] = 0
                    si[_SYNCED] = 0
                    ev_code[ne] = _EV_UP
                    ev_pos[ne] = nb
                    ne += 1
            else:
                bad = share < prm[_OFF_RATIO] or level < prm[_OFF_LEVEL]
                si[_COUNT] = si[_COUNT] + 1 if bad else 0
                if si[_COUNT] >= prm[_OFF_COUNT]:
                    si[_CARRIER] = 0
                    si[_COUNT] = 0
                    ev_code[ne] = _EV_DOWN
                    ev_pos[ne] = nb
                    ne += 1
        sign = 1 if em > es else 0
        if sign != si[_LAST_SIGN]:
            si[_LAST_SIGN] = sign
            # A crossing should fall midway between strobes: pull the phase there.
            # Hard sync on the first crossing, then gain 1/4 for the next 15 (quick
            # lock on the preamble), then 1/16 (noise-driven crossings barely move it).
            if si[_SYNCED] == 0:
                si[_BAUD_PHASE] = _HALF
            else:
                err = si[_BAUD_PHASE] - _HALF
                si[_BAUD_PHASE] -= err // 4 if si[_SYNCED] < 16 else err // 16
            if si[_SYNCED] < 16:
                si[_SYNCED] += 1
        if strobe and si[_CARRIER] == 1:
            out_bits[nb] = sign
            nb += 1
    return nb, ne


def _rx_state() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh kernel state: integer slots, float slots, correlator ring, window sums."""
    return (np.zeros(_N_INT, np.int64), np.zeros(_N_FLOAT, np.float64),
            np.zeros((5, _W), np.int64), np.zeros(5, np.int64))


def _rx_params(*, on_level_dbm0: float = -47.0, off_level_dbm0: float = -50.0,
               on_share: float = 0.45, off_share: float = 0.30, on_ms: float = 5.0,
               off_ms: float = 30.0, level_smoothing: float = 8.0,
               share_smoothing: float = 32.0) -> np.ndarray:
    """The kernel's parameter vector (see `V21Receiver` for the meaning of each)."""
    return np.array([
        on_share, off_share,
        g711.dbm0_to_rms(on_level_dbm0) ** 2, g711.dbm0_to_rms(off_level_dbm0) ** 2,
        1.0 / level_smoothing, on_ms * SAMPLE_RATE / 1000, off_ms * SAMPLE_RATE / 1000,
        1.0 / share_smoothing,
    ], dtype=np.float64)


class V21Receiver:
    """V.21 channel 2 receiver: ``receive(samples) -> [Bits | ModemStatus, ...]``.

    Reports CARRIER_UP, then the bits (from the first bit after carrier-up), then
    CARRIER_DOWN.  Thresholds (keyword arguments) are in dBm0 for levels and as the
    in-band share of the window energy for `on_share`/`off_share`."""

    def __init__(self, **thresholds: float) -> None:
        """Keyword thresholds, all optional: on_level_dbm0 (-47) / off_level_dbm0 (-50),
        on_share (0.45) / off_share (0.30), on_ms (5) / off_ms (30: how long the
        condition must hold), level_smoothing (8) / share_smoothing (32 samples)."""
        self._prm = _rx_params(**thresholds)
        self.restart()

    def restart(self, *, short_train: bool = False) -> None:
        """Back to waiting for carrier (`short_train` has no meaning for V.21)."""
        self._si, self._sf, self._ring, self._sums = _rx_state()

    @property
    def carrier_up(self) -> bool:
        return bool(self._si[_CARRIER])

    def receive(self, samples: Samples) -> list[RxItem]:
        x = np.asarray(samples).astype(np.int64)
        return self._run(x, False)

    def fillin(self, n: int) -> int:
        """n samples lost: the clocks run on, the carrier state is held.  Returns how
        many bit slots passed meanwhile with the carrier up: their bits are gone, and a
        caller that keeps count (`dsp.v21_repair`) can put erasures in their place so
        the frame keeps its length (at 300 bit/s a lost 20 ms packet is 6 bits)."""
        if n <= 0:
            return 0
        return sum(len(i) for i in self._run(np.zeros(n, np.int64), True) if not isinstance(i, ModemStatus))

    def _run(self, x: np.ndarray, lost: bool) -> list[RxItem]:
        n = len(x)
        out_bits = np.empty(n // 26 + 2, np.uint8)
        # After an event the next needs at least min(on, off) samples of evidence.
        cap = n // max(1, int(min(self._prm[_ON_COUNT], self._prm[_OFF_COUNT]))) + 2
        ev_code = np.empty(cap, np.int64)
        ev_pos = np.empty(cap, np.int64)
        nb, ne = _rx_kernel(x, lost, self._si, self._sf, self._ring, self._sums, _COS_I, _SIN_I,
                            self._prm, out_bits, ev_code, ev_pos)
        items: list[RxItem] = []
        start = 0
        for j in range(ne):
            pos = int(ev_pos[j])
            if pos > start:
                items.append(out_bits[start:pos].copy())
                start = pos
            up = ev_code[j] == _EV_UP
            items.append(ModemStatus(Status.CARRIER_UP if up else Status.CARRIER_DOWN))
        if nb > start:
            items.append(out_bits[start:nb].copy())
        return items


def samples_per_bits(n_bits: int) -> int:
    """Samples a transmission of n_bits lasts."""
    return math.ceil(n_bits * SAMPLE_RATE / BAUD)
