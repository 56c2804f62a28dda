"""What a retention pass costs, and what it costs the SMTP path meanwhile: N old done jobs
(each with its message and a page file) and N/10 old delivered received faxes are removed
by `mailfax.retention.cleanup`, while another thread keeps accepting messages
(`Store.accept`, as SMTP does) and times each acceptance; the same acceptances are timed
without a pass running, in the same run.

    .venv/bin/python -m benchmarks.retention [--jobs N]

The last line is one JSON object: the pass's wall time, jobs and files removed per second,
and the acceptance latency (median and max, ms) with and without the pass; the ratio is
quiet max / max during the pass (1.0 = the pass does not delay acceptance at all)."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailfax.config import load_config  # noqa: E402
from mailfax.jobs import JobSettings  # noqa: E402
from mailfax.received import NewDelivery, ReceivedFax, ReceivedStore, TargetKind  # noqa: E402
from mailfax.retention import cleanup  # noqa: E402
from mailfax.store import Envelope, NewJob, Store, Submission  # noqa: E402

OLD = 1_700_000_000.0


def populate(store: Store, received: ReceivedStore, n: int) -> None:
    """n done jobs ended at OLD (one message each, a 20 kB page file) and n/10 delivered faxes.
    Setup only: states are set with one SQL update rather than n x 5 committed moves."""
    job = NewJob("+49301234567", "+49301234567", None, JobSettings())
    for start in range(0, n, 500):
        subs = [Submission(b"Subject: x\r\n\r\n" + b"y" * 2000, Envelope("me@example.com"), (job,), OLD)
                for _ in range(min(500, n - start))]
        for acc in store.accept_batch(subs):
            p = store.page_path(acc.jobs[0])
            p.write_bytes(os.urandom(20000))
            os.utime(p, (OLD, OLD))
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE jobs SET state = 'done', updated_at = ?", (OLD,))
        db.execute("UPDATE messages SET report_state = 'sent'")
    for _ in range(n // 10):
        fid = received.add(ReceivedFax(tsi="bench"), [NewDelivery(TargetKind.ARCHIVE, {"dir": "/x"}, "x")], now=OLD)
        for p in received.files_of(received.fax(fid)):
            if p.exists():
                os.utime(p, (OLD, OLD))
    with sqlite3.connect(received.db_path) as db:
        db.execute("UPDATE received_deliveries SET state = 'delivered', updated_at = ?", (OLD,))


def accept_latencies(store: Store, stop: threading.Event, count: int | None = None) -> list[float]:
    job = NewJob("+49307654321", "+49307654321", None, JobSettings())
    out = []
    while not stop.is_set() and (count is None or len(out) < count):
        t = time.perf_counter()
        store.accept(b"Subject: live\r\n\r\nhello\r\n", Envelope("me@example.com"), [job], time.time())
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailfax-bench-") as d:
        cfg = Path(d) / "mailfax.yaml"
        cfg.write_text(f"storage: {{data_dir: {d}/data}}\n")
        config = load_config(cfg)
        store, received = Store.open(config.storage), ReceivedStore.open(config.storage)
        populate(store, received, args.jobs)
        quiet = accept_latencies(store, threading.Event(), count=200)
        stop = threading.Event()
        during: list[float] = []
        th = threading.Thread(target=lambda: during.extend(accept_latencies(store, stop)))
        th.start()
        t = time.perf_counter()
        report = cleanup(config, store, received, now=time.time())
        wall = time.perf_counter() - t
        stop.set()
        th.join()
    files = sum(len(r.files) for r in report.removals)
    print(json.dumps({
        "jobs": args.jobs, "pass_s": round(wall, 3), "jobs_per_s": round(args.jobs / wall),
        "files_per_s": round(files / wall), "freed_mb": round(report.bytes / 1e6, 1),
        "accept_ms_quiet": {"median": round(statistics.median(quiet), 2), "max": round(max(quiet), 2)},
        "accept_ms_during": {"n": len(during), "median": round(statistics.median(during), 2) if during else None,
                             "max": round(max(during), 2) if during else None},
        "ratio": round(max(quiet) / max(during), 3) if during else None,
    }))


if __name__ == "__main__":
    main()
