"""One IAX2 call: its states, the transition table and what each transition sends.

Theory of operation.  A call is a `CallState` and a table ``TRANSITIONS[(state, Input)] ->
(next state, action)``; every signalling input (a frame from the peer, an API command, a
timer) is looked up there and anything absent is ignored, so each (state, input) pair has
a defined outcome.  Frames that any live call answers the same way (PING, LAGRQ, voice, DTMF)
and the reliability layer (ACK, VNAK, duplicates, gaps) are handled before the table.

Outgoing:  NEW_SENT --CALLTOKEN--> NEW_SENT (NEW again, with the token)
           NEW_SENT --AUTHREQ--> AUTH_SENT --ACCEPT--> ACCEPTED --ANSWER--> UP
Incoming:  (NEW admitted by the endpoint) AUTH_REQUESTED --AUTHREP ok--> OFFERED
           OFFERED --accept()--> ACCEPTED --answer()--> UP
Ending:    any live state --hang_up()--> HANGING_UP --all acknowledged--> DONE
           any live state --HANGUP/REJECT/INVAL, retry limit, time-out--> DONE

Supervision (issue 5, REFERENCE §6): a PING every `ping_interval` (iaxmodem rebuilds mini
timestamps from full frames and misbehaves after ~50 s of minis only), an unanswered call
ends after `unanswered_timeout`, a call hearing nothing for `silence_timeout` ends.
"""

from __future__ import annotations

import enum
from collections import deque

from . import auth
from .events import (CallAccepted, CallAnswered, CallEnded, CallProceeding, CallRinging,
                     DtmfReceived, EndReason, Event, IncomingCall, VoiceReceived)
from .frames import MINI_HEADER as _MINI
from .frames import Control, Format, FrameType, FullFrame, Iax
from .ies import IE, AuthMethod, IEMap, decode_ies, encode_ies
from .options import EndpointOptions, Peer
from .dialog import Dialog, Out
from .reliable import Arrival, unwrap16

Addr = tuple[str, int]
VOICE_RESYNC_MS = 640  # resync the voice clock to real time past this skew (as Asterisk)
CAUSE_NORMAL, CAUSE_REJECTED, CAUSE_NO_CODEC, CAUSE_NO_ANSWER = 16, 21, 58, 19


class CallState(enum.Enum):
    NEW_SENT = "NEW sent"
    AUTH_SENT = "AUTHREP sent"
    AUTH_REQUESTED = "AUTHREQ sent"
    OFFERED = "offered to the application"
    ACCEPTED = "accepted"
    UP = "answered"
    HANGING_UP = "hanging up"
    DONE = "done"


class Input(enum.Enum):
    CALLTOKEN = enum.auto()
    AUTHREQ = enum.auto()
    AUTHREP = enum.auto()
    ACCEPT = enum.auto()
    REJECT = enum.auto()
    HANGUP = enum.auto()
    INVAL = enum.auto()
    RINGING = enum.auto()
    PROCEEDING = enum.auto()
    ANSWER = enum.auto()
    CMD_ACCEPT = enum.auto()
    CMD_RING = enum.auto()
    CMD_ANSWER = enum.auto()
    CMD_HANGUP = enum.auto()
    UNANSWERED = enum.auto()
    SILENT = enum.auto()
    RETRY_LIMIT = enum.auto()
    ALL_ACKED = enum.auto()


S, I = CallState, Input
LIVE = (S.NEW_SENT, S.AUTH_SENT, S.AUTH_REQUESTED, S.OFFERED, S.ACCEPTED, S.UP)
BEFORE_UP = LIVE[:-1]

TRANSITIONS: dict[tuple[CallState, Input], tuple[CallState, str]] = {
    (S.NEW_SENT, I.CALLTOKEN): (S.NEW_SENT, "_resend_with_token"),
    (S.NEW_SENT, I.AUTHREQ): (S.AUTH_SENT, "_send_authrep"),
    (S.NEW_SENT, I.ACCEPT): (S.ACCEPTED, "_accepted"),
    (S.AUTH_SENT, I.ACCEPT): (S.ACCEPTED, "_accepted"),
    (S.AUTH_REQUESTED, I.AUTHREP): (S.OFFERED, "_check_authrep"),
    (S.OFFERED, I.CMD_ACCEPT): (S.ACCEPTED, "_send_accept"),
    (S.OFFERED, I.CMD_ANSWER): (S.UP, "_send_accept_answer"),
    (S.ACCEPTED, I.RINGING): (S.ACCEPTED, "_ringing"),
    (S.ACCEPTED, I.PROCEEDING): (S.ACCEPTED, "_proceeding"),
    (S.ACCEPTED, I.CMD_RING): (S.ACCEPTED, "_send_ringing"),
    (S.ACCEPTED, I.ANSWER): (S.UP, "_answered"),
    (S.ACCEPTED, I.CMD_ANSWER): (S.UP, "_send_answer"),
    (S.HANGING_UP, I.ALL_ACKED): (S.DONE, "_nothing"),
    (S.HANGING_UP, I.HANGUP): (S.DONE, "_nothing"),
    (S.HANGING_UP, I.REJECT): (S.DONE, "_nothing"),
    (S.HANGING_UP, I.INVAL): (S.DONE, "_nothing"),
    (S.HANGING_UP, I.RETRY_LIMIT): (S.DONE, "_nothing"),
    **{(s, I.HANGUP): (S.DONE, "_remote_hangup") for s in LIVE},
    **{(s, I.REJECT): (S.DONE, "_remote_reject") for s in LIVE},
    **{(s, I.INVAL): (S.DONE, "_remote_inval") for s in LIVE},
    **{(s, I.CMD_HANGUP): (S.HANGING_UP, "_send_hangup") for s in LIVE},
    **{(s, I.UNANSWERED): (S.HANGING_UP, "_unanswered") for s in BEFORE_UP},
    **{(s, I.SILENT): (S.DONE, "_silent") for s in LIVE},
    **{(s, I.RETRY_LIMIT): (S.DONE, "_retry_limit") for s in LIVE},
}

_IAX_INPUTS = {Iax.AUTHREQ: I.AUTHREQ, Iax.AUTHREP: I.AUTHREP, Iax.ACCEPT: I.ACCEPT,
               Iax.REJECT: I.REJECT, Iax.HANGUP: I.HANGUP}
_CONTROL_INPUTS = {Control.RINGING: I.RINGING, Control.PROCEEDING: I.PROCEEDING,
                   Control.ANSWER: I.ANSWER, Control.HANGUP: I.HANGUP}


class Call(Dialog):
    """One call's state and the frames it sends; the endpoint routes datagrams to it."""

    def __init__(self, callno: int, addr: Addr, now: float, options: EndpointOptions,
                 out: Out, events: deque[Event], *, outgoing: bool) -> None:
        super().__init__(callno, addr, now, options.retry, out)
        self.outgoing = outgoing
        self.state = CallState.NEW_SENT if outgoing else CallState.OFFERED
        self.end_reason: EndReason | None = None
        self.format = 0
        self.reported = outgoing  # the application knows of this call
        self._opts = options
        self._events = events
        self._ping_at = now + options.ping_interval
        self._unanswered_at = now + options.unanswered_timeout
        self._rx_voice_ts = 0
        self._tx_next: int | None = None
        self._tx_last = 0
        # outgoing: what to resend and how to authenticate; incoming: whom we challenged
        self._new_ies: IEMap = {}
        self._secret: str | None = None
        self._tokens_tried = 0
        self._peer: Peer | None = None
        self._challenge = ""
        self._offer: IncomingCall | None = None

    @property
    def finished(self) -> bool:
        return self.state is CallState.DONE

    # -- construction helpers used by the endpoint ----------------------------------
    def start_outgoing(self, new_ies: IEMap, secret: str | None, now: float) -> None:
        self._new_ies, self._secret = new_ies, secret
        self.send(FrameType.IAX, Iax.NEW, encode_ies(new_ies), now)

    def start_incoming(self, new: FullFrame, offer: IncomingCall, peer: Peer | None,
                       challenge: str | None, now: float) -> None:
        """Take the admitted NEW (ACK it) and either challenge the caller or offer the call."""
        self.remote_callno = new.src_call
        self._peer, self._offer, self.format = peer, offer, offer.format
        self.receive(new, now)
        if challenge is not None and peer is not None:
            self.state, self._challenge = CallState.AUTH_REQUESTED, challenge
            methods = AuthMethod.MD5 | (AuthMethod.PLAINTEXT if peer.allow_plaintext else 0)
            self.send(FrameType.IAX, Iax.AUTHREQ, encode_ies(
                {IE.AUTHMETHODS: int(methods), IE.CHALLENGE: challenge,
                 IE.USERNAME: peer.name}), now)
        else:
            self._offer_to_app()

    def reject(self, cause: str, code: int, reason: EndReason, now: float) -> None:
        self.end_reason = reason
        self.state = CallState.HANGING_UP
        self.send(FrameType.IAX, Iax.REJECT,
                   encode_ies({IE.CAUSE: cause, IE.CAUSECODE: code}), now)

    # -- inputs ------------------------------------------------------------------
    def fire(self, inp: Input, now: float, frame: FullFrame | None = None,
             ies: IEMap | None = None, **kw: object) -> bool:
        """Apply one input through the transition table; False when the table has no entry."""
        entry = TRANSITIONS.get((self.state, inp))
        if entry is None:
            return False
        nxt, action = entry
        prev = self.state
        self.state = nxt
        getattr(self, action)(now, ies or {}, prev, **kw)
        if self.state is CallState.HANGING_UP and self.unacked == 0:
            self.state = CallState.DONE
        return True

    def handle_full(self, frame: FullFrame, now: float) -> None:
        if frame.is_iax(Iax.CALLTOKEN):  # sent statelessly by the callee: outside sequencing
            self.fire(I.CALLTOKEN, now, frame, decode_ies(frame.payload) or {})
            return
        arrival = self.receive(frame, now)
        if arrival is Arrival.IN_ORDER:
            self._dispatch(frame, now)
        elif arrival is Arrival.UNSEQUENCED:
            if frame.is_iax(Iax.INVAL):
                self.fire(I.INVAL, now)
            if self.state is CallState.HANGING_UP and self.unacked == 0:
                self.fire(I.ALL_ACKED, now)

    def _dispatch(self, frame: FullFrame, now: float) -> None:
        ft, sub = frame.frametype, frame.subclass
        if ft == FrameType.IAX:
            if sub == Iax.PING:
                self.send(FrameType.IAX, Iax.PONG, b"", now, ts=frame.timestamp)
            elif sub == Iax.LAGRQ:
                self.send(FrameType.IAX, Iax.LAGRP, b"", now, ts=frame.timestamp)
            elif sub in _IAX_INPUTS:
                ies = decode_ies(frame.payload)
                self.fire(_IAX_INPUTS[Iax(sub)], now, frame, ies if ies is not None else {})
        elif ft == FrameType.CONTROL and sub in _CONTROL_INPUTS:
            self.fire(_CONTROL_INPUTS[Control(sub)], now, frame)
        elif ft == FrameType.VOICE:
            if self.state in (CallState.ACCEPTED, CallState.UP):
                self._rx_voice_ts = frame.timestamp
                self._events.append(VoiceReceived(self.callno, frame.timestamp, frame.payload))
        elif ft == FrameType.DTMF_END and 0x20 < sub < 0x7F:
            self._events.append(DtmfReceived(self.callno, chr(sub)))

    def handle_mini(self, timestamp16: int, payload: bytes, now: float) -> None:
        """Mini voice frame: rebuild the 32-bit timestamp from the last one (§8.1.2)."""
        self._last_rx = now
        self.frames_in += 1
        last = self._rx_voice_ts
        if last and self._voice_ok:
            ts = unwrap16(last, timestamp16)
            if (ts - last) & 0xFFFFFFFF < 0x80000000:
                self._rx_voice_ts = ts
            self._events.append(VoiceReceived(self.callno, ts, payload))

    def send_voice(self, payload: bytes, now: float) -> int:
        """Voice out: first frame full, then minis, a full frame when the high 16 bits change.

        Returns 0 when the call cannot carry voice, 1 for a mini frame, 2 for a full frame.
        """
        if self.state is not CallState.UP:
            return 0
        ts = self._tx_next
        elapsed = int((now - self._start) * 1000) & 0xFFFFFFFF
        skew = (elapsed - ts) & 0xFFFFFFFF if ts is not None else 0
        if ts is None or VOICE_RESYNC_MS < skew < 0x100000000 - VOICE_RESYNC_MS:
            ts, full = max(elapsed, 1), True  # first frame, or the sender's clock slipped
        else:
            full = (ts >> 16) != (self._tx_last >> 16)
        self._tx_last = ts
        self._tx_next = (ts + (len(payload) >> self._ms_shift)) & 0xFFFFFFFF
        if full:
            self.send(FrameType.VOICE, self.format, payload, now, ts=ts)
            return 2
        self.frames_out += 1
        self._out.append((_MINI.pack(self.callno, ts & 0xFFFF) + payload, self.addr))
        return 1

    @property
    def _voice_ok(self) -> bool:
        return self.state is CallState.UP or self.state is CallState.ACCEPTED

    @property
    def _ms_shift(self) -> int:
        """log2 of bytes per millisecond at 8 kHz: 3 for G.711, 4 for 16-bit slin."""
        return 4 if self.format == Format.SLINEAR else 3

    def on_timer(self, now: float) -> None:
        if not self.resend_due(now):
            self.fire(I.RETRY_LIMIT, now)
            return
        if self.state in BEFORE_UP and now >= self._unanswered_at:
            self.fire(I.UNANSWERED, now)
        if self.state in LIVE and now >= self._last_rx + self._opts.silence_timeout:
            self.fire(I.SILENT, now)
        if self.state in LIVE and self.remote_callno and now >= self._ping_at:
            self._ping_at = now + self._opts.ping_interval
            self.send(FrameType.IAX, Iax.PING, b"", now)

    def next_deadline(self) -> float | None:
        if self.state is CallState.DONE:
            return None
        times = [self.retransmit_deadline()]
        if self.state in LIVE:
            times.append(self._last_rx + self._opts.silence_timeout)
            if self.remote_callno:
                times.append(self._ping_at)
            if self.state in BEFORE_UP:
                times.append(self._unanswered_at)
        return min((t for t in times if t is not None), default=None)

    # -- actions named in TRANSITIONS ---------------------------------------------
    def _nothing(self, now: float, ies: IEMap, prev: CallState) -> None:
        pass

    def _resend_with_token(self, now: float, ies: IEMap, prev: CallState) -> None:
        token = ies.get(IE.CALLTOKEN)
        self._tokens_tried += 1
        if not isinstance(token, bytes) or not token or self._tokens_tried > 2:
            self._end(EndReason.REJECTED, "call token refused", CAUSE_REJECTED)
            return
        self.restart_sequence()  # the callee starts afresh (Asterisk)
        self._new_ies = {**self._new_ies, IE.CALLTOKEN: token}
        self.send(FrameType.IAX, Iax.NEW, encode_ies(self._new_ies), now)

    def _send_authrep(self, now: float, ies: IEMap, prev: CallState) -> None:
        methods = ies.get(IE.AUTHMETHODS, 0)
        challenge = str(ies.get(IE.CHALLENGE, ""))
        if self._secret is not None and int(methods) & AuthMethod.MD5:
            reply = {IE.MD5_RESULT: auth.md5_response(challenge, self._secret)}
        elif (self._secret is not None and int(methods) & AuthMethod.PLAINTEXT
              and self._opts.allow_plaintext):
            reply = {IE.PASSWORD: self._secret}
        else:
            self._hangup_frame("no usable authentication method", CAUSE_REJECTED, now,
                               EndReason.AUTH_FAILED)
            return
        self.send(FrameType.IAX, Iax.AUTHREP, encode_ies(reply), now)

    def _accepted(self, now: float, ies: IEMap, prev: CallState) -> None:
        fmt = int(ies.get(IE.FORMAT, 0))
        if fmt not in self._opts.formats:
            self._hangup_frame("no common codec", CAUSE_NO_CODEC, now, EndReason.NO_CODEC)
            return
        self.format = fmt
        self._events.append(CallAccepted(self.callno, fmt))

    def _check_authrep(self, now: float, ies: IEMap, prev: CallState) -> None:
        peer = self._peer
        assert peer is not None and peer.secret is not None
        md5 = ies.get(IE.MD5_RESULT)
        password = ies.get(IE.PASSWORD)
        ok = (isinstance(md5, str) and auth.md5_matches(self._challenge, peer.secret, md5)) or (
            peer.allow_plaintext and password == peer.secret)
        if ok:
            self._offer_to_app()
        else:
            self.reject("authentication failed", CAUSE_REJECTED, EndReason.AUTH_FAILED, now)

    def _send_accept(self, now: float, ies: IEMap, prev: CallState, fmt: int = 0) -> None:
        if fmt:
            self.format = fmt
        self.send(FrameType.IAX, Iax.ACCEPT, encode_ies({IE.FORMAT: self.format}), now)

    def _send_accept_answer(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._send_accept(now, ies, prev)
        self._send_answer(now, ies, prev)

    def _ringing(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._events.append(CallRinging(self.callno))

    def _proceeding(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._events.append(CallProceeding(self.callno))

    def _send_ringing(self, now: float, ies: IEMap, prev: CallState) -> None:
        self.send(FrameType.CONTROL, Control.RINGING, b"", now)

    def _answered(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._events.append(CallAnswered(self.callno))

    def _send_answer(self, now: float, ies: IEMap, prev: CallState) -> None:
        self.send(FrameType.CONTROL, Control.ANSWER, b"", now)

    def _send_hangup(self, now: float, ies: IEMap, prev: CallState,
                     cause: str = "Normal Clearing", code: int = CAUSE_NORMAL,
                     reason: EndReason = EndReason.LOCAL_HANGUP) -> None:
        self._report_end(reason, cause, code)
        if not self.outgoing and prev in (S.AUTH_REQUESTED, S.OFFERED):
            self.send(FrameType.IAX, Iax.REJECT,
                       encode_ies({IE.CAUSE: cause, IE.CAUSECODE: code}), now)
        elif prev is S.NEW_SENT and not self.remote_callno:
            self.state = CallState.DONE  # nobody to tell yet
        else:
            self.send(FrameType.IAX, Iax.HANGUP,
                       encode_ies({IE.CAUSE: cause, IE.CAUSECODE: code}), now)

    def _unanswered(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._send_hangup(now, ies, prev, "No answer", CAUSE_NO_ANSWER, EndReason.UNANSWERED)

    def _remote_hangup(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._end(EndReason.HANGUP, str(ies.get(IE.CAUSE, "")), int(ies.get(IE.CAUSECODE, 0)))

    def _remote_reject(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._end(EndReason.REJECTED, str(ies.get(IE.CAUSE, "")), int(ies.get(IE.CAUSECODE, 0)))

    def _remote_inval(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._end(EndReason.INVALID)

    def _silent(self, now: float, ies: IEMap, prev: CallState) -> None:
        if self.remote_callno:  # one last word, not retransmitted: the peer is gone
            self.send(FrameType.IAX, Iax.HANGUP, encode_ies({IE.CAUSE: "Timeout"}), now,
                       reliable=False)
        self._end(EndReason.SILENT)

    def _retry_limit(self, now: float, ies: IEMap, prev: CallState) -> None:
        self._end(EndReason.RETRY_LIMIT)

    # -- helpers -------------------------------------------------------------------
    def _offer_to_app(self) -> None:
        self.state = CallState.OFFERED
        self.reported = True
        assert self._offer is not None
        self._events.append(self._offer)

    def _hangup_frame(self, cause: str, code: int, now: float, reason: EndReason) -> None:
        self.state = CallState.HANGING_UP
        self._report_end(reason, cause, code)
        self.send(FrameType.IAX, Iax.HANGUP, encode_ies({IE.CAUSE: cause, IE.CAUSECODE: code}),
                   now)

    def _end(self, reason: EndReason, cause: str = "", code: int = 0) -> None:
        self.state = CallState.DONE
        self._report_end(reason, cause, code)

    def _report_end(self, reason: EndReason, cause: str, code: int) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            if self.reported:
                self._events.append(CallEnded(self.callno, reason, cause, code))
