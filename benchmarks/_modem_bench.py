"""Measuring code the modem benchmarks share (modems.py, psk_speed.py).

- `cpu_per_audio_second`: CPU seconds one object spends per second of audio, fed or
  asked in 160-sample (20 ms) blocks as a call carries them, best of `rounds` (the
  machine is shared, so the minimum is the figure least disturbed by others).
- `SpanCModem`: one of spandsp's data modems (``v27ter``, ``v29``, ``v17``) through ctypes
  with C functions from libc as its bit callbacks (``abs``: get_bit gives abs(NULL) = 0,
  put_bit discards), so no Python runs per bit and the figure is spandsp's C cost plus
  one ctypes call per block.  The three modems share one init signature:
  ``*_tx_init(s, rate, tep, get_bit, user)`` and ``*_rx_init(s, rate, put_bit, user)``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from typing import Callable

import numpy as np

from tests.support import spandsp

BLOCK = 160
FS = 8000


def _libc_abs() -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return ctypes.cast(libc.abs, ctypes.c_void_p).value


class SpanCModem:
    """spandsp's `modem` transmitter (kind "tx") or receiver ("rx") at `rate`, C callbacks only."""

    def __init__(self, modem: str, kind: str, rate: int) -> None:
        lib = spandsp.require()
        vp, ci, i16p = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int16)
        # Declared here (not at import): tests/support/spandsp_psk declares the same C
        # functions with Python callback types; whoever declares last wins.
        if kind == "tx":
            init = spandsp.declare(lib, f"{modem}_tx_init", vp, vp, ci, ci, vp, vp)
            self._state = init(None, rate, 0, _libc_abs(), None)
        else:
            init = spandsp.declare(lib, f"{modem}_rx_init", vp, vp, ci, vp, vp)
            self._state = init(None, rate, _libc_abs(), None)
        self._run = spandsp.declare(lib, f"{modem}_{kind}", ci, vp, i16p, ci)
        self._free = spandsp.declare(lib, f"{modem}_{kind}_free", ci, vp)
        self._buf = np.zeros(BLOCK, np.int16)
        self._ptr = self._buf.ctypes.data_as(i16p)
        self._i16p = i16p

    def transmit(self, n: int) -> np.ndarray:
        self._run(self._state, self._ptr, n)
        return self._buf

    def receive(self, block: np.ndarray) -> None:
        self._run(self._state, block.ctypes.data_as(self._i16p), len(block))

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._free(self._state)
            self._state = None


def cpu_per_audio_second(kind: str, factory: Callable[[], object], audio: np.ndarray,
                         rounds: int = 3) -> float:
    """CPU seconds per audio second of a fresh `factory()` object over `audio` (rx: fed in
    blocks; tx: as many `transmit(160)` calls as `audio` has blocks), best of `rounds`."""
    blocks = [np.ascontiguousarray(audio[i: i + BLOCK]) for i in range(0, len(audio) - BLOCK + 1, BLOCK)]
    warm = factory()  # numba compilation or cache load, lazy tables: outside the timing
    for b in blocks[:5]:
        warm.receive(b) if kind == "rx" else warm.transmit(BLOCK)
    best = float("inf")
    for _ in range(rounds):
        obj = factory()
        t0 = time.process_time()
        if kind == "rx":
            for b in blocks:
                obj.receive(b)
        else:
            for _ in blocks:
                obj.transmit(BLOCK)
        best = min(best, time.process_time() - t0)
    return best / (len(blocks) * BLOCK / FS)
