"""ctypes access to Debian's libspandsp2, the reference fax engine our tests talk to.

Only the loader and the types every binding shares live here; each modem or terminal
binding has its own module beside this one (``spandsp_v17.py``, ...).  Tests that use it
call `require()` (or use the ``spandsp`` marker) and are skipped, with the reason, where
the library is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pytest

# async.h: bit callbacks and modem status codes (negative "bits" in put_bit).
PUT_BIT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)
GET_BIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
MODEM_STATUS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)

SIG_STATUS_CARRIER_DOWN = -1
SIG_STATUS_CARRIER_UP = -2
SIG_STATUS_TRAINING_IN_PROGRESS = -3
SIG_STATUS_TRAINING_SUCCEEDED = -4
SIG_STATUS_TRAINING_FAILED = -5
SIG_STATUS_FRAMING_OK = -6
SIG_STATUS_END_OF_DATA = -7
SIG_STATUS_ABORT = -8
SIG_STATUS_BREAK = -9
SIG_STATUS_SHUTDOWN_COMPLETE = -10


@functools.cache
def load() -> ctypes.CDLL | None:
    """The library handle, or None where libspandsp2 is not installed."""
    for name in ("libspandsp.so.2", ctypes.util.find_library("spandsp")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def require() -> ctypes.CDLL:
    """The library handle; skips the calling test where it is missing."""
    lib = load()
    if lib is None:
        pytest.skip("libspandsp2 is not installed (scripts/setup installs it)")
    return lib


def declare(lib: ctypes.CDLL, name: str, restype, *argtypes):
    """Set a function's prototype once and return it (ctypes defaults to int, which truncates pointers)."""
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn
