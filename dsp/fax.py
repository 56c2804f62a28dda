"""FaxTerminal: one fax call over audio — modems, HDLC, T.30 and T.4 joined per tick.

What: `receive(samples)` (or `fillin(n)` for a lost block) and `transmit(n)` once per
20 ms tick, 8000 Hz int16 samples each way (DESIGN.md §3–4).  Inside, a `T30Session`
runs the procedure; its front-end requests are applied within the same call: tones
(CED, CNG), V.21 HDLC for control frames, the fast modem (V.27 ter, V.29, V.17) for TCF,
non-ECM images and ECM blocks.  Events (`PageReceived`, `PageSent`, `CallFinished`, ...)
collect in `events`.

How it listens (as spandsp's fax.c does): while T.30 waits for the fast modem, V.21 is
watched too.  Whichever declares itself first wins the turn — the fast receiver by
training, V.21 by HDLC framing — and only the winner's carrier reports reach T.30, so
noise on the idle V.21 detector cannot end a page and a failed fast train cannot hide a
repeated DCS.  Whatever we transmit, we do not listen (half duplex).

HDLC framing means flags in a row (`HdlcReceiver`'s FRAMING_OK) or a frame whose FCS
checks — not any flag-bounded run of octets: the V.21 detector's carrier does come up on
a V.17/V.29/V.27 ter training (its alternations put a line at the 1700/1800 Hz carrier,
between the two V.21 tones; the scrambled segments that follow keep the in-band share
near the detector's threshold, longer on µ-law in our measurements), its bits are then
noise, and chance flags around a few whole octets make a bad "frame".  Taking the turn on that (as the first version did) left a µ-law non-ECM
receiver deaf to the TCF it was waiting for: no CFR, no FTT, the sender's DCS repeated
until it gave up.  Before the turn is taken, a bad frame is ignored.

Over a lossy VoIP line: a lost packet (`fillin`) leaves V.21 bit slots the receiver
counts; they go to the deframer as erasures, and a frame that fails its FCS is mended
from them when exactly one filling makes it whole (`dsp.v21_repair`).  A 20 ms block
louder than `SIGNAL_DBM0` tells T.30 a signal is on the line (`line_signal`), so a
command is not repeated over the far end's TCF.

How it speaks: 75 ms of silence before every modem transmission (T.30 §5.3.2.2), 1 s of
flags before V.21 frames (T.30 §5.3.1), 200 ms of flags before ECM frames; a
transmission ends when the modem returns fewer samples than asked, and T.30 hears
SEND_COMPLETE.
"""

from __future__ import annotations

import enum

import numpy as np

from dsp import g711
from dsp.hdlc import Frame as HdlcFrame, FrameEncoder, HdlcEvent, HdlcReceiver, encode_frames, preamble_flags
from dsp.modems.base import ModemStatus, Status
from dsp.modems.v17 import V17Receiver, V17Transmitter
from dsp.modems.v21 import V21Receiver, V21Transmitter
from dsp.modems.v27ter import V27terReceiver, V27terTransmitter
from dsp.modems.v29 import V29Receiver, V29Transmitter
from dsp.t30.dis import Modem
from dsp.t30.events import (
    CallFinished, FrontEnd, SendFrames, SendImage, SendTCF, SendTone, Silence, StartReceiving, Tone,
)
from dsp.t30.session import SessionConfig, T30Session
from dsp.tones import CedGenerator, CngGenerator
from dsp.v21_repair import ErasureRepair

SAMPLE_RATE = 8000
GAP_MS = 75
TONE_DBM0 = -11.0  # CNG and CED level, as spandsp (dsp.tones default)
#: A 20 ms block at least this loud means a signal is on the line (`T30Session.line_signal`):
#: 3 dB under the weakest signal our sweeps send (-14 dBm0 through a 25 dB loss), 2 dB
#: over the loudest line noise they add (-44 dBm0).
SIGNAL_DBM0 = -42.0
_SIGNAL_MS = g711.dbm0_to_rms(SIGNAL_DBM0) ** 2
_STATUS = {Status.CARRIER_UP: FrontEnd.CARRIER_UP, Status.CARRIER_DOWN: FrontEnd.CARRIER_DOWN,
           Status.TRAINING_SUCCEEDED: FrontEnd.TRAINING_SUCCEEDED,
           Status.TRAINING_FAILED: FrontEnd.TRAINING_FAILED}


class Turn(enum.Enum):
    """Who owns the receive side while T.30 waits for the fast modem."""

    BOTH = "both"
    FAST = "fast"
    V21 = "v21"


def _fast_transmitter(modem: Modem, rate: int, short_train: bool):
    if modem is Modem.V17:
        return V17Transmitter(rate, short_train=short_train)
    if modem is Modem.V29:
        return V29Transmitter(rate)
    return V27terTransmitter(rate)


def _fast_receiver(modem: Modem, rate: int, cache: dict):
    """One receiver per modem and rate for the whole call (V.17's short train reuses what
    its last long train learnt)."""
    key = (modem, rate)
    if key not in cache:
        cache[key] = (V17Receiver(rate) if modem is Modem.V17 else V29Receiver(rate)
                      if modem is Modem.V29 else V27terReceiver(rate))
    return cache[key]


class _Silence:
    def __init__(self, n: int) -> None:
        self.left = n

    def transmit(self, n: int) -> np.ndarray:
        m = max(0, min(n, self.left))
        self.left -= m
        return np.zeros(m, np.int16)


class _Hold:
    """Wait (sending silence) while the far end's carrier is still up, at most `limit`
    samples, then stop listening: T.30 §5.3.2.2 wants 75 ms after the *end* of the
    received signal, and a V.21 frame is decoded before its closing flags are over —
    answering at once would start our training while the far end still talks and cannot
    yet hear it (spandsp's queue_phase waits the same way)."""

    def __init__(self, terminal: "FaxTerminal", limit: int = SAMPLE_RATE) -> None:
        self.terminal = terminal
        self.left = limit

    def transmit(self, n: int) -> np.ndarray:
        if self.terminal._far_carrier and self.left > 0:
            m = min(n, self.left)
            self.left -= m
            return np.zeros(m, np.int16)
        self.terminal._listen = None
        self.terminal._far_carrier = False
        return np.zeros(0, np.int16)


class _FedAsItGoes:
    """A fast transmitter of HDLC frames (ECM blocks) fed a few frames at a time, always
    ahead of what it can have sent (`bit_rate` bits a second is an upper bound: training
    sends none), so framing a 256-frame block is spread over the ticks that send it
    rather than spent in one (it was ~19 ms of a 20 ms tick)."""

    FRAMES_PER_FEED = 4

    def __init__(self, tx, frames: FrameEncoder, bit_rate: int) -> None:
        self.tx, self.frames, self.bit_rate = tx, frames, bit_rate
        self.samples = 0
        self.fed = 0

    def transmit(self, n: int) -> np.ndarray:
        self.samples += n
        ahead = (self.samples + 2 * n) * self.bit_rate // SAMPLE_RATE  # two ticks to spare
        while self.fed < ahead and not self.frames.done:
            bits = self.frames.next_bits(self.FRAMES_PER_FEED)
            self.tx.feed(bits)
            self.fed += len(bits)
        return self.tx.transmit(n)


class _Chain:
    """Transmitters one after another; finished when the last one is."""

    def __init__(self, *parts) -> None:
        self.parts = list(parts)

    def transmit(self, n: int) -> np.ndarray:
        out = []
        need = n
        while need > 0 and self.parts:
            got = self.parts[0].transmit(need)
            out.append(got)
            need -= len(got)
            if need > 0:
                self.parts.pop(0)
        return np.concatenate(out) if out else np.zeros(0, np.int16)


class FaxTerminal:
    """A fax terminal on one audio channel (see the module docstring)."""

    def __init__(self, config: SessionConfig) -> None:
        self.session = T30Session(config)
        self.events: list = []
        self._tx = None  # the transmission T.30 waits on
        self._background = None  # CNG while listening
        self._listen: StartReceiving | None = None
        self._turn = Turn.V21
        self._v21 = V21Receiver()
        self._v21_hdlc = HdlcReceiver()
        self._v21_repair = ErasureRepair()
        self._repairs = 0
        self._fast = None
        self._fast_hdlc = HdlcReceiver()
        self._fast_cache: dict = {}
        self._fast_trained = False
        self._far_carrier = False
        self._v21_framed = False  # HDLC flags heard since V.21's carrier came up
        self._v21_good = False  # and a good frame
        self._line_busy = False
        self.samples_in = 0
        self._apply()

    # --- the per-tick API -------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.session.finished

    @property
    def frames_repaired(self) -> int:
        """V.21 frames mended from the erasure a lost packet left (`dsp.v21_repair`)."""
        return self._repairs

    @property
    def result(self) -> CallFinished | None:
        return next((e for e in self.events if isinstance(e, CallFinished)), None)

    def receive(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, np.int16)
        if len(samples):
            x = samples.astype(np.float64)
            busy = float(np.dot(x, x)) >= _SIGNAL_MS * len(x)
            if busy != self._line_busy:
                self._line_busy = busy
                self.session.line_signal(busy)
        if self._listen is not None and not self.finished:
            if self._listen.modem is Modem.V21 or self._turn is not Turn.FAST:
                self._v21_items(self._v21.receive(samples))
            if self._fast is not None and self._turn is not Turn.V21:
                self._fast_items(self._fast.receive(samples))
        self._advance(len(samples))

    def fillin(self, n: int) -> None:
        """`n` samples were lost on the way (a missing packet): the receivers hold on."""
        if self._listen is not None and not self.finished:
            lost_bits = self._v21.fillin(n)
            if lost_bits and (self._listen.modem is Modem.V21 or self._turn is not Turn.FAST):
                self._v21_items([self._v21_repair.erase(lost_bits)], erased=True)
            if self._fast is not None:
                self._fast.fillin(n)
        self._advance(n)

    def transmit(self, n: int) -> np.ndarray:
        """Exactly `n` samples (silence when there is nothing to say)."""
        out = []
        need = n
        guard = 0
        while need > 0 and self._tx is not None and guard < 16:
            guard += 1
            tx = self._tx
            got = tx.transmit(need)
            out.append(np.asarray(got, np.int16))
            need -= len(got)
            if need > 0 and self._tx is tx:
                self._tx = None
                self.session.front_end_status(FrontEnd.SEND_COMPLETE)
                self._apply()
        if need > 0:
            if self._background is not None and self._tx is None:
                out.append(self._background.transmit(need))
            else:
                out.append(np.zeros(need, np.int16))
        return np.concatenate(out) if len(out) > 1 else out[0]

    # --- receive paths ----------------------------------------------------------

    def _v21_items(self, items, *, erased: bool = False) -> None:
        for item in items:
            if isinstance(item, ModemStatus):
                if item.status in (Status.CARRIER_UP, Status.CARRIER_DOWN):
                    self._far_carrier = item.status is Status.CARRIER_UP
                    if self._v21_framed and not self._v21_good and self._turn is Turn.V21 \
                            and self._tx is None:
                        # Flags, then no good frame before the carrier ended: the frame
                        # was lost on the way (bits lost in the flags can make seven 1s,
                        # an abort that swallows the frame).
                        self.session.reply_damaged()
                    self._v21_framed = self._v21_good = False
                status = _STATUS.get(item.status)
                if status is not None and self._turn is Turn.V21 and self._tx is None:
                    self.session.front_end_status(status)
                continue
            if not erased:
                self._v21_repair.feed(item)
            damaged = self._v21_hdlc.damaged
            for ev in self._v21_hdlc.feed(item):
                if isinstance(ev, HdlcFrame):
                    if not ev.crc_ok and (fixed := self._v21_repair.repair()) is not None:
                        ev = HdlcFrame(fixed, True)
                        self._repairs += 1
                    if self._turn is Turn.BOTH:
                        if not ev.crc_ok:
                            continue  # no framing yet: flag-bounded noise, not V.21
                        self._take_turn(Turn.V21)
                    self._v21_good = self._v21_good or ev.crc_ok
                    self.session.receive_frame(ev.data, ev.crc_ok)
                elif ev is HdlcEvent.FRAMING_OK:
                    self._v21_framed = True
                    if self._turn is Turn.BOTH:
                        self._take_turn(Turn.V21)
            if self._v21_hdlc.damaged > damaged and self._v21_framed and self._turn is Turn.V21:
                # After real framing, a frame-sized run that is not whole octets: a frame
                # that lost or gained bits; mended if the lost ones were erasures.
                if (fixed := self._v21_repair.repair()) is not None:
                    self._v21_good = True
                    self._repairs += 1
                    self.session.receive_frame(fixed, True)
                else:
                    self.session.reply_damaged()
        self._apply()

    def _take_turn(self, turn: Turn) -> None:
        self._turn = turn
        if turn is Turn.V21:
            self.session.front_end_status(FrontEnd.CARRIER_UP)

    def _fast_items(self, items) -> None:
        for item in items:
            if isinstance(item, ModemStatus):
                if item.status in (Status.CARRIER_UP, Status.CARRIER_DOWN):
                    self._far_carrier = item.status is Status.CARRIER_UP
                if item.status is Status.TRAINING_SUCCEEDED:
                    self._fast_trained = True
                    self._turn = Turn.FAST
                if item.status is Status.CARRIER_DOWN and not self._fast_trained:
                    continue
                if item.status is Status.CARRIER_DOWN:
                    self._fast_trained = False
                    if self._turn is Turn.FAST:
                        self._turn = Turn.BOTH  # V.21 may follow at once
                status = _STATUS.get(item.status)
                if status is not None and status is not FrontEnd.CARRIER_UP:
                    self.session.front_end_status(status)
                continue
            if not self._fast_trained:
                continue
            if self._listen.hdlc:
                for ev in self._fast_hdlc.feed(item):
                    if isinstance(ev, HdlcFrame):
                        self.session.receive_frame(ev.data, ev.crc_ok)
            else:
                self.session.receive_image_bits(item)
        self._apply()

    def _advance(self, n: int) -> None:
        self.samples_in += n
        self.session.advance(n)
        self._apply()

    # --- applying T.30's requests ------------------------------------------------

    def _apply(self) -> None:
        while (item := self.session.next_output()) is not None:
            if isinstance(item, StartReceiving):
                self._start_receiving(item)
            elif isinstance(item, SendTone):
                if item.tone is Tone.CNG:
                    self._background = CngGenerator(level_dbm0=TONE_DBM0)
                    continue
                self._send(CedGenerator(level_dbm0=TONE_DBM0, samples=item.ms * 8))
            elif isinstance(item, Silence):
                self._send(_Silence(item.ms * 8))
            elif isinstance(item, SendFrames):
                self._send_frames(item)
            elif isinstance(item, SendTCF):
                tx = _fast_transmitter(item.modem, item.bit_rate, False)
                tx.feed(np.zeros(item.bit_rate * item.ms // 1000, np.uint8))
                self._send(_Chain(_Silence(GAP_MS * 8), tx))
            elif isinstance(item, SendImage):
                tx = _fast_transmitter(item.modem, item.bit_rate, item.short_train)
                tx.feed(item.bits)
                self._send(_Chain(_Silence(GAP_MS * 8), tx))
            else:
                self.events.append(item)

    def _send(self, tx) -> None:
        self._background = None
        self._tx = _Chain(_Hold(self), tx)

    def _send_frames(self, req: SendFrames) -> None:
        if req.modem is Modem.V21:
            tx = V21Transmitter()
            tx.feed(encode_frames(req.frames, preamble=preamble_flags(300, 1.0)))
            self._send(_Chain(_Silence(GAP_MS * 8), tx))
        else:
            tx = _fast_transmitter(req.modem, req.bit_rate, req.short_train)
            frames = FrameEncoder(req.frames, preamble=preamble_flags(req.bit_rate, 0.2))
            self._send(_Chain(_Silence(GAP_MS * 8), _FedAsItGoes(tx, frames, req.bit_rate)))

    def _start_receiving(self, req: StartReceiving) -> None:
        self._listen = req
        self._v21_hdlc.restart()
        self._v21_repair.restart()
        if req.modem is Modem.V21:
            self._fast = None
            self._turn = Turn.V21
            self._v21.restart()
            return
        self._fast = _fast_receiver(req.modem, req.bit_rate, self._fast_cache)
        self._fast.restart(short_train=req.short_train)
        self._fast_hdlc.restart()
        self._fast_trained = False
        self._turn = Turn.BOTH
