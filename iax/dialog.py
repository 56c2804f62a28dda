"""What every IAX2 dialog shares: one call number, its peer, reliable full frames.

A call (`call.Call`) and a registration transaction (`registration`) are both dialogs: the
endpoint routes full frames to them by our call number and mini frames by the peer's.
`receive()` runs the reliability rules (implicit acknowledgement, ACK for each in-order or
duplicate frame, VNAK on a gap, resend on VNAK) and tells the dialog whether to act on the
frame.
"""

from __future__ import annotations

from .frames import FrameType, FullFrame, Iax, encode_full
from .reliable import Arrival, Reliable, Resend, RetryPolicy

Addr = tuple[str, int]
Out = list[tuple[bytes, Addr]]


class Dialog:
    """Call numbers, timestamps and reliable sending for one dialog."""

    def __init__(self, callno: int, addr: Addr, now: float, policy: RetryPolicy,
                 out: Out) -> None:
        self.callno = callno
        self.remote_callno = 0
        self.addr = addr
        self.frames_in = self.frames_out = 0
        self._policy = policy
        self._out = out
        self._rel = Reliable(policy)
        self._start = now
        self._last_ts = 0
        self._last_rx = now

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def restart_sequence(self) -> None:
        """Forget sequence numbers and pending frames (a NEW resent with a call token)."""
        self._rel = Reliable(self._policy)
        self.remote_callno = 0

    def abandon(self) -> None:
        """Stop retransmitting: the dialog is being dropped."""
        self._rel = Reliable(self._policy)

    def elapsed_ms(self, now: float) -> int:
        return int((now - self._start) * 1000) & 0xFFFFFFFF

    def send(self, ftype: int, sub: int, payload: bytes, now: float, *, ts: int | None = None,
             reliable: bool = True, sequenced: bool = True) -> None:
        """Send a full frame; reliable ones are kept until acknowledged (§7)."""
        if ts is None:
            ts = max(self.elapsed_ms(now), (self._last_ts + 1) & 0xFFFFFFFF)
            self._last_ts = ts
        oseq = self._rel.take_oseqno(sequenced)
        data = encode_full(FullFrame(self.callno, self.remote_callno, ts, oseq,
                                     self._rel.iseqno, ftype, sub, payload))
        self.frames_out += 1
        self._out.append((data, self.addr))
        if reliable:
            self._rel.track(oseq, data, now)

    def ack(self, frame: FullFrame, now: float) -> None:
        """ACK: the acknowledged frame's timestamp, our current sequence numbers (§6.9.1)."""
        self.send(FrameType.IAX, Iax.ACK, b"", now, ts=frame.timestamp, reliable=False,
                  sequenced=False)

    def receive(self, frame: FullFrame, now: float) -> Arrival:
        """Reliability for one incoming full frame; act on it only if IN_ORDER or UNSEQUENCED."""
        self.frames_in += 1
        self._last_rx = now
        if not self.remote_callno:
            self.remote_callno = frame.src_call
        if not frame.is_iax(Iax.INVAL):
            self._rel.acknowledge_below(frame.iseqno)
        arrival = self._rel.classify(frame)
        if arrival is Arrival.DUPLICATE:
            self.ack(frame, now)
        elif arrival is Arrival.AHEAD:
            self.send(FrameType.IAX, Iax.VNAK, b"", now, reliable=False, sequenced=False)
        elif arrival is Arrival.IN_ORDER:
            self.ack(frame, now)
        elif frame.is_iax(Iax.VNAK):
            self._out.extend((d, self.addr) for d in self._rel.resend_from(frame.iseqno, now))
        return arrival

    def resend_due(self, now: float) -> bool:
        """Resend what is due; False when a frame has exhausted its retries."""
        resend = self._rel.due(now)
        if resend is Resend.FAILED:
            return False
        self._out.extend((d, self.addr) for d in resend)
        return True

    @property
    def unacked(self) -> int:
        return self._rel.unacked

    def retransmit_deadline(self) -> float | None:
        return self._rel.next_deadline()
