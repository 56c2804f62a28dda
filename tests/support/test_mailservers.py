"""The mail-server fixtures work: a message sent to Postfix lands in a Maildir and is seen over IMAP."""

from __future__ import annotations

import imaplib
import smtplib
import time
import uuid
from email.message import EmailMessage

import pytest

from tests.support import mailservers

pytestmark = pytest.mark.servers


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def test_postfix_delivers_to_maildir_and_dovecot_serves_it(postfix, dovecot):
    tag = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = "someone@example.org"
    msg["To"] = "bob@mail.test"
    msg["Subject"] = f"probe {tag}"
    msg.set_content("hello")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=10) as smtp:
        smtp.send_message(msg)

    def delivered():
        return [p for p in mailservers.maildir_messages("bob") if tag in p.read_text(errors="replace")]

    assert _wait_for(delivered)
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
    try:
        imap.login("bob@mail.test", "secret")
        imap.select("INBOX")
        typ, data = imap.search(None, "SUBJECT", tag)
        assert typ == "OK" and data[0].split()
    finally:
        imap.logout()
