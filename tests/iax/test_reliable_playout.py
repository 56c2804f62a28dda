"""Sequence numbers, timestamps across wrap-around, the playout buffer, the call table."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from iax.call import LIVE, TRANSITIONS, Call, CallState, Input
from iax.events import CallEnded, IncomingCall
from iax.frames import FrameType, FullFrame, Iax
from iax.playout import PlayoutBuffer
from iax.reliable import Arrival, Reliable, Resend, RetryPolicy, ts_diff, unwrap16
from tests.iax.pair import A_ADDR, B_ADDR
from tests.iax.test_calls import make_pair


@given(st.integers(0, 0xFFFFFFFF), st.integers(-0x7FFF, 0x7FFF))
def test_unwrap16_recovers_any_timestamp_near_the_last(last: int, delta: int) -> None:
    true = (last + delta) & 0xFFFFFFFF
    assert unwrap16(last, true & 0xFFFF) == true
    assert ts_diff(true, last) == delta


def test_unwrap16_across_the_32_bit_wrap() -> None:
    assert unwrap16(0xFFFFFFF0, 0x0004) == 0x00000004
    assert unwrap16(0x00000004, 0xFFF0) == 0xFFFFFFF0
    assert ts_diff(0x4, 0xFFFFFFF0) == 20


def _frame(oseq: int, sub: Iax = Iax.PING) -> FullFrame:
    return FullFrame(1, 2, 0, oseq, 0, FrameType.IAX, sub)


def test_sequence_classification_wraps_at_256() -> None:
    rel = Reliable(RetryPolicy())
    for n in range(300):
        assert rel.classify(_frame(n & 0xFF)) is Arrival.IN_ORDER
    assert rel.iseqno == 300 & 0xFF
    assert rel.classify(_frame(299 & 0xFF)) is Arrival.DUPLICATE
    assert rel.classify(_frame(301 & 0xFF)) is Arrival.AHEAD
    assert rel.classify(_frame(7, Iax.ACK)) is Arrival.UNSEQUENCED
    assert rel.iseqno == 300 & 0xFF


def test_retransmission_backoff_and_acknowledgement() -> None:
    rel = Reliable(RetryPolicy(initial=0.1, maximum=0.4, max_retries=3))
    for n in range(3):
        rel.track(rel.take_oseqno(True), bytes([0x80, 1, 0, 2]) + bytes(8) + bytes([n]), 0.0)
    assert rel.next_deadline() == 0.1
    resent = rel.due(0.1)
    assert len(resent) == 3 and all(d[2] & 0x80 for d in resent)  # R bit set
    assert rel.next_deadline() == 0.1 + 0.2
    rel.acknowledge_below(2)  # frames 0 and 1 acknowledged implicitly
    assert rel.unacked == 1
    rel.acknowledge_below(200)  # outside the window: ignored
    assert rel.unacked == 1
    assert rel.due(0.31) and rel.due(0.75) and rel.due(1.2) is Resend.FAILED


def test_playout_reorders_drops_duplicates_and_late_frames_and_reports_gaps() -> None:
    buf = PlayoutBuffer(delay_slots=2)
    base = 0xFFFFFFC4  # 60 ms before the 32-bit wrap
    order = [0, 2, 1, 1, 4, 5]
    for k in order:
        buf.put((base + 20 * k) & 0xFFFFFFFF, bytes([k]))
    assert buf.pop() is None and buf.pop() is None  # the fixed delay
    slots = [buf.pop() for _ in range(6)]
    assert [s.payload for s in slots] == [b"\0", b"\1", b"\2", None, b"\4", b"\5"]
    assert [s.timestamp for s in slots][3:5] == [(base + 60) & 0xFFFFFFFF, 0x14]
    buf.put(base + 20, b"late")
    assert (buf.missing, buf.duplicates, buf.late, buf.played) == (1, 1, 1, 5)


def test_every_table_action_exists_and_every_live_state_can_hang_up() -> None:
    for (state, inp), (nxt, action) in TRANSITIONS.items():
        assert callable(getattr(Call, action)), action
    for state in LIVE:
        assert (state, Input.CMD_HANGUP) in TRANSITIONS
        assert (state, Input.RETRY_LIMIT) in TRANSITIONS
    assert not any(s is CallState.DONE for s, _ in TRANSITIONS)


OPS = st.lists(st.tuples(st.sampled_from(
    ["accept", "ring", "answer", "hangup_a", "hangup_b", "voice", "wait", "lose", "dup",
     "heal"]), st.integers(0, 5)), max_size=25)


@settings(max_examples=60, deadline=None)
@given(OPS, st.booleans(), st.booleans())
def test_any_sequence_of_commands_and_network_faults_ends_cleanly(ops, token, secret) -> None:
    """Every (state, input) the API and the network can produce: nothing raises, every call
    ends on both sides, and each side reports at most one end per call."""
    net, a, b, call_a = make_pair(token=token, secret="pw" if secret else None)
    rng = random.Random(len(ops))
    mode = {"lose": 0.0, "dup": 0.0}

    def hook(src, dst, data):
        if rng.random() < mode["lose"]:
            return []
        return [(0.0, data)] * (2 if rng.random() < mode["dup"] else 1)

    net.hook = hook
    for op, n in ops:
        offers = [e.call for e in net.events[B_ADDR] if isinstance(e, IncomingCall)]
        call_b = offers[-1] if offers else 0
        if op == "accept":
            b.accept(call_b, now=net.now)
        elif op == "ring":
            b.ring(call_b, now=net.now)
        elif op == "answer":
            b.answer(call_b, now=net.now)
        elif op == "hangup_a":
            a.hang_up(call_a, now=net.now)
        elif op == "hangup_b":
            b.hang_up(call_b, now=net.now)
        elif op == "voice":
            for k in range(n * 5):
                a.send_voice(call_a, b"\xd5" * 160, net.now)
                b.send_voice(call_b, b"\xd5" * 160, net.now)
                net.run_until(net.now + 0.02)
        elif op == "wait":
            net.run_until(net.now + 0.05 * 4 ** n)
        elif op in ("lose", "dup"):
            mode[op] = n / 10
        else:
            mode.update(lose=0.0, dup=0.0)
    mode.update(lose=0.0, dup=0.0)
    a.hang_up(call_a, now=net.now)
    net.run_until(net.now + 120)
    assert a.active_calls == 0 and b.active_calls == 0
    for addr, ep in ((A_ADDR, a), (B_ADDR, b)):
        ends = [e.call for e in net.events[addr] if isinstance(e, CallEnded)]
        assert len(ends) == len(set(ends))
        assert ep.stats.internal_errors == 0
