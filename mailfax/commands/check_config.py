"""``mailfax check-config``: load the config and rules.yaml, print the normalised result."""

from __future__ import annotations

import sys

import yaml

from mailfax.commands._common import add_config_argument
from mailfax.config import ConfigError, describe, find_config, load_config

NAME = "check-config"
HELP = "validate the config and rules.yaml and print the normalised result"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--rules", "-r", metavar="FILE", help="rules.yaml (default: the config's rules: entry)")


def run(args) -> int:
    from mailfax import rules as rules_mod

    try:
        config = load_config(find_config(args.config))
        rules = rules_mod.load_rules(args.rules, config)
    except ConfigError as e:
        print(f"mailfax: {e}", file=sys.stderr)
        return 1
    from mailfax import rules_in

    out = {"config": describe(config), "rules": rules_mod.describe(rules),
           "inbound_rules": rules_in.describe(rules_in.inbound_rules(rules, config))}
    sys.stdout.write(yaml.safe_dump(out, sort_keys=False, allow_unicode=True))
    return 0
