"""Two endpoints of ours over an in-memory network with injected time."""

from __future__ import annotations

import pytest

from iax.events import (CallAccepted, CallAnswered, CallEnded, CallRinging, EndReason,
                        IncomingCall, VoiceReceived)
from iax.frames import Control, Format, FrameType, FullFrame, Iax, MiniFrame, decode
from iax.ies import IE, decode_ies, encode_ies
from iax.options import EndpointOptions, Peer
from iax.playout import PlayoutBuffer
from tests.iax.pair import A_ADDR, B_ADDR, Net, add_raw


def make_pair(*, secret: str | None = None, token: bool = True, caller_secret=None,
              a_opts: EndpointOptions | None = None, b_kw: dict | None = None):
    net = Net()
    a = net.add(A_ADDR, a_opts or EndpointOptions(), 1)
    peer = Peer("alice", secret=secret, calltoken_required=token)
    b = net.add(B_ADDR, EndpointOptions(peers=(peer,), **(b_kw or {})), 2)
    call = a.place_call(B_ADDR, "5551234", calling_number="100", calling_name="A",
                        username="alice", secret=caller_secret or secret, now=0.0)
    return net, a, b, call


def establish(net: Net, a, b, call_a: int, until: float = 1.0) -> int:
    net.run_until(net.now + 0.5)
    offer = net.take(B_ADDR, IncomingCall)[-1]
    assert b.accept(offer.call, now=net.now)
    assert b.ring(offer.call, now=net.now)
    assert b.answer(offer.call, now=net.now)
    net.run_until(until)
    kinds = [type(e) for e in net.events[A_ADDR]
             if isinstance(e, (CallAccepted, CallRinging, CallAnswered))]
    assert kinds[:3] == [CallAccepted, CallRinging, CallAnswered]
    return offer.call


def talk(net: Net, a, b, call_a: int, call_b: int, frames: int, t0: float) -> tuple[list, list]:
    """Voice both ways for ``frames`` ticks; each side plays what it hears out of a buffer."""
    buf_a, buf_b = PlayoutBuffer(delay_slots=3), PlayoutBuffer(delay_slots=3)
    out_a, out_b = [], []
    seen = {A_ADDR: len(net.events[A_ADDR]), B_ADDR: len(net.events[B_ADDR])}
    mine = {A_ADDR: call_a, B_ADDR: call_b}
    for k in range(frames + 6):
        t = t0 + k * 0.02
        net.run_until(t)
        if k < frames:
            a.send_voice(call_a, bytes([k % 251]) * 160, t)
            b.send_voice(call_b, bytes([(k + 100) % 251]) * 160, t)
        for addr, buf, out in ((A_ADDR, buf_a, out_a), (B_ADDR, buf_b, out_b)):
            for ev in net.events[addr][seen[addr]:]:
                if isinstance(ev, VoiceReceived) and ev.call == mine[addr]:
                    buf.put(ev.timestamp, ev.payload)
            seen[addr] = len(net.events[addr])
            slot = buf.pop()
            if slot is not None:
                out.append(slot.payload)
    return out_a, out_b


@pytest.mark.parametrize("secret", [None, "s3cret"])
@pytest.mark.parametrize("token", [True, False])
def test_two_endpoints_call_each_other_with_voice_both_ways(secret, token) -> None:
    net, a, b, call_a = make_pair(secret=secret, token=token)
    call_b = establish(net, a, b, call_a)
    assert b.stats.tokens_issued == (1 if token else 0)
    offer = net.take(B_ADDR, IncomingCall)[0]
    assert (offer.peer, offer.called_number, offer.calling_number, offer.format) == (
        "alice", "5551234", "100", Format.ALAW)
    heard_a, heard_b = talk(net, a, b, call_a, call_b, 100, 1.0)
    assert heard_b[:100] == [bytes([k % 251]) * 160 for k in range(100)]
    assert heard_a[:100] == [bytes([(k + 100) % 251]) * 160 for k in range(100)]
    a.hang_up(call_a, now=net.now)
    net.run_until(net.now + 1)
    assert net.take(B_ADDR, CallEnded)[0].reason is EndReason.HANGUP
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.LOCAL_HANGUP
    assert a.active_calls == b.active_calls == 0
    assert a.stats.internal_errors == b.stats.internal_errors == 0


def test_new_carries_exactly_one_format_bit_and_voice_is_mini_after_the_first() -> None:
    net, a, b, call_a = make_pair(token=False)
    call_b = establish(net, a, b, call_a)
    new = decode(next(d for _, src, _, d in net.sent if src == A_ADDR))
    ies = decode_ies(new.payload)
    assert new.is_iax(Iax.NEW) and ies[IE.FORMAT] == Format.ALAW and ies[IE.VERSION] == 2
    assert bin(ies[IE.FORMAT]).count("1") == 1 and ies[IE.CALLTOKEN] == b""
    start = len(net.sent)
    talk(net, a, b, call_a, call_b, 10, 1.0)
    voice = [decode(d) for _, src, _, d in net.sent[start:] if src == A_ADDR]
    voice = [f for f in voice if isinstance(f, MiniFrame) or f.frametype == FrameType.VOICE]
    assert isinstance(voice[0], FullFrame) and all(isinstance(f, MiniFrame) for f in voice[1:])
    stamps = [f.timestamp & 0xFFFF for f in voice]
    assert [y - x for x, y in zip(stamps, stamps[1:])] == [20] * 9


def test_a_lost_new_is_resent_at_its_deadline() -> None:
    net, a, b, call_a = make_pair(token=False)
    lost = []
    net.hook = lambda s, d, data: [] if not lost and not lost.append(data) else [(0.0, data)]
    net.run_until(1.0)
    news = [(t, decode(d)) for t, src, _, d in net.sent if src == A_ADDR
            and decode(d).is_iax(Iax.NEW)]
    assert [t for t, _ in news] == [0.0, 0.25]
    assert news[1][1].retransmitted and not news[0][1].retransmitted
    assert len(net.take(B_ADDR, IncomingCall)) == 1


def test_the_retry_limit_tears_the_call_down() -> None:
    net, a, b, call_a = make_pair(token=False)
    net.hook = lambda s, d, data: []  # nobody answers
    net.run_until(30)
    sends = [t for t, src, _, _ in net.sent if src == A_ADDR]
    assert sends == [0.0, 0.25, 0.75, 1.75, 3.75, 7.75]  # doubling, capped at 4 s
    assert net.take(A_ADDR, CallEnded) == [CallEnded(call_a, EndReason.RETRY_LIMIT)]
    assert net.events[A_ADDR][-1].call == call_a and a.active_calls == 0


def test_an_established_call_whose_peer_vanishes_ends_after_the_retry_limit() -> None:
    net, a, b, call_a = make_pair(token=False)
    establish(net, a, b, call_a)
    net.hook = lambda s, d, data: []
    net.run_until(40)
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.RETRY_LIMIT
    assert a.active_calls == 0


def test_reordered_and_duplicated_frames_are_delivered_once_in_order() -> None:
    net, a, b, call_a = make_pair(token=False)
    net.run_until(0.5)
    offer = net.take(B_ADDR, IncomingCall)[0]

    def hook(src, dst, data):
        f = decode(data)
        if src == B_ADDR and isinstance(f, FullFrame) and f.frametype == FrameType.CONTROL \
                and f.subclass == Control.RINGING and not f.retransmitted:
            return [(0.05, data), (0.06, data)]  # late and twice: ANSWER overtakes it
        return [(0.0, data), (0.001, data)] if src == B_ADDR else [(0.0, data)]

    net.hook = hook
    b.accept(offer.call, now=net.now)
    b.ring(offer.call, now=net.now)
    b.answer(offer.call, now=net.now)
    net.run_until(2.0)
    kinds = [type(e) for e in net.events[A_ADDR]]
    assert kinds == [CallAccepted, CallRinging, CallAnswered]
    vnaks = [d for _, src, _, d in net.sent if src == A_ADDR and decode(d).is_iax(Iax.VNAK)]
    assert vnaks  # the gap was noticed and filled by retransmission


def test_reordered_voice_is_put_back_in_order_by_the_playout_buffer() -> None:
    net, a, b, call_a = make_pair(token=False)
    call_b = establish(net, a, b, call_a)
    swap = {"n": 0}

    def hook(src, dst, data):
        if src == A_ADDR and isinstance(decode(data), MiniFrame):
            swap["n"] += 1
            if swap["n"] % 5 == 0:
                return [(0.035, data)]  # arrives after the next one
        return [(0.0, data)]

    net.hook = hook
    _, heard_b = talk(net, a, b, call_a, call_b, 50, 1.0)
    assert heard_b[:50] == [bytes([k % 251]) * 160 for k in range(50)]


def test_a_call_past_65_seconds_keeps_mini_timestamps_continuous() -> None:
    net, a, b, call_a = make_pair(token=False)
    call_b = establish(net, a, b, call_a)
    start = len(net.sent)
    t, first = 1.0, None
    for k in range(3400):  # 68 s of voice from A: the 16-bit timestamp wraps
        net.run_until(t)
        a.send_voice(call_a, b"\xd5" * 160, t)
        t += 0.02
    net.run_until(t + 0.1)
    stamps = [e.timestamp for e in net.take(B_ADDR, VoiceReceived)]
    first = stamps[0]
    assert stamps == [first + 20 * k for k in range(3400)] and stamps[-1] > 0x10000
    fulls = [decode(d) for _, src, _, d in net.sent[start:] if src == A_ADDR]
    fulls = [f for f in fulls if isinstance(f, FullFrame) and f.frametype == FrameType.VOICE]
    assert len(fulls) == 2 and fulls[1].timestamp >> 16 == 1  # one at start, one at the wrap
    assert net.take(A_ADDR, CallEnded) == [] and net.take(B_ADDR, CallEnded) == []


def test_every_call_sends_a_full_frame_at_least_every_20_seconds() -> None:
    net, a, b, call_a = make_pair(token=False)
    establish(net, a, b, call_a)
    net.run_until(200)
    for addr in (A_ADDR, B_ADDR):
        times = [t for t, src, _, d in net.sent if src == addr and isinstance(decode(d), FullFrame)]
        gaps = [y - x for x, y in zip(times, times[1:])]
        assert max(gaps) <= 20.0 and times[-1] > 190
    assert a.active_calls == b.active_calls == 1


def test_an_unanswered_call_times_out() -> None:
    net, a, b, call_a = make_pair(token=False, b_kw={"unanswered_timeout": 30.0})
    net.run_until(0.5)
    offer = net.take(B_ADDR, IncomingCall)[0]
    b.accept(offer.call, now=net.now)
    net.run_until(40)
    assert net.take(B_ADDR, CallEnded)[0].reason is EndReason.UNANSWERED
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.HANGUP
    assert a.active_calls == b.active_calls == 0


def test_a_silent_peer_is_timed_out() -> None:
    opts = EndpointOptions(ping_interval=1000.0, silence_timeout=30.0)
    net, a, b, call_a = make_pair(token=False, a_opts=opts)
    establish(net, a, b, call_a)
    net.hook = lambda s, d, data: [] if s == B_ADDR else [(0.0, data)]
    net.run_until(40)
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.SILENT


def test_a_wrong_secret_is_rejected_and_never_offered() -> None:
    net, a, b, call_a = make_pair(secret="right", caller_secret="wrong")
    net.run_until(2)
    assert net.take(B_ADDR, IncomingCall) == []
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.REJECTED
    assert b.stats.ended == {"AUTH_FAILED": 1} and a.active_calls == b.active_calls == 0


def test_unknown_callers_are_refused_unless_allowed() -> None:
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 1)
    b = net.add(B_ADDR, EndpointOptions(calltoken_required=False), 2)
    call = a.place_call(B_ADDR, "1", now=0.0)
    net.run_until(2)
    assert net.take(A_ADDR, CallEnded)[0] == CallEnded(call, EndReason.REJECTED,
                                                       "No authority found", 21)
    assert b.stats.calls_refused == 1 and b.active_calls == 0


def test_hundreds_of_concurrent_calls_get_distinct_numbers_and_carry_voice() -> None:
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 11)
    b = net.add(B_ADDR, EndpointOptions(peers=(Peer("alice", calltoken_required=False),)), 12)
    calls = [a.place_call(B_ADDR, str(n), username="alice", now=0.0) for n in range(300)]
    net.run_until(0.5)
    offers = net.take(B_ADDR, IncomingCall)
    assert len(set(calls)) == 300 and len({o.call for o in offers}) == 300
    for o in offers:
        b.answer(o.call, now=net.now)
    net.run_until(1.0)
    assert len(net.take(A_ADDR, CallAnswered)) == 300
    for k in range(3):
        for c in calls:
            a.send_voice(c, bytes([k]) * 160, 1.0 + 0.02 * k)
        net.run_until(1.0 + 0.02 * (k + 1))
    heard = net.take(B_ADDR, VoiceReceived)
    assert len(heard) == 900 and {e.call for e in heard} == {o.call for o in offers}
    assert a.active_calls == b.active_calls == 300


def test_ping_gets_pong_and_lagrq_gets_lagrp_with_the_same_timestamp() -> None:
    net = Net()
    b = net.add(B_ADDR, EndpointOptions(peers=(Peer("r", calltoken_required=False),)), 2)
    raw = add_raw(net, ("10.0.0.7", 4569))
    raw.send(FullFrame(40, 0, 3, 0, 0, FrameType.IAX, Iax.NEW,
                       encode_ies({IE.USERNAME: "r", IE.FORMAT: 4})), B_ADDR)
    net.run_until(0.1)
    ours = raw.frames(FrameType.IAX, Iax.ACK)[0].src_call
    assert b.accept(net.take(B_ADDR, IncomingCall)[0].call, now=net.now)
    net.run_until(0.2)
    raw.send(FullFrame(40, ours, 1234, 1, 2, FrameType.IAX, Iax.PING), B_ADDR)
    raw.send(FullFrame(40, ours, 1300, 2, 2, FrameType.IAX, Iax.LAGRQ), B_ADDR)
    net.run_until(0.3)
    assert [f.timestamp for f in raw.frames(FrameType.IAX, Iax.PONG)] == [1234]
    assert [f.timestamp for f in raw.frames(FrameType.IAX, Iax.LAGRP)] == [1300]
    assert decode_ies(raw.frames(FrameType.IAX, Iax.ACCEPT)[0].payload)[IE.FORMAT] == 4
