"""ctypes binding to spandsp's HDLC framer (hdlc_tx/hdlc_rx, CRC-16 mode), bit by bit."""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support.spandsp import declare, require

FRAME_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int, ctypes.c_int)
UNDERFLOW_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class SpanHdlcTx:
    """spandsp's HDLC transmitter: queue flags and frames, pull bits."""

    def __init__(self, inter_frame_flags: int = 1) -> None:
        lib = require()
        init = declare(lib, "hdlc_tx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, UNDERFLOW_HANDLER, ctypes.c_void_p)
        self._frame = declare(lib, "hdlc_tx_frame", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
        self._flags = declare(lib, "hdlc_tx_flags", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        self._corrupt = declare(lib, "hdlc_tx_corrupt_frame", ctypes.c_int, ctypes.c_void_p)
        self.get_bit = declare(lib, "hdlc_tx_get_bit", ctypes.c_int, ctypes.c_void_p)
        self._free = declare(lib, "hdlc_tx_free", ctypes.c_int, ctypes.c_void_p)
        self._on_underflow = None
        self._underflow = UNDERFLOW_HANDLER(lambda user: self._on_underflow and self._on_underflow(user))
        self.state = init(None, 0, inter_frame_flags, 0, self._underflow, None)

    def encode(self, frames: list[bytes], preamble: int, corrupt: frozenset[int] = frozenset(),
               closing: int = 2) -> np.ndarray:
        """All bits for `preamble` flags then `frames` (frame i with a wrong FCS if i
        is in `corrupt`), up to spandsp's end of data.  Frames are queued from the
        underflow callback, as spandsp's own fax front end does; after the last one,
        `closing` octets more (spandsp sends flags while idle) are taken."""
        todo = list(enumerate(frames))
        finished: list[int] = []
        out: list[int] = []

        def underflow(user) -> None:
            if todo:
                i, data = todo.pop(0)
                self._frame(self.state, data, len(data))
                if i in corrupt:
                    self._corrupt(self.state)
            elif not finished:
                finished.append(len(out))

        self._on_underflow = underflow
        self._flags(self.state, preamble)
        while not finished or len(out) < finished[0] + 8 * closing:
            out.append(self.get_bit(self.state))
        self._on_underflow = None
        return np.array(out, dtype=np.uint8)

    def close(self) -> None:
        if self.state:
            self._free(self.state)
            self.state = None


class SpanHdlcRx:
    """spandsp's HDLC receiver (CRC-16, bad frames reported): frames as (bytes, ok)
    and status codes (negative ints) in arrival order in `events`."""

    def __init__(self, framing_ok_threshold: int = 4) -> None:
        lib = require()
        init = declare(lib, "hdlc_rx_init", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, FRAME_HANDLER, ctypes.c_void_p)
        self.put_bit = declare(lib, "hdlc_rx_put_bit", None, ctypes.c_void_p, ctypes.c_int)
        self._free = declare(lib, "hdlc_rx_free", ctypes.c_int, ctypes.c_void_p)
        self.events: list = []
        self._handler = FRAME_HANDLER(self._on_frame)
        self.state = init(None, 0, 1, framing_ok_threshold, self._handler, None)

    def _on_frame(self, user, pkt, length, ok) -> None:
        if length < 0:
            self.events.append(length)
        else:
            self.events.append((ctypes.string_at(pkt, length), bool(ok)))

    def feed(self, bits: np.ndarray) -> None:
        for b in np.asarray(bits, np.uint8).tolist():
            self.put_bit(self.state, b)

    @property
    def frames(self) -> list[tuple[bytes, bool]]:
        return [e for e in self.events if isinstance(e, tuple)]

    def close(self) -> None:
        if self.state:
            self._free(self.state)
            self.state = None
