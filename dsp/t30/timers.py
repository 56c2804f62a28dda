"""T.30 timers, counted in samples at 8000 Hz (T.30 §5.4.3.1 and Annex A).

T1 (35 s ± 5): the two terminals must identify each other within it.
T2 (6 s ± 1): a receiving terminal waits this long for the next command or page.
T4 (3 s ± 15 %): a commanding terminal waits this long for a response before repeating.
T5 (60 s ± 5): how long a transmitter keeps asking RR while the receiver says RNR.
T0 (60 s) bounds the calling terminal's wait for any answer at all; TX is our own guard
around a transmission the front end never reports finished, PAGE the same around a
received page whose carrier never drops (continuous noise: spandsp hangs there).

Only one protocol timer of each kind runs at a time; `Timers.advance` returns the ones
that expired, in the order they expired.
"""

from __future__ import annotations

import enum

SAMPLE_RATE = 8000


def ms(milliseconds: float) -> int:
    return int(milliseconds * SAMPLE_RATE // 1000)


class Timer(enum.Enum):
    T0 = "T0"
    T1 = "T1"
    T2 = "T2"
    T4 = "T4"
    T5 = "T5"
    TX = "TX"
    PAUSE = "PAUSE"  # a short deliberate wait (e.g. between RNR and the next RR)
    PAGE = "PAGE"  # bounds one page's reception, should the carrier never drop


DURATION = {
    Timer.T0: ms(60_000),
    Timer.T1: ms(35_000),
    Timer.T2: ms(6_000),
    Timer.T4: ms(3_000),
    Timer.T5: ms(60_000),
    # An A3 superfine page at 2400 bit/s with 20 ms lines takes about 4 minutes.
    Timer.PAGE: ms(600_000),
}


class Timers:
    """A small set of one-shot countdowns in samples."""

    def __init__(self) -> None:
        self._left: dict[Timer, int] = {}

    def start(self, timer: Timer, samples: int | None = None) -> None:
        self._left[timer] = DURATION[timer] if samples is None else max(1, int(samples))

    def stop(self, *timers: Timer) -> None:
        for t in timers:
            self._left.pop(t, None)

    def running(self, timer: Timer) -> bool:
        return timer in self._left

    def remaining(self, timer: Timer) -> int | None:
        return self._left.get(timer)

    def next_expiry(self) -> int | None:
        """Samples until the earliest timer fires, or None when none runs."""
        return min(self._left.values()) if self._left else None

    def advance(self, samples: int) -> list[Timer]:
        fired = []
        for t, left in sorted(self._left.items(), key=lambda kv: kv[1]):
            left -= samples
            if left <= 0:
                fired.append(t)
                del self._left[t]
            else:
                self._left[t] = left
        return fired

    def clear(self) -> None:
        self._left.clear()
