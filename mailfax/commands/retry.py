"""``mailfax retry JOB...``: try failed, cancelled or waiting jobs again now."""

from __future__ import annotations

import sys
import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store

NAME = "retry"
HELP = "retry fax jobs now"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("jobs", metavar="JOB", type=int, nargs="+")


def run(args) -> int:
    config = config_or_exit(args)
    if config is None:
        return 1
    store = open_store(config)
    status = 0
    for job in args.jobs:
        why = store.retry(job, time.time())
        if why:
            print(f"mailfax: {why}", file=sys.stderr)
            status = 1
        else:
            print(f"job {job} will be retried")
    return status
