"""The one asyncio adapter for `iax.endpoint.Endpoint` (after aioquic's asyncio protocol).

What does it do?  Owns one non-blocking UDP socket on the running event loop.  When the
socket is readable it drains every waiting datagram into the endpoint with ``loop.time()``
as ``now`` (one wake-up for a burst, not one per datagram: hundreds of calls send 50 frames
a second each), then sends the endpoint's output, hands its events to the application and
keeps one ``loop.call_at`` armed at ``get_timer()``.  No protocol logic lives here.

Why not an ``asyncio.DatagramProtocol``?  Its transport reads one datagram per loop
iteration and keeps the default socket buffers; in `benchmarks/iax.py` (200 calls, both
ways) that version lost about a quarter of the frames and used more CPU, this one lost none.

IPv6: the socket's family follows the local address (``::`` gets a dual-stack socket with
IPV6_V6ONLY off where the OS allows, RFC 3493 §5.3).  The endpoint always sees ``(host,
port)``: an IPv6 socket's 4-tuple is cut to two (a link-local scope kept as ``%zone`` in the
host) and an IPv4 peer's ``::ffff:a.b.c.d`` is given back as ``a.b.c.d``, so a peer has one
address whichever socket carried it; on the way out an IPv4 address is mapped again.
Addresses given to the endpoint must be numeric (`resolve` looks names up off the loop).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import ipaddress
import random
import socket
import time
from collections.abc import Callable

from .endpoint import Endpoint
from .events import Event
from .options import EndpointOptions, unmapped

Addr = tuple[str, int]
MAX_DATAGRAM = 4096
#: drain()'s safety bound: far more than a 2 MB receive buffer holds (a voice frame is
#: ~180 octets), so only a flood arriving as fast as we read could reach it.
DRAIN_LIMIT = 1 << 16


class IaxProtocol:
    """Drives one Endpoint from a UDP socket and the event loop's clock."""

    def __init__(self, endpoint: Endpoint, sock: socket.socket,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._backlog: collections.deque[tuple[bytes, Addr]] = collections.deque()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.dropped_sends = 0
        self.family = sock.family
        self._v6 = sock.family == socket.AF_INET6
        self._in: dict[tuple, Addr] = {}     # IPv6 only: socket address -> endpoint address
        self._out: dict[Addr, tuple] = {}    # IPv6 only: endpoint address -> socket address
        self._loop.add_reader(sock.fileno(), self._readable)

    @property
    def local_address(self) -> Addr:
        host, port = self.sock.getsockname()[:2]
        return host, port

    @property
    def dual_stack(self) -> bool:
        """True when this IPv6 socket also carries IPv4 (IPV6_V6ONLY off)."""
        return self._v6 and not self.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)

    def _from_socket(self, addr: tuple) -> Addr:
        """The endpoint's form of an IPv6 socket address (cached: one peer, many frames)."""
        got = self._in.get(addr)
        if got is None:
            host = unmapped(addr[0])
            if len(addr) == 4 and addr[3] and "%" not in host:
                host = f"{host}%{addr[3]}"
            if len(self._in) > 65536:
                self._in.clear()
            got = self._in[addr] = (host, addr[1])
        return got

    def _to_socket(self, addr: Addr) -> tuple:
        """An endpoint address as this IPv6 socket sends to it (IPv4 -> ``::ffff:a.b.c.d``)."""
        got = self._out.get(addr)
        if got is None:
            host = addr[0]
            if ":" not in host and host.count(".") == 3:
                host = "::ffff:" + host
            if len(self._out) > 65536:
                self._out.clear()
            got = self._out[addr] = (host, addr[1])
        return got

    def now(self) -> float:
        return self._loop.time()

    def act(self, method: str, *args: object, **kwargs: object) -> object:
        """Call an endpoint API method (``place_call``, ``answer``, ``send_voice``, ...) with
        ``now=loop.time()``, then transmit what it queued."""
        result = getattr(self.endpoint, method)(*args, now=self._loop.time(), **kwargs)
        self.transmit()
        return result

    def drain(self) -> int:
        """Feed every datagram waiting in the socket now into the endpoint, then transmit;
        returns how many were read.  For a media clock that must see frames that queued
        while the loop was busy before it pops a playout slot (`mailfax.telephony`)."""
        n = self._receive(DRAIN_LIMIT)
        self.transmit()
        return n

    def _readable(self) -> None:
        self._receive(1000)  # bounded, so timers and other sockets get their turn
        self.transmit()

    def _receive(self, limit: int) -> int:
        """Read datagrams until the socket is empty (or `limit` reads), all stamped with
        one ``now``."""
        ep, recv = self.endpoint, self.sock.recvfrom
        now = self._loop.time()
        n = 0
        while n < limit:
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP errors surface here: the reliability layer copes
                n += 1
                continue
            n += 1
            ep.receive_datagram(data, self._from_socket(addr) if self._v6 else addr, now)
        return n

    def transmit(self) -> None:
        """Send pending datagrams, deliver events, re-arm the one timer."""
        ep = self.endpoint
        out = ep.datagrams_to_send(self._loop.time())
        if out:
            self._send(out)
        if ep.has_events():
            while (event := ep.next_event()) is not None:
                if self._on_event is not None:
                    self._on_event(event)
                else:
                    self.events.put_nowait(event)
        when = ep.get_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = None if when is None else self._loop.call_at(when, self._on_timer)

    def _send(self, out: list[tuple[bytes, Addr]]) -> None:
        if self._backlog:
            self._backlog.extend(out)
            return
        sendto = self.sock.sendto
        wire = self._to_socket if self._v6 else None
        for i, (data, addr) in enumerate(out):
            try:
                sendto(data, wire(addr) if wire else addr)
            except (BlockingIOError, InterruptedError):
                self._backlog.extend(out[i:])
                self._loop.add_writer(self.sock.fileno(), self._writable)
                return
            except OSError:
                self.dropped_sends += 1

    def _writable(self) -> None:
        while self._backlog:
            data, addr = self._backlog[0]
            try:
                self.sock.sendto(data, self._to_socket(addr) if self._v6 else addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.dropped_sends += 1
            self._backlog.popleft()
        self._loop.remove_writer(self.sock.fileno())

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.endpoint.handle_timer(self._loop.time())
        self.transmit()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop.remove_reader(self.sock.fileno())
        if self._backlog:
            self._loop.remove_writer(self.sock.fileno())
        self.sock.close()


async def resolve(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[Addr]:
    """Numeric ``(host, port)`` for a name or literal, IPv6 and IPv4 as getaddrinfo orders
    them (RFC 6724), looked up in the loop's executor so the event loop never blocks.
    Raises OSError (socket.gaierror) when nothing is found."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=family, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    found: list[Addr] = []
    for fam, _, _, _, sa in infos:
        addr = (sa[0] if fam == socket.AF_INET or not sa[3] or "%" in sa[0]
                else f"{sa[0]}%{sa[3]}", sa[1])
        if addr not in found:
            found.append(addr)
    return found


def _bind(local: Addr) -> socket.socket:
    """A non-blocking UDP socket bound to the numeric ``local``, its family from the address;
    an IPv6 wildcard (``::``) is made dual-stack where the OS allows."""
    v6 = ":" in local[0]
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
        if v6 and local[0] == "::":
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:
                pass  # an IPv6-only system: the socket stays IPv6-only
        sock.bind(local)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def open_endpoint(local: Addr, options: EndpointOptions, rng: random.Random | None = None,
                        on_event: Callable[[Event], None] | None = None) -> IaxProtocol:
    """Bind ``local`` and return the running protocol (``protocol.endpoint`` is the core).

    ``local`` is an IPv4 or IPv6 address (``::`` for both families) or a host name, looked
    up first.  Call API methods through ``protocol.act("answer", call)`` (it supplies ``now``
    and transmits), or call the endpoint with ``now=protocol.now()`` and then
    ``protocol.transmit()``.
    """
    host = local[0].strip("[]") or "0.0.0.0"
    if not _numeric(host):
        host = (await resolve(host, local[1]))[0][0]
    sock = _bind((host, local[1]))
    if not options.epoch_offset:  # lets REGACK carry DATETIME (Unix time = now + offset)
        options = dataclasses.replace(
            options, epoch_offset=time.time() - asyncio.get_running_loop().time())
    endpoint = Endpoint(options, rng or random.SystemRandom())
    return IaxProtocol(endpoint, sock, on_event)


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
