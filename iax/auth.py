"""Authentication: MD5 challenge/response (RFC 5456 §8.6.15-16) and call tokens.

MD5: the answer to CHALLENGE is the lowercase hex MD5 of ``challenge + secret``.  Plaintext
(PASSWORD IE) is refused unless a peer's options allow it.

Call tokens (Asterisk 1.6 and later): a callee that requires them answers a NEW (or REGREQ)
carrying an empty CALLTOKEN IE with a CALLTOKEN frame holding ``"<seconds>?<mac>"``; the
caller repeats its NEW with that token.  The MAC is an HMAC-SHA1 over the caller's address
and the issue time under a secret held only by the callee, so issuing needs no state and a
flood of NEWs from spoofed addresses allocates nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string

from .options import unmapped

Addr = tuple[str, int]

_CHALLENGE_ALPHABET = string.digits


def md5_response(challenge: str, secret: str) -> str:
    return hashlib.md5((challenge + secret).encode("utf-8")).hexdigest()


def md5_matches(challenge: str, secret: str, result: str) -> bool:
    return hmac.compare_digest(md5_response(challenge, secret), result.strip().lower())


def new_challenge(rng: random.Random) -> str:
    """A 9-digit decimal challenge, as Asterisk sends (drawn from the injected generator)."""
    return "".join(rng.choice(_CHALLENGE_ALPHABET) for _ in range(9))


class CallTokens:
    """Stateless call-token minting and checking from a secret and the injected time."""

    def __init__(self, secret: bytes, lifetime: float = 10.0) -> None:
        self._secret = secret
        self._lifetime = lifetime

    def _mac(self, addr: Addr, issued: int) -> str:
        # host and port only (an IPv6 socket's flowinfo/scope are not the peer's identity);
        # the port has no colon, so the text splits back one way for IPv4 and IPv6 alike
        msg = f"{unmapped(addr[0])}:{addr[1]}:{issued}".encode()
        return hmac.new(self._secret, msg, hashlib.sha1).hexdigest()

    def issue(self, addr: Addr, now: float) -> bytes:
        issued = int(now)
        return f"{issued}?{self._mac(addr, issued)}".encode()

    def check(self, token: bytes, addr: Addr, now: float) -> bool:
        """True when ``token`` was issued by us to ``addr`` within the lifetime."""
        try:
            issued_text, mac = token.decode("ascii").split("?", 1)
            issued = int(issued_text)
        except (UnicodeDecodeError, ValueError):
            return False
        if not 0 <= now - issued <= self._lifetime + 1:
            return False
        return hmac.compare_digest(self._mac(addr, issued), mac)
