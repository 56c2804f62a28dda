"""Email to fax, end to end in real time: smtplib -> the gateway (`mailfax.app`) -> job ->
IAX2 call over UDP on 127.0.0.1 -> a second endpoint answering with our receiving
FaxTerminal -> pages equal the rendered input -> the sender's report at an SMTP sink."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import smtplib
import socket
import time
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from iax.aio import open_endpoint
from iax.events import IncomingCall
from iax.options import EndpointOptions
from mailfax.app import start_gateway
from mailfax.config import Trunk, load_config
from mailfax.inbound import InboundService
from mailfax.jobs import JobState
from mailfax.maildir import MaildirMailer
from mailfax.received import ReceivedStore
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.store import Store
from mailfax.telephony import Telephony
from tests.support import mailfax_samples as samples

FAR_IDENT = "+1 555 0199"
NUMBER = "+15555550199"


class Sink:
    """An SMTP sink (aiosmtpd Controller) that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def sink():
    s = Sink()
    with socket.socket() as probe:  # a free port (the Controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        s.port = probe.getsockname()[1]
    c = Controller(s, hostname="127.0.0.1", port=s.port)
    c.start()
    yield s
    c.stop()


def write_config(tmp: Path, far_port: int, sink_port: int, *, extra_rule: str = "") -> Path:
    (tmp / "rules.yaml").write_text(f"""
outbound:
  - name: local
    from: {{relays: [127.0.0.1/32]}}
    numbers: {{international: true}}
    cover: {{body: ignore}}
    header: ""
    notify: always
    notify_requeue: true
{extra_rule}""")
    (tmp / "mailfax.yaml").write_text(f"""
smtp: {{listen: "127.0.0.1:10025"}}
storage: {{data_dir: {tmp / 'gw'}}}
trunks:
  - {{name: far, host: 127.0.0.1, port: {far_port}, channels: 2, caller_id: "15550100", local_ident: "+1 555 0100"}}
relay: {{host: 127.0.0.1, port: {sink_port}, from: fax@gw.test}}
iax: {{listen: "127.0.0.1:10025"}}
rules: rules.yaml
""")
    return tmp / "mailfax.yaml"


def gateway_config(path: Path):
    config = load_config(path)
    return dataclasses.replace(config, smtp=dataclasses.replace(config.smtp, port=0),
                               iax=dataclasses.replace(config.iax, port=0))


async def far_end(tmp: Path, *, reject_caller: bool = False):
    """A second gateway's telephony on 127.0.0.1 that answers with the receiving path."""
    rules_text = "outbound: []\n"
    if reject_caller:
        rules_text += "inbound:\n  - {name: nope, match: {caller_id: ['15550100']}, reject: true}\n"
    (tmp / "far-rules.yaml").write_text(rules_text)
    (tmp / "far.yaml").write_text(f"storage: {{data_dir: {tmp / 'far'}}}\nrules: far-rules.yaml\n")
    config = load_config(tmp / "far.yaml")
    rules = load_rules(None, config)
    store = ReceivedStore.open(config.storage)
    inbound = InboundService(config, inbound_rules(rules, config), store, MaildirMailer(tmp / "far-maildir"))
    callers = (Trunk(name="gw", host="127.0.0.1", port=0, channels=4, local_ident=FAR_IDENT),)
    phone = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=callers)
    return phone, store


def submit(port: int, pdf: bytes, to: str = NUMBER + "@fax.localhost") -> None:
    msg = samples.message()
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="doc.pdf")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.send_message(msg, from_addr="alice@example.com", to_addrs=[to])


async def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _send_one(tmp: Path, sink: Sink):
    phone, far_store = await far_end(tmp)
    path = write_config(tmp, phone.address[1], sink.port)
    config = gateway_config(path)
    store = Store.open(config.storage)
    gw = await start_gateway(config, load_rules(None, config), store, poll=0.2)
    try:
        await asyncio.to_thread(submit, gw.smtp_port, samples.pdf(seed=7))
        await wait_for(lambda: sink.messages, 150, "the sender's report")
        await wait_for(lambda: far_store.faxes(), 10, "the stored fax")
        job = store.jobs()[0]
        return job, store.load_pages(job.id), far_store.load(far_store.faxes()[0].id), sink.messages[0]
    finally:
        await gw.stop()
        await phone.close()


def test_email_to_fax_over_loopback_udp(tmp_path, sink):
    job, sent, received, report = asyncio.run(_send_one(tmp_path, sink))
    assert job.state is JobState.DONE and job.pages_confirmed == job.pages_total == len(sent)
    assert job.remote_ident == FAR_IDENT and job.bit_rate == 14400
    assert len(received.pages) == len(sent)
    for got, want in zip(received.pages, sent):
        assert got.same_pixels(want)
    assert received.tsi == "+1 555 0100" and received.caller_id == "15550100"
    assert received.called == job.dial and received.completion == "OK"
    assert report["To"] == "alice@example.com"
    body = report.get_body(("plain",)).get_content()
    assert FAR_IDENT in body and "14400" in body


async def _refused(tmp: Path, sink: Sink, *, busy: bool):
    if busy:  # a line that is always busy: every NEW answered with REJECT cause 17
        holder = []

        def on_event(ev):
            if isinstance(ev, IncomingCall):
                holder[0].endpoint.hang_up(ev.call, "User busy", 17, now=holder[0].now())
                holder[0].transmit()

        far = await open_endpoint(("127.0.0.1", 0), EndpointOptions(accept_unknown=True, calltoken_required=False),
                                  on_event=on_event)
        holder.append(far)
        port, close = far.local_address[1], far.close
    else:
        phone, _ = await far_end(tmp, reject_caller=True)
        port = phone.address[1]

        def close():
            pass
    path = write_config(tmp, port, sink.port)
    config = gateway_config(path)
    store = Store.open(config.storage)
    gw = await start_gateway(config, load_rules(None, config), store, poll=0.2)
    try:
        await asyncio.to_thread(submit, gw.smtp_port, samples.pdf(seed=8))
        await wait_for(lambda: sink.messages, 60, "the report")
        return store.jobs()[0], sink.messages[0]
    finally:
        await gw.stop()
        if busy:
            close()
        else:
            await phone.close()


def test_far_end_rejects_the_caller_failure_report(tmp_path, sink):
    job, report = asyncio.run(_refused(tmp_path, sink, busy=False))
    assert job.state is JobState.FAILED and job.pages_confirmed == 0
    assert "21" in (job.completion or "") or "rejected" in (job.completion or "").lower()
    body = report.get_body(("plain",)).get_content()
    assert report["Subject"].lower().startswith("fax") and ("fail" in body.lower() or "not" in body.lower())


def test_busy_line_is_retried_and_the_sender_told(tmp_path, sink):
    job, report = asyncio.run(_refused(tmp_path, sink, busy=True))
    assert job.state is JobState.RETRY_WAIT and job.next_try_at is not None
    assert "busy" in (job.reason or "").lower()
    body = report.get_body(("plain",)).get_content().lower()
    assert "busy" in body and ("retry" in body or "try again" in body or "again" in body)
