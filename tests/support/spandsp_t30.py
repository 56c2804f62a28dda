"""spandsp's T.30 engine driven at frame level through ctypes (libspandsp 0.0.6).

`SpandspT30` wraps one `t30_state_t` created with `t30_init` and our own front-end
callbacks: spandsp tells us which modem to receive and transmit with
(`set_rx_type`/`set_tx_type`), hands us HDLC frames to send (`send_hdlc`, where a NULL
frame means "end of this transmission"), pulls non-ECM bits with
`t30_non_ecm_get_chunk`, and is fed frames (`t30_hdlc_accept`), non-ECM bits
(`t30_non_ecm_put_chunk`), status reports and time (`t30_timer_update`).  It reads and
writes TIFF files (`t30_set_tx_file` / `t30_set_rx_file`).  The perfect-modem link in
`tests/dsp/t30/link.py` joins it to our session.
"""

from __future__ import annotations

import ctypes

from tests.support import spandsp as sp

SET_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)
SEND_HDLC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)
PHASE_E = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)

# t30.h enums
MODEM_NONE, MODEM_PAUSE, MODEM_CED, MODEM_CNG, MODEM_V21, MODEM_V27TER, MODEM_V29, MODEM_V17 = range(8)
MODEM_DONE = 9
FRONT_END_SEND_STEP_COMPLETE = 0
FRONT_END_RECEIVE_COMPLETE = 1
SUPPORT_V27TER, SUPPORT_V29, SUPPORT_V17 = 0x01, 0x02, 0x04
SUPPORT_T4_1D, SUPPORT_T4_2D, SUPPORT_T6 = 0x02, 0x04, 0x08
SUPPORT_STANDARD, SUPPORT_FINE, SUPPORT_SUPERFINE = 0x01, 0x02, 0x04
SUPPORT_R8 = 0x20000
SUPPORT_215MM, SUPPORT_255MM, SUPPORT_303MM = 0x01, 0x02, 0x04
SUPPORT_UNLIMITED, SUPPORT_A4_LEN, SUPPORT_B4_LEN = 0x10000, 0x20000, 0x40000
SUPPORT_COMMAND_REPEAT = 0x800
T30_ERR_OK = 0

MODEM_NAMES = {MODEM_V21: "v21", MODEM_V27TER: "v27ter", MODEM_V29: "v29", MODEM_V17: "v17"}


class Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in (
        "bit_rate", "error_correcting_mode", "pages_tx", "pages_rx", "pages_in_file",
        "x_resolution", "y_resolution", "width", "length", "image_size", "encoding",
        "bad_rows", "longest_bad_row_run", "error_correcting_mode_retries", "current_status",
    )] + [("_spare", ctypes.c_int * 32)]


def _declare(lib):
    d = sp.declare
    vp, i, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    return {
        "init": d(lib, "t30_init", vp, vp, i, SET_TYPE, vp, SET_TYPE, vp, SEND_HDLC, vp),
        "free": d(lib, "t30_free", i, vp),
        "hdlc_accept": d(lib, "t30_hdlc_accept", None, vp, ctypes.POINTER(ctypes.c_uint8), i, i),
        "front_end_status": d(lib, "t30_front_end_status", None, vp, i),
        "put_bit": d(lib, "t30_non_ecm_put_bit", None, vp, i),
        "put_chunk": d(lib, "t30_non_ecm_put_chunk", None, vp, ctypes.POINTER(ctypes.c_uint8), i),
        "get_chunk": d(lib, "t30_non_ecm_get_chunk", i, vp, ctypes.POINTER(ctypes.c_uint8), i),
        "timer_update": d(lib, "t30_timer_update", None, vp, i),
        "set_tx_file": d(lib, "t30_set_tx_file", None, vp, cp, i, i),
        "set_rx_file": d(lib, "t30_set_rx_file", None, vp, cp, i),
        "set_tx_ident": d(lib, "t30_set_tx_ident", i, vp, cp),
        "get_rx_ident": d(lib, "t30_get_rx_ident", cp, vp),
        "set_ecm": d(lib, "t30_set_ecm_capability", i, vp, i),
        "set_modems": d(lib, "t30_set_supported_modems", i, vp, i),
        "set_compressions": d(lib, "t30_set_supported_compressions", i, vp, i),
        "set_resolutions": d(lib, "t30_set_supported_resolutions", i, vp, i),
        "set_sizes": d(lib, "t30_set_supported_image_sizes", i, vp, i),
        "set_features": d(lib, "t30_set_supported_t30_features", i, vp, i),
        "set_rnr": d(lib, "t30_set_receiver_not_ready", i, vp, i),
        "set_phase_e": d(lib, "t30_set_phase_e_handler", None, vp, PHASE_E, vp),
        "get_stats": d(lib, "t30_get_transfer_statistics", None, vp, ctypes.POINTER(Stats)),
        "call_active": d(lib, "t30_call_active", i, vp),
        "set_rx_encoding": d(lib, "t30_set_rx_encoding", i, vp, i),
    }


ALL_RESOLUTIONS = SUPPORT_STANDARD | SUPPORT_FINE | SUPPORT_SUPERFINE | SUPPORT_R8
ALL_SIZES = (SUPPORT_215MM | SUPPORT_255MM | SUPPORT_303MM | SUPPORT_UNLIMITED | SUPPORT_A4_LEN
             | SUPPORT_B4_LEN)


class T30Owner:
    """What both spandsp wrappers (this frame-level one and `spandsp_fax.SpandspFax`) do with
    their `t30_state_t`: the common settings, the phase E result (`completion`), statistics,
    the far end's ident, and freeing their own context (`_free` of `ctx`) once."""

    _t: dict      # the t30_* functions (`_declare`)
    _free = None  # frees `ctx`
    ctx = None
    t30 = None    # the t30_state_t pointer

    def _configure(self, *, ident: str, ecm: bool, modems: int, compressions: int,
                   tx_file: str | None, rx_file: str | None) -> None:
        t, t30 = self._t, self.t30
        self.completion: int | None = None
        self._cb_e = PHASE_E(self._on_phase_e)  # kept alive as long as the context
        t["set_phase_e"](t30, self._cb_e, None)
        t["set_tx_ident"](t30, ident.encode())
        t["set_ecm"](t30, int(ecm))
        t["set_modems"](t30, modems)
        t["set_compressions"](t30, compressions)
        t["set_resolutions"](t30, ALL_RESOLUTIONS)
        t["set_sizes"](t30, ALL_SIZES)
        if tx_file:
            t["set_tx_file"](t30, tx_file.encode(), -1, -1)
        if rx_file:
            t["set_rx_file"](t30, rx_file.encode(), -1)

    def _on_phase_e(self, _s, _user, completion) -> None:
        self.completion = completion

    def stats(self) -> Stats:
        st = Stats()
        self._t["get_stats"](self.t30, ctypes.byref(st))
        return st

    def rx_ident(self) -> str:
        v = self._t["get_rx_ident"](self.t30)
        return v.decode(errors="replace").strip() if v else ""

    def close(self) -> None:
        if self.ctx:
            self._free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class SpandspT30(T30Owner):
    """One spandsp T.30 context with Python-side front-end callbacks.

    `tx_mode` / `rx_mode` hold what spandsp last asked for: (type, bit_rate,
    short_train, use_hdlc).  Frames spandsp sends accumulate in `sent` (None marks the
    end of a transmission).  `completion` is set by the phase E handler.
    """

    def __init__(self, calling: bool, *, tx_file: str | None = None, rx_file: str | None = None,
                 ecm: bool = True, modems: int = SUPPORT_V27TER | SUPPORT_V29 | SUPPORT_V17,
                 compressions: int = SUPPORT_T4_1D | SUPPORT_T4_2D | SUPPORT_T6,
                 ident: str = "SPANDSP", rnr_count: int = 0, command_repeat: bool = False) -> None:
        lib = sp.require()
        self._f = self._t = _declare(lib)
        self._free = self._f["free"]
        self.tx_mode = (MODEM_NONE, 0, 0, 0)
        self.rx_mode = (MODEM_NONE, 0, 0, 0)
        self.sent: list[bytes | None] = []
        self.mode_changes: list[tuple[str, tuple]] = []
        # Keep the callbacks alive as long as the context.
        self._cb_rx = SET_TYPE(self._on_rx_type)
        self._cb_tx = SET_TYPE(self._on_tx_type)
        self._cb_hdlc = SEND_HDLC(self._on_send_hdlc)
        self._files = [f.encode() for f in (tx_file, rx_file) if f]
        self.ctx = self._f["init"](None, int(calling), self._cb_rx, None, self._cb_tx, None, self._cb_hdlc, None)
        if not self.ctx:
            raise RuntimeError("t30_init failed")
        self.t30 = self.ctx
        self._configure(ident=ident, ecm=ecm, modems=modems, compressions=compressions,
                        tx_file=tx_file, rx_file=rx_file)
        if command_repeat:
            self._f["set_features"](self.ctx, SUPPORT_COMMAND_REPEAT)
        if rnr_count:
            self._f["set_rnr"](self.ctx, rnr_count)

    # --- callbacks from spandsp ---------------------------------------------------

    def _on_rx_type(self, _user, type_, bit_rate, short_train, use_hdlc) -> None:
        self.rx_mode = (type_, bit_rate, short_train, use_hdlc)
        self.mode_changes.append(("rx", self.rx_mode))

    def _on_tx_type(self, _user, type_, bit_rate, short_train, use_hdlc) -> None:
        self.tx_mode = (type_, bit_rate, short_train, use_hdlc)
        self.mode_changes.append(("tx", self.tx_mode))

    def _on_send_hdlc(self, _user, msg, length) -> None:
        self.sent.append(None if not msg or length <= 0 else bytes(msg[:length]))

    # --- calls into spandsp -------------------------------------------------------

    def hdlc_accept(self, frame: bytes, ok: bool = True) -> None:
        buf = (ctypes.c_uint8 * max(1, len(frame))).from_buffer_copy(frame or b"\0")
        self._f["hdlc_accept"](self.ctx, buf, len(frame), int(ok))

    def hdlc_status(self, status: int) -> None:
        """A receiver status (negative SIG_STATUS_* code) on the HDLC path."""
        self._f["hdlc_accept"](self.ctx, None, status, 1)

    def bits_status(self, status: int) -> None:
        """A receiver status on the non-ECM bit path."""
        self._f["put_bit"](self.ctx, status)

    def put_chunk(self, data: bytes) -> None:
        if data:
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            self._f["put_chunk"](self.ctx, buf, len(data))

    def get_chunk(self, max_len: int) -> bytes:
        buf = (ctypes.c_uint8 * max_len)()
        n = self._f["get_chunk"](self.ctx, buf, max_len)
        return bytes(buf[:max(0, n)])

    def send_step_complete(self) -> None:
        self._f["front_end_status"](self.ctx, FRONT_END_SEND_STEP_COMPLETE)

    def timer_update(self, samples: int) -> None:
        self._f["timer_update"](self.ctx, samples)

    def active(self) -> bool:
        return bool(self._f["call_active"](self.ctx))
