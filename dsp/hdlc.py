"""HDLC framing on bit arrays, as T.30 uses it over any modem (ITU-T T.30 §5.3, ISO/IEC 13239).

What: `encode_frames` turns frames (octets without FCS) into the bits a modem sends:
a preamble of flags (0x7E), each frame with its CRC-16 FCS and zero-bit stuffing,
flags between frames and closing flags.  `HdlcReceiver.feed(bits)` does the reverse
on a bit stream cut anywhere, and returns, in stream order, `Frame` values (with
``crc_ok``) and `HdlcEvent` reports (framing established, abort).

How: the receiver is vectorised over each block of bits.  Every 0 bit ends a run of
1s, and the run length classifies it: 5 -> a stuffed 0 (deleted), 6 -> the end of a
flag, 7 or more -> an abort, otherwise data.  Only flags and aborts (a few per frame)
are visited one at a time; the data between them is destuffed with one boolean mask.
The last 0 of a block and the 1s after it are carried into the next block, so a flag or
stuffed bit split across blocks is found just the same.

Bits are sent least significant bit first within each octet; the FCS is CRC-16/ITU-T
(generator x^16 + x^12 + x^5 + 1, preset all ones, ones-complemented, sent low octet
first), so a whole frame including its FCS leaves the residue 0xF0B8 (T.30 §5.3.7).
"""

from __future__ import annotations

import binascii
import enum
import math
from dataclasses import dataclass

import numpy as np

#: The flag octet 0x7E as bits, first bit first.
FLAG_BITS = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=np.uint8)
#: Seven ones: an abort (any run of 7 or more 1s; ISO/IEC 13239 §4.4.3).
ABORT_BITS = np.ones(7, dtype=np.uint8)

_REVERSE = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=np.uint8)


def crc16(data: bytes) -> int:
    """CRC-16/ITU-T (X.25 FCS) of `data`, before complementing: T.30 §5.3.7.

    binascii.crc_hqx computes the same polynomial most-significant-bit first; HDLC's
    is least-significant-bit first, so the octets go in bit-reversed and the result
    comes out bit-reversed."""
    r = binascii.crc_hqx(_REVERSE[np.frombuffer(data, np.uint8)].tobytes(), 0xFFFF)
    return int(_REVERSE[r >> 8]) | (int(_REVERSE[r & 0xFF]) << 8)


def fcs(data: bytes) -> bytes:
    """The two FCS octets appended to `data`, in sending order."""
    v = crc16(data) ^ 0xFFFF
    return bytes((v & 0xFF, v >> 8))


def crc_ok(frame_with_fcs: bytes) -> bool:
    """Whether a received frame (FCS included) checks: the CRC residue is 0xF0B8."""
    return len(frame_with_fcs) >= 2 and crc16(frame_with_fcs) == 0xF0B8


def bytes_to_bits(data: bytes) -> np.ndarray:
    """Octets -> bits, least significant bit of each octet first."""
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Bits (a whole number of octets) -> octets, LSB first."""
    return np.packbits(np.asarray(bits, np.uint8), bitorder="little").tobytes()


def stuff(bits: np.ndarray) -> np.ndarray:
    """Insert a 0 after every five consecutive 1s (ISO/IEC 13239 §4.3.1)."""
    b = np.asarray(bits, np.uint8)
    idx = np.arange(len(b))
    last_zero = np.maximum.accumulate(np.where(b == 0, idx, -1))
    run = idx - last_zero  # position within the current run of ones
    after = np.flatnonzero((b == 1) & (run % 5 == 0))
    return np.insert(b, after + 1, 0)


def preamble_flags(bit_rate: int, seconds: float = 1.0) -> int:
    """Flags that fill `seconds` at `bit_rate`: T.30 §5.3.1 wants 1 s ± 15 % of flags
    before the first frame after the V.21 carrier comes up (38 flags at 300 bit/s)."""
    return math.ceil(bit_rate * seconds / 8)


def encode_frames(frames: list[bytes] | tuple[bytes, ...], *, preamble: int = 38,
                  between: int = 1, closing: int = 2) -> np.ndarray:
    """The bits for `frames` (octets without FCS): `preamble` flags, each frame with
    its FCS, stuffed, `between` flags between frames (at least 1, the shared closing
    and opening flag), and `closing` flags after the last frame (at least 1)."""
    parts = [np.tile(FLAG_BITS, max(preamble, 1))]
    for i, data in enumerate(frames):
        if i:
            parts.append(np.tile(FLAG_BITS, max(between, 1)))
        parts.append(stuff(bytes_to_bits(bytes(data) + fcs(bytes(data)))))
    parts.append(np.tile(FLAG_BITS, max(closing, 1)))
    return np.concatenate(parts)


@dataclass(frozen=True)
class Frame:
    """A received frame: its octets without FCS, and whether the FCS checked."""

    data: bytes
    crc_ok: bool


class HdlcEvent(enum.Enum):
    """Receiver reports beside frames."""

    #: `framing_ok_flags` flags in a row (or a good frame): a real HDLC signal is there.
    FRAMING_OK = "framing-ok"
    #: Seven or more 1s inside a frame: the frame so far is discarded.
    ABORT = "abort"


class _Kind(enum.IntEnum):
    DATA = 0
    STUFFED = 1
    FLAG = 2
    ABORT = 3


class HdlcReceiver:
    """Streaming HDLC deframer: ``feed(bits) -> list[Frame | HdlcEvent]``.

    Frames that are not a whole number of octets, shorter than `min_octets` (FCS
    included) or longer than `max_octets` are dropped silently (noise between flags
    looks like that); `dropped` counts them."""

    def __init__(self, *, framing_ok_flags: int = 4, min_octets: int = 4, max_octets: int = 1024) -> None:
        self._framing_ok_flags = framing_ok_flags
        self._min_bits = 8 * min_octets
        self._max_bits = 8 * max_octets
        self.dropped = 0
        self.restart()

    def restart(self) -> None:
        """Forget everything: as if no bit had been received."""
        # Unconsumed bits: 1s only, or (when _carry_zero) a 0 already classified as
        # _carry_kind followed by 1s.
        self._carry = np.zeros(0, np.uint8)
        self._carry_zero = False
        self._carry_kind = _Kind.DATA
        self._in_frame = False  # a flag has opened a frame
        self._frame: list[np.ndarray] = []
        self._frame_len = 0
        self._flags_in_row = 0
        self._framing_ok = False

    def feed(self, bits: np.ndarray) -> list[Frame | HdlcEvent]:
        out: list[Frame | HdlcEvent] = []
        buf = np.concatenate([self._carry, np.asarray(bits, np.uint8)])
        zeros = np.flatnonzero(buf == 0)
        have_prev = self._carry_zero
        if len(zeros) <= int(have_prev):
            self._carry = buf
            self._check_ones_run(buf[int(have_prev):], out)
            return out
        runs = np.diff(zeros, prepend=-1) - 1
        kind = np.full(len(zeros), _Kind.DATA, dtype=np.int8)
        kind[runs == 5] = _Kind.STUFFED
        kind[runs == 6] = _Kind.FLAG
        kind[runs >= 7] = _Kind.ABORT
        if have_prev:
            kind[0] = self._carry_kind  # the carried 0, classified last time
        else:
            kind[0] = _Kind.DATA if runs[0] < 7 else _Kind.ABORT  # no 0 before it: not a flag
        keep = np.ones(len(buf), dtype=bool)
        keep[zeros[kind == _Kind.STUFFED]] = False
        last = int(zeros[-1])
        start = 1 if have_prev and self._carry_kind in (_Kind.FLAG, _Kind.ABORT) else 0
        first_marker = 1 if have_prev else 0
        for j in np.flatnonzero(kind[first_marker:] >= _Kind.FLAG) + first_marker:
            z = int(zeros[j])
            if kind[j] == _Kind.FLAG:
                self._take(buf, keep, start, max(start, z - 7))
                self._close_frame(out)
                self._in_frame = True
                self._flags_in_row += 1
                if self._flags_in_row >= self._framing_ok_flags:
                    self._report_framing(out)
            else:
                # Data up to the 0 before the run of 1s, as when the abort is seen early.
                self._take(buf, keep, start, max(start, z - int(runs[j]) - 1))
                self._abort(out)
            start = z + 1
        # Commit data up to (not including) the last 0: it may open the next flag.
        self._take(buf, keep, start, max(start, last))
        self._carry = buf[last:]
        self._carry_zero = True
        self._carry_kind = _Kind(int(kind[-1]))
        self._check_ones_run(self._carry[1:], out)
        return out

    def _take(self, buf: np.ndarray, keep: np.ndarray, a: int, b: int) -> None:
        """Append destuffed bits buf[a:b] to the open frame."""
        if not self._in_frame or b <= a:
            return
        seg = buf[a:b][keep[a:b]]
        if len(seg):
            self._flags_in_row = 0
            self._frame.append(seg)
            self._frame_len += len(seg)
            if self._frame_len > self._max_bits:
                self.dropped += 1
                self._frame, self._frame_len = [], 0
                self._in_frame = False

    def _close_frame(self, out: list) -> None:
        if not self._frame_len:
            return
        n = self._frame_len
        bits = np.concatenate(self._frame)
        self._frame, self._frame_len = [], 0
        if n % 8 or n < self._min_bits:
            self.dropped += 1
            return
        raw = bits_to_bytes(bits)
        ok = crc_ok(raw)
        if ok:
            self._report_framing(out)
        out.append(Frame(raw[:-2], ok))

    def _report_framing(self, out: list) -> None:
        if not self._framing_ok:
            self._framing_ok = True
            out.append(HdlcEvent.FRAMING_OK)

    def _abort(self, out: list) -> None:
        if self._in_frame and self._frame_len:
            out.append(HdlcEvent.ABORT)
        self._frame, self._frame_len = [], 0
        self._in_frame = False
        self._flags_in_row = 0
        self._framing_ok = False

    def _check_ones_run(self, tail: np.ndarray, out: list) -> None:
        """Seven 1s with no 0 yet: abort now rather than when the next 0 comes."""
        if len(tail) >= 7 and self._in_frame:
            self._abort(out)
        if len(self._carry) > 16:  # long idle of 1s: keep the 0 and a run that still reads as >= 7
            head = self._carry[:1] if self._carry_zero else self._carry[:0]
            self._carry = np.concatenate([head, np.ones(8, np.uint8)])
