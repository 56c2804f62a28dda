"""``mailfax jobs``: the queue as a table (like HylaFAX's faxstat -s / -d)."""

from __future__ import annotations

import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store

NAME = "jobs"
HELP = "list fax jobs"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--all", "-a", action="store_true", help="include done, failed and cancelled jobs")


def table(jobs, now: float) -> str:
    rows = [("JID", "STATE", "NUMBER", "PAGES", "DIALS", "TRIES", "NEXT", "REASON")]
    for j in jobs:
        nxt = time.strftime("%H:%M:%S", time.localtime(j.next_try_at)) if j.next_try_at else ""
        rows.append((str(j.id), j.state.value, j.number, f"{j.pages_confirmed}/{j.pages_total}",
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
