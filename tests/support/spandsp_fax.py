"""spandsp's audio fax terminal (`fax_state_t`) through ctypes: the reference peer for
whole calls over audio.

`SpandspFax` wraps `fax_init` / `fax_rx` / `fax_tx` / `fax_rx_fillin` with
`fax_set_transmit_on_idle(1)` so every `transmit(160)` returns 160 samples, and reaches
the T.30 inside (`fax_get_t30_state`) for files, capabilities and the completion code.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tests.support import spandsp as sp
from tests.support import spandsp_t30 as st


def _declare(lib):
    d = sp.declare
    vp, i = ctypes.c_void_p, ctypes.c_int
    i16p = ctypes.POINTER(ctypes.c_int16)
    return {
        "init": d(lib, "fax_init", vp, vp, i),
        "free": d(lib, "fax_free", i, vp),
        "rx": d(lib, "fax_rx", i, vp, i16p, i),
        "tx": d(lib, "fax_tx", i, vp, i16p, i),
        "fillin": d(lib, "fax_rx_fillin", i, vp, i),
        "idle": d(lib, "fax_set_transmit_on_idle", None, vp, i),
        "t30": d(lib, "fax_get_t30_state", vp, vp),
    }


class SpandspFax(st.T30Owner):
    """One spandsp audio fax terminal; `completion` is its T.30 phase E code."""

    def __init__(self, calling: bool, *, tx_file: str | None = None, rx_file: str | None = None,
                 ecm: bool = True, modems: int = st.SUPPORT_V27TER | st.SUPPORT_V29 | st.SUPPORT_V17,
                 ident: str = "SPANDSP") -> None:
        lib = sp.require()
        self._f = _declare(lib)
        self._t = st._declare(lib)
        self._free = self._f["free"]
        self.ctx = self._f["init"](None, int(calling))
        self._f["idle"](self.ctx, 1)
        self.t30 = self._f["t30"](self.ctx)
        self._configure(ident=ident, ecm=ecm, modems=modems,
                        compressions=st.SUPPORT_T4_1D | st.SUPPORT_T4_2D | (st.SUPPORT_T6 if ecm else 0),
                        tx_file=tx_file, rx_file=rx_file)
        self._buf = (ctypes.c_int16 * 160)()

    @property
    def finished(self) -> bool:
        return self.completion is not None

    def receive(self, samples: np.ndarray) -> None:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        self._f["rx"](self.ctx, x.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(x))

    def fillin(self, n: int) -> None:
        self._f["fillin"](self.ctx, n)

    def transmit(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        got = self._f["tx"](self.ctx, out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), n)
        return out if got == n else np.concatenate([out[:got], np.zeros(n - got, np.int16)])
