"""``mailfax serve``: the whole gateway on one event loop (composed in `mailfax.app`).

SMTP listener, queue runner, telephony (configured trunks, or the built-in loopback line
when there are none) and inbound delivery.  SIGTERM/SIGINT stop it gracefully (`EPILOG`).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from mailfax.commands._common import add_config_argument, config_or_exit, open_store, rules_or_exit

NAME = "serve"
HELP = "run the gateway: SMTP listener and fax queue"
log = logging.getLogger("mailfax.serve")


EPILOG = ("Stopping: on SIGTERM or SIGINT no new mail is accepted, no new call is started "
          "(queued jobs wait for the next start) and incoming calls are refused with cause 41 "
          "(temporary failure, the caller retries later); faxes in progress run to their end for "
          "up to shutdown.grace (default 2m).  A second signal, or the end of the grace, hangs up "
          "the calls left: their jobs resume at the first unconfirmed page after the next start, "
          "partly received faxes are kept and delivered.  Exit status 0.")


def add_arguments(parser) -> None:
    parser.epilog = EPILOG
    add_config_argument(parser)
    parser.add_argument("--rules", "-r", metavar="FILE", help="rules.yaml (default: the config's rules: entry)")
    parser.add_argument("--verbose", "-v", action="store_true")


def run(args) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("mail.log").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    config = config_or_exit(args)
    rules = rules_or_exit(args, config) if config is not None else None
    if rules is None:
        return 1
    store = open_store(config)
    try:
        from mailfax.app import serve as serve_gateway  # the composition root (telephony too)
        asyncio.run(serve_gateway(config, rules, store))
    except OSError as e:
        print(f"mailfax: cannot listen on {config.smtp.host}:{config.smtp.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0
