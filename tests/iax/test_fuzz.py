"""Hostile input: mutated valid datagrams thrown at an endpoint carrying a real call.

The corpus is every datagram of a real session (registration, NEW with call token and MD5,
accept, ring, answer, voice, hang-up).  A seeded mutator flips bits, rewrites bytes,
truncates, extends, splices and retargets headers at live call numbers.  The fuzzer sends
from its own address, which is also a configured peer without call tokens, so mutated NEWs
and REGREQs are admitted and drive real calls through their state table.  Nothing may raise,
the endpoint's internal error count stays zero, and the bystander call between two other
endpoints keeps carrying voice both ways and ends normally.
"""

from __future__ import annotations

import random
import struct

import pytest

from iax.events import CallEnded, EndReason, IncomingCall
from iax.frames import FrameType, FullFrame, Iax, encode
from iax.ies import IE, encode_ies
from iax.options import EndpointOptions, Peer
from tests.iax.pair import A_ADDR, B_ADDR, Net, add_raw
from tests.iax.test_calls import establish, talk

F_ADDR = ("10.0.0.66", 4569)


def _session_corpus() -> list[bytes]:
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 1)
    b = net.add(B_ADDR, EndpointOptions(peers=(Peer("alice", secret="pw"),)), 2)
    a.register(B_ADDR, "alice", "pw", now=0.0)
    call = a.place_call(B_ADDR, "5551234", calling_number="1", username="alice", secret="pw",
                        format=0x8, now=0.0)
    call_b = establish(net, a, b, call)
    talk(net, a, b, call, call_b, 5, 1.0)
    b.hang_up(call_b, now=net.now)
    net.run_until(net.now + 1)
    extra = [FullFrame(9, 0, 3, 0, 0, FrameType.IAX, Iax.NEW, encode_ies(
                 {IE.VERSION: 2, IE.CALLED_NUMBER: "1", IE.FORMAT: 8, IE.CAPABILITY: 12})),
             FullFrame(9, 0, 3, 0, 0, FrameType.IAX, Iax.REGREQ, encode_ies(
                 {IE.USERNAME: "fuzzer", IE.REFRESH: 60}))]
    return [d for _, _, _, d in net.sent] + [encode(f) for f in extra] * 20


def _mutate(rng: random.Random, corpus: list[bytes], targets: list[tuple[int, int]]) -> bytes:
    d = bytearray(rng.choice(corpus))
    if targets and len(d) >= 4 and rng.random() < 0.5:  # speak as the peer of a live call
        ours, theirs = rng.choice(targets)
        if d[0] & 0x80 and len(d) >= 12:
            struct.pack_into("!HH", d, 0, 0x8000 | theirs, ours | (d[2] & 0x80) << 8)
        else:
            struct.pack_into("!H", d, 0, theirs)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and d:
            d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
        elif op == 1 and d:
            d[rng.randrange(len(d))] = rng.randrange(256)
        elif op == 2:
            del d[rng.randrange(len(d) + 1):]
        elif op == 3:
            d += rng.randbytes(rng.randrange(1, 24))
        elif op == 4:
            d = bytearray(rng.randbytes(rng.randrange(0, 48)))
        elif op == 5 and len(d) >= 12 and targets:  # aim a full frame at a live call
            struct.pack_into("!H", d, 2, rng.choice(targets)[0] | (d[2] & 0x80) << 8)
        elif op == 6 and len(d) >= 12:  # any command, any sequence numbers
            d[8], d[9] = rng.randrange(256), rng.randrange(256)
            d[10], d[11] = rng.choice((2, 4, 6, 6, 6)), rng.randrange(0x30)
        elif op == 7:
            other = rng.choice(corpus)
            cut = rng.randrange(len(d) + 1)
            d = d[:cut] + other[rng.randrange(len(other) + 1):]
    return bytes(d)


def _fuzz(count: int, seed: int) -> None:
    corpus = _session_corpus()
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 1)
    b = net.add(B_ADDR, EndpointOptions(peers=(
        Peer("alice", secret="pw", address=A_ADDR),
        Peer("fuzzer", secret=None, address=F_ADDR, calltoken_required=False)),
        accept_unknown=True, max_calls=512), 2)
    fuzzer = add_raw(net, F_ADDR)
    call_a = a.place_call(B_ADDR, "5551234", username="alice", secret="pw", now=0.0)
    call_b = establish(net, a, b, call_a)
    rng = random.Random(seed)
    t = net.now
    for n in range(count):
        if n % 500 == 0:
            net.run_until(t)
            fuzzer.inbox.clear()
            for ev in net.events[B_ADDR]:  # let admitted fuzz calls progress now and then
                if isinstance(ev, IncomingCall) and rng.random() < 0.5:
                    b.answer(ev.call, now=t)
            net.events[B_ADDR] = [e for e in net.events[B_ADDR]
                                  if not isinstance(e, IncomingCall)]
            targets = b.dialogs_with(F_ADDR)
        t += 0.001
        b.receive_datagram(_mutate(rng, corpus, targets), F_ADDR, t)
    net.run_until(t + 0.1)
    assert b.stats.internal_errors == 0
    assert b.stats.datagrams_in >= count
    # the bystander call is intact: voice both ways, then a normal hang-up
    heard_a, heard_b = talk(net, a, b, call_a, call_b, 30, net.now + 0.02)
    assert heard_b[:30] == [bytes([k % 251]) * 160 for k in range(30)]
    assert heard_a[:30] == [bytes([(k + 100) % 251]) * 160 for k in range(30)]
    assert not [e for e in net.events[A_ADDR] if isinstance(e, CallEnded)]
    a.hang_up(call_a, now=net.now)
    net.run_until(net.now + 1)
    assert [e.reason for e in net.events[A_ADDR] if isinstance(e, CallEnded)] == [
        EndReason.LOCAL_HANGUP]


def test_fuzz_20k_datagrams() -> None:
    _fuzz(20_000, seed=5)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzz_a_million_datagrams() -> None:
    _fuzz(1_000_000, seed=6)
