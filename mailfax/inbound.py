"""The inbound service: store a received fax first, then deliver it until it arrives.

What does it do?  The telephony side talks to one `InboundService`:

- ``decide_call(called, caller_id) -> CallDecision`` before answering and
  ``decide_tsi(called, caller_id, tsi, subaddress="") -> CallDecision`` after phase B
  (rules.yaml ``inbound:``; `mailfax.rules_in`);
- ``accept_received(fax: ReceivedFax) -> int`` (blocking; ``await accept(fax)`` runs it in a
  thread) stores the fax durably (`mailfax.received.ReceivedStore`: TIFF-F and metadata
  fsynced, then the rows) together with one delivery row per target of the matching rule,
  and returns the gateway's fax ID.  Nothing is delivered before that returns.
- ``config.inbound.max_pages``, ``config.inbound.max_calls(trunk)`` and
  ``config.inbound.rings`` are the limits the call side applies.

`run(stop)` is the delivery loop (started by ``mailfax serve``): every due delivery is
tried (SMTP, IMAP, archive, fax-master alert; `mailfax.delivery`); a transient failure is
retried with exponential backoff (``inbound.retry_first`` doubling up to
``inbound.retry_max``) until ``inbound.give_up_after`` (default 5 days, as MTAs keep mail)
after the fax arrived; a permanent failure or the end of that period fails the target
and queues one alert to the fax master (in the same transaction).  On start, attempts cut
off by a restart go back to pending; their Message-ID was fixed when they were scheduled,
so an IMAP retry finds a copy that already arrived instead of appending a second one.
(SMTP cannot be asked: a crash between the relay's 250 and our record re-sends once, with
the same Message-ID.)  Time is injected (``clock``); `step` is callable from tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from mailfax.config import Config
from mailfax.delivery import DeliveryError, archive, deliver_imap, deliver_smtp
from mailfax.fax_email import attachment_name, build_alert_email, build_fax_email
from mailfax.received import (DeliveryRecord, DeliveryState, NewDelivery, ReceivedFax, ReceivedStore, TargetKind)
from mailfax.rules_in import CallDecision, ImapTarget, InboundRule, InboundRules, decide_call, decide_tsi, route_fax
from mailfax.waiting import sleep_until

log = logging.getLogger("mailfax.inbound")

__all__ = ["InboundService", "Backoff", "CallDecision", "ReceivedFax", "targets_for"]


@dataclass(frozen=True)
class Backoff:
    """Exponential retry delays, bounded by a give-up period counted from the fax's arrival."""

    first: float = 60.0
    max: float = 3600.0
    give_up_after: float = 5 * 86400.0

    def next_try(self, attempts: int, since: float, now: float) -> float | None:
        """When to try again after ``attempts`` failed attempts, or None to give up."""
        deadline = since + self.give_up_after
        if now >= deadline:
            return None
        delay = min(self.first * 2 ** max(0, attempts - 1), self.max)
        return min(now + delay, deadline)


def targets_for(rule: InboundRule) -> list[NewDelivery]:
    """The delivery rows for a fax routed by ``rule``.  A configured IMAP account is stored
    by name (its password stays in mailfax.yaml); an inline one with its fields."""
    common = {"formats": list(rule.formats), "subject": rule.subject}
    out = [NewDelivery(TargetKind.EMAIL, {"to": a, **common}, a) for a in rule.emails]
    for t in rule.imap:
        spec = {"account": t.account, "folder": t.folder} if t.account else t.to_json()
        out.append(NewDelivery(TargetKind.IMAP, {"imap": spec, **common}, t.label))
    if rule.archive is not None:
        out.append(NewDelivery(TargetKind.ARCHIVE, {"dir": str(rule.archive)}, f"archive {rule.archive}"))
    return out


class InboundService:
    """Received faxes in, emails out (see the module docstring)."""

    def __init__(self, config: Config, rules: InboundRules, store: ReceivedStore, mailer, *,
                 clock: Callable[[], float] = time.time, poll: float = 5.0) -> None:
        self.config = config
        self.rules = rules
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.poll = poll
        inb = config.inbound
        self.backoff = Backoff(inb.retry_first, inb.retry_max, inb.give_up_after)
        self.from_address = inb.from_address or config.relay.from_address
        self.wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ the call side

    def decide_call(self, called: str, caller_id: str) -> CallDecision:
        return decide_call(self.rules, called, caller_id)

    def decide_tsi(self, called: str, caller_id: str, tsi: str, subaddress: str = "") -> CallDecision:
        return decide_tsi(self.rules, called, caller_id, tsi, subaddress)

    def accept_received(self, fax: ReceivedFax) -> int:
        """Store the fax durably with its delivery rows; returns the fax ID (blocking)."""
        now = self.clock()
        if not fax.started_at:
            fax = replace(fax, started_at=now)
        rule = route_fax(self.rules, fax)
        fax_id = self.store.add(fax, targets_for(rule), now=now, rule=rule.name)
        log.info("received fax %d from %s, %d page(s), rule %s", fax_id, fax.sender, fax.pages_received, rule.name)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.wake.set)
        return fax_id

    async def accept(self, fax: ReceivedFax) -> int:
        """`accept_received` in a worker thread (the fsyncs do not stall the event loop)."""
        self._loop = asyncio.get_running_loop()
        return await asyncio.to_thread(self.accept_received, fax)

    # ------------------------------------------------------------ delivery

    def _email_for(self, rec: DeliveryRecord, fax: ReceivedFax, tiff: bytes | None, to: str):
        return build_fax_email(fax, to=to, from_address=self.from_address, formats=rec.target.get("formats", ["pdf"]),
                               subject_template=rec.target.get("subject", "Fax from {sender}, {pages} pages"),
                               message_id=rec.message_id, now=self.clock(), tiff_bytes=tiff)

    def _imap_target(self, spec: dict) -> ImapTarget:
        if spec.get("account"):
            acc = self.config.imap_account(spec["account"])
            if acc is None:
                raise DeliveryError(f"imap account '{spec['account']}' is not configured any more", transient=False)
            return ImapTarget(acc.host, acc.user, acc.password, spec.get("folder") or acc.folder, acc.port, acc.tls,
                              acc.timeout, account=acc.name)
        return ImapTarget.from_json(spec)

    async def _attempt(self, rec: DeliveryRecord) -> None:
        """One try at one target; raises `DeliveryError` when it did not arrive."""
        fax = await asyncio.to_thread(self.store.load, rec.fax)
        tiff = await asyncio.to_thread(self.store.tiff_bytes, rec.fax)
        kind = rec.kind
        if kind is TargetKind.EMAIL:
            msg = await asyncio.to_thread(self._email_for, rec, fax, tiff, rec.target["to"])
            await deliver_smtp(self.mailer, msg, rec.target["to"], sender=self.from_address)
        elif kind is TargetKind.IMAP:
            target = self._imap_target(rec.target["imap"])
            to = target.user if "@" in target.user else "undisclosed-recipients:;"
            msg = await asyncio.to_thread(self._email_for, rec, fax, tiff, to)
            appended = await deliver_imap(target, msg.as_bytes(), rec.message_id)
            if not appended:
                log.info("fax %d: %s already holds %s (an earlier attempt)", rec.fax, target.label, rec.message_id)
        elif kind is TargetKind.ARCHIVE:
            rec_meta = dict(fax.meta(), fax_id=rec.fax)
            name = attachment_name(fax, "tiff").rsplit(".", 1)[0] + f"-{rec.fax}"
            await asyncio.to_thread(archive, Path(rec.target["dir"]), name, tiff, rec_meta)
        else:  # ALERT
            msg = await asyncio.to_thread(
                lambda: build_alert_email(fax, to=rec.target["to"], from_address=self.from_address,
                                          failed=rec.target["failed"], error=rec.target["error"],
                                          message_id=rec.message_id, now=self.clock()))
            await deliver_smtp(self.mailer, msg, rec.target["to"], sender=self.from_address)

    def _alert(self, rec: DeliveryRecord, error: str) -> NewDelivery | None:
        if rec.kind is TargetKind.ALERT:
            return None  # an alert that cannot be sent does not alert again
        to = self.config.inbound.faxmaster
        return NewDelivery(TargetKind.ALERT, {"to": to, "failed": rec.label, "error": error}, f"alert to {to}")

    async def deliver(self, rec: DeliveryRecord) -> DeliveryState:
        """Try one claimed delivery and record the outcome; returns the new state."""
        try:
            await self._attempt(rec)
        except DeliveryError as e:
            error, transient = str(e), e.transient
        except Exception as e:  # a bug or an unreadable file: keep trying, say what happened
            log.exception("fax %d: delivery %d to %s failed unexpectedly", rec.fax, rec.id, rec.label)
            error, transient = f"internal error: {type(e).__name__}: {e}", True
        else:
            self.store.delivered(rec.id, self.clock())
            log.info("fax %d delivered to %s", rec.fax, rec.label)
            return DeliveryState.DELIVERED
        now = self.clock()
        when = self.backoff.next_try(rec.attempts, rec.created_at, now) if transient else None
        if when is not None:
            self.store.retry_at(rec.id, when, error, now)
            log.warning("fax %d to %s: %s; next try at %s", rec.fax, rec.label, error, time.ctime(when))
            return DeliveryState.PENDING
        if transient:
            error = f"gave up after {rec.attempts} attempts over {self.backoff.give_up_after / 86400:g} days: {error}"
        self.store.failed(rec.id, error, now, alert=self._alert(rec, error))
        log.error("fax %d to %s failed for good: %s", rec.fax, rec.label, error)
        return DeliveryState.FAILED

    async def step(self) -> float | None:
        """Try every due delivery (concurrently); returns when the next one is due."""
        due = self.store.claim_due(self.clock())
        if due:
            await asyncio.gather(*(self.deliver(r) for r in due))
        return self.store.next_wakeup()

    def recover(self) -> int:
        """Call once at start-up: attempts cut off by a restart are tried again now."""
        n = self.store.recover(self.clock())
        if n:
            log.info("%d delivery attempt(s) interrupted by a restart will be retried", n)
        return n

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """The delivery loop, until ``stop`` is set (re-checks at least every ``poll`` s)."""
        self._loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        self.recover()
        while not stop.is_set():
            try:
                due = await self.step()
            except Exception:
                log.exception("delivery step failed; retrying")
                due = None
            delay = self.poll if due is None else min(self.poll, max(0.0, due - self.clock()))
            await sleep_until(self.wake, stop, delay)


def build_service(config: Config, rules, *, clock: Callable[[], float] = time.time) -> InboundService:
    """The service for ``mailfax serve``: the config's store and relay, the rules' inbound part."""
    from mailfax.mail_out import Mailer
    from mailfax.rules_in import inbound_rules

    domain = (config.inbound.from_address or config.relay.from_address).rpartition("@")[2] or "mailfax.localhost"
    store = ReceivedStore.open(config.storage, domain=domain)
    return InboundService(config, inbound_rules(rules, config), store, Mailer(config.relay), clock=clock)
