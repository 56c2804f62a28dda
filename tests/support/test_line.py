"""The line model does what its knobs say, deterministically and block-size independently."""

from __future__ import annotations

import numpy as np
import pytest

from dsp import g711
from tests.support.line import LineModel, blocks, split

FS = 8000


def tone(freq: float, n: int, dbm0: float = -14.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n)
    return np.rint(g711.dbm0_to_amplitude(dbm0) * np.sin(2 * np.pi * freq * t / FS + phase)).astype(np.int16)


def peak_hz(x: np.ndarray) -> float:
    """Frequency of the strongest component, refined by parabolic interpolation."""
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1: k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * FS / len(x)


ALL_KNOBS = dict(level_db=-12, snr_db=25, freq_offset_hz=7.5, clock_ppm=-80,
                 delay_samples=123, codec="alaw", loss_rate=0.1)


@pytest.mark.parametrize("sizes", [[1], [7], [160], [4000], [3, 500, 1, 77]])
def test_block_size_independent(sizes):
    x = tone(1700, 12000) + tone(700, 12000, -20)
    whole, lost_whole = LineModel(42, **ALL_KNOBS).process_marked(x)
    line = LineModel(42, **ALL_KNOBS)
    parts = [line.process_marked(b) for b in split(x, sizes)]
    got = np.concatenate([p[0] for p in parts])
    lost = np.concatenate([p[1] for p in parts])
    assert np.array_equal(got, whole)
    assert np.array_equal(lost, lost_whole)


def test_seed_decides_everything():
    x = tone(1000, 4000)
    a = LineModel(1, snr_db=20, loss_rate=0.3).process(x)
    b = LineModel(1, snr_db=20, loss_rate=0.3).process(x)
    c = LineModel(2, snr_db=20, loss_rate=0.3).process(x)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_identity_by_default():
    x = tone(1234, 1000)
    assert np.array_equal(LineModel(0).process(x), x)


def test_level_and_noise_levels():
    x = tone(1800, 80000, -14.0)
    assert g711.power_dbm0(LineModel(0, level_db=-20).process(x)) == pytest.approx(-34.0, abs=0.05)
    noise = LineModel(3, noise_dbm0=-44).process(np.zeros(80000, np.int16))
    assert g711.power_dbm0(noise) == pytest.approx(-44.0, abs=0.1)
    out = LineModel(3, level_db=-10, snr_db=15).process(np.zeros(80000, np.int16))
    assert g711.power_dbm0(out) == pytest.approx(-14.0 - 10 - 15, abs=0.1)


def test_dbm0_convention_matches_spandsp_level():
    # spandsp's fax modems send at -14 dBm0, RMS ~3220 on the int16 scale.
    assert g711.dbm0_to_rms(-14.0) == pytest.approx(3220, abs=5)
    assert g711.power_dbm0(tone(1000, 8000, -14.0)) == pytest.approx(-14.0, abs=0.01)


@pytest.mark.parametrize("offset", [-10.0, 4.0, 10.0])
def test_frequency_offset_moves_tones(offset):
    y = LineModel(0, freq_offset_hz=offset).process(tone(1500, 16000))[200:]
    assert peak_hz(y) == pytest.approx(1500 + offset, abs=0.2)
    # The shift keeps the level and adds no images: 1500 - offset is far below the tone.
    assert g711.power_dbm0(y) == pytest.approx(-14.0, abs=0.1)


@pytest.mark.parametrize("ppm", [-100.0, 100.0, 1000.0])
def test_clock_offset_rescales_time(ppm):
    n = 40000
    y = LineModel(0, clock_ppm=ppm).process(tone(2000, n))
    assert abs(len(y) - n / (1 + ppm * 1e-6)) <= 1
    measured = peak_hz(y[100:-100])
    assert measured == pytest.approx(2000 * (1 + ppm * 1e-6), abs=0.05)
    # Interpolation error: compare with the ideal resampled tone (16 samples latency).
    k = np.arange(200, len(y) - 200)
    ideal = g711.dbm0_to_amplitude(-14) * np.sin(2 * np.pi * 2000 * (k * (1 + ppm * 1e-6) - 16) / FS)
    err = y[200:len(y) - 200] - ideal
    assert 10 * np.log10(np.mean(ideal ** 2) / np.mean(err ** 2)) > 50


def test_delay_and_codec():
    x = tone(1000, 800)
    y = LineModel(0, delay_samples=100).process(x)
    assert np.all(y[:100] == 0) and np.array_equal(y[100:], x[:700])
    for law in ("alaw", "ulaw"):
        assert np.array_equal(LineModel(0, codec=law).process(x), g711.round_trip(x, g711.Law(law)))


def test_loss_marks_whole_packets():
    x = tone(1000, 160 * 2000)
    y, lost = LineModel(9, loss_rate=0.05).process_marked(x)
    per_packet = lost.reshape(-1, 160)
    assert np.all(per_packet.all(axis=1) == per_packet.any(axis=1))
    assert per_packet[:, 0].mean() == pytest.approx(0.05, abs=0.015)
    assert np.all(y[lost] == 0)
    pk = blocks(y, lost)
    assert sum(p is None for p in pk) == per_packet[:, 0].sum()
