"""V.27ter (2400/4800) and V.29 (4800/7200/9600), the two modems on the shared `psk_rx`
engine, through the same tests: interop with spandsp both ways, line-model trials, the
block API (slicing, restart, fill-in, gaps), levels, carrier detect and training decisions.
What differs per modem (rates, training length, carrier, thresholds) is in `Spec`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from dsp.modems import psk_rx, v27ter, v29
from dsp.modems.base import ModemStatus, Status
from tests.support import line
from tests.support import psk_trials as P

UP, TRAINING, OK, DOWN = (Status.CARRIER_UP, Status.TRAINING_IN_PROGRESS,
                          Status.TRAINING_SUCCEEDED, Status.CARRIER_DOWN)


@dataclass(frozen=True)
class Spec:
    """One modem's figures for the shared tests."""
    name: str
    module: object
    rx: type
    tx: type
    top: int                  # the fastest rate: the block-API tests run at it
    lost: frozenset           # fill-in test: 20 ms packets lost (late in training, in data)
    reference_samples: int    # compiled-vs-reference: samples through training and a little data
    train_symbols: int        # training length without TEP
    samples_per_symbol: float
    silence_segment: str      # the silent segment after the TEP
    carrier_hz: float
    reject_snr: float         # a line SNR at which training at `top` must be refused
    quality_rate: int
    quality_snrs: tuple       # line SNRs whose training quality rises in order...
    quality_tol: float        # ...the middle one near 26 dB within this


V27TER = Spec("v27ter", v27ter, v27ter.V27terReceiver, v27ter.V27terTransmitter, 4800,
              frozenset({31, 45, 46}), 6800, 1164, 5.0, "SEG2_SYMBOLS", 1800.0, 8.0,
              2400, (15.0, 21.0, 27.0), 3.0)
V29 = Spec("v29", v29, v29.V29Receiver, v29.V29Transmitter, 9600,
           frozenset({12, 20, 21}), 4200, 608, 10 / 3, "SEG1_SYMBOLS", 1700.0, 12.0,
           7200, (20.0, 26.0, 32.0), 4.0)
SPECS = [pytest.param(V27TER, id="v27ter"), pytest.param(V29, id="v29")]
#: (spec, rate) for every rate of both modems.
RATES = [pytest.param(s, r, id=f"{s.name}-{r}") for s in (V27TER, V29) for r in s.module.RATES]


@pytest.fixture(scope="module", params=SPECS)
def spec(request):
    return request.param


def canonical(items):
    """Receiver output with bit arrays merged, so differently sliced runs compare equal."""
    out, bits = [], []
    for x in items:
        if isinstance(x, ModemStatus):
            if bits:
                out.append(np.concatenate(bits).tobytes())
                bits = []
            out.append((x.status, None if x.quality is None else round(x.quality, 9)))
        elif len(x):
            bits.append(x)
    if bits:
        out.append(np.concatenate(bits).tobytes())
    return out


def run_blocks(rx, samples, sizes):
    items = []
    for block in line.split(samples, sizes):
        items.extend(rx.receive(block))
    return items


# ---- interop with spandsp ----------------------------------------------------------------

@pytest.mark.spandsp
@pytest.mark.parametrize("spec,rate", RATES)
@pytest.mark.parametrize("tep", [False, True])
def test_ours_into_spandsp(spec, rate, tep):
    from tests.support.spandsp_psk import SpanRx

    bits = P.random_bits(rate, 3 * rate)
    rx = SpanRx(spec.name, rate)
    rx.receive(P.our_signal(spec.name, rate, bits, tep=tep))
    assert rx.trained()
    m = P.match(bits, np.array(rx.bits, np.uint8))
    assert m.found and m.errors == 0


@pytest.mark.spandsp
@pytest.mark.parametrize("spec,rate", RATES)
@pytest.mark.parametrize("tep", [False, True])
def test_spandsp_into_ours(spec, rate, tep):
    bits = P.random_bits(rate + 1, 3 * rate)
    trial = P.receive(spec.name, rate, P.spandsp_signal(spec.name, rate, bits, tep=tep), bits)
    assert trial.statuses == [UP, TRAINING, OK, DOWN]
    assert trial.match.found and trial.match.errors == 0
    assert trial.training_quality() > 25.0


# ---- the block API --------------------------------------------------------------------

@pytest.fixture(scope="module")
def impaired(spec):
    """(bits, received samples) at the modem's top rate over a mildly impaired line."""
    bits = P.random_bits(7, 4000)
    y = line.LineModel(7, snr_db=30, freq_offset_hz=7.0, clock_ppm=-60, level_db=-12,
                       codec="alaw").process(P.our_signal(spec.name, spec.top, bits))
    return bits, y


def test_block_size_independence(spec, impaired):
    bits, y = impaired
    ref = canonical(run_blocks(spec.rx(spec.top), y, [160]))
    assert P.match(bits, np.frombuffer(ref[3], np.uint8)).errors == 0
    for sizes in ([1], [7], [4000], [1, 7, 160, 4000, 3]):
        assert canonical(run_blocks(spec.rx(spec.top), y, sizes)) == ref


def test_restart_gives_the_same_reception(spec, impaired):
    _bits, y = impaired
    rx = spec.rx(spec.top)
    first = canonical(rx.receive(y))
    rx.restart()
    assert canonical(rx.receive(y)) == first


def test_fillin_sustains_carrier_and_training(spec, impaired):
    bits, y = impaired
    packets = line.blocks(y)
    lost = spec.lost
    rx = spec.rx(spec.top)
    items = line.drive(rx, [None if i in lost else p for i, p in enumerate(packets)])
    assert psk_rx.statuses(items) == [UP, TRAINING, OK, DOWN]
    got = psk_rx.bits_of(items)
    tail = bits[-1500:]  # well after the gap: back in step
    assert P.match(tail, got).errors == 0


def test_a_lost_packet_anywhere_in_training_never_gives_silent_garbage(spec, impaired):
    """A lost 20 ms packet during the training: the receiver either still trains (and the
    data is exact) or says the training failed (T.30 then retrains) — mostly the former."""
    bits, y = impaired
    packets = line.blocks(y)
    trained = 0
    for k in range(2, 14):
        with_loss = [None if i == k else p for i, p in enumerate(packets)]
        items = line.drive(spec.rx(spec.top), with_loss)
        st = psk_rx.statuses(items)
        assert st in ([UP, TRAINING, OK, DOWN], [UP, TRAINING, Status.TRAINING_FAILED, DOWN], []), k
        if OK in st:
            trained += 1
            assert P.match(bits[-1500:], psk_rx.bits_of(items)).errors == 0, k
    assert trained >= 10


@pytest.mark.parametrize("start", [9000, 9077])
def test_20_ms_of_silence_mid_page_is_a_gap_not_the_end(spec, start):
    """A lost packet played out as silence (not fill-in): spandsp 0.0.6 loses the page."""
    bits = P.random_bits(4, 3 * spec.top)
    y = line.LineModel(4, snr_db=30.0, codec="alaw").process(P.our_signal(spec.name, spec.top, bits))
    y[start: start + 160] = 0
    items = spec.rx(spec.top).receive(y)
    assert psk_rx.statuses(items) == [UP, TRAINING, OK, DOWN]
    assert P.match(bits[-2000:], psk_rx.bits_of(items)).errors == 0


@pytest.mark.spandsp
def test_spandsp_loses_the_page_at_such_a_gap(spec):
    """The reference for the test above: spandsp 0.0.6 drops carrier and the rest of the page."""
    from tests.support.spandsp_psk import SpanRx

    bits = P.random_bits(4, 3 * spec.top)
    y = line.LineModel(4, snr_db=40.0, codec="alaw").process(P.spandsp_signal(spec.name, spec.top, bits))
    y[9000: 9160] = 0
    rx = SpanRx(spec.name, spec.top)
    rx.receive(y)
    assert not P.match(bits[-2000:], np.array(rx.bits, np.uint8)).found
    ours = P.receive(spec.name, spec.top, y, bits)
    assert ours.statuses == [UP, TRAINING, OK, DOWN]
    assert P.match(bits[-2000:], psk_rx.bits_of(ours.items)).errors == 0


def test_packet_loss_never_drops_the_carrier_mid_page(spec):
    """3 % of 20 ms packets lost (fill-in for each): one training, one carrier-down."""
    for seed in range(3):
        bits = P.random_bits(seed, 6000)
        lm = line.LineModel(seed, loss_rate=0.03, snr_db=30.0, codec="alaw", freq_offset_hz=5.0,
                            clock_ppm=50.0)
        y, lost = lm.process_marked(P.our_signal(spec.name, spec.top, bits))
        items = line.drive(spec.rx(spec.top), line.blocks(y, lost))
        assert psk_rx.statuses(items) == [UP, TRAINING, OK, DOWN], seed


def test_compiled_loop_matches_reference(spec):
    bits = P.random_bits(3, 300)
    y = line.LineModel(3, snr_db=28, freq_offset_hz=-5.0).process(P.our_signal(spec.name, 4800, bits))
    y = y[:spec.reference_samples]
    fast = canonical(run_blocks(spec.rx(4800), y, [160]))
    slow = canonical(run_blocks(spec.rx(4800, reference=True), y, [160]))
    assert fast == slow
    assert fast[:3] == [(UP, None), (TRAINING, None), fast[2]] and fast[2][0] == OK


# ---- levels, carrier detect, training decisions ------------------------------------------

@pytest.mark.parametrize("spec,rate", RATES)
def test_transmit_level_is_minus_14_dbm0(spec, rate):
    sig = P.our_signal(spec.name, rate, P.random_bits(1, 4 * rate))
    data = sig[P.LEAD + 3000: -P.TRAIL - 1000].astype(np.float64)
    assert abs(np.sqrt(np.mean(data**2)) / 3220.0 - 1.0) < 0.03


def test_transmitter_finishes_after_its_data(spec):
    tx = spec.tx(spec.top)
    tx.feed(P.random_bits(1, spec.top))
    out = line.transmit_all(tx)
    # training + one second of data symbols + 32 closing + tail (V.27ter 1164 + 1600 at 5
    # samples each, V.29 608 + 2400 at 10/3)
    sps = spec.samples_per_symbol
    assert abs(len(out) - (spec.train_symbols + 8000 / sps + 32 + spec.module.TX_TAPS) * sps) < 10
    assert len(tx.transmit(160)) == 0


@pytest.mark.parametrize("spec,rate", RATES)
def test_transmitter_block_size_independence(spec, rate):
    bits = P.random_bits(5, 2 * rate)
    outs = []
    for sizes in ([160], [1], [7], [4000], [1, 7, 160, 4000, 3]):
        tx = spec.tx(rate)
        tx.feed(bits[:100])
        tx.feed(bits[100:])  # feeding in pieces is the same as feeding at once
        parts, i = [], 0
        while True:
            n = sizes[i % len(sizes)]
            i += 1
            chunk = tx.transmit(n)
            parts.append(chunk)
            if len(chunk) < n:
                break
        outs.append(np.concatenate(parts))
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


@pytest.mark.parametrize("spec,rate", RATES)
def test_symbol_generator_compiled_matches_reference(spec, rate):
    bits = P.random_bits(8, 600)
    m = spec.module
    fast = m.symbols(rate, bits, tep=True)
    assert np.array_equal(fast, m.symbols(rate, bits, tep=True, reference=True))
    tep = m.TEP_SYMBOLS
    assert np.all(fast[:tep] == m.CONSTELLATION[0])                         # echo protection tone
    assert np.all(fast[tep: tep + getattr(m, spec.silence_segment)] == 0)   # then silence


def test_carrier_down_while_noise_continues(spec):
    bits = P.random_bits(2, 4800)
    sig = np.concatenate([P.our_signal(spec.name, spec.top, bits), line.silence(8000)])
    y = line.LineModel(2, noise_dbm0=-44.0).process(sig)
    rx = spec.rx(spec.top)
    items = rx.receive(y)
    assert psk_rx.statuses(items) == [UP, TRAINING, OK, DOWN]
    assert P.match(bits, psk_rx.bits_of(items)).errors == 0


def test_no_false_start_on_noise_tones_and_silence(spec):
    rng = np.random.default_rng(9)
    n = np.arange(16000)
    noise = rng.standard_normal(16000) * 800  # about -26 dBm0
    tone = 3000 * np.sin(2 * np.pi * spec.carrier_hz * n / 8000)
    v21ish = 3000 * np.sin(2 * np.pi * np.cumsum(np.where((n // 27) % 2, 1650, 1850)) / 8000)
    sig = np.concatenate([noise, tone, v21ish, np.zeros(4000)]).astype(np.int16)
    assert spec.rx(spec.top).receive(sig) == []


def test_training_rejected_on_measured_quality(spec):
    trial = P.line_trial(spec.name, spec.top, 5, snr_db=spec.reject_snr)
    assert Status.TRAINING_SUCCEEDED not in trial.statuses
    assert Status.TRAINING_FAILED in trial.statuses
    assert trial.training_quality() < spec.module.SNR_MIN_DB[spec.top]
    assert len(psk_rx.bits_of(trial.items)) == 0


def test_quality_follows_line_snr(spec):
    q = [P.line_trial(spec.name, spec.quality_rate, 4, snr_db=s).training_quality()
         for s in spec.quality_snrs]
    assert q[0] < q[1] < q[2]
    # roughly the line SNR plus the matched filter's gain (V.27ter 2400: 4000 Hz / 1200 baud, 5 dB)
    assert abs(q[1] - 26.0) < spec.quality_tol


def test_two_transmissions_in_one_stream(spec):
    """After carrier down the receiver looks for the next training by itself (TCF, then page)."""
    a, b = P.random_bits(21, 3000), P.random_bits(22, 3000)
    sig = np.concatenate([P.our_signal(spec.name, spec.top, a), line.silence(1600), P.our_signal(spec.name, spec.top, b)])
    y = line.LineModel(21, snr_db=30.0, codec="ulaw").process(sig)
    items = spec.rx(spec.top).receive(y)
    assert psk_rx.statuses(items) == [UP, TRAINING, OK, DOWN] * 2
    got = psk_rx.bits_of(items)
    assert P.match(a, got).errors == 0 and P.match(b, got).errors == 0


# ---- through the line model -------------------------------------------------------------

@pytest.mark.spandsp
@pytest.mark.parametrize("spec,rate", RATES)
def test_spandsp_through_line_into_ours(spec, rate):
    for seed in range(2):
        trial = P.spandsp_line_trial(spec.name, rate, seed, **P.impairments(seed, spec.name, rate))
        assert trial.exact, (seed, trial.statuses, trial.match)


@pytest.mark.spandsp
@pytest.mark.parametrize("spec,rate", RATES)
def test_ours_through_line_into_spandsp(spec, rate):
    for seed, kw in enumerate(P.MILD):
        trained, m = P.line_into_spandsp(spec.name, rate, seed, **kw)
        assert trained and m.errors == 0, (seed, kw)


@pytest.mark.parametrize("spec,rate", RATES)
def test_line_model_trials(spec, rate):
    for seed in range(3):
        trial = P.line_trial(spec.name, rate, seed, **P.impairments(seed, spec.name, rate))
        assert trial.exact, (seed, trial.statuses, trial.match)


@pytest.mark.slow
@pytest.mark.parametrize("spec,rate", RATES)
def test_line_model_sweep(spec, rate):
    n = 200
    good = sum(P.line_trial(spec.name, rate, 1000 + s, **P.impairments(1000 + s, spec.name, rate)).exact
               for s in range(n))
    assert good >= 0.99 * n




@pytest.mark.slow
@pytest.mark.parametrize("spec,rate", RATES)
@pytest.mark.parametrize("ppm", [100.0, -100.0])
def test_one_minute_page_with_clock_and_carrier_offsets(spec, rate, ppm):
    """Timing and carrier loops hold a full minute of data (no equalizer walk-off)."""
    trial = P.line_trial(spec.name, rate, 3, n_bits=rate * 60, clock_ppm=ppm, level_db=-20.0,
                         freq_offset_hz=-10.0 if ppm > 0 else 10.0, codec="alaw",
                         snr_db=P.PRACTICAL_SNR[(spec.name, rate)] + 3.0)
    assert trial.exact
