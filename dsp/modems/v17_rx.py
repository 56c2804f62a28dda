"""V.17 receiver front end: samples in, equalized symbols and status events out.

What it does: detects the carrier, acquires level, symbol timing and carrier on the
segment 1 ABAB pattern, finds the ABAB -> CDCD reversal that starts segment 2, trains a
T/2 adaptive equalizer on the known segment 2 (and bridge) points, checks the result on
segment 4, then hands every data symbol to the trellis decoder (trellis.py) until the
carrier drops.  A short train reuses the equalizer, carrier frequency and clock drift
saved from the last successful long train (§7, Table 2/V.17) but re-measures the level,
so it works at any receive level.

How (one compiled per-sample loop, `_rx_block_py` its plain-Python reference):
- power: one-pole estimate of x^2.  Acquisition starts on a 6 dB rise above a slowly
  tracked floor and above -47 dBm0, but CARRIER_UP is only reported once 24 symbols of
  the ABAB pattern are seen, so line noise, however it starts, never raises it (nor
  does a TEP tone).  Carrier down when the power stays 9 dB under the trained level
  (or under -52 dBm0) for 20 ms: that works while noise continues, and rides through
  a 20 ms gap.  After a failed training the floor rises to meet a steady level, so even
  then the carrier drops; a 12 dB rise over the lowest power since (a new signal after
  a dip) starts a new acquisition at once.
- segment 4: the hard decisions are differentially decoded and descrambled; at least
  75 % ones (from the 24th bit, as the scrambler may start anywhere) and the training
  SNR of the rate (SNR_MIN) are needed for TRAINING_SUCCEEDED.
- front end: a complex band-pass root-raised-cosine filter (the matched filter shifted to
  1800 Hz) evaluated only at the T/2 instants, from a bank of 128 fractional delays;
  the carrier NCO then takes the output to baseband.
- timing: Gardner's detector on the T/2 samples, a PI loop steering the next instant.
- carrier: coarse frequency from the ABAB phase drift, phase from the reversal symbol,
  then a decision-directed PI loop on the NCO.
- equalizer: 20 T/2 taps, normalized LMS, known targets in training, slicer decisions after.
- lost packets (`V17Receiver.fillin`, v17.py): the clocks run on and the training count
  advances, so the known pattern stays aligned; nothing adapts for HOLDOFF_GAP symbols
  and nothing is measured for MEASURE_AFTER_GAP (the filter and equalizer lines still
  hold pre-gap samples); from segment 4 on the first ERASE_AFTER_GAP symbols after the
  gap go to the trellis as erasures.  A segment 4 mostly lost leaves under MIN_CHECKED
  bits to check: training fails rather than trust it.
"""

from __future__ import annotations

import enum
import functools
import math
import types

import numpy as np
from numba import njit

from dsp.modems import trellis
from dsp.modems import v17_tx as txm

SPS = txm.SAMPLE_RATE / txm.BAUD          # samples per symbol, 10/3
HALF = SPS / 2
NTAPS = 20                                # equalizer taps, T/2 spaced
CENTER = 10                               # initial spike (an on-time slot)
FILTER_LEN = 32                           # front-end taps at 8 kHz (9.6 symbols)
PHASES = 128                              # fractional delays in the bank
DELAY = FILTER_LEN / 2

# dBm0 -> power of int16 samples (0 dBm0 = 16138 RMS).
def _dbm0_power(dbm0: float) -> float:
    return (16138.0 * 10 ** (dbm0 / 20)) ** 2


ON_POWER = _dbm0_power(-47.0)
OFF_POWER = _dbm0_power(-52.0)
POWER_TC = 1 / 64.0
RISE = 16.0                               # parked: a 12 dB rise from the lowest power is a new signal
HOLD = 160                                # samples under the off level before carrier down
AGC_TARGET = 24.0                         # mean |y|^2 of T/2 samples on ABAB, scaled so points sit at |A|^2 = 40

INPUT_TO_T2 = 0.376                       # T/2 power of the filter output per input power (ABAB)
ACQ_SETTLE = 60                           # symbols of ABAB before measuring carrier
ACQ_TIMEOUT = 700                         # no reversal by then: training failed
ACQ_TIMEOUT_QUIET = 1200                  # no ABAB by then (TEP is 528 symbols): not V.17
ALT_NEEDED = 24                           # consecutive ABAB-like symbols: carrier up, reversal armed


class Stage(enum.IntEnum):
    IDLE = 0
    ACQUIRE = 1      # segment 1 (and TEP)
    TRAIN = 2        # segment 2 (+ segment 3 in long train)
    SEG4 = 3         # segment 4: trellis-coded ones, decision directed, quality measured
    DATA = 4
    PARKED = 5       # training failed: wait for the carrier to go


class Event(enum.IntEnum):
    CARRIER_UP = 1
    CARRIER_DOWN = 2
    TRAINING_IN_PROGRESS = 3
    TRAINING_SUCCEEDED = 4
    TRAINING_FAILED = 5


# Float state slots.
(F_THETA, F_OMEGA, F_TNEXT, F_DRIFT, F_AGC, F_P, F_FLOOR, F_PSIG, F_PT2, F_RRE, F_RIM,
 F_ERR, F_NERR, F_OMEGA_SAVE, F_DRIFT_SAVE, F_QUAL, F_MID_RE, F_MID_IM,
 F_MU, F_TKP, F_TKI, F_CKP, F_CKI, F_ERR_DATA, F_SNR_MIN, F_ES, F_PMIN) = range(27)
N_F = 27
# Int state slots.
(I_STAGE, I_HALF, I_XPOS, I_EQPOS, I_COUNT, I_BELOW, I_SHORT, I_SAVED, I_HOLDOFF, I_ALT,
 I_RING, I_TRAIN_LEN, I_NSYM, I_NEV, I_NBITS, I_PREVY, I_DREG, I_ONES, I_CHECKED,
 I_REPORTED, I_ERASE, I_GAPACQ, I_NCOL, I_ONESFROM) = range(24)
N_I = 24
#: Segment 4 must descramble (hard decisions) to at least this share of ones, out of
#: at least MIN_CHECKED bits (fewer when a lost packet took segment 4: training fails).
ONES_NEEDED = 0.75
MIN_CHECKED = 48
#: Symbols after a lost packet that go to the trellis as erasures: the front-end filter
#: and the equalizer line still hold samples from before the gap.
ERASE_AFTER_GAP = 16
#: Fill-in holds adaptation off for HOLDOFF_GAP symbols; training error and the segment 4
#: ones are measured again once MEASURE_AFTER_GAP of them are over.
HOLDOFF_GAP = 24
MEASURE_AFTER_GAP = 12
#: A gap in segment 1 may hide the reversal: the first GAP_CORR symbols after it are
#: matched against the known sequence (end of segment 1, segment 2, and for a short train
#: segment 4) at every offset; the best match, if its normalized correlation reaches
#: GAP_CORR_MIN, gives the place in the training and the carrier phase.
GAP_CORR = 12
GAP_CORR_MIN = 0.6
GAP_SEG1 = 40                             # segment 1 symbols at the head of that sequence
RING_GAP = 10                             # where ring[] keeps the symbols to match

# Loop gains, per stage.
MU_TRAIN = 0.15
MU_FINE = 0.04
MU_DATA = 0.01
# Timing PI gains (the normalized Gardner output is about 1 per sample of error);
# ki = kp^2 / 4 for critical damping.
TIMING_KP_ACQ, TIMING_KI_ACQ = 0.05, 0.0001
#: Clock drift bound, samples per symbol (V.17 allows 0.01 %; 180 ppm covers VoIP legs).
MAX_DRIFT = 0.0006
TIMING_KP, TIMING_KI = 0.01, 0.000025
CARRIER_KP, CARRIER_KI = 0.05, 0.0002
CARRIER_KP_DATA, CARRIER_KI_DATA = 0.02, 0.00005

#: Minimum training SNR (dB, in band) for each rate: below it the bit error rate passes
#: about 1e-3 (benchmarks/v17.py --ber), so T.30 had better fall back.
SNR_MIN = {7200: 13.0, 9600: 16.0, 12000: 19.0, 14400: 22.0}


def _bank():
    """Complex band-pass matched filter at PHASES fractional delays: bank[p, k] weighs
    x[newest - k] for an output DELAY + p/PHASES samples before the newest sample."""
    k = np.arange(FILTER_LEN)
    tau = k[None, :] - DELAY - np.arange(PHASES)[:, None] / PHASES    # output time - sample time
    g = txm.rrc(tau / SPS) * np.exp(1j * 2 * np.pi * txm.CARRIER_HZ / txm.SAMPLE_RATE * tau)
    g /= SPS
    return np.ascontiguousarray(g.real), np.ascontiguousarray(g.imag)


BANK_RE, BANK_IM = _bank()


def _training_targets() -> np.ndarray:
    """Training point indices (A=0..D=3) of segment 2 then segment 3, long train."""
    st = np.zeros(txm.N_STATE, dtype=np.int64)
    st[txm.SCR] = txm.SCRAMBLER_PRESET
    st[txm.PART] = txm.Part.SEG2
    out = []
    for _ in range(txm.SEG2_LONG + txm.SEG3):
        st_part = st[txm.PART]
        txm._next_symbol(st, np.zeros(0, np.uint8), trellis.CONSTELLATIONS[7200],
                         trellis.TRAINING_POINTS, trellis.NEXT_STATE)
        assert st_part in (txm.Part.SEG2, txm.Part.SEG3)
        out.append(st[txm.ABCD])
    return np.array(out, dtype=np.int64)


TRAIN_TARGETS = _training_targets()


@functools.cache
def gap_sequence(rate: int, short: bool) -> np.ndarray:
    """What a receiver should see from GAP_SEG1 symbols before the reversal on: ABAB,
    segment 2 (and 3, long train), and for a short train segment 4 at `rate` (the
    transmitter's own sequence; its scrambler and trellis run on from segment 2)."""
    st = np.zeros(txm.N_STATE, dtype=np.int64)
    st[txm.SCR] = txm.SCRAMBLER_PRESET
    st[txm.PART] = txm.Part.SEG1
    st[txm.COUNT] = txm.SEG1 - GAP_SEG1
    st[txm.SHORT] = int(short)
    st[txm.NBITS] = trellis.BITS_PER_SYMBOL[rate]
    n = GAP_SEG1 + (txm.SEG2_SHORT + txm.SEG4 if short else txm.SEG2_LONG + txm.SEG3)
    return np.array([txm._next_symbol(st, np.zeros(0, np.uint8), trellis.CONSTELLATIONS[rate],
                                      trellis.TRAINING_POINTS, trellis.NEXT_STATE) for _ in range(n)])


def _slice(z, points, smap):
    """Nearest constellation point code (via the trellis space map)."""
    gx = int((z.real + trellis.GRID_HALF) * trellis.GRID_RES)
    gy = int((z.imag + trellis.GRID_HALF) * trellis.GRID_RES)
    gx = min(max(gx, 0), trellis.GRID_N - 1)
    gy = min(max(gy, 0), trellis.GRID_N - 1)
    best = smap[gx, gy, 0]
    bd = 1e18
    for c in range(8):
        p = smap[gx, gy, c]
        d = abs(z - points[p]) ** 2
        if d < bd:
            bd = d
            best = p
    return best


def _check_ones(ist, code, count, fresh):
    """Segment 4 carries scrambled ones: decode the hard decision (differential decoding,
    descrambling) and count the ones, from the 24th bit on (§7.3, Table 2/V.17)."""
    y = (code >> 1) & 3
    q = ((code >> 3) << 2) | ((y - ist[I_PREVY]) & 3)
    ist[I_PREVY] = y
    if count == 0:
        ist[I_ONES] = 0
        ist[I_CHECKED] = 0
    for i in range(ist[I_NBITS]):
        b = (q >> i) & 1
        reg = ist[I_DREG]
        out = (b ^ (reg >> 17) ^ (reg >> 22)) & 1
        ist[I_DREG] = ((reg << 1) | b) & 0x7FFFFF
        if fresh and count >= 1 and count * ist[I_NBITS] + i >= max(24, ist[I_ONESFROM]):
            ist[I_ONES] += out
            ist[I_CHECKED] += 1


def _event(ist, fst, ev, evq, code, q):
    n = ist[I_NEV]
    ev[n, 0] = code
    ev[n, 1] = ist[I_NSYM]
    evq[n] = q
    ist[I_NEV] = n + 1


def _begin_training(fst, ist, eqbuf, ev, evq, ph):
    """Segment 2 found, its first symbol `ph` radians off: coarse frequency from the ABAB
    drift (long train), carrier phase, loops to training gains (or training fails when
    the carrier is more than 20 Hz off, far beyond V.17's 7 Hz)."""
    if ist[I_SHORT] == 0:
        acc = complex(fst[F_RRE], fst[F_RIM])
        if abs(acc) > 0:
            dphi = math.atan2(acc.imag, acc.real) / 2      # rad per symbol
            fst[F_OMEGA] += dphi / SPS
    dev = (fst[F_OMEGA] / (2 * math.pi) * 8000.0) - 1800.0
    if abs(dev) > 20.0:
        ist[I_STAGE] = Stage.PARKED
        _event(ist, fst, ev, evq, Event.TRAINING_FAILED, 0.0)
        return
    fst[F_THETA] += ph
    c = complex(math.cos(ph), -math.sin(ph))
    for i in range(2 * NTAPS):
        eqbuf[i] *= c
    fst[F_PSIG] = fst[F_P]
    ist[I_STAGE] = Stage.TRAIN
    ist[I_COUNT] = 1
    fst[F_ERR] = 0.0
    fst[F_NERR] = 0.0
    fst[F_MU] = MU_TRAIN
    fst[F_TKP] = TIMING_KP
    fst[F_TKI] = TIMING_KI
    fst[F_CKP] = CARRIER_KP
    fst[F_CKI] = CARRIER_KI
    _event(ist, fst, ev, evq, Event.TRAINING_IN_PROGRESS, 0.0)


def _after_gap_in_segment1(z, fresh, fst, ist, eqbuf, ring, seq, ev, evq, syms, kinds):
    """A packet was lost after the ABAB pattern was found, so the reversal may have gone
    by unseen.  Collect GAP_CORR fresh symbols and find where in `seq` (the last GAP_SEG1
    symbols of segment 1, then what follows them) they sit; resume there with the phase
    of the match: still segment 1, somewhere in segment 2/3, or in segment 4 (the symbols
    of segment 4 gone by reach the trellis as erasures; the ones check starts over)."""
    ring[9] = ring[8]
    ring[8] = z
    if not fresh:
        return
    k = ist[I_NCOL]
    ring[RING_GAP + k] = z
    ist[I_NCOL] = k + 1
    if k + 1 < GAP_CORR:
        return
    ist[I_GAPACQ] = 0
    ist[I_NCOL] = 0
    ez = 0.0
    for i in range(GAP_CORR):
        ez += ring[RING_GAP + i].real ** 2 + ring[RING_GAP + i].imag ** 2
    last = seq.shape[0] - GAP_CORR - (8 if ist[I_SHORT] == 1 else 0)
    if ist[I_SHORT] == 0 and last > GAP_SEG1 + 120:
        last = GAP_SEG1 + 120
    best = -1.0
    bj = 0
    bc = 0j
    for j in range(last + 1):
        c = 0j
        es = 0.0
        for i in range(GAP_CORR):
            t = seq[j + i]
            c += ring[RING_GAP + i] * t.conjugate()
            es += t.real * t.real + t.imag * t.imag
        v = (c.real * c.real + c.imag * c.imag) / max(ez * es, 1e-12)
        if v > best:
            best = v
            bj = j
            bc = c
    nxt = bj + GAP_CORR - GAP_SEG1      # place in segment 2 (on) of the next symbol
    if best < GAP_CORR_MIN:
        ist[I_STAGE] = Stage.PARKED
        _event(ist, fst, ev, evq, Event.TRAINING_FAILED, 0.0)
        return
    if nxt <= 0:
        return                          # still segment 1: the reversal is still to come
    _begin_training(fst, ist, eqbuf, ev, evq, math.atan2(bc.imag, bc.real))
    if ist[I_STAGE] != Stage.TRAIN:
        return
    n = ist[I_TRAIN_LEN]
    if nxt < n:
        ist[I_COUNT] = nxt
        return
    ist[I_STAGE] = Stage.SEG4
    c4 = nxt - n
    ist[I_COUNT] = c4
    fst[F_MU] = MU_DATA * 2
    ist[I_ONESFROM] = c4 * ist[I_NBITS] + 24
    m = ist[I_NSYM]
    for i in range(c4):
        syms[m + i] = 0j
        kinds[m + i] = trellis.Kind.START_ERASURE if i == 0 else trellis.Kind.ERASURE
    ist[I_NSYM] = m + c4


def _symbol(fst, ist, eq, eqbuf, eqsave, ring, points, smap, tpts, targets, seq, syms, kinds, ev, evq):
    """Everything done once per baud, after the on-time T/2 sample went in."""
    pos = ist[I_EQPOS]
    z = 0j
    for i in range(NTAPS):
        z += eq[i] * eqbuf[pos + i]
    stage = ist[I_STAGE]
    count = ist[I_COUNT]
    ist[I_COUNT] = count + 1
    target = z
    # No adapting across a lost packet (fill-in) or a gap of silence.
    fresh = ist[I_HOLDOFF] <= HOLDOFF_GAP - MEASURE_AFTER_GAP    # clear of a fill-in
    adapt = ist[I_HOLDOFF] == 0 and fst[F_P] > 0.125 * fst[F_PSIG]
    if ist[I_HOLDOFF] > 0:
        ist[I_HOLDOFF] -= 1
    if stage == Stage.ACQUIRE and ist[I_GAPACQ] > 0:
        _after_gap_in_segment1(z, fresh, fst, ist, eqbuf, ring, seq, ev, evq, syms, kinds)
        return
    if stage == Stage.ACQUIRE:      # wait for ABAB, measure carrier, find the reversal
        prev1 = ring[8]                                        # previous symbol
        prev2 = ring[9]                                        # the one before
        ring[9] = prev1
        ring[8] = z
        r1 = z * prev1.conjugate()
        # ABAB: consecutive symbols 90 degrees apart (B = jA).
        if abs(r1.real) < abs(r1.imag):
            ist[I_ALT] += 1
            if ist[I_ALT] == ALT_NEEDED and ist[I_REPORTED] == 0:
                # The ABAB pattern is there: this is a V.17 carrier.
                ist[I_REPORTED] = 1
                _event(ist, fst, ev, evq, Event.CARRIER_UP, 0.0)
                count = ALT_NEEDED                # count from the start of ABAB (after a TEP)
                ist[I_COUNT] = count + 1
        else:
            ist[I_ALT] = 0
            fst[F_RRE] = 0.0
            fst[F_RIM] = 0.0
            for i in range(8):
                ring[i] = 0j
        r2 = z * prev2.conjugate()
        if count >= ACQ_SETTLE and ist[I_ALT] >= ALT_NEEDED and r2.real < 0 and \
                abs(r2.real) > abs(r2.imag):
            # The reversal: this is the first symbol of segment 2 (point C).
            d0 = tpts[targets[0]]
            rot = z * d0.conjugate()
            _begin_training(fst, ist, eqbuf, ev, evq, math.atan2(rot.imag, rot.real))
            return
        if count >= ACQ_SETTLE and ist[I_ALT] > 0:
            # Accumulate z_k conj(z_k-2) with an 8-symbol lag (clear of the reversal's ISI).
            k = ist[I_RING] & 7
            fst[F_RRE] += ring[k].real
            fst[F_RIM] += ring[k].imag
            ring[k] = r2
            ist[I_RING] += 1
        if count >= ACQ_TIMEOUT and (ist[I_REPORTED] == 1 or count >= ACQ_TIMEOUT_QUIET):
            if ist[I_REPORTED] == 1:
                ist[I_STAGE] = Stage.PARKED
                _event(ist, fst, ev, evq, Event.TRAINING_FAILED, 0.0)
            else:
                # Never a V.17 carrier (noise, a tone): back to listening, quietly; the
                # present level becomes the floor.
                ist[I_STAGE] = Stage.IDLE
                fst[F_FLOOR] = fst[F_P]
        return
    if stage == Stage.TRAIN:        # train on known points
        target = tpts[targets[count]]
        n = ist[I_TRAIN_LEN]
        if count == 400:
            fst[F_MU] = MU_FINE
        if fresh and (count >= n - 256 or (n < 100 and count >= 8)):
            e = z - target
            fst[F_ERR] += e.real * e.real + e.imag * e.imag
            fst[F_NERR] += 1
        if count + 1 >= n:
            ist[I_STAGE] = Stage.SEG4
            ist[I_COUNT] = 0
            fst[F_MU] = MU_DATA * 2
    elif stage >= Stage.SEG4:       # decisions from the slicer, symbols to the decoder
        code = _slice(z, points, smap)
        target = points[code]
        n = ist[I_NSYM]
        syms[n] = z
        kinds[n] = trellis.Kind.START if (stage == Stage.SEG4 and count == 0) else trellis.Kind.DATA
        if ist[I_ERASE] > 0:
            ist[I_ERASE] -= 1
            kinds[n] = trellis.Kind.START_ERASURE if kinds[n] == trellis.Kind.START else trellis.Kind.ERASURE
        ist[I_NSYM] = n + 1
        e = z - target
        e2 = e.real * e.real + e.imag * e.imag
        if stage == Stage.SEG4:
            if fresh:
                fst[F_ERR] += e2
                fst[F_NERR] += 1
            _check_ones(ist, code, count, fresh)
            if count + 1 >= txm.SEG4:
                snr = 10 * math.log10(fst[F_ES] * max(fst[F_NERR], 1e-9) / max(fst[F_ERR], 1e-9))
                if fst[F_NERR] < 8 or ist[I_CHECKED] < MIN_CHECKED:
                    snr = -99.0           # too little of the training came through
                fst[F_QUAL] = snr
                fst[F_ERR_DATA] = fst[F_ERR] / fst[F_NERR]
                if snr >= fst[F_SNR_MIN] and ist[I_ONES] >= ONES_NEEDED * ist[I_CHECKED]:
                    ist[I_STAGE] = Stage.DATA
                    ist[I_SAVED] = 1
                    for i in range(NTAPS):
                        eqsave[i] = eq[i]
                    fst[F_OMEGA_SAVE] = fst[F_OMEGA]
                    fst[F_DRIFT_SAVE] = fst[F_DRIFT]
                    fst[F_MU] = MU_DATA
                    fst[F_CKP] = CARRIER_KP_DATA
                    fst[F_CKI] = CARRIER_KI_DATA
                    _event(ist, fst, ev, evq, Event.TRAINING_SUCCEEDED, snr)
                else:
                    ist[I_STAGE] = Stage.PARKED
                    n = ist[I_NSYM]
                    kinds[n] = trellis.Kind.FLUSH
                    syms[n] = 0j
                    ist[I_NSYM] = n + 1
                    _event(ist, fst, ev, evq, Event.TRAINING_FAILED, snr)
                    return
        elif fst[F_P] > 0.5 * fst[F_PSIG]:
            # Running SNR estimate, frozen while the carrier may be going.
            fst[F_ERR_DATA] += (e2 - fst[F_ERR_DATA]) * 0.01
            fst[F_QUAL] = 10 * math.log10(fst[F_ES] / max(fst[F_ERR_DATA], 1e-9))
    else:
        return
    if not adapt:
        return
    # Carrier: PI loop on the NCO from the angle between z and its target.
    x = z * target.conjugate()
    pe = math.atan2(x.imag, x.real)
    fst[F_THETA] += fst[F_CKP] * pe
    fst[F_OMEGA] += fst[F_CKI] * pe / SPS
    # Equalizer: normalized LMS towards the target.
    e = target - z
    g = fst[F_MU] / (NTAPS * AGC_TARGET)
    ge = g * e
    for i in range(NTAPS):
        eq[i] += ge * eqbuf[pos + i].conjugate()


def _rx_block_py(x, fst, ist, xbuf, eq, eqbuf, eqsave, ring, bank_re, bank_im, points, smap,
                 tpts, targets, seq, syms, kinds, ev, evq):
    """Process int16 samples x; symbols/events are appended to syms/kinds/ev/evq."""
    L = xbuf.shape[0] // 2
    for n in range(x.shape[0]):
        v = float(x[n])
        # Power and carrier detection.
        p = fst[F_P] + (v * v - fst[F_P]) * POWER_TC
        fst[F_P] = p
        stage = ist[I_STAGE]
        pos = ist[I_XPOS] - 1
        if pos < 0:
            pos = L - 1
        ist[I_XPOS] = pos
        xbuf[pos] = v
        xbuf[pos + L] = v
        fst[F_THETA] += fst[F_OMEGA]
        if stage == Stage.IDLE:
            # The floor falls in ~50 ms and rises in ~1 s: a steady noise becomes the floor.
            if p < fst[F_FLOOR]:
                fst[F_FLOOR] += (p - fst[F_FLOOR]) * (1.0 / 400.0)
            else:
                fst[F_FLOOR] += (p - fst[F_FLOOR]) * (1.0 / 8000.0)
            if p > ON_POWER and p > 4.0 * fst[F_FLOOR]:
                _carrier_up(fst, ist, eq, eqbuf, eqsave)
            continue
        if stage == Stage.ACQUIRE and ist[I_REPORTED] == 0 and p > 8.0 * fst[F_PSIG]:
            # Much more power than what started this acquisition (noise, then a signal):
            # start again on the new signal.
            _carrier_up(fst, ist, eq, eqbuf, eqsave)
        if stage == Stage.PARKED:
            if p < fst[F_PMIN]:
                fst[F_PMIN] = p
            if p > RISE * fst[F_PMIN] and p > ON_POWER:
                # A new signal after a dip (say TCF after the V.21 tail that failed
                # training, the silence between them partly lost): listen to it.
                if ist[I_REPORTED] == 1:
                    _event(ist, fst, ev, evq, Event.CARRIER_DOWN, 0.0)
                _carrier_up(fst, ist, eq, eqbuf, eqsave)
                continue
            fst[F_FLOOR] += (p - fst[F_FLOOR]) * (1.0 / 2000.0)
            if p < 2.0 * fst[F_FLOOR] or p < OFF_POWER:
                ist[I_BELOW] += 1
            else:
                ist[I_BELOW] = 0
        else:
            fst[F_PMIN] = p
            off = fst[F_PSIG] * 0.125
            if off < OFF_POWER:
                off = OFF_POWER
            if p < off:
                ist[I_BELOW] += 1
            else:
                ist[I_BELOW] = 0
        if ist[I_BELOW] >= HOLD:
            if stage == Stage.SEG4 or stage == Stage.DATA:
                k = ist[I_NSYM]
                syms[k] = 0j
                kinds[k] = trellis.Kind.FLUSH
                ist[I_NSYM] = k + 1
            if stage == Stage.PARKED:
                fst[F_FLOOR] = p          # a failed signal's steady level: not again
            if p < fst[F_FLOOR]:
                fst[F_FLOOR] = p          # otherwise the floor from before the signal
            ist[I_STAGE] = Stage.IDLE
            if ist[I_REPORTED] == 1:
                _event(ist, fst, ev, evq, Event.CARRIER_DOWN, 0.0)
            continue
        if stage == Stage.PARKED:
            continue
        # Front end: a T/2 sample when its instant has come.
        fst[F_TNEXT] -= 1.0
        if fst[F_TNEXT] > 0.0:
            continue
        mu = -fst[F_TNEXT]
        ph = int(mu * PHASES + 0.5)
        if ph >= PHASES:
            ph = PHASES - 1
        br = bank_re[ph]
        bi = bank_im[ph]
        yr = 0.0
        yi = 0.0
        for k in range(L):
            xv = xbuf[pos + k]
            yr += xv * br[k]
            yi += xv * bi[k]
        th = fst[F_THETA] - mu * fst[F_OMEGA]
        c = math.cos(th)
        s = math.sin(th)
        if stage == Stage.ACQUIRE:
            fst[F_PT2] += (yr * yr + yi * yi - fst[F_PT2]) * (1.0 / 32.0)
        a = fst[F_AGC]
        zr = (yr * c + yi * s) * a
        zi = (yi * c - yr * s) * a
        # Into the equalizer line.
        q = ist[I_EQPOS] - 1
        if q < 0:
            q = NTAPS - 1
        ist[I_EQPOS] = q
        eqbuf[q] = complex(zr, zi)
        eqbuf[q + NTAPS] = complex(zr, zi)
        half = ist[I_HALF] ^ 1
        ist[I_HALF] = half
        step = HALF
        if half == 1:
            fst[F_MID_RE] = zr
            fst[F_MID_IM] = zi
        else:
            # Gardner: Re{conj(mid) (previous on-time - this on-time)}, normalized.
            pr = eqbuf[q + 2]
            ted = (fst[F_MID_RE] * (pr.real - zr) + fst[F_MID_IM] * (pr.imag - zi)) * (2.0 / AGC_TARGET)
            if ted > 1.0:
                ted = 1.0
            elif ted < -1.0:
                ted = -1.0
            if ist[I_HOLDOFF] == 0:
                d = fst[F_DRIFT] + fst[F_TKI] * ted
                fst[F_DRIFT] = min(max(d, -MAX_DRIFT), MAX_DRIFT)
                step += fst[F_TKP] * ted
            step += fst[F_DRIFT]
            if stage == Stage.ACQUIRE and fst[F_PT2] > 0:
                # Level: scale so the ABAB T/2 power sits at AGC_TARGET (frozen after).
                fst[F_AGC] = math.sqrt(AGC_TARGET / fst[F_PT2])
            _symbol(fst, ist, eq, eqbuf, eqsave, ring, points, smap, tpts, targets, seq, syms, kinds, ev, evq)
        fst[F_TNEXT] += step
    return 0


def _carrier_up(fst, ist, eq, eqbuf, eqsave):
    """Power has come: start acquiring (CARRIER_UP is reported once ABAB is seen)."""
    ist[I_STAGE] = Stage.ACQUIRE
    ist[I_REPORTED] = 0
    ist[I_COUNT] = 0
    ist[I_BELOW] = 0
    ist[I_ALT] = 0
    ist[I_RING] = 0
    ist[I_HALF] = 0
    ist[I_HOLDOFF] = 8                    # let the filter fill before steering the timing
    ist[I_ERASE] = 0
    ist[I_GAPACQ] = 0
    ist[I_NCOL] = 0
    ist[I_ONESFROM] = 0
    fst[F_RRE] = 0.0
    fst[F_RIM] = 0.0
    fst[F_PSIG] = fst[F_P]
    fst[F_TNEXT] = HALF
    fst[F_PT2] = fst[F_P] * INPUT_TO_T2
    fst[F_AGC] = math.sqrt(AGC_TARGET / (fst[F_PT2] + 1e-9))
    fst[F_TKP] = TIMING_KP_ACQ
    fst[F_TKI] = TIMING_KI_ACQ
    fst[F_CKP] = 0.0
    fst[F_CKI] = 0.0
    fst[F_MU] = 0.0
    for i in range(eqbuf.shape[0]):
        eqbuf[i] = 0j
    if ist[I_SHORT] == 1 and ist[I_SAVED] == 1:
        for i in range(NTAPS):
            eq[i] = eqsave[i]
        fst[F_OMEGA] = fst[F_OMEGA_SAVE]
        fst[F_DRIFT] = fst[F_DRIFT_SAVE]
        fst[F_TKI] = 0.0                  # the clock drift is known: only pull the phase in
    else:
        for i in range(NTAPS):
            eq[i] = 0j
        eq[CENTER] = 1.0 + 0j
        fst[F_OMEGA] = 2 * math.pi * txm.CARRIER_HZ / txm.SAMPLE_RATE
        fst[F_DRIFT] = 0.0


def _compile():
    """The compiled twins of the loop and its helpers, sharing one globals dict so each
    calls the compiled versions.  fastmath lets LLVM vectorize the filter and equalizer
    sums (about 20 % faster); results differ from the Python reference only by rounding."""
    g = dict(_rx_block_py.__globals__)
    for name in ("_slice", "_event", "_check_ones", "_begin_training"):
        g[name] = njit(cache=True, fastmath=True)(types.FunctionType(globals()[name].__code__, g, name))
    for name in ("_after_gap_in_segment1", "_symbol", "_carrier_up"):
        g[name] = njit(cache=True, fastmath=True)(types.FunctionType(globals()[name].__code__, g, name))
    return njit(cache=True, fastmath=True)(types.FunctionType(_rx_block_py.__code__, g, "_rx_block"))


_rx_block = _compile()
