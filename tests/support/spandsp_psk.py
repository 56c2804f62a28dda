"""ctypes bindings for spandsp's V.27ter and V.29 modems, the reference peers of our PSK modems.

`SpanTx(modem, rate, tep, bits)` sends `bits` after spandsp's own training and then ends
(get_bit returns end-of-data); `SpanRx(modem, rate)` collects received bits and status
codes in stream order.  ``modem`` is ``"v27ter"`` or ``"v29"``.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import spandsp
from .spandsp import GET_BIT, MODEM_STATUS, PUT_BIT

_I16P = ctypes.POINTER(ctypes.c_int16)


def _fns(modem: str):
    lib = spandsp.require()
    vp = ctypes.c_void_p
    return {
        "tx_init": spandsp.declare(lib, f"{modem}_tx_init", vp, vp, ctypes.c_int, ctypes.c_int, GET_BIT, vp),
        "tx": spandsp.declare(lib, f"{modem}_tx", ctypes.c_int, vp, _I16P, ctypes.c_int),
        "tx_free": spandsp.declare(lib, f"{modem}_tx_free", ctypes.c_int, vp),
        "rx_init": spandsp.declare(lib, f"{modem}_rx_init", vp, vp, ctypes.c_int, PUT_BIT, vp),
        "rx": spandsp.declare(lib, f"{modem}_rx", ctypes.c_int, vp, _I16P, ctypes.c_int),
        "rx_free": spandsp.declare(lib, f"{modem}_rx_free", ctypes.c_int, vp),
        "rx_status": spandsp.declare(lib, f"{modem}_rx_set_modem_status_handler", None, vp, MODEM_STATUS, vp),
        "rx_cutoff": spandsp.declare(lib, f"{modem}_rx_signal_cutoff", None, vp, ctypes.c_float),
    }


class SpanTx:
    """spandsp transmitter sending `bits` then stopping."""

    def __init__(self, modem: str, rate: int, bits: np.ndarray, *, tep: bool = False) -> None:
        self._f = _fns(modem)
        self._bits = [int(b) for b in bits]
        self._pos = 0

        def get_bit(_user):
            if self._pos >= len(self._bits):
                return spandsp.SIG_STATUS_END_OF_DATA
            b = self._bits[self._pos]
            self._pos += 1
            return b

        self._cb = GET_BIT(get_bit)
        self._s = self._f["tx_init"](None, rate, int(tep), self._cb, None)

    def transmit(self, n: int) -> np.ndarray:
        buf = np.zeros(n, np.int16)
        got = self._f["tx"](self._s, buf.ctypes.data_as(_I16P), n)
        return buf[:got]

    def transmit_all(self, block: int = 160) -> np.ndarray:
        parts = []
        while True:
            chunk = self.transmit(block)
            parts.append(chunk)
            if len(chunk) < block:
                return np.concatenate(parts)

    def __del__(self):
        if getattr(self, "_s", None):
            self._f["tx_free"](self._s)
            self._s = None


class SpanRx:
    """spandsp receiver; `bits` (list of 0/1) and `events` (list of (SIG_STATUS code, bit count))."""

    def __init__(self, modem: str, rate: int, *, cutoff_dbm0: float | None = None) -> None:
        self._f = _fns(modem)
        self.bits: list[int] = []
        self.events: list[tuple[int, int]] = []

        def put_bit(_user, bit):
            if bit < 0:
                self.events.append((bit, len(self.bits)))
            else:
                self.bits.append(bit & 1)

        def status(_user, code):
            self.events.append((code, len(self.bits)))

        self._cb = PUT_BIT(put_bit)
        self._scb = MODEM_STATUS(status)
        self._s = self._f["rx_init"](None, rate, self._cb, None)
        self._f["rx_status"](self._s, self._scb, None)
        if cutoff_dbm0 is not None:
            self._f["rx_cutoff"](self._s, cutoff_dbm0)

    def receive(self, samples: np.ndarray, block: int = 160) -> None:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        for i in range(0, len(x), block):
            chunk = x[i: i + block]
            self._f["rx"](self._s, chunk.ctypes.data_as(_I16P), len(chunk))

    def codes(self) -> list[int]:
        return [c for c, _ in self.events]

    def trained(self) -> bool:
        return spandsp.SIG_STATUS_TRAINING_SUCCEEDED in self.codes()

    def __del__(self):
        if getattr(self, "_s", None):
            self._f["rx_free"](self._s)
            self._s = None
