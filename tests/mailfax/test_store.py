"""The durable queue (mailfax.store): acceptance, state moves, recovery, dedup, pages."""

import os

import numpy as np
import pytest

from dsp.t4.page import Page
from mailfax.jobs import JobSettings, JobState
from mailfax.store import Envelope, NewJob, Store

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    yield s
    s.close()


def jobs(*numbers):
    return [NewJob(n, n.replace("+49", "0"), None, JobSettings(rule="r")) for n in numbers]


def test_accept_writes_message_and_grouped_jobs(store, tmp_path):
    acc = store.accept(b"Subject: x\n\nhello\n", Envelope("a@b", message_id="<1@b>", subject="x"), jobs("+491", "+492"), T0)
    assert len(acc.jobs) == 2 and not acc.duplicate
    assert store.read_message(acc.message) == b"Subject: x\n\nhello\n"
    recs = store.jobs(message=acc.message)
    assert [r.state for r in recs] == [JobState.QUEUED] * 2 and [r.number for r in recs] == ["+491", "+492"]
    assert not list((tmp_path / "spool" / "messages").glob(".*.tmp"))
    # a second process sees the same queue
    other = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    assert [j.id for j in other.jobs()] == list(acc.jobs)


def test_resubmission_with_same_message_id_is_not_queued_twice(store):
    a = store.accept(b"m", Envelope("a@b", message_id="<1@b>"), jobs("+491"), T0)
    b = store.accept(b"m", Envelope("A@B", message_id="<1@b>"), jobs("+491"), T0 + 5)
    assert b.duplicate and b.jobs == a.jobs and store.message_count() == 1
    c = store.accept(b"m", Envelope("a@b", message_id="<1@b>"), jobs("+492"), T0)
    assert not c.duplicate
    d = store.accept(b"m", Envelope("a@b"), jobs("+491"), T0)  # no Message-ID: cannot tell
    assert not d.duplicate and store.message_count() == 3


def test_moves_are_guarded(store):
    (jid,) = store.accept(b"m", Envelope("a@b"), jobs("+491"), T0).jobs
    assert store.claim_queued(T0).id == jid
    assert store.claim_queued(T0) is None
    assert not store.move(jid, JobState.QUEUED, JobState.CONVERTING, T0)  # not queued any more
    with pytest.raises(ValueError):
        store.move(jid, JobState.CONVERTING, JobState.DONE, T0)
    assert store.move(jid, JobState.CONVERTING, JobState.READY, T0, pages_total=3)
    assert store.cancel(jid, T0) is None and store.job(jid).state is JobState.CANCELLED
    assert "already cancelled" in store.cancel(jid, T0)
    assert "no job" in store.cancel(999, T0)


def test_retry_wait_wakes_at_its_time(store):
    (jid,) = store.accept(b"m", Envelope("a@b"), jobs("+491"), T0).jobs
    store.claim_queued(T0)
    store.move(jid, JobState.CONVERTING, JobState.READY, T0, pages_total=1)
    store.move(jid, JobState.READY, JobState.DIALLING, T0, dials=1)
    store.move(jid, JobState.DIALLING, JobState.RETRY_WAIT, T0, next_try_at=T0 + 180)
    assert store.next_wakeup() == T0 + 180
    assert store.wake_retries(T0 + 179) == []
    assert store.wake_retries(T0 + 180) == [jid] and store.job(jid).state is JobState.READY


def test_recover_resumes_every_job(store, tmp_path):
    ids = store.accept(b"m", Envelope("a@b"), jobs("+491", "+492", "+493"), T0).jobs
    for j in ids:
        store.claim_queued(T0)
    store.move(ids[1], JobState.CONVERTING, JobState.READY, T0, pages_total=4)
    store.move(ids[1], JobState.READY, JobState.DIALLING, T0, dials=1)
    store.move(ids[2], JobState.CONVERTING, JobState.READY, T0, pages_total=4)
    store.move(ids[2], JobState.READY, JobState.DIALLING, T0, dials=1)
    store.move(ids[2], JobState.DIALLING, JobState.SENDING, T0)
    store.update(ids[2], [JobState.SENDING], pages_confirmed=2)
    old = tmp_path / "spool" / "messages" / "orphan.eml"
    old.write_bytes(b"x")
    os.utime(old, (T0 - 3600, T0 - 3600))
    (tmp_path / "spool" / "messages" / ".fresh.eml.tmp").write_bytes(b"x")  # another writer, mid-accept
    counts = Store(tmp_path / "q.sqlite", tmp_path / "spool").recover(T0 + 1)
    assert counts == {"requeued": 1, "interrupted": 2, "orphans": 1}
    states = [store.job(j).state for j in ids]
    assert states == [JobState.QUEUED, JobState.RETRY_WAIT, JobState.RETRY_WAIT]
    assert store.job(ids[2]).pages_confirmed == 2 and store.job(ids[2]).next_try_at == T0 + 1
    assert not old.exists() and (tmp_path / "spool" / "messages" / ".fresh.eml.tmp").exists()


def test_reports_wait_for_every_job_of_the_message(store):
    acc = store.accept(b"m", Envelope("a@b"), jobs("+491", "+492"), T0)
    assert store.unreported_finished() == []
    for j in acc.jobs:
        store.cancel(j, T0)
    assert store.unreported_finished() == [acc.message]
    assert store.mark_reported(acc.message, "sent") and not store.mark_reported(acc.message, "sent")
    assert store.retry(acc.jobs[0], T0 + 5) is None
    job = store.job(acc.jobs[0])
    assert job.state is JobState.QUEUED and job.dials == 0 and job.created_at == T0 + 5
    assert store.message(acc.message).report_state == "pending"


def test_pages_round_trip(store):
    rng = np.random.default_rng(7)
    pages = [Page((rng.random((200, 1728)) < 0.1).astype(np.uint8), 204, 196),
             Page((rng.random((100, 1728)) < 0.5).astype(np.uint8), 204, 98)]
    store.save_pages(5, pages)
    back = store.load_pages(5)
    assert len(back) == 2
    for a, b in zip(pages, back):
        assert a.same_pixels(b) and (a.x_res, a.y_res) == (b.x_res, b.y_res)
