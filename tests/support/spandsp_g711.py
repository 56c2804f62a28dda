"""ctypes binding to spandsp's block G.711 codec (`g711_init/g711_encode/g711_decode`).

The per-sample ``linear_to_alaw`` & co. are static inline in the header, so the reference
here is the exported block API, which calls them for every sample.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support.spandsp import declare, require

G711_ALAW = 0
G711_ULAW = 1


class SpanG711:
    """One spandsp G.711 context for `mode` (G711_ALAW or G711_ULAW)."""

    def __init__(self, mode: int) -> None:
        lib = require()
        self._init = declare(lib, "g711_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._enc = declare(lib, "g711_encode", ctypes.c_int, ctypes.c_void_p,
                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._dec = declare(lib, "g711_decode", ctypes.c_int, ctypes.c_void_p,
                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._free = declare(lib, "g711_free", ctypes.c_int, ctypes.c_void_p)
        self._state = self._init(None, mode)

    def encode(self, samples: np.ndarray) -> np.ndarray:
        amp = np.ascontiguousarray(samples, dtype=np.int16)
        out = np.zeros(len(amp), dtype=np.uint8)
        n = self._enc(self._state, out.ctypes.data, amp.ctypes.data, len(amp))
        return out[:n]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(codes, dtype=np.uint8)
        out = np.zeros(len(data), dtype=np.int16)
        n = self._dec(self._state, out.ctypes.data, data.ctypes.data, len(data))
        return out[:n]

    def close(self) -> None:
        if self._state:
            self._free(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
