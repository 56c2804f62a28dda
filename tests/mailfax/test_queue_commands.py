"""The queue commands end to end as a user runs them: check-config, send, jobs, cancel, retry."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def mailfax(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mailfax", *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "mailfax.yaml"
    p.write_text(f'dialing: {{country_code: "49", area_code: "30"}}\nstorage: {{data_dir: {tmp_path / "d"}}}\n')
    return str(p)


def test_check_config_prints_normalised_and_reports_errors(tmp_path, cfg):
    out = mailfax("check-config", "--config", cfg)
    assert out.returncode == 0 and "country_code: '49'" in out.stdout and "local-senders" in out.stdout
    bad = tmp_path / "rules.yaml"
    bad.write_text("outbound:\n  - from: {addresses: [sales]}\n")
    out = mailfax("check-config", "--config", cfg, "--rules", str(bad))
    assert out.returncode == 1
    assert "rules.yaml: outbound[0].from.addresses[0]: expected an address, got 'sales'" in out.stderr


def test_send_jobs_cancel_retry(tmp_path, cfg):
    doc = tmp_path / "letter.txt"
    doc.write_text("Hello\n")
    out = mailfax("send", "--config", cfg, "--to", "030 1234567", "--to", "+44 20 7946 0000", str(doc))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["job 1 queued to +49301234567", "job 2 queued to +442079460000"]
    refused = mailfax("send", "--config", cfg, "--to", "0900 123456", str(doc))
    assert refused.returncode == 1 and "premium" in refused.stderr
    table = mailfax("jobs", "--config", cfg).stdout.splitlines()
    assert table[0].split()[:3] == ["JID", "STATE", "NUMBER"] and table[1].split()[:3] == ["1", "queued", "+49301234567"]
    assert mailfax("cancel", "--config", cfg, "2").stdout.strip() == "job 2 cancelled"
    assert "already cancelled" in mailfax("cancel", "--config", cfg, "2").stderr
    assert len(mailfax("jobs", "--config", cfg).stdout.splitlines()) == 2
    assert "cancelled" in mailfax("jobs", "--config", cfg, "--all").stdout
    assert mailfax("retry", "--config", cfg, "2").returncode == 0
    assert "only failed" in mailfax("retry", "--config", cfg, "1").stderr


def test_send_wait_prints_one_json_line(tmp_path, cfg):
    doc = tmp_path / "a.txt"
    doc.write_text("x\n")
    out = mailfax("send", "--config", cfg, "--to", "030 1234567", "--wait", "--timeout", "0.5", str(doc))
    line = json.loads(out.stdout.strip())
    assert out.returncode == 1  # nobody is serving the queue: the job is still waiting
    assert set(line) >= {"status", "pages", "pages_total", "bit_rate", "ecm", "remote_ident", "completion"}
    assert line["status"] == "queued"
