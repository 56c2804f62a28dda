"""Every (state, input) pair of the call table, driven through the public API and the wire.

A hand-driven peer (`RawPeer`) brings one of our calls into each state, outgoing or
incoming, then applies one input: a frame from the peer, an API command, or time passing
(for the time-outs and the retry limit).  The call must end up where `TRANSITIONS` says,
or stay put where the table has no entry, and nothing may raise.
"""

from __future__ import annotations

import itertools

import pytest

from iax import auth
from iax.call import TRANSITIONS, CallState, Input
from iax.frames import Control, FrameType, FullFrame, Iax
from iax.ies import IE, AuthMethod, decode_ies, encode_ies
from iax.options import EndpointOptions, Peer
from iax.reliable import RetryPolicy
from tests.iax.pair import B_ADDR, Net, add_raw

R_ADDR = ("10.0.0.5", 4569)
THEIRS = 500
S, I = CallState, Input
SETUPS = [("out", S.NEW_SENT), ("out", S.AUTH_SENT), ("out", S.ACCEPTED), ("out", S.UP),
          ("out", S.HANGING_UP), ("in", S.AUTH_REQUESTED), ("in", S.OFFERED),
          ("in", S.ACCEPTED), ("in", S.UP), ("in", S.HANGING_UP)]
TIMERS = {I.UNANSWERED: dict(unanswered_timeout=1.0),
          I.SILENT: dict(silence_timeout=1.0),
          I.RETRY_LIMIT: dict(retry=RetryPolicy(0.5, 0.5, 1), ping_interval=0.2)}


class Scenario:
    def __init__(self, direction: str, inp: Input) -> None:
        kw = dict(unanswered_timeout=100.0, silence_timeout=100.0, ping_interval=1000.0,
                  retry=RetryPolicy(0.5, 0.5, 1000))
        kw.update(TIMERS.get(inp, {}))
        self.net = Net(delay=0.001)
        self.ep = self.net.add(B_ADDR, EndpointOptions(peers=(
            Peer("sec", "pw", calltoken_required=False),
            Peer("open", calltoken_required=False)), **kw), 3)
        self.raw = add_raw(self.net, R_ADDR)
        self.oseq = 0
        self.call = 0
        self.ours = 0
        self.direction = direction

    def send(self, ftype: int, sub: int, ies: dict | None = None, sequenced: bool = True,
             src: int = THEIRS) -> None:
        got = [f for _, _, f in self.raw.inbox if isinstance(f, FullFrame)]
        iseq = max([(f.oseqno + f.sequenced) & 0xFF for f in got], default=0)
        self.raw.send(FullFrame(src, self.ours, 10 + self.oseq, self.oseq, iseq, ftype, sub,
                                encode_ies(ies or {})), B_ADDR)
        self.oseq += sequenced
        self.settle()

    def settle(self) -> None:
        self.net.run_until(self.net.now + 0.01)
        if not self.ours:
            mine = [f for _, _, f in self.raw.inbox if isinstance(f, FullFrame)]
            self.ours = mine[0].src_call if mine else 0

    def state(self) -> CallState:
        return self.ep.call_state(self.call) or CallState.DONE

    def reach(self, target: CallState) -> None:
        ep, now = self.ep, lambda: self.net.now
        if self.direction == "out":
            self.call = ep.place_call(R_ADDR, "1", username="u", secret="pw", now=now())
            self.settle()
            if target is S.AUTH_SENT:
                self.send(FrameType.IAX, Iax.AUTHREQ, {IE.AUTHMETHODS: int(AuthMethod.MD5),
                                                       IE.CHALLENGE: "9", IE.USERNAME: "u"})
            if target in (S.ACCEPTED, S.UP, S.HANGING_UP):
                self.send(FrameType.IAX, Iax.ACCEPT, {IE.FORMAT: 8})
            if target in (S.UP, S.HANGING_UP):
                self.send(FrameType.CONTROL, Control.ANSWER)
        else:
            user = "sec" if target is S.AUTH_REQUESTED else "open"
            self.send(FrameType.IAX, Iax.NEW, {IE.VERSION: 2, IE.USERNAME: user,
                                                IE.FORMAT: 8})
            self.call = self.ours
            if target in (S.ACCEPTED, S.UP, S.HANGING_UP):
                ep.accept(self.call, now=now())
            if target in (S.UP, S.HANGING_UP):
                ep.answer(self.call, now=now())
        if target is S.HANGING_UP:
            ep.hang_up(self.call, now=now())
        self.settle()
        assert self.state() is target

    def apply(self, inp: Input) -> None:
        ep, now = self.ep, self.net.now
        challenge = next((decode_ies(f.payload).get(IE.CHALLENGE, "") for f in
                          self.raw.frames(FrameType.IAX, Iax.AUTHREQ)), "")
        frames = {
            I.CALLTOKEN: (FrameType.IAX, Iax.CALLTOKEN, {IE.CALLTOKEN: b"1?ab"}),
            I.AUTHREQ: (FrameType.IAX, Iax.AUTHREQ, {IE.AUTHMETHODS: 2, IE.CHALLENGE: "7",
                                                     IE.USERNAME: "u"}),
            I.AUTHREP: (FrameType.IAX, Iax.AUTHREP,
                        {IE.MD5_RESULT: auth.md5_response(challenge, "pw")}),
            I.ACCEPT: (FrameType.IAX, Iax.ACCEPT, {IE.FORMAT: 8}),
            I.REJECT: (FrameType.IAX, Iax.REJECT, {IE.CAUSE: "no"}),
            I.HANGUP: (FrameType.IAX, Iax.HANGUP, {IE.CAUSE: "bye", IE.CAUSECODE: 16}),
            I.RINGING: (FrameType.CONTROL, Control.RINGING, None),
            I.PROCEEDING: (FrameType.CONTROL, Control.PROCEEDING, None),
            I.ANSWER: (FrameType.CONTROL, Control.ANSWER, None),
        }
        if inp in frames:
            ftype, sub, ies = frames[inp]
            self.send(ftype, sub, ies, src=1 if inp is I.CALLTOKEN else THEIRS)
        elif inp in (I.INVAL, I.ALL_ACKED):
            self.send(FrameType.IAX, Iax.INVAL if inp is I.INVAL else Iax.ACK,
                      sequenced=False)
        elif inp is I.CMD_ACCEPT:
            ep.accept(self.call, now=now)
        elif inp is I.CMD_RING:
            ep.ring(self.call, now=now)
        elif inp is I.CMD_ANSWER:
            ep.answer(self.call, now=now)
        elif inp is I.CMD_HANGUP:
            ep.hang_up(self.call, now=now)
        else:  # time-outs and the retry limit
            self.net.run_until(now + 3.0)
        self.settle()


@pytest.mark.parametrize(("setup", "inp"), list(itertools.product(SETUPS, list(Input))),
                         ids=lambda v: f"{v[0]}-{v[1].name}" if isinstance(v, tuple) else v.name)
def test_every_state_and_input(setup, inp) -> None:
    direction, state = setup
    sc = Scenario(direction, inp)
    sc.reach(state)
    sc.apply(inp)
    entry = TRANSITIONS.get((state, inp))
    expected = entry[0] if entry else state
    actual = sc.state()
    if expected is S.HANGING_UP and actual is S.DONE:
        expected = S.DONE  # nothing left to wait for (a NEW not yet answered)
    if inp is I.ALL_ACKED and state is S.HANGING_UP:
        expected = S.DONE
    assert actual is expected, (state, inp, actual)
    assert sc.ep.stats.internal_errors == 0
