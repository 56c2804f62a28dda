"""Received faxes into real mailboxes: Postfix (SMTP -> Maildir) and Dovecot (IMAP APPEND).

The pages are real (rendered by Ghostscript from text); what arrives is decoded by tools
that are not ours: Ghostscript renders the PDF attachment at the fax resolution and
Pillow (libtiff) decodes the TIFF-F, and both must equal the received pages pixel for
pixel.  Faults: an IMAP server that is down when the fax arrives, a restart between the
APPEND and our record (no second copy), a 5xx from Postfix (the fax master is alerted
into his Maildir), a wrong IMAP password (last: Dovecot delays logins after a failure).
"""

from __future__ import annotations

import asyncio
import imaplib
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from mailfax.config import load_config
from mailfax.delivery import deliver_imap
from mailfax.fax_email import build_fax_email
from mailfax.inbound import build_service
from mailfax.received import DeliveryState, TargetKind
from mailfax.rules import load_rules
from mailfax.rules_in import ImapTarget
from tests.support import mailservers
from tests.support.received_faxes import (attachments, free_port, gs_pages, parse, pillow_tiff_pages, real_pages,
                                          sample_fax)

pytestmark = pytest.mark.servers

class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def pages():
    return real_pages(2)


def service(tmp_path, rules: str, clock: Clock):
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "mailfax.yaml").write_text(
        f"storage: {{data_dir: {tmp_path / 'data'}}}\n"
        f"relay: {{host: 127.0.0.1, port: {mailservers.POSTFIX_PORT}, from: gateway@mail.test, timeout: 20s}}\n"
        "inbound: {faxmaster: faxmaster@mail.test}\nrules: rules.yaml\n")
    cfg = load_config(tmp_path / "mailfax.yaml")
    return build_service(cfg, load_rules(None, cfg), clock=clock)


def step(svc):
    return asyncio.run(svc.step())


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def in_maildir(user: str, needle: str) -> list[bytes]:
    out = []
    for p in mailservers.maildir_messages(user):
        raw = p.read_bytes()
        if needle.encode() in raw:
            out.append(raw)
    return out


def imap_fetch(port: int, user: str, folder: str, message_id: str) -> list[bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login(user, "secret")
        typ, _ = imap.select(f'"{folder}"')
        if typ != "OK":
            return []
        typ, data = imap.search(None, "HEADER", "Message-ID", f'"{message_id}"')
        out = []
        for num in data[0].split():
            typ, got = imap.fetch(num, "(RFC822)")
            out.append(got[0][1])
        return out
    finally:
        imap.logout()


def check_pages(msg, pages) -> None:
    att = attachments(msg)
    pdf = next(v for k, v in att.items() if k.endswith(".pdf"))
    for got, page in zip(gs_pages(pdf, 204, 196), pages, strict=True):
        assert np.array_equal(got, page.rows)
    tif = [v for k, v in att.items() if k.endswith(".tif")]
    for data in tif:
        for got, page in zip(pillow_tiff_pages(data), pages, strict=True):
            assert np.array_equal(got, page.rows)


def test_smtp_through_postfix_into_bobs_maildir(tmp_path, postfix, pages):
    svc = service(tmp_path, "inbound: [{deliver: {email: [bob@mail.test], formats: [pdf, tiff]}}]\n", Clock())
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    (d,) = svc.store.deliveries(fid)
    assert d.state is DeliveryState.DELIVERED, d.error
    (raw,) = wait_for(lambda: in_maildir("bob", d.message_id))
    msg = parse(raw)
    assert msg["Subject"] == "Fax from +49 89 555 123, 2 pages"
    check_pages(msg, pages)


def test_imap_append_creates_the_folder_and_the_pages_come_back(tmp_path, dovecot, pages):
    folder = f"Faxes-{uuid.uuid4().hex[:8]}"
    rules = (f"inbound: [{{deliver: {{imap: [{{host: 127.0.0.1, port: {dovecot.port}, user: alice@mail.test, "
             f"password: secret, folder: {folder}}}], formats: [pdf, tiff]}}}}]\n")
    svc = service(tmp_path, rules, Clock())
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    (d,) = svc.store.deliveries(fid)
    assert d.state is DeliveryState.DELIVERED, d.error
    (raw,) = imap_fetch(dovecot.port, "alice@mail.test", folder, d.message_id)
    check_pages(parse(raw), pages)


def test_restart_between_append_and_record_leaves_one_copy(tmp_path, dovecot, pages):
    folder = f"Faxes-{uuid.uuid4().hex[:8]}"
    rules = (f"inbound: [{{deliver: {{imap: [{{host: 127.0.0.1, port: {dovecot.port}, user: alice@mail.test, "
             f"password: secret, folder: {folder}}}]}}}}]\n")
    clock = Clock()
    first = service(tmp_path, rules, clock)
    fid = first.accept_received(sample_fax(pages))
    (claimed,) = first.store.claim_due(clock())
    # the first instance's attempt gets as far as the server's OK, then the process dies
    fax = first.store.load(fid)
    msg = build_fax_email(fax, to="alice@mail.test", from_address="gateway@mail.test",
                          message_id=claimed.message_id, now=clock())
    target = ImapTarget.from_json(claimed.target["imap"])
    assert asyncio.run(deliver_imap(target, msg.as_bytes(), claimed.message_id)) is True
    second = service(tmp_path, rules, clock)
    assert second.recover() == 1
    step(second)
    assert second.store.deliveries(fid)[0].state is DeliveryState.DELIVERED
    assert len(imap_fetch(dovecot.port, "alice@mail.test", folder, claimed.message_id)) == 1


def test_5xx_from_postfix_alerts_the_fax_master(tmp_path, postfix, pages):
    clock = Clock()
    svc = service(tmp_path, "inbound: [{deliver: {email: [nobody@mail.test]}}]\n", clock)
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    failed, alert = svc.store.deliveries(fid)
    assert failed.state is DeliveryState.FAILED and "nobody@mail.test" in failed.error and "55" in failed.error
    step(svc)
    assert svc.store.delivery(alert.id).state is DeliveryState.DELIVERED
    (raw,) = wait_for(lambda: in_maildir("faxmaster", alert.message_id))
    msg = parse(raw)
    assert msg["Subject"] == f"Undeliverable received fax {fid} from +49 89 555 123 to nobody@mail.test"
    check_pages(msg, pages)  # the fax itself travels with the alert


@pytest.fixture(scope="module")
def own_dovecot(postfix):
    """A second Dovecot on a free port, not started: tests start it when they want it up."""
    workdir = Path(tempfile.mkdtemp(prefix="mailfax-dovecot-j-", dir="/var/tmp"))
    workdir.chmod(0o755)
    server = mailservers.Dovecot(workdir, port=free_port())
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_imap_down_when_the_fax_arrives(tmp_path, own_dovecot, pages):
    folder = f"Faxes-{uuid.uuid4().hex[:8]}"
    rules = (f"inbound: [{{deliver: {{imap: [{{host: 127.0.0.1, port: {own_dovecot.port}, user: alice@mail.test, "
             f"password: secret, folder: {folder}}}]}}}}]\n")
    clock = Clock()
    svc = service(tmp_path, rules, clock)
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    (d,) = svc.store.deliveries(fid)
    assert d.state is DeliveryState.PENDING and "cannot connect" in d.error
    own_dovecot.start()
    clock.t = d.next_try_at
    step(svc)
    (d,) = svc.store.deliveries(fid)
    assert d.state is DeliveryState.DELIVERED and d.attempts == 2
    (raw,) = imap_fetch(own_dovecot.port, "alice@mail.test", folder, d.message_id)
    check_pages(parse(raw), pages)


def test_wrong_imap_password_is_permanent_and_alerts(tmp_path, own_dovecot, postfix, pages):
    """Last: a failed login makes this Dovecot slow down the next logins from 127.0.0.1."""
    rules = (f"inbound: [{{deliver: {{imap: [{{host: 127.0.0.1, port: {own_dovecot.port}, user: alice@mail.test, "
             f"password: wrong, folder: Faxes}}]}}}}]\n")
    if not _listening(own_dovecot.port):
        own_dovecot.start()
    svc = service(tmp_path, rules, Clock())
    fid = svc.accept_received(sample_fax(pages))
    step(svc)
    failed, alert = svc.store.deliveries(fid)
    assert failed.state is DeliveryState.FAILED and "login refused" in failed.error
    assert alert.kind is TargetKind.ALERT
    step(svc)
    assert wait_for(lambda: in_maildir("faxmaster", alert.message_id))


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


HEADER_ROWS = 80  # the sender's TTI line lives in the top ~8 mm of a fine page


@pytest.mark.slow
def test_fax_over_iax2_arrives_in_an_imap_folder(tmp_path, dovecot):
    """End to end in real time: email -> our sending terminal -> IAX2 on loopback -> our
    receiving terminal -> stored -> IMAP APPEND into a new folder of alice's; the PDF and
    TIFF found there are the sent pages (below the TTI line), pixel for pixel."""
    from mailfax.app import start_gateway
    from mailfax.received import ReceivedStore
    from mailfax.store import Store
    from tests.support import mailfax_samples as samples

    folder = f"Faxes-{uuid.uuid4().hex[:8]}"
    port = free_port()
    (tmp_path / "rules.yaml").write_text(
        "outbound: [{name: local, from: {relays: [127.0.0.0/8]}, numbers: {international: true}}]\n"
        f"inbound: [{{deliver: {{imap: [{{host: 127.0.0.1, port: {dovecot.port}, user: alice@mail.test, "
        f"password: secret, folder: {folder}}}], formats: [pdf, tiff]}}}}]\n")
    (tmp_path / "mailfax.yaml").write_text(
        f"smtp: {{listen: 127.0.0.1:{port}}}\nfax: {{domains: [fax.localhost]}}\n"
        f"storage: {{data_dir: {tmp_path / 'data'}}}\nrules: rules.yaml\n")
    cfg = load_config(tmp_path / "mailfax.yaml")
    store = Store.open(cfg.storage)
    received = ReceivedStore.open(cfg.storage)

    async def main():
        gw = await start_gateway(cfg, load_rules(None, cfg), store, poll=0.2)
        try:
            msg = samples.message("doc.txt", to="+15555550199@fax.localhost", sender="alice@localhost")
            await asyncio.to_thread(_smtp_send, port, msg)
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                done = [d for d in received.deliveries() if d.state is DeliveryState.DELIVERED]
                if done:
                    return done[0]
                await asyncio.sleep(0.5)
            raise TimeoutError(f"not delivered: {received.deliveries()} jobs {store.jobs()}")
        finally:
            await gw.stop()

    d = asyncio.run(main())
    (raw,) = imap_fetch(dovecot.port, "alice@mail.test", folder, d.message_id)
    msg = parse(raw)
    assert msg["Subject"].startswith("Fax from +1 555 0100")
    job = store.jobs()[0]
    sent = store.load_pages(job.id)
    att = attachments(msg)
    pdf = next(v for k, v in att.items() if k.endswith(".pdf"))
    tif = next(v for k, v in att.items() if k.endswith(".tif"))
    for decoded in (gs_pages(pdf, 204, 196), pillow_tiff_pages(tif)):
        assert len(decoded) == len(sent) == job.pages_confirmed
        for got, page in zip(decoded, sent):
            assert got.shape == page.rows.shape
            assert np.array_equal(got[HEADER_ROWS:], page.rows[HEADER_ROWS:])


def _smtp_send(port: int, msg) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.send_message(msg, from_addr="alice@localhost", to_addrs=["+15555550199@fax.localhost"])
