"""Host and address text for IPv4 and IPv6: one place for brackets and v4-mapped forms.

What does it do?  Parses the ``HOST:PORT`` of a ``listen:`` key (an IPv6 address goes in
brackets, RFC 3986 §3.2.2: ``[::1]:4569``) and a trunk's bare ``host`` (a name, an IPv4 or
an IPv6 address, with the port in its own key); formats an address back the same way for
logs, ``mailfax status`` and ``check-config``; and turns an IPv4-mapped IPv6 address
(``::ffff:192.0.2.1``, RFC 4291 §2.5.5.2, what a dual-stack socket reports for an IPv4
peer) back into the IPv4 text that a trunk's ``host`` holds.  Parsing returns the error
text instead of raising, so the config loader can put it in its own message.
"""

from __future__ import annotations

import ipaddress
import re

#: A DNS name (or a single label such as ``pbx``); underscores allowed as the old check did.
HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?")
LISTEN_EXAMPLE = "HOST:PORT such as 127.0.0.1:10025 or [::1]:10025"


def ip_version(host: str) -> int | None:
    """4 or 6 for an address literal (an IPv6 one may carry a ``%zone``), None for a name."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def is_ipv6(host: str) -> bool:
    return ip_version(host) == 6


def hostport(host: str, port: int) -> str:
    """``192.0.2.1:4569``, ``pbx.example.com:4569`` or ``[2001:db8::1]:4569``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _normal(host: str) -> str:
    """The canonical text of an address literal (``2001:DB8:0::5`` -> ``2001:db8::5``)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_host(text: str) -> tuple[str | None, str]:
    """A trunk ``host``: ``(host, "")`` or ``(None, what was expected)``.

    Accepts a host name, an IPv4 address and an IPv6 address bare or in brackets
    (``2001:db8::5``, ``[2001:db8::5]``); the port has its own key, so ``pbx:4569`` is
    refused rather than read as an IPv6 address."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ip_version(inner) is not None:
        return _normal(inner), ""
    if ":" in inner or "[" in inner or "]" in inner:
        return None, "a host name, an IPv4 address or an IPv6 address such as 2001:db8::5 (the port goes in 'port')"
    if HOSTNAME_RE.fullmatch(inner):
        return inner, ""
    return None, "a host name or address"


def parse_listen(text: str, default_host: str = "0.0.0.0") -> tuple[tuple[str, int] | None, str]:
    """A ``listen`` value: ``((host, port), "")`` or ``(None, what was expected)``.

    ``HOST:PORT`` with a name or IPv4 address, ``[IPV6]:PORT``, or ``:PORT`` for every
    IPv4 address (``[::]:PORT`` is every address of both families where the OS allows)."""
    m = re.fullmatch(r"\[([^\[\]]*)\]:(\d{1,5})", text)
    if m:
        host, port = m.group(1), int(m.group(2))
        if not is_ipv6(host):
            return None, "an IPv6 address inside the brackets, such as [::1]:10025"
    else:
        m = re.fullmatch(r"([^\[\]:]*):(\d{1,5})", text)
        if not m:
            if text.count(":") > 1 and "[" not in text:
                return None, "an IPv6 address in brackets, then the port, such as [::1]:10025"
            return None, LISTEN_EXAMPLE
        host, port = m.group(1) or default_host, int(m.group(2))
        if ip_version(host) is None and not HOSTNAME_RE.fullmatch(host):
            return None, LISTEN_EXAMPLE
    if not 0 < port < 65536:
        return None, f"a port 1..65535 in {LISTEN_EXAMPLE}"
    return (_normal(host), port), ""
