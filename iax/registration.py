"""Registration (RFC 5456 §6.2): as a client to a server, and as a registrar for peers.

Client: every `refresh` seconds (renewed at 80 % of what the server granted) a fresh
transaction sends REGREQ{USERNAME, REFRESH, CALLTOKEN}; a CALLTOKEN reply restarts it with
the token, REGAUTH{MD5, CHALLENGE} is answered with REGREQ{..., MD5_RESULT}, REGACK ends it
with success and REGREJ or the retry limit with failure (tried again after `retry_after`).

Registrar: a REGREQ from a configured peer is answered with REGAUTH when the peer has a
secret, then REGACK{USERNAME, REFRESH, DATETIME, APPARENT_ADDR} once the MD5 result checks;
unknown peers and wrong results get REGREJ.  Bindings expire at ``now + refresh`` unless
renewed; REGREL removes one (from the registered address without a challenge).
"""

from __future__ import annotations

import datetime as _dt
import enum
import heapq
import random
from collections import deque

from . import auth
from .dialog import Dialog, Out
from .events import Event, PeerRegistered, PeerUnregistered, Registered, RegistrationFailed
from .frames import FrameType, FullFrame, Iax
from .ies import IE, AuthMethod, IEMap, datetime_value, decode_ies, encode_ies
from .options import EndpointOptions, Peer
from .reliable import Arrival, RetryPolicy

Addr = tuple[str, int]


class RegState(enum.Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"


class Registration:
    """One client registration: its schedule and the outcome of the last attempt."""

    def __init__(self, ident: int, server: Addr, username: str, secret: str | None,
                 refresh: int, now: float, retry_after: float = 30.0) -> None:
        self.ident, self.server, self.username, self.secret = ident, server, username, secret
        self.refresh = refresh
        self.state = RegState.IDLE
        self.next_attempt = now
        self.retry_after = retry_after

    def finish(self, granted: int | None, cause: str, now: float, events: deque[Event]) -> None:
        if granted is not None:
            self.state = RegState.REGISTERED
            self.next_attempt = now + max(1.0, 0.8 * granted)
            events.append(Registered(self.ident, granted))
        else:
            self.state = RegState.FAILED
            self.next_attempt = now + min(self.retry_after, self.refresh)
            events.append(RegistrationFailed(self.ident, cause))


class RegClient(Dialog):
    """One REGREQ transaction of a `Registration`."""

    def __init__(self, callno: int, reg: Registration, now: float, policy: RetryPolicy,
                 out: Out, events: deque[Event]) -> None:
        super().__init__(callno, reg.server, now, policy, out)
        self.reg = reg
        self._events = events
        self._done = False
        self._token: bytes = b""
        reg.state = RegState.REGISTERING
        self._regreq({}, now)

    @property
    def finished(self) -> bool:
        return self._done

    def _regreq(self, extra: IEMap, now: float) -> None:
        ies: IEMap = {IE.USERNAME: self.reg.username, IE.REFRESH: self.reg.refresh,
                      IE.CALLTOKEN: self._token, **extra}
        self.send(FrameType.IAX, Iax.REGREQ, encode_ies(ies), now)

    def handle_full(self, frame: FullFrame, now: float) -> None:
        if self._done:
            return
        ies = decode_ies(frame.payload) or {}
        if frame.is_iax(Iax.CALLTOKEN):
            token = ies.get(IE.CALLTOKEN)
            if isinstance(token, bytes) and token and not self._token:
                self._token = token
                self.restart_sequence()
                self._regreq({}, now)
            return
        if self.receive(frame, now) is not Arrival.IN_ORDER or frame.frametype != FrameType.IAX:
            return
        if frame.subclass == Iax.REGAUTH:
            challenge = str(ies.get(IE.CHALLENGE, ""))
            if self.reg.secret is None or not int(ies.get(IE.AUTHMETHODS, 0)) & AuthMethod.MD5:
                self._finish(None, "no usable authentication method", now)
            else:
                self._regreq({IE.MD5_RESULT: auth.md5_response(challenge, self.reg.secret)}, now)
        elif frame.subclass == Iax.REGACK:
            self._finish(int(ies.get(IE.REFRESH, self.reg.refresh)), "", now)
        elif frame.subclass == Iax.REGREJ:
            self._finish(None, str(ies.get(IE.CAUSE, "rejected")), now)

    def _finish(self, granted: int | None, cause: str, now: float) -> None:
        self._done = True
        self.reg.finish(granted, cause, now, self._events)

    def on_timer(self, now: float) -> None:
        if not self._done and not self.resend_due(now):
            self._finish(None, "no reply from the server", now)

    def next_deadline(self) -> float | None:
        return None if self._done else self.retransmit_deadline()


class Registrar:
    """Who is registered to us, until when."""

    def __init__(self) -> None:
        self.bindings: dict[str, tuple[Addr, float]] = {}
        self._expiries: list[tuple[float, str]] = []

    def bind(self, name: str, addr: Addr, refresh: int, now: float) -> None:
        expires = now + refresh
        self.bindings[name] = (addr, expires)
        heapq.heappush(self._expiries, (expires, name))

    def release(self, name: str) -> bool:
        return self.bindings.pop(name, None) is not None

    def address_of(self, name: str) -> Addr | None:
        entry = self.bindings.get(name)
        return entry[0] if entry else None

    def next_deadline(self) -> float | None:
        while self._expiries:
            expires, name = self._expiries[0]
            entry = self.bindings.get(name)
            if entry is not None and entry[1] == expires:
                return expires
            heapq.heappop(self._expiries)
        return None

    def expire(self, now: float, events: deque[Event]) -> None:
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, name = heapq.heappop(self._expiries)
            del self.bindings[name]
            events.append(PeerUnregistered(name, expired=True))


class RegServer(Dialog):
    """The registrar's side of one REGREQ transaction (possibly two REGREQs with REGAUTH)."""

    def __init__(self, callno: int, addr: Addr, now: float, options: EndpointOptions,
                 registrar: Registrar, rng: random.Random, out: Out,
                 events: deque[Event]) -> None:
        super().__init__(callno, addr, now, options.retry, out)
        self._opts, self._registrar, self._rng, self._events = options, registrar, rng, events
        self._challenge: str | None = None
        self._closing = False
        self._give_up_at = now + 30.0  # a transaction never outlives this
        self.outcome: str | None = None

    @property
    def finished(self) -> bool:
        return self._closing and self.unacked == 0

    def handle_full(self, frame: FullFrame, now: float) -> None:
        if self.receive(frame, now) is not Arrival.IN_ORDER or frame.frametype != FrameType.IAX:
            return
        if frame.subclass not in (Iax.REGREQ, Iax.REGREL) or self._closing:
            return
        ies = decode_ies(frame.payload) or {}
        peer = self._opts.peer_named(str(ies.get(IE.USERNAME, "")))
        if peer is None:
            self._reply(Iax.REGREJ, {IE.CAUSE: "Registration Refused"}, now, "unknown peer")
        elif frame.subclass == Iax.REGREL:
            # The address the peer registered from is proof enough to release it (iaxmodem
            # sends REGREL as it exits and would never answer a REGAUTH).
            if self._registrar.address_of(peer.name) == self.addr or \
                    self._authenticated(peer, ies, now):
                if self._registrar.release(peer.name):
                    self._events.append(PeerUnregistered(peer.name, expired=False))
                self._reply(Iax.REGACK, {IE.USERNAME: peer.name, IE.REFRESH: 0}, now, "released")
        elif self._authenticated(peer, ies, now):
            asked = int(ies.get(IE.REFRESH, self._opts.min_refresh))
            refresh = min(max(asked, self._opts.min_refresh), self._opts.max_refresh)
            self._registrar.bind(peer.name, self.addr, refresh, now)
            self._events.append(PeerRegistered(peer.name, self.addr, refresh))
            self._reply(Iax.REGACK, {
                IE.USERNAME: peer.name, IE.REFRESH: refresh,
                **self._datetime(now), IE.APPARENT_ADDR: self.addr}, now, "registered")

    def _datetime(self, now: float) -> IEMap:
        """DATETIME from the injected clock (``now + epoch_offset`` is Unix time), if sane."""
        when = _dt.datetime.fromtimestamp(now + self._opts.epoch_offset, _dt.timezone.utc)
        return {IE.DATETIME: datetime_value(when)} if 2000 <= when.year < 2127 else {}

    def _authenticated(self, peer: Peer, ies: IEMap, now: float) -> bool:
        """True when the peer needs no secret or proved it; sends REGAUTH/REGREJ otherwise."""
        if peer.secret is None:
            return True
        result = ies.get(IE.MD5_RESULT)
        if self._challenge is not None and isinstance(result, str):
            if auth.md5_matches(self._challenge, peer.secret, result):
                return True
            self._reply(Iax.REGREJ, {IE.CAUSE: "Registration Refused"}, now, "wrong secret")
            return False
        if self._challenge is not None:
            self._reply(Iax.REGREJ, {IE.CAUSE: "No authority found"}, now, "no MD5 result")
            return False
        self._challenge = auth.new_challenge(self._rng)
        self.send(FrameType.IAX, Iax.REGAUTH, encode_ies({
            IE.AUTHMETHODS: int(AuthMethod.MD5), IE.CHALLENGE: self._challenge,
            IE.USERNAME: peer.name}), now)
        return False

    def _reply(self, sub: Iax, ies: IEMap, now: float, outcome: str) -> None:
        self.outcome = outcome
        self._closing = True
        self.send(FrameType.IAX, sub, encode_ies(ies), now)

    def on_timer(self, now: float) -> None:
        if not self.resend_due(now) or now >= self._give_up_at:
            self._closing = True
            self.abandon()

    def next_deadline(self) -> float | None:
        pending = self.retransmit_deadline()
        return self._give_up_at if pending is None else min(pending, self._give_up_at)
