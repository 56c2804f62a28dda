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
- the SMTP listener (`mailfax.smtp_in`).

`Gateway.stop()` closes them in reverse order: no new mail, running calls hung up (their
outcomes recorded by the runner), then the delivery loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from mailfax.config import Config

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
    handler = FaxHandler(config, rules, store, clock=clock, on_accepted=runner.wake.set)
    server = await start_server(handler, config)
    return Gateway(config, store, runner, inbound, telephony, loopline, server, maildir, stop, tasks)


async def serve(config: Config, rules, store) -> None:
    """``mailfax serve``: run until SIGTERM or SIGINT."""
    import signal

    gw = await start_gateway(config, rules, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    where = f", Maildir {gw.maildir}" if gw.maildir else ""
    print(f"mailfax: listening on {config.smtp.host}:{gw.smtp_port}, queue {config.storage.queue_db}, "
          f"IAX2 on {gw.telephony.address[0]}:{gw.telephony.address[1]}{where}", flush=True)
    try:
        await stop.wait()
    finally:
        await gw.stop()
