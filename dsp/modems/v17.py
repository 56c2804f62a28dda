"""V.17 modem (ITU-T V.17): 7200, 9600, 12000 and 14400 bit/s, trellis coded, for fax.

The transmitter is `V17Transmitter` (v17_tx.py).  `V17Receiver` joins the compiled
front end (v17_rx.py: carrier detect, AGC, timing and carrier recovery, equalizer) to the
trellis decoder (trellis.py) and the descrambler, and returns bits and status reports in
stream order, whatever the block size.  The descrambler is the self-synchronising inverse
of the 1 + x^-18 + x^-23 scrambler (§3); it has no feedback, so numpy does it.
Symbols lost to VoIP packet loss (`fillin`) reach the trellis as erasures, so the bits
after a gap keep their place in the stream (the lost ones come out as garbage, which
HDLC/ECM frames check) and the decisions before the gap are not disturbed.
"""

from __future__ import annotations

import numpy as np

from dsp.modems import trellis
from dsp.modems import v17_rx as rxm
from dsp.modems.base import ModemStatus, RxItem, Status
from dsp.modems.v17_tx import V17Transmitter

__all__ = ["V17Receiver", "V17Transmitter", "RATES"]

RATES = (7200, 9600, 12000, 14400)

_STATUS = {
    rxm.Event.CARRIER_UP: Status.CARRIER_UP,
    rxm.Event.CARRIER_DOWN: Status.CARRIER_DOWN,
    rxm.Event.TRAINING_IN_PROGRESS: Status.TRAINING_IN_PROGRESS,
    rxm.Event.TRAINING_SUCCEEDED: Status.TRAINING_SUCCEEDED,
    rxm.Event.TRAINING_FAILED: Status.TRAINING_FAILED,
}


class V17Receiver:
    """V.17 receiver behind the Receiver protocol of dsp.modems.base.

    `restart(short_train=True)` expects a short train and uses the equalizer, carrier
    frequency and clock drift kept from the last successful train on this receiver.
    `quality` (and the quality of TRAINING_SUCCEEDED) is the SNR estimate in dB.
    """

    def __init__(self, rate: int = 14400, *, min_snr_db: float | None = None,
                 compiled: bool = True) -> None:
        """`min_snr_db`: training SNR below which training fails (default per rate,
        rxm.SNR_MIN, about where errors start); lower it to measure BER curves."""
        if rate not in trellis.BITS_PER_SYMBOL:
            raise ValueError(f"V.17 has no rate {rate}")
        self._min_snr = min_snr_db
        self._fn = rxm._rx_block if compiled else rxm._rx_block_py
        self._compiled = compiled
        self._fst = np.zeros(rxm.N_F)
        self._ist = np.zeros(rxm.N_I, dtype=np.int64)
        self._xbuf = np.zeros(2 * rxm.FILTER_LEN)
        self._eq = np.zeros(rxm.NTAPS, dtype=np.complex128)
        self._eqbuf = np.zeros(2 * rxm.NTAPS, dtype=np.complex128)
        self._eqsave = np.zeros(rxm.NTAPS, dtype=np.complex128)
        self._ring = np.zeros(rxm.RING_GAP + rxm.GAP_CORR, dtype=np.complex128)
        self._evq = np.zeros(0)
        self.restart(rate=rate)

    def restart(self, *, short_train: bool = False, rate: int | None = None) -> None:
        if rate is not None and rate != getattr(self, "rate", None):
            self.rate = rate
            self._points = trellis.CONSTELLATIONS[rate]
            self._smap = trellis.space_map(rate)
            self._nbits = trellis.BITS_PER_SYMBOL[rate]
            self._ist[rxm.I_NBITS] = self._nbits
            self._fst[rxm.F_SNR_MIN] = rxm.SNR_MIN[rate] if self._min_snr is None else self._min_snr
            self._fst[rxm.F_ES] = float(np.mean(np.abs(self._points) ** 2))
        self._ist[rxm.I_STAGE] = rxm.Stage.IDLE
        self._ist[rxm.I_SHORT] = int(short_train)
        self._ist[rxm.I_TRAIN_LEN] = rxm.txm.SEG2_SHORT if short_train else len(rxm.TRAIN_TARGETS)
        self._ist[rxm.I_BELOW] = 0
        self._seq = rxm.gap_sequence(self.rate, short_train)
        self._fst[rxm.F_QUAL] = 0.0
        self._decoder = trellis.ViterbiDecoder(self.rate, compiled=self._compiled)
        self._history = np.zeros(23, dtype=np.uint8)
        self._gap = 0                # symbols lost in fill-in, not yet given to the trellis
        self._gap_start = False      # the first of them starts segment 4

    @property
    def quality(self) -> float:
        """Current SNR estimate (dB) from the equalizer error."""
        return float(self._fst[rxm.F_QUAL])

    @property
    def carrier_frequency(self) -> float:
        return float(self._fst[rxm.F_OMEGA] / (2 * np.pi) * 8000.0)

    def fillin(self, n: int) -> None:
        """n samples were lost: keep carrier and symbol clocks running, adapt nothing.

        The training sequence is known, so a gap in segment 2/3 advances the expected
        pattern (and may carry over into segment 4); from segment 4 on, every lost symbol
        goes to the trellis as an erasure (metric 0), as do the first ERASE_AFTER_GAP
        symbols after the gap, so data keep their place and the decoder's decisions
        before the gap are not spoiled by what follows it."""
        stage = self._ist[rxm.I_STAGE]
        if stage in (rxm.Stage.IDLE, rxm.Stage.PARKED) or n <= 0:
            return
        f, i = self._fst, self._ist
        f[rxm.F_THETA] += n * f[rxm.F_OMEGA]
        t = f[rxm.F_TNEXT] - n
        instants = 0
        while t <= 0:
            t += rxm.HALF + (f[rxm.F_DRIFT] if (i[rxm.I_HALF] ^ (instants & 1)) == 1 else 0.0)
            instants += 1
        f[rxm.F_TNEXT] = t
        symbols = (instants + i[rxm.I_HALF]) // 2
        i[rxm.I_HALF] ^= instants & 1
        i[rxm.I_HOLDOFF] = max(int(i[rxm.I_HOLDOFF]), rxm.HOLDOFF_GAP)
        if stage == rxm.Stage.ACQUIRE:
            if i[rxm.I_ALT] >= rxm.ALT_NEEDED:
                # ABAB was there: the reversal may be lost in this gap (see v17_rx).
                i[rxm.I_GAPACQ] = 1
                i[rxm.I_NCOL] = 0
            i[rxm.I_COUNT] += symbols
            return
        if stage == rxm.Stage.TRAIN:
            left = int(i[rxm.I_TRAIN_LEN] - i[rxm.I_COUNT])     # training symbols still due
            if symbols < left:
                i[rxm.I_COUNT] += symbols
                return
            # The gap runs into segment 4 (as the TRAIN -> SEG4 step in the loop does).
            symbols -= left
            i[rxm.I_STAGE] = stage = rxm.Stage.SEG4
            i[rxm.I_COUNT] = 0
            f[rxm.F_MU] = rxm.MU_DATA * 2
            self._gap_start = True
        if stage in (rxm.Stage.SEG4, rxm.Stage.DATA):
            if stage == rxm.Stage.SEG4:
                i[rxm.I_COUNT] = min(i[rxm.I_COUNT] + symbols, rxm.txm.SEG4 - 1)
            self._gap += symbols
            i[rxm.I_ERASE] = rxm.ERASE_AFTER_GAP

    def receive(self, samples: np.ndarray) -> list[RxItem]:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        cap = len(x) // 3 + 8 + rxm.txm.SEG4      # + erasures for a segment 4 found late
        if cap > len(self._evq):
            self._syms = np.zeros(cap, dtype=np.complex128)
            self._kinds = np.zeros(cap, dtype=np.int8)
            self._ev = np.zeros((cap, 2), dtype=np.int64)
            self._evq = np.zeros(cap)
        syms, kinds, ev, evq = self._syms, self._kinds, self._ev, self._evq
        self._ist[rxm.I_NSYM] = 0
        self._ist[rxm.I_NEV] = 0
        self._fn(x, self._fst, self._ist, self._xbuf, self._eq, self._eqbuf, self._eqsave,
                 self._ring, rxm.BANK_RE, rxm.BANK_IM, self._points, self._smap,
                 trellis.TRAINING_POINTS, rxm.TRAIN_TARGETS, self._seq, syms, kinds, ev, evq)
        nsym = int(self._ist[rxm.I_NSYM])
        nev = int(self._ist[rxm.I_NEV])
        if nsym == 0 and nev == 0:
            return []
        syms, kinds = syms[:nsym], kinds[:nsym]
        if self._gap:
            # The symbols lost before this block, as erasures in front of it.
            gk = np.full(self._gap, trellis.Kind.ERASURE, dtype=np.int8)
            if self._gap_start:
                gk[0] = trellis.Kind.START_ERASURE
            syms = np.concatenate([np.zeros(self._gap, np.complex128), syms])
            kinds = np.concatenate([gk, kinds])
            ev = ev.copy()
            ev[:nev, 1] += self._gap
            self._gap, self._gap_start = 0, False
        bits, at = self._bits(syms, kinds)
        out: list[RxItem] = []
        start = 0
        for k in range(nev):
            cut = int(np.searchsorted(at, ev[k, 1], side="left"))
            if cut > start:
                out.append(bits[start:cut])
                start = cut
            q = float(evq[k]) if ev[k, 0] == rxm.Event.TRAINING_SUCCEEDED else None
            out.append(ModemStatus(_STATUS[rxm.Event(int(ev[k, 0]))], q))
        if start < len(bits):
            out.append(bits[start:])
        return out

    def _bits(self, syms: np.ndarray, kinds: np.ndarray):
        """Trellis-decode, descramble, and drop the segment 4 ones."""
        if len(syms) == 0:
            return np.zeros(0, np.uint8), np.zeros(0, np.int64)
        raw, at, keep = self._decoder.decode(syms, kinds, skip_first=rxm.txm.SEG4)
        full = np.concatenate([self._history, raw])
        n = len(raw)
        data = raw ^ full[5:5 + n] ^ full[:n]
        self._history = full[-23:]
        keep = keep.astype(bool)
        return data[keep], at[keep]
