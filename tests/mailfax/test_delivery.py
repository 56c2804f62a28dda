"""Delivery edges without the real servers: SMTP 4xx is transient and 5xx permanent (an
aiosmtpd sink answering them), nothing listening is transient for SMTP and IMAP, and
mailbox names are quoted for IMAP.  The real Postfix/Dovecot paths: test_inbound_servers."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from mailfax.config import RelayConfig
from mailfax.delivery import DeliveryError, archive, deliver_imap, deliver_smtp, quote_mailbox
from mailfax.mail_out import Mailer
from mailfax.rules_in import ImapTarget
from tests.support.received_faxes import SinkHandler, free_port, start_sink


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "gw@example.com", "bob@example.com", "fax"
    m.set_content("x")
    return m


def relay(port: int) -> Mailer:
    return Mailer(RelayConfig(host="127.0.0.1", port=port, timeout=5))


@pytest.mark.parametrize("code,transient", [(451, True), (452, True), (550, False), (554, False)])
def test_smtp_codes(code, transient):
    sink = SinkHandler(fail_code=code, fail_times=1)
    c = start_sink(sink)
    try:
        with pytest.raises(DeliveryError) as e:
            asyncio.run(deliver_smtp(relay(c.port), message(), "bob@example.com", sender="gw@example.com"))
        assert e.value.transient is transient and str(code) in str(e.value)
        asyncio.run(deliver_smtp(relay(c.port), message(), "bob@example.com", sender="gw@example.com"))
        assert sink.to("bob@example.com")
    finally:
        c.stop()


def test_smtp_refused_recipient_is_permanent():
    sink = SinkHandler(refused={"nobody@example.com"})
    c = start_sink(sink)
    try:
        with pytest.raises(DeliveryError) as e:
            asyncio.run(deliver_smtp(relay(c.port), message(), "nobody@example.com", sender="gw@example.com"))
        assert not e.value.transient
    finally:
        c.stop()


def test_nothing_listening_is_transient():
    port = free_port()
    with pytest.raises(DeliveryError) as e:
        asyncio.run(deliver_smtp(relay(port), message(), "bob@example.com", sender="gw@example.com"))
    assert e.value.transient
    target = ImapTarget("127.0.0.1", "alice@mail.test", "secret", "Faxes", port=port, timeout=5)
    with pytest.raises(DeliveryError) as e:
        asyncio.run(deliver_imap(target, bytes(message()), "<m@x>"))
    assert e.value.transient and "cannot connect" in str(e.value)


def test_quote_mailbox():
    assert quote_mailbox("Faxes") == '"Faxes"'
    assert quote_mailbox('Fax "in"\\box') == '"Fax \\"in\\"\\\\box"'


def test_archive_writes_tiff_and_metadata(tmp_path):
    archive(tmp_path / "a" / "b", "fax-1", b"II*\x00", {"tsi": "x"})
    assert (tmp_path / "a" / "b" / "fax-1.tif").read_bytes() == b"II*\x00"
    assert '"tsi": "x"' in (tmp_path / "a" / "b" / "fax-1.json").read_text()
    (tmp_path / "file").write_text("")
    with pytest.raises(DeliveryError) as e:
        archive(tmp_path / "file" / "sub", "fax-1", None, {})
    assert e.value.transient
