"""ctypes binding to spandsp's V.17 modem (`v17_tx_*`, `v17_rx_*`), the reference peer.

`SpanV17Tx` sends a given bit array (then end-of-data, so it turns off by itself);
`SpanV17Rx` collects received bits and status reports in stream order.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support import spandsp as sp


class SpanV17Tx:
    def __init__(self, rate: int, bits: np.ndarray, *, tep: bool = False) -> None:
        lib = sp.require()
        self._init = sp.declare(lib, "v17_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                ctypes.c_int, sp.GET_BIT, ctypes.c_void_p)
        self._restart = sp.declare(lib, "v17_tx_restart", ctypes.c_int, ctypes.c_void_p,
                                   ctypes.c_int, ctypes.c_int, ctypes.c_int)
        self._tx = sp.declare(lib, "v17_tx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._free = sp.declare(lib, "v17_tx_free", ctypes.c_int, ctypes.c_void_p)
        self.bits = np.asarray(bits, dtype=np.uint8)
        self.pos = 0
        self._cb = sp.GET_BIT(self._get_bit)
        self._s = self._init(None, rate, int(tep), self._cb, None)
        self.rate = rate

    def _get_bit(self, _user) -> int:
        if self.pos >= len(self.bits):
            return sp.SIG_STATUS_END_OF_DATA
        b = int(self.bits[self.pos])
        self.pos += 1
        return b

    def restart(self, bits: np.ndarray, *, short_train: bool, tep: bool = False) -> None:
        self.bits = np.asarray(bits, dtype=np.uint8)
        self.pos = 0
        self._restart(self._s, self.rate, int(tep), int(short_train))

    def transmit(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        made = self._tx(self._s, out.ctypes.data, n)
        return out[:made]

    def transmit_all(self, block: int = 160, limit: int = 8000 * 120) -> np.ndarray:
        """Everything until the modem stops (its turn-off sequence included)."""
        parts = []
        total = 0
        while total < limit:
            x = self.transmit(block)
            if len(x) == 0:
                break
            parts.append(x)
            total += len(x)
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def __del__(self) -> None:
        if getattr(self, "_s", None):
            self._free(self._s)
            self._s = None


class SpanV17Rx:
    def __init__(self, rate: int) -> None:
        lib = sp.require()
        self._init = sp.declare(lib, "v17_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                sp.PUT_BIT, ctypes.c_void_p)
        self._restart = sp.declare(lib, "v17_rx_restart", ctypes.c_int, ctypes.c_void_p,
                                   ctypes.c_int, ctypes.c_int)
        self._rx = sp.declare(lib, "v17_rx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._free = sp.declare(lib, "v17_rx_free", ctypes.c_int, ctypes.c_void_p)
        self._fillin = sp.declare(lib, "v17_rx_fillin", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        self._status = sp.declare(lib, "v17_rx_set_modem_status_handler", None, ctypes.c_void_p,
                                  sp.MODEM_STATUS, ctypes.c_void_p)
        self.bits: list[int] = []
        self.events: list[tuple[int, int]] = []   # (status code, number of bits before it)
        self._cb = sp.PUT_BIT(self._put_bit)
        self._scb = sp.MODEM_STATUS(self._on_status)
        self._s = self._init(None, rate, self._cb, None)
        self._status(self._s, self._scb, None)
        self.rate = rate

    def _put_bit(self, _user, bit: int) -> None:
        if bit < 0:
            self.events.append((bit, len(self.bits)))
        else:
            self.bits.append(bit & 1)

    def _on_status(self, _user, status: int) -> None:
        self.events.append((status, len(self.bits)))

    def restart(self, *, short_train: bool) -> None:
        self._restart(self._s, self.rate, int(short_train))

    def receive(self, samples: np.ndarray, block: int = 160) -> None:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        for i in range(0, len(x), block):
            part = x[i:i + block]
            self._rx(self._s, part.ctypes.data, len(part))

    def fillin(self, n: int) -> None:
        """n samples were lost (spandsp's own fill-in: clocks run on, nothing adapts)."""
        self._fillin(self._s, n)

    def drive(self, packets) -> None:
        """Packets as `tests.support.line.blocks` gives them: None is a lost one."""
        for p in packets:
            if p is None:
                self.fillin(160)
            else:
                self.receive(p)

    def codes(self) -> list[int]:
        return [e for e, _ in self.events]

    def trained(self) -> bool:
        return sp.SIG_STATUS_TRAINING_SUCCEEDED in self.codes()

    def received_bits(self) -> np.ndarray:
        return np.array(self.bits, dtype=np.uint8)

    def __del__(self) -> None:
        if getattr(self, "_s", None):
            self._free(self._s)
            self._s = None
