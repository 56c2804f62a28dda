"""``mailfax status`` and graceful shutdown against a real ``mailfax serve`` process.

The live test runs the gateway on its built-in loopback line: a mailed fax becomes a real
call (IAX2 over UDP on 127.0.0.1); while it runs, ``mailfax status`` shows the call with its
T.30 phase, page and speed, the metrics endpoint counts it, and its session log records
every frame.  SIGTERM in the middle of
the call ends it cleanly: the process exits 0 within seconds, the snapshot says "stopped",
and the job is kept (retry-wait, pages confirmed so far recorded); after a restart and
``mailfax retry`` the job completes.  Real time: about a minute and a half.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from mailfax.commands.status import format_status
from mailfax.status import STALE_AFTER, read_snapshot, write_atomic
from tests.support import mailfax_samples as samples
from tests.support.serve_proc import ServeProcess

NOW = 1_700_000_000.0

SNAP = {
    "state": "running", "pid": 4242, "started_at": NOW - 3600, "updated_at": NOW - 1, "iax": ["0.0.0.0", 4569],
    "trunks": [{"name": "provider", "host": "iax.example.net", "port": 4569, "channels": 2, "active": 1,
                "registration": "registered"}],
    "calls": [{"direction": "out", "trunk": "provider", "peer": "", "remote_ident": "+49 30 1234567",
               "line": "media", "t30_phase": "C", "t30_state": "SENDING_PAGE", "page": 2, "bit_rate": 14400,
               "modem": "V.17", "ecm": True, "seconds": 41.3, "age": 45.0}],
    "counters": {"placed": 12, "answered": 3, "refused": {"caller ID rule": 1}},
    "media": {"wakeups": 1000, "load": 0.123, "p99_ms": 1.5, "max_ms": 7.25, "mean_ms": 0.2},
}
QUEUE = {"jobs": {"queued": 1, "sending": 1, "done": 10, "failed": 1}, "failures": {"CANNOT_TRAIN": 1},
         "pages_sent": 25, "received": 3, "deliveries": {"delivered": 3},
         "active": [{"id": 14, "number": "+49301234567", "state": "sending", "pages_confirmed": 1,
                     "pages_total": 3, "bit_rate": 14400}],
         "recent_failures": [{"id": 9, "number": "+4940555", "completion": "CANNOT_TRAIN",
                              "reason": "no training at any speed", "updated_at": NOW - 600, "tries": 3, "dials": 3}]}


def test_report_reads_like_faxstat():
    text = format_status(SNAP, QUEUE, NOW)
    lines = text.splitlines()
    assert lines[0].startswith("Server: running (pid 4242")
    assert "DSP load 12.3% of one core" in text and "max 7.2 ms" in text
    assert "Calls: 12 placed, 3 answered, refused: caller ID rule 1" in text
    assert any(line.split() == ["provider", "iax.example.net:4569", "2", "1", "registered"] for line in lines)
    [call] = [line for line in lines if line.startswith("out ")]
    assert call.split() == ["out", "provider", "+49", "30", "1234567", "C", "2", "14400", "V.17", "yes", "41s"]
    assert "Queue: 1 queued, 0 converting, 0 ready, 0 dialling, 1 sending, 0 retry-wait, 10 done, 1 failed" in text
    assert "job 14 to +49301234567: sending, page 1/3 at 14400 bit/s" in text
    assert "job 9 to +4940555" in text and "CANNOT_TRAIN - no training at any speed" in text


def test_no_server():
    text = format_status(None, {"jobs": {}}, NOW)
    assert text.startswith("Server: not running")


def test_snapshot_file_is_atomic_and_ages(tmp_path):
    p = tmp_path / "status.json"
    write_atomic(p, SNAP)
    assert [f.name for f in tmp_path.iterdir()] == ["status.json"]  # no temporary left behind
    assert read_snapshot(p, now=NOW)["state"] == "running"
    assert read_snapshot(p, now=NOW + STALE_AFTER + 5)["state"] == "not responding"
    assert read_snapshot(tmp_path / "missing.json", now=NOW) is None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(what)


def status_json(serve: ServeProcess) -> dict:
    out = serve.cli("status", "--json")
    return json.loads(out.stdout)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.mark.servers
@pytest.mark.timeout(300)
def test_live_status_metrics_and_sigterm(tmp_path):
    serve = ServeProcess(tmp_path)
    # grace 0: SIGTERM hangs the call up at once (the graceful drain is test_graceful_stop's)
    serve.config.write_text(serve.config.read_text() + "shutdown: {grace: 0s}\n")
    serve.start()
    try:
        idle = serve.cli("status")
        assert idle.returncode == 0, idle.stdout + idle.stderr
        assert "Server: running" in idle.stdout and "loopback" in idle.stdout

        serve.mail("+15555550199", message=samples.message("doc.tif", to="+15555550199@fax.localhost",
                                                           sender="alice@localhost"))
        # the call is up and in phase C (page transfer) at a known speed
        snap = wait_for(lambda: [c for c in status_json(serve)["server"]["calls"]
                                 if c["t30_phase"] == "C" and c["bit_rate"]], 120, "no call in phase C")
        assert snap[0]["direction"] == "out" and snap[0]["trunk"] == "loopback"
        text = serve.cli("status").stdout
        assert "Active calls: 1" in text and "1 sending" in text
        metrics = scrape(serve.metrics_port)
        assert 'mailfax_calls_active{direction="out"} 1' in metrics
        assert 'mailfax_calls_total{direction="out"} 1' in metrics
        assert 'mailfax_queue_jobs{state="sending"} 1' in metrics

        # graceful shutdown in the middle of the call
        t0 = time.monotonic()
        assert serve.terminate(timeout=30) == 0
        assert time.monotonic() - t0 < 15
        final = read_snapshot(serve.data / "status.json", now=time.time())
        assert final["state"] == "stopped" and final["calls"] == []
        after = status_json(serve)["queue"]
        assert after["jobs"] == {"retry-wait": 1}, after  # kept, to be resumed: nothing lost
        assert serve.cli("status").returncode == 3
        # the interrupted call's session log: frames with their times, training, a clean end
        first = (serve.data / "log" / "c00000001").read_text()
        assert first.startswith("SESSION c00000001: SEND call")
        for needle in (" SEND DCS\n", " RECV CFR\n", " TRAINING v17 14400 bit/s: trained\n", " PHASE C\n",
                       " SESSION END "):
            assert needle in first, first

        serve.start()
        assert serve.cli("retry", "1").returncode == 0
        wait_for(lambda: status_json(serve)["queue"]["jobs"] == {"done": 1}, 150,
                 f"the job did not complete after the restart: {serve.log()[-3000:]}")
        logs = sorted((serve.data / "log").glob("c*"))
        assert len(logs) == 2  # our sending calls only (the loopback line's far end is not ours to log)
        second = logs[1].read_text()
        assert " PAGE 1 SENT (confirmed)\n" in second and " SESSION END OK;" in second, second
        metrics = scrape(serve.metrics_port)
        pages = next(line for line in metrics.splitlines() if line.startswith("mailfax_pages_sent_total "))
        assert float(pages.split()[1]) >= 3
    finally:
        serve.stop()
