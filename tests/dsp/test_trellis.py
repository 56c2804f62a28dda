"""V.17 trellis code: constellations, encoder, space maps and the Viterbi decoder."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.modems import trellis

RATES = (7200, 9600, 12000, 14400)

# Next-state table of the Figure 2/V.17 encoder as tabulated by spandsp (indexed by the
# state and the differentially encoded Y2 Y1), a known answer for our derivation.
SPANDSP_NEXT_STATE = [
    [0, 2, 3, 1], [4, 7, 5, 6], [1, 3, 2, 0], [7, 4, 6, 5],
    [2, 0, 1, 3], [6, 5, 7, 4], [3, 1, 0, 2], [5, 6, 4, 7],
]


def _encode(groups, nbits):
    diff = conv = 0
    codes = []
    for q in groups:
        code, diff, conv = trellis.encode_symbol(int(q), diff, conv)
        codes.append(code)
    return np.array(codes)


def _bits(groups, nbits):
    return ((np.asarray(groups)[:, None] >> np.arange(nbits)) & 1).astype(np.uint8).ravel()


def _noisy(points, codes, snr_db, rng):
    es = np.mean(np.abs(points) ** 2)
    sigma = np.sqrt(es / 2 / 10 ** (snr_db / 10))
    return points[codes] + sigma * (rng.standard_normal(len(codes)) + 1j * rng.standard_normal(len(codes)))


def test_encoder_table_matches_the_standard():
    assert trellis.NEXT_STATE.tolist() == SPANDSP_NEXT_STATE
    # The redundant bit Y0 is bit 0 of the state it leaves (systematic, with feedback).
    for s in range(8):
        assert {int(n) >> 2 for n in trellis.NEXT_STATE[s]} == {s & 1}


@pytest.mark.parametrize("rate", RATES)
def test_constellations(rate):
    pts = trellis.CONSTELLATIONS[rate]
    assert len(pts) == 2 ** (trellis.BITS_PER_SYMBOL[rate] + 1)
    assert len(set(pts.tolist())) == len(pts)
    assert 39.0 <= np.mean(np.abs(pts) ** 2) <= 43.0
    # A 90 degree turn maps the constellation onto itself, keeps Q3.., flips Y0 and steps
    # Y1 Y2 back by one: the trellis code is transparent to it and the differential
    # coding of Q1 Q2 absorbs it (why V.17 needs no absolute phase).
    codes = np.arange(len(pts))
    for c in codes:
        turned = pts[c] * 1j
        k = int(np.argmin(np.abs(pts - turned)))
        assert abs(pts[k] - turned) < 1e-9
        assert k & 1 != c & 1 and k >> 3 == c >> 3
        assert (((c >> 1) & 3) - ((k >> 1) & 3)) % 4 == 1


@pytest.mark.parametrize("rate", RATES)
def test_noiseless_round_trip(rate):
    rng = np.random.default_rng(rate)
    nbits = trellis.BITS_PER_SYMBOL[rate]
    groups = rng.integers(0, 1 << nbits, 500)
    z = trellis.CONSTELLATIONS[rate][_encode(groups, nbits)]
    kinds = np.zeros(len(z), np.int8)
    kinds[0] = 1
    dec = trellis.ViterbiDecoder(rate)
    bits, at, keep = dec.decode(z, kinds)
    ref = _bits(groups, nbits)
    # The first group's differential decoding has no predecessor; the rest is exact, and
    # each group comes out TRACEBACK - 1 symbols after it went in.
    assert np.array_equal(bits[nbits:], ref[nbits:len(bits)])
    assert len(bits) == (len(z) - trellis.TRACEBACK + 1) * nbits
    assert at[0] == trellis.TRACEBACK - 1
    flush = np.zeros(1, np.int8) + 2
    tail, _, _ = dec.decode(np.zeros(1, complex), flush)
    assert np.array_equal(np.concatenate([bits, tail])[nbits:], ref[nbits:])


@pytest.mark.parametrize("rate,snr", [(14400, 21.0), (12000, 18.0), (9600, 15.0), (7200, 12.0)])
def test_coding_gain(rate, snr):
    """Where hard decisions err on a few percent of the symbols, Viterbi decoding
    (traceback 24) makes several times fewer bit errors than that."""
    rng = np.random.default_rng(1)
    nbits = trellis.BITS_PER_SYMBOL[rate]
    pts = trellis.CONSTELLATIONS[rate]
    groups = rng.integers(0, 1 << nbits, 4000)
    codes = _encode(groups, nbits)
    z = _noisy(pts, codes, snr, rng)
    hard = np.argmin(np.abs(z[:, None] - pts[None, :]), axis=1)
    hard_errors = np.sum(hard != codes)
    kinds = np.zeros(len(z), np.int8)
    kinds[0] = 1
    bits, _, _ = trellis.ViterbiDecoder(rate).decode(z, kinds)
    ref = _bits(groups, nbits)
    errors = np.sum(bits[nbits:] != ref[nbits:len(bits)])
    assert hard_errors > 0.01 * len(codes)
    assert errors * 4 < hard_errors


def test_compiled_decoder_equals_python_reference():
    rng = np.random.default_rng(2)
    rate = 14400
    groups = rng.integers(0, 64, 300)
    z = _noisy(trellis.CONSTELLATIONS[rate], _encode(groups, 6), 19.0, rng)
    kinds = np.zeros(len(z), np.int8)
    kinds[0] = 1
    kinds[150] = 2      # a flush, then a new transmission
    kinds[151] = 1
    kinds[60:108] = trellis.Kind.ERASURE        # a lost packet's worth of erasures
    kinds[220] = trellis.Kind.FLUSH
    kinds[221] = trellis.Kind.START_ERASURE
    outs = []
    for compiled in (True, False):
        dec = trellis.ViterbiDecoder(rate, compiled=compiled)
        a = dec.decode(z[:100], kinds[:100], skip_first=5)
        b = dec.decode(z[100:], kinds[100:], skip_first=5)
        outs.append([np.concatenate([x, y]) for x, y in zip(a, b)])
    for x, y in zip(*outs):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("rate", RATES)
def test_erasures_keep_both_sides_of_a_gap(rate):
    """48 symbols lost mid-stream (a 20 ms packet) go in as erasures with garbage values:
    everything before the gap decodes exactly, and after it the groups are exact again
    within a few symbols (the differential decoder needs one good symbol, the trellis
    a few), in their places."""
    rng = np.random.default_rng(rate)
    nbits = trellis.BITS_PER_SYMBOL[rate]
    groups = rng.integers(0, 1 << nbits, 400)
    z = _noisy(trellis.CONSTELLATIONS[rate], _encode(groups, nbits), 30.0, rng)
    z[200:248] = rng.normal(0, 5, 48) + 1j * rng.normal(0, 5, 48)
    kinds = np.zeros(len(z), np.int8)
    kinds[0] = trellis.Kind.START
    kinds[200:248] = trellis.Kind.ERASURE
    kinds = np.append(kinds, trellis.Kind.FLUSH)
    bits, _, _ = trellis.ViterbiDecoder(rate).decode(np.append(z, 0j), kinds)
    want = _bits(groups, nbits)
    assert len(bits) == len(want)
    assert np.array_equal(bits[:200 * nbits], want[:200 * nbits])
    assert np.array_equal(bits[252 * nbits:], want[252 * nbits:])


@pytest.mark.parametrize("rate", RATES)
def test_space_map_finds_each_subsets_nearest_point(rate):
    rng = np.random.default_rng(3)
    pts = trellis.CONSTELLATIONS[rate]
    smap = trellis.space_map(rate)
    codes = np.arange(len(pts))
    z = rng.uniform(-10, 10, 3000) + 1j * rng.uniform(-10, 10, 3000)
    gx = ((z.real + trellis.GRID_HALF) * trellis.GRID_RES).astype(int)
    gy = ((z.imag + trellis.GRID_HALF) * trellis.GRID_RES).astype(int)
    for c in range(8):
        members = codes[(codes & 7) == c]
        exact = np.min(np.abs(z[:, None] - pts[members][None, :]), axis=1)
        mapped = np.abs(z - pts[smap[gx, gy, c]])
        # The cell's choice is the true nearest, or within a cell diagonal of it.
        assert np.all(mapped <= exact + np.sqrt(2) / trellis.GRID_RES + 1e-9)
        assert np.mean(mapped <= exact + 1e-9) > 0.95


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(rate=st.sampled_from(RATES), data=st.data())
def test_any_group_sequence_survives_encode_and_decode(rate, data):
    nbits = trellis.BITS_PER_SYMBOL[rate]
    groups = data.draw(st.lists(st.integers(0, (1 << nbits) - 1), min_size=2, max_size=80))
    # Exact points, any length: the flushed decoder gives back every group but the first
    # (whose differential decoding has no predecessor).
    z = trellis.CONSTELLATIONS[rate][_encode(groups, nbits)]
    skip = 1
    kinds = np.zeros(len(z) + 1, np.int8)
    kinds[0] = trellis.Kind.START
    kinds[-1] = trellis.Kind.FLUSH
    bits, _, _ = trellis.ViterbiDecoder(rate).decode(np.append(z, 0), kinds)
    ref = _bits(groups, nbits)
    assert np.array_equal(bits[skip * nbits:], ref[skip * nbits:])
