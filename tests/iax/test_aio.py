"""The asyncio adapter over real UDP on 127.0.0.1 (no root needed): a call, voice both ways."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from iax.aio import open_endpoint
from iax.events import CallAnswered, CallEnded, IncomingCall, VoiceReceived
from iax.options import EndpointOptions, Peer

pytestmark = pytest.mark.timeout(30)


async def _call_over_udp() -> tuple[list, list]:
    got_a: list = []
    got_b: list = []
    a = await open_endpoint(("127.0.0.1", 0), EndpointOptions(), random.Random(1), got_a.append)
    b = await open_endpoint(("127.0.0.1", 0), EndpointOptions(peers=(Peer("alice", "pw"),)),
                            random.Random(2), got_b.append)
    try:
        ea, eb = a.endpoint, b.endpoint
        call = ea.place_call(b.local_address, "42", username="alice", secret="pw", now=a.now())
        a.transmit()
        for _ in range(500):  # up to 5 s on a loaded machine
            await asyncio.sleep(0.01)
            offers = [e for e in got_b if isinstance(e, IncomingCall)]
            if offers:
                break
        assert b.act("answer", offers[0].call)
        for _ in range(500):  # up to 5 s on a loaded machine
            await asyncio.sleep(0.01)
            if any(isinstance(e, CallAnswered) for e in got_a):
                break
        start = a.now()
        for k in range(25):
            ea.send_voice(call, bytes([k]) * 160, a.now())
            eb.send_voice(offers[0].call, bytes([100 + k]) * 160, b.now())
            a.transmit()
            b.transmit()
            await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - a.now()))
        assert a.act("hang_up", call, "Normal Clearing")
        await asyncio.sleep(0.2)
        return got_a, got_b
    finally:
        a.close()
        b.close()


def test_a_call_through_the_asyncio_adapter() -> None:
    got_a, got_b = asyncio.run(_call_over_udp())
    voice_a = [e.payload[0] for e in got_a if isinstance(e, VoiceReceived)]
    voice_b = [e.payload[0] for e in got_b if isinstance(e, VoiceReceived)]
    assert voice_b == list(range(25)) and voice_a == list(range(100, 125))
    assert [type(e) for e in got_b if isinstance(e, CallEnded)] == [CallEnded]


async def _drain_backlog(n: int) -> tuple[int, int, int, int]:
    """`n` datagrams queue in the socket while the loop is not running its reader
    (the media clock's situation after a stall); one drain() reads them all."""
    a = await open_endpoint(("127.0.0.1", 0), EndpointOptions(), random.Random(3))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for k in range(n):  # not IAX2: the endpoint counts and drops each one
            sender.sendto(b"\x00junk" + k.to_bytes(4, "big"), a.local_address)
        # loopback UDP is queued at sendto(); no await here, so the loop's reader never ran
        before = a.endpoint.stats.datagrams_in
        read = a.drain()
        after = a.endpoint.stats.datagrams_in
        return before, read, after, a.drain()
    finally:
        sender.close()
        a.close()


def test_drain_reads_every_waiting_datagram() -> None:
    # more than the 1000 the readable callback takes per wake-up
    before, read, after, again = asyncio.run(_drain_backlog(1500))
    assert (before, read, after, again) == (0, 1500, 1500, 0)
