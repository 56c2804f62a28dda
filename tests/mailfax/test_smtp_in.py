"""The SMTP listener (mailfax.smtp_in) with a real client (smtplib) on loopback.

Covers STARTTLS + AUTH (self-signed certificate made here with openssl), relaying refused,
bad and unauthorised recipients, the size limit, malformed MIME, every document type,
several recipients, and 451 (never 5xx) for our own failure.
"""

import shutil
import smtplib
import socket
import ssl
import subprocess

import pytest

from mailfax.config import load_config
from mailfax.jobs import JobState
from mailfax.rules import load_rules
from mailfax.smtp_in import FaxHandler, smtp_kwargs
from mailfax.store import Store
from tests.support import mailfax_samples as samples
from tests.support.smtp_controller import FaxController

T0 = 1_700_000_000.0

RULES = """
outbound:
  - name: authenticated
    from: {authenticated: true}
    numbers: {international: true}
  - name: office
    from: {domains: [example.com], relays: [127.0.0.1/32]}
    numbers: {allow: ["+49*"]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    return d


@pytest.fixture
def gateway(tmp_path, cert):
    port = free_port()
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "mailfax.yaml").write_text(f"""
smtp:
  listen: 127.0.0.1:{port}
  hostname: fax.test
  max_message_size: 2MB
  tls: {{cert: {cert / 'cert.pem'}, key: {cert / 'key.pem'}}}
  users: {{alice: wonderland, bob: {{password: builder, addresses: [bob@example.com]}}}}
fax: {{domains: [fax.test]}}
dialing: {{country_code: "49", area_code: "30"}}
storage: {{data_dir: {tmp_path / 'data'}}}
limits: {{max_recipients: 5}}
rules: rules.yaml
""")
    config = load_config(tmp_path / "mailfax.yaml")
    store = Store.open(config.storage)
    handler = FaxHandler(config, load_rules(None, config), store, clock=lambda: T0)
    kw = smtp_kwargs(config)
    ident = kw.pop("hostname")
    ctl = FaxController(handler, hostname="127.0.0.1", port=port, server_hostname=ident, **kw)
    ctl.start()
    yield port, store
    ctl.stop()
    store.close()


def client(port):
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    c.ehlo("client.test")
    return c


def tls_client(port):
    c = client(port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.starttls(context=ctx)
    c.ehlo("client.test")
    return c


def test_ehlo_offers_size_starttls_and_auth_only_over_tls(gateway):
    port, _ = gateway
    c = client(port)
    assert c.has_extn("size") and c.esmtp_features["size"] == str(2 * 1024 * 1024)
    assert c.has_extn("starttls") and not c.has_extn("auth")
    code, msg = c.docmd("AUTH", "PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=")
    assert code == 538  # encryption required
    c.quit()
    t = tls_client(port)
    assert "PLAIN" in t.esmtp_features["auth"] and "LOGIN" in t.esmtp_features["auth"]
    t.quit()


def test_auth_plain_and_login(gateway):
    port, store = gateway
    t = tls_client(port)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        t.login("alice", "wrong")
    assert e.value.smtp_code == 535
    t.quit()
    for mech in ("PLAIN", "LOGIN"):
        t = tls_client(port)
        t.user, t.password = "alice", "wonderland"
        code, _ = t.auth(mech, getattr(t, f"auth_{mech.lower()}"), initial_response_ok=mech == "PLAIN")
        assert code == 235
        # authenticated: the "authenticated" rule allows international numbers for any address
        t.mail("someone@elsewhere.test")
        assert t.rcpt("+44 20 7946 0000@fax.test")[0] == 250
        t.rset()
        t.quit()


def test_recipients_checked_at_rcpt(gateway):
    port, _ = gateway
    c = client(port)
    c.mail("alice@example.com")
    code, msg = c.rcpt("12345@example.org")
    assert code == 550 and b"relaying denied" in msg
    code, msg = c.rcpt("not-a-number@fax.test")
    assert code == 553 and b"bad fax number" in msg
    code, msg = c.rcpt("+44 20 7946 0000@fax.test")
    assert code == 550 and b"international" in msg and b"office" in msg
    assert c.rcpt("030 1234567@fax.test")[0] == 250
    c.rset()
    c.mail("mallory@evil.test")
    code, msg = c.rcpt("030 1234567@fax.test")
    assert code == 550 and b"not authorised" in msg
    c.quit()


def test_size_limit(gateway):
    port, store = gateway
    c = client(port)
    code, msg = c.mail("alice@example.com", ["SIZE=5000000"])
    assert code == 552
    c.rset()
    c.mail("alice@example.com")
    c.rcpt("0301234567@fax.test")
    big = samples.message(extra={"big.pdf": b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)})
    code, msg = c.data(samples.wire(big))
    assert code == 552
    c.quit()
    assert store.message_count() == 0


def test_malformed_mime_is_refused_with_reason(gateway):
    port, store = gateway
    c = client(port)
    c.mail("alice@example.com")
    c.rcpt("0301234567@fax.test")
    code, msg = c.data(b"From: a\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n")
    assert code == 554 and b"malformed MIME" in msg
    c.mail("alice@example.com")
    c.rcpt("0301234567@fax.test")
    code, msg = c.data(b"From: a\r\nSubject: empty\r\n\r\n\r\n")
    assert code == 554 and b"nothing to fax" in msg
    c.quit()
    assert store.message_count() == 0


def test_every_document_type_is_queued(gateway):
    port, store = gateway
    names = list(samples.DOCUMENTS)
    msg = samples.message(*names, to="0301234567@fax.test")
    c = client(port)
    refused = c.sendmail("alice@example.com", ["0301234567@fax.test"], samples.wire(msg))
    assert refused == {}
    c.quit()
    (job,) = store.jobs()
    assert job.state is JobState.QUEUED and job.number == "+49301234567" and job.dial == "0301234567"
    assert store.read_message(job.message) == samples.wire(msg)


def test_several_recipients_one_job_each_grouped(gateway):
    port, store = gateway
    c = client(port)
    c.mail("alice@example.com")
    for r in ("0301234567@fax.test", "+49 89 123456@fax.test", "(030) 123-4567@fax.test", "+44 1@fax.test"):
        c.rcpt(r)
    code, msg = c.data(samples.wire(samples.message("doc.pdf")))
    assert code == 250 and b"jobs" in msg
    c.quit()
    jobs = store.jobs()
    assert [j.number for j in jobs] == ["+49301234567", "+4989123456"]  # duplicate folded, refused one left out
    assert len({j.message for j in jobs}) == 1


def test_recipient_limit(gateway):
    port, store = gateway
    c = client(port)
    c.mail("alice@example.com")
    codes = [c.rcpt(f"030 100{i}@fax.test")[0] for i in range(6)]
    assert codes == [250] * 5 + [452]
    c.quit()


def test_resubmission_after_lost_reply_is_not_queued_twice(gateway):
    port, store = gateway
    msg = samples.wire(samples.message("doc.txt", message_id="<again@example.com>"))
    for _ in range(2):
        c = client(port)
        assert c.sendmail("alice@example.com", ["0301234567@fax.test"], msg) == {}
        c.quit()
    assert store.message_count() == 1 and len(store.jobs()) == 1


def test_our_failure_is_451_never_5xx(gateway):
    port, store = gateway
    shutil.rmtree(store.msg_dir)  # the spool is gone: acceptance cannot be made durable
    c = client(port)
    c.mail("alice@example.com")
    c.rcpt("0301234567@fax.test")
    code, msg = c.data(samples.wire(samples.message("doc.txt")))
    assert code == 451
    c.quit()
    assert store.message_count() == 0


def test_require_tls_refuses_mail_before_starttls(tmp_path, cert):
    port = free_port()
    (tmp_path / "c.yaml").write_text(
        f"smtp: {{listen: 127.0.0.1:{port}, require_tls: true, tls: {{cert: {cert / 'cert.pem'}, key: {cert / 'key.pem'}}}}}\n"
        f"fax: {{domains: [fax.test]}}\nstorage: {{data_dir: {tmp_path / 'd'}}}\n")
    config = load_config(tmp_path / "c.yaml")
    store = Store.open(config.storage)
    kw = smtp_kwargs(config)
    ident = kw.pop("hostname")
    ctl = FaxController(FaxHandler(config, load_rules(None, config), store), hostname="127.0.0.1", port=port,
                     server_hostname=ident, **kw)
    ctl.start()
    try:
        c = client(port)
        assert c.mail("alice@example.com")[0] == 530
        c.close()
        t = tls_client(port)
        assert t.mail("alice@example.com")[0] == 250
        assert t.rcpt("+4930123456@fax.test")[0] == 250
        t.quit()
    finally:
        ctl.stop()
        store.close()


def test_authenticated_user_may_only_use_own_addresses(gateway):
    port, _ = gateway
    t = tls_client(port)
    t.login("bob", "builder")
    code, msg = t.mail("boss@example.com")
    assert code == 553 and b"bob may not send as boss@example.com" in msg
    assert t.mail("Bob@Example.com")[0] == 250
    assert t.rcpt("+44 20 7946 0000@fax.test")[0] == 250
    t.quit()
