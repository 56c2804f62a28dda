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
