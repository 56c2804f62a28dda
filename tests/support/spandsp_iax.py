"""spandsp's audio fax terminal on an IAX2 call of ours: the reference caller for interop tests.

`spandsp_call` opens one endpoint of ours on 127.0.0.1, places a call to ``addr`` and puts a
`SpandspFax` (spandsp's fax_state_t through ctypes) on it through the same bridge the
gateway uses (`mailfax.faxcall.FaxCall`, ticked by `mailfax.telephony.MediaClock` in real
time), so the gateway hears spandsp over real UDP exactly as it would hear any other fax.
The result carries spandsp's phase E completion code (0 = T30_ERR_OK) and its statistics.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from dsp.t30.completion import CallStats
from iax.aio import open_endpoint
from iax.options import EndpointOptions
from mailfax.faxcall import FaxCall, FaxCallResult
from mailfax.telephony import MediaClock
from tests.support.spandsp_fax import SpandspFax

T30_ERR_OK = 0


class SpandspTerminal:
    """The surface of `dsp.fax.FaxTerminal` that `FaxCall` drives, over a `SpandspFax`."""

    def __init__(self, fax: SpandspFax) -> None:
        self.fax = fax
        self.events: list = []
        self.result = None
        self.session = SimpleNamespace(stats=CallStats())
        self.samples_in = 0

    @property
    def finished(self) -> bool:
        return self.fax.finished

    def receive(self, samples: np.ndarray) -> None:
        self.samples_in += len(samples)
        self.fax.receive(samples)

    def fillin(self, n: int) -> None:
        self.samples_in += n
        self.fax.fillin(n)

    def transmit(self, n: int) -> np.ndarray:
        return self.fax.transmit(n)


@dataclass
class SpandspCallResult:
    completion: int | None        # spandsp's T30_ERR_* code (None: phase E never reached)
    pages_tx: int
    pages_rx: int
    bit_rate: int
    call: FaxCallResult


async def spandsp_call(addr: tuple[str, int], called: str, *, tx_file: str | None = None,
                       rx_file: str | None = None, caller_id: str = "", ident: str = "SPANDSP",
                       ecm: bool = True, timeout: float = 180.0) -> SpandspCallResult:
    """Call ``addr`` with spandsp as the calling terminal (sending ``tx_file`` if given)."""
    fax = SpandspFax(True, tx_file=tx_file, rx_file=rx_file, ecm=ecm, ident=ident)
    holder: list[FaxCall] = []
    proto = await open_endpoint(("127.0.0.1", 0), EndpointOptions(accept_unknown=True, calltoken_required=False),
                                on_event=lambda ev: holder[0].on_event(ev) if holder and
                                getattr(ev, "call", None) == holder[0].call else None)
    done = asyncio.get_running_loop().create_future()
    call = proto.endpoint.place_call(addr, called, calling_number=caller_id, calling_name=ident, now=proto.now())
    bridge = FaxCall(proto.endpoint, call, SpandspTerminal(fax))
    holder.append(bridge)

    def tick(t: float) -> None:
        bridge.tick(t)
        proto.transmit()
        if bridge.finished and not done.done():
            done.set_result(None)

    clock = MediaClock(tick)
    proto.transmit()
    clock.start()
    try:
        await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        bridge.hang_up(proto.now())
        proto.transmit()
    finally:
        clock.stop()
        await asyncio.sleep(0.1)
        proto.close()
    st = fax.stats()
    result = SpandspCallResult(fax.completion, st.pages_tx, st.pages_rx, st.bit_rate, bridge.result())
    fax.close()
    return result


class SpandspAnswerer:
    """An IAX2 endpoint of ours on 127.0.0.1 whose calls spandsp's terminal answers, receiving
    into ``rx_file`` (one call at a time)."""

    def __init__(self, rx_file: str, *, ecm: bool = True, ident: str = "SPANDSP RX") -> None:
        self.rx_file, self.ecm, self.ident = rx_file, ecm, ident
        self.fax: SpandspFax | None = None
        self.bridge: FaxCall | None = None
        self.done: asyncio.Future | None = None
        self.proto = None
        self.clock: MediaClock | None = None

    async def start(self) -> tuple[str, int]:
        from iax.events import IncomingCall

        loop = asyncio.get_running_loop()
        self.done = loop.create_future()

        def on_event(ev) -> None:
            if isinstance(ev, IncomingCall) and self.bridge is None:
                ep, now = self.proto.endpoint, self.proto.now()
                ep.accept(ev.call, now=now)
                ep.answer(ev.call, now=now)
                self.fax = SpandspFax(False, rx_file=self.rx_file, ecm=self.ecm, ident=self.ident)
                self.bridge = FaxCall(ep, ev.call, SpandspTerminal(self.fax))
                self.bridge.start_media()
                self.clock.start()
            elif self.bridge is not None and getattr(ev, "call", None) == self.bridge.call:
                self.bridge.on_event(ev)

        def tick(t: float) -> None:
            if self.bridge is not None:
                self.bridge.tick(t)
                if self.bridge.finished and not self.done.done():
                    self.done.set_result(self.fax.completion)
            self.proto.transmit()

        self.proto = await open_endpoint(("127.0.0.1", 0), EndpointOptions(accept_unknown=True,
                                                                           calltoken_required=False),
                                         on_event=on_event)
        self.clock = MediaClock(tick)
        return self.proto.local_address

    async def close(self) -> None:
        if self.clock is not None:
            self.clock.stop()
        await asyncio.sleep(0.05)
        self.proto.close()
        if self.fax is not None:
            self.stats = self.fax.stats()
            self.fax.close()
