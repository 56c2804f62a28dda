"""``mailfax cleanup``: remove finished work past its retention (like faxqclean + faxcron).

One pass of `mailfax.retention.cleanup` at the current time: old final jobs and their
spool files, delivered received faxes, session logs, recordings and orphaned spool files.
``--dry-run`` shows what would go and removes nothing; ``--json`` prints one JSON object.
Exit status 0, or 1 when some file could not be removed (the rest still went).
"""

from __future__ import annotations

import json
import time

from mailfax.commands._common import add_config_argument, config_or_exit, open_store

NAME = "cleanup"
HELP = "remove finished jobs, delivered faxes, old logs and recordings (retention:)"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--dry-run", "-n", action="store_true", help="show what would be removed, remove nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")


def format_report(report, retention) -> str:
    """The human-readable listing: one line per removal, then one per kind, then the total."""
    from mailfax.retention import Kind, human

    verb = "would remove" if report.dry_run else "removed"
    out = [f"{verb} {r.what}" + (f" ({human(r.bytes)})" if r.bytes else "") for r in report.removals]
    ages = {Kind.JOBS: retention.jobs, Kind.MESSAGES: retention.jobs, Kind.RECEIVED: retention.received,
            Kind.SESSION_LOGS: retention.session_logs, Kind.RECORDINGS: retention.recordings}
    for k in Kind:
        t = report.tally(k)
        age = ages.get(k)
        keep = "" if age is None else " (kept forever)" if age <= 0 else f" (older than {age / 86400:g} d)"
        out.append(f"{k.label}: {t.count}{keep}, {t.files} file(s), {human(t.bytes)}")
    out.append(f"total: {human(report.bytes)} {'would be freed' if report.dry_run else 'freed'}")
    out += [f"could not remove {e}" for e in report.errors]
    return "\n".join(out)


def run(args) -> int:
    from mailfax.received import ReceivedStore
    from mailfax.retention import cleanup

    config = config_or_exit(args)
    if config is None:
        return 1
    report = cleanup(config, open_store(config), ReceivedStore.open(config.storage), now=time.time(),
                     dry_run=args.dry_run)
    print(json.dumps(report.to_json(), indent=1) if args.json else format_report(report, config.retention))
    return 1 if report.errors else 0
