"""ctypes binding to spandsp's FSK modem as V.21 channel 2 (``preset_fsk_specs[FSK_V21CH2]``),
synchronous mode, with bits through Python callbacks."""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support.spandsp import (GET_BIT, PUT_BIT, SIG_STATUS_CARRIER_DOWN,
                                   SIG_STATUS_CARRIER_UP, SIG_STATUS_END_OF_DATA, declare, require)

FSK_V21CH2 = 1
FSK_FRAME_MODE_SYNC = 1


class FskSpec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("freq_zero", ctypes.c_int), ("freq_one", ctypes.c_int),
                ("tx_level", ctypes.c_int), ("min_level", ctypes.c_int), ("baud_rate", ctypes.c_int)]


def v21_spec(lib) -> ctypes.c_void_p:
    specs = (FskSpec * 10).in_dll(lib, "preset_fsk_specs")
    return ctypes.cast(ctypes.byref(specs, FSK_V21CH2 * ctypes.sizeof(FskSpec)), ctypes.c_void_p)


class SpanV21Tx:
    """spandsp's V.21 ch2 transmitter fed from a bit array; `transmit(n)` returns
    samples, and fewer than n once the bits ran out (get_bit returns end of data)."""

    def __init__(self, bits: np.ndarray | None = None) -> None:
        lib = require()
        init = declare(lib, "fsk_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, GET_BIT, ctypes.c_void_p)
        self._tx = declare(lib, "fsk_tx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._free = declare(lib, "fsk_tx_free", ctypes.c_int, ctypes.c_void_p)
        self._bits = [] if bits is None else np.asarray(bits, np.uint8).tolist()
        self._pos = 0
        self._get = GET_BIT(self._get_bit)
        self.state = init(None, v21_spec(lib), self._get, None)

    def _get_bit(self, user) -> int:
        if self._pos >= len(self._bits):
            return SIG_STATUS_END_OF_DATA
        self._pos += 1
        return self._bits[self._pos - 1]

    def transmit(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        got = self._tx(self.state, out.ctypes.data, n)
        return out[:got]

    def close(self) -> None:
        if self.state:
            self._free(self.state)
            self.state = None


class SpanV21Rx:
    """spandsp's V.21 ch2 receiver in synchronous mode.  `receive` returns what
    arrived: uint8 bit arrays and the strings "up"/"down" for carrier changes."""

    def __init__(self, cutoff_dbm0: float | None = None) -> None:
        """`cutoff_dbm0`: the carrier-detect threshold; spandsp's own fax front end
        (fax_modems.c) sets -39.09 (0.0.6) or -45.5 (older releases)."""
        lib = require()
        init = declare(lib, "fsk_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_int, PUT_BIT, ctypes.c_void_p)
        self._rx = declare(lib, "fsk_rx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._fillin = declare(lib, "fsk_rx_fillin", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        self._free = declare(lib, "fsk_rx_free", ctypes.c_int, ctypes.c_void_p)
        self._items: list = []
        self._bits: list[int] = []
        self._put = PUT_BIT(self._put_bit)
        self.carrier_up = False
        self.state = init(None, v21_spec(lib), FSK_FRAME_MODE_SYNC, self._put, None)
        if cutoff_dbm0 is not None:
            declare(lib, "fsk_rx_signal_cutoff", None, ctypes.c_void_p, ctypes.c_float)(self.state, cutoff_dbm0)

    def _put_bit(self, user, bit: int) -> None:
        if bit >= 0:
            self._bits.append(bit)
            return
        self._flush()
        if bit == SIG_STATUS_CARRIER_UP:
            self.carrier_up = True
            self._items.append("up")
        elif bit == SIG_STATUS_CARRIER_DOWN:
            self.carrier_up = False
            self._items.append("down")

    def _flush(self) -> None:
        if self._bits:
            self._items.append(np.array(self._bits, np.uint8))
            self._bits = []

    def receive(self, samples: np.ndarray) -> list:
        amp = np.ascontiguousarray(samples, dtype=np.int16)
        self._rx(self.state, amp.ctypes.data, len(amp))
        self._flush()
        items, self._items = self._items, []
        return items

    def fillin(self, n: int) -> None:
        self._fillin(self.state, n)

    def close(self) -> None:
        if self.state:
            self._free(self.state)
            self.state = None


class SpanV21HdlcTx:
    """spandsp's V.21 transmitter wired in C to its HDLC transmitter, as its fax front
    end does (fsk_tx pulls hdlc_tx_get_bit directly): sends flags while idle.  No
    Python runs per bit, so it times spandsp alone."""

    def __init__(self) -> None:
        lib = require()
        hdlc_init = declare(lib, "hdlc_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                            ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        init = declare(lib, "fsk_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, GET_BIT, ctypes.c_void_p)
        self._tx = declare(lib, "fsk_tx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self._hdlc = hdlc_init(None, 0, 2, 0, None, None)
        get_bit = GET_BIT(ctypes.cast(lib.hdlc_tx_get_bit, ctypes.c_void_p).value)
        self._keep = get_bit
        self.state = init(None, v21_spec(lib), get_bit, self._hdlc)
        self._buf = np.zeros(160, np.int16)

    def transmit(self, n: int) -> np.ndarray:
        if len(self._buf) < n:
            self._buf = np.zeros(n, np.int16)
        got = self._tx(self.state, self._buf.ctypes.data, n)
        return self._buf[:got]


class SpanV21HdlcRx:
    """spandsp's V.21 receiver wired in C to its HDLC receiver (frames dropped in C
    by a NULL handler is not allowed, so a Python handler counts them: one call per
    frame, negligible)."""

    def __init__(self) -> None:
        from tests.support.spandsp_hdlc import FRAME_HANDLER

        lib = require()
        hdlc_init = declare(lib, "hdlc_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                            ctypes.c_int, ctypes.c_int, FRAME_HANDLER, ctypes.c_void_p)
        init = declare(lib, "fsk_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_int, PUT_BIT, ctypes.c_void_p)
        self._rx = declare(lib, "fsk_rx", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        self.frames = 0
        self._handler = FRAME_HANDLER(self._on_frame)
        self._hdlc = hdlc_init(None, 0, 0, 4, self._handler, None)
        put_bit = PUT_BIT(ctypes.cast(lib.hdlc_rx_put_bit, ctypes.c_void_p).value)
        self._keep = put_bit
        self.state = init(None, v21_spec(lib), FSK_FRAME_MODE_SYNC, put_bit, self._hdlc)

    def _on_frame(self, user, pkt, length, ok) -> None:
        if length >= 0 and ok:
            self.frames += 1

    def receive(self, samples: np.ndarray) -> None:
        amp = np.ascontiguousarray(samples, dtype=np.int16)
        self._rx(self.state, amp.ctypes.data, len(amp))
