"""The PSK/QAM receive engine shared by V.27 ter and V.29.

How it works, per input sample (one compiled loop, so the output cannot depend on how
the caller slices the input, and a 20 ms block costs one call):

1. **Mix down** with the exact carrier table (`shaping.carrier_table`) and keep a ring of
   complex baseband samples.
2. **Carrier detect** on the raw mean square over 5 ms windows (`recovery`): "on" gates the
   search for the training's alternation; "off" is 9 dB under the training level, so
   continuing line noise still ends the carrier.  A quiet window is first treated as a
   gap (a lost packet played out as silence: decisions and learning pause, as for
   `fillin`); 30 ms of quiet is the end of the carrier, so 20 ms gaps do not end a page.
3. **Searching** (``IDLE``): the matched filter (`shaping.RxBank`) is evaluated at every
   sample; per window the DC-free |y|^2 is correlated with the symbol rate.  Two windows
   with a strong, coherent symbol-rate tone mean an alternation (V.29 segment 2, V.27 ter
   segment 3): its phase gives the symbol timing outright.
4. **Per T/2 sample** afterwards, the matched filter is evaluated only at the instants
   the timing loop asks for; Gardner's detector and a small integrator keep them on
   the symbols (clock offsets).  Each symbol instant feeds the T/2 `equalizer`, whose
   output is rotated by the carrier `recovery` PLL.
5. **Training**, symbol by symbol: wait for the equalizer to fill (``ALT_WARM``); take the
   level (AGC) and carrier phase from the known alternation, choosing which received
   symbols are A and which B (``ALT_PHASE``); follow the alternation until a window of
   symbols matches the known training sequence instead (``ALT_TRACK``; V.27 ter may match
   it rotated by 180 degrees, which just flips the carrier phase).  Only now, with a real
   training sequence found, report CARRIER_UP and TRAINING_IN_PROGRESS (noise or tones
   that merely look like an alternation are dropped quietly); then train the
   equalizer on the known symbols (``TRAIN``).  At the end the equalizer's error over the
   last symbols gives the SNR: at or above the modem's threshold the training succeeded,
   else it failed (a measured figure, not a fragile pattern test).
6. **Data** (``DATA``): nearest constellation point, decision-directed LMS and PLL, phase
   differences -> bits (plus the amplitude bit for V.29 9600), descrambler -> bits out.
   The training's closing scrambled-ones segment only primes the descrambler, so the
   first bit out is the first data bit (as with spandsp).
   A running error average gives `quality` (dB).

`fillin(n)` runs n zero samples with every decision and adaptation frozen: carrier state,
training progress, timing and equalizer sustain the status quo across a lost packet (no
bits come out for it), and stay frozen until the filter and equalizer hold real samples
again.  A loss during the alternation restarts its sizing; one that hides the start of the
training sequence makes the search look for it at any later offset and carrier turn.

Carrier down comes about 35 ms after the signal stops, in silence or continuing noise;
its report carries the data SNR from just before the signal's tail.

The loop itself is `psk_rx_loop.rx_block` (numba); ``reference=True`` runs its plain-Python
twin `psk_rx_loop.rx_block_reference` (tests check they agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import equalizer, recovery, shaping
from . import psk_rx_loop as loop
from .base import ModemStatus, RxItem, Status

_EVENT_STATUS = {
    loop.EV_CARRIER_UP: Status.CARRIER_UP,
    loop.EV_CARRIER_DOWN: Status.CARRIER_DOWN,
    loop.EV_TRAINING: Status.TRAINING_IN_PROGRESS,
    loop.EV_TRAINED: Status.TRAINING_SUCCEEDED,
    loop.EV_FAILED: Status.TRAINING_FAILED,
}


@dataclass(frozen=True)
class PskConfig:
    """Everything that makes the engine a particular modem at a particular rate."""

    baud: int
    carrier_hz: float
    alpha: float
    alternation: np.ndarray        # (2,) complex: the alternating points, first-sent first
    training: np.ndarray           # (M,) complex: known symbols after the alternation
    training_phase: np.ndarray     # (M,) int: their phase indices (0..7)
    points: np.ndarray             # data constellation
    point_phase: np.ndarray        # phase index (0..7) of each point
    point_amp: np.ndarray          # amplitude bit of each point (V.29 9600 Q1)
    step_bits: np.ndarray          # (8,) bit pattern (MSB first) for each phase change
    n_step_bits: int               # 2 or 3
    amp_bits: bool
    scrambler_kind: int            # 0: 1+x^-18+x^-23 (V.29), 1: V.27 ter with guard
    scrambler_start: np.ndarray    # descrambler state at the start of data
    data_prev: int                 # phase reference at data start, -1 = last training symbol
    snr_min_db: float              # training acceptance threshold (equalizer SNR)
    allow_flip: bool               # training may be matched rotated by 180 degrees
    alt_max: int                   # symbols to wait for the training sequence
    quality_window: int            # training symbols the SNR is measured over
    ones_symbols: int              # closing training segment of scrambled ones (not output)
    eq_taps: int = 17
    mu_train: float = 0.08
    mu_data: float = 0.02
    k1_train: float = 0.12
    k2_train: float = 0.004
    k1_data: float = 0.06
    k2_data: float = 0.0008
    kt_train: float = 0.10
    kt_data: float = 0.02
    kt2: float = 0.0005
    detect_window: int = 8
    on_dbm0: float = -48.0
    off_dbm0: float = -52.0
    rel_off_db: float = -9.0
    off_windows: int = 6           # 5 ms windows of quiet = carrier down (bridges 20 ms gaps)


class PskReceiver:
    """Samples in, bits and `ModemStatus` reports out (DESIGN.md §3 Receiver)."""

    PHASES = 64
    SPAN = 8.0  # matched filter span in symbols

    def __init__(self, cfg: PskConfig, *, reference: bool = False) -> None:
        """``reference=True`` runs the plain-Python loop (`rx_block_reference`): slow, for
        checking the compiled one."""
        self.cfg = cfg
        self._kernel = loop.rx_block_reference if reference else loop.rx_block
        rb = shaping.RxBank.design(cfg.baud, cfg.alpha, self.SPAN, self.PHASES)
        self._bank = rb.rev
        self._carrier = shaping.carrier_table(cfg.carrier_hz)
        g = math.gcd(cfg.baud, shaping.SAMPLE_RATE)
        num, den = cfg.baud // g, shaping.SAMPLE_RATE // g
        self._acq_tab = np.exp(-2j * np.pi * np.arange(den) / den)
        ci = np.zeros(loop.CI_LEN, np.int64)
        ci[loop.CI_P] = self.PHASES
        ci[loop.CI_H] = rb.half
        ci[loop.CI_NUM] = num
        ci[loop.CI_DEN] = den
        ci[loop.CI_W] = cfg.detect_window
        ci[loop.CI_FLIP] = int(cfg.allow_flip)
        ci[loop.CI_AMP_BITS] = int(cfg.amp_bits)
        ci[loop.CI_NSTEP] = cfg.n_step_bits
        ci[loop.CI_SCR_KIND] = cfg.scrambler_kind
        ci[loop.CI_DATA_PREV] = cfg.data_prev
        ci[loop.CI_ALT_MAX] = cfg.alt_max
        ci[loop.CI_Q] = cfg.quality_window
        ci[loop.CI_WARM] = (cfg.eq_taps // 2) // 2 + 1
        ci[loop.CI_KPHASE] = 4
        # Symbols after a fill-in whose equalizer input still depends on the lost audio:
        # the matched filter's span plus the equalizer's.
        ci[loop.CI_HOLD] = int(math.ceil(2 * rb.half / rb.sps)) + cfg.eq_taps // 2 // 2 + 2
        # How far into the training a loss during the alternation can hide its start.
        ci[loop.CI_SEARCH] = int(math.ceil(160 / rb.sps)) + ci[loop.CI_HOLD] + cfg.detect_window
        ci[loop.CI_ONES] = cfg.ones_symbols
        ci[loop.CI_OFF_WINDOWS] = cfg.off_windows
        cf = np.zeros(loop.CF_LEN, np.float64)
        cf[loop.CF_SPS] = rb.sps
        cf[loop.CF_ON_MS] = recovery.dbm0_mean_square(cfg.on_dbm0)
        cf[loop.CF_OFF_MS] = recovery.dbm0_mean_square(cfg.off_dbm0)
        cf[loop.CF_REL_OFF] = 10.0 ** (cfg.rel_off_db / 10.0)
        cf[loop.CF_SNR_MIN] = cfg.snr_min_db
        data_power = float(np.mean(np.abs(cfg.points) ** 2))
        cf[loop.CF_MU_TRAIN] = cfg.mu_train / (cfg.eq_taps * data_power)
        cf[loop.CF_MU_DATA] = cfg.mu_data / (cfg.eq_taps * data_power)
        cf[loop.CF_K1_TRAIN] = cfg.k1_train
        cf[loop.CF_K2_TRAIN] = cfg.k2_train
        cf[loop.CF_K1_DATA] = cfg.k1_data
        cf[loop.CF_K2_DATA] = cfg.k2_data
        cf[loop.CF_KT_TRAIN] = cfg.kt_train
        cf[loop.CF_KT_DATA] = cfg.kt_data
        cf[loop.CF_KT2] = cfg.kt2
        cf[loop.CF_DATA_POWER] = data_power
        cf[loop.CF_ALT_POWER] = float(np.mean(np.abs(cfg.alternation) ** 2))
        cf[loop.CF_ALT_R] = 0.3
        # Packed tables and state layout (psk_rx_loop.views).
        complex_tables = [self._carrier, self._acq_tab, cfg.alternation, cfg.training, cfg.points]
        int_tables = [cfg.training_phase, cfg.point_phase, cfg.point_amp, cfg.step_bits,
                      cfg.scrambler_start]
        offs = np.cumsum([0] + [len(t) for t in complex_tables])
        (ci[loop.CI_O_CAR], ci[loop.CI_O_ACQ], ci[loop.CI_O_ALT], ci[loop.CI_O_TRAIN],
         ci[loop.CI_O_PTS]) = offs[:-1]
        ci[loop.CI_N_CAR] = len(self._carrier)
        ci[loop.CI_N_ACQ] = len(self._acq_tab)
        ci[loop.CI_N_TRAIN] = len(cfg.training)
        ci[loop.CI_N_PTS] = len(cfg.points)
        self._cc = np.concatenate(complex_tables).astype(np.complex128)
        offs = np.cumsum([0] + [len(t) for t in int_tables])
        (ci[loop.CI_O_TPH], ci[loop.CI_O_PPH], ci[loop.CI_O_PAMP], ci[loop.CI_O_STEP],
         ci[loop.CI_O_SCRI]) = offs[:-1]
        self._it = np.concatenate(int_tables).astype(np.int64)
        hist_len = 2 * (2 * rb.half + 8)  # doubled baseband ring
        sizes = [loop.SC_LEN, hist_len, 2 * cfg.eq_taps, cfg.eq_taps, loop.WINDOW, 2,
                 2 * cfg.detect_window]
        offs = np.cumsum([0] + sizes)
        (_, ci[loop.CI_O_HIST], ci[loop.CI_O_EQR], ci[loop.CI_O_TAPS], ci[loop.CI_O_WINY],
         ci[loop.CI_O_ACCP], ci[loop.CI_O_DETR]) = offs[:-1]
        ci[loop.CI_N_HIST] = hist_len
        ci[loop.CI_N_TAPS] = cfg.eq_taps
        self._wc_len = int(offs[-1])
        self._cfg_i = ci
        self._cfg_f = cf
        self._bits_per_sample = (cfg.n_step_bits + int(cfg.amp_bits)) / rb.sps
        self.restart()

    def restart(self, *, short_train: bool = False) -> None:
        """Back to searching for a training sequence (V.27 ter and V.29 have one length)."""
        ci = self._cfg_i
        self._st_i = np.zeros(loop.SI_LEN + 2, np.int64)
        self._st_i[loop.SI_LEN:] = self.cfg.scrambler_start
        self._st_f = np.zeros(loop.SF_LEN + 2, np.float64)
        self._st_f[loop.SF_GAIN] = 1.0
        self._wc = np.zeros(self._wc_len, np.complex128)
        self._wc[ci[loop.CI_O_TAPS]: ci[loop.CI_O_TAPS] + ci[loop.CI_N_TAPS]] = equalizer.unit(
            self.cfg.eq_taps)
        self._nabs = 0
        self._ev = np.zeros((3, 16), np.float64)

    def receive(self, samples: np.ndarray) -> list[RxItem]:
        return self._run(np.asarray(samples, dtype=np.int16), False)

    def fillin(self, n: int) -> None:
        """n samples were lost: advance time with every decision frozen (status quo)."""
        self._run(np.zeros(n, np.int16), True)

    @property
    def state(self) -> loop.RxState:
        """Where the receiver is: searching, training, data ..."""
        return loop.RxState(int(self._st_i[loop.SI_STATE]))

    @property
    def quality(self) -> float | None:
        """Current SNR estimate in dB from the equalizer error (data mode only)."""
        if self._st_i[loop.SI_STATE] != loop.DATA:
            return None
        return 10.0 * math.log10(self._cfg_f[loop.CF_DATA_POWER] / max(self._st_f[loop.SF_QMSE], 1e-12))

    def _run(self, x: np.ndarray, fill: bool) -> list[RxItem]:
        bits = np.empty(int(len(x) * self._bits_per_sample) + 8, np.uint8)
        nb, ne = self._kernel(x, fill, self._cfg_i, self._cfg_f, self._bank, self._cc, self._it,
                              self._st_i, self._st_f, self._wc, self._nabs, bits, self._ev)
        self._nabs += len(x)
        if fill:
            return []
        if ne == 0:
            return [bits[:nb]] if nb else []
        out: list[RxItem] = []
        at = 0
        codes, positions, qualities = self._ev
        for k in range(min(ne, len(codes))):
            p = int(positions[k])
            if p > at:
                out.append(bits[at:p])
                at = p
            q = float(qualities[k])
            out.append(ModemStatus(_EVENT_STATUS[int(codes[k])], None if math.isnan(q) else q))
        if nb > at:
            out.append(bits[at:nb])
        return out


def inverse_steps(steps: np.ndarray) -> np.ndarray:
    """Bit pattern for each phase change, from a table of phase change per bit pattern."""
    inv = np.zeros(8, np.int64)
    for bits, step in enumerate(steps):
        inv[step] = bits
    return inv


def bits_of(items: list[RxItem]) -> np.ndarray:
    """All the bits in a receiver's output, concatenated."""
    parts = [x for x in items if isinstance(x, np.ndarray)]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint8)


def statuses(items: list[RxItem]) -> list[Status]:
    """The status reports in a receiver's output, in order."""
    return [x.status for x in items if isinstance(x, ModemStatus)]
