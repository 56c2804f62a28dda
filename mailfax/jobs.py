"""Fax jobs as pure data: states, the transition table, the retry policy, scheduling.

What does it do?  Everything about a job that does not touch a disk, a socket or a clock:
which state may follow which, what happens after an attempt (retry when, or give up, and
why), which ready jobs may be dialled now given the per-number and per-trunk limits.  The
store (`mailfax.store`) persists these values; the queue runner drives them.

How does it work?  `TRANSITIONS` lists every legal move in one place.  `after_attempt`
takes the job's counters, the attempt's outcome and ``now`` and returns a `Next` value:
the new state, when to try again and the reason in plain words.  The retry defaults are
HylaFAX's (faxq/JobControl): busy 3 min, no answer 5 min, a failed fax session 1 min; at
most 12 dials and 3 connected tries; give up 3 h after submission (after the scheduled
time for a job sent with ``--at``: `JobSettings.give_up_start`, as HylaFAX counts its
killtime from the time to send).  A job is "done" only
when every page has been confirmed (MCF on the last page), never on a call that merely
ended well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Iterable, Mapping


class JobState(enum.Enum):
    QUEUED = "queued"            # accepted, not converted yet
    CONVERTING = "converting"    # documents being rendered into pages
    READY = "ready"              # pages ready, waiting for a line
    DIALLING = "dialling"        # call being placed
    SENDING = "sending"          # fax session running
    RETRY_WAIT = "retry-wait"    # waiting for next_try_at: an attempt failed, or scheduled (--at)
    DONE = "done"                # every page confirmed by the receiver
    FAILED = "failed"            # given up (reason recorded)
    CANCELLED = "cancelled"      # cancelled by a user

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    @property
    def active(self) -> bool:
        """A call is in progress (the job holds a line and its destination)."""
        return self in (JobState.DIALLING, JobState.SENDING)


S = JobState
#: state -> states it may move to.  The one place every legal transition is written down.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.CONVERTING, S.CANCELLED}),
    S.CONVERTING: frozenset({S.READY, S.RETRY_WAIT, S.FAILED, S.QUEUED, S.CANCELLED}),  # RETRY_WAIT: scheduled
    S.READY: frozenset({S.DIALLING, S.CANCELLED, S.FAILED}),
    S.DIALLING: frozenset({S.SENDING, S.RETRY_WAIT, S.FAILED, S.DONE, S.CANCELLED}),
    S.SENDING: frozenset({S.DONE, S.RETRY_WAIT, S.FAILED, S.CANCELLED}),
    S.RETRY_WAIT: frozenset({S.READY, S.FAILED, S.CANCELLED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset({S.READY, S.QUEUED}),     # `mailfax retry` (QUEUED: never converted)
    S.CANCELLED: frozenset({S.READY, S.QUEUED}),  # `mailfax retry` on a cancelled job
}


def can_move(old: JobState, new: JobState) -> bool:
    return new in TRANSITIONS[old]


class FailureClass(enum.Enum):
    """Why an attempt failed, as far as retrying is concerned."""

    BUSY = "busy"                  # line busy / congestion / REJECT busy
    NO_ANSWER = "no-answer"        # rang out, or answered by something that is not a fax
    PROTOCOL = "protocol"          # connected to a fax, the T.30 session failed
    LINE = "line"                  # trunk down, network error, our own transient trouble
    PERMANENT = "permanent"        # number invalid, rejected for good: do not retry

    @property
    def connected(self) -> bool:
        """Whether the attempt reached a fax machine (counts against max_tries)."""
        return self is FailureClass.PROTOCOL


#: T.30 completion names (`dsp.t30.completion.Completion`) whose retry class is not PROTOCOL.
#: No DIS within T0/T1 means no fax machine answered (HylaFAX retries it as "no answer");
#: a far end that cannot take our page size or resolution will not take it on a retry either.
COMPLETION_CLASS = {
    "OK": None,
    "T0_EXPIRED": FailureClass.NO_ANSWER,
    "T1_EXPIRED": FailureClass.NO_ANSWER,
    "INCOMPATIBLE": FailureClass.PERMANENT,
    "RESOLUTION_UNSUPPORTED": FailureClass.PERMANENT,
    "SIZE_UNSUPPORTED": FailureClass.PERMANENT,
}


def failure_for_completion(name: str) -> FailureClass | None:
    """The retry class of a fax session's completion (by name); None for OK."""
    return COMPLETION_CLASS.get(name, FailureClass.PROTOCOL)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again; seconds and counts (defaults from HylaFAX's faxq)."""

    busy: float = 180.0
    no_answer: float = 300.0
    protocol: float = 60.0
    other: float = 60.0
    max_dials: int = 12
    max_tries: int = 3
    give_up_after: float = 3 * 3600.0

    def delay(self, failure: FailureClass) -> float:
        return {
            FailureClass.BUSY: self.busy,
            FailureClass.NO_ANSWER: self.no_answer,
            FailureClass.PROTOCOL: self.protocol,
        }.get(failure, self.other)


@dataclass(frozen=True)
class Progress:
    """A job's counters, as the retry decision needs them."""

    created_at: float
    dials: int = 0           # calls placed so far (including the one just ended)
    tries: int = 0           # calls that reached a fax session so far (ditto)
    pages_total: int = 0
    pages_confirmed: int = 0


@dataclass(frozen=True)
class Next:
    """What happens to a job after an attempt."""

    state: JobState
    next_try_at: float | None
    reason: str


_PLAIN = {
    FailureClass.BUSY: "the line was busy",
    FailureClass.NO_ANSWER: "no fax machine answered",
    FailureClass.PROTOCOL: "the fax session with the receiver failed",
    FailureClass.LINE: "the call could not be placed",
    FailureClass.PERMANENT: "the call was rejected",
}


def format_duration(seconds: float) -> str:
    """``90`` -> ``1 min 30 s``, ``10800`` -> ``3 h`` (for messages and reasons)."""
    s = int(round(seconds))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "min"), (s % 60, "s")]
    return " ".join(f"{n} {u}" for n, u in parts if n) or "0 s"


def plain_reason(failure: FailureClass) -> str:
    return _PLAIN[failure]


def after_attempt(progress: Progress, failure: FailureClass | None, policy: RetryPolicy, now: float) -> Next:
    """Decide what follows an attempt; ``progress`` already counts this attempt and its pages."""
    if progress.pages_total and progress.pages_confirmed >= progress.pages_total:
        return Next(JobState.DONE, None, f"all {progress.pages_total} pages confirmed")
    if failure is None:
        # The call ended "well" but not every page was confirmed: treat as a protocol failure.
        failure = FailureClass.PROTOCOL
    what = plain_reason(failure)
    if failure is FailureClass.PERMANENT:
        return Next(JobState.FAILED, None, f"{what}; not retrying")
    if progress.dials >= policy.max_dials:
        return Next(JobState.FAILED, None, f"{what}; gave up after {progress.dials} calls (limit {policy.max_dials})")
    if progress.tries >= policy.max_tries and failure.connected:
        return Next(JobState.FAILED, None, f"{what}; gave up after {progress.tries} fax sessions (limit {policy.max_tries})")
    at = now + policy.delay(failure)
    deadline = progress.created_at + policy.give_up_after
    if at > deadline:
        return Next(JobState.FAILED, None, f"{what}; gave up: the next try would be past the "
                                           f"{format_duration(policy.give_up_after)} limit (the job's kill time)")
    return Next(JobState.RETRY_WAIT, at, f"{what}; will retry")


@dataclass(frozen=True)
class Candidate:
    """A job that could be dialled: its id, destination, trunk and when it became ready."""

    job_id: int
    number: str
    trunk: str | None
    ready_since: float


def pick_dialable(
    candidates: Iterable[Candidate],
    busy_numbers: Iterable[str],
    trunk_in_use: Mapping[str | None, int],
    trunk_limits: Mapping[str | None, int],
) -> list[Candidate]:
    """The candidates that may start now, oldest first.

    One call at a time per destination number (HylaFAX's per-destination serialisation),
    and no trunk past its channel limit.  A trunk missing from ``trunk_limits`` has no
    free channel.
    """
    busy = set(busy_numbers)
    used = dict(trunk_in_use)
    chosen = []
    for c in sorted(candidates, key=lambda c: (c.ready_since, c.job_id)):
        if c.number in busy:
            continue
        limit = trunk_limits.get(c.trunk, 0)
        if used.get(c.trunk, 0) >= limit:
            continue
        used[c.trunk] = used.get(c.trunk, 0) + 1
        busy.add(c.number)
        chosen.append(c)
    return chosen


def with_attempt(progress: Progress, *, connected: bool, newly_confirmed: int) -> Progress:
    """The counters after one more call (``newly_confirmed`` pages confirmed in it)."""
    return replace(
        progress,
        dials=progress.dials + 1,
        tries=progress.tries + (1 if connected else 0),
        pages_confirmed=min(progress.pages_total, progress.pages_confirmed + newly_confirmed),
    )


@dataclass(frozen=True)
class JobSettings:
    """What the matching rule decided for one job, stored with it (so a restart keeps it)."""

    rule: str = ""
    resolution: str = "fine"
    body: str = "first-page"          # rules.BodyUse value
    cover_fields: tuple[str, ...] = ()
    header: str = ""
    max_pages: int = 100
    notify: str = "always"            # rules.Notify value
    notify_requeue: bool = False
    retry: RetryPolicy = RetryPolicy()
    not_before: float | None = None   # do not dial before (``mailfax send --at``); None = at once

    def give_up_start(self, created_at: float) -> float:
        """When the give-up clock (``retry.give_up_after``) starts: at submission, or at the
        scheduled time for a job scheduled later (as HylaFAX counts killtime from the send time)."""
        return max(created_at, self.not_before or created_at)

    def to_json(self) -> dict:
        d = dict(vars(self))
        d["cover_fields"] = list(self.cover_fields)
        d["retry"] = dict(vars(self.retry))
        return d

    @classmethod
    def from_json(cls, d: dict) -> "JobSettings":
        d = dict(d)
        d["cover_fields"] = tuple(d.get("cover_fields", ()))
        d["retry"] = RetryPolicy(**d.get("retry", {}))
        return cls(**d)
