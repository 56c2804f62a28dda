"""sendfax-style job options for ``mailfax send``: parse them and narrow a rule's settings.

What does it do?  HylaFAX's ``sendfax`` lets the submitter pick a send time (-a), a kill
time (-k), dial and try limits (-T, -t), the resolution (-l/-m/-G), the cover page (-n, -c)
and notification (-D/-R/-N).  `parse_at` and `parse_duration` read those values (one-line
errors naming the option, never an exception), and `apply` folds them into the
`JobSettings` a rule decided.

How does it work?  The rule stays in charge: an option may only make the job more
restrictive or pick among values the rule allows.  Limits above the rule's (``--max-dials``,
``--max-tries``, ``--kill-after``) are capped at the rule's value with a note; a resolution
finer than the rule's is refused (the sender asked for a quality the rule does not pay for,
so a silent downgrade would surprise).  Notification is the sender's own business and may
be set freely.  Times are local wall-clock times, as sendfax reads them; ``now`` is
injected (an aware `datetime`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailfax.jobs import JobSettings, format_duration

RESOLUTIONS = ("standard", "fine", "superfine")   # coarsest first
NOTIFY = ("always", "failure", "never", "requeue")
_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(text: str, option: str) -> float | str:
    """Seconds from ``30m``, ``2h``, ``1h30m``, ``90 seconds`` or ``now + 3 hours``;
    else the error line."""
    s = text.strip().lower()
    s = re.sub(r"^now\s*\+\s*", "", s)
    total, pos = 0.0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None or m.group(2) not in _UNITS:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos < len(s.rstrip()) or total <= 0:
        return f"{option} {text!r}: expected a duration like 30m, 2h, 1h30m or 'now + 3 hours'"
    return total


def parse_at(text: str, now: datetime) -> datetime | str:
    """The send time from ``now + 30m``, ``HH:MM`` (today, or tomorrow when past),
    ``tomorrow HH:MM`` or ISO ``2026-11-27T08:00``; else the error line.  Times without a
    zone are in ``now``'s; a naive ``now`` is local time (then ``.timestamp()`` follows the
    zone's daylight saving on the day itself)."""
    s = text.strip().lower()
    if s.startswith("now"):
        d = parse_duration(s, "--at")
        return d if isinstance(d, str) else now + timedelta(seconds=d)
    m = re.fullmatch(r"(tomorrow\s+)?(\d{1,2}):(\d{2})", s)
    if m:
        h, mi = int(m.group(2)), int(m.group(3))
        if h > 23 or mi > 59:
            return f"--at {text!r}: no such time of day"
        at = now.replace(hour=h, minute=mi, second=0, microsecond=0)
        if m.group(1) or at <= now:   # "tomorrow HH:MM", or a time already past today
            at = (now + timedelta(days=1)).replace(hour=h, minute=mi, second=0, microsecond=0)
        return at
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"--at {text!r}: expected 'now + 30m', HH:MM, 'tomorrow HH:MM' or 2026-11-27T08:00"
    if at.tzinfo is None:
        at = at.replace(tzinfo=now.tzinfo)
    elif now.tzinfo is None:                  # naive local ``now``: the local wall-clock time
        at = at.astimezone().replace(tzinfo=None)
    if at < now - timedelta(minutes=1):
        return f"--at {text!r}: that time has passed"
    return at


@dataclass(frozen=True)
class Options:
    """What the submitter asked for; None = leave the rule's choice."""

    at: float | None = None            # not before (epoch seconds)
    kill_after: float | None = None    # seconds, the job's give-up limit
    max_dials: int | None = None
    max_tries: int | None = None
    resolution: str | None = None
    cover: bool | None = None          # True --cover, False --no-cover
    comments: str | None = None
    notify: str | None = None


@dataclass(frozen=True)
class Applied:
    settings: JobSettings
    notes: tuple[str, ...] = ()        # caps applied, one line each


def apply(settings: JobSettings, opts: Options) -> Applied | str:
    """``settings`` (the rule's) narrowed by ``opts``; an error line when the rule forbids it."""
    rule = f"rule {settings.rule!r}" if settings.rule else "the rule"
    notes: list[str] = []
    retry = settings.retry

    def cap(option: str, value, limit, show):
        if value is None:
            return limit
        if value > limit:
            notes.append(f"{option} {show(value)}: {rule} allows at most {show(limit)}; using {show(limit)}")
            return limit
        return value

    retry = replace(
        retry,
        max_dials=cap("--max-dials", opts.max_dials, retry.max_dials, str),
        max_tries=cap("--max-tries", opts.max_tries, retry.max_tries, str),
        give_up_after=cap("--kill-after", opts.kill_after, retry.give_up_after, format_duration),
    )
    resolution = settings.resolution
    if opts.resolution is not None:
        if RESOLUTIONS.index(opts.resolution) > RESOLUTIONS.index(settings.resolution):
            return f"--resolution {opts.resolution}: {rule} allows at most {settings.resolution}"
        resolution = opts.resolution
    body = settings.body
    if opts.cover is False:
        if opts.comments is not None:
            return "--comments: needs a cover page, but --no-cover was given"
        body = "ignore" if body == "cover" else body
    elif opts.cover or opts.comments is not None:
        body = "cover"
    if opts.comments is not None and "comments" not in settings.cover_fields:
        return f"--comments: the cover page of {rule} has no comments field"
    notify, requeue = settings.notify, settings.notify_requeue
    if opts.notify is not None:
        notify, requeue = ("always", True) if opts.notify == "requeue" else (opts.notify, False)
    return Applied(replace(settings, retry=retry, resolution=resolution, body=body, notify=notify,
                           notify_requeue=requeue, not_before=opts.at), tuple(notes))

