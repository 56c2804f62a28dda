"""A perfect-modem line between two T.30 engines, ticked 20 ms at a time.

No audio: each side's transmitter is a sequence of signals (tone, V.21 HDLC burst,
fast-modem HDLC burst or bit stream) that take realistic time (75 ms gap, V.21 1 s
preamble, the fast modems' training times, data at the bit rate).  The far side hears
a signal only if it listens with the matching modem (and, for V.17, the matching
training length) when the training ends, as a real modem would; V.21 frames are heard
whenever the far side listens at all (fast receivers watch V.21 too, as spandsp's fax.c
does).  Faults are injected per frame ("bad" CRC or "lost"), per bit chunk, or by muting
a direction.  Our `T30Session` and spandsp's T.30 (`tests.support.spandsp_t30`) plug in
through two small adapters.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dsp.t30.dis import Modem
from dsp.t30.events import (
    CallFinished, FrontEnd, PageReceived, PageSent, SendFrames, SendImage, SendTCF, SendTone,
    Silence, StartReceiving, Tone,
)
from dsp.t30.fcf import Frame
from dsp.t30.session import T30Session

TICK = 160
SR = 8000


def _ms(x: float) -> int:
    return int(x * SR / 1000)


TRAIN_MS = {("v17", False): 1393, ("v17", True): 142, ("v29", False): 253, ("v29", True): 253,
            ("v27ter", False): 943, ("v27ter", True): 943}


@dataclass(frozen=True)
class RxMode:
    modem: str  # "v21", "v27ter", "v29", "v17"
    rate: int
    short: bool
    hdlc: bool


@dataclass
class Signal:
    """One transmission on the line."""

    kind: str  # "tone", "silence", "hdlc", "bits"
    modem: str = "v21"
    rate: int = 300
    short: bool = False
    lead: int = 0  # samples before data (gap + training/preamble)
    duration: int = 0  # for tone/silence
    frames: deque = field(default_factory=deque)
    closed: bool = True
    bits: np.ndarray | None = None
    pull: Callable[[int], bytes] | None = None  # spandsp bit source (bytes, LSB first)
    on_underflow: Callable[[], None] | None = None
    t: int = 0
    pos: int = 0
    frame_left: float = 0.0
    locked: bool | None = None
    stage: str = "lead"
    tail: int = _ms(30)
    background: bool = False
    underflowed: bool = False


def hdlc_signal(modem: str, rate: int, short: bool, frames, closed=True) -> Signal:
    if modem == "v21":
        lead = _ms(75 + 1000)
    else:
        lead = _ms(75 + TRAIN_MS[(modem, short)] + 200)
    return Signal("hdlc", modem, rate, short, lead=lead, frames=deque(frames), closed=closed)


def bits_signal(modem: str, rate: int, short: bool, bits=None, pull=None) -> Signal:
    return Signal("bits", modem, rate, short, lead=_ms(75 + TRAIN_MS[(modem, short)]), bits=bits, pull=pull)


class Endpoint:
    """What the link needs from one side."""

    name = "?"
    signal: Signal | None = None

    def listening(self) -> RxMode | None: ...
    def hear_status(self, status: FrontEnd, kind: str, hdlc: bool) -> None: ...
    def hear_frame(self, frame: bytes, ok: bool) -> None: ...
    def hear_bits(self, bits: np.ndarray) -> None: ...
    def signal_done(self) -> None: ...
    def advance(self, n: int) -> None: ...
    def poll(self) -> None: ...
    def finished(self) -> bool: ...


class OurSide(Endpoint):
    """Adapter for `T30Session`: its requests become signals, its events are kept."""

    def __init__(self, session: T30Session, name: str = "ours") -> None:
        self.session = session
        self.name = name
        self.rx: RxMode | None = None
        self.events: list = []
        self.requests: list = []
        self.signal = None
        self.poll()

    def listening(self):
        return self.rx

    def hear_status(self, status, kind, hdlc):
        self.session.front_end_status(status)
        self.poll()

    def hear_frame(self, frame, ok):
        self.session.receive_frame(frame, ok)
        self.poll()

    def hear_bits(self, bits):
        self.session.receive_image_bits(bits)
        self.poll()

    def signal_done(self):
        self.signal = None
        self.session.front_end_status(FrontEnd.SEND_COMPLETE)
        self.poll()

    def advance(self, n):
        self.session.advance(n)
        self.poll()

    def finished(self):
        return self.session.finished

    def poll(self):
        while (item := self.session.next_output()) is not None:
            self.requests.append(item)
            if isinstance(item, SendTone):
                if item.tone is Tone.CNG:
                    continue  # sent while listening; nothing to complete
                self._start(Signal("tone", duration=_ms(item.ms)))
            elif isinstance(item, Silence):
                self._start(Signal("silence", duration=_ms(item.ms)))
            elif isinstance(item, SendFrames):
                self._start(hdlc_signal(item.modem.value, item.bit_rate, item.short_train, item.frames))
            elif isinstance(item, SendTCF):
                n = item.bit_rate * item.ms // 1000
                self._start(bits_signal(item.modem.value, item.bit_rate, False, bits=np.zeros(n, np.uint8)))
            elif isinstance(item, SendImage):
                self._start(bits_signal(item.modem.value, item.bit_rate, item.short_train, bits=item.bits))
            elif isinstance(item, StartReceiving):
                self.rx = RxMode(item.modem.value, item.bit_rate, item.short_train, item.hdlc)
            else:
                self.events.append(item)

    def _start(self, signal: Signal) -> None:
        self.rx = None
        self.signal = signal

    def pages_received(self):
        return [e.page for e in self.events if isinstance(e, PageReceived)]

    def result(self):
        return next((e for e in self.events if isinstance(e, CallFinished)), None)

    def pages_sent(self):
        return [e for e in self.events if isinstance(e, PageSent)]


class SpandspSide(Endpoint):
    """Adapter for spandsp's T.30: its modem choices become signals (fax.c's logic)."""

    def __init__(self, t30, name: str = "spandsp") -> None:
        from tests.support import spandsp_t30 as st

        self.st = st
        self.t30 = t30
        self.name = name
        self.signal = None
        self._seen_tx = 0
        self._modes_seen = 0
        self._current_type = None
        self._pending: deque = deque()
        self._rx_buf = np.zeros(0, np.uint8)
        self.poll()

    def listening(self):
        type_, rate, short, hdlc = self.t30.rx_mode
        if type_ == self.st.MODEM_V21:
            return RxMode("v21", 300, False, True)
        if type_ in (self.st.MODEM_V27TER, self.st.MODEM_V29, self.st.MODEM_V17):
            return RxMode(self.st.MODEM_NAMES[type_], rate, bool(short), bool(hdlc))
        return None

    def hear_status(self, status, kind, hdlc):
        from tests.support import spandsp as sp

        code = {FrontEnd.CARRIER_UP: sp.SIG_STATUS_CARRIER_UP, FrontEnd.CARRIER_DOWN: sp.SIG_STATUS_CARRIER_DOWN,
                FrontEnd.TRAINING_SUCCEEDED: sp.SIG_STATUS_TRAINING_SUCCEEDED,
                FrontEnd.TRAINING_FAILED: sp.SIG_STATUS_TRAINING_FAILED}[status]
        if hdlc:
            self.t30.hdlc_status(code)
            if status in (FrontEnd.CARRIER_UP, FrontEnd.TRAINING_SUCCEEDED) and (kind == "v21") == (status is FrontEnd.CARRIER_UP):
                self.t30.hdlc_status(sp.SIG_STATUS_FRAMING_OK)
        else:
            if status is FrontEnd.CARRIER_DOWN and len(self._rx_buf):
                self.t30.put_chunk(np.packbits(self._rx_buf, bitorder="little").tobytes())
                self._rx_buf = np.zeros(0, np.uint8)
            self.t30.bits_status(code)
        self.poll()

    def hear_frame(self, frame, ok):
        self.t30.hdlc_accept(frame, ok)
        self.poll()

    def hear_bits(self, bits):
        buf = np.concatenate([self._rx_buf, bits])
        n = len(buf) // 8 * 8
        self.t30.put_chunk(np.packbits(buf[:n], bitorder="little").tobytes())
        self._rx_buf = buf[n:]
        self.poll()

    def advance(self, n):
        self.t30.timer_update(n)
        self.poll()

    def finished(self):
        return self.t30.completion is not None

    def poll(self):
        """Follow spandsp's tx-type requests the way fax.c does: a request for the type
        already current is ignored; NONE stops the transmitter without a report."""
        st = self.st
        changes = self.t30.mode_changes
        while self._modes_seen < len(changes):
            kind, mode = changes[self._modes_seen]
            self._modes_seen += 1
            if kind != "tx" or mode[0] == self._current_type:
                continue
            self._current_type = mode[0]
            type_, rate, short, hdlc = mode
            if type_ == st.MODEM_V21:
                sig = hdlc_signal("v21", 300, False, [], closed=False)
            elif type_ in (st.MODEM_V27TER, st.MODEM_V29, st.MODEM_V17):
                name = st.MODEM_NAMES[type_]
                if hdlc:
                    sig = hdlc_signal(name, rate, bool(short), [], closed=False)
                else:
                    sig = bits_signal(name, rate, bool(short), pull=self.t30.get_chunk)
            elif type_ == st.MODEM_CED:
                sig = Signal("tone", duration=_ms(2600))
            elif type_ == st.MODEM_PAUSE:
                sig = Signal("silence", duration=_ms(short))
            elif type_ == st.MODEM_CNG:
                sig = Signal("tone", duration=10**9, background=True)
            else:
                sig = None
            if sig is not None:
                sig.on_underflow = self._underflow
            self.signal = sig
        while self._seen_tx < len(self.t30.sent):
            self._pending.append(self.t30.sent[self._seen_tx])
            self._seen_tx += 1
        sig = self.signal
        if sig is not None and sig.kind == "hdlc":
            while self._pending and not sig.closed:
                frame = self._pending.popleft()
                if frame is None:
                    sig.closed = True
                else:
                    sig.frames.append(frame)

    def _underflow(self) -> None:
        self.t30.send_step_complete()
        self.poll()

    def signal_done(self):
        self.signal = None
        if self._current_type not in (self.st.MODEM_NONE, self.st.MODEM_DONE):
            self.t30.send_step_complete()
        self.poll()


FaultFn = Callable[[str, bytes], str]  # (direction, frame) -> "ok" | "bad" | "lost"


class Link:
    """Two endpoints and the line between them."""

    def __init__(self, a: Endpoint, b: Endpoint, *, frame_fault: FaultFn | None = None,
                 bit_fault: Callable[[str, np.ndarray], np.ndarray] | None = None,
                 mute: Callable[[str, int], bool] | None = None) -> None:
        self.a, self.b = a, b
        self.now = 0
        self.frame_fault = frame_fault
        self.bit_fault = bit_fault
        self.mute = mute
        self.transcript: list[tuple[float, str, str]] = []

    def run(self, max_seconds: float = 600, settle_seconds: float = 2.0) -> float:
        """Tick until both sides finished (plus a short settle) or the time limit."""
        settle = None
        while self.now < max_seconds * SR:
            self.tick()
            if self.a.finished() and self.b.finished():
                if settle is None:
                    settle = self.now + int(settle_seconds * SR)
                if self.now >= settle:
                    break
        return self.now / SR

    def tick(self) -> None:
        self._transmit(self.a, self.b, f"{self.a.name}->{self.b.name}")
        self._transmit(self.b, self.a, f"{self.b.name}->{self.a.name}")
        self.a.advance(TICK)
        self.b.advance(TICK)
        self.now += TICK

    def _muted(self, direction: str) -> bool:
        return bool(self.mute and self.mute(direction, self.now))

    def _transmit(self, src: Endpoint, dst: Endpoint, direction: str) -> None:
        budget = TICK
        guard = 0
        while budget > 0 and src.signal is not None and guard < 1000:
            guard += 1
            sig = src.signal
            if sig.background:
                return
            if sig.kind in ("tone", "silence"):
                step = min(budget, sig.duration - sig.t)
                sig.t += step
                budget -= step
                if sig.t >= sig.duration:
                    src.signal_done()
                continue
            if sig.stage == "lead":
                step = min(budget, sig.lead - sig.t)
                sig.t += step
                budget -= step
                if sig.t >= sig.lead:
                    sig.stage = "data"
                    self._lock(sig, dst, direction)
                continue
            if sig.stage == "data":
                budget = self._data(sig, src, dst, direction, budget)
                continue
            if sig.stage == "tail":
                step = min(budget, sig.tail)
                sig.tail -= step
                budget -= step
                if sig.tail <= 0:
                    if sig.locked and not self._muted(direction):
                        kind = "v21" if sig.modem == "v21" else "fast"
                        dst.hear_status(FrontEnd.CARRIER_DOWN, kind, sig.kind == "hdlc")
                    sig.stage = "done"
                    src.signal_done()
                continue
            break

    def _lock(self, sig: Signal, dst: Endpoint, direction: str) -> None:
        rx = dst.listening()
        if self._muted(direction) or rx is None:
            sig.locked = False
        elif sig.modem == "v21":
            sig.locked = True
        else:
            sig.locked = (rx.modem == sig.modem and rx.rate == sig.rate and rx.hdlc == (sig.kind == "hdlc")
                          and (sig.modem != "v17" or rx.short == sig.short))
        if sig.locked:
            hdlc = sig.kind == "hdlc"
            if sig.modem == "v21":
                dst.hear_status(FrontEnd.CARRIER_UP, "v21", True)
            else:
                dst.hear_status(FrontEnd.CARRIER_UP, "fast", hdlc)
                dst.hear_status(FrontEnd.TRAINING_SUCCEEDED, "fast", hdlc)

    def _data(self, sig: Signal, src: Endpoint, dst: Endpoint, direction: str, budget: int) -> int:
        if sig.kind == "hdlc":
            if sig.frame_left <= 0:
                if not sig.frames:
                    if sig.closed:
                        sig.stage = "tail"
                        return budget
                    if sig.on_underflow is not None and not sig.underflowed:
                        sig.underflowed = True  # once per drained queue, like spandsp's hdlc_tx
                        sig.on_underflow()
                        if src.signal is not sig or sig.frames or sig.closed:
                            return budget
                    return 0  # idle flags for the rest of the tick
                sig.frame_left = (len(sig.frames[0]) + 3) * 8 * SR / sig.rate
            step = min(budget, int(np.ceil(sig.frame_left)))
            sig.frame_left -= step
            budget -= step
            if sig.frame_left <= 0:
                frame = sig.frames.popleft()
                sig.underflowed = False
                self._deliver_frame(sig, dst, direction, frame)
            return budget
        # bit stream
        n = max(1, sig.rate * budget // SR)
        if sig.pull is not None:
            want = max(1, n // 8)
            data = sig.pull(want)
            chunk = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
            done = len(data) < want
        else:
            chunk = sig.bits[sig.pos:sig.pos + n]
            sig.pos += len(chunk)
            done = sig.pos >= len(sig.bits)
        if len(chunk) and sig.locked and not self._muted(direction):
            if self.bit_fault is not None:
                chunk = self.bit_fault(direction, chunk)
            dst.hear_bits(chunk)
        if done:
            sig.stage = "tail"
        return 0

    def _deliver_frame(self, sig: Signal, dst: Endpoint, direction: str, frame: bytes) -> None:
        parsed = Frame.parse(frame)
        self.transcript.append((self.now / SR, direction, parsed.fcf.name if parsed else frame[:3].hex()))
        if self._muted(direction):
            return
        if sig.modem == "v21":
            if dst.listening() is None:
                return
        elif not sig.locked:
            return
        verdict = self.frame_fault(direction, frame) if self.frame_fault else "ok"
        if verdict == "lost":
            return
        dst.hear_frame(frame, verdict != "bad")


def run_pair(a: Endpoint, b: Endpoint, **kw) -> Link:
    link = Link(a, b, **{k: v for k, v in kw.items() if k in ("frame_fault", "bit_fault", "mute")})
    link.run(max_seconds=kw.get("max_seconds", 600))
    return link


__all__ = ["Link", "OurSide", "SpandspSide", "RxMode", "run_pair", "Modem"]
