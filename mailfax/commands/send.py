"""``mailfax send --to NUMBER [--wait] FILE...``: queue a fax without email (like sendfax).

The files become one MIME message in the same store ``mailfax serve`` uses, so the server
converts and sends it like a mailed fax.  The local user counts as a local sender (peer
127.0.0.1, user = the login name) for rules.yaml.  With ``--wait`` the command blocks
until the job ends and prints one JSON line.
"""

from __future__ import annotations

import getpass
import json
import mimetypes
import socket
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailfax.commands._common import add_config_argument, config_or_exit, open_store, rules_or_exit

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
    parser.add_argument("files", metavar="FILE", nargs="+")


def build_message(files: list[Path], sender: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="mailfax.localhost")
    msg.set_content("")
    for f in files:
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        main, sub = ctype.split("/", 1)
        msg.add_attachment(f.read_bytes(), maintype=main, subtype=sub, filename=f.name)
    return msg


def result_line(job) -> dict:
    return {"job": job.id, "status": job.state.value, "pages": job.pages_confirmed, "pages_total": job.pages_total,
            "bit_rate": job.bit_rate, "ecm": job.ecm, "remote_ident": job.remote_ident,
            "completion": job.completion or None, "reason": job.reason or None}


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
    user = getpass.getuser()
    sender_addr = args.sender or f"{user}@{socket.getfqdn() or 'localhost'}"
    jobs = []
    for to in args.to:
        d = rules_mod.decide(rules, rules_mod.Sender(sender_addr, user, "127.0.0.1"), to, config.dialing)
        if isinstance(d, rules_mod.Refused):
            print(f"mailfax: {to}: {d.reason}", file=sys.stderr)
            return 1
        if d.number.e164 not in {j.number for j in jobs}:
            jobs.append(NewJob(d.number.e164, d.dial, d.rule.trunk, job_settings(d, config)))
    msg = build_message(files, sender_addr, args.subject)
    store = open_store(config)
    acc = store.accept(bytes(msg), Envelope(sender_addr, user, "127.0.0.1", msg["Message-ID"], args.subject), jobs, time.time())
    if not args.wait:
        for jid, j in zip(acc.jobs, jobs):
            print(f"job {jid} queued to {j.number}")
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
            progress.update(f"job {jid} {job.number}: {job.state.value}", job.pages_confirmed, job.pages_total)
            time.sleep(0.2)
        progress.finish()
        print(json.dumps(result_line(job)), flush=True)
        if job.state is not JobState.DONE:
            status = 1
    return status
