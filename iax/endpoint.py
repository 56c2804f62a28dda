"""The IAX2 endpoint: one UDP port's worth of calls and registrations, sans-IO.

Shaped after aioquic's connection: the owner feeds datagrams with `receive_datagram(data,
addr, now)`, calls `handle_timer(now)` when `get_timer()` says so, sends what
`datagrams_to_send(now)` returns and reads `next_event()` until it returns None.  API calls
(`place_call`, `accept`, `ring`, `answer`, `send_voice`, `hang_up`, `register`) queue
frames the same way.  Call numbers and challenges come from the injected `random.Random`.

Routing: full frames by our call number (checked against the sender's address), mini frames
by (address, the peer's call number).  A NEW or REGREQ from a stranger first passes the call
token check (stateless, `auth.CallTokens`): a flood of NEWs without valid tokens allocates
nothing.  Undecodable datagrams are counted in `stats` and dropped; nothing raises.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from . import auth
from .call import CAUSE_NO_CODEC, Call, CallState, Input
from .dialog import Dialog
from .events import Event, IncomingCall
from .frames import Format, FrameType, FullFrame, Iax, MetaFrame, decode, encode_full
from .ies import IE, IEMap, decode_ies, encode_ies
from .options import EndpointOptions, Peer, same_host
from .registration import RegClient, Registrar, Registration, RegServer, RegState

Addr = tuple[str, int]
CAUSE_CONGESTION, CAUSE_TOKEN = 34, 21
STATELESS_CALLNO = 1  # source call number of replies sent without a dialog (as Asterisk)


@dataclass
class EndpointStats:
    datagrams_in: int = 0
    undecodable: int = 0
    meta_dropped: int = 0
    unknown_call: int = 0
    malformed_ies: int = 0
    tokens_issued: int = 0
    tokens_refused: int = 0
    calls_refused: int = 0
    internal_errors: int = 0
    ended: dict[str, int] = field(default_factory=dict)


class Endpoint:
    """Many concurrent IAX2 calls on one socket address."""

    def __init__(self, options: EndpointOptions, rng: random.Random) -> None:
        self.options = options
        self.stats = EndpointStats()
        self._rng = rng
        secret = options.calltoken_secret or rng.randbytes(32)
        self._tokens = auth.CallTokens(secret)
        self._dialogs: dict[int, Dialog] = {}
        self._by_remote: dict[tuple[Addr, int], Dialog] = {}
        self._out: list[tuple[bytes, Addr]] = []
        self._events: deque[Event] = deque()
        self._timers: list[tuple[float, int]] = []
        self._scheduled: dict[int, float] = {}
        self._registrations: dict[int, Registration] = {}
        self.registrar = Registrar()
        self._now = 0.0

    # -- the sans-IO contract ----------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self._now = now
        self.stats.datagrams_in += 1
        try:
            if len(data) >= 4 and data[0] < 0x80 and (data[0] or data[1]):  # mini: hot path
                d = self._by_remote.get((addr, (data[0] << 8) | data[1]))
                if d.__class__ is Call:
                    d.handle_mini((data[2] << 8) | data[3], data[4:], now)  # type: ignore
                else:
                    self.stats.unknown_call += 1
                return
            frame = decode(data)
            if isinstance(frame, FullFrame):
                self._receive_full(frame, addr, now)
            elif isinstance(frame, MetaFrame):
                self.stats.meta_dropped += 1
            else:
                self.stats.undecodable += 1
        except Exception:  # a bug must not let one datagram take the gateway down
            self.stats.internal_errors += 1

    def handle_timer(self, now: float) -> None:
        self._now = now
        due: list[Dialog] = []  # collected first: each dialog runs at most once per call
        while self._timers and self._timers[0][0] <= now:
            deadline, callno = heapq.heappop(self._timers)
            d = self._dialogs.get(callno)
            if d is not None and self._scheduled.get(callno) == deadline:
                del self._scheduled[callno]
                due.append(d)
        for d in due:
            d.on_timer(now)  # type: ignore[attr-defined]
            self._after(d)
        for reg in self._registrations.values():
            if reg.state is not RegState.REGISTERING and reg.next_attempt <= now:
                self._start_registration(reg, now)
        self.registrar.expire(now, self._events)

    def get_timer(self) -> float | None:
        while self._timers and self._scheduled.get(self._timers[0][1]) != self._timers[0][0]:
            heapq.heappop(self._timers)
        times = [self._timers[0][0]] if self._timers else []
        times += [r.next_attempt for r in self._registrations.values()
                  if r.state is not RegState.REGISTERING]
        reg = self.registrar.next_deadline()
        if reg is not None:
            times.append(reg)
        return min(times, default=None)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        self._now = now
        out = self._out[:]
        self._out.clear()
        return out

    def has_events(self) -> bool:
        return bool(self._events)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- API -----------------------------------------------------------------------
    def place_call(self, addr: Addr, called_number: str, *, calling_number: str = "",
                   calling_name: str = "", username: str | None = None,
                   secret: str | None = None, format: Format = Format.ALAW,
                   now: float | None = None) -> int:
        """Send NEW with exactly one FORMAT bit (iaxmodem needs that) and an empty CALLTOKEN."""
        now = self._now if now is None else now
        call = Call(self._allocate_callno(), addr, now, self.options, self._out, self._events,
                    outgoing=True)
        ies: IEMap = {IE.VERSION: 2, IE.CALLED_NUMBER: called_number,
                      IE.CALLING_NUMBER: calling_number, IE.CALLING_NAME: calling_name,
                      IE.FORMAT: int(format),
                      IE.CAPABILITY: int(sum(int(f) for f in set(self.options.formats))),
                      IE.CALLTOKEN: b""}
        if username:
            ies[IE.USERNAME] = username
        self._dialogs[call.callno] = call
        call.start_outgoing(ies, secret, now)
        self._after(call)
        return call.callno

    def accept(self, call: int, format: int = 0, now: float | None = None) -> bool:
        """ACCEPT with ``format`` (one of our formats; 0 = the one negotiated from NEW)."""
        if format and format not in self.options.formats:
            return False
        return self._command(call, Input.CMD_ACCEPT, now, fmt=int(format))

    def ring(self, call: int, now: float | None = None) -> bool:
        return self._command(call, Input.CMD_RING, now)

    def answer(self, call: int, now: float | None = None) -> bool:
        return self._command(call, Input.CMD_ANSWER, now)

    def hang_up(self, call: int, cause: str = "Normal Clearing", cause_code: int = 16,
                now: float | None = None) -> bool:
        return self._command(call, Input.CMD_HANGUP, now, cause=cause, code=cause_code)

    def send_voice(self, call: int, payload: bytes, now: float) -> bool:
        d = self._dialogs.get(call)
        if d.__class__ is not Call:
            return False
        sent = d.send_voice(payload, now)  # type: ignore[union-attr]
        if sent == 2:  # a full frame now waits for its ACK: its timer matters
            self._after(d)  # type: ignore[arg-type]
        return sent > 0

    def register(self, server: Addr, username: str, secret: str | None = None,
                 refresh: int = 60, now: float | None = None) -> int:
        now = self._now if now is None else now
        ident = len(self._registrations) + 1
        reg = Registration(ident, server, username, secret, refresh, now)
        self._registrations[ident] = reg
        self._start_registration(reg, now)
        return ident

    def registration_state(self, ident: int) -> RegState:
        return self._registrations[ident].state

    def call_state(self, call: int) -> CallState | None:
        d = self._dialogs.get(call)
        return d.state if isinstance(d, Call) else None

    def call_format(self, call: int) -> int:
        d = self._dialogs.get(call)
        return d.format if isinstance(d, Call) else 0

    def dialogs_with(self, addr: Addr) -> list[tuple[int, int]]:
        """(our call number, the peer's) of every dialog with ``addr`` (for tools and tests)."""
        return [(n, d.remote_callno) for n, d in self._dialogs.items()
                if d.addr == addr and d.remote_callno]

    @property
    def active_calls(self) -> int:
        return sum(1 for d in self._dialogs.values() if isinstance(d, Call))

    # -- internals -------------------------------------------------------------------
    def _command(self, call: int, inp: Input, now: float | None, **kw: object) -> bool:
        d = self._dialogs.get(call)
        if not isinstance(d, Call):
            return False
        done = d.fire(inp, self._now if now is None else now, **kw)
        self._after(d)
        return done

    def _receive_full(self, frame: FullFrame, addr: Addr, now: float) -> None:
        if frame.dst_call:
            d = self._dialogs.get(frame.dst_call)
            if d is not None and d.addr == addr and (
                    d.remote_callno in (0, frame.src_call) or frame.is_iax(Iax.CALLTOKEN)):
                d.handle_full(frame, now)  # type: ignore[attr-defined]
                self._after(d)
            else:
                self._stray(frame, addr)
            return
        d = self._by_remote.get((addr, frame.src_call))
        if d is not None:  # a retransmitted NEW or REGREQ
            d.handle_full(frame, now)  # type: ignore[attr-defined]
            self._after(d)
        elif frame.is_iax(Iax.NEW):
            self._admit_call(frame, addr, now)
        elif frame.is_iax(Iax.REGREQ) or frame.is_iax(Iax.REGREL):
            self._admit_registration(frame, addr, now)
        elif frame.is_iax(Iax.POKE) or frame.is_iax(Iax.PING):
            self._stateless(frame, addr, Iax.PONG, {})
        else:
            self._stray(frame, addr)

    def _peer_for(self, ies: IEMap, addr: Addr) -> Peer | None:
        peer = self.options.peer_named(str(ies.get(IE.USERNAME, ""))) or \
            self.options.peer_at(addr)
        if peer and peer.address and (not same_host(peer.address[0], addr[0])
                                      or peer.address[1] not in (0, addr[1])):
            return None  # right name, wrong place
        return peer

    def _token_ok(self, frame: FullFrame, ies: IEMap, peer: Peer | None, addr: Addr,
                  now: float) -> bool:
        """Call token gate: required from strangers, optional per configured peer."""
        if not (peer.calltoken_required if peer else self.options.calltoken_required):
            return True
        token = ies.get(IE.CALLTOKEN)
        if token == b"":
            self.stats.tokens_issued += 1
            self._stateless(frame, addr, Iax.CALLTOKEN,
                            {IE.CALLTOKEN: self._tokens.issue(addr, now)})
            return False
        self.stats.tokens_refused += 1
        if token is None:
            self._stateless(frame, addr, Iax.REJECT, {IE.CAUSE: "CALLTOKEN required",
                                                      IE.CAUSECODE: CAUSE_TOKEN})
            return False
        if isinstance(token, bytes) and self._tokens.check(token, addr, now):
            self.stats.tokens_refused -= 1
            return True
        return False

    def _admit_call(self, frame: FullFrame, addr: Addr, now: float) -> None:
        ies = decode_ies(frame.payload)
        if ies is None:
            self.stats.malformed_ies += 1
            return
        peer = self._peer_for(ies, addr)
        if not self._token_ok(frame, ies, peer, addr, now):
            return
        fmt = self._choose_format(ies)
        refusal = None
        if peer is None and not self.options.accept_unknown:
            refusal = ("No authority found", CAUSE_TOKEN)
        elif len(self._dialogs) >= self.options.max_calls:
            refusal = ("Congestion", CAUSE_CONGESTION)
        elif not fmt:
            refusal = ("Unable to negotiate codec", CAUSE_NO_CODEC)
        if refusal:
            self.stats.calls_refused += 1
            self._stateless(frame, addr, Iax.REJECT,
                            {IE.CAUSE: refusal[0], IE.CAUSECODE: refusal[1]})
            return
        call = Call(self._allocate_callno(), addr, now, self.options, self._out, self._events,
                    outgoing=False)
        offer = IncomingCall(call.callno, addr, peer.name if peer else None,
                             str(ies.get(IE.CALLED_NUMBER, "")),
                             str(ies.get(IE.CALLING_NUMBER, "")),
                             str(ies.get(IE.CALLING_NAME, "")), fmt)
        challenge = auth.new_challenge(self._rng) if peer and peer.secret is not None else None
        self._dialogs[call.callno] = call
        call.start_incoming(frame, offer, peer, challenge, now)
        self._after(call)

    def _choose_format(self, ies: IEMap) -> int:
        wanted = int(ies.get(IE.FORMAT, 0))
        capability = int(ies.get(IE.CAPABILITY, wanted))
        if wanted in self.options.formats:
            return wanted
        return next((int(f) for f in self.options.formats if capability & f), 0)

    def _admit_registration(self, frame: FullFrame, addr: Addr, now: float) -> None:
        ies = decode_ies(frame.payload)
        if ies is None:
            self.stats.malformed_ies += 1
            return
        if not self._token_ok(frame, ies, self._peer_for(ies, addr), addr, now):
            return
        if len(self._dialogs) >= self.options.max_calls:
            return
        d = RegServer(self._allocate_callno(), addr, now, self.options, self.registrar,
                      self._rng, self._out, self._events)
        self._dialogs[d.callno] = d
        d.handle_full(frame, now)
        self._after(d)

    def _start_registration(self, reg: Registration, now: float) -> None:
        d = RegClient(self._allocate_callno(), reg, now, self.options.retry, self._out,
                      self._events)
        self._dialogs[d.callno] = d
        self._after(d)

    def _stray(self, frame: FullFrame, addr: Addr) -> None:
        """A full frame for no call of ours: ACK a HANGUP/REJECT, INVAL anything sequenced."""
        self.stats.unknown_call += 1
        if frame.frametype == FrameType.IAX and frame.subclass in (Iax.HANGUP, Iax.REJECT):
            self._stateless(frame, addr, Iax.ACK, {}, ts=frame.timestamp)
        elif frame.sequenced and not frame.is_iax(Iax.CALLTOKEN):
            self._stateless(frame, addr, Iax.INVAL, {}, ts=frame.timestamp)

    def _stateless(self, frame: FullFrame, addr: Addr, sub: Iax, ies: IEMap,
                   ts: int | None = None) -> None:
        """A reply that creates no state (Asterisk's 'apathetic' replies)."""
        src = frame.dst_call or STATELESS_CALLNO
        reply = FullFrame(src, frame.src_call, frame.timestamp if ts is None else ts,
                          frame.iseqno, (frame.oseqno + 1) & 0xFF, FrameType.IAX, sub,
                          encode_ies(ies))
        self._out.append((encode_full(reply), addr))

    def _allocate_callno(self) -> int:
        """A free 15-bit call number, drawn from the injected generator."""
        for _ in range(64):
            n = self._rng.randrange(2, 0x8000)
            if n not in self._dialogs:
                return n
        return next(n for n in range(2, 0x8000) if n not in self._dialogs)

    def _after(self, d: Dialog) -> None:
        """Book-keeping after a dialog acted: index, timer, removal when finished."""
        callno = d.callno
        if d.finished:
            if self._dialogs.get(callno) is d:
                del self._dialogs[callno]
            if d.remote_callno and self._by_remote.get((d.addr, d.remote_callno)) is d:
                del self._by_remote[(d.addr, d.remote_callno)]
            self._scheduled.pop(callno, None)
            reason = getattr(d, "end_reason", None)
            if reason is not None:
                self.stats.ended[reason.name] = self.stats.ended.get(reason.name, 0) + 1
            return
        if d.remote_callno:
            key = (d.addr, d.remote_callno)
            if self._by_remote.get(key) is not d:
                self._by_remote[key] = d
        deadline = d.next_deadline()  # type: ignore[attr-defined]
        if deadline is None:
            self._scheduled.pop(callno, None)
        elif self._scheduled.get(callno) != deadline:
            self._scheduled[callno] = deadline
            heapq.heappush(self._timers, (deadline, callno))
            if len(self._timers) > 4 * len(self._scheduled) + 64:
                self._timers = [(t, c) for c, t in self._scheduled.items()]
                heapq.heapify(self._timers)
