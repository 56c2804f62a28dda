"""A one-line progress display for long CLI work (``mailfax send --wait``).

What does it do?  `Progress.update(text, done, total)` redraws one status line on a
terminal: ``job 7 +4930123456: sending  [#####-----] 2/4 pages  0:41``.  On anything that is
not a terminal (a pipe, a log file, cron) it prints nothing until `finish()`, so scripted
output stays one clean line per result.  Redraws are rate-limited and only happen when
the text changes, so polling loops may call `update` as often as they like.

How does it work?  Carriage return plus an erase-to-end-of-line escape; the clock is
injected (``clock``) so tests drive it with plain numbers.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def bar(done: int, total: int, width: int = 10) -> str:
    """``[###-------]`` for ``done`` of ``total`` (empty bar for an unknown total)."""
    if total <= 0:
        return "[" + "-" * width + "]"
    filled = min(width, max(0, round(width * done / total)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def elapsed(seconds: float) -> str:
    m, s = divmod(int(max(0, seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class Progress:
    """One redrawable status line on ``stream`` (stderr by default); silent off a terminal."""

    def __init__(self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic,
                 min_interval: float = 0.2, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.min_interval = min_interval
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = clock()
        self._last_text = ""
        self._last_at = float("-inf")
        self._shown = False

    def line(self, text: str, done: int, total: int) -> str:
        unit = f" {done}/{total} pages" if total else ""
        return f"{text}  {bar(done, total)}{unit}  {elapsed(self.clock() - self.started)}"

    def update(self, text: str, done: int = 0, total: int = 0) -> None:
        if not self.enabled:
            return
        now = self.clock()
        key = f"{text}|{done}|{total}|{int(now - self.started)}"
        if key == self._last_text or now - self._last_at < self.min_interval:
            return
        self._last_text, self._last_at = key, now
        self.stream.write("\r\x1b[K" + self.line(text, done, total))
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        """End the status line (the caller prints its result on a fresh line)."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
