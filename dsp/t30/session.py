"""The audio-free T.30 session: one fax call's procedure, phases A to E.

What: `T30Session` runs T.30 for a calling or answering terminal that sends pages or
receives them.  Frames, image bits, front-end status reports and the passage of time
(in samples) go in; front-end requests (`SendFrames`, `SendTCF`, `SendImage`,
`StartReceiving`, ...) and events (`PageReceived`, `PageSent`, `CallFinished`) come out,
pulled in order with `next_output()` (DESIGN.md §3).  No audio, no clock, no files.

How: the state (`State`, named after the boxes of the T.30 flow charts, Figure 5-2)
selects one handler method; `_HANDLERS` below is the whole transition structure, and
each handler reads as "in this state, on this input, do that and go there".  Inputs are
final control frames (`Frame`; optional frames before them such as TSI/CSI/NSF are
collected and read by the handler), `BAD_FRAME`, `FrontEnd` reports and expired
`Timer`s.  Sending-side states live in `sender.py`, receiving-side states in
`receiver.py`; this module holds what both share: the output queue, the timers, command
repetition (T.30 §5.3.2: a command is tried three times, T4 apart), responses that are
repeated when the command is, and the way a call ends.

Half duplex: while one of our transmissions is on the line (`_transmit`) the session
listens to nothing but its SEND_COMPLETE (and a guard timer should it never come).

Invariant (checked by the Hypothesis tests): until the call has finished, either a
transmission is pending or a timer runs — no input can leave the session waiting forever.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from dsp.t30.completion import CallStats, Completion
from dsp.t30.dis import Capabilities, Dcs, Modem, decode_dis, encode_dis
from dsp.t30.events import (
    CallFinished, FrontEnd, Output, Phase, PhaseChanged, Request, SendFrames, SendImage,
    SendTCF, SendTone, StartReceiving, Tone,
)
from dsp.t30.fcf import FCF, Frame, build, decode_ident, encode_ident
from dsp.t30.receiver import ReceiverStates
from dsp.t30.sender import SenderStates
from dsp.t30.states import BAD_FRAME, PHASE_OF, State
from dsp.t30.timers import SAMPLE_RATE, Timer, Timers, ms

MAX_TRIES = 3  # T.30 §5.3.2: a command is sent at most three times
# Repeats that do not count against MAX_TRIES because the far end did answer but its
# frame was lost on the line (a lost VoIP packet in a 1 s PPR); a backstop like
# spandsp's MAX_RESPONSE_TRIES, so a command goes out at most 3 + 3 times.
MAX_FREE_RETRIES = 3
# A command is not repeated while a signal is on the line (`T30Session.line_signal`):
# T4 is polled every QUIET_POLL_MS until the line is quiet, for at most QUIET_WAIT_MS.
QUIET_POLL_MS = 100
QUIET_WAIT_MS = 4000


@dataclass(frozen=True)
class SessionConfig:
    """One call's local settings.  `pages` makes this terminal the transmitter; an
    empty list makes it a receiver."""

    calling: bool
    pages: tuple = ()
    ident: str = ""
    capabilities: Capabilities = field(default_factory=Capabilities)
    nsf: bytes = b""
    send_ced: bool = True
    #: Non-ECM copy-quality limits (fraction of bad rows) for MCF and for RTP.
    mcf_bad_fraction: float = 0.02
    rtp_bad_fraction: float = 0.05
    #: How often a page answered RTN is sent again before giving up.
    max_page_retries: int = 3
    #: Pause between RNR and the next RR, in ms.
    rr_pause_ms: int = 1000
    #: The TTI line drawn at the top of each sent page (`dsp.tti.Header`), or None.
    header: object = None


class T30Session(SenderStates, ReceiverStates):
    """One T.30 call (see the module docstring)."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        # What our DIS/DTC says: a receiver is ready to receive; an answering sender is
        # ready to transmit (a calling receiver may poll it, T.30 Table 2 bit 9).
        sending = bool(config.pages)
        self.caps = replace(config.capabilities, ready_to_receive=not sending,
                            ready_to_transmit=sending and not config.calling)
        self.stats = CallStats()
        self.completion: Completion | None = None
        self.state = State.CALLING if config.calling else State.ANSWERING
        self._out: deque[Output] = deque()
        self._timers = Timers()
        self._phase: Phase | None = None
        self._now = 0
        self._tx_busy = False
        self._after_tx: Callable[[], None] | None = None
        self._optional: list[Frame] = []
        self._resend: Callable[[], None] | None = None
        self._tries = 0
        self._reply_damaged = False  # a response came but its frame was lost on the line
        self._free_retries = 0
        self._last_response: tuple[bytes, ...] = ()
        self._rx_carrier = False
        self._t4_extended = False
        self._line_busy = False  # the front end hears a signal (any modem) on the line
        self._quiet_wait = 0  # samples a T4 repeat has waited for the line to fall quiet
        self._bad_since_carrier = False
        self._x_bit = False  # T.30 §5.3.6.1: set in our frames once we have received a DIS
        self.dcs: Dcs | None = None
        self._init_sender()
        self._init_receiver()
        self._start()

    # --- the public surface ---------------------------------------------------

    def next_output(self) -> Output | None:
        return self._out.popleft() if self._out else None

    def outputs(self) -> list[Output]:
        """Everything queued so far (a convenience over `next_output`)."""
        out = list(self._out)
        self._out.clear()
        return out

    @property
    def finished(self) -> bool:
        return self.state is State.FINISHED

    def next_timeout(self) -> int | None:
        """Samples until the next timer fires, or None (only once finished, or while a
        transmission is pending — its guard timer then runs)."""
        return self._timers.next_expiry()

    def receive_frame(self, frame: bytes, crc_ok: bool) -> None:
        """A control or ECM frame as received (line-order octets, FCS removed)."""
        if self.finished or self._tx_busy:
            return
        if not crc_ok:
            self._bad_since_carrier = True
            self._dispatch(BAD_FRAME)
            return
        parsed = Frame.parse(frame)
        if parsed is None:
            return
        self.stats.frames_received.append(parsed.fcf.name)
        if parsed.fcf in (FCF.FCD, FCF.RCP) or not parsed.final:
            if parsed.fcf in (FCF.FCD, FCF.RCP):
                self._dispatch(parsed)
            else:
                self._optional.append(parsed)
            return
        self._dispatch(parsed)
        self._optional = []

    def reply_damaged(self) -> None:
        """The front end heard HDLC framing whose frame it lost (bits missing: not whole
        octets, or an abort inside the flags) — while we wait for a response, proof that
        the far end answered and the line lost it, so the repeat at T4 is not counted."""
        if not self.finished and not self._tx_busy and self._waiting_for_response():
            self._reply_damaged = True

    def line_signal(self, present: bool) -> None:
        """The front end's energy detector: whether any signal is on the line now.

        A command due for repetition at T4 waits while one is (polled every
        `QUIET_POLL_MS`, at most `QUIET_WAIT_MS`): on a half-duplex line a repeat sent
        over the far end's transmission is lost, and so is what the far end sent.  The
        case that needs it: our DIS is answered by DCS + TCF, the DCS is lost, and a DIS
        repeated at T4 falls on the TCF (V.17's is ~2.9 s); the caller misses it, repeats
        DCS at its own T4 while we repeat DIS at ours, and the two stay in step until the
        tries run out.  T.30 §5.3.2 only says a command is repeated at T4; waiting
        for a quiet line delays the repeat (spandsp's t30.c notes the same strategy)."""
        self._line_busy = bool(present)

    def receive_image_bits(self, bits: np.ndarray) -> None:
        """Non-ECM bits from the fast modem (TCF or page), first bit first."""
        if self.finished or self._tx_busy:
            return
        self._image_bits(np.asarray(bits, dtype=np.uint8))

    def front_end_status(self, status: FrontEnd) -> None:
        if self.finished:
            return
        if status is FrontEnd.SEND_COMPLETE:
            if self._tx_busy:
                self._tx_busy = False
                self._timers.stop(Timer.TX)
                then, self._after_tx = self._after_tx, None
                if then is not None:
                    then()
            return
        if self._tx_busy:
            return
        if status is FrontEnd.CARRIER_UP:
            self._rx_carrier = True
            self._bad_since_carrier = False
            if self._timers.running(Timer.T2):
                self._timers.start(Timer.T2)  # T.30 §5.4.3.1: activity restarts T2
        elif status is FrontEnd.CARRIER_DOWN:
            self._rx_carrier = False
        self._dispatch(status)

    def advance(self, samples: int) -> None:
        """Let `samples` of time pass (8000 per second)."""
        if self.finished or samples <= 0:
            return
        left = int(samples)
        while left > 0 and not self.finished:
            nxt = self._timers.next_expiry()
            step = left if nxt is None else min(left, nxt)
            self._now += step
            left -= step
            for timer in self._timers.advance(step):
                if not self.finished:
                    self._on_timer(timer)

    # --- dispatch -----------------------------------------------------------------

    def _dispatch(self, event) -> None:
        handler = _HANDLERS[self.state]
        if not handler(self, event):
            self._common(event)

    def _on_timer(self, timer: Timer) -> None:
        if timer is Timer.TX:
            self._finish(Completion.FRONT_END_STUCK)
            return
        if timer is Timer.T4 and self._rx_carrier and not self._t4_extended:
            # A response is still arriving (T.30 §5.4.3.1 note): give it one frame's time.
            self._t4_extended = True
            self._timers.start(Timer.T4, ms(3000))
            return
        if timer is Timer.T4 and self._line_busy and self._quiet_wait < ms(QUIET_WAIT_MS):
            self._quiet_wait += ms(QUIET_POLL_MS)  # the repeat waits for a quiet line
            self._timers.start(Timer.T4, ms(QUIET_POLL_MS))
            return
        if timer is Timer.T1:
            self._disconnect(Completion.T1_EXPIRED)
            return
        if timer is Timer.T0:
            self._finish(Completion.T0_EXPIRED)
            return
        self._dispatch(timer)

    def _common(self, event) -> None:
        """What any state does with an input its handler left alone."""
        if isinstance(event, Frame):
            if event.fcf is FCF.DCN:
                self._finish(Completion.REMOTE_DISCONNECTED)
            elif event.fcf is FCF.CRP and self._resend is not None and self._waiting_for_response():
                self._retry(count=False)
        elif event is Timer.T4 and self._waiting_for_response():
            free = self._reply_damaged and self._free_retries < MAX_FREE_RETRIES
            self._free_retries += free
            self._retry(count=not free)
        elif event is Timer.T2:
            self._disconnect(Completion.T2_EXPIRED)
        elif event is Timer.T5:
            self._disconnect(Completion.T5_EXPIRED)
        elif event is FrontEnd.CARRIER_DOWN and self._bad_since_carrier and self._last_response \
                and self.state in _RESPONDING_STATES:
            # A command arrived damaged: ask for it again (T.30 §5.3.6.2.10, CRP).
            self._bad_since_carrier = False
            self._transmit(SendFrames((self._frame(FCF.CRP),)), then=self._relisten)
        elif isinstance(event, Timer) and not self._timers.next_expiry() and not self._tx_busy:
            # Nothing else would ever wake us: end cleanly rather than hang.
            self._disconnect(Completion.UNEXPECTED)

    def _waiting_for_response(self) -> bool:
        return self.state in _COMMAND_WAITS

    # --- shared mechanics -----------------------------------------------------

    def _frame(self, fcf: FCF, info: bytes = b"", *, final: bool = True) -> bytes:
        frame = build(fcf, info, x_bit=self._x_bit, final=final)
        self.stats.frames_sent.append(fcf.name)
        return frame

    def _emit(self, item: Output) -> None:
        self._out.append(item)

    def _set_state(self, state: State) -> None:
        self.state = state
        phase = PHASE_OF[state]
        if phase is not self._phase:
            self._phase = phase
            self._emit(PhaseChanged(phase))

    def _transmit(self, request: Request, then: Callable[[], None] | None) -> None:
        """Put `request` on the line; `then` runs at its SEND_COMPLETE."""
        self._timers.stop(Timer.T2, Timer.T4, Timer.PAUSE)
        self._rx_carrier = False  # half duplex: whatever we heard is over
        self._tx_busy = True
        self._after_tx = then
        self._timers.start(Timer.TX, _tx_guard(request))
        self._emit(request)

    def _listen(self, state: State, timer: Timer | None, modem: Modem = Modem.V21,
                bit_rate: int = 300, *, short_train: bool = False, hdlc: bool = True,
                duration: int | None = None) -> None:
        self._set_state(state)
        self._emit(StartReceiving(modem, bit_rate, short_train, hdlc))
        self._t4_extended = False
        self._quiet_wait = 0
        if timer is not None:
            self._timers.start(timer, duration)

    def _relisten(self) -> None:
        timer = Timer.T4 if self.state in _COMMAND_WAITS else Timer.T2
        self._listen(self.state, timer)

    def _command(self, send: Callable[[], None], *, fresh: bool = True) -> None:
        """Send a command through `send` (which ends by waiting in a response state);
        T4 expiry or CRP repeats it, three times in all."""
        if fresh:
            self._tries = 0
            self._free_retries = 0
        self._reply_damaged = False
        self._resend = send
        self._tries += 1
        send()

    def _retry(self, *, count: bool = True) -> None:
        if count and self._tries >= MAX_TRIES:
            self._disconnect(self._no_response_completion())
            return
        self.stats.command_repeats += 1
        self._reply_damaged = False
        if count:
            self._tries += 1
        assert self._resend is not None
        self._resend()

    def _no_response_completion(self) -> Completion:
        return Completion.NO_RESPONSE

    def _send_command_frames(self, frames: tuple[bytes, ...], wait: State) -> None:
        self._transmit(SendFrames(frames), then=lambda: self._listen(wait, Timer.T4))

    def _respond(self, frames: tuple[bytes, ...], then: Callable[[], None]) -> None:
        """Send a response; it is sent again whenever the same command is repeated."""
        self._last_response = frames
        self._transmit(SendFrames(frames), then=then)

    def _disconnect(self, completion: Completion) -> None:
        """Send DCN (T.30 §5.3.6.2.9) and end the call with `completion`."""
        if self.state in (State.DISCONNECTING, State.FINISHED):
            return
        self._timers.clear()
        self._set_state(State.DISCONNECTING)
        self._transmit(SendFrames((self._frame(FCF.DCN),)), then=lambda: self._finish(completion))

    def _finish(self, completion: Completion) -> None:
        if self.state is State.FINISHED:
            return
        self._timers.clear()
        self._tx_busy = False
        self.completion = completion
        self.stats.duration_samples = self._now
        self._set_state(State.FINISHED)
        self._emit(CallFinished(completion, self.stats))

    # --- phase A and the DIS exchange ---------------------------------------

    def _start(self) -> None:
        if self.config.calling:
            self._set_state(State.CALLING)
            self._emit(SendTone(Tone.CNG, 0))
            self._listen(State.CALLING, Timer.T1)
        else:
            self._set_state(State.ANSWERING)
            self._timers.start(Timer.T1)
            if self.config.send_ced:
                self._transmit(SendTone(Tone.CED, 3000), then=self._send_dis)
            else:
                self._send_dis()

    def _send_dis(self) -> None:
        """The DIS sequence: NSF (if any), CSI, DIS (T.30 §5.3.6.2.1), repeated at T4
        until a command arrives or T1 runs out."""
        frames = []
        if self.config.nsf:
            frames.append(self._frame(FCF.NSF, self.config.nsf, final=False))
        if self.config.ident:
            frames.append(self._frame(FCF.CSI, encode_ident(self.config.ident), final=False))
        frames.append(self._frame(FCF.DIS, encode_dis(self.caps)))
        self._resend = self._send_dis
        self._tries = 0
        self._set_state(State.AWAIT_COMMAND)
        self._send_command_frames(tuple(frames), State.AWAIT_COMMAND)

    def _send_dtc(self) -> None:
        frames = []
        if self.config.ident:
            frames.append(self._frame(FCF.CIG, encode_ident(self.config.ident), final=False))
        frames.append(self._frame(FCF.DTC, encode_dis(self.caps)))
        self._send_command_frames(tuple(frames), State.AWAIT_COMMAND)

    def _note_remote(self, frame: Frame) -> None:
        """Read the identification frames that came with a command."""
        for opt in self._optional:
            if opt.fcf in (FCF.CSI, FCF.TSI, FCF.CIG):
                self.stats.remote_ident = decode_ident(opt.info)
            elif opt.fcf in (FCF.NSF, FCF.NSS, FCF.NSC):
                self.stats.remote_nsf = opt.info

    def _calling(self, ev) -> bool:
        """CNG on, listening for DIS (T.30 Figure 5-2a, phase A of the caller)."""
        if isinstance(ev, Frame) and ev.fcf is FCF.DIS:
            self._x_bit = True
            self._note_remote(ev)
            if self.config.pages:
                self._start_sending(ev.info)
            else:
                self._start_polling(ev.info)
            return True
        return False

    def _await_command(self, ev) -> bool:
        """DIS sent: a DCS means we receive, a DTC means we send (polling)."""
        if isinstance(ev, Frame):
            if ev.fcf is FCF.DCS:
                self._timers.stop(Timer.T1)
                self._note_remote(ev)
                self._accept_dcs(ev.info)
                return True
            if ev.fcf is FCF.DTC:
                self._timers.stop(Timer.T1)
                self._note_remote(ev)
                if self.config.pages:
                    self._start_sending(ev.info)
                else:
                    self._disconnect(Completion.REMOTE_CANNOT_SEND)
                return True
            if ev.fcf is FCF.DIS and self.config.calling and not self.config.pages:
                self._start_polling(ev.info)  # our DTC was lost; the DIS is repeated
                return True
        if ev is Timer.T4:
            self._retry(count=False)  # DIS is repeated until T1 (T.30 Figure 5-2a)
            return True
        return False

    def _answering(self, ev) -> bool:
        return False

    def _finished(self, ev) -> bool:
        return True

    def _disconnecting(self, ev) -> bool:
        return True

    def _start_polling(self, dis_info: bytes) -> None:
        remote = decode_dis(dis_info)
        if not remote.ready_to_transmit:
            self._disconnect(Completion.REMOTE_CANNOT_SEND)
            return
        self._timers.stop(Timer.T1)
        self._timers.start(Timer.T1)
        self._command(self._send_dtc)


def _tx_guard(request: Request) -> int:
    """A generous bound on how long a transmission may take before we call the front
    end stuck (the image at its bit rate, plus training and slack)."""
    if isinstance(request, SendImage):
        return int(len(request.bits) * SAMPLE_RATE / request.bit_rate) + ms(20_000)
    if isinstance(request, SendFrames):
        octets = sum(len(f) + 4 for f in request.frames)
        return int(octets * 8 * 1.3 * SAMPLE_RATE / request.bit_rate) + ms(10_000)
    if isinstance(request, SendTCF):
        return ms(request.ms + 10_000)
    if isinstance(request, SendTone):
        return ms(request.ms + 10_000)
    return ms(10_000)


_COMMAND_WAITS = {
    State.TX_AWAIT_CFR, State.TX_AWAIT_PMR, State.TX_AWAIT_PPS_RESPONSE, State.TX_AWAIT_CTR,
    State.TX_AWAIT_ERR,
}
_RESPONDING_STATES = {State.RX_AWAIT_PMC, State.RX_AWAIT_DCN, State.RX_AWAIT_PAGE, State.RX_AWAIT_DCS}

#: The transition structure: which method handles inputs in which state.
_HANDLERS: dict[State, Callable[[T30Session, object], bool]] = {
    State.CALLING: T30Session._calling,
    State.ANSWERING: T30Session._answering,
    State.AWAIT_COMMAND: T30Session._await_command,
    State.AWAIT_DIS: T30Session._await_dis,
    State.TX_AWAIT_CFR: T30Session._tx_await_cfr,
    State.TX_IMAGE: T30Session._tx_image,
    State.TX_AWAIT_PMR: T30Session._tx_await_pmr,
    State.TX_AWAIT_PPS_RESPONSE: T30Session._tx_await_pps_response,
    State.TX_AWAIT_CTR: T30Session._tx_await_ctr,
    State.TX_AWAIT_ERR: T30Session._tx_await_err,
    State.TX_RNR_PAUSE: T30Session._tx_rnr_pause,
    State.RX_TCF: T30Session._rx_tcf,
    State.RX_AWAIT_PAGE: T30Session._rx_await_page,
    State.RX_PAGE: T30Session._rx_page,
    State.RX_AWAIT_PMC: T30Session._rx_await_pmc,
    State.RX_AWAIT_DCS: T30Session._rx_await_dcs,
    State.RX_AWAIT_DCN: T30Session._rx_await_dcn,
    State.DISCONNECTING: T30Session._disconnecting,
    State.FINISHED: T30Session._finished,
}

__all__ = ["T30Session", "SessionConfig", "State", "BAD_FRAME"]
