"""``mailfax cancel JOB...``: cancel jobs that have not ended (a call in progress is hung up)."""

from __future__ import annotations

import sys
import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store

NAME = "cancel"
HELP = "cancel fax jobs"


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
        why = store.cancel(job, time.time())
        if why:
            print(f"mailfax: {why}", file=sys.stderr)
            status = 1
        else:
            print(f"job {job} cancelled")
    return status
