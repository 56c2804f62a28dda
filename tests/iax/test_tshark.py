"""tshark's IAX2 dissector decodes every packet we send, with no malformed-packet mark.

Two endpoints of ours talk over real UDP on 127.0.0.1 (the asyncio adapter): registration
with call token and MD5, a call with call token and MD5, ringing, answer, voice both ways
across a full-frame/mini-frame mix, PING, hang-up.  dumpcap captures it; tshark decodes it
with ``-d udp.port==X,iax2`` and every packet must be IAX2 without an error.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import pytest

from iax.aio import IaxProtocol, open_endpoint
from iax.events import CallAnswered, CallEnded, IncomingCall, Registered
from iax.options import EndpointOptions, Peer
from tests.support import tshark
from tests.support.iaxmodem import free_udp_port

pytestmark = [pytest.mark.servers, pytest.mark.timeout(120)]


async def _wait_for(proto: IaxProtocol, kind: type, timeout: float = 10.0):
    async def loop():
        while True:
            ev = await proto.events.get()
            if isinstance(ev, kind):
                return ev
    return await asyncio.wait_for(loop(), timeout)


async def _session(port_a: int, port_b: int) -> tuple[int, int]:
    a = await open_endpoint(("127.0.0.1", port_a),
                            EndpointOptions(ping_interval=0.3), random.Random(1))
    b = await open_endpoint(("127.0.0.1", port_b), EndpointOptions(
        peers=(Peer("alice", secret="pw"),), ping_interval=0.3), random.Random(2))
    try:
        ea, eb, server = a.endpoint, b.endpoint, ("127.0.0.1", port_b)
        ea.register(server, "alice", "pw", refresh=60, now=a.now())
        a.transmit()
        await _wait_for(a, Registered)
        call = ea.place_call(server, "5551234", calling_number="100", calling_name="Ann",
                             username="alice", secret="pw", now=a.now())
        a.transmit()
        offer = await _wait_for(b, IncomingCall)
        eb.accept(offer.call, now=b.now())
        eb.ring(offer.call, now=b.now())
        eb.answer(offer.call, now=b.now())
        b.transmit()
        await _wait_for(a, CallAnswered)
        start = a.now()
        for k in range(50):
            ea.send_voice(call, bytes([0xD5]) * 160, a.now())
            eb.send_voice(offer.call, bytes([0x55]) * 160, b.now())
            a.transmit()
            b.transmit()
            await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - a.now()))
        ea.hang_up(call, now=a.now())
        a.transmit()
        await _wait_for(b, CallEnded)
        await asyncio.sleep(0.3)
        return ea.stats.datagrams_in, eb.stats.datagrams_in
    finally:
        a.close()
        b.close()


def test_tshark_decodes_every_packet_as_iax2_without_errors(tmp_path: Path) -> None:
    tshark.require()
    port_a, port_b, probe = free_udp_port(), free_udp_port(), free_udp_port()
    cap = tshark.Capture(tmp_path / "iax.pcapng", f"udp port {port_a} or udp port {port_b}",
                         probe)
    try:
        received = asyncio.run(_session(port_a, port_b))
    finally:
        cap.stop()
    ours = ("-d", f"udp.port=={port_a},iax2", "-Y", f"udp.port=={port_a}")
    verbose = cap.decode(*ours, "-V")
    assert "[Malformed Packet" not in verbose
    assert "Expert Info (Error" not in verbose
    summary = cap.decode(*ours, "-T", "fields", "-e", "frame.protocols", "-e",
                         "iax2.packet_type", "-e", "iax2.iax.subclass", "-e",
                         "iax2.control.subclass")
    rows = [line.split("\t") for line in summary.splitlines() if line]
    assert len(rows) == sum(received)
    assert all(re.search(r":iax2(:data)?$", r[0]) for r in rows), {r[0] for r in rows}
    text = "\n".join(verbose.splitlines())
    for label in ("NEW", "CALLTOKEN", "AUTHREQ", "AUTHREP", "ACCEPT", "ACK", "REGREQ",
                  "REGAUTH", "REGACK", "PING", "PONG", "HANGUP"):
        assert re.search(rf"IAX subclass: {label} \(", text), label
    for label in ("Ringing", "Answer"):
        assert re.search(rf"Control subclass: {label}", text, re.I), label
    assert "Packet type: Mini voice packet" in text
    assert re.search(r"Packet type: Full packet", text)
