"""Bit-order helpers and the minimum scan-line time arithmetic.

The fax line (and HDLC) sends each octet least-significant bit first; TIFF strips with
FillOrder=1 store the first coded bit in the most significant bit.  Our coders work on
MSB-first bytes; these helpers convert to and from arrays of 0/1 in line order.
"""

from __future__ import annotations

import math

import numpy as np

#: T.30 minimum scan-line times (DIS/DCS bits 21-23), in milliseconds.
SCAN_LINE_TIMES_MS = (0, 5, 10, 20, 40)


def bytes_to_bits(data: bytes | np.ndarray, lsb_first: bool) -> np.ndarray:
    """The bits of ``data`` as a uint8 array of 0/1, first bit first."""
    arr = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data.astype(np.uint8)
    return np.unpackbits(arr, bitorder="little" if lsb_first else "big")


def bits_to_bytes(bits: np.ndarray, lsb_first: bool) -> bytes:
    """Pack an array of 0/1 (first bit first) into bytes; a last partial octet is zero-padded."""
    arr = np.asarray(bits, dtype=np.uint8)
    return np.packbits(arr, bitorder="little" if lsb_first else "big").tobytes()


def min_row_bits(bit_rate: int, scan_time_ms: float) -> int:
    """Fewest bits a coded scan line may take (data + fill + EOL) at ``bit_rate``.

    T.4 §4.1.3: a line must last at least the minimum transmission time the receiver
    asked for (T.30 DIS bits 21-23), so short lines are padded with fill before EOL.
    """
    return math.ceil(bit_rate * scan_time_ms / 1000)


def reverse_bits_in_bytes(data: bytes) -> bytes:
    """Swap between MSB-first (TIFF FillOrder=1) and LSB-first (line / FillOrder=2) octets."""
    arr = np.frombuffer(data, np.uint8)
    return np.packbits(np.unpackbits(arr, bitorder="little"), bitorder="big").tobytes()
