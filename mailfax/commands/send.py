"""``mailfax send --to NUMBER [options] [--wait] FILE...``: queue a fax without email (like sendfax).

The files become one MIME message in the same store ``mailfax serve`` uses, so the server
converts and sends it like a mailed fax.  The local user counts as a local sender (peer
127.0.0.1, user = the login name) for rules.yaml.  With ``--wait`` the command blocks
until the job ends (through a schedule) and prints one JSON line.

sendfax's job options (`mailfax.sendopts`): ``--at`` (-a), ``--kill-after`` (-k),
``--max-dials`` (-T), ``--max-tries`` (-t), ``--resolution`` (-l/-m/-G), ``--cover`` /
``--no-cover`` (-n), ``--comments`` (sendfax's -c; ours is --config), ``--notify``
(-D/-R/-N).  They only narrow what the matching rule allows; a value the rule forbids is
capped (limits) or refused (resolution) with one line naming the option.
"""

from __future__ import annotations

import getpass
import json
import mimetypes
import socket
import sys
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailfax.commands._common import add_config_argument, config_or_exit, open_store, rules_or_exit
from mailfax.sendopts import NOTIFY, RESOLUTIONS, Options, apply, parse_at, parse_duration

NAME = "send"
HELP = "queue a fax from files"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--rules", "-r", metavar="FILE", help="rules.yaml (default: the config's rules: entry)")
    parser.add_argument("--to", "-d", required=True, action="append", metavar="NUMBER", help="destination (repeatable)")
    parser.add_argument("--from", dest="sender", metavar="ADDRESS", help="report address (default: login@host)")
    parser.add_argument("--subject", "-s", default="", help="subject for the report")
    parser.add_argument("--wait", action="store_true", help="wait for the job to end and print a JSON line")
    parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after SECONDS")
    g = parser.add_argument_group("job options (sendfax's; they can only narrow what the rule allows)")
    g.add_argument("--at", "-a", metavar="TIME",
                   help="do not dial before TIME: 'now + 30m', HH:MM (today, or tomorrow if past), "
                        "'tomorrow 08:00' or 2026-11-27T08:00 (local time); converted at once")
    g.add_argument("--kill-after", "-k", metavar="DURATION",
                   help="give up DURATION (30m, 2h, 1h30m) after submission, or after --at when given; "
                        "capped at the rule's give-up time")
    g.add_argument("--max-dials", "-T", metavar="N", help="place at most N calls (capped at the rule's)")
    g.add_argument("--max-tries", "-t", metavar="N",
                   help="at most N calls that reach a fax machine (capped at the rule's)")
    g.add_argument("--resolution", metavar="RES",
                   help="standard, fine or superfine; finer than the rule's is refused")
    g.add_argument("-l", dest="resolution", action="store_const", const="standard", help="--resolution standard")
    g.add_argument("-m", dest="resolution", action="store_const", const="fine", help="--resolution fine")
    g.add_argument("-G", dest="resolution", action="store_const", const="superfine", help="--resolution superfine")
    cover = g.add_mutually_exclusive_group()
    cover.add_argument("--cover", dest="cover", action="store_const", const=True,
                       help="send a cover page (with the rule's cover fields)")
    cover.add_argument("--no-cover", "-n", dest="cover", action="store_const", const=False, help="no cover page")
    g.add_argument("--comments", metavar="TEXT",
                   help="comments for the cover page (implies --cover; the rule's cover must have a comments field)")
    g.add_argument("--notify", metavar="WHEN",
                   help="report by email: always, failure, never, or requeue (always, plus a note on each retry)")
    g.add_argument("-D", dest="notify", action="store_const", const="always", help="--notify always")
    g.add_argument("-R", dest="notify", action="store_const", const="requeue", help="--notify requeue")
    g.add_argument("-N", dest="notify", action="store_const", const="never", help="--notify never")
    parser.add_argument("files", metavar="FILE", nargs="+")


def build_message(files: list[Path], sender: str, subject: str, body: str = "") -> EmailMessage:
    """One MIME message: ``body`` (the cover comments, if any) and the files attached."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="mailfax.localhost")
    msg.set_content(body)
    for f in files:
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        main, sub = ctype.split("/", 1)
        msg.add_attachment(f.read_bytes(), maintype=main, subtype=sub, filename=f.name)
    return msg


def when(t: float) -> str:
    """A local time for messages: ``2026-11-27 08:00``."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def result_line(job) -> dict:
    return {"job": job.id, "status": job.state.value, "pages": job.pages_confirmed, "pages_total": job.pages_total,
            "bit_rate": job.bit_rate, "ecm": job.ecm, "remote_ident": job.remote_ident,
            "completion": job.completion or None, "reason": job.reason or None,
            "scheduled_for": when(job.settings.not_before) if job.scheduled else None}


def _count(text: str | None, option: str) -> int | None | str:
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        return f"{option} {text!r}: expected a whole number of at least 1"
    return int(text)


def options(args, now: datetime) -> Options | str:
    """The job options from the command line, or the one-line error (naming the option)."""
    vals: dict = {}
    if args.at is not None:
        at = parse_at(args.at, now)
        if isinstance(at, str):
            return at
        vals["at"] = at.timestamp()
    if args.kill_after is not None:
        vals["kill_after"] = parse_duration(args.kill_after, "--kill-after")
    vals["max_dials"] = _count(args.max_dials, "--max-dials")
    vals["max_tries"] = _count(args.max_tries, "--max-tries")
    for err in vals.values():
        if isinstance(err, str):
            return err
    if args.resolution is not None and args.resolution not in RESOLUTIONS:
        return f"--resolution {args.resolution!r}: expected one of {', '.join(RESOLUTIONS)}"
    if args.notify is not None and args.notify not in NOTIFY:
        return f"--notify {args.notify!r}: expected one of {', '.join(NOTIFY)}"
    if args.comments is not None and args.cover is False:
        return "--comments: needs a cover page, but --no-cover was given"
    return Options(resolution=args.resolution, cover=args.cover, comments=args.comments, notify=args.notify, **vals)


def run(args) -> int:
    from mailfax import rules as rules_mod
    from mailfax.jobs import JobState
    from mailfax.smtp_in import job_settings
    from mailfax.store import Envelope, NewJob

    config = config_or_exit(args)
    rules = rules_or_exit(args, config) if config is not None else None
    if rules is None:
        return 1
    files = [Path(f) for f in args.files]
    for f in files:
        if not f.is_file():
            print(f"mailfax: {f}: no such file", file=sys.stderr)
            return 1
    opts = options(args, datetime.now())  # naive local: HH:MM tomorrow keeps its wall-clock time across DST
    if isinstance(opts, str):
        print(f"mailfax: {opts}", file=sys.stderr)
        return 1
    user = getpass.getuser()
    sender_addr = args.sender or f"{user}@{socket.getfqdn() or 'localhost'}"
    jobs = []
    for to in args.to:
        d = rules_mod.decide(rules, rules_mod.Sender(sender_addr, user, "127.0.0.1"), to, config.dialing)
        if isinstance(d, rules_mod.Refused):
            print(f"mailfax: {to}: {d.reason}", file=sys.stderr)
            return 1
        applied = apply(job_settings(d, config), opts)
        if isinstance(applied, str):
            print(f"mailfax: {to}: {applied}", file=sys.stderr)
            return 1
        for note in applied.notes:
            print(f"mailfax: {to}: {note}", file=sys.stderr)
        if d.number.e164 not in {j.number for j in jobs}:
            jobs.append(NewJob(d.number.e164, d.dial, d.rule.trunk, applied.settings))
    msg = build_message(files, sender_addr, args.subject, opts.comments or "")
    store = open_store(config)
    acc = store.accept(bytes(msg), Envelope(sender_addr, user, "127.0.0.1", msg["Message-ID"], args.subject), jobs, time.time())
    if not args.wait:
        for jid, j in zip(acc.jobs, jobs):
            print(f"job {jid} queued to {j.number}" + (f" (scheduled for {when(opts.at)})" if opts.at else ""))
        return 0
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    status = 0
    from mailfax.progress import Progress

    for jid in acc.jobs:
        progress = Progress()  # a status line on a terminal only (issue 8)
        while True:
            job = store.job(jid)
            if job.state.final or (deadline is not None and time.monotonic() > deadline):
                break
            what = f"scheduled for {when(job.settings.not_before)}" if job.scheduled else job.state.value
            progress.update(f"job {jid} {job.number}: {what}", job.pages_confirmed, job.pages_total)
            time.sleep(0.2)
        progress.finish()
        print(json.dumps(result_line(job)), flush=True)
        if job.state is not JobState.DONE:
            status = 1
    return status
