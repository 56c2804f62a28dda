"""A seeded telephone/VoIP line model for modem and fax tests.

What: int16 samples at 8000 Hz in, int16 samples out, with the impairments a fax call
meets between two gateways.  Everything random comes from one seed, so the same input
and seed give the same output, however the input is sliced into blocks.

Stages, in signal order (each is skipped when its knob is at the default):

1. ``delay_samples`` — bulk delay: that many zero samples come out first.
2. ``clock_ppm`` — sample clock offset.  Output sample k is the input signal at time
   ``k * (1 + clock_ppm * 1e-6) - 16`` input samples (32-tap Kaiser-windowed sinc
   interpolation, 16 samples of fixed latency).  Positive: the receiver's clock runs
   slow against the sender's, so the output has fewer samples than the input and tones
   come out higher by ``clock_ppm`` ppm.  Output blocks may be one sample shorter or
   longer than the input blocks; their concatenation is what matters.
3. ``freq_offset_hz`` — carrier frequency offset: every frequency component moves by
   this many Hz (real part of the analytic signal, made with a 101-tap Hilbert FIR,
   times exp(j 2 pi f t)).  Adds 50 samples of latency.  Accurate from ~150 Hz to
   ~3850 Hz, which covers every fax signal.
4. ``level_db`` — gain in dB: 0 keeps the level, -30 is 30 dB below nominal.
5. Additive white Gaussian noise over the full 0-4 kHz band, either
   ``noise_dbm0`` (absolute level) or ``snr_db`` (relative to the received signal's
   nominal level, ``signal_dbm0 + level_db``; ``signal_dbm0`` defaults to -14 dBm0, the
   level spandsp's and our fax modems transmit at).  Not both.
6. Rounding and clipping to int16, then ``codec`` ``"alaw"``/``"ulaw"``: a G.711 round
   trip (encode and decode), as on any G.711 VoIP leg.
7. ``loss_rate`` — each 20 ms packet (160 output samples, counted from the first output
   sample) is lost with this probability, independently.  Lost samples come out as zeros
   and are flagged in the mask `process_marked` returns; `blocks` turns the stream into
   160-sample packets with ``None`` for lost ones, and `drive` feeds those to a
   receiver, calling ``fillin`` for ``None``.

dBm0 follows the project convention in `dsp.g711` (0 dBm0 sine = peak 22826).
"""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

import numpy as np

from dsp import g711

SAMPLE_RATE = 8000
PACKET = 160  # samples per 20 ms packet


class _Delay:
    def __init__(self, n: int) -> None:
        self._buf = np.zeros(n, dtype=np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._buf, x])
        out, self._buf = buf[: len(x)], buf[len(x):]
        return out


class _Resampler:
    """Streaming windowed-sinc interpolator for a constant ratio near 1."""

    HALF = 16

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._hist = np.zeros(2 * self.HALF, dtype=np.float64)
        self._base = -2 * self.HALF  # absolute input index of _hist[0]
        self._n_in = 0  # input samples seen
        self._k = 0  # next output index
        self._offsets = np.arange(-self.HALF + 1, self.HALF + 1)

    _STEPS = 1024

    @classmethod
    @functools.cache
    def _table(cls) -> np.ndarray:
        """Kaiser-windowed (beta 8) sinc taps for fractional positions j / _STEPS."""
        frac = np.arange(cls._STEPS + 1) / cls._STEPS
        d = frac[:, None] - np.arange(-cls.HALF + 1, cls.HALF + 1)[None, :]
        win = np.i0(8.0 * np.sqrt(np.clip(1.0 - (d / cls.HALF) ** 2, 0.0, 1.0))) / np.i0(8.0)
        return np.sinc(d) * win

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._hist = np.concatenate([self._hist, x])
        self._n_in += len(x)
        # Output k needs input up to index floor(k * ratio) (see module docstring).
        last = self._n_in - 1
        k_end = int(self._n_in / self._ratio)
        while k_end > 0 and np.floor((k_end - 1) * self._ratio) > last:
            k_end -= 1
        while np.floor(k_end * self._ratio) <= last:
            k_end += 1
        if k_end <= self._k:
            return np.zeros(0)
        ks = np.arange(self._k, k_end, dtype=np.float64)
        t = ks * self._ratio - self.HALF
        i0 = np.floor(t)
        # Taps at the fractional position, interpolated linearly between the rows of a
        # table sampled every 1/1024 sample (error ~1e-6 of full scale).
        pos = (t - i0) * self._STEPS
        q = np.minimum(pos.astype(np.int64), self._STEPS - 1)
        a = (pos - q)[:, None]
        table = self._table()
        taps = table[q] * (1.0 - a) + table[q + 1] * a
        idx = (i0[:, None] + self._offsets[None, :]).astype(np.int64) - self._base
        y = np.sum(self._hist[idx] * taps, axis=1)
        self._k = k_end
        # Keep only the history the next outputs can still reach.
        next_i0 = int(np.floor(self._k * self._ratio - self.HALF))
        keep_from = next_i0 - self.HALF + 1 - self._base
        if keep_from > 0:
            self._hist = self._hist[keep_from:]
            self._base += keep_from
        return y


class _FreqShift:
    """Shift every component by `hz` with a streaming FIR Hilbert transformer."""

    HALF = 50

    def __init__(self, hz: float) -> None:
        k = np.arange(-self.HALF, self.HALF + 1)
        h = np.zeros(len(k))
        odd = k % 2 != 0
        h[odd] = 2.0 / (np.pi * k[odd])
        self._h = h * np.blackman(len(k))
        self._hist = np.zeros(2 * self.HALF, dtype=np.float64)
        self._w = 2.0 * np.pi * hz / SAMPLE_RATE
        self._n = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        buf = np.concatenate([self._hist, x])
        quad = np.convolve(buf, self._h, mode="valid")  # len(x) outputs
        inphase = buf[self.HALF: self.HALF + len(x)]
        self._hist = buf[len(x):]
        phase = self._w * np.arange(self._n, self._n + len(x), dtype=np.float64)
        self._n += len(x)
        return inphase * np.cos(phase) - quad * np.sin(phase)


class LineModel:
    """One direction of a line: ``process`` samples in stream order (see module docstring)."""

    def __init__(
        self,
        seed: int,
        *,
        level_db: float = 0.0,
        snr_db: float | None = None,
        noise_dbm0: float | None = None,
        signal_dbm0: float = -14.0,
        freq_offset_hz: float = 0.0,
        clock_ppm: float = 0.0,
        delay_samples: int = 0,
        codec: str | g711.Law | None = None,
        loss_rate: float = 0.0,
    ) -> None:
        if snr_db is not None and noise_dbm0 is not None:
            raise ValueError("give snr_db or noise_dbm0, not both")
        if not 0.0 <= loss_rate <= 1.0:
            raise ValueError("loss_rate must be in [0, 1]")
        noise_seq, loss_seq = np.random.SeedSequence(seed).spawn(2)
        self._noise_rng = np.random.default_rng(noise_seq)
        self._loss_rng = np.random.default_rng(loss_seq)
        self._gain = 10.0 ** (level_db / 20.0)
        if noise_dbm0 is not None:
            self._noise_rms = g711.dbm0_to_rms(noise_dbm0)
        elif snr_db is not None:
            self._noise_rms = g711.dbm0_to_rms(signal_dbm0 + level_db - snr_db)
        else:
            self._noise_rms = 0.0
        self._law = g711.Law(codec) if isinstance(codec, str) else codec
        self._loss_rate = loss_rate
        self._stages = []
        if delay_samples:
            self._stages.append(_Delay(int(delay_samples)))
        if clock_ppm:
            self._stages.append(_Resampler(1.0 + clock_ppm * 1e-6))
        if freq_offset_hz:
            self._stages.append(_FreqShift(freq_offset_hz))
        self._out_count = 0
        self._packet_lost: list[bool] = []

    def process_marked(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples through the line, and a bool mask of the samples lost in transit."""
        x = np.asarray(samples, dtype=np.float64)
        for stage in self._stages:
            x = stage(x)
        x = x * self._gain
        if self._noise_rms:
            x = x + self._noise_rng.standard_normal(len(x)) * self._noise_rms
        y = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
        if self._law is not None:
            y = g711.round_trip(y, self._law)
        lost = self._loss_mask(len(y))
        y[lost] = 0
        return y, lost

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Samples through the line; lost packets come out as silence."""
        return self.process_marked(samples)[0]

    def _loss_mask(self, n: int) -> np.ndarray:
        start = self._out_count
        self._out_count += n
        if self._loss_rate <= 0.0 or n == 0:
            return np.zeros(n, dtype=bool)
        last_packet = (self._out_count - 1) // PACKET
        while len(self._packet_lost) <= last_packet:
            self._packet_lost.append(bool(self._loss_rng.random() < self._loss_rate))
        packets = np.arange(start, self._out_count) // PACKET
        return np.asarray(self._packet_lost, dtype=bool)[packets]


def blocks(samples: np.ndarray, lost: np.ndarray | None = None, size: int = PACKET) -> list[np.ndarray | None]:
    """Split a stream into `size`-sample packets (the last may be short); a packet with
    any lost sample becomes ``None``."""
    out: list[np.ndarray | None] = []
    for i in range(0, len(samples), size):
        if lost is not None and lost[i: i + size].any():
            out.append(None)
        else:
            out.append(samples[i: i + size])
    return out


def drive(receiver, packets: Iterable[np.ndarray | None], size: int = PACKET) -> list:
    """Feed packets to a `Receiver`, calling ``fillin(size)`` for lost ones; all its
    output items in order."""
    items: list = []
    for p in packets:
        if p is None:
            receiver.fillin(size)
        else:
            items.extend(receiver.receive(p))
    return items


def transmit_all(transmitter, block: int = PACKET, limit: int = 8000 * 600) -> np.ndarray:
    """Everything a `Transmitter` produces until it finishes (fewer samples than asked)."""
    parts = []
    total = 0
    while total < limit:
        chunk = transmitter.transmit(block)
        parts.append(chunk)
        total += len(chunk)
        if len(chunk) < block:
            break
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def silence(n: int) -> np.ndarray:
    """n samples of digital silence."""
    return np.zeros(n, dtype=np.int16)


def split(samples: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Slice a stream into blocks of the given sizes, cycling through them."""
    out = []
    i = 0
    j = 0
    while i < len(samples):
        n = sizes[j % len(sizes)]
        out.append(samples[i: i + n])
        i += n
        j += 1
    return out
