"""ctypes binding to spandsp's modem connect tones generator and detector (CNG, CED/ANS)."""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support.spandsp import declare, require

MODEM_CONNECT_TONES_FAX_CNG = 1
MODEM_CONNECT_TONES_ANS = 2  # = MODEM_CONNECT_TONES_FAX_CED
MODEM_CONNECT_TONES_FAX_CED_OR_PREAMBLE = 7

TONE_REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)


class SpanToneTx:
    """spandsp's connect tone generator for `tone_type`; `transmit(n)` -> samples."""

    def __init__(self, tone_type: int) -> None:
        lib = require()
        init = declare(lib, "modem_connect_tones_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._tx = declare(lib, "modem_connect_tones_tx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self.state = init(None, tone_type)

    def transmit(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        got = self._tx(self.state, out.ctypes.data, n)
        return out[:got]


class SpanToneRx:
    """spandsp's connect tone detector for `tone_type`; `reports` collects
    (tone, level, delay) callbacks, with the sample count at which each came."""

    def __init__(self, tone_type: int) -> None:
        lib = require()
        init = declare(lib, "modem_connect_tones_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                       TONE_REPORT, ctypes.c_void_p)
        self._rx = declare(lib, "modem_connect_tones_rx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._get = declare(lib, "modem_connect_tones_rx_get", ctypes.c_int, ctypes.c_void_p)
        self.reports: list[tuple[int, int]] = []  # (tone, samples fed when reported)
        self._fed = 0
        self._cb = TONE_REPORT(self._on_tone)
        self.state = init(None, tone_type, self._cb, None)

    def _on_tone(self, user, tone, level, delay) -> None:
        self.reports.append((tone, self._fed))

    def receive(self, samples: np.ndarray) -> None:
        amp = np.ascontiguousarray(samples, dtype=np.int16)
        self._rx(self.state, amp.ctypes.data, len(amp))
        self._fed += len(amp)

    def detected(self) -> int:
        return self._get(self.state)
