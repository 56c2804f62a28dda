"""Helpers the V.27ter and V.29 tests (and benchmarks/ber_psk.py) share: send known bits
through a transmitter, a line and a receiver, and compare.

Receivers (ours and spandsp's) put out the data from its first bit; `match` still finds
the data's first bits in what came out, so a stray leading bit would show as an offset
rather than as errors everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.modems import psk_rx, v27ter, v29
from dsp.modems.base import Status
from tests.support import line

TRANSMITTERS = {"v29": v29.V29Transmitter, "v27ter": v27ter.V27terTransmitter}
RECEIVERS = {"v29": v29.V29Receiver, "v27ter": v27ter.V27terReceiver}
#: Every (modem, rate) pair.
ALL = [("v27ter", 2400), ("v27ter", 4800), ("v29", 4800), ("v29", 7200), ("v29", 9600)]
LEAD = 400    # silence before a transmission (samples)
TRAIL = 1200  # silence after it


def random_bits(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def our_signal(modem: str, rate: int, bits: np.ndarray, *, tep: bool = False) -> np.ndarray:
    """Our transmitter's whole transmission of `bits`, with silence around it."""
    tx = TRANSMITTERS[modem](rate, tep=tep)
    tx.feed(bits)
    return np.concatenate([line.silence(LEAD), line.transmit_all(tx), line.silence(TRAIL)])


def spandsp_signal(modem: str, rate: int, bits: np.ndarray, *, tep: bool = False) -> np.ndarray:
    from tests.support.spandsp_psk import SpanTx

    return np.concatenate([line.silence(LEAD), SpanTx(modem, rate, bits, tep=tep).transmit_all(),
                           line.silence(TRAIL)])


@dataclass
class Match:
    found: bool
    errors: int       # bit errors over the compared span (all bits when not found)
    compared: int


def match(sent: np.ndarray, got: np.ndarray, probe: int = 48) -> Match:
    """Find ``sent`` in ``got`` (by its first `probe` bits) and count errors after it."""
    s = bytes(sent[:probe])
    g = bytes(np.asarray(got, np.uint8))
    at = g.find(s)
    if at < 0:
        return Match(False, len(sent), len(sent))
    n = min(len(sent), len(got) - at)
    errors = int(np.count_nonzero(got[at: at + n] != sent[:n])) + (len(sent) - n)
    return Match(True, errors, len(sent))


@dataclass
class Trial:
    statuses: list
    items: list
    match: Match

    @property
    def trained(self) -> bool:
        return Status.TRAINING_SUCCEEDED in self.statuses

    @property
    def exact(self) -> bool:
        return self.trained and self.match.found and self.match.errors == 0

    def training_quality(self) -> float | None:
        for x in self.items:
            if isinstance(x, psk_rx.ModemStatus) and x.status in (
                    Status.TRAINING_SUCCEEDED, Status.TRAINING_FAILED):
                return x.quality
        return None


def receive(modem: str, rate: int, samples: np.ndarray, bits: np.ndarray, block: int = 160) -> Trial:
    rx = RECEIVERS[modem](rate)
    items = []
    for i in range(0, len(samples), block):
        items.extend(rx.receive(samples[i: i + block]))
    got = psk_rx.bits_of(items)
    return Trial(psk_rx.statuses(items), items, match(bits, got))


def line_trial(modem: str, rate: int, seed: int, n_bits: int = 2000, **line_kw) -> Trial:
    """Our transmitter -> seeded line model -> our receiver."""
    bits = random_bits(seed, n_bits)
    y = line.LineModel(seed, **line_kw).process(our_signal(modem, rate, bits))
    return receive(modem, rate, y, bits)


#: The SNR (dB, full 0-4 kHz band) each modem is meant to work down to on our lines.
PRACTICAL_SNR = {("v27ter", 2400): 12.0, ("v27ter", 4800): 17.0, ("v29", 4800): 14.0,
                 ("v29", 7200): 19.0, ("v29", 9600): 23.0}


def impairments(seed: int, modem: str, rate: int) -> dict:
    """A seeded draw of line conditions inside the specification: G.711 A/µ-law, level
    0..-30 dB, carrier offset within ±10 Hz, clock within ±100 ppm, noise down to the
    modem's practical SNR."""
    rng = np.random.default_rng(10_000 + seed)
    return dict(
        codec="alaw" if rng.random() < 0.5 else "ulaw",
        level_db=float(rng.uniform(-30.0, 0.0)),
        freq_offset_hz=float(rng.uniform(-10.0, 10.0)),
        clock_ppm=float(rng.uniform(-100.0, 100.0)),
        snr_db=float(rng.uniform(PRACTICAL_SNR[(modem, rate)], 40.0)),
    )


def spandsp_line_trial(modem: str, rate: int, seed: int, n_bits: int = 2000, **line_kw) -> Trial:
    """spandsp's transmitter -> seeded line model -> our receiver."""
    bits = random_bits(seed, n_bits)
    y = line.LineModel(seed, **line_kw).process(spandsp_signal(modem, rate, bits))
    return receive(modem, rate, y, bits)


def line_into_spandsp(modem: str, rate: int, seed: int, n_bits: int = 2000, **line_kw) -> tuple[bool, Match]:
    """Our transmitter -> seeded line model -> spandsp's receiver: (trained, match)."""
    from tests.support.spandsp_psk import SpanRx

    bits = random_bits(seed, n_bits)
    y = line.LineModel(seed, **line_kw).process(our_signal(modem, rate, bits))
    rx = SpanRx(modem, rate, cutoff_dbm0=-45.0)  # its default (-26 dBm0) misses weak lines
    rx.receive(y)
    return rx.trained(), match(bits, np.array(rx.bits, np.uint8))


#: Conditions spandsp 0.0.6's own receivers cope with (it needs SNR > 30 dB for V.27ter).
MILD = [dict(codec="alaw", level_db=-10.0, freq_offset_hz=5.0, clock_ppm=50.0, snr_db=40.0),
        dict(codec="ulaw", level_db=-20.0, freq_offset_hz=-5.0, clock_ppm=-50.0, snr_db=40.0)]
