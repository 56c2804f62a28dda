"""Registration (client and registrar), MD5 and plaintext, call tokens."""

from __future__ import annotations

from iax import auth
from iax.endpoint import Endpoint
from iax.events import (CallEnded, EndReason, IncomingCall, PeerRegistered, PeerUnregistered,
                        Registered, RegistrationFailed)
from iax.frames import FrameType, FullFrame, Iax
from iax.ies import IE, AuthMethod, decode_ies, encode_ies
from iax.options import EndpointOptions, Peer
from iax.registration import RegState
from tests.iax.pair import A_ADDR, B_ADDR, Net, add_raw

R_ADDR = ("10.0.0.9", 4569)


def registrar_pair(secret: str | None = "pw", client_secret: str | None = "pw",
                   token: bool = True):
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 1)
    b = net.add(B_ADDR, EndpointOptions(
        peers=(Peer("alice", secret=secret, calltoken_required=token),)), 2)
    reg = a.register(B_ADDR, "alice", client_secret, refresh=60, now=0.0)
    return net, a, b, reg


def test_registration_with_md5_and_token_then_refresh() -> None:
    net, a, b, reg = registrar_pair()
    net.run_until(1)
    assert net.take(A_ADDR, Registered) == [Registered(reg, 60)]
    assert net.take(B_ADDR, PeerRegistered) == [PeerRegistered("alice", A_ADDR, 60)]
    assert b.stats.tokens_issued == 1 and a.registration_state(reg) is RegState.REGISTERED
    net.run_until(200)  # renewed at 80 % of the granted 60 s: 48, 96, 144, 192
    assert len(net.take(A_ADDR, Registered)) == 5
    assert b.registrar.address_of("alice") == A_ADDR
    assert net.take(B_ADDR, PeerUnregistered) == []


def test_a_registration_expires_when_not_renewed() -> None:
    net, a, b, reg = registrar_pair()
    net.run_until(1)
    net.hook = lambda s, d, data: []  # the client goes away
    net.run_until(100)
    assert net.take(B_ADDR, PeerUnregistered) == [PeerUnregistered("alice", expired=True)]
    assert b.registrar.address_of("alice") is None
    assert net.take(A_ADDR, RegistrationFailed)[0].cause == "no reply from the server"


def test_a_wrong_secret_gets_regrej() -> None:
    net, a, b, reg = registrar_pair(client_secret="nope")
    net.run_until(5)
    failed = net.take(A_ADDR, RegistrationFailed)
    assert failed and failed[0].cause == "Registration Refused"
    assert net.take(B_ADDR, PeerRegistered) == [] and b.registrar.bindings == {}
    assert a.registration_state(reg) is RegState.FAILED


def test_registration_without_secret_and_token_and_granted_refresh_is_clamped() -> None:
    net = Net()
    a = net.add(A_ADDR, EndpointOptions(), 1)
    b = net.add(B_ADDR, EndpointOptions(peers=(Peer("bob", calltoken_required=False),),
                                        max_refresh=120), 2)
    a.register(B_ADDR, "bob", None, refresh=3600, now=0.0)
    net.run_until(1)
    assert net.take(A_ADDR, Registered)[0].refresh == 120
    assert b.stats.tokens_issued == 0


def test_md5_response_is_lowercase_hex_of_challenge_and_secret() -> None:
    # the value from coreutils: printf 12345pw | md5sum
    assert auth.md5_response("12345", "pw") == "413fba5182781cd0b9e5c7178f44abd8"
    assert auth.md5_matches("12345", "pw", "413FBA5182781CD0B9E5C7178F44ABD8")
    assert not auth.md5_matches("12345", "px", "413fba5182781cd0b9e5c7178f44abd8")


def test_call_tokens_are_bound_to_address_and_time() -> None:
    tokens = auth.CallTokens(b"k" * 32, lifetime=10)
    tok = tokens.issue(A_ADDR, 100.0)
    assert tokens.check(tok, A_ADDR, 105.0)
    assert not tokens.check(tok, B_ADDR, 105.0)
    assert not tokens.check(tok, A_ADDR, 130.0)
    assert not tokens.check(tok.replace(b"?", b"?0"), A_ADDR, 105.0)
    assert not tokens.check(b"\xff\xfe", A_ADDR, 105.0)
    assert not auth.CallTokens(b"x" * 32).check(tok, A_ADDR, 105.0)


def _raw_new(src: int, ies: dict) -> FullFrame:
    return FullFrame(src, 0, 3, 0, 0, FrameType.IAX, Iax.NEW, encode_ies(ies))


def test_plaintext_is_refused_unless_configured() -> None:
    net = Net()
    b = net.add(B_ADDR, EndpointOptions(peers=(Peer("carol", secret="pw",
                                                    calltoken_required=False),)), 2)
    raw = add_raw(net, R_ADDR)
    raw.send(_raw_new(77, {IE.VERSION: 2, IE.USERNAME: "carol", IE.FORMAT: 8}), B_ADDR)
    net.run_until(0.1)
    authreq = raw.frames(FrameType.IAX, Iax.AUTHREQ)[0]
    ies = decode_ies(authreq.payload)
    assert ies[IE.AUTHMETHODS] == AuthMethod.MD5 and ies[IE.USERNAME] == "carol"
    raw.send(FullFrame(77, authreq.src_call, 10, 1, 1, FrameType.IAX, Iax.AUTHREP,
                       encode_ies({IE.PASSWORD: "pw"})), B_ADDR)
    net.run_until(0.2)
    assert raw.frames(FrameType.IAX, Iax.REJECT) and net.take(B_ADDR, IncomingCall) == []

    # as a caller: a plaintext-only AUTHREQ is not answered with the password
    a = net.add(A_ADDR, EndpointOptions(), 1)
    call = a.place_call(R_ADDR, "1", username="x", secret="pw", now=net.now)
    net.run_until(net.now + 0.1)
    new = raw.frames(FrameType.IAX, Iax.NEW)[-1]
    raw.send(FullFrame(88, new.src_call, 5, 0, 1, FrameType.IAX, Iax.AUTHREQ, encode_ies(
        {IE.AUTHMETHODS: int(AuthMethod.PLAINTEXT), IE.CHALLENGE: "1", IE.USERNAME: "x"})),
        A_ADDR)
    net.run_until(net.now + 0.1)
    assert raw.frames(FrameType.IAX, Iax.AUTHREP) == []
    assert net.take(A_ADDR, CallEnded)[0].reason is EndReason.AUTH_FAILED


def test_a_flood_of_news_without_valid_tokens_allocates_no_calls() -> None:
    net = Net()
    b: Endpoint = net.add(B_ADDR, EndpointOptions(peers=(Peer("alice", secret="pw"),),
                                                  accept_unknown=True), 2)
    raw = add_raw(net, R_ADDR)
    for n in range(3000):
        kind = n % 3
        ies = {IE.VERSION: 2, IE.CALLED_NUMBER: "1", IE.FORMAT: 8}
        if kind == 1:
            ies[IE.CALLTOKEN] = b""
        elif kind == 2:
            ies[IE.CALLTOKEN] = f"{n}?{'0' * 40}".encode()
        raw.send(_raw_new(1 + n % 0x7FFE, ies), B_ADDR)
    net.run_until(1)
    assert b.active_calls == 0 and b.get_timer() is None
    assert b.stats.tokens_issued == 1000 and b.stats.tokens_refused == 2000
    assert len(raw.frames(FrameType.IAX, Iax.CALLTOKEN)) == 1000
    # ... and a caller that does take its token gets through
    tok = decode_ies(raw.frames(FrameType.IAX, Iax.CALLTOKEN)[0].payload)[IE.CALLTOKEN]
    raw.send(_raw_new(5, {IE.VERSION: 2, IE.FORMAT: 8, IE.CALLTOKEN: tok}), B_ADDR)
    net.run_until(2)
    assert b.active_calls == 1 and len(net.take(B_ADDR, IncomingCall)) == 1
