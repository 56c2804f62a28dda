"""Crash safety: SIGKILL the server at seeded moments while messages arrive and are faxed.

Clients behave like an MTA: a message is retried until it gets a 250.

1. Acceptance (the built-in loopback line): after the last restart every message that got
   a 250 is in the queue exactly once, none is lost, every job refers to a complete message
   file, and the restarted server resumes converting.
2. Faxing (`run_faxing_crash`): the server under test faxes over an IAX2 trunk to a far-end
   gateway in another process that survives the kills (`tests.support.crash_rig`); it is
   killed during submission and while calls run (right after a page's MCF, and at seeded
   moments within calls).  After the queue drains: every 250'd message's job is done once
   with every page confirmed; at the far end every page arrived complete, no page the
   sender had durably recorded as confirmed was received again (a page is received twice
   only when the kill fell between the receiver's MCF and the sender storing it), and each
   message got one success report.  CI runs 12 messages; the 50-message run is ``slow``.
"""

import email.utils
import os
import random
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mailfax.jobs import JobState
from mailfax.mime import parse_message
from mailfax.received import ReceivedStore
from mailfax.store import Store
from tests.support import mailfax_samples as samples

ROOT = Path(__file__).parents[2]
N_MESSAGES = 50
SEED = 20261126


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, config: Path, log: Path):
        self.config, self.log, self.proc, self.starts = config, log, None, 0

    def start(self):
        self.starts += 1
        self.proc = subprocess.Popen([sys.executable, "-m", "mailfax", "serve", "--config", str(self.config)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=open(self.log, "ab"), text=True)
        line = self.proc.stdout.readline()
        assert "listening" in line, f"server did not start: {line!r} (see {self.log})"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def submit(port, i, acked, lock, stop_at):
    msg = samples.wire(samples.message(body=f"message {i}\n", message_id=f"<crash-{i}@example.com>",
                                       subject=f"crash {i}"))
    while time.monotonic() < stop_at:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as c:
                c.sendmail("alice@example.com", [f"+49301234{i:03d}@fax.test"], msg)
            with lock:
                acked[i] = acked.get(i, 0) + 1
            return
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)  # the server is down or restarting: try again, like an MTA


def test_sigkill_while_receiving_loses_and_duplicates_nothing(tmp_path):
    port = free_port()
    cfg = tmp_path / "mailfax.yaml"
    cfg.write_text(f"smtp: {{listen: 127.0.0.1:{port}}}\nfax: {{domains: [fax.test]}}\n"
                   f"storage: {{data_dir: {tmp_path / 'data'}}}\n")
    server = Server(cfg, tmp_path / "server.log")
    t_start = time.monotonic()
    server.start()
    rng = random.Random(SEED)
    acked: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + 60
    pending = list(range(N_MESSAGES))

    def client(ids):
        for i in ids:
            submit(port, i, acked, lock, stop_at)

    threads = [threading.Thread(target=client, args=(pending[k::3],)) for k in range(3)]
    for t in threads:
        t.start()
    # kill points: after a seeded choice of acknowledged-message counts, plus a seeded delay
    # of 0-30 ms so the kill lands anywhere in a transaction (DATA, fsync, commit, reply)
    points = sorted(rng.sample(range(2, N_MESSAGES - 2), 8))
    kills = 0
    for point in points:
        while len(acked) < point and any(t.is_alive() for t in threads):
            time.sleep(0.002)
        if not any(t.is_alive() for t in threads):
            break
        time.sleep(rng.uniform(0.0, 0.03))
        server.kill()
        kills += 1
        server.start()
    for t in threads:
        t.join()
    print(f"submitted t={time.monotonic() - t_start:.1f}s")
    # the last server resumes converting: wait for one more job to become ready, then stop it
    store = Store(tmp_path / "data" / "queue.sqlite", tmp_path / "data" / "spool")
    # Converted jobs move on (READY, then dialling over the built-in loopback line, ...).
    converted = [s for s in JobState if s not in (JobState.QUEUED, JobState.CONVERTING)]
    target = min(N_MESSAGES, len(store.jobs(converted)) + 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(store.jobs(converted)) < target:
        time.sleep(0.1)
    print(f"kills={kills} starts={server.starts} converted={len(store.jobs(converted))} t={time.monotonic() - t_start:.1f}s")
    server.stop()
    store.recover(time.time(), orphan_age=0)

    assert kills >= 3, "the test must actually kill the server"
    assert sorted(acked) == list(range(N_MESSAGES)), "every message eventually got its 250"
    jobs = store.jobs()
    assert len(jobs) == N_MESSAGES and store.message_count() == N_MESSAGES
    seen = []
    for job in jobs:
        parsed = parse_message(store.read_message(job.message))
        i = int(parsed.message_id.split("-")[1].split("@")[0])
        assert job.number == f"+49301234{i:03d}" and parsed.body_text.strip() == f"message {i}"
        seen.append(i)
    assert sorted(seen) == list(range(N_MESSAGES)), "each message exactly once"
    assert not [f for f in store.msg_dir.iterdir() if f.name.startswith(".")], "no temp files left"
    assert not store.jobs([JobState.CONVERTING]), "recovery leaves nothing mid-conversion"
    assert store.jobs(converted), "the restarted server resumed converting"


# ------------------------------------------------------------------ faxed exactly once
#
# The sender under test and its far end are two ``mailfax serve`` processes
# (`tests.support.crash_rig`): the far end survives every kill and keeps each reception
# (complete pages only: a page enters a reception at its post-page message, when the
# receiver answers MCF).  The sender is killed during submission and during calls.

HEADER_ROWS = 80          # the TTI line: the rest of a received page equals the sent page


def _message(i: int) -> bytes:
    # every 4th message has a second page (long body); line numbers make the pages differ
    body = f"message {i}\n" + ("".join(f"line {k} of message {i}\n" for k in range(130)) if i % 4 == 1 else "")
    return samples.wire(samples.message(body=body, message_id=f"<fax-{i}@example.com>", subject=f"fax {i}"))


def _submit(port, i, acked, lock, stop_at):
    msg = _message(i)
    while time.monotonic() < stop_at:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.sendmail("alice@example.com", [f"+49301234{i:03d}@fax.test"], msg)
            with lock:
                acked[i] = acked.get(i, 0) + 1
            return
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def _snapshot(store: Store) -> dict[int, int]:
    """Pages confirmed per job, as durably stored (read while the sender is dead)."""
    return {j.id: j.pages_confirmed for j in store.jobs()}


def _page_index(page, sent) -> int | None:
    """Which of the job's sent pages (1-based) a received page is (below the TTI line)."""
    for k, s in enumerate(sent, 1):
        if page.rows.shape == s.rows.shape and np.array_equal(page.rows[HEADER_ROWS:], s.rows[HEADER_ROWS:]):
            return k
    return None


def run_faxing_crash(tmp_path, n_messages: int, submit_kills: int, call_kills: int, channels: int,
                     drain_timeout: float, seed: int = SEED) -> None:
    from tests.support.crash_rig import Gateway, MailSink, free_port

    rng = random.Random(seed)
    t0 = time.monotonic()
    tx_iax, rx_iax = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    fast_retry = "retry: {busy: 2s, no_answer: 2s, protocol: 2s, other: 2s, max_dials: 40, max_tries: 30}\n"
    with MailSink() as sink:
        far = Gateway(tmp_path / "far", trunk_port=tx_iax, trunk_channels=4 * channels, relay_port=sink.port,
                      iax_port=rx_iax)
        sender = Gateway(tmp_path / "sender", trunk_port=rx_iax, trunk_channels=channels, relay_port=sink.port,
                         iax_port=tx_iax, extra=fast_retry)
        far.start()
        sender.start()
        store = Store(sender.queue_db, sender.spool)
        kills: list[tuple[float, dict[int, int]]] = []   # (time of the kill, pages confirmed then)
        call_kills_done: list[bool] = []                  # per kill during calls: a call was part-way
        try:
            def kill_and_restart() -> None:
                sender.kill()
                kills.append((time.time(), _snapshot(store)))
                sender.start()

            acked: dict[int, int] = {}
            lock = threading.Lock()
            stop_at = time.monotonic() + 120
            threads = [threading.Thread(target=lambda ids: [_submit(sender.smtp_port, i, acked, lock, stop_at)
                                                            for i in ids], args=(list(range(k, n_messages, 3)),))
                       for k in range(3)]
            for t in threads:
                t.start()
            # kills during submission: after a seeded count of 250s, plus 0-30 ms
            for point in sorted(rng.sample(range(1, n_messages - 1), submit_kills)):
                while len(acked) < point and any(t.is_alive() for t in threads):
                    time.sleep(0.002)
                if not any(t.is_alive() for t in threads):
                    break
                time.sleep(rng.uniform(0.0, 0.03))
                kill_and_restart()
            for t in threads:
                t.join()
            t_submitted = time.monotonic() - t0
            # kills while calls run, alternating: right after a page was confirmed in a
            # multi-page call (the retry must resume at the next page), and a seeded 3-15 s
            # into a call (training, mid-page, between pages, around the last MCF)
            def partly_sent():
                return [j for j in store.jobs([JobState.SENDING]) if 0 < j.pages_confirmed < j.pages_total]

            call_kill_deadline = time.monotonic() + drain_timeout / 2
            for k in range(call_kills):
                want = partly_sent if k % 2 == 0 else (lambda: store.jobs([JobState.SENDING]))
                while not want() and time.monotonic() < call_kill_deadline \
                        and len(store.jobs([JobState.DONE])) < n_messages:
                    time.sleep(0.02)
                if want():
                    time.sleep(rng.uniform(0.0, 0.5) if k % 2 == 0 else rng.uniform(3.0, 15.0))
                elif not store.jobs([JobState.SENDING]):
                    break
                call_kills_done.append(bool(partly_sent()))
                kill_and_restart()
            # drain: every job final and every report handled, within a bound
            deadline = time.monotonic() + drain_timeout
            while time.monotonic() < deadline:
                finals = store.jobs([s for s in JobState if s.final])
                if len(finals) == n_messages and store.message_count() == n_messages \
                        and not store.unreported_finished():
                    break
                time.sleep(0.5)
            t_drained = time.monotonic() - t0
            late = {j.id: (j.number, j.state.value, j.pages_confirmed, j.pages_total, j.reason)
                    for j in store.jobs() if not j.state.final}
            assert not late, f"the queue did not drain within {drain_timeout:.0f} s: {late} (see {sender.log_path})"
        finally:
            sender.stop()
            far.stop()   # hangs up calls a killed sender left behind; their receptions are stored
        time.sleep(0.5)
        reports = sink.messages()
    print(f"messages={n_messages} kills={len(kills)} part-way={call_kills_done} submitted t={t_submitted:.1f}s drained t={t_drained:.1f}s")

    # -- the sender's queue: every 250'd message exactly once, its job done, every page confirmed
    assert sorted(acked) == list(range(n_messages)), "every message eventually got its 250"
    assert len(kills) >= submit_kills // 2 + call_kills, f"the test must actually kill the server ({len(kills)})"
    assert any(call_kills_done), "a kill fell while a call had confirmed some but not all of its pages"
    jobs = store.jobs()
    assert len(jobs) == n_messages and store.message_count() == n_messages, "no job lost or duplicated"
    by_dial = {}
    for job in jobs:
        i = int(job.number[-3:])
        assert job.number == f"+49301234{i:03d}"
        assert job.state is JobState.DONE and job.pages_confirmed == job.pages_total >= 1, (job.id, job.state, job.reason)
        by_dial[job.dial] = job
    assert sorted(int(j.number[-3:]) for j in jobs) == list(range(n_messages))
    assert any(j.pages_total >= 2 for j in jobs), "some documents have more than one page"

    # -- the far end: every page received complete; a page the sender had stored as confirmed
    # is never received again; a page is received twice only when its MCF was lost to a kill
    received = ReceivedStore(far.queue_db, far.spool)
    per_job: dict[int, list] = {}
    for rec in received.faxes():
        fax = received.load(rec.id)
        job = by_dial.get(fax.called)
        assert job is not None, f"a call to an unknown number {fax.called!r}"
        per_job.setdefault(job.id, []).append(fax)
    duplicates = resumed = 0
    for job in jobs:
        sent = store.load_pages(job.id)
        seen: list[int] = []
        for fax in sorted(per_job.get(job.id, []), key=lambda f: (f.started_at, f.fax_id)):
            idx = [_page_index(p, sent) for p in fax.pages]
            assert None not in idx, f"job {job.id}: a received page is none of the sent pages"
            assert idx == list(range(idx[0], idx[0] + len(idx))), f"job {job.id}: pages out of order {idx}"
            before = [snap.get(job.id, 0) for at, snap in kills if at < fax.started_at]
            confirmed = max(before, default=0)
            assert idx[0] > confirmed, (f"job {job.id}: page {idx[0]} received again in a call placed after a "
                                        f"restart that knew {confirmed} pages confirmed")
            if seen and idx[0] <= seen[-1]:
                # a resend: only the last page of an interrupted reception (MCF sent, then the kill)
                assert idx[0] == seen[-1] and prev_completion != "OK", (job.id, seen, idx, prev_completion)
                duplicates += 1
            seen += idx
            resumed += idx[0] > 1
            prev_completion = fax.completion
        assert sorted(set(seen)) == list(range(1, job.pages_total + 1)), \
            f"job {job.id}: pages {seen} received, {job.pages_total} sent"
    assert duplicates <= len(kills)
    assert resumed, "a retry after a kill resumed mid-document, at the first unconfirmed page"

    # -- reports: one success report per message, threaded to it.  A second copy is only
    # excused by a kill between the relay's 250 and the report being marked sent (the one
    # at-least-once window of reporting): a kill within a second of the copies' Date.
    got: dict[str, list] = {}
    for m in reports:
        if m["In-Reply-To"]:
            when = email.utils.parsedate_to_datetime(m["Date"]).timestamp()
            got.setdefault(m["In-Reply-To"].strip(), []).append((when, m["Subject"]))
    for i in range(n_messages):
        copies = sorted(got.get(f"<fax-{i}@example.com>", []))
        assert copies and all(" sent (" in subject for _, subject in copies), (i, copies)
        assert len(copies) == 1 or (len(copies) == 2 and any(
            copies[0][0] - 1 <= at <= copies[1][0] + 1 for at, _ in kills)), (i, copies)
    print(f"receptions={sum(len(v) for v in per_job.values())} resumed={resumed} resent_pages={duplicates}")


def test_sigkill_while_faxing_faxes_each_message_exactly_once(tmp_path):
    """CI variant: 12 messages, 2 kills during submission and 4 while calls run."""
    run_faxing_crash(tmp_path, 12, submit_kills=2, call_kills=4, channels=4, drain_timeout=240)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_sigkill_while_faxing_50_messages(tmp_path):
    """The full run: 50 messages, 4 kills during submission and 4 while calls run, 8 channels."""
    run_faxing_crash(tmp_path, N_MESSAGES, submit_kills=4, call_kills=4, channels=8, drain_timeout=900)


def test_recover_finishes_a_job_whose_pages_were_all_confirmed(tmp_path):
    """Killed after the last page's MCF was stored but before the call's end was: the job is
    done after the restart, not dialled again (which would place a call with no pages)."""
    from mailfax.jobs import JobSettings
    from mailfax.store import Envelope, NewJob

    store = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    t = 1_800_000_000.0
    (done, part) = store.accept(b"m", Envelope("a@b"), [NewJob(n, n, None, JobSettings()) for n in ("+491", "+492")], t).jobs
    for j in (done, part):
        store.claim_queued(t)
        store.move(j, JobState.CONVERTING, JobState.READY, t, pages_total=2)
        store.move(j, JobState.READY, JobState.DIALLING, t, dials=1)
        store.move(j, JobState.DIALLING, JobState.SENDING, t)
    store.update(done, [JobState.SENDING], pages_confirmed=2)
    store.update(part, [JobState.SENDING], pages_confirmed=1)
    Store(tmp_path / "q.sqlite", tmp_path / "spool").recover(t + 1)
    assert store.job(done).state is JobState.DONE and store.job(done).completion == "OK"
    assert store.job(part).state is JobState.RETRY_WAIT and store.job(part).pages_confirmed == 1
    assert store.unreported_finished() == []  # the other job of the message is not final yet
    assert not store.candidates() or all(c.job_id != done for c in store.candidates())
