"""Where the trunks are: IAX2 addresses of trunk hosts given by name, IPv4 or IPv6.

What does it do?  Looks trunk host names up with getaddrinfo in the event loop's executor
(`iax.aio.resolve`, so a slow DNS server never stalls the media clock), keeping the families
the IAX2 socket can reach (`trunk_family`: an IPv4 socket IPv4, a dual-stack ``[::]`` socket
both, any other IPv6 socket IPv6), and says which address an incoming call from a trunk must
come from (`pin`).  `mailfax.telephony` uses it when it opens and again per outgoing call.
"""

from __future__ import annotations

import logging
import socket
from typing import Sequence

from iax.aio import resolve
from mailfax.config import Trunk
from mailfax.netaddr import ip_version

log = logging.getLogger("mailfax.telephony")

Addr = tuple[str, int]


def pin(t: Trunk, addresses: dict[str, tuple[Addr, ...]] | None) -> Addr | None:
    """The one address ``t`` must call from (port 0: any), or None when it has several.

    A literal host is its own address; a name with one address is pinned to it; a name with
    several (A and AAAA) is not, since the far end may call from any of them -- it is still
    known by its username."""
    if ip_version(t.host) is not None:
        return t.host, 0
    hosts = {a[0] for a in (addresses or {}).get(t.name, ())}
    return (hosts.pop(), 0) if len(hosts) == 1 else None


def trunk_family(local_host: str) -> int:
    """The address family a socket bound to ``local_host`` can reach: IPv4 for an IPv4
    address, both for the IPv6 wildcard (dual-stack), IPv6 for any other IPv6 address."""
    if ":" not in local_host:
        return socket.AF_INET
    return socket.AF_UNSPEC if local_host == "::" else socket.AF_INET6


async def resolve_trunks(trunks: Sequence[Trunk], family: int) -> dict[str, tuple[Addr, ...]]:
    """Numeric addresses of every trunk given by name (getaddrinfo off the event loop, A and
    AAAA as the family allows).  A name that does not resolve now is logged and looked up
    again when a call is placed; a literal host is left out (it is its own address)."""
    found: dict[str, tuple[Addr, ...]] = {}
    for t in trunks:
        if ip_version(t.host) is not None:
            if family != socket.AF_UNSPEC and (family == socket.AF_INET6) != (":" in t.host):
                log.warning("trunk %s: %s cannot be reached from the IAX2 socket's address family"
                            " (listen on [::] for both)", t.name, t.host)
            continue
        try:
            found[t.name] = tuple(await resolve(t.host, t.port, family))
        except OSError as e:
            log.warning("trunk %s: no address for %s yet: %s", t.name, t.host, e.strerror or e)
    return found
