"""The TCF training check (`tcf_acceptable`, T.30 §5.3.6.2.2 Note) on modelled bit streams.

A lost 20 ms packet reaches the check in one of two shapes: V.17's fill-in keeps the
stream's length and puts erasure-decoded bits (here: seeded random bits, 20 ms plus 16
symbols plus the descrambler's 23 bits) in place of the lost symbols; V.27 ter/V.29 emit
nothing for it, so the stream is 20 ms short and the descrambler slips (three ones within
its span).  Line errors are independent channel bit errors, each tripled by the
self-synchronising descrambler (V.17/V.29: 1 + x^-18 + x^-23; V.27 ter: 1 + x^-6 + x^-7).
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities, Modem
from dsp.t30.events import PageReceived
from dsp.t30.receiver import tcf_acceptable
from dsp.t30.session import SessionConfig
from dsp.t30.states import State
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page, write_tiff
from tests.support.line import LineModel

#: (bit rate, bits per symbol or None for modems whose fill-in emits nothing, descrambler taps)
MODEMS = {
    14400: (6, (18, 23)), 12000: (5, (18, 23)), 9600: (None, (18, 23)), 7200: (None, (18, 23)),
    4800: (None, (6, 7)), 2400: (None, (6, 7)),
}
V17_7200 = (3, (18, 23))


def _edges(bits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Descrambler settling before the TCF's zeros and carrier-loss noise after them."""
    return np.concatenate([rng.integers(0, 2, 23, np.uint8), bits, rng.integers(0, 2, 40, np.uint8)])


def _tcf(rate: int, seconds: float = 1.5) -> np.ndarray:
    return np.zeros(int(rate * seconds), np.uint8)


def _lose(bits: np.ndarray, rate: int, at: list[int], symbol_bits: int | None, taps,
          rng: np.random.Generator) -> np.ndarray:
    """Lose a 20 ms packet starting at each bit position in `at` (ascending)."""
    packet = rate // 50
    out, prev = [], 0
    for p in at:
        out.append(bits[prev:p])
        if symbol_bits is None:
            slip = np.zeros(max(taps) + 1, np.uint8)
            slip[[0, *taps]] = 1
            out.append(slip)
            prev = min(len(bits), p + packet + len(slip))
        else:
            n = packet + 16 * symbol_bits + 23
            out.append(rng.integers(0, 2, min(n, len(bits) - p), np.uint8))
            prev = min(len(bits), p + n)
    out.append(bits[prev:])
    return np.concatenate(out)


def _errors(bits: np.ndarray, ber: float, taps, rng: np.random.Generator) -> np.ndarray:
    bits = bits.copy()
    for p in np.flatnonzero(rng.random(len(bits)) < ber):
        for d in (0, *taps):
            if p + d < len(bits):
                bits[p + d] ^= 1
    return bits


@pytest.mark.parametrize("rate", sorted(MODEMS))
def test_clean_tcf_passes(rate):
    rng = np.random.default_rng(1)
    assert tcf_acceptable(_tcf(rate), rate)
    assert tcf_acceptable(_edges(_tcf(rate), rng), rate)


def test_nothing_or_noise_fails():
    rng = np.random.default_rng(2)
    assert not tcf_acceptable(np.zeros(0, np.uint8), 9600)
    assert not tcf_acceptable(np.ones(14400, np.uint8), 9600)
    assert not tcf_acceptable(rng.integers(0, 2, 14400, np.uint8), 9600)


@pytest.mark.parametrize("rate", sorted(MODEMS) + ["v17-7200"])
def test_one_lost_packet_anywhere_passes(rate):
    """A packet lost at every 20 ms position of the TCF (and half a packet off it)."""
    symbol_bits, taps = V17_7200 if rate == "v17-7200" else MODEMS[rate]
    rate = 7200 if rate == "v17-7200" else rate
    rng = np.random.default_rng(rate)
    for p in range(0, int(rate * 1.5), rate // 100):
        bits = _edges(_lose(_tcf(rate), rate, [p], symbol_bits, taps, rng), rng)
        assert tcf_acceptable(bits, rate), p


@pytest.mark.parametrize("rate", [14400, 9600, 2400])
def test_two_lost_packets_anywhere_pass(rate):
    """Every pair of 20 ms packets of the TCF lost (adjacent ones too)."""
    symbol_bits, taps = MODEMS[rate]
    rng = np.random.default_rng(rate)
    packet = rate // 50
    starts = range(0, int(rate * 1.5), packet)
    for i, p in enumerate(starts):
        for q in starts[i + 1:]:
            bits = _edges(_lose(_tcf(rate), rate, [p, q], symbol_bits, taps, rng), rng)
            assert tcf_acceptable(bits, rate), (p, q)


def test_three_scattered_losses_fail():
    """The excuse is bounded: three bursts in one TCF are one too many."""
    rng = np.random.default_rng(3)
    bits = _lose(_tcf(14400), 14400, [3000, 9000, 15000], 6, (18, 23), rng)
    assert not tcf_acceptable(bits, 14400)


def test_long_burst_fails():
    """A 150 ms burst is a bad line, not a lost packet."""
    rng = np.random.default_rng(4)
    bits = _tcf(9600)
    bits[6000:7440] = rng.integers(0, 2, 1440, np.uint8)
    assert not tcf_acceptable(bits, 9600)


def _accepted(rate: int, ber: float, seeds=range(40)) -> int:
    _, taps = MODEMS[rate]
    return sum(tcf_acceptable(_edges(_errors(_tcf(rate), ber, taps, rng := np.random.default_rng(s)), rng),
                              rate) for s in seeds)


@pytest.mark.parametrize("rate", sorted(MODEMS))
def test_ber_1e_2_fails(rate):
    assert _accepted(rate, 1e-2) == 0


@pytest.mark.parametrize("rate", [14400, 12000, 9600, 7200])
def test_ber_1e_3_fails(rate):
    assert _accepted(rate, 1e-3) == 0


def test_ber_1e_3_fails_mostly_at_4800():
    """At 4800 bit/s a TCF holds ~7 error events on average; a few seeds get away."""
    assert _accepted(4800, 1e-3) <= 4


@pytest.mark.parametrize("rate", sorted(MODEMS))
def test_ber_1e_4_mostly_passes(rate):
    """1e-4 is a usable line: at most a few scattered events per TCF."""
    assert _accepted(rate, 1e-4) >= 30


@pytest.mark.parametrize("seconds, ok", [(0.3, False), (0.9, False), (1.1, True), (1.5, True)])
def test_truncated_tcf(seconds, ok):
    """Less than a second of zeros fails however clean (the carrier dropped early)."""
    for rate in sorted(MODEMS):
        assert tcf_acceptable(_edges(_tcf(rate, seconds), np.random.default_rng(5)), rate) is ok


def test_truncated_tcf_with_a_loss_fails():
    """One second of TCF with a loss in it leaves less than a second of zeros."""
    rng = np.random.default_rng(6)
    bits = _lose(_tcf(14400, 1.0), 14400, [7000], 6, (18, 23), rng)
    assert not tcf_acceptable(bits, 14400)


# --- whole calls over audio: packets lost in the middle of the first TCF -------------------

class _LoseInTcf:
    """A G.711 line that loses the packets at offsets `lose` (20 ms each) counted from
    when the receiving terminal reports its fast modem trained on the first TCF: the TCF's
    data, whoever sends it."""

    def __init__(self, receiver: FaxTerminal, lose: tuple[int, ...], seed: int) -> None:
        self.line = LineModel(seed, codec="alaw")
        self.receiver, self.lose = receiver, set(lose)
        self.packet = None  # packets since training, during the first TCF

    def process_marked(self, samples):
        y, lost = self.line.process_marked(samples)
        s = self.receiver.session
        if self.packet is None and s.state is State.RX_TCF and s._trained:
            self.packet = 0
        if self.packet is not None:
            if self.packet in self.lose:
                lost[:] = True
                y[:] = 0
            self.packet += 1
        return y, lost


LOSSES = {"one-early": (5,), "one-middle": (37,), "one-late": (62,), "two-middle": (27, 45),
          "two-adjacent": (36, 37)}
AUDIO_RATES = {2400: (Modem.V27TER,), 4800: (Modem.V27TER,), 7200: (Modem.V29,), 9600: (Modem.V29,),
               12000: (Modem.V17,), 14400: (Modem.V17,)}


def _first_tcf_passed(ours: FaxTerminal, rate: int) -> None:
    res = ours.result
    assert res.completion is Completion.OK, res
    assert "FTT" not in res.stats.frames_sent, res.stats.frames_sent  # CFR at the first TCF
    assert res.stats.bit_rate == rate


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("rate", sorted(AUDIO_RATES))
def test_ours_to_ours_lost_packets_in_tcf(rate, loss):
    page = text_page(60, 80)
    caps = Capabilities(modems=frozenset(AUDIO_RATES[rate] + (Modem.V27TER,)), max_rate=rate, ecm=True)
    a = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=caps))
    b = FaxTerminal(SessionConfig(calling=False))
    run_call(a, b, line_ab=_LoseInTcf(b, LOSSES[loss], 1), line_ba=LineModel(2, codec="alaw"))
    _first_tcf_passed(b, rate)
    assert [e.page for e in b.events if isinstance(e, PageReceived)][0].same_pixels(page)


@pytest.mark.spandsp
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("rate", [4800, 9600, 14400])
def test_spandsp_to_ours_lost_packets_in_tcf(tmp_path, rate, loss):
    from tests.support import spandsp_t30 as st
    from tests.support.spandsp_fax import SpandspFax

    modems = {4800: st.SUPPORT_V27TER, 9600: st.SUPPORT_V29 | st.SUPPORT_V27TER,
              14400: st.SUPPORT_V17 | st.SUPPORT_V29 | st.SUPPORT_V27TER}[rate]
    page = text_page(61, 80)
    tx_file = str(tmp_path / "tx.tif")
    write_tiff(tx_file, [page])
    sp = SpandspFax(True, tx_file=tx_file, ecm=True, modems=modems)
    ours = FaxTerminal(SessionConfig(calling=False))
    run_call(sp, ours, line_ab=_LoseInTcf(ours, LOSSES[loss], 3), line_ba=LineModel(4, codec="alaw"))
    _first_tcf_passed(ours, rate)
    assert sp.completion == st.T30_ERR_OK
