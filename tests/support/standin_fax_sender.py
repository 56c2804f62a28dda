"""A STAND-IN for the telephony layer (IAX2 call + FaxTerminal) behind the `FaxSender` seam.

Until the real sender exists, the queue runner tests drive this: each call follows a
scripted `Attempt` (fail with a class, confirm N pages, hold until released) and the
stand-in records what it was asked to send and how many calls overlapped.  It implements
`mailfax.queue_runner.FaxSender`; it is not a model of fax timing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from mailfax.jobs import FailureClass
from mailfax.queue_runner import SendOutcome, SendProgress, SendRequest

_CODES = {None: "OK", FailureClass.BUSY: "BUSY", FailureClass.NO_ANSWER: "NO_ANSWER",
          FailureClass.PROTOCOL: "T30_PPS_RTN", FailureClass.LINE: "TRUNK_DOWN", FailureClass.PERMANENT: "REJECTED"}


@dataclass
class Attempt:
    failure: FailureClass | None = None
    confirm: int | None = None          # pages to confirm; None = all on success, none on failure
    hold: asyncio.Event | None = None   # wait for this before ending the call


@dataclass
class Call:
    request: SendRequest
    pages: int


@dataclass
class StandInFaxSender:
    script: dict[str, list[Attempt]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_active: int = 0
    max_per_number: int = 0

    async def send(self, job: SendRequest, pages, *, on_progress) -> SendOutcome:
        self.calls.append(Call(job, len(pages)))
        queue = self.script.get(job.number) or []
        attempt = queue.pop(0) if queue else Attempt()
        self.active[job.number] += 1
        self.max_active = max(self.max_active, sum(self.active.values()))
        self.max_per_number = max(self.max_per_number, self.active[job.number])
        try:
            connected = attempt.failure in (None, FailureClass.PROTOCOL)
            if connected:
                on_progress(SendProgress(connected=True))
            if attempt.confirm is None:
                n = len(pages) if attempt.failure is None else 0
            else:
                n = min(attempt.confirm, len(pages))
            for i in range(n):
                await asyncio.sleep(0)
                on_progress(SendProgress(pages_confirmed=i + 1))
            if attempt.hold is not None:
                await attempt.hold.wait()
        finally:
            self.active[job.number] -= 1
        return SendOutcome(
            completion=_CODES[attempt.failure], failure=attempt.failure, pages_confirmed=n, connected=connected,
            bit_rate=14400 if connected else None, ecm=True if connected else None,
            remote_ident="+49 30 9999" if connected else None, duration=12.5,
            transcript=("-> DIS", "<- DCS", "-> CFR") if connected else ("call: " + _CODES[attempt.failure],),
        )
