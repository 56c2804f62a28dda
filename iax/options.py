"""Option values for the IAX2 endpoint: small frozen dataclasses built at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field

from .frames import Format
from .reliable import RetryPolicy

#: (host, port) from an IPv4 or IPv6 socket; an IPv6 socket's (host, port, flowinfo, scope_id)
#: works too, as long as one peer is always given the same form.
Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Peer:
    """A configured peer: who may call or register to us, and how we authenticate it.

    ``secret`` None means no authentication.  ``calltoken_required`` False lets peers without
    call-token support (iaxmodem) in.  ``address`` pins the peer to a host (and port, 0 = any).
    """

    name: str
    secret: str | None = None
    address: Addr | None = None
    calltoken_required: bool = True
    allow_plaintext: bool = False


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """What one endpoint accepts and how it supervises calls (times in seconds)."""

    peers: tuple[Peer, ...] = ()
    accept_unknown: bool = False          # calls from no configured peer, unauthenticated
    calltoken_required: bool = True       # for callers that are not a configured peer
    calltoken_secret: bytes = b""          # empty: drawn from the endpoint's random generator
    formats: tuple[Format, ...] = (Format.ALAW, Format.ULAW, Format.SLINEAR)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ping_interval: float = 10.0           # a full frame at least every 20 s (iaxmodem needs it)
    unanswered_timeout: float = 60.0
    silence_timeout: float = 60.0
    max_calls: int = 4096
    min_refresh: int = 60
    max_refresh: int = 3600
    allow_plaintext: bool = False         # as a caller: answer a plaintext-only AUTHREQ
    epoch_offset: float = 0.0             # now + epoch_offset = Unix time (for DATETIME)

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in (Format.ALAW, Format.ULAW, Format.SLINEAR)]
        if bad or not self.formats:
            raise ValueError(f"formats must be A-law, u-law or slin (fax does not survive "
                             f"compressed codecs), got {self.formats!r}")

    def peer_named(self, name: str | None) -> Peer | None:
        if not name:
            return None
        return next((p for p in self.peers if p.name == name), None)

    def peer_at(self, addr: Addr) -> Peer | None:
        for p in self.peers:
            if p.address and same_host(p.address[0], addr[0]) and p.address[1] in (0, addr[1]):
                return p
        return None


def unmapped(host: str) -> str:
    """``::ffff:a.b.c.d`` (an IPv4 peer seen on a dual-stack IPv6 socket, RFC 4291
    §2.5.5.2) -> ``a.b.c.d``; other hosts unchanged."""
    if host[:7].lower() == "::ffff:" and host.count(".") == 3 and host.count(":") == 3:
        return host[7:]
    return host


def same_host(a: str, b: str) -> bool:
    """Whether two address texts name one host, whatever family the socket reported."""
    return a == b or unmapped(a) == unmapped(b)
