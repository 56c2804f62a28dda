"""Faxes exchanged with a real HylaFAX over IAX2 on loopback (Debian hylafax-server + iaxmodem).

`tests.support.hylafax.HylaFax` brings up a private HylaFAX whose iaxmodem has mailfax's
IAX2 port as its server; mailfax's trunk is that iaxmodem (a peer without call tokens).

- A fax mailed to mailfax (SMTP) is sent over the trunk, HylaFAX's faxgetty answers, and
  the TIFF in HylaFAX's recvq has the pages mailfax sent, pixel for pixel below the TTI
  line, at fax resolution.
- A fax queued with HylaFAX's ``sendfax`` makes iaxmodem call mailfax, which receives it and
  delivers the email with the PDF into a Maildir.

Real time (about a minute each); every process is stopped by PID at the end.  Root needed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import smtplib
import threading
import time

import numpy as np
import pytest
from PIL import Image

from mailfax.config import load_config
from mailfax.jobs import JobState
from mailfax.rules import load_rules
from mailfax.store import Store
from tests.support import hylafax as hf
from tests.support import mailfax_samples as samples
from tests.support.iaxmodem import free_udp_port
from tests.support.received_faxes import attachments, free_port, gs_pages

pytestmark = [pytest.mark.servers, pytest.mark.timeout(400)]

HEADER_ROWS = 80  # our TTI line lives in the top ~8 mm of a fine page


class Gateway:
    """The whole mailfax gateway (app.start_gateway) on an event loop in a thread."""

    def __init__(self, config, rules, store, mailer) -> None:
        from mailfax.app import start_gateway

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gw = self.call(start_gateway(config, rules, store, mailer=mailer, poll=0.2))

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.gw.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    hf.require()
    from mailfax.maildir import MaildirMailer

    tmp = tmp_path_factory.mktemp("hylafax")
    iax_port, smtp_port = free_udp_port(), free_port()
    hylafax = hf.HylaFax(tmp, mailfax_port=iax_port, number="5551234", ident="+1 555 1234")
    (tmp / "mailfax.yaml").write_text(
        f"smtp: {{listen: 127.0.0.1:{smtp_port}}}\nfax: {{domains: [fax.localhost]}}\n"
        'dialing: {country_code: "1", area_code: "555"}\n'
        f"storage: {{data_dir: {tmp / 'data'}}}\niax: {{listen: 127.0.0.1:{iax_port}}}\n"
        f"trunks: [{{name: {hylafax.peername}, host: 127.0.0.1, port: {hylafax.iax_port}, "
        f'caller_id: "15550100", local_ident: "+1 555 0100"}}]\n'
        "inbound: {faxmaster: faxmaster@localhost}\n")
    config = load_config(tmp / "mailfax.yaml")
    store = Store.open(config.storage)
    maildir = tmp / "Maildir"
    hylafax.start()
    try:
        gateway = Gateway(config, load_rules(None, config), store, MaildirMailer(maildir))
    except BaseException:
        hylafax.stop()
        raise
    yield hylafax, gateway, config, store, maildir, smtp_port
    gateway.stop()
    hylafax.stop()
    store.close()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(what)


def tiff_pages(path) -> list[np.ndarray]:
    im = Image.open(path)
    out = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        assert im.info.get("dpi", (204, 196))[0] in (203, 204, 204.0)  # fax resolution as stored
        out.append(1 - np.asarray(im.convert("L")) // 255)
    return out


def test_mailed_fax_is_received_by_hylafax(rig):
    hylafax, gateway, config, store, maildir, smtp_port = rig
    msg = samples.message("doc.tif", to="5551234@fax.localhost", sender="alice@localhost")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
        s.send_message(msg, from_addr="alice@localhost", to_addrs=["5551234@fax.localhost"])
    job = wait_for(lambda: [j for j in store.jobs() if j.state.final], 240,
                   f"job not finished: {store.jobs()}\n{hylafax.log('iaxmodem')[-3000:]}")[0]
    assert job.state is JobState.DONE, (job.reason, job.completion, job.transcript)
    [tif] = wait_for(hylafax.received, 30, "nothing in HylaFAX's recvq")
    got = tiff_pages(tif)
    sent = store.load_pages(job.id)
    assert len(got) == len(sent) == job.pages_confirmed == 3  # the body text page + 2 TIFF pages
    for g, page in zip(got, sent):
        assert g.shape == page.rows.shape
        assert np.array_equal(g[HEADER_ROWS:], page.rows[HEADER_ROWS:])
    assert job.remote_ident == "+1 555 1234"  # HylaFAX's LocalIdentifier as its CSI
    assert any("RECV FAX" in p.read_text(errors="replace") for p in hylafax.session_logs())


def test_sendfax_from_hylafax_lands_in_the_maildir(rig):
    hylafax, gateway, config, store, maildir, smtp_port = rig
    doc = hylafax.workdir / "letter.ps"
    doc.write_bytes(samples.postscript())
    jobid = hylafax.sendfax("5550100", doc)
    q = hylafax.wait_done(jobid, timeout=240)
    assert q.get("state") == "7", f"HylaFAX job {jobid} failed: {q.get('status')}\n{hylafax.faxstat()}"

    def received_mail():  # the Maildir also holds the first test's send report: pick the fax
        msgs = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in (maildir / "new").glob("*")] if (maildir / "new").is_dir() else []
        return [m for m in msgs if not str(m["Subject"]).startswith("Fax to")
                and any(k.endswith(".pdf") for k in attachments(m))]

    [msg] = wait_for(received_mail, 60, "no received fax in the Maildir")
    pdf = next(v for k, v in attachments(msg).items() if k.endswith(".pdf"))
    pages = gs_pages(pdf, 204, 196)
    assert len(pages) == 1 and pages[0].shape[1] == 1728
    assert "+1 555 1234" in msg["Subject"] or "+1 555 1234" in msg.as_string()  # HylaFAX's TSI
    # PostScript's black square (100..300 pt) is on the page, where HylaFAX's renderer put it
    ink = pages[0][HEADER_ROWS:].mean()
    assert 0.005 < ink < 0.2
