"""The SMTP listener: mail to ``NUMBER@fax.domain`` in, durable fax jobs out.

What does it do?  An aiosmtpd handler (`FaxHandler`) and the server factory around it
(`smtp_factory`, with `mailfax.smtp_data`'s chunked DATA reader): ESMTP with SIZE, STARTTLS when a certificate is configured, AUTH
PLAIN/LOGIN only over TLS (aiosmtpd's ``auth_require_tls``).  Each RCPT is decided at once
(`mailfax.rules.decide`): not our domain -> 550 relaying denied; a bad number -> 553; a
sender no rule lets through or a number the rule denies -> 550 with the reason.  DATA is
parsed (`mailfax.mime`); a message with nothing faxable gets 554 with the reason.  Several
recipients become one job each, grouped under one message.

How does it work?  ``250`` is sent only after the message file and the job rows are
fsynced: `GroupCommit` spools each message file in a worker thread (so the event loop
keeps serving other clients), and in the same thread commits all messages spooled
since the last batch with one directory fsync and one SQLite commit
(`mailfax.store.Store.commit_batch`).  Any failure of ours answers 451 (transient: the client
retries), never 5xx: `handle_exception` catches what escapes (aiosmtpd's own default
would be a 500, which an MTA bounces).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import ssl
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from mailfax import rules as rules_mod
from mailfax.addresses import NotOurs, parse_recipient
from mailfax.config import Config
from mailfax.jobs import JobSettings
from mailfax.mime import MimeProblem, check_message
from iax.options import unmapped
from mailfax.netaddr import hostport
from mailfax.smtp_data import FastDataSMTP
from mailfax.store import Accepted, Envelope, NewJob, Store, Submission

log = logging.getLogger("mailfax.smtp")


def job_settings(decision: rules_mod.Accepted, config: Config) -> JobSettings:
    """The per-job settings a rule decided (kept with the job across restarts)."""
    r = decision.rule
    return JobSettings(
        rule=r.name, resolution=r.resolution, body=r.cover.body.value, cover_fields=r.cover.fields,
        header=r.header, max_pages=min(r.max_pages or config.limits.max_pages, config.limits.max_pages),
        notify=r.notify.value, notify_requeue=r.notify_requeue, retry=r.retry,
    )


def decide_recipient(config: Config, rules: rules_mod.Rules, sender: rules_mod.Sender,
                     address: str) -> NewJob | rules_mod.Refused:
    """One recipient checked as RCPT checks it: our domain, a good number, a rule allowing it.

    Shared by the SMTP listener and ``mailfax enqueue`` (the Postfix pipe) so both paths
    refuse and accept exactly the same recipients.
    """
    fa = parse_recipient(address, config.fax_domains)
    if isinstance(fa, NotOurs):
        return rules_mod.Refused(550, "5.7.1", fa.reason)
    decision = rules_mod.decide(rules, sender, fa.number_text, config.dialing)
    if isinstance(decision, rules_mod.Refused):
        return decision
    return NewJob(decision.number.e164, decision.dial, decision.rule.trunk, job_settings(decision, config))


class _Slot:
    """One message waiting in `GroupCommit`: its submission, spool file and outcome."""

    __slots__ = ("item", "name", "result")

    def __init__(self, item: Submission, name: str) -> None:
        self.item, self.name = item, name
        self.result: Accepted | BaseException | None = None


class GroupCommit:
    """Queue messages durably from the event loop, batching their commits.

    One executor hop per message: a worker thread writes and fdatasyncs the message's
    file (concurrent fsyncs overlap and share the filesystem's journal commit), then joins
    the next batch.  Leader/follower commit: the first worker to find no commit running
    takes every message spooled so far and runs `Store.commit_batch` for them (one
    directory fsync, one SQLite commit); the others sleep on a condition until their
    batch is done, or take the lead for the next one.  Each caller gets its result only
    once its batch is committed.  Own threads, so acceptance never queues behind
    conversions in the loop's default executor; each keeps one warm SQLite connection.
    """

    THREADS = 8  # messages in flight at once (a batch is at most this many)

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._waiting: list[_Slot] = []
        self._committing = False
        self._pool = ThreadPoolExecutor(max_workers=self.THREADS, thread_name_prefix="mailfax-accept")
        weakref.finalize(self, self._pool.shutdown, wait=False)

    async def accept(self, item: Submission) -> Accepted:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.accept_blocking, item)

    def accept_blocking(self, item: Submission) -> Accepted:
        """Spool ``item`` and return once a batch holding it is committed (raises its error)."""
        slot = _Slot(item, self.store.spool_message(item.raw))
        cond = self._cond
        with cond:
            self._waiting.append(slot)
            while slot.result is None:
                if self._committing:
                    cond.wait()
                    continue
                self._committing = True
                batch, self._waiting = self._waiting, []
                cond.release()
                try:
                    try:
                        results: list = self.store.commit_batch([(s.item, s.name) for s in batch])
                    except BaseException as e:  # nothing of the batch is queued
                        results = [e] * len(batch)
                finally:
                    cond.acquire()
                    self._committing = False
                for s, r in zip(batch, results):
                    s.result = r
                cond.notify_all()
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result


def _client_ip(session) -> str | None:
    """The client's address; a dual-stack ``[::]`` listener reports an IPv4 client as
    ``::ffff:a.b.c.d``, given here as ``a.b.c.d`` (relay rules name IPv4 networks)."""
    return unmapped(session.peer[0]) if session.peer else None


@dataclass
class _Pending:
    """Per-transaction state kept on the aiosmtpd envelope."""

    jobs: list[NewJob]
    numbers: set[str]


class FaxHandler:
    """aiosmtpd handler: decide recipients at RCPT, queue durably at DATA."""

    def __init__(self, config: Config, rules: rules_mod.Rules, store: Store, *,
                 clock: Callable[[], float] = time.time, on_accepted: Callable[[], None] | None = None) -> None:
        self.config = config
        self.rules = rules
        self.store = store
        self.clock = clock
        self.on_accepted = on_accepted
        self.committer = GroupCommit(store)

    @staticmethod
    def _pending(envelope) -> _Pending:
        p = getattr(envelope, "fax_pending", None)
        if p is None:
            p = _Pending([], set())
            envelope.fax_pending = p
        return p

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        user = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        owned = self.config.smtp.user_addresses.get(user) if user else None
        if owned is not None and address.lower() not in owned:
            return f"553 5.7.1 {user} may not send as {address or '<>'}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.fax_pending = _Pending([], set())
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= self.config.limits.max_recipients:
            return "452 4.5.3 too many recipients; send the rest in another message"  # RFC 5321 §4.5.3.1.10
        user = session.auth_data if session.authenticated else None
        sender = rules_mod.Sender(envelope.mail_from or "", user if isinstance(user, str) else None,
                                  _client_ip(session))
        job = decide_recipient(self.config, self.rules, sender, address)
        if isinstance(job, rules_mod.Refused):
            log.info("RCPT %s from %s refused: %s", address, sender.address, job.reason)
            return job.smtp
        pending = self._pending(envelope)
        if job.number not in pending.numbers:
            pending.numbers.add(job.number)
            pending.jobs.append(job)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return f"250 2.1.5 fax to {job.number} accepted"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        parsed = check_message(raw, max_documents=self.config.limits.max_documents)
        if isinstance(parsed, MimeProblem):
            return f"554 5.6.0 {parsed.reason}"
        pending = self._pending(envelope)
        if not pending.jobs:
            return "554 5.5.1 no valid recipients"
        user = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        env = Envelope(sender=envelope.mail_from or "", auth_user=user,
                       peer=_client_ip(session),
                       message_id=parsed.message_id, subject=parsed.subject)
        try:
            result = await self.committer.accept(Submission(raw, env, tuple(pending.jobs), self.clock()))
        except Exception as e:  # our own failure: transient for the client
            log.exception("could not queue a message from %s", env.sender)
            return f"451 4.3.0 could not queue the message ({type(e).__name__}); try again later"
        if self.on_accepted is not None:
            self.on_accepted()
        ids = ",".join(str(i) for i in result.jobs)
        log.info("message %d from %s queued as job(s) %s%s", result.message, env.sender or "<>", ids,
                 " (a resubmission)" if result.duplicate else "")
        note = " (already queued)" if result.duplicate else ""
        return f"250 2.0.0 queued as fax job{'s' if len(result.jobs) > 1 else ''} {ids}{note}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return "451 4.3.0 temporary failure of the fax gateway; try again later"


class Authenticator:
    """AUTH PLAIN/LOGIN against the configured SMTP users (constant-time compare)."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = dict(users)

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        want = self._users.get(login)
        ok = want is not None and hmac.compare_digest(want.encode(), auth_data.password)
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def __repr__(self) -> str:
        return f"Authenticator(users={sorted(self._users)})"


def tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.smtp.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(config.smtp.tls_cert), str(config.smtp.tls_key))
    return ctx


def smtp_kwargs(config: Config) -> dict:
    """aiosmtpd ``SMTP`` keyword arguments for this config (also for a test Controller)."""
    ctx = tls_context(config)
    kwargs = dict(
        hostname=config.smtp.hostname, data_size_limit=config.smtp.max_message_size,
        enable_SMTPUTF8=True, decode_data=False, auth_require_tls=True, auth_required=False,
    )
    if ctx is not None:
        kwargs.update(tls_context=ctx, require_starttls=config.smtp.require_tls)
    if config.smtp.users:
        kwargs.update(authenticator=Authenticator(config.smtp.users), auth_exclude_mechanism=["CRAM-MD5"])
    else:
        kwargs.update(auth_exclude_mechanism=["PLAIN", "LOGIN"])
    return kwargs


def smtp_factory(handler: FaxHandler, config: Config) -> Callable[[], SMTP]:
    kwargs = smtp_kwargs(config)
    return lambda: FastDataSMTP(handler, **kwargs)


async def start_server(handler: FaxHandler, config: Config) -> asyncio.AbstractServer:
    """Listen on the configured address on the running loop.

    ``[::]`` is one dual-stack socket (IPv4 clients too, as ``::ffff:a.b.c.d``) where the
    OS allows: asyncio itself would set IPV6_V6ONLY on it and leave IPv4 out."""
    loop = asyncio.get_running_loop()
    factory = smtp_factory(handler, config)
    host, port = config.smtp.host, config.smtp.port
    if host == "::" and socket.has_dualstack_ipv6():
        sock = socket.create_server((host, port), family=socket.AF_INET6, dualstack_ipv6=True)
        server = await loop.create_server(factory, sock=sock)
    else:
        server = await loop.create_server(factory, host=host, port=port)
    where = ", ".join(hostport(*s.getsockname()[:2]) for s in server.sockets)
    log.info("SMTP listening on %s (domains %s)", where, ", ".join(config.fax_domains))
    return server
