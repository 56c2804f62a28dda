"""``mailfax serve``: the SMTP listener and the queue runner on one event loop.

The telephony layer provides the `FaxSender`; it is looked up as
``mailfax.telephony.build_sender(config)`` when that module exists.  Until then (or with no
trunk configured) jobs are converted and wait in ``ready`` with a log line saying why.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store

NAME = "serve"
HELP = "run the gateway: SMTP listener and fax queue"
log = logging.getLogger("mailfax.serve")


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--rules", "-r", metavar="FILE", help="rules.yaml (default: the config's rules: entry)")
    parser.add_argument("--verbose", "-v", action="store_true")


def load_sender(config):
    """The telephony layer's FaxSender, or None while it does not exist or no trunk is set."""
    if not config.trunks:
        return None
    try:
        mod = importlib.import_module("mailfax.telephony")
    except ModuleNotFoundError:
        return None
    build = getattr(mod, "build_sender", None)
    return build(config) if build is not None else None


async def serve(config, rules, store) -> None:
    from mailfax.mail_out import Mailer
    from mailfax.queue_runner import QueueRunner
    from mailfax.smtp_in import FaxHandler, start_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    recovered = store.recover(time.time())
    if any(recovered.values()):
        log.info("recovered after restart: %s", recovered)
    runner = QueueRunner(config, store, load_sender(config), mailer=Mailer(config.relay))
    handler = FaxHandler(config, rules, store, on_accepted=runner.wake.set)
    from mailfax.inbound import build_service

    inbound = build_service(config, rules)  # received faxes: the delivery loop (issue 7)
    inbound_task = asyncio.create_task(inbound.run(stop))
    server = await start_server(handler, config)
    port = server.sockets[0].getsockname()[1]
    print(f"mailfax: listening on {config.smtp.host}:{port}, queue {config.storage.queue_db}", flush=True)
    try:
        await runner.run(stop)
    finally:
        server.close()
        await server.wait_closed()
        stop.set()
        await inbound_task


def run(args) -> int:
    from mailfax import rules as rules_mod
    from mailfax.config import ConfigError
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("mail.log").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    config = config_or_exit(args)
    if config is None:
        return 1
    try:
        rules = rules_mod.load_rules(args.rules, config)
    except ConfigError as e:
        print(f"mailfax: {e}", file=sys.stderr)
        return 1
    store = open_store(config)
    try:
        from mailfax.app import serve as serve_gateway  # the composition root (telephony too)
        asyncio.run(serve_gateway(config, rules, store))
    except OSError as e:
        print(f"mailfax: cannot listen on {config.smtp.host}:{config.smtp.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0
