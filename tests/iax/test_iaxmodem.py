"""Interoperation with a real IAX2 peer: iaxmodem (Debian) on loopback, driven over its pty.

Each test starts our endpoint (asyncio adapter, real UDP socket) and one iaxmodem process,
and stops both even on failure.  Audio reaching iaxmodem is proved by the modem itself: in
fax class 1 it reports CONNECT only once it hears V.21 HDLC flags, which we send.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from iax.aio import IaxProtocol, open_endpoint
from iax.events import (CallAnswered, CallEnded, CallRinging, IncomingCall, PeerRegistered,
                        PeerUnregistered, VoiceReceived)
from iax.frames import Format
from iax.options import EndpointOptions, Peer
from tests.support import iaxmodem
from tests.support.iaxmodem import IaxModem, free_udp_port, v21_flags_alaw

pytestmark = [pytest.mark.servers, pytest.mark.timeout(60)]
FLAGS = v21_flags_alaw(4.0)


@pytest.fixture(autouse=True)
def _needs_iaxmodem() -> None:
    iaxmodem.require()


async def _pump_voice(proto: IaxProtocol, call: int, audio: bytes) -> int:
    """Send ``audio`` in 20 ms frames on a fixed schedule (start + k * 20 ms)."""
    start, sent = proto.now(), 0
    for k in range(len(audio) // 160):
        proto.endpoint.send_voice(call, audio[k * 160:(k + 1) * 160], proto.now())
        proto.transmit()
        sent += 1
        await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - proto.now()))
    return sent


async def _events_until(proto: IaxProtocol, kind: type, timeout: float) -> list:
    """Collect events until one of ``kind`` arrives (or time runs out)."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ev = await asyncio.wait_for(proto.events.get(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        seen.append(ev)
        if isinstance(ev, kind):
            break
    return seen


def _drain(proto: IaxProtocol) -> list:
    out = []
    while not proto.events.empty():
        out.append(proto.events.get_nowait())
    return out


async def _with_modem(tmp_path: Path, peer: Peer, body, **modem_kw) -> None:
    port = free_udp_port()
    proto = await open_endpoint(("127.0.0.1", port), EndpointOptions(peers=(peer,)),
                                random.Random(7))
    modem = IaxModem(tmp_path, server_port=port, peername=peer.name, **modem_kw)
    try:
        assert "OK" in modem.at("ATE0")
        assert "OK" in modem.at("AT+VCID=1")
        assert "OK" in modem.at("AT+FCLASS=1")
        await body(proto, modem)
    finally:
        modem.stop()
        proto.close()


def _pty(modem: IaxModem, patterns: tuple[str, ...], timeout: float):
    return asyncio.get_running_loop().run_in_executor(None, modem.read_until, patterns, timeout)


def test_we_call_iaxmodem_it_rings_answers_and_audio_flows_both_ways(tmp_path: Path) -> None:
    async def body(proto: IaxProtocol, modem: IaxModem) -> None:
        ep = proto.endpoint
        call = ep.place_call(("127.0.0.1", modem.port), "5551234", calling_number="100",
                             format=Format.ALAW, now=proto.now())
        proto.transmit()
        text = await _pty(modem, ("RING",), 5)
        text += await _pty(modem, ("RING",), 1)
        assert "RING" in text and "NDID=5551234" in text, text
        assert any(isinstance(e, CallRinging) for e in await _events_until(proto, CallRinging, 5))
        modem.write("ATA\r")
        assert "CONNECT" in await _pty(modem, ("CONNECT", "NO CARRIER", "ERROR"), 10)
        events = await _events_until(proto, CallAnswered, 5)
        assert any(isinstance(e, CallAnswered) for e in events)
        # after ATA a class 1 modem is transmitting V.21 HDLC: end that (DLE ETX), then listen
        # for V.21 flags with +FRH=3, which answers CONNECT only if ours arrive
        modem.write("\x10\x03")
        assert "OK" in await _pty(modem, ("OK", "ERROR"), 5)
        modem.write("AT+FRH=3\r")
        pump = asyncio.ensure_future(_pump_voice(proto, call, FLAGS))
        reply = await _pty(modem, ("CONNECT", "NO CARRIER", "ERROR"), 6)
        await pump
        assert "CONNECT" in reply, reply
        heard = [e for e in _drain(proto) if isinstance(e, VoiceReceived)]
        assert len(heard) > 100  # iaxmodem's CED and flags came back to us
        ep.hang_up(call, now=proto.now())
        proto.transmit()
        ended = await _events_until(proto, CallEnded, 5)
        assert any(isinstance(e, CallEnded) for e in ended)
        assert ep.stats.internal_errors == 0 and ep.stats.undecodable == 0

    asyncio.run(_with_modem(tmp_path, Peer("iaxmodem", calltoken_required=False), body))


async def _answer_and_send_flags(proto: IaxProtocol, modem: IaxModem) -> list:
    modem.write("ATD5557777\r")
    events = await _events_until(proto, IncomingCall, 5)
    offers = [e for e in events if isinstance(e, IncomingCall)]
    if not offers:
        return events
    call = offers[0].call
    ep = proto.endpoint
    ep.accept(call, now=proto.now())
    ep.ring(call, now=proto.now())
    ep.answer(call, now=proto.now())
    proto.transmit()
    pump = asyncio.ensure_future(_pump_voice(proto, call, FLAGS))
    reply = await _pty(modem, ("CONNECT", "NO CARRIER", "ERROR", "BUSY"), 6)
    await pump
    heard = [e for e in _drain(proto) if isinstance(e, VoiceReceived)]
    assert "CONNECT" in reply, reply
    assert len(heard) > 100
    ep.hang_up(call, now=proto.now())
    proto.transmit()
    await asyncio.sleep(0.2)
    return offers


def test_iaxmodem_dials_us_with_md5_and_the_right_secret(tmp_path: Path) -> None:
    async def body(proto: IaxProtocol, modem: IaxModem) -> None:
        offers = await _answer_and_send_flags(proto, modem)
        assert offers and offers[0].called_number == "5557777"
        assert offers[0].peer == "modem7" and offers[0].calling_number == "5550000"

    peer = Peer("modem7", secret="s3cret", calltoken_required=False)
    asyncio.run(_with_modem(tmp_path, peer, body, secret="s3cret"))


def test_iaxmodem_with_a_wrong_secret_is_rejected(tmp_path: Path) -> None:
    async def body(proto: IaxProtocol, modem: IaxModem) -> None:
        modem.write("ATD5557777\r")
        events = await _events_until(proto, IncomingCall, 3)
        assert not any(isinstance(e, IncomingCall) for e in events)
        assert proto.endpoint.stats.ended.get("AUTH_FAILED") == 1
        text = await _pty(modem, ("NO DIALTONE", "NO CARRIER", "BUSY", "ERROR"), 3)
        assert "NO" in text or "BUSY" in text, text
        assert "Rejected call" in modem.log()

    peer = Peer("modem7", secret="s3cret", calltoken_required=False)
    asyncio.run(_with_modem(tmp_path, peer, body, secret="wrong"))


def test_iaxmodem_registers_to_us_and_unregisters_on_exit(tmp_path: Path) -> None:
    async def body(proto: IaxProtocol, modem: IaxModem) -> None:
        events = await _events_until(proto, PeerRegistered, 5)
        reg = [e for e in events if isinstance(e, PeerRegistered)]
        assert reg and reg[0].peer == "modem7" and reg[0].refresh == 60
        assert proto.endpoint.registrar.address_of("modem7") == ("127.0.0.1", modem.port)
        await asyncio.sleep(1.0)  # let iaxmodem take the REGACK before it is told to exit
        stopping = asyncio.get_running_loop().run_in_executor(None, modem.stop)
        events = await _events_until(proto, PeerUnregistered, 8)  # REGREL on exit
        await stopping
        assert any(isinstance(e, PeerUnregistered) and not e.expired for e in events), (
            events, proto.endpoint.stats, modem.log())

    peer = Peer("modem7", secret="s3cret", calltoken_required=False)
    asyncio.run(_with_modem(tmp_path, peer, body, secret="s3cret", refresh=60))
