"""mailfax.progress: one redrawn line on a terminal, nothing on a pipe; injected clock."""

import io

from mailfax.progress import Progress, bar, elapsed


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_bar_and_elapsed():
    assert bar(0, 4) == "[----------]" and bar(2, 4) == "[#####-----]" and bar(9, 4) == "[##########]"
    assert bar(1, 0) == "[----------]"
    assert elapsed(41) == "0:41" and elapsed(3725) == "1:02:05"


def test_redraws_on_a_terminal_rate_limited():
    out, clock = io.StringIO(), Clock()
    p = Progress(out, clock=clock, enabled=True)
    p.update("job 7 +4930123456: sending", 1, 4)
    p.update("job 7 +4930123456: sending", 2, 4)       # too soon: not drawn
    clock.t += 0.5
    p.update("job 7 +4930123456: sending", 2, 4)
    p.update("job 7 +4930123456: sending", 2, 4)       # unchanged: not drawn
    p.finish()
    frames = out.getvalue().split("\r\x1b[K")
    assert frames == ["", "job 7 +4930123456: sending  [##--------] 1/4 pages  0:00",
                      "job 7 +4930123456: sending  [#####-----] 2/4 pages  0:00", ""]


def test_silent_off_a_terminal():
    out = io.StringIO()  # isatty() is False
    p = Progress(out, clock=Clock())
    p.update("job 1: sending", 1, 2)
    p.finish()
    assert out.getvalue() == ""
