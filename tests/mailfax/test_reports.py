"""Reports to the sender (mailfax.reports) delivered by mailfax.mail_out to a real SMTP sink."""

import asyncio
import email
import email.policy
import socket

import numpy as np
import pytest
from aiosmtpd.controller import Controller

from dsp.t4.page import Page
from mailfax.config import load_config
from mailfax.jobs import FailureClass, JobSettings, JobState
from mailfax.mail_out import DeliveryError, Mailer
from mailfax.queue_runner import QueueRunner
from mailfax.store import Envelope, NewJob, Store
from tests.support.standin_fax_sender import Attempt, StandInFaxSender

T0 = 1_700_000_000.0


class Sink:
    """Collects messages; refuses recipients starting with 'tempfail' (451) or 'nobody' (550)."""

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("tempfail"):
            return "451 4.3.0 try later"
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos,
                              email.message_from_bytes(envelope.original_content, policy=email.policy.default)))
        return "250 OK"


@pytest.fixture
def sink():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Sink()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, handler
    ctl.stop()


@pytest.fixture
def env(tmp_path, sink):
    port, handler = sink
    (tmp_path / "c.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n"
                                     f"trunks: [{{name: t, host: h, channels: 4}}]\n"
                                     f"relay: {{host: 127.0.0.1, port: {port}, from: fax@gw.test}}\n")
    config = load_config(tmp_path / "c.yaml")
    store = Store.open(config.storage)
    sender = StandInFaxSender()
    clock = lambda: T0  # noqa: E731
    runner = QueueRunner(config, store, sender, mailer=Mailer(config.relay), clock=clock)
    yield store, sender, runner, handler
    store.close()


def ready(store, sender_addr, numbers, pages=2, notify="always", requeue=False):
    acc = store.accept(b"Subject: Invoice\r\nMessage-ID: <orig@example.com>\r\n\r\nx\r\n",
                       Envelope(sender_addr, message_id="<orig@example.com>", subject="Invoice"),
                       [NewJob(n, n, None, JobSettings(notify=notify, notify_requeue=requeue)) for n in numbers], T0)
    rows = np.zeros((200, 1728), dtype=np.uint8)
    rows[50:60, 100:900] = 1
    for jid in acc.jobs:
        store.claim_queued(T0)
        store.save_pages(jid, [Page(rows, 204, 196)] * pages)
        store.move(jid, JobState.CONVERTING, JobState.READY, T0, pages_total=pages)
    return acc


async def settle(runner):
    for _ in range(3):
        await runner.step()
        while runner.calls:
            await asyncio.gather(*list(runner.calls.values()))


def test_success_report_threaded_with_details_and_thumbnail(env):
    store, sender, runner, sink = env
    ready(store, "alice@example.com", ["+4930111"], pages=2)
    asyncio.run(settle(runner))
    (mail_from, rcpts, rep), = sink.messages
    assert rcpts == ["alice@example.com"] and mail_from == "<>"  # null sender: no bounce loops
    assert rep["In-Reply-To"] == "<orig@example.com>" and "<orig@example.com>" in rep["References"]
    assert rep["Subject"].startswith("Fax to +4930111 sent (2 of 2 pages)")
    body = rep.get_body(("plain",)).get_content()
    for text in ("2 of 2", "14400 bit/s", "ECM:       yes", "+49 30 9999", "12 s"):
        assert text in body
    (thumb,) = [p for p in rep.iter_attachments() if p.get_content_type() == "image/png"]
    assert thumb.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    assert store.message(1).report_state == "sent"


def test_failure_report_says_why_what_next_and_has_transcript(env):
    store, sender, runner, sink = env
    ready(store, "bob@example.com", ["+4930222"], pages=3)
    sender.script["+4930222"] = [Attempt(FailureClass.PROTOCOL, confirm=1), Attempt(FailureClass.PERMANENT)]
    asyncio.run(settle(runner))
    assert sink.messages == []  # retry pending: no report yet
    store.wake_retries(T0 + 10_000)
    asyncio.run(settle(runner))
    (_, _, rep), = sink.messages
    body = rep.get_body(("plain",)).get_content()
    assert "FAILED" in rep["Subject"]
    for text in ("the call was rejected", "Code:      REJECTED", "given up", "1 of 3 confirmed"):
        assert text in body, text
    (tr,) = [p for p in rep.iter_attachments() if p.get_filename() == "transcript-job1.txt"]
    assert "call: REJECTED" in tr.get_content()


def test_group_report_and_notify_policy(env):
    store, sender, runner, sink = env
    ready(store, "carol@example.com", ["+491", "+492"])
    sender.script["+492"] = [Attempt(FailureClass.PERMANENT)]
    ready(store, "dave@example.com", ["+493"], notify="failure")
    asyncio.run(settle(runner))
    (_, rcpts, rep), = sink.messages  # dave's fax succeeded and he asked for failures only
    assert rcpts == ["carol@example.com"] and rep["Subject"].startswith("1 of 2 faxes sent")
    assert store.message(2).report_state == "not-wanted"


def test_mailer_errors_are_transient_or_permanent(env, sink):
    store, sender, runner, handler = env
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"] = "fax@gw.test"
    m["Subject"] = "x"
    m.set_content("x")
    mailer = runner.mailer
    with pytest.raises(DeliveryError) as e:
        asyncio.run(mailer.send(m, sender="", recipients=["tempfail@example.com"]))
    assert e.value.transient
    with pytest.raises(DeliveryError) as e:
        asyncio.run(mailer.send(m, sender="", recipients=["nobody@example.com"]))
    assert not e.value.transient
    closed = Mailer(type(mailer.relay)(host="127.0.0.1", port=1, timeout=2))
    with pytest.raises(DeliveryError) as e:
        asyncio.run(closed.send(m, sender="", recipients=["a@b.test"]))
    assert e.value.transient


def test_requeue_notice_says_when_the_next_try_is(env):
    store, sender, runner, sink = env
    ready(store, "erin@example.com", ["+4930666"], requeue=True)
    sender.script["+4930666"] = [Attempt(FailureClass.BUSY)]
    asyncio.run(settle(runner))
    (_, rcpts, rep), = sink.messages
    body = rep.get_body(("plain",)).get_content()
    assert rcpts == ["erin@example.com"] and "will retry" in rep["Subject"]
    assert "the line was busy" in body and "another attempt at 2023-11-14 22:16:20 UTC" in body
    assert store.message(1).report_state == "pending"  # the final report is still to come


def test_report_message_ids_are_stable_so_a_resend_after_a_crash_is_one_message(env):
    """A report sent again after a restart (the relay took it, the gateway died before
    recording that) carries the same Message-ID; each notice and each message differ."""
    from mailfax.reports import build_report

    store, sender, runner, sink = env
    ready(store, "frank@example.com", ["+4930777"], requeue=True)
    sender.script["+4930777"] = [Attempt(FailureClass.BUSY)]
    asyncio.run(settle(runner))                        # the requeue notice
    store.wake_retries(T0 + 10_000)
    asyncio.run(settle(runner))                        # the final report
    (_, _, notice), (_, _, final) = sink.messages
    msg, jobs = store.message(1), store.jobs()
    again = build_report(msg, jobs, from_address="fax@gw.test", now=T0 + 99_999)
    assert again["Message-ID"] == final["Message-ID"] != notice["Message-ID"]
    assert final["Message-ID"].endswith("@gw.test>")
    ready(store, "frank@example.com", ["+4930778"])
    other = build_report(store.message(2), store.jobs(), from_address="fax@gw.test", now=T0)
    assert other["Message-ID"] != final["Message-ID"]
