"""Retention (faxqclean/faxcron): old finished work goes with its files; anything unfinished
or young stays; a crash between a row's deletion and its files' leaves only orphans that the
next pass removes.  Time is injected: ``now`` for the pass, file mtimes set with os.utime."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dsp.t4.page import Page
from mailfax.config import load_config
from mailfax.jobs import JobSettings, JobState
from mailfax.received import NewDelivery, ReceivedFax, ReceivedStore, TargetKind
from mailfax.retention import Kind, Tally, cleanup, run_cleanup
from mailfax.store import Envelope, NewJob, Store

ROOT = Path(__file__).parents[2]
DAY = 86400.0
T0 = 1_700_000_000.0             # 2023: older than any retention when the CLI runs at real time
S = JobState
PATH = {  # a legal way into each state
    S.QUEUED: [], S.CANCELLED: [S.CANCELLED], S.FAILED: [S.CONVERTING, S.FAILED],
    S.READY: [S.CONVERTING, S.READY], S.RETRY_WAIT: [S.CONVERTING, S.READY, S.DIALLING, S.RETRY_WAIT],
    S.SENDING: [S.CONVERTING, S.READY, S.DIALLING, S.SENDING],
    S.DONE: [S.CONVERTING, S.READY, S.DIALLING, S.SENDING, S.DONE],
}


def page(seed: int = 0) -> Page:
    rows = np.random.default_rng(seed).random((40, 1728)) < 0.05
    return Page(rows.astype(np.uint8), 204, 196)


def age(path: Path, t: float) -> Path:
    os.utime(path, (t, t))
    return path


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "mailfax.yaml"
    cfg.write_text(f"dialing: {{country_code: '49', area_code: '30'}}\nstorage: {{data_dir: {tmp_path / 'd'}}}\n"
                   "retention: {jobs: 30d, received: 30d, session_logs: 30d, recordings: 7d}\n")
    config = load_config(cfg)
    return config, Store.open(config.storage), ReceivedStore.open(config.storage), cfg


def submit(store: Store, at: float, numbers=("+49301234567",)) -> tuple[int, ...]:
    """A message accepted at ``at`` (its file's mtime too), one job per number."""
    acc = store.accept(f"Subject: t{at}\r\n\r\nhello\r\n".encode(), Envelope("me@example.com", message_id=None),
                       [NewJob(n, n, None, JobSettings()) for n in numbers], at)
    age(store.message(acc.message).path, at)
    return acc.jobs


def drive(store: Store, job: int, state: JobState, at: float) -> int:
    """Move a job into ``state`` at ``at``; once converted it has a page file written then."""
    cur = S.QUEUED
    for nxt in PATH[state]:
        assert store.move(job, cur, nxt, at)
        if nxt is S.READY:
            store.save_pages(job, [page(job)])
            age(store.page_path(job), at)
        cur = nxt
    return job


def job_files(store: Store, job_id: int) -> list[Path]:
    return [store.page_path(job_id), store.message(store.job(job_id).message).path]


def test_old_final_jobs_go_with_their_files_young_and_unfinished_stay(env):
    config, store, received, _ = env
    old = {s: drive(store, submit(store, T0)[0], s, T0) for s in (S.DONE, S.FAILED, S.CANCELLED)}
    young = drive(store, submit(store, T0)[0], S.DONE, T0 + 29 * DAY)
    unfinished = {s: drive(store, submit(store, T0)[0], s, T0) for s in (S.QUEUED, S.READY, S.RETRY_WAIT, S.SENDING)}
    files = {j.id: [p for p in job_files(store, j.id) if p.exists()] for j in store.jobs()}

    report = cleanup(config, store, received, now=T0 + 31 * DAY)

    for j in old.values():
        assert store.job(j) is None and not any(p.exists() for p in files[j])
    for j in (young, *unfinished.values()):
        assert store.job(j) is not None and all(p.exists() for p in files[j])
    assert report.tally(Kind.JOBS).count == 3 and report.tally(Kind.MESSAGES).count == 3
    assert report.tally(Kind.JOBS).files == 1  # failed in conversion and cancelled: never had pages
    assert report.bytes == sum(r.bytes for r in report.removals) > 0
    # a whole year later the unfinished jobs are still there, whatever their age
    cleanup(config, store, received, now=T0 + 400 * DAY)
    assert {j.id for j in store.jobs()} == set(unfinished.values())


def test_shared_message_stays_until_its_last_job_goes(env):
    config, store, received, _ = env
    a, b = submit(store, T0, ("+49301111111", "+49302222222"))
    drive(store, a, S.DONE, T0)
    drive(store, b, S.RETRY_WAIT, T0)
    msg = store.message(store.job(a).message)
    # b is not final, so the report is still to come and needs a: nothing goes
    cleanup(config, store, received, now=T0 + 31 * DAY)
    assert store.job(a) is not None and store.page_path(a).exists()
    # b ends later; the report is sent: a (old) goes alone, the message stays for b
    assert store.move(b, S.RETRY_WAIT, S.FAILED, T0 + 20 * DAY)
    assert store.mark_reported(msg.id, "sent")
    cleanup(config, store, received, now=T0 + 31 * DAY)
    assert store.job(a) is None and not store.page_path(a).exists()
    assert store.job(b) is not None and store.message(msg.id) is not None and msg.path.exists()
    # once b is old too, it goes and the message with it
    report = cleanup(config, store, received, now=T0 + 51 * DAY)
    assert store.job(b) is None and store.message(msg.id) is None and not msg.path.exists()
    assert report.tally(Kind.MESSAGES).count == 1 and report.tally(Kind.MESSAGES).bytes > 0


def fax(store: ReceivedStore, at: float, *targets: str) -> int:
    fid = store.add(ReceivedFax(pages=(page(int(at) % 97),), tsi="+49 89 555", started_at=at), [
        NewDelivery(TargetKind.EMAIL, {"to": t}, t) for t in targets], now=at)
    for p in store.files_of(store.fax(fid)):
        age(p, at)
    return fid


def settle(store: ReceivedStore, fid: int, outcomes: list[str], at: float) -> None:
    """Give each delivery of a fax its outcome at ``at``: delivered, retry, or failed (alert queued)."""
    claimed = {d.id: d for d in store.claim_due(at, limit=1000) if d.fax == fid}
    for d, what in zip(sorted(claimed), outcomes):
        if what == "delivered":
            assert store.delivered(d, at)
        elif what == "retry":
            assert store.retry_at(d, at + 3600, "451 try later", at)
        else:
            alert = NewDelivery(TargetKind.ALERT, {"to": "faxmaster"}, "alert to faxmaster")
            assert store.failed(d, "550 no such user", at, alert=alert)


def test_received_faxes_go_only_when_every_delivery_is_final(env):
    config, store, received, _ = env
    delivered = fax(received, T0, "a@x.example")
    settle(received, delivered, ["delivered"], T0)
    pending = fax(received, T0, "a@x.example", "b@x.example")
    settle(received, pending, ["delivered", "retry"], T0)
    alerted = fax(received, T0, "a@x.example")
    settle(received, alerted, ["failed"], T0)                     # queues the alert, still pending
    alert_sent = fax(received, T0, "a@x.example")
    settle(received, alert_sent, ["failed"], T0)
    settle(received, alert_sent, ["delivered"], T0 + DAY)         # the fax master got the alert
    young = fax(received, T0 + 20 * DAY, "a@x.example")
    settle(received, young, ["delivered"], T0 + 20 * DAY)
    files = {f: [p for p in received.files_of(received.fax(f))] for f in (delivered, pending, alerted, alert_sent, young)}
    assert all(p.exists() for ps in files.values() for p in ps)

    report = cleanup(config, store, received, now=T0 + 31 * DAY)

    gone = {delivered, alert_sent}
    assert {f.id for f in received.faxes()} == {pending, alerted, young}
    assert not received.deliveries(delivered) and not received.deliveries(alert_sent)
    for f, ps in files.items():
        assert all(p.exists() != (f in gone) for p in ps)
    assert report.tally(Kind.RECEIVED).count == 2 and report.tally(Kind.RECEIVED).files == 4


def test_session_logs_and_recordings_by_age_and_only_ours(env):
    config, store, received, _ = env
    data = config.storage.data_dir
    (data / "log" / "loopback").mkdir(parents=True)
    (data / "recordings").mkdir()
    now = T0 + 40 * DAY

    def f(rel, at):
        p = data / rel
        p.write_text("x" * 100)
        return age(p, at)

    old = [f("log/c00000001", T0), f("log/loopback/c00000003", T0), f("recordings/20231114-221320-call1-out-1.wav", now - 8 * DAY)]
    kept = [f("log/c00000002", now - 29 * DAY), f("log/README", T0), f("recordings/young.wav", now - 6 * DAY),
            f("log/loopback/c00000004", T0)]  # old, but the newest of its directory: numbering goes on from it
    report = cleanup(config, store, received, now=now)
    assert not any(p.exists() for p in old) and all(p.exists() for p in kept)
    assert (report.tally(Kind.SESSION_LOGS), report.tally(Kind.RECORDINGS)) == (Tally(2, 2, 200), Tally(1, 1, 100))


def test_retention_zero_keeps_forever(env):
    _, store, received, cfg = env
    cfg.write_text(cfg.read_text().replace("jobs: 30d", "jobs: 0").replace("session_logs: 30d", "session_logs: 0"))
    config = load_config(cfg)
    j = drive(store, submit(store, T0)[0], S.DONE, T0)
    log_file = config.storage.data_dir / "log" / "c00000001"
    log_file.parent.mkdir()
    log_file.write_text("x")
    age(log_file, T0)
    cleanup(config, store, received, now=T0 + 3650 * DAY)
    assert store.job(j) is not None and store.page_path(j).exists() and log_file.exists()


def scenario(store: Store, received: ReceivedStore) -> None:
    """Old done jobs (one message shared by two), an old delivered fax, a young job."""
    for j in (*submit(store, T0, ("+49301111111", "+49302222222")), *submit(store, T0)):
        drive(store, j, S.DONE, T0)
    f = fax(received, T0, "a@x.example")
    settle(received, f, ["delivered"], T0)
    drive(store, submit(store, T0 + 100 * DAY)[0], S.DONE, T0 + 100 * DAY)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_dry_run_removes_nothing_and_says_what_a_run_would(env):
    config, store, received, _ = env
    scenario(store, received)
    root = config.storage.data_dir
    before = listing(root), [j.id for j in store.jobs()], [f.id for f in received.faxes()]
    dry = cleanup(config, store, received, now=T0 + 31 * DAY, dry_run=True)
    assert (listing(root), [j.id for j in store.jobs()], [f.id for f in received.faxes()]) == before
    real = cleanup(config, store, received, now=T0 + 31 * DAY)
    assert [(r.kind, r.what, r.files, r.bytes) for r in dry.removals] == \
        [(r.kind, r.what, r.files, r.bytes) for r in real.removals]
    assert dry.dry_run and "would remove 3 jobs" in dry.summary() and real.summary().startswith("cleanup: removed 3 jobs")
    assert len(store.jobs()) == 1 and not received.faxes()


def test_a_crash_between_rows_and_files_leaves_orphans_the_next_run_removes(env):
    """The first half of a pass (rows deleted and committed) is exactly what a kill after the
    commit leaves: nothing references the files any more; the next pass finds them."""
    config, store, received, _ = env
    scenario(store, received)
    now = T0 + 31 * DAY
    jobs, messages = store.remove_expired_jobs(now - config.retention.jobs)       # ... killed here
    faxes = received.remove_expired(now - config.retention.received)
    left = [store.page_path(j.id) for j in jobs] + [m.path for m in messages] + \
        [p for f in faxes for p in received.files_of(f)]
    assert len(jobs) == 3 and len(messages) == 2 and len(faxes) == 1 and all(p.exists() for p in left)
    # nothing referenced is missing: every remaining row's files are there
    for j in store.jobs():
        assert store.page_path(j.id).exists() and store.message(j.message).path.exists()
    fresh = store.spool_message(b"Subject: being accepted\r\n\r\n")  # another process, before its commit
    age(store.msg_dir / fresh, now - 60)

    report = cleanup(config, store, received, now=now)

    assert not any(p.exists() for p in left) and (store.msg_dir / fresh).exists()
    assert report.tally(Kind.ORPHANS).count == len(left) and report.tally(Kind.JOBS).count == 0
    # a day later the unfinished acceptance is an orphan too (Store.recover's rule, later)
    cleanup(config, store, received, now=now + DAY)
    assert not (store.msg_dir / fresh).exists()


def test_page_file_of_a_reused_job_id_is_not_an_orphan(env):
    """SQLite gives a new job the highest deleted id: its pages must survive the orphan pass."""
    config, store, received, _ = env
    (j,) = submit(store, T0)
    drive(store, j, S.DONE, T0)
    now = T0 + 31 * DAY
    store.remove_expired_jobs(now - config.retention.jobs)                      # killed before the files
    (k,) = submit(store, now)
    assert k == j
    drive(store, k, S.READY, now)                                                 # converted: new pages
    cleanup(config, store, received, now=now + 2 * DAY)
    assert store.job(k).state is S.READY and len(store.load_pages(k)) == 1


def mailfax(*args):
    return subprocess.run([sys.executable, "-m", "mailfax", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_command_output_and_the_lists_still_work(env):
    """`mailfax cleanup` runs at the real time: 2023 and 2024 are long past, year 2096 is young."""
    config, store, received, cfg = env
    scenario(store, received)
    far = 4_000_000_000.0
    keep = drive(store, submit(store, far)[0], S.DONE, far)
    dry = mailfax("cleanup", "--config", str(cfg), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert sum(line.startswith("would remove job ") for line in lines) == 4
    assert sum(line.startswith("would remove message ") for line in lines) == 3
    assert any(line.startswith("would remove received fax 1 from +49 89 555") for line in lines)
    assert "jobs: 4 (older than 30 d), 4 file(s)" in dry.stdout and lines[-1].endswith("would be freed")
    assert len(store.jobs()) == 5 and len(received.faxes()) == 1
    out = mailfax("cleanup", "--config", str(cfg), "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 0 and not data["dry_run"] and data["totals"]["jobs"]["count"] == 4
    assert data["totals"]["received"]["files"] == 2 and data["bytes"] > 0
    again = mailfax("cleanup", "--config", str(cfg))
    assert again.returncode == 0 and "total: 0 B freed" in again.stdout
    jobs = mailfax("jobs", "--config", str(cfg), "--all")
    assert jobs.returncode == 0 and [line.split()[0] for line in jobs.stdout.splitlines()[1:]] == [str(keep)]
    rec = mailfax("received", "--config", str(cfg))
    assert rec.returncode == 0 and rec.stdout.splitlines() == ["ID  RECEIVED  FROM  PAGES  DELIVERY"]


def test_serve_task_runs_a_pass_after_start_then_stops(env):
    config, store, received, _ = env
    (j,) = submit(store, T0)
    drive(store, j, S.DONE, T0)

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(run_cleanup(config, store, received, stop, clock=lambda: T0 + 31 * DAY,
                                               first_after=0.01, every=3600.0))
        for _ in range(500):
            if store.job(j) is None:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5.0)

    asyncio.run(main())
    assert store.job(j) is None and not store.page_path(j).exists()


def test_sigkill_during_a_pass_never_leaves_a_row_without_its_files(env):
    """`mailfax cleanup` killed (SIGKILL) right after its first commit, then at seeded moments:
    after every kill each remaining job and fax still has all its files (what the kill left
    are orphans only); an unkilled pass then leaves an empty spool."""
    import random
    import shutil
    import signal
    import time

    from mailfax.store import Submission

    config, store, received, cfg = env
    job = NewJob("+49301234567", "+49301234567", None, JobSettings())
    for _ in range(2):
        for acc in store.accept_batch([Submission(b"Subject: x\r\n\r\n" + b"y" * 500, Envelope("me@example.com"),
                                                  (job,), T0) for _ in range(300)]):
            age(store.message(acc.message).path, T0)
            if acc.jobs[0] == 1:
                store.save_pages(1, [page(0)])
            else:                                      # the same pages, without 600 fsyncs
                shutil.copyfile(store.page_path(1), store.page_path(acc.jobs[0]))
            age(store.page_path(acc.jobs[0]), T0)      # cancelled mid-conversion, pages written
            assert store.move(acc.jobs[0], S.QUEUED, S.CANCELLED, T0)
    for _ in range(20):
        settle(received, fax(received, T0, "a@x.example"), ["delivered"], T0)
    rng = random.Random(20261126)
    seen = []
    for round_ in range(6):
        messages = store.message_count()
        proc = subprocess.Popen([sys.executable, "-m", "mailfax", "cleanup", "--config", str(cfg)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_ == 0:   # kill as soon as the first batch of rows is committed: its files are going
            while proc.poll() is None and store.message_count() == messages:
                time.sleep(0.001)
        else:
            time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        jobs = store.jobs()
        for j in jobs:
            assert store.page_path(j.id).exists() and store.message(j.message).path.exists()
        for f in received.faxes():
            assert all(p.exists() for p in received.files_of(f))
        seen.append((len(jobs), len(list(store.page_dir.iterdir()))))
        if not jobs and not received.faxes():
            break
    assert mailfax("cleanup", "--config", str(cfg)).returncode == 0
    assert not store.jobs() and not received.faxes()
    assert not [*store.msg_dir.iterdir(), *store.page_dir.iterdir(), *received.dir.iterdir()], seen
