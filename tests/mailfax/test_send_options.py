"""sendfax-style job options (`mailfax.sendopts`, ``mailfax send``): parsing, the rule's
limits, and what the queue runner does with them (injected clock, the stand-in sender,
the real renderer, reports into a Maildir)."""

import asyncio
import email
import email.policy
import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mailfax import cli
from mailfax.config import load_config
from mailfax.jobs import FailureClass, JobSettings, JobState, RetryPolicy
from mailfax.maildir import MaildirMailer
from mailfax.queue_runner import QueueRunner
from mailfax.sendopts import Options, apply, parse_at, parse_duration
from mailfax.store import Envelope, NewJob, Store
from tests.support.standin_fax_sender import Attempt, StandInFaxSender

T0 = 1_700_000_000.0
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
RAW = b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nHello\r\n"


# ------------------------------------------------------------ parsing

@pytest.mark.parametrize("text, expected", [
    ("now + 30m", NOW + timedelta(minutes=30)),
    ("now+2 hours", NOW + timedelta(hours=2)),
    ("12:30", NOW.replace(hour=12, minute=30)),
    ("08:00", NOW.replace(day=27, hour=8)),              # past today: tomorrow
    ("tomorrow 11:15", NOW.replace(day=27, hour=11, minute=15)),
    ("2026-11-27T08:00", NOW.replace(day=27, hour=8)),
    ("2026-11-27T08:00+01:00", NOW.replace(day=27, hour=7)),
])
def test_parse_at(text, expected):
    assert parse_at(text, NOW) == expected


def test_parse_at_with_a_naive_local_now():
    now = datetime(2026, 11, 26, 10, 0)
    assert parse_at("tomorrow 08:00", now) == datetime(2026, 11, 27, 8, 0)
    at = parse_at("2026-11-27T08:00+00:00", now)
    assert at.tzinfo is None and at.timestamp() == datetime(2026, 11, 27, 8, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text, why", [("2020-01-01T00:00", "has passed"), ("25:00", "no such time"),
                                       ("yesterday", "expected"), ("now + soon", "expected a duration")])
def test_parse_at_errors_name_the_option(text, why):
    err = parse_at(text, NOW)
    assert isinstance(err, str) and err.startswith("--at ") and why in err and "\n" not in err


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h30m", 5400), ("now + 3 hours", 10800),
                                           ("90 seconds", 90), ("2d", 172800), ("1.5h", 5400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text, "--kill-after") == seconds


@pytest.mark.parametrize("text", ["45", "", "5x", "0m", "h"])
def test_parse_duration_errors(text):
    err = parse_duration(text, "--kill-after")
    assert isinstance(err, str) and err.startswith("--kill-after ")


# ------------------------------------------------------------ the rule decides

RULE = JobSettings(rule="office", resolution="fine", body="first-page", cover_fields=("to", "comments"),
                   retry=RetryPolicy(max_dials=12, max_tries=3, give_up_after=3 * 3600))


def test_limits_are_capped_at_the_rules_with_a_note():
    a = apply(RULE, Options(max_dials=20, max_tries=2, kill_after=5 * 3600))
    assert (a.settings.retry.max_dials, a.settings.retry.max_tries, a.settings.retry.give_up_after) == (12, 2, 3 * 3600)
    assert a.notes == ("--max-dials 20: rule 'office' allows at most 12; using 12",
                       "--kill-after 5 h: rule 'office' allows at most 3 h; using 3 h")
    assert apply(RULE, Options(kill_after=600)).settings.retry.give_up_after == 600


def test_resolution_only_as_fine_as_the_rule():
    assert apply(RULE, Options(resolution="standard")).settings.resolution == "standard"
    assert apply(RULE, Options(resolution="superfine")) == "--resolution superfine: rule 'office' allows at most fine"


def test_cover_and_comments():
    assert apply(RULE, Options(comments="call me")).settings.body == "cover"
    assert apply(replace(RULE, body="cover"), Options(cover=False)).settings.body == "ignore"
    no_comments = replace(RULE, cover_fields=("to",))
    assert apply(no_comments, Options(comments="x")) == "--comments: the cover page of rule 'office' has no comments field"
    assert apply(RULE, Options(cover=False, comments="x")).startswith("--comments: needs a cover page")


@pytest.mark.parametrize("notify, expected", [("always", ("always", False)), ("failure", ("failure", False)),
                                              ("never", ("never", False)), ("requeue", ("always", True))])
def test_notify_mapping(notify, expected):
    s = apply(replace(RULE, notify_requeue=True), Options(notify=notify)).settings
    assert (s.notify, s.notify_requeue) == expected


# ------------------------------------------------------------ the queue runner

class Clock:
    def __init__(self):
        self.t = T0

    def __call__(self):
        return self.t


@pytest.fixture
def env(tmp_path):
    (tmp_path / "c.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n"
                                     "trunks: [{name: t1, host: 127.0.0.1, channels: 2}]\n")
    config = load_config(tmp_path / "c.yaml")
    store = Store.open(config.storage)
    clock, sender, mailer = Clock(), StandInFaxSender(), MaildirMailer(tmp_path / "reports")
    runner = QueueRunner(config, store, sender, mailer=mailer, clock=clock)
    yield config, store, clock, sender, runner
    store.close()


def submit(store, settings, raw=RAW, number="+4930111"):
    (jid,) = store.accept(raw, Envelope("a@example.com"), [NewJob(number, number, None, settings)], T0).jobs
    return jid


async def settle(runner):
    await runner.step()
    while runner.calls:
        await asyncio.gather(*list(runner.calls.values()), return_exceptions=True)
    await runner.send_reports()


def step(runner):
    asyncio.run(settle(runner))


def test_scheduled_job_is_converted_at_once_and_dialled_at_its_time(env):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(at=T0 + 3600)).settings)
    step(runner)
    job = store.job(jid)
    assert job.state is JobState.RETRY_WAIT and job.scheduled and job.next_try_at == T0 + 3600
    assert job.pages_total == 1 and not sender.calls and job.reason == ""
    from mailfax.status import queue_summary

    assert queue_summary(config.storage.queue_db)["jobs"] == {"scheduled": 1}  # mailfax status, metrics
    clock.t = T0 + 3599
    step(runner)
    assert not sender.calls and store.job(jid).scheduled
    clock.t = T0 + 3600
    step(runner)
    assert len(sender.calls) == 1 and store.job(jid).state is JobState.DONE


def test_schedule_survives_a_restart(env):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(at=T0 + 600)).settings)
    store.close()                       # stopped before conversion: converted after the restart
    store = Store.open(config.storage)
    store.recover(T0)
    runner = QueueRunner(config, store, sender, clock=clock)
    step(runner)
    assert store.job(jid).scheduled and not sender.calls
    store.close()
    store = Store.open(config.storage)  # and again while waiting
    assert store.recover(T0 + 1)["interrupted"] == 0
    runner = QueueRunner(config, store, sender, clock=clock)
    clock.t = T0 + 599
    step(runner)
    assert not sender.calls and store.job(jid).next_try_at == T0 + 600
    clock.t = T0 + 600
    step(runner)
    assert store.job(jid).state is JobState.DONE
    store.close()


def test_conversion_error_of_a_scheduled_job_surfaces_at_once(env):
    config, store, clock, sender, runner = env
    raw = (b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
           b"Content-Disposition: attachment; filename=broken.pdf\r\n\r\n%PDF-1.4 garbage\r\n")
    jid = submit(store, apply(RULE, Options(at=T0 + 86400)).settings, raw=raw)
    step(runner)
    assert store.job(jid).state is JobState.FAILED and "broken.pdf" in store.job(jid).reason


def report_text(tmp_path):
    """The text parts of every report delivered, one string per mail."""
    mails = [email.message_from_bytes(m.read_bytes(), policy=email.policy.default)
             for m in sorted((tmp_path / "reports" / "new").iterdir())]
    return ["\n".join(p.get_content() for p in m.walk() if p.get_content_type() == "text/plain") for m in mails]


def test_kill_after_fails_the_job_with_the_reason_in_the_report(env, tmp_path):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(kill_after=600)).settings)
    sender.script["+4930111"] = [Attempt(FailureClass.BUSY)] * 5
    for t in (T0, T0 + 180, T0 + 360, T0 + 540):   # busy retries every 3 min; 720 > 600
        clock.t = t
        step(runner)
    job = store.job(jid)
    assert job.state is JobState.FAILED and job.dials == 4
    assert job.reason == "the line was busy; gave up: the next try would be past the 10 min limit (the job's kill time)"
    (report,) = report_text(tmp_path)
    assert "past the 10 min limit" in report


def test_kill_after_counts_from_the_scheduled_time(env):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(at=T0 + 3600, kill_after=600)).settings)
    sender.script["+4930111"] = [Attempt(FailureClass.BUSY)]
    step(runner)
    clock.t = T0 + 3600
    step(runner)
    job = store.job(jid)
    assert job.state is JobState.RETRY_WAIT and job.next_try_at == T0 + 3780 and not job.scheduled


@pytest.mark.parametrize("opts, failure, calls, why", [
    (Options(max_dials=2), FailureClass.BUSY, 2, "gave up after 2 calls (limit 2)"),
    (Options(max_tries=1), FailureClass.PROTOCOL, 1, "gave up after 1 fax sessions (limit 1)"),
])
def test_max_dials_and_tries(env, opts, failure, calls, why):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, opts).settings)
    sender.script["+4930111"] = [Attempt(failure)] * 5
    for i in range(4):
        clock.t = T0 + 400 * i
        step(runner)
    job = store.job(jid)
    assert job.state is JobState.FAILED and len(sender.calls) == calls and why in job.reason


@pytest.mark.parametrize("resolution, y_res", [("standard", 98), ("fine", 196)])
def test_resolution_reaches_the_pages(env, resolution, y_res):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(resolution=resolution)).settings)
    step(runner)
    assert {p.y_res for p in store.load_pages(jid)} == {y_res}
    assert sender.calls[0].request.resolution == resolution


def test_cover_page_with_comments_and_no_cover(env):
    config, store, clock, sender, runner = env
    doc = (b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nplease call back\r\n--b\r\nContent-Type: text/plain\r\n"
           b"Content-Disposition: attachment; filename=a.txt\r\n\r\nthe document\r\n--b--\r\n")
    cover = submit(store, apply(RULE, Options(comments="please call back")).settings, raw=doc)
    bare = submit(store, apply(replace(RULE, body="cover"), Options(cover=False)).settings, raw=doc, number="+4930222")
    step(runner)
    step(runner)
    assert store.job(cover).pages_total == 2 and store.job(bare).pages_total == 1


@pytest.mark.parametrize("notify, failure, mails", [
    ("always", None, 1), ("failure", None, 0), ("failure", FailureClass.PERMANENT, 1), ("never", FailureClass.PERMANENT, 0),
    ("requeue", FailureClass.BUSY, 1),      # the requeue notice; the final report comes later
])
def test_notify_changes_the_reports(env, tmp_path, notify, failure, mails):
    config, store, clock, sender, runner = env
    jid = submit(store, apply(RULE, Options(notify=notify)).settings)
    sender.script["+4930111"] = [Attempt(failure)]
    step(runner)
    assert len(report_text(tmp_path) if (tmp_path / "reports" / "new").exists() else []) == mails
    if notify == "requeue":
        assert "will retry" in report_text(tmp_path)[0] and store.job(jid).state is JobState.RETRY_WAIT


def test_a_queue_from_before_the_options_still_works(env):
    """A queue.sqlite written before ``not_before`` existed: settings without the key."""
    config, store, clock, sender, runner = env
    jid = submit(store, JobSettings())
    old = JobSettings().to_json()
    del old["not_before"]
    store.close()
    db = sqlite3.connect(config.storage.queue_db)
    db.execute("UPDATE jobs SET settings = ? WHERE id = ?", (json.dumps(old), jid))
    db.commit()
    db.close()
    store = Store.open(config.storage)
    assert store.job(jid).settings == JobSettings() and not store.job(jid).scheduled
    step(QueueRunner(config, store, sender, clock=clock))
    assert store.job(jid).state is JobState.DONE
    store.close()


# ------------------------------------------------------------ the command line

@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "mailfax.yaml"
    p.write_text(f'dialing: {{country_code: "49", area_code: "30"}}\nstorage: {{data_dir: {tmp_path / "d"}}}\n')
    (tmp_path / "doc.txt").write_text("Hello\n")
    return str(p)


def mailfax(capsys, *args):
    status = cli.main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("args, option", [
    (["--at", "yesterday"], "--at"), (["--kill-after", "45"], "--kill-after"), (["--max-dials", "0"], "--max-dials"),
    (["-t", "two"], "--max-tries"), (["--resolution", "ultra"], "--resolution"), (["--notify", "sometimes"], "--notify"),
    (["-n", "--comments", "hi"], "--comments"), (["-G"], "--resolution superfine"),
])
def test_bad_values_give_one_line_naming_the_option(capsys, cfg, tmp_path, args, option):
    status, out, err = mailfax(capsys, "send", "--config", cfg, "--to", "030 1234567", *args, str(tmp_path / "doc.txt"))
    assert status == 1 and out == "" and len(err.splitlines()) == 1 and option in err, err


def test_send_scheduled_jobs_retry_and_caps(capsys, cfg, tmp_path):
    doc = str(tmp_path / "doc.txt")
    status, out, err = mailfax(capsys, "send", "--config", cfg, "--to", "030 1234567", "-a", "now + 2h",
                               "-T", "50", "-m", "-R", doc)
    assert status == 0 and out.startswith("job 1 queued to +49301234567 (scheduled for ")
    assert err == "mailfax: 030 1234567: --max-dials 50: rule 'local-senders' allows at most 12; using 12\n"
    status, out, err = mailfax(capsys, "jobs", "--config", cfg)
    assert out.splitlines()[1].split()[:2] == ["1", "queued"] and "scheduled for" in out
    config = load_config(cfg)
    store = Store.open(config.storage)
    s = store.job(1).settings
    assert (s.retry.max_dials, s.resolution, s.notify, s.notify_requeue) == (12, "fine", "always", True)
    asyncio.run(QueueRunner(config, store, None).step())     # converted, then waits for its time
    status, out, err = mailfax(capsys, "jobs", "--config", cfg)
    row = out.splitlines()[1]
    assert row.split()[:2] == ["1", "scheduled"] and "scheduled for" in row
    status, out, err = mailfax(capsys, "retry", "--config", cfg, "1")
    assert status == 0 and out == "job 1 will be retried\n"
    job = store.job(1)
    assert job.state is JobState.READY and job.settings.not_before is None and not job.scheduled
    store.close()


def test_retry_of_a_scheduled_job_not_converted_yet_drops_the_schedule(capsys, cfg, tmp_path):
    mailfax(capsys, "send", "--config", cfg, "--to", "030 1234567", "--at", "now + 1h", str(tmp_path / "doc.txt"))
    status, out, err = mailfax(capsys, "retry", "--config", cfg, "1")
    assert status == 0
    status, out, err = mailfax(capsys, "jobs", "--config", cfg)
    assert "scheduled" not in out


def test_wait_waits_through_the_schedule(capsys, cfg, tmp_path):
    status, out, err = mailfax(capsys, "send", "--config", cfg, "--to", "030 1234567", "--at", "now + 1h",
                               "--wait", "--timeout", "0.3", str(tmp_path / "doc.txt"))
    line = json.loads(out)
    assert status == 1 and line["status"] == "queued" and line["scheduled_for"]
