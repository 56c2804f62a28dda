"""V.17 modem: loopback, block-size independence, spandsp interop both ways, line model,
VoIP packet loss (fill-in) in every training segment and at data start, and spandsp's
transmitter into ours and into spandsp's own receiver at 1 %/2 % loss.

The spandsp tests drive Debian's libspandsp2 (0.0.6) through ctypes
(tests/support/spandsp_v17.py).  Long sweeps are marked slow.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from dsp.modems import trellis, v17_rx, v17_tx
from dsp.modems.base import ModemStatus, Status
from dsp.modems.v17 import RATES, V17Receiver, V17Transmitter
from tests.support import spandsp as sp
from tests.support.line import LineModel, blocks, drive, silence, split, transmit_all

spandsp = pytest.mark.spandsp


def _data(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def _send(tx: V17Transmitter, data: np.ndarray, lead: int = 240, tail: int = 1000) -> np.ndarray:
    tx.feed(data)
    return np.concatenate([silence(lead), transmit_all(tx), silence(tail)])


def _collect(items):
    bits = [x for x in items if not isinstance(x, ModemStatus)]
    status = [x for x in items if isinstance(x, ModemStatus)]
    return (np.concatenate(bits) if bits else np.zeros(0, np.uint8)), status


def _receive(rx: V17Receiver, signal: np.ndarray, block: int = 160):
    return _collect(drive(rx, blocks(signal, size=block), size=block))


def _trained_exact(bits, status, data) -> bool:
    codes = [s.status for s in status]
    return (Status.TRAINING_SUCCEEDED in codes and len(bits) >= len(data)
            and np.array_equal(bits[:len(data)], data))


# --- transmitter -------------------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
def test_transmit_level_and_length(rate):
    tx = V17Transmitter(rate)
    data = _data(rate, 4000)
    tx.feed(data)
    out = transmit_all(tx)
    assert tx.finished
    train = 256 + 2976 + 64 + 48
    symbols = train + -(-len(data) // (rate // 2400)) + 32 + 48
    assert abs(len(out) - symbols * 10 / 3) < 4
    rms = np.sqrt(np.mean(out[1000:-1000].astype(float) ** 2))
    assert abs(20 * np.log10(rms / v17_tx.NOMINAL_RMS)) < 0.5          # -14 dBm0


def test_transmit_block_size_independent():
    ref = None
    for size in (1, 7, 160, 4000):
        tx = V17Transmitter(9600, short_train=True)
        tx.feed(_data(1, 2000))
        out = np.concatenate([tx.transmit(size) for _ in range(8000 // size + 2)])
        ref = out if ref is None else ref
        assert np.array_equal(out, ref)


def test_transmitter_compiled_equals_python_reference():
    outs = []
    for compiled in (True, False):
        tx = V17Transmitter(14400, tep=True, compiled=compiled)
        tx.feed(_data(2, 600))
        outs.append(transmit_all(tx))
    assert np.array_equal(outs[0], outs[1])


#: sha256 (first 16 hex digits) of the output of the transmitter as it was before the
#: rewrite that keeps its state in locals (commit fdfe47c): rate, TEP, short train,
#: block size, bits per burst -> samples and digest over a burst then a short-train one.
RECORDED_TX = [
    ((7200, False, False, 160, 3000), 19487, "99bf049a04137b1e"),
    ((9600, True, False, 7, 2000), 17914, "0799e16575f0fd5a"),
    ((12000, False, True, 160, 5000), 9480, "854101eae11e4040"),
    ((14400, True, True, 333, 6000), 11240, "d18a5c09b885c07c"),
]


@pytest.mark.parametrize("cfg, samples, digest", RECORDED_TX)
def test_transmitter_matches_recorded_output(cfg, samples, digest):
    rate, tep, short, block, n = cfg
    tx, h, total = V17Transmitter(rate, tep=tep, short_train=short), hashlib.sha256(), 0
    for burst in range(2):
        tx.feed(np.random.default_rng(rate + burst).integers(0, 2, n).astype(np.uint8))
        while len(chunk := tx.transmit(block)) == block:
            h.update(chunk.tobytes())
            total += block
        h.update(chunk.tobytes())
        total += len(chunk)
        tx.restart(short_train=True)
    assert (total, h.hexdigest()[:16]) == (samples, digest)


@pytest.mark.parametrize("compiled", [True, False])
def test_symbols_match_per_symbol_reference(compiled):
    """The block symbol generator (compiled and plain) gives `_next_symbol`'s sequence."""
    sym_fn = v17_tx._tx_block.py_func.__globals__["_symbols"] if compiled else v17_tx._symbols
    for rate, tep, short, nbits in ((14400, True, False, 1001), (7200, False, True, 300)):
        st = V17Transmitter(rate, tep=tep, short_train=short)._st
        ref_st, bits = st.copy(), _data(rate, nbits)
        ref = []
        while ref_st[v17_tx.PART] != v17_tx.Part.DONE:
            ref.append(v17_tx._next_symbol(ref_st, bits, trellis.CONSTELLATIONS[rate],
                                           trellis.TRAINING_POINTS, trellis.NEXT_STATE))
        got = []
        for size in itertools.cycle((1, 13, 48)):
            syms = np.empty(size, np.complex128)
            got.extend(syms[:sym_fn(st, bits, trellis.CONSTELLATIONS[rate], syms)])
            if st[v17_tx.PART] == v17_tx.Part.DONE:
                break
        assert np.array_equal(np.array(got), np.array(ref)) and np.array_equal(st, ref_st)


# --- receiver: loopback ------------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
def test_loopback_long_then_short_train(rate):
    tx, rx = V17Transmitter(rate), V17Receiver(rate)
    d1 = _data(rate, 3000)
    bits, status = _receive(rx, _send(tx, d1))
    assert _trained_exact(bits, status, d1)
    assert [s.status for s in status] == [Status.CARRIER_UP, Status.TRAINING_IN_PROGRESS,
                                          Status.TRAINING_SUCCEEDED, Status.CARRIER_DOWN]
    assert status[2].quality > 35
    tx.restart(short_train=True)
    rx.restart(short_train=True)
    d2 = _data(rate + 1, 3000)
    bits, status = _receive(rx, _send(tx, d2))
    assert _trained_exact(bits, status, d2)


def test_receiver_block_size_independent():
    tx = V17Transmitter(12000)
    signal = LineModel(3, snr_db=28, freq_offset_hz=7, clock_ppm=60, codec="alaw").process(
        _send(tx, _data(3, 3000)))
    ref = None
    for sizes in ([1], [7], [160], [4000], [13, 1, 400, 160]):
        rx = V17Receiver(12000)
        items = []
        for part in split(signal, sizes):
            items.extend(rx.receive(part))
        bits, status = _collect(items)
        # Where each report falls in the bit stream, too.
        marks, n = [], 0
        for x in items:
            if isinstance(x, ModemStatus):
                marks.append((x.status, n, x.quality))
            else:
                n += len(x)
        got = (bits, marks)
        if ref is None:
            ref = got
            assert Status.TRAINING_SUCCEEDED in [m[0] for m in marks]
        assert np.array_equal(got[0], ref[0]) and got[1] == ref[1]


def test_receiver_compiled_equals_python_reference():
    """The same impaired long then short transmissions through the compiled loops and
    their plain-Python sources: identical bits and reports (the compiled loop uses
    fastmath, so the quality figures agree to rounding, not to the last bit).  A packet
    is lost in the first one's data and one over the second one's reversal."""
    line = LineModel(4, snr_db=25, freq_offset_hz=-5, clock_ppm=-80)
    tx = V17Transmitter(7200)
    first = blocks(line.process(_send(tx, _data(4, 300), tail=300)))
    first[72] = None
    tx.restart(short_train=True)
    second = blocks(line.process(_send(tx, _data(5, 300), tail=300)))
    second[6] = None
    outs = []
    for compiled in (True, False):
        rx = V17Receiver(7200, compiled=compiled)
        items = drive(rx, first)
        rx.restart(short_train=True)
        items += drive(rx, second)
        outs.append(items)
    a, b = outs
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, ModemStatus):
            assert x.status == y.status
            assert (x.quality is None and y.quality is None) or x.quality == pytest.approx(y.quality, rel=1e-9)
        else:
            assert np.array_equal(x, y)
    assert [x.status for x in a if isinstance(x, ModemStatus)].count(Status.TRAINING_SUCCEEDED) == 2


def test_quality_tracks_snr():
    tx, rx = V17Transmitter(14400), V17Receiver(14400)
    signal = LineModel(5, snr_db=26).process(_send(tx, _data(5, 6000)))
    bits, status = _receive(rx, signal)
    q = [s.quality for s in status if s.status == Status.TRAINING_SUCCEEDED][0]
    # Line noise is spread over 0-4 kHz; about 1.2 dB of it falls outside the V.17 band.
    assert 25.5 < q < 29.5


def test_wrong_rate_fails_training():
    tx, rx = V17Transmitter(14400), V17Receiver(7200)
    bits, status = _receive(rx, _send(tx, _data(6, 2000)))
    codes = [s.status for s in status]
    assert Status.TRAINING_FAILED in codes and Status.TRAINING_SUCCEEDED not in codes
    assert codes[-1] == Status.CARRIER_DOWN


def test_noise_alone_never_raises_the_carrier():
    rx = V17Receiver(14400)
    noise = LineModel(7, noise_dbm0=-44).process(silence(8000 * 3))
    bits, status = _receive(rx, noise)
    assert status == [] and len(bits) == 0


def test_carrier_down_while_noise_continues():
    """Continuous line noise at -44 dBm0: the carrier still drops within ~60 ms of the
    transmitter's end, and the data are intact."""
    tx, rx = V17Transmitter(9600), V17Receiver(9600)
    data = _data(8, 4000)
    clean = _send(tx, data, lead=4000, tail=8000)
    signal = LineModel(8, noise_dbm0=-44).process(clean)
    items = drive(rx, blocks(signal))
    bits, status = _collect(items)
    assert _trained_exact(bits, status, data)
    assert [s.status for s in status][-1] == Status.CARRIER_DOWN
    # Time of the drop: feed again block by block and note where it comes.
    rx2 = V17Receiver(9600)
    end_of_signal = len(clean) - 8000
    for i, block in enumerate(blocks(signal)):
        if any(isinstance(x, ModemStatus) and x.status == Status.CARRIER_DOWN for x in rx2.receive(block)):
            assert 0 < (i + 1) * 160 - end_of_signal < 0.06 * 8000
            break
    else:
        pytest.fail("no carrier down")


def test_fillin_rides_through_a_lost_packet():
    tx, rx = V17Transmitter(14400), V17Receiver(14400)
    data = _data(9, 14400 * 2)
    signal = _send(tx, data)
    packets = blocks(signal)
    lost = len(packets) - 40             # a packet in the middle of the data
    packets[lost] = None
    bits, status = _collect(drive(rx, packets))
    codes = [s.status for s in status]
    assert codes == [Status.CARRIER_UP, Status.TRAINING_IN_PROGRESS, Status.TRAINING_SUCCEEDED,
                     Status.CARRIER_DOWN]
    # Up to the gap the data are exact; the lost symbols go to the trellis as erasures,
    # so the bits after the gap keep their place and are exact again after a short
    # resynchronisation.
    head = 14400 * 1
    assert np.array_equal(bits[:head], data[:head])
    assert np.array_equal(bits[len(data) - 3000:len(data)], data[-3000:])


def test_short_train_without_a_long_one_does_not_crash():
    tx, rx = V17Transmitter(9600, short_train=True), V17Receiver(9600)
    rx.restart(short_train=True)
    bits, status = _receive(rx, _send(tx, _data(10, 1000)))
    assert status[0].status == Status.CARRIER_UP and status[-1].status == Status.CARRIER_DOWN


# --- interop with spandsp ----------------------------------------------------------

@spandsp
@pytest.mark.parametrize("rate", RATES)
def test_ours_into_spandsp(rate):
    from tests.support.spandsp_v17 import SpanV17Rx
    tx, rx = V17Transmitter(rate), SpanV17Rx(rate)
    for short, seed in ((False, 1), (True, 2)):
        data = _data(seed * rate, 5000)
        if short:
            tx.restart(short_train=True)
            rx.restart(short_train=True)
        rx.bits.clear()
        rx.events.clear()
        rx.receive(_send(tx, data))
        assert rx.trained(), (rate, short, rx.codes())
        assert np.array_equal(rx.received_bits()[:len(data)], data)


@spandsp
@pytest.mark.parametrize("rate", RATES)
def test_spandsp_into_ours(rate):
    from tests.support.spandsp_v17 import SpanV17Tx
    data = _data(rate, 5000)
    stx, rx = SpanV17Tx(rate, data), V17Receiver(rate)
    bits, status = _receive(rx, np.concatenate([silence(300), stx.transmit_all(), silence(800)]))
    assert _trained_exact(bits, status, data)
    data = _data(rate + 7, 5000)
    stx.restart(data, short_train=True)
    rx.restart(short_train=True)
    bits, status = _receive(rx, np.concatenate([stx.transmit_all(), silence(800)]))
    assert _trained_exact(bits, status, data)


def _short_train_at_level(level_db: float, who: str, seed: int = 1) -> bool:
    """A long then a short train through a line `level_db` below nominal (G.711 A-law);
    whether the short train's data came through exactly."""
    from tests.support.spandsp_v17 import SpanV17Rx
    line = LineModel(seed, level_db=level_db, codec="alaw")
    tx = V17Transmitter(14400)
    rx = V17Receiver(14400) if who == "ours" else SpanV17Rx(14400)
    ok = False
    for short in (False, True):
        data = _data(seed + short, 3000)
        if short:
            tx.restart(short_train=True)
            rx.restart(short_train=True)
        signal = line.process(_send(tx, data))
        if who == "ours":
            bits, status = _receive(rx, signal)
            ok = _trained_exact(bits, status, data)
        else:
            rx.bits.clear()
            rx.events.clear()
            rx.receive(signal)
            ok = rx.trained() and np.array_equal(rx.received_bits()[:len(data)], data)
    return ok


@spandsp
def test_short_train_at_every_receive_level(record_property):
    """Ours trains short at every level from 0 to -30 dB below nominal; spandsp 0.0.6's
    result on the same signals is recorded (it fails part of this range)."""
    levels = list(range(0, -31, -2))
    ours = {lv: _short_train_at_level(lv, "ours") for lv in levels}
    theirs = {lv: _short_train_at_level(lv, "spandsp") for lv in levels}
    failed = [lv for lv, ok in theirs.items() if not ok]
    record_property("spandsp_short_train_failed_at_db", failed)
    print("spandsp 0.0.6 short train failed at", failed, "dB below nominal")
    assert all(ours.values()), ours


# --- line model --------------------------------------------------------------------

#: Line SNR (dB, noise over 0-4 kHz) each rate is tested at: about 2 dB above where
#: errors start.
PRACTICAL_SNR = {14400: 24.0, 12000: 21.0, 9600: 18.0, 7200: 15.0}


def _line_trial(rate, seed, *, level_db, codec, freq, ppm, snr, short=True):
    line = LineModel(seed, level_db=level_db, codec=codec, freq_offset_hz=freq,
                     clock_ppm=ppm, snr_db=snr)
    tx, rx = V17Transmitter(rate), V17Receiver(rate)
    results = []
    for train_short in ((False, True) if short else (False,)):
        data = _data(seed * 3 + train_short, 2000)
        if train_short:
            tx.restart(short_train=True)
            rx.restart(short_train=True)
        bits, status = _receive(rx, line.process(_send(tx, data, lead=200 + seed % 97)))
        results.append(_trained_exact(bits, status, data))
    return all(results)


@pytest.mark.parametrize("rate", RATES)
def test_line_model_worst_corners(rate):
    """A-law and µ-law, 30 dB below nominal, ±10 Hz, ±100 ppm, practical SNR."""
    for i, (codec, freq, ppm) in enumerate((("alaw", 10.0, 100.0), ("ulaw", -10.0, -100.0))):
        level = -30.0 if i == 0 else 0.0
        snr = PRACTICAL_SNR[rate] if i == 1 else None      # -30 dB: G.711 sets the SNR
        assert _line_trial(rate, 11 + i, level_db=level, codec=codec, freq=freq, ppm=ppm, snr=snr)


@pytest.mark.slow
@pytest.mark.timeout(1800)      # a few CPU seconds, but the machine may be shared
@pytest.mark.parametrize("rate", RATES)
def test_line_model_sweep(rate):
    """Seeded trials over levels 0..-30 dB, both laws, ±10 Hz, ±100 ppm and the practical
    SNR (or G.711 alone at low levels): at least 99 % train and come through bit-exact."""
    rng = np.random.default_rng(rate)
    trials = 200
    ok = 0
    for seed in range(trials):
        level = float(rng.choice([0, -6, -12, -18, -24, -30]))
        codec = ["alaw", "ulaw"][seed % 2]
        freq = float(rng.uniform(-10, 10))
        ppm = float(rng.uniform(-100, 100))
        snr = PRACTICAL_SNR[rate] if level > -18 else None
        ok += _line_trial(rate, 1000 + seed, level_db=level, codec=codec, freq=freq, ppm=ppm, snr=snr)
    assert ok >= 0.99 * trials, f"{ok}/{trials}"


@spandsp
def test_talker_echo_protection_tone_both_ways():
    """With TEP (200 ms of carrier and 20 ms of silence before segment 1) both ways."""
    from tests.support.spandsp_v17 import SpanV17Rx, SpanV17Tx
    data = _data(12, 3000)
    ours = _send(V17Transmitter(9600, tep=True), data)
    bits, status = _receive(V17Receiver(9600), ours)
    assert _trained_exact(bits, status, data)
    assert [s.status for s in status][0] == Status.CARRIER_UP and \
        [s.status for s in status].count(Status.CARRIER_UP) == 1
    srx = SpanV17Rx(9600)
    srx.receive(ours)
    assert srx.trained() and np.array_equal(srx.received_bits()[:len(data)], data)
    theirs = np.concatenate([silence(200), SpanV17Tx(9600, data, tep=True).transmit_all(), silence(800)])
    bits, status = _receive(V17Receiver(9600), theirs)
    assert _trained_exact(bits, status, data)


@pytest.mark.parametrize("first,second", [(0.0, -30.0), (-30.0, 0.0), (-6.0, -24.0)])
def test_short_train_at_another_level_than_the_long_one(first, second):
    """The level is measured again on every segment 1, so a short train works whatever
    the level of the long train it reuses the equalizer of (A-law line)."""
    tx, rx = V17Transmitter(14400), V17Receiver(14400)
    for short, level in ((False, first), (True, second)):
        data = _data(int(-level) + short, 3000)
        if short:
            tx.restart(short_train=True)
            rx.restart(short_train=True)
        bits, status = _receive(rx, LineModel(2, level_db=level, codec="alaw").process(_send(tx, data)))
        assert _trained_exact(bits, status, data), (short, level)


@pytest.mark.parametrize("rate", [14400, 9600])
def test_equalizer_undoes_a_distorted_channel(rate):
    """An echo at 3 and 6 samples and SNR 30 dB: the T/2 equalizer trains it out."""
    data = _data(13, 5000)
    x = _send(V17Transmitter(rate), data).astype(float)
    y = np.convolve(x, [1.0, 0, 0, 0.3, 0, 0, -0.2])[:len(x)]
    y *= np.sqrt(np.mean(x ** 2) / np.mean(y ** 2))
    signal = LineModel(13, snr_db=30).process(np.round(y).astype(np.int16))
    bits, status = _receive(V17Receiver(rate), signal)
    assert _trained_exact(bits, status, data)


@spandsp
def test_a_20ms_gap_of_silence_mid_page():
    """20 ms of digital silence in the middle of the data (a packet replaced by silence
    rather than reported lost): the carrier holds and the data after it come through.
    spandsp 0.0.6 drops its carrier there and loses the rest of the page."""
    from tests.support.spandsp_v17 import SpanV17Rx
    data = _data(14, 14400 * 3)
    signal = _send(V17Transmitter(14400), data)
    k = len(signal) // 160 - 60
    signal[k * 160:(k + 1) * 160] = 0
    bits, status = _receive(V17Receiver(14400), signal)
    assert [s.status for s in status] == [Status.CARRIER_UP, Status.TRAINING_IN_PROGRESS,
                                          Status.TRAINING_SUCCEEDED, Status.CARRIER_DOWN]
    tail = data[-3000:]
    start = len(data) - 3000
    assert any(np.array_equal(bits[i:i + 3000], tail) for i in range(start - 400, start + 50))
    srx = SpanV17Rx(14400)
    srx.receive(signal)
    print("spandsp status codes through the gap:", srx.codes())


# --- VoIP packet loss (fill-in) during training and at data start ----------------------

_S = 10 / 3                                  # samples per symbol


def _bounds(short: bool) -> tuple[float, float, float]:
    """Sample offsets of the reversal (end of segment 1), the start and the end of
    segment 4, from the start of the transmission."""
    rev = 256 * _S
    seg4 = rev + (38 if short else 2976 + 64) * _S
    return rev, seg4, seg4 + 48 * _S


def _essential(short: bool, lost_at: list[int]) -> bool:
    """Whether a lost 20 ms packet overlaps segment 4, which training cannot do without
    (the ones check proves the rate and the descrambler; the data start follows it).
    A lost reversal is not essential: the receiver finds its place again from the
    known sequence after the gap."""
    rev, seg4, end = _bounds(short)
    return any(x < end and x + 160 > seg4 for x in lost_at)


def _verdict(trained: bool, bits: np.ndarray, data: np.ndarray, lost_at: list[int],
             short: bool, rate: int) -> str:
    """'ok' (data exact, except from ~20 symbols before to ~50 after each lost packet; a
    part after a gap may also come shifted, as from a receiver that drops lost bits),
    'failed' (training failed or never finished), or 'BAD' (success with wrong data)."""
    if not trained:
        return "failed"
    nb = rate // 2400
    end = _bounds(short)[2]
    cuts = [(int((x - end) * rate / 8000) - 20 * nb, int((x + 160 - end) * rate / 8000) + 50 * nb)
            for x in sorted(lost_at)]
    parts, start = [], 0
    for a, b in cuts:
        if a > start:
            parts.append((start, min(a, len(data))))
        start = max(start, b)
    if start < len(data):
        parts.append((start, len(data)))
    for k, (a, b) in enumerate(parts):
        want = data[a:b]
        if len(want) == 0:
            continue
        if k == 0 or a == 0:
            if not np.array_equal(bits[a:b], want):
                return "BAD"
            continue
        lo, hi = max(a - 600, 0), min(a + 600, len(bits) - len(want))
        if hi < lo or not any(np.array_equal(bits[i:i + len(want)], want) for i in range(lo, hi + 1)):
            return "BAD"
    return "ok"


def _loss_trials(rate: int, loss: float, seeds, shorts: int = 3, snr_db: float = 40.0):
    """spandsp's transmitter (a long train, then `shorts` short trains, 3000 bits each)
    through an A-law line at `snr_db` losing 20 ms packets at random, into our receiver
    (fill-in for lost packets) and spandsp's (its v17_rx_fillin).  One row per
    transmission: (short, essential, any loss, ours, spandsp, ours had trained before).
    40 dB by default: at 30 dB spandsp 0.0.6 already fails without loss once the line
    noise runs 50 ms before the signal (ours does not), which would blur the comparison."""
    from tests.support.spandsp_v17 import SpanV17Rx, SpanV17Tx
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        line = LineModel(seed, loss_rate=loss, codec="alaw", snr_db=snr_db)
        ours, theirs, stx = V17Receiver(rate), SpanV17Rx(rate), None
        trained_before = False
        for k in range(1 + shorts):
            data = rng.integers(0, 2, 3000).astype(np.uint8)
            short = k > 0
            if stx is None:
                stx = SpanV17Tx(rate, data)
            else:
                stx.restart(data, short_train=True)
                ours.restart(short_train=True)
                theirs.restart(short_train=True)
            lead = 160 * int(rng.integers(1, 3)) + int(rng.integers(0, 160))
            sig = np.concatenate([silence(lead), stx.transmit_all(), silence(800)])
            sig = np.concatenate([sig, silence(-len(sig) % 160)])   # packets stay aligned
            y, lost = line.process_marked(sig)
            packets = blocks(y, lost)
            lost_at = [i * 160 - lead for i, p in enumerate(packets) if p is None and i * 160 + 160 > lead]
            bits, status = _collect(drive(ours, packets))
            o = _verdict(Status.TRAINING_SUCCEEDED in [s.status for s in status], bits, data,
                         lost_at, short, rate)
            theirs.bits.clear()
            theirs.events.clear()
            theirs.drive(packets)
            t = _verdict(theirs.trained(), theirs.received_bits(), data, lost_at, short, rate)
            rows.append((short, _essential(short, lost_at), bool(lost_at), o, t, trained_before or not short))
            trained_before = trained_before or o == "ok"
    return rows


def _summary(rows) -> dict:
    """Success rates over the transmissions whose losses spared the essential part (and,
    for short trains, that followed a successful train of ours), and counts of BAD."""
    fair = [r for r in rows if not r[1] and r[5]]
    lossy = [r for r in fair if r[2]]
    rate = lambda rs, i: sum(r[i] == "ok" for r in rs) / max(len(rs), 1)
    return {"n": len(fair), "ours": rate(fair, 3), "spandsp": rate(fair, 4),
            "n_lossy": len(lossy), "ours_lossy": rate(lossy, 3), "spandsp_lossy": rate(lossy, 4),
            "ours_bad": sum(r[3] == "BAD" for r in rows), "spandsp_bad": sum(r[4] == "BAD" for r in rows)}


def _lost_at(rx: V17Receiver, transmission: np.ndarray, at: int):
    """Our receiver on `transmission` (after some silence) with the 20 ms packet that
    starts `at` samples into it lost."""
    lead = 320 + (-at) % 160
    packets = blocks(np.concatenate([silence(lead), transmission, silence(800)]))
    packets[(lead + at) // 160] = None
    return _collect(drive(rx, packets))


@spandsp
@pytest.mark.parametrize("short", [False, True])
def test_loss_in_each_training_segment(short):
    """A packet lost in segment 1, over the reversal, in segment 2, 3 (long) or 4, and at
    the data start: training succeeds with the data exact around the gap, or (segment 4
    lost) fails and says so; never success with wrong data."""
    from tests.support.spandsp_v17 import SpanV17Tx
    rate = 14400
    rev, seg4, end = _bounds(short)
    # Where the lost packet starts.
    spots = {"seg1": rev - 120 * _S, "reversal": rev - 30 * _S, "reversal_late": rev + 4 * _S,
             "seg2": rev + (18 if short else 1500) * _S,
             "seg2_end": seg4 - 30 * _S, "seg4": seg4 + 20 * _S, "data": end + 10}
    if not short:
        spots["seg3"] = seg4 - 60 * _S
    must_train = {"seg1", "reversal", "reversal_late", "seg2", "seg3", "data"} | (
        {"seg2_end"} if not short else set())
    for name, at in spots.items():
        at = int(at)
        data = _data(20, 3000)
        stx = SpanV17Tx(rate, _data(21, 3000))
        rx = V17Receiver(rate)
        _receive(rx, np.concatenate([silence(300), stx.transmit_all(), silence(800)]))
        if short:
            stx.restart(data, short_train=True)
            rx.restart(short_train=True)
        else:
            stx, rx = SpanV17Tx(rate, data), V17Receiver(rate)
        bits, status = _lost_at(rx, stx.transmit_all(), at)
        codes = [s.status for s in status]
        v = _verdict(Status.TRAINING_SUCCEEDED in codes, bits, data, [at], short, rate)
        assert v != "BAD", name
        if name in must_train:
            assert v == "ok", (name, codes)
        else:
            assert v == "ok" or Status.TRAINING_FAILED in codes, (name, codes)
        assert codes[-1] == Status.CARRIER_DOWN


@spandsp
@pytest.mark.parametrize("loss", [0.01, 0.02])
def test_spandsp_into_ours_with_packet_loss(loss, record_property):
    """spandsp's transmitter, a long then 3 short trains per call, 30 calls, 14400:
    where no lost packet fell on the essential part of training, >= 99 % come through;
    ours never reports success with wrong data; spandsp's own receiver (with its
    fill-in) on the same packets is recorded and must not beat ours."""
    s = _summary(_loss_trials(14400, loss, range(30)))
    record_property("loss_summary", s)
    print(loss, s)
    assert s["ours_bad"] == 0
    assert s["ours"] >= 0.99 and s["ours"] >= s["spandsp"]


@spandsp
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("loss", [0.01, 0.02])
def test_packet_loss_sweep(rate, loss):
    """As above, 200 calls (800 transmissions) per rate and loss rate."""
    s = _summary(_loss_trials(rate, loss, range(1000, 1200)))
    print(rate, loss, s)
    assert s["ours_bad"] == 0
    assert s["ours"] >= 0.99 and s["ours"] >= s["spandsp"]
