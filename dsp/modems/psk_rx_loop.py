"""The compiled receive loop behind `psk_rx.PskReceiver` (V.27 ter, V.29).

What: `rx_block` runs samples through mixing, carrier detect, the alternation search,
the T/2 matched filter and timing loop, the equalizer and carrier loop, and the
training / data state machine described in `psk_rx`, with all state in small arrays
(the index constants below) so one call per block carries it across calls.

Numba-compiled (``njit(cache=True)``); `rx_block_reference` runs the same loop as plain
Python (``py_func``), which the tests compare against.
"""

from __future__ import annotations

import enum
import math

import numpy as np
from numba import njit

from . import equalizer, recovery, shaping
from . import scrambler as scr_mod

# ---- receiver states -----------------------------------------------------------------
class RxState(enum.IntEnum):
    """Where the receiver is (see `psk_rx`); the compiled loop uses the int values."""

    IDLE = 0        # searching for a training alternation
    ALT_WARM = 1    # alternation found, timing set: let the equalizer fill
    ALT_PHASE = 2   # level and carrier phase from the alternation
    ALT_TRACK = 3   # follow the alternation until the known training sequence shows
    TRAIN = 4       # equalizer training on the known sequence
    DATA = 5        # decision-directed data
    FAILED = 6      # training judged too poor: wait for the carrier to go


IDLE, ALT_WARM, ALT_PHASE, ALT_TRACK, TRAIN, DATA, FAILED = (int(s) for s in RxState)

# ---- event codes (rx_block output) --------------------------------------------------
EV_CARRIER_UP, EV_CARRIER_DOWN, EV_TRAINING, EV_TRAINED, EV_FAILED = 1, 2, 3, 4, 5

# ---- integer configuration ----------------------------------------------------------
(CI_P, CI_H, CI_NUM, CI_DEN, CI_W, CI_FLIP, CI_AMP_BITS, CI_NSTEP, CI_SCR_KIND,
 CI_DATA_PREV, CI_ALT_MAX, CI_Q, CI_WARM, CI_KPHASE, CI_HOLD, CI_SEARCH, CI_ONES,
 CI_OFF_WINDOWS,
 # where each table sits in the packed arrays (see `views`)
 CI_O_CAR, CI_N_CAR, CI_O_ACQ, CI_N_ACQ, CI_O_ALT, CI_O_TRAIN, CI_N_TRAIN, CI_O_PTS, CI_N_PTS,
 CI_O_TPH, CI_O_PPH, CI_O_PAMP, CI_O_STEP, CI_O_SCRI,
 CI_O_HIST, CI_N_HIST, CI_O_EQR, CI_O_TAPS, CI_N_TAPS, CI_O_WINY, CI_O_ACCP, CI_O_DETR,
 CI_LEN) = range(41)
# ---- float configuration ------------------------------------------------------------
(CF_SPS, CF_ON_MS, CF_OFF_MS, CF_REL_OFF, CF_SNR_MIN, CF_MU_TRAIN, CF_MU_DATA,
 CF_K1_TRAIN, CF_K2_TRAIN, CF_K1_DATA, CF_K2_DATA, CF_KT_TRAIN, CF_KT_DATA, CF_KT2,
 CF_DATA_POWER, CF_ALT_POWER, CF_ALT_R, CF_LEN) = range(18)
# ---- integer state ------------------------------------------------------------------
(SI_STATE, SI_CI, SI_HPOS, SI_WCNT, SI_WTAINT, SI_NWIN, SI_HALF, SI_EQPOS, SI_SYMCNT,
 SI_PAR, SI_TIDX, SI_PREV, SI_LOWCNT, SI_DETN, SI_UP, SI_ACQ, SI_HOLD, SI_LOST,
 SI_SKIP, SI_QUIET, SI_LEN) = range(21)
# ---- float state --------------------------------------------------------------------
(SF_U, SF_GAIN, SF_PHI, SF_FREQ, SF_WACC, SF_REFMS, SF_TDRIFT, SF_MSE, SF_REFP, SF_QMSE,
 SF_PWR, SF_Q1, SF_Q2, SF_Q3, SF_LEN) = range(15)
# ---- complex state ------------------------------------------------------------------
SC_YPREV, SC_YMID, SC_S0, SC_S1, SC_LEN = range(5)

WINDOW = recovery.WINDOW


@njit(cache=True, inline="always")
def _emit(ev_code, ev_pos, ev_q, ne, code, pos, q):
    if ne < len(ev_code):
        ev_code[ne] = code
        ev_pos[ne] = pos
        ev_q[ne] = q
    return ne + 1


@njit(cache=True, inline="always")
def _snr_db(signal, noise):
    if noise <= 0.0:
        return 99.0
    return 10.0 * math.log10(signal / noise)


@njit(cache=True)
def _start_symbols(st_i, st_f, st_c, eqring, taps, rms):
    """Alternation found: reset the equalizer and the loops for a new training."""
    st_i[SI_HALF] = 0
    st_i[SI_SYMCNT] = 0
    st_i[SI_DETN] = 0
    st_i[SI_LOWCNT] = 0
    st_i[SI_QUIET] = 0
    st_i[SI_HOLD] = 0
    st_i[SI_LOST] = 0
    st_f[SF_Q1] = 0.0
    st_f[SF_Q2] = 0.0
    st_f[SF_Q3] = 0.0
    st_f[SF_PHI] = 0.0
    st_f[SF_FREQ] = 0.0
    st_f[SF_TDRIFT] = 0.0
    st_f[SF_GAIN] = 1.0 / max(rms, 1e-3)
    for j in range(len(eqring)):
        eqring[j] = 0j
    for j in range(len(taps)):
        taps[j] = 0j
    taps[len(taps) // 2] = 1.0
    st_c[SC_YPREV] = 0j
    st_c[SC_YMID] = 0j


@njit(cache=True)
def _window_end(st_i, st_f, cfg_i, cfg_f, winy, acc_p, acc_e, acq_tab, eqring, taps, st_c,
                ev_code, ev_pos, ev_q, ne, nb, nabs):
    """Carrier detect and (while searching) alternation detection, every 5 ms window."""
    ms = st_f[SF_WACC] / WINDOW
    tainted = st_i[SI_WTAINT] != 0
    state = st_i[SI_STATE]
    if tainted:
        return ne
    if state == IDLE:
        if ms <= cfg_f[CF_ON_MS]:
            st_i[SI_NWIN] = 0
            return ne
        mean = 0j
        for k in range(WINDOW):
            mean += winy[k]
        mean /= WINDOW
        p = 0j
        e = 0.0
        den = cfg_i[CI_DEN]
        idx = st_i[SI_ACQ]
        for k in range(WINDOW):
            d = winy[k] - mean
            m2 = d.real * d.real + d.imag * d.imag
            p += m2 * acq_tab[idx]
            e += m2
            idx += cfg_i[CI_NUM]
            if idx >= den:
                idx -= den
        acc_p[0] = acc_p[1]
        acc_e[0] = acc_e[1]
        acc_p[1] = p
        acc_e[1] = e
        st_i[SI_NWIN] += 1
        st_f[SF_REFMS] = ms if st_i[SI_NWIN] == 1 else 0.5 * (st_f[SF_REFMS] + ms)
        if st_i[SI_NWIN] < 2:
            return ne
        ps = acc_p[0] + acc_p[1]
        es = acc_e[0] + acc_e[1]
        coherent = abs(ps) >= 0.8 * (abs(acc_p[0]) + abs(acc_p[1]))
        rthr = cfg_f[CF_ALT_R]
        each = abs(acc_p[0]) > rthr * acc_e[0] and abs(acc_p[1]) > rthr * acc_e[1]
        if es > 0.0 and abs(ps) > rthr * es and coherent and each:
            # Symbol instants where |y|^2 peaks: phase of the symbol-rate tone.
            frac = (-math.atan2(ps.imag, ps.real) / (2.0 * math.pi)) % 1.0
            sps = cfg_f[CF_SPS]
            h = cfg_i[CI_H]
            base = nabs - h + 1  # earliest filter time not yet evaluable
            fb = ((base * cfg_i[CI_NUM]) % den) / den
            delta = ((frac - fb) % 1.0) * sps
            st_f[SF_U] = 1.0 - h + delta
            _start_symbols(st_i, st_f, st_c, eqring, taps, math.sqrt(es / (2 * WINDOW)))
            st_i[SI_STATE] = ALT_WARM
        return ne
    # Carrier on: follow the level during training, then watch for the drop.
    if state < DATA:
        st_f[SF_REFMS] = 0.75 * st_f[SF_REFMS] + 0.25 * ms
    else:
        # Error averages of the last windows: the carrier-down report quotes the one from
        # before the signal's tail reached the decisions.
        st_f[SF_Q3] = st_f[SF_Q2]
        st_f[SF_Q2] = st_f[SF_Q1]
        st_f[SF_Q1] = st_f[SF_QMSE]
    thr = max(cfg_f[CF_OFF_MS], st_f[SF_REFMS] * cfg_f[CF_REL_OFF])
    if ms < thr:
        st_i[SI_LOWCNT] += 1
    else:
        st_i[SI_LOWCNT] = 0
    # A quiet window may be a gap (a lost packet played out as silence): treat it like a
    # fill-in; only a quiet spell longer than such gaps is the end of the carrier.
    st_i[SI_QUIET] = 1 if st_i[SI_LOWCNT] > 0 else 0
    if st_i[SI_LOWCNT] >= cfg_i[CI_OFF_WINDOWS]:
        q = math.nan
        if state == DATA:
            q = _snr_db(cfg_f[CF_DATA_POWER], st_f[SF_Q3] if st_f[SF_Q3] > 0.0 else st_f[SF_QMSE])
        if st_i[SI_UP] != 0:
            ne = _emit(ev_code, ev_pos, ev_q, ne, EV_CARRIER_DOWN, nb, q)
        st_i[SI_STATE] = IDLE
        st_i[SI_UP] = 0
        st_i[SI_NWIN] = 0
        st_i[SI_QUIET] = 0
    return ne


@njit(cache=True, inline="always")
def _descramble(kind, scr, bit):
    if kind == 0:
        return scr_mod.v29_descramble_bit(scr, bit)
    return scr_mod.v27ter_descramble_bit(scr, bit)


@njit(cache=True, inline="always")
def _symbol(z, gap, st_i, st_f, cfg_i, cfg_f, taps, eqring, alt, train, train_phase,
            points, point_phase, point_amp, step_bits, detr, dete, scr, scr_init,
            bits_out, nb, ev_code, ev_pos, ev_q, ne):
    """One equalised symbol through the training / data state machine."""
    state = st_i[SI_STATE]
    cnt = st_i[SI_SYMCNT]
    st_i[SI_SYMCNT] = cnt + 1
    pos = st_i[SI_EQPOS]
    phi = st_f[SF_PHI]
    rot = complex(math.cos(phi), -math.sin(phi))
    r = z * rot
    if gap or st_i[SI_HOLD] > 0:
        # Lost or silent audio, or the equalizer still holds some of it: keep time (training index,
        # carrier phase advance), learn nothing, judge nothing.
        if gap:
            st_i[SI_HOLD] = cfg_i[CI_HOLD]
            if state == ALT_TRACK:
                # The training sequence may start unseen: search it at any offset later.
                st_i[SI_DETN] = 0
                st_i[SI_LOST] = 1
        else:
            st_i[SI_HOLD] -= 1
        st_f[SF_PHI], _ = recovery.pll_step(phi, st_f[SF_FREQ], 0.0, 0.0, 0.0)
        if state == TRAIN and st_i[SI_TIDX] < len(train) - 1:
            st_i[SI_TIDX] += 1
        if state != DATA or gap:
            return nb, ne
        # Data: still decide (bits keep their count), but adapt nothing.
        return _decide(r, st_i, cfg_i, points, point_phase, point_amp, step_bits, scr,
                       bits_out, nb)[0], ne
    if state == ALT_TRACK:
        k = st_i[SI_PAR] + cnt
        e = alt[k & 1]
        ee = e.real * e.real + e.imag * e.imag
        dr = r - e
        if dr.real * dr.real + dr.imag * dr.imag < 0.5 * ee:
            st_f[SF_PHI], st_f[SF_FREQ] = recovery.pll_step(
                phi, st_f[SF_FREQ], recovery.phase_error(r, e), cfg_f[CF_K1_TRAIN], cfg_f[CF_K2_TRAIN])
        else:
            st_f[SF_PHI], _ = recovery.pll_step(phi, st_f[SF_FREQ], 0.0, 0.0, 0.0)
        w = cfg_i[CI_W]
        for j in range(w - 1):
            detr[j] = detr[j + 1]
            dete[j] = dete[j + 1]
        detr[w - 1] = r
        dete[w - 1] = e
        if st_i[SI_DETN] < w:
            st_i[SI_DETN] += 1
        if st_i[SI_DETN] >= w:
            m_alt = 0.0
            for j in range(w):
                a = detr[j] - dete[j]
                m_alt += a.real * a.real + a.imag * a.imag
            # Normally the window must be the training's first symbols (V.27 ter: maybe
            # turned by 180 degrees).  After lost audio it may be any later stretch of
            # it, and the carrier may have slipped while nothing could be checked: try
            # every offset the loss can explain and turns by multiples of 45 degrees.
            lost = st_i[SI_LOST] != 0
            search = cfg_i[CI_SEARCH] if lost else 0
            best = 1e300
            best_off = 0
            best_rot = 0
            for rot in range(8):
                if not lost and not (rot == 0 or (rot == 4 and cfg_i[CI_FLIP] != 0)):
                    continue
                turn = complex(math.cos(rot * math.pi / 4), math.sin(rot * math.pi / 4))
                for off in range(min(search, len(train) - w) + 1):
                    m = 0.0
                    for j in range(w):
                        b = detr[j] * turn - train[off + j]
                        m += b.real * b.real + b.imag * b.imag
                    if m < best:
                        best = m
                        best_off = off
                        best_rot = rot
            if lost:
                # Still in the alternation, only turned?  Then re-lock on it and wait.
                alt_best = m_alt
                alt_rot = 0
                for rot in range(1, 8):
                    turn = complex(math.cos(rot * math.pi / 4), math.sin(rot * math.pi / 4))
                    m = 0.0
                    for j in range(w):
                        b = detr[j] * turn - dete[j]
                        m += b.real * b.real + b.imag * b.imag
                    if m < alt_best:
                        alt_best = m
                        alt_rot = rot
                if alt_best <= best:
                    if alt_best < 0.25 * m_alt:
                        st_f[SF_PHI] -= alt_rot * math.pi / 4
                        st_i[SI_DETN] = 0
                    return nb, ne
                m_alt = alt_best
            if best < 0.25 * m_alt:
                st_f[SF_PHI] -= best_rot * math.pi / 4
                # A real training sequence: only now is the carrier "up" for T.30.
                st_i[SI_UP] = 1
                ne = _emit(ev_code, ev_pos, ev_q, ne, EV_CARRIER_UP, nb, math.nan)
                ne = _emit(ev_code, ev_pos, ev_q, ne, EV_TRAINING, nb, math.nan)
                st_i[SI_STATE] = TRAIN
                st_i[SI_TIDX] = best_off + w
                st_f[SF_MSE] = 0.0
                st_f[SF_REFP] = 0.0
                return nb, ne
        if cnt >= cfg_i[CI_ALT_MAX]:
            # An alternation-like sound but no training sequence: keep searching quietly.
            st_i[SI_STATE] = IDLE
            st_i[SI_NWIN] = 0
        return nb, ne
    if state == TRAIN:
        idx = st_i[SI_TIDX]
        ref = train[idx]
        err = ref - r
        equalizer.adapt(taps, eqring, pos, err * rot.conjugate(), cfg_f[CF_MU_TRAIN])
        st_f[SF_PHI], st_f[SF_FREQ] = recovery.pll_step(
            phi, st_f[SF_FREQ], recovery.phase_error(r, ref), cfg_f[CF_K1_TRAIN], cfg_f[CF_K2_TRAIN])
        if idx >= len(train) - cfg_i[CI_Q]:
            st_f[SF_MSE] += err.real * err.real + err.imag * err.imag
            st_f[SF_REFP] += ref.real * ref.real + ref.imag * ref.imag
        idx += 1
        st_i[SI_TIDX] = idx
        if idx >= len(train):
            snr = _snr_db(st_f[SF_REFP], st_f[SF_MSE])
            if snr >= cfg_f[CF_SNR_MIN]:
                st_i[SI_STATE] = DATA
                prev = cfg_i[CI_DATA_PREV]
                st_i[SI_PREV] = train_phase[len(train) - 1] if prev < 0 else prev
                st_i[SI_SKIP] = cfg_i[CI_ONES]
                scr[0] = scr_init[0]
                scr[1] = scr_init[1]
                st_f[SF_QMSE] = st_f[SF_MSE] / cfg_i[CI_Q] * cfg_f[CF_DATA_POWER] / (
                    st_f[SF_REFP] / cfg_i[CI_Q])
                ne = _emit(ev_code, ev_pos, ev_q, ne, EV_TRAINED, nb, snr)
            else:
                st_i[SI_STATE] = FAILED
                ne = _emit(ev_code, ev_pos, ev_q, ne, EV_FAILED, nb, snr)
        return nb, ne
    if state == DATA:
        nb, ref, bd = _decide(r, st_i, cfg_i, points, point_phase, point_amp, step_bits, scr,
                              bits_out, nb)
        err = ref - r
        equalizer.adapt(taps, eqring, pos, err * rot.conjugate(), cfg_f[CF_MU_DATA])
        st_f[SF_PHI], st_f[SF_FREQ] = recovery.pll_step(
            phi, st_f[SF_FREQ], recovery.phase_error(r, ref), cfg_f[CF_K1_DATA], cfg_f[CF_K2_DATA])
        st_f[SF_QMSE] = 0.99 * st_f[SF_QMSE] + 0.01 * bd
    return nb, ne


@njit(cache=True, inline="always")
def _decide(r, st_i, cfg_i, points, point_phase, point_amp, step_bits, scr, bits_out, nb):
    """Nearest point, phase change -> bits (amplitude bit first), descrambled into
    bits_out; returns (nb, the point, its squared distance).  The training's closing
    segment of scrambled ones only feeds the descrambler (spandsp does the same)."""
    best = 0
    bd = 1e300
    for j in range(len(points)):
        d = r - points[j]
        dd = d.real * d.real + d.imag * d.imag
        if dd < bd:
            bd = dd
            best = j
    ph = point_phase[best]
    step = (ph - st_i[SI_PREV]) & 7
    st_i[SI_PREV] = ph
    kind = cfg_i[CI_SCR_KIND]
    keep = 1
    if st_i[SI_SKIP] > 0:
        st_i[SI_SKIP] -= 1
        keep = 0
    if cfg_i[CI_AMP_BITS] != 0:
        bits_out[nb] = _descramble(kind, scr, np.int64(point_amp[best]))
        nb += keep
    pattern = step_bits[step]
    for j in range(cfg_i[CI_NSTEP] - 1, -1, -1):
        bits_out[nb] = _descramble(kind, scr, np.int64((pattern >> j) & 1))
        nb += keep
    return nb, points[best], bd


@njit(cache=True)
def _loop(samples, fill, cfg_i, cfg_f, bank, carrier, acq_tab, alt, train, train_phase,
          points, point_phase, point_amp, step_bits, st_i, st_f, st_c, hist, eqring, taps,
          winy, acc_p, acc_e, detr, dete, scr, scr_init, nabs0, bits_out, ev_code, ev_pos,
          ev_q):
    """The per-sample loop over unpacked views (see `rx_block`)."""
    nb = 0
    ne = 0
    h = cfg_i[CI_H]
    nphase = cfg_i[CI_P]
    half_sps = 0.5 * cfg_f[CF_SPS]
    period = len(carrier)
    L = len(hist) // 2  # doubled ring (see shaping.rx_filter_at)
    for i in range(len(samples)):
        nabs = nabs0 + i
        x = 0.0 if fill else float(samples[i])
        # 1. mix down into the baseband ring
        ci = st_i[SI_CI]
        c = carrier[ci]
        ci += 1
        st_i[SI_CI] = 0 if ci == period else ci
        hp = st_i[SI_HPOS] + 1
        if hp == L:
            hp = 0
        st_i[SI_HPOS] = hp
        v = complex(x * c.real, -x * c.imag)
        hist[hp] = v
        hist[hp + L] = v
        # 2. window bookkeeping
        w = st_i[SI_WCNT]
        st_f[SF_WACC] += x * x
        if fill:
            st_i[SI_WTAINT] = 1
        state = st_i[SI_STATE]
        if state == IDLE:
            if w == 0:
                st_i[SI_ACQ] = ((nabs - h) * cfg_i[CI_NUM]) % cfg_i[CI_DEN]
            winy[w] = shaping.rx_filter_at(hist, hp, -h, 0, bank, h)
        else:
            # 3. T/2 samples where the timing loop puts them
            gap = fill or st_i[SI_QUIET] != 0
            u = st_f[SF_U] - 1.0
            while u < 1.0 - h:
                off = math.floor(u)
                p = int((u - off) * nphase)
                if p >= nphase:
                    p = nphase - 1
                y = shaping.rx_filter_at(hist, hp, int(off), p, bank, h) * st_f[SF_GAIN]
                pos = equalizer.push(eqring, st_i[SI_EQPOS], y)
                st_i[SI_EQPOS] = pos
                u += half_sps
                if st_i[SI_HALF] == 1:
                    st_c[SC_YMID] = y
                    st_i[SI_HALF] = 0
                    continue
                st_i[SI_HALF] = 1
                state = st_i[SI_STATE]
                if state >= ALT_PHASE and state != FAILED and not gap and st_i[SI_HOLD] == 0:
                    te = recovery.gardner(st_c[SC_YPREV], st_c[SC_YMID], y) / cfg_f[CF_DATA_POWER]
                    kt = cfg_f[CF_KT_DATA] if state == DATA else cfg_f[CF_KT_TRAIN]
                    st_f[SF_TDRIFT] -= cfg_f[CF_KT2] * te
                    u -= kt * te * half_sps - st_f[SF_TDRIFT]
                else:
                    u += st_f[SF_TDRIFT]
                st_c[SC_YPREV] = y
                z = equalizer.output(taps, eqring, pos)
                if gap and (state == ALT_WARM or state == ALT_PHASE):
                    # Audio lost while sizing up the alternation: start that over once the
                    # filter and equalizer hold real samples again.
                    st_i[SI_STATE] = ALT_WARM
                    st_i[SI_SYMCNT] = cfg_i[CI_WARM] - cfg_i[CI_HOLD]
                    continue
                if state == ALT_WARM:
                    # Wait until the equalizer holds only samples taken on the new timing.
                    st_i[SI_SYMCNT] += 1
                    if st_i[SI_SYMCNT] >= cfg_i[CI_WARM]:
                        st_i[SI_STATE] = ALT_PHASE
                        st_i[SI_SYMCNT] = 0
                        st_f[SF_PWR] = 0.0
                        st_c[SC_S0] = 0j
                        st_c[SC_S1] = 0j
                    continue
                if state == ALT_PHASE:
                    if not gap:
                        _alt_phase(z, st_i, st_f, st_c, cfg_i, cfg_f, alt, eqring, taps)
                    continue
                if state == FAILED:
                    continue
                nb, ne = _symbol(
                    z, gap, st_i, st_f, cfg_i, cfg_f, taps, eqring, alt, train, train_phase,
                    points, point_phase, point_amp, step_bits, detr, dete, scr, scr_init,
                    bits_out, nb, ev_code, ev_pos, ev_q, ne)
            st_f[SF_U] = u
        w += 1
        if w == WINDOW:
            ne = _window_end(st_i, st_f, cfg_i, cfg_f, winy, acc_p, acc_e, acq_tab, eqring, taps,
                             st_c, ev_code, ev_pos, ev_q, ne, nb, nabs)
            w = 0
            st_f[SF_WACC] = 0.0
            st_i[SI_WTAINT] = 0
        st_i[SI_WCNT] = w
    return nb, ne


@njit(cache=True)
def _alt_phase(z, st_i, st_f, st_c, cfg_i, cfg_f, alt, eqring, taps):
    """Level and carrier phase from the alternation; decide which symbols are A and B."""
    k = st_i[SI_SYMCNT]
    st_i[SI_SYMCNT] = k + 1
    st_f[SF_PWR] += z.real * z.real + z.imag * z.imag
    st_c[SC_S0] += z * alt[k & 1].conjugate()
    st_c[SC_S1] += z * alt[(k + 1) & 1].conjugate()
    if k + 1 < cfg_i[CI_KPHASE]:
        return
    s0 = st_c[SC_S0]
    s1 = st_c[SC_S1]
    par = 0
    s = s0
    if abs(s1) > abs(s0):
        par = 1
        s = s1
    n = cfg_i[CI_KPHASE]
    g = math.sqrt(cfg_f[CF_ALT_POWER] / max(st_f[SF_PWR] / n, 1e-12))
    st_f[SF_GAIN] *= g
    equalizer.scale(eqring, g)
    st_f[SF_PHI] = math.atan2(s.imag, s.real)
    st_f[SF_FREQ] = 0.0
    # The next symbol has alternation index n: its reference is alt[(n + par) & 1].
    st_i[SI_PAR] = n + par
    st_i[SI_SYMCNT] = 0
    st_i[SI_DETN] = 0
    st_i[SI_STATE] = ALT_TRACK
    st_c[SC_S0] = 0j
    st_c[SC_S1] = 0j



@njit(cache=True)
def views(cfg_i, cc, it, st_i, st_f, wc):
    """The tables and state the loop works on, as views into the packed arrays.

    Packing keeps one call per block cheap (a compiled call pays for every argument):
    ``cc`` complex config = carrier | symbol-rate tone | alternation | training | points;
    ``it`` int config = training phases | point phases | point amplitude bits | step bits
    | descrambler start; ``st_i`` = SI_* | descrambler (2); ``st_f`` = SF_* | window
    energies (2); ``wc`` complex state = SC_* | baseband ring | equalizer ring | taps |
    window of filter outputs | window tones (2) | detection rings (2 x W).
    """
    w = cfg_i[CI_W]
    n_train = cfg_i[CI_N_TRAIN]
    n_pts = cfg_i[CI_N_PTS]
    carrier = cc[cfg_i[CI_O_CAR]: cfg_i[CI_O_CAR] + cfg_i[CI_N_CAR]]
    acq_tab = cc[cfg_i[CI_O_ACQ]: cfg_i[CI_O_ACQ] + cfg_i[CI_N_ACQ]]
    alt = cc[cfg_i[CI_O_ALT]: cfg_i[CI_O_ALT] + 2]
    train = cc[cfg_i[CI_O_TRAIN]: cfg_i[CI_O_TRAIN] + n_train]
    points = cc[cfg_i[CI_O_PTS]: cfg_i[CI_O_PTS] + n_pts]
    train_phase = it[cfg_i[CI_O_TPH]: cfg_i[CI_O_TPH] + n_train]
    point_phase = it[cfg_i[CI_O_PPH]: cfg_i[CI_O_PPH] + n_pts]
    point_amp = it[cfg_i[CI_O_PAMP]: cfg_i[CI_O_PAMP] + n_pts]
    step_bits = it[cfg_i[CI_O_STEP]: cfg_i[CI_O_STEP] + 8]
    scr_init = it[cfg_i[CI_O_SCRI]: cfg_i[CI_O_SCRI] + 2]
    scr = st_i[SI_LEN: SI_LEN + 2]
    acc_e = st_f[SF_LEN: SF_LEN + 2]
    st_c = wc[0: SC_LEN]
    hist = wc[cfg_i[CI_O_HIST]: cfg_i[CI_O_HIST] + cfg_i[CI_N_HIST]]
    eqring = wc[cfg_i[CI_O_EQR]: cfg_i[CI_O_EQR] + 2 * cfg_i[CI_N_TAPS]]
    taps = wc[cfg_i[CI_O_TAPS]: cfg_i[CI_O_TAPS] + cfg_i[CI_N_TAPS]]
    winy = wc[cfg_i[CI_O_WINY]: cfg_i[CI_O_WINY] + WINDOW]
    acc_p = wc[cfg_i[CI_O_ACCP]: cfg_i[CI_O_ACCP] + 2]
    detr = wc[cfg_i[CI_O_DETR]: cfg_i[CI_O_DETR] + w]
    dete = wc[cfg_i[CI_O_DETR] + w: cfg_i[CI_O_DETR] + 2 * w]
    return (carrier, acq_tab, alt, train, train_phase, points, point_phase, point_amp, step_bits,
            scr_init, scr, acc_e, st_c, hist, eqring, taps, winy, acc_p, detr, dete)


@njit(cache=True)
def rx_block(samples, fill, cfg_i, cfg_f, bank, cc, it, st_i, st_f, wc, nabs0, bits_out, ev):
    """Run `samples` (int16; zeros with ``fill``) through the receiver; returns
    (number of bits written to bits_out, number of events written to ev = code | bit
    position | quality rows)."""
    (carrier, acq_tab, alt, train, train_phase, points, point_phase, point_amp, step_bits,
     scr_init, scr, acc_e, st_c, hist, eqring, taps, winy, acc_p, detr, dete) = views(
        cfg_i, cc, it, st_i, st_f, wc)
    return _loop(samples, fill, cfg_i, cfg_f, bank, carrier, acq_tab, alt, train, train_phase,
                 points, point_phase, point_amp, step_bits, st_i, st_f, st_c, hist, eqring, taps,
                 winy, acc_p, acc_e, detr, dete, scr, scr_init, nabs0, bits_out, ev[0], ev[1],
                 ev[2])


def rx_block_reference(samples, fill, cfg_i, cfg_f, bank, cc, it, st_i, st_f, wc, nabs0, bits_out,
                       ev):
    """`rx_block` in plain Python: the same views and loop, interpreted (for tests)."""
    (carrier, acq_tab, alt, train, train_phase, points, point_phase, point_amp, step_bits,
     scr_init, scr, acc_e, st_c, hist, eqring, taps, winy, acc_p, detr, dete) = views.py_func(
        cfg_i, cc, it, st_i, st_f, wc)
    return _loop.py_func(samples, fill, cfg_i, cfg_f, bank, carrier, acq_tab, alt, train,
                         train_phase, points, point_phase, point_amp, step_bits, st_i, st_f, st_c,
                         hist, eqring, taps, winy, acc_p, acc_e, detr, dete, scr, scr_init, nabs0,
                         bits_out, ev[0], ev[1], ev[2])
