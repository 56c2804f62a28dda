"""ctypes binding of libspandsp's T.4 receiver and transmitter (t4_rx / t4_tx), 0.0.6 API.

spandsp's T.4 engine works through TIFF files: `spandsp_receive` pushes line bits into
``t4_rx`` (which writes the page it decodes to a TIFF) and returns that page's pixels
with spandsp's own statistics; `spandsp_transmit` has ``t4_tx`` read a TIFF and returns
the line bits it sends for its first page.
"""

from __future__ import annotations

import ctypes
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.spandsp import declare, require

#: t4_image_compression_t
ENCODINGS = {"mh": 1, "mr": 2, "mmr": 3}
X_RES_R8 = 8031  # pixels per metre: 204 dpi
Y_RES = {98: 3850, 196: 7700, 391: 15400}


class _Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in (
        "pages_transferred", "pages_in_file", "width", "length", "bad_rows", "longest_bad_row_run",
        "x_resolution", "y_resolution", "encoding", "line_image_size")]


@dataclass
class Received:
    rows: np.ndarray  # uint8, 1 = black
    bad_rows: int
    longest_bad_row_run: int
    page_end_at: int | None  # index of the bit at which t4_rx reported the end of the page


def _lib():
    lib = require()
    vp = ctypes.c_void_p
    return {
        "rx_init": declare(lib, "t4_rx_init", vp, vp, ctypes.c_char_p, ctypes.c_int),
        "rx_set_encoding": declare(lib, "t4_rx_set_rx_encoding", None, vp, ctypes.c_int),
        "rx_set_width": declare(lib, "t4_rx_set_image_width", None, vp, ctypes.c_int),
        "rx_set_x_res": declare(lib, "t4_rx_set_x_resolution", None, vp, ctypes.c_int),
        "rx_set_y_res": declare(lib, "t4_rx_set_y_resolution", None, vp, ctypes.c_int),
        "rx_start": declare(lib, "t4_rx_start_page", ctypes.c_int, vp),
        "rx_put_bit": declare(lib, "t4_rx_put_bit", ctypes.c_int, vp, ctypes.c_int),
        "rx_end": declare(lib, "t4_rx_end_page", ctypes.c_int, vp),
        "rx_stats": declare(lib, "t4_rx_get_transfer_statistics", None, vp, ctypes.POINTER(_Stats)),
        "rx_free": declare(lib, "t4_rx_free", ctypes.c_int, vp),
        "tx_init": declare(lib, "t4_tx_init", vp, vp, ctypes.c_char_p, ctypes.c_int, ctypes.c_int),
        "tx_set_encoding": declare(lib, "t4_tx_set_tx_encoding", None, vp, ctypes.c_int),
        "tx_set_min_bits": declare(lib, "t4_tx_set_min_bits_per_row", None, vp, ctypes.c_int),
        "tx_start": declare(lib, "t4_tx_start_page", ctypes.c_int, vp),
        "tx_get_bit": declare(lib, "t4_tx_get_bit", ctypes.c_int, vp),
        "tx_end": declare(lib, "t4_tx_end_page", ctypes.c_int, vp),
        "tx_free": declare(lib, "t4_tx_free", ctypes.c_int, vp),
    }


def spandsp_receive(bits: np.ndarray, width: int, coding: str, tiff_out: Path, y_res: int = 196,
                    store_as: str = "mmr") -> Received:
    """Feed line bits to spandsp's T.4 receiver; the page it decoded and its bad-row counts.

    ``store_as`` is the coding spandsp re-encodes the page with in ``tiff_out``.
    """
    f = _lib()
    s = f["rx_init"](None, str(tiff_out).encode(), ENCODINGS[store_as])
    assert s, "t4_rx_init failed"
    try:
        f["rx_set_encoding"](s, ENCODINGS[coding])
        f["rx_set_width"](s, width)
        f["rx_set_x_res"](s, X_RES_R8)
        f["rx_set_y_res"](s, Y_RES[y_res])
        f["rx_start"](s)
        end_at = None
        put = f["rx_put_bit"]
        for i, bit in enumerate(np.asarray(bits, np.uint8).tolist()):
            if put(s, bit):
                end_at = i
                break
        f["rx_end"](s)
        stats = _Stats()
        f["rx_stats"](s, ctypes.byref(stats))
    finally:
        f["rx_free"](s)
    image = Image.open(io.BytesIO(tiff_out.read_bytes()))
    rows = (np.array(image.convert("L")) < 128).astype(np.uint8)
    return Received(rows, stats.bad_rows, stats.longest_bad_row_run, end_at)


def spandsp_transmit(tiff_in: Path, coding: str, min_bits_per_row: int = 0) -> np.ndarray:
    """The line bits spandsp's T.4 transmitter sends for the first page of ``tiff_in``."""
    f = _lib()
    s = f["tx_init"](None, str(tiff_in).encode(), -1, -1)
    assert s, "t4_tx_init failed"
    try:
        f["tx_set_encoding"](s, ENCODINGS[coding])
        f["tx_set_min_bits"](s, min_bits_per_row)
        assert f["tx_start"](s) == 0
        out = []
        get = f["tx_get_bit"]
        while True:
            bit = get(s)
            if bit < 0:  # SIG_STATUS_END_OF_DATA: 0.0.6 ends the page this way
                break
            out.append(bit & 1)
            if bit & 2:  # later versions flag the last bit instead
                break
        f["tx_end"](s)
    finally:
        f["tx_free"](s)
    return np.array(out, np.uint8)
