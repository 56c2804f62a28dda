"""The ``mailfax`` command line: one sub-command per module in `mailfax.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status).  Modules are imported only when their command
runs, so ``mailfax --help`` stays fast and one broken command cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module, one-line help).  Add a line here for a new command.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("mailfax.commands.convert", "convert documents to PDF, TIFF, PS or PNG fax pages"),
    "serve": ("mailfax.commands.serve", "run the gateway: SMTP listener and fax queue"),
    "send": ("mailfax.commands.send", "queue a fax from files"),
    "jobs": ("mailfax.commands.jobs", "list fax jobs"),
    "cancel": ("mailfax.commands.cancel", "cancel fax jobs"),
    "retry": ("mailfax.commands.retry", "retry fax jobs now"),
    "received": ("mailfax.commands.received", "list received faxes and their delivery state"),
    "redeliver": ("mailfax.commands.redeliver", "deliver received faxes again"),
    "check-config": ("mailfax.commands.check_config", "validate the config and rules.yaml, print the normalised result"),
    "enqueue": ("mailfax.commands.enqueue", "queue one message from stdin (MTA pipe transport); sysexits status"),
    "status": ("mailfax.commands.status", "show trunks, active calls, queue counts and recent failures"),
    "faxterm": ("mailfax.commands.faxterm", "run one fax terminal over raw audio (lock-step test peer)"),
    "cleanup": ("mailfax.commands.cleanup", "remove finished jobs, delivered faxes, old logs and recordings"),
    "demo": ("mailfax.commands.demo", "fax a document to yourself over the built-in loopback line"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailfax", description="Email-to-fax and fax-to-email gateway.")
    parser.add_argument("--version", action="version", version="mailfax 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = argparse.ArgumentParser(prog=f"mailfax {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)
