"""Crash safety: SIGKILL the server at seeded random moments while 50 messages arrive.

Clients behave like an MTA: a message is retried until it gets a 250.  After the last
restart every message that got a 250 is in the queue exactly once, none is lost, every
job refers to a complete message file, and the restarted server resumes converting.
(The "faxed exactly once" half joins when the telephony sender exists.)
"""

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

import pytest

from mailfax.jobs import JobState
from mailfax.mime import parse_message
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
