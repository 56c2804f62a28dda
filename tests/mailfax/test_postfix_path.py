"""Through a real MTA: Postfix relays NUMBER@fax.test to our listener, bounces our 5xx to the
sender, and carries the sender's report back to a Maildir.  Needs root (servers marker).

The fax call itself is the stand-in sender (tests/support/standin_fax_sender.py) until
the telephony layer exists.
"""

import asyncio
import email
import email.policy
import smtplib
import socket
import time
import uuid

import pytest

from mailfax.config import load_config
from mailfax.jobs import JobState
from mailfax.mail_out import Mailer
from mailfax.queue_runner import QueueRunner
from mailfax.rules import load_rules
from mailfax.smtp_in import FaxHandler, smtp_kwargs
from mailfax.store import Store
from tests.support import mailfax_samples as samples
from tests.support import mailservers
from tests.support.standin_fax_sender import StandInFaxSender
from tests.support.smtp_controller import FaxController

pytestmark = pytest.mark.servers


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


@pytest.fixture
def gateway(tmp_path, postfix):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "c.yaml").write_text(
        f"smtp: {{listen: 127.0.0.1:{port}}}\nfax: {{domains: [fax.test]}}\n"
        f'dialing: {{country_code: "49", area_code: "30"}}\nstorage: {{data_dir: {tmp_path / "d"}}}\n'
        f"trunks: [{{name: t, host: 127.0.0.1}}]\n"
        f"relay: {{host: 127.0.0.1, port: {postfix.port}, from: fax-gateway@mail.test}}\n")
    config = load_config(tmp_path / "c.yaml")
    store = Store.open(config.storage)
    kw = smtp_kwargs(config)
    ident = kw.pop("hostname")
    ctl = FaxController(FaxHandler(config, load_rules(None, config), store), hostname="127.0.0.1", port=port,
                     server_hostname=ident, **kw)
    ctl.start()
    postfix.transports["fax.test"] = f"smtp:[127.0.0.1]:{port}"
    postfix.relay_domains.append("fax.test")
    postfix.apply()
    yield config, store
    postfix.transports.pop("fax.test", None)
    postfix.relay_domains.remove("fax.test")
    postfix.apply()
    ctl.stop()
    store.close()


def sender_mail(tag):
    found = []
    for p in mailservers.maildir_messages("sender"):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        if tag in p.read_text(errors="replace"):
            found.append(msg)
    return found


def test_mail_through_postfix_becomes_a_job_and_the_report_comes_back(gateway):
    config, store = gateway
    tag = uuid.uuid4().hex
    msg = samples.message("doc.txt", sender="sender@mail.test", to="030 1234567@fax.test",
                          subject=f"fax {tag}", message_id=f"<{tag}@mail.test>")
    with smtplib.SMTP("127.0.0.1", mailservers.POSTFIX_PORT, timeout=10) as c:
        c.sendmail("sender@mail.test", ['"030 1234567"@fax.test', "0900123456@fax.test"], samples.wire(msg))
    job = wait_for(lambda: store.jobs())[0]
    assert job.number == "+49301234567"
    # the premium number was refused by us at RCPT: Postfix bounces it to the sender with our reason
    bounce = wait_for(lambda: [m for m in sender_mail(tag) if "premium" in m.as_string()])
    assert "0900123456@fax.test" in bounce[0].as_string()

    runner = QueueRunner(config, store, StandInFaxSender(), mailer=Mailer(config.relay))

    async def run():
        for _ in range(4):
            await runner.step()
            while runner.calls:
                await asyncio.gather(*list(runner.calls.values()))
    asyncio.run(run())
    assert store.job(job.id).state is JobState.DONE
    report = wait_for(lambda: [m for m in sender_mail(tag) if m["In-Reply-To"] == f"<{tag}@mail.test>"])[0]
    assert report["Subject"].startswith("Fax to +49301234567 sent")
