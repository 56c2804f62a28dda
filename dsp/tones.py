"""Fax connect tones: CNG (calling) and CED (called) generation and detection.

What (as ITU-T T.30 defines them for phase A of every fax call):

- CNG, the calling tone: 1100 Hz ± 38 Hz, 0.5 s on, 3 s off, repeated while the
  caller waits for an answer.
- CED, the called station identification: 2100 Hz ± 15 Hz for 2.6 s to 4.0 s (we send
  3.0 s), once, after answering (V.25's answer tone, without phase reversals).

Both are sent at −11 dBm0 by default, the level spandsp's generator uses.  Levels use
the project's dBm0 convention (`dsp.g711`: a 0 dBm0 sine has peak 22826).

How the detector works: the stream is cut into 10 ms blocks (80 samples) counted from
its first sample, so results do not depend on how the caller slices it.  For each block
it takes the DFT bin energy at 1100 Hz and 2100 Hz and the block's total energy; a tone
is *present* in a block when the block is louder than −46 dBm0 and that bin holds at
least 45 % of its energy (a pure tone at the bin's centre holds 100 %, at 38 Hz off it
holds ~60 %; white noise gives ~2.5 %, speech and V.21 far less than half for long).
A tone is *detected* after 300 ms (CNG) or 400 ms (CED) of present blocks in a row, and
*ended* after 30 ms without it.  Duration plus spectral purity is what keeps speech
and modem signals from being taken for tones.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from dsp import g711

SAMPLE_RATE = 8000
CNG_HZ = 1100
CED_HZ = 2100
DEFAULT_LEVEL_DBM0 = -11.0
CNG_ON = 4000  # 0.5 s
CNG_PERIOD = 4000 + 24000  # 0.5 s on + 3 s off
CED_SAMPLES = 24000  # 3.0 s, inside T.30's 2.6-4.0 s

_SIN = np.sin(2 * np.pi * np.arange(SAMPLE_RATE) / SAMPLE_RATE)


def _sine(freq: int, start: int, n: int, amplitude: float) -> np.ndarray:
    """Samples start..start+n of a sine at an integer frequency; exact phase from the
    sample index, so any slicing gives the same waveform."""
    idx = (freq * np.arange(start, start + n, dtype=np.int64)) % SAMPLE_RATE
    return amplitude * _SIN[idx]


class CngGenerator:
    """CNG: 1100 Hz, 0.5 s on / 3 s off, for as long as `transmit` is called."""

    def __init__(self, *, level_dbm0: float = DEFAULT_LEVEL_DBM0) -> None:
        self._amp = g711.dbm0_to_amplitude(level_dbm0)
        self._n = 0

    def transmit(self, n: int) -> np.ndarray:
        idx = np.arange(self._n, self._n + n)
        on = (idx % CNG_PERIOD) < CNG_ON
        out = np.rint(_sine(CNG_HZ, self._n, n, self._amp) * on).astype(np.int16)
        self._n += n
        return out


class CedGenerator:
    """CED: 2100 Hz for `samples` (default 3.0 s); fewer samples than asked once done."""

    def __init__(self, *, level_dbm0: float = DEFAULT_LEVEL_DBM0, samples: int = CED_SAMPLES) -> None:
        if not 2.6 * SAMPLE_RATE <= samples <= 4.0 * SAMPLE_RATE:
            raise ValueError("T.30 wants CED between 2.6 s and 4.0 s")
        self._amp = g711.dbm0_to_amplitude(level_dbm0)
        self._total = samples
        self._n = 0

    def transmit(self, n: int) -> np.ndarray:
        m = max(0, min(n, self._total - self._n))
        out = np.rint(_sine(CED_HZ, self._n, m, self._amp)).astype(np.int16)
        self._n += m
        return out


class Tone(enum.Enum):
    CNG = "cng"
    CED = "ced"


_FREQ = {Tone.CNG: CNG_HZ, Tone.CED: CED_HZ}


@dataclass(frozen=True)
class ToneEvent:
    """`tone` started (`present`) or stopped being detected at sample `at`
    (counted from the detector's first sample; the end of the deciding block)."""

    tone: Tone
    present: bool
    at: int


class ToneDetector:
    """Detects CNG and/or CED in a stream: ``receive(samples) -> list[ToneEvent]``."""

    BLOCK = 80

    def __init__(self, tones: tuple[Tone, ...] = (Tone.CNG, Tone.CED), *,
                 min_level_dbm0: float = -46.0, min_share: float = 0.45,
                 cng_ms: int = 300, ced_ms: int = 400, end_ms: int = 30) -> None:
        self._tones = tuple(tones)
        self._min_energy = self.BLOCK * g711.dbm0_to_rms(min_level_dbm0) ** 2
        self._min_share = min_share
        self._need = {Tone.CNG: cng_ms // 10, Tone.CED: ced_ms // 10}
        self._end = max(1, end_ms // 10)
        n = np.arange(self.BLOCK)
        # One complex DFT row per tone: energy of bin f is |block @ row|^2.
        # Real and imaginary DFT rows for each tone's bin: energy = re^2 + im^2.
        phases = [2 * np.pi * _FREQ[t] * n / SAMPLE_RATE for t in self._tones]
        self._basis = np.ascontiguousarray(np.array([np.cos(p) for p in phases] + [np.sin(p) for p in phases]).T)
        self.restart()

    def restart(self) -> None:
        self._buf = np.zeros(0, np.float64)
        self._lost_until = 0  # stream index just past the last lost sample
        self._n = 0  # samples consumed into whole blocks
        self._run = {t: 0 for t in self._tones}  # present blocks in a row
        self._miss = {t: 0 for t in self._tones}  # absent blocks in a row while detected
        self._on = {t: False for t in self._tones}

    def detected(self, tone: Tone) -> bool:
        return self._on.get(tone, False)

    def receive(self, samples: np.ndarray) -> list[ToneEvent]:
        return self._push(np.asarray(samples, np.float64), False)

    def fillin(self, n: int) -> None:
        """n samples lost: blocks touching them count neither for nor against a tone."""
        self._push(np.zeros(n), True)

    def _push(self, x: np.ndarray, lost: bool) -> list[ToneEvent]:
        start = self._n + len(self._buf)  # stream index of x[0]
        if lost and len(x):
            self._lost_until = start + len(x)
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x
        nblocks = len(self._buf) // self.BLOCK
        if nblocks == 0:
            return []
        used = nblocks * self.BLOCK
        blocks = self._buf[:used].reshape(nblocks, self.BLOCK)
        self._buf = self._buf[used:]
        # einsum without optimize stays out of BLAS, whose kernels may sum in an order
        # that depends on the number of blocks; this way each block sums the same way.
        energy = np.einsum("ij,ij->i", blocks, blocks)
        parts = np.einsum("ij,jk->ik", blocks, self._basis)  # re and im of each bin
        k = len(self._tones)
        bins = parts[:, :k] ** 2 + parts[:, k:] ** 2
        loud = energy >= self._min_energy
        present = loud[:, None] & (2.0 * bins >= self._min_share * self.BLOCK * energy[:, None])
        events: list[ToneEvent] = []
        for b in range(nblocks):
            self._n += self.BLOCK
            if self._n - self.BLOCK < self._lost_until:  # the block touches lost samples
                continue
            for j, tone in enumerate(self._tones):
                self._step(tone, bool(present[b, j]), events)
        return events

    def _step(self, tone: Tone, present: bool, events: list[ToneEvent]) -> None:
        if present:
            self._run[tone] += 1
            self._miss[tone] = 0
            if not self._on[tone] and self._run[tone] >= self._need[tone]:
                self._on[tone] = True
                events.append(ToneEvent(tone, True, self._n))
            return
        self._run[tone] = 0
        if self._on[tone]:
            self._miss[tone] += 1
            if self._miss[tone] >= self._end:
                self._on[tone] = False
                events.append(ToneEvent(tone, False, self._n))
