"""The queue runner (mailfax.queue_runner) with injected time and the stand-in FaxSender.

Conversion uses the real renderer; calls go to `tests/support/standin_fax_sender.py`, a
stand-in for the telephony layer until the real one exists.
"""

import asyncio
import logging

import numpy as np
import pytest

from dsp.t4.page import Page
from mailfax.config import load_config
from mailfax.jobs import FailureClass, JobSettings, JobState, RetryPolicy
from mailfax.queue_runner import QueueRunner, format_header
from mailfax.store import Envelope, NewJob, Store
from tests.support import mailfax_samples as samples
from tests.support.standin_fax_sender import Attempt, StandInFaxSender

T0 = 1_700_000_000.0


class Clock:
    def __init__(self):
        self.t = T0

    def __call__(self):
        return self.t


def make_config(tmp_path, channels=2, trunks=True):
    trunk = f"trunks: [{{name: t1, host: 127.0.0.1, channels: {channels}}}]\n" if trunks else ""
    (tmp_path / "c.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n{trunk}")
    return load_config(tmp_path / "c.yaml")


@pytest.fixture
def env(tmp_path):
    config = make_config(tmp_path)
    store = Store.open(config.storage)
    clock = Clock()
    sender = StandInFaxSender()
    runner = QueueRunner(config, store, sender, clock=clock)
    yield config, store, clock, sender, runner
    store.close()


def ready_job(store, number, pages=3, settings=JobSettings(), now=T0):
    (jid,) = store.accept(b"Subject: x\r\n\r\nx\r\n", Envelope("a@example.com"), [NewJob(number, number, None, settings)], now).jobs
    store.claim_queued(now)
    rows = np.zeros((40, 1728), dtype=np.uint8)
    store.save_pages(jid, [Page(rows.copy(), 204, 196) for _ in range(pages)])
    store.move(jid, JobState.CONVERTING, JobState.READY, now, pages_total=pages)
    return jid


async def settle(runner):
    await runner.step()
    while runner.calls:
        await asyncio.gather(*list(runner.calls.values()), return_exceptions=True)


async def until(cond, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


def run(coro):
    return asyncio.run(coro)


def test_conversion_of_every_document_type(env):
    config, store, clock, sender, runner = env
    raw = samples.wire(samples.message(*samples.DOCUMENTS))
    settings = JobSettings(max_pages=20)
    (jid,) = store.accept(raw, Envelope("a@example.com"), [NewJob("+4930123", "030123", None, settings)], T0).jobs

    async def go():
        assert await runner.convert_one()
    run(go())
    job = store.job(jid)
    # body text page + pdf 1 + ps 1 + tiff 2 + png + jpeg + gif + txt = 9
    assert job.state is JobState.READY and job.pages_total == 9
    pages = store.load_pages(jid)
    assert len(pages) == 9 and all(p.width == 1728 for p in pages)


def test_unconvertible_document_fails_the_job_with_its_name(env):
    config, store, clock, sender, runner = env
    raw = samples.wire(samples.message("doc.txt", extra={"broken.pdf": b"%PDF-1.4\ngarbage"}))
    (jid,) = store.accept(raw, Envelope("a@example.com"), [NewJob("+4930123", "030123", None, JobSettings())], T0).jobs
    run(runner.step())
    job = store.job(jid)
    assert job.state is JobState.FAILED and "broken.pdf" in job.reason and job.completion == "CONVERSION_FAILED"


def test_page_limit(env):
    config, store, clock, sender, runner = env
    raw = samples.wire(samples.message("doc.tif", "doc.png"))
    (jid,) = store.accept(raw, Envelope("a@example.com"), [NewJob("+4930123", "030123", None, JobSettings(max_pages=2))], T0).jobs
    run(runner.step())
    job = store.job(jid)
    assert job.state is JobState.FAILED and "doc.tif" in job.reason and "limit" in job.reason


@pytest.mark.parametrize("failure, delay", [(FailureClass.BUSY, 180), (FailureClass.NO_ANSWER, 300), (FailureClass.PROTOCOL, 60)])
def test_retry_timing_per_class(env, failure, delay):
    config, store, clock, sender, runner = env
    jid = ready_job(store, "+4930111")
    sender.script["+4930111"] = [Attempt(failure, confirm=0)]
    run(settle(runner))
    job = store.job(jid)
    assert job.state is JobState.RETRY_WAIT and job.next_try_at == T0 + delay and job.dials == 1
    clock.t = T0 + delay - 1
    run(settle(runner))
    assert len(sender.calls) == 1
    clock.t = T0 + delay
    run(settle(runner))
    assert len(sender.calls) == 2 and store.job(jid).state is JobState.DONE


def test_retry_resumes_at_first_unconfirmed_page(env):
    config, store, clock, sender, runner = env
    jid = ready_job(store, "+4930222", pages=3)
    sender.script["+4930222"] = [Attempt(FailureClass.PROTOCOL, confirm=1)]
    run(settle(runner))
    job = store.job(jid)
    assert job.state is JobState.RETRY_WAIT and job.pages_confirmed == 1 and job.tries == 1
    clock.t += 60
    run(settle(runner))
    first, second = sender.calls
    assert (first.request.first_page, first.pages) == (1, 3)
    assert (second.request.first_page, second.pages) == (2, 2)
    job = store.job(jid)
    assert job.state is JobState.DONE and job.pages_confirmed == 3 and job.remote_ident == "+49 30 9999"
    assert job.bit_rate == 14400 and job.ecm is True and job.completion == "OK"


def test_gives_up_and_counts(env):
    config, store, clock, sender, runner = env
    jid = ready_job(store, "+4930333", settings=JobSettings(retry=RetryPolicy(max_dials=3)))
    sender.script["+4930333"] = [Attempt(FailureClass.NO_ANSWER, confirm=0)] * 5
    for _ in range(4):
        run(settle(runner))
        clock.t += 300
    job = store.job(jid)
    assert len(sender.calls) == 3 and job.state is JobState.FAILED and "3 calls" in job.reason
    assert job.completion == "NO_ANSWER" and "no fax machine answered" in job.reason


def test_one_call_per_destination_and_channel_limits(tmp_path):
    config = make_config(tmp_path, channels=2)
    store = Store.open(config.storage)
    sender = StandInFaxSender()
    runner = QueueRunner(config, store, sender, clock=Clock())
    hold = asyncio.Event

    async def go():
        h = hold()
        for n in ("+491", "+491", "+492", "+493"):
            sender.script.setdefault(n, []).append(Attempt(hold=h))
            ready_job(store, n, pages=1)
        await runner.step()
        await until(lambda: len(sender.calls) == 2)
        assert sorted(c.request.number for c in sender.calls) == ["+491", "+492"]  # 2 channels, +491 once
        assert len(store.active()) == 2
        await runner.step()  # nothing more may start while both channels are busy
        assert len(sender.calls) == 2
        h.set()
        while runner.calls or store.jobs([JobState.READY]):
            await runner.step()
            await asyncio.gather(*list(runner.calls.values()))
    run(go())
    assert sender.max_active == 2 and sender.max_per_number == 1
    assert [j.state for j in store.jobs()] == [JobState.DONE] * 4
    store.close()


def test_without_trunk_jobs_wait_ready_with_a_log_line(tmp_path, caplog):
    config = make_config(tmp_path, trunks=False)
    store = Store.open(config.storage)
    runner = QueueRunner(config, store, None, clock=Clock())
    jid = ready_job(store, "+4930444")
    with caplog.at_level(logging.WARNING, logger="mailfax.queue"):
        run(runner.step())
    assert store.job(jid).state is JobState.READY
    assert "no trunk is configured" in caplog.text
    store.close()


def test_cancel_during_call_keeps_confirmed_pages(env):
    config, store, clock, sender, runner = env
    jid = ready_job(store, "+4930555", pages=4)

    async def go():
        h = asyncio.Event()
        sender.script["+4930555"] = [Attempt(confirm=2, hold=h)]
        await runner.step()
        await until(lambda: store.job(jid).pages_confirmed == 2)
        assert store.job(jid).state is JobState.SENDING and store.job(jid).pages_confirmed == 2
        assert store.cancel(jid, clock()) is None  # as `mailfax cancel` from another process would
        await runner.step()
        await until(lambda: not runner.calls)
    run(go())
    job = store.job(jid)
    assert job.state is JobState.CANCELLED and job.pages_confirmed == 2


def test_header_format():
    text = format_header("{date} {time} FROM {ident} TO {to} P. {page}/{pages}", now=T0, ident="+49 30 1",
                         sender="a@b", to="+4930123", page=2, pages=5, job=7)
    assert text == "2023-11-14 22:13 FROM +49 30 1 TO +4930123 P. 2/5"
