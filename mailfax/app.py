"""The composition root: SMTP listener + queue runner + telephony + inbound delivery.

What does it do?  `start_gateway` builds the running gateway from a loaded config and
rules — the only place where the parts are wired together (`mailfax serve` and
`mailfax demo` use it):

- the received-fax service (`mailfax.inbound`) and its delivery loop;
- one `Telephony` (one IAX2 endpoint) that places calls for the queue and answers calls
  from the trunks;
- with no trunk configured, the built-in loopback line (`mailfax.loopline`): a second
  endpoint on 127.0.0.1 that answers every call, and — as the embedded defaults promise —
  mail (received faxes, reports) goes into ``<data_dir>/Maildir`` (`mailfax.maildir`)
  instead of an SMTP relay;
- the queue runner (`mailfax.queue_runner`) with a `TelephonySender`;
- the daily retention pass (`mailfax.retention`, ``retention:``);
- the SMTP listener (`mailfax.smtp_in`).

`Gateway.stop()` closes them in reverse order: no new mail, running calls hung up (their
outcomes recorded by the runner), then the delivery loop.

Graceful stop (`serve`, like HylaFAX's or Asterisk's "stop when convenient"): the first
SIGTERM/SIGINT runs `Gateway.drain` — the SMTP listener closes (new connections are refused),
the queue runner starts nothing new (jobs stay queued for the next start), incoming calls
are refused with cause 41 so the caller retries later, and calls in progress run to their
end for up to ``shutdown.grace`` seconds.  When the grace is over, or on a second signal,
`Gateway.stop()` hangs up what is left exactly as before (an interrupted job is requeued to
resume at its first unconfirmed page; a partly received fax is stored and delivered).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from mailfax.config import Config
from mailfax.netaddr import hostport

log = logging.getLogger("mailfax.app")


@dataclass
class Gateway:
    config: Config               # as the runner sees it (with the loopback trunk, if any)
    store: object
    runner: object
    inbound: object
    telephony: object
    loopline: object | None
    server: asyncio.AbstractServer
    maildir: Path | None
    stop_event: asyncio.Event
    tasks: list

    @property
    def smtp_port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    def calls_in_progress(self) -> int:
        """Calls the drain waits for: the telephony's calls, plus jobs the runner has begun
        dialling whose call is not placed yet (pages still loading)."""
        calls = self.telephony.calls.values()
        outgoing = sum(1 for c in calls if c.incoming is None)
        return len(calls) - outgoing + max(outgoing, len(self.runner.calls))

    async def drain(self, grace: float, hurry: asyncio.Event | None = None) -> None:
        """Graceful stop, first part: accept nothing new, let calls in progress end by themselves.

        Returns when no call is left, after ``grace`` seconds, or as soon as ``hurry`` is set
        (a second signal); then call `stop()`, which hangs up what is left.  Deliveries of
        received faxes and reports go on meanwhile."""
        from mailfax.waiting import sleep_until

        loop = asyncio.get_running_loop()
        hurry = hurry or asyncio.Event()
        self.server.close()                   # new SMTP connections are refused from now on
        self.runner.hold()
        self.telephony.stop_answering()
        deadline = loop.time() + grace
        log.info("stopping: %d calls in progress, waiting up to %g s; send SIGTERM again to hang up now",
                 self.calls_in_progress(), grace)
        while (left := self.calls_in_progress()) and not hurry.is_set():
            if loop.time() >= deadline:
                log.info("stopping: the grace of %g s is over, hanging up %d calls", grace, left)
                return
            await sleep_until(self.telephony.ended, hurry, min(0.5, deadline - loop.time()))
        if left:
            log.info("stopping: second signal, hanging up %d calls now", left)
        else:
            log.info("stopping: no call left")

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        await self.telephony.close()          # running calls end; the runner records them
        if self.loopline is not None:
            await self.loopline.close()
        for _ in range(3):
            await asyncio.sleep(0)
        self.stop_event.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def maildir_of(config: Config) -> Path:
    return config.storage.data_dir / "Maildir"


async def start_gateway(config: Config, rules, store, *, mailer=None, inbound_mailer=None,
                        clock=time.time, poll: float = 1.0) -> Gateway:
    """Start every part on the running loop; returns the `Gateway` (call `stop()` at the end)."""
    from mailfax.inbound import InboundService
    from mailfax.mail_out import Mailer
    from mailfax.queue_runner import QueueRunner
    from mailfax.received import ReceivedStore
    from mailfax.rules_in import inbound_rules
    from mailfax.smtp_in import FaxHandler, start_server
    from mailfax.telephony import Telephony, TelephonySender

    recovered = store.recover(clock())
    if any(recovered.values()):
        log.info("recovered after restart: %s", recovered)
    loopback = not config.trunks
    maildir = None
    if loopback and mailer is None:
        from mailfax.maildir import MaildirMailer

        maildir = maildir_of(config)
        mailer = MaildirMailer(maildir)
    mailer = mailer or Mailer(config.relay)
    inbound_mailer = inbound_mailer or mailer

    domain = (config.inbound.from_address or config.relay.from_address).rpartition("@")[2] or "mailfax.localhost"
    inbound = InboundService(config, inbound_rules(rules, config),
                             ReceivedStore.open(config.storage, domain=domain), inbound_mailer, clock=clock)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(inbound.run(stop))]

    loopline = None
    if loopback:
        from mailfax.loopline import open_loopline

        loopline = await open_loopline(config, inbound)
        config = dataclasses.replace(config, trunks=(loopline.trunk,))
        telephony = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=(),
                                         group=loopline.telephony.group)  # one media clock for both ends
        log.info("no trunk configured: faxes go over the built-in loopback line (127.0.0.1:%d), "
                 "received faxes into %s", loopline.trunk.port, maildir or "the configured relay")
    else:
        telephony = await Telephony.open(config, inbound=inbound)
    runner = QueueRunner(config, store, TelephonySender(config, telephony, clock=clock), mailer=mailer,
                         clock=clock, poll=poll)
    tasks.append(asyncio.create_task(runner.run(stop)))
    from mailfax.status import Operations  # status.json for `mailfax status`, metrics (issue 8)

    tasks.append(asyncio.create_task(Operations(config, store, telephony, clock=clock).run(stop)))
    from mailfax.retention import run_cleanup  # faxqclean/faxcron: finished work past retention:, daily

    tasks.append(asyncio.create_task(run_cleanup(config, store, inbound.store, stop, clock=clock)))
    handler = FaxHandler(config, rules, store, clock=clock, on_accepted=runner.wake.set)
    server = await start_server(handler, config)
    return Gateway(config, store, runner, inbound, telephony, loopline, server, maildir, stop, tasks)


async def serve(config: Config, rules, store) -> None:
    """``mailfax serve``: run until SIGTERM or SIGINT, then stop gracefully.

    The first signal drains (`Gateway.drain`, up to ``config.shutdown.grace`` seconds); a
    second one, or the end of the grace, hangs up the calls left (`Gateway.stop`)."""
    import signal

    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):   # before starting: a signal during start-up drains at once
        loop.add_signal_handler(sig, on_signal)
    gw = await start_gateway(config, rules, store)
    where = f", Maildir {gw.maildir}" if gw.maildir else ""
    print(f"mailfax: listening on {hostport(config.smtp.host, gw.smtp_port)}, queue {config.storage.queue_db}, "
          f"IAX2 on {hostport(*gw.telephony.address)}{where}", flush=True)
    try:
        await stop.wait()
        await gw.drain(config.shutdown.grace, hurry)
    finally:
        await gw.stop()
