"""A fixed-delay playout buffer: voice frames in by timestamp, one 20 ms slot out per tick.

What does it do?  Holds received voice for `delay_slots` ticks, puts frames back in
timestamp order, drops duplicates and frames too late to play, and says which slots are
missing so the fax engine can fill them in (``Receiver.fillin``).  The delay never changes:
a fax modem tolerates a constant delay but not time-stretching.

How?  Slot k holds the frame whose timestamp is ``origin + k * slot_ms`` (timestamps are
32-bit milliseconds, compared across wrap-around).  The first frame fixes the origin; the
application calls `pop()` once per 20 ms tick, and output starts `delay_slots` ticks after
the first frame arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reliable import ts_diff


@dataclass(frozen=True, slots=True)
class Slot:
    """One tick's audio: ``payload`` None means the slot is missing."""

    timestamp: int
    payload: bytes | None


class PlayoutBuffer:
    def __init__(self, delay_slots: int = 3, slot_ms: int = 20, capacity: int = 250) -> None:
        self.delay_slots = delay_slots
        self.slot_ms = slot_ms
        self.capacity = capacity
        self._origin: int | None = None
        self._next = 0          # index of the next slot to play
        self._waited = 0        # ticks since the first frame, until playout starts
        self._slots: dict[int, bytes] = {}
        self.received = self.played = self.missing = 0
        self.late = self.duplicates = self.out_of_range = 0

    def put(self, timestamp: int, payload: bytes) -> None:
        if self._origin is None:
            self._origin = timestamp
        offset = ts_diff(timestamp, self._origin)
        index, rem = divmod(offset, self.slot_ms)
        if rem >= self.slot_ms // 2:  # tolerate a peer a few ms off the 20 ms grid
            index += 1
        if index < self._next:
            self.late += 1
        elif index in self._slots:
            self.duplicates += 1
        elif index - self._next >= self.capacity:
            self.out_of_range += 1
        else:
            self.received += 1
            self._slots[index] = payload

    def pop(self) -> Slot | None:
        """The next slot (payload None if it never arrived), or None while still filling."""
        if self._origin is None:
            return None
        if self._waited < self.delay_slots:
            self._waited += 1
            return None
        index = self._next
        self._next += 1
        payload = self._slots.pop(index, None)
        if payload is None:
            self.missing += 1
        else:
            self.played += 1
        return Slot((self._origin + index * self.slot_ms) & 0xFFFFFFFF, payload)

    def __len__(self) -> int:
        return len(self._slots)
