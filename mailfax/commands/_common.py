"""Shared option handling for the queue commands: find and load the config, open the store."""

from __future__ import annotations

import sys

from mailfax.config import Config, ConfigError, find_config, load_config


def add_config_argument(parser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="server config (default: $MAILFAX_CONFIG, /etc/mailfax/mailfax.yaml, else built-in defaults)")


def config_or_exit(args) -> Config | None:
    """The config, or None after printing the error (the command then exits 1)."""
    try:
        return load_config(find_config(getattr(args, "config", None)))
    except ConfigError as e:
        print(f"mailfax: {e}", file=sys.stderr)
        return None


def open_store(config: Config):
    from mailfax.store import Store

    return Store.open(config.storage)


def rules_or_exit(args, config: Config):
    """rules.yaml (``--rules`` or the config's ``rules:`` entry), or None after printing the error."""
    from mailfax import rules as rules_mod

    try:
        return rules_mod.load_rules(getattr(args, "rules", None), config)
    except ConfigError as e:
        print(f"mailfax: {e}", file=sys.stderr)
        return None


def add_jobs_argument(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("jobs", metavar="JOB", type=int, nargs="+")


def act_on_jobs(args, action: str, done: str) -> int:
    """Run ``Store.<action>(job, now)`` for each JOB; it returns None or why it could not."""
    import time

    config = config_or_exit(args)
    if config is None:
        return 1
    store = open_store(config)
    status = 0
    for job in args.jobs:
        why = getattr(store, action)(job, time.time())
        if why:
            print(f"mailfax: {why}", file=sys.stderr)
            status = 1
        else:
            print(f"job {job} {done}")
    return status
