"""The Prometheus endpoint: exposition text checked line by line, and a live scrape of ``serve``."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request

import pytest

from mailfax.config import load_config
from mailfax.metrics import render
from tests.mailfax.test_status import QUEUE, SNAP
from tests.support.serve_proc import ServeProcess

# name{labels} value — the text format 0.0.4 sample line
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"\\]*(\\.[^"\\]*)*",?)*\})? -?[0-9.e+-]+$')


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def test_render():
    text = render(SNAP, QUEUE)
    s = samples(text)
    assert s["mailfax_up"] == 1
    assert s['mailfax_calls_total{direction="out"}'] == 12 and s['mailfax_calls_total{direction="in"}'] == 3
    assert s['mailfax_calls_refused_total{reason="caller ID rule"}'] == 1
    assert s['mailfax_calls_active{direction="out"}'] == 1 and s['mailfax_calls_active{direction="in"}'] == 0
    assert s["mailfax_pages_sent_total"] == 25 and s["mailfax_received_faxes_total"] == 3
    assert s['mailfax_job_failures_total{completion="CANNOT_TRAIN"}'] == 1
    assert s['mailfax_queue_jobs{state="done"}'] == 10 and s['mailfax_queue_jobs{state="retry-wait"}'] == 0
    assert s['mailfax_trunk_registered{trunk="provider"}'] == 1
    assert s["mailfax_dsp_load"] == pytest.approx(0.123)
    assert s['mailfax_media_lateness_seconds{quantile="1"}'] == pytest.approx(0.00725)
    assert "# TYPE mailfax_calls_total counter" in text and text.endswith("\n")


def test_labels_are_escaped():
    snap = dict(SNAP, counters={"refused": {'say "no"\\': 2}})
    assert 'mailfax_calls_refused_total{reason="say \\"no\\"\\\\"} 2' in render(snap, {})


def test_config_section(tmp_path):
    (tmp_path / "c.yaml").write_text("metrics: {listen: 127.0.0.1:9466}\n")
    m = load_config(tmp_path / "c.yaml").metrics
    assert (m.host, m.port) == ("127.0.0.1", 9466)
    assert load_config(None).metrics.port == 0  # off unless configured


@pytest.mark.servers
def test_live_scrape(tmp_path):
    serve = ServeProcess(tmp_path).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{serve.metrics_port}/metrics", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            s = samples(r.read().decode())
        assert s["mailfax_up"] == 1 and s['mailfax_queue_jobs{state="queued"}'] == 0
        assert 'mailfax_calls_total{direction="out"}' in s and "mailfax_dsp_load" in s
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{serve.metrics_port}/other", timeout=10)
        assert e.value.code == 404
        with socket.create_connection(("127.0.0.1", serve.metrics_port), timeout=10) as c:
            c.sendall(b"garbage\r\n\r\n")  # not HTTP: answered and closed, the server keeps going
            assert c.recv(100).startswith(b"HTTP/1.0 404")
        assert serve.terminate() == 0
    finally:
        serve.stop()
