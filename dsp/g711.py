"""G.711 A-law and µ-law companding, vectorised through lookup tables.

What: int16 linear samples <-> uint8 codes, bit-exact with ITU-T G.711 (the codes on
the wire, with A-law's even-bit inversion and µ-law's complement already applied), the
same results as spandsp's ``linear_to_alaw``/``alaw_to_linear``/``linear_to_ulaw``/
``ulaw_to_linear`` for every one of the 65536 inputs and 256 codes.

How: each direction is one table look-up per sample.  The encode tables (65536 entries)
are computed once, on first use, with whole-array numpy arithmetic that follows the
segment rules of G.711 Tables 1a/2a; nothing is built at import time.

Linear samples are on the 16-bit scale: G.711's 13-bit (A-law) and 14-bit (µ-law)
uniform codes are the top bits of an int16, as in spandsp.
"""

from __future__ import annotations

import enum
import functools

import numpy as np

_ULAW_BIAS = 0x84  # 33 on the 14-bit scale, shifted to 16 bits (G.711 Table 2a).
_ALAW_AMI = 0x55   # A-law inverts the even bits on the line (G.711 A-law tables).


class Law(enum.Enum):
    """Which companding law a channel uses (Europe: A-law; North America/Japan: µ-law)."""

    ALAW = "alaw"
    ULAW = "ulaw"


def _segment(magnitude: np.ndarray) -> np.ndarray:
    """Segment number 0..8 of a non-negative int (8 means out of range):
    position of the top set bit of ``magnitude | 0xFF`` minus 7."""
    m = magnitude | 0xFF
    seg = np.zeros(m.shape, dtype=np.int64)
    for s in range(1, 9):
        seg += m >= (1 << (7 + s))
    return seg


@functools.cache
def _alaw_encode_table() -> np.ndarray:
    lin = np.arange(-32768, 32768, dtype=np.int64)
    positive = lin >= 0
    mask = np.where(positive, _ALAW_AMI | 0x80, _ALAW_AMI)
    mag = np.where(positive, lin, -lin - 1)
    seg = _segment(mag)
    shift = np.where(seg == 0, 4, seg + 3)
    code = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)  # clip to the largest magnitude
    return (code ^ mask).astype(np.uint8)


@functools.cache
def _ulaw_encode_table() -> np.ndarray:
    lin = np.arange(-32768, 32768, dtype=np.int64)
    positive = lin >= 0
    mask = np.where(positive, 0xFF, 0x7F)
    mag = np.where(positive, _ULAW_BIAS + lin, _ULAW_BIAS - lin)
    seg = _segment(mag)
    code = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 3)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


@functools.cache
def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ _ALAW_AMI
    i = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    mag = np.where(seg == 0, i + 8, (i + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, mag, -mag).astype(np.int16)


@functools.cache
def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _as_index(samples: np.ndarray) -> np.ndarray:
    s = np.asarray(samples)
    if s.dtype != np.int16:
        s = np.clip(s, -32768, 32767).astype(np.int16)
    return s.view(np.uint16) ^ 0x8000  # int16 -> 0..65535 offset index


def alaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> A-law octets (uint8). Wider inputs are clipped to int16 first."""
    return _alaw_encode_table()[_as_index(samples)]


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> µ-law octets (uint8). Wider inputs are clipped to int16 first."""
    return _ulaw_encode_table()[_as_index(samples)]


def _as_codes(codes: np.ndarray | bytes) -> np.ndarray:
    if isinstance(codes, (bytes, bytearray, memoryview)):
        return np.frombuffer(codes, np.uint8)
    return np.asarray(codes, np.uint8)


def alaw_decode(codes: np.ndarray | bytes) -> np.ndarray:
    """A-law octets (uint8 array or bytes) -> int16 samples."""
    return _alaw_decode_table()[_as_codes(codes)]


def ulaw_decode(codes: np.ndarray | bytes) -> np.ndarray:
    """µ-law octets (uint8 array or bytes) -> int16 samples."""
    return _ulaw_decode_table()[_as_codes(codes)]


def encode(samples: np.ndarray, law: Law) -> np.ndarray:
    """int16 samples -> octets in the given law."""
    return alaw_encode(samples) if law is Law.ALAW else ulaw_encode(samples)


def decode(codes: np.ndarray | bytes, law: Law) -> np.ndarray:
    """Octets in the given law -> int16 samples."""
    return alaw_decode(codes) if law is Law.ALAW else ulaw_decode(codes)


def round_trip(samples: np.ndarray, law: Law) -> np.ndarray:
    """What survives one pass through a G.711 channel (encode then decode)."""
    return decode(encode(samples, law), law)


# --- Levels -----------------------------------------------------------------------
#
# dBm0 on the int16 scale, the project convention (spandsp's, from G.711's digital
# milliwatt): a full-scale sine (peak 32767) is +3.14 dBm0, so a 0 dBm0 sine has peak
# 22826 and RMS 16141, and the fax modems' nominal -14 dBm0 is RMS ~3220.  Any signal's
# level is its RMS against that 0 dBm0 RMS (power, not peak).

#: Level of a full-scale sine in dBm0 (spandsp's DBM0_MAX_SINE_POWER).
DBM0_MAX_SINE_POWER = 3.14


def dbm0_to_amplitude(dbm0: float) -> float:
    """Peak amplitude (int16 scale) of a sine at `dbm0`."""
    return 32767.0 * 10.0 ** ((dbm0 - DBM0_MAX_SINE_POWER) / 20.0)


def dbm0_to_rms(dbm0: float) -> float:
    """RMS (int16 scale) of any signal at `dbm0`."""
    return dbm0_to_amplitude(dbm0) / np.sqrt(2.0)


def power_dbm0(samples: np.ndarray) -> float:
    """Mean power of `samples` in dBm0 (-inf for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    ms = float(np.mean(x * x)) if len(x) else 0.0
    if ms <= 0.0:
        return float("-inf")
    return 10.0 * np.log10(ms) - 20.0 * np.log10(dbm0_to_rms(0.0))
