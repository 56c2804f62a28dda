"""Reliable delivery of full frames for one call (RFC 5456 §7, §8.1.4) and timestamp arithmetic.

What does it do?  Keeps a call's outbound sequence number (oseqno), the inbound one it
expects next (iseqno), and the full frames sent but not yet acknowledged.  A frame is
acknowledged explicitly by an ACK or implicitly by any full frame whose iseqno has moved past
it.  Unacknowledged frames are resent with the R bit set, the interval doubling each time, and
after `max_retries` resends the call has failed (the caller tears it down).  VNAK asks for
everything from a sequence number on to be resent at once.

On the receiving side `classify()` says whether a full frame is the next in order, an
unsequenced one (ACK, INVAL, VNAK, TXCNT, TXACC), a duplicate of something already taken
(to be ACKed again and dropped) or ahead of a gap (to be dropped and VNAKed, so the peer
resends in order): this is how reordering and duplication are handled.

Timestamps: full frames carry 32 bits of milliseconds, mini frames the low 16; `unwrap16`
rebuilds the 32-bit value nearest to the last one seen, across both wrap-arounds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .frames import FullFrame, mark_retransmitted


class Arrival(enum.Enum):
    IN_ORDER = "in order"
    UNSEQUENCED = "unsequenced"
    DUPLICATE = "duplicate"
    AHEAD = "ahead of a gap"


class Resend(enum.Enum):
    NOTHING = "nothing"
    FAILED = "retry limit reached"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retransmission: first after `initial`, doubling up to `maximum`, `max_retries` resends."""

    initial: float = 0.25
    maximum: float = 4.0
    max_retries: int = 5


@dataclass(slots=True)
class _Pending:
    datagram: bytes
    deadline: float
    interval: float
    retries: int = 0


def seq_distance(a: int, b: int) -> int:
    """How far ``a`` is ahead of ``b`` in 8-bit sequence space (0..255)."""
    return (a - b) & 0xFF


def unwrap16(last32: int, ts16: int) -> int:
    """The 32-bit timestamp ending in ``ts16`` nearest to ``last32`` (mini frames, §8.1.2)."""
    candidate = (last32 & 0xFFFF0000) | (ts16 & 0xFFFF)
    delta = (candidate - last32) & 0xFFFFFFFF
    if delta >= 0x80000000:
        delta -= 0x100000000
    if delta > 0x8000:
        candidate -= 0x10000
    elif delta < -0x8000:
        candidate += 0x10000
    return candidate & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed difference ``a - b`` of two 32-bit timestamps, across wrap-around."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


class Reliable:
    """Sequence numbers, acknowledgement and retransmission for one call."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.oseqno = 0   # next sequence number we send
        self.iseqno = 0   # next sequence number we expect
        self._acked = 0   # lowest of our sequence numbers not yet acknowledged
        self._pending: dict[int, _Pending] = {}

    # -- sending ---------------------------------------------------------------
    def take_oseqno(self, sequenced: bool) -> int:
        """The oseqno for the next frame; advanced unless the frame is unsequenced."""
        seq = self.oseqno
        if sequenced:
            self.oseqno = (seq + 1) & 0xFF
        return seq

    def track(self, oseqno: int, datagram: bytes, now: float) -> None:
        self._pending[oseqno] = _Pending(datagram, now + self.policy.initial,
                                         self.policy.initial)

    @property
    def unacked(self) -> int:
        return len(self._pending)

    def next_deadline(self) -> float | None:
        if not self._pending:
            return None
        return min(p.deadline for p in self._pending.values())

    def due(self, now: float) -> list[bytes] | Resend:
        """Datagrams to resend now, or FAILED when one has used up its retries."""
        out: list[bytes] = []
        for p in self._pending.values():
            if p.deadline <= now:
                if p.retries >= self.policy.max_retries:
                    return Resend.FAILED
                p.retries += 1
                p.interval = min(p.interval * 2, self.policy.maximum)
                p.deadline = now + p.interval
                out.append(mark_retransmitted(p.datagram))
        return out

    def resend_from(self, seq: int, now: float) -> list[bytes]:
        """VNAK (§6.9.3): resend every unacknowledged frame from ``seq`` on, in order."""
        span = seq_distance(self.oseqno, seq)
        out = []
        for oseq in sorted(self._pending, key=lambda s: seq_distance(s, seq)):
            if seq_distance(oseq, seq) < span:
                p = self._pending[oseq]
                p.deadline = now + p.interval
                out.append(mark_retransmitted(p.datagram))
        return out

    def acknowledge_below(self, iseqno: int) -> None:
        """Implicit acknowledgement: the peer has everything before ``iseqno`` (§8.1.4)."""
        window = seq_distance(self.oseqno, self._acked)
        if seq_distance(iseqno, self._acked) > window:
            return  # outside what we have sent: stale or forged
        while self._acked != iseqno:
            self._pending.pop(self._acked, None)
            self._acked = (self._acked + 1) & 0xFF

    # -- receiving ---------------------------------------------------------------
    def classify(self, frame: FullFrame) -> Arrival:
        if not frame.sequenced:
            return Arrival.UNSEQUENCED
        if frame.oseqno == self.iseqno:
            self.iseqno = (self.iseqno + 1) & 0xFF
            return Arrival.IN_ORDER
        if 0 < seq_distance(self.iseqno, frame.oseqno) < 128:
            return Arrival.DUPLICATE
        return Arrival.AHEAD
