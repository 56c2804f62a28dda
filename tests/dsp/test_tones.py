"""CNG/CED generation and detection: levels, noise, cadence, falsing, spandsp both ways."""

from __future__ import annotations

import numpy as np
import pytest

from dsp import g711, hdlc
from dsp.modems.v21 import V21Transmitter
from dsp.tones import CedGenerator, CngGenerator, Tone, ToneDetector, ToneEvent
from tests.support.line import LineModel, split, transmit_all
from tests.support.spandsp_tones import (MODEM_CONNECT_TONES_ANS, MODEM_CONNECT_TONES_FAX_CNG,
                                         SpanToneRx, SpanToneTx)

FS = 8000


def cng(seconds=8.0):
    return CngGenerator().transmit(int(FS * seconds))


def ced():
    return np.concatenate([np.zeros(1600, np.int16), CedGenerator().transmit(FS * 5), np.zeros(FS, np.int16)])


def events(x, size=160, **kw):
    d = ToneDetector(**kw)
    return [e for b in split(x, [size]) for e in d.receive(b)]


def onsets(evs, tone):
    return [e.at for e in evs if e.tone is tone and e.present]


def speech_like(seed: int, seconds: float = 6.0) -> np.ndarray:
    """Voiced-speech stand-in: a glottal pulse train with gliding pitch (including
    stretches at exactly 1100/8 and 2100/16 Hz, whose harmonics sit on the tone
    frequencies) through three drifting formant resonators, with a syllabic envelope."""
    rng = np.random.default_rng(seed)
    n = int(FS * seconds)
    t = np.arange(n) / FS
    pitch = 137.5 + 25 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))
    pitch[: n // 4] = 137.5  # harmonic 8 = 1100 Hz, steady
    pitch[n // 4: n // 2] = 131.25  # harmonic 16 = 2100 Hz, steady
    phase = np.cumsum(pitch / FS)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    x = pulses
    for f0, bw in ((500, 80), (1100 + 200 * rng.standard_normal(), 100), (2100 + 150 * rng.standard_normal(), 120)):
        r = np.exp(-np.pi * bw / FS)
        a1, a2 = -2 * r * np.cos(2 * np.pi * f0 / FS), r * r
        y = np.zeros(n)
        for i in range(2, n):
            y[i] = x[i] - a1 * y[i - 1] - a2 * y[i - 2]
        x = x + 0.5 * y
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    x = x * env
    x *= g711.dbm0_to_rms(-16) / np.sqrt(np.mean(x ** 2))
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def test_generators_cadence_level_and_duration():
    x = cng(7.0)
    on = np.abs(x.reshape(-1, 80)).max(axis=1) > 0
    assert on[:50].all() and not on[51:350].any() and on[350:400].all()  # 0.5 s on, 3 s off
    assert g711.power_dbm0(x[:4000]) == pytest.approx(-11.0, abs=0.05)
    gen = CedGenerator()
    y = np.concatenate(split_transmit(gen))
    assert len(y) == 24000 and g711.power_dbm0(y) == pytest.approx(-11.0, abs=0.05)
    with pytest.raises(ValueError):
        CedGenerator(samples=FS * 5)


def split_transmit(gen, n=160):
    out = []
    while True:
        b = gen.transmit(n)
        out.append(b)
        if len(b) < n:
            return out


@pytest.mark.parametrize("level_db", [11, 0, -20, -32])  # 0 to -43 dBm0 from -11 dBm0
@pytest.mark.parametrize("codec", ["alaw", "ulaw"])
def test_detects_both_tones_across_levels(level_db, codec):
    line = dict(level_db=level_db, codec=codec)
    evs = events(LineModel(0, **line).process(cng()))
    assert onsets(evs, Tone.CNG) == [2400, 30400, 58400] and not onsets(evs, Tone.CED)
    evs = events(LineModel(0, **line).process(ced()))
    assert onsets(evs, Tone.CED) == [1600 + 3200] and not onsets(evs, Tone.CNG)
    assert [e.at for e in evs if not e.present] == [1600 + 24000 + 240]


@pytest.mark.parametrize("kw", [dict(snr_db=6, signal_dbm0=-11), dict(noise_dbm0=-44, level_db=-25),
                                dict(snr_db=10, signal_dbm0=-11, freq_offset_hz=10, level_db=-20)])
def test_detects_in_noise(kw):
    for seed in range(3):
        assert len(onsets(events(LineModel(seed, codec="alaw", **kw).process(cng())), Tone.CNG)) == 3
        assert len(onsets(events(LineModel(seed, codec="alaw", **kw).process(ced())), Tone.CED)) == 1


@pytest.mark.parametrize("size", [1, 7, 160, 4000])
def test_block_size_independent(size):
    x = LineModel(3, snr_db=8, signal_dbm0=-11).process(np.concatenate([cng(4), ced()]))
    assert events(x, size) == events(x, 160)


def test_fillin_sustains():
    d = ToneDetector()
    x = ced()
    got = []
    for i, b in enumerate(split(x, [160])):
        if i in (40, 41, 60):
            d.fillin(len(b))
        else:
            got += d.receive(b)
    assert [e.present for e in got] == [True, False]


def test_no_false_detection_on_noise_speech_or_v21():
    rng = np.random.default_rng(0)
    noise = np.rint(rng.standard_normal(FS * 10) * g711.dbm0_to_rms(-20)).astype(np.int16)
    assert events(noise) == []
    for seed in range(3):
        assert events(speech_like(seed)) == []
    tx = V21Transmitter()
    tx.feed(hdlc.encode_frames([bytes(range(40))] * 4, preamble=38))
    tx.feed(np.random.default_rng(1).integers(0, 2, 900).astype(np.uint8))
    assert events(transmit_all(tx)) == []


@pytest.mark.spandsp
def test_spandsp_detects_ours():
    rx = SpanToneRx(MODEM_CONNECT_TONES_FAX_CNG)
    for b in split(LineModel(0, codec="alaw").process(cng()), [160]):
        rx.receive(b)
    assert [t for t, _ in rx.reports if t] == [MODEM_CONNECT_TONES_FAX_CNG] * 3
    rx = SpanToneRx(MODEM_CONNECT_TONES_ANS)
    for b in split(LineModel(0, codec="ulaw").process(ced()), [160]):
        rx.receive(b)
    assert [t for t, _ in rx.reports if t] == [MODEM_CONNECT_TONES_ANS]


@pytest.mark.spandsp
def test_we_detect_spandsps():
    tx = SpanToneTx(MODEM_CONNECT_TONES_FAX_CNG)
    x = np.concatenate([tx.transmit(160) for _ in range(400)])
    assert len(onsets(events(x), Tone.CNG)) == 3
    tx = SpanToneTx(MODEM_CONNECT_TONES_ANS)
    x = np.concatenate([tx.transmit(160) for _ in range(200)] + [np.zeros(FS, np.int16)])
    evs = events(x)
    assert [(e.tone, e.present) for e in evs] == [(Tone.CED, True), (Tone.CED, False)]


def test_event_type():
    assert ToneEvent(Tone.CNG, True, 80) == ToneEvent(Tone.CNG, True, 80)
