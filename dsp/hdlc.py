"""HDLC framing on bit arrays, as T.30 uses it over any modem (ITU-T T.30 §5.3, ISO/IEC 13239).

What: `encode_frames` turns frames (octets without FCS) into the bits a modem sends:
a preamble of flags (0x7E), each frame with its CRC-16 FCS and zero-bit stuffing,
flags between frames and closing flags.  `HdlcReceiver.feed(bits)` does the reverse
on a bit stream cut anywhere, and returns, in stream order, `Frame` values (with
``crc_ok``) and `HdlcEvent` reports (framing established, abort).

How: the transmitter is whole-array numpy.  The receiver is a bit-serial state machine
(`_deframe`, compiled with numba; its plain-Python original `_deframe.py_func` is
tested to agree): it counts the run of 1s, and each 0 ends the run — after 5 ones it is
a stuffed 0 and is dropped, after 6 it closes a flag, after 7 or more an abort was
seen (at the 7th one).  Bits are packed into the frame buffer as they come; on a flag
the 6 ones (and the flag's leading 0, when it had been taken as data) are taken back
off.  All state lives in small arrays, so a stream cut anywhere decodes the same.

Bits are sent least significant bit first within each octet; the FCS is CRC-16/ITU-T
(generator x^16 + x^12 + x^5 + 1, preset all ones, ones-complemented, sent low octet
first), so a whole frame including its FCS leaves the residue 0xF0B8 (T.30 §5.3,
ISO/IEC 13239).
"""

from __future__ import annotations

import binascii
import enum
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

#: The flag octet 0x7E as bits, first bit first.
FLAG_BITS = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=np.uint8)
#: Seven ones: an abort (any run of 7 or more 1s, ISO/IEC 13239).
ABORT_BITS = np.ones(7, dtype=np.uint8)

_REVERSE = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=np.uint8)


def crc16(data: bytes) -> int:
    """CRC-16/ITU-T (X.25 FCS) of `data`, before complementing (T.30 §5.3).

    binascii.crc_hqx computes the same polynomial most-significant-bit first; HDLC's
    is least-significant-bit first, so the octets go in bit-reversed and the result
    comes out bit-reversed."""
    r = binascii.crc_hqx(_REVERSE[np.frombuffer(data, np.uint8)].tobytes(), 0xFFFF)
    return int(_REVERSE[r >> 8]) | (int(_REVERSE[r & 0xFF]) << 8)


def fcs(data: bytes) -> bytes:
    """The two FCS octets appended to `data`, in sending order."""
    v = crc16(data) ^ 0xFFFF
    return bytes((v & 0xFF, v >> 8))


_REVERSE_LIST = _REVERSE.tolist()


def _fcs_many(frames: list[bytes]) -> list[bytes]:
    """`fcs` of each frame, the bit reversal done once over all of them."""
    rev = _REVERSE[np.frombuffer(b"".join(frames), np.uint8)].tobytes()
    out, at = [], 0
    for f in frames:
        r = binascii.crc_hqx(rev[at: at + len(f)], 0xFFFF) ^ 0xFFFF
        at += len(f)
        out.append(bytes((_REVERSE_LIST[r >> 8], _REVERSE_LIST[r & 0xFF])))
    return out


def crc_ok(frame_with_fcs: bytes) -> bool:
    """Whether a received frame (FCS included) checks: the CRC residue is 0xF0B8."""
    return len(frame_with_fcs) >= 2 and crc16(frame_with_fcs) == 0xF0B8


def bytes_to_bits(data: bytes) -> np.ndarray:
    """Octets -> bits, least significant bit of each octet first."""
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Bits (a whole number of octets) -> octets, LSB first."""
    return np.packbits(np.asarray(bits, np.uint8), bitorder="little").tobytes()


def _stuff_after(bits: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Indices of the bits after which a stuffed 0 goes: every 5th 1 of each run of
    1s, a run also ending before each index in `cuts` (frame starts).

    Only windows of five 1s are looked at (a few ANDs over the stream, then small
    arrays): consecutive window ends form one run, stuffed at its 5th, 10th, ... 1."""
    b = np.asarray(bits, np.uint8)
    if len(b) < 5:
        return np.zeros(0, np.int64)
    five = b[:-4] & b[1:-3] & b[2:-2] & b[3:-1] & b[4:]  # five[w]: bits w..w+4 all 1
    for k in range(1, 5):  # no window may straddle a frame start
        w = cuts - k
        five[w[(w >= 0) & (w < len(five))]] = 0
    ends = np.flatnonzero(five.view(bool)) + 4
    if not len(ends):
        return ends
    first = np.ones(len(ends), bool)
    first[1:] = np.diff(ends) != 1
    run_end0 = np.maximum.accumulate(np.where(first, ends, 0))  # first window end of the run
    return ends[(ends - run_end0) % 5 == 0]


def stuff(bits: np.ndarray) -> np.ndarray:
    """Insert a 0 after every five consecutive 1s (ISO/IEC 13239 transparency)."""
    b = np.asarray(bits, np.uint8)
    return np.insert(b, _stuff_after(b, np.zeros(0, np.int64)) + 1, 0)


def preamble_flags(bit_rate: int, seconds: float = 1.0) -> int:
    """Flags that fill `seconds` at `bit_rate`: T.30 §5.3 wants 1 s ± 15 % of flags
    before the first frame after the V.21 carrier comes up (38 flags at 300 bit/s)."""
    return math.ceil(bit_rate * seconds / 8)


def encode_frames(frames: list[bytes] | tuple[bytes, ...], *, preamble: int = 38,
                  between: int = 1, closing: int = 2) -> np.ndarray:
    """The bits for `frames` (octets without FCS): `preamble` flags, each frame with
    its FCS, stuffed, `between` flags between frames (at least 1, the shared closing
    and opening flag), and `closing` flags after the last frame (at least 1)."""
    return FrameEncoder(frames, preamble=preamble, between=between, closing=closing).next_bits(len(frames))


class FrameEncoder:
    """`encode_frames` in pieces: ``next_bits(k)`` gives the bits of the next k frames
    (the preamble with the first piece, the closing flags with the last), so a sender
    can feed a modem as it goes instead of framing a whole ECM block (256 frames of
    256 octets, ~0.5 Mbit) inside one 20 ms tick.  The pieces joined are exactly
    `encode_frames`' output.

    Each piece's frames are stuffed in one pass over their concatenated bits (a run of
    ones restarts at each frame's first bit), then the flags go in between."""

    def __init__(self, frames: list[bytes] | tuple[bytes, ...], *, preamble: int = 38,
                 between: int = 1, closing: int = 2) -> None:
        self._frames = [bytes(f) for f in frames]
        self._head = np.tile(FLAG_BITS, max(preamble, 1))
        self._gap = np.tile(FLAG_BITS, max(between, 1))
        self._tail = np.tile(FLAG_BITS, max(closing, 1))
        self._next = 0
        self._started = False
        self.done = False

    def next_bits(self, max_frames: int) -> np.ndarray:
        """The bits of up to `max_frames` more frames; an empty array once done."""
        if self.done:
            return np.zeros(0, np.uint8)
        first = self._next
        chunk = self._frames[first: first + max(max_frames, 0)]
        self._next += len(chunk)
        parts = [] if self._started else [self._head]
        self._started = True
        if chunk:
            if first:
                parts.append(self._gap)
            parts.append(self._body(chunk))
        if self._next == len(self._frames):
            parts.append(self._tail)
            self.done = True
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8)

    def _body(self, frames: list[bytes]) -> np.ndarray:
        """`frames` with their FCS, stuffed, `between` flags between them."""
        bits = bytes_to_bits(b"".join(f + fcs for f, fcs in zip(frames, _fcs_many(frames))))
        starts = 8 * np.cumsum([0] + [len(f) + 2 for f in frames[:-1]])
        after = _stuff_after(bits, starts[1:])
        stuffed = np.insert(bits, after + 1, 0)
        # A frame's start moves by the stuffed 0s inserted before it (those after its
        # predecessor's last bit included: they stay inside the predecessor).
        new_starts = starts[1:] + np.searchsorted(after, starts[1:])
        gap = self._gap
        return np.insert(stuffed, np.repeat(new_starts, len(gap)), np.tile(gap, len(new_starts)))


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


# Receiver state slots (int64 array) and event kinds.
_ONES, _IN_FRAME, _NBITS, _ACC, _FLEN, _ZERO_TAKEN, _FLAGS_IN_ROW, _FRAMING_OK, _DROPPED, _DAMAGED = range(10)
_N_STATE = 10
_EV_BAD_FRAME, _EV_GOOD_FRAME, _EV_FRAMING_OK, _EV_ABORT = 0, 1, 2, 3


def _crc_table() -> np.ndarray:
    """Byte-at-a-time table for the reflected CRC-16/ITU (polynomial 0x8408)."""
    t = np.zeros(256, np.int64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t[i] = c
    return t


_CRC_TABLE = _crc_table()


@njit(cache=True)
def _deframe(bits, st, frame, min_bits, max_octets, framing_ok_flags, crc_table,
             ev_kind, ev_start, ev_len, out_bytes):
    """Run `bits` through the deframer state `st` (and `frame`, the octets of the open
    frame).  Writes events; a frame event's octets (FCS included) are copied to
    out_bytes[ev_start:ev_start + ev_len].  Returns the number of events."""
    ne = 0
    nb = 0
    for i in range(bits.shape[0]):
        b = np.int64(bits[i])
        if b:
            st[_ONES] += 1
            ones = st[_ONES]
            if ones == 7:  # abort: 7 ones in a row
                data_bits = st[_FLEN] * 8 + st[_NBITS] - 6 - st[_ZERO_TAKEN]
                if st[_IN_FRAME] == 1 and data_bits > 0:
                    ev_kind[ne] = _EV_ABORT
                    ne += 1
                st[_IN_FRAME] = 0
                st[_FLEN] = 0
                st[_NBITS] = 0
                st[_ACC] = 0
                st[_FLAGS_IN_ROW] = 0
                st[_FRAMING_OK] = 0
                continue
            if ones > 7 or st[_IN_FRAME] == 0:
                continue
        else:
            ones = st[_ONES]
            st[_ONES] = 0
            if ones == 5 or ones >= 7:  # stuffed 0, or the 0 that ends an abort
                st[_ZERO_TAKEN] = 0
                continue
            if ones == 6:  # a flag: close the open frame, open the next
                if st[_IN_FRAME] == 1:
                    data_bits = st[_FLEN] * 8 + st[_NBITS] - 6 - st[_ZERO_TAKEN]
                    if data_bits > 0:
                        st[_FLAGS_IN_ROW] = 0
                        if data_bits % 8 != 0 or data_bits < min_bits:
                            st[_DROPPED] += 1
                            if data_bits >= min_bits:
                                st[_DAMAGED] += 1
                        else:
                            n = data_bits // 8
                            crc = 0xFFFF
                            for k in range(n):
                                crc = (crc >> 8) ^ crc_table[(crc ^ np.int64(frame[k])) & 0xFF]
                            out_bytes[nb:nb + n] = frame[:n]
                            if crc == 0xF0B8:  # the good-FCS residue (T.30 §5.3)
                                if st[_FRAMING_OK] == 0:
                                    st[_FRAMING_OK] = 1
                                    ev_kind[ne] = _EV_FRAMING_OK
                                    ne += 1
                                ev_kind[ne] = _EV_GOOD_FRAME
                            else:
                                ev_kind[ne] = _EV_BAD_FRAME
                            ev_start[ne] = nb
                            ev_len[ne] = n
                            ne += 1
                            nb += n
                st[_IN_FRAME] = 1
                st[_FLEN] = 0
                st[_NBITS] = 0
                st[_ACC] = 0
                st[_ZERO_TAKEN] = 0
                st[_FLAGS_IN_ROW] += 1
                if st[_FLAGS_IN_ROW] >= framing_ok_flags and st[_FRAMING_OK] == 0:
                    st[_FRAMING_OK] = 1
                    ev_kind[ne] = _EV_FRAMING_OK
                    ne += 1
                continue
            if st[_IN_FRAME] == 0:
                st[_ZERO_TAKEN] = 0
                continue
            st[_ZERO_TAKEN] = 1
        # A data bit of the open frame: pack it, least significant bit first.
        st[_ACC] |= b << st[_NBITS]
        st[_NBITS] += 1
        if st[_NBITS] == 8:
            if st[_FLEN] >= max_octets:  # runaway frame: drop it, wait for a flag
                st[_DROPPED] += 1
                st[_IN_FRAME] = 0
                st[_FLEN] = 0
            else:
                frame[st[_FLEN]] = st[_ACC]
                st[_FLEN] += 1
            st[_NBITS] = 0
            st[_ACC] = 0
    return ne


class HdlcReceiver:
    """Streaming HDLC deframer: ``feed(bits) -> list[Frame | HdlcEvent]``.

    FRAMING_OK is reported once `framing_ok_flags` flags came in a row (T.30 takes that
    as "an HDLC signal is being received"), or on a frame with a good FCS; it is reported
    again only after an abort or `restart`.  Frames that are not a whole number of
    octets, shorter than `min_octets` (FCS included) or longer than `max_octets` are
    dropped silently (noise between flags looks like that); `dropped` counts them, and
    `damaged` those of them at least `min_octets` long but not whole octets (a frame
    that lost or gained bits on the way, e.g. a lost VoIP packet in a V.21 frame)."""

    def __init__(self, *, framing_ok_flags: int = 4, min_octets: int = 4, max_octets: int = 1024) -> None:
        self._framing_ok_flags = framing_ok_flags
        self._min_bits = 8 * min_octets
        self._max_octets = max_octets
        self.restart()

    def restart(self) -> None:
        """Forget everything: as if no bit had been received."""
        self._st = np.zeros(_N_STATE, np.int64)
        self._st[_ONES] = 7  # no 0 seen yet: the first 0 cannot end a flag
        self._frame = np.zeros(self._max_octets + 1, np.uint8)

    @property
    def dropped(self) -> int:
        return int(self._st[_DROPPED])

    @property
    def damaged(self) -> int:
        return int(self._st[_DAMAGED])

    def feed(self, bits: np.ndarray) -> list[Frame | HdlcEvent]:
        b = np.asarray(bits, np.uint8)
        cap = len(b) // 3 + 4
        ev_kind = np.empty(cap, np.int64)
        ev_start = np.empty(cap, np.int64)
        ev_len = np.empty(cap, np.int64)
        out_bytes = np.empty(len(b) // 8 + self._max_octets + 2, np.uint8)
        ne = _deframe(b, self._st, self._frame, self._min_bits, self._max_octets,
                      self._framing_ok_flags, _CRC_TABLE, ev_kind, ev_start, ev_len, out_bytes)
        out: list[Frame | HdlcEvent] = []
        for j in range(ne):
            kind = ev_kind[j]
            if kind <= _EV_GOOD_FRAME:
                raw = out_bytes[ev_start[j]: ev_start[j] + ev_len[j] - 2].tobytes()
                out.append(Frame(raw, bool(kind == _EV_GOOD_FRAME)))
            elif kind == _EV_FRAMING_OK:
                out.append(HdlcEvent.FRAMING_OK)
            else:
                out.append(HdlcEvent.ABORT)
        return out
