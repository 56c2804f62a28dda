"""The session log (and recording) named where an administrator looks: the sender's report,
success and failure, and the received-fax email.  Real calls: the queue runner sends two
jobs through `TelephonySender` over IAX2 on 127.0.0.1 to two of our answering gateways, one
of which refuses the sender's TSI after phase B."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

import numpy as np

from dsp.t4.page import Page
from mailfax.config import Trunk, load_config
from mailfax.fax_email import build_fax_email
from mailfax.inbound import InboundService
from mailfax.jobs import JobSettings, JobState, RetryPolicy
from mailfax.maildir import MaildirMailer
from mailfax.queue_runner import QueueRunner
from mailfax.received import ReceivedFax, ReceivedStore
from mailfax.reports import build_report
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.sessionlog import file_lines, files_in
from mailfax.status import queue_summary
from mailfax.store import Envelope, NewJob, Store
from mailfax.telephony import Telephony, TelephonySender
from tests.mailfax.test_faxcall import sample_page

T0 = 1_700_000_000.0


def messages(maildir: Path) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted((maildir / "new").iterdir())] if (maildir / "new").is_dir() else []


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def lines_with(text: str, key: str) -> list[str]:
    return [line.split(key, 1)[1].strip() for line in text.splitlines() if line.strip().startswith(key)]


async def answerer(tmp: Path, name: str, rules: str = ""):
    d = tmp / name
    d.mkdir()
    (d / "rules.yaml").write_text("outbound: []\n" + rules)
    (d / "m.yaml").write_text(f"storage: {{data_dir: {d / 'data'}}}\nrules: rules.yaml\n"
                              f"inbound: {{faxmaster: fax@example.com}}\n")
    config = load_config(d / "m.yaml")
    inbound = InboundService(config, inbound_rules(load_rules(config.rules_file, config), config),
                             ReceivedStore.open(config.storage), MaildirMailer(d / "md"), clock=lambda: T0)
    callers = (Trunk(name="c", host="127.0.0.1", port=0, channels=2, local_ident="+1 555 0199"),)
    return await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=callers), inbound


def test_report_and_fax_email_name_the_session_log(tmp_path):
    async def main():
        good, good_in = await answerer(tmp_path, "good")
        bad, _ = await answerer(tmp_path, "bad", "inbound: [{name: junk, match: {tsi: ['+1 555 0100']}, reject: true}]\n")
        (tmp_path / "gw.yaml").write_text(
            f"storage: {{data_dir: {tmp_path / 'gw'}}}\n"
            "recording: {enabled: true, calls: failed}\n"
            "trunks:\n"
            f"  - {{name: good, host: 127.0.0.1, port: {good.address[1]}, local_ident: '+1 555 0100'}}\n"
            f"  - {{name: bad, host: 127.0.0.1, port: {bad.address[1]}, local_ident: '+1 555 0100'}}\n")
        config = load_config(tmp_path / "gw.yaml")
        store = Store.open(config.storage)
        phone = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        runner = QueueRunner(config, store, TelephonySender(config, phone, clock=lambda: T0),
                             mailer=MaildirMailer(tmp_path / "reports"), clock=lambda: T0)
        once = JobSettings(retry=RetryPolicy(max_tries=1))
        for number, trunk in (("5550101", "good"), ("5550102", "bad")):
            (jid,) = store.accept(f"Subject: to {number}\r\n\r\nx\r\n".encode(), Envelope("alice@example.com"),
                                  [NewJob(number, number, trunk, once)], T0).jobs
            store.claim_queued(T0)
            store.save_pages(jid, [sample_page(3, rows=120)])
            store.move(jid, JobState.CONVERTING, JobState.READY, T0, pages_total=1)
        try:
            await runner.step()
            await asyncio.wait_for(asyncio.gather(*list(runner.calls.values())), 90)
            await runner.step()                      # both final: the reports go out
            for _ in range(100):                     # the good answerer stores the fax, then delivers
                if good_in.store.faxes():
                    break
                await asyncio.sleep(0.05)
            await good_in.step()
            return store.jobs(), queue_summary(config.storage.queue_db)
        finally:
            await phone.close()
            await good.close()
            await bad.close()

    jobs, summary = asyncio.run(main())
    assert [j.state for j in jobs] == [JobState.DONE, JobState.FAILED]
    reports = {m["Subject"].split(" ")[2]: m for m in messages(tmp_path / "reports")}
    assert set(reports) == {"5550101", "5550102"}

    ok_text = text_of(reports["5550101"])
    (ok_log,) = lines_with(ok_text, "Log:")
    assert "SESSION END OK" in Path(ok_log).read_text()
    assert Path(ok_log).parent == tmp_path / "gw" / "log"
    assert lines_with(ok_text, "Recording:") == []   # calls: failed - the good call's WAV is gone

    bad_text = text_of(reports["5550102"])
    (bad_log,) = lines_with(bad_text, "Log:")
    (bad_wav,) = lines_with(bad_text, "Recording:")
    assert "SEND TSI" in Path(bad_log).read_text() and "line: remote hang-up" in Path(bad_log).read_text()
    assert Path(bad_wav).is_file() and Path(bad_wav).stat().st_size > 44
    assert bad_log != ok_log
    (failure,) = summary["recent_failures"]     # `mailfax status` shows it with the failure
    assert (failure["session_log"], failure["recording"]) == (bad_log, bad_wav)

    (fax_mail,) = messages(tmp_path / "good" / "md")
    (rx_log,) = lines_with(text_of(fax_mail), "Session log:")
    assert Path(rx_log).is_file() and Path(rx_log).parent == tmp_path / "good" / "data" / "log"
    rx = Path(rx_log).read_text()
    assert "RECEIVE call" in rx and "PAGE RECEIVED" in rx and "SESSION END OK" in rx


def test_transcript_file_lines_round_trip_and_reports_of_earlier_calls():
    """Each call of a job leaves a ``session log:`` line; the report lists them in order,
    a kept recording after them; the fax email shows both rows."""
    lines = file_lines(["/l/c1", "", "/l/c2"], ["/r/x.wav"])
    assert lines == ("session log: /l/c1", "session log: /l/c2", "recording: /r/x.wav")
    text = "\n".join(("sent: DCS", "received: DIS FTT") + lines)
    assert files_in(text) == [("session log", "/l/c1"), ("session log", "/l/c2"), ("recording", "/r/x.wav")]
    from mailfax.store import JobRecord, MessageRecord  # records as the store returns them

    fields = JobRecord.__dataclass_fields__
    job = JobRecord(**{name: None for name in fields} | dict(
        id=4, number="+4930123", state=JobState.FAILED, reason="no fax answer", completion="T1_EXPIRED",
        pages_confirmed=0, pages_total=1, dials=2, tries=0, transcript=text))
    msg = MessageRecord(**{name: None for name in MessageRecord.__dataclass_fields__} | dict(
        id=1, sender="alice@example.com", subject="", message_id=None, received_at=T0))
    body = build_report(msg, [job], from_address="fax@example.com", now=T0).get_body(("plain",)).get_content()
    assert lines_with(body, "Log:") == ["/l/c1", "/l/c2"] and lines_with(body, "Recording:") == ["/r/x.wav"]

    page = Page(np.zeros((20, 1728), np.uint8), 204, 196)
    fax = ReceivedFax(pages=(page,), tsi="x", session_log="/l/c3", recording="/r/y.wav", fax_id=9, started_at=T0)
    mail = build_fax_email(fax, to="a@example.com", from_address="f@example.com", message_id="<m@x>", now=T0)
    body = mail.get_body(("plain",)).get_content()
    assert lines_with(body, "Session log:") == ["/l/c3"] and lines_with(body, "Recording:") == ["/r/y.wav"]
    assert "/l/c3" in mail.get_body(("html",)).get_content()
