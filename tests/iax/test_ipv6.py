"""IPv6: the sans-IO core with IPv6 and 4-tuple addresses, and the asyncio adapter on ``::1``
and on a dual-stack ``::`` socket (an IPv4 peer shows as its IPv4 address, not
``::ffff:a.b.c.d``); tshark decodes what we send over IPv6."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from pathlib import Path

import pytest

from iax.aio import IaxProtocol, open_endpoint, resolve
from iax.auth import CallTokens
from iax.events import (CallAnswered, CallEnded, IncomingCall, PeerRegistered, Registered,
                        VoiceReceived)
from iax.ies import IE, decode_ies, encode_ies
from iax.options import EndpointOptions, Peer, same_host, unmapped
from tests.iax.pair import Net

pytestmark = pytest.mark.timeout(60)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1)")

A6 = ("2001:db8::1", 4569, 0, 0)   # what a raw IPv6 socket reports: (host, port, flow, scope)
B6 = ("2001:db8::2", 4569, 0, 0)


# ------------------------------------------------------------------- the sans-IO core

def test_apparent_addr_carries_an_ipv6_address_as_sockaddr_in6() -> None:
    raw = encode_ies({IE.APPARENT_ADDR: ("2001:db8::5", 4569)})
    assert raw[1] == 28 and raw[2:4] == socket.AF_INET6.to_bytes(2, "little")
    assert decode_ies(raw)[IE.APPARENT_ADDR] == ("2001:db8::5", 4569)
    assert decode_ies(encode_ies({IE.APPARENT_ADDR: ("192.0.2.7", 4570)}))[IE.APPARENT_ADDR] \
        == ("192.0.2.7", 4570)


def test_mapped_ipv4_is_the_same_host_and_gets_the_same_call_token() -> None:
    assert unmapped("::ffff:192.0.2.1") == "192.0.2.1" and unmapped("::1") == "::1"
    assert unmapped("::ffff:1:2") == "::ffff:1:2"
    assert same_host("::ffff:192.0.2.1", "192.0.2.1") and not same_host("::1", "127.0.0.1")
    tokens = CallTokens(b"k")
    token = tokens.issue(("::ffff:192.0.2.1", 4569), 100.0)
    assert tokens.check(token, ("192.0.2.1", 4569), 101.0)
    assert not tokens.check(token, ("192.0.2.1", 4570), 101.0)
    assert not tokens.check(tokens.issue(("2001:db8::1", 4569), 100.0), ("2001:db8::1", 4568), 101)


def test_registration_and_a_call_with_token_and_md5_between_ipv6_4_tuples() -> None:
    net = Net()
    a = net.add(A6, EndpointOptions(), 1)
    b = net.add(B6, EndpointOptions(peers=(Peer("alice", secret="pw", address=("2001:db8::1", 0)),)), 2)
    reg = a.register(B6, "alice", "pw", refresh=60, now=0.0)
    net.run_until(1)
    assert net.take(A6, Registered) == [Registered(reg, 60)]
    assert net.take(B6, PeerRegistered) == [PeerRegistered("alice", A6, 60)]
    assert b.stats.tokens_issued == 1
    call = a.place_call(B6, "5551234", username="alice", secret="pw", now=net.now)
    net.run_until(2)
    offer = net.take(B6, IncomingCall)[-1]
    assert offer.addr == A6 and offer.peer == "alice"
    b.answer(offer.call, now=net.now)
    net.run_until(3)
    assert net.take(A6, CallAnswered)
    a.send_voice(call, b"\x55" * 160, net.now)
    net.run_until(4)
    assert [e.payload for e in net.take(B6, VoiceReceived)] == [b"\x55" * 160]
    a.hang_up(call, now=net.now)
    net.run_until(5)
    assert net.take(B6, CallEnded)


# ------------------------------------------------------------------- the asyncio adapter

async def _wait_for(proto: IaxProtocol, kind: type, timeout: float = 10.0):
    async def loop():
        while True:
            ev = await proto.events.get()
            if isinstance(ev, kind):
                return ev
    return await asyncio.wait_for(loop(), timeout)


async def _call(a: IaxProtocol, b: IaxProtocol, to: tuple[str, int], frames: int = 10) -> IncomingCall:
    """Register a to b, call b (call token, MD5), voice both ways, hang up; b's offer."""
    ea, eb = a.endpoint, b.endpoint
    ea.register(to, "alice", "pw", refresh=60, now=a.now())
    a.transmit()
    await _wait_for(a, Registered)
    call = ea.place_call(to, "5551234", username="alice", secret="pw", now=a.now())
    a.transmit()
    offer = await _wait_for(b, IncomingCall)
    b.act("answer", offer.call)
    await _wait_for(a, CallAnswered)
    start = a.now()
    for k in range(frames):
        ea.send_voice(call, bytes([0xD5]) * 160, a.now())
        eb.send_voice(offer.call, bytes([0x55]) * 160, b.now())
        a.transmit()
        b.transmit()
        await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - a.now()))
    a.act("hang_up", call)
    await _wait_for(b, CallEnded)
    return offer


def _server(peer_host: str | None = None) -> EndpointOptions:
    return EndpointOptions(peers=(Peer("alice", secret="pw",
                                       address=(peer_host, 0) if peer_host else None),),
                           ping_interval=0.3)


@needs_ipv6
def test_a_call_over_ipv6_loopback() -> None:
    async def run():
        a = await open_endpoint(("::1", 0), EndpointOptions(ping_interval=0.3), random.Random(1))
        b = await open_endpoint(("::1", 0), _server("::1"), random.Random(2))
        try:
            assert a.family == socket.AF_INET6 and a.local_address[0] == "::1"
            offer = await _call(a, b, b.local_address)
            assert offer.addr == a.local_address and offer.peer == "alice"
            assert b.endpoint.registrar.address_of("alice") == a.local_address
            return a.dropped_sends + b.dropped_sends
        finally:
            a.close()
            b.close()
    assert asyncio.run(run()) == 0


@needs_ipv6
def test_a_dual_stack_listener_takes_ipv6_and_ipv4_callers() -> None:
    async def run():
        b = await open_endpoint(("::", 0), _server(), random.Random(2))
        a6 = await open_endpoint(("::1", 0), EndpointOptions(ping_interval=0.3), random.Random(1))
        a4 = await open_endpoint(("127.0.0.1", 0), EndpointOptions(ping_interval=0.3), random.Random(3))
        try:
            assert b.dual_stack
            port = b.local_address[1]
            via6 = await _call(a6, b, ("::1", port))
            via4 = await _call(a4, b, ("127.0.0.1", port))
            return via6.addr, a6.local_address, via4.addr, a4.local_address
        finally:
            for p in (a6, a4, b):
                p.close()
    got6, a6, got4, a4 = asyncio.run(run())
    assert got6 == a6 and got6[0] == "::1"
    assert got4 == a4 and got4[0] == "127.0.0.1"   # not ::ffff:127.0.0.1


@needs_ipv6
def test_a_peer_pinned_to_an_ipv4_address_is_known_on_a_dual_stack_socket() -> None:
    async def run():
        b = await open_endpoint(("::", 0), _server("127.0.0.1"), random.Random(2))
        a = await open_endpoint(("127.0.0.1", 0), EndpointOptions(ping_interval=0.3), random.Random(3))
        try:
            return await _call(a, b, ("127.0.0.1", b.local_address[1]))
        finally:
            a.close()
            b.close()
    assert asyncio.run(run()).peer == "alice"


@needs_ipv6
def test_resolve_gives_numeric_addresses_of_both_families() -> None:
    async def run():
        return (await resolve("::1", 4569), await resolve("127.0.0.1", 4569),
                await resolve("localhost", 4569, socket.AF_INET))
    v6, v4, name = asyncio.run(run())
    assert v6 == [("::1", 4569)] and v4 == [("127.0.0.1", 4569)]
    assert ("127.0.0.1", 4569) in name
    with pytest.raises(OSError):
        asyncio.run(resolve("no-such-host.invalid", 4569))


# ------------------------------------------------------------------- tshark over IPv6

@pytest.mark.servers
@needs_ipv6
def test_tshark_decodes_our_ipv6_packets_without_errors(tmp_path: Path) -> None:
    from tests.support import tshark
    from tests.support.iaxmodem import free_udp_port
    tshark.require()
    port_a, port_b, probe = free_udp_port(), free_udp_port(), free_udp_port()
    cap = tshark.Capture(tmp_path / "iax6.pcapng", f"udp port {port_a} or udp port {port_b}", probe)

    async def run():
        a = await open_endpoint(("::1", port_a), EndpointOptions(ping_interval=0.3), random.Random(1))
        b = await open_endpoint(("::1", port_b), _server(), random.Random(2))
        try:
            await _call(a, b, ("::1", port_b), frames=30)
            await asyncio.sleep(0.3)
            return a.endpoint.stats.datagrams_in + b.endpoint.stats.datagrams_in
        finally:
            a.close()
            b.close()
    try:
        received = asyncio.run(run())
    finally:
        cap.stop()
    ours = ("-d", f"udp.port=={port_a},iax2", "-Y", f"udp.port=={port_a}")
    verbose = cap.decode(*ours, "-V")
    assert "[Malformed Packet" not in verbose and "Expert Info (Error" not in verbose
    rows = [r.split("\t") for r in cap.decode(*ours, "-T", "fields", "-e", "frame.protocols")
            .splitlines() if r]
    assert len(rows) == received
    assert all(re.search(r":ipv6:udp:iax2(:data)?$", r[0]) for r in rows), {r[0] for r in rows}
    for label in ("NEW", "CALLTOKEN", "AUTHREQ", "AUTHREP", "REGREQ", "REGAUTH", "REGACK"):
        assert re.search(rf"IAX subclass: {label} \(", verbose), label
    assert "Apparent Address" in verbose or "APPARENT" in verbose.upper()


# ------------------------------------------------------------------- iaxmodem (IPv4 only)

@pytest.mark.servers
@needs_ipv6
def test_iaxmodem_registers_over_ipv4_to_a_dual_stack_listener(tmp_path: Path) -> None:
    """Debian's iaxmodem 1.2.0 is IPv4-only (an AF_INET socket bound to 0.0.0.0, the server
    looked up with gethostbyname), so it cannot be reached over ::1; a ``[::]`` listener still
    serves it over IPv4: MD5 registration from the pinned address 127.0.0.1, REGACK carrying
    an IPv4 APPARENT_ADDR (16 octets, as its libiax2 expects)."""
    from tests.support import iaxmodem
    iaxmodem.require()

    async def run():
        port = iaxmodem.free_udp_port()
        proto = await open_endpoint(("::", port), EndpointOptions(peers=(
            Peer("modem7", secret="s3cret", address=("127.0.0.1", 0), calltoken_required=False),)),
            random.Random(7))
        modem = iaxmodem.IaxModem(tmp_path, server_port=port, peername="modem7", secret="s3cret",
                                  refresh=60)
        try:
            reg = await _wait_for(proto, PeerRegistered)
            await asyncio.sleep(0.5)  # iaxmodem logs the REGACK
            return reg, proto.endpoint.registrar.address_of("modem7"), modem.port, modem.log()
        finally:
            modem.stop()
            proto.close()
    reg, bound, modem_port, log = asyncio.run(run())
    assert reg.peer == "modem7" and bound == ("127.0.0.1", modem_port)
    assert "rror" not in log and "Registration completed" in log, log
