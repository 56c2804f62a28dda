"""The inbound service with injected time and an aiosmtpd relay: stored first, delivered,
4xx retried with backoff, 5xx and the end of the retry period alert the fax master once,
a relay that is down when the fax arrives, a restart mid-delivery, archive, the CLI."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from mailfax.config import load_config
from mailfax.inbound import Backoff, InboundService, build_service
from mailfax.received import DeliveryState, TargetKind
from mailfax.rules import load_rules
from mailfax.rules_in import CallDecision
from tests.support.received_faxes import (SinkHandler, attachments, free_port, parse, real_pages, sample_fax,
                                          start_sink)

RULES = """
inbound:
  - name: spam
    match: {tsi: ["SPAM*"]}
    reject: true
  - name: sales
    match: {called: ["+4930123450"]}
    deliver:
      email: [bob@example.com]
      formats: [pdf, tiff]
    archive: archive
"""


class Clock:
    def __init__(self, t: float = 1795700000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def pages():
    return real_pages(1)


def make(tmp_path, port: int, clock: Clock, rules: str = RULES) -> InboundService:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    (tmp_path / "mailfax.yaml").write_text(
        f"storage: {{data_dir: {tmp_path / 'data'}}}\n"
        f"relay: {{host: 127.0.0.1, port: {port}, from: gw@example.com, timeout: 5s}}\n"
        "inbound: {faxmaster: fm@example.com}\nrules: rules.yaml\n")
    cfg = load_config(tmp_path / "mailfax.yaml")
    return build_service(cfg, load_rules(None, cfg), clock=clock)


def step(svc):
    return asyncio.run(svc.step())


def states(svc, fid):
    return [(d.kind, d.state) for d in svc.store.deliveries(fid)]


@pytest.fixture
def sink():
    handler = SinkHandler()
    c = start_sink(handler)
    handler.port = c.port
    yield handler
    c.stop()


def test_backoff_doubles_up_to_the_cap_and_gives_up_after_the_period():
    b = Backoff(first=60, max=3600, give_up_after=5 * 86400)
    assert [b.next_try(n, 0, 0) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]
    assert b.next_try(3, 0, 5 * 86400 - 10) == 5 * 86400  # a last try at the end of the period
    assert b.next_try(3, 0, 5 * 86400) is None


def test_call_decisions(tmp_path):
    svc = make(tmp_path, 25, Clock())
    assert svc.decide_call("+4930123450", "+4989") is CallDecision.ACCEPT
    assert svc.decide_tsi("+4930123450", "+4989", "SPAM fax") is CallDecision.REJECT


def test_stored_then_delivered_once(tmp_path, sink, pages):
    clock = Clock()
    svc = make(tmp_path, sink.port, clock)
    fid = svc.accept_received(sample_fax(pages))
    assert svc.store.fax(fid).path.exists()             # on disk before any delivery
    assert [s for _, s in states(svc, fid)] == [DeliveryState.PENDING] * 2
    step(svc)
    assert states(svc, fid) == [(TargetKind.EMAIL, DeliveryState.DELIVERED), (TargetKind.ARCHIVE, DeliveryState.DELIVERED)]
    step(svc)
    (raw,) = sink.to("bob@example.com")
    msg = parse(raw)
    assert msg["Subject"] == "Fax from +49 89 555 123, 1 pages" and msg["X-Mailfax-Fax-ID"] == str(fid)
    assert [n.rsplit(".", 1)[1] for n in attachments(msg)] == ["pdf", "tif"]
    archived = sorted(p.name for p in (tmp_path / "data" / "archive").iterdir())
    assert archived == [f"fax-2026-11-26-1333-from-4989555123-{fid}.json", f"fax-2026-11-26-1333-from-4989555123-{fid}.tif"]


def test_4xx_is_retried_with_backoff(tmp_path, sink, pages):
    sink.fail_times = 2
    clock = Clock()
    svc = make(tmp_path, sink.port, clock)
    fid = svc.accept_received(sample_fax(pages, called="99"))  # default route: the fax master
    t0 = clock.t
    assert step(svc) == t0 + 60
    d = svc.store.deliveries(fid)[0]
    assert d.state is DeliveryState.PENDING and "451" in d.error and d.attempts == 1
    clock.t = t0 + 59
    step(svc)
    assert sink.tries == 1                                 # not due yet
    clock.t = t0 + 60
    assert step(svc) == t0 + 60 + 120
    clock.t = t0 + 180
    step(svc)
    assert svc.store.deliveries(fid)[0].state is DeliveryState.DELIVERED
    assert len(sink.to("fm@example.com")) == 1 and sink.tries == 3


def test_5xx_fails_and_alerts_the_fax_master_once(tmp_path, sink, pages):
    sink.refused = {"bob@example.com"}
    clock = Clock()
    svc = make(tmp_path, sink.port, clock)
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    email, _archive, alert = svc.store.deliveries(fid)
    assert email.state is DeliveryState.FAILED and "550" in email.error
    assert alert.kind is TargetKind.ALERT and alert.state is DeliveryState.PENDING
    step(svc)
    clock.t += 86400
    step(svc)
    (raw,) = sink.to("fm@example.com")
    msg = parse(raw)
    assert msg["Subject"].startswith(f"Undeliverable received fax {fid} ") and "550" in msg.get_body(("plain",)).get_content()
    assert list(attachments(msg))[0].endswith(".pdf")
    assert len(svc.store.deliveries(fid)) == 3 and not sink.to("bob@example.com")


def test_gives_up_after_the_retry_period(tmp_path, sink, pages):
    sink.fail_times = 10_000  # the relay answers 451 forever
    clock = Clock()
    svc = make(tmp_path, sink.port, clock, rules="inbound: [{deliver: {email: [bob@example.com]}}]")
    fid = svc.accept_received(sample_fax(pages))
    t0 = clock.t
    while True:
        due = step(svc)
        d = svc.store.deliveries(fid)[0]
        if d.state is not DeliveryState.PENDING:
            break
        clock.t = due
    assert d.state is DeliveryState.FAILED and d.error.startswith("gave up after")
    assert clock.t == t0 + 5 * 86400 and 120 < d.attempts < 140  # hourly after the first doublings
    alert = svc.store.deliveries(fid)[1]
    assert alert.kind is TargetKind.ALERT and alert.target["failed"] == "bob@example.com"


def test_relay_down_when_the_fax_arrives(tmp_path, pages):
    port = free_port()
    clock = Clock()
    svc = make(tmp_path, port, clock, rules="inbound: [{deliver: {email: [bob@example.com]}}]")
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    d = svc.store.deliveries(fid)[0]
    assert d.state is DeliveryState.PENDING and "unreachable" in d.error
    handler = SinkHandler()
    c = start_sink(handler, port)  # the relay comes back
    try:
        clock.t = d.next_try_at
        step(svc)
        assert svc.store.deliveries(fid)[0].state is DeliveryState.DELIVERED and len(handler.to("bob@example.com")) == 1
    finally:
        c.stop()


def test_restart_mid_delivery_delivers_once(tmp_path, sink, pages):
    sink.rcpt_delay = 2.0
    clock = Clock()
    first = make(tmp_path, sink.port, clock, rules="inbound: [{deliver: {email: [bob@example.com]}}]")
    fid = first.accept_received(sample_fax(pages))

    async def crash():  # the process dies while the relay is still answering
        task = asyncio.create_task(first.step())
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(crash())
    assert first.store.deliveries(fid)[0].state is DeliveryState.DELIVERING
    sink.rcpt_delay = 0
    second = make(tmp_path, sink.port, clock, rules="inbound: [{deliver: {email: [bob@example.com]}}]")
    assert second.recover() == 1
    step(second)
    step(second)
    assert second.store.deliveries(fid)[0].state is DeliveryState.DELIVERED
    assert len(sink.to("bob@example.com")) == 1


def test_cli_received_and_redeliver(tmp_path, sink, pages, capsys):
    from mailfax.cli import main

    sink.refused = {"bob@example.com"}
    clock = Clock()
    svc = make(tmp_path, sink.port, clock)
    fid = svc.accept_received(sample_fax(pages, pages_expected=3, completion="NO_CARRIER"))
    step(svc)
    cfg = ["--config", str(tmp_path / "mailfax.yaml")]
    assert main(["received", *cfg]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "RECEIVED", "FROM", "PAGES", "DELIVERY"]
    assert out[1].split()[:1] == [str(fid)] and "+49 89 555 123" in out[1] and " 1/3! " in out[1]
    assert "bob@example.com: failed (relay 127.0.0.1" in out[1]
    assert any("archive" in line and "delivered" in line for line in out[2:])
    assert any("alert to fm@example.com: pending" in line for line in out[2:])
    sink.refused = set()
    assert main(["redeliver", *cfg, str(fid)]) == 0
    assert capsys.readouterr().out.strip() == f"fax {fid}: 2 target(s) will be delivered again"
    step(svc)
    assert len(sink.to("bob@example.com")) == 1
    assert main(["redeliver", *cfg, "999"]) == 1


def test_run_loop_is_woken_by_accept(tmp_path, sink, pages):
    """``serve``'s loop: a fax accepted from the call side is delivered at once, not at the next poll."""
    svc = make(tmp_path, sink.port, Clock(), rules="inbound: [{deliver: {email: [bob@example.com]}}]")
    svc.poll = 60.0

    async def main():
        stop = asyncio.Event()
        loop_task = asyncio.create_task(svc.run(stop))
        await asyncio.sleep(0.1)
        fid = await svc.accept(sample_fax(pages))
        for _ in range(200):
            if svc.store.deliveries(fid)[0].state is DeliveryState.DELIVERED:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop_task, 5)
        return fid

    fid = asyncio.run(main())
    assert svc.store.deliveries(fid)[0].state is DeliveryState.DELIVERED and len(sink.to("bob@example.com")) == 1
