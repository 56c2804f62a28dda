"""Whole fax calls over audio in lock-step: two terminals (ours or spandsp's), each
direction through an optional seeded `LineModel`, 160 samples per tick."""

from __future__ import annotations

import numpy as np

from tests.support.line import LineModel

TICK = 160


class _Direction:
    """One direction of the line: re-blocks the model's output into 160-sample ticks and
    flags ticks lost in transit (any lost sample: the packet is gone)."""

    def __init__(self, model: LineModel | None) -> None:
        self.model = model
        self.buf = np.zeros(0, np.int16)
        self.lost = np.zeros(0, bool)

    def carry(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        if self.model is None:
            return samples, False
        y, lost = self.model.process_marked(samples)
        self.buf = np.concatenate([self.buf, y])
        self.lost = np.concatenate([self.lost, lost])
        if len(self.buf) < TICK:
            out, was_lost = np.concatenate([self.buf, np.zeros(TICK - len(self.buf), np.int16)]), False
            self.buf, self.lost = self.buf[:0], self.lost[:0]
            return out, was_lost
        out, was_lost = self.buf[:TICK], bool(self.lost[:TICK].any())
        self.buf, self.lost = self.buf[TICK:], self.lost[TICK:]
        return out, was_lost


def run_call(a, b, *, line_ab: LineModel | None = None, line_ba: LineModel | None = None,
             max_seconds: float = 300, tail_seconds: float = 1.5) -> float:
    """Tick until both terminals have finished (plus `tail_seconds`, as the side that
    sent DCN ends first), or `max_seconds` of audio; returns the audio seconds used."""
    ab, ba = _Direction(line_ab), _Direction(line_ba)
    n = 0
    done_at = None
    limit = int(max_seconds * 8000)
    while n < limit:
        sa = a.transmit(TICK)
        sb = b.transmit(TICK)
        xa, lost_a = ab.carry(sa)
        xb, lost_b = ba.carry(sb)
        b.fillin(TICK) if lost_a else b.receive(xa)
        a.fillin(TICK) if lost_b else a.receive(xb)
        n += TICK
        if a.finished and b.finished:
            done_at = n if done_at is None else done_at
            if n - done_at >= tail_seconds * 8000:
                break
    return n / 8000
