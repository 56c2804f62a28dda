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
