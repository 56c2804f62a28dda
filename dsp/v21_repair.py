"""Repairing V.21 HDLC frames that lost a VoIP packet, from the bits around the gap.

What: over a VoIP line a lost 20 ms packet takes 6 bits out of a 300 bit/s V.21 frame,
and the frame's FCS fails; at 1 % packet loss a one-second frame (PPR, DIS with NSF) is
hit ~40 % of the time, and three such losses in a row end a call.  The receiver knows
*where* the bits went (its `fillin` says how many bit slots passed unheard), so the
damage is an erasure, not an error: `ErasureRepair` keeps the recent bits with an
erasure mask and, when a frame fails, tries every filling of the erased bits and
keeps the one the FCS accepts.

How: `feed` appends received bits, `erase(k)` appends k unknown bits (zeros in the
stream handed to the deframer: zeros can neither make a flag nor an abort) and marks
the first bit after the gap unknown too (its correlator window held the gap; it is
wrong ~40 % of the time in our measurements).  `repair` takes the last flag-bounded
stretch holding erased bits, tries all 2^k fillings (k <= `MAX_ERASED`, one lost
packet), and for each: bits after the last flag inside, destuffed, whole octets, FCS
residue good, address 0xFF and control 0x03/0x13 (T.30 §5.3.5.1.1/2).  Exactly one
distinct frame must pass, else nothing is claimed: with 2^7 fillings against a 16-bit
FCS and 16 bits of address and control, a wrong frame passes about once in 30 million
repairs.  Two lost packets in one frame (2^14 fillings) are left alone."""

from __future__ import annotations

import itertools

import numpy as np

from dsp.hdlc import Frame as HdlcFrame, HdlcReceiver

#: Erased bits one repair may fill: one lost 20 ms packet (6 bits) and the bit after it.
MAX_ERASED = 7
#: Bits kept: longer than any T.30 control frame sequence (a DIS with NSF is < 1200).
KEEP_BITS = 4096
_FLAG_BITS = np.array((0, 1, 1, 1, 1, 1, 1, 0), np.uint8)


def _flag_ends(bits: list[int], known: list[bool]) -> list[int]:
    """Indices just past each flag whose six 1s were received (its 0s may be erasures,
    which the deframer took as the 0s they stand in for)."""
    line = "".join(map(str, bits))
    ends = []
    i = line.find("01111110")
    while i >= 0:
        if all(known[i + 1:i + 7]):
            ends.append(i + 8)
        i = line.find("01111110", i + 1)
    return ends


def _frames_in(bits: list[int]) -> list[bytes]:
    """Good T.30 frames (FCS removed) in a stretch of line bits between two flags (a
    filling may make flags inside it: each part between them is tried), deframed by the
    same `HdlcReceiver` the terminal uses, with address 0xFF and control 0x03/0x13."""
    rx = HdlcReceiver()
    events = rx.feed(np.concatenate([_FLAG_BITS, np.asarray(bits, np.uint8), _FLAG_BITS]))
    return [ev.data for ev in events if isinstance(ev, HdlcFrame) and ev.crc_ok and len(ev.data) >= 3
            and ev.data[0] == 0xFF and ev.data[1] in (0x03, 0x13)]


class ErasureRepair:
    """The recent V.21 bits with their erasures (see the module docstring)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._bits: list[int] = []
        self._known: list[bool] = []
        self._erase_next = False
        self.repaired = 0

    def feed(self, bits: np.ndarray) -> None:
        """Received bits, first bit first."""
        if len(bits) == 0:
            return
        self._bits.extend(int(b) for b in bits)
        known = [True] * len(bits)
        if self._erase_next:
            known[0] = False
            self._erase_next = False
        self._known.extend(known)
        self._trim()

    def erase(self, k: int) -> np.ndarray:
        """`k` bit slots went unheard; returns the zeros to hand the deframer."""
        if k > 0:
            self._bits.extend([0] * k)
            self._known.extend([False] * k)
            self._erase_next = True
            self._trim()
        return np.zeros(max(0, k), np.uint8)

    def _trim(self) -> None:
        if len(self._bits) > KEEP_BITS:
            del self._bits[:-KEEP_BITS], self._known[:-KEEP_BITS]

    def repair(self) -> bytes | None:
        """The frame (FCS removed) that the last flag-bounded stretch with erasures
        held, when exactly one filling of its erased bits makes a good T.30 frame."""
        if all(self._known):
            return None  # nothing was lost lately: a frame that failed is not ours to mend
        ends = _flag_ends(self._bits, self._known)
        if len(ends) < 2 or ends[-1] - 8 <= ends[-2]:
            return None
        open_end, close_start = ends[-2], ends[-1] - 8
        seg = self._bits[open_end:close_start]
        gaps = [i for i, k in enumerate(self._known[open_end:close_start]) if not k]
        if not gaps or len(gaps) > MAX_ERASED:
            return None
        found = set()
        for fill in itertools.product((0, 1), repeat=len(gaps)):
            for i, b in zip(gaps, fill):
                seg[i] = b
            found.update(_frames_in(seg))
        if len(found) != 1:
            return None
        self.repaired += 1
        return found.pop()
