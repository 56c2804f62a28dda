"""The pieces every PSK/QAM modem shares: scramblers, shaping, equalizer, recovery loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.modems import equalizer, recovery, scrambler, shaping

BITS = st.lists(st.integers(0, 1), min_size=1, max_size=400).map(lambda b: np.array(b, np.uint8))


# ---- scramblers -----------------------------------------------------------------------

@given(BITS, st.integers(0, (1 << 23) - 1))
@settings(max_examples=60, deadline=None)
def test_v29_scrambler_round_trip(bits, start):
    line = scrambler.v29_scramble(bits, scrambler.v29_state(start))
    assert np.array_equal(scrambler.v29_descramble(line, scrambler.v29_state(start)), bits)


@given(BITS, st.integers(0, 0xFFF))
@settings(max_examples=60, deadline=None)
def test_v27ter_scrambler_round_trip(bits, start):
    line = scrambler.v27ter_scramble(bits, scrambler.v27ter_state(start))
    assert np.array_equal(scrambler.v27ter_descramble(line, scrambler.v27ter_state(start)), bits)


def test_v29_descrambler_synchronises_after_23_bits():
    bits = np.random.default_rng(1).integers(0, 2, 500).astype(np.uint8)
    line = scrambler.v29_scramble(bits, scrambler.v29_state(0x12345))
    out = scrambler.v29_descramble(line, scrambler.v29_state(0x7F0F0F))
    assert np.array_equal(out[23:], bits[23:])


def test_v27ter_guard_breaks_up_repetitive_line_patterns():
    # From the all-zero state, zeros in would give zeros on the line without the guard.
    line = scrambler.v27ter_scramble(np.zeros(200, np.uint8), scrambler.v27ter_state(0))
    assert 0 < line.sum() < 200
    assert np.array_equal(scrambler.v27ter_descramble(line, scrambler.v27ter_state(0)),
                          np.zeros(200, np.uint8))


@pytest.mark.parametrize("kind,make", [
    (scrambler.V29_SCRAMBLE, scrambler.v29_state), (scrambler.V29_DESCRAMBLE, scrambler.v29_state),
    (scrambler.V27TER_SCRAMBLE, scrambler.v27ter_state),
    (scrambler.V27TER_DESCRAMBLE, scrambler.v27ter_state)])
def test_scrambler_compiled_matches_reference(kind, make):
    bits = np.random.default_rng(2).integers(0, 2, 300).astype(np.uint8)
    a, b = make(5), make(5)
    assert np.array_equal(scrambler.apply(bits, a, kind), scrambler.apply.py_func(bits, b, kind))
    assert np.array_equal(a, b)


# ---- shaping --------------------------------------------------------------------------

@pytest.mark.parametrize("hz,period", [(1700.0, 80), (1800.0, 40)])
def test_carrier_table_is_one_exact_period(hz, period):
    tab = shaping.carrier_table(hz)
    assert len(tab) == period
    n = np.arange(3 * period)
    assert np.allclose(tab[n % period], np.exp(2j * np.pi * hz * n / 8000))


@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_rrc_pair_is_nyquist(alpha):
    # RRC convolved with itself is a raised cosine: zero at every non-zero symbol instant.
    os = 32
    t = np.arange(-12 * os, 12 * os + 1) / os
    rc = np.convolve(shaping.rrc(t, alpha), shaping.rrc(t, alpha)) / os
    centre = len(rc) // 2
    peak = rc[centre]
    for k in range(1, 5):
        assert abs(rc[centre + k * os]) < 0.01 * peak


@pytest.mark.parametrize("baud,num,den", [(2400, 3, 10), (1600, 1, 5), (1200, 3, 20)])
def test_tx_shaper_phases(baud, num, den):
    sh = shaping.TxShaper.design(baud, 0.5, 9)
    assert (sh.num, sh.den) == (num, den)
    assert sh.coef.shape == (den, 9)
    # 1 second of samples consumes exactly `baud` symbols.
    assert sh.symbols_needed(0, 8000) == baud


def test_modulate_compiled_matches_reference_and_block_sizes():
    sh = shaping.TxShaper.design(2400, 0.25, 11)
    carrier = shaping.carrier_table(1700.0)
    rng = np.random.default_rng(3)
    syms = (rng.integers(-3, 4, 2000) + 1j * rng.integers(-3, 4, 2000)).astype(np.complex128)

    def run(fn, sizes):
        state = np.zeros(shaping.TX_STATE_LEN, np.int64)
        ring = np.zeros(2 * sh.coef.shape[1], np.complex128)
        out, used, i = [], 0, 0
        while used < 300:
            n = sizes[i % len(sizes)]
            i += 1
            k = sh.symbols_needed(int(state[shaping.TX_ACC]), n)
            out.append(fn(syms[used: used + k], n, state, ring, sh.coef, sh.num, sh.den, carrier, 500.0))
            used += k
        return np.concatenate(out)

    a = run(shaping.modulate, [160])
    b = run(shaping.modulate.py_func, [160])
    c = run(shaping.modulate, [1, 7, 4000])
    n = min(len(a), len(c))
    assert np.array_equal(a, b)
    assert np.array_equal(a[:n], c[:n])


def test_rx_filter_compiled_matches_reference():
    rb = shaping.RxBank.design(2400, 0.25, 8.0)
    ring = (np.random.default_rng(4).standard_normal(40) + 1j).astype(np.complex128)
    hist = np.concatenate([ring, ring])  # the doubled ring layout
    for off, p in [(-rb.half, 0), (-rb.half - 3, 17), (-rb.half - 1, 63)]:
        a = shaping.rx_filter_at(hist, 10, off, p, rb.rev, rb.half)
        b = shaping.rx_filter_at.py_func(hist, 10, off, p, rb.rev, rb.half)
        assert a == b
        # the same sum as the bank's definition: bank[p, k] * sample(m + half - k)
        m = 10 + off
        ref = sum(rb.bank[p, k] * ring[(m + rb.half - k) % 40] for k in range(2 * rb.half))
        assert abs(a - ref) < 1e-9


def test_rx_bank_interpolates_smoothly():
    # Evaluating a slow tone at fractional times follows the tone.
    rb = shaping.RxBank.design(1600, 0.5, 8.0)
    n = 128
    f = 200.0 / 8000
    tone = np.exp(2j * np.pi * f * np.arange(n)).astype(np.complex128)
    hist = np.concatenate([tone, tone])
    newest = n - 1
    gain = abs(shaping.rx_filter_at(hist, newest, -rb.half - 20, 0, rb.rev, rb.half))
    for p in range(0, 64, 8):
        y = shaping.rx_filter_at(hist, newest, -rb.half - 20, p, rb.rev, rb.half)
        t = newest - rb.half - 20 + p / 64
        assert abs(y / gain - np.exp(2j * np.pi * f * t)) < 0.02


# ---- equalizer ------------------------------------------------------------------------

def _train(fn_push, fn_out, fn_adapt, n_sym=3000):
    """QPSK through a T/2 channel with an echo; LMS on known symbols."""
    rng = np.random.default_rng(5)
    syms = (rng.integers(0, 2, n_sym) * 2 - 1 + 1j * (rng.integers(0, 2, n_sym) * 2 - 1)) / math.sqrt(2)
    up = np.zeros(2 * n_sym, np.complex128)
    up[0::2] = syms
    channel = np.array([0.1, 0.3, 1.0, 0.5, -0.3, 0.2j, 0.1], np.complex128)
    rx = np.convolve(up, channel)[: 2 * n_sym]
    n_taps = 17
    taps = equalizer.unit(n_taps)
    ring = np.zeros(2 * n_taps, np.complex128)
    pos = 0
    errs = []
    delay = n_taps // 4 + 1  # centre tap is 4 symbols back, plus the channel peak at T/2*2
    for k in range(n_sym):
        pos = fn_push(ring, pos, rx[2 * k - 1] if k else 0j)  # mid-symbol sample
        pos = fn_push(ring, pos, rx[2 * k])                    # symbol-instant sample
        z = fn_out(taps, ring, pos)
        if k >= delay:
            e = syms[k - delay] - z
            fn_adapt(taps, ring, pos, e, 0.01)
            errs.append(abs(e) ** 2)
    return np.array(errs), taps


def test_equalizer_learns_an_echo_channel():
    errs, _ = _train(equalizer.push, equalizer.output, equalizer.adapt)
    assert np.mean(errs[:50]) > 0.05  # the echo costs ~11 dB untrained
    assert np.mean(errs[-500:]) < 0.003  # better than 25 dB


def test_equalizer_compiled_matches_reference():
    a, ta = _train(equalizer.push, equalizer.output, equalizer.adapt, 300)
    b, tb = _train(equalizer.push.py_func, equalizer.output.py_func, equalizer.adapt.py_func, 300)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.allclose(ta, tb, rtol=1e-12, atol=1e-15)


def test_equalizer_length_rule():
    with pytest.raises(ValueError):
        equalizer.unit(19)  # centre index 9 would sit on a mid-symbol sample
    assert equalizer.unit(17)[8] == 1


# ---- recovery -------------------------------------------------------------------------

def test_pll_follows_a_frequency_offset():
    freq_true = 2 * math.pi * 10 / 2400  # 10 Hz at 2400 baud, per symbol
    phase, freq = 0.0, 0.0
    for k in range(600):
        true = (freq_true * k + 0.7 + math.pi) % (2 * math.pi) - math.pi
        err = (true - phase + math.pi) % (2 * math.pi) - math.pi
        phase, freq = recovery.pll_step(phase, freq, err, 0.12, 0.004)
    assert abs(freq - freq_true) < 1e-3
    a = recovery.pll_step(0.3, 0.01, 0.05, 0.1, 0.01)
    assert a == recovery.pll_step.py_func(0.3, 0.01, 0.05, 0.1, 0.01)


def test_gardner_sign_late_is_positive():
    # Alternation +1, -1 through a raised-cosine-like response, sampled tau late.
    def y(t):
        return complex(math.cos(math.pi * t))
    for tau in (0.05, 0.2):
        assert recovery.gardner(y(tau), y(0.5 + tau), y(1.0 + tau)) > 0
        assert recovery.gardner(y(-tau), y(0.5 - tau), y(1.0 - tau)) < 0


def test_alternation_timing_from_power_tone():
    sps = 5.0
    for t0 in (0.0, 1.3, 3.9):
        n = np.arange(400)
        power = 1 + np.cos(2 * np.pi * (n - t0) / sps)
        tone = np.sum(power * np.exp(-2j * np.pi * n / sps))
        assert abs(recovery.alternation_timing(tone) * sps - t0) < 1e-6


def test_levels_follow_the_project_dbm0_convention():
    assert math.isclose(math.sqrt(recovery.dbm0_mean_square(-14.0)), 3220, rel_tol=0.01)


def test_symbol_bookkeeping_helpers():
    sh = shaping.TxShaper.design(2400, 0.25, 11)
    state = np.zeros(shaping.TX_STATE_LEN, np.int64)
    for acc in range(sh.den):
        state[shaping.TX_ACC] = acc
        assert shaping.symbols_due(state, 160, sh.num, sh.den) == sh.symbols_needed(acc, 160)
        # Enough symbols: all samples.  Starved: only those before the next symbol is due.
        need = sh.symbols_needed(acc, 160)
        assert shaping.samples_until_starved(state, 160, need, sh.num, sh.den) == 160
        for avail in range(need):
            m = shaping.samples_until_starved(state, 160, avail, sh.num, sh.den)
            assert sh.symbols_needed(acc, m) <= avail < sh.symbols_needed(acc, m + 1)
            assert m == shaping.samples_until_starved.py_func(state, 160, avail, sh.num, sh.den)
