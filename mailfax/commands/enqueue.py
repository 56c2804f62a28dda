"""``mailfax enqueue --sender S --recipient R``: spool one message from stdin (an MTA's pipe).

What does it do?  Postfix's ``pipe`` transport (contrib/postfix) runs this once per message
with the envelope on the command line and the message on stdin.  The recipients are checked
exactly as the SMTP listener checks RCPT (`mailfax.smtp_in.decide_recipient`), the message
as it checks DATA (`mailfax.mime.parse_message`), and it is queued with the same
`mailfax.store.Store.accept`; then the command exits at once.  It never faxes: a pipe
command that runs into Postfix's time limit is a *bounce* (REFERENCE.md §3).

How does it work?  The exit status is a sysexits code as Postfix's pipe(8) reads it:

====  =============  =====================================================================
0     EX_OK          durably queued (message file and job rows fsynced)
75    EX_TEMPFAIL    our failure (data dir not writable, database locked, bad config):
                     Postfix defers and retries, like a 451 from the listener
65    EX_DATAERR     nothing faxable in the message (SMTP 554 5.6.x)
67    EX_NOUSER      not a fax address of ours / a bad number (SMTP 550/553 5.1.x)
69    EX_UNAVAILABLE any other permanent refusal (SMTP 5xx)
77    EX_NOPERM      the rules refuse this sender or number (SMTP 550 5.7.x)
====  =============  =====================================================================

Permanent codes bounce, with the one-line reason this prints on stderr in the bounce.
The sender counts as a local one (peer 127.0.0.1, the MTA on this host), as on the
transport-map path where Postfix connects from loopback; ``--client`` and ``--sasl-user``
(``${client_address}``, ``${sasl_username}``) let rules.yaml see the original client.
With several recipients, one refusal refuses the message (use a recipient limit of 1).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from mailfax.commands._common import add_config_argument

NAME = "enqueue"
HELP = "queue one message from stdin (for an MTA pipe transport); exits with a sysexits code"

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_NOPERM = 77


@dataclass(frozen=True)
class Outcome:
    """What one enqueue did: the exit status and the line to print."""

    status: int
    text: str


def exit_status(code: int, status: str) -> int:
    """The sysexits code for an SMTP reply code and enhanced status (RFC 3463 classes)."""
    if code < 500:
        return EX_TEMPFAIL
    subject = status.split(".")[1] if status.count(".") == 2 else ""
    return {"7": EX_NOPERM, "1": EX_NOUSER, "6": EX_DATAERR}.get(subject, EX_UNAVAILABLE)


def to_crlf(raw: bytes) -> bytes:
    """Message text with CRLF line ends, as the SMTP path spools it (the pipe delivers LF)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def enqueue(raw: bytes, sender: str, recipients: list[str], *, config, rules, now: float,
            client: str | None = None, user: str | None = None, open_store=None) -> Outcome:
    """Check and queue one message; every expected failure comes back as an `Outcome`."""
    from mailfax import rules as rules_mod
    from mailfax.mime import MimeProblem, parse_message
    from mailfax.smtp_in import decide_recipient
    from mailfax.store import Envelope, Store

    if len(raw) > config.smtp.max_message_size:
        return Outcome(EX_UNAVAILABLE, f"message too large ({len(raw)} bytes, the limit is "
                                       f"{config.smtp.max_message_size})")
    if len(recipients) > config.limits.max_recipients:
        return Outcome(EX_TEMPFAIL, "too many recipients; deliver them in smaller batches")
    who = rules_mod.Sender(sender, user or None, client or "127.0.0.1")
    jobs = []
    for address in recipients:
        job = decide_recipient(config, rules, who, address)
        if isinstance(job, rules_mod.Refused):
            return Outcome(exit_status(job.code, job.status), f"{address}: {job.reason}")
        if job.number not in {j.number for j in jobs}:
            jobs.append(job)
    if not jobs:
        return Outcome(EX_NOUSER, "no recipients")
    raw = to_crlf(raw)
    parsed = parse_message(raw, max_documents=config.limits.max_documents)
    if isinstance(parsed, MimeProblem):
        return Outcome(EX_DATAERR, parsed.reason)
    env = Envelope(sender=sender, auth_user=user or None, peer=client or "127.0.0.1",
                   message_id=parsed.message_id, subject=parsed.subject)
    try:
        store = (open_store or Store.open)(config.storage)
        try:
            result = store.accept(raw, env, jobs, now)
        finally:
            store.close()
    except Exception as e:  # ours, not the sender's: Postfix defers and retries
        return Outcome(EX_TEMPFAIL, f"could not queue the message: {type(e).__name__}: {e}")
    ids = ",".join(str(i) for i in result.jobs)
    note = " (already queued)" if result.duplicate else ""
    return Outcome(EX_OK, f"queued as fax job{'s' if len(result.jobs) > 1 else ''} {ids}{note}")


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--rules", "-r", metavar="FILE", help="rules.yaml (default: the config's rules: entry)")
    parser.add_argument("--sender", "-f", required=True, metavar="ADDRESS",
                        help="envelope sender (Postfix: --sender=${sender}; empty for <>)")
    parser.add_argument("--recipient", required=True, action="append", metavar="ADDRESS",
                        help="envelope recipient NUMBER@fax.domain (Postfix: --recipient=${recipient})")
    parser.add_argument("--client", metavar="IP", default="",
                        help="the original SMTP client for rules.yaml (default: 127.0.0.1, this host's MTA)")
    parser.add_argument("--sasl-user", metavar="USER", default="", help="the SMTP AUTH user, if any")


def run(args) -> int:
    from mailfax import rules as rules_mod
    from mailfax.config import ConfigError, find_config, load_config

    try:
        config = load_config(find_config(args.config))
        rules = rules_mod.load_rules(args.rules, config)
    except ConfigError as e:  # the admin's mistake: keep the mail until it is fixed
        print(f"mailfax enqueue: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    try:
        raw = sys.stdin.buffer.read(config.smtp.max_message_size + 1)
    except OSError as e:
        print(f"mailfax enqueue: cannot read the message: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    out = enqueue(raw, args.sender, args.recipient, config=config, rules=rules, now=time.time(),
                  client=args.client, user=args.sasl_user)
    print(f"mailfax enqueue: {out.text}", file=sys.stdout if out.status == EX_OK else sys.stderr, flush=True)
    return out.status
