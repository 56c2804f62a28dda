"""``mailfax jobs``: the queue as a table (like HylaFAX's faxstat -s / -d)."""

from __future__ import annotations

import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store
from mailfax.jobs import JobState

NAME = "jobs"
HELP = "list fax jobs"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--all", "-a", action="store_true", help="include done, failed and cancelled jobs")


def scheduled_for(t: float, now: float) -> str:
    """``scheduled for 08:00`` today, else with the date (local time, as ``--at`` reads it)."""
    same_day = time.localtime(t)[:3] == time.localtime(now)[:3]
    return "scheduled for " + time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", time.localtime(t))


def table(jobs, now: float) -> str:
    """One row per job; a job waiting for its ``mailfax send --at`` time shows as scheduled
    (stored as retry-wait: `mailfax.store.JobRecord.scheduled`)."""
    rows = [("JID", "STATE", "NUMBER", "PAGES", "DIALS", "TRIES", "NEXT", "REASON")]
    for j in jobs:
        nxt = time.strftime("%H:%M:%S", time.localtime(j.next_try_at)) if j.next_try_at else ""
        state = j.state.value
        if j.scheduled and j.settings.not_before > now:
            nxt = scheduled_for(j.settings.not_before, now)
            state = "scheduled" if j.state is JobState.RETRY_WAIT else state
        rows.append((str(j.id), state, j.number, f"{j.pages_confirmed}/{j.pages_total}",
                     str(j.dials), str(j.tries), nxt, j.reason[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def run(args) -> int:
    config = config_or_exit(args)
    if config is None:
        return 1
    store = open_store(config)
    jobs = [j for j in store.jobs() if args.all or not j.state.final]
    print(table(jobs, time.time()))
    return 0
