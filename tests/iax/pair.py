"""Two endpoints of ours joined by an in-memory network with injected time.

`Net` moves datagrams between endpoints after a fixed one-way delay; a `drop` or `mangle`
hook lets a test lose, duplicate or reorder chosen datagrams.  Time only moves when
`run_until` jumps to the next timer or delivery, so a minute of calls costs milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from iax.endpoint import Endpoint
from iax.events import Event
from iax.options import EndpointOptions

Addr = tuple[str, int]
A_ADDR: Addr = ("10.0.0.1", 4569)
B_ADDR: Addr = ("10.0.0.2", 4569)


class Net:
    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.now = 0.0
        self.nodes: dict[Addr, Endpoint] = {}
        self.events: dict[Addr, list[Event]] = {}
        self.sent: list[tuple[float, Addr, Addr, bytes]] = []
        self._queue: list[tuple[float, int, Addr, Addr, bytes]] = []
        self._seq = itertools.count()
        # hook(src, dst, data) -> list of (extra delay, data) to deliver (empty = lost)
        self.hook: Callable[[Addr, Addr, bytes], list[tuple[float, bytes]]] | None = None

    def add(self, addr: Addr, options: EndpointOptions, seed: int) -> Endpoint:
        ep = Endpoint(options, random.Random(seed))
        self.nodes[addr] = ep
        self.events[addr] = []
        return ep

    def inject(self, src: Addr, dst: Addr, data: bytes, at: float | None = None) -> None:
        heapq.heappush(self._queue, (self.now if at is None else at, next(self._seq), src,
                                     dst, data))

    def flush(self) -> None:
        """Collect what every endpoint wants to send and every event it has."""
        for addr, ep in self.nodes.items():
            for data, dst in ep.datagrams_to_send(self.now):
                self.sent.append((self.now, addr, dst, data))
                copies = self.hook(addr, dst, data) if self.hook else [(0.0, data)]
                for extra, payload in copies:
                    self.inject(addr, dst, payload, self.now + self.delay + extra)
            while (ev := ep.next_event()) is not None:
                self.events[addr].append(ev)

    def step(self, limit: float) -> bool:
        """Advance to the next delivery or timer not after ``limit``; False if none."""
        self.flush()
        times = [t for ep in self.nodes.values() if (t := ep.get_timer()) is not None]
        if self._queue:
            times.append(self._queue[0][0])
        nxt = min(times, default=None)
        if nxt is None or nxt > limit:
            self.now = max(self.now, limit)
            return False
        self.now = max(self.now, nxt)
        while self._queue and self._queue[0][0] <= self.now:
            _, _, src, dst, data = heapq.heappop(self._queue)
            if dst in self.nodes:
                self.nodes[dst].receive_datagram(data, src, self.now)
        for ep in self.nodes.values():
            t = ep.get_timer()
            if t is not None and t <= self.now:
                ep.handle_timer(self.now)
        self.flush()
        return True

    def run_until(self, t: float) -> None:
        while self.step(t):
            pass
        self.flush()

    def take(self, addr: Addr, kind: type) -> list:
        return [e for e in self.events[addr] if isinstance(e, kind)]


class RawPeer:
    """A hand-driven IAX2 peer for the network: sends frames we build, keeps what arrives."""

    def __init__(self) -> None:
        self.inbox: list[tuple[float, Addr, object]] = []
        self._out: list[tuple[bytes, Addr]] = []

    def send(self, frame, to: Addr) -> None:
        from iax.frames import encode
        self._out.append((encode(frame), to))

    # the parts of the endpoint contract Net uses
    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        from iax.frames import decode
        self.inbox.append((now, addr, decode(data)))

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def next_event(self):
        return None

    def frames(self, frametype: int | None = None, subclass: int | None = None) -> list:
        from iax.frames import FullFrame
        return [f for _, _, f in self.inbox if isinstance(f, FullFrame)
                and (frametype is None or f.frametype == frametype)
                and (subclass is None or f.subclass == subclass)]


def add_raw(net: Net, addr: Addr) -> RawPeer:
    peer = RawPeer()
    net.nodes[addr] = peer  # type: ignore[assignment]
    net.events[addr] = []
    return peer
