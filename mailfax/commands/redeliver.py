"""``mailfax redeliver ID...``: deliver received faxes again to every target of their rule.

Each target gets a new copy (a new Message-ID) at the next pass of ``mailfax serve``'s
delivery loop; failed targets are retried from the start of a new retry period.
"""

from __future__ import annotations

import sys
import time

from mailfax.commands._common import add_config_argument, config_or_exit

NAME = "redeliver"
HELP = "deliver received faxes again"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("faxes", metavar="ID", type=int, nargs="+")


def run(args) -> int:
    from mailfax.received import ReceivedStore

    config = config_or_exit(args)
    if config is None:
        return 1
    store = ReceivedStore.open(config.storage)
    status = 0
    for fax_id in args.faxes:
        if store.fax(fax_id) is None:
            print(f"mailfax: no received fax {fax_id}", file=sys.stderr)
            status = 1
            continue
        n = store.redeliver(fax_id, time.time())
        print(f"fax {fax_id}: {n} target(s) will be delivered again")
    return status
