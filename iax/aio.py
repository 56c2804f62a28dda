"""The one asyncio adapter for `iax.endpoint.Endpoint` (after aioquic's asyncio protocol).

What does it do?  Owns the UDP socket: every datagram goes into the endpoint with
``loop.time()`` as ``now``; after each input the endpoint's output is sent and its events
handed to the application's callback; one ``loop.call_at`` is kept armed at
``get_timer()``.  Nothing else: no protocol logic lives here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from .endpoint import Endpoint
from .events import Event
from .options import EndpointOptions

Addr = tuple[str, int]


class IaxProtocol(asyncio.DatagramProtocol):
    """Drives one Endpoint from a UDP socket and the event loop's clock."""

    def __init__(self, endpoint: Endpoint,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.endpoint = endpoint
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    # -- asyncio callbacks --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.transmit()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.endpoint.receive_datagram(data, (addr[0], addr[1]), self._loop.time())
        self.transmit()

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable and the like: the reliability layer copes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None

    # -- driving the endpoint -----------------------------------------------------------
    def now(self) -> float:
        return self._loop.time()

    def transmit(self) -> None:
        """Send pending datagrams, deliver events, re-arm the one timer."""
        ep = self.endpoint
        if self._transport is not None:
            sendto = self._transport.sendto
            for data, addr in ep.datagrams_to_send(self._loop.time()):
                sendto(data, addr)
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

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.endpoint.handle_timer(self._loop.time())
        self.transmit()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def open_endpoint(local: Addr, options: EndpointOptions, rng: random.Random | None = None,
                        on_event: Callable[[Event], None] | None = None) -> IaxProtocol:
    """Bind ``local`` and return the running protocol (``protocol.endpoint`` is the core).

    After calling an API method of the endpoint (``place_call``, ``send_voice``, ...), call
    ``protocol.transmit()`` so its frames leave at once.
    """
    loop = asyncio.get_running_loop()
    endpoint = Endpoint(options, rng or random.Random())
    _, protocol = await loop.create_datagram_endpoint(
        lambda: IaxProtocol(endpoint, on_event), local_addr=local)
    return protocol
